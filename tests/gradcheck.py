"""Gradient checks for compiled models (in the spirit of JAX's check_grads).

    module = check_grads("param x : R^n\\n y = sum(exp(x))\\n grad y", {"n": 3})

compiles the model, draws seeded random float64 inputs of the declared
shapes (symbolic dims from `dims`), and compares every gradient of
`value_and_grad` (and of `backward(forward(...))`) with central finite
differences of `evaluate`, entry by entry.

Tolerances: an entry passes when

    |grad - fd| <= atol + rtol |fd| + roundoff,

with rtol = 1e-6, atol = 1e-8 (the absolute floor, for entries that are 0)
and roundoff = 10 eps |f| / h, the rounding error of a central difference
of a value of size |f|. The step is h = 6e-6 max(1, |x|), near eps^(1/3),
which balances the truncation error (h^2 f''' / 6) with that rounding
error; both are then around 1e-10 relative, far below rtol.

Domains: every entry is drawn away from 0 (|x| in [0.5, 1.5], random sign),
so that a kink at 0 (relu, abs, sign, max and min of a variable and 0) is
never within a step of an input. A variable named in `domains` is drawn as
- "positive": entries in [0.5, 1.5] (log, sqrt, x .^ 0.5, division);
- "spd": a symmetric positive definite matrix, far from singular (det,
  logdet, inv, A^-1);
- "real": the default;
- an array or a number: that value, as given.
A variable of ids (`input y : {0..C-1}^N`) is drawn as integers in 0..C-1
(a 1-D int array, or a Python int for one id) with a repeat where there
are two or more, so that a scatter sums; ids are never differentiated, so
no finite difference ever perturbs them.
"""

from __future__ import annotations

import numpy as np

import symgrad
from symgrad.lowering import analyze
from symgrad.naming import base_spelling
from symgrad.shapes import dim_value
from symgrad.source import Source

RTOL = 1e-6
ATOL = 1e-8
STEP = 6e-6
EPS = np.finfo(np.float64).eps


def program_of(text: str):
    """The checked program of a model's text (its arguments, grad requests)."""
    return analyze(Source(text, "<string>"))


def size(dim, dims: dict) -> int:
    return dim_value(dim, dims)


def draw_ids(count: int, shape, dims: dict, rng: np.random.Generator):
    """Ids in 0..count-1 for a variable of this shape: a Python int for one
    id, else a 1-D int array whose last id repeats its first."""
    if shape.is_scalar:
        return int(rng.integers(count))
    ids = rng.integers(count, size=size(shape.rows, dims))
    if len(ids) >= 2:
        ids[-1] = ids[0]
    return ids


def draw(shape, dims: dict, rng: np.random.Generator, domain="real", vector_1d=True):
    """One argument's value: a Python float for a scalar; a 1-D array for a
    column vector when vector_1d, else (n, 1); a 2-D array otherwise."""
    if not isinstance(domain, str):
        return domain
    rows, cols = size(shape.rows, dims), size(shape.cols, dims)
    if domain == "spd":
        if rows != cols:
            raise ValueError(f"an 'spd' argument must be square, got {rows}x{cols}")
        m = rng.uniform(-1, 1, (rows, cols))
        return m @ m.T / rows + np.eye(rows)
    magnitude = rng.uniform(0.5, 1.5, (rows, cols))
    if domain == "real":
        magnitude *= rng.choice([-1.0, 1.0], (rows, cols))
    elif domain != "positive":
        raise ValueError(f"unknown domain {domain!r}")
    if shape.is_scalar:
        return float(magnitude[0, 0])
    if shape.cols == 1 and vector_1d:  # a vector type (a matrix of n x m with m = 1 stays 2-D)
        return magnitude[:, 0]
    return magnitude


def draw_inputs(text: str, dims: dict, seed: int = 0, domains: dict | None = None,
                vector_1d: bool = True) -> list:
    """Seeded random inputs for every argument of the model, in order."""
    rng = np.random.default_rng(seed)
    domains = domains or {}
    return [draw_ids(size(v.ids, dims), v.shape, dims, rng) if v.ids is not None and v.name not in domains
            else draw(v.shape, dims, rng, domains.get(v.name, "real"), vector_1d)
            for v in program_of(text).arguments]


def entry_point(module, kind: str, program, target: str | None):
    """module.kind for the first grad statement (target None) or the only
    one, else the suffixed kind_TARGET."""
    if target is None or len(program.grads) == 1:
        return getattr(module, kind)
    return getattr(module, f"{kind}_{base_spelling(target)}")


def finite_differences(evaluate, args: list, index: int, step: float = STEP):
    """Central differences of evaluate(*args) with respect to args[index],
    in its shape, and the largest |f| seen (for the rounding bound)."""
    x = np.array(args[index], dtype=np.float64)
    fd = np.zeros(x.shape)
    scale = abs(float(evaluate(*args)))
    for position in np.ndindex(x.shape) if x.shape else [()]:
        h = step * max(1.0, abs(x[position]))
        values = []
        for sign in (1, -1):
            shifted = x.copy()
            shifted[position] += sign * h
            trial = list(args)
            trial[index] = float(shifted) if np.ndim(args[index]) == 0 and not isinstance(
                args[index], np.ndarray) else shifted
            values.append(float(evaluate(*trial)))
        fd[position] = (values[0] - values[1]) / (2 * h)
        scale = max(scale, *map(abs, values))
    return fd, scale


def assert_close(name: str, got, fd, scale: float, step: float, rtol: float, atol: float):
    got = np.asarray(got, dtype=np.float64)
    roundoff = 10 * EPS * scale / step
    bad = np.abs(got - fd) > atol + rtol * np.abs(fd) + roundoff
    if np.any(bad) or not np.all(np.isfinite(got)):
        raise AssertionError(
            f"gradient of {name} disagrees with finite differences at {np.argwhere(bad).tolist()}:\n"
            f"  computed: {got.tolist()}\n  finite differences: {fd.tolist()}")


def check_grads(text_or_module, dims: dict | None = None, *, args: list | None = None,
                domains: dict | None = None, seed: int = 0, target: str | None = None,
                text: str | None = None, rtol: float = RTOL, atol: float = ATOL,
                step: float = STEP, vector_1d: bool = True):
    """Compile (or take) a module, draw (or take) its arguments, and check
    every gradient of one grad statement (the first, or `target`'s) against
    central finite differences. Returns the module. With a module, pass the
    model's text as `text`."""
    if isinstance(text_or_module, str):
        text = text_or_module
        module = symgrad.compile_source(text)
    else:
        module = text_or_module
    dims = dims or {}
    program = program_of(text)
    if args is None:
        args = draw_inputs(text, dims, seed, domains, vector_1d)
    request = program.grads[0] if target is None else next(r for r in program.grads if r.target == target)
    evaluate = entry_point(module, "evaluate", program, target)
    value, grads = entry_point(module, "value_and_grad", program, target)(*args)
    cached_value, cache = entry_point(module, "forward", program, target)(*args)
    from_cache = entry_point(module, "backward", program, target)(cache)
    assert np.isfinite(value), value
    np.testing.assert_allclose(float(cached_value), float(value), rtol=1e-12)
    np.testing.assert_allclose(float(evaluate(*args)), float(value), rtol=1e-12)
    assert len(grads) == len(request.wrt)
    positions = [v.name for v in program.arguments]
    for variable, grad, cached_grad in zip(request.wrt, grads, from_cache):
        index = positions.index(variable.name)
        assert np.shape(grad) == np.shape(args[index]), (variable.name, np.shape(grad))
        np.testing.assert_allclose(cached_grad, grad, rtol=1e-12, atol=1e-300)
        fd, scale = finite_differences(evaluate, args, index, step)
        assert_close(variable.name, grad, fd.reshape(np.shape(grad)), scale, step, rtol, atol)
    return module
