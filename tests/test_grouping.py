"""How operators group: every pair of operators of levels 1-3 with every
operand form, against a fully bracketed reference that this file builds
from the contract's table (language.md), not from symgrad's printer.

The contract: level 1 (transposes, ^-1, ^k, .^) binds tightest, then level
2 (unary minus), then level 3 (juxtaposition, *, @, ∘ ⊙ .*, / ./), whose
operators associate to the left; a variable followed by `(` is a
juxtaposition, so `a/b (c)` is `(a/b) c` and `b (c)ᵀ` is `b (cᵀ)`.

Every variable is a scalar, so that every combination is shape-valid; the
readings are compared as syntax trees (brackets dropped), and, so that the
comparison does not rest on symgrad's tree alone, as values.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import sympy
from checking import FILENAME, check
from symbolic import Evaluator

from symgrad import syntax as ast
from symgrad.cli import main
from symgrad.parsing import parse
from symgrad.source import Source

BINARY = [" ", " * ", " @ ", " ∘ ", " ⊙ ", " .* ", " / ", " ./ "]
MARKS = ["^T", "'", "ᵀ", "^-1", "^2", " .^ 2"]
TRANSPOSES = {"^T", "'", "ᵀ"}

# An operand form: its primaries (text, and the reference of that text),
# juxtaposed. The call-lookalike `b (c)` of a variable is two of them.
FORMS = {
    "name": [("a", "a")],
    "number": [("2", "2")],
    "call": [("exp(a)", "exp(a)")],
    "call of a variable": [("b", "b"), ("(c)", "c")],
    "parenthesized": [("(a + b)", "a + b")],
    "bracketed": [("[a - b]", "a - b")],
    "transposed": [("aᵀ", "aᵀ")],
    "norm": [("||a||", "||a||")],
}
PLAIN = [("p", "p")], [("q", "q")], [("r", "r")]
VARIABLES = "abcpqr"


class Term:
    """An operand form with an optional unary minus and postfix marks: the
    minus takes its first primary, the marks its last (level 1 binds
    tighter than level 2, and both tighter than juxtaposition)."""

    def __init__(self, form, minus=False, marks=()):
        self.form, self.minus, self.marks = form, minus, tuple(marks)

    def text(self) -> str:
        texts = [text for text, _ in self.form]
        texts[-1] += "".join(self.marks)
        return ("-" if self.minus else "") + " ".join(texts)

    def references(self) -> list[str]:
        """Each primary, bracketed whole, with what applies to it."""
        refs = [f"({ref})" for _, ref in self.form]
        for mark in self.marks:
            refs[-1] = f"({refs[-1]}{mark})"
        if self.minus:
            refs[0] = f"(-{refs[0]})"
        return refs


def reading(terms: list[Term], ops: list[str]) -> tuple[str, str]:
    """The text of `terms` joined by `ops`, and its fully bracketed reference:
    every primary one after the other, level 3 folded from the left."""
    text = terms[0].text() + "".join(op + term.text() for op, term in zip(ops, terms[1:]))
    primaries = terms[0].references()
    operators = [" "] * (len(primaries) - 1)
    for op, term in zip(ops, terms[1:]):
        refs = term.references()
        primaries += refs
        operators += [op] + [" "] * (len(refs) - 1)
    reference = primaries[0]
    for op, primary in zip(operators, primaries[1:]):
        reference = f"({reference}{op}{primary})"
    return text, reference


def allowed(term: Term, after: str | None) -> bool:
    """A number has no transpose (an error), and `a -b` is a difference."""
    if term.form == FORMS["number"] and TRANSPOSES & set(term.marks):
        return False
    return not (term.minus and after == " ")


def cases() -> list[tuple[str, str]]:
    found = []
    # Two level-3 operators, each operand form in each place.
    for op1 in BINARY:
        for op2 in BINARY:
            for form in FORMS.values():
                for slot in range(3):
                    forms = list(PLAIN)
                    forms[slot] = form
                    found.append(reading([Term(f) for f in forms], [op1, op2]))
    # A level-3 operator with a minus or a postfix operator on either side.
    modifiers = [(True, ())] + [(False, (m,)) for m in MARKS] + [(True, (m,)) for m in MARKS]
    for op in BINARY:
        for form in FORMS.values():
            for minus, marks in modifiers:
                for slot in range(2):
                    terms = [Term(PLAIN[0]), Term(PLAIN[1])]
                    terms[slot] = Term(form, minus, marks)
                    if allowed(terms[slot], op if slot else None):
                        found.append(reading(terms, [op]))
    # Two postfix operators (and a minus) on each form.
    for form in FORMS.values():
        for first in MARKS:
            for second in MARKS:
                for minus in (False, True):
                    term = Term(form, minus, (first, second))
                    if allowed(term, None):
                        found.append(reading([term], []))
    return found


CASES = cases()


def model(texts: list[str]) -> str:
    declarations = "".join(f"param {v} : R\n" for v in VARIABLES)
    lines = "".join(f"d{i} = {text}\n" for i, text in enumerate(texts))
    return declarations + lines + "grad d0 wrt a\n"


def shape_of(expr: ast.Expr):
    """The grouping of a tree, brackets dropped, positions ignored."""
    while isinstance(expr, ast.Group):
        expr = expr.operand
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Number):
        return expr.value
    if isinstance(expr, ast.Binary):
        return (expr.op, shape_of(expr.left), shape_of(expr.right))
    if isinstance(expr, ast.Call):
        return ("call", expr.func.id, *map(shape_of, expr.args))
    return (type(expr).__name__, shape_of(expr.operand))


def test_the_cases_cover_every_operator_and_operand_form():
    texts = " ".join(text for text, _ in CASES)
    for op in BINARY + MARKS:
        assert op.strip() in texts
    for form in FORMS.values():
        assert any(form[0][0] in text for text, _ in CASES)
    assert len(CASES) > 3000


def test_every_pair_of_operators_groups_as_its_fully_bracketed_reference():
    from symgrad.lowering import read_as

    texts, references = zip(*CASES)
    read = read_as(Source(model(list(texts)), FILENAME))
    reference_source = Source(model(list(references)), FILENAME)
    # The reference calls no variable: the grammar alone groups it.
    written = {s.name.id: s.expr for s in parse(reference_source) if isinstance(s, ast.Definition)}
    meant = read_as(reference_source)
    wrong = []
    for index, (text, reference) in enumerate(CASES):
        name = f"d{index}"
        assert shape_of(meant[name]) == shape_of(written[name]), reference
        if shape_of(read[name]) != shape_of(meant[name]):
            wrong.append(f"{text}  should read  {reference}")
    assert not wrong, f"{len(wrong)} misread, e.g.:\n" + "\n".join(wrong[:10])


def test_every_pair_of_operators_computes_the_value_of_its_reference():
    """The same, as values at a point where no two groupings agree by chance."""
    point = {v: Fraction(k + 2, 7 + 2 * k) for k, v in enumerate(VARIABLES)}
    binary_only = [(t, r) for t, r in CASES if "exp" not in t and "||" not in t]
    values = {}
    for side, texts in (("read", [t for t, _ in binary_only]), ("meant", [r for _, r in binary_only])):
        program = check(model(texts))
        evaluator = Evaluator(program, values={v: q for v, q in point.items()})
        values[side] = [evaluator.scalar(program.definitions[f"d{i}"]) for i in range(len(texts))]
    wrong = [f"{text}  should be  {reference}"
             for (text, reference), got, want in zip(binary_only, values["read"], values["meant"]) if got != want]
    assert not wrong, f"{len(wrong)} computed otherwise, e.g.:\n" + "\n".join(wrong[:10])


@pytest.mark.parametrize("text, meant", [
    ("a/b (c)", "(a / b) c"),
    ("a ∘ b (c)", "(a ∘ b) c"),
    ("1/N (a ∘ a) c", "((1 / N) (a ∘ a)) c"),
    ("-b (c)^2", "(-b) (c^2)"),
    ("a / (b (c))", "a / (b c)"),
    ("(b (c))^2", "(b c)^2"),
])
def test_the_issues_lines_are_read_with_the_division_first(text, meant):
    """The lines of issue 11, as values: b (c) after a division or Hadamard
    product, a dimension called, a call-lookalike inside brackets."""
    head = "param a : R\nparam b : R\nparam c : R\ninput X : R^(N x 1)\n"
    program = check(f"{head}y = {text}\nm = {meant}\ns = y + sum(X)\ngrad s wrt a\n")
    evaluator = Evaluator(program, sizes={"N": 5}, values={"a": Fraction(3, 2), "b": Fraction(5, 7),
                                                           "c": Fraction(11, 3)})
    assert evaluator.scalar(program.definitions["y"]) == evaluator.scalar(program.definitions["m"])


def test_a_hadamard_product_before_a_called_matrix_is_taken_first():
    """A ∘ B (C) is (A ∘ B) C, not A ∘ (B C): as matrices, the two differ."""
    sizes = {"n": 2}
    values = {"A": [[1, 2], [3, 4]], "B": [[5, -1], [2, 7]], "C": [[3, 1], [-2, 5]]}
    program = check("param A : R^(n x n)\nparam B : R^(n x n)\nparam C : R^(n x n)\n"
                    "y = A ∘ B (C)\ns = sum(y)\ngrad s wrt A\n")
    got = Evaluator(program, sizes, values).evaluate(program.definitions["y"])
    A, B, C = (sympy.Matrix(values[name]) for name in "ABC")
    assert got == A.multiply_elementwise(B) * C
    assert got != A.multiply_elementwise(B * C)


def test_shapes_explicit_prints_every_formula_fully_bracketed(tmp_path, capsys):
    path = tmp_path / "model.sg"
    path.write_text("param a : R\nparam b : R\nparam c : R\nparam W : R^(n x n)\n"
                    "f(t) = t (t + 1) / 2\ny = a/b (c) + f(a) Wᵀ W .^ 2\ns = sum(y ∘ y) + ||-y||\ngrad s wrt a\n",
                    encoding="utf-8")
    assert main(["shapes", "--explicit", str(path)]) == 0
    out = capsys.readouterr().out
    assert "f(t) : R → R = (t (t + 1)) / 2\n" in out
    assert "y    : R^(n×n) = ((a / b) c) + ((f(a) (Wᵀ)) (W .^ 2))\n" in out
    assert "s    : R = sum(y ∘ y) + ||-y||\n" in out  # a call's and a norm's own delimiters suffice
