"""The helpers a generated numba module carries when one of its steps needs
them (NumbaPrinter.helper): each a compiled loop over the entries of 2-D
arrays, written in the stable forms of the NumPy target's helpers
(codegen/numpy/helpers.py), fused into one pass where NumPy takes several."""

import numba as _numba
import numpy as _np

# For importing this file directly (tests); a module carries runtime.py's _njit.
_njit = _numba.njit(cache=True, error_model="numpy")

# ---------------------------------------------------------------- carried
# helper: sigmoid_entry  (needs: njit)
@_njit
def _sigmoid_entry(z):
    """1 / (1 + e^-z) of one number, with one exp: e = e^-|z| <= 1,
    σ(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) below; no overflow, and
    accurate in both tails."""
    e = _np.exp(-abs(z))
    return 1 / (1 + e) if z >= 0 else e / (1 + e)


# helper: sigmoid  (needs: sigmoid_entry)
@_njit
def _sigmoid(z):
    """σ of each entry (_sigmoid_entry)."""
    y = _np.empty(z.shape, z.dtype)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            y[i, j] = _sigmoid_entry(z[i, j])
    return y


# helper: sigmoid_slope_entry  (needs: njit)
@_njit
def _sigmoid_slope_entry(y, z):
    """σ'(z) = y σ(-z) of one number, y = σ(z): σ(-z) = e / (1 + e) for
    z >= 0 (e = e^-|z|), which keeps its digits where y rounds to 1, and
    1 / (1 + e) below."""
    e = _np.exp(-abs(z))
    return y * (e / (1 + e) if z >= 0 else 1 / (1 + e))


# helper: sigmoid_slope  (needs: sigmoid_slope_entry)
@_njit
def _sigmoid_slope(y, z):
    """σ'(z) of each entry (_sigmoid_slope_entry)."""
    out = _np.empty(z.shape, z.dtype)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            out[i, j] = _sigmoid_slope_entry(y[i, j], z[i, j])
    return out


# helper: softplus_entry  (needs: njit)
@_njit
def _softplus_entry(z):
    """log(1 + e^z) of one number = max(z, 0) + log1p(e^-|z|): no overflow,
    accurate tails."""
    return max(z, 0) + _np.log1p(_np.exp(-abs(z)))


# helper: softplus  (needs: softplus_entry)
@_njit
def _softplus(z):
    """softplus of each entry (_softplus_entry)."""
    y = _np.empty(z.shape, z.dtype)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            y[i, j] = _softplus_entry(z[i, j])
    return y


# helper: tanh_slope_entry  (needs: njit)
@_njit
def _tanh_slope_entry(y, z):
    """tanh'(z) of one number = 1 - y², y = tanh(z), where 1 - y² >= 1/16
    (|z| <= 2.06, within 40 ulp); beyond, sech²(z) = 1 / cosh²(z), which
    keeps its relative accuracy in the tails where 1 - y² loses every digit
    (z clipped to ±700, where cosh would overflow; computed in float64, so a
    float32 z needs no smaller clip: the slope rounds to 0 there)."""
    limit = 700.0
    q = 1 - y * y
    if q < 0.0625:
        c = _np.cosh(min(max(z, -limit), limit))
        q = 1 / (c * c)
    return q


# helper: tanh_slope  (needs: tanh_slope_entry)
@_njit
def _tanh_slope(y, z):
    """tanh'(z) of each entry (_tanh_slope_entry)."""
    out = _np.empty(z.shape, z.dtype)
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            out[i, j] = _tanh_slope_entry(y[i, j], z[i, j])
    return out


# helper: rowsum  (needs: njit)
@_njit
def _rowsum(a):
    """The sum of each row, a column."""
    out = _np.zeros((a.shape[0], 1), a.dtype)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i, 0] += a[i, j]
    return out


# helper: colsum  (needs: njit)
@_njit
def _colsum(a):
    """The sum of each column, a row."""
    out = _np.zeros((1, a.shape[1]), a.dtype)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[0, j] += a[i, j]
    return out


# helper: logsumexp_parts  (needs: njit)
@_njit
def _logsumexp_parts(s):
    """(m, l) of each column, logsumexp = m + l: m its largest entry,
    l = log1p(r), r the sum of exp(s - m) over its other entries (summed
    without the largest entry's exp(0) = 1, whose rounding would take r's
    digits), as the NumPy target's _logsumexp_parts. A column whose max is
    not finite has m = that max and l = 0."""
    rows, cols = s.shape
    m = _np.empty((1, cols), s.dtype)
    l = _np.empty((1, cols), s.dtype)
    for j in range(cols):
        top, at = s[0, j], 0
        for i in range(1, rows):
            if s[i, j] > top:
                top, at = s[i, j], i
        r = s.dtype.type(0)
        if _np.isfinite(top):
            for i in range(rows):
                if i != at:
                    r += _np.exp(s[i, j] - top)
            l[0, j] = _np.log1p(r)
        else:
            l[0, j] = 0
        m[0, j] = top
    return m, l


# helper: logsumexp  (needs: logsumexp_parts)
@_njit
def _logsumexp(s):
    """log sum exp of each column (a row)."""
    m, l = _logsumexp_parts(s)
    return m + l


# helper: log_softmax  (needs: logsumexp_parts)
@_njit
def _log_softmax(s):
    """log softmax of each column: (s - m) - l, logsumexp = m + l."""
    m, l = _logsumexp_parts(s)
    return (s - m) - l


# helper: softmax  (needs: njit)
@_njit
def _softmax(s):
    """Softmax of each column, shifted by the column's max."""
    out = _np.empty(s.shape, s.dtype)
    for j in range(s.shape[1]):
        top = s[0, j]
        for i in range(1, s.shape[0]):
            top = max(top, s[i, j])
        total = s.dtype.type(0)
        for i in range(s.shape[0]):
            out[i, j] = _np.exp(s[i, j] - top)
            total += out[i, j]
        for i in range(s.shape[0]):
            out[i, j] /= total
    return out


# helper: log_softmax_grad  (needs: njit)
@_njit
def _log_softmax_grad(y, g):
    """g - p ∘ colsum(g), p = exp(y), y = log_softmax(s), column by column:
    as g ∘ (1 - p) - p ∘ (colsum(g) - g) with 1 - p = -expm1(y) at a column's
    top entry where it has more than half the mass (1 - p would lose its
    digits there), as the NumPy target's _log_softmax_grad."""
    out = _np.empty(y.shape, y.dtype)
    for j in range(y.shape[1]):
        total = y.dtype.type(0)
        top = y[0, j]
        for i in range(y.shape[0]):
            total += g[i, j]
            top = max(top, y[i, j])
        for i in range(y.shape[0]):
            p = _np.exp(y[i, j])
            if top < -0.6931471805599453:
                out[i, j] = g[i, j] - p * total
            else:
                q = -_np.expm1(top) if y[i, j] == top else 1 - p
                out[i, j] = g[i, j] * q - p * (total - g[i, j])
    return out


# helper: softmax_grad  (needs: logsumexp_parts)
@_njit
def _softmax_grad(p, s, g):
    """p ∘ (g - colsum(p ∘ g)), p = softmax(s), as
    p ∘ (g ∘ (1 - p) - (colsum(p ∘ g) - p ∘ g)), 1 - p taken as
    -expm1(-l) at a column's largest entry where p > 1/2 somewhere (see
    _logsumexp_parts), as the NumPy target's _softmax_grad."""
    m, l = _logsumexp_parts(s)
    big = p.max() >= 0.5
    out = _np.empty(p.shape, p.dtype)
    for j in range(p.shape[1]):
        total = p.dtype.type(0)
        for i in range(p.shape[0]):
            total += p[i, j] * g[i, j]
        for i in range(p.shape[0]):
            q = -_np.expm1(-l[0, j]) if big and s[i, j] == m[0, j] else 1 - p[i, j]
            pg = p[i, j] * g[i, j]
            out[i, j] = p[i, j] * (g[i, j] * q - (total - pg))
    return out


# helper: norm_grad  (needs: njit)
@_njit
def _norm_grad(a, norm, g):
    """g a / ||a||; 0 where ||a|| = 0 (no derivative there, as abs'(0) = 0)."""
    return a * (g / norm) if norm != 0 else a * 0


# helper: dot  (needs: njit)
@_njit
def _dot(a, b):
    """The matrix product a b: through BLAS (np.dot) where it has more than
    4096 multiply-adds, else by a loop in the kernel, which costs less than
    the call into BLAS for the µs-scale products of small models."""
    rows, inner, cols = a.shape[0], a.shape[1], b.shape[1]
    if rows * inner * cols > 4096:
        return a @ b
    out = _np.zeros((rows, cols), a.dtype)
    for i in range(rows):
        for k in range(inner):
            f = a[i, k]
            for j in range(cols):
                out[i, j] += f * b[k, j]
    return out


# helper: weighted_gram  (needs: njit)
@_njit
def _weighted_gram(a, d):
    """Aᵀ diag(d) A of a column d ≥ 0, as Sᵀ S with S = √d ∘ A: the
    product of an array's transpose and itself, which BLAS takes as syrk
    where NumPy's matmul does (half the multiplications of Aᵀ (d ∘ A))."""
    s = _np.sqrt(d) * a
    return s.T @ s


# helper: plus_diagonal  (needs: njit)
@_njit
def _plus_diagonal(a, c):
    """a + c I: c added on the diagonal of a copy of a, no identity formed."""
    out = a.copy()
    for i in range(out.shape[0]):
        out[i, i] += c
    return out


# helper: unit  (needs: njit)
@_njit
def _unit(k, rows, cols, dtype):
    """The rows × cols vector of zeros with a 1 at entry k (none where k is
    outside it): a unit direction's share of one variable."""
    out = _np.zeros((rows, cols), dtype)
    if 0 <= k < rows * cols:
        out[k // cols, k % cols] = 1
    return out


# helper: stacked  (needs: njit)
@_njit
def _stacked(vectors, axis, dtype):
    """1-D arrays as the columns (axis 1) or rows (axis 0) of a matrix."""
    size = vectors[0].shape[0]
    out = _np.empty((size, len(vectors)) if axis == 1 else (len(vectors), size), dtype)
    for j in range(len(vectors)):
        if axis == 1:
            out[:, j] = vectors[j]
        else:
            out[j, :] = vectors[j]
    return out


# helper: diagflat  (needs: njit)
@_njit
def _diagflat(v):
    """diag(v): the square matrix with the entries of v (a column or row) on
    its diagonal, zeros elsewhere."""
    entries = _np.ravel(v)
    out = _np.zeros((entries.size, entries.size), v.dtype)
    for i in range(entries.size):
        out[i, i] = entries[i]
    return out


# helper: gather  (needs: njit)
@_njit
def _gather(a, ids, axis):
    """A[:, ids] (axis 1) or A[ids, :] (axis 0), one loop over the entries."""
    if axis == 1:
        out = _np.empty((a.shape[0], ids.shape[0]), a.dtype)
        for i in range(a.shape[0]):
            for j in range(ids.shape[0]):
                out[i, j] = a[i, ids[j]]
        return out
    out = _np.empty((ids.shape[0], a.shape[1]), a.dtype)
    for i in range(ids.shape[0]):
        for j in range(a.shape[1]):
            out[i, j] = a[ids[i], j]
    return out


# helper: scatter  (needs: njit)
@_njit
def _scatter(g, ids, count, axis):
    """The zeros of `count` columns (axis 1) or rows (axis 0) with g's
    columns (rows) added at ids: a loop adds each, so repeats sum."""
    if axis == 1:
        out = _np.zeros((g.shape[0], count), g.dtype)
        for i in range(g.shape[0]):
            for j in range(ids.shape[0]):
                out[i, ids[j]] += g[i, j]
        return out
    out = _np.zeros((count, g.shape[1]), g.dtype)
    for i in range(ids.shape[0]):
        for j in range(g.shape[1]):
            out[ids[i], j] += g[i, j]
    return out


# helper: scatter_one  (needs: njit)
@_njit
def _scatter_one(g, i, rows, cols, axis):
    """The zeros of rows × cols with g (a column, a row) at column (axis 1) or row (axis 0) i."""
    out = _np.zeros((rows, cols), g.dtype)
    if axis == 1:
        out[:, i:i + 1] = g
    else:
        out[i:i + 1, :] = g
    return out


# helper: placed  (needs: njit)
@_njit
def _placed(g, row, col, rows, cols):
    """The zeros of rows × cols with the block g at (row, col)."""
    out = _np.zeros((rows, cols), g.dtype)
    out[row:row + g.shape[0], col:col + g.shape[1]] = g
    return out


# helper: pick  (needs: njit)
@_njit
def _pick(s, y):
    """S[y_j, j] of each column, a row."""
    out = _np.empty((1, y.shape[0]), s.dtype)
    for j in range(y.shape[0]):
        out[0, j] = s[y[j], j]
    return out


# helper: pick_scatter  (needs: njit)
@_njit
def _pick_scatter(g, y, classes):
    """The zeros of classes × N with g's entry j at (y_j, j)."""
    out = _np.zeros((classes, y.shape[0]), g.dtype)
    for j in range(y.shape[0]):
        out[y[j], j] = g[0, j]
    return out


# helper: onehot  (needs: njit)
@_njit
def _onehot(y, classes, dtype):
    """The classes × N indicator of the ids."""
    out = _np.zeros((classes, y.shape[0]), dtype)
    for j in range(y.shape[0]):
        out[y[j], j] = 1
    return out


# helper: vec  (needs: njit)
@_njit
def _vec(a):
    """The columns of A stacked, one column (column-major)."""
    out = _np.empty((a.shape[0] * a.shape[1], 1), a.dtype)
    for j in range(a.shape[1]):
        for i in range(a.shape[0]):
            out[j * a.shape[0] + i, 0] = a[i, j]
    return out


# helper: unvec  (needs: njit)
@_njit
def _unvec(g, rows, cols):
    """The rows × cols matrix whose stacked columns are g."""
    out = _np.empty((rows, cols), g.dtype)
    for j in range(cols):
        for i in range(rows):
            out[i, j] = g[j * rows + i, 0]
    return out


# helper: sparse_grad  (needs: SparseGrad, scatter)
def _sparse_grad(parts, axis, shape, dtype, default_dtype, upstream):
    """The SparseGrad of Σᵢ scatter(Gᵢ, idsᵢ) along axis (1: columns, 0:
    rows), times upstream, from the kernel's parts (Gᵢ, idsᵢ, Gᵢ's shape):
    the Gᵢ side by side (in Python: their count is the model's), then the
    compiled scatter into the u slices of the unique ids."""
    dtype = default_dtype if dtype is None else dtype
    g = _np.concatenate([_np.broadcast_to(_np.asarray(g, dtype), g_shape) for g, _, g_shape in parts], axis=axis)
    ids = _np.concatenate([_np.reshape(ids, -1) for _, ids, _ in parts])
    unique, inverse = _np.unique(ids, return_inverse=True)
    sums = _scatter(_np.ascontiguousarray(g), inverse.reshape(-1), len(unique), axis)
    if upstream != 1.0:
        sums = sums * upstream
    return _SparseGrad(unique, sums.reshape(-1) if len(shape) == 1 else sums, tuple(shape), "cols" if axis else "rows")
