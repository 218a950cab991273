"""Shapes: every value of a model is a matrix of `rows × cols`.

A dimension is a symbol (`"n"`, bound when the compiled code is called), a
positive integer, or a polynomial in symbols with integer coefficients
(`5 d`, `n + m`, `N T`: a `DimExpr`). Every dimension is kept in one
canonical form (an int for a constant, a str for a lone symbol, else a
DimExpr of sorted terms), so two dimensions are equal exactly when they are
equal as polynomials, and `==` decides it. Two different symbols are
different sizes, and a symbol is never equal to an integer.
A column vector R^n is n×1, a row vector 1×n, and 1×1 is a scalar.
"""

from __future__ import annotations

from dataclasses import dataclass

Monomial = tuple[str, ...]   # sorted symbols, repeated for powers: ("N", "T"), ("n", "n")


@dataclass(frozen=True, slots=True)
class DimExpr:
    """A dimension polynomial that is neither a constant nor a lone symbol:
    Σ coefficient · monomial, terms sorted (highest degree first, then by
    name), no zero coefficient. Build it with `dim_add`/`dim_mul`, which
    return the canonical form."""

    terms: tuple[tuple[Monomial, int], ...]

    def __str__(self) -> str:
        return dim_text(self)


Dim = int | str | DimExpr


def dim_terms(dim: Dim) -> dict[Monomial, int]:
    """{monomial: coefficient} of a dimension; the constant's monomial is ()."""
    if isinstance(dim, DimExpr):
        return dict(dim.terms)
    if isinstance(dim, str):
        return {(dim,): 1}
    return {(): dim} if dim else {}


def dim_from_terms(terms: dict[Monomial, int]) -> Dim:
    """The canonical form of Σ coefficient · monomial."""
    kept = sorted(((m, c) for m, c in terms.items() if c), key=lambda mc: (-len(mc[0]), mc[0]))
    if not kept:
        return 0
    if len(kept) == 1:
        monomial, coefficient = kept[0]
        if monomial == ():
            return coefficient
        if len(monomial) == 1 and coefficient == 1:
            return monomial[0]
    return DimExpr(tuple(kept))


def dim_add(a: Dim, b: Dim, sign: int = 1) -> Dim:
    """a + b (a - b with sign -1), as a polynomial."""
    terms = dim_terms(a)
    for monomial, coefficient in dim_terms(b).items():
        terms[monomial] = terms.get(monomial, 0) + sign * coefficient
    return dim_from_terms(terms)


def dim_mul(a: Dim, b: Dim) -> Dim:
    """a b, as a polynomial."""
    terms: dict[Monomial, int] = {}
    for ma, ca in dim_terms(a).items():
        for mb, cb in dim_terms(b).items():
            monomial = tuple(sorted(ma + mb))
            terms[monomial] = terms.get(monomial, 0) + ca * cb
    return dim_from_terms(terms)


def dim_symbols(dim: Dim) -> tuple[str, ...]:
    """The symbols a dimension reads, each once, in order of first appearance."""
    return tuple(dict.fromkeys(s for monomial in dim_terms(dim) for s in monomial))


def dim_value(dim: Dim, sizes: dict[str, int]) -> int:
    """The size of a dimension once its symbols have sizes."""
    total = 0
    for monomial, coefficient in dim_terms(dim).items():
        for symbol in monomial:
            coefficient *= sizes[symbol]
        total += coefficient
    return total


def _monomial_text(monomial: Monomial, times: str) -> str:
    parts = []
    for symbol in dict.fromkeys(monomial):
        power = monomial.count(symbol)
        parts.append(symbol if power == 1 else f"{symbol}^{power}")
    return times.join(parts)


def dim_text(dim: Dim, times: str = " ") -> str:
    """As written in a type: `n`, `3`, `5 d`, `n + m`, `N T`, `n - 1`;
    `times` goes between the factors of a product (" *" for Python)."""
    if not isinstance(dim, DimExpr):
        return str(dim)
    text = ""
    for monomial, coefficient in dim.terms:
        sign = "-" if coefficient < 0 else "+"
        size = abs(coefficient)
        if monomial == ():
            body = str(size)
        else:
            body = _monomial_text(monomial, times)
            if size != 1:
                body = f"{size}{times}{body}"
        text = (("-" if sign == "-" else "") + body) if not text else f"{text} {sign} {body}"
    return text


def dim_python(dim: Dim, spelled) -> str:
    """A Python expression of a dimension, its symbols spelled by `spelled[symbol]`."""
    if isinstance(dim, int):
        return str(dim)
    if isinstance(dim, str):
        return spelled[dim]
    pieces = []
    for monomial, coefficient in dim.terms:
        factors = [spelled[s] for s in monomial]
        if coefficient != 1 or not factors:
            factors.insert(0, str(coefficient))
        pieces.append(" * ".join(factors))
    return "(" + " + ".join(pieces).replace("+ -", "- ") + ")"


def solve_dim(dim: Dim, size: int, known: dict[str, int]) -> tuple[str, int] | None:
    """Solve `dim == size` for its one unknown symbol, when dim is linear in
    it (`5 d` = 250 gives ("d", 50)); None when it has no unknown symbol or
    more than one, or is not linear in it. The caller checks that the
    solution is a positive integer."""
    unknown = [s for s in dim_symbols(dim) if s not in known]
    if len(unknown) != 1:
        return None
    symbol = unknown[0]
    slope, rest = 0, size
    for monomial, coefficient in dim_terms(dim).items():
        count = monomial.count(symbol)
        if count > 1:
            return None
        for other in monomial:
            if other != symbol:
                coefficient *= known[other]
        if count:
            slope += coefficient
        else:
            rest -= coefficient
    if slope == 0:
        return None
    return symbol, (rest // slope if rest % slope == 0 else rest / slope)


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
            return f"R^{self.rows}" if not isinstance(self.rows, DimExpr) else f"R^({self.rows})"
        return f"R^({self._by()})"

    @property
    def brackets(self) -> str:
        """As the lecture writes a factor's shape: [n×m], [(m + n)×d]."""
        return f"[{self._by()}]"

    def _by(self) -> str:
        """rows×cols, a sum of terms bracketed: 5 d×(m + n)."""
        return "×".join(f"({d})" if isinstance(d, DimExpr) and len(d.terms) > 1 else str(d)
                        for d in (self.rows, self.cols))


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


def entries(shape: Shape):
    """How many entries a vector or scalar has (a row's too); None for a
    matrix: the size of its block in a Hessian or Jacobian."""
    if shape.is_scalar:
        return 1
    if shape.cols == 1:
        return shape.rows
    return shape.cols if shape.rows == 1 else None


def square(a: Shape, what: str) -> Shape:
    if not a.is_square:
        raise ShapeError(f"{what} needs a square matrix, got {a} {a.brackets}")
    return a
