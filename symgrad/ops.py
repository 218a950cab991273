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
    name: str
    arity: int | None                 # None: any number (user functions)
    shape: Callable[..., Shape]        # shape(*operand_shapes) -> result shape
    elementwise: bool = False          # acts entry by entry (allowed in a function body)
    symbol: str = ""                   # how the operation is written in the language


OPS: dict[str, Op] = {}


def define(name: str, arity: int | None, shape: Callable[..., Shape], **kwargs) -> Op:
    op = Op(name, arity, shape, **kwargs)
    OPS[name] = op
    return op


def _same(a: Shape) -> Shape:
    return a


def _broadcast(symbol: str):
    return lambda *operands: _fold_broadcast(operands, symbol)


def _fold_broadcast(operands, what: str) -> Shape:
    result = operands[0]
    for operand in operands[1:]:
        result = shapes.broadcast(result, operand, what)
    return result


def _to_scalar(a: Shape) -> Shape:
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


def _logsumexp(a: Shape) -> Shape:
    return Shape(1, a.cols)


# ------------------------------------------------------------------ leaves
define("variable", 0, _same, symbol="a param, input or const")
define("number", 0, _same, elementwise=True, symbol="a number")
define("dimension", 0, _same, symbol="a dimension used as a number")
define("argument", 0, _same, elementwise=True, symbol="an argument of a function")

# ------------------------------------------------------ arithmetic (level 1-4)
define("add", 2, _broadcast("elementwise sum (+)"), elementwise=True, symbol="+")
define("sub", 2, _broadcast("elementwise difference (-)"), elementwise=True, symbol="-")
define("neg", 1, _same, elementwise=True, symbol="-")
define("mul", 2, _broadcast("elementwise product (∘)"), elementwise=True, symbol="∘")
define("div", 2, _broadcast("elementwise division (/)"), elementwise=True, symbol="/")
define("pow", 2, _broadcast("elementwise power (.^)"), elementwise=True, symbol=".^")
define("matmul", 2, lambda a, b: shapes.matmul(a, b, "matrix product"), symbol="A B")
define("transpose", 1, lambda a: a.T, symbol="ᵀ")
define("inv", 1, lambda a: shapes.square(a, "inverse"), symbol="inv")

# ---------------------------------------------------- elementwise functions
for _name in ("exp", "log", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh",
              "sigmoid", "relu", "softplus", "gelu", "hardtanh"):
    define(_name, 1, _same, elementwise=True, symbol=_name)
for _name in ("leaky_relu", "elu", "max", "min"):
    define(_name, 2, _broadcast(_name), elementwise=True, symbol=_name)
define("apply", None, _broadcast("function call"), elementwise=True, symbol="f")

# ------------------------------------------------- reductions and structure
define("sum", 1, _to_scalar, symbol="sum")
define("mean", 1, _to_scalar, symbol="mean")
define("tr", 1, _square_to_scalar("tr"), symbol="tr")
define("det", 1, _square_to_scalar("det"), symbol="det")
define("logdet", 1, _square_to_scalar("logdet"), symbol="logdet")
define("diag_matrix", 1, _vector("diag"), symbol="diag")
define("diag_vector", 1, _diagonal, symbol="diag")
define("norm", 1, _to_scalar, symbol="||·||")
define("norm1", 1, _to_scalar, symbol="norm1")

# ------------------------------------------ classification, per column
define("softmax", 1, _same, symbol="softmax")
define("log_softmax", 1, _same, symbol="log_softmax")
define("logsumexp", 1, _logsumexp, symbol="logsumexp")


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
})
