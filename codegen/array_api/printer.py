"""The array-API target's printer: the NumPy printer with the namespace
`_xp` of the call's arguments for NumPy's (as SymPy's JAX printer changes
its NumPy printer's module name), and its rules changed only where the
array API standard differs. Nothing is written in place; a number that
reaches a function of the namespace is first an array of the call's dtype,
on its device."""

from __future__ import annotations

from symgrad.ir import Node, postorder

from ..numpy.printer import NumpyPrinter

# The operations written with Python's operators, which take numbers as
# they are; every other one calls a function of the namespace.
OPERATORS = ("add", "sub", "mul", "div", "neg", "pow", "matmul", "transpose")


class ArrayApiPrinter(NumpyPrinter):
    """One method per IR operation: the array-API expression for a node
    whose operands are already printed."""

    RUNTIME = ("array_api_runtime", "array_api_helpers", "runtime", "shared_helpers")
    STATE = ("_xp", "_device", "_dtype")
    placement = ("_dtype", "_device")
    xp = "_xp"
    # The standard's functions take Python floats beside arrays (array-api-compat
    # before 1.16 mishandled maximum(x, 0) on PyTorch).
    zero, one = "0.0", "1.0"

    def expression(self, node: Node, operands: list[str]) -> str:
        if node.op not in OPERATORS and len(operands) == len(node.args):
            operands = [self.array(arg, operand) for arg, operand in zip(node.args, operands)]
        return super().expression(node, operands)

    # The names of the model's consts with values, which are Python numbers (set by the writer).
    constants: frozenset = frozenset()

    def array(self, node: Node, operand: str) -> str:
        """An operand as an array: a scalar computed from numbers, consts and
        dimensions alone is a Python number, which the namespaces' functions
        do not all take."""
        if node.shape.is_scalar and not any(n.op == "argument" or n.op == "variable" and n.data not in self.constants
                                            for n in postorder([node])):
            return f"_xp.asarray({operand}, {self.placed()})"
        return operand

    def placed(self) -> str:
        return "dtype=_dtype, device=_device"

    def call(self, name: str, *args: str) -> str:
        return super().call(name, "_xp", *args)

    def inplace(self, node: Node, operands: list[str], position: int, out: str) -> None:
        """Never: arrays of JAX and Dask cannot be written into."""
        return None

    def arguments_prologue(self, arrays: list[str]) -> list[str]:
        return [f"    _xp, _device = {self.helper('namespace')}({', '.join(arrays)})"]

    def dtype_lines(self, arrays: list[str], scalars: list[str]) -> list[str]:
        """The computation's dtype, then each scalar an array of it (a Python
        number given stays weak until then, so float32 stays float32)."""
        return ([f"    _dtype = {self.call('dtype_of', *arrays)}"]
                + [f"    {name} = _xp.asarray({name}, {self.placed()})" for name in scalars])

    def function_prologue(self, arrays: str) -> list[str]:
        return [f"    _xp, _device = {self.helper('namespace')}({arrays})",
                f"    _dtype = {self.call('dtype_of', arrays)}"]

    def filled(self, arrays: str, value: str) -> str:
        return f"_xp.broadcast_arrays({arrays}, _xp.asarray({value}, {self.placed()}))[-1]"

    @staticmethod
    def number(value: float) -> str:
        text = repr(float(value))
        if text in ("inf", "-inf", "nan"):
            return f"float({text!r})"
        return f"({text})" if text.startswith("-") else text

    def product_chain(self, factors: list[str]) -> str:
        return f"{self.helper('multi_dot')}([{', '.join(factors)}])"

    def gate(self, node, condition: str, x: str) -> str:
        """x where the condition holds, else 0, as x times the condition in
        the computation's dtype (the standard multiplies no booleans)."""
        return f"{x} * _xp.astype({condition}, _dtype)"

    # The standard has no astype method, vdot, trace, diagonal or diagflat
    # of NumPy's.
    def _print_gt(self, node, a, b): return f"_xp.astype(_xp.greater({a}, {b}), _dtype)"
    def _print_ge(self, node, a, b): return f"_xp.astype(_xp.greater_equal({a}, {b}), _dtype)"
    def _print_sqnorm(self, node, a): return f"_xp.sum({a} * {a})"
    def sum_of_product(self, a: str, b: str) -> str: return f"_xp.sum({a} * {b})"
    def _print_tr(self, node, a): return a if node.args[0].shape.is_scalar else f"_xp.linalg.trace({a})"
    def _print_diag_matrix(self, node, a): return self.call("diagflat", a)
    def _print_add_diagonal(self, node, a, c): return f"{a} + {c} * _xp.eye({self.dim(node.shape.rows)}, {self.placed()})"
    def _print_diag_vector(self, node, a): return f"_xp.linalg.diagonal({a})[:, None]"

    # Indexing with the standard's functions alone (take, concat, reshape,
    # permute_dims): no fancy indexing, no assignment into an array.
    def _print_gather(self, node, a, ids):
        if self.single(node.args[1]):
            ids = self.call("one_id", ids, "_device")
        taken = f"_xp.take({a}, {ids}, axis={1 if node.data == 'cols' else 0})"
        return f"{taken}[0, 0]" if node.shape.is_scalar else taken

    def _print_scatter(self, node, g, ids):
        axis = "1" if node.data[0] == "cols" else "0"
        if self.single(node.args[1]):
            return self.call("scatter_one", g, ids, self.dim(node.data[1]), axis, "_dtype", "_device")
        return self.call("scatter", g, ids, self.dim(node.data[1]), axis)

    def _print_unblock(self, node, g):
        r0, c0, rows, cols = (self.dim(d) for d in node.data)
        return self.call("placed", g, r0, c0, f"({rows}, {cols})", "_dtype", "_device")

    def _print_pick(self, node, s, y):
        if self.single(node.args[1]):
            return f"_xp.take({s}, {self.call('one_id', y, '_device')}, axis=0)[0, 0]"
        return self.call("pick", s, y)

    def _print_pick_scatter(self, node, g, y):
        return self.call("pick_scatter", g, y, self.dim(node.data), "_device")
    def _print_onehot(self, node, y): return self.call("indicator", y, self.dim(node.data), "_dtype", "_device")

    def stacked(self, node, operands, axis: int) -> str:
        parts = [f"_xp.reshape({o}, (1, 1))" if arg.shape.is_scalar else o for arg, o in zip(node.args, operands)]
        return f"_xp.concat(({', '.join(parts)},), axis={axis})"

    # column-major: the transpose's rows, in C order
    def _print_vec(self, node, a):
        return a if node.shape.is_scalar else f"_xp.reshape(_xp.permute_dims({a}, (1, 0)), (-1, 1))"

    def _print_unvec(self, node, g):
        rows, cols = node.shape.dims()
        return g if node.shape.is_scalar else \
            f"_xp.permute_dims(_xp.reshape({g}, ({self.dim(cols)}, {self.dim(rows)})), (1, 0))"

    def scatter_into(self, node, base, out, scattered, operands) -> None:
        """Never: arrays of JAX and Dask cannot be written into."""
        return None
