"""The helpers a generated NumPy module carries when one of its steps needs
them (NumpyPrinter.helper): the text from one `# helper: NAME` line to the
next is copied into the module, with the helpers it names as needed."""

import numpy as _np

# ---------------------------------------------------------------- carried
# helper: sigmoid
def _sigmoid(x):
    """1 / (1 + e^-x) = exp(-softplus(-x)): no overflow, and accurate in the
    tails (the relative error grows only with log(1 + e^-x))."""
    return _np.exp(-_np.logaddexp(0, -x))


# helper: few
_FEW = 256  # fewer entries: one logaddexp call beats the faster passes of the other form (~1 µs a call)


# helper: softplus  (needs: few)
def _softplus(x):
    """log(1 + e^x): no overflow, accurate tails. Large arrays take it as
    max(x, 0) + log1p(e^-|x|), passes six times faster than logaddexp's
    (29 µs against 192 on 10,000 entries); small ones in one call."""
    if _np.size(x) < _FEW:
        return _np.logaddexp(0, x)
    return _np.maximum(x, 0) + _np.log1p(_np.exp(-_np.abs(x)))


# helper: sigmoid_slope  (needs: few)
def _sigmoid_slope(y, z):
    """σ'(z) = y σ(-z), y = σ(z): σ(-z) = exp(-softplus(z)) keeps its digits
    where y rounds to 1. Large arrays take σ(-z) as e^-max(z, 0) / (1 + e^-|z|)
    (38 µs against 227 on 10,000 entries); small ones in fewer calls."""
    if _np.size(z) < _FEW:
        return y * _np.exp(-_np.logaddexp(0, z))
    return y * (_np.exp(-_np.maximum(z, 0)) / (1 + _np.exp(-_np.abs(z))))


# helper: softmax
def _softmax(s):
    """Softmax of each column, shifted by the column's max for stability."""
    e = _np.exp(s - _np.max(s, axis=0, keepdims=True))
    return e / _np.sum(e, axis=0, keepdims=True)


# helper: logsumexp
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


# helper: log_softmax  (needs: logsumexp)
def _log_softmax(s):
    """log softmax of each column: (s - m) - l, logsumexp = m + l."""
    m, l = _logsumexp_parts(s)
    return (s - m) - l


# helper: log_softmax_grad
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


# helper: tanh_slope
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


# helper: norm_grad
def _norm_grad(a, norm, g):
    """g a / ||a||; 0 where ||a|| = 0, which has no derivative there (as
    abs'(0) = 0), rather than 0/0."""
    return a * (g / norm) if norm != 0 else a * 0.0


# helper: plus_diagonal
def _plus_diagonal(a, c, out=None):
    """a + c I: c added on the diagonal of a copy of a (or of `out`, a's own
    buffer where a is a temporary used no more), no identity formed. c may
    be a 1×1 array (a product uᵀ v)."""
    out = a.copy() if out is None else out
    out.flat[::out.shape[1] + 1] += _np.reshape(c, ())
    return out


# helper: weighted_gram
def _weighted_gram(a, d):
    """Aᵀ diag(d) A of a column d ≥ 0, as Sᵀ S with S = √d ∘ A: NumPy computes
    the product of an array's transpose and the array itself by BLAS syrk,
    half the multiplications of Aᵀ (d ∘ A)."""
    s = _np.sqrt(d) * a
    return s.T @ s


# helper: softmax_grad  (needs: logsumexp)
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


# helper: erf
try:
    from scipy.special import erf as _erf
except ImportError:  # NumPy alone has no erf: fall back to math.erf, entry by entry
    import math as _math
    _erf_entries = _np.vectorize(_math.erf, otypes=[float])

    def _erf(x):
        """erf of each entry, in x's dtype (math.erf computes in float64)."""
        x = _np.asarray(x)
        return _erf_entries(x).astype(x.dtype, copy=False)


# helper: gelu  (needs: erf)
def _gelu(x):
    """x Φ(x), Φ the standard normal CDF."""
    return x * (0.5 * (1 + _erf(x * 0.7071067811865476)))


# helper: halves_parts
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


# helper: trace_of_product  (needs: halves)
def _trace_of_product(factors):
    """tr(F1 F2 ... Fk) = sum(L ∘ Rᵀ), tr being invariant under cyclic
    shifts: tr(Dᵀ Σ⁻¹ D) of D d×N costs d²N and d×d memory, not N×N."""
    return _np.einsum("ij,ji->", *_halves(factors, cyclic=True))


# helper: diagonal_of_product  (needs: halves)
def _diagonal_of_product(factors):
    """diag(F1 F2 ... Fk) = rowsum(L ∘ Rᵀ), a column: diag(Xᵀ Σ⁻¹ X) of X
    d×N costs d²N and memory N d, not N×N."""
    return _np.einsum("ij,ji->i", *_halves(factors, cyclic=False))[:, None]


# helper: scatter  (needs: compact_sums)
def _scatter(g, ids, count, axis):
    """The zeros of `count` columns (axis 1) or rows (axis 0) with g's
    columns (rows) added at ids, repeated ids summed: the methods measured
    fastest (benchmarks/scatter_methods.py; np.add.at is 2.5 to 3 times
    slower). bincount sums in float64: for float64, one bincount over the
    flat indices r V + w of the whole result; for float32, which that would
    make a float64 array of the result's size to cast, a bincount per row
    of the columns, or the rows' sums per unique id assigned once."""
    ids = ids.astype(_np.intp, copy=False)  # bincount takes no unsigned 64-bit ids
    if axis == 1:
        rows = g.shape[0]
        if g.dtype == _np.float64:
            flat = (_np.arange(rows)[:, None] * count + ids).ravel()
            return _np.bincount(flat, weights=g.ravel(), minlength=rows * count).reshape(rows, count)
        out = _np.empty((rows, count), g.dtype)
        for r in range(rows):
            out[r] = _np.bincount(ids, weights=g[r], minlength=count)
        return out
    cols = g.shape[1]
    if g.dtype == _np.float64:
        flat = (ids[:, None] * cols + _np.arange(cols)).ravel()
        return _np.bincount(flat, weights=g.ravel(), minlength=count * cols).reshape(count, cols)
    unique, sums = _compact_sums(g, ids, 0)
    out = _np.zeros((count, cols), g.dtype)
    out[unique] = sums
    return out


# helper: compact_sums
def _compact_sums(g, ids, axis):
    """(u, S): the unique ids u and, along `axis`, the sum of g's slices of
    each: one sort, then one bincount into an array of u's size, which
    stays in cache (bincount sums in float64)."""
    unique, inverse = _np.unique(ids, return_inverse=True)
    n = len(unique)
    inverse = inverse.ravel()
    if axis == 1:
        flat = _np.arange(g.shape[0])[:, None] * n + inverse
        shape = (g.shape[0], n)
    else:
        flat = inverse[:, None] * g.shape[1] + _np.arange(g.shape[1])
        shape = (n, g.shape[1])
    sums = _np.bincount(flat.ravel(), weights=g.ravel(), minlength=shape[0] * shape[1])
    return unique, sums.reshape(shape).astype(g.dtype, copy=False)


# helper: scatter_add  (needs: scatter, compact_sums)
def _scatter_add(base, out, g, ids, axis, sign):
    """base + sign scatter(g, ids): where `out` is base's buffer (a temporary
    no later step reads), in place, touching only the columns (rows) at the
    unique ids (measured 0.3 of a scatter of L's size); else a new array."""
    if out is None:
        return base + sign * _scatter(g, ids, base.shape[axis], axis)
    unique, sums = _compact_sums(g, ids, axis)
    index = (slice(None), unique) if axis == 1 else unique
    if sign > 0:
        out[index] += sums
    else:
        out[index] -= sums
    return out


# helper: scatter_one
def _scatter_one(g, i, shape, axis, dtype):
    """The zeros of `shape` with g (a column, a row or a number) at column
    (axis 1) or row (axis 0) i."""
    out = _np.zeros(shape, dtype)
    if axis == 1:
        out[:, i:i + 1] = g
    else:
        out[i:i + 1] = g
    return out


# helper: placed
def _placed(g, row, col, shape, dtype):
    """The zeros of `shape` with g (a block, or a number) at (row, col)."""
    out = _np.zeros(shape, dtype)
    g = _np.asarray(g)
    rows, cols = g.shape if g.ndim == 2 else (1, 1)
    out[row:row + rows, col:col + cols] = g
    return out


# helper: positions_of
_positions = {}


def _positions_of(n):
    """0, 1, ..., n - 1, made once per n (a pick's column of each id: 1 µs
    of a 3.4 µs pick of 1,000 columns, measured)."""
    positions = _positions.get(n)
    if positions is None:
        positions = _positions[n] = _np.arange(n)
    return positions


# helper: pick_scatter  (needs: positions_of)
def _pick_scatter(g, y, classes, dtype):
    """The zeros of classes × N with g's entry j at (y_j, j): one entry per
    column, so no two add."""
    out = _np.zeros((classes, len(y)), dtype)
    out[y, _positions_of(len(y))] = _np.ravel(g)
    return out


# helper: pick_scatter_add  (needs: pick_scatter)
def _pick_scatter_add(base, out, g, y, sign):
    """base + sign pick_scatter(g, y), in place where `out` is base's buffer."""
    if out is None:
        return base + sign * _pick_scatter(g, y, base.shape[0], _np.result_type(base, g))
    positions = _positions_of(len(y))
    out[y, positions] += sign * _np.ravel(g)
    return out


# helper: onehot
def _onehot(y, classes, dtype):
    """The classes × N indicator of the ids (classes × 1 for one id)."""
    return (_np.arange(classes)[:, None] == _np.reshape(y, (1, -1))).astype(dtype)
