"""The sparse form of the gradient of a variable read only through gathers
(issue 12): backward_sparse and value_and_grad_sparse give it as a
SparseGrad (the unique ids, sorted, and the gradient's columns or rows at
them), on every target. Each is compared with the gradient written here in
plain NumPy, its scatters by np.add.at, for columns, rows, entries of a
vector, single ids, repeated ids, a matrix gathered twice (the window
model), upstream != 1 and float32; a model without such a variable has no
sparse functions; an optimizer's step from a SparseGrad equals its step
from the dense gradient."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad
from symgrad import optim

TARGETS = ["numpy", "array-api", "numba"]


def scattered(g, ids, shape, axis):
    """np.add.at's scatter-add, the reference gradient of a gather."""
    out = np.zeros(shape)
    np.add.at(out, (slice(None), ids) if axis == 1 else ids, g)
    return out


def compiled(text, target):
    if target == "numba":
        pytest.importorskip("numba")
    return symgrad.compile_source(text, "sparse.sg", target=target)


COLUMNS = """param L : R^(d x V)
input C : R^(d x k)
input w : {0..V-1}^k
J = sum(C ∘ tanh(L[:, w]))
grad J wrt L, C
"""


def columns_case(rng):
    L, C, w = rng.standard_normal((3, 9)), rng.standard_normal((3, 7)), np.array([4, 1, 4, 8, 0, 4, 1])
    t = np.tanh(L[:, w])
    return dict(L=L, C=C, w=w), np.sum(C * t), dict(L=scattered(C * (1 - t * t), w, L.shape, 1), C=t), {"L": "cols"}


ROWS = """param A : R^(V x m)
param x : R^V
input B : R^(k x m)
input c : R^k
input w : {0..V-1}^k
J = sum(B ∘ exp(A[w, :])) + sum(c ∘ x[w])
grad J wrt A, x
"""


def rows_case(rng):
    A, x = rng.standard_normal((6, 2)), rng.standard_normal(6)
    B, c, w = rng.standard_normal((5, 2)), rng.standard_normal(5), np.array([5, 5, 0, 2, 5])
    e = np.exp(A[w])
    grads = dict(A=scattered(B * e, w, A.shape, 0), x=scattered(c, w, x.shape, 0))
    return dict(A=A, x=x, B=B, c=c, w=w), np.sum(B * e) + np.sum(c * x[w]), grads, {"A": "rows", "x": "rows"}


SINGLE = """param L : R^(d x V)
param x : R^V
input c : R^d
input i : {0..V-1}
input j : {0..V-1}
J = sum(c ∘ sin(L[:, i])) + x[i]^3 + x[j] x[i]
grad J wrt L, x
"""


def single_case(rng):
    L, x, c, i, j = rng.standard_normal((3, 6)), rng.standard_normal(6), rng.standard_normal(3), 4, 1
    dL = np.zeros_like(L)
    dL[:, i] = c * np.cos(L[:, i])
    dx = np.zeros_like(x)
    dx[i] += 3 * x[i] ** 2 + x[j]
    dx[j] += x[i]
    value = np.sum(c * np.sin(L[:, i])) + x[i] ** 3 + x[j] * x[i]
    return dict(L=L, x=x, c=c, i=i, j=j), value, dict(L=dL, x=dx), {"L": "cols", "x": "rows"}


WINDOW = """param L : R^(d x V)
param W : R^(n x 3 d)
param u : R^n
input w : {0..V-1}^3
input v : {0..V-1}^3
s = u' tanh(W vec(L[:, w]))
sc = u' tanh(W vec(L[:, v]))
J = s - 2 sc
grad J wrt L, W
"""


def window_case(rng):
    d, V, n = 2, 7, 4
    L, W, u = rng.standard_normal((d, V)), rng.standard_normal((n, 3 * d)), rng.standard_normal(n)
    w, v = np.array([3, 0, 3]), np.array([0, 6, 3])

    def score(ids):
        x = L[:, ids].reshape(-1, order="F")
        h = np.tanh(W @ x)
        delta = u * (1 - h * h)
        return u @ h, np.outer(delta, x), (W.T @ delta).reshape(d, 3, order="F")

    s, dW_s, dx_s = score(w)
    sc, dW_c, dx_c = score(v)
    dL = scattered(dx_s, w, L.shape, 1) - 2 * scattered(dx_c, v, L.shape, 1)
    return dict(L=L, W=W, u=u, w=w, v=v), s - 2 * sc, dict(L=dL, W=dW_s - 2 * dW_c), {"L": "cols"}


CASES = {"columns": (COLUMNS, columns_case), "rows": (ROWS, rows_case), "single": (SINGLE, single_case),
         "window": (WINDOW, window_case)}


def checked_sparse(grad, dense, axis, dtype, tol):
    """A SparseGrad against the dense reference: its ids are the sorted
    columns (rows) where the reference was scattered, its values the
    reference's there, its dense() the reference."""
    index = 1 if axis == "cols" and dense.ndim == 2 else 0
    assert grad.axis == axis and tuple(grad.shape) == dense.shape
    ids = np.asarray(grad.ids)
    assert np.all(np.diff(ids) > 0) and ids.dtype.kind in "iu"
    np.testing.assert_allclose(np.asarray(grad.values), np.take(dense, ids, axis=index), rtol=tol, atol=tol)
    others = np.delete(dense, ids, axis=index)
    assert not others.any()  # every id where the gradient lives is listed
    assert np.asarray(grad.values).dtype == dtype
    np.testing.assert_allclose(np.asarray(grad.dense()), dense, rtol=tol, atol=tol)
    assert np.asarray(grad.dense()).dtype == dtype


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES)
def test_sparse_gradient_equals_the_scattered_reference(case, dtype, target):
    text, make = CASES[case]
    module = compiled(text, target)
    arguments, value, grads, axes = make(np.random.default_rng(len(case)))
    arguments = {k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
                 for k, v in arguments.items()}
    tol = 1e-10 if dtype == np.float64 else 2e-5
    got, sparse = module.value_and_grad_sparse(**arguments)
    np.testing.assert_allclose(float(got), value, rtol=tol)
    _, cache = module.forward(**arguments)
    for upstream, gradients in ((1.0, sparse), (-2.5, module.backward_sparse(cache, -2.5))):
        assert type(gradients).__name__ == type(module.value_and_grad(**arguments)[1]).__name__
        for name, reference in grads.items():
            field = getattr(gradients, name)
            if name in axes:
                checked_sparse(field, upstream * reference, axes[name], dtype, tol)
            else:
                np.testing.assert_allclose(np.asarray(field), upstream * reference, rtol=tol, atol=tol)
                assert np.asarray(field).dtype == dtype


@pytest.mark.parametrize("target", TARGETS)
def test_a_model_without_gathered_only_variables_has_no_sparse_functions(target):
    """L read by a gather and by ||L||²: its gradient is no sum of scatters."""
    module = compiled(COLUMNS.replace("J = sum(C ∘ tanh(L[:, w]))", "J = sum(C ∘ tanh(L[:, w])) + ||L||^2"), target)
    assert hasattr(module, "value_and_grad")
    assert not hasattr(module, "value_and_grad_sparse") and not hasattr(module, "backward_sparse")
    assert not hasattr(module, "SparseGrad")
    assert hasattr(compiled(COLUMNS, target), "SparseGrad")


@pytest.mark.parametrize("rule", [lambda: optim.SGD(lr=0.1), lambda: optim.Momentum(lr=0.1),
                                  lambda: optim.Adam(lr=0.1), lambda: optim.Adagrad(lr=0.1)])
def test_an_optimizer_steps_alike_from_a_sparse_and_a_dense_gradient(rule):
    module = compiled(COLUMNS, "numpy")
    arguments, *_ = columns_case(np.random.default_rng(3))
    dense_rule, sparse_rule = rule(), rule()
    dense_params = {"L": arguments["L"].copy(), "C": arguments["C"].copy()}
    sparse_params = {"L": arguments["L"].copy(), "C": arguments["C"].copy()}
    for _ in range(3):
        _, dense = module.value_and_grad(**dense_params, w=arguments["w"])
        _, sparse = module.value_and_grad_sparse(**sparse_params, w=arguments["w"])
        # the dense step written here: θ - η g for SGD; the rule's own otherwise
        expected = dense_params["L"] - 0.1 * dense.L if isinstance(dense_rule, optim.SGD) else None
        dense_params = dense_rule.step(dense_params, dense)
        sparse_params = sparse_rule.step(sparse_params, sparse)
        if expected is not None:
            np.testing.assert_allclose(sparse_params["L"], expected, rtol=1e-15, atol=1e-15)
        np.testing.assert_array_equal(sparse_params["L"], dense_params["L"])
        np.testing.assert_array_equal(sparse_params["C"], dense_params["C"])


def test_sgd_updates_only_the_touched_columns_in_place():
    module = compiled(COLUMNS, "numpy")
    arguments, *_ = columns_case(np.random.default_rng(4))
    L = arguments["L"].copy()
    before = L.copy()
    _, sparse = module.value_and_grad_sparse(L, arguments["C"], arguments["w"])
    new = optim.SGD(lr=0.5).step({"L": L}, {"L": sparse.L})
    assert new["L"] is L  # no array of L's size made
    untouched = np.setdiff1d(np.arange(L.shape[1]), arguments["w"])
    np.testing.assert_array_equal(L[:, untouched], before[:, untouched])
    t = np.tanh(before[:, arguments["w"]])
    expected = before - 0.5 * scattered(arguments["C"] * (1 - t * t), arguments["w"], L.shape, 1)
    np.testing.assert_allclose(L, expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("target", TARGETS)
def test_several_grad_statements_have_the_suffixed_sparse_functions_where_theirs_is_gathered_only(target):
    text = COLUMNS.replace("grad J wrt L, C\n", "K = J + ||L||^2\ngrad J wrt L\ngrad K wrt L\n")
    module = compiled(text, target)
    arguments, _, grads, _ = columns_case(np.random.default_rng(6))
    assert not hasattr(module, "value_and_grad_sparse_K") and not hasattr(module, "backward_sparse_K")
    assert module.value_and_grad_sparse is module.value_and_grad_sparse_J  # the first statement's, unsuffixed
    _, cache = module.forward_J(**arguments)
    checked_sparse(module.backward_sparse_J(cache, 3.0).L, 3.0 * grads["L"], "cols", np.float64, 1e-10)
