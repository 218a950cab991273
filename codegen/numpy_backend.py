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

from symgrad import __version__
from symgrad.differentiation import Derivation
from symgrad.ir import GradRequest, Node, Program, UserFunction, postorder
from symgrad.naming import python_names
from symgrad.notation import Printer

# Operations whose NumPy result may be a view of an operand (or an operand
# itself): a gradient computed by one is copied before it is returned.
VIEWS = {"variable", "transpose", "fill", "diag_vector", "argument"}

RUNTIME = '''
def _take(value, name, rows, cols, dims, bound_by):
    """value as a 2-D float array of shape (rows, cols), or a scalar;
    binds the symbolic dimensions in dims, checking them against earlier ones."""
    if rows == 1 and cols == 1 and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), ((), None)
    array = _np.asarray(value)
    if not _np.issubdtype(array.dtype, _np.floating):
        array = array.astype(_np.float64)
    given = array.shape
    if rows == 1 and cols == 1:
        wanted = [(1, 1)] if array.size != 1 else [given]
    elif cols == 1:
        wanted = [(None,), (None, 1)]
    elif rows == 1:
        wanted = [(1, None), (None,)]
    else:
        wanted = [(None, None)]
    if not any(len(w) == len(given) for w in wanted):
        _mismatch(name, rows, cols, dims, bound_by, given)
    if rows == 1 and cols == 1:
        return array.reshape(()), (given, array.dtype)
    actual = (given[0], 1) if (cols == 1 and len(given) == 1) else \\
        (1, given[0]) if len(given) == 1 else given
    for dim, size in zip((rows, cols), actual):
        if isinstance(dim, str):
            if dims.setdefault(dim, size) != size:
                _mismatch(name, rows, cols, dims, bound_by, given)
            bound_by.setdefault(dim, name)
        elif dim != size:
            _mismatch(name, rows, cols, dims, bound_by, given)
    return array.reshape(actual), (given, array.dtype)


def _mismatch(name, rows, cols, dims, bound_by, given):
    def show(dim):
        return f"{dim}={dims[dim]}" if isinstance(dim, str) and dim in dims else str(dim)
    expected = f"({show(rows)},) or ({show(rows)}, 1)" if cols == 1 and rows != 1 else \\
        "a scalar" if rows == cols == 1 else f"({show(rows)}, {show(cols)})"
    sources = sorted({f"{d} from {bound_by[d]}" for d in (rows, cols) if d in bound_by})
    note = f" ({', '.join(sources)})" if sources else ""
    raise ValueError(f"{name}: expected shape {expected}{note}, got shape {given}")


def _dtype_of(*values):
    arrays = [v.dtype for v in values if isinstance(v, _np.ndarray)]
    return _np.result_type(*arrays) if arrays else _np.dtype(_np.float64)


def _scalar(value, dtype):
    """A 1x1 result as a NumPy scalar of the computation's dtype."""
    return _np.asarray(value, dtype=dtype).reshape(())[()]


def _give_back(gradient, given, dtype, copy, upstream):
    """A gradient, scaled by upstream, in the shape and dtype of the array
    passed for its variable (a Python number gets a NumPy scalar)."""
    shape, given_dtype = given
    if upstream != 1.0:
        gradient, copy = gradient * upstream, False
    result = _np.asarray(gradient).reshape(shape).astype(given_dtype or dtype, copy=False)
    if shape == ():
        return result[()]
    return result.copy() if copy else result
'''

HELPERS = {
    "sigmoid": '''
def _sigmoid(x):
    """1 / (1 + e^-x), without overflow for large |x|."""
    e = _np.exp(-_np.abs(x))
    return _np.where(x >= 0, 1 / (1 + e), e / (1 + e))
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


class Namer:
    """Chooses local names that clash with no model name and no other local."""

    def __init__(self, taken):
        self.taken = set(taken)

    def fresh(self, wanted: str, own: bool = False) -> str:
        """A new local name like `wanted`; `own`: wanted is the value's own
        model spelling, which no other local can have."""
        if own:
            return wanted
        name = wanted if wanted.isidentifier() and not keyword.iskeyword(wanted) else "t"
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
    def _print_transpose(self, node, a): return f"{a}.T"
    def _print_inv(self, node, a): return f"_np.linalg.inv({a})"
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
    def _print_tr(self, node, a): return f"_np.trace({a})"
    def _print_det(self, node, a): return f"_np.linalg.det({a})"
    def _print_logdet(self, node, a): return f"_np.linalg.slogdet({a})[1]"
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
    return f"({text})" if text.startswith("-") else text


class FunctionWriter:
    """Writes the body of one generated function: one statement per node."""

    def __init__(self, module: "ModuleWriter", namer: Namer, names: dict[int, str]):
        self.module = module
        self.namer = namer
        self.names = dict(names)  # node id -> Python expression already available
        self.lines: list[str] = []

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

    def emit(self, node: Node, name_hint: str, math_names: dict[int, tuple[str, bool]], own: bool = False):
        if id(node) in self.names or node.op in ("number", "dimension"):
            return
        expression = self.module.printer.expression(node, [self.value(a) for a in node.args])
        if self.inline(node):
            self.names[id(node)] = expression
            return
        name = self.namer.fresh(name_hint, own)
        self.names[id(node)] = name
        own = math_names.pop(id(node), None)
        math = Printer(math_names, self.module.arities).doc(node)
        math_names[id(node)] = own or (name, False)
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
        self.functions: dict[str, str] = {name: self.spelled[name] for name in program.functions}
        self.derived: list[UserFunction] = []
        for (original, index), function in (partials.derived.items() if partials else ()):
            if function is not None:
                self.derived.append(function)
                self.functions[function.name] = f"_d{index + 1}_{self.spelled[original]}"
        self.printer = NumpyPrinter({d: self.spelled[d] for d in program.dims}, self.functions, "_dtype")

    def shown_arity(self, function: UserFunction) -> int:
        return self.arities.get(function.name, len(function.params))

    def taken(self) -> set[str]:
        return set(self.spelled.values()) | {"cache", "upstream"}

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
        return (f"def {name}({', '.join(params.values())}):\n"
                f'    """{function.name}({", ".join(function.params[:self.shown_arity(function)])}) = {math}, '
                f'entry by entry."""\n'
                f"    return {values[id(function.body)]}")

    # ---------------------------------------------------- one grad statement
    def request_code(self, derivation: Derivation, index: int) -> str:
        request = derivation.request
        suffix = "" if len(self.derivations) == 1 else f"_{self.spelled.get(request.target, request.target)}"
        arguments = [self.spelled[v.name] for v in self.program.arguments]
        grads_class = f"Grads{suffix}"
        fields = "\n".join(f"    {self.spelled[v.name]}: object" for v in request.wrt)
        parts = [f"class {grads_class}(_NamedTuple):\n"
                 f'    """The gradients of {request.target}, in `wrt` order."""\n{fields}']
        forward_code, cache_names = self.forward(derivation, arguments, suffix, keep_cache=True)
        parts.append(forward_code)
        parts.append(self.backward(derivation, cache_names, suffix, grads_class))
        parts.append(self.forward(derivation, arguments, suffix, keep_cache=False)[0])
        signature = ", ".join(arguments)
        parts.append(f"def value_and_grad{suffix}({signature}):\n"
                     f'    """({request.target}, its gradients) in one call."""\n'
                     f"    value, cache = _forward{suffix}({signature})\n"
                     f"    return value, _backward{suffix}(cache)")
        parts.append(f"_forward{suffix} = forward{suffix}\n_backward{suffix} = backward{suffix}")
        if suffix and index == 0:
            parts.append("\n".join(f"{name} = {name}{suffix}" for name in
                                   ("Grads", "forward", "backward", "value_and_grad", "evaluate")))
        return "\n\n\n".join(parts)

    def math_names(self) -> dict[int, tuple[str, bool]]:
        names = {id(v.node): (v.name, False) for v in self.program.variables.values()}
        names.update({id(node): (name, False) for name, node in self.program.definitions.items()})
        return names

    def prologue(self, arguments: list[str], namer: Namer) -> tuple[list[str], dict[str, str]]:
        """Lines that take the arguments: arrays checked, dims bound, dtype found."""
        lines = ["    _dims, _bound_by = {}, {}"]
        givens = {}
        for variable in self.program.arguments:
            name = self.spelled[variable.name]
            given = namer.fresh(f"{name}_given")
            givens[variable.name] = given
            rows, cols = variable.shape.dims()
            lines.append(f"    {name}, {given} = _take({name}, {variable.name!r}, {rows!r}, {cols!r}, "
                         f"_dims, _bound_by)")
        for variable in self.program.variables.values():
            if variable.value is not None:
                lines.append(f"    {self.spelled[variable.name]} = {number(variable.value)}")
        for dim in self.program.dims:
            lines.append(f"    {self.spelled[dim]} = _dims[{dim!r}]")
        lines.append(f"    _dtype = _dtype_of({', '.join(arguments)})")
        return lines, givens

    def forward(self, derivation: Derivation, arguments: list[str], suffix: str, keep_cache: bool):
        request = derivation.request
        namer = Namer(self.taken())
        lines, givens = self.prologue(arguments, namer)
        leaves = {id(v.node): self.spelled[v.name] for v in self.program.variables.values()}
        writer = FunctionWriter(self, namer, leaves)
        math_names = self.math_names()
        for node in postorder([request.node]):
            own = node.name in self.program.definitions and self.program.definitions[node.name] is node
            writer.emit(node, self.spelled[node.name] if own else "t", math_names, own)
        lines += writer.lines
        target = writer.value(request.node)
        doc_args = ", ".join(f"{v.name}: {v.shape}" for v in self.program.arguments)
        if not keep_cache:
            return (f"def evaluate{suffix}({', '.join(arguments)}):\n"
                    f'    """{request.target} alone (no cache, no backward work). Arguments: {doc_args}."""\n'
                    + "\n".join(lines) + f"\n    return _scalar({target}, _dtype)"), None
        needed = self.cache_nodes(derivation)
        cache_items = [(self.cache_key(node, writer), node) for node in needed]
        cache_names = {}
        entries = []
        for key, node in cache_items:
            cache_names[id(node)] = key
            entries.append(f"{key!r}: {writer.value(node)}")
        entries += [f"{('given:' + v.name)!r}: {givens[v.name]}" for v in request.wrt]
        entries += [f"{('dim:' + d)!r}: {self.spelled[d]}" for d in self.program.dims]
        entries.append("'dtype': _dtype")
        body = "\n".join(lines)
        code = (f"def forward{suffix}({', '.join(arguments)}):\n"
                f'    """({request.target}, cache for backward). Arguments: {doc_args}."""\n'
                f"{body}\n    cache = {{{', '.join(entries)}}}\n"
                f"    return _scalar({target}, _dtype), cache")
        return code, cache_names

    def cache_key(self, node: Node, writer: FunctionWriter) -> str:
        return writer.names[id(node)]

    def cache_nodes(self, derivation: Derivation) -> list[Node]:
        """Forward values (and variables) the gradient graph reads."""
        forward = {id(n) for n in postorder([derivation.request.node])}
        return [n for n in gradient_order(derivation, forward) if id(n) in forward
                and n.op not in ("number", "dimension")]

    def backward(self, derivation: Derivation, cache_names: dict[int, str], suffix: str, grads_class: str) -> str:
        request = derivation.request
        namer = Namer(self.taken() | set(cache_names.values()))
        lines = ["    _cache, _upstream = cache, upstream"]
        available = {}
        for key in cache_names.values():
            lines.append(f"    {key} = _cache[{key!r}]")
        for dim in self.program.dims:
            lines.append(f"    {self.spelled[dim]} = _cache['dim:{dim}']")
        lines.append("    _dtype = _cache['dtype']")
        available = dict(cache_names)
        writer = FunctionWriter(self, namer, available)
        signal_names = {}
        for forward, gradient in derivation.signals:
            if id(gradient) not in signal_names and forward.name and gradient.args:
                signal_names[id(gradient)] = f"delta_{self.spelled.get(forward.name, 't')}"
        roots = {id(node): f"grad_{self.spelled[name]}" for name, node in derivation.gradients.items()}
        math_names = self.math_names()
        for node in gradient_order(derivation, set(cache_names)):
            hint = signal_names.get(id(node)) or roots.get(id(node)) or "t"
            if hint.startswith("delta_"):
                math_names[id(node)] = ("δ_" + hint[len("delta_"):], False)
            writer.emit(node, hint, math_names)
        lines += writer.lines
        results, returned = [], set()
        for variable in request.wrt:
            gradient = derivation.gradients[variable.name]
            # Never hand back an input, a view of one, or one array twice.
            copy = gradient.op in VIEWS or id(gradient) in cache_names or id(gradient) in returned
            returned.add(id(gradient))
            results.append(f"        _give_back({writer.value(gradient)}, _cache[{('given:' + variable.name)!r}], "
                           f"_dtype, {copy}, _upstream),")
        lines.append(f"    return {grads_class}(\n" + "\n".join(results) + "\n    )")
        return (f"def backward{suffix}(cache, upstream=1.0):\n"
                f'    """The gradients of {request.target} from forward\'s cache; upstream scales them."""\n'
                + "\n".join(lines))


def gradient_order(derivation: Derivation, available: set[int]) -> list[Node]:
    """The gradient graph's nodes, operands first, not descending below the
    nodes in `available` (forward values come from the cache, not again)."""
    order, seen = [], set()
    for root in derivation.gradients.values():
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            if id(node) not in available:
                stack.extend((a, False) for a in reversed(node.args) if id(a) not in seen)
    return order


def generate(program: Program, derivations: list[Derivation]) -> str:
    """The source of the NumPy module for a program and its derivations."""
    return ModuleWriter(program, derivations).write()
