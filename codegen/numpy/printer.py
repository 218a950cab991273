"""The NumPy target's printer: one rule per IR operation, the NumPy
expression of a node whose operands are already printed."""

from __future__ import annotations

from symgrad.ir import Node
from symgrad.shapes import dim_python

from .. import LINE_WIDTH, carried_sections, packed


class NumpyPrinter:
    """One method per IR operation: the NumPy expression for a node whose
    operands are already printed (each operand is a name or a number)."""

    dtype = "_dtype"  # the local holding the arguments' common dtype
    # The module's name for its array library: every rule writes its
    # functions through it, so that a target over another library with the
    # same functions (array_api) changes only this, as SymPy's JAX printer
    # changes its NumPy printer's module name.
    xp = "_np"
    # 0 and 1 beside an array in a function's arguments: NumPy takes integers.
    zero, one = "0", "1"

    def __init__(self, dims: dict, functions: dict[str, str], arguments: list[str]):
        self.dims = dims            # dimension symbol -> local name
        self.functions = functions  # function name (user or derived) -> Python name
        self.arguments = arguments  # the arguments' local names, in order
        self.helpers: set[str] = set()

    UFUNCS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "neg": "negative",
              "exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "absolute", "sign": "sign", "sin": "sin",
              "cos": "cos", "tan": "tan", "tanh": "tanh"}

    def inplace(self, node: Node, operands: list[str], position: int, out: str) -> str | None:
        """node's expression writing into operand `position`, or None."""
        if node.op in self.UFUNCS:
            return f"_np.{self.UFUNCS[node.op]}({', '.join(operands)}, out={out})"
        if node.op == "add_diagonal" and position == 0:
            return self.call("plus_diagonal", *operands, f"out={out}")
        if node.op == "relu":
            return f"_np.maximum({operands[0]}, 0, out={out})"
        if node.op in ("where_gt", "where_ge") and position == 2:
            a, b, x = operands
            return f"_np.multiply({x}, {a} {'>' if node.op == 'where_gt' else '>='} {b}, out={out})"
        return None

    def inplace_guard(self) -> list[str]:
        """The lines an entry point needs before its in-place forms: none,
        _arguments decides `_inplace` (dtype_lines) once per call."""
        return []

    def expression(self, node: Node, operands: list[str]) -> str:
        method = getattr(self, f"_print_{node.op}", None)
        if method is None:
            raise NotImplementedError(f"the NumPy backend has no rule for operation '{node.op}'")
        return method(node, *operands)

    # The runtime files (codegen.RUNTIME_FILES) whose helpers the modules carry.
    RUNTIME = ("runtime", "helpers", "shared_helpers")
    # The locals that describe a call: computed by _arguments, kept in the cache.
    STATE = ("_dtype", "_inplace")
    # The locals that say where a new array goes: the helpers that make one take them last.
    placement = ("_dtype",)

    def helper(self, name: str) -> str:
        """The name `_NAME` of a helper of the RUNTIME files, which the
        module then carries (with the helpers it needs)."""
        section = next(sections[name] for sections in map(carried_sections, self.RUNTIME) if name in sections)
        for needed in section[1]:
            self.helper(needed)
        self.helpers.add(name)
        return f"_{name}"

    def call(self, name: str, *args: str) -> str:
        """A call of the helper NAME on args."""
        return f"{self.helper(name)}({', '.join(args)})"

    def helpers_code(self) -> str:
        """The helpers the module uses, in the RUNTIME files' order, each
        after the helpers it needs (which another file may hold), two blank
        lines apart (each text ends with its own line end). A name that two
        files have: the first's, as helper finds it."""
        sections: dict[str, tuple[str, tuple[str, ...]]] = {}
        for kind in self.RUNTIME:
            for name, section in carried_sections(kind).items():
                sections.setdefault(name, section)
        texts: dict[str, str] = {}

        def add(name: str) -> None:
            if name not in texts:
                text, needs = sections[name]
                for needed in needs:
                    add(needed)
                texts[name] = text
        for name in sections:
            if name in self.helpers:
                add(name)
        return "\n\n".join(texts.values())

    def arguments_prologue(self, arrays: list[str]) -> list[str]:
        """The first lines of _arguments (NumPy needs none)."""
        return []

    def dtype_lines(self, arrays: list[str], scalars: list[str]) -> list[str]:
        """The last lines of _arguments: the computation's dtype, from the
        taken arguments (`scalars`: those that are 1x1)."""
        dtype = f"    _dtype = _np.result_type({', '.join(arrays)})" if arrays else "    _dtype = _np.dtype(_np.float64)"
        # Steps may write results into temporaries (inplace) only where every
        # argument has the computation's dtype: no value then loses precision.
        # A scalar passed as a Python number has none, and changes no dtype.
        same = [f"{a}.dtype" for a in arrays if a not in scalars] + [f"getattr({a}, 'dtype', _dtype)" for a in scalars]
        inplace = f"    _inplace = {' == '.join(same + ['_dtype'])}"
        if len(inplace) > LINE_WIDTH:
            inplace = "\n".join(packed("    _inplace = (", same + ["_dtype"], ")", " == "))
        return [dtype, inplace]

    def function_prologue(self, arrays: str) -> list[str]:
        """The lines that give a user function of `arrays` the locals its
        indicators and constant results read."""
        return [f"    _dtype = _np.result_type({arrays})"]

    def filled(self, arrays: str, value: str) -> str:
        """A constant value in the broadcast shape of arrays."""
        return f"_np.full(_np.broadcast({arrays}).shape, {value}, _dtype)"

    @staticmethod
    def number(value: float) -> str:
        return number(value)

    def product_chain(self, factors: list[str]) -> str:
        """A product of three or more matrices, in the cheapest order for
        the sizes at call time."""
        return f"_np.linalg.multi_dot([{', '.join(factors)}])"

    def reduction_of_product(self, op: str, factors: list[str]) -> str:
        """tr or diag_vector of the product of factors, without the product."""
        helper = {"tr": "trace_of_product", "diag_vector": "diagonal_of_product"}[op]
        return self.call(helper, f"[{', '.join(factors)}]")

    def sum_of_product(self, a: str, b: str) -> str:
        """sum(A ∘ B) of two operands of one shape, without A ∘ B."""
        return f"{self.xp}.vdot({a}, {b})"

    def entries_of(self, values: list[str], nodes: list[Node]) -> str:
        """The entries of the values (vectors, scalars: `nodes`) as one 1-D array."""
        return self.call("entries_of", f"({', '.join(values)},)", *self.placement)

    def weighted_gram(self, a: str, d: str) -> str:
        """Aᵀ diag(d) A of a column d ≥ 0 (schedule.weighted_gram)."""
        return self.call("weighted_gram", a, d)

    def merged_factor(self, op: str, operand: str, factor: str, on_left: bool) -> str:
        """op(operand) times factor, with op(operand) on the left or the
        right, without forming op(operand): inv is a solve, diag_matrix a
        scaling of rows or columns."""
        if op == "inv":
            return f"{self.xp}.linalg.solve({operand}, {factor})" if on_left else \
                f"{self.xp}.linalg.solve({operand}.T, {factor}.T).T"
        return f"{operand} * {factor}" if on_left else f"{factor} * {operand}.T"

    def placed(self) -> str:
        """The keywords that make a new array of the computation's dtype."""
        return f"dtype={self.dtype}"

    def dim(self, dim) -> str:
        """A dimension as Python: a number, a symbol's local, or a polynomial of them."""
        return dim_python(dim, self.dims)

    def dims_tuple(self, dims) -> str:
        return f"({self.dim(dims[0])}, {self.dim(dims[1])})"

    # leaves are printed by the writer; these are the operations
    def _print_add(self, node, a, b): return f"{a} + {b}"
    def _print_sub(self, node, a, b): return f"{a} - {b}"
    def _print_mul(self, node, a, b): return f"{a} * {b}"
    def _print_div(self, node, a, b): return f"{a} / {b}"
    def _print_neg(self, node, a): return f"-{a}"
    def _print_pow(self, node, a, b): return f"{a} ** {b}"
    def _print_matmul(self, node, a, b): return f"{a} @ {b}"
    # A 1x1 operand may be a Python float or a 0-d array: no .T, no linalg.
    def _print_transpose(self, node, a): return a if node.shape.is_scalar else f"{a}.T"
    def _print_inv(self, node, a): return f"1.0 / {a}" if node.shape.is_scalar else f"{self.xp}.linalg.inv({a})"
    def _print_relu(self, node, a): return f"{self.xp}.maximum({a}, {self.zero})"
    def _print_softplus(self, node, a): return self.call("softplus", a)
    def _print_hardtanh(self, node, a): return f"{self.xp}.clip({a}, -{self.one}, {self.one})"
    def _print_sigmoid(self, node, a): return self.call("sigmoid", a)
    # 1 - σ(z) is σ(-z) = exp(-softplus(z)): no digit lost where σ(z) rounds to 1
    def _print_sigmoid_slope(self, node, y, z): return self.call("sigmoid_slope", y, z)
    def _print_softplus_slope(self, node, z, y): return f"{self.xp}.exp({z} - {y})"
    def _print_tanh_slope(self, node, y, z): return self.call("tanh_slope", y, z)
    def _print_gelu(self, node, a): return self.call("gelu", a)
    def _print_erf(self, node, a): return self.call("erf", a)
    def _print_leaky_relu(self, node, z, a): return f"{self.xp}.where({z} > 0, {z}, {a} * {z})"
    def _print_elu(self, node, z, a):
        return f"{self.xp}.where({z} > 0, {z}, {a} * {self.xp}.expm1({self.xp}.minimum({z}, {self.zero})))"
    def _print_max(self, node, a, b): return f"{self.xp}.maximum({a}, {b})"
    def _print_min(self, node, a, b): return f"{self.xp}.minimum({a}, {b})"
    def _print_gt(self, node, a, b): return f"{self.xp}.greater({a}, {b}).astype({self.dtype})"
    def _print_ge(self, node, a, b): return f"{self.xp}.greater_equal({a}, {b}).astype({self.dtype})"
    def _print_where_gt(self, node, a, b, x): return self.gate(node, f"{a} > {b}", x)
    def _print_where_ge(self, node, a, b, x): return self.gate(node, f"{a} >= {b}", x)

    def gate(self, node, condition: str, x: str) -> str:
        """x where the condition holds, else 0, as x * mask: four times faster
        than np.where(condition, x, 0). A number is made a NumPy scalar of the
        computation's dtype first, so that float32 stays float32."""
        if node.args[2].op == "number":
            x = f"{self.dtype}.type({x})"
        return f"{x} * ({condition})"

    def _print_sqnorm(self, node, a): return f"{self.xp}.vdot({a}, {a})"
    def _print_sum(self, node, a): return f"{self.xp}.sum({a})"
    def _print_mean(self, node, a): return f"{self.xp}.mean({a})"
    def _print_tr(self, node, a): return a if node.args[0].shape.is_scalar else f"{self.xp}.trace({a})"
    def _print_det(self, node, a): return a if node.args[0].shape.is_scalar else f"{self.xp}.linalg.det({a})"
    def _print_logdet(self, node, a):
        xp = self.xp
        return f"{xp}.log({xp}.abs({a}))" if node.args[0].shape.is_scalar else f"{xp}.linalg.slogdet({a})[1]"
    def _print_diag_matrix(self, node, a): return f"{self.xp}.diagflat({a})"
    def _print_diag_vector(self, node, a): return f"{self.xp}.diagonal({a})[:, None]"
    def _print_norm(self, node, a): return f"{self.xp}.sqrt({self.xp}.sum({a} * {a}))"
    def _print_norm_grad(self, node, a, y, g): return self.call("norm_grad", a, y, g)
    def _print_norm1(self, node, a): return f"{self.xp}.sum({self.xp}.abs({a}))"
    def _print_rowsum(self, node, a): return f"{self.xp}.sum({a}, axis=1, keepdims=True)"
    def _print_colsum(self, node, a): return f"{self.xp}.sum({a}, axis=0, keepdims=True)"
    def _print_softmax(self, node, a): return self.call("softmax", a)
    def _print_log_softmax(self, node, a): return self.call("log_softmax", a)
    def _print_logsumexp(self, node, a): return self.call("logsumexp", a)
    def _print_softmax_grad(self, node, p, s, g): return self.call("softmax_grad", p, s, g)
    def _print_log_softmax_grad(self, node, y, g): return self.call("log_softmax_grad", y, g)
    def _print_fill(self, node, a): return f"{self.xp}.broadcast_to({a}, {self.dims_tuple(node.data)})"
    def _print_identity(self, node): return f"{self.xp}.eye({self.dim(node.data)}, {self.placed()})"
    def _print_zeros(self, node): return f"{self.xp}.zeros({self.dims_tuple(node.data)}, {self.placed()})"
    def _print_add_diagonal(self, node, a, c): return self.call("plus_diagonal", a, c)

    # ------------------------------------------------------------ indexing
    # A vector of ids is a 1-D integer array inside the module, one id a
    # Python int (the writer's _arguments makes them so).
    @staticmethod
    def single(ids: Node) -> bool:
        """Whether an ids operand is one id (1x1), not a vector of them."""
        return ids.shape.is_scalar

    def _print_gather(self, node, a, ids):
        """A[:, w] (cols) or A[w] (rows): np.take is the fastest gather of
        columns measured (benchmarks/scatter_methods.py); one id keeps its
        axis (a view), and a 1x1 result is the entry."""
        cols = node.data == "cols"
        if node.shape.is_scalar:
            return f"{a}[0, {ids}]" if cols else f"{a}[{ids}, 0]"
        if self.single(node.args[1]):
            return f"{a}[:, {ids}, None]" if cols else f"{a}[{ids}, None]"
        return f"{self.xp}.take({a}, {ids}, axis={1 if cols else 0})"

    def _print_scatter(self, node, g, ids):
        axis = 1 if node.data[0] == "cols" else 0
        if self.single(node.args[1]):
            return self.call("scatter_one", g, ids, self.dims_tuple(node.shape.dims()), str(axis), self.dtype)
        return self.call("scatter", g, ids, self.dim(node.data[1]), str(axis))

    def _print_block(self, node, a):
        r0, r1, c0, c1 = (self.dim(d) for d in node.data)
        if node.shape.is_scalar:
            return f"{a}[{r0}, {c0}]" if not node.args[0].shape.is_scalar else a
        return f"{a}[{r0}:{r1}, {c0}:{c1}]"

    def _print_unblock(self, node, g):
        r0, c0, rows, cols = (self.dim(d) for d in node.data)
        return self.call("placed", g, r0, c0, f"({rows}, {cols})", self.dtype)

    def _print_pick(self, node, s, y):
        if self.single(node.args[1]):
            return f"{s}[{y}, 0]"
        positions = self.call("positions_of", f"{y}.shape[0]")
        return f"{s}[{y}, {positions}][None, :]"

    def _print_pick_scatter(self, node, g, y):
        if self.single(node.args[1]):
            return self.call("scatter_one", g, y, f"({self.dim(node.data)}, 1)", "0", self.dtype)
        return self.call("pick_scatter", g, y, self.dim(node.data), self.dtype)

    def _print_onehot(self, node, y):
        return self.call("onehot", y, self.dim(node.data), self.dtype)

    def stacked(self, node, operands, axis: int) -> str:
        """The operands joined along an axis; a 1x1 operand (a number, or a
        0-d value) as a 1x1 array of the computation's dtype."""
        parts = [f"{self.xp}.full((1, 1), {o}, {self.dtype})" if arg.shape.is_scalar else o
                 for arg, o in zip(node.args, operands)]
        return f"{self.xp}.concatenate(({', '.join(parts)},), axis={axis})"

    def _print_vstack(self, node, *operands): return self.stacked(node, operands, 0)
    def _print_hstack(self, node, *operands): return self.stacked(node, operands, 1)

    # vec stacks the columns (column-major, order="F"). reshape returns a view
    # of its operand where the memory allows (a column, an F-ordered matrix):
    # only where the operation is marked a view (Op.view), which the schedule
    # then never writes into nor hands back uncopied; else a copy.
    def _print_vec(self, node, a): return a if node.shape.is_scalar else self.reshaped(node, a, "(-1, 1)")
    def _print_unvec(self, node, g):
        return g if node.shape.is_scalar else self.reshaped(node, g, self.dims_tuple(node.shape.dims()))

    def reshaped(self, node, a: str, shape: str) -> str:
        # A view where NumPy can (vec and unvec are views in ops.py: never handed back uncopied).
        return f"{self.xp}.reshape({a}, {shape}, order='F')"

    def scatter_into(self, node: Node, base: str, out: str, scattered: Node, operands: list[str]) -> str | None:
        """base ± scattered (a scatter or pick_scatter of `operands`) with
        the scattered values added into `out` (base's buffer, or None where
        it may not be written): only the k columns (rows) at the ids are
        touched, not an array of base's size."""
        sign = "-1" if node.op == "sub" else "1"
        if self.single(scattered.args[1]):
            return None
        if scattered.op == "pick_scatter":
            return self.call("pick_scatter_add", base, out, *operands, sign)
        axis = "1" if scattered.data[0] == "cols" else "0"
        return self.call("scatter_add", base, out, *operands, axis, sign)

    def _print_apply(self, node, *args):
        return f"{self.functions[node.data]}({', '.join(args)})"


for _op in ("exp", "log", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh"):
    setattr(NumpyPrinter, f"_print_{_op}", lambda self, node, a, _op=_op: f"{self.xp}.{_op}({a})")


def number(value: float) -> str:
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):  # 1e999 reads as inf, which is no Python literal (but may be a name)
        text = f"{text[:-3]}_np.{text[-3:]}"
    return f"({text})" if text.startswith("-") else text

