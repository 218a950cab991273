"""Building gradient graphs already simplified.

The adjoint rules of symgrad.ops build their results through a `Builder`,
whose constructors simplify as they go, by the named rewrites of
symgrad.rewrites (x + 0 = x, a + a = 2 a, (2 (reg / 2)) W = reg W,
sign(x) x / |x| = 1, colsum(onehot(y, C)) = 𝟏ᵀ, the softmax
cross-entropy's (softmax(S) - onehot(y, C)) / N, ...: the table says each
one); and a node equal to one already built (same operation, same operands,
same payload), or to one of the forward graph (`share`), is that node:
common subexpressions are shared.

Every node is shape-checked by its operation's shape rule as it is built;
a rule that produces a wrong shape fails here, at compile time.
"""

from __future__ import annotations

from .ir import Node
from .ops import shape_of
from .rewrites import REWRITES, by_operation, fold, is_number, selections
from .shapes import SCALAR, Dim, Shape, ShapeError, broadcast


# How many rewrites may run one inside another (each builds nodes, whose
# rewrites build nodes...); deeper, a node is built as asked.
_DEEPEST = 40


class InternalError(Exception):
    """A derivative rule built an ill-shaped gradient: a bug in symgrad."""


class Builder:
    def __init__(self, partial=None, rewrites=REWRITES):
        """`rewrites`: the table of symgrad.rewrites applied (the tests
        build without one of them, to compare)."""
        self._nodes: dict[tuple, Node] = {}
        self._rewrites = by_operation(rewrites)
        self._forward: set[int] = set()
        self._signals: set[int] = set()
        self._nesting = 0  # rewrites under way, one inside another
        self._partial = partial  # (builder, apply node, operand index) -> derivative node
        self.span = None  # where new nodes are attributed: the forward op being differentiated

    @property
    def partials(self):
        """What derives user functions (symgrad.partials.Partials), or None:
        the backends and `derive` read the derived functions from it."""
        return self._partial

    # ------------------------------------------------------------ generic
    def op(self, name: str, *args: Node, data=None, shape: Shape | None = None, span=None) -> Node:
        """The node `name(*args)`, simplified, shared and shape-checked."""
        simpler = self._simplify(name, args, data)
        if simpler is not None:
            return simpler
        key = (name, tuple(id(a) for a in args), data)
        if shape is not None:  # a leaf given its shape: a direction v of R^n is not the v of R
            key += (shape.dims(),)
        found = self._nodes.get(key)
        if found is not None:
            return found
        if shape is None:
            shape = self.shape_of(name, args, data)
        if span is None:
            span = self.span or (args[0].span if args else None)
        node = Node(name, args, shape, span, data=data)
        self._nodes[key] = node
        return node

    @staticmethod
    def shape_of(name: str, args: tuple[Node, ...], data=None) -> Shape:
        """The shape of name(*args), or InternalError: a rule built it wrong."""
        try:
            return shape_of(name, [a.shape for a in args], data)
        except ShapeError as error:
            raise InternalError(f"the gradient rule built {name} of "
                                f"{', '.join(str(a.shape) for a in args)}: {error.message}") from None

    def _simplify(self, name: str, args: tuple[Node, ...], data) -> Node | None:
        if self._nesting > _DEEPEST:  # a rewrite that builds rewrites ... of a 5,000-deep chain: no recursion
            return None
        self._nesting += 1
        try:
            for rewrite in self._rewrites.get(name, ()):
                simpler = rewrite.apply(self, name, args, data)
                if simpler is not None:
                    return simpler
            return None
        finally:
            self._nesting -= 1

    def is_forward(self, node: Node) -> bool:
        """Whether node is a value of the forward graph (`share`)."""
        return id(node) in self._forward

    def is_signal(self, node: Node) -> bool:
        """Whether node is an error signal δ that derive names (`signal`)."""
        return id(node) in self._signals

    def signal(self, node: Node):
        """Mark node the gradient of a forward value that several operands
        use: derive names it δ, so the rewrites keep it whole where it is used."""
        if not node.shape.is_scalar:
            self._signals.add(id(node))

    def share(self, forward: list[Node]):
        """Make the forward graph's nodes known, so that a rule that builds a
        value the forward pass has (det's and logdet's A⁻¹ beside a forward
        A⁻¹) gets that node: each inverse is computed once."""
        for node in forward:
            self._forward.add(id(node))
            self._nodes.setdefault((node.op, tuple(id(a) for a in node.args), node.data), node)

    # ------------------------------------------------------ the rules' API
    def num(self, value: float) -> Node:
        value = float(value)
        key = ("number", (), value)
        if key not in self._nodes:
            self._nodes[key] = Node("number", (), SCALAR, None, data=value)
        return self._nodes[key]

    def add(self, a: Node, b: Node) -> Node:
        return self.op("add", a, b)

    def sub(self, a: Node, b: Node) -> Node:
        return self.op("sub", a, b)

    def neg(self, a: Node) -> Node:
        return self.op("neg", a)

    def mul(self, a: Node, b: Node) -> Node:
        """Elementwise product (with the contract's broadcasting)."""
        return self.op("mul", a, b)

    def div(self, a: Node, b: Node) -> Node:
        return self.op("div", a, b)

    def pow(self, a: Node, b: Node) -> Node:
        return self.op("pow", a, b)

    def matmul(self, a: Node, b: Node) -> Node:
        if a.shape.is_scalar or b.shape.is_scalar:
            return self.mul(a, b)
        return self.op("matmul", a, b)

    def T(self, a: Node) -> Node:
        return self.op("transpose", a)

    def zeros(self, shape: Shape) -> Node:
        return self.op("zeros", data=shape.dims(), shape=shape)

    def eye(self, n: Dim) -> Node:
        return self.op("identity", data=n, shape=Shape(n, n))

    def size(self, shape: Shape) -> Node:
        """The number of entries of a shape, as a scalar value."""
        return self.mul(self.dim(shape.rows), self.dim(shape.cols))

    def dim(self, dim: Dim) -> Node:
        if isinstance(dim, int):
            return self.num(dim)
        return self.op("dimension", data=dim, shape=SCALAR)

    def fill(self, g: Node, shape: Shape) -> Node:
        """g (a scalar, a column or a row) spread over `shape`."""
        if g.shape == shape:
            return g
        try:
            broadcast(g.shape, shape, "fill")
        except ShapeError as error:
            raise InternalError(f"cannot spread {g.shape} over {shape}: {error.message}") from None
        return self.op("fill", g, data=shape.dims(), shape=shape)

    def sum_to(self, g: Node, shape: Shape) -> Node:
        """Undo a broadcast: sum g down to `shape` (the operand's shape).
        A bias R^n added over a batch R^(n×N) gets the row sums."""
        if g.shape == shape:
            return g
        if g.op == "fill" and g.args[0].shape == shape:
            # Summing what was spread: the value times the number of copies.
            copies = (self.size(g.shape) if shape.is_scalar
                      else self.dim(g.shape.cols if shape.cols == 1 else g.shape.rows))
            return self.mul(g.args[0], copies)
        if shape.is_scalar:
            return self.op("sum", g)
        if shape.cols == 1 and shape.rows == g.shape.rows:
            return self.op("rowsum", g)
        if shape.rows == 1 and shape.cols == g.shape.cols:
            return self.op("colsum", g)
        raise InternalError(f"a gradient of shape {g.shape} cannot be summed to {shape}")

    def partial(self, y: Node, index: int) -> Node:
        """∂f/∂(argument index) of a user function, at y's operands."""
        if self._partial is None:
            raise InternalError("no derivative source for user functions")
        return self._partial(self, y, index)


# ------------------------------------------------------------ stable forms
# Formulas that overflow or lose all precision when written the direct way,
# and their stable equivalents. Applied as the forward IR is built, so the
# derivatives are taken of the stable form too (softplus' = σ, not e^x/(1+e^x)).

def _one_plus(node: Node, op: str) -> Node | None:
    """x when node is 1 + op(x) or op(x) + 1."""
    if node.op != "add":
        return None
    a, b = node.args
    for one, other in ((a, b), (b, a)):
        if is_number(one, 1) and other.op == op:
            return other.args[0]
    return None


def _negated(z: Node, new) -> Node:
    """-z, without a negation of a negation: -(-x) = x, -((-A) B) = A B."""
    if z.op == "neg":
        return z.args[0]
    if z.op in ("mul", "matmul") and z.args[0].op == "neg":
        return Node(z.op, (z.args[0].args[0], z.args[1]), z.shape, z.span)
    return new("neg", z)


def forward_form(node: Node) -> Node:
    """A node of the forward IR as built by lowering: operations on numbers
    alone folded to a number, unstable formulas in their stable form, no
    one-hot matrix formed to select entries."""
    if node.op in ("add", "sub", "mul", "div", "neg") and node.args and all(is_number(a) for a in node.args):
        value = fold(node.op, [a.data for a in node.args])
        if value is not None:
            return Node("number", (), node.shape, node.span, data=float(value))
    if node.op in ("sum", "colsum"):
        selected = selections(node.op, node.args[0], lambda op, *args: Node(
            op, args, shape_of(op, [a.shape for a in args]), node.span))
        if selected is not None:
            return selected
    return stable_form(node)


def stable_form(node: Node) -> Node:
    """node, or an equal node that is stable where node would not be:
    log(1 + eˣ) = softplus(x), log σ(x) = -softplus(-x),
    log(1 - σ(x)) = -softplus(x), log softmax(S) = log_softmax(S),
    1 / (1 + e⁻ˣ) = σ(x)."""
    def new(op: str, *args: Node) -> Node:
        return Node(op, args, node.shape, node.span)

    if node.op == "log":
        (inner,) = node.args
        x = _one_plus(inner, "exp")
        if x is not None and x.shape == node.shape:
            return new("softplus", x)
        if inner.op == "sigmoid":  # -x of a negation -z is z: never --z
            return new("neg", new("softplus", _negated(inner.args[0], new)))
        if inner.op == "sub" and is_number(inner.args[0], 1) and inner.args[1].op == "sigmoid":
            return new("neg", new("softplus", inner.args[1].args[0]))
        if inner.op == "softmax":
            return new("log_softmax", inner.args[0])
    if node.op == "div" and is_number(node.args[0], 1):
        x = _one_plus(node.args[1], "exp")
        if x is not None and x.op == "neg" and x.shape == node.shape:
            return new("sigmoid", x.args[0])
    return node
