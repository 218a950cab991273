"""The numba target's writer: the NumPy target's module, whose entry points
each run one compiled kernel (`@_njit`, cached on disk) behind a lean
wrapper: where every array argument is exactly an ndarray of one float
dtype and of the expected number of dimensions, the wrapper calls the
kernel at once (the kernel checks the sizes); otherwise, or where the
kernel finds a size wrong, it takes the arguments as the NumPy target does
(its _arguments: the same conversions and the same ValueErrors) and calls
the kernel on the taken arrays."""

from __future__ import annotations

from symgrad.binding import plan
from symgrad.differentiation import Derivation
from symgrad.second_order import entries
from symgrad.shapes import dim_add

from ..numpy.writer import NumpyWriter, bracketed
from ..schedule import render
from .fusion import fuse
from .printer import NumbaPrinter, refuse


class NumbaWriter(NumpyWriter):
    """Writes the module of the numba target (`TARGET = "numba"`)."""

    printer_class = NumbaPrinter
    target = "numba"
    fused = True  # runs of elementwise steps as one loop each (fusion.py); False in a test's reference

    def render(self, prologue: list[str], lines: list, live_out: str) -> list[str]:
        """A kernel's body: its prologue, then its steps, the elementwise runs fused."""
        return render(prologue, fuse(lines, live_out, self.printer) if self.fused else lines, live_out,
                      self.printer, False)

    def write(self, with_check: bool = False) -> str:
        if self.program.functions or self.derived:
            refuse("apply")  # a user function
        self.printer.helper("njit")
        return super().write(with_check)

    def header(self) -> str:
        """The NumPy module's header, with numba's imports and the dtypes of the fast path."""
        text = super().header()
        for numpy_text, numba_text in (("`symgrad compile`. Needs only NumPy.",
                                        "`symgrad compile --target numba`. Needs NumPy and numba."),
                                       ("import numpy as _np\n", "import numba as _numba\nimport numpy as _np\n"
                                        "from numba.extending import overload as _overload\n")):
            assert numpy_text in text, f"the NumPy target's header has no {numpy_text!r}"
            text = text.replace(numpy_text, numba_text, 1)
        return text + "\n\n_FLOATS = (_np.dtype(_np.float64), _np.dtype(_np.float32))"

    def prologue(self, wrt: set[str]) -> list[str]:
        """A kernel's first lines: the dtype, the dimensions bound and checked
        in the binding plan's order, the ids' ranges and the conditions on
        the dimensions checked (a wrong one raises, and the wrapper then
        takes the slow path, which says what is wrong), each vector as a 2-D
        array (a vector of ids stays 1-D), the constants."""
        arrays = [v for v in self.program.arguments if not v.shape.is_scalar and v.ids is None]
        first = f"_in_{self.spelled[arrays[0].name]}" if arrays else None
        lines = [f"    _dtype = {first}.dtype" if first else "    _dtype = _np.dtype(_np.float64)",
                 "    _t = _dtype.type"]
        wrong = "raise ValueError('shape')"
        for variable, steps in plan(self.program.arguments):
            name, given = self.spelled[variable.name], f"_in_{self.spelled[variable.name]}"
            if variable.shape.is_scalar:
                lines.append(f"    {name} = {given if variable.ids is not None else f'_t({given})'}")
            checks = []
            for step in steps:
                size = self.kernel_axis(step)
                if size is None:  # a vector's axis of 1: its size is checked below
                    continue
                if step.symbol is None:
                    checks.append(f"{size} != {self.dim_value(step.dim)}")
                    continue
                symbol, slope = self.spelled[step.symbol], self.dim_value(step.slope)
                if step.plain:
                    lines.append(f"    {symbol} = {size}")
                    continue
                rest = f" + {self.dim_value(step.rest)}" * (step.rest != 0)
                if not isinstance(step.slope, int):
                    lines.append(f"    if {slope} == 0:\n        {wrong}")
                lines.append(f"    {symbol} = ({size}{rest.replace('+', '-')}) // {slope}")
                checks.append(f"{symbol} < 1 or {symbol} * {slope}{rest} != {size}")
            vector = variable.shape.is_column or variable.shape.is_row
            length = variable.shape.rows if variable.shape.is_column else variable.shape.cols
            if vector:
                checks.append(f"{given}.size != {self.dim_value(length)}")
            if checks:
                lines.append(f"    if {' or '.join(checks)}:\n        {wrong}")
            if not variable.shape.is_scalar:
                taken = self.printer.call("taken", given, *map(self.dim_value, variable.shape.dims()))
                lines.append(f"    {name} = {taken if vector and variable.ids is None else given}")
        for variable in self.program.arguments:
            if variable.ids is not None:
                name, count = self.spelled[variable.name], self.dim_value(variable.ids)
                test = (f"{name} < 0 or {name} >= {count}" if variable.shape.is_scalar else
                        f"{name}.size and ({name}.min() < 0 or {name}.max() >= {count})")
                lines.append(f"    if {test}:\n        raise ValueError('ids')")
        for requirement in self.program.requirements:
            lines.append(f"    if {self.dim_value(requirement.dim)} < {requirement.minimum}:\n"
                         f"        raise ValueError('requirement')")
        for variable in self.program.variables.values():
            if variable.value is not None:
                lines.append(f"    {self.spelled[variable.name]} = {self.printer.number(variable.value)}")
        return lines

    def derivative_function(self, name: str, doc: str, results: list, out, directions=(), hints: dict = {},
                            expected: str | None = None, loop: tuple | None = None) -> str:
        """A compiled kernel that computes `results` (derivative_lines) from
        the arguments and the directions, and the entry point that takes
        the arguments as the NumPy target does (its ValueErrors) and, with
        `expected`, the directions (its last argument), calls the kernel and
        returns out(the values it computed). No fast path: a Hessian or a
        Jacobian costs more than taking the arguments."""
        given = [f"_in_{self.spelled[v.name]}" for v in self.program.arguments]
        lines, values, taken = self.derivative_lines(self.prologue(set()), results, list(directions), hints, None, loop)
        inside = [self.spelled[v.name] for v in self.program.arguments]
        call = ", ".join(inside)
        body = bracketed("", self.taken_arguments(), f" = _arguments({call})") + self.kernel_arguments()
        extra, passed = (), []  # the directions of a loop are the kernel's own
        if expected is not None:
            extra, passed = (self.direction_parameter(),), taken
            body += bracketed("", taken, " = " + self.printer.call("directions", extra[0], expected, "_dtype"))
        body.append(f"    _values = _{name}_kernel({', '.join(inside + passed)})")
        kernel = (f"@_njit\ndef _{name}_kernel({', '.join(given + passed)}):\n"
                  f'    """The compiled body of {name}."""\n' + "\n".join(lines)
                  + f"\n    return ({''.join(value + ', ' for value in values)})")
        returned = out([f"_values[{index}]" for index in range(len(values))])
        return kernel + "\n\n\n" + self.entry_point(name, doc, "\n".join(body) + f"\n    return {returned}", extra)

    def kernel_arguments(self) -> list[str]:
        """The lines that make the arguments _arguments took (its locals)
        what a kernel takes: arrays of the computation's dtype, floats."""
        return [f"    {n} = {n}.astype(_dtype, copy=False)" if not v.shape.is_scalar
                else f"    {n} = {self.printer.call('float', n)}"
                for v, n in ((v, self.spelled[v.name]) for v in self.program.arguments) if v.ids is None]

    def unit_lines(self, taken: list[str], shapes: list) -> list[str]:
        """The lines that set the directions `taken` to the _k-th unit
        direction, split over variables of `shapes`, one each."""
        lines, offset = [], 0
        for name, shape in zip(taken, shapes):
            at = f"_k - {self.dim_value(offset)}" if offset != 0 else "_k"
            lines.append(f"    {name} = _t(1) if {at} == 0 else _t(0)" if shape.is_scalar else
                         f"    {name} = {self.printer.call('unit', at, *map(self.dim_value, shape.dims()), '_dtype')}")
            offset = dim_add(offset, entries(shape))
        return lines

    def kernel_axis(self, step) -> str | None:
        """The size a step reads, of the array as the kernel is given it: a
        vector's length is its last axis (any of (n,), (n, 1), (1, n)); its
        axis of 1, None."""
        given, shape = f"_in_{self.spelled[step.variable.name]}", step.variable.shape
        if step.variable.ids is not None:
            return f"{given}.shape[0]"
        if shape.is_column or shape.is_row:
            if step.axis == (0 if shape.is_row else 1):
                return None
            return f"{given}.shape[{0 if shape.is_column else -1}]"
        return f"{given}.shape[{step.axis}]"

    def request_code(self, derivation: Derivation, index: int) -> str:
        request = derivation.request
        suffix, grads, fields, doc_args = self.statement_names(request)
        target = request.target
        given = [f"_in_{self.spelled[v.name]}" for v in self.program.arguments]
        wrt_given = [f"_in_{self.spelled[v.name]}" for v in request.wrt]
        kernel_args = ", ".join(given)

        prologue, forward_body, forward_writer, forward_math = self.forward_body(derivation)
        cache_names = self.cache_nodes(derivation, forward_writer)
        cache = [forward_writer.value(node) for node in cache_names]
        cache += wrt_given + [self.spelled[d] for d in self.bound_dims()] + ["_dtype"]
        result = forward_writer.value(request.node)
        value = self.printer.call("value", result)
        cached = {id(n): forward_writer.value(n) for n in cache_names}
        backward_lines, backward_results = self.backward_body(derivation, forward_writer, forward_math, cached)
        fused_lines, fused_results = self.backward_body(derivation, forward_writer, forward_math,
                                                        dict(forward_writer.names))
        shaped = self.printer.helper("shaped")

        def returned(results, scale):
            copied = self.printer.helper("copied")
            return "(" + "".join(f"{shaped}({f'{copied}({g})' if copy and not scale else g + scale}, "
                                 f"_in_{self.spelled[v.name]}), " for v, g, copy in results) + ")"

        fused_return = returned(fused_results, "")
        backward_return = returned(backward_results, " * _t(_upstream)")
        forward_lines = self.render(prologue, forward_body, f"{result} {' '.join(cache)}")
        evaluate_lines = self.render(*self.forward_body(derivation, wrt=False)[:2], result)
        unpack = ["    (" + ", ".join(cache) + ",) = _cache", "    _t = _dtype.type"]
        kernels = {
            "forward": (f"({kernel_args})", forward_lines, f"{value}, ({', '.join(cache)},)"),
            "backward": ("(_cache, _upstream)", self.render(unpack, backward_lines, backward_return), backward_return),
            "value_and_grad": (f"({kernel_args})",
                               self.render(prologue, forward_body + fused_lines, f"{result} {fused_return}"),
                               f"{value}, {fused_return}"),
            "evaluate": (f"({kernel_args})", evaluate_lines, value),
        }
        sparse = self.sparse_gradients(derivation)
        if sparse:
            # The kernels give each SparseGrad's parts (G, ids, G's shape) and its argument's shape;
            # the wrapper sums them per id (the NumPy target's sparse_grad), and scales by upstream.
            def parts(results):
                returned = []
                for v, value, copy in results:
                    given = f"_in_{self.spelled[v.name]}"
                    if isinstance(value, list):
                        pieces = "".join(f"({g}, {ids}, {self.printer.dims_tuple(node.shape.dims())}), "
                                         for g, ids, node in value)
                        returned.append(f"(({pieces}), {given}.shape), ")
                    else:
                        returned.append(f"{shaped}({self.printer.call('copied', value) if copy else value}, {given}), ")
                return "(" + "".join(returned) + ")"
            sparse_back_lines, sparse_back = self.backward_body(derivation, forward_writer, forward_math, cached, True)
            sparse_back = parts(sparse_back)
            fused_sparse_lines, fused_sparse = self.backward_body(derivation, forward_writer, forward_math,
                                                                  dict(forward_writer.names), True)
            kernels["backward_sparse"] = ("(_cache,)", self.render(unpack, sparse_back_lines, sparse_back), sparse_back)
            kernels["value_and_grad_sparse"] = (
                f"({kernel_args})", self.render(prologue, forward_body + fused_sparse_lines,
                                                f"{result} {parts(fused_sparse)}"), f"{value}, {parts(fused_sparse)}")
        parts = [f"class {grads}(_NamedTuple):\n"
                 f'    """The gradients of {target}, in `wrt` order."""\n{fields}']
        for kind, (params, body, returns) in kernels.items():
            parts.append(f"@_njit\ndef _{kind}{suffix}_kernel{params}:\n"
                         f'    """The compiled body of {kind}{suffix}."""\n' + "\n".join(body)
                         + f"\n    return {returns}")
        parts += self.wrappers(request, suffix, grads, doc_args, target)
        if sparse:
            parts += self.sparse_wrappers(request, suffix, grads, doc_args, target, sparse)
        return "\n\n\n".join(parts + self.aliases([], suffix, index, derivation))

    def sparse_wrappers(self, request, suffix: str, grads: str, doc_args: str, target: str, sparse) -> list[str]:
        """backward_sparse and value_and_grad_sparse: the kernels' gradients,
        each SparseGrad summed from its parts (the NumPy target's
        sparse_grad), in the shape and dtype of their arguments as given."""
        fields = []
        for index, variable in enumerate(request.wrt):
            if variable.name in sparse:
                axis = "1" if sparse[variable.name][0].data[0] == "cols" else "0"
                fields.append(self.printer.call("sparse_grad", f"gradients[{index}][0]", axis, f"given[{2 * index}]",
                                                f"given[{2 * index + 1}]", "dtype", "upstream"))
            else:
                fields.append(self.printer.call("grad_out", f"gradients[{index}]", f"given[{2 * index}]",
                                                f"given[{2 * index + 1}]", "dtype", "False", "upstream"))
        inside = ", ".join(self.spelled[v.name] for v in self.program.arguments)
        return [
            f"def _sparse_grads{suffix}(gradients, given, dtype, upstream):\n"
            f'    """The sparse kernels\' gradients in the shape and dtype of their arguments as\n'
            f'    given (given None: the fast path\'s arrays, as the kernel had them)."""\n'
            f"    if given is None:\n"
            f"        given = [x for g in gradients for x in (g[1] if type(g) is tuple else _np.shape(g), None)]\n"
            f"    return {grads}(\n" + "".join(f"        {field},\n" for field in fields) + "    )",
            f"def backward_sparse{suffix}(cache, upstream=1.0):\n"
            f'    """backward{suffix}, with the gradient of each variable read only through gathers\n'
            f'    as a SparseGrad: its unique ids and their summed columns (rows)."""\n'
            f"    _cache, _dtype, _given = cache\n"
            f"    return _sparse_grads{suffix}(_backward_sparse{suffix}_kernel(_cache), _given, _dtype, upstream)",
            self.entry_point(
                f"value_and_grad_sparse{suffix}",
                f"value_and_grad{suffix}, with SparseGrads as backward_sparse{suffix} gives them. Arguments: {doc_args}.",
                f"{self.fast_check()}\n        try:\n"
                f"            _value, _grads = _value_and_grad_sparse{suffix}_kernel({inside})\n"
                f"            return _dt.type(_value), _sparse_grads{suffix}(_grads, None, _dt, 1.0)\n"
                f"        except ValueError:\n"
                f"            pass  # a size is wrong: the slow path says which\n"
                f"    _args, _dtype, _given = _slow_arguments{suffix}({inside})\n"
                f"    _value, _grads = _value_and_grad_sparse{suffix}_kernel(*_args)\n"
                f"    return _dtype.type(_value), _sparse_grads{suffix}(_grads, _given, _dtype, 1.0)")]

    def fast_check(self) -> str:
        """The wrapper's `if` of its fast path: every array exactly an
        ndarray of one float dtype (_dt) and of the expected ndim, ids 1-d
        integer arrays or ints, scalars floats."""
        arrays = [v for v in self.program.arguments if not v.shape.is_scalar and v.ids is None]
        scalars = [self.spelled[v.name] for v in self.program.arguments if v.shape.is_scalar and v.ids is None]
        ids = [self.spelled[v.name] for v in self.program.arguments if not v.shape.is_scalar and v.ids is not None]
        checks = [f"type({self.spelled[v.name]}) is {self.printer.helper('ndarray')}" for v in arrays]
        # float and int through the module's names: a model name may be float or int (type is type_)
        checks += [f"type({name}) is {self.printer.helper('float')}" for name in scalars]
        checks += [f"type({self.spelled[v.name]}) is {self.printer.helper('int')}" for v in self.program.arguments
                   if v.shape.is_scalar and v.ids is not None]
        checks += [f"type({name}) is {self.printer.helper('ndarray')} and {name}.ndim == 1 "
                   f"and {name}.dtype.kind == 'i'" for name in ids]
        for v in arrays:
            vector = v.shape.is_column or v.shape.is_row
            checks.append(f"0 < {self.spelled[v.name]}.ndim < 3" if vector else f"{self.spelled[v.name]}.ndim == 2")
        if arrays:
            first = self.spelled[arrays[0].name]
            checks.append(f"(_dt := {first}.dtype) in _FLOATS")
            checks += [f"{self.spelled[v.name]}.dtype is _dt" for v in arrays[1:]]
        else:
            checks.append("(_dt := _FLOATS[0]) is _dt")
        return "    if (" + "\n            and ".join(" and ".join(checks[i:i + 4]) for i in range(0, len(checks), 4)) + "):"

    def wrappers(self, request, suffix: str, grads: str, doc_args: str, target: str) -> list[str]:
        """The Python entry points: the fast path's checks, then the kernel;
        else the arguments taken by _arguments, then the kernel."""
        inside = [self.spelled[v.name] for v in self.program.arguments]
        fast = self.fast_check()
        call = ", ".join(inside)
        taken = self.taken_arguments()
        wrt_taken = ", ".join(self.given[v.name][0] + ", " + self.given[v.name][1] for v in request.wrt)
        slow = (f"def _slow_arguments{suffix}({call}):\n"
                f'    """The arguments as the NumPy target takes them (its ValueErrors), in the\n'
                f'    dtype of the computation; the shape and dtype of each of wrt as given."""\n'
                f"    ({', '.join(taken)}) = _arguments({call})\n"
                + "".join(line + "\n" for line in self.kernel_arguments())
                + f"    return ({call},), _dtype, ({wrt_taken},)")
        grads_out = self.printer.helper("grad_out")
        new_tuple = self.printer.helper("new_tuple")
        back = (f"def _regiven{suffix}(gradients, given, dtype, upstream):\n"
                f'    """The gradients in the shape and dtype of their arguments as given."""\n'
                f"    return {grads}(*({grads_out}(g, given[2 * i], given[2 * i + 1], dtype, False, upstream)\n"
                f"                    for i, g in enumerate(gradients)))")

        def entry(kind: str, doc: str, fast_return: str, slow_lines: str) -> str:
            return self.entry_point(
                f"{kind}{suffix}", doc,
                f"{fast}\n        try:\n            {fast_return}\n        except ValueError:\n"
                f"            pass  # a size is wrong: the slow path says which\n"
                f"    _args, _dtype, _given = _slow_arguments{suffix}({call})\n{slow_lines}")

        return [slow, back,
                entry("forward", f"({target}, cache for backward). Arguments: {doc_args}.",
                      f"_value, _cache = _forward{suffix}_kernel({call})\n"
                      f"            return _dt.type(_value), (_cache, _dt, None)",
                      f"    _value, _cache = _forward{suffix}_kernel(*_args)\n"
                      f"    return _dtype.type(_value), (_cache, _dtype, _given)"),
                f"def backward{suffix}(cache, upstream=1.0):\n"
                f'    """The gradients of {target} from forward\'s cache, times upstream."""\n'
                f"    _cache, _dtype, _given = cache\n"
                f"    if _given is None:\n"
                f"        return {new_tuple}({grads}, _backward{suffix}_kernel(_cache, float(upstream)))\n"
                f"    return _regiven{suffix}(_backward{suffix}_kernel(_cache, 1.0), _given, _dtype, upstream)",
                entry("value_and_grad", f"({target}, its gradients) in one call. Arguments: {doc_args}.",
                      f"_value, _grads = _value_and_grad{suffix}_kernel({call})\n"
                      f"            return _dt.type(_value), {new_tuple}({grads}, _grads)",
                      f"    _value, _grads = _value_and_grad{suffix}_kernel(*_args)\n"
                      f"    return _dtype.type(_value), _regiven{suffix}(_grads, _given, _dtype, 1.0)"),
                entry("evaluate", f"{target} alone: no backward work. Arguments: {doc_args}.",
                      f"return _dt.type(_evaluate{suffix}_kernel({call}))",
                      f"    return _dtype.type(_evaluate{suffix}_kernel(*_args))")]
