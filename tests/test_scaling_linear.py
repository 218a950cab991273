"""Models of traces, inverses and determinants cost what their products cost.

Textbook formulas name big intermediates: tr(Dᵀ Σ⁻¹ D) names the N×N
matrix Dᵀ Σ⁻¹ D, its gradient g I an N×N identity, diag(Xᵀ Σ⁻¹ X) an N×N
product, diag(v) X an N×N diagonal matrix, of a data dimension N. None of
them may be formed: each model's peak memory of value_and_grad grows
linearly in N (measured with tracemalloc at N and 4N), its generated code
makes no identity and at most one inverse or solve of each inverted matrix,
and its gradients equal both an independent plain-NumPy gradient written
here (at a small N, from the textbook formula) and finite differences.
"""

from __future__ import annotations

import re
import tracemalloc
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import symgrad
from gradcheck import check_grads
from symgrad.compiler import generate_module
from symgrad.source import Source

inv = np.linalg.inv


@dataclass(frozen=True)
class Model:
    text: str
    # the arguments, in declaration order, at data size N (d = 5 and the like fixed)
    arguments: Callable[[int, np.random.Generator], list]
    value: Callable[..., float]                  # the textbook formula, in NumPy
    gradients: Callable[..., list]               # its gradients, derived by hand, in `wrt` order
    inverted: tuple[str, ...] = ()               # the matrices the model inverts


def spd(d: int, rng) -> np.ndarray:
    """A symmetric positive definite d×d matrix, far from singular."""
    a = rng.standard_normal((d, d))
    return a @ a.T / d + np.eye(d)


def square(d: int, rng) -> np.ndarray:
    """A general (not symmetric) d×d matrix, far from singular: the gradients
    below keep every transpose."""
    return np.eye(d) * 2 + 0.3 * rng.standard_normal((d, d))


def normal(rng, *shape) -> np.ndarray:
    return rng.standard_normal(shape)


def quadratic_gradient(S, D):
    """∂/∂Σ tr(Dᵀ Σ⁻¹ D) = -Σ⁻ᵀ D Dᵀ Σ⁻ᵀ."""
    return -inv(S).T @ D @ D.T @ inv(S).T


def quadratic_form(formula: str) -> Model:
    """f = formula, a spelling of tr(Dᵀ Σ⁻¹ D), of a general (not
    symmetric) Σ."""
    return Model(f"param S : R^(d x d)\ninput D : R^(d x N)\nf = {formula}\ngrad f wrt S\n",
                 lambda N, rng: [square(5, rng), normal(rng, 5, N)],
                 lambda S, D: np.trace(D.T @ inv(S) @ D),
                 lambda S, D: [quadratic_gradient(S, D)],
                 inverted=("S",))


MODELS = {
    "tr(Dᵀ Σ⁻¹ D)": quadratic_form("tr(D^T S^-1 D)"),
    "Gaussian log-likelihood, data as columns": Model(
        "param S : R^(d x d)\nparam mu : R^d\ninput X : R^(d x N)\n"
        "R = X - mu\nL = 0.5 N logdet(S) + 0.5 tr(R^T S^-1 R)\ngrad L wrt S, mu\n",
        lambda N, rng: [spd(5, rng), normal(rng, 5), normal(rng, 5, N)],
        lambda S, mu, X: (0.5 * X.shape[1] * np.linalg.slogdet(S)[1]
                          + 0.5 * np.trace((X - mu[:, None]).T @ inv(S) @ (X - mu[:, None]))),
        lambda S, mu, X: [0.5 * X.shape[1] * inv(S).T + 0.5 * quadratic_gradient(S, X - mu[:, None]),
                          -0.5 * (inv(S) + inv(S).T) @ (X - mu[:, None]).sum(axis=1)],
        inverted=("S",)),
    "tr(A X B), A X B N×N": Model(
        "input A : R^(N x p)\nparam X : R^(p x q)\ninput B : R^(q x N)\nt = tr(A X B)\ngrad t wrt X\n",
        lambda N, rng: [normal(rng, N, 4), normal(rng, 4, 3), normal(rng, 3, N)],
        lambda A, X, B: np.trace(A @ X @ B),
        lambda A, X, B: [A.T @ B.T]),
    "tr(A X B), inner dimension N": Model(
        "input A : R^(p x N)\nparam X : R^(N x m)\ninput B : R^(m x p)\nt = tr(A X B)\ngrad t wrt X\n",
        lambda N, rng: [normal(rng, 4, N), normal(rng, N, 3), normal(rng, 3, 4)],
        lambda A, X, B: np.trace(A @ X @ B),
        lambda A, X, B: [A.T @ B.T]),
    "tr(Xᵀ X), scaled": Model(
        "param X : R^(d x N)\nt = 0.5 tr(X^T X)\ngrad t wrt X\n",
        lambda N, rng: [normal(rng, 5, N)],
        lambda X: 0.5 * np.trace(X.T @ X),
        lambda X: [X]),
    "log det(Σ) with a data term": Model(
        "param S : R^(d x d)\ninput D : R^(d x N)\nf = N log(det(S)) + tr(D^T S^-1 D)\ngrad f wrt S\n",
        lambda N, rng: [spd(5, rng), normal(rng, 5, N)],
        lambda S, D: D.shape[1] * np.log(np.linalg.det(S)) + np.trace(D.T @ inv(S) @ D),
        lambda S, D: [D.shape[1] * inv(S).T + quadratic_gradient(S, D)],
        inverted=("S",)),
    "sum(D ∘ (Σ⁻¹ D))": quadratic_form("sum(D ∘ (S^-1 D))"),
    "xᵀ Σ⁻¹ x over a batch, diag(Xᵀ Σ⁻¹ X)": Model(
        "param S : R^(d x d)\ninput X : R^(d x N)\nq = diag(X^T S^-1 X)\nf = sum(log(1 + q))\ngrad f wrt S\n",
        lambda N, rng: [spd(5, rng), normal(rng, 5, N)],
        lambda S, X: sum(np.log(1 + x @ inv(S) @ x) for x in X.T),
        # Σ over the columns x of -Σ⁻ᵀ x xᵀ Σ⁻ᵀ / (1 + xᵀ Σ⁻¹ x)
        lambda S, X: [sum(-inv(S).T @ np.outer(x, x) @ inv(S).T / (1 + x @ inv(S) @ x) for x in X.T)],
        inverted=("S",)),
    "diag(v) X W, v of the data dimension": Model(
        "param v : R^N\ninput X : R^(N x d)\nparam W : R^(d x k)\nf = ||diag(v) X W||^2\ngrad f wrt v, W\n",
        lambda N, rng: [normal(rng, N), normal(rng, N, 5), normal(rng, 5, 3)],
        lambda v, X, W: np.sum((np.diag(v) @ X @ W) ** 2),
        lambda v, X, W: [np.diag(2 * (np.diag(v) @ X @ W) @ W.T @ X.T),
                         2 * (np.diag(v) @ X).T @ (np.diag(v) @ X @ W)]),
}

SMALL, BIG = 2_000, 8_000


@pytest.fixture(scope="module", params=list(MODELS), ids=list(MODELS))
def compiled(request):
    model = MODELS[request.param]
    return model, symgrad.compile_source(model.text)


def peak_memory(function, arguments) -> int:
    """The most bytes allocated at once by one call (tracemalloc sees NumPy's
    arrays), after a first call has warmed every cache."""
    function(*arguments)
    tracemalloc.start()
    try:
        function(*arguments)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_grows_linearly_in_the_data_size(compiled):
    model, module = compiled
    rng = np.random.default_rng(0)
    small = peak_memory(module.value_and_grad, model.arguments(SMALL, rng))
    big = peak_memory(module.value_and_grad, model.arguments(BIG, rng))
    # 4 times the data: linear is 4 times the memory, quadratic 16 times (and
    # 512 MB for one 8,000 × 8,000 matrix).
    assert big < 6 * small, f"peak {small / 2**20:.2f} MiB at N = {SMALL}, {big / 2**20:.2f} MiB at N = {BIG}"


def functions(source: str) -> dict[str, str]:
    """The generated module's top-level functions, by name."""
    return {match.group(1): match.group(0)
            for match in re.finditer(r"(?ms)^def (\w+)\(.*?(?=^\S|\Z)", source)}


def test_the_code_makes_no_identity_and_inverts_each_matrix_once(compiled):
    model, module = compiled
    source = generate_module(Source(model.text, "<string>"))
    entry_points = {name: body for name, body in functions(source).items()
                    if name in ("forward", "backward", "value_and_grad", "evaluate")}
    assert len(entry_points) == 4
    for name, body in entry_points.items():
        assert "eye(" not in body and "diagflat(" not in body, (name, body)
        for matrix in model.inverted:
            factorizations = re.findall(rf"_np\.linalg\.(?:inv|solve)\({matrix}\b", body)
            assert len(factorizations) <= 1, (name, matrix, body)


def test_gradients_equal_the_textbook_gradients_in_numpy(compiled):
    model, module = compiled
    arguments = model.arguments(7, np.random.default_rng(1))
    value, gradients = module.value_and_grad(*arguments)
    np.testing.assert_allclose(value, model.value(*arguments), rtol=1e-11)
    for got, expected in zip(gradients, model.gradients(*arguments), strict=True):
        np.testing.assert_allclose(np.asarray(got).reshape(np.shape(expected)), expected,
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(module.evaluate(*arguments), value, rtol=1e-12)


def test_gradients_match_finite_differences(compiled):
    model, module = compiled
    check_grads(module, text=model.text, args=model.arguments(6, np.random.default_rng(2)))


def test_derive_writes_the_gradients_without_an_identity():
    derivation = str(symgrad.derive(MODELS["tr(Dᵀ Σ⁻¹ D)"].text))
    assert "∂f/∂S = -S⁻ᵀ (D Dᵀ) S⁻ᵀ" in derivation
    for model in MODELS.values():
        derivation = str(symgrad.derive(model.text))
        assert not re.search(r"\bI\b", derivation), derivation  # no error signal g I either
