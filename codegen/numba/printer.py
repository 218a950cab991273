"""The numba target's printer: the NumPy printer's rules where numba
compiles NumPy's expressions as they are (its array expressions fuse a chain
of elementwise steps into one loop), a compiled helper where NumPy's form
needs what numba lacks (keepdims, logaddexp) or takes several passes, every
number of the dtype of the call (`_t`, so that float32 stays float32), and
a clear error for the operations the target does not compile."""

from __future__ import annotations

from symgrad.ir import Node

from .. import UnknownTarget
from ..numpy.printer import NumpyPrinter

# The operations the numba target does not compile: linear algebra that
# numba runs only through SciPy's LAPACK, the diagonal and trace of a
# matrix (of a product), erf and gelu (no vectorised erf in numba), and user
# functions. A diagonal matrix diag(v) it does (a Jacobian of entry-by-entry
# functions is one).
UNSUPPORTED = ("inv", "det", "logdet", "tr", "diag_vector", "gelu", "erf", "apply")


class UnsupportedOperation(UnknownTarget):
    """A model with an operation the numba target does not compile: an error
    of the --target option (status 2), as an unknown target is."""


class NumbaPrinter(NumpyPrinter):
    """One method per IR operation: the expression, inside a numba kernel,
    of a node whose operands are already printed."""

    RUNTIME = ("numba_runtime", "numba_helpers", "runtime", "shared_helpers")
    STATE = ("_dtype",)
    zero, one = "_t(0)", "_t(1)"

    def inplace(self, node: Node, operands: list[str], position: int, out: str) -> None:
        """Never: numba fuses the elementwise chain into one loop already."""
        return None

    @staticmethod
    def number(value: float) -> str:
        """A number of the call's dtype (a bare float would make float32 arrays float64)."""
        text = repr(float(value))
        if text in ("inf", "-inf", "nan"):
            return f"_t(_np.{text.lstrip('-')})" if text[0] != "-" else f"(-_t(_np.{text[1:]}))"
        return f"_t({text})"

    def array(self, node: Node, operand: str) -> str:
        """An operand of a helper that loops over a 2-D array: a 1x1 value may be a number."""
        return self.call("array", operand) if node.shape.is_scalar else operand

    def looped(self, name: str, node: Node, *operands: str) -> str:
        return self.call(name, *(self.array(arg, operand) for arg, operand in zip(node.args, operands)))

    def entries_of(self, values: list[str], nodes: list[Node]) -> str:
        """The entries of the values (vectors, scalars: `nodes`) as one 1-D
        array: each raveled, a number made a 1x1 array first."""
        return "_np.concatenate((" + "".join(f"_np.ravel({self.array(node, value)}), "
                                             for value, node in zip(values, nodes)) + "))"

    def product_chain(self, factors: list[str]) -> str:
        """A chain of three or more, from the right (numba has no multi_dot)."""
        text = factors[-1]
        for factor in reversed(factors[:-1]):
            text = self.call("dot", factor, text)
        return text

    def gate(self, node, condition: str, x: str) -> str:
        return f"{x} * ({condition})"

    def _print_matmul(self, node, a, b): return self.call("dot", a, b)
    def _print_gt(self, node, a, b): return f"_t(1) * ({a} > {b})"
    def _print_ge(self, node, a, b): return f"_t(1) * ({a} >= {b})"
    def _print_softplus(self, node, a): return self.looped("softplus", node, a)
    def _print_sigmoid(self, node, a): return self.looped("sigmoid", node, a)
    def _print_sigmoid_slope(self, node, y, z): return self.looped("sigmoid_slope", node, y, z)
    def _print_tanh_slope(self, node, y, z): return self.looped("tanh_slope", node, y, z)
    def _print_sqnorm(self, node, a): return f"_np.sum({a} * {a})"
    def sum_of_product(self, a: str, b: str) -> str: return f"_np.sum({a} * {b})"
    def _print_rowsum(self, node, a): return self.call("rowsum", a)
    def _print_colsum(self, node, a): return self.call("colsum", a)
    def _print_softmax(self, node, a): return self.looped("softmax", node, a)
    def _print_log_softmax(self, node, a): return self.looped("log_softmax", node, a)
    def _print_logsumexp(self, node, a): return self.looped("logsumexp", node, a)
    def _print_softmax_grad(self, node, p, s, g): return self.looped("softmax_grad", node, p, s, g)
    def _print_log_softmax_grad(self, node, y, g): return self.looped("log_softmax_grad", node, y, g)
    def _print_norm_grad(self, node, a, y, g):
        return self.call("norm_grad", a, self.call("value", y), self.call("value", g))
    def _print_fill(self, node, a): return f"_np.zeros({self.dims_tuple(node.data)}, _dtype) + {a}"
    def _print_identity(self, node): return f"_np.eye({self.dim(node.data)}, dtype=_dtype)"
    def _print_diag_matrix(self, node, a): return self.looped("diagflat", node, a)
    def _print_add_diagonal(self, node, a, c): return self.call("plus_diagonal", a, self.call("value", c))
    def _print_zeros(self, node): return f"_np.zeros({self.dims_tuple(node.data)}, _dtype)"

    # Indexing: loops (helpers.py); one id (an int) as a slice, C-contiguous:
    # numba's ascontiguousarray copies a strided one (a column; a row of an
    # F-ordered matrix), whose `@` is slow and warns (NumbaPerformanceWarning),
    # and passes a contiguous one as it is.
    def _print_gather(self, node, a, ids):
        cols = node.data == "cols"
        if node.shape.is_scalar:
            return f"{a}[0, {ids}]" if cols else f"{a}[{ids}, 0]"
        if self.single(node.args[1]):
            return f"_np.ascontiguousarray({a}[:, {ids}:{ids} + 1])" if cols else \
                f"_np.ascontiguousarray({a}[{ids}:{ids} + 1])"
        return self.call("gather", a, ids, "1" if cols else "0")

    def _print_scatter(self, node, g, ids):
        axis = "1" if node.data[0] == "cols" else "0"
        if self.single(node.args[1]):
            rows, cols = (self.dim(d) for d in node.shape.dims())
            return self.call("scatter_one", self.array(node.args[0], g), ids, rows, cols, axis)
        return self.call("scatter", g, ids, self.dim(node.data[1]), axis)

    def _print_unblock(self, node, g):
        return self.call("placed", self.array(node.args[0], g), *(self.dim(d) for d in node.data))

    def _print_pick(self, node, s, y):
        return f"{s}[{y}, 0]" if self.single(node.args[1]) else self.call("pick", s, y)

    def _print_pick_scatter(self, node, g, y):
        if self.single(node.args[1]):
            return self.call("scatter_one", self.array(node.args[0], g), y, self.dim(node.data), "1", "0")
        return self.call("pick_scatter", g, y, self.dim(node.data))

    def _print_onehot(self, node, y):
        if self.single(node.args[0]):
            return self.call("scatter_one", "_np.ones((1, 1), _dtype)", y, self.dim(node.data), "1", "0")
        return self.call("onehot", y, self.dim(node.data), "_dtype")

    def stacked(self, node, operands, axis: int) -> str:
        parts = [self.array(arg, o) for arg, o in zip(node.args, operands)]
        return f"_np.concatenate(({', '.join(parts)},), axis={axis})"

    def _print_vec(self, node, a): return a if node.shape.is_scalar else self.call("vec", a)
    def _print_unvec(self, node, g):
        return g if node.shape.is_scalar else self.call("unvec", g, *(self.dim(d) for d in node.shape.dims()))

    def scatter_into(self, node, base, out, scattered, operands) -> None:
        """Never: the scatter loops add into their own zeros already."""
        return None


def refuse(op: str):
    """The error of a model with an operation the numba target does not compile."""
    raise UnsupportedOperation(f"the numba target does not compile the operation '{op}'; use --target numpy")


for _op in UNSUPPORTED:
    setattr(NumbaPrinter, f"_print_{_op}", lambda self, node, *operands, _op=_op: refuse(_op))
NumbaPrinter.merged_factor = lambda self, op, *rest: refuse(op)
NumbaPrinter.reduction_of_product = lambda self, op, factors: refuse(op)
