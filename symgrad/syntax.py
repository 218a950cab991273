"""The abstract syntax tree of a `.sg` file: what was written, with positions.

Nothing here knows about shapes or meaning; symgrad.lowering turns these
nodes into the typed IR. Every node has a `span`; operator nodes also keep
`op_span`, the position a shape error of that operator is reported at.
"""

from __future__ import annotations

from dataclasses import dataclass

from .source import Span


# ---------------------------------------------------------------- expressions

@dataclass(frozen=True)
class Number:
    value: float
    text: str
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class Negate:
    operand: "Expr"
    span: Span
    op_span: Span


@dataclass(frozen=True)
class Binary:
    """A binary operator as written. `op` is one of: add, sub, star (`*`),
    at (`@`), juxtapose, hadamard, divide, power (`^`), elementwise_power (`.^`).
    The meaning of star/at/juxtapose (matrix product or scaling) is decided
    by lowering, from the shapes."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span
    op_span: Span


@dataclass(frozen=True)
class Transpose:
    operand: "Expr"
    span: Span
    op_span: Span


@dataclass(frozen=True)
class Call:
    """`f(a, b)`: a call when f is a function, a product when f is a variable."""

    func: Name
    args: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class Norm:
    """`||A||`."""

    operand: "Expr"
    span: Span


Expr = Number | Name | Negate | Binary | Transpose | Call | Norm


def children(expr: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of a node, in source order."""
    if isinstance(expr, Binary):
        return (expr.left, expr.right)
    if isinstance(expr, (Negate, Transpose, Norm)):
        return (expr.operand,)
    if isinstance(expr, Call):
        return expr.args
    return ()


# ----------------------------------------------------------------- statements

@dataclass(frozen=True)
class Dim:
    """A dimension as written in a type: a symbol (`n`) or a positive integer."""

    value: str | int
    span: Span


@dataclass(frozen=True)
class TypeExpr:
    """`R` (no dims), `R^n` (one dim: a column vector) or `R^(n x m)` (two)."""

    dims: tuple[Dim, ...]
    span: Span


@dataclass(frozen=True)
class Declaration:
    kind: str  # "param", "input" or "const"
    name: Name
    type: TypeExpr
    span: Span


@dataclass(frozen=True)
class ConstValue:
    name: Name
    value: Number
    span: Span


@dataclass(frozen=True)
class Function:
    name: Name
    params: tuple[Name, ...]
    body: Expr
    span: Span


@dataclass(frozen=True)
class Definition:
    name: Name
    expr: Expr
    span: Span


@dataclass(frozen=True)
class Grad:
    target: Name
    wrt: tuple[Name, ...] | None  # None: `wrt` omitted
    span: Span


Statement = Declaration | ConstValue | Function | Definition | Grad
