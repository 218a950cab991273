"""The abstract syntax tree of a `.sg` file: what was written, with positions.

Nothing here knows about shapes or meaning; symgrad.lowering turns these
nodes into the typed IR. Every node has a `span`; operator nodes also keep
`op_span`, the position a shape error of that operator is reported at.
"""

from __future__ import annotations

from dataclasses import dataclass

from .source import Span

# Plain slotted dataclasses, not frozen ones: a frozen dataclass is several
# times slower to make, and a large model makes millions of nodes. Nothing
# changes a node once the parser has made it.
node = dataclass(slots=True)


# ---------------------------------------------------------------- expressions

@node
class Number:
    value: float
    text: str
    span: Span


@node
class Name:
    id: str
    span: Span


@node
class Negate:
    operand: "Expr"
    span: Span
    op_span: Span


@node
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


@node
class Transpose:
    operand: "Expr"
    span: Span
    op_span: Span


@node
class Call:
    """`f(a, b)`: a call when f is a function, a product when f is a variable.
    `open_span` is the `(`: the position of such a product's errors."""

    func: Name
    args: tuple["Expr", ...]
    span: Span
    open_span: Span


@node
class Norm:
    """`||A||`."""

    operand: "Expr"
    span: Span


Expr = Number | Name | Negate | Binary | Transpose | Call | Norm


def children(expr: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of a node, in source order."""
    kind = type(expr)
    if kind is Name or kind is Number:
        return ()
    if kind is Binary:
        return (expr.left, expr.right)
    if kind is Call:
        return expr.args
    return (expr.operand,)


# ----------------------------------------------------------------- statements

@node
class Dim:
    """A dimension as written in a type: a symbol (`n`) or a positive integer."""

    value: str | int
    span: Span


@node
class TypeExpr:
    """`R` (no dims), `R^n` (one dim: a column vector) or `R^(n x m)` (two)."""

    dims: tuple[Dim, ...]
    span: Span


@node
class Declaration:
    kind: str  # "param", "input" or "const"
    name: Name
    type: TypeExpr
    span: Span


@node
class ConstValue:
    name: Name
    value: Number
    span: Span


@node
class Function:
    name: Name
    params: tuple[Name, ...]
    body: Expr
    span: Span


@node
class Definition:
    name: Name
    expr: Expr
    span: Span


@node
class Grad:
    target: Name
    wrt: tuple[Name, ...] | None  # None: `wrt` omitted
    span: Span


Statement = Declaration | ConstValue | Function | Definition | Grad
