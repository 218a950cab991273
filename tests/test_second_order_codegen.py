"""The generated hvp, hessian, jacobian and value_and_jacobian (issue 13) of
every target, against NumPy written here (the logistic regression's Hessian
Xᵀ diag(p ∘ (1 - p)) X + λI and its product with v, a tanh/softmax layer's
Jacobian (diag(p) - p pᵀ) diag(1 - h ∘ h) W) and against central finite
differences of the generated gradient or value."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_second_order import LOGISTIC as LOGREG  # L2 logistic regression: hessian J wrt w

import symgrad
from symgrad.codegen import writer_class
from symgrad.differentiation import differentiate_program
from symgrad.lowering import analyze
from symgrad.second_order import differentiate_second_order
from symgrad.source import Source

TARGETS = ["numpy", "array-api", "numba"]
# What the writers share (the entry points, the directions taken) is tested without numba's compile times.
UNCOMPILED = ["numpy", "array-api"]
NEEDS = {"array-api": "array_api_compat", "numba": "numba"}
STEP = 1e-6


# Two statements, a vector and a scalar variable: blocks [[H_ww, H_wc], [H_cw, H_cc]].
TWO = """param w : R^n
param c : R
input X : R^(N x n)
input y : R^N
z = X w + c ones(N)
J = sum(softplus(z)) - yᵀ z + ||w||^2 / 2 + c^2
K = sum(tanh(z))
hessian J wrt w, c
hessian K wrt w
"""

NETWORK = """param W : R^(m x n)
param b : R^m
input x : R^n
h = tanh(W x + b)
p = softmax(h)
jacobian p wrt x
jacobian h wrt b
"""

# S is a matrix for each direction of b: no batched Hessian, the loop takes it.
SOFTMAX_BIAS = """param W : R^(C x d)
param b : R^C
input X : R^(d x N)
input Y : R^(C x N)
S = W X + b ones(N)ᵀ
J = -sum(Y ∘ log_softmax(S)) / N
hessian J wrt b
"""


def compiled(text: str, target: str, name: str = "model.sg"):
    if target in NEEDS:
        pytest.importorskip(NEEDS[target])
    return symgrad.compile_source(text, name, target=target)


def logreg_inputs(dtype=np.float64, N=40, n=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, n)).astype(dtype)
    y = (rng.random(N) > 0.5).astype(dtype)
    w = (0.3 * rng.normal(size=n)).astype(dtype)
    return w, X, y


def logreg_hessian(w, X):
    p = 1 / (1 + np.exp(-(X @ w)))
    return X.T @ ((p * (1 - p))[:, None] * X) + 0.1 * np.eye(len(w))


def gradient_differences(value_and_grad, args: list, index: int, direction) -> np.ndarray:
    """(∇f(x + εv) - ∇f(x - εv)) / 2ε of the gradients of args[index]..., all wrt variables' entries."""
    shifted = []
    for sign in (1, -1):
        moved = list(args)
        for offset, v in enumerate(direction):
            moved[index + offset] = args[index + offset] + sign * STEP * v
        shifted.append(np.concatenate([np.ravel(g) for g in value_and_grad(*moved)[1]]))
    return (shifted[0] - shifted[1]) / (2 * STEP)


@pytest.mark.parametrize("target", TARGETS)
def test_logistic_regression_hessian_and_hvp_are_the_textbook_formulas(target):
    module = compiled(LOGREG, target)
    w, X, y = logreg_inputs()
    v = np.random.default_rng(1).normal(size=w.shape)
    expected = logreg_hessian(w, X)
    hessian = np.asarray(module.hessian(w, X, y))
    assert hessian.shape == (6, 6) and hessian.dtype == np.float64
    np.testing.assert_allclose(hessian, expected, rtol=1e-12, atol=1e-13)
    product = module.hvp(w, X, y, v)
    assert type(product).__name__ == "HVP_J" and product._fields == ("w",)
    np.testing.assert_allclose(product.w, expected @ v, rtol=1e-12, atol=1e-13)
    assert np.shape(product.w) == (6,)


@pytest.mark.parametrize("target", UNCOMPILED)
def test_hvp_is_the_finite_difference_of_the_generated_gradient(target):
    module = compiled(TWO, target)
    w, X, y = logreg_inputs()
    c = 0.2
    v = (np.random.default_rng(2).normal(size=w.shape), 0.7)
    product = module.hvp(w, c, X, y, v)
    got = np.concatenate([np.ravel(product.w), np.ravel(product.c)])
    np.testing.assert_allclose(got, gradient_differences(module.value_and_grad_J, [w, c, X, y], 0, v),
                               rtol=1e-6, atol=1e-6)
    hessian = np.asarray(module.hessian(w, c, X, y))
    assert hessian.shape == (7, 7)
    np.testing.assert_allclose(hessian @ np.concatenate([v[0], [v[1]]]), got, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("target", UNCOMPILED)
def test_each_statement_has_suffixed_functions_and_the_first_the_plain_names(target):
    module = compiled(TWO, target)
    w, X, y = logreg_inputs()
    v = np.random.default_rng(3).normal(size=w.shape)
    assert module.hvp is module.hvp_J and module.hessian is module.hessian_J and module.HVP is module.HVP_J
    assert module.HVP_J._fields == ("w", "c") and module.HVP_K._fields == ("w",)
    z = X @ w + 0.2
    t = np.tanh(z)
    expected = X.T @ ((-2 * t * (1 - t * t))[:, None] * X)   # ∇² sum(tanh(X w + c)) wrt w, by hand
    np.testing.assert_allclose(np.asarray(module.hessian_K(w, 0.2, X, y)), expected, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(module.hvp_K(w, 0.2, X, y, v).w, expected @ v, rtol=1e-11, atol=1e-12)
    assert module.SIGNATURE["hessians"] == [("J", "_J", ("w", "c"), ("w", "c"), True),
                                            ("K", "_K", ("w",), ("w",), True)]


@pytest.mark.parametrize("target", UNCOMPILED)
def test_directions_are_taken_as_vectors_of_either_shape_and_checked(target):
    module = compiled(TWO, target)
    w, X, y = logreg_inputs()
    v = np.ones(6)
    as_row = module.hvp(w, 0.2, X, y, direction=(v, 1.0))
    as_column = module.hvp(w, 0.2, X, y, (v[:, None], np.float64(1.0)))
    np.testing.assert_array_equal(as_row.w, as_column.w)
    with pytest.raises(ValueError, match=r"direction: expected a tuple of 2 arrays \(w, c\), got 1"):
        module.hvp(w, 0.2, X, y, (v,))
    with pytest.raises(ValueError, match=r"direction of w: expected shape \(6, 1\) or \(6,\), got shape \(5,\)"):
        module.hvp(w, 0.2, X, y, (np.ones(5), 1.0))
    with pytest.raises(ValueError, match=r"direction of c: expected shape \(\) \(a number\), got shape \(2,\)"):
        module.hvp(w, 0.2, X, y, (v, np.ones(2)))
    single = compiled(LOGREG, target)
    np.testing.assert_array_equal(single.hvp(w, X, y, v).w, single.hvp(w, X, y, (v,)).w)


@pytest.mark.parametrize("target", TARGETS)
def test_float32_arguments_give_float32_second_derivatives(target):
    module = compiled(LOGREG, target)
    w, X, y = logreg_inputs(np.float32)
    hessian = np.asarray(module.hessian(w, X, y))
    product = np.asarray(module.hvp(w, X, y, np.ones(6)).w)   # a float64 direction is taken as float32
    assert hessian.dtype == np.float32 and product.dtype == np.float32
    np.testing.assert_allclose(hessian, logreg_hessian(w.astype(float), X.astype(float)), rtol=1e-4, atol=1e-4)


def network_jacobian(W, b, x):
    h = np.tanh(W @ x + b)
    p = np.exp(h) / np.exp(h).sum()
    return p, (np.diag(p) - np.outer(p, p)) @ np.diag(1 - h * h) @ W


@pytest.mark.parametrize("target", TARGETS)
def test_jacobian_of_a_tanh_softmax_layer_is_the_hand_written_one(target):
    module = compiled(NETWORK, target)
    rng = np.random.default_rng(4)
    W, b, x = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    p, expected = network_jacobian(W, b, x)
    np.testing.assert_allclose(np.asarray(module.jacobian(W, b, x)), expected, rtol=1e-12, atol=1e-14)
    value, jacobian = module.value_and_jacobian_p(W, b, x)
    assert np.shape(value) == (5,) and np.shape(jacobian) == (5, 3)
    np.testing.assert_allclose(np.asarray(value), p, rtol=1e-12)
    differences = np.stack([(np.asarray(module.value_and_jacobian(W, b, x + STEP * e)[0])
                             - np.asarray(module.value_and_jacobian(W, b, x - STEP * e)[0])) / (2 * STEP)
                            for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(np.asarray(jacobian), differences, rtol=1e-6, atol=1e-8)
    h = np.tanh(W @ x + b)
    np.testing.assert_allclose(np.asarray(module.jacobian_h(W, b, x)), np.diag(1 - h * h), rtol=1e-12, atol=1e-15)
    assert module.SIGNATURE["jacobians"] == [("p", "_p", "x"), ("h", "_h", "b")]
    assert not hasattr(module, "value_and_grad")   # no grad statement: no grad functions


def looped_module(text: str, target: str = "numpy"):
    """A model's module with every Hessian and Jacobian taken column by
    column (row by row), as where they cannot be batched."""
    program = analyze(Source(text, "looped.sg"))
    derivations = differentiate_program(program)
    second_order = differentiate_second_order(program, derivations)
    for derivative in second_order.hessians + second_order.jacobians:
        derivative.matrix = None
    code = writer_class(target)(program, derivations, second_order).write()
    namespace = {}
    exec(code, namespace)
    return code, namespace


def test_the_softmax_bias_hessian_is_not_batched():
    program = analyze(Source(SOFTMAX_BIAS, "bias.sg"))
    (hessian,) = differentiate_second_order(program, differentiate_program(program)).hessians
    assert hessian.full and hessian.matrix is None


@pytest.mark.parametrize("target", TARGETS)
def test_a_hessian_not_batched_is_taken_column_by_column(target):
    module = compiled(SOFTMAX_BIAS, target)
    rng = np.random.default_rng(5)
    W, b, X = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(3, 7))
    Y = np.eye(4)[:, rng.integers(0, 4, 7)]
    hessian = np.asarray(module.hessian(W, b, X, Y))
    reference = compiled(SOFTMAX_BIAS, "numpy").value_and_grad   # the NumPy target's gradient
    differences = np.stack([gradient_differences(reference, [W, b, X, Y], 1, (e,)) for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(hessian, differences, rtol=1e-6, atol=1e-8)


def test_the_column_loop_gives_the_batched_hessian():
    code, looped = looped_module(TWO)
    batched = compiled(TWO, "numpy")
    w, X, y = logreg_inputs()
    assert "for _k in range(" in re.search(r"def hessian_J\(.*?\n\n\n", code, re.S).group(0)
    np.testing.assert_allclose(looped["hessian_J"](w, 0.2, X, y), batched.hessian(w, 0.2, X, y),
                               rtol=1e-12, atol=1e-13)


def test_the_row_loop_gives_the_batched_jacobian():
    code, looped = looped_module(NETWORK)
    assert "for _k in range(" in re.search(r"def jacobian_p\(.*?\n\n\n", code, re.S).group(0)
    rng = np.random.default_rng(6)
    W, b, x = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    p, expected = network_jacobian(W, b, x)
    value, jacobian = looped["value_and_jacobian"](W, b, x)
    np.testing.assert_allclose(jacobian, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(value, p, rtol=1e-12)


def test_the_logistic_regression_hessian_forms_no_identity_nor_diagonal_matrix():
    from symgrad.compiler import generate_module
    code = generate_module(Source(LOGREG, "logreg.sg"))
    body = re.search(r"def hessian_J\(.*?\n\n\n", code, re.S).group(0)
    assert "eye" not in body and "diagflat" not in body
    assert "_weighted_gram(X, " in body and "_plus_diagonal(" in body


# A user function differentiated twice: the module writes f' and f'' (and ∂f'/∂f for the output f' reads).
USER_FUNCTION = """param W : R^(n x m)
param b : R^n
param u : R^n
input x : R^m
f(t) = 1 / (1 + exp(-t))
s = uᵀ f(W x + b)
hessian s wrt b, u
p = f(W x + b)
jacobian p wrt b
"""


def window_hessian(W, b, u, x):
    """∂²s/∂(b, u)² of s = uᵀ σ(W x + b), written here: [[diag(u ∘ σ''), diag(σ')], [diag(σ'), 0]]."""
    p = 1 / (1 + np.exp(-(W @ x + b)))
    slope = p * (1 - p)
    curvature = slope * (1 - 2 * p)
    n = len(b)
    return np.block([[np.diag(u * curvature), np.diag(slope)], [np.diag(slope), np.zeros((n, n))]])


@pytest.mark.parametrize("target", UNCOMPILED)
def test_a_user_function_is_differentiated_twice_in_the_module(target):
    module = compiled(USER_FUNCTION, target)
    rng = np.random.default_rng(4)
    W, b, u, x = rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=3), rng.normal(size=2)
    expected = window_hessian(W, b, u, x)
    np.testing.assert_allclose(np.asarray(module.hessian(W, b, u, x)), expected, rtol=1e-10, atol=1e-12)
    product = module.hvp(W, b, u, x, (np.ones(3), np.arange(3.0)))
    got = np.concatenate([np.ravel(product.b), np.ravel(product.u)])
    np.testing.assert_allclose(got, expected @ np.concatenate([np.ones(3), np.arange(3.0)]), rtol=1e-10)
    p = 1 / (1 + np.exp(-(W @ x + b)))
    np.testing.assert_allclose(np.asarray(module.jacobian(W, b, u, x)), np.diag(p * (1 - p)), rtol=1e-10,
                               atol=1e-14)


@pytest.mark.parametrize("target", UNCOMPILED)
def test_a_scale_that_is_a_product_of_vectors_is_added_on_the_diagonal(target):
    """∂²/∂r∂b of sin(r b) (r a row, b a column) is cos(r b) I plus a rank one term: the scale
    cos(r b) is a 1×1 product, added on the diagonal as a number."""
    module = compiled("param r : R^(1 x n)\nparam b : R^n\ns = sin(r b)\nhessian s wrt r, b\n", target)
    r, b = np.array([[0.3, -0.2, 0.5]]), np.array([0.1, 0.4, -0.7])
    t = float((r @ b)[0])
    cross = -np.sin(t) * np.outer(b, r) + np.cos(t) * np.eye(3)
    expected = np.block([[-np.sin(t) * np.outer(b, b), cross], [cross.T, -np.sin(t) * np.outer(r, r)]])
    np.testing.assert_allclose(np.asarray(module.hessian(r, b)), expected, rtol=1e-12, atol=1e-14)
