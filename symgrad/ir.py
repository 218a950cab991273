"""The typed IR: a DAG of single-assignment values, each with its shape.

A `Node` is one value: an operation from `symgrad.ops.OPS` applied to other
nodes. Leaves are variables (params, inputs, consts), numbers, dimensions
used as numbers, and the arguments of user functions. Every node carries its
shape and the source span it was written at. Reverse-mode differentiation
walks this graph; nothing in it refers back to the syntax tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .shapes import Dim, DimExpr, Shape, dim_add
from .source import Source, Span


@dataclass(eq=False, slots=True)
class Node:
    """One value. `data` is the payload of a leaf (a variable's or a
    dimension's name, a number's value) or the function name of `apply`.
    `name` is the model's name for the value, when a definition gave it one."""

    op: str
    args: tuple["Node", ...]
    shape: Shape
    span: Span
    data: object = None
    name: str | None = None

    def __repr__(self) -> str:
        label = self.name or (self.data if self.data is not None else self.op)
        return f"<{self.op} {label} {self.shape}>"


def postorder(roots, stop: set[int] = frozenset()) -> list[Node]:
    """Every node reachable from roots, each once, operands before users,
    not going below the nodes whose ids are in `stop`. Iterative, so that a
    chain of thousands of definitions costs no recursion."""
    order: list[Node] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            if id(node) not in stop:
                stack.extend((arg, False) for arg in reversed(node.args) if id(arg) not in seen)
    return order


def scatter_terms(node: Node, stop=frozenset()) -> list[Node]:
    """The scatters that `node` is the sum of: the gradient of a variable the
    model reads only through gathers, ∂J/∂L = Σᵢ scatter(Gᵢ, idsᵢ); [] where
    it is anything else, or where the sum reaches a node whose id is in
    `stop` (a value with a name of its own)."""
    terms, stack = [], [node]
    while stack:
        term = stack.pop()
        if id(term) in stop:
            return []
        if term.op == "add":
            stack.extend(reversed(term.args))
        elif term.op == "scatter":
            terms.append(term)
        else:
            return []
    return terms


@dataclass
class Variable:
    """A `param`, `input` or `const`. A const written `const c = 0.5` has a
    `value` and is no argument of the compiled functions. A variable of ids
    (`input y : {0..C-1}^N`) has `ids`, the count C: its entries are
    integers in 0..C-1, its shape that of a scalar (one id) or a column."""

    name: str
    kind: str
    shape: Shape
    span: Span
    node: Node
    value: float | None = None
    ids: Dim | None = None

    @property
    def type_text(self) -> str:
        """The type as a model writes it: R^(n×m), or {0..C-1}^N for ids."""
        if self.ids is None:
            return str(self.shape)
        highest = dim_add(self.ids, -1)
        ids = f"{{0..{highest}}}"
        if self.shape.is_scalar:
            return ids
        count = self.shape.rows
        return f"{ids}^{count}" if not isinstance(count, DimExpr) else f"{ids}^({count})"


@dataclass
class UserFunction:
    """`f(t) = body`: a scalar formula; `body` is built over `argument` leaves."""

    name: str
    params: tuple[str, ...]
    body: Node
    span: Span


@dataclass
class GradRequest:
    """`grad target wrt ...`: differentiate a scalar with respect to variables."""

    target: str
    node: Node
    wrt: tuple[Variable, ...]
    span: Span


@dataclass
class HessianRequest:
    """`hessian s wrt A, B`: the second derivatives of a scalar. Every
    variable is in the `grad` statement of s too (lowering adds one where
    the file has none), whose gradient the Hessian differentiates again."""

    target: str
    node: Node
    wrt: tuple[Variable, ...]
    span: Span


@dataclass
class JacobianRequest:
    """`jacobian y wrt x`: ∂y/∂x of a vector (or scalar) y by a vector (or
    scalar) x, a row per entry of y."""

    target: str
    node: Node
    variable: Variable
    span: Span


@dataclass
class Requirement:
    """A condition on the dimensions that the shapes alone do not settle
    (a block z[0:h] of z : R^n needs n - h >= 0): `dim >= minimum`, checked
    when the compiled code has bound the dimensions. `message` says what is
    required, as the model wrote it; `span` is where."""

    dim: Dim
    minimum: int
    message: str
    span: Span


@dataclass
class Program:
    """A checked model: everything later stages need, nothing from the syntax."""

    source: Source
    dims: dict[str, Span] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    functions: dict[str, UserFunction] = field(default_factory=dict)
    definitions: dict[str, Node] = field(default_factory=dict)
    grads: list[GradRequest] = field(default_factory=list)
    hessians: list[HessianRequest] = field(default_factory=list)
    jacobians: list[JacobianRequest] = field(default_factory=list)
    # Conditions on the dimensions left to the run time (blocks, mostly).
    requirements: list[Requirement] = field(default_factory=list)
    # Functions called but never defined (allowed only when asked, for `derive`):
    undefined_functions: dict[str, Span] = field(default_factory=dict)

    @property
    def arguments(self) -> list[Variable]:
        """The compiled functions' arguments: every variable without a value,
        in declaration order."""
        return [v for v in self.variables.values() if v.value is None]
