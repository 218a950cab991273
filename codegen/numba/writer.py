"""The numba target's writer: the NumPy target's module, whose entry points
each run one compiled kernel (`@_njit`, cached on disk) behind a lean
wrapper: where every array argument is exactly an ndarray of one float
dtype and of the expected number of dimensions, the wrapper calls the
kernel at once (the kernel checks the sizes); otherwise, or where the
kernel finds a size wrong, it takes the arguments as the NumPy target does
(its _arguments: the same conversions and the same ValueErrors) and calls
the kernel on the taken arrays."""

from __future__ import annotations

from symgrad.differentiation import Derivation

from ..numpy.writer import ENTRY_POINTS, NumpyWriter
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
        (a wrong size raises, and the wrapper then takes the slow path, which
        says what is wrong), each vector as a 2-D array, the constants."""
        arrays = [v for v in self.program.arguments if not v.shape.is_scalar]
        first = f"_in_{self.spelled[arrays[0].name]}" if arrays else None
        lines = [f"    _dtype = {first}.dtype" if first else "    _dtype = _np.dtype(_np.float64)",
                 "    _t = _dtype.type"]
        bound: set[str] = set()
        for variable in self.program.arguments:
            name, given = self.spelled[variable.name], f"_in_{self.spelled[variable.name]}"
            if variable.shape.is_scalar:
                lines.append(f"    {name} = _t({given})")
                continue
            rows, cols = variable.shape.dims()
            vector = variable.shape.is_column or variable.shape.is_row
            axes = [(-1 if variable.shape.is_row else 0, rows if variable.shape.is_column else cols)] if vector \
                else [(0, rows), (1, cols)]
            checks = []
            for axis, dim in axes:
                if isinstance(dim, str) and dim not in bound:
                    lines.append(f"    {self.spelled[dim]} = {given}.shape[{axis}]")
                    bound.add(dim)
                else:
                    checks.append(f"{given}.shape[{axis}] != {self.dim_value(dim)}")
            if vector:
                checks.append(f"{given}.size != {self.dim_value(rows if variable.shape.is_column else cols)}")
            if checks:
                lines.append(f"    if {' or '.join(checks)}:\n        raise ValueError('shape')")
            lines.append(f"    {name} = " + (self.printer.call("taken", given, self.dim_value(rows), self.dim_value(cols))
                                            if vector else given))
        for variable in self.program.variables.values():
            if variable.value is not None:
                lines.append(f"    {self.spelled[variable.name]} = {self.printer.number(variable.value)}")
        return lines

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
        parts = [f"class {grads}(_NamedTuple):\n"
                 f'    """The gradients of {target}, in `wrt` order."""\n{fields}']
        for kind, (params, body, returns) in kernels.items():
            parts.append(f"@_njit\ndef _{kind}{suffix}_kernel{params}:\n"
                         f'    """The compiled body of {kind}{suffix}."""\n' + "\n".join(body)
                         + f"\n    return {returns}")
        parts += self.wrappers(request, suffix, grads, doc_args, target)
        if suffix and index == 0:
            parts.append("\n".join(f"{name} = {name}{suffix}"
                                   for name in ENTRY_POINTS))
        return "\n\n\n".join(parts)

    def wrappers(self, request, suffix: str, grads: str, doc_args: str, target: str) -> list[str]:
        """The Python entry points: the fast path's checks, then the kernel;
        else the arguments taken by _arguments, then the kernel."""
        inside = [self.spelled[v.name] for v in self.program.arguments]
        arrays = [v for v in self.program.arguments if not v.shape.is_scalar]
        scalars = [self.spelled[v.name] for v in self.program.arguments if v.shape.is_scalar]
        checks = [f"type({self.spelled[v.name]}) is {self.printer.helper('ndarray')}" for v in arrays]
        checks += [f"type({name}) is float" for name in scalars]
        for v in arrays:
            vector = v.shape.is_column or v.shape.is_row
            checks.append(f"0 < {self.spelled[v.name]}.ndim < 3" if vector else f"{self.spelled[v.name]}.ndim == 2")
        if arrays:
            first = self.spelled[arrays[0].name]
            checks.append(f"(_dt := {first}.dtype) in _FLOATS")
            checks += [f"{self.spelled[v.name]}.dtype is _dt" for v in arrays[1:]]
        else:
            checks.append("(_dt := _FLOATS[0]) is _dt")
        fast = "    if (" + "\n            and ".join(" and ".join(checks[i:i + 4]) for i in range(0, len(checks), 4)) + "):"
        call = ", ".join(inside)
        taken = self.taken_arguments()
        wrt_taken = ", ".join(self.given[v.name][0] + ", " + self.given[v.name][1] for v in request.wrt)
        slow = (f"def _slow_arguments{suffix}({call}):\n"
                f'    """The arguments as the NumPy target takes them (its ValueErrors), in the\n'
                f'    dtype of the computation; the shape and dtype of each of wrt as given."""\n'
                f"    ({', '.join(taken)}) = _arguments({call})\n"
                + "".join(f"    {n} = {n}.astype(_dtype)\n" if not v.shape.is_scalar else f"    {n} = float({n})\n"
                          for v, n in zip(self.program.arguments, inside))
                + f"    return ({call},), _dtype, ({wrt_taken},)")
        grads_out = self.printer.helper("grad_out")
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
                f"        return {grads}._make(_backward{suffix}_kernel(_cache, float(upstream)))\n"
                f"    return _regiven{suffix}(_backward{suffix}_kernel(_cache, 1.0), _given, _dtype, upstream)",
                entry("value_and_grad", f"({target}, its gradients) in one call. Arguments: {doc_args}.",
                      f"_value, _grads = _value_and_grad{suffix}_kernel({call})\n"
                      f"            return _dt.type(_value), {grads}._make(_grads)",
                      f"    _value, _grads = _value_and_grad{suffix}_kernel(*_args)\n"
                      f"    return _dtype.type(_value), _regiven{suffix}(_grads, _given, _dtype, 1.0)"),
                entry("evaluate", f"{target} alone: no backward work. Arguments: {doc_args}.",
                      f"return _dt.type(_evaluate{suffix}_kernel({call}))",
                      f"    return _dtype.type(_evaluate{suffix}_kernel(*_args))")]
