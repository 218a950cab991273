"""Block matrices (#12): [A; B], [A, B], [A, B; C, D], vec(A), and blocks of
a value z[0:h]: shapes as Dim polynomials, errors at the block that differs,
gradients exact against SymPy (the meaning of the operations written in
test_indexing's IdEvaluator) and against finite differences of the
compiled module, and derive's notation.
"""

from __future__ import annotations

import numpy as np
import pytest
from checking import errors
from gradcheck import check_grads
from test_indexing import exact

import symgrad
from symgrad.shapes import dim_add, dim_mul

DECLARATIONS = """\
param A : R^(n x d)
param B : R^(m x d)
param C : R^(n x e)
param D : R^(m x e)
param x : R^n
param z : R^(2 n)
param a : R
"""
SIZES = {"n": 2, "m": 3, "d": 2, "e": 1}


def node(expr: str):
    return symgrad.derive(f"{DECLARATIONS}Z = {expr}\ngrad a\n").program.definitions["Z"]


@pytest.mark.parametrize("expr, rows, cols", [
    ("[A; B]", dim_add("m", "n"), "d"),
    ("[A, C]", "n", dim_add("d", "e")),
    ("[A, C; B, D]", dim_add("m", "n"), dim_add("d", "e")),
    ("[x; a]", dim_add("n", 1), 1),
    ("[A; A; B]", dim_add("m", dim_mul(2, "n")), "d"),
    ("vec(A)", dim_mul("d", "n"), 1),
    ("vec([A; B])", dim_add(dim_mul("d", "m"), dim_mul("d", "n")), 1),
    ("z[n:2 n]", "n", 1),
])
def test_blocks_have_polynomial_shapes(expr, rows, cols):
    assert node(expr).shape.dims() == (rows, cols)


@pytest.mark.parametrize("expr, column, message", [
    ("[A; C]", 9, "[A; B] needs blocks of equal column counts: R^(n×d) [n×d] and R^(n×e) [n×e]"),
    ("[A, B]", 9, "[A, B] needs blocks of equal row counts: R^(n×d) [n×d] and R^(m×d) [m×d]"),
    ("[A, C; B, C]", 15, "[A, B] needs blocks of equal row counts: R^(m×d) [m×d] and R^(n×e) [n×e]"),
    ("[A, C; B]", 12, "[A; B] needs blocks of equal column counts: R^(n×(d + e)) [n×(d + e)] and R^(m×d) [m×d]"),
    ("z[0:3 n]", 7, "the block 0:3 n ends past the 2 n entries of z"),
])
def test_unequal_blocks_are_reported_at_the_block_that_differs(expr, column, message):
    (found,) = errors(f"{DECLARATIONS}Z = {expr}\ngrad a\n")
    assert (found.span.line, found.span.column, found.message) == (8, column, message)


@pytest.mark.parametrize("expr, wrt", [
    ("sum(sin([A; B]))", "A, B"),
    ("sum(exp([A, C; B, D]) ∘ [A, C; B, D])", "A, B, C, D"),
    ("sum(sin([x; a] ∘ [a; x]))", "x, a"),
    ("sum(sin(vec(A)) ∘ (1 + vec(A)))", "A"),
    ("sum(sin(vec(A)ᵀ vec(A)))", "A"),
    ("sum(sin(z[0:n]) ∘ cos(z[n:2 n]))", "z"),
])
def test_the_gradient_of_each_block_is_exact(expr, wrt):
    exact(f"{DECLARATIONS}s = {expr}\ngrad s wrt {wrt}\n", SIZES, {})


def test_vec_stacks_the_columns_in_order():
    model = exact("param P : R^(n x 2)\nparam x : R^n\ns = sum(vec(P) ∘ [x; 2 x])\ngrad s wrt P\n",
                  {"n": 2}, {})
    # vec(P) = (P[0,0], P[1,0], P[0,1], P[1,1]): ∂s/∂P[i, j] = (j + 1) x[i]
    gradient = model.gradient("P")
    assert [str(g) for g in gradient] == ["x[0,0]", "2*x[0,0]", "x[1,0]", "2*x[1,0]"]


def test_the_compiled_gradients_of_blocks_match_finite_differences():
    text = (f"{DECLARATIONS}s = sum(sin([A, C; B, D])) + sum(vec(A) ∘ vec(A)) + sum(exp(z[0:n]) ∘ [x; a][0:n])"
            "\ngrad s wrt A, B, C, D, x, z, a\n")
    rng = np.random.default_rng(2)
    args = [rng.normal(size=shape) for shape in ((2, 2), (3, 2), (2, 1), (3, 1), 2, 4)] + [0.3]
    check_grads(text, args=args)


def test_derive_writes_blocks_as_the_notes_do():
    text = (f"{DECLARATIONS}h = z[0:n]\nY = [A, C; B, D]\nv = vec(A)\n"
            "s = sum(sin(Y)) + sum(h ∘ x) + sum(v)\ngrad s wrt A, z\n")
    explanation = symgrad.derive(text)
    forward = str(explanation)
    assert "h = z[0:n]" in forward
    assert "Y = [A, C; B, D]" in forward
    assert "v = vec(A)" in forward
    latex = explanation.text("latex", steps=True)
    assert "\\begin{bmatrix} A & C \\\\ B & D \\end{bmatrix}" in latex
    ascii_text = explanation.text("ascii", steps=True)
    assert "z[0:n]" in ascii_text and "unblock" in ascii_text
