"""The NumPy backend: a checked, differentiated model as a standalone module.

The module needs only NumPy. It has, for the first `grad` statement,
`forward`, `backward`, `value_and_grad`, `evaluate` and the NamedTuple
`Grads` (see ../shared/spec/interfaces.md); with several statements each
target NAME also gets `forward_NAME`, ... One line of code per step, each
commented with the math it computes, its shape and its model line.

Names: model names are spelled by symgrad.naming; every name the module
itself introduces at module level starts with `_` (model spellings never
do), and the locals it introduces are chosen not to clash with any model
spelling, so no model can shadow NumPy or the module's own functions.
"""

from __future__ import annotations

import keyword
import re

from symgrad import __version__
from symgrad.differentiation import Derivation
from symgrad.ir import GradRequest, Node, Program, UserFunction, postorder
from symgrad.naming import python_names
from symgrad.notation import Printer

# Operations whose NumPy result may be a view of an operand (or an operand
# itself): a gradient computed by one is copied before it is returned.
VIEWS = {"variable", "transpose", "fill", "diag_vector", "argument"}

RUNTIME = '''
_ndarray = _np.ndarray


def _floats(value):
    """value as an array of floats (integers become float64)."""
    if type(value) is _ndarray and value.dtype.kind == "f":
        return value
    array = _np.asarray(value)
    return array if array.dtype.kind == "f" else array.astype(_np.float64)


def _matrix(value):
    """A matrix argument, and the shape it was passed with."""
    array = _floats(value)
    return array, array.shape


def _column(value):
    """A vector argument: shape (n,) is taken as the column (n, 1)."""
    array = _floats(value)
    return (array[:, None] if array.ndim == 1 else array), array.shape


def _row(value):
    """A row argument: shape (n,) is taken as the row (1, n)."""
    array = _floats(value)
    return (array[None, :] if array.ndim == 1 else array), array.shape


def _scalar_in(value, name):
    """A scalar argument, with its shape and dtype as given. A Python number
    stays one: NumPy treats it as weak, so it does not change the dtype."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), (), None
    array = _floats(value)
    if array.size != 1:
        raise ValueError(f"{name}: expected a scalar, got shape {array.shape}")
    return array.reshape(()), array.shape, array.dtype


def _bad_shape(name, given, expected, dims, bound_by):
    """Raise the ValueError of an argument of the wrong shape."""
    def show(dim):
        return f"{dim}={dims[dim]}" if dim in dims else str(dim)
    rows, cols = expected
    if cols == 1:
        text = f"({show(rows)},) or ({show(rows)}, 1)"
    elif rows == 1:
        text = f"(1, {show(cols)}) or ({show(cols)},)"
    else:
        text = f"({show(rows)}, {show(cols)})"
    sources = sorted(f"{d} from {bound_by[d]}" for d in (rows, cols) if d in bound_by)
    note = f" ({', '.join(sources)})" if sources else ""
    raise ValueError(f"{name}: expected shape {text}{note}, got shape {given}")


def _value_out(value, dtype):
    """A 1x1 result as a NumPy scalar of the computation's dtype."""
    if type(value) is _ndarray:
        return value.reshape(())[()]
    return dtype.type(value)


def _grad_out(gradient, shape, dtype, default_dtype, copy, upstream):
    """A gradient, times upstream, in the shape and dtype of its argument
    (dtype None: the argument was a Python number; use the computation's)."""
    if dtype is None:
        dtype = default_dtype
    if upstream != 1.0:
        gradient, copy = gradient * upstream, False
    gradient = _np.asarray(gradient)
    if gradient.shape != shape:
        gradient = gradient.reshape(shape)
    if gradient.dtype != dtype:
        return gradient.astype(dtype)[()]
    return gradient.copy()[()] if copy else gradient[()]
'''

HELPERS = {
    "sigmoid": '''
def _sigmoid(x):
    """1 / (1 + e^-x) = exp(-softplus(-x)): no overflow, and accurate in the
    tails (the relative error grows only with log(1 + e^-x))."""
    return _np.exp(-_np.logaddexp(0, -x))
''',
    "softmax": '''
def _softmax(s):
    """Softmax of each column, shifted by the column's max for stability."""
    e = _np.exp(s - _np.max(s, axis=0, keepdims=True))
    return e / _np.sum(e, axis=0, keepdims=True)
''',
    "logsumexp": '''
def _logsumexp(s):
    """log sum exp of each column (a row), shifted by the column's max."""
    m = _np.max(s, axis=0, keepdims=True)
    m = _np.where(_np.isfinite(m), m, 0)
    return m + _np.log(_np.sum(_np.exp(s - m), axis=0, keepdims=True))
''',
    "log_softmax": '''
def _log_softmax(s):
    """log softmax of each column: s - logsumexp(s)."""
    return s - _logsumexp(s)
''',
    "erf": '''
try:
    from scipy.special import erf as _erf
except ImportError:  # NumPy alone has no erf: fall back to math.erf, entry by entry
    import math as _math
    _erf = _np.vectorize(_math.erf, otypes=[float])
''',
    "gelu": '''
def _gelu(x):
    """x Φ(x), Φ the standard normal CDF."""
    return x * (0.5 * (1 + _erf(x * 0.7071067811865476)))
''',
}
NEEDS = {"log_softmax": ["logsumexp"], "gelu": ["erf"]}
ENTRY_POINTS = ("Grads", "forward", "backward", "value_and_grad", "evaluate")


class Namer:
    """Chooses local names that clash with no model name and no other local."""

    def __init__(self, taken):
        self.taken = set(taken)
        self.count = 0

    def fresh(self, wanted: str, own: bool = False) -> str:
        """A new local name like `wanted`; `own`: wanted is the value's own
        model spelling, which no other local can have."""
        if own:
            return wanted
        if wanted == "t" or not wanted.isidentifier() or keyword.iskeyword(wanted):
            self.count += 1
            wanted = f"t{self.count}"
        name = wanted
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name


class NumpyPrinter:
    """One method per IR operation: the NumPy expression for a node whose
    operands are already printed (each operand is a name or a number)."""

    def __init__(self, dims: dict, functions: dict[str, str], dtype: str):
        self.dims = dims            # dimension symbol -> local name
        self.functions = functions  # function name (user or derived) -> Python name
        self.dtype = dtype
        self.helpers: set[str] = set()

    def expression(self, node: Node, operands: list[str]) -> str:
        method = getattr(self, f"_print_{node.op}", None)
        if method is None:
            raise NotImplementedError(f"the NumPy backend has no rule for operation '{node.op}'")
        return method(node, *operands)

    def helper(self, name: str) -> str:
        for needed in NEEDS.get(name, []):
            self.helper(needed)
        self.helpers.add(name)
        return f"_{name}"

    def dim(self, dim) -> str:
        return str(dim) if isinstance(dim, int) else self.dims[dim]

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
    def _print_inv(self, node, a): return f"1.0 / {a}" if node.shape.is_scalar else f"_np.linalg.inv({a})"
    def _print_relu(self, node, a): return f"_np.maximum({a}, 0)"
    def _print_softplus(self, node, a): return f"_np.logaddexp(0, {a})"
    def _print_hardtanh(self, node, a): return f"_np.clip({a}, -1, 1)"
    def _print_sigmoid(self, node, a): return f"{self.helper('sigmoid')}({a})"
    def _print_gelu(self, node, a): return f"{self.helper('gelu')}({a})"
    def _print_erf(self, node, a): return f"{self.helper('erf')}({a})"
    def _print_leaky_relu(self, node, z, a): return f"_np.where({z} > 0, {z}, {a} * {z})"
    def _print_elu(self, node, z, a): return f"_np.where({z} > 0, {z}, {a} * _np.expm1(_np.minimum({z}, 0)))"
    def _print_max(self, node, a, b): return f"_np.maximum({a}, {b})"
    def _print_min(self, node, a, b): return f"_np.minimum({a}, {b})"
    def _print_gt(self, node, a, b): return f"_np.greater({a}, {b}).astype({self.dtype})"
    def _print_ge(self, node, a, b): return f"_np.greater_equal({a}, {b}).astype({self.dtype})"
    def _print_where_gt(self, node, a, b, x): return f"_np.where({a} > {b}, {x}, 0)"
    def _print_where_ge(self, node, a, b, x): return f"_np.where({a} >= {b}, {x}, 0)"
    def _print_sqnorm(self, node, a): return f"_np.vdot({a}, {a})"
    def _print_sum(self, node, a): return f"_np.sum({a})"
    def _print_mean(self, node, a): return f"_np.mean({a})"
    def _print_tr(self, node, a): return a if node.args[0].shape.is_scalar else f"_np.trace({a})"
    def _print_det(self, node, a): return a if node.args[0].shape.is_scalar else f"_np.linalg.det({a})"
    def _print_logdet(self, node, a):
        return f"_np.log(_np.abs({a}))" if node.args[0].shape.is_scalar else f"_np.linalg.slogdet({a})[1]"
    def _print_diag_matrix(self, node, a): return f"_np.diagflat({a})"
    def _print_diag_vector(self, node, a): return f"_np.diagonal({a})[:, None]"
    def _print_norm(self, node, a): return f"_np.sqrt(_np.sum({a} * {a}))"
    def _print_norm1(self, node, a): return f"_np.sum(_np.abs({a}))"
    def _print_rowsum(self, node, a): return f"_np.sum({a}, axis=1, keepdims=True)"
    def _print_colsum(self, node, a): return f"_np.sum({a}, axis=0, keepdims=True)"
    def _print_softmax(self, node, a): return f"{self.helper('softmax')}({a})"
    def _print_log_softmax(self, node, a): return f"{self.helper('log_softmax')}({a})"
    def _print_logsumexp(self, node, a): return f"{self.helper('logsumexp')}({a})"
    def _print_fill(self, node, a): return f"_np.broadcast_to({a}, {self.dims_tuple(node.data)})"
    def _print_identity(self, node): return f"_np.eye({self.dim(node.data)}, dtype={self.dtype})"
    def _print_zeros(self, node): return f"_np.zeros({self.dims_tuple(node.data)}, dtype={self.dtype})"

    def _print_apply(self, node, *args):
        return f"{self.functions[node.data]}({', '.join(args)})"


for _op in ("exp", "log", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh"):
    setattr(NumpyPrinter, f"_print_{_op}", lambda self, node, a, _op=_op: f"_np.{_op}({a})")


def number(value: float) -> str:
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):  # 1e999 reads as inf, which is no Python literal (but may be a name)
        text = f"{text[:-3]}_np.{text[-3:]}"
    return f"({text})" if text.startswith("-") else text


class FunctionWriter:
    """Writes the body of one generated function: one statement per node."""

    def __init__(self, module: "ModuleWriter", namer: Namer, names: dict[int, str],
                 absorbed: set[int] = frozenset()):
        self.module = module
        self.namer = namer
        self.names = dict(names)  # node id -> Python expression already available
        self.absorbed = absorbed  # matrix products computed inside a longer chain
        self.lines: list[str] = []

    def factors(self, node: Node) -> list[Node]:
        """The factors of a matrix-product chain, through the absorbed products."""
        if node.op == "matmul" and (node is self.chain_root or id(node) in self.absorbed):
            return [f for a in node.args for f in self.factors(a)]
        return [node]

    def value(self, node: Node) -> str:
        """The expression for node: its name, or an inlined leaf."""
        if id(node) in self.names:
            return self.names[id(node)]
        if node.op == "number":
            return number(node.data)
        if node.op == "dimension":
            return self.module.printer.dim(node.data)
        raise KeyError(node)

    def inline(self, node: Node) -> bool:
        return (node.op in ("number", "dimension") or
                node.op == "transpose" and (id(node.args[0]) in self.names or node.args[0].op == "number"))

    chain_root = None

    def emit(self, node: Node, name_hint: str, math_names: dict[int, tuple[str, bool]], own: bool = False):
        if id(node) in self.names or node.op in ("number", "dimension") or id(node) in self.absorbed:
            return
        self.chain_root = node
        factors = self.factors(node)
        if len(factors) > 2:
            # The cheapest order depends on the sizes, known only at call time.
            expression = f"_np.linalg.multi_dot([{', '.join(self.value(f) for f in factors)}])"
        else:
            expression = self.module.printer.expression(node, [self.value(a) for a in node.args])
        if self.inline(node):
            self.names[id(node)] = expression
            return
        name = self.namer.fresh(name_hint, own)
        self.names[id(node)] = name
        model_name = math_names.pop(id(node), None)
        math = Printer(math_names, self.module.arities).doc(node)
        math_names[id(node)] = model_name or (name, False)
        where = f"  ({self.module.filename}:{node.span.line})" if node.span else ""
        self.lines.append(f"    {name} = {expression}")
        self.lines.append(f"    # {math_names[id(node)][0]} = {math} : {node.shape}{where}")


class ModuleWriter:
    def __init__(self, program: Program, derivations: list[Derivation]):
        self.program = program
        self.derivations = derivations
        # Shown in comments only, escaped so that no file name can end one.
        self.filename = repr(program.source.filename)[1:-1]
        model_names = list(program.variables) + list(program.dims) + list(program.definitions) \
            + list(program.functions)
        self.spelled = python_names(model_names)
        partials = derivations[0].builder._partial if derivations else None
        self.partials = partials
        self.arities = partials.arities() if partials else {}
        # A user function keeps its spelling unless the module needs that name
        # (an entry point, `cache`, `upstream`): then it gets one more `_`.
        suffixes = [""] + [f"_{self.spelled.get(d.request.target, d.request.target)}" for d in derivations]
        reserved = {"cache", "upstream"} | {kind + suffix for kind in ENTRY_POINTS for suffix in suffixes}
        self.functions: dict[str, str] = {}
        for name in program.functions:
            spelling = self.spelled[name]
            while spelling in reserved or spelling != self.spelled[name] and spelling in self.spelled.values():
                spelling += "_"
            self.functions[name] = spelling
        self.derived: list[UserFunction] = []
        for (original, index), function in (partials.derived.items() if partials else ()):
            if function is not None:
                self.derived.append(function)
                self.functions[function.name] = f"_d{index + 1}_{self.spelled[original]}"
        self.printer = NumpyPrinter({d: self.spelled[d] for d in program.dims}, self.functions, "_dtype")
        # Locals for the shape and dtype each argument was passed with.
        namer = Namer(self.taken())
        self.given = {v.name: (namer.fresh(f"{self.spelled[v.name]}_shape"),
                               namer.fresh(f"{self.spelled[v.name]}_dtype")) for v in program.arguments}

    def shown_arity(self, function: UserFunction) -> int:
        return self.arities.get(function.name, len(function.params))

    def taken(self) -> set[str]:
        return set(self.spelled.values()) | set(self.functions.values()) | {"cache", "upstream"}

    # ------------------------------------------------------------ module
    def write(self) -> str:
        sections = [self.header()]
        functions_code = [self.user_function(f, self.functions[f.name]) for f in
                          list(self.program.functions.values()) + self.derived]
        requests = [self.request_code(d, index) for index, d in enumerate(self.derivations)]
        helpers = "".join(HELPERS[name] for name in HELPERS if name in self.printer.helpers)
        sections.append(RUNTIME + helpers)
        sections += functions_code
        sections += requests
        return "\n\n".join(s.strip("\n") for s in sections) + "\n"

    def header(self) -> str:
        requests = ", ".join(f"grad {r.target} wrt {', '.join(v.name for v in r.wrt)}" for r in self.program.grads)
        return (f"# Generated by symgrad {__version__} from {self.filename}: {requests}.\n"
                f"# Do not edit: regenerate with `symgrad compile`. Needs only NumPy.\n\n"
                f"from typing import NamedTuple as _NamedTuple\n\nimport numpy as _np")

    def user_function(self, function: UserFunction, name: str) -> str:
        """A scalar formula as a Python function of arrays, one expression."""
        # A derived function's last parameter may be the original's output,
        # written `f(t)` in the math and `f` in Python.
        spelled = python_names([p.split("(")[0] for p in function.params])
        params = dict(zip(function.params, spelled.values()))
        values: dict[int, str] = {}
        for node in postorder([function.body]):
            if node.op == "argument":
                values[id(node)] = params[node.data]
            elif node.op == "variable":
                values[id(node)] = number(self.program.variables[node.data].value)
            elif node.op == "number":
                values[id(node)] = number(node.data)
            else:
                operands = [v if v.isidentifier() or v.replace(".", "").isdigit() else f"({v})"
                            for v in (values[id(a)] for a in node.args)]
                values[id(node)] = self.printer.expression(node, operands)
        math = Printer(arities=self.arities).doc(function.body)
        arrays = ", ".join(params.values())
        body, lines = values[id(function.body)], []
        # An indicator needs the arguments' dtype; a formula that does not read
        # every argument (a constant partial) must still have their shape and dtype.
        read = {node.data for node in postorder([function.body]) if node.op == "argument"}
        output = [p for p in function.params if "(" in p]  # a partial's f(t) has the full shape
        constant_in_some = read != set(function.params) and not read & set(output)
        if constant_in_some or re.search(r"\b_dtype\b", body):
            lines.append(f"    _dtype = _np.result_type({arrays})")
        if constant_in_some:
            body = f"_np.full(_np.broadcast({arrays}).shape, {body}, _dtype)"
        return (f"def {name}({arrays}):\n"
                f'    """{function.name}({", ".join(function.params[:self.shown_arity(function)])}) = {math}, '
                f'entry by entry."""\n'
                + "".join(line + "\n" for line in lines) +
                f"    return {body}")

    # ---------------------------------------------------- one grad statement
    def request_code(self, derivation: Derivation, index: int) -> str:
        request = derivation.request
        suffix = "" if len(self.derivations) == 1 else f"_{self.spelled.get(request.target, request.target)}"
        arguments = [self.spelled[v.name] for v in self.program.arguments]
        signature = ", ".join(arguments)
        grads = f"Grads{suffix}"
        fields = "\n".join(f"    {self.spelled[v.name]}: object" for v in request.wrt)
        doc_args = ", ".join(f"{v.name}: {v.shape}" for v in self.program.arguments) or "none"
        target = request.target

        forward_body, forward_names, forward_writer = self.forward_body(derivation)
        cache_names = self.cache_nodes(derivation)
        cache = [f"{forward_writer.value(node)!r}: {forward_writer.value(node)}" for node in cache_names]
        cache += [f"{('given:' + v.name)!r}: ({', '.join(self.given[v.name])})" for v in request.wrt]
        cache += [f"{('dim:' + d)!r}: {self.spelled[d]}" for d in self.program.dims]
        cache.append("'_dtype': _dtype")
        result = forward_writer.value(request.node)

        unpack = ["    _cache, _upstream = cache, upstream"]
        unpack += [f"    {forward_writer.value(n)} = _cache[{forward_writer.value(n)!r}]" for n in cache_names]
        unpack += [f"    {self.spelled[d]} = _cache['dim:{d}']" for d in self.program.dims]
        unpack += [f"    {', '.join(self.given[v.name])} = _cache[{('given:' + v.name)!r}]" for v in request.wrt]
        unpack.append("    _dtype = _cache['_dtype']")
        cached = {id(n): forward_writer.value(n) for n in cache_names}
        taken, count = forward_writer.namer.taken, forward_writer.namer.count
        backward_lines, backward_result = self.backward_body(derivation, cached, taken, count,
                                                             "_upstream", f"_{grads}")
        fused_lines, fused_result = self.backward_body(derivation, forward_names, taken, count,
                                                       "1.0", f"_{grads}")
        parts = [
            f"class {grads}(_NamedTuple):\n"
            f'    """The gradients of {target}, in `wrt` order."""\n{fields}',
            f"def forward{suffix}({signature}):\n"
            f'    """({target}, cache for backward). Arguments: {doc_args}."""\n'
            + "\n".join(forward_body) + "\n"
            f"    _cache = {{{', '.join(cache)}}}\n"
            f"    return _value_out({result}, _dtype), _cache",
            f"def backward{suffix}(cache, upstream=1.0):\n"
            f'    """The gradients of {target} from forward\'s cache, times upstream."""\n'
            + "\n".join(unpack + backward_lines) + f"\n    return {backward_result}",
            f"def value_and_grad{suffix}({signature}):\n"
            f'    """({target}, its gradients) in one call. Arguments: {doc_args}."""\n'
            + "\n".join(forward_body + fused_lines) + "\n"
            f"    return _value_out({result}, _dtype), {fused_result}",
            f"def evaluate{suffix}({signature}):\n"
            f'    """{target} alone: no cache, no backward work. Arguments: {doc_args}."""\n'
            + "\n".join(self.forward_body(derivation, wrt=False)[0]) + "\n"
            f"    return _value_out({result}, _dtype)",
            # Internal references go through names no model spelling can shadow.
            f"_{grads} = {grads}",
        ]
        if suffix and index == 0:
            parts.append("\n".join(f"{name} = {name}{suffix}" for name in ENTRY_POINTS))
        return "\n\n\n".join(parts)

    def math_names(self) -> dict[int, tuple[str, bool]]:
        names = {id(v.node): (v.name, False) for v in self.program.variables.values()}
        names.update({id(node): (name, False) for name, node in self.program.definitions.items()})
        return names

    def prologue(self, wrt: set[str]) -> list[str]:
        """Take the arguments: floats, vectors as columns, dims bound from the
        first array that has them and checked against every other."""
        lines: list[str] = []
        bound: dict[str, str] = {}  # dim -> the variable that bound it
        for variable in self.program.arguments:
            name = self.spelled[variable.name]
            shape, dtype = self.given[variable.name]
            if variable.shape.is_scalar:
                given = f"{shape}, {dtype}" if variable.name in wrt else "_, _"
                lines.append(f"    {name}, {given} = _scalar_in({name}, {variable.name!r})")
                continue
            rows, cols = variable.shape.dims()
            taker = "_column" if cols == 1 else "_row" if rows == 1 else "_matrix"
            lines.append(f"    {name}, {shape} = {taker}({name})")
            if variable.name in wrt:
                lines.append(f"    {dtype} = {name}.dtype")
            known = ", ".join(f"{d!r}: {self.spelled[d]}" for d in bound)
            by = ", ".join(f"{d!r}: {v!r}" for d, v in bound.items())
            bad = f"_bad_shape({variable.name!r}, {shape}, {(rows, cols)!r}, {{{known}}}, {{{by}}})"
            checks, binds, later = [f"{name}.ndim != 2"], [], []
            for axis, dim in enumerate((rows, cols)):
                if isinstance(dim, int):
                    checks.append(f"{name}.shape[{axis}] != {dim}")
                elif dim in bound:
                    checks.append(f"{name}.shape[{axis}] != {self.spelled[dim]}")
                elif any(d == dim for _, d in binds):  # R^(n x n): the second n checks the first
                    later.append(f"{name}.shape[{axis}] != {self.spelled[dim]}")
                else:
                    binds.append((axis, dim))
            lines.append(f"    if {' or '.join(checks)}:\n        {bad}")
            if len(binds) == 2:
                lines.append(f"    {self.spelled[rows]}, {self.spelled[cols]} = {name}.shape")
            elif binds:
                axis, dim = binds[0]
                lines.append(f"    {self.spelled[dim]} = {name}.shape[{axis}]")
            if later:
                lines.append(f"    if {' or '.join(later)}:\n        {bad}")
            bound.update({dim: variable.name for _, dim in binds})
        for variable in self.program.variables.values():
            if variable.value is not None:
                lines.append(f"    {self.spelled[variable.name]} = {number(variable.value)}")
        arrays = [self.spelled[v.name] for v in self.program.arguments]
        lines.append(f"    _dtype = _np.result_type({', '.join(arrays)})" if arrays
                     else "    _dtype = _np.dtype(_np.float64)")
        return lines

    def forward_body(self, derivation: Derivation, wrt: bool = True):
        """The prologue and one line per forward step, with the writer that
        knows the name of every value computed."""
        request = derivation.request
        lines = self.prologue({v.name for v in request.wrt} if wrt else set())
        namer = Namer(self.taken() | {n for pair in self.given.values() for n in pair})
        leaves = {id(v.node): self.spelled[v.name] for v in self.program.variables.values()}
        writer = FunctionWriter(self, namer, leaves, self.absorbed_products(derivation))
        math_names = self.math_names()
        for node in postorder([request.node]):
            own = node.name in self.program.definitions and self.program.definitions[node.name] is node
            writer.emit(node, self.spelled[node.name] if own else "t", math_names, own)
        self.forward_math = math_names
        return lines + writer.lines, dict(writer.names), writer

    def absorbed_products(self, derivation: Derivation) -> set[int]:
        """Matrix products used once, by another matrix product, and neither
        named by the model nor needed by the gradients: they are computed
        inside the longer chain, whose order is chosen at call time."""
        forward = postorder([derivation.request.node])
        gradient = gradient_order(derivation, {id(n) for n in forward})
        uses: dict[int, list[str]] = {}
        for node in forward + gradient:
            for arg in node.args:
                uses.setdefault(id(arg), []).append(node.op)
        for root in [derivation.request.node, *derivation.gradients.values()]:
            uses.setdefault(id(root), []).append("result")
        return {id(node) for node in forward + gradient
                if node.op == "matmul" and uses.get(id(node)) == ["matmul"]
                and not (node.name in self.program.definitions and self.program.definitions[node.name] is node)}

    def cache_nodes(self, derivation: Derivation) -> list[Node]:
        """Forward values (and variables) the gradient graph reads."""
        forward = {id(n) for n in postorder([derivation.request.node])}
        return [n for n in gradient_order(derivation, forward) if id(n) in forward
                and n.op not in ("number", "dimension")]

    def backward_body(self, derivation: Derivation, available: dict[int, str], taken: set[str], count: int,
                      upstream: str, grads_class: str) -> tuple[list[str], str]:
        """One line per gradient step, given the forward values by name, and
        the expression that returns the gradients."""
        request = derivation.request
        namer = Namer(taken | set(available.values()))
        namer.count = count
        writer = FunctionWriter(self, namer, available, self.absorbed_products(derivation))
        signal_names = {}
        for forward, gradient in derivation.signals:
            if id(gradient) not in signal_names and forward.name and gradient.args:
                signal_names[id(gradient)] = f"delta_{self.spelled.get(forward.name, 't')}"
        roots = {id(node): f"grad_{self.spelled[name]}" for name, node in derivation.gradients.items()}
        math_names = dict(self.forward_math)
        for node in gradient_order(derivation, set(available)):
            hint = signal_names.get(id(node)) or roots.get(id(node)) or "t"
            if hint.startswith("delta_"):
                math_names[id(node)] = ("δ_" + hint[len("delta_"):], False)
            writer.emit(node, hint, math_names)
        results, returned = [], set()
        for variable in request.wrt:
            gradient = derivation.gradients[variable.name]
            # Never hand back an input, a view of one, or one array twice.
            copy = gradient.op in VIEWS or id(gradient) in available or id(gradient) in returned
            returned.add(id(gradient))
            shape, dtype = self.given[variable.name]
            value = writer.value(gradient)
            if upstream == "1.0" and not variable.shape.is_scalar:  # the hot path, inline
                results.append(f"        {value}.reshape({shape}).astype({dtype}, copy={copy}),")
            else:
                results.append(f"        _grad_out({value}, {shape}, {dtype}, _dtype, {copy}, {upstream}),")
        return writer.lines, f"{grads_class}(\n" + "\n".join(results) + "\n    )"


def gradient_order(derivation: Derivation, available: set[int]) -> list[Node]:
    """The gradient graph's nodes, operands first, not descending below the
    nodes in `available` (forward values come from the cache, not again)."""
    return postorder(derivation.gradients.values(), stop=available)


def generate(program: Program, derivations: list[Derivation]) -> str:
    """The source of the NumPy module for a program and its derivations."""
    return ModuleWriter(program, derivations).write()
