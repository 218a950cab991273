"""The operator table: one entry per IR operation.

Each entry says how many operands the operation takes and its shape rule
(operand shapes to result shape, or ShapeError). Everything the compiler
knows about an operation is added to its entry here, so adding an
operation touches this one place.

`BUILTINS` maps the function names a model may call to their operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import shapes
from .shapes import SCALAR, Shape, ShapeError


@dataclass(frozen=True)
class Op:
    """One operation. `vjp` holds one adjoint rule per operand:
    `rule(b, y, g)` returns the operand's share of the gradient, given the
    graph builder `b` (symgrad.simplify.Builder), the node `y` of this
    operation (its operands are `y.args`) and the gradient `g` of the
    output, of `y`'s shape. A share of a broadcast operand may have the
    output's shape; the caller sums it down to the operand's shape. A rule
    of None means the operand gets no gradient (a step, a comparison)."""

    name: str
    arity: int | None                 # None: any number (user functions)
    shape: Callable[..., Shape]        # shape(*operand_shapes) -> result shape
    vjp: tuple[Callable | None, ...] | Callable | None = None
    elementwise: bool = False          # acts entry by entry (allowed in a function body)
    symbol: str = ""                   # how the operation is written in the language
    # A fused operation of gradient graphs, which the backend computes in one
    # stable step, is this expression of plain operations (expansion(*args)
    # builds it): derive prints it so, and the tests evaluate it so.
    expansion: Callable | None = None
    # Written by the backends' writers as a name or a literal: no printer rule.
    printed_by_writer: bool = False
    # Its value may be an operand itself or a view of one (never handed back uncopied).
    view: bool = False
    # Its derivative jumps where its argument crosses a point (the gradient
    # checker compares there with care): relu, abs, max, ...
    kink: bool = False
    # The operand values it is defined for, where not all: "positive",
    # "invertible", "positive determinant" (the checker draws inputs there).
    domain: str = ""
    # Its shape depends on its payload too: shape(*operand_shapes, data).
    shaped_by_data: bool = False
    # How a value linear in a direction is taken over k directions at once
    # (symgrad.second_order.batched): `batch(b, y, B)`, B one entry per
    # operand, the batched operand (vec(x) of each direction as a column of
    # an (entries × k) matrix) or None where it does not depend on the
    # directions; returns y batched so, or None where it cannot be (a matrix).
    batch: Callable | None = None


OPS: dict[str, Op] = {}


def define(name: str, arity: int | None, shape: Callable[..., Shape], vjp=None, **kwargs) -> Op:
    op = Op(name, arity, shape, vjp, **kwargs)
    OPS[name] = op
    return op


def shape_of(name: str, shapes, data=None) -> Shape:
    """The shape of name(operands of `shapes`) with payload `data`, or ShapeError."""
    op = OPS[name]
    return op.shape(*shapes, data) if op.shaped_by_data else op.shape(*shapes)


def _same(a: Shape) -> Shape:
    return a


def _broadcast(symbol: str):
    return lambda *operands: _fold_broadcast(operands, symbol)


def _fold_broadcast(operands, what: str) -> Shape:
    result = operands[0]
    for operand in operands[1:]:
        result = shapes.broadcast(result, operand, what)
    return result


def _to_scalar(*operands: Shape) -> Shape:
    return SCALAR


def _square_to_scalar(what: str):
    def rule(a: Shape) -> Shape:
        shapes.square(a, what)
        return SCALAR
    return rule


def _vector(what: str):
    def rule(a: Shape) -> Shape:
        if a.cols != 1 or a.is_scalar:
            raise ShapeError(f"{what} needs a column vector, got {a} {a.brackets}",
                             "diag(A) of a square matrix gives its diagonal; diag(v) of a vector a matrix")
        return Shape(a.rows, a.rows)
    return rule


def _diagonal(a: Shape) -> Shape:
    shapes.square(a, "diag")
    return shapes.column(a.rows)


def _row_of_columns(a: Shape) -> Shape:
    return Shape(1, a.cols)


def _column_of_rows(a: Shape) -> Shape:
    return Shape(a.rows, 1)


def plain(op: str, *args):
    """The node op(*args) as written (no simplification), for the expansions
    of fused operations; plain("number") is the number 1."""
    from .ir import Node
    if op == "number":
        return Node("number", (), SCALAR, None, data=1.0)
    return Node(op, args, OPS[op].shape(*(a.shape for a in args)), None)


def _identity_like(a):
    """The identity of a square matrix a's size, for expansions."""
    from .ir import Node
    return Node("identity", (), a.shape, None, data=a.shape.rows)


# Operands, by position, in the rules below.
def _a(y):
    return y.args[0]


def _b(y):
    return y.args[1]


def _c(y):
    return y.args[2]


# ------------------------------------------- batching over directions
# A Hessian is its Hessian-vector product taken at the k = n columns of the
# identity at once, a Jacobian its vector-Jacobian product so: values linear
# in a direction v, each of which is a vector or a scalar, are carried as
# B = [vec(x(v₁)) … vec(x(v_k))], one column per direction (entries × k).
# Each rule here is the `batch` of its operations' entries in the table
# below: it maps the operation to one on B; an operation without one (or a
# value that is a matrix for one direction) leaves the matrix to be taken
# column by column.

def _as_column(b, x):
    """vec(x) of a vector or scalar that does not depend on the directions."""
    return b.T(x) if x.shape.rows == 1 and not x.shape.is_scalar else x


def _batch_linear(combine):
    """add, sub: B₁ ± B₂ (an operand that does not depend on the directions
    would make the value affine, not linear: not batched)."""
    def rule(b, y, B):
        if any(part is None for part in B):
            return None
        return combine(b, *B)
    return rule


def _batch_scale(b, y, B):
    """x ∘ a, a ∘ x, x / a with a independent of the directions."""
    dependent = [i for i, part in enumerate(B) if part is not None]
    if len(dependent) != 1 or (y.op == "div" and dependent != [0]):
        return None
    (i,) = dependent
    x, a, batched = y.args[i], y.args[1 - i], B[i]
    if a.shape.is_scalar:
        return b.div(batched, a) if y.op == "div" else b.mul(batched, a)
    factor = _as_column(b, a) if y.op == "mul" else b.div(b.num(1), _as_column(b, a))
    if x.shape.is_scalar:  # a scalar times a vector: vec(a) xⱼ for each direction j
        return b.matmul(factor, batched)
    return b.mul(factor, batched) if shapes.entries(a.shape) == shapes.entries(x.shape) and a.shape == x.shape else None


def _batch_matmul(b, y, B):
    left, right = B
    a, c = y.args
    if left is not None and right is not None:
        return None
    if right is not None and (y.shape.cols == 1 or y.shape.is_scalar):   # A x: A B
        return b.matmul(a, right)
    if left is not None and (y.shape.rows == 1 or y.shape.is_scalar):   # x A = (Aᵀ xᵀ)ᵀ: Aᵀ B
        return b.matmul(b.T(c), left)
    return None


def _batch_sum(b, y, B):
    (batched,) = B
    if y.args[0].shape.is_scalar:
        return batched
    return b.op("colsum", batched)


def _batch_axis_sum(b, y, B):
    """rowsum of a column, colsum of a row: the vector itself; of the other: its sum."""
    (batched,) = B
    x = y.args[0]
    keeps = x.shape.cols == 1 if y.op == "rowsum" else x.shape.rows == 1
    return batched if keeps else b.op("colsum", batched)


def _batch_fill(b, y, B):
    (batched,) = B
    if not y.args[0].shape.is_scalar:
        return batched if shapes.entries(y.shape) == shapes.entries(y.args[0].shape) else None
    return b.fill(batched, Shape(shapes.entries(y.shape), batched.shape.cols))


def _batch_gate(b, y, B):
    """x ∘ [a > b] of x alone."""
    if B[0] is not None or B[1] is not None:
        return None
    a, c = (_as_column(b, operand) for operand in y.args[:2])
    return b.op(y.op, a, c, B[2])


def _batch_softmax_grad(b, y, B):
    p, _, _ = y.args
    if B[0] is not None or B[1] is not None or p.shape.cols != 1:
        return None
    # P ∘ B - P colsum(P ∘ B): at B = I the textbook diag(p) - p pᵀ, an outer product, no identity formed
    weighted = b.mul(p, B[2])
    return b.sub(weighted, b.matmul(p, b.op("colsum", weighted)))


def _batch_log_softmax_grad(b, y, B):
    if B[0] is not None or y.shape.cols != 1:
        return None
    return b.sub(B[1], b.matmul(b.op("exp", y.args[0]), b.op("colsum", B[1])))   # an outer product


def _batch_norm_grad(b, y, B):
    a, norm, _ = y.args
    if B[0] is not None or B[1] is not None or shapes.entries(a.shape) is None:
        return None
    return b.matmul(b.div(_as_column(b, a), norm), B[2])


def _batch_block(b, y, B):
    """An entry range of a vector: the same rows of B."""
    (batched,) = B
    r0, r1, c0, c1 = y.data
    first, last = (r0, r1) if y.args[0].shape.cols == 1 else (c0, c1)
    return b.op("block", batched, data=(first, last, 0, batched.shape.cols))


def _batch_unblock(b, y, B):
    (batched,) = B
    r0, c0, rows, cols = y.data
    first, count = (r0, rows) if cols == 1 else (c0, cols)
    return b.op("unblock", batched, data=(first, 0, count, batched.shape.cols))


def _batch_stack(b, y, B):
    """[x; z] of columns, [x, z] of rows: the entries one after another."""
    if any(part is None for part in B) or shapes.entries(y.shape) is None:
        return None
    return b.op("vstack", *B)


def _batch_gather(b, y, B):
    if B[0] is None:
        return None
    return b.op("gather", B[0], y.args[1], data="rows")


def _batch_scatter(b, y, B):
    if B[0] is None:
        return None
    return b.op("scatter", B[0], y.args[1], data=("rows", y.data[1]))


def _batch_pick(b, y, B):
    """pick(x, k) of a vector by one id: entry k, the row k of B."""
    if B[0] is None or y.args[0].shape.cols != 1:
        return None
    return b.op("gather", B[0], y.args[1], data="rows")


def _batch_pick_scatter(b, y, B):
    """Its adjoint: the value at entry k of a vector of `data` entries, the row k of zeros."""
    if B[0] is None or y.shape.cols != 1:
        return None
    return b.op("scatter", B[0], y.args[1], data=("rows", y.data))


def _batch_same(b, y, B):
    """transpose, vec, unvec of a vector: the same entries."""
    return B[0]


_batch_add = _batch_linear(lambda b, p, q: b.add(p, q))
_batch_sub = _batch_linear(lambda b, p, q: b.sub(p, q))


def _batch_negation(b, y, B):
    return b.neg(B[0])


def _batch_mean(b, y, B):
    return b.div(_batch_sum(b, y, B), b.size(y.args[0].shape))


# ------------------------------------------------------------------ leaves
define("variable", 0, _same, symbol="a param, input or const", printed_by_writer=True, view=True)
define("number", 0, _same, elementwise=True, symbol="a number", printed_by_writer=True)
define("dimension", 0, _same, symbol="a dimension used as a number", printed_by_writer=True)
define("argument", 0, _same, elementwise=True, symbol="an argument of a function", printed_by_writer=True,
       view=True)
# The direction v of a Hessian-vector product (∇²s) v, or the vector u of a
# vector-Jacobian product uᵀ J: an argument of those functions alone. `data`
# names the variable (or value) it goes with.
define("direction", 0, _same, symbol="a direction", printed_by_writer=True, view=True)

# ------------------------------------------------------ arithmetic (level 1-4)
define("add", 2, _broadcast("elementwise sum (+)"), elementwise=True, batch=_batch_add, symbol="+", vjp=(
    lambda b, y, g: g,
    lambda b, y, g: g))
define("sub", 2, _broadcast("elementwise difference (-)"), elementwise=True, batch=_batch_sub,
       symbol="-", vjp=(
    lambda b, y, g: g,
    lambda b, y, g: b.neg(g)))
define("neg", 1, _same, elementwise=True, batch=_batch_negation, symbol="-", vjp=(
    lambda b, y, g: b.neg(g),))
define("mul", 2, _broadcast("elementwise product (∘)"), elementwise=True, batch=_batch_scale,
       symbol="∘", vjp=(
    lambda b, y, g: b.mul(g, _b(y)),                                  # ∂a = G ∘ b
    lambda b, y, g: b.mul(g, _a(y))))                                 # ∂b = G ∘ a
define("div", 2, _broadcast("elementwise division (/)"), elementwise=True, batch=_batch_scale,
       symbol="/", vjp=(
    lambda b, y, g: b.div(g, _b(y)),                                  # ∂a = G / b
    lambda b, y, g: b.neg(b.div(b.mul(g, y), _b(y)))))                # ∂b = -(G ∘ y) / b
define("pow", 2, _broadcast("elementwise power (.^)"), elementwise=True, symbol=".^", vjp=(
    lambda b, y, g: b.mul(g, b.mul(_b(y), b.pow(_a(y), b.sub(_b(y), b.num(1))))),  # k a^(k-1)
    lambda b, y, g: b.mul(g, b.mul(y, b.op("log", _a(y))))))                      # y log a
define("matmul", 2, lambda a, b: shapes.matmul(a, b, "matrix product"), batch=_batch_matmul,
       symbol="A B", vjp=(
    lambda b, y, g: b.matmul(g, b.T(_b(y))),                          # ∂A = G Bᵀ
    lambda b, y, g: b.matmul(b.T(_a(y)), g)))                         # ∂B = Aᵀ G
define("transpose", 1, lambda a: a.T, batch=_batch_same, symbol="ᵀ", view=True, vjp=(
    lambda b, y, g: b.T(g),))
define("inv", 1, lambda a: shapes.square(a, "inverse"), symbol="inv", domain="invertible", vjp=(
    lambda b, y, g: b.neg(b.matmul(b.matmul(b.T(y), g), b.T(y))),),)  # ∂A = -A⁻ᵀ G A⁻ᵀ

# ---------------------------------------------------- elementwise functions
# y is the function's output; rules use it where that is cheaper and stabler.
_elementwise_rules = {
    "exp": lambda b, y, g: b.mul(g, y),
    "log": lambda b, y, g: b.div(g, _a(y)),
    "sqrt": lambda b, y, g: b.div(g, b.mul(b.num(2), y)),
    "abs": lambda b, y, g: b.mul(g, b.op("sign", _a(y))),             # abs'(0) = sign(0) = 0
    "sign": None,
    "sin": lambda b, y, g: b.mul(g, b.op("cos", _a(y))),
    "cos": lambda b, y, g: b.neg(b.mul(g, b.op("sin", _a(y)))),
    "tan": lambda b, y, g: b.mul(g, b.add(b.num(1), b.mul(y, y))),
    "tanh": lambda b, y, g: b.mul(g, b.op("tanh_slope", y, _a(y))),     # 1 - y ∘ y
    "sigmoid": lambda b, y, g: b.mul(g, b.op("sigmoid_slope", y, _a(y))),  # y ∘ (1 - y)
    "relu": lambda b, y, g: b.op("where_gt", _a(y), b.num(0), g),      # G ∘ [z > 0]: relu'(0) = 0
    "softplus": lambda b, y, g: b.mul(g, b.op("softplus_slope", _a(y), y)),  # σ(z)
    # gelu(x) = x Φ(x): gelu' = Φ(x) + x φ(x)
    "gelu": lambda b, y, g: b.mul(g, b.add(
        b.mul(b.num(0.5), b.add(b.num(1), b.op("erf", b.mul(_a(y), b.num(0.5 ** 0.5))))),
        b.mul(_a(y), b.mul(b.num((2 * 3.141592653589793) ** -0.5),
                           b.op("exp", b.mul(b.num(-0.5), b.mul(_a(y), _a(y)))))))),
    "hardtanh": lambda b, y, g: b.op("where_gt", _a(y), b.num(-1), b.op("where_gt", b.num(1), _a(y), g)),
    "erf": lambda b, y, g: b.mul(g, b.mul(b.num(2 / 3.141592653589793 ** 0.5),
                                          b.op("exp", b.neg(b.mul(_a(y), _a(y)))))),
}
# What else the checker knows of some of them: a kink, or a restricted domain.
_elementwise_facts = {"relu": {"kink": True}, "abs": {"kink": True}, "sign": {"kink": True},
                      "hardtanh": {"kink": True}, "log": {"domain": "positive"}, "sqrt": {"domain": "positive"}}
for _name, _rule in _elementwise_rules.items():
    define(_name, 1, _same, elementwise=True, symbol=_name, vjp=(_rule,), **_elementwise_facts.get(_name, {}))


def _where_positive(b, y, x):
    """x where the first operand z > 0, else 0."""
    return b.op("where_gt", _a(y), b.num(0), x)


def _where_not_positive(b, y, x):
    """x where the first operand z <= 0, else 0."""
    return b.op("where_ge", b.num(0), _a(y), x)


define("leaky_relu", 2, _broadcast("leaky_relu"), elementwise=True, symbol="leaky_relu", kink=True, vjp=(
    # z > 0: 1, else a
    lambda b, y, g: b.add(_where_positive(b, y, g), _where_not_positive(b, y, b.mul(g, _b(y)))),
    lambda b, y, g: _where_not_positive(b, y, b.mul(g, _a(y)))))
define("elu", 2, _broadcast("elu"), elementwise=True, symbol="elu", kink=True, vjp=(
    # z > 0: 1, else a e^z = y + a
    lambda b, y, g: b.add(_where_positive(b, y, g), _where_not_positive(b, y, b.mul(g, b.add(y, _b(y))))),
    lambda b, y, g: _where_not_positive(b, y, b.mul(g, b.sub(b.op("exp", _a(y)), b.num(1))))))
# max routes the gradient to a where a >= b (to b where b > a); min to a where a <= b.
define("max", 2, _broadcast("max"), elementwise=True, symbol="max", kink=True, vjp=(
    lambda b, y, g: b.op("where_ge", _a(y), _b(y), g),
    lambda b, y, g: b.op("where_gt", _b(y), _a(y), g)))
define("min", 2, _broadcast("min"), elementwise=True, symbol="min", kink=True, vjp=(
    lambda b, y, g: b.op("where_ge", _b(y), _a(y), g),
    lambda b, y, g: b.op("where_gt", _a(y), _b(y), g)))
# A user function f(t) = ...: its partial derivatives come from SymPy.
define("apply", None, _broadcast("function call"), elementwise=True, symbol="f",
       vjp=lambda b, y, g, index: b.mul(g, b.partial(y, index)))
# Indicators: 1 where a > b (a >= b), else 0; no gradient flows through them.
define("gt", 2, _broadcast(">"), elementwise=True, symbol=">", vjp=(None, None))
define("ge", 2, _broadcast("≥"), elementwise=True, symbol="≥", vjp=(None, None))
# Gates: x where a > b (a >= b), else 0; that is x ∘ [a > b], in one pass.
define("where_gt", 3, _broadcast("gate"), elementwise=True, batch=_batch_gate, symbol=">", vjp=(
    None, None, lambda b, y, g: b.op("where_gt", _a(y), _b(y), g)))
define("where_ge", 3, _broadcast("gate"), elementwise=True, batch=_batch_gate, symbol="≥", vjp=(
    None, None, lambda b, y, g: b.op("where_ge", _a(y), _b(y), g)))

# ------------------------------------------------- reductions and structure
define("sum", 1, _to_scalar, batch=_batch_sum, symbol="sum", vjp=(
    lambda b, y, g: b.fill(g, _a(y).shape),))
define("mean", 1, _to_scalar, batch=_batch_mean, symbol="mean", vjp=(
    lambda b, y, g: b.fill(b.div(g, b.size(_a(y).shape)), _a(y).shape),))
define("tr", 1, _square_to_scalar("tr"), symbol="tr", vjp=(
    lambda b, y, g: b.mul(g, b.eye(_a(y).shape.rows)),))             # ∂A = g I
define("det", 1, _square_to_scalar("det"), symbol="det", domain="invertible", vjp=(
    lambda b, y, g: b.mul(b.mul(g, y), b.T(b.op("inv", _a(y)))),))   # ∂A = g det(A) A⁻ᵀ
define("logdet", 1, _square_to_scalar("logdet"), symbol="logdet", domain="positive determinant", vjp=(
    lambda b, y, g: b.mul(g, b.T(b.op("inv", _a(y)))),))             # ∂A = g A⁻ᵀ
define("diag_matrix", 1, _vector("diag"), symbol="diag", vjp=(
    lambda b, y, g: b.op("diag_vector", g),))
define("diag_vector", 1, _diagonal, symbol="diag", view=True, vjp=(
    lambda b, y, g: b.op("diag_matrix", g),))
define("norm", 1, _to_scalar, symbol="||·||", vjp=(
    lambda b, y, g: b.op("norm_grad", _a(y), y, g),))                  # ∂A = g A / ||A||, 0 at A = 0
define("sqnorm", 1, _to_scalar, symbol="||·||²", vjp=(                 # ||A||², written ||A||^2
    lambda b, y, g: b.mul(b.mul(b.num(2), g), _a(y)),))                 # ∂A = 2 g A
define("norm1", 1, _to_scalar, symbol="norm1", kink=True, vjp=(
    lambda b, y, g: b.mul(g, b.op("sign", _a(y))),))
define("rowsum", 1, _column_of_rows, batch=_batch_axis_sum,
       symbol="rowsum", vjp=(          # sum of each row: n×N -> n×1
    lambda b, y, g: b.fill(g, _a(y).shape),))
define("colsum", 1, _row_of_columns, batch=_batch_axis_sum,
       symbol="colsum", vjp=(          # sum of each column: n×N -> 1×N
    lambda b, y, g: b.fill(g, _a(y).shape),))
# `fill` spreads a scalar, a column or a row over `data`, the target shape.
define("fill", 1, _same, batch=_batch_fill, symbol="fill", view=True, vjp=(
    lambda b, y, g: b.sum_to(g, _a(y).shape),))
define("identity", 0, _same, symbol="I")
# A + c I of a square A, never the identity itself: c added on the diagonal.
define("add_diagonal", 2, lambda a, c: shapes.square(a, "+ c I"), symbol="+ c I",
       expansion=lambda a, c: plain("add", a, plain("mul", c, _identity_like(a))),
       vjp=(lambda b, y, g: g,
            lambda b, y, g: b.op("tr", g)))
define("zeros", 0, _same, symbol="0")

# ------------------------------------------ classification, per column
define("softmax", 1, _same, symbol="softmax", vjp=(
    lambda b, y, g: b.op("softmax_grad", y, _a(y), g),))                  # P ∘ (G - 1ᵀ(P ∘ G))
define("log_softmax", 1, _same, symbol="log_softmax", vjp=(
    lambda b, y, g: b.op("log_softmax_grad", y, g),))                     # G - softmax ∘ 1ᵀG
define("logsumexp", 1, _row_of_columns, symbol="logsumexp", vjp=(
    lambda b, y, g: b.mul(b.op("exp", b.sub(_a(y), y)), g),))             # softmax(S) ∘ g

# Fused operations of gradient graphs. Where one class (or one side of a
# sigmoid) has nearly all the mass, 1 - p cancels: 1 - σ(40) is 0 as written,
# not 4.2e-18, and the gradient loses every digit. The backend computes 1 - p
# from the input instead: σ(-z), or -expm1(log_softmax(S)).
# Their own rules (for second derivatives) differentiate the expansion.
define("sigmoid_slope", 2, _broadcast("σ'"), elementwise=True, symbol="σ'",   # (y = σ(z), z)
       expansion=lambda y, z: plain("mul", y, plain("sub", plain("number"), y)),   # y ∘ (1 - y)
       vjp=(lambda b, y, g: b.mul(g, b.sub(b.num(1), b.mul(b.num(2), _a(y)))),   # ∂y = G ∘ (1 - 2 y)
            None))
# tanh'(z) = 1 - y ∘ y cancels the same way in both tails (0 at z = 40, not 7.2e-35):
# the backend takes it from z there, as sech²(z).
define("tanh_slope", 2, _broadcast("tanh'"), elementwise=True, symbol="tanh'",   # (y = tanh(z), z)
       expansion=lambda y, z: plain("sub", plain("number"), plain("mul", y, y)),   # 1 - y ∘ y
       vjp=(lambda b, y, g: b.mul(b.num(-2), b.mul(g, _a(y))),                     # ∂y = -2 G ∘ y
            None))
# σ(z) = exp(z - softplus(z)): where softplus(z) is known, one exp, not a second softplus.
define("softplus_slope", 2, _broadcast("σ"), elementwise=True, symbol="σ",   # (z, y = softplus(z))
       expansion=lambda z, y: plain("sigmoid", z),
       vjp=(lambda b, y, g: b.mul(g, b.op("sigmoid_slope", y, _a(y))),          # ∂z = G ∘ σ'(z), σ(z) = y
            None))
define("softmax_grad", 3, lambda p, s, g: p, batch=_batch_softmax_grad,
       symbol="softmax'",   # (P = softmax(S), S, G)
       expansion=lambda p, s, g: plain("mul", p, plain("sub", g, plain("colsum", plain("mul", p, g)))),
       vjp=(  # H the gradient of P ∘ (G - colsum(P ∘ G)):
           # ∂P = H ∘ (G - colsum(P ∘ G)) - G ∘ colsum(H ∘ P)
           lambda b, y, g: b.sub(b.mul(g, b.sub(_c(y), b.op("colsum", b.mul(_a(y), _c(y))))),
                                 b.mul(_c(y), b.op("colsum", b.mul(g, _a(y))))),
           None,
           lambda b, y, g: b.op("softmax_grad", _a(y), _b(y), g)))   # ∂G = P ∘ (H - colsum(P ∘ H))


def _log_softmax_grad_expansion(y, g):
    """G - softmax(S) ∘ colsum(G), y = log_softmax(S). The cross-entropy's
    G = c Y (labels Y, a scale c = -1/N) is written as the notes do:
    -c (softmax(S) ∘ colsum(Y) - Y), (softmax(S) ∘ colsum(Y) - Y) / N,
    whose colsum(Y) is 1 for one-hot labels."""
    probabilities = plain("exp", y)
    if g.op != "mul" or not g.args[0].shape.is_scalar or g.args[1].shape != g.shape:
        return plain("sub", g, plain("mul", probabilities, plain("colsum", g)))
    c, labels = g.args
    difference = plain("sub", plain("mul", probabilities, plain("colsum", labels)), labels)
    if c.op == "div" and c.args[0].op == "number" and c.args[0].data == -1:   # -1 / N
        return plain("div", difference, c.args[1])
    return plain("mul", plain("neg", c), difference)


define("log_softmax_grad", 2, lambda y, g: y, batch=_batch_log_softmax_grad,
       symbol="log_softmax'",   # (log_softmax(S), G)
       expansion=_log_softmax_grad_expansion,
       vjp=(  # H the gradient of G - P ∘ colsum(G), P = exp(y) = softmax(S):
           lambda b, y, g: b.neg(b.mul(b.mul(g, b.op("colsum", _b(y))), b.op("exp", _a(y)))),  # ∂y = -H ∘ colsum(G) ∘ P
           lambda b, y, g: b.sub(g, b.fill(b.op("colsum", b.mul(g, b.op("exp", _a(y)))), g.shape))))  # ∂G = H - 𝟏 colsum(H ∘ P)
# At A = 0, where ||A|| has no derivative, its gradient is 0 (as abs'(0) = 0),
# not 0/0.
define("norm_grad", 3, lambda a, y, g: a, batch=_batch_norm_grad, symbol="||·||'",   # (A, ||A||, g)
       expansion=lambda a, y, g: plain("mul", plain("div", g, y), a),
       vjp=(  # H the gradient of (g / y) A:
           lambda b, y, g: b.mul(b.div(_c(y), _b(y)), g),                                       # ∂A = (g / y) H
           lambda b, y, g: b.neg(b.div(b.mul(_c(y), b.op("sum", b.mul(g, _a(y)))), b.mul(_b(y), _b(y)))),  # ∂y = -g sum(H ∘ A) / y²
           lambda b, y, g: b.div(b.op("sum", b.mul(g, _a(y))), _b(y))))                         # ∂g = sum(H ∘ A) / y


# ------------------------------------------------- indexing and blocks
# Ids (a k×1 vector of ids, or one id: 1×1) are never differentiated: their
# operand's rule is None. An axis is "rows" or "cols".

def _gathered(a: Shape, ids: Shape, axis: str) -> Shape:
    """A[ids, :] (k×m; one id: 1×m) or A[:, ids] (n×k; one id: n×1)."""
    count = 1 if ids.is_scalar else ids.rows
    if ids.cols != 1:
        raise ShapeError(f"ids index with a vector of ids or one id, got {ids}")
    return Shape(count, a.cols) if axis == "rows" else Shape(a.rows, count)


def _scattered(g: Shape, ids: Shape, data) -> Shape:
    """The shape gathered from: `count` rows (columns) in place of the ids'."""
    axis, count = data
    return Shape(count, g.cols) if axis == "rows" else Shape(g.rows, count)


def _axis_count(y, axis: str):
    """How many rows (columns) the operand of the gather y has."""
    return _a(y).shape.rows if axis == "rows" else _a(y).shape.cols


def _block_shape(a: Shape, data) -> Shape:
    """A[r0:r1, c0:c1]: (r1 - r0)×(c1 - c0)."""
    r0, r1, c0, c1 = data
    return Shape(shapes.dim_add(r1, r0, -1), shapes.dim_add(c1, c0, -1))


def _unblock_shape(g: Shape, data) -> Shape:
    return Shape(data[2], data[3])


def _picked(s: Shape, ids: Shape) -> Shape:
    """pick(S, y): one entry of each column of S (C×N) at the ids y (N): 1×N."""
    count = 1 if ids.is_scalar else ids.rows
    if ids.cols != 1 or count != s.cols:
        raise ShapeError(f"pick(S, y) takes one id for each column of S: S is {s} {s.brackets}, "
                         f"the ids are {count}",
                         "pick(S, y) with S of C×N scores and y of N ids in 0..C-1")
    return Shape(1, s.cols)


def _pick_scattered(g: Shape, ids: Shape, count) -> Shape:
    return Shape(count, g.cols)


def _onehot_shape(ids: Shape, count) -> Shape:
    """onehot(y, C): C×N for N ids, C×1 for one."""
    return Shape(count, 1 if ids.is_scalar else ids.rows)


def _stacked(axis: str):
    """[A; B; ...] (vstack, equal column counts) or [A, B, ...] (hstack, equal row counts)."""
    def rule(*operands: Shape) -> Shape:
        along, across = ("rows", "cols") if axis == "rows" else ("cols", "rows")
        first = operands[0]
        for other in operands[1:]:
            if getattr(other, across) != getattr(first, across):
                word = "column" if across == "cols" else "row"
                written = "[A; B]" if axis == "rows" else "[A, B]"
                raise ShapeError(f"{written} needs blocks of equal {word} counts: {first} {first.brackets} and "
                                 f"{other} {other.brackets}")
        total = getattr(first, along)
        for other in operands[1:]:
            total = shapes.dim_add(total, getattr(other, along))
        return Shape(total, first.cols) if axis == "rows" else Shape(first.rows, total)
    return rule


def _stack_share(axis: str):
    """The share of operand `index` of a stack: its block of G."""
    def rule(b, y, g, index):
        start = 0
        for operand in y.args[:index]:
            start = shapes.dim_add(start, getattr(operand.shape, axis))
        stop = shapes.dim_add(start, getattr(y.args[index].shape, axis))
        whole = (0, g.shape.cols) if axis == "rows" else (0, g.shape.rows)
        if axis == "rows":
            return b.op("block", g, data=(start, stop, *whole))
        return b.op("block", g, data=(*whole, start, stop))
    return rule


def _vectorized(a: Shape) -> Shape:
    return shapes.column(shapes.dim_mul(a.rows, a.cols))


define("gather", 2, _gathered, shaped_by_data=True, batch=_batch_gather, symbol="A[:, w]", view=True, vjp=(
    lambda b, y, g: b.op("scatter", g, _b(y), data=(y.data, _axis_count(y, y.data))),   # repeated ids summed
    None))
define("scatter", 2, _scattered, shaped_by_data=True, batch=_batch_scatter, symbol="scatter", vjp=(
    lambda b, y, g: b.op("gather", g, _b(y), data=y.data[0]),
    None))
define("block", 1, _block_shape, shaped_by_data=True, batch=_batch_block,
       symbol="A[a:b, c:d]", view=True, vjp=(
    lambda b, y, g: b.op("unblock", g, data=(y.data[0], y.data[2], *_a(y).shape.dims())),))
define("unblock", 1, _unblock_shape, shaped_by_data=True, batch=_batch_unblock, symbol="unblock", vjp=(
    lambda b, y, g: b.op("block", g, data=(y.data[0], shapes.dim_add(y.data[0], _a(y).shape.rows),
                                           y.data[1], shapes.dim_add(y.data[1], _a(y).shape.cols))),))
define("pick", 2, _picked, batch=_batch_pick, symbol="pick", vjp=(
    lambda b, y, g: b.op("pick_scatter", g, _b(y), data=_a(y).shape.rows),   # one entry per column: no repeats
    None))
define("pick_scatter", 2, _pick_scattered, shaped_by_data=True, batch=_batch_pick_scatter,
       symbol="pick'", vjp=(
    lambda b, y, g: b.op("pick", g, _b(y)),
    None))
define("onehot", 1, _onehot_shape, shaped_by_data=True, symbol="onehot", vjp=(None,))
define("vstack", None, _stacked("rows"), batch=_batch_stack, symbol="[A; B]", vjp=_stack_share("rows"))
define("hstack", None, _stacked("cols"), batch=_batch_stack, symbol="[A, B]", vjp=_stack_share("cols"))
# A reshape in column-major order: a view where the memory allows (a column,
# an F-ordered matrix), else a copy; marked a view, the code copies it only where it must.
define("vec", 1, _vectorized, batch=_batch_same, symbol="vec", view=True, vjp=(
    lambda b, y, g: b.op("unvec", g, data=_a(y).shape.dims()),))
define("unvec", 1, lambda g, dims: Shape(*dims), shaped_by_data=True, batch=_batch_same,
       symbol="unvec", view=True, vjp=(
    lambda b, y, g: b.op("vec", g),))




@dataclass(frozen=True)
class Builtin:
    """A function name a model may call: its operation and its arguments."""

    op: str
    min_args: int
    defaults: tuple[float, ...] = ()   # values of the optional trailing arguments

    @property
    def max_args(self) -> int:
        return self.min_args + len(self.defaults)


BUILTINS: dict[str, Builtin] = {
    name: Builtin(name, 1)
    for name in ("exp", "log", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh", "sigmoid",
                 "relu", "softplus", "gelu", "hardtanh", "sum", "mean", "tr", "det", "logdet",
                 "inv", "norm1", "softmax", "log_softmax", "logsumexp")
}
BUILTINS.update({
    "σ": Builtin("sigmoid", 1),
    "leaky_relu": Builtin("leaky_relu", 1, (0.01,)),
    "elu": Builtin("elu", 1, (1.0,)),
    "max": Builtin("max", 2),
    "min": Builtin("min", 2),
    "diag": Builtin("diag", 1),   # diag_matrix or diag_vector, by the argument's shape
    "rowsum": Builtin("rowsum", 1),
    "colsum": Builtin("colsum", 1),
    # rowsum(A) / (columns of A), colsum(A) / (rows of A): made so by lowering.
    "rowmean": Builtin("rowmean", 1),
    "colmean": Builtin("colmean", 1),
    # Constant arrays, whose arguments are dimensions: eye(n) the n×n identity,
    # ones(n, m) the n×m matrix of ones (fill of 1), ones(n) = ones(n, 1).
    "eye": Builtin("identity", 1),
    "ones": Builtin("fill", 1, (1.0,)),
    # Ids: pick(S, y) the entry S[y_j, j] of each column, onehot(y, C) the C×N indicator.
    "pick": Builtin("pick", 2),
    "onehot": Builtin("onehot", 2),
    "vec": Builtin("vec", 1),
})
