"""What generated NumPy modules carry to take their arguments (floats,
vectors as columns, shapes checked) and hand back values and gradients:
the text from one `# helper: NAME` line to the next is copied into a module
that uses _NAME (NumpyPrinter.helper), with the helpers it needs. It is a
module of its own so that linters, coverage and tests reach it."""

from typing import NamedTuple as _NamedTuple

import numpy as _np

# ---------------------------------------------------------------- carried
# helper: ndarray
_ndarray = _np.ndarray


# helper: float
_float = float  # for _arguments' fast path, where a model name may be float


# helper: matrix  (needs: ndarray)
def _matrix(value):
    """An argument as an array of floats (integers become float64), and its shape as given."""
    array = value if type(value) is _ndarray else _np.asarray(value)
    return (array if array.dtype.kind == "f" else array.astype(_np.float64)), array.shape


# helper: column  (needs: matrix)
def _column(value):
    """A vector argument: shape (n,) is taken as the column (n, 1)."""
    array, shape = _matrix(value)
    return (array[:, None] if array.ndim == 1 else array), shape


# helper: row  (needs: matrix)
def _row(value):
    """A row argument: shape (n,) is taken as the row (1, n)."""
    array, shape = _matrix(value)
    return (array[None, :] if array.ndim == 1 else array), shape


# helper: scalar_in  (needs: matrix)
def _scalar_in(value, name):
    """A scalar argument, with its shape and dtype as given. A Python number
    stays one: NumPy treats it as weak, so it does not change the dtype."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), (), None
    array, shape = _matrix(value)
    if array.size != 1:
        raise ValueError(f"{name}: expected a scalar, got shape {shape}")
    return array.reshape(()), shape, array.dtype


# helper: int
_int = int  # for _arguments' fast path, where a model name may be int


# helper: bad_shape
def _bad_shape(name, given, expected, bound_by, problem=""):
    """Raise the ValueError of an argument of the wrong shape; expected: (as written, value) per axis."""
    rows, cols = (text if value is None else f"{text}={value}" for text, value in expected)
    text = (f"({rows},) or ({rows}, 1)" if expected[1][0] == "1"
            else f"(1, {cols}) or ({cols},)" if expected[0][0] == "1" else f"({rows}, {cols})")
    sources = sorted(d + f"={v}" * (d not in dict(expected)) + f" from {b}" for d, (v, b) in bound_by.items())
    note = f" ({', '.join(sources)})" if sources else ""
    raise ValueError(f"{name}: expected shape {text}{note}, got shape {given}{problem}")


# helper: unsolved
def _unsolved(dim, size, symbol, value):
    """Why a size gives a dimension no size: `5 d` = 251 gives d = 50.2."""
    value = int(value) if float(value).is_integer() else round(value, 6)
    return f": {dim} = {size} gives {symbol} = {value}, not a positive integer"


# helper: ids  (needs: ndarray)
def _ids(value, name):
    """A vector of ids: an integer array of shape (N,) or (N, 1), taken 1-D
    (no copy), and its shape as given. Floats and bools are no ids."""
    array = value if type(value) is _ndarray else _np.asarray(value)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name}: ids must be integers, got an array of {array.dtype}")
    return (array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array), array.shape


# helper: id_in  (needs: ndarray)
def _id_in(value, name):
    """One id: a Python int or an integer array of one entry, as a Python int."""
    if type(value) is int:
        return value
    array = _np.asarray(value)
    if array.dtype.kind not in "iu" or isinstance(value, bool):
        raise ValueError(f"{name}: an id must be an integer, got {type(value).__name__} "
                         f"{array.dtype if array.ndim else value!r}".rstrip())
    if array.size != 1:
        raise ValueError(f"{name}: expected one id, got shape {array.shape}")
    return int(array.reshape(()))


# helper: out_of_range
def _out_of_range(name, ids, count, label):
    """Raise the ValueError of the first id outside 0..count-1 (label: the
    count as the model writes it)."""
    values = _np.reshape(ids, -1)
    position = int(_np.flatnonzero((values < 0) | (values >= count))[0])
    where = f" at position {position}" if _np.ndim(ids) else ""
    named = f" ({label}={count})" if label != str(count) else ""
    raise ValueError(f"{name}: id {values[position]}{where} is out of range 0..{count - 1}{named}")


# helper: unmet
def _unmet(message, values):
    """Raise the ValueError of a condition on the dimensions that fails."""
    raise ValueError(f"{message} ({', '.join(f'{d}={v}' for d, v in values.items())})")


# helper: value_out  (needs: ndarray)
def _value_out(value, dtype):
    """A 1x1 result as a NumPy scalar of the computation's dtype (also when
    the value was computed from arguments of a narrower one only)."""
    if type(value) is _ndarray:
        value = value.reshape(())[()]
    return value if type(value) is dtype.type else dtype.type(value)


# helper: grad_out
def _grad_out(gradient, shape, dtype, default_dtype, copy, upstream):
    """A gradient, times upstream, in the shape and dtype of its argument
    (dtype None: the argument was a Python number; use the computation's)."""
    if upstream != 1.0:
        gradient, copy = gradient * upstream, False
    gradient = _np.asarray(gradient).reshape(shape)
    return gradient.astype(default_dtype if dtype is None else dtype, copy=copy)[()]


# helper: SparseGrad
class _SparseGrad(_NamedTuple):
    """The gradient of a variable read only through gathers (L[:, w], A[w, :],
    x[w], L[:, i]), without an array of its size: `ids` the unique ids it
    was read at, sorted; `values` the gradient's slices at those ids along
    `axis` ("cols": d × u of L d × V; "rows": u × m; a vector given as (V,):
    u entries), the gathered slices of each id summed, in its dtype;
    `shape` that of the argument as given. dense() is the dense gradient."""
    ids: object
    values: object
    shape: tuple
    axis: str

    def dense(self):
        """The gradient as an array of the variable's shape: zeros, and the
        values at the ids."""
        out = _np.zeros(self.shape, self.values.dtype)
        out[(slice(None), self.ids) if self.axis == "cols" and len(self.shape) == 2 else self.ids] = self.values
        return out


# helper: sparse_grad  (needs: SparseGrad, compact_sums)
def _sparse_grad(parts, axis, shape, dtype, default_dtype, upstream):
    """The SparseGrad of Σᵢ scatter(Gᵢ, idsᵢ) along axis (1: columns, 0:
    rows), times upstream, from parts (Gᵢ, idsᵢ, Gᵢ's shape): the Gᵢ side by
    side, summed per unique id (one sort, one bincount into u slices:
    measured 0.3 of the dense scatter, benchmarks/embedding.py)."""
    gs = [_np.broadcast_to(g, g_shape) for g, _, g_shape in parts]
    ids = [_np.reshape(ids, -1) for _, ids, _ in parts]
    # one part (one gather) is summed as it is: no copy of it
    g, ids = (gs[0], ids[0]) if len(parts) == 1 else (_np.concatenate(gs, axis=axis), _np.concatenate(ids))
    unique, sums = _compact_sums(g, ids, axis)
    if upstream != 1.0:
        sums = sums * upstream
    sums = sums.astype(default_dtype if dtype is None else dtype, copy=False)
    return _SparseGrad(unique, sums.reshape(-1) if len(shape) == 1 else sums, shape, "cols" if axis else "rows")


# helper: directions  (needs: direction_parts, direction_shape)
def _directions(direction, expected, dtype):
    """The directions of a Hessian-vector product (_direction_parts), each
    as its variable is taken (a vector a column or row, a scalar a NumPy
    scalar), in the computation's dtype."""
    taken = []
    for value, (name, shape) in _direction_parts(direction, expected):
        array = _np.asarray(value, dtype=dtype)
        _direction_shape(name, array.shape, shape)
        taken.append(array.reshape(shape)[()])
    return taken


# helper: unit_directions
def _unit_directions(k, shapes, dtype):
    """The k-th unit direction, split over variables of these shapes (each
    a vector or a scalar; entries counted across them in order)."""
    directions = []
    for shape in shapes:
        size = shape[0] * shape[1] if shape else 1
        unit = _np.zeros(size, dtype)
        if 0 <= k < size:
            unit[k] = 1
        directions.append(unit.reshape(shape))
        k -= size
    return directions


# helper: entries_of
def _entries_of(values, dtype):
    """The entries of vectors and scalars, one after another: one 1-D array."""
    return _np.concatenate([_np.reshape(_np.asarray(value, dtype), -1) for value in values])


# helper: stacked
def _stacked(vectors, axis, dtype):
    """1-D arrays as the columns (axis 1) or rows (axis 0) of a matrix."""
    return _np.stack(vectors, axis=axis).astype(dtype, copy=False)


# helper: matrix_out
def _matrix_out(value, rows, cols, copy, dtype):
    """A Hessian or Jacobian: a rows × cols array of the computation's dtype
    (copy: it is an argument, or a view of one)."""
    return _np.asarray(value).astype(dtype, copy=copy).reshape(rows, cols)


# helper: entries_out
def _entries_out(value, dtype):
    """A vector value as the 1-D array of its entries, a copy in the
    computation's dtype."""
    return _np.array(value, dtype=dtype).reshape(-1)
