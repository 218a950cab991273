"""Indexing (#12): entries, rows, columns, blocks of ranges, gathers by ids,
pick and onehot: their shapes, their errors at their places, and their
gradients, compared exactly with SymPy's derivatives of the entries the
contract says they select (`IdModel` gives the new operations their meaning
here, from language.md, entry by entry) and with finite differences of the
compiled module.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from checking import check, errors, shapes
from gradcheck import check_grads
from symbolic import Evaluator, Model, mismatches
from sympy import Matrix

from symgrad.differentiation import differentiate_program
from symgrad.lowering import analyze
from symgrad.shapes import dim_add, dim_text, dim_value
from symgrad.source import Source

# ------------------------------------------------- the new operations' meaning


class IdEvaluator(Evaluator):
    """symbolic.Evaluator with dimension polynomials and the meanings of the
    operations of #12, written from the contract (0-based, half-open, the
    columns of vec stacked in order)."""

    def dim(self, d) -> int:
        return dim_value(d, self.sizes)

    def _compute(self, node) -> Matrix:
        op, data = node.op, node.data
        args = [self._memo[id(a)] for a in node.args]
        rows, cols = self.shape(node.shape)
        ids = [int(v) for v in args[1]] if op in ("gather", "scatter", "pick", "pick_scatter") else None
        if op == "gather":
            a = args[0]
            if data == "rows":
                return Matrix([[a[i, j] for j in range(a.cols)] for i in ids])
            return Matrix([[a[i, j] for j in ids] for i in range(a.rows)])
        if op == "scatter":
            axis, _ = data
            out = sympy.zeros(rows, cols)
            g = args[0]
            for position, i in enumerate(ids):
                if axis == "rows":
                    out[i, :] = out[i, :] + g[position, :]
                else:
                    out[:, i] = out[:, i] + g[:, position]
            return out
        if op == "block":
            r0, r1, c0, c1 = (self.dim(d) for d in data)
            return args[0][r0:r1, c0:c1]
        if op == "unblock":
            r0, c0 = self.dim(data[0]), self.dim(data[1])
            out = sympy.zeros(rows, cols)
            g = args[0]
            out[r0:r0 + g.rows, c0:c0 + g.cols] = g
            return out
        if op == "pick":
            return Matrix([[args[0][i, j] for j, i in enumerate(ids)]])
        if op == "pick_scatter":
            out = sympy.zeros(rows, cols)
            for j, i in enumerate(ids):
                out[i, j] = args[0][0, j]
            return out
        if op == "onehot":
            labels = [int(v) for v in args[0]]
            return Matrix(rows, cols, lambda i, j: 1 if labels[j] == i else 0)
        if op == "vstack":
            return Matrix.vstack(*args)
        if op == "hstack":
            return Matrix.hstack(*args)
        if op == "vec":
            a = args[0]
            return Matrix([a[i, j] for j in range(a.cols) for i in range(a.rows)])
        if op == "unvec":
            return Matrix(rows, cols, lambda i, j: args[0][j * rows + i])
        return super()._compute(node)


class IdModel(Model):
    """symbolic.Model over IdEvaluator: `values` gives the ids (lists of ints)."""

    def __init__(self, text: str, sizes: dict, values: dict):
        self.program = analyze(Source(text, "model.sg"))
        self.derivations = differentiate_program(self.program)
        self.evaluator = IdEvaluator(self.program, sizes, values)


def exact(text: str, sizes: dict, values: dict):
    """Every gradient of the model equals SymPy's derivative, entry by entry."""
    model = IdModel(text, sizes, values)
    assert mismatches(model) == []
    return model


# ------------------------------------------------------------------- shapes

DECLARATIONS = """\
param x : R^n
param r : R^(1 x m)
param A : R^(n x m)
param L : R^(d x V)
param S : R^(C x N)
param P : R^(n x k)
input w : {0..V-1}^k
input v : {0..n-1}^k
input i : {0..n-1}
input j : {0..m-1}
input y : {0..C-1}^N
input t : {0..n}^k
input q : R^h
param a : R
"""


def shape(expr: str) -> str:
    return shapes(f"{DECLARATIONS}z = {expr}\ngrad a\n")["z"]


@pytest.mark.parametrize("expr, expected", [
    ("L[:, w]", "R^(d×k)"),
    ("x[v]", "R^k"),
    ("A[v, :]", "R^(k×m)"),
    ("x[i]", "R"),
    ("A[i, :]", "R^(1×m)"),
    ("A[:, j]", "R^n"),
    ("A[i, j]", "R"),
    ("r[j]", "R"),
    ("A[1, 2]", "R"),
    ("x[n - 1]", "R"),
    ("x[0:h]", "R^h"),
    ("[x; x][h:2 h]", "R^h"),
    ("A[0:h, :]", "R^(h×m)"),
    ("A[:, 0:2]", "R^(n×2)"),
    ("A[0:h, 1:m]", "R^(h×(m - 1))"),
    ("(A r ᵀ)[0:h]", "R^h"),
    ("A[v, 0:2]", "R^(k×2)"),
    ("x[:]", "R^n"),
    ("pick(S, y)", "R^(1×N)"),
    ("onehot(y, C)", "R^(C×N)"),
    ("onehot(i, n)", "R^n"),
    ("[A; A]", "R^(2 n×m)"),
    ("[A, x]", "R^(n×(m + 1))"),
    ("[A, x; r, a]", "R^((n + 1)×(m + 1))"),
    ("vec(A)", "R^(m n)"),
    ("ones(n + 1)", "R^(n + 1)"),
])
def test_the_shape_of_each_construct(expr, expected):
    assert shape(expr) == expected


def test_a_block_of_a_polynomial_height_is_equal_as_a_polynomial():
    program = check("param A : R^(n x d)\nparam B : R^(m x d)\nparam u : R^(m + n)\n"
                    "Z = [A; B]\ns = uᵀ Z ones(d)\ngrad s\n")
    assert program.definitions["Z"].shape.rows == dim_add("m", "n")


# ------------------------------------------------------------------- errors

@pytest.mark.parametrize("expr, column, message", [
    ("x[0:n+1]", 7, "the block 0:n + 1 ends past the n entries of x"),
    ("x[0.5]", 7, "an index is a whole number, not 0.5"),
    ("x[-1]", 7, "the index -1 is negative; indices are 0-based and do not wrap"),
    ("x[n]", 7, "the index n is past the last of the n entries of x (0..n - 1)"),
    ("x[2:1]", 7, "the block 2:1 is empty: it ends where it starts or before"),
    ("a[0]", 6, "'a' is a scalar R; only vectors and matrices are indexed"),
    ("A[1]", 6, "'A' is a matrix R^(n×m); index it with two axes: A[i, j], A[:, j] or A[i, :]"),
    ("A[v, v]", 6, "indexing both axes of 'A' with vectors of ids is not supported"),
    ("A[1, 2, 3]", 11, "unexpected ','; expected ']'"),
    ("x[t]", 7, "the ids of 't' (0..n) reach past the n entries of x"),
    ("A[t, :]", 7, "the ids of 't' (0..n) reach past the n rows of A"),
    ("A[q, :]", 7, "an index is a whole number, an expression of dimensions (h, 2 h, n - 1) or ids, not q"),
    ("exp(y)", 9, "'y' holds ids (0..C - 1), which only index: y may be used in L[:, y], x[y], "
                  "pick(S, y) and onehot(y, C)"),
    ("S + y", 9, "'y' holds ids (0..C - 1), which only index"),
    ("y[0]", 6, "'y' holds ids, which are not indexed"),
    ("[x; v]", 9, "'v' holds ids (0..n - 1), which only index"),
    ("pick(y, S)", 13, "pick takes ids as its second argument, not S"),
    ("onehot(S, C)", 12, "onehot takes ids as its first argument, not S"),
    ("onehot(t, n)", 15, "onehot(t, n) has n rows, but the ids of 't' go up to n"),
    ("pick(P, t)", 13, "the ids of 't' (0..n) reach past the n rows of P"),
    ("pick(L, y)", 5, "pick(S, y) takes one id for each column of S: S is R^(d×V) [d×V], the ids are N"),
    ("[A; x]", 9, "[A; B] needs blocks of equal column counts: R^(n×m) [n×m] and R^n [n×1]"),
    ("[A, r]", 9, "[A, B] needs blocks of equal row counts: R^(n×m) [n×m] and R^(1×m) [1×m]"),
    ("A^2", 6, "'^' raises a scalar to a power, but its base is R^(n×m) [n×m]"),
])
def test_each_mistake_is_reported_at_its_place(expr, column, message):
    found = errors(f"{DECLARATIONS}z = {expr}\ngrad a\n")
    assert len(found) == 1
    line = DECLARATIONS.count("\n") + 1
    assert (found[0].span.line, found[0].span.column) == (line, column)
    assert found[0].message.startswith(message), found[0].message


def test_ids_are_never_differentiated():
    (found,) = errors(f"{DECLARATIONS}z = sum(pick(S, y))\ngrad z wrt S, y\n")
    assert found.message == "'y' holds ids, which are never differentiated"
    assert (found.span.line, found.span.column) == (16, 15)


def test_a_non_integer_power_of_a_matrix_is_an_error():
    (found,) = errors("param A : R^(n x n)\nparam a : R\nz = A^0.5\ngrad a\n")
    assert found.message.startswith("a matrix is raised only to a whole power")
    assert (found.span.line, found.span.column) == (3, 7)


def test_a_block_the_dimensions_do_not_decide_is_checked_at_run_time():
    program = check("param z : R^n\ninput q : R^h\ns = sum(z[0:h])\ngrad s\n")
    (requirement,) = program.requirements
    assert (requirement.dim, requirement.minimum) == (dim_add("n", "h", -1), 0)
    assert requirement.message == "the block 0:h must lie within the n entries of z"
    assert (requirement.span.line, requirement.span.column) == (3, 11)


def test_ids_of_another_count_are_checked_at_run_time():
    program = check("param x : R^n\ninput w : {0..V-1}^k\nparam L : R^(d x V)\n"
                    "s = sum(x[w]) + sum(L[:, w])\ngrad s\n")
    (requirement,) = program.requirements   # L[:, w] needs none: V columns for ids below V
    assert (requirement.dim, requirement.minimum) == (dim_add("n", "V", -1), 0)
    assert requirement.message == "the ids of 'w' (0..V - 1) must index the n entries of x"
    assert (requirement.span.line, requirement.span.column) == (4, 11)


def test_a_block_the_dimensions_decide_needs_no_run_time_check():
    program = check("param z : R^n\ninput q : R^h\ns = sum([z; q][h:n + h]) + sum(z[0:n])\ngrad s\n")
    assert program.requirements == []


# --------------------------------------------------- gradients, exactly

SIZES = {"n": 3, "m": 2, "d": 2, "V": 4, "k": 5, "C": 3, "N": 4, "h": 2}
IDS = {"w": [2, 0, 2, 3, 2], "v": [1, 1, 0, 2, 1], "i": 2, "j": 1, "y": [2, 0, 1, 2]}


@pytest.mark.parametrize("expr, wrt", [
    ("sum(sin(L[:, w]))", "L"),                 # repeated ids: their gradients summed
    ("sum(exp(x[v]))", "x"),
    ("sum(sin(A[v, :]))", "A"),
    ("sin(x[i]) + cos(A[i, j])", "x, A"),
    ("sum(exp(A[i, :])) + sum(sin(A[:, j]))", "A"),
    ("sin(r[j]) + sin(A[1, 0])", "r, A"),
    ("sum(exp(x[1:3])) + cos(x[n - 1])", "x"),
    ("sum(sin(A[0:2, 1:2]))", "A"),
    ("sum(sin(pick(S, y)))", "S"),
    ("sum(onehot(y, C) ∘ exp(S))", "S"),
])
def test_the_gradient_of_each_selection_is_exact(expr, wrt):
    exact(f"{DECLARATIONS}z = {expr}\ngrad z wrt {wrt}\n", SIZES, IDS)


def test_a_selection_of_onehot_forms_no_onehot_matrix():
    program = check(f"{DECLARATIONS}z = sum(onehot(y, C) ∘ exp(S)) + sum(colsum(onehot(y, C) ∘ S))\ngrad z\n")
    from symgrad.ir import postorder
    ops = {node.op for node in postorder([program.definitions["z"]])}
    assert "onehot" not in ops and "pick" in ops


# ----------------------------------------- finite differences, compiled

def test_the_compiled_gradients_of_gathers_and_blocks_match_finite_differences():
    text = ("param L : R^(d x V)\nparam A : R^(n x n)\nparam x : R^n\ninput w : {0..V-1}^k\n"
            "input i : {0..n-1}\n"
            "s = sum(sin(L[:, w])) + sum(exp(A[w, 0:2])) + cos(x[i]) + sum(x[1:n] ∘ x[0:n - 1])\n"
            "grad s wrt L, A, x\n")
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(2, 4)), rng.normal(size=(4, 4)), rng.normal(size=4),
            np.array([3, 0, 3, 1, 3]), 2]
    check_grads(text, args=args)
