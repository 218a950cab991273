"""The array-API target's printer: the NumPy printer's rules, changed where
the array API standard differs (as SymPy's JAX printer changes its NumPy
one). Every function comes from `_xp`, the namespace of the call's
arguments; nothing is written in place; a number that reaches a function of
the namespace is first an array of the call's dtype, on its device."""

from __future__ import annotations

from symgrad.ir import Node, postorder

from ..numpy.printer import NumpyPrinter

# The operations written with Python's operators, which take numbers as
# they are; every other one calls a function of the namespace.
OPERATORS = ("add", "sub", "mul", "div", "neg", "pow", "matmul", "transpose")


class ArrayApiPrinter(NumpyPrinter):
    """One method per IR operation: the array-API expression for a node
    whose operands are already printed."""

    RUNTIME = ("array_api_runtime", "array_api_helpers", "runtime")
    STATE = ("_xp", "_device", "_dtype")

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
            return f"_xp.asarray({operand}, dtype=_dtype, device=_device)"
        return operand

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
                + [f"    {name} = _xp.asarray({name}, dtype=_dtype, device=_device)" for name in scalars])

    def function_prologue(self, arrays: str) -> list[str]:
        return [f"    _xp, _device = {self.helper('namespace')}({arrays})",
                f"    _dtype = {self.call('dtype_of', arrays)}"]

    def filled(self, arrays: str, value: str) -> str:
        return f"_xp.broadcast_arrays({arrays}, _xp.asarray({value}, dtype=_dtype, device=_device))[-1]"

    @staticmethod
    def number(value: float) -> str:
        text = repr(float(value))
        if text in ("inf", "-inf", "nan"):
            return f"float({text!r})"
        return f"({text})" if text.startswith("-") else text

    def product_chain(self, factors: list[str]) -> str:
        return f"{self.helper('multi_dot')}([{', '.join(factors)}])"

    def reduction_of_product(self, op: str, factors: list[str]) -> str:
        helper = {"tr": "trace_of_product", "diag_vector": "diagonal_of_product"}[op]
        return self.call(helper, f"[{', '.join(factors)}]")

    def merged_factor(self, op: str, operand: str, factor: str, on_left: bool) -> str:
        if op == "inv":
            return f"_xp.linalg.solve({operand}, {factor})" if on_left else \
                f"_xp.linalg.solve({operand}.T, {factor}.T).T"
        return super().merged_factor(op, operand, factor, on_left)

    def gate(self, node, condition: str, x: str) -> str:
        """x where the condition holds, else 0, as x times the condition in
        the computation's dtype (the standard multiplies no booleans)."""
        return f"{x} * _xp.astype({condition}, _dtype)"

    def _print_inv(self, node, a): return f"1.0 / {a}" if node.shape.is_scalar else f"_xp.linalg.inv({a})"
    def _print_relu(self, node, a): return f"_xp.maximum({a}, 0.0)"
    def _print_softplus(self, node, a): return f"_xp.logaddexp(0.0, {a})"
    def _print_hardtanh(self, node, a): return f"_xp.clip({a}, -1.0, 1.0)"
    def _print_sigmoid(self, node, a): return self.call("sigmoid", a)
    def _print_sigmoid_slope(self, node, y, z): return f"{y} * _xp.exp(-_xp.logaddexp(0.0, {z}))"
    def _print_softplus_slope(self, node, z, y): return f"_xp.exp({z} - {y})"
    def _print_tanh_slope(self, node, y, z): return self.call("tanh_slope", y, z)
    def _print_gelu(self, node, a): return self.call("gelu", a)
    def _print_erf(self, node, a): return self.call("erf", a)
    def _print_leaky_relu(self, node, z, a): return f"_xp.where({z} > 0, {z}, {a} * {z})"
    def _print_elu(self, node, z, a): return f"_xp.where({z} > 0, {z}, {a} * _xp.expm1(_xp.minimum({z}, 0.0)))"
    def _print_max(self, node, a, b): return f"_xp.maximum({a}, {b})"
    def _print_min(self, node, a, b): return f"_xp.minimum({a}, {b})"
    def _print_gt(self, node, a, b): return f"_xp.astype(_xp.greater({a}, {b}), _dtype)"
    def _print_ge(self, node, a, b): return f"_xp.astype(_xp.greater_equal({a}, {b}), _dtype)"
    def _print_sqnorm(self, node, a): return f"_xp.sum({a} * {a})"
    def _print_sum(self, node, a): return f"_xp.sum({a})"
    def _print_mean(self, node, a): return f"_xp.mean({a})"
    def _print_tr(self, node, a): return a if node.args[0].shape.is_scalar else f"_xp.linalg.trace({a})"
    def _print_det(self, node, a): return a if node.args[0].shape.is_scalar else f"_xp.linalg.det({a})"
    def _print_logdet(self, node, a):
        return f"_xp.log(_xp.abs({a}))" if node.args[0].shape.is_scalar else f"_xp.linalg.slogdet({a})[1]"
    def _print_diag_matrix(self, node, a): return self.call("diagflat", a)
    def _print_diag_vector(self, node, a): return f"_xp.linalg.diagonal({a})[:, None]"
    def _print_norm(self, node, a): return f"_xp.sqrt(_xp.sum({a} * {a}))"
    def _print_norm_grad(self, node, a, y, g): return self.call("norm_grad", a, y, g)
    def _print_norm1(self, node, a): return f"_xp.sum(_xp.abs({a}))"
    def _print_rowsum(self, node, a): return f"_xp.sum({a}, axis=1, keepdims=True)"
    def _print_colsum(self, node, a): return f"_xp.sum({a}, axis=0, keepdims=True)"
    def _print_softmax(self, node, a): return self.call("softmax", a)
    def _print_log_softmax(self, node, a): return self.call("log_softmax", a)
    def _print_logsumexp(self, node, a): return self.call("logsumexp", a)
    def _print_softmax_grad(self, node, p, s, g): return self.call("softmax_grad", p, s, g)
    def _print_log_softmax_grad(self, node, y, g): return self.call("log_softmax_grad", y, g)
    def _print_fill(self, node, a): return f"_xp.broadcast_to({a}, {self.dims_tuple(node.data)})"
    def _print_identity(self, node): return f"_xp.eye({self.dim(node.data)}, dtype=_dtype, device=_device)"
    def _print_zeros(self, node): return f"_xp.zeros({self.dims_tuple(node.data)}, dtype=_dtype, device=_device)"


for _op in ("exp", "log", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh"):
    setattr(ArrayApiPrinter, f"_print_{_op}", lambda self, node, a, _op=_op: f"_xp.{_op}({a})")
