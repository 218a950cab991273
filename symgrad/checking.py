"""Gradient checks: every derivative of a compiled model against finite differences.

    report = symgrad.check("examples/window.sg", dims={"n": 8, "m": 20}, seed=1)
    report.passed, report.results, report.derivatives, report.to_json()

and `symgrad check MODEL.sg` (its command line: symgrad.cli_check). The
numerical work is NumPy-only code in symgrad/check_runtime.py, run here
against the module's functions; a module compiled `--with-check` carries a
copy (`check_gradients()`), so that a compiled file can check itself. What
a check needs of the model itself, `_CHECK_SPEC` and `_check_probe`, is
written by codegen/numpy/probe.py into a module compiled with the check;
a model checked here is compiled so.

The check (see symgrad/check_runtime.py for the formulas):

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
- Second derivatives against differences of the gradient (one
  finite-difference level, so the same tolerance): each hessian statement's
  hvp along the random directions, its hessian column by column (and its
  symmetry); each jacobian statement's jacobian and value_and_jacobian
  against differences of the value, as a gradient is checked.

docs/checking.md is the user's account of all this.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from types import ModuleType

MAX_ENTRIES = 10_000
DIRECTIONS = 4
RTOL = 1e-5


class CheckInputError(ValueError):
    """Inputs a check cannot use: a wrong name, dimension or shape, a file
    that is no .npz, or values outside the model's domain."""


# ------------------------------------------------------------- the check

def runtime() -> dict:
    """The checker's functions (symgrad/check_runtime.py), by name."""
    from . import check_runtime
    return vars(check_runtime)


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
class DerivativeCheck(GradientCheck):
    """One row of the check of second derivatives and Jacobians: `kind`
    "hvp" (one row per variable of a hessian statement), "hessian" or
    "jacobian"; `name` as the report shows it ("hvp J wrt w", "hessian J",
    "jacobian p wrt w"); `variable`: a hessian's variables, "w, b". `shape`:
    of what is compared (the variable, the Hessian, the Jacobian);
    `entries_checked`: its entries compared column by column (an hvp's: every
    entry, along each direction). `worst` has `direction` too (its number, or
    None for a column). `asymmetry` (a hessian's): the largest relative
    |H_ij - H_ji| (`max_rel_error`) and where."""

    kind: str = ""
    name: str = ""
    asymmetry: dict | None = None


@dataclass
class Report:
    """What `symgrad.check` found: `.passed`, `.results` (one GradientCheck
    per gradient), `.derivatives` (one DerivativeCheck per hvp variable,
    hessian and jacobian), `.notes`; `str()` is the terminal table,
    `.to_json()`, `.to_markdown()`; it shows as a table in Jupyter."""

    data: dict
    results: list[GradientCheck] = field(init=False)
    derivatives: list[DerivativeCheck] = field(init=False)

    def __post_init__(self):
        self.results = [GradientCheck(**result) for result in self.data["gradients"]]
        self.derivatives = [DerivativeCheck(**row) for row in self.data.get("derivatives", [])]

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

    def derivative(self, name: str) -> DerivativeCheck:
        """The row of an hvp, hessian or jacobian by its name: "hvp J wrt w",
        "hessian J", "jacobian p wrt w"."""
        return next(r for r in self.derivatives if r.name == name)

    def to_text(self, color: bool = False) -> str:
        return runtime()["_check_table"](self.data, color)

    __str__ = to_text

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.data, indent=indent, ensure_ascii=False, default=_plain)

    def to_markdown(self) -> str:
        data = self.data
        sizes = ", ".join(f"{d} = {s}" for d, s in data["dims"].items())
        kind = "derivative" if self.derivatives else "gradient"
        lines = [f"**symgrad check** `{data['model']}`: {'passed' if self.passed else '**FAILED**'} "
                 f"({sizes + '; ' if sizes else ''}seed {data['seed']}; rtol {data['rtol']:g}; "
                 f"{data['directions']} random directions per {kind})", "",
                 f"| {kind} | shape | entries checked | max abs error | max rel error | worst | analytic "
                 "| numeric | result |", "|---|---|---|---|---|---|---|---|---|"]
        if data.get("ids"):
            lines[1:1] = ["", f"ids (not differentiated): {', '.join(data['ids'])}"]
        for label, r in [(f"∂{r.target}/∂{r.variable}", r) for r in self.results] + \
                        [(r.name, r) for r in self.derivatives]:
            worst = r.worst or {"where": "", "analytic": math.nan, "numeric": math.nan}
            where = _where(worst["where"]) + (f", direction {worst['direction']}" if worst.get("direction") else "")
            lines.append(f"| {label} | {_shape(r.shape)} | {r.entries_checked} of {r.entries} "
                         f"| {r.max_abs_error:.1e} | {r.max_rel_error:.1e} | {where} "
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
    from .compiler import compile_source, load, with_check
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".py"):
        model = import_file(os.fspath(model))
    if isinstance(model, ModuleType):
        if hasattr(model, "_CHECK_SPEC"):
            return model
        checked = with_check(model)  # compiled in this process without the check: again, with it
        if checked is None:
            where = getattr(model, '__file__', None) or model.__name__
            raise CheckInputError(f"{where} has no gradient check: compile it with `symgrad compile --with-check`, "
                                  "or check the model file itself" if hasattr(model, "SIGNATURE") else
                                  f"{where} is no module generated by this symgrad; compile the model again")
        return checked
    if isinstance(model, os.PathLike) or "\n" not in model and (model.endswith(".sg") or os.path.exists(model)):
        return load(model, with_check=True)
    return compile_source(model, with_check=True)


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
    """Check every gradient of a model against finite differences, and every
    hvp, hessian and jacobian it has (see the module's docstring).
    model: a path, model text, or a compiled module; dims: sizes of the
    dimensions; inputs: a dict of arrays by argument name, or a .npz path
    (arguments left out are drawn); progress(done, total): called as it goes.
    Raises ModelError for a bad model and CheckInputError for bad inputs."""
    module = compiled(model)
    namespace = runtime()
    try:
        data = namespace["_check_run"](module._CHECK_SPEC, vars(module), module._check_probe, dims, seed,
                                       read_inputs(inputs), max_entries, directions, rtol, progress)
    except namespace["CheckInputError"] as error:
        raise CheckInputError(str(error)) from None
    if isinstance(model, (str, os.PathLike)) and os.fspath(model).endswith(".py"):
        data["model"] = f"{os.fspath(model)} (compiled from {data['model']})"
    return Report(data)
