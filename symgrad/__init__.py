"""symgrad: a symbolic differentiation compiler for matrix expressions.

    >>> import symgrad
    >>> d = symgrad.derive("examples/window.sg")
    >>> print(d.gradients["W"])          # ∂s/∂W = δᵀ xᵀ   [n×m] = [n×1][1×m]
"""

from __future__ import annotations

import os

from .version import __version__  # noqa: F401  (symgrad.__version__)


def _source(text_or_path: str):
    from .source import Source, read_source
    if "\n" not in text_or_path and os.path.exists(text_or_path):
        return read_source(text_or_path)
    return Source(text_or_path, "<string>")


def derive(text_or_path: str):
    """The derivation of every gradient of a model (a path or the model's
    text): an Explanation whose `.gradients` print in matrix notation and
    render as LaTeX in Jupyter; `str()` of it is `symgrad derive`'s output."""
    from .explain import Explanation
    from .lowering import analyze
    return Explanation(analyze(_source(text_or_path), allow_undefined_functions=True))


def load(path, target: str = "numpy", with_check: bool = False):
    """Compile a model file in memory (cached by content) and return a module
    with forward, backward, value_and_grad and evaluate, for `target` (the
    targets: symgrad.codegen.TARGETS); with_check: with check_gradients()."""
    from .compiler import load as _load
    return _load(path, target, with_check)


def compile_source(text: str, filename: str = "<string>", target: str = "numpy", with_check: bool = False):
    """Like load, for a model's text."""
    from .compiler import compile_source as _compile_source
    return _compile_source(text, filename, target, with_check)


def check(model, dims=None, seed=0, inputs=None, **options):
    """Check every gradient of a model, and every Hessian-vector product,
    Hessian and Jacobian its hessian and jacobian statements give, against
    central finite differences (of the value, or of the generated gradient).
    model: a path, the model's text, or a compiled module (from load,
    compile_source, or a file `symgrad compile --with-check` wrote); dims: sizes of the
    dimensions ({"n": 8}); inputs: arrays by argument name, or a .npz path.
    Options: max_entries, directions, rtol, progress. Returns a Report with
    `.passed`, `.results` (the gradients), `.derivatives` (the second-order
    rows: `.derivative("hvp J wrt w")`) and `.to_json()`; it shows as a
    table in Jupyter."""
    from .checking import check as _check
    return _check(model, dims=dims, seed=seed, inputs=inputs, **options)


def objective(model, initial: dict, /, statement=None, **data):
    """A scalar of a compiled model (or a model file) as the callables
    scipy.optimize.minimize takes, over one flat vector x packing every
    `wrt` variable of its hessian (else grad) statement, each by columns:
    `.fun`, `.jac`, `.hessp`, `.hess`, `.x0` (`initial` packed), `.pack`,
    `.unpack`, and `.minimize(method=...)`. data: the other arguments by
    keyword. See symgrad.minimize and docs/optimize.md."""
    from .minimize import Objective
    return Objective(model, initial, statement, **data)


def graph(model, at=None, inputs=None, dims=None, grad=None, group=None):
    """The computational graph of a model (a path or the model's text), as
    the lecture notes draw it: a node per gate, wires labelled with shapes;
    with `at` (the seed of random inputs drawn as `check` draws them) or
    `inputs` (arrays by argument name, or a .npz path) and `dims`, each wire
    also shows its value and, in red, its gradient. `grad`: which grad
    statement (its target; default the first); `group`: a box per
    definition (default: for big models). The result shows in Jupyter and
    has `.save("graph.svg")` (.png, .pdf, .dot) and `.source` (DOT); drawing
    needs Graphviz (docs/graph.md)."""
    from .graphing import graph as _graph
    return _graph(_source(model), at, inputs, dims, grad, group)
