"""The built-ins of the contract's second edition that are names over
existing machinery: eye(n), ones(n), ones(n, m), rowsum, colsum, rowmean,
colmean, π and pi. Each parses, gets its shape, computes what the test
computes by hand (SymPy and plain NumPy), is differentiated exactly (SymPy)
and agrees with finite differences; a transposed number literal is an error
that points to them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from checking import errors, shapes
from gradcheck import check_grads
from symbolic import Model, mismatches

import symgrad

HEAD = "param A : R^(n x m)\nparam x : R^m\nparam v : R^n\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Compiled modules go to a temporary cache, not the user's."""
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "symgrad-cache"))


@pytest.mark.parametrize("expression, shape", [
    ("eye(n)", "R^(n×n)"),
    ("eye(3)", "R^(3×3)"),
    ("eye(1)", "R"),
    ("ones(1)", "R"),
    ("ones(n)", "R^n"),
    ("ones(n, m)", "R^(n×m)"),
    ("ones(1, m)", "R^(1×m)"),
    ("ones(n)ᵀ A", "R^(1×m)"),
    ("rowsum(A)", "R^n"),
    ("colsum(A)", "R^(1×m)"),
    ("rowmean(A)", "R^n"),
    ("colmean(A)", "R^(1×m)"),
    ("π", "R"),
    ("pi", "R"),
])
def test_each_builtin_has_its_shape(expression, shape):
    assert shapes(f"{HEAD}y = {expression}\ns = sum(x)\ngrad s\n")["y"] == shape


def test_pi_is_the_files_own_when_it_declares_that_name():
    model = Model("param pi : R^n\ns = sum(pi)\ngrad s wrt pi\n", sizes={"n": 2})
    assert model.program.variables["pi"].shape.rows == "n"


# Each built-in, its value as the test computes it from A (SymPy), by name.
VALUES = {
    "eye(n) A": lambda A: A,
    "ones(n)": lambda A: sympy.ones(A.rows, 1),
    "ones(n, m) ∘ A": lambda A: A,
    "ones(n)ᵀ A": lambda A: sympy.Matrix([[sum(A[:, j]) for j in range(A.cols)]]),
    "rowsum(A)": lambda A: sympy.Matrix([sum(A[i, :]) for i in range(A.rows)]),
    "colsum(A)": lambda A: sympy.Matrix([[sum(A[:, j]) for j in range(A.cols)]]),
    "rowmean(A)": lambda A: sympy.Matrix([sum(A[i, :]) / A.cols for i in range(A.rows)]),
    "colmean(A)": lambda A: sympy.Matrix([[sum(A[:, j]) / A.rows for j in range(A.cols)]]),
    "π A": lambda A: sympy.pi * A,
    "pi A": lambda A: sympy.pi * A,
}


@pytest.mark.parametrize("expression", list(VALUES))
def test_each_builtin_computes_its_definition(expression):
    model = Model(f"{HEAD}y = {expression}\ns = sum(y)\ngrad s\n", sizes={"n": 2, "m": 3})
    got = model.definition("y")
    want = VALUES[expression](model.evaluator.symbols["A"])
    assert got.shape == want.shape
    # At a point (π is a float in a model): equal to the last digits.
    point = {symbol: sympy.Rational(k + 2, 7) for k, symbol in enumerate(model.evaluator.all_symbols())}
    for entry in got - want:
        assert abs(float(entry.subs(point))) < 1e-14


LOSSES = [
    "sum((eye(n) + A Aᵀ) v ∘ v)",
    "ones(n)ᵀ tanh(A x)",
    "sum(ones(n, m) ∘ A ∘ A) + ones(n)ᵀ v",
    "sum(rowsum(A ∘ A) ∘ v)",
    "sum(colsum(A) ∘ xᵀ)",
    "sum(rowmean(A) ∘ v) + sum(colmean(A ∘ A))",
    "π sum(A x) + sum(sin(pi v))",
]


@pytest.mark.parametrize("loss", LOSSES)
def test_each_builtins_gradient_is_the_exact_derivative(loss):
    model = Model(f"{HEAD}s = {loss}\ngrad s\n", sizes={"n": 2, "m": 3})
    assert mismatches(model, points=2, tolerance=1e-30) == []


@pytest.mark.parametrize("loss", LOSSES)
def test_each_builtins_gradient_agrees_with_finite_differences(loss):
    check_grads(f"{HEAD}s = {loss}\ngrad s\n", {"n": 4, "m": 3})


def test_the_compiled_builtins_compute_what_numpy_computes():
    module = symgrad.compile_source(
        HEAD + "s = sum(rowmean(A) ∘ v) + sum(colmean(A) ∘ xᵀ) + ones(n)ᵀ A x + sum(eye(n) ∘ (v vᵀ)) + π\n"
               "grad s\n")
    rng = np.random.default_rng(0)
    A, x, v = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=4)
    want = A.mean(axis=1) @ v + A.mean(axis=0) @ x + np.ones(4) @ A @ x + v @ v + math.pi
    assert module.evaluate(A, x, v) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("text", ["1ᵀ A", "2^T", "1'", "(1)ᵀ A"])
def test_a_transposed_number_is_an_error_that_names_ones_and_colsum(text):
    (error,) = errors(f"{HEAD}y = {text}\ns = sum(x)\ngrad s\n")
    assert error.message.startswith("a number has no transpose")
    assert "ones(n)ᵀ" in error.hint and "colsum(X)" in error.hint
    assert error.span.line == 4


@pytest.mark.parametrize("text, wrong", [("eye(x)", "x"), ("ones(n, 2.5)", "2.5"), ("ones(sum(x))", "sum(x)")])
def test_eye_and_ones_take_dimensions(text, wrong):
    (error,) = errors(f"{HEAD}y = {text}\ns = sum(x)\ngrad s\n")
    assert "takes dimensions" in error.message and wrong in error.message


@pytest.mark.parametrize("body", ["f(t) = t + eye(3)", "f(t) = t ∘ ones(2, 2)", "f(t) = rowmean(t)"])
def test_the_new_builtins_are_not_scalar_formulas(body):
    (error,) = errors(f"{HEAD}{body}\ns = sum(x)\ngrad s\n")
    assert error.message.startswith("a function body is a scalar formula")


@pytest.mark.parametrize("name", ["eye", "ones", "rowsum", "colsum", "rowmean", "colmean"])
def test_the_new_builtins_are_reserved(name):
    assert "built-in function" in errors(f"param {name} : R^n\ns = sum({name})\ngrad s\n")[0].message
