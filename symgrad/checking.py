"""Gradient checks: every gradient of a compiled model against finite differences.

    report = symgrad.check("examples/window.sg", dims={"n": 8, "m": 20}, seed=1)
    report.passed, report.results, report.to_json()

and `symgrad check MODEL.sg`. The numerical work is NumPy-only code that
every generated module carries (`check_gradients()`, the block CHECK_RUNTIME
of codegen/numpy_backend.py), so that a compiled file can check itself;
`symgrad check` runs the same code from symgrad's own copy, against the
module's functions.

What each module gets from here, at compile time (`module_section`):

- `_CHECK_SPEC`: its arguments (name, Python spelling, kind, dimensions and
  the domain random values are drawn from), its grad statements, its kinks
  and its functions with a restricted domain, each with its place in the
  model;
- `_check_probe(...)`: at given arguments, the argument of every kink
  (relu, abs, sign, norm1, leaky_relu, elu: its argument; max, min: a - b;
  hardtanh: z - 1 and z + 1) and of every function with a restricted domain.

The check (see CHECK_RUNTIME for the formulas):

- Inputs: seeded random values of the declared shapes (dimensions from
  `dims`, else 3, 4, 5, ... in declaration order), or the user's arrays. A
  variable that log, sqrt or a fractional power takes directly is drawn
  positive; one that logdet, inv or det takes directly, positive definite
  (not symmetric: a symmetric draw would hide a dropped transpose in A⁻ᵀ).
  Any other restricted argument is tested at the drawn inputs; when it is
  outside the domain the inputs are drawn again, and after 10 draws (or at
  once, for the user's arrays) the check stops with status 2, naming the
  function, its place and the inputs it depends on.
- Kinks: a comparison whose two finite-difference points put a kink's
  argument on different sides compares the derivative on one side with an
  average of both. When such a comparison fails, the inputs are drawn again
  (the report counts it); with the user's arrays, or after 10 draws, it is
  skipped and the report says how many were.
- Per entry for up to `max_entries` entries in all (default 10,000), and
  along `directions` random unit directions for every gradient, both in
  float64, against value_and_grad and backward(forward(...)) alike.

docs/checking.md is the user's account of all this.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from types import ModuleType

KINKS = ("relu", "abs", "sign", "norm1", "leaky_relu", "elu", "max", "min", "hardtanh")
POSITIVE = ("log", "sqrt")  # and a power with a fractional or non-constant exponent
INVERTIBLE = {"logdet": "positive determinant", "inv": "invertible", "det": "invertible"}
MAX_ENTRIES = 10_000
DIRECTIONS = 4
RTOL = 1e-5


class CheckInputError(ValueError):
    """Inputs a check cannot use: a wrong name, dimension or shape, a file
    that is no .npz, or values outside the model's domain."""


# ------------------------------------------------- what each module carries

def module_section(program, spelled: dict[str, str], functions: dict[str, str]) -> str:
    """`_CHECK_SPEC` and `_check_probe` for a program's generated module, as
    the module spells model names (`spelled`) and its functions (`functions`)."""
    return ProbeWriter(program, spelled, functions).section()


class ProbeWriter:
    """Writes `_check_probe`: the model's forward values, one line each, as
    far as the kinks and the restricted functions need them."""

    def __init__(self, program, spelled: dict[str, str], functions: dict[str, str]):
        from .codegen.numpy_backend import NumpyPrinter
        self.program = program
        self.spelled = spelled
        self.printer = NumpyPrinter({d: spelled[d] for d in program.dims}, functions, "_dtype")
        self.names: dict[int, str] = {}
        self.lines: list[str] = []
        self.temporaries = 0
        self.kinks: list[tuple] = []     # (op, where, source line), (margin expressions)
        self.domains: list[tuple] = []   # (op, test, where, source line, depends), expression
        self.drawn: dict[str, set[str]] = {v.name: set() for v in program.arguments}

    # ------------------------------------------------------------ the walk
    def section(self) -> str:
        from .ir import postorder
        for node in postorder([request.node for request in self.program.grads]):
            self.visit(node, {})
            if node.op == "apply" and node.data in self.program.functions:
                function = self.program.functions[node.data]
                bound = dict(zip(function.params, node.args))
                for inner in postorder([function.body]):
                    self.visit(inner, bound)
        return self.spec() + "\n\n\n" + self.probe()

    def visit(self, node, bound: dict):
        """Record node as a kink or a restricted function, with the code for
        its argument(s); `bound`: inside a function body, its arguments'
        values at the call."""
        op, args = node.op, node.args
        value = (lambda n: self.inline(n, bound)) if bound else self.value
        if op in KINKS:
            a = value(args[0])
            margins = ([f"{a} - {value(args[1])}"] if op in ("max", "min") else
                       [f"{a} - 1", f"{a} + 1"] if op == "hardtanh" else [a])
            self.kinks.append((self.site(op, node), margins))
        elif op in POSITIVE or op == "pow" and not (args[1].op == "number" and float(args[1].data).is_integer()):
            self.restricted(node, "power" if op == "pow" else op, "positive", args[0], value(args[0]), bound)
        elif op in INVERTIBLE:
            self.restricted(node, op, INVERTIBLE[op], args[0], value(args[0]), bound)

    def restricted(self, node, op: str, test: str, argument, code: str, bound: dict):
        """Record a function with a restricted domain; a variable it takes
        directly (or transposed) is drawn inside the domain."""
        from .ir import postorder
        while argument.op == "transpose" or argument.op == "argument" and argument.data in bound:
            argument = argument.args[0] if argument.op == "transpose" else bound[argument.data]
        if argument.op == "variable" and argument.data in self.drawn:
            square = argument.shape.rows != 1 and test != "positive"
            self.drawn[argument.data].add("pd" if square else "positive")
        under = postorder([bound.get(n.data, n) if n.op == "argument" else n for n in postorder([argument])])
        used = {n.data for n in under if n.op == "variable"}
        depends = tuple(v.name for v in self.program.arguments if v.name in used)
        self.domains.append(((op, test, *self.site(op, node)[1:], depends), code))

    def site(self, op, node) -> tuple[str, str, str]:
        source = self.program.source
        where = f"{source.filename}:{node.span.line}:{node.span.column}" if node.span else source.filename
        line = source.line_text(node.span.line).split("#")[0].strip() if node.span else ""
        return (op, where, line)

    # ------------------------------------------------------------ the code
    def value(self, node) -> str:
        """The probe's name (or literal) for a value of the model, writing
        the lines that compute it and what it needs first."""
        from .codegen.numpy_backend import number
        from .ir import postorder
        for step in postorder([node], stop=self.names.keys()):
            if id(step) in self.names:
                continue
            if step.op == "variable":
                variable = self.program.variables[step.data]
                text = self.spelled[step.data] if variable.value is None else number(variable.value)
            elif step.op == "number":
                text = number(step.data)
            elif step.op == "dimension":
                text = self.printer.dim(step.data)
            else:
                own = step.name in self.program.definitions and self.program.definitions[step.name] is step
                self.temporaries += 0 if own else 1
                text = self.spelled[step.name] if own else f"_p{self.temporaries}"
                operands = [self.names[id(a)] for a in step.args]
                self.lines.append(f"    {text} = {self.printer.expression(step, operands)}")
            self.names[id(step)] = text
        return self.names[id(node)]

    def inline(self, node, bound: dict) -> str:
        """One expression for a value inside a function body, its arguments
        bound to the model's values at the call."""
        from .codegen.numpy_backend import number
        if node.op == "argument":
            return self.value(bound[node.data])
        if node.op == "number":
            return number(node.data)
        if node.op == "variable":
            return number(self.program.variables[node.data].value)
        if node.op == "dimension":
            return self.printer.dim(node.data)
        operands = [self.inline(a, bound) for a in node.args]
        operands = [o if o.isidentifier() or o.replace(".", "").isdigit() else f"({o})" for o in operands]
        return self.printer.expression(node, operands)

    def spec(self) -> str:
        program = self.program
        count = len(program.grads)
        spec = {
            "model": program.source.filename,
            "dims": list(program.dims),
            "arguments": [(v.name, self.spelled[v.name], v.kind, v.shape.rows, v.shape.cols,
                           " ".join(sorted(self.drawn[v.name])) or "real")
                          for v in program.arguments],
            "grads": [(r.target, "" if count == 1 else f"_{self.spelled.get(r.target, r.target)}",
                       tuple(v.name for v in r.wrt)) for r in program.grads],
            "kinks": [site for site, margins in self.kinks for _ in margins],
            "domains": [site for site, _ in self.domains],
        }
        lines = []
        for key, value in spec.items():
            if isinstance(value, list) and value and key != "dims":
                items = "".join(f"        {item!r},\n" for item in value)
                lines.append(f"    {key!r}: [\n{items}    ],")
            else:
                lines.append(f"    {key!r}: {value!r},")
        return ("# What check_gradients needs: the arguments (name, Python name, kind, rows, columns,\n"
                "# the domain random values are drawn from), the grad statements (target, suffix of\n"
                "# their functions, wrt), the kinks and the functions with a restricted domain.\n"
                "_CHECK_SPEC = {\n" + "\n".join(lines) + "\n}")

    def probe(self) -> str:
        arguments = [self.spelled[v.name] for v in self.program.arguments]
        unpacked = ", ".join(arguments) + ("," if len(arguments) == 1 else "")
        packed = unpacked if len(arguments) == 1 else ", ".join(arguments)
        head = [f"def _check_probe({', '.join(arguments)}):",
                '    """The arguments of the kinks and of the restricted functions in',
                '    _CHECK_SPEC, in its order, at these arguments."""',
                f"    {unpacked} = _check_arrays(({packed}), _CHECK_SPEC)"]
        # What the probe computes: its lines, and the kinks' and domains' arguments.
        code = "\n".join(self.lines + [m for _, margins in self.kinks for m in margins]
                         + [value for _, value in self.domains])
        for dim in self.program.dims:
            if not re.search(rf"\b{self.spelled[dim]}\b", code):
                continue
            variable, axis = next((v, axis) for v in self.program.arguments
                                  for axis, d in enumerate(v.shape.dims()) if d == dim)
            head.append(f"    {self.spelled[dim]} = {self.spelled[variable.name]}.shape[{axis}]")
        if re.search(r"\b_dtype\b", code):
            head.append("    _dtype = _np.dtype(_np.float64)")
        # A place in a comment is escaped, so that no file name can end the comment.
        kinks = "".join(f"        {margin},  # {op} at {repr(where)[1:-1]}\n"
                        for (op, where, _), margins in self.kinks for margin in margins)
        domains = "".join(f"        {value},  # {site[0]} at {repr(site[2])[1:-1]}\n" for site, value in self.domains)
        return ("\n".join(head + self.lines) +
                f"\n    kinks = [\n{kinks}    ]\n    domains = [\n{domains}    ]\n    return kinks, domains")


# ------------------------------------------------------------- the check

_runtime: dict | None = None


def runtime() -> dict:
    """symgrad's own copy of the check code the generated modules carry."""
    global _runtime
    if _runtime is None:
        import numpy
        from .codegen.numpy_backend import CHECK_RUNTIME
        namespace = {"_np": numpy, "__name__": "symgrad.checking.runtime"}
        exec(compile(CHECK_RUNTIME, "<symgrad check runtime>", "exec"), namespace)
        _runtime = namespace
    return _runtime


@dataclass
class GradientCheck:
    """One gradient's result. `worst`: the comparison furthest from its
    tolerance: `where` (an entry's index, or "direction K"), `analytic`,
    `numeric`, and `via`, the function whose gradient it is
    (value_and_grad or backward). `error`: why there is no comparison
    (the gradient code raised, or gave the wrong shape)."""

    target: str
    variable: str
    shape: list
    entries: int
    entries_checked: int
    directions: int
    max_abs_error: float
    max_rel_error: float
    worst: dict | None
    skipped_at_kinks: int
    all_zero: bool
    passed: bool
    error: str | None = None


@dataclass
class Report:
    """What `symgrad.check` found: `.passed`, `.results` (one GradientCheck
    per gradient), `.notes`; `str()` is the terminal table, `.to_json()`,
    `.to_markdown()`; it shows as a table in Jupyter."""

    data: dict
    results: list[GradientCheck] = field(init=False)

    def __post_init__(self):
        self.results = [GradientCheck(**result) for result in self.data["gradients"]]

    @property
    def passed(self) -> bool:
        return self.data["passed"]

    @property
    def notes(self) -> list[str]:
        return self.data["notes"]

    def result(self, variable: str, target: str | None = None) -> GradientCheck:
        """The result for a variable (of the first grad statement that has it,
        or of `target`'s)."""
        return next(r for r in self.results if r.variable == variable and target in (None, r.target))

    def to_text(self, color: bool = False) -> str:
        return runtime()["_check_table"](self.data, color)

    __str__ = to_text

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.data, indent=indent, ensure_ascii=False, default=_plain)

    def to_markdown(self) -> str:
        data = self.data
        sizes = ", ".join(f"{d} = {s}" for d, s in data["dims"].items())
        lines = [f"**symgrad check** `{data['model']}`: {'passed' if self.passed else '**FAILED**'} "
                 f"({sizes + '; ' if sizes else ''}seed {data['seed']}; rtol {data['rtol']:g}; "
                 f"{data['directions']} random directions per gradient)", "",
                 "| gradient | shape | entries checked | max abs error | max rel error | worst | analytic "
                 "| numeric | result |", "|---|---|---|---|---|---|---|---|---|"]
        for r in self.results:
            worst = r.worst or {"where": "", "analytic": math.nan, "numeric": math.nan}
            lines.append(f"| ∂{r.target}/∂{r.variable} | {_shape(r.shape)} | {r.entries_checked} of {r.entries} "
                         f"| {r.max_abs_error:.1e} | {r.max_rel_error:.1e} | {_where(worst['where'])} "
                         f"| {worst['analytic']:.9g} | {worst['numeric']:.9g} "
                         f"| {'pass' if r.passed else '**FAIL**'} |")
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    _repr_markdown_ = to_markdown


def _shape(shape) -> str:
    return "scalar" if not shape else "×".join(map(str, shape))


def _where(where) -> str:
    if isinstance(where, list):
        return "[" + ", ".join(map(str, where)) + "]" if where else "(scalar)"
    return str(where)


def _plain(value):
    """JSON for the NumPy numbers a report may hold."""
    return value.item() if hasattr(value, "item") else str(value)


def compiled(model) -> ModuleType:
    """The module to check: a module object as it is; a path to a module
    that `symgrad compile` wrote (.py) imported; any other path (str or
    PathLike) loaded as a model; any other string compiled as model text."""
    from .compiler import compile_source, load
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".py"):
        model = import_file(os.fspath(model))
    if isinstance(model, ModuleType):
        if not hasattr(model, "_CHECK_SPEC"):
            raise CheckInputError(f"{getattr(model, '__file__', None) or model.__name__} is no module generated by "
                                  "this symgrad (it has no _CHECK_SPEC); compile the model again")
        return model
    if isinstance(model, os.PathLike) or "\n" not in model and (model.endswith(".sg") or os.path.exists(model)):
        return load(model)
    return compile_source(model)


def import_file(path: str) -> ModuleType:
    """The module in a Python file, imported under a name of its own."""
    import hashlib
    import importlib.util
    with open(path, "rb") as stream:  # OSError (no such file) is the caller's
        digest = hashlib.sha256(stream.read()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(f"symgrad_checked_{digest}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise CheckInputError(f"{path}: importing it raised {type(error).__name__}: {error}") from None
    return module


def read_inputs(inputs) -> dict | None:
    """A dict of arrays from a dict, or from a .npz file's path."""
    if inputs is None or isinstance(inputs, dict):
        return inputs
    import numpy
    import zipfile
    try:
        with numpy.load(os.fspath(inputs), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, zipfile.BadZipFile, AttributeError) as error:
        raise CheckInputError(f"{os.fspath(inputs)}: not a .npz file of arrays ({error})") from None


def check(model, dims: dict | None = None, seed: int = 0, inputs=None, max_entries: int = MAX_ENTRIES,
          directions: int = DIRECTIONS, rtol: float = RTOL, progress=None) -> Report:
    """Check every gradient of a model against finite differences.
    model: a path, model text, or a compiled module; dims: sizes of the
    dimensions; inputs: a dict of arrays by argument name, or a .npz path
    (arguments left out are drawn); progress(done, total): called as it goes.
    Raises ModelError for a bad model and CheckInputError for bad inputs."""
    module = compiled(model)
    namespace = runtime()
    try:
        data = namespace["_check_run"](module._CHECK_SPEC, vars(module), module._check_probe, dims, seed,
                                       read_inputs(inputs), max_entries, directions, rtol, progress)
    except namespace["_CheckInputError"] as error:
        raise CheckInputError(str(error)) from None
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".py"):
        data["model"] = f"{os.fspath(model)} (compiled from {data['model']})"
    return Report(data)


# ------------------------------------------------------------ the command

def parse_dims(text: str) -> dict[str, int]:
    """`n=8,m=20` as {"n": 8, "m": 20}; ValueError with a reason otherwise."""
    dims = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, equals, size = part.partition("=")
        if not equals or not name.strip() or not size.strip().isdigit() or int(size) < 1:
            raise ValueError(f"expected NAME=SIZE with a positive integer size, got '{part}'")
        dims[name.strip()] = int(size)
    return dims


class Progress:
    """A progress line on standard error, shown only on a terminal and only
    once the check has taken a second."""

    def __init__(self, stream=sys.stderr, after: float = 1.0):
        self.stream = stream
        self.start = time.monotonic()
        self.after = after
        self.shown = 0.0

    def __call__(self, done: int, total: int):
        now = time.monotonic()
        if now - self.start < self.after or now - self.shown < 0.1:
            return
        self.shown = now
        self.stream.write(f"\rchecking: {100 * done // max(total, 1)}% ({done}/{total} evaluations)")
        self.stream.flush()

    def close(self):
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def run(args) -> int:
    """`symgrad check`: 0 when every gradient passes, 1 when one fails, 2 for bad input."""
    if args.json == args.markdown == "-":
        print("symgrad: error: --json - and --markdown - would both write to standard output: "
              "write one of them to a file", file=sys.stderr)
        return 2
    try:
        dims = parse_dims(args.dims or "")
    except ValueError as error:
        print(f"symgrad: error: --dims: {error}", file=sys.stderr)
        return 2
    progress = Progress() if sys.stderr.isatty() else None
    try:
        report = check(args.model, dims, args.seed, args.inputs, args.max_entries, args.directions,
                       args.rtol, progress)
    except CheckInputError as error:
        print(f"symgrad: error: {error}", file=sys.stderr)
        return 2
    finally:
        if progress:
            progress.close()
    # Standard output holds one thing: the report that `-` asks for, alone (so
    # that it can be piped to a parser), else the table, which then goes to
    # standard error.
    table = sys.stderr if "-" in (args.json, args.markdown) else sys.stdout
    color = table.isatty() and not os.environ.get("NO_COLOR")
    print(report.to_text(color), file=table)
    for path, text in ((args.json, report.to_json()), (args.markdown, report.to_markdown())):
        if path == "-":
            sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
        elif path:
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text + ("" if text.endswith("\n") else "\n"))
    return 0 if report.passed else 1
