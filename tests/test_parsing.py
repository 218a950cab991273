"""The syntax of language.md: every statement, type spelling, operator,
number and name form parses, and groups as the contract says.

Meanings and shapes are test_shapes.py's; mistakes are test_errors.py's.
"""

from __future__ import annotations

import pytest
from checking import statements, tree

from symgrad import parsing
from symgrad import syntax as ast
from symgrad.source import ModelError, Span


def statement(text: str) -> ast.Statement:
    (only,) = statements(text)
    return only


def expression(text: str) -> str:
    """How `y = text` groups its expression."""
    return tree(statement(f"y = {text}").expr)


# ---------------------------------------------------------------- statements

@pytest.mark.parametrize("kind", ["param", "input", "const"])
def test_a_declaration_names_a_variable_and_its_type(kind):
    declaration = statement(f"{kind} W : R^(n x m)")
    assert isinstance(declaration, ast.Declaration)
    assert (declaration.kind, declaration.name.id) == (kind, "W")
    assert [dim.expr.id for dim in declaration.type.dims] == ["n", "m"]


@pytest.mark.parametrize("text, value", [
    ("const lambda = 0.01", 0.01),
    ("const c = -2", -2.0),
    ("const c = 1e-3", 0.001),
])
def test_a_const_may_be_given_its_value(text, value):
    const = statement(text)
    assert isinstance(const, ast.ConstValue)
    assert const.value.value == value


def test_a_function_definition_has_scalar_arguments_and_a_body():
    function = statement("f(t, u) = sigmoid(t) u")
    assert isinstance(function, ast.Function)
    assert [p.id for p in function.params] == ["t", "u"]
    assert tree(function.body) == "(juxtapose (call sigmoid t) u)"


def test_a_definition_names_an_expression():
    definition = statement("z = W x + b")
    assert isinstance(definition, ast.Definition)
    assert definition.name.id == "z"
    assert tree(definition.expr) == "(add (juxtapose W x) b)"


def test_grad_lists_what_to_differentiate_by():
    grad = statement("grad s wrt W, b, u, x")
    assert grad.target.id == "s"
    assert [name.id for name in grad.wrt] == ["W", "b", "u", "x"]


def test_grad_without_wrt_leaves_the_list_to_the_checker():
    assert statement("grad s").wrt is None


def test_statements_are_one_per_line_and_comments_are_none():
    text = "# a model\n\nparam x : R   # a scalar\n   # indented comment\ns = x\ngrad s\n"
    found = statements(text)
    assert [type(s).__name__ for s in found] == ["Declaration", "Definition", "Grad"]
    assert [s.span.line for s in found] == [3, 5, 6]


def test_a_line_continues_while_a_bracket_is_open():
    z, s = statements("z = (W x +\n  # a comment line inside\n     b)\ns = sum(z)\n")
    assert tree(z.expr) == "(add (juxtapose W x) b)"
    assert (z.span.line, z.span.end_line) == (1, 3)
    assert s.span.line == 4


def test_a_function_may_list_its_arguments_over_several_lines():
    function = statement("f(t,\n  u) = t u")
    assert [p.id for p in function.params] == ["t", "u"]


# --------------------------------------------------------------------- types

@pytest.mark.parametrize("spelling, dims", [
    ("R", []),
    ("R^n", ["n"]),
    ("R^3", [3]),
    ("R^(n)", ["n"]),
    ("R^(n x m)", ["n", "m"]),
    ("R^(n×m)", ["n", "m"]),
    ("R^{n,m}", ["n", "m"]),
    ("R^(n, m)", ["n", "m"]),
    ("R^{n x 3}", ["n", 3]),
    ("R^(x x y)", ["x", "y"]),   # `x` between two dimensions only is the word "by"
    ("R^(nxm)", ["nxm"]),        # ... and a word of its own: one dimension named nxm
    ("R^(n×m)", ["n", "m"]),
])
def test_every_type_spelling(spelling, dims):
    def _dim_leaf(expr):
        return int(expr.value) if isinstance(expr, ast.Number) else expr.id

    assert [_dim_leaf(dim.expr) for dim in statement(f"param A : {spelling}").type.dims] == dims


# ----------------------------------------------------------------- operators

@pytest.mark.parametrize("text, grouped", [
    # level 1 binds tightest: transpose, inverse, powers
    ("A^T", "(T A)"),
    ("A'", "(T A)"),
    ("Aᵀ", "(T A)"),
    ("xᵀ", "(T x)"),              # ᵀ is never part of a name
    ("A^T^T", "(T (T A))"),
    ("A^-1", "(power A (neg 1))"),
    ("A^(-1)", "(power A (neg 1))"),
    ("a^k", "(power a k)"),
    ("a^-k", "(power a (neg k))"),
    ("a^-b c", "(juxtapose (power a (neg b)) c)"),
    ("a^{k + 1}", "(power a (add k 1))"),
    ("a^2^3", "(power (power a 2) 3)"),
    ("A .^ 2", "(elementwise_power A 2)"),
    ("2.^k", "(elementwise_power 2 k)"),   # a number has digits after its point
    # level 2: negation, below the powers
    ("-x^2", "(neg (power x 2))"),
    ("-A B", "(juxtapose (neg A) B)"),
    ("--a", "(neg (neg a))"),
    # level 3: products and divisions, left to right
    ("A B", "(juxtapose A B)"),
    ("2 W x", "(juxtapose (juxtapose 2 W) x)"),
    ("A * B", "(star A B)"),
    ("A @ B", "(at A B)"),
    ("A ∘ B", "(hadamard A B)"),
    ("A ⊙ B", "(hadamard A B)"),
    ("A .* B", "(hadamard A B)"),
    ("A / B", "(divide A B)"),
    ("A ./ B", "(divide A B)"),
    ("1/N sum(L)", "(juxtapose (divide 1 N) (call sum L))"),
    ("1/2 ||x||^2", "(juxtapose (divide 1 2) (power (norm x) 2))"),
    ("a / b / c", "(divide (divide a b) c)"),
    ("a ∘ b * c", "(star (hadamard a b) c)"),
    ("a * -b", "(star a (neg b))"),
    ("u^T h", "(juxtapose (T u) h)"),
    ("x' W'", "(juxtapose (T x) (T W))"),
    # level 4: sums and differences, left to right
    ("W x + b", "(add (juxtapose W x) b)"),
    ("a + b - c", "(sub (add a b) c)"),
    ("a - b - c", "(sub (sub a b) c)"),
    ("a -b", "(sub a b)"),          # a juxtaposed factor never starts with `-`
    ("a - -b", "(sub a (neg b))"),
    # brackets
    ("(a + b) c", "(juxtapose (add a b) c)"),
    ("[a + b] c", "(juxtapose (add a b) c)"),
    ("a (b + c)", "(call a (add b c))"),   # a call or a product: the checker decides
    ("f(z)", "(call f z)"),
    ("max(a, b)", "(call max a b)"),
    # norms
    ("||A||", "(norm A)"),
    ("||A||^2", "(power (norm A) 2)"),
    ("||a|| ||b||", "(juxtapose (norm a) (norm b))"),
    ("||a - ||b|| ||", "(norm (sub a (norm b)))"),
    ("||2 (||x||)||", "(norm (juxtapose 2 (norm x)))"),
    ("||x + ||y|| x||", "(norm (add x (juxtapose (norm y) x)))"),   # after an operator `||` opens
])
def test_operator_precedence_and_grouping(text, grouped):
    assert expression(text) == grouped


# ------------------------------------------- second edition: indexing, blocks

@pytest.mark.parametrize("text, grouped", [
    ("L[:, w]", "(index L : w)"),
    ("A[i, j]", "(index A i j)"),
    ("x[i]", "(index x i)"),
    ("A[w, :]", "(index A w :)"),
    ("z[0:h]", "(index z (range 0 h))"),
    ("z[h:2 h]", "(index z (range h (juxtapose 2 h)))"),
    ("A[a:b, c:d]", "(index A (range a b) (range c d))"),
    ("x[0:n+1]", "(index x (range 0 (add n 1)))"),
    ("(W x)[0:h]", "(index (juxtapose W x) (range 0 h))"),
    ("f(z)[0]", "(index (call f z) 0)"),
    ("L[:, w]ᵀ", "(T (index L : w))"),       # indexing is level 1, left to right with ᵀ
    ("A'[0, :]", "(index (T A) 0 :)"),
    ("2 x[0]", "(juxtapose 2 (index x 0))"),
    ("-x[0]^2", "(neg (power (index x 0) 2))"),
    ("x[i][0]", "(index (index x i) 0)"),
    # a `[` after a space opens a bracket: a group or a block
    ("W [A; B]", "(juxtapose W (block A ; B))"),
    ("W [x]", "(juxtapose W x)"),
    ("[A; B]", "(block A ; B)"),
    ("[A, B]", "(block A B)"),
    ("[A, B; C, D]", "(block A B ; C D)"),
    ("[x; 1]ᵀ", "(T (block x ; 1))"),
    ("[W x + b; h]", "(block (add (juxtapose W x) b) ; h)"),
    ("vec(L[:, w])", "(call vec (index L : w))"),
    ("pick(log_softmax(S), y)", "(call pick (call log_softmax S) y)"),
])
def test_indexing_attaches_with_no_space_and_blocks_are_bracketed(text, grouped):
    assert expression(text) == grouped


def test_an_index_remembers_its_bracket_and_a_range_its_extent():
    index = statement("y = z[h:2 h]").expr
    assert (index.open_span.column, index.span.column, index.span.end_column) == (6, 5, 13)
    (block_range,) = index.axes
    assert (block_range.span.column, block_range.span.end_column) == (7, 12)


def _dim_tree(dim: ast.Dim) -> str:
    return tree(dim.expr)


@pytest.mark.parametrize("spelling, dims", [
    ("R^(n x 5 d)", ["n", "(juxtapose 5 d)"]),
    ("R^(n x 5 * d)", ["n", "(star 5 d)"]),
    ("R^(n + m)", ["(add n m)"]),
    ("R^(4 h x (d + h))", ["(juxtapose 4 h)", "(add d h)"]),
    ("R^(2 (n - 1))", ["(juxtapose 2 (sub n 1))"]),
    ("R^{N T}", ["(juxtapose N T)"]),
    ("R^(x x y)", ["x", "y"]),
])
def test_a_dimension_is_a_sum_of_products_of_symbols_and_whole_numbers(spelling, dims):
    assert [_dim_tree(d) for d in statement(f"param A : {spelling}").type.dims] == dims


@pytest.mark.parametrize("spelling, count, highest", [
    ("{0..C-1}^N", ["N"], "(sub C 1)"),
    ("{0..V-1}", [], "(sub V 1)"),
    ("{0..V-1}^(N T)", ["(juxtapose N T)"], "(sub V 1)"),
    ("{0..9}^5", ["5"], "9"),
])
def test_an_id_type_gives_its_range_and_how_many(spelling, count, highest):
    type_ = statement(f"input y : {spelling}").type
    low, high = type_.ids
    assert (tree(low.expr), tree(high.expr), [_dim_tree(d) for d in type_.dims]) == ("0", highest, count)


def test_a_plain_type_has_no_ids():
    assert statement("input x : R^n").type.ids is None


# ------------------------------------------------------------ numbers, names

@pytest.mark.parametrize("text, value", [
    ("2", 2.0), ("0.5", 0.5), (".5", 0.5), ("1e-3", 0.001), ("2.5E+4", 25000.0), ("10", 10.0),
])
def test_every_number_form(text, value):
    number = statement(f"y = {text}").expr
    assert (number.value, number.text) == (value, text)


@pytest.mark.parametrize("name", [
    "θ", "αβ", "Σ_1", "x_1", "_tmp", "W2", "ϕ", "φ",
    "lambda", "def", "import", "class",     # Python keywords are names here
    "R", "T", "x",                          # words the grammar uses in one place only
    "param", "input", "const", "grad", "wrt",  # statement words, where a name is expected
])
def test_a_name_can_be_declared_defined_and_used(name):
    declared, defined, grad = statements(f"param {name} : R\ny_ = {name} {name}\ngrad y_ wrt {name}")
    assert declared.name.id == name
    assert tree(defined.expr) == f"(juxtapose {name} {name})"
    assert grad.wrt[0].id == name


@pytest.mark.parametrize("text, name", [
    ("grad = a", "grad"), ("param(t) = t", "param"), ("wrt = 2", "wrt"), ("const const = 1", "const"),
])
def test_a_statement_word_can_name_a_definition_where_unambiguous(text, name):
    assert statement(text).name.id == name


def test_a_superscript_belongs_to_the_name():
    assert expression("x² + x") == "(add x² x)"


def test_a_number_needs_digits_after_its_point():
    with pytest.raises(ModelError) as caught:
        statements("y = 2.")
    (error,) = caught.value.diagnostics
    assert (error.span.column, error.message) == (6, "unexpected character '.'")


def test_a_norm_bar_after_an_operand_inside_a_norm_closes_it():
    """`||2 ||x||||` reads as ||2|| x, then a norm left open."""
    with pytest.raises(ModelError) as caught:
        statements("y = ||2 ||x||||")
    assert caught.value.diagnostics[0].message == "unexpected end of statement; expected an expression"


def test_names_are_case_sensitive():
    assert expression("a A") == "(juxtapose a A)"


def test_T_after_a_caret_is_a_transpose_and_a_name_elsewhere():
    assert expression("A^T T") == "(juxtapose (T A) T)"
    assert expression("A^Tx") == "(power A Tx)"


# ----------------------------------------------------------------- positions

def test_every_node_knows_where_it_was_written():
    z = statement("z = W x + b")
    plus = z.expr
    assert plus.op_span == Span(1, 9, 1, 10)
    assert plus.span == Span(1, 5, 1, 12)
    assert z.name.span == Span(1, 1, 1, 2)


@pytest.mark.parametrize("text, end", [("A^T", 8), ("A^ T", 9), ("Aᵀ", 7), ("A'", 7), ("(A)", 8), ("[A]", 8)])
def test_a_transpose_and_a_bracket_span_what_was_written(text, end):
    assert statement(f"y = {text}").expr.span == Span(1, 5, 1, end)


def test_brackets_are_kept_as_a_group_that_regrouping_does_not_reach_into():
    divide = statement("y = a / (b (c))").expr
    assert isinstance(divide.right, ast.Group) and isinstance(divide.right.operand, ast.Call)


@pytest.mark.parametrize("text, column", [
    ("y = W x", 7),        # juxtaposition: the start of the right operand
    ("y = A^2", 6),        # a power: its `^`
    ("y = W * x", 7),
    ("y = -x", 5),
])
def test_an_operator_is_located_where_its_errors_are_reported(text, column):
    assert statement(text).expr.op_span.column == column


def test_a_call_remembers_its_bracket_for_the_product_it_may_be():
    call = statement("y = W (x + b)").expr
    assert (call.open_span.column, call.span.end_column) == (7, 14)


def test_columns_count_characters_not_bytes():
    assert statement("y = θ ∘ ϕ").expr.op_span.column == 7


def test_the_parser_tables_are_cached_across_processes_and_read_back_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    built = parsing.Parser()
    assert len(list(tmp_path.glob("lark-tables-*.pickle"))) == 1
    loaded = parsing.Parser()
    assert loaded.actions == built.actions
    assert [rule[:2] for rule in loaded.rules] == [rule[:2] for rule in built.rules]
    assert loaded.skip.pattern == built.skip.pattern


def test_the_parser_is_built_where_the_cache_directory_cannot_be_made(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(blocker / "cache"))
    parsing.parser.cache_clear()
    try:
        assert tree(statements("s = W x + b\n")[0].expr) == "(add (juxtapose W x) b)"
    finally:
        parsing.parser.cache_clear()
