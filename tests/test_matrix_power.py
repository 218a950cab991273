"""The matrix power A^k (#12): an integer k on a square matrix, by repeated
squaring (each product made once), A^0 = I, A^-k = (A^-1)^k; its gradient
exact against SymPy and finite differences; its errors."""

from __future__ import annotations

import numpy as np
import pytest
from checking import check, errors
from gradcheck import check_grads
from symbolic import Model, mismatches

from symgrad.ir import postorder

DECLARATIONS = "param A : R^(n x n)\nparam W : R^(n x m)\nparam v : R^n\nparam a : R\n"


def products(expr: str) -> int:
    """How many matrix products the forward value of `expr` makes."""
    program = check(f"{DECLARATIONS}Z = {expr}\ngrad a\n")
    return sum(node.op == "matmul" for node in postorder([program.definitions["Z"]]))


@pytest.mark.parametrize("expr, count", [("A^1", 0), ("A^2", 1), ("A^3", 2), ("A^4", 2), ("A^5", 3),
                                         ("A^8", 3), ("A^(2)", 1), ("A^-2", 1)])
def test_a_power_squares_repeatedly(expr, count):
    assert products(expr) == count


def test_the_zeroth_power_is_the_identity():
    program = check(f"{DECLARATIONS}Z = A^0\ngrad a\n")
    node = program.definitions["Z"]
    assert (node.op, node.data, str(node.shape)) == ("identity", "n", "R^(n×n)")


@pytest.mark.parametrize("expr, wrt", [
    ("sum(A^3)", "A"),
    ("vᵀ A^5 v", "A, v"),
    ("tr(A^2 A^2) + tr(A^4)", "A"),
    ("sum(A^-2)", "A"),
    ("sum(A^0 ∘ A)", "A"),
])
def test_the_gradient_of_a_power_is_exact(expr, wrt):
    model = Model(f"{DECLARATIONS}s = {expr}\ngrad s wrt {wrt}\n", {"n": 2, "m": 1})
    assert mismatches(model) == []


def test_a_power_is_the_repeated_product_in_numbers():
    rng = np.random.default_rng(3)
    A, W, v = rng.normal(size=(3, 3)) + 3 * np.eye(3), rng.normal(size=(3, 2)), rng.normal(size=3)
    module = check_grads(f"{DECLARATIONS}s = vᵀ A^3 v + sum(A^-2)\ngrad s wrt A, v\n", args=[A, W, v, 0.5])
    expected = v @ A @ A @ A @ v + np.linalg.inv(A @ A).sum()
    np.testing.assert_allclose(module.evaluate(A, W, v, 0.5), expected, rtol=1e-12)


@pytest.mark.parametrize("expr, column, message, hint", [
    ("A^0.5", 7, "a matrix is raised only to a whole power (A^2, A^0, A^-1), not to 0.5",
     "for the elementwise power write A .^ k"),
    ("A^a", 7, "a matrix is raised only to a whole power (A^2, A^0, A^-1), not to a",
     "for the elementwise power write A .^ k"),
    ("W^2", 6, "'^' raises a scalar to a power, but its base is R^(n×m) [n×m]",
     "for the elementwise power write A .^ k; A^-1 is the inverse of a square matrix"),
    ("v^2", 6, "'^' raises a scalar to a power, but its base is R^n [n×1]",
     "for the elementwise power write A .^ k; A^-1 is the inverse of a square matrix"),
    ("W^-1", 6, "inverse needs a square matrix, got R^(n×m) [n×m]", None),
])
def test_a_power_that_is_no_matrix_power_is_an_error(expr, column, message, hint):
    (found,) = errors(f"{DECLARATIONS}Z = {expr}\ngrad a\n")
    assert (found.span.line, found.span.column, found.message, found.hint) == (5, column, message, hint)
