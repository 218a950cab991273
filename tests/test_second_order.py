"""Second derivatives checked exactly against SymPy, operation by operation.

For every operation of symgrad.ops.OPS that a model or a gradient graph can
hold, a small model whose Hessian involves it (the fused operations of
gradient graphs, σ', tanh', softplus', softmax', log_softmax', norm', reached
through the functions they differentiate). Each model is instantiated at
small sizes as matrices of scalar symbols (tests/symbolic.py, an evaluator
independent of symgrad's rules) and its target is differentiated twice by
`sympy.hessian`; symgrad's Hessian-vector product (∇²s) v, with the
direction v symbols too, must equal Σ ∂²s/∂A∂B V_B entry by entry, and its
full Hessian, where it has one in matrix form, SymPy's Hessian itself:
exactly (the difference simplifies to 0), or at random rational points to
60 digits where simplification is slow or the model has kinks (second
derivatives are 0 away from the kinks). `jacobian y wrt x` likewise against
SymPy's `jacobian`.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy
from symbolic import Model, second_order_mismatches
from test_differentiation import EXAMPLE_CASES, EXAMPLE_SIZES, EXAMPLES, POSITIVE, Case, at_points, positive_det

from symgrad.ir import postorder
from symgrad.lowering import analyze
from symgrad.ops import OPS
from symgrad.shapes import dim_value
from symgrad.source import Source


def check(case: Case) -> Model:
    model = case.model()
    accept = case.accept(model) if case.accept else None
    assert second_order_mismatches(model, points=case.points, domain=case.domain, accept=accept,
                                   tolerance=case.tolerance) == []
    return model


# ------------------------------------------------------------ the cases

# s = uᵀ f(x): ∂²s/∂x² = diag(u ∘ f''(x)), ∂²s/∂u∂x = diag(f'(x)).
UNARY = """\
param u : R^n
param x : R^n
s = uᵀ {f}(x)
hessian s wrt u, x
"""

# Two vectors and a scalar, every block of the Hessian present.
VECTORS = """\
param x : R^n
param y : R^n
param c : R
s = {expr}
hessian s wrt x, y, c
"""

# A matrix variable: Hessian-vector products only.
SQUARE = """\
param A : R^(n x n)
input u : R^n
input v : R^n
s = {expr}
hessian s wrt A
"""

# Matrices of columns: softmax and its family per column.
COLUMNS = """\
param S : R^(n x m)
input U : R^(n x m)
input r : R^m
s = {expr}
hessian s wrt S
"""

# Ids: gathers, picks and onehots of a vector and of a matrix.
IDS = """\
param x : R^m
param L : R^(n x m)
input w : {{0..m-1}}^n
input k : {{0..m-1}}
input y : {{0..n-1}}^m
s = {expr}
hessian s wrt {wrt}
"""


def unary(f: str, **kwargs) -> Case:
    return at_points(UNARY.format(f=f), **kwargs) if kwargs else Case(UNARY.format(f=f))


def vectors(expr: str, **kwargs) -> Case:
    return Case(VECTORS.format(expr=expr), sizes={"n": 2}, **kwargs)


def square(expr: str, **kwargs) -> Case:
    return Case(SQUARE.format(expr=expr), sizes={"n": 2}, **kwargs)


def columns(expr: str, **kwargs) -> Case:
    return Case(COLUMNS.format(expr=expr), sizes={"n": 3, "m": 2}, **kwargs)


def ids(expr: str, wrt: str, **kwargs) -> Case:
    return Case(IDS.format(expr=expr, wrt=wrt), sizes={"n": 2, "m": 3}, **kwargs)


# One case per operation, by name: the operation is in the model's target or
# in its gradient, the graph the Hessian differentiates again.
CASES = {
    # leaves
    "variable": vectors("sum(x ∘ y) c"),
    "number": vectors("2 sum(x ∘ x ∘ y) + 3 c ∘ c"),
    "dimension": vectors("sum(x ∘ x ∘ y) / n + n c ∘ c"),
    "identity": vectors("sum((eye(n) + x yᵀ) ∘ (x yᵀ)) c"),
    # s does not depend on w: its gradient is zeros, and the Hessian's row and column of w.
    "zeros": Case("param x : R^n\nparam w : R^n\nparam c : R\ns = sum(x ∘ x) c\nhessian s wrt x, w, c\n"),
    "direction": vectors("sum(x ∘ y ∘ y) c"),
    # arithmetic
    "add": vectors("sum((x + c) ∘ (y + x)) + sum(x + y) ∘ c"),
    "sub": vectors("sum((x - c) ∘ (y - x)) - sum(x - y) ∘ c"),
    "neg": vectors("sum((-x) ∘ (c - y) ∘ (-y))"),
    "mul": vectors("sum(x ∘ y ∘ x) c"),
    "div": vectors("sum(x / y) + c / sum(y ∘ y) + sum(y / c)", points=3, domain=POSITIVE),
    "pow": vectors("sum(x .^ 3) + (xᵀ y)^2 + sum(y .^ c) + c^3", points=3, domain=POSITIVE),
    "matmul": Case("param A : R^(n x m)\nparam x : R^m\ninput B : R^(m x m)\n"
                   "s = (A x)ᵀ (A x) + xᵀ B x\nhessian s wrt A, x\n"),
    "transpose": vectors("sum((x yᵀ)ᵀ ∘ (y xᵀ)) + (xᵀ y) c"),
    "inv": square("uᵀ inv(A) v", points=3),
    "det": square("det(A) + det(A A) + det(A) det(A)", points=3),
    "logdet": square("logdet(A)", points=3, accept=lambda model: positive_det("A", model)),
    "tr": square("tr(A A A) + tr(A) tr(A)"),
    # elementwise functions
    "exp": unary("exp"),
    "log": unary("log", domain=POSITIVE),
    "sqrt": unary("sqrt", domain=POSITIVE),
    "abs": unary("abs", domain=(-2, 2)),
    "sign": vectors("sum(sign(x) ∘ y ∘ y) c", points=3),
    "sin": unary("sin"),
    "cos": unary("cos"),
    "tan": unary("tan", domain=(-1.5, 1.5)),
    "tanh": unary("tanh"),
    "sigmoid": unary("σ"),
    "relu": unary("relu"),
    "softplus": unary("softplus"),
    # gelu'' carries the float constants 1/sqrt(2) and 1/sqrt(2 pi): equal to double precision
    "gelu": unary("gelu", tolerance=1e-14),
    "erf": unary("gelu", tolerance=1e-14),
    "hardtanh": unary("hardtanh", domain=(-3, 3)),
    "leaky_relu": vectors("sum(leaky_relu(x, c) ∘ y)", points=3),
    "elu": vectors("sum(elu(x, c) ∘ y)", points=3),
    "max": vectors("sum(max(x, y) ∘ x) + sum(max(x, c) ∘ y)", points=3),
    "min": vectors("sum(min(x, y) ∘ y) + sum(min(c, x) ∘ x)", points=3),
    "apply": at_points("f(t) = t^3 + sin(t)\ng(a, b) = a exp(b) + a^2 b\n" + VECTORS.format(
        expr="sum(f(x) ∘ y) + sum(g(x, c))")),
    # the indicators, in the partials of a function with kinks
    "gt": at_points("f(a, b) = relu(a - b) a + max(a, b) b\n" + VECTORS.format(expr="sum(f(x, y)) c")),
    "ge": at_points("f(a, b) = max(a, b) a + min(a, b) b\n" + VECTORS.format(expr="sum(f(x, y)) c")),
    "where_gt": vectors("sum(relu(x) ∘ y) + sum(max(y, x) ∘ x) c", points=3),
    "where_ge": vectors("sum(max(x, y) ∘ y) c", points=3),
    # the fused operations of gradient graphs, through what they differentiate
    "sigmoid_slope": vectors("sum(σ(x ∘ y) ∘ y) + σ(c)", points=3),
    "tanh_slope": vectors("sum(tanh(x ∘ y) ∘ y) + tanh(c)", points=3),
    "softplus_slope": vectors("sum(softplus(x ∘ y) ∘ y) + softplus(c)", points=3),
    "softmax_grad": vectors("softmax(x)ᵀ (y ∘ y) + c softmax(y)ᵀ x", points=3),
    "log_softmax_grad": vectors("log_softmax(x)ᵀ y + c log_softmax(y)ᵀ x", points=3),
    "norm_grad": vectors("||x|| c + ||x ∘ y||", points=3),
    # reductions and structure
    "sum": vectors("sum(x ∘ x ∘ y) + sum(c y)"),
    "mean": vectors("mean(x ∘ x ∘ y) + mean(c y)"),
    "diag_matrix": vectors("sum(diag(x) ∘ (x yᵀ)) c + sum(inv(diag(y ∘ y + 1)))", points=3),
    "diag_vector": Case("param A : R^(n x n)\nparam x : R^n\ns = diag(A A)ᵀ (x ∘ x)\nhessian s wrt A, x\n"),
    "norm": vectors("||x|| + ||y ∘ c||", points=3),
    "sqnorm": vectors("c ||x - y||^2 + ||x yᵀ||^2"),
    "norm1": vectors("norm1(x ∘ y) c", points=3),
    "rowsum": vectors("sum(rowsum(x yᵀ) ∘ x) c"),
    "colsum": vectors("colsum(x yᵀ) (y ∘ x) c"),
    "fill": vectors("ones(n)ᵀ (x ∘ y ∘ y) + sum(c ∘ ones(n, 2) ∘ c)"),
    # ∂s/∂A = 3 A ∘ A + c² I, an add_diagonal
    "add_diagonal": Case("param A : R^(n x n)\nparam c : R\ns = tr(A) c ∘ c + sum(A ∘ A ∘ A)\n"
                         "hessian s wrt A, c\n", sizes={"n": 2}),
    "softmax": vectors("softmax(x)ᵀ y + softmax(xᵀ) (y c)", points=3),
    "log_softmax": vectors("log_softmax(x)ᵀ y + log_softmax(xᵀ) (y c)", points=3),
    "logsumexp": vectors("logsumexp(x ∘ y) + sum(logsumexp((x c)ᵀ))", points=3),
    # indexing and blocks
    "gather": ids("sum(tanh(L[:, w]) ∘ L[:, w]) + x[w]ᵀ x[w] + x[k]^3", "x, L", points=3),
    "scatter": ids("sum(x[w] ∘ x[w] ∘ x[w]) + sum(L[:, w] ∘ L[:, w] ∘ L[:, k])", "x, L"),
    "block": vectors("sum(x[0:1] ∘ y[1:n]) ∘ c + sum((x yᵀ)[0:1, :] ∘ c)"),
    "unblock": vectors("sum(x[0:1] ∘ x[0:1] ∘ y[1:n]) c"),
    "pick": ids("pick(x, k)^3 + sum(pick(L ∘ L, y) ∘ pick(L, y))", "x, L"),
    "pick_scatter": ids("sum(pick(L, y) ∘ pick(L, y) ∘ pick(L, y)) + pick(x, k) ∘ pick(x, k)", "x, L"),
    "onehot": ids("sum(onehot(y, n) ∘ L ∘ L) + (onehot(k, m)ᵀ x)^2", "x, L"),
    "vstack": vectors("sum([x; y; c] ∘ [y; x; c] ∘ [x; x; y[0:1]])"),
    "hstack": vectors("sum([xᵀ, yᵀ, c] ∘ [yᵀ, xᵀ, c] ∘ [xᵀ, xᵀ, c])"),
    "vec": vectors("sum(vec(x yᵀ) ∘ vec(x xᵀ)) c"),
    "unvec": vectors("sum(vec(x yᵀ) ∘ vec(y xᵀ) ∘ vec(x xᵀ))"),
}


# Only inside a function body: `apply`'s case differentiates one twice.
NOT_IN_GRAPHS = {"argument"}


def test_every_operation_has_a_second_order_case():
    assert set(OPS) - NOT_IN_GRAPHS - set(CASES) == set()


@pytest.mark.parametrize("name", CASES)
def test_each_case_differentiates_its_operation_twice(name):
    """The operation is in the target or its gradient, the graph the Hessian
    differentiates again (or in a function body applied there); a direction
    is in the products."""
    model = CASES[name].model()
    (hessian,) = model.second.hessians
    roots = ([*hessian.products.values()] if name == "direction"
             else [hessian.request.node, *hessian.first.gradients.values()])
    bodies = [function.body for function in model.evaluator.functions.values()]
    assert name in {node.op for node in postorder(roots + bodies)}


@pytest.mark.parametrize("name", CASES)
def test_second_order_rule_is_exact(name):
    check(CASES[name])


# ------------------------------------------------ the Hessian in matrix form

LOGISTIC = """\
param w : R^n
input X : R^(N x n)
input y : R^N
const lambda = 0.1
z = X w
J = sum(softplus(z)) - yᵀ z + lambda/2 ||w||^2
hessian J wrt w
"""

# Vectors and scalars throughout: the Hessian batched over the identity's columns.
MATRIX_FORM = {
    "L2 logistic regression": Case(LOGISTIC, sizes={"n": 2, "N": 3}, points=3),
    "gathers and blocks of vectors": ids("sum(tanh(x[w]) ∘ x[w]) + x[k] sum(x[0:1] ∘ x[1:2])", "x",
                                                  points=3),
    "a two-layer network of vectors": Case("param W : R^(n x m)\nparam b : R^n\nparam c : R\ninput u : R^n\n"
                                           "input a : R^m\nh = tanh(W a + b)\ns = uᵀ σ(c h) + c ||h||^2\n"
                                           "hessian s wrt b, c\n", points=3),
    "softmax cross-entropy of a vector": Case("param x : R^n\nparam t : R\ninput y : R^n\n"
                                              "s = -yᵀ log_softmax(t x) + logsumexp(x)\nhessian s wrt x, t\n",
                                              points=3),
}


@pytest.mark.parametrize("name", MATRIX_FORM)
def test_a_model_of_vectors_has_its_exact_hessian_in_matrix_form(name):
    (hessian,) = check(MATRIX_FORM[name]).second.hessians
    assert hessian.full and hessian.matrix is not None


def test_the_logistic_hessian_is_x_transposed_scaled_x_plus_lambda_on_the_diagonal():
    (hessian,) = MATRIX_FORM["L2 logistic regression"].model().second.hessians
    ops = {node.op for node in postorder([hessian.matrix])}
    assert hessian.matrix.op == "add_diagonal" and "sigmoid_slope" in ops
    assert not ops & {"identity", "diag_matrix"}


# A value linear in the direction that is a matrix for one direction (x vᵀ)
# cannot be batched: the Hessian is taken column by column from the product
# in the generated code, and the product stays exact.
FALLBACK = {
    "an outer product": vectors("sum((x yᵀ) ∘ (x yᵀ)) c"),
    "a Frobenius norm of an outer product": vectors("||x yᵀ||^2 + ||x xᵀ||"),
}


@pytest.mark.parametrize("name", FALLBACK)
def test_a_hessian_that_cannot_be_batched_falls_back_to_exact_products(name):
    (hessian,) = check(FALLBACK[name]).second.hessians
    assert hessian.full and hessian.matrix is None and hessian.blocks == {}


def test_a_matrix_variable_has_products_and_no_hessian_matrix():
    (hessian,) = check(CASES["matmul"]).second.hessians
    assert not hessian.full and hessian.matrix is None
    assert hessian.products["A"].shape == hessian.request.wrt[0].shape


def test_the_blocks_below_the_diagonal_are_the_transposes_of_those_above():
    (hessian,) = CASES["mul"].model().second.hessians
    for row, column in [("y", "x"), ("c", "x"), ("c", "y")]:
        block = hessian.blocks[row, column]
        assert block.op == "transpose" and block.args[0] is hessian.blocks[column, row]


# ----------------------------------------------- kinks: 0 away from them

@pytest.mark.parametrize("f", ["relu(x)", "abs(x)", "hardtanh(x)", "max(x, 0.5)", "min(x, y)", "norm1(x)",
                               "leaky_relu(x, 0.2)", "sign(x)"])
def test_a_piecewise_linear_function_has_hessian_zero_away_from_its_kinks(f):
    """∂²/∂x² of sum(f(x)) at points off the kinks (x ≠ 0, ±1, 0.5, y): 0."""
    model = Model(f"param x : R^n\ninput y : R^n\ns = sum({f})\nhessian s wrt x\n", {"n": 3})
    (hessian,) = model.second.hessians
    point = {symbol: sympy.Rational(k + 2, 7) * (-1) ** k for k, symbol in enumerate(model.evaluator.all_symbols())}
    assert model.evaluator.evaluate(hessian.matrix).xreplace(point) == sympy.zeros(3, 3)


# ---------------------------------------------------------------- Jacobians

JACOBIANS = {
    "tanh": "param x : R^n\ny = tanh(x)\njacobian y wrt x\n",
    "σ of a row": "param x : R^n\ny = σ(xᵀ)\njacobian y wrt x\n",
    "exp of a scalar": "param c : R\ny = exp(c)\njacobian y wrt c\n",
    "relu and max": "param x : R^n\ny = relu(x) + max(x, 0.5)\njacobian y wrt x\n",
    "softmax": "param x : R^n\ny = softmax(x)\njacobian y wrt x\n",
    "log_softmax": "param x : R^n\ny = log_softmax(x)\njacobian y wrt x\n",
    "a matrix times a vector": "param x : R^m\ninput A : R^(n x m)\ny = A x\njacobian y wrt x\n",
    "a row times a matrix": "param x : R^n\ninput A : R^(n x m)\ny = xᵀ A\njacobian y wrt x\n",
    "a layer": "param x : R^m\ninput A : R^(n x m)\ny = tanh(A x) ∘ σ(A x)\njacobian y wrt x\n",
    "blocks": "param x : R^m\ny = [x[1:m]; x[0:1]] ∘ x\njacobian y wrt x\n",
    "a stack": "param x : R^n\ny = [x; exp(x)]\njacobian y wrt x\n",
    "a gather": "param x : R^m\ninput w : {0..m-1}^n\ny = x[w] ∘ x[w]\njacobian y wrt x\n",
    "a norm": "param x : R^n\ny = ||x|| x\njacobian y wrt x\n",
    "a scalar of a vector": "param x : R^n\ny = sum(x ∘ x)\njacobian y wrt x\n",
}


@pytest.mark.parametrize("name", JACOBIANS)
def test_jacobian_is_exact_in_matrix_form(name):
    (jacobian,) = check(Case(JACOBIANS[name], sizes={"n": 2, "m": 3}, points=2)).second.jacobians
    assert jacobian.matrix is not None


# A Jacobian whose vector-Jacobian product passes through a matrix linear in
# u (x xᵀ) is taken column by column from the product by the generated code:
# the product stays exact.
JACOBIAN_FALLBACK = {
    "an outer product": "param x : R^n\ny = (x xᵀ) x\njacobian y wrt x\n",
    "a masked outer product": "param x : R^n\ninput A : R^(n x n)\ny = (A ∘ (x xᵀ)) x\njacobian y wrt x\n",
}


@pytest.mark.parametrize("name", JACOBIAN_FALLBACK)
def test_a_jacobian_that_cannot_be_batched_falls_back_to_an_exact_product(name):
    (jacobian,) = check(Case(JACOBIAN_FALLBACK[name], sizes={"n": 3}, points=2)).second.jacobians
    assert jacobian.matrix is None


def test_several_statements_on_one_model_are_each_exact():
    model = check(Case("param x : R^n\nparam c : R\ninput y : R^n\ns = sum(tanh(x) ∘ y) c\nt = ||x||^2 c\n"
                       "z = softmax(c x)\nhessian s wrt x, c\nhessian t wrt c, x\njacobian z wrt x\n",
                       sizes={"n": 3}, points=2))
    assert [h.target for h in model.second.hessians] == ["s", "t"]
    assert all(h.matrix is not None for h in model.second.hessians) and model.second.jacobians[0].matrix is not None


# ------------------------------------------------- a wrong rule is caught

def scaled_rule(monkeypatch, op: str, index: int, factor: float = 1.01):
    """op's adjoint rule for operand `index`, scaled by factor (1% off)."""
    rules = list(OPS[op].vjp)
    rule = rules[index]
    rules[index] = lambda b, y, g: b.mul(b.num(factor), rule(b, y, g))
    monkeypatch.setitem(OPS, op, dataclasses.replace(OPS[op], vjp=tuple(rules)))


@pytest.mark.parametrize("op, index", [("tanh_slope", 0), ("sigmoid_slope", 0), ("softmax_grad", 0),
                                       ("softmax_grad", 2), ("log_softmax_grad", 0), ("norm_grad", 1)])
def test_a_second_order_rule_one_percent_off_fails_its_case(monkeypatch, op, index):
    scaled_rule(monkeypatch, op, index)
    case = CASES[op]
    assert second_order_mismatches(case.model(), points=case.points, domain=case.domain) != []


@pytest.mark.parametrize("op, case", [("where_gt", "relu"), ("mul", "exp"), ("softmax_grad", "softmax_grad"),
                                      ("gather", "gathers and blocks of vectors")])
def test_a_batch_rule_one_percent_off_fails_the_hessian_matrix(monkeypatch, op, case):
    """The matrix is checked on its own: a wrong batch rule leaves the products right."""
    rule = OPS[op].batch
    monkeypatch.setitem(OPS, op, dataclasses.replace(OPS[op], batch=lambda b, y, B: b.mul(b.num(1.01), rule(b, y, B))))
    wanted = CASES.get(case) or MATRIX_FORM[case]
    found = second_order_mismatches(wanted.model(), points=2, domain=wanted.domain)
    assert found and {what for _, what, *_ in found} == {"hessian"}


def test_the_scaled_rule_is_restored_after_the_test():
    check(CASES["tanh_slope"])


# ---------------------------------------------------------------- examples

EXAMPLE_ENTRIES = 8   # the most entries an example's Hessian variables have together (SymPy's cost)


def with_hessian(text: str, sizes: dict) -> str:
    """The example with `hessian` of its first target by the variables of
    its gradient, in order, while they have EXAMPLE_ENTRIES entries at most
    (as it is where it has a `hessian` statement)."""
    program = analyze(Source(text, "example.sg"))
    if program.hessians:
        return text
    grad = program.grads[0]
    chosen, total = [], 0
    for variable in grad.wrt:
        count = dim_value(variable.shape.rows, sizes) * dim_value(variable.shape.cols, sizes)
        if total + count <= EXAMPLE_ENTRIES:
            chosen.append(variable.name)
            total += count
    return f"{text}\nhessian {grad.target} wrt {', '.join(chosen)}\n"


@pytest.mark.parametrize("name", sorted(EXAMPLE_SIZES))
def test_example_hessian_vector_product_is_exact(name):
    options = EXAMPLE_CASES.get(name, {})
    text = with_hessian((EXAMPLES / name).read_text(), EXAMPLE_SIZES[name])
    check(Case(text, sizes=EXAMPLE_SIZES[name], points=2, domain=options.get("domain", (-2, 2)),
               accept=options.get("accept")))


# ----------------------------------------------------- what the tests found

def test_a_product_of_a_filled_column_and_a_filled_row_is_differentiated_again():
    """From the random models: the HVP multiplies fill(column) by fill(row),
    both N×k; dropping the fills left a column and a row, which do not
    broadcast (a ShapeError escaped the rewrite)."""
    check(Case("param y : R^(N x k)\nparam u : R^(k x 1)\nf(t, s) = hardtanh(0.25)\n"
               "J = mean(tanh(cos(rowsum(f(y, uᵀ)))))\nhessian J wrt u\n", sizes={"N": 2, "k": 2}, points=2))
