"""Reverse-mode differentiation checked exactly against SymPy.

Every model is instantiated at small sizes as matrices of scalar symbols
(tests/symbolic.py, an evaluator independent of symgrad's rules); its target
is differentiated by `sympy.diff` with respect to each entry's symbol and
compared with symgrad's gradient, entry by entry: exactly (the difference
simplifies to 0), or, where that is slow or the model has kinks, at several
random rational points evaluated to 60 digits.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sympy
from symbolic import Model, has_meaning, mismatches

import symgrad
from symgrad.ir import postorder
from symgrad.ops import OPS
from symgrad.simplify import InternalError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SIZES = {"n": 2, "m": 3, "N": 2}
POSITIVE = (0.1, 3)


@dataclasses.dataclass
class Case:
    text: str
    sizes: dict = dataclasses.field(default_factory=lambda: dict(SIZES))
    points: int = 0                 # 0: exact simplification; else random points
    domain: tuple = (-2, 2)
    tolerance: float = 1e-40
    accept: object = None

    def model(self) -> Model:
        return Model(self.text, self.sizes)


def at_points(text, domain=(-2, 2), **kwargs) -> Case:
    return Case(text, points=4, domain=domain, **kwargs)


def positive_det(name: str, case_model):
    """accept(point): the matrix `name` has a positive determinant there."""
    symbols = case_model.evaluator.symbols[name]
    return lambda point: symbols.xreplace(point).det() > 0


def check(case: Case):
    model = case.model()
    accept = case.accept(model) if case.accept else None
    found = mismatches(model, points=case.points, domain=case.domain, accept=accept,
                       tolerance=case.tolerance)
    assert found == []


# ------------------------------------------------------------- elementwise

UNARY = """\
param u : R^n
input x : R^n
s = u^T {f}(x)
grad s wrt u, x
"""

ELEMENTWISE = {
    "exp": Case(UNARY.format(f="exp")),
    "log": Case(UNARY.format(f="log"), points=3, domain=POSITIVE),
    "sqrt": Case(UNARY.format(f="sqrt"), points=3, domain=POSITIVE),
    "abs": at_points(UNARY.format(f="abs")),
    "sign": at_points(UNARY.format(f="sign")),
    "sin": Case(UNARY.format(f="sin")),
    "cos": Case(UNARY.format(f="cos")),
    "tan": at_points(UNARY.format(f="tan"), domain=(-1.5, 1.5)),
    "tanh": Case(UNARY.format(f="tanh")),
    "sigmoid": Case(UNARY.format(f="sigmoid")),
    "σ": Case(UNARY.format(f="σ")),
    "relu": at_points(UNARY.format(f="relu")),
    "softplus": Case(UNARY.format(f="softplus")),
    # gelu' carries the float constants 1/sqrt(2) and 1/sqrt(2 pi): equal to double precision
    "gelu": at_points(UNARY.format(f="gelu"), tolerance=1e-14),
    "hardtanh": at_points(UNARY.format(f="hardtanh"), domain=(-3, 3)),
    "leaky_relu": at_points(UNARY.format(f="leaky_relu")),
    "elu": at_points(UNARY.format(f="elu")),
}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_function_gradient_is_exact(name):
    check(ELEMENTWISE[name])


BINARY = """\
param u : R^n
input x : R^n
input y : R^n
param a : R
s = u^T {expr}
grad s wrt u, {wrt}
"""


def binary(expr: str, wrt: str) -> Case:
    return at_points(BINARY.format(expr=expr, wrt=wrt))


TWO_ARGUMENTS = {
    "leaky_relu with its slope": binary("leaky_relu(x, a)", "x, a"),
    "elu with its scale": binary("elu(x, a)", "x, a"),
    "max of two vectors": binary("max(x, y)", "x, y"),
    "min of two vectors": binary("min(x, y)", "x, y"),
    "max of a vector and a scalar": binary("max(x, a)", "x, a"),
    "min of a scalar and a vector": binary("min(a, y)", "y, a"),
    "max with zero": binary("max(0, a x - y)", "x, y, a"),
}


@pytest.mark.parametrize("name", TWO_ARGUMENTS)
def test_two_argument_function_gradient_is_exact(name):
    check(TWO_ARGUMENTS[name])


def test_elementwise_function_of_a_matrix_is_exact():
    check(at_points("""\
param U : R^(n x N)
input X : R^(n x N)
s = sum(U ∘ tanh(X) ∘ relu(X))
grad s wrt U, X
"""))


# ---------------------------------------------------------------- operators

VECTORS = """\
param u : R^n
input x : R^n
input y : R^n
param c : R
s = {expr}
grad s wrt u, x, y, c
"""

OPERATORS = {
    "sum": Case(VECTORS.format(expr="u^T (x + y) + c")),
    "difference": Case(VECTORS.format(expr="u^T (x - y) - c")),
    "negation": Case(VECTORS.format(expr="-u^T x + -c"), sizes=SIZES),
    "hadamard ∘": Case(VECTORS.format(expr="u^T (x ∘ y ∘ x)")),
    "hadamard ⊙": Case(VECTORS.format(expr="u^T (x ⊙ y)")),
    "hadamard .*": Case(VECTORS.format(expr="u^T (x .* y)")),
    "division /": Case(VECTORS.format(expr="u^T (x / y)"), points=3, domain=POSITIVE),
    "division ./": Case(VECTORS.format(expr="u^T (x ./ y)"), points=3, domain=POSITIVE),
    "division by a scalar": Case(VECTORS.format(expr="u^T (x / c)"), points=3, domain=POSITIVE),
    "a scalar divided by a vector": Case(VECTORS.format(expr="u^T (c / x)"), points=3, domain=POSITIVE),
    "scalar power": Case(VECTORS.format(expr="(u^T x)^3 + c^2")),
    "scalar power with a variable exponent": Case(VECTORS.format(expr="(u^T u)^c"), points=3, domain=POSITIVE),
    "elementwise power": Case(VECTORS.format(expr="u^T (x .^ 3)")),
    "elementwise power with a variable exponent": Case(VECTORS.format(expr="u^T (x .^ c)"),
                                                        points=3, domain=POSITIVE),
    "elementwise power of vectors": Case(VECTORS.format(expr="u^T (x .^ y)"), points=3, domain=POSITIVE),
    "scaling by a scalar": Case(VECTORS.format(expr="c u^T (2 x)")),
    "scaling with *": Case(VECTORS.format(expr="u^T (c * x) * c")),
}


@pytest.mark.parametrize("name", OPERATORS)
def test_operator_gradient_is_exact(name):
    check(OPERATORS[name])


MATRICES = """\
param A : R^(n x m)
param B : R^(m x N)
input u : R^n
input v : R^N
s = {expr}
grad s wrt A, B, u, v
"""

PRODUCTS = {
    "juxtaposition": Case(MATRICES.format(expr="u^T A B v")),
    "*": Case(MATRICES.format(expr="u^T * A * B * v")),
    "@": Case(MATRICES.format(expr="u^T @ (A @ B) @ v")),
    "matrix times matrix then sum": Case(MATRICES.format(expr="sum((A B) ∘ (A B)) + u^T u + v^T v")),
    "transpose ^T": Case(MATRICES.format(expr="v^T B^T A^T u")),
    "transpose '": Case(MATRICES.format(expr="v' B' A' u")),
    "transpose ᵀ": Case(MATRICES.format(expr="vᵀ Bᵀ Aᵀ u")),
    "transpose of a product": Case(MATRICES.format(expr="v^T (A B)^T u")),
}


@pytest.mark.parametrize("name", PRODUCTS)
def test_matrix_product_gradient_is_exact(name):
    check(PRODUCTS[name])


SQUARE = """\
param A : R^(n x n)
input u : R^n
input v : R^n
s = {expr}
grad s wrt A, u, v
"""
SQUARE_SIZES = {"n": 2}


def square(expr: str, **kwargs) -> Case:
    return Case(SQUARE.format(expr=expr), sizes=SQUARE_SIZES, **kwargs)


STRUCTURE = {
    "A^-1": square("u^T A^-1 v"),
    "inv": square("sum(inv(A) ∘ (u v^T))"),
    "det": square("det(A) u^T v"),
    "det of a 3x3 matrix": Case(SQUARE.format(expr="det(A) + u^T v"), sizes={"n": 3}),
    "logdet": square("logdet(A) + u^T v", points=3,
                     accept=lambda model: positive_det("A", model)),
    "tr": square("tr(A A) + tr(u v^T)"),
    "diag of a vector": square("sum(A ∘ diag(u ∘ v))"),
    "diag of a matrix": square("sum(exp(diag(A))) + diag(A)^T (u ∘ v)"),
    "sum": square("sum(A ∘ A ∘ A) + sum(u)"),
    "mean": square("mean(A ∘ A) + mean(u ∘ v)"),
    "norm of a vector": square("||u|| + ||A v||", points=3),
    "Frobenius norm": square("||A|| + ||v||", points=3),
    "squared norm": square("||A||^2 + ||u - v||^2"),
    "cubed norm": square("||u||^3", points=3),
    "norm1": square("norm1(A) + norm1(u - v)", points=3),
}


@pytest.mark.parametrize("name", STRUCTURE)
def test_reduction_and_structure_gradient_is_exact(name):
    check(STRUCTURE[name])


# The gradients where the simplifier leaves out an identity or a diagonal
# matrix: (s I) B = s B, diag(v) B = v ∘ B, B diag(v) = B ∘ vᵀ,
# diag(A B) = rowsum(A ∘ Bᵀ); and where an inverse is shared.
SCALES_AND_DIAGONALS = {
    "a scaled trace of a product": square("3 tr(A^T A) - tr(A u v^T) + 0.5 tr(A A A)"),
    "a trace under a sign and a scale": square("-(2 tr(u v^T A^T)) + tr(A^T (u u^T))"),
    "a diagonal matrix on either side": square("u^T diag(v) A u + sum(A diag(u ∘ v) A)"),
    "the diagonal of a product": square("diag(A A^T)^T u + sum(diag(A u v^T)) + diag(A^T A A)^T v"),
    "det, logdet and an inverse together": square("det(A) + u^T A^-1 v + logdet(A)", points=3,
                                                  accept=lambda model: positive_det("A", model)),
}


@pytest.mark.parametrize("name", SCALES_AND_DIAGONALS)
def test_gradients_without_identities_and_diagonals_are_exact(name):
    check(SCALES_AND_DIAGONALS[name])


def test_the_gradients_build_no_identity_and_share_the_forward_inverse():
    model = SCALES_AND_DIAGONALS["det, logdet and an inverse together"].model()
    scaled = SCALES_AND_DIAGONALS["a scaled trace of a product"].model()
    for case in (model, scaled):
        derivation = case.derivations[0]
        nodes = postorder([derivation.request.node, *derivation.gradients.values()])
        assert not [node for node in nodes if node.op in ("identity", "diag_matrix")]
    nodes = postorder([model.derivations[0].request.node, *model.derivations[0].gradients.values()])
    assert len([node for node in nodes if node.op == "inv"]) == 1


CLASSIFY = """\
param S : R^(n x N)
param x : R^n
input U : R^(n x N)
input u : R^n
input r : R^N
s = {expr}
grad s wrt S, x
"""

CLASSIFICATION = {
    "softmax of a vector": Case(CLASSIFY.format(expr="u^T softmax(x) + sum(S)")),
    "softmax per column": Case(CLASSIFY.format(expr="sum(U ∘ softmax(S)) + sum(x)")),
    "log_softmax of a vector": Case(CLASSIFY.format(expr="u^T log_softmax(x) + sum(S)")),
    "log_softmax per column": Case(CLASSIFY.format(expr="sum(U ∘ log_softmax(S)) + sum(x)")),
    "logsumexp of a vector": Case(CLASSIFY.format(expr="logsumexp(x) + sum(S)")),
    "logsumexp per column": Case(CLASSIFY.format(expr="logsumexp(S) r + sum(x)")),
}


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_softmax_family_gradient_is_exact(name):
    check(CLASSIFICATION[name])


BATCH = """\
param W : R^(n x m)
param b : R^n
param r : R^(1 x N)
param c : R
input X : R^(m x N)
input U : R^(n x N)
input V : R^(n x N)
S = W X
s = {expr}
grad s wrt W, b, r, c, X
"""

BROADCASTING = {
    "a bias over a batch": Case(BATCH.format(expr="sum(U ∘ tanh(S + b)) + sum(r) + c")),
    "a bias on the left": Case(BATCH.format(expr="sum(U ∘ (b + S) ∘ (b - S)) + sum(r) + c")),
    "a row over every row": Case(BATCH.format(expr="sum(U ∘ (S + r) ∘ (r - S)) + sum(b) + c")),
    "a scalar with a matrix": Case(BATCH.format(expr="sum(U ∘ (S + c) ∘ (c - S)) + sum(b) + sum(r)")),
    "a column times a matrix": Case(BATCH.format(expr="sum(U ∘ (b ∘ S) ∘ (S ∘ r)) + c")),
    "a matrix over a column": Case(BATCH.format(expr="sum(U ∘ (S / b) + (r / c) ∘ V)"),
                                   points=3, domain=POSITIVE),
    "a column over a matrix": Case(BATCH.format(expr="sum((b / (1 + S ∘ S)) ∘ U + r) + c"), points=3),
    "max of a column and a matrix": at_points(BATCH.format(expr="sum(U ∘ max(S, b) ∘ min(r, S)) + c")),
    "a scalar with a vector": Case(BATCH.format(expr="sum(U ∘ S) + (b + c)^T (b - c) + sum(r)")),
    "a dimension as a number": Case(BATCH.format(expr="1/N sum(U ∘ S ∘ S) + m c + sum(b) + sum(r)")),
}


@pytest.mark.parametrize("name", BROADCASTING)
def test_broadcasting_gradient_is_exact(name):
    check(BROADCASTING[name])


# ----------------------------------------------------------- user functions

FUNCTIONS = {
    "one argument": Case("""\
f(t) = t^3 + sin(t)
param u : R^n
input x : R^n
s = u^T f(x)
grad s wrt u, x
"""),
    "through its output": Case("""\
f(t) = sigmoid(t)
g(t) = exp(2 t)
param u : R^n
input x : R^n
s = u^T f(x) + u^T g(x)
grad s wrt u, x
"""),
    "several arguments": Case("""\
g(a, b, c) = a exp(b) + a^2 b - c / (1 + b^2)
param u : R^n
input x : R^n
input y : R^n
param k : R
s = u^T g(x, y, k)
grad s wrt u, x, y, k
"""),
    "several arguments broadcast over a batch": Case("""\
g(a, b) = a / (1 + b^2)
param X : R^(n x N)
param v : R^n
input U : R^(n x N)
s = sum(U ∘ g(X, v))
grad s wrt X, v
"""),
    "calling another function": Case("""\
f(t) = t^2
g(t) = f(t) + sin(f(t))
param u : R^n
input x : R^n
s = u^T g(x)
grad s wrt u, x
"""),
    "with a const": Case("""\
const c = 0.5
f(t) = c t^2 + c
param u : R^n
input x : R^n
s = u^T f(x) + c
grad s wrt u, x
"""),
    "with kinks": at_points("""\
f(a, b) = max(a, b) + relu(a - b) + abs(b) - min(a, 0)
param u : R^n
input x : R^n
input y : R^n
s = u^T f(x, y)
grad s wrt u, x, y
"""),
    "used twice": Case("""\
f(t) = t exp(t)
param W : R^(n x m)
input x : R^m
s = sum(f(W x)) + sum(f(x))
grad s wrt W, x
"""),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_user_function_gradient_is_exact(name):
    check(FUNCTIONS[name])


EDGES = {
    "a scalar variable as the target": Case("param c : R\ngrad c wrt c\n"),
    "a constant target": Case("param x : R^n\ns = 2\ngrad s wrt x\n"),
    "a row vector variable": Case("param r : R^(1 x n)\ninput x : R^n\ns = r x + sum(r ∘ r) + ||r||^2\n"
                                  "grad s wrt r, x\n"),
    "softmax of a row: one entry per column": Case("param x : R^n\ninput u : R^n\n"
                                                   "s = sum(softmax(x^T) ∘ u^T) + sum(logsumexp(x^T ∘ u^T))\n"
                                                   "grad s wrt x, u\n"),
    "a scalar to negative powers": Case("param a : R\ns = a^-1 + a^-2 + (a^2)^0.5\ngrad s wrt a\n",
                                        points=3, domain=POSITIVE),
    "inverse and determinant of a product": Case("param A : R^(n x m)\nparam B : R^(m x n)\n"
                                                 "s = sum(inv(A B)) + det(A B) + tr(inv(A B))\n"
                                                 "grad s wrt A, B\n", sizes={"n": 2, "m": 2}, points=3),
    "a linear function": Case("f(t) = 3 t\ng(t) = t\nh(t) = 2\nparam u : R^n\ninput x : R^n\n"
                              "s = u^T (f(x) + g(x) + h(x))\ngrad s wrt u, x\n"),
    "a function with a variable exponent": Case("f(a, b) = a^b + b^b\nparam X : R^(n x m)\ninput Y : R^(n x m)\n"
                                                "s = sum(f(X, Y) + X .^ Y)\ngrad s wrt X, Y\n",
                                                points=3, domain=POSITIVE),
    "a function of a scalar and a matrix": Case("g(a, b) = a exp(a b)\nparam c : R\ninput X : R^(n x m)\n"
                                                "s = sum(g(c, X)) + sum(g(n, X))\ngrad s wrt c, X\n"),
    "a function with the built-in kinks": at_points("f(t) = hardtanh(t) + leaky_relu(t, 0.2) + elu(t, 2) "
                                                    "+ sign(t) t + softplus(t)\nparam u : R^n\ninput x : R^n\n"
                                                    "s = u^T f(x)\ngrad s wrt u, x\n", domain=(-3, 3)),
}


@pytest.mark.parametrize("name", EDGES)
def test_edge_case_gradient_is_exact(name):
    check(EDGES[name])


def test_a_function_with_several_arguments_gets_a_partial_for_each():
    model = FUNCTIONS["several arguments"].model()
    derived = model.derivations[0].builder._partial.derived
    assert sorted(f.name for f in derived.values()) == ["∂g/∂a", "∂g/∂b", "∂g/∂c"]


def test_several_grad_statements_are_each_exact():
    check(Case("""\
param W : R^(n x m)
input x : R^m
param u : R^n
h = tanh(W x)
s = u^T h
t = sum(h ∘ h)
grad s wrt W, u
grad t wrt W, x
"""))


# ------------------------------------------------------------------ examples

EXAMPLE_SIZES = {
    "apple.sg": {}, "apple_orange.sg": {}, "max_branch.sg": {}, "sigmoid_neuron.sg": {},
    "logreg_newton.sg": {"n": 2, "N": 3},
    "norm_wx.sg": {"n": 2, "m": 3},
    "two_layer.sg": {"m": 2, "k": 3, "o": 2},
    "svm_loss.sg": {"k": 3},
    "window.sg": {"n": 2, "m": 3},
    "window_ner.sg": {"n": 2, "d": 1, "V": 4},
    "softmax_classifier.sg": {"C": 2, "D": 2, "N": 2},
    "quadratic_form.sg": {"n": 3},
    "trace_axb.sg": {"p": 2, "n": 3, "m": 2},
    "logdet.sg": {"n": 2},
    "logistic_regression.sg": {"N": 3, "d": 2},
    "logreg_columns.sg": {"d": 2, "N": 3},
    "mlp.sg": {"H": 3, "D": 2, "C": 2, "N": 2},
    "softmax_labels.sg": {"C": 3, "D": 2, "N": 3},
    "svm_labels.sg": {"C": 3, "D": 2, "N": 3},
    "two_layer_labels.sg": {"H": 2, "D": 2, "C": 3, "N": 2},
    "word2vec_naive.sg": {"d": 2, "V": 3},
    "word2vec_negative.sg": {"d": 2, "V": 3, "K": 3},
    "lstm_cell.sg": {"h": 2, "d": 1},
}
EXAMPLE_CASES = {
    "max_branch.sg": dict(points=3),
    "svm_loss.sg": dict(points=3),
    "window_ner.sg": dict(points=3, domain=(-1, 1)),
    "two_layer.sg": dict(points=3),
    "mlp.sg": dict(points=3),
    "svm_labels.sg": dict(points=3),
    "two_layer_labels.sg": dict(points=3),
    "lstm_cell.sg": dict(points=3, domain=(-1, 1)),
    "logdet.sg": dict(points=3, accept=lambda model: positive_det("X", model)),
}


def test_every_example_has_sizes_for_the_exact_check():
    assert sorted(EXAMPLE_SIZES) == sorted(p.name for p in EXAMPLES.glob("*.sg"))


@pytest.mark.parametrize("name", sorted(EXAMPLE_SIZES))
def test_example_gradient_is_exact(name):
    check(Case(str(EXAMPLES / name), sizes=EXAMPLE_SIZES[name], **EXAMPLE_CASES.get(name, {})))


# ------------------------------------------------ kinks, at exact points

def gradients_at(text: str, values: dict, sizes=None) -> dict:
    model = Model(text, sizes or {}, values)
    return {name: model.gradient(name).T.tolist()[0] for name in model.derivations[0].gradients}


def test_relu_has_derivative_zero_at_zero():
    grads = gradients_at("input x : R^3\ns = sum(relu(x))\ngrad s wrt x\n", {"x": [0, 2, -1]}, {})
    assert grads == {"x": [0, 1, 0]}


def test_abs_has_derivative_zero_at_zero():
    text = "input x : R^3\ns = sum(abs(x)) + norm1(2 x)\ngrad s wrt x\n"
    assert gradients_at(text, {"x": [0, 2, -1]}) == {"x": [0, 3, -3]}


def test_max_routes_to_its_first_argument_at_a_tie():
    text = "input a : R^3\ninput b : R^3\ns = sum(max(a, b))\ngrad s wrt a, b\n"
    assert gradients_at(text, {"a": [1, 1, 0], "b": [1, 0, 1]}) == {"a": [1, 1, 0], "b": [0, 0, 1]}


def test_min_routes_to_its_first_argument_at_a_tie():
    text = "input a : R^3\ninput b : R^3\ns = sum(min(a, b))\ngrad s wrt a, b\n"
    assert gradients_at(text, {"a": [1, 1, 0], "b": [1, 0, 1]}) == {"a": [1, 0, 1], "b": [0, 1, 0]}


def test_max_with_zero_routes_to_zero_only_below_it():
    text = "input x : R^3\ns = sum(max(0, x))\ngrad s wrt x\n"
    assert gradients_at(text, {"x": [0, 2, -1]}) == {"x": [0, 1, 0]}


def test_kinks_inside_a_user_function_follow_the_same_conventions():
    text = ("f(a, b) = max(a, b) + min(a, b) + relu(a) + abs(b)\n"
            "input a : R^2\ninput b : R^2\ns = sum(f(a, b))\ngrad s wrt a, b\n")
    # at a = b = 0: max and min both route to a, relu'(0) = abs'(0) = 0
    assert gradients_at(text, {"a": [0, 0], "b": [0, 1]}) == {"a": [2, 1], "b": [0, 2]}


def test_the_max_branch_example_routes_at_the_tie_y_equals_z():
    grads = gradients_at(str(EXAMPLES / "max_branch.sg"), {"x": 1, "y": 2, "z": 2})
    assert grads == {"x": [2], "y": [5], "z": [0]}


# -------------------------------------------------- structure of gradients

WINDOW = EXAMPLES / "window.sg"


def test_every_operation_has_an_independent_meaning_in_the_tests():
    assert [op for op in OPS if not has_meaning(op)] == []


def test_a_gradient_has_its_variables_shape():
    model = Model(str(EXAMPLES / "softmax_classifier.sg"), EXAMPLE_SIZES["softmax_classifier.sg"])
    variables = model.program.variables
    shapes = {name: node.shape for name, node in model.derivations[0].gradients.items()}
    assert shapes == {name: variables[name].shape for name in ("W", "b")}


def test_a_variable_the_target_does_not_depend_on_gets_zeros_of_its_shape():
    model = Model("param W : R^(n x m)\nparam v : R^(m x n)\ns = sum(W)\ngrad s wrt W, v\n", SIZES)
    gradient = model.derivations[0].gradients["v"]
    assert (gradient.op, gradient.shape) == ("zeros", model.program.variables["v"].shape)
    assert model.gradient("v") == sympy.zeros(3, 2)


def test_shared_error_signal_is_one_node():
    gradients = Model(str(WINDOW), SIZES).derivations[0].gradients
    delta = gradients["b"]
    assert gradients["W"].op == gradients["x"].op == "matmul"
    assert gradients["W"].args[0] is delta
    assert gradients["x"].args[1] is delta


def test_nothing_is_computed_for_a_variable_nobody_asked_for():
    text = WINDOW.read_text().replace("grad s wrt W, b, u, x", "grad s wrt u")
    model = Model(text, SIZES)
    derivation = model.derivations[0]
    assert [forward.op for forward, _ in derivation.signals] == ["matmul", "transpose"]
    assert derivation.builder._partial.derived == {}  # f' is never derived
    reached = postorder(list(derivation.gradients.values()))
    assert all(node.op != "apply" or node.data == "f" for node in reached)


def test_the_unasked_gradient_of_u_is_not_built_for_w():
    text = WINDOW.read_text().replace("grad s wrt W, b, u, x", "grad s wrt W")
    derivation = Model(text, SIZES).derivations[0]
    u_transposed = derivation.request.node.args[0]
    assert u_transposed.op == "transpose"
    assert all(forward is not u_transposed for forward, _ in derivation.signals)


def test_two_grad_statements_share_what_they_both_need():
    text = WINDOW.read_text() + "t = 2 s\ngrad t wrt W, b\n"
    first, second = Model(text, SIZES).derivations

    def f_primes(derivation):
        return [n for n in postorder(list(derivation.gradients.values())) if n.op == "apply" and n.data == "f'"]

    assert len(f_primes(first)) == 1
    assert f_primes(second) == f_primes(first)
    assert f_primes(second)[0] is f_primes(first)[0]


# ------------------------------------- a wrong rule fails at compile time

def wrong_rule(monkeypatch, op: str, index: int, rule):
    rules = list(OPS[op].vjp)
    rules[index] = rule
    monkeypatch.setitem(OPS, op, dataclasses.replace(OPS[op], vjp=tuple(rules)))


def test_a_rule_that_builds_an_ill_shaped_node_is_an_internal_error(monkeypatch):
    # ∂A = G B instead of G Bᵀ: the product's shapes do not fit
    wrong_rule(monkeypatch, "matmul", 0, lambda b, y, g: b.matmul(g, y.args[1]))
    with pytest.raises(InternalError, match=r"built matmul of R\^\(n×N\), R\^\(m×N\)"):
        symgrad.derive("param W : R^(n x m)\ninput X : R^(m x N)\ns = sum(W X)\ngrad s wrt W\n")


def test_a_rule_that_gives_a_wrong_shape_is_an_internal_error(monkeypatch):
    # transpose's rule forgets to transpose back: u gets a row for a column
    wrong_rule(monkeypatch, "transpose", 0, lambda b, y, g: g)
    with pytest.raises(InternalError, match=r"R\^\(1×n\).*R\^n"):
        symgrad.derive(str(WINDOW))


def test_a_rule_that_gives_a_scalar_for_a_matrix_is_an_internal_error(monkeypatch):
    # sum's rule forgets to spread the gradient over its operand
    wrong_rule(monkeypatch, "sum", 0, lambda b, y, g: g)
    with pytest.raises(InternalError, match=r"R cannot be summed to R\^\(n×m\)"):
        symgrad.derive("param A : R^(n x m)\ns = sum(A)\ngrad s wrt A\n")


def test_the_wrong_rule_is_restored_after_the_test():
    assert mismatches(Model(str(WINDOW), SIZES)) == []
