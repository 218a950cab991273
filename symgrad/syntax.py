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


@node
class Group:
    """`(A)` or `[A]`: brackets as written. A group is its operand's value;
    it is kept so that regrouping (symgrad.lowering) never reaches into
    brackets: `a / (b (c))` is not `a / b (c)`."""

    operand: "Expr"
    span: Span


@node
class Whole:
    """`:` as an axis of an index: every row, or every column."""

    span: Span


@node
class Range:
    """`a:b` as an axis of an index: the half-open block a, ..., b-1."""

    start: "Expr"
    stop: "Expr"
    span: Span


@node
class Index:
    """`A[i, j]`, `L[:, w]`, `x[i]`, `z[0:h]`: one or two axes, each an
    expression (an entry or ids), a Whole or a Range. `open_span` is the `[`."""

    base: "Expr"
    axes: tuple["Expr", ...]
    span: Span
    open_span: Span


@node
class Block:
    """`[A, B; C, D]`: a block matrix, rows of blocks (`;` between rows,
    `,` between the blocks of a row). `[A]` is a Group, never a Block."""

    rows: tuple[tuple["Expr", ...], ...]
    span: Span


Expr = Number | Name | Negate | Binary | Transpose | Call | Norm | Group | Whole | Range | Index | Block


def children(expr: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of a node, in source order."""
    kind = type(expr)
    if kind is Name or kind is Number or kind is Whole:
        return ()
    if kind is Binary:
        return (expr.left, expr.right)
    if kind is Call:
        return expr.args
    if kind is Range:
        return (expr.start, expr.stop)
    if kind is Index:
        return (expr.base, *expr.axes)
    if kind is Block:
        return tuple(block for row in expr.rows for block in row)
    return (expr.operand,)


def with_children(expr: Expr, kids: tuple[Expr, ...]) -> Expr:
    """A copy of `expr` with these sub-expressions (in children's order)."""
    kind = type(expr)
    if kind is Binary:
        return Binary(expr.op, kids[0], kids[1], expr.span, expr.op_span)
    if kind is Call:
        return Call(expr.func, tuple(kids), expr.span, expr.open_span)
    if kind is Negate or kind is Transpose:
        return kind(kids[0], expr.span, expr.op_span)
    if kind is Norm or kind is Group:
        return kind(kids[0], expr.span)
    if kind is Range:
        return Range(kids[0], kids[1], expr.span)
    if kind is Index:
        return Index(kids[0], tuple(kids[1:]), expr.span, expr.open_span)
    if kind is Block:
        rows, at = [], 0
        for row in expr.rows:
            rows.append(tuple(kids[at:at + len(row)]))
            at += len(row)
        return Block(tuple(rows), expr.span)
    return expr


def rebuild(root: Expr, rewrite) -> Expr:
    """The tree with `rewrite(node)` applied to every node, top-down: each
    node is rewritten before its sub-expressions are. Iterative, so that
    5,000 nested brackets are fine."""
    built: list[Expr] = []
    stack: list[tuple[Expr, bool]] = [(root, False)]
    while stack:
        expr, expanded = stack.pop()
        if expanded:
            count = len(children(expr))
            kids = tuple(built[len(built) - count:])
            del built[len(built) - count:]
            built.append(with_children(expr, kids))
            continue
        expr = rewrite(expr)
        stack.append((expr, True))
        stack.extend((kid, False) for kid in reversed(children(expr)))
    return built[0]


def explicit(root: Expr, written) -> str:
    """An expression with every operation in brackets, in the model's own
    notation: `a/b (c)` is `(a / b) c`. `written(span)` is the source text
    at a span, from which each operator is spelled as it was written (`∘`
    or `.*`, `ᵀ` or `'`). The whole, a call's arguments and a norm's operand
    are not bracketed again; a group prints as its operand, which brackets
    itself."""
    out: list[str] = []
    stack: list[Expr | str] = [root]
    bare = {id(root)}  # what stands alone between delimiters of its own
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        pieces = _explicit_pieces(item, written)
        if isinstance(item, (Call, Norm, Index, Block, Range)):
            bare.update(map(id, children(item)))
        elif id(item) not in bare and isinstance(item, (Binary, Negate, Transpose)):
            pieces = ["(", *pieces, ")"]
        stack.extend(reversed(pieces))
    return "".join(out)


def _explicit_pieces(expr: Expr, written) -> list[Expr | str]:
    """One node as text and the sub-expressions between it, in order."""
    kind = type(expr)
    if kind is Number:
        return [expr.text]
    if kind is Name:
        return [expr.id]
    if kind is Group:
        return [expr.operand]
    if kind is Norm:
        return ["||", expr.operand, "||"]
    if kind is Negate:
        return ["-", expr.operand]
    if kind is Transpose:
        mark = written(expr.op_span)
        return [expr.operand, "^T" if mark == "^" else mark]
    if kind is Call:
        return [expr.func.id, "(", *_separated(expr.args, ", "), ")"]
    if kind is Whole:
        return [":"]
    if kind is Range:
        return [expr.start, ":", expr.stop]
    if kind is Index:
        return [expr.base, "[", *_separated(expr.axes, ", "), "]"]
    if kind is Block:
        rows = [_separated(row, ", ") for row in expr.rows]
        return ["[", *(piece for k, row in enumerate(rows) for piece in ["; "] * (k > 0) + row), "]"]
    if expr.op == "juxtapose":
        return [expr.left, " ", expr.right]
    if expr.op in ("power", "elementwise_power"):
        mark = written(expr.op_span)
        return [expr.left, mark if expr.op == "power" else f" {mark} ", expr.right]
    return [expr.left, f" {written(expr.op_span)} ", expr.right]


def _separated(items, separator: str) -> list:
    pieces: list = []
    for index, item in enumerate(items):
        pieces += [separator] * (index > 0) + [item]
    return pieces


# ----------------------------------------------------------------- statements

@node
class Dim:
    """A dimension as written in a type: a symbol (`n`), a whole number, or
    sums and products of them (`5 d`, `n + m`), as Name, Number and Binary
    (add, sub, juxtapose, star) nodes."""

    expr: Expr
    span: Span


@node
class TypeExpr:
    """`R` (no dims), `R^n` (one dim: a column vector) or `R^(n x m)` (two);
    with `ids`, the (lowest, highest) of `{0..C-1}`: integer ids, one (no
    dims) or a vector of them (one dim)."""

    dims: tuple[Dim, ...]
    span: Span
    ids: tuple[Dim, Dim] | None = None


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
    """`grad s wrt ...`, `hessian s wrt ...` or `jacobian y wrt x`: `kind`
    is the statement's word."""

    target: Name
    wrt: tuple[Name, ...] | None  # None: `wrt` omitted
    span: Span
    kind: str = "grad"


Statement = Declaration | ConstValue | Function | Definition | Grad
