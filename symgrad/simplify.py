"""Building gradient graphs already simplified.

The adjoint rules of symgrad.ops build their results through a `Builder`,
whose constructors simplify as they go:

- x + 0 = x, x - 0 = x, 0 - x = -x, x ∘ 1 = x, x ∘ 0 = 0, x / 1 = x, x.^1 = x;
- -(-x) = x, (xᵀ)ᵀ = x, and a scalar is its own transpose;
- operations on numbers alone are folded to a number;
- a node equal to one already built (same operation, same operands, same
  payload), or to one of the forward graph (`share`), is that node: common
  subexpressions are shared;
- nothing of a data dimension is formed only to scale or pick entries:
  (s I) B = s B, diag(v) B = v ∘ B, B diag(v) = B ∘ vᵀ, diag(A B) =
  rowsum(A ∘ Bᵀ), (s I)ᵀ = s I;
- no one-hot matrix is formed only to select entries (`selections`):
  sum(onehot(y, C) ∘ X) = sum(pick(X, y)), colsum(onehot(y, C) ∘ X) =
  pick(X, y), colsum(pick_scatter(h, y)) = h; and the softmax
  cross-entropy's gradient is the textbook (softmax(S) - onehot(y, C)) / N,
  its one-hot part a scatter into the fresh softmax (`log_softmax_picked`).

Every node is shape-checked by its operation's shape rule as it is built;
a rule that produces a wrong shape fails here, at compile time.
"""

from __future__ import annotations

import math

from .ir import Node
from .ops import OPS, shape_of
from .shapes import SCALAR, Dim, Shape, ShapeError, broadcast, dim_add


class InternalError(Exception):
    """A derivative rule built an ill-shaped gradient: a bug in symgrad."""


_FOLD = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b if b else None,
    "neg": lambda a: -a,
}


# The operations whose result is entries of their first operand, rearranged or not all of them.
RESHAPING = {"block", "vec", "unvec", "gather"}


def is_number(node: Node, value: float | None = None) -> bool:
    return node.op == "number" and (value is None or node.data == value)


class Builder:
    def __init__(self, partial=None):
        self._nodes: dict[tuple, Node] = {}
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
        found = self._nodes.get(key)
        if found is not None:
            return found
        if shape is None:
            try:
                shape = shape_of(name, [a.shape for a in args], data)
            except ShapeError as error:
                raise InternalError(f"the gradient rule built {name} of "
                                    f"{', '.join(str(a.shape) for a in args)}: {error.message}") from None
        if span is None:
            span = self.span or (args[0].span if args else None)
        node = Node(name, args, shape, span, data=data)
        self._nodes[key] = node
        return node

    def _simplify(self, name: str, args: tuple[Node, ...], data) -> Node | None:
        if len(args) > 1 and OPS[name].elementwise and any(a.op == "fill" for a in args):
            # An elementwise operation broadcasts by itself: g 𝟏 ∘ Y = g Y.
            unfilled = tuple(a.args[0] if a.op == "fill" else a for a in args)
            if OPS[name].shape(*(a.shape for a in unfilled)) == OPS[name].shape(*(a.shape for a in args)):
                return self.op(name, *unfilled, data=data)
        fold = _FOLD.get(name)
        if fold and args and all(is_number(a) for a in args):
            value = fold(*(a.data for a in args))
            if value is not None and math.isfinite(value):
                return self.num(value)
        if name == "add":
            a, b = args
            if self._zero(b, a.shape):
                return a
            if self._zero(a, b.shape):
                return b
        elif name == "sub":
            a, b = args
            if self._zero(b, a.shape):
                return a
            if self._zero(a, b.shape):
                return self.neg(b)
        elif name == "mul":
            a, b = args
            if a.op == "neg" or b.op == "neg":  # (-a) ∘ b = -(a ∘ b), so that signs cancel
                product = self.mul(a.args[0] if a.op == "neg" else a, b.args[0] if b.op == "neg" else b)
                return product if a.op == b.op == "neg" else self.neg(product)
            if is_number(b, 1):
                return a
            if is_number(a, 1):
                return b
            if (is_number(a, 0) or is_number(b, 0) or a.op == "zeros" or b.op == "zeros"):
                return self.zeros(broadcast(a.shape, b.shape, ""))
        elif name in ("where_gt", "where_ge") and (is_number(args[2], 0) or args[2].op == "zeros"):
            return self.zeros(broadcast(broadcast(args[0].shape, args[1].shape, ""), args[2].shape, ""))
        elif name == "matmul":
            return self._product(*args)
        elif name in ("sum", "colsum"):
            return selections(name, args[0], self.op)
        elif name == "block" and args[0].op == "block":
            # A block of a block is one block of the first: its offsets add.
            r0, _, c0, _ = args[0].data
            rows, cols = (dim_add(r0, data[0]), dim_add(r0, data[1])), (dim_add(c0, data[2]), dim_add(c0, data[3]))
            return self.op("block", args[0].args[0], data=(*rows, *cols))
        elif name in RESHAPING and (args[0].op == "zeros"
                                    or args[0].op == "fill" and args[0].args[0].shape.is_scalar):
            # A part or a reshaping of c 𝟏 (or 0) is c 𝟏 (0) of its own shape.
            shape = shape_of(name, [a.shape for a in args], data)
            return self.zeros(shape) if args[0].op == "zeros" else self.fill(args[0].args[0], shape)
        elif name == "log_softmax_grad" and args[1].op == "pick_scatter":
            return self.log_softmax_picked(*args)
        elif name == "diag_vector" and args[0].op == "matmul":
            # diag(A B) = rowsum(A ∘ Bᵀ): the diagonal's n dot products, not the n×n product.
            a, b = args[0].args
            return self.op("rowsum", self.mul(a, self.T(b)))
        elif name == "div":
            if is_number(args[1], 1):
                return args[0]
        elif name == "pow":
            if is_number(args[1], 1):
                return args[0]
        elif name == "neg":
            (a,) = args
            if a.op == "neg":
                return a.args[0]
            if a.op == "zeros":
                return a
        elif name == "transpose":
            (a,) = args
            if a.op == "transpose":
                return a.args[0]
            if a.shape.is_scalar or self._identity_scale(a) is not None or a.op == "diag_matrix":
                return a  # symmetric: (s I)ᵀ = s I, diag(v)ᵀ = diag(v)
            if a.op == "zeros":
                return self.zeros(a.shape.T)
        return None

    def log_softmax_picked(self, y: Node, g: Node) -> Node:
        """The gradient G - softmax(S) ∘ colsum(G) of y = log_softmax(S) when
        G = pick_scatter(h, y) is h at the ids (colsum(G) = h): with h = c 𝟏
        (a sum or mean of the picked log-probabilities) it is
        -c (softmax(S) - onehot(y, C)), written (softmax(S) - onehot(y, C)) / N
        for c = -1/N; else G - softmax(S) ∘ h."""
        h, ids = g.args
        probabilities = self.op("exp", y)
        negated = h.op == "neg" and h.args[0].op == "fill"
        if h.op != "fill" and not negated:
            return self.sub(g, self.mul(probabilities, h))
        ones = self.op("pick_scatter", self.fill(self.num(1), h.shape), ids, data=g.data)
        difference = self.sub(probabilities, ones)
        # the scale -c, of h = c 𝟏 or h = -(c 𝟏), its sign moved outward
        c = h.args[0].args[0] if negated else h.args[0]
        scale, sign = (c, 1) if negated else (c, -1)
        while scale.op == "neg":
            scale, sign = scale.args[0], -sign
        if scale.op == "div" and is_number(scale.args[0]):  # a / N: (a (P - Y)) / N
            scale, divisor = scale.args[0], scale.args[1]
        else:
            divisor = self.num(1)
        if is_number(scale) and scale.data < 0:
            scale, sign = self.num(-scale.data), -sign
        scaled = self.div(self.mul(scale, difference), divisor)
        return scaled if sign > 0 else self.neg(scaled)

    def _product(self, a: Node, b: Node) -> Node | None:
        """A B without forming what is only a scale or a diagonal, of a size
        that may be the data's (the gradient g I of tr(Dᵀ Σ⁻¹ D) is N×N):
        (s I) B = s B, diag(v) B = v ∘ B, B diag(v) = B ∘ vᵀ."""
        for scaled, other in ((a, b), (b, a)):
            scale = self._identity_scale(scaled)
            if scale is not None:
                return self.mul(scale, other)
        if a.op == "diag_matrix":
            return self.mul(a.args[0], b)
        if b.op == "diag_matrix":
            return self.mul(a, self.T(b.args[0]))
        return None

    def _identity_scale(self, node: Node) -> Node | None:
        """s when node is s I (I, s ∘ I, I ∘ s, -(s I)), else None. The
        signs are counted by a loop: 5,000 nested negations cost no recursion."""
        negations = 0
        while node.op == "neg":
            node, negations = node.args[0], negations + 1
        scale = None
        if node.op == "identity":
            scale = self.num(1)
        elif node.op == "mul":
            a, b = node.args
            scale = next((s for s, rest in ((a, b), (b, a)) if s.shape.is_scalar and rest.op == "identity"), None)
        return self.neg(scale) if scale is not None and negations % 2 else scale

    @staticmethod
    def _zero(node: Node, other: Shape) -> bool:
        """node is zero, and dropping it leaves the shape of the other side."""
        zero = is_number(node, 0) or node.op == "zeros"
        return zero and broadcast(node.shape, other, "") == other

    def share(self, forward: list[Node]):
        """Make the forward graph's nodes known, so that a rule that builds a
        value the forward pass has (det's and logdet's A⁻¹ beside a forward
        A⁻¹) gets that node: each inverse is computed once."""
        for node in forward:
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

def _is_one(node: Node) -> bool:
    return is_number(node, 1)


def _one_plus(node: Node, op: str) -> Node | None:
    """x when node is 1 + op(x) or op(x) + 1."""
    if node.op != "add":
        return None
    a, b = node.args
    for one, other in ((a, b), (b, a)):
        if _is_one(one) and other.op == op:
            return other.args[0]
    return None


def selections(name: str, operand: Node, build) -> Node | None:
    """name(operand) without the one-hot matrix that only selects:
    sum(onehot(y, C) ∘ X) = sum(pick(X, y)), colsum(onehot(y, C) ∘ X) =
    pick(X, y), colsum(pick_scatter(h, y)) = h; None when it is none of
    these. `build(op, *args)` makes a node."""
    if name == "colsum" and operand.op == "pick_scatter":
        return operand.args[0]
    if operand.op != "mul":
        return None
    a, b = operand.args
    for mask, x in ((a, b), (b, a)):
        if mask.shape != x.shape:
            continue
        if mask.op == "onehot":
            picked = build("pick", x, mask.args[0])
            return picked if name == "colsum" else build("sum", picked)
        # The mask of every other class: (1 - onehot(y, C)) ∘ X sums to the
        # sum of X less the picks (the multiclass SVM's margins).
        if mask.op == "sub" and _is_one(mask.args[0]) and mask.args[1].op == "onehot":
            picked = build("pick", x, mask.args[1].args[0])
            return build("sub", build(name, x), picked if name == "colsum" else build("sum", picked))
    return None


def forward_form(node: Node) -> Node:
    """A node of the forward IR as built by lowering: operations on numbers
    alone folded to a number, unstable formulas in their stable form, no
    one-hot matrix formed to select entries."""
    fold = _FOLD.get(node.op)
    if fold and node.args and all(is_number(a) for a in node.args):
        value = fold(*(a.data for a in node.args))
        if value is not None and math.isfinite(value):
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
            z = inner.args[0]
            return new("neg", new("softplus", z.args[0] if z.op == "neg" else new("neg", z)))
        if inner.op == "sub" and _is_one(inner.args[0]) and inner.args[1].op == "sigmoid":
            return new("neg", new("softplus", inner.args[1].args[0]))
        if inner.op == "softmax":
            return new("log_softmax", inner.args[0])
    if node.op == "div" and _is_one(node.args[0]):
        x = _one_plus(node.args[1], "exp")
        if x is not None and x.op == "neg" and x.shape == node.shape:
            return new("sigmoid", x.args[0])
    return node
