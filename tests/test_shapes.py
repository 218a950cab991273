"""Shapes: every construct of language.md gets the shape the contract gives
it, and the statements mean what they say (grad, wrt, const, functions).

The errors these rules raise are test_errors.py's.
"""

from __future__ import annotations

import pytest
from checking import check, errors, shapes

# The variables the expressions below are made of.
DECLARATIONS = """\
param a : R
param v : R^n
param u : R^n
param w : R^m
param r : R^(1 x m)
param A : R^(n x n)
param W : R^(n x m)
param V : R^(m x n)
"""


def shape(expr: str) -> str:
    """The shape of `y = expr` among DECLARATIONS."""
    return shapes(f"{DECLARATIONS}y = {expr}\ngrad a\n")["y"]


def node(expr: str):
    """The IR node of `y = expr` among DECLARATIONS."""
    return check(f"{DECLARATIONS}y = {expr}\ngrad a\n").definitions["y"]


# ----------------------------------------------------------------- operators

@pytest.mark.parametrize("expr, expected", [
    ("W w", "R^n"),
    ("W * w", "R^n"),
    ("W @ w", "R^n"),
    ("v^T W", "R^(1×m)"),
    ("V W", "R^(m×m)"),
    ("v v^T", "R^(n×n)"),
    ("W^T", "R^(m×n)"),
    ("W'", "R^(m×n)"),
    ("Wᵀ", "R^(m×n)"),
    ("vᵀ", "R^(1×n)"),
    ("A^-1", "R^(n×n)"),
    ("a^2", "R"),
    ("a^-1", "R"),
    ("W .^ 2", "R^(n×m)"),
    ("-W", "R^(n×m)"),
    ("-a^2", "R"),
    ("W ∘ W", "R^(n×m)"),
    ("W ⊙ W", "R^(n×m)"),
    ("W .* W", "R^(n×m)"),
    ("W / W", "R^(n×m)"),
    ("W ./ W", "R^(n×m)"),
    ("W / 2", "R^(n×m)"),
    ("2 / W", "R^(n×m)"),
    ("2 W w", "R^n"),
    ("a W", "R^(n×m)"),
    ("W a", "R^(n×m)"),
    ("W w + v", "R^n"),
    ("v - u", "R^n"),
    ("||W||", "R"),
    ("||v||^2", "R"),
    ("1/2 ||v||^2", "R"),
    ("W(w)", "R^n"),            # a variable before brackets multiplies
])
def test_operator_shapes(expr, expected):
    assert shape(expr) == expected


@pytest.mark.parametrize("expr, op", [
    ("W w", "matmul"),
    ("a W", "mul"),             # a scalar factor scales
    ("v^T v", "matmul"),
    ("W(w)", "matmul"),         # a product, not a call, when W is a variable
    ("A^-1", "inv"),
    ("W .^ 2", "pow"),
    ("W ∘ W", "mul"),
    ("W / 2", "div"),
])
def test_operators_become_these_operations(expr, op):
    assert node(expr).op == op


def test_2_W_x_scales_W_then_multiplies():
    product = node("2 W w")
    assert product.op == "matmul"
    assert product.args[0].op == "mul"


def test_a_1_by_1_result_is_a_scalar():
    assert shape("v^T v") == "R"
    assert shape("(v^T v) W") == "R^(n×m)"   # and scales like one
    assert shapes("param c : R^(1 x 1)\ny = c\ngrad c")["y"] == "R"


# --------------------------------------------------------------- built-ins

ELEMENTWISE = ["exp", "log", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh", "sigmoid", "σ",
               "relu", "softplus", "gelu", "hardtanh", "leaky_relu", "elu"]


@pytest.mark.parametrize("function", ELEMENTWISE)
@pytest.mark.parametrize("argument, expected", [("a", "R"), ("v", "R^n"), ("W", "R^(n×m)")])
def test_an_elementwise_function_keeps_the_shape(function, argument, expected):
    assert shape(f"{function}({argument})") == expected


@pytest.mark.parametrize("expr, expected", [
    ("leaky_relu(v, 0.1)", "R^n"),     # the slope is optional
    ("elu(W, 2)", "R^(n×m)"),
    ("max(v, u)", "R^n"),
    ("min(W, W)", "R^(n×m)"),
    ("max(v, 0)", "R^n"),              # a scalar broadcasts
    ("min(a, W)", "R^(n×m)"),
])
def test_functions_of_two_arguments(expr, expected):
    assert shape(expr) == expected


@pytest.mark.parametrize("expr, expected", [
    ("sum(W)", "R"),
    ("mean(W)", "R"),
    ("norm1(W)", "R"),
    ("tr(A)", "R"),
    ("det(A)", "R"),
    ("logdet(A)", "R"),
    ("inv(A)", "R^(n×n)"),
    ("diag(v)", "R^(n×n)"),            # a vector to a diagonal matrix
    ("diag(A)", "R^n"),                # a matrix's diagonal, as a vector
    ("softmax(W)", "R^(n×m)"),         # per column
    ("log_softmax(W)", "R^(n×m)"),
    ("softmax(v)", "R^n"),
    ("logsumexp(W)", "R^(1×m)"),       # a row: one value per column
    ("logsumexp(v)", "R"),             # a scalar for a vector
])
def test_reductions_structure_and_classification(expr, expected):
    assert shape(expr) == expected


@pytest.mark.parametrize("expr, op", [("diag(v)", "diag_matrix"), ("diag(A)", "diag_vector")])
def test_diag_goes_both_ways(expr, op):
    assert node(expr).op == op


# ------------------------------------------------------------- broadcasting

@pytest.mark.parametrize("expr, expected", [
    ("a + W", "R^(n×m)"),      # a scalar with anything
    ("W - a", "R^(n×m)"),
    ("v + W", "R^(n×m)"),      # a column over every column of a matrix
    ("W + v", "R^(n×m)"),
    ("W ∘ v", "R^(n×m)"),
    ("r + W", "R^(n×m)"),      # a row over every row
    ("W / r", "R^(n×m)"),
])
def test_the_three_broadcasts(expr, expected):
    assert shape(expr) == expected


@pytest.mark.parametrize("expr", [
    "v + r",        # a column with a row
    "w + W",        # a column of the wrong height
    "v^T + W",      # a row of the wrong width
    "W + V",        # two matrices of different shapes
    "A + W",
])
def test_no_other_broadcast(expr):
    (error,) = errors(f"{DECLARATIONS}y = {expr}\ngrad a\n")
    assert "differ" in error.message


# ------------------------------------------------------------- dimensions

def test_a_dimension_used_in_an_expression_is_a_scalar():
    assert shape("n") == "R"
    assert shape("1/n sum(W)") == "R"
    assert shape("m v") == "R^n"
    assert node("n").op == "dimension"


def test_integer_dimensions():
    found = shapes("param x : R^3\nparam M : R^(3 x 4)\ny = M^T x\ns = sum(y)\ngrad s")
    assert found == {"y": "R^4", "s": "R"}


def test_a_symbol_and_a_number_are_different_sizes():
    (error,) = errors("param x : R^3\nparam M : R^(n x 4)\nparam a : R\ny = M^T x\ngrad a")
    assert "matrix product" in error.message


def test_the_dimensions_of_a_model_in_order():
    assert list(check(f"{DECLARATIONS}grad a").dims) == ["n", "m"]


# ------------------------------------------------------------ user functions

def test_a_user_function_applies_entry_by_entry():
    assert shapes("param z : R^n\nf(t) = sigmoid(t)\nh = f(z)\ns = sum(h)\ngrad s")["h"] == "R^n"


def test_a_function_of_several_arguments_broadcasts_them():
    model = f"{DECLARATIONS}g(s, t) = s t + 1\ny = g(W, v)\nq = g(a, w)\ngrad a"
    assert shapes(model) == {"y": "R^(n×m)", "q": "R^m"}
    assert check(model).functions["g"].params == ("s", "t")


def test_a_function_body_may_use_a_const_with_a_value():
    assert shapes("param x : R^n\nconst k = 2\nf(t) = k t\ny = sum(f(x))\ngrad y")["y"] == "R"


# ------------------------------------------------------------------- grad

def test_grad_without_wrt_is_every_param_in_declaration_order():
    program = check("input x : R^m\nparam W : R^(n x m)\nconst c : R\nparam b : R^n\n"
                    "s = sum(W x + b) c\ngrad s")
    (request,) = program.grads
    assert [v.name for v in request.wrt] == ["W", "b"]


def test_wrt_may_name_inputs_in_any_order():
    program = check("param W : R^(n x m)\ninput x : R^m\ns = sum(W x)\ngrad s wrt x, W")
    assert [v.name for v in program.grads[0].wrt] == ["x", "W"]


def test_several_grad_statements():
    program = check("param W : R^(n x m)\ninput x : R^m\ns = sum(W x)\nt = 2 s\n"
                    "grad s wrt W\ngrad t wrt x, W")
    assert [(g.target, [v.name for v in g.wrt]) for g in program.grads] == [("s", ["W"]), ("t", ["x", "W"])]


def test_a_variable_itself_may_be_the_target():
    assert check("param a : R\ngrad a").grads[0].target == "a"


def test_a_const_with_a_value_is_no_argument():
    program = check("param x : R\nconst k = 0.5\nconst c : R\ny = k c x\ngrad y")
    assert [v.name for v in program.arguments] == ["x", "c"]
    assert program.variables["k"].value == 0.5
