"""Shapes: every value of a model is a matrix of `rows × cols`.

A dimension is a symbol (`"n"`, bound when the compiled code is called) or a
positive integer. Two different symbols are different sizes, and a symbol is
never equal to an integer: shapes are compared exactly as written.
A column vector R^n is n×1, a row vector 1×n, and 1×1 is a scalar.
"""

from __future__ import annotations

from dataclasses import dataclass

Dim = int | str


class ShapeError(Exception):
    """An operator was given operands of shapes it does not accept."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Shape:
    rows: Dim
    cols: Dim

    @property
    def is_scalar(self) -> bool:
        return self.rows == 1 and self.cols == 1

    @property
    def is_column(self) -> bool:
        return self.cols == 1 and self.rows != 1

    @property
    def is_row(self) -> bool:
        return self.rows == 1 and self.cols != 1

    @property
    def is_square(self) -> bool:
        return self.rows == self.cols

    @property
    def T(self) -> "Shape":
        return Shape(self.cols, self.rows)

    def dims(self) -> tuple[Dim, Dim]:
        return (self.rows, self.cols)

    def __str__(self) -> str:
        """As a type is written: R, R^n, R^(1×n), R^(n×m)."""
        if self.is_scalar:
            return "R"
        if self.cols == 1:
            return f"R^{self.rows}"
        return f"R^({self.rows}×{self.cols})"

    @property
    def brackets(self) -> str:
        """As the lecture writes a factor's shape: [n×m]."""
        return f"[{self.rows}×{self.cols}]"


SCALAR = Shape(1, 1)


def column(n: Dim) -> Shape:
    return Shape(n, 1)


def broadcast(a: Shape, b: Shape, what: str) -> Shape:
    """The shape of an elementwise operation on a and b.

    Exactly three broadcasts are allowed: a scalar with anything; a column
    R^n with a matrix R^(n×N) (every column); a row R^(1×N) with a matrix
    R^(n×N) (every row).
    """
    if a == b or b.is_scalar:
        return a
    if a.is_scalar:
        return b
    for vector, matrix in ((a, b), (b, a)):
        if vector.cols == 1 and vector.rows == matrix.rows:
            return matrix
        if vector.rows == 1 and vector.cols == matrix.cols:
            return matrix
    differ = []
    if a.rows != b.rows:
        differ.append(f"rows {a.rows} and {b.rows}")
    if a.cols != b.cols:
        differ.append(f"columns {a.cols} and {b.cols}")
    hint = ("broadcasting works only for a scalar with anything, a column R^n with R^(n×N), "
            "or a row R^(1×N) with R^(n×N)")
    if a.T == b or (a.is_column and b.is_row) or (a.is_row and b.is_column):
        hint = "transpose one side (B^T) to make the shapes agree; " + hint
    raise ShapeError(f"{what} of {a} and {b}: {', '.join(differ)} differ", hint)


def matmul(a: Shape, b: Shape, what: str) -> Shape:
    """(p×q)(q×r) = p×r; the inner dimensions must agree."""
    if a.cols == b.rows:
        return Shape(a.rows, b.cols)
    hint = None
    if a == b and not a.is_square:
        hint = "for the elementwise (Hadamard) product write A ∘ B (or A .* B)"
    elif a.rows == b.rows:
        hint = "transpose the left factor (A^T B) to make the inner dimensions agree"
    elif a.cols == b.cols:
        hint = "transpose the right factor (A B^T) to make the inner dimensions agree"
    raise ShapeError(
        f"{what} of {a} {a.brackets} and {b} {b.brackets}: the left has {a.cols} "
        f"column{'s' if a.cols != 1 else ''}, the right has {b.rows} row{'s' if b.rows != 1 else ''}",
        hint)


def square(a: Shape, what: str) -> Shape:
    if not a.is_square:
        raise ShapeError(f"{what} needs a square matrix, got {a} {a.brackets}")
    return a
