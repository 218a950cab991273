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
from dataclasses import dataclass

from symgrad import __version__
from symgrad.checking import module_section
from symgrad.differentiation import Derivation
from symgrad.ir import Node, Program, UserFunction, postorder
from symgrad.naming import base_spelling, keyword_spelling, python_names
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


def _same_dtype(dtype, *values):
    """Every array argument has the computation's dtype: results can be
    written into temporaries without changing any value's precision."""
    for value in values:  # a loop, not all(...): this runs on every call
        if getattr(value, "dtype", dtype) != dtype:
            return False
    return True


def _value_out(value, dtype):
    """A 1x1 result as a NumPy scalar of the computation's dtype (also when
    the value was computed from arguments of a narrower one only)."""
    if type(value) is _ndarray:
        value = value.reshape(())[()]
    return value if type(value) is dtype.type else dtype.type(value)


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
def _logsumexp_parts(s):
    """(m, l) of each column (rows), logsumexp = m + l: m the column's largest
    entry, l = log1p(r), r the sum of exp(s - m) over its other entries.
    log1p keeps the digits of a sum just above 1 that log(1 + r) would round
    away; where r is small, it is summed again without the largest entry's
    exp(0) = 1, whose rounding would take r's digits."""
    s = _np.asarray(s)
    if s.ndim < 2:  # a scalar is its own logsumexp
        return s, _np.zeros_like(s)
    m = s.max(axis=0, keepdims=True)
    finite = _np.isfinite(m)
    every = finite.all()
    e = _np.exp(s - m if every else s - _np.where(finite, m, 0))
    r = e.sum(axis=0, keepdims=True) - 1
    if not every or r.min() < 0.5:  # r < 0.5: no tie for the max (a tie makes r >= 1), one entry is 1
        r = _np.where(r < 0.5, _np.where(e < 1, e, 0).sum(axis=0, keepdims=True), r)
    l = _np.log1p(r)
    return m, (l if every else _np.where(finite, l, 0))

def _logsumexp(s):
    """log sum exp of each column (a row)."""
    m, l = _logsumexp_parts(s)
    return m + l
''',
    "log_softmax": '''
def _log_softmax(s):
    """log softmax of each column: (s - m) - l, logsumexp = m + l."""
    m, l = _logsumexp_parts(s)
    return (s - m) - l
''',
    "log_softmax_grad": '''
def _log_softmax_grad(y, g):
    """g - softmax ∘ colsum(g), y = log_softmax(s), softmax p = exp(y). Where
    one class has more than half the mass, as g ∘ (1 - p) - p ∘ (colsum(g) - g),
    with 1 - p taken as -expm1(y) at each column's top entry, where p may be
    nearly 1 and 1 - p would lose its digits (elsewhere p < 1/2, and 1 - p is
    exact enough). Where no class has, as written: it loses no digit then."""
    y = _np.asarray(y)
    if y.ndim < 2:
        return g * -_np.expm1(y)
    p = _np.exp(y)
    top = y.max(axis=0, keepdims=True)
    colsum = _np.sum(g, axis=0, keepdims=True)
    if top.max() < -0.6931471805599453:  # every p < 1/2
        return g - p * colsum
    return g * _np.where(y == top, -_np.expm1(top), 1 - p) - p * (colsum - g)
''',
    "tanh_slope": '''
def _tanh_slope(y, z):
    """tanh'(z) = 1 - y², y = tanh(z). That subtraction loses digits as |y|
    nears 1, and all of them where y rounds to ±1 (|z| > 19.1: 0, not 7.2e-35
    at z = 40). Where every 1 - y² >= 1/16 (|z| <= 2.06) it is within 40 ulp
    and taken as it is; else the slope is sech²(z), which keeps its relative
    accuracy in both tails (z clipped to ±700, ±89 in float32, where tanh' is
    0 in floats and cosh would overflow)."""
    q = _np.asarray(y * y)  # the one new array: every step below writes into it
    _np.subtract(1, q, out=q)
    if _np.min(q) < 0.0625:
        limit = 700.0 if q.dtype.itemsize > 4 else 89.0
        _np.clip(z, -limit, limit, out=q)
        _np.cosh(q, out=q)
        _np.divide(1, q, out=q)
        _np.multiply(q, q, out=q)
    return q if q.ndim else q[()]
''',
    "norm_grad": '''
def _norm_grad(a, norm, g):
    """g a / ||a||; 0 where ||a|| = 0, which has no derivative there (as
    abs'(0) = 0), rather than 0/0."""
    return a * (g / norm) if norm != 0 else a * 0.0
''',
    "softmax_grad": '''
def _softmax_grad(p, s, g):
    """p ∘ (g - colsum(p ∘ g)), p = softmax(s): as
    p ∘ (g ∘ (1 - p) - (colsum(p ∘ g) - p ∘ g)). Where p > 1/2, 1 - p is taken
    as -expm1(-l) = r / (1 + r) at each column's largest entry (see
    _logsumexp_parts and _log_softmax_grad)."""
    pg = p * g
    if _np.max(p) < 0.5:
        q = 1 - p
    else:
        m, l = _logsumexp_parts(s)
        q = _np.where(s == m, -_np.expm1(-l), 1 - p)
    return p * (g * q - (_np.sum(pg, axis=0, keepdims=True) - pg))
''',
    "erf": '''
try:
    from scipy.special import erf as _erf
except ImportError:  # NumPy alone has no erf: fall back to math.erf, entry by entry
    import math as _math
    _erf_entries = _np.vectorize(_math.erf, otypes=[float])

    def _erf(x):
        """erf of each entry, in x's dtype (math.erf computes in float64)."""
        x = _np.asarray(x)
        return _erf_entries(x).astype(x.dtype, copy=False)
''',
    "gelu": '''
def _gelu(x):
    """x Φ(x), Φ the standard normal CDF."""
    return x * (0.5 * (1 + _erf(x * 0.7071067811865476)))
''',
    "halves": '''
_cuts = {}


def _chain_cost(dims):
    """The fewest multiplications that compute a chain of matrices of sizes
    dims[0]×dims[1], dims[1]×dims[2], ... (the order multi_dot takes)."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            cost[i][j] = min(cost[i][m] + cost[m + 1][j] + dims[i] * dims[m + 1] * dims[j + 1]
                             for m in range(i, j))
    return cost[0][n - 1]


def _product(factors):
    return factors[0] if len(factors) == 1 else _np.linalg.multi_dot(factors)


def _halves(factors, cyclic):
    """(L, R): the products of two parts of the square product F1 F2 ... Fk,
    L R = F1 ... Fk, or with `cyclic` any cyclic shift of it, cut where
    computing L, R and L ∘ Rᵀ takes the fewest multiplications (chosen once
    per sizes)."""
    k = len(factors)
    sizes = tuple(f.shape[0] for f in factors) * 2  # F[i] is sizes[i]×sizes[i + 1], around the cycle
    cut = _cuts.get((sizes, cyclic))
    if cut is None:
        def cost(i, j):  # L = F[i:j] (sizes[i]×sizes[j]), R = F[j:k + i]
            return _chain_cost(sizes[i:j + 1]) + _chain_cost(sizes[j:k + i + 1]) + sizes[i] * sizes[j]
        cut = _cuts[sizes, cyclic] = min(((i, j) for i in range(k if cyclic else 1) for j in range(i + 1, k + i)),
                                         key=lambda c: cost(*c))
    i, j = cut
    cycle = factors + factors
    return _product(cycle[i:j]), _product(cycle[j:k + i])
''',
    "trace_of_product": '''
def _trace_of_product(factors):
    """tr(F1 F2 ... Fk) = sum(L ∘ Rᵀ), tr being invariant under cyclic
    shifts: tr(Dᵀ Σ⁻¹ D) of D d×N costs d²N and d×d memory, not N×N."""
    return _np.einsum("ij,ji->", *_halves(factors, cyclic=True))
''',
    "diagonal_of_product": '''
def _diagonal_of_product(factors):
    """diag(F1 F2 ... Fk) = rowsum(L ∘ Rᵀ), a column: diag(Xᵀ Σ⁻¹ X) of X
    d×N costs d²N and memory N d, not N×N."""
    return _np.einsum("ij,ji->i", *_halves(factors, cyclic=False))[:, None]
''',
}
NEEDS = {"log_softmax": ["logsumexp"], "softmax_grad": ["logsumexp"], "gelu": ["erf"],
         "trace_of_product": ["halves"], "diagonal_of_product": ["halves"]}
# tr(A B ...) and diag(A B ...) are computed from the factors (helpers of these names).
REDUCTIONS_OF_PRODUCTS = {"tr": "trace_of_product", "diag_vector": "diagonal_of_product"}
# Factors of products that are no arrays of their own: how each combines with
# the factor to its right ({0} its operand, {1} the factor), or, last, with the
# factor to its left.
MERGED_FACTORS = {"inv": ("_np.linalg.solve({0}, {1})", "_np.linalg.solve({0}.T, {1}.T).T"),
                  "diag_matrix": ("{0} * {1}", "{1} * {0}.T")}
ENTRY_POINTS = ("Grads", "forward", "backward", "value_and_grad", "evaluate")

# Every module can check its own gradients (symgrad.checking writes the part
# that is the model's own: _CHECK_SPEC and _check_probe).
CHECK_RUNTIME = r'''
# ------------------------------------------------------------ gradient checks
# check_gradients() compares every gradient of this module with central
# finite differences of its value, in float64; `symgrad check` runs this code.
#
# Per entry x_i: numeric = (f(x + h e_i) - f(x - h e_i)) / 2h, with the step
# h = eps^(1/3) max(|x_i|, rms(x)), which balances the truncation error of a
# central difference (~h^2) with its rounding error (~eps / h). Along a random
# unit direction v: numeric = (f(x + t v) - f(x - t v)) / 2t, t = h sqrt(size),
# against analytic = <gradient, v>. Each comparison passes when
#     |analytic - numeric| <= max(rtol max(|analytic|, |numeric|), floor),
# rtol = 1e-5, floor = 100 eps (F / h + G): the rounding error of the
# comparison, F the largest of |f(x ± h)| and sum |g x| over the variables
# (what rounding in f grows with), G the largest |gradient entry| (along a
# direction, sum |g v|). A failing comparison whose two points put the
# argument of a kink (relu, abs, max, ...) on different sides of it is no
# evidence: the inputs are drawn again (given inputs: it is skipped).


class _CheckInputError(ValueError):
    """Inputs that cannot be checked: a wrong name, dimension or shape, or
    values outside the model's domain."""


class _CheckRedraw(Exception):
    """The drawn inputs put a step across a kink or outside the domain
    (`depends`: the arguments the value outside its domain depends on)."""

    def __init__(self, message, depends=()):
        super().__init__(message)
        self.depends = depends


_CHECK_EPS = float(_np.finfo(_np.float64).eps)
_CHECK_STEP = _CHECK_EPS ** (1 / 3)
_CHECK_FLOOR = 100.0
_CHECK_DRAWS = 10


def check_gradients(dims=None, seed=0, inputs=None, max_entries=10000, directions=4, rtol=1e-5, quiet=False):
    """Check every gradient of this module against central finite differences,
    in float64, at seeded random inputs or the arrays in `inputs` (a dict by
    argument name; the others are drawn). `dims`: sizes of the dimensions
    (default 3, 4, 5, ...). Entries are compared one by one up to
    `max_entries` in all; every gradient is also compared along `directions`
    random directions. Prints a report unless quiet and returns it as a
    dict: 'passed', 'gradients' (one dict each), 'notes'."""
    report = _check_run(_CHECK_SPEC, globals(), _check_probe, dims, seed, inputs, max_entries, directions, rtol)
    if not quiet:
        print(_check_table(report))
    return report


def _check_run(spec, entries, probe, dims=None, seed=0, inputs=None, max_entries=10000, directions=4,
               rtol=1e-5, progress=None):
    """The report of a check (see check_gradients); _CheckInputError for
    inputs that cannot be checked. `entries`: the module's functions by name;
    `probe`: its _check_probe; `progress(done, total)`: called as it goes."""
    given, notes = _check_given(spec, inputs)
    sizes = _check_sizes(spec, dims, given)
    shapes = [_check_shape(argument, sizes) for argument in spec["arguments"]]
    rng = _np.random.default_rng(seed)
    plan = _check_plan(spec, shapes, max_entries, _np.random.default_rng([seed, 1]))
    sizes_of = {a[0]: int(_np.prod(shape)) for a, shape in zip(spec["arguments"], shapes)}
    total = 2 * sum(len(chosen) + directions * (sizes_of[name] > 1) for (_, name), chosen in plan.items())
    drawn = [a[0] for a in spec["arguments"] if a[0] not in given]
    draws = _CHECK_DRAWS if drawn else 1
    redrawn = {}
    with _np.errstate(all="ignore"):  # log of a negative, ... is reported, not warned about
        for draw in range(draws):
            args = [given[a[0]].copy() if a[0] in given else _check_draw(rng, shape, a[5])
                    for a, shape in zip(spec["arguments"], shapes)]
            last = draw == draws - 1
            counter = _check_counter(progress, total)
            try:
                problem = _check_domain(spec, probe, args)
                if problem:
                    raise _CheckRedraw(*problem)
                gradients = [_check_gradient(spec, entries, probe, args, request, plan, directions, rtol,
                                             _np.random.default_rng([seed, 2]), last, counter)
                             for request in spec["grads"]]
                break
            except _CheckRedraw as redraw:
                if last:
                    where = "with the inputs given" if not drawn else f"at each of {draws} random draws (seed {seed})"
                    depends = f"; it depends on {', '.join(redraw.depends)}" if redraw.depends else ""
                    raise _CheckInputError(f"{redraw} {where}{depends}: pass inputs inside the domain "
                                           f"with --inputs FILE.npz (inputs= in Python)") from None
                redrawn[str(redraw)] = redrawn.get(str(redraw), 0) + 1
    notes += [f"inputs redrawn {count} time{'s' * (count > 1)}: {reason}" for reason, count in redrawn.items()]
    words = {"positive": "positive", "pd": "positive definite", "pd positive": "positive definite, positive entries"}
    special = [f"{a[0]} {words[a[5]]}" for a in spec["arguments"] if a[5] != "real" and a[0] in drawn]
    if special:
        notes.append("drawn inside the domain of the functions that take them: " + "; ".join(special))
    flat = [result for results in gradients for result in results]
    notes += [f"d{r['target']}/d{r['variable']}: {r['error']}" for r in flat if r["error"]]
    notes += [f"d{r['target']}/d{r['variable']} is 0 at every point compared: these inputs do not "
              f"exercise it (try another --seed)" for r in flat if r["all_zero"]]
    skipped = sum(result["skipped_at_kinks"] for result in flat)
    if skipped:
        notes.append(f"{skipped} comparison{'s' * (skipped > 1)} skipped: the inputs put a kink "
                     f"within the step")
    return {
        "model": spec["model"], "passed": all(result["passed"] for result in flat),
        "dims": sizes, "seed": seed, "given": sorted(given), "draws": sum(redrawn.values()) + 1,
        "directions": directions, "max_entries": max_entries, "rtol": rtol, "floor": _CHECK_FLOOR,
        "gradients": flat, "notes": notes,
    }


def _check_counter(progress, total):
    """A counter of evaluations that reports to progress(done, total)."""
    done = [0]

    def count(evaluations):
        done[0] += evaluations
        progress(done[0], total)
    return count if progress else None


def _check_arrays(values, spec):
    """Arguments as float64 arrays as the model's code sees them: a vector as
    a column (or a row), a scalar as a 0-d array."""
    arrays = []
    for value, (_, _, _, rows, cols, _) in zip(values, spec["arguments"]):
        array = _np.asarray(value, dtype=_np.float64)
        if rows == 1 and cols == 1:
            array = array.reshape(())
        elif array.ndim == 1:
            array = array[:, None] if cols == 1 else array[None, :]
        arrays.append(array)
    return arrays


def _check_given(spec, inputs):
    """The arrays given, by model name, as float64 copies (keys may be model
    names or Python spellings), and notes on what was converted."""
    names = {spelled: name for name, spelled, *_ in spec["arguments"]}
    names.update({name: name for name, *_ in spec["arguments"]})
    given, notes = {}, []
    for key, value in dict(inputs or {}).items():
        if key not in names:
            known = ", ".join(name for name, *_ in spec["arguments"])
            raise _CheckInputError(f"the inputs name '{key}', which is no argument of the model "
                                   f"(its arguments: {known})")
        array = _np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise _CheckInputError(f"{key}: expected real numbers, got an array of {array.dtype}")
        if array.dtype != _np.float64:
            notes.append(f"{names[key]} converted from {array.dtype} to float64")
        given[names[key]] = _np.array(array, dtype=_np.float64, order="C")  # stepped in place, through a flat view
    return given, notes


def _check_sizes(spec, dims, given):
    """Every dimension's size: from the arrays given, then `dims`, then
    3, 4, 5, ... in the order the model declares them."""
    bound, by = {}, {}
    for name, _, _, rows, cols, _ in spec["arguments"]:
        if name not in given:
            continue
        shape = given[name].shape
        if rows == 1 and cols == 1 and given[name].size == 1:
            shape = (1, 1)
        elif len(shape) == 1 and (rows == 1 or cols == 1):
            shape = (shape[0], 1) if cols == 1 else (1, shape[0])
        wanted = f"R^{rows}" if cols == 1 else f"R^({rows}x{cols})"
        for dim, size in zip((rows, cols), shape if len(shape) == 2 else (None, None)):
            if size is None or isinstance(dim, int) and dim != size or bound.get(dim, size) != size:
                known = f" ({dim} = {bound[dim]} from {by[dim]})" if dim in bound else ""
                raise _CheckInputError(f"{name}: expected {wanted}{known}, got shape {given[name].shape}")
            if isinstance(dim, str):
                bound[dim], by[dim] = size, name
    for dim, size in dict(dims or {}).items():
        if dim not in spec["dims"]:
            raise _CheckInputError(f"unknown dimension '{dim}' (the model's: {', '.join(spec['dims']) or 'none'})")
        if isinstance(size, bool) or not isinstance(size, (int, _np.integer)) or size < 1:
            raise _CheckInputError(f"dimension {dim} must be a positive integer, got {size!r}")
        if bound.get(dim, size) != size:
            raise _CheckInputError(f"dimension {dim} = {size} disagrees with the shape of {by[dim]}, "
                                   f"which makes it {bound[dim]}")
        bound[dim] = int(size)
    return {dim: bound.get(dim, 3 + index) for index, dim in enumerate(spec["dims"])}


def _check_shape(argument, sizes):
    """The array shape an argument is drawn in: () for a scalar, (n,) for a
    column vector, 2-D otherwise."""
    rows, cols = (sizes.get(dim, dim) for dim in argument[3:5])
    if argument[3] == 1 and argument[4] == 1:
        return ()
    return (rows,) if argument[4] == 1 else (rows, cols)


def _check_draw(rng, shape, domain):
    """Random values of one argument inside its domain: "real": standard
    normal, a matrix's entries divided by sqrt(columns) so that products stay
    of order 1; "positive": uniform in [0.5, 2]; "pd": positive definite, a
    symmetric positive definite part plus a skew-symmetric one, so that a
    dropped transpose still shows; "pd positive": symmetric, positive entries."""
    if "pd" in domain and len(shape) == 2 and shape[0] == shape[1]:
        n = shape[0]
        if "positive" in domain:
            b = rng.uniform(0, 1, shape)
            return b @ b.T / n + _np.identity(n)
        b, k = rng.standard_normal(shape), rng.standard_normal(shape)
        return b @ b.T / n + _np.identity(n) + (k - k.T) * (0.5 / n ** 0.5)
    if domain != "real":
        return _np.array(rng.uniform(0.5, 2.0, shape))
    values = _np.array(rng.standard_normal(shape))
    return values / shape[1] ** 0.5 if len(shape) == 2 and min(shape) > 1 else values


def _check_domain(spec, probe, args):
    """None, or what is outside the domain of a function that has a
    restricted one (log, sqrt, a fractional power, logdet, inv, det) and
    the arguments it depends on."""
    values = probe(*args)[1] if spec["domains"] else []
    for (op, test, where, line, depends), value in zip(spec["domains"], values):
        value = _np.asarray(value, dtype=_np.float64)
        if test == "positive":
            bad = _np.argwhere(~(value > 0))
            if not len(bad):
                continue
            entry = tuple(int(i) for i in bad[0])
            shown = list(entry[:1] if value.ndim == 2 and value.shape[1] == 1 else entry)
            problem = f"not positive (entry {shown} is {value[entry]:.3g})" if shown else f"{value[entry]:.3g}, not positive"
        elif test == "positive determinant":
            if _np.linalg.slogdet(value)[0] > 0:
                continue
            problem = "a matrix whose determinant is not positive"
        else:
            condition = _np.linalg.cond(value)
            if condition < 1e8:
                continue
            problem = f"nearly singular (condition number {condition:.2g})"
        return f"the argument of {op} at {where} (`{line}`) is {problem}", depends
    return None


def _check_plan(spec, shapes, max_entries, rng):
    """The entries of each gradient to compare one by one: whole variables,
    smallest first, while max_entries lasts; the first that does not fit
    gets a random sample of what is left."""
    sizes = {a[0]: int(_np.prod(shape)) for a, shape in zip(spec["arguments"], shapes)}
    pairs = sorted(((target, name) for target, _, wrt in spec["grads"] for name in wrt),
                   key=lambda pair: sizes[pair[1]])
    plan, left = {}, max_entries
    for target, name in pairs:
        size = sizes[name]
        plan[target, name] = (_np.arange(size) if size <= left else
                              _np.sort(rng.choice(size, max(left, 0), replace=False)))
        left -= len(plan[target, name])
    return plan


def _check_gradient(spec, entries, probe, args, request, plan, directions, rtol, rng, skip, count):
    """The results for one grad statement: each gradient from value_and_grad
    and from backward(forward(...)), against finite differences of evaluate."""
    target, suffix, wrt = request
    evaluate = entries["evaluate" + suffix]
    names = [a[0] for a in spec["arguments"]]
    value = float(evaluate(*args))
    if not _np.isfinite(value):
        raise _CheckRedraw(f"the value of {target} is not finite")
    try:
        _, grads = entries["value_and_grad" + suffix](*args)
        _, cache = entries["forward" + suffix](*args)
        cached = entries["backward" + suffix](cache)
    except Exception as error:  # the module's gradient code is broken: every gradient fails
        return [_check_summary(target, name, args[names.index(name)], [], 0, rtol,
                               f"the gradient code raised {type(error).__name__}: {error}") for name in wrt]
    pairs = [[_np.array(g, dtype=_np.float64) for g in pair] for pair in zip(grads, cached)]
    scale = max(abs(value), sum(float(_np.sum(_np.abs(g[0] * args[names.index(name)])))
                                for name, g in zip(wrt, pairs) if g[0].shape == args[names.index(name)].shape))
    results = []
    for name, pair in zip(wrt, pairs):
        index = names.index(name)
        shapes = [g.shape for g in pair if g.shape != args[index].shape]
        if shapes:
            results.append(_check_summary(target, name, args[index], [], 0, rtol,
                                          f"a gradient of shape {shapes[0]} for an argument of shape "
                                          f"{args[index].shape}"))
            continue
        rows, skipped = _check_compare(spec, probe, evaluate, args, index, pair, plan[target, name], directions,
                                       scale, rng, rtol, skip, count)
        results.append(_check_summary(target, name, args[index], rows, skipped, rtol))
    return results


def _check_compare(spec, probe, evaluate, args, index, analytic, chosen, directions, scale, rng, rtol, skip, count):
    """Finite differences of one variable: per chosen entry, then along random
    directions. Returns the rows (where, numeric, analytic values, floor) and
    how many comparisons were skipped at a kink (when skip; else a failing
    comparison whose two points straddle a kink redraws the inputs)."""
    x = args[index]
    flat, g = x.reshape(-1), [a.reshape(-1) for a in analytic]
    rms = float(_np.sqrt(_np.mean(flat * flat))) if flat.size else 0.0
    rms = rms if rms > 0 else 1.0
    largest = max((float(_np.max(_np.abs(a))) for a in g if a.size), default=0.0)
    rows, skipped = [], 0

    def straddled(points):
        """The first kink whose argument is on different sides at the two
        points (copied: a kink's argument may be a view of an argument)."""
        ends = [[_np.array(k) for k in probe(*values)[0]] for values in points()]
        return next((site for site, a, b in zip(spec["kinks"], *ends) if _np.any(_np.sign(a) != _np.sign(b))), None)

    def compare(where, f_plus, f_minus, step, projected, spread, points):
        nonlocal skipped
        if not (_np.isfinite(f_plus) and _np.isfinite(f_minus)):
            raise _CheckRedraw("a finite-difference step left the model's domain (its value is not finite there)")
        numeric = (f_plus - f_minus) / step
        floor = _CHECK_FLOOR * _CHECK_EPS * (max(scale, abs(f_plus), abs(f_minus)) / step * 2 + spread)
        fails = any(not abs(a - numeric) <= max(rtol * max(abs(a), abs(numeric)), floor) for a in projected)
        site = straddled(points) if fails and spec["kinks"] else None
        if site and not skip:
            raise _CheckRedraw(f"a step put the argument of {site[0]} at {site[1]} (`{site[2]}`) across its kink")
        if site:
            skipped += 1
        else:
            rows.append((where, numeric, projected, floor))

    for position in chosen:
        centre = flat[position]
        h = _CHECK_STEP * max(abs(centre), rms)
        flat[position] = centre + h
        high, f_plus = flat[position], float(evaluate(*args))
        flat[position] = centre - h
        low, f_minus = flat[position], float(evaluate(*args))
        flat[position] = centre

        def points(high=high, low=low, centre=centre, position=position):
            for value in (high, low):
                flat[position] = value
                yield args
            flat[position] = centre
        where = tuple(int(i) for i in _np.unravel_index(position, x.shape))
        compare(where, f_plus, f_minus, float(high - low), [a[position] for a in g], largest, points)
        if count:
            count(2)
    t = _CHECK_STEP * rms * flat.size ** 0.5
    for direction in range(directions if flat.size > 1 else 0):
        v = rng.standard_normal(x.shape)
        v /= _np.sqrt(_np.sum(v * v))
        moved = [list(args), list(args)]
        moved[0][index], moved[1][index] = x + t * v, x - t * v
        projected = [float(_np.sum(a * v.reshape(-1))) for a in g]
        spread = max(float(_np.sum(_np.abs(a * v.reshape(-1)))) for a in g)
        compare(f"direction {direction + 1}", float(evaluate(*moved[0])), float(evaluate(*moved[1])), 2 * t,
                projected, spread, lambda moved=moved: iter(moved))
        if count:
            count(2)
    return rows, skipped


def _check_summary(target, name, x, rows, skipped, rtol, error=None):
    """One gradient's line of the report: what was compared, the largest
    errors, and the worst comparison: the entry with the largest relative
    error, or a direction when no entry was compared or only a direction fails."""
    worst, max_abs, max_rel, all_zero = {}, 0.0, -1.0, True
    for where, numeric, values, floor in rows:
        kind = "entry" if isinstance(where, tuple) else "direction"
        for via, value in zip(("value_and_grad", "backward"), values):
            difference, size = abs(value - numeric), max(abs(value), abs(numeric))
            finite = bool(_np.isfinite(value))
            relative = difference / max(size, floor / rtol, 1e-300) if finite else _np.inf
            max_abs, max_rel = max(max_abs, difference if finite else _np.inf), max(max_rel, relative)
            all_zero = all_zero and size == 0
            if relative > worst.get(kind, (-1.0,))[0]:
                worst[kind] = (relative, {"where": list(where) if kind == "entry" else where,
                                          "analytic": float(value), "numeric": float(numeric), "via": via})
    entry, direction = worst.get("entry"), worst.get("direction")
    if entry is None or direction is not None and entry[0] <= rtol < direction[0]:
        entry = direction
    return {
        "target": target, "variable": name, "shape": list(x.shape), "entries": int(x.size),
        "entries_checked": sum(isinstance(row[0], tuple) for row in rows),
        "directions": sum(isinstance(row[0], str) for row in rows),
        "max_abs_error": float(max_abs), "max_rel_error": float(max(max_rel, 0.0)), "worst": entry and entry[1],
        "skipped_at_kinks": skipped, "all_zero": all_zero and bool(rows),
        "passed": bool(max_rel <= rtol and error is None), "error": error,
    }


def _check_table(report, color=False):
    """The report as aligned text, one table per grad statement."""
    paint = (lambda text, code: f"\x1b[{code}m{text}\x1b[0m") if color else (lambda text, code: text)
    sizes = ", ".join(f"{dim}={size}" for dim, size in report["dims"].items())
    given = f"; arrays given for {', '.join(report['given'])}" if report["given"] else ""
    lines = [f"{report['model']}: {sizes + '; ' if sizes else ''}seed {report['seed']}{given}; float64; "
             f"each gradient per entry and along {report['directions']} random directions"]
    header = ("variable", "shape", "entries checked", "max abs err", "max rel err", "worst entry",
              "analytic", "numeric", "")
    for target in dict.fromkeys(result["target"] for result in report["gradients"]):
        results = [r for r in report["gradients"] if r["target"] == target]
        rows = [header]
        for r in results:
            worst = r["worst"] or {"where": "-", "analytic": "-", "numeric": "-"}
            where = worst["where"]
            if isinstance(where, list):
                where = "[" + ", ".join(map(str, where)) + "]" if where else "-"
            shape = " x ".join(map(str, r["shape"])) or "scalar"
            rows.append((r["variable"], shape, f"{r['entries_checked']} of {r['entries']}",
                         f"{r['max_abs_error']:.1e}", f"{r['max_rel_error']:.1e}", where,
                         *(f"{worst[key]:.9g}" if r["worst"] else "-" for key in ("analytic", "numeric")),
                         "pass" if r["passed"] else "FAIL"))
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        lines.append(f"grad {target} wrt {', '.join(r['variable'] for r in results)}")
        for number, row in enumerate(rows):
            cells = [cell.ljust(width) for cell, width in zip(row, widths)]
            if number:
                cells[-1] = paint(row[-1], "32" if row[-1] == "pass" else "1;31")
            lines.append(("  " + "  ".join(cells)).rstrip())
    lines += [f"note: {note}" for note in report["notes"]]
    failed = [f"d{r['target']}/d{r['variable']}" for r in report["gradients"] if not r["passed"]]
    count = len(report["gradients"])
    if failed:
        lines.append(paint(f"FAILED: {len(failed)} of {count} gradients disagree with finite differences "
                           f"({', '.join(failed)})", "1;31"))
    else:
        lines.append(paint(f"passed: {'all ' * (count > 1)}{count} gradient{'s' * (count > 1)} agree"
                           f"{'s' * (count == 1)} with finite differences "
                           f"(max rel err <= rtol = {report['rtol']:g})", "32"))
    return "\n".join(lines)
'''


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

    UFUNCS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "neg": "negative",
              "exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "absolute", "sign": "sign", "sin": "sin",
              "cos": "cos", "tan": "tan", "tanh": "tanh"}

    def inplace(self, node: Node, operands: list[str], position: int, out: str) -> str | None:
        """node's expression writing into operand `position`, or None."""
        if node.op in self.UFUNCS:
            return f"_np.{self.UFUNCS[node.op]}({', '.join(operands)}, out={out})"
        if node.op == "relu":
            return f"_np.maximum({operands[0]}, 0, out={out})"
        if node.op in ("where_gt", "where_ge") and position == 2:
            a, b, x = operands
            return f"_np.multiply({x}, {a} {'>' if node.op == 'where_gt' else '>='} {b}, out={out})"
        return None

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
    # 1 - σ(z) is σ(-z) = exp(-softplus(z)): no digit lost where σ(z) rounds to 1
    def _print_sigmoid_slope(self, node, y, z): return f"{y} * _np.exp(-_np.logaddexp(0, {z}))"
    def _print_softplus_slope(self, node, z, y): return f"_np.exp({z} - {y})"
    def _print_tanh_slope(self, node, y, z): return f"{self.helper('tanh_slope')}({y}, {z})"
    def _print_gelu(self, node, a): return f"{self.helper('gelu')}({a})"
    def _print_erf(self, node, a): return f"{self.helper('erf')}({a})"
    def _print_leaky_relu(self, node, z, a): return f"_np.where({z} > 0, {z}, {a} * {z})"
    def _print_elu(self, node, z, a): return f"_np.where({z} > 0, {z}, {a} * _np.expm1(_np.minimum({z}, 0)))"
    def _print_max(self, node, a, b): return f"_np.maximum({a}, {b})"
    def _print_min(self, node, a, b): return f"_np.minimum({a}, {b})"
    def _print_gt(self, node, a, b): return f"_np.greater({a}, {b}).astype({self.dtype})"
    def _print_ge(self, node, a, b): return f"_np.greater_equal({a}, {b}).astype({self.dtype})"
    def _print_where_gt(self, node, a, b, x): return self.gate(node, f"{a} > {b}", x)
    def _print_where_ge(self, node, a, b, x): return self.gate(node, f"{a} >= {b}", x)

    def gate(self, node, condition: str, x: str) -> str:
        """x where the condition holds, else 0, as x * mask: four times faster
        than np.where(condition, x, 0). A number is made a NumPy scalar of the
        computation's dtype first, so that float32 stays float32."""
        if node.args[2].op == "number":
            x = f"{self.dtype}.type({x})"
        return f"{x} * ({condition})"
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
    def _print_norm_grad(self, node, a, y, g): return f"{self.helper('norm_grad')}({a}, {y}, {g})"
    def _print_norm1(self, node, a): return f"_np.sum(_np.abs({a}))"
    def _print_rowsum(self, node, a): return f"_np.sum({a}, axis=1, keepdims=True)"
    def _print_colsum(self, node, a): return f"_np.sum({a}, axis=0, keepdims=True)"
    def _print_softmax(self, node, a): return f"{self.helper('softmax')}({a})"
    def _print_log_softmax(self, node, a): return f"{self.helper('log_softmax')}({a})"
    def _print_logsumexp(self, node, a): return f"{self.helper('logsumexp')}({a})"
    def _print_softmax_grad(self, node, p, s, g): return f"{self.helper('softmax_grad')}({p}, {s}, {g})"
    def _print_log_softmax_grad(self, node, y, g): return f"{self.helper('log_softmax_grad')}({y}, {g})"
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


@dataclass
class Step:
    """One generated statement, `name = expression  # comment`, kept as a
    record until the function is complete, when `render` may turn it into an
    in-place form that writes into a dead operand's buffer."""

    name: str
    node: Node
    operands: list[str]
    expression: str
    comment: str

    @property
    def fresh(self) -> bool:
        """Its value is a new array of its own (no view, no argument)."""
        return self.node.op not in VIEWS | {"apply"} and not self.node.shape.is_scalar

    def lines(self) -> list[str]:
        return [f"    {self.name} = {self.expression}", f"    # {self.comment}"]


IDENTIFIER = re.compile(r"[^\W\d]\w*")


def render(lines: list, live_out: str, printer: "NumpyPrinter", inplace: bool) -> list[str]:
    """The function body's lines. With `inplace`, a step whose operand is a
    temporary array of the result's shape, never used again, writes into
    that operand's buffer (out=), when the arguments share one dtype
    (`_inplace`, computed once per call): fewer fresh allocations, less
    memory traffic. Names in `live_out` (returned, cached) are never reused."""
    live = set(IDENTIFIER.findall(live_out))
    last_use: dict[str, int] = {}
    for index, line in enumerate(lines):
        if isinstance(line, Step):
            for operand in line.operands:  # an operand may be an expression: `t5.T` uses t5
                for name in IDENTIFIER.findall(operand):
                    last_use[name] = index
    produced = {line.name: line for line in lines if isinstance(line, Step) and line.fresh}
    reused = False
    for index, step in enumerate(lines):
        if not (inplace and isinstance(step, Step)):
            continue
        for position, operand in enumerate(step.operands):
            donor = produced.get(operand)
            if (donor is None or operand in live or last_use.get(operand) != index
                    or donor.node.shape != step.node.shape):
                continue
            form = printer.inplace(step.node, step.operands, position, f"{operand} if _inplace else None")
            if form:
                step.expression = form
                reused = True
                break
    out: list[str] = []
    for line in lines:
        out += line.lines() if isinstance(line, Step) else [line]
        if reused and isinstance(line, str) and line.startswith("    _dtype = "):
            out.append(f"    _inplace = _same_dtype(_dtype, {', '.join(printer.arguments)})")
    return out


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

    def chain(self, factors: list[Node]) -> list[str]:
        """The values of a product's factors. An inverse used by this product
        alone is no factor of its own: A⁻¹ X is solve(A, X) and X A⁻¹ is
        solve(Aᵀ, Xᵀ)ᵀ, one factorization of A, with a solve's accuracy.
        Nor is a diagonal matrix used only in products: diag(v) X = v ∘ X,
        X diag(v) = X ∘ vᵀ, never the N×N diag(v) of a data vector."""
        merged = [index for index, f in enumerate(factors) if f.op in MERGED_FACTORS and id(f) in self.absorbed]
        values = [None if index in merged else self.value(f) for index, f in enumerate(factors)]
        for index in reversed(merged):  # right to left: A⁻¹ B⁻¹ X = solve(A, solve(B, X))
            left, right = MERGED_FACTORS[factors[index].op]
            inner = self.value(factors[index].args[0])
            if index + 1 < len(values):
                values[index:index + 2] = [left.format(inner, values[index + 1])]
            else:
                values[index - 1:] = [right.format(inner, values[index - 1])]
        return values

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
        # A transpose is inlined on a name (x.T), not on an inlined transpose: x.T.T.T... 5,000 long
        # would overflow Python's compiler.
        return (node.op in ("number", "dimension") or
                node.op == "transpose" and (self.names.get(id(node.args[0]), "").isidentifier()
                                            or node.args[0].op == "number"))

    chain_root = None

    def emit(self, node: Node, name_hint: str, math_names: dict[int, tuple[str, bool]], own: bool = False):
        if id(node) in self.names or node.op in ("number", "dimension") or id(node) in self.absorbed:
            return
        self.chain_root = node
        factors = self.factors(node)
        reduced = node.op in REDUCTIONS_OF_PRODUCTS and id(node.args[0]) in self.absorbed
        if reduced:
            factors = self.factors(node.args[0])
        chain = self.chain(factors) if reduced or node.op == "matmul" else []
        if reduced and len(chain) == 1:  # tr(A⁻¹ B) = tr(solve(A, B))
            expression = self.module.printer.expression(node, chain)
        elif reduced:
            # tr or diag of a product: never the product itself, which may be N×N of the data.
            expression = f"{self.module.printer.helper(REDUCTIONS_OF_PRODUCTS[node.op])}([{', '.join(chain)}])"
        elif len(chain) > 2:
            # The cheapest order depends on the sizes, known only at call time.
            expression = f"_np.linalg.multi_dot([{', '.join(chain)}])"
        elif len(chain) == 1:  # A⁻¹ B solved, or diag(v) B scaled
            expression = chain[0]
        else:
            expression = self.module.printer.expression(node, chain or [self.value(a) for a in node.args])
        if self.inline(node):
            self.names[id(node)] = expression
            return
        name = self.namer.fresh(name_hint, own)
        self.names[id(node)] = name
        model_name = math_names.pop(id(node), None)
        math = Printer(math_names, self.module.arities).doc(node)
        math_names[id(node)] = model_name or (name, False)
        where = f"  ({self.module.filename}:{node.span.line})" if node.span else ""
        operands = chain or [self.value(a) for a in node.args]
        self.lines.append(Step(name, node, operands, expression,
                               f"{math_names[id(node)][0]} = {math} : {node.shape}{where}"))


class ModuleWriter:
    def __init__(self, program: Program, derivations: list[Derivation]):
        self.program = program
        self.derivations = derivations
        # Shown in comments only, escaped so that no file name can end one.
        self.filename = repr(program.source.filename)[1:-1]
        model_names = list(program.variables) + list(program.dims) + list(program.definitions) \
            + list(program.functions)
        self.spelled = python_names(model_names)
        self.keywords = python_names(program.variables, keyword_spelling)
        partials = derivations[0].builder._partial if derivations else None
        self.partials = partials
        self.arities = partials.arities() if partials else {}
        # A user function lives at module level as _fn_NAME: no model name
        # starts with `_`, and no Python builtin the runtime uses is shadowed.
        self.functions: dict[str, str] = {name: f"_fn_{self.spelled[name]}" for name in program.functions}
        self.derived: list[UserFunction] = []
        for (original, index), function in (partials.derived.items() if partials else ()):
            if function is not None:
                self.derived.append(function)
                self.functions[function.name] = f"_d{index + 1}_{self.spelled[original]}"
        self.printer = NumpyPrinter({d: self.spelled[d] for d in program.dims}, self.functions, "_dtype")
        self.printer.arguments = [self.spelled[v.name] for v in program.arguments]
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
        sections.append(CHECK_RUNTIME + module_section(self.program, self.spelled, self.functions))
        return "\n\n".join(s.strip("\n") for s in sections) + "\n"

    def header(self) -> str:
        requests = ", ".join(f"grad {r.target} wrt {', '.join(v.name for v in r.wrt)}" for r in self.program.grads)
        return (f"# Generated by symgrad {__version__} from {self.filename}: {requests}.\n"
                f"# Do not edit: regenerate with `symgrad compile`. Needs only NumPy.\n\n"
                f"from typing import NamedTuple as _NamedTuple\n\nimport numpy as _np")

    def user_function(self, function: UserFunction, name: str) -> str:
        """A scalar formula as a Python function of arrays, one expression."""
        # A derived function's last parameter may be the original's output,
        # written `f(t)` in the math and `f` in Python (`f_` if a parameter is `f`).
        params: dict[str, str] = {}
        for param in function.params:
            spelling = base_spelling(param.split("(")[0])
            while spelling in params.values():
                spelling += "_"
            params[param] = spelling
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
        grads = f"Grads{suffix}"
        fields = "\n".join(f"    {self.spelled[v.name]}: object" for v in request.wrt)
        doc_args = ", ".join(f"{v.name}: {v.shape}" for v in self.program.arguments) or "none"
        target = request.target

        forward_body, forward_names, forward_writer = self.forward_body(derivation)
        cache_names = self.cache_nodes(derivation, forward_writer)
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
            self.entry_point(
                f"forward{suffix}", f"({target}, cache for backward). Arguments: {doc_args}.",
                "\n".join(render(forward_body, f"{result} {' '.join(cache)}", self.printer, True)) + "\n"
                f"    _cache = {{{', '.join(cache)}}}\n"
                f"    return _value_out({result}, _dtype), _cache"),
            f"def backward{suffix}(cache, upstream=1.0):\n"
            f'    """The gradients of {target} from forward\'s cache, times upstream."""\n'
            + "\n".join(unpack + render(backward_lines, backward_result, self.printer, False))
            + f"\n    return {backward_result}",
            self.entry_point(
                f"value_and_grad{suffix}", f"({target}, its gradients) in one call. Arguments: {doc_args}.",
                "\n".join(render(forward_body + fused_lines, f"{result} {fused_result}", self.printer, True))
                + f"\n    return _value_out({result}, _dtype), {fused_result}"),
            self.entry_point(
                f"evaluate{suffix}", f"{target} alone: no cache, no backward work. Arguments: {doc_args}.",
                "\n".join(render(self.forward_body(derivation, wrt=False)[0], result, self.printer, True))
                + f"\n    return _value_out({result}, _dtype)"),
            # Internal references go through names no model spelling can shadow.
            f"_{grads} = {grads}",
        ]
        if suffix and index == 0:
            parts.append("\n".join(f"{name} = {name}{suffix}" for name in ENTRY_POINTS))
        return "\n\n\n".join(parts)

    def entry_point(self, name: str, doc: str, body: str) -> str:
        """A function of the model's arguments. Its keyword arguments are the
        names as written where Python takes them (`_x`), but inside, every
        argument is its gradient field's spelling (`v_x`), which no name of
        the module's own (`_np`, `_dtype`, ...) can be: where the two differ,
        the function is a wrapper that passes its arguments on to the body,
        defined as _NAME_body."""
        inside = [self.spelled[v.name] for v in self.program.arguments]
        outside = [self.keywords[v.name] for v in self.program.arguments]
        if inside == outside:
            return f'def {name}({", ".join(inside)}):\n    """{doc}"""\n{body}'
        inner = f"_{name}_body"
        while inner in outside:
            inner += "_"
        return (f'def {inner}({", ".join(inside)}):\n    """{doc}"""\n{body}\n\n\n'
                f'def {name}({", ".join(outside)}):\n    """{doc}"""\n'
                f'    return {inner}({", ".join(outside)})')

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
        writer = FunctionWriter(self, namer, leaves, self.absorbed_products(derivation, gradient=wrt))
        math_names = self.math_names()
        for node in postorder([request.node]):
            own = node.name in self.program.definitions and self.program.definitions[node.name] is node
            writer.emit(node, self.spelled[node.name] if own else "t", math_names, own)
        self.forward_math = math_names
        return lines + writer.lines, dict(writer.names), writer

    def absorbed_products(self, derivation: Derivation, gradient: bool = True) -> set[int]:
        """The values not computed on their own, in the functions that compute
        the gradients too (or, with gradient=False, the value alone):
        matrix products used once, by another matrix product, and not named
        by the model: they are computed inside the longer chain, whose order
        is chosen at call time; a product (named or not) whose only use is a
        trace or a diagonal: that is computed from its factors; an inverse
        whose only use is one product: the product is a solve; a diagonal
        matrix used only in products: they scale rows or columns."""
        forward = postorder([derivation.request.node])
        backward = gradient_order(derivation, {id(n) for n in forward}) if gradient else []
        uses: dict[int, list[str]] = {}
        for node in forward + backward:
            for arg in node.args:
                uses.setdefault(id(arg), []).append(node.op)
        for root in [derivation.request.node, *(derivation.gradients.values() if gradient else ())]:
            uses.setdefault(id(root), []).append("result")
        return {id(node) for node in forward + backward
                if node.op == "matmul" and (uses.get(id(node)) in (["tr"], ["diag_vector"]) and not node.shape.is_scalar
                                            or uses.get(id(node)) == ["matmul"] and not (
                    node.name in self.program.definitions and self.program.definitions[node.name] is node))
                or node.op == "inv" and uses.get(id(node)) == ["matmul"]
                or node.op == "diag_matrix" and set(uses.get(id(node), ())) == {"matmul"}}

    def cache_nodes(self, derivation: Derivation, writer: FunctionWriter) -> list[Node]:
        """Forward values (and variables) the gradient graph reads. A value
        written inline (Bᵀ as `B.T`) is not kept: backward writes it again
        from what it is made of."""
        kept = {id(n) for n in postorder([derivation.request.node]) if writer.names.get(id(n), "").isidentifier()}
        return [n for n in gradient_order(derivation, kept) if id(n) in kept]

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
                # A vector may have been passed as (n,); a matrix has its shape already.
                reshape = f".reshape({shape})" if variable.shape.is_column or variable.shape.is_row else ""
                results.append(f"        {value}{reshape}.astype({dtype}, copy={copy}),")
            else:
                results.append(f"        _grad_out({value}, {shape}, {dtype}, _dtype, {copy}, {upstream}),")
        return writer.lines, f"{grads_class}(\n" + "\n".join(results) + "\n    )"


def gradient_order(derivation: Derivation, available: set[int]) -> list[Node]:
    """The gradient graph's nodes, operands first, not descending below the
    nodes in `available` (forward values come from the cache, not again).
    The gradients nearest the output come first (by the depth of their
    graph): as backpropagation reaches a layer, its weights' gradients are
    taken while its error signal is fresh in the cache, and no signal stays
    alive to the end."""
    roots = list(derivation.gradients.values())
    depth: dict[int, int] = {}
    for node in postorder(roots, stop=available):
        below = [] if id(node) in available else node.args
        depth[id(node)] = 1 + max((depth[id(a)] for a in below), default=0)
    return postorder(sorted(roots, key=lambda root: depth[id(root)]), stop=available)


def generate(program: Program, derivations: list[Derivation]) -> str:
    """The source of the NumPy module for a program and its derivations."""
    return ModuleWriter(program, derivations).write()
