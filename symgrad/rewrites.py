"""The rewrite table: every simplification the gradient builder applies.

Each `Rewrite` has a name, the operations it applies to, its pattern as the
notes would write it, and the function that applies it. `Builder.op`
(symgrad.simplify) tries the rewrites of an operation in the table's
order before building a node; the first that returns a node gives the node
built instead. Every rewrite is an identity of the values (where the
original is defined: x / x = 1 needs x ≠ 0, as the division does), so the
compiled code computes the same gradients; tests/test_rewrites.py proves
each one exactly, with SymPy, against the graph built without it.

A rewrite's function is `apply(b, name, args, data)`: the builder `b`
(whose `op`, `mul`, `num`, ... build simplified nodes again), and the
operation, operands and payload of the node asked for. It returns the
node to use, or None where the pattern does not match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from .ir import Node
from .ops import OPS, shape_of
from .shapes import ShapeError, broadcast, dim_add

# The operations whose result is entries of their first operand, rearranged or not all of them.
RESHAPING = ("block", "vec", "unvec", "gather")

_FOLD = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b if b else None,
    "neg": lambda a: -a,
}


@dataclass(frozen=True)
class Rewrite:
    name: str
    ops: tuple[str, ...]      # the operations it applies to ("*": every elementwise operation of 2+ operands)
    pattern: str              # the identity, as the notes write it
    apply: Callable


def is_number(node: Node, value: float | None = None) -> bool:
    return node.op == "number" and (value is None or node.data == value)


def _negation(b, node: Node) -> bool:
    """node is -x, and not an error signal δ that derive names: taking a
    named signal apart would write its formula where the notes write δ."""
    return node.op == "neg" and not b.is_signal(node)


def _zero(node: Node) -> bool:
    return is_number(node, 0) or node.op == "zeros"


def _zero_leaving(node: Node, other) -> bool:
    """node is zero, and dropping it leaves the shape of the other side."""
    return _zero(node) and broadcast(node.shape, other, "") == other


def fold(name: str, values) -> float | None:
    """name applied to numbers, or None where it has no finite value."""
    value = _FOLD[name](*values)
    return value if value is not None and math.isfinite(value) else None


# ------------------------------------------------------------ the rules

def _broadcast_itself(b, name, args, data):
    if len(args) < 2 or not any(a.op == "fill" for a in args):
        return None
    unfilled = tuple(a.args[0] if a.op == "fill" else a for a in args)
    try:
        spreads = OPS[name].shape(*(a.shape for a in unfilled)) == OPS[name].shape(*(a.shape for a in args))
    except ShapeError:  # a column and a row, each filled: only the fills make them meet
        return None
    return b.op(name, *unfilled, data=data) if spreads else None


def _fold_numbers(b, name, args, data):
    if not args or not all(is_number(a) for a in args):
        return None
    value = fold(name, [a.data for a in args])
    return None if value is None else b.num(value)


def _plus_zero(b, name, args, data):
    a, c = args
    if _zero_leaving(c, a.shape):
        return a
    if _zero_leaving(a, c.shape):
        return c if name == "add" else b.neg(c)
    return None


def _sign_outward(b, name, args, data):
    a, c = args
    if a.op != "neg" and c.op != "neg":
        return None
    product = b.op(name, a.args[0] if a.op == "neg" else a, c.args[0] if c.op == "neg" else c)
    return product if a.op == c.op == "neg" else b.neg(product)


def _sign_out_of_product(b, name, args, data):
    """(-A) B = -(A B), A / (-c) = -(A / c): the sign meets a sum higher up.
    A named error signal δ = -x stays δ."""
    a, c = args
    if not (_negation(b, a) or _negation(b, c)):
        return None
    product = b.op(name, a.args[0] if _negation(b, a) else a, c.args[0] if _negation(b, c) else c)
    return product if _negation(b, a) and _negation(b, c) else b.neg(product)


def _times_one_or_zero(b, name, args, data):
    a, c = args
    if is_number(c, 1):
        return a
    if is_number(a, 1):
        return c
    if _zero(a) or _zero(c):
        return b.zeros(broadcast(a.shape, c.shape, ""))
    return None


def _gate_of_zero(b, name, args, data):
    if not _zero(args[2]):
        return None
    return b.zeros(broadcast(broadcast(args[0].shape, args[1].shape, ""), args[2].shape, ""))


def _identity_scale(b, node: Node) -> Node | None:
    """s when node is s I (I, s ∘ I, I ∘ s, -(s I)), else None. The
    signs are counted by a loop: 5,000 nested negations cost no recursion."""
    negations = 0
    while node.op == "neg":
        node, negations = node.args[0], negations + 1
    scale = None
    if node.op == "identity":
        scale = b.num(1)
    elif node.op == "mul":
        a, c = node.args
        scale = next((s for s, rest in ((a, c), (c, a)) if s.shape.is_scalar and rest.op == "identity"), None)
    return b.neg(scale) if scale is not None and negations % 2 else scale


def _diagonal_of_identity(b, name, args, data):
    """v ∘ I = diag(v) for a vector v (a column, or a row spread down the
    rows): the batched Jacobian's σ'(z) ∘ I, never an n×n product formed."""
    a, c = args
    for vector, identity in ((a, c), (c, a)):
        if identity.op == "identity" and not vector.shape.is_scalar and 1 in vector.shape.dims():
            column = vector if vector.shape.cols == 1 else b.T(vector)
            return b.op("diag_matrix", column)
    return None


def _identity_added(b, name, args, data):
    """A + s I = A with s added on its diagonal (A - s I, s I + A, s I - A
    too): the Hessian's + λ I, never an identity formed."""
    a, c = args
    for matrix, scaled, sign in ((a, c, 1), (c, a, -1 if name == "sub" else 1)):
        scale = _identity_scale(b, scaled)
        if scale is None or matrix.shape != scaled.shape or _identity_scale(b, matrix) is not None:
            continue
        if name == "sub" and scaled is c:
            scale = b.neg(scale)
        if sign < 0:  # s I - A = -A + s I
            matrix = b.neg(matrix)
        return b.op("add_diagonal", matrix, scale)
    return None


def _scale_products(b, name, args, data):
    """A B without forming what is only a scale or a diagonal, of a size
    that may be the data's (the gradient g I of tr(Dᵀ Σ⁻¹ D) is N×N)."""
    a, c = args
    for scaled, other in ((a, c), (c, a)):
        scale = _identity_scale(b, scaled)
        if scale is not None:
            return b.mul(scale, other)
    if a.op == "diag_matrix":
        return b.mul(a.args[0], c)
    if c.op == "diag_matrix":
        return b.mul(a, b.T(c.args[0]))
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
    a, c = operand.args
    for mask, x in ((a, c), (c, a)):
        if mask.shape != x.shape:
            continue
        if mask.op == "onehot":
            picked = build("pick", x, mask.args[0])
            return picked if name == "colsum" else build("sum", picked)
        # The mask of every other class: (1 - onehot(y, C)) ∘ X sums to the
        # sum of X less the picks (the multiclass SVM's margins).
        if mask.op == "sub" and is_number(mask.args[0], 1) and mask.args[1].op == "onehot":
            picked = build("pick", x, mask.args[1].args[0])
            return build("sub", build(name, x), picked if name == "colsum" else build("sum", picked))
    return None


def _selections(b, name, args, data):
    return selections(name, args[0], b.op)


def _one_hot_sums(b, name, args, data):
    (a,) = args
    if a.op != "onehot":
        return None
    if name == "colsum":
        return b.fill(b.num(1), shape_of("colsum", [a.shape]))
    return b.dim(a.shape.cols)


def _block_of_block(b, name, args, data):
    inner = args[0]
    if inner.op != "block":
        return None
    r0, _, c0, _ = inner.data
    rows, cols = (dim_add(r0, data[0]), dim_add(r0, data[1])), (dim_add(c0, data[2]), dim_add(c0, data[3]))
    return b.op("block", inner.args[0], data=(*rows, *cols))


def _part_of_constant(b, name, args, data):
    a = args[0]
    if not (a.op == "zeros" or a.op == "fill" and a.args[0].shape.is_scalar):
        return None
    shape = shape_of(name, [x.shape for x in args], data)
    return b.zeros(shape) if a.op == "zeros" else b.fill(a.args[0], shape)


def _softmax_labels(b, name, args, data):
    y, g = args
    if g.op == "pick_scatter":
        return _log_softmax_picked(b, y, g)
    h, ids = g.args if g.op == "scatter" else (None, None)
    if h is None or not (ids.shape.is_scalar and h.shape.is_scalar and y.shape.cols == 1 and g.data[0] == "rows"):
        return None
    # G = h at one id o of a column (colsum(G) = h): G - softmax(s) h = -h (softmax(s) - e_o)
    one = b.op("scatter", b.num(1), ids, data=g.data)
    return b.mul(b.neg(h), b.sub(b.op("exp", y), one))


def _log_softmax_picked(b, y: Node, g: Node) -> Node:
    """The gradient G - softmax(S) ∘ colsum(G) of y = log_softmax(S) when
    G = pick_scatter(h, y) is h at the ids (colsum(G) = h): with h = c 𝟏
    (a sum or mean of the picked log-probabilities) it is
    -c (softmax(S) - onehot(y, C)), written (softmax(S) - onehot(y, C)) / N
    for c = -1/N; else G - softmax(S) ∘ h."""
    h, ids = g.args
    probabilities = b.op("exp", y)
    negated = h.op == "neg" and h.args[0].op == "fill"
    if h.op != "fill" and not negated:
        return b.sub(g, b.mul(probabilities, h))
    ones = b.op("pick_scatter", b.fill(b.num(1), h.shape), ids, data=g.data)
    difference = b.sub(probabilities, ones)
    # the scale -c, of h = c 𝟏 or h = -(c 𝟏), its sign moved outward
    c = h.args[0].args[0] if negated else h.args[0]
    scale, sign = (c, 1) if negated else (c, -1)
    while scale.op == "neg":
        scale, sign = scale.args[0], -sign
    if scale.op == "div" and is_number(scale.args[0]):  # a / N: (a (P - Y)) / N
        scale, divisor = scale.args[0], scale.args[1]
    else:
        divisor = b.num(1)
    if is_number(scale) and scale.data < 0:
        scale, sign = b.num(-scale.data), -sign
    scaled = b.div(b.mul(scale, difference), divisor)
    return scaled if sign > 0 else b.neg(scaled)


def _diagonal_of_product(b, name, args, data):
    a = args[0]
    if a.op != "matmul":
        return None
    left, right = a.args
    return b.op("rowsum", b.mul(left, b.T(right)))


def _by_one(b, name, args, data):
    return args[0] if is_number(args[1], 1) else None


def _double_negation(b, name, args, data):
    (a,) = args
    if a.op == "neg" or a.op == "zeros":
        return a.args[0] if a.op == "neg" else a
    if a.op == "fill" and is_number(a.args[0]):
        return b.fill(b.num(-a.args[0].data), a.shape)
    if a.op == "mul" and is_number(a.args[0], -1):
        return a.args[1]
    return None


def _negated_difference(b, name, args, data):
    """-(a - b) = b - a."""
    (a,) = args
    return b.sub(a.args[1], a.args[0]) if _difference(b, a) else None


def _difference(b, node: Node) -> bool:
    """node is a - c of the gradient graph: one of the forward graph is
    not computed again as c - a (its negation meets a sum higher up, free)."""
    return node.op == "sub" and not b.is_forward(node) and not b.is_signal(node)


def _transposes(b, name, args, data):
    (a,) = args
    if a.op == "transpose":
        return a.args[0]
    if a.shape.is_scalar or _identity_scale(b, a) is not None or a.op == "diag_matrix":
        return a  # symmetric: (s I)ᵀ = s I, diag(v)ᵀ = diag(v)
    if a.op == "zeros":
        return b.zeros(a.shape.T)
    return None


def _negation_outward(b, name, args, data):
    """A sum or transpose of -x is -(that of x): the sign meets a sum or a
    difference higher up (not a scatter's: it would negate the larger result)."""
    (a,) = args
    return b.neg(b.op(name, a.args[0], data=data)) if _negation(b, a) else None


def _axis_sums(b, name, args, data):
    """colsum of a column, rowsum of a row: its sum; rowsum of a column,
    colsum of a row: itself; colsum(diag(d)) = dᵀ, rowsum(diag(d)) = d
    (what a Hessian or Jacobian taken at the identity's columns leaves)."""
    (a,) = args
    keeps = a.shape.cols == 1 if name == "rowsum" else a.shape.rows == 1
    if keeps:
        return a
    if a.shape.cols == 1 or a.shape.rows == 1:
        return b.op("sum", a)
    if a.op == "diag_matrix":
        return a.args[0] if name == "rowsum" else b.T(a.args[0])
    return None


SCATTERS = ("pick_scatter", "scatter")


def _plus_negation(b, name, args, data):
    """a + (-c) = a - c, a - (-c) = a + c, (-a) - c = -(a + c);
    a + scatter(-c) = a - scatter(c) (not of two scatters: derive writes
    each scattered part of an embedding's gradient on its own line)."""
    a, c = args
    adding = name == "add"
    if _negation(b, c):
        return b.op("sub" if adding else "add", a, c.args[0])
    if c.op in SCATTERS and _negation(b, c.args[0]) and a.op not in SCATTERS:  # the backends add one in place
        unnegated = b.op(c.op, c.args[0].args[0], *c.args[1:], data=c.data)
        return b.op("sub" if adding else "add", a, unnegated)
    if _negation(b, a) and not adding:  # -a + c stays in its order: --steps adds the paths in it
        return b.neg(b.add(a.args[0], c))
    return None


# -------------------------------------------- numbers through products

# How deep a product is searched for numbers, and for cancelling factors.
_DEPTH = 6
_SCALING = ("mul", "matmul", "div", "neg", "transpose")


def _exact(value: float) -> Fraction | None:
    """A number as written (0.1 is 1/10), as the tests' SymPy reads it."""
    return Fraction(repr(value)) if math.isfinite(value) else None


def _kept(b, node: Node) -> bool:
    """A value not taken apart: a forward one other than a scalar (it would
    be computed again)."""
    return not node.shape.is_scalar and b.is_forward(node)


def _scaling(b, node: Node, depth: int, build: bool = True):
    """(c, count, rest): node = c rest, c the product of the numbers found
    in node's products, quotients and negations (count: how many, other
    than ±1), rest node without them (None: node is c; also always None
    where not `build`, which only counts). A forward value other than a
    scalar is not taken apart: rebuilding it would compute it again."""
    if node.op == "number":
        c = _exact(node.data)
        if c is not None and c != 0:
            return c, int(abs(c) != 1), None
    if depth == 0 or node.op not in _SCALING or _kept(b, node):
        return Fraction(1), 0, node if build else None
    parts = [_scaling(b, a, depth - 1, build) for a in node.args]
    count = sum(p[1] for p in parts)
    if node.op in ("neg", "transpose"):
        c, _, rest = parts[0]
        if node.op == "neg":
            return -c, count, rest
        return c, count, None if rest is None else b.T(rest)
    (ca, _, ra), (cc, _, rc) = parts
    c = ca / cc if node.op == "div" else ca * cc
    if not build or rc is None:
        return c, count, ra
    if node.op == "div":
        return c, count, b.div(b.num(1) if ra is None else ra, rc)
    if ra is None:
        return c, count, rc
    return c, count, b.op(node.op, ra, rc) if node.op == "mul" else b.matmul(ra, rc)


def _scaled(b, c: Fraction, rest: Node) -> Node:
    """c rest, the number written as the notes would: rest, 2 rest, rest / 2,
    0.1 rest, (3 rest) / 7, negated as -(...)."""
    if c == 0:
        return b.zeros(rest.shape)
    m = abs(c)
    if m == 1:
        result = rest
    elif m.denominator == 1:
        result = b.mul(b.num(m.numerator), rest)
    elif m.numerator == 1:
        result = b.div(rest, b.num(m.denominator))
    elif _exact(float(m)) == m:
        result = b.mul(b.num(float(m)), rest)
    else:
        result = b.div(b.mul(b.num(m.numerator), rest), b.num(m.denominator))
    return b.neg(result) if c < 0 else result


def _gather_numbers(b, name, args, data):
    """The numbers of a product or quotient as one factor in front: the
    rule is tried where two or more meet, or where they cancel to ±1."""
    parts = [_scaling(b, a, _DEPTH - 1, build=False) for a in args]
    count = sum(p[1] for p in parts)
    if count == 0:
        return None
    c = parts[0][0] / parts[1][0] if name == "div" else parts[0][0] * parts[1][0]
    m = abs(c)
    if count < 2 and m != 1 or 1 not in (m.numerator, m.denominator) and _exact(float(m)) != m:
        return None  # one number already in front, or one that `_scaled` writes as a product and a quotient
    node = Node(name, args, b.shape_of(name, args, data), None, data=data)
    c, _, rest = _scaling(b, node, _DEPTH)
    if rest is None:
        return None
    result = _scaled(b, c, rest)
    return result if result.shape == node.shape else None


# ------------------------------------------------------ like terms

# A longer sum (hundreds of layers' shares) is not searched for like terms.
_MOST_TERMS = 16


def _terms(b, node: Node) -> list[tuple[int, Node]] | None:
    """node as a signed list of terms, through the builder's sums,
    differences and negations (at most _MOST_TERMS; None beyond)."""
    terms, stack = [], [(1, node)]
    while stack:
        sign, term = stack.pop()
        if term.op in ("add", "sub", "neg") and not _kept(b, term) and term.shape == node.shape:
            if term.op == "neg":
                stack.append((-sign, term.args[0]))
            else:
                stack.append((sign if term.op == "add" else -sign, term.args[1]))
                stack.append((sign, term.args[0]))
        else:
            terms.append((sign, term))
        if len(terms) + len(stack) > _MOST_TERMS:
            return None
    return terms


def _number_and_term(term: Node) -> tuple[Fraction, Node]:
    """(c, x) for term = c x with c a number in front (c = 1 otherwise)."""
    if term.op == "mul" and is_number(term.args[0]) and _exact(term.args[0].data) is not None:
        return _exact(term.args[0].data), term.args[1]
    if term.op == "div" and is_number(term.args[1]) and _exact(term.args[1].data):
        return 1 / _exact(term.args[1].data), term.args[0]
    return Fraction(1), term


def _like_terms(b, name, args, data):
    """Equal terms of a sum merged, their numbers added: a + a = 2 a,
    a + b - a = b, 2 a + a / 2 = 2.5 a."""
    shape = b.shape_of(name, args)
    signed = []
    for sign, arg in ((1, args[0]), (1 if name == "add" else -1, args[1])):
        found = _terms(b, arg) if arg.shape == shape else [(1, arg)]
        if found is None:
            return None
        signed += [(sign * s, t) for s, t in found]
    groups: dict[int, list] = {}
    for sign, term in signed:
        c, x = _number_and_term(term)
        groups.setdefault(id(x), [Fraction(0), x, 0])
        group = groups[id(x)]
        group[0] += sign * c
        group[2] += 1
    if all(count == 1 for _, _, count in groups.values()):
        return None
    total = None
    for c, x, _ in groups.values():
        if c == 0:
            continue
        if total is None:
            total = _scaled(b, c, x)
        elif c < 0:
            total = b.sub(total, _scaled(b, -c, x))
        else:
            total = b.add(total, _scaled(b, c, x))
    if total is None:
        return b.zeros(shape)
    return b.fill(total, shape) if total.shape != shape else total


def _over(b, node: Node, depth: int = 3):
    """(D, p, x) for node = p x / D with D a scalar other than a number
    (x None: node is p / D), else None. A one-hot matrix scaled,
    pick'(s 𝟏, y), is s onehot(y, C). Searched `depth` operations deep."""
    if depth == 0:
        return None
    if node.op == "neg":
        found = _over(b, node.args[0], depth - 1)
        return None if found is None else (found[0], -found[1], found[2])
    if node.op == "fill" and node.args[0].shape.is_scalar:
        return _over(b, node.args[0], depth - 1)
    if node.op == "pick_scatter" and node.args[0].op == "fill" and node.args[0].args[0].shape.is_scalar:
        found = _over(b, node.args[0].args[0], depth - 1)
        if found is not None and found[2] is None:
            ones = b.op("pick_scatter", b.fill(b.num(1), node.args[0].shape), node.args[1], data=node.data)
            return found[0], found[1], ones
    if node.op == "div" and node.args[1].shape.is_scalar and not is_number(node.args[1]):
        top, below = node.args
        if is_number(top) and _exact(top.data) is not None:
            return below, _exact(top.data), None
        return below, Fraction(1), top
    if node.op == "mul":
        for scale, x in (node.args, node.args[::-1]):
            found = _over(b, scale, depth - 1) if scale.shape.is_scalar else None
            if found is not None and found[2] is None:
                return found[0], found[1], x
    return None


def _common_denominator(b, name, args, data):
    """p x / D ± q y / D = (p x ± q y) / D: (-1 / N) onehot(y, C) + 1 / N = (1 - onehot(y, C)) / N."""
    found = [_over(b, a) for a in args]
    if None in found or found[0][0] is not found[1][0]:
        return None
    (below, p, x), (_, q, y) = found
    if x is None and y is None:
        return None
    shape = b.shape_of(name, args)
    x, y = b.num(1) if x is None else x, b.num(1) if y is None else y
    if name == "add" and p < 0 < q:  # -x + y = y - x
        p, q, x, y, name = q, -p, y, x, "sub"
    result = b.div(b.op(name, _scaled(b, p, x), _scaled(b, q, y)), below)
    return result if result.shape == shape else None


def _tiles(b, name, args, data):
    """A sum of parts placed at rows (columns) that tile the whole is their
    stack: unblock(A, [0:h]) + unblock(B, [h:2 h]) = [A; B] (the LSTM's
    gates), one block after another, not each placed among zeros."""
    shape = b.shape_of(name, args)
    terms = []
    for arg in args:
        found = _terms(b, arg) if arg.shape == shape else None
        if found is None or any(sign < 0 or t.op != "unblock" for sign, t in found):
            return None
        terms += found
    for axis, stack in (("rows", "vstack"), ("cols", "hstack")):
        across = "cols" if axis == "rows" else "rows"
        start = 0 if axis == "rows" else 1
        if any(t.data[1 - start] != 0 or getattr(t.args[0].shape, across) != getattr(shape, across)
               for _, t in terms):
            continue
        parts = sorted((t for _, t in terms), key=lambda t: str(t.data[start]))
        placed, ordered = 0, []
        while parts:
            following = next((t for t in parts if dim_add(t.data[start], placed, -1) == 0), None)
            if following is None:
                break
            parts.remove(following)
            ordered.append(following.args[0])
            placed = dim_add(placed, getattr(following.args[0].shape, axis))
        if not parts and dim_add(placed, getattr(shape, axis), -1) == 0:
            return b.op(stack, *ordered)
    return None


# -------------------------------------------- cancelling scalar factors

def _factors(node: Node, depth: int, numerator: list, denominator: list):
    """A scalar product and quotient as its factors above and below the line."""
    if depth > 0 and node.op in ("mul", "div") and node.shape.is_scalar and all(
            a.shape.is_scalar for a in node.args):
        a, c = node.args
        _factors(a, depth - 1, numerator, denominator)
        _factors(c, depth - 1, denominator, numerator) if node.op == "div" else \
            _factors(c, depth - 1, numerator, denominator)
    else:
        numerator.append(node)


def _cancel(b, name, args, data):
    """sign(x) x = |x|, and a factor above and below the line of a scalar
    product cancels: (1 / |det X|) sign(det X) det X = 1."""
    if not all(a.shape.is_scalar for a in args):
        return None
    numerator, denominator = [], []
    for index, arg in enumerate(args):
        below = name == "div" and index == 1
        _factors(arg, _DEPTH, denominator if below else numerator, numerator if below else denominator)
    changed = False
    for sign in [f for f in numerator if f.op == "sign"]:
        partner = next((f for f in numerator if f is sign.args[0]), None)
        if partner is not None and sign in numerator:
            numerator.remove(partner)
            numerator[numerator.index(sign)] = b.op("abs", sign.args[0])
            changed = True
    for factor in list(denominator):
        if any(f is factor for f in numerator) and not is_number(factor):
            numerator.pop(next(i for i, f in enumerate(numerator) if f is factor))
            denominator.remove(factor)
            changed = True
    if not changed:
        return None
    above = _product(b, numerator)
    return above if not denominator else b.div(above, _product(b, denominator))


def _product(b, factors: list[Node]) -> Node:
    result = b.num(1)
    for factor in factors:
        result = b.mul(result, factor)
    return result


# ------------------------------------------------------------ the table
_ELEMENTWISE_MANY = "*"

REWRITES: tuple[Rewrite, ...] = (
    Rewrite("broadcast by itself", (_ELEMENTWISE_MANY,),
            "an elementwise operation spreads by itself: g 𝟏 ∘ Y = g Y", _broadcast_itself),
    Rewrite("numbers folded", tuple(_FOLD), "operations on numbers alone are a number: 2 ∘ 3 = 6", _fold_numbers),
    Rewrite("zero added", ("add", "sub"), "x + 0 = x, x - 0 = x, 0 - x = -x", _plus_zero),
    Rewrite("sum with a negation", ("add", "sub"),
            "a + (-c) = a - c, a - (-c) = a + c, (-a) - c = -(a + c), a + scatter(-c) = a - scatter(c)",
            _plus_negation),
    Rewrite("like terms", ("add", "sub"),
            "equal terms merged, their numbers added: a + a = 2 a, a + b - a = b", _like_terms),
    Rewrite("parts that tile", ("add",), "unblock(A, [0:h]) + unblock(B, [h:2 h]) = [A; B] (rows or columns)",
            _tiles),
    Rewrite("common denominator", ("add", "sub"), "p x / D ± q y / D = (p x ± q y) / D",
            _common_denominator),
    Rewrite("sign outward", ("mul",), "(-a) ∘ b = -(a ∘ b), so that signs cancel", _sign_outward),
    Rewrite("sign out of a product", ("matmul", "div"), "(-A) B = -(A B), (-a) / c = -(a / c)",
            _sign_out_of_product),
    Rewrite("times one or zero", ("mul",), "x ∘ 1 = x, x ∘ 0 = 0", _times_one_or_zero),
    Rewrite("diagonal of an identity", ("mul",), "v ∘ I = diag(v) for a vector v", _diagonal_of_identity),
    Rewrite("identity added", ("add", "sub"), "A + s I = A with s added on the diagonal (add_diagonal)",
            _identity_added),
    Rewrite("numbers gathered", ("mul", "matmul", "div"),
            "the numbers of a product or quotient meet in front: (2 (reg / 2)) W = reg W, "
            "2 ((a / (2 s)) B) = (a / s) B", _gather_numbers),
    Rewrite("factors cancelled", ("mul", "div"),
            "sign(x) x = |x|, x / x = 1: (((1 / |det X|) sign(det X)) det X) = 1", _cancel),
    Rewrite("gate of zero", ("where_gt", "where_ge"), "x ∘ [a > b] = 0 for x = 0", _gate_of_zero),
    Rewrite("scale and diagonal products", ("matmul",),
            "(s I) B = s B, diag(v) B = v ∘ B, B diag(v) = B ∘ vᵀ", _scale_products),
    Rewrite("negation outward", ("sum", "rowsum", "colsum", "transpose"),
            "sum(-x) = -sum(x), (-x)ᵀ = -xᵀ", _negation_outward),
    Rewrite("selections", ("sum", "colsum"),
            "sum(onehot(y, C) ∘ X) = sum(pick(X, y)), colsum(onehot(y, C) ∘ X) = pick(X, y), "
            "colsum(pick'(h, y)) = h", _selections),
    Rewrite("sums along an axis", ("rowsum", "colsum"),
            "colsum(x) = sum(x) of a column x, rowsum(x) = x, colsum(diag(d)) = dᵀ, rowsum(diag(d)) = d",
            _axis_sums),
    Rewrite("one-hot sums", ("colsum", "sum"), "colsum(onehot(y, C)) = 𝟏ᵀ, sum(onehot(y, C)) = N", _one_hot_sums),
    Rewrite("block of a block", ("block",), "A[a:b, c:d][e:f, g:h] = A[a + e:a + f, c + g:c + h]",
            _block_of_block),
    Rewrite("part of a constant", RESHAPING, "a part or reshaping of c 𝟏 (of 0) is c 𝟏 (0)", _part_of_constant),
    Rewrite("softmax cross-entropy of labels", ("log_softmax_grad",),
            "G - softmax(S) ∘ colsum(G) = (softmax(S) - onehot(y, C)) / N for G = -pick'(𝟏, y) / N; "
            "= softmax(s) - e_o for G = -e_o (the label o of one column)",
            _softmax_labels),
    Rewrite("diagonal of a product", ("diag_vector",), "diag(A B) = rowsum(A ∘ Bᵀ)", _diagonal_of_product),
    Rewrite("by one", ("div", "pow"), "x / 1 = x, x.^1 = x", _by_one),
    Rewrite("negated difference", ("neg",), "-(a - b) = b - a",
            _negated_difference),
    Rewrite("double negation", ("neg",), "-(-x) = x, -0 = 0, -((-1) x) = x, -(c 𝟏) = (-c) 𝟏", _double_negation),
    Rewrite("transposes", ("transpose",), "(xᵀ)ᵀ = x, sᵀ = s, (s I)ᵀ = s I, diag(v)ᵀ = diag(v), 0ᵀ = 0",
            _transposes),
)


def by_operation(rewrites=REWRITES) -> dict[str, tuple[Rewrite, ...]]:
    """The rewrites of each operation, in the table's order."""
    table: dict[str, list[Rewrite]] = {}
    for name, op in OPS.items():
        for rewrite in rewrites:
            many = _ELEMENTWISE_MANY in rewrite.ops and op.elementwise and op.arity != 1
            if name in rewrite.ops or many:
                table.setdefault(name, []).append(rewrite)
    return {name: tuple(found) for name, found in table.items()}
