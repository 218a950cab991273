"""symgrad.minimize: a compiled model as scipy.optimize.minimize's fun, jac,
hess and hessp over one flat vector, each checked against NumPy written
here (the gradient, the Hessian and its product of logistic regression with
an intercept; the gradient of a least-squares model with a matrix
variable), and the documented snippet of docs/optimize.md run."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import symgrad
from symgrad.minimize import Objective

REPO = Path(__file__).resolve().parent.parent
LOGREG = REPO / "examples" / "logreg_newton.sg"

# A matrix variable W and a vector b, least squares: J = 1/2 ||W X + b 1ᵀ - Y||².
LEAST_SQUARES = """param W : R^(k x d)
param b : R^k
input X : R^(d x N)
input Y : R^(k x N)
E = W X + b - Y
J = 1/2 ||E||^2
{statement} J wrt W, b
"""


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def logreg_data(seed=0, N=30, n=4):
    rng = np.random.default_rng(seed)
    return dict(X=rng.standard_normal((N, n)), y=(rng.random(N) < 0.5).astype(float), lam=0.7)


def logreg_numpy(w, b, X, y, lam):
    """J, its gradient (w then b) and its Hessian, written out."""
    z = X @ w + b
    J = np.sum(np.logaddexp(0, z)) - y @ z + lam / 2 * w @ w
    r = sigmoid(z) - y
    d = sigmoid(z) * (1 - sigmoid(z))
    Xb = np.column_stack([X, np.ones(len(z))])
    H = Xb.T @ (d[:, None] * Xb) + np.diag([lam] * len(w) + [0.0])
    return J, np.append(X.T @ r + lam * w, r.sum()), H


@pytest.fixture(scope="module")
def logreg():
    return symgrad.load(LOGREG)


def least_squares(statement: str):
    return symgrad.compile_source(LEAST_SQUARES.format(statement=statement))


def test_x_stacks_the_variables_in_wrt_order_each_by_columns():
    W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    data = dict(X=np.zeros((3, 5)), Y=np.zeros((2, 5)))
    objective = Objective(least_squares("grad"), {"W": W, "b": np.array([7.0, 8.0])}, **data)
    assert objective.x0.tolist() == [1, 4, 2, 5, 3, 6, 7, 8]
    back = objective.unpack(objective.x0)
    assert list(back) == ["W", "b"] and back["b"].shape == (2,)
    assert np.array_equal(back["W"], W)


def test_pack_takes_a_vector_in_either_shape_but_refuses_a_transposed_matrix():
    objective = Objective(least_squares("grad"), {"W": np.zeros((2, 3)), "b": np.zeros(2)},
                          X=np.zeros((3, 5)), Y=np.zeros((2, 5)))
    assert objective.pack({"W": np.ones((2, 3)), "b": np.ones((2, 1))}).tolist() == [1.0] * 8
    with pytest.raises(ValueError, match=r"pack: W has shape \(3, 2\), the objective's is \(2, 3\)"):
        objective.pack({"W": np.ones((3, 2)), "b": np.ones(2)})


def test_jac_is_the_least_squares_gradient_packed_by_columns():
    rng = np.random.default_rng(1)
    W, b, X, Y = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal((3, 5)), \
        rng.standard_normal((2, 5))
    objective = Objective(least_squares("grad"), {"W": W, "b": b}, X=X, Y=Y)
    E = W @ X + b[:, None] - Y
    assert objective.fun(objective.x0) == pytest.approx(0.5 * np.sum(E * E), rel=1e-12)
    expected = np.concatenate([(E @ X.T).ravel(order="F"), E.sum(axis=1)])
    assert np.allclose(objective.jac(objective.x0), expected, rtol=1e-12, atol=1e-12)


def test_fun_jac_hess_and_hessp_are_logistic_regression_written_in_numpy(logreg):
    data = logreg_data()
    rng = np.random.default_rng(2)
    w, b = rng.standard_normal(4) * 0.3, 0.2
    objective = Objective(logreg, {"w": w, "b": b}, **data)
    J, gradient, H = logreg_numpy(w, b, **data)
    x = objective.x0
    assert objective.fun(x) == pytest.approx(J, rel=1e-12)
    assert np.allclose(objective.jac(x), gradient, rtol=1e-10, atol=1e-12)
    assert objective.has_hessian
    assert np.allclose(objective.hess(x), H, rtol=1e-10, atol=1e-12)
    p = rng.standard_normal(5)
    assert np.allclose(objective.hessp(x, p), H @ p, rtol=1e-10, atol=1e-12)


def test_fun_and_jac_at_one_point_cost_one_value_and_grad_call(logreg):
    calls = []

    def counted(*args):
        calls.append(args)
        return logreg.value_and_grad(*args)
    module = SimpleNamespace(**{**vars(logreg), "value_and_grad": counted})
    objective = Objective(module, {"w": np.zeros(4), "b": 0.0}, **logreg_data())
    x = objective.x0
    objective.fun(x), objective.jac(x), objective.fun(x)
    assert len(calls) == 1
    objective.jac(x + 1.0)
    assert len(calls) == 2


def test_a_matrix_variable_has_hessp_but_no_hess():
    rng = np.random.default_rng(3)
    W, b, X, Y = rng.standard_normal((2, 3)), rng.standard_normal(2), rng.standard_normal((3, 5)), \
        rng.standard_normal((2, 5))
    objective = Objective(least_squares("hessian"), {"W": W, "b": b}, X=X, Y=Y)
    P = rng.standard_normal((2, 3))
    q = rng.standard_normal(2)
    # The Hessian of 1/2 ||W X + b 1ᵀ - Y||² along (P, q) is (P X + q 1ᵀ) [Xᵀ, 1].
    R = P @ X + q[:, None]
    expected = np.concatenate([(R @ X.T).ravel(order="F"), R.sum(axis=1)])
    assert np.allclose(objective.hessp(objective.x0, objective.pack({"W": P, "b": q})), expected,
                       rtol=1e-10, atol=1e-12)
    assert not objective.has_hessian
    with pytest.raises(ValueError, match="matrix variable.*use hessp"):
        objective.hess(objective.x0)


def test_a_grad_statement_has_no_hessian_vector_product():
    objective = Objective(least_squares("grad"), {"W": np.zeros((2, 3)), "b": np.zeros(2)},
                          X=np.zeros((3, 5)), Y=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="no `hessian J` statement"):
        objective.hessp(objective.x0, objective.x0)


def test_missing_and_unknown_names_are_type_errors(logreg):
    with pytest.raises(TypeError, match=r"initial misses b \(the variables of `hessian J wrt w, b`"):
        Objective(logreg, {"w": np.zeros(4)}, **logreg_data())
    with pytest.raises(TypeError, match="the data has Z, not among them"):
        Objective(logreg, {"w": np.zeros(4), "b": 0.0}, Z=1, **logreg_data())
    with pytest.raises(ValueError, match="no statement about K"):
        Objective(logreg, {"w": np.zeros(4), "b": 0.0}, "K", **logreg_data())


def test_trust_ncg_from_the_hvp_of_a_model_file_stops_where_the_numpy_gradient_vanishes():
    data = logreg_data(N=60)
    result = symgrad.objective(LOGREG, {"w": np.zeros(4), "b": 0.0}, **data).minimize(
        method="trust-ncg", options={"gtol": 1e-6})
    assert result.success and result.nhev > 0
    _, gradient, _ = logreg_numpy(result.params["w"], result.params["b"], **data)
    assert np.linalg.norm(gradient) < 1e-6


def test_minimize_gives_trust_exact_the_hessian_and_l_bfgs_b_the_gradient_alone(logreg, recwarn):
    objective = Objective(logreg, {"w": np.zeros(4), "b": 0.0}, **logreg_data(N=60))
    exact = objective.minimize(method="trust-exact", options={"gtol": 1e-8})
    assert exact.success and exact.nhev > 0
    quasi = objective.minimize(method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15})
    assert quasi.success and not [w for w in recwarn if "Hessian" in str(w.message)]
    assert np.allclose(quasi.params["w"], exact.params["w"], atol=1e-6)


def test_the_documented_snippet_runs(monkeypatch):
    document = (REPO / "docs" / "optimize.md").read_text(encoding="utf-8")
    snippets = re.findall(r"^```python\n(.*?)^```", document, re.MULTILINE | re.DOTALL)
    assert snippets
    monkeypatch.chdir(REPO)
    for snippet in snippets:
        exec(snippet, {})
