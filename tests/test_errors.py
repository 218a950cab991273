"""Every kind of mistake in a model: its message, line, column and hint,
its rendered form (`FILE:LINE:COL: error: MESSAGE`, the source line, a
caret), and that all the independent ones of a file are reported.

Positions follow language.md: a shape error is reported at its operator
(`^` for a power, the function's name for a call, the start of the right
operand for juxtaposition); an error of the whole file at its last line.
"""

from __future__ import annotations

import codecs
import re
import re

import pytest
from checking import check, errors
from hypothesis import given, settings
from hypothesis import strategies as st

from symgrad.cli import main
from symgrad.parsing import TERMINAL_WORDS, parser, quoted
from symgrad.source import ModelError, read_source

# The declarations every case below starts with: lines 1 to 6, so a case's
# first line is line 7. Every case ends with `grad a`, so that the only
# errors are the case's own.
HEADER = """\
param W : R^(n x m)
param A : R^(n x n)
param v : R^n
param w : R^m
param a : R
const c : R
"""


def located(body: str) -> list[tuple[int, int, str]]:
    return [(d.span.line, d.span.column, d.message) for d in errors(f"{HEADER}{body}\ngrad a\n")]


def hint(body: str) -> str:
    (only,) = errors(f"{HEADER}{body}\ngrad a\n")
    return only.hint


# The message of `W v`, W : R^(n x m) and v : R^n.
W_V = "matrix product of R^(n×m) [n×m] and R^n [n×1]: the left has m columns, the right has n rows"

CASES = {
    # --- syntax
    "statement ends too early": ("y = a +", 7, 8, "unexpected end of statement; expected an expression"),
    "operator without an operand": ("y = a ++ a", 7, 8, "unexpected '+'; expected an expression"),
    "unknown character": ("y = a $ a", 7, 7, "unexpected character '$'"),
    "no-break space": ("y = a\u00a0+ a", 7, 6, "unexpected character '\\xa0'"),
    "unclosed bracket": ("y = (a + 1", 7, 5, "'(' is never closed"),
    "mismatched bracket": ("y = [a)", 7, 7, "unexpected ')'; expected ',', ';' or ']'"),
    "stray closing bracket": ("y = a)", 7, 6, "unexpected ')'; expected the end of the line"),
    "== for =": ("y == a", 7, 4, "unexpected '='; expected an expression"),
    "not a type": ("param B : Q", 7, 11, "unexpected 'Q'; expected 'R' or '{'"),
    "three dimensions": ("param B : R^(n x m x n)", 7, 20, "unexpected 'x'; expected ')', '+' or '-'"),
    "wrt without names": ("grad a wrt", 7, 11, "unexpected end of statement; expected a name"),
    # --- names
    "unknown name": ("y = vv", 7, 5, "unknown name 'vv'; did you mean 'v'?"),
    "unknown name in another case": ("y = V", 7, 5, "unknown name 'V'; did you mean 'v'?"),
    "unknown name like nothing": ("y = qqq", 7, 5, "unknown name 'qqq'"),
    "unknown function": ("y = sigmod(a)", 7, 5, "unknown function 'sigmod'; did you mean 'sigmoid'?"),
    "used before its declaration": ("y = z\nz = a", 7, 5, "'z' is used before its declaration at line 8"),
    "called before its definition": ("y = f(a)\nf(t) = t", 7, 5, "'f' is used before its definition at line 8"),
    "a function as a value": ("f(t) = t\ny = f", 8, 5, "'f' is a function; call it as f(...)"),
    "a built-in as a value": ("y = exp", 7, 5, "'exp' is a built-in function; call it as exp(...)"),
    # --- shapes, at the operator
    "juxtaposed product": ("y = W v", 7, 7, W_V),
    "* product": ("y = W * v", 7, 7, W_V),
    "@ product": ("y = W @ v", 7, 7, W_V),
    "product with a bracket": ("y = W (v + v)", 7, 7, W_V),
    "elementwise sum": ("y = v + w", 7, 7, "elementwise sum (+) of R^n and R^m: rows n and m differ"),
    "elementwise product": ("y = W ∘ A", 7, 7, "elementwise product (∘) of R^(n×m) and R^(n×n): "
                                               "columns m and n differ"),
    "power of a non-square matrix": ("y = W^2", 7, 6, "'^' raises a scalar to a power, but its base is R^(n×m) [n×m]"),
    "non-integer power of a matrix": ("y = A^0.5", 7, 7,
                                      "a matrix is raised only to a whole power (A^2, A^0, A^-1), not to 0.5"),
    "power of a vector": ("y = v^2", 7, 6, "'^' raises a scalar to a power, but its base is R^n [n×1]"),
    "inverse of a non-square matrix": ("y = W^-1", 7, 6, "inverse needs a square matrix, got R^(n×m) [n×m]"),
    "trace of a non-square matrix": ("y = tr(W)", 7, 5, "tr needs a square matrix, got R^(n×m) [n×m]"),
    "diagonal of a non-square matrix": ("y = diag(W)", 7, 5, "diag needs a square matrix, got R^(n×m) [n×m]"),
    # --- calls
    "user function arity": ("f(t) = t\ny = f(a, a)", 8, 5, "'f' takes 1 argument, got 2"),
    "built-in arity": ("y = exp(a, a)", 7, 5, "'exp' takes 1 argument, got 2"),
    "too few arguments": ("y = max(a)", 7, 5, "'max' takes 2 arguments, got 1"),
    "optional argument": ("y = leaky_relu(a, 1, 2)", 7, 5, "'leaky_relu' takes 1 or 2 arguments, got 3"),
    "a variable called": ("y = W(v, v)", 7, 5, "'W' is a variable, not a function; it cannot take 2 arguments"),
    # --- one name, one thing
    "redefinition": ("y = a\ny = 2 a", 8, 1, "'y' is already defined at line 7"),
    "redeclaration": ("param v : R", 7, 7, "'v' is already a variable (line 3, column 7)"),
    "a dimension redeclared": ("param n : R", 7, 7, "'n' is already a dimension (line 1, column 14)"),
    "a function redefined": ("f(t) = t\nf = a", 8, 1, "'f' is already a function (line 7, column 1)"),
    "a variable as a dimension": ("param B : R^(v x n)", 7, 14, "'v' is a variable, not a dimension"),
    "a zero dimension": ("param B : R^(0 x n)", 7, 14, "a dimension must be a positive integer, got 0"),
    "built-in declared": ("param exp : R", 7, 7, "'exp' is a built-in function and cannot be redefined"),
    "built-in defined": ("sum = a", 7, 1, "'sum' is a built-in function and cannot be redefined"),
    "built-in as a function": ("σ(t) = t", 7, 1, "'σ' is a built-in function and cannot be redefined"),
    "built-in as an argument": ("f(exp) = 1", 7, 3, "'exp' is a built-in function and cannot name an argument"),
    "argument twice": ("f(t, t) = t", 7, 6, "argument 't' is listed twice"),
    # --- function bodies are scalar formulas
    "a reduction in a function": ("f(t) = sum(t)", 7, 8, "a function body is a scalar formula; "
                                                         "'sum' is not allowed in 'f'"),
    "a variable in a function": ("f(t) = t v", 7, 10, "a function body may use only its arguments, "
                                                      "numbers and consts with a value; 'v' is a variable"),
    "a function calling itself": ("f(t) = f(t)", 7, 8, "'f' cannot call itself"),
    # --- grad
    "const in wrt": ("grad a wrt c", 7, 12, "'c' is a const, and a const is never differentiated"),
    "vector target": ("grad v", 7, 6, "grad needs a scalar, but 'v' is R^n [n×1]"),
    "matrix target": ("s = W\ngrad s", 8, 6, "grad needs a scalar, but 's' is R^(n×m) [n×m]"),
    "dimension target": ("grad n", 7, 6, "'n' is a dimension; grad needs a scalar value"),
    "unknown target": ("grad aa", 7, 6, "unknown name 'aa'; did you mean 'a'?"),
    "a function in wrt": ("f(t) = t\ngrad a wrt f", 8, 12, "'f' is a function; gradients are taken "
                                                          "with respect to params and inputs"),
    "wrt twice": ("grad a wrt v, v", 7, 15, "'v' is listed twice after wrt"),
    "grad twice": ("grad a", 8, 6, "'a' already has a grad statement"),  # the grad a after it
}


@pytest.mark.parametrize("body, line, column, message", CASES.values(), ids=CASES.keys())
def test_each_mistake_is_reported_at_its_place(body, line, column, message):
    assert located(body) == [(line, column, message)]


@pytest.mark.parametrize("body, expected", [
    ("y = (a + 1", "add ')'"),
    ("y = |a|", "a norm is written ||A||; absolute value is abs(a)"),
    ("y = a\u00a0+ a", "an unusual blank: write a plain space"),
    ("y == a", "a definition is written NAME = EXPR, one per line"),
    ("y = qqq", "declare it with `param NAME : TYPE` or `input NAME : TYPE`, "
                "or define it with `NAME = ...` above this line"),
    # an undeclared name gets the declaration its use implies
    ("y = W x", "declare it before this line, e.g. `input x : R^m` (or `param`)"),
    ("y = v + q", "declare it before this line, e.g. `input q : R^n` (or `param`)"),
    ("y = q ∘ W", "declare it before this line, e.g. `input q : R^(n×m)` (or `param`)"),
    ("y = sigmod(a)", "define it with `sigmod(t) = ...` above this line"),
    ("y = z\nz = a", "declare or define a name above its first use"),
    # shape mismatches say what would fit
    ("y = W * W", "for the elementwise (Hadamard) product write A ∘ B (or A .* B)"),
    ("y = W^2", "for the elementwise power write A .^ k; A^-1 is the inverse of a square matrix"),
    ("y = W v", "transpose the left factor (A^T B) to make the inner dimensions agree"),
    ("y = w^T W", "transpose the right factor (A B^T) to make the inner dimensions agree"),
    ("y = v + v^T", "transpose one side (B^T) to make the shapes agree; broadcasting works only for "
                    "a scalar with anything, a column R^n with R^(n×N), or a row R^(1×N) with R^(n×N)"),
    ("y = a\ny = 2 a", "definitions are single-assignment: give the new value another name"),
    ("param v : R", "each name is one thing in a file: choose another name"),
    ("f(t) = t v", "make 'v' an argument of 'f'"),
    ("grad a wrt c", "declare it as `param` or `input` to get its gradient"),
    ("grad v", "reduce it to a scalar first, e.g. sum(v)"),
])
def test_each_mistake_comes_with_a_hint(body, expected):
    assert hint(body) == expected


def test_grad_without_wrt_needs_a_param():
    (error,) = errors("input x : R\ngrad x\n")
    assert (error.span.line, error.span.column) == (2, 1)
    assert error.message == "grad without `wrt` differentiates every param, but there is none"
    assert error.hint == "name the inputs: grad x wrt ..."


@pytest.mark.parametrize("text, line, column", [
    ("", 1, 1),
    ("\n  \n", 1, 1),
    ("param a : R\ny = a", 2, 6),
    ("param a : R\ny = a\n", 2, 6),
    ("param a : R\ny = a  \n\n\t\n", 2, 6),
    ("param a : R\ny = a\n# the end\n", 3, 10),
])
def test_a_file_without_grad_is_reported_where_its_text_ends(text, line, column):
    (error,) = errors(text)
    assert (error.span.line, error.span.column, error.message) == (
        line, column, "no grad statement: nothing to differentiate")


@pytest.mark.parametrize("text, suggestion", [
    ("param V : R^(n x m)\nparam c : R^n\ninput x : R^m\nh = V x + c\nloss = sum(h)\nz = h\n",
     "grad loss wrt V, c"),
    ("input a : R\ninput b : R\ny = a b\n", "grad y wrt a, b"),
    ("param a : R^n\n", "grad s wrt W"),
])
def test_a_file_without_grad_is_told_the_grad_statement_its_model_suggests(text, suggestion):
    (error,) = errors(text)
    assert error.hint.startswith(f"add a line such as `{suggestion}`:")


# --------------------------------------------------------- several errors

def test_independent_errors_in_separate_statements_are_all_reported():
    assert located("y = a +\nz = q\nu = W v\nparam exp : R") == [
        (7, 8, "unexpected end of statement; expected an expression"),
        (8, 5, "unknown name 'q'"),
        (9, 7, W_V),
        (10, 7, "'exp' is a built-in function and cannot be redefined"),
    ]


@pytest.mark.parametrize("body", [
    "y = (a +\nz = y",                         # y did not parse: z = y says nothing more
    "y = a $\nz = y",
    "param B : R^(0 x n)\ny = sum(B)",          # B's type is wrong, but B is declared
    "f(t, t) = t\ny = f(a)",                    # f's arguments are wrong, but f is defined
    "y = q + 1\nz = y",                         # y is wrong, and z only repeats it
])
def test_an_error_is_not_repeated_by_what_follows_from_it(body):
    assert len(located(body)) == 1


def test_a_grad_statement_that_does_not_parse_is_still_a_grad_statement():
    assert [e.message for e in errors("param a : R\ngrad a wrt\n")] == [
        "unexpected end of statement; expected a name"]


def test_an_unclosed_bracket_does_not_swallow_the_next_statement():
    assert located("y = (a +\nz = q") == [(7, 5, "'(' is never closed"), (8, 5, "unknown name 'q'")]


# -------------------------------------------------------------- rendering

def rendered(text: str) -> str:
    with pytest.raises(ModelError) as caught:
        check(text)
    return caught.value.render()


def test_the_rendered_form():
    assert rendered(f"{HEADER}y = W v\ngrad a\n") == (
        f"model.sg:7:7: error: {W_V}\n"
        "    y = W v\n"
        "          ^\n"
        "  hint: transpose the left factor (A^T B) to make the inner dimensions agree")


@pytest.mark.parametrize("line, caret", [
    ("y = θθ + 1", "        ^~"),          # columns count characters, and a name is underlined
    ("\ty = qq", "    \t    ^~"),           # a tab before it stays a tab, so the caret lines up
])
def test_the_caret_is_under_the_mistake(line, caret):
    assert rendered(f"param a : R\n{line}\ngrad a\n").split("\n")[1:3] == [f"    {line}", caret]


def test_a_file_that_is_not_utf8_is_a_located_error(tmp_path):
    path = tmp_path / "model.sg"
    path.write_bytes("param θ : R\ny = θθ\xff\n".encode("utf-8").replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(ModelError) as caught:
        read_source(str(path))
    (error,) = caught.value.diagnostics
    assert (error.span.line, error.span.column) == (2, 7)
    assert error.message == "the file is not valid UTF-8 (byte 0xff)"
    assert error.hint == "save the model as UTF-8"


def test_a_byte_order_mark_is_no_column(tmp_path):
    path = tmp_path / "model.sg"
    path.write_bytes(codecs.BOM_UTF8 + b"y = qq\n")
    first = errors(read_source(str(path)).text)[0]
    assert (first.span.line, first.span.column, first.message) == (1, 5, "unknown name 'qq'")


def test_windows_line_ends_are_shown_without_their_carriage_return():
    assert rendered("param a : R\r\ny = qq\r\ngrad a\r\n").split("\n")[:3] == [
        "model.sg:2:5: error: unknown name 'qq'", "    y = qq", "        ^~"]


def test_the_command_line_reports_every_error_and_exits_2(tmp_path, capsys):
    path = tmp_path / "model.sg"
    path.write_text("param a : R\ny = a +\nz = q\n", encoding="utf-8")
    assert main(["shapes", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert [line for line in lines if ": error: " in line] == [
        f"{path}:2:8: error: unexpected end of statement; expected an expression",
        f"{path}:3:5: error: unknown name 'q'",
        f"{path}:3:6: error: no grad statement: nothing to differentiate",
    ]
    assert "Traceback" not in err


# Pieces of models, good and bad: statement words, types, operators,
# functions, brackets, line ends, comments, and characters of no token.
PIECES = ["param", "input", "const", "grad", "wrt", "R", "^", "(", ")", "[", "]", "{", "}", "x", "×", ",",
          "n", "3", "0", ":", "=", "a", "W", "v", "f", "t", "T", "'", "ᵀ", "-", "+", "*", "@", "∘", ".*",
          "/", "./", ".^", "||", "2", ".5", "1e-3", "exp", "sum", "diag", "max", "leaky_relu", "softmax",
          "logsumexp", "tr", "σ", "θ", "\n", "# c", "$", "|", "y ="]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(PIECES), max_size=14))
def test_any_text_is_a_program_or_located_errors(pieces):
    text = f"{HEADER}f(t) = t\n{' '.join(pieces)}\ngrad a\n"
    lines = text.count("\n")
    try:
        check(text)
    except ModelError as error:
        assert all(1 <= d.span.line <= lines and d.span.column >= 1 for d in error.diagnostics)
        assert error.render().count(": error: ") == len(error.diagnostics)
        assert not internal_names("\n".join(d.message for d in error.diagnostics))


def internal_names(message: str) -> list[str]:
    """Names internal to the grammar in a message: a terminal's name
    (`LPAR`, `_BY`, `$END`), one lowercased (`_by`, `hadamard`), or a
    quote quoted in quotes (three of them)."""
    found = ["'''"] if "'''" in message else []
    for name, terminal in parser().terminals.items():
        if terminal.pattern.type == "str" and terminal.pattern.value in (name, name.lower()):
            continue  # a keyword or letter named by itself: `param`, `R`, `x` (as X)
        if re.search(rf"(?<![\w$]){re.escape(name)}(?!\w)", message):
            found.append(name)
        if terminal.pattern.type != "str" and name not in ("NAME", "NUMBER", "INT") and name.lower() in message:
            found.append(name.lower())
    return found + (["$END"] if "$END" in message else [])


def test_no_expected_list_of_any_parser_state_names_a_grammar_internal_terminal():
    """The class: every state's "expected ..." list, in the model's words."""
    grammar = parser()
    words = set(TERMINAL_WORDS.values()) | {"an expression", "..."} | {
        quoted(t.pattern.value) for t in grammar.terminals.values() if t.pattern.type == "str"}
    for state, actions in grammar.actions.items():
        described = grammar.describe_expected({s for s in actions if s.isupper()})
        assert not internal_names(described), (state, described)
        listed = described.removeprefix("; expected ").replace(" or ", ", ").split(", ") if described else []
        assert set(listed) <= words, (state, described)


@pytest.mark.parametrize("text", ["param q : R^(n x)", "y = a'' ,", "y = v ∘", "y = (W w) ]", "y = 'a"])
def test_the_messages_of_reported_mistakes_name_no_grammar_internal_terminal(text):
    for diagnostic in errors(f"{HEADER}{text}\ngrad a\n"):
        assert not internal_names(diagnostic.message), diagnostic.message


# NumPy's (and Python's) spellings: each a located error whose hint is the
# model's spelling, with the operands as written.
NUMPY = {
    "x.T": ("y = w.T", 7, 6, "'.T' is NumPy's transpose", "write wᵀ or w^T"),
    "(...).T": ("y = (W w).T", 7, 10, "'.T' is NumPy's transpose", "write (W w)ᵀ or (W w)^T"),
    "**": ("y = v ** 2", 7, 7, "'**' is Python's power", "write v .^ 2 (entry by entry; v^2 for a scalar)"),
    "number **": ("y = 2**v", 7, 6, "'**' is Python's power", "write 2 .^ v (entry by entry; 2^v for a scalar)"),
    "dot": ("y = dot(v, W w)", 7, 5, "'dot' is NumPy's; a model has no function of that name",
            "write vᵀ (W w)"),
    "transpose": ("y = transpose(W)", 7, 5, "'transpose' is NumPy's; a model has no function of that name",
                  "write Wᵀ"),
    "norm": ("y = norm(w)", 7, 5, "'norm' is NumPy's; a model has no function of that name", "write ||w||"),
    "axis=1": ("y = sum(W, axis=1)", 7, 16, "a function of a model takes no keyword arguments "
                                            "('axis=' is NumPy's)", "write rowsum(W)"),
    "axis=0": ("y = mean(W w, axis=0)", 7, 19, "a function of a model takes no keyword arguments "
                                               "('axis=' is NumPy's)", "write colmean(W w)"),
    "np.exp": ("y = np.exp(v)", 7, 5, "'np.exp' is a Python module's function; a model has no modules",
               "write exp(v)"),
    "np.linalg.norm": ("y = np.linalg.norm(v)", 7, 5, "'np.linalg.norm' is a Python module's function; "
                                                     "a model has no modules", "write ||v||"),
    "np.sum axis=1": ("y = np.sum(W, axis=1)", 7, 5, "'np.sum' is a Python module's function; "
                                                    "a model has no modules", "write rowsum(W)"),
    "numpy.dot": ("y = numpy.dot(w, w)", 7, 5, "'numpy.dot' is a Python module's function; "
                                               "a model has no modules", "write wᵀ w"),
}


@pytest.mark.parametrize("body, line, column, message, expected", NUMPY.values(), ids=NUMPY.keys())
def test_a_numpy_spelling_is_told_the_models_spelling(body, line, column, message, expected):
    (error,) = errors(f"{HEADER}{body}\ngrad a\n")
    assert (error.span.line, error.span.column, error.message, error.hint) == (line, column, message, expected)


@pytest.mark.parametrize("body, expected", [
    ("y = W + vᵀ", "'vᵀ' is a row vector R^(1×n); its transpose fits: write v"),
    ("y = W - v^T", "'v^T' is a row vector R^(1×n); its transpose fits: write v"),
    ("param r : R^(1 x n)\ny = W ∘ r", "'r' is a row vector R^(1×n); its transpose fits: write rᵀ"),
    ("y = W - w", "'w' is a column vector R^m; its transpose fits: write wᵀ"),
    ("y = W + 2 vᵀ", "'2 vᵀ' is a row vector R^(1×n); its transpose fits: write (2 vᵀ)ᵀ"),
])
def test_a_vector_the_wrong_way_round_beside_a_matrix_is_told_its_transpose(body, expected):
    assert errors(f"{HEADER}{body}\ngrad a\n")[-1].hint == expected


def test_derive_warns_of_an_unknown_function_close_to_a_known_one(tmp_path, capsys):
    path = tmp_path / "model.sg"
    path.write_text("param W : R^(n x m)\ninput x : R^m\ns = sum(sigmod(W x)) + sum(g(x))\ngrad s\n",
                    encoding="utf-8")
    assert main(["derive", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "sigmod'(W x)" in out
    assert err.startswith(f"{path}:3:9: warning: unknown function 'sigmod'; did you mean 'sigmoid'?\n")
    assert "'g'" not in err  # a name like no function's is taken to be meant
