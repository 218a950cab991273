"""The helpers a generated array-API module carries when one of its steps
needs them (ArrayApiPrinter.helper): the stable forms of the NumPy target's
helpers (codegen/numpy/helpers.py), written over the namespace `xp` of the
call and without branches on values, so that they trace under jax.jit and
stay lazy on Dask arrays: where the NumPy helper takes the accurate form
only when some entry needs it, these take it entry by entry (the same
numbers to rounding, at the cost of computing both forms)."""

from typing import NamedTuple as _NamedTuple

import array_api_compat as _compat

# ---------------------------------------------------------------- carried
# helper: sigmoid
def _sigmoid(xp, x):
    """1 / (1 + e^-x) = exp(-softplus(-x)): no overflow, and accurate in the
    tails."""
    return xp.exp(-xp.logaddexp(0.0, -x))


# helper: softplus
def _softplus(xp, x):
    """log(1 + e^x), with no overflow and accurate tails."""
    return xp.logaddexp(0.0, x)


# helper: sigmoid_slope
def _sigmoid_slope(xp, y, z):
    """σ'(z) = y σ(-z), y = σ(z): σ(-z) = exp(-softplus(z)) keeps its digits
    where y rounds to 1."""
    return y * xp.exp(-xp.logaddexp(0.0, z))


# helper: softmax
def _softmax(xp, s):
    """Softmax of each column, shifted by the column's max for stability."""
    if s.ndim < 2:  # a scalar's softmax is 1
        return xp.ones_like(s)
    e = xp.exp(s - xp.max(s, axis=0, keepdims=True))
    return e / xp.sum(e, axis=0, keepdims=True)


# helper: logsumexp
def _logsumexp_parts(xp, s):
    """(m, l) of each column (rows), logsumexp = m + l: m the column's largest
    entry (0 where it is not finite), l = log1p(r), r the sum of exp(s - m)
    over the column's other entries: where r < 1/2 (no tie for the max), r is
    summed again without the largest entry's exp(0) = 1, whose rounding would
    take r's digits."""
    if s.ndim < 2:  # a scalar is its own logsumexp
        return s, xp.zeros_like(s)
    m = xp.max(s, axis=0, keepdims=True)
    finite = xp.isfinite(m)
    m = xp.where(finite, m, 0.0)
    e = xp.exp(s - m)
    r = xp.sum(e, axis=0, keepdims=True) - 1
    r = xp.where(r < 0.5, xp.sum(xp.where(e < 1, e, 0.0), axis=0, keepdims=True), r)
    return m, xp.where(finite, xp.log1p(r), 0.0)


def _logsumexp(xp, s):
    """log sum exp of each column (a row)."""
    m, l = _logsumexp_parts(xp, s)
    return m + l


# helper: log_softmax  (needs: logsumexp)
def _log_softmax(xp, s):
    """log softmax of each column: (s - m) - l, logsumexp = m + l."""
    m, l = _logsumexp_parts(xp, s)
    return (s - m) - l


# helper: log_softmax_grad
def _log_softmax_grad(xp, y, g):
    """g - softmax ∘ colsum(g), y = log_softmax(s), softmax p = exp(y), as
    g ∘ (1 - p) - p ∘ (colsum(g) - g), with 1 - p taken as -expm1(y) at each
    column's top entry, where p may be nearly 1."""
    if y.ndim < 2:
        return g * -xp.expm1(y)
    p = xp.exp(y)
    top = xp.max(y, axis=0, keepdims=True)
    colsum = xp.sum(g, axis=0, keepdims=True)
    return g * xp.where(y == top, -xp.expm1(top), 1 - p) - p * (colsum - g)


# helper: tanh_slope
def _tanh_slope(xp, y, z):
    """tanh'(z) = 1 - y², y = tanh(z), where it is >= 1/16 (within 40 ulp);
    elsewhere sech²(z), which keeps its relative accuracy in the tails (z
    clipped to ±700, ±89 in float32, where cosh would overflow)."""
    q = 1 - y * y
    limit = 700.0 if xp.finfo(q.dtype).bits > 32 else 89.0
    sech = 1 / xp.cosh(xp.clip(z, -limit, limit))
    return xp.where(q < 0.0625, sech * sech, q)


# helper: norm_grad
def _norm_grad(xp, a, norm, g):
    """g a / ||a||; 0 where ||a|| = 0, which has no derivative there (as
    abs'(0) = 0), rather than 0/0."""
    zero = norm == 0
    return xp.where(zero, 0.0, a * (g / xp.where(zero, 1.0, norm)))


# helper: softmax_grad  (needs: logsumexp)
def _softmax_grad(xp, p, s, g):
    """p ∘ (g - colsum(p ∘ g)), p = softmax(s): as
    p ∘ (g ∘ (1 - p) - (colsum(p ∘ g) - p ∘ g)), with 1 - p taken as
    -expm1(-l) = r / (1 + r) at each column's largest entry."""
    pg = p * g
    if pg.ndim < 2:  # a scalar's softmax is the constant 1
        return pg * 0.0
    m, l = _logsumexp_parts(xp, s)
    q = xp.where(s == m, -xp.expm1(-l), 1 - p)
    return p * (g * q - (xp.sum(pg, axis=0, keepdims=True) - pg))


# helper: erf
def _erf(xp, x):
    """erf of each entry. The standard has no erf: it is each library's own
    (torch.special, jax.scipy.special, cupyx.scipy.special, SciPy or
    math.erf for NumPy and Dask's chunks)."""
    if _compat.is_torch_namespace(xp):
        import torch
        return torch.special.erf(x)
    if _compat.is_jax_namespace(xp):
        from jax.scipy.special import erf
        return erf(x)
    if _compat.is_cupy_namespace(xp):
        from cupyx.scipy.special import erf
        return erf(x)
    if _compat.is_dask_namespace(xp):
        return x.map_blocks(_numpy_erf, dtype=x.dtype)
    if _compat.is_numpy_namespace(xp):
        return _numpy_erf(x)
    raise NotImplementedError(f"erf (for gelu) of arrays of {xp.__name__}: the array API standard has none")


def _numpy_erf(x):
    """erf of a NumPy array, in its dtype: SciPy's, or math.erf entry by entry."""
    import numpy
    try:
        from scipy.special import erf
    except ImportError:
        import math
        erf = numpy.vectorize(math.erf, otypes=[float])
    return numpy.asarray(erf(x)).astype(numpy.asarray(x).dtype, copy=False)


# helper: gelu  (needs: erf)
def _gelu(xp, x):
    """x Φ(x), Φ the standard normal CDF."""
    return x * (0.5 * (1 + _erf(xp, x * 0.7071067811865476)))


# helper: weighted_gram
def _weighted_gram(xp, a, d):
    """Aᵀ diag(d) A of a column d ≥ 0, as Sᵀ S with S = √d ∘ A (a library
    that computes the product of an array's transpose and itself by
    syrk does half the multiplications of Aᵀ (d ∘ A))."""
    s = xp.sqrt(d) * a
    return s.T @ s


# helper: diagflat
def _diagflat(xp, v):
    """The diagonal matrix of a column or row v (its entries times I)."""
    v = xp.reshape(v, (-1,))
    return xp.eye(v.shape[0], dtype=v.dtype, device=_compat.device(v)) * v[:, None]


# helper: multi_dot
_splits = {}


def _chain_splits(dims):
    """For the chain of matrices dims[0]×dims[1], dims[1]×dims[2], ...: the
    fewest multiplications of each sub-chain i..j and where to split it."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            cost[i][j], split[i][j] = min((cost[i][m] + cost[m + 1][j] + dims[i] * dims[m + 1] * dims[j + 1], m)
                                          for m in range(i, j))
    return cost, split


def _multi_dot(factors):
    """The product of factors in the cheapest order for their sizes (chosen
    once per sizes), as NumPy's linalg.multi_dot."""
    if len(factors) == 1:
        return factors[0]
    dims = tuple(f.shape[0] for f in factors) + (factors[-1].shape[1],)
    if dims not in _splits:
        _splits[dims] = _chain_splits(dims)[1]
    split = _splits[dims]

    def product(i, j):
        return factors[i] if i == j else product(i, split[i][j]) @ product(split[i][j] + 1, j)
    return product(0, len(factors) - 1)


# helper: halves_parts  (needs: multi_dot)
_cuts = {}


def _chain_cost(dims):
    """The fewest multiplications that compute a chain of matrices of sizes
    dims[0]×dims[1], dims[1]×dims[2], ..."""
    return _chain_splits(dims)[0][0][-1]


_product = _multi_dot


# helper: trace_of_product  (needs: halves)
def _trace_of_product(xp, factors):
    """tr(F1 F2 ... Fk) = sum(L ∘ Rᵀ), tr being invariant under cyclic
    shifts: tr(Dᵀ Σ⁻¹ D) of D d×N costs d²N and d×d memory, not N×N."""
    left, right = _halves(factors, cyclic=True)
    return xp.sum(left * right.T)


# helper: diagonal_of_product  (needs: halves)
def _diagonal_of_product(xp, factors):
    """diag(F1 F2 ... Fk) = rowsum(L ∘ Rᵀ), a column: diag(Xᵀ Σ⁻¹ X) of X
    d×N costs d²N and memory N d, not N×N."""
    left, right = _halves(factors, cyclic=False)
    return xp.sum(left * right.T, axis=1, keepdims=True)


# helper: one_id
def _one_id(xp, i, device):
    """One id (a Python int or a 0-d array) as a vector of one id, on the
    arguments' device, for take."""
    return xp.reshape(xp.asarray(i, device=device), (1,))


# helper: scatter
def _scatter(xp, g, ids, count, axis):
    """The zeros of `count` columns (axis 1) or rows (axis 0) with g's
    columns (rows) added at ids, repeated ids summed. The standard has no
    scatter-add (nor any assignment that JAX and Dask take), so: the ids
    sorted, g's slices in that order summed cumulatively (a leading zero
    slice first), and each of the `count` slices of the result the
    difference of that running sum at the end and at the start of its run
    of ids (searchsorted on the sorted ids): O((k + count) n) and only
    functions of the standard, so it traces under jax.jit and stays lazy on
    Dask. Its rounding error is that of the running sum (a few ulp of the
    largest partial sum), not of each run alone: the one-hot product
    g onehot(ids)ᵀ would be exact but costs n k count multiplications."""
    if axis == 0:
        return xp.permute_dims(_scatter(xp, xp.permute_dims(g, (1, 0)), ids, count, 1), (1, 0))
    order = xp.argsort(ids)
    sorted_ids = xp.take(ids, order)
    running = xp.cumulative_sum(xp.take(g, order, axis=1), axis=1)
    running = xp.concat((xp.zeros_like(running[:, :1]), running), axis=1)
    positions = xp.arange(count, dtype=sorted_ids.dtype, device=_compat.device(g))
    stop = xp.searchsorted(sorted_ids, positions, side="right")
    start = xp.searchsorted(sorted_ids, positions, side="left")
    return xp.take(running, stop, axis=1) - xp.take(running, start, axis=1)


# helper: SparseGrad  (needs: scatter)
class _SparseGrad(_NamedTuple):
    """The gradient of a variable read only through gathers, without an
    array of its size: `ids` its unique ids, sorted; `values` the
    gradient's slices at those ids along `axis` ("cols" or "rows"; a vector
    given as (V,): u entries), each id's gathered slices summed; `shape`
    that of the argument as given; arrays of the arguments' library.
    dense() is the dense gradient (the scatter of the values)."""
    ids: object
    values: object
    shape: tuple
    axis: str

    def dense(self):
        """The gradient as an array of the variable's shape."""
        xp = _compat.array_namespace(self.values)
        if len(self.shape) == 1:  # a vector given as (V,): its values as one row
            return xp.reshape(_scatter(xp, xp.reshape(self.values, (1, -1)), self.ids, self.shape[0], 1), self.shape)
        axis = 1 if self.axis == "cols" else 0
        return _scatter(xp, self.values, self.ids, self.shape[axis], axis)


# helper: sparse_grad  (needs: SparseGrad, scatter)
def _sparse_grad(xp, parts, axis, shape, dtype, default_dtype, upstream):
    """The SparseGrad of Σᵢ scatter(Gᵢ, idsᵢ) along axis (1: columns, 0:
    rows), times upstream, from parts (Gᵢ, idsᵢ, Gᵢ's shape): the Gᵢ side by
    side, summed per unique id as the scatter sums (unique_inverse, then
    the scatter into u slices). Not under jax.jit: u depends on the ids."""
    dtype = default_dtype if dtype is None else dtype
    g = xp.concat([xp.broadcast_to(xp.asarray(g, dtype=dtype), g_shape) for g, _, g_shape in parts], axis=axis)
    ids = xp.concat([xp.reshape(xp.asarray(ids, device=_compat.device(g)), (-1,)) for _, ids, _ in parts])
    unique, inverse = xp.unique_inverse(ids)
    sums = _scatter(xp, g, xp.reshape(inverse, (-1,)), unique.shape[0], axis)
    if not (isinstance(upstream, (int, float)) and upstream == 1):
        sums = sums * upstream
    sums = xp.astype(sums, dtype)
    return _SparseGrad(unique, xp.reshape(sums, (-1,)) if len(shape) == 1 else sums, tuple(shape),
                       "cols" if axis else "rows")


# helper: indicator
def _indicator(xp, ids, classes, dtype, device):
    """The classes × N indicator matrix of the ids (classes × 1 for one id)."""
    ids = xp.reshape(xp.asarray(ids, device=device), (1, -1))
    return xp.astype(xp.arange(classes, dtype=ids.dtype, device=device)[:, None] == ids, dtype)


# helper: scatter_one  (needs: indicator)
def _scatter_one(xp, g, i, count, axis, dtype, device):
    """The zeros of `count` columns (axis 1) or rows (axis 0) with g at
    column (row) i: g times the indicator of i, the result's size anyway."""
    if axis == 1:
        return g * xp.permute_dims(_indicator(xp, i, count, dtype, device), (1, 0))
    return g * _indicator(xp, i, count, dtype, device)


# helper: placed
def _placed(xp, g, row, col, shape, dtype, device):
    """The zeros of `shape` with g (a block, or a number) at (row, col),
    joined from blocks of zeros (the standard assigns into no array)."""
    g = xp.reshape(xp.asarray(g, dtype=dtype, device=device), (-1, 1)) if not hasattr(g, "ndim") or g.ndim < 2 \
        else g
    rows, cols = g.shape

    def zeros(n, m):
        return xp.zeros((n, m), dtype=dtype, device=device)
    middle = xp.concat((zeros(rows, col), g, zeros(rows, shape[1] - col - cols)), axis=1)
    return xp.concat((zeros(row, shape[1]), middle, zeros(shape[0] - row - rows, shape[1])), axis=0)


# helper: pick_scatter
def _pick_scatter(xp, g, ids, classes, device):
    """The zeros of classes × N with g's entry j at (ids_j, j) (classes × 1
    for one id): g where the row is the column's id."""
    ids = xp.reshape(xp.asarray(ids, device=device), (1, -1))
    return xp.where(xp.arange(classes, dtype=ids.dtype, device=device)[:, None] == ids, g, 0.0)


# helper: pick
def _pick(xp, s, y):
    """S[y_j, j] of each column, as a row: a take from the flat S (C order)."""
    classes, n = s.shape
    positions = xp.arange(n, dtype=y.dtype, device=_compat.device(s))
    return xp.reshape(xp.take(xp.reshape(s, (-1,)), y * n + positions), (1, n))
