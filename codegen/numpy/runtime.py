"""What generated NumPy modules carry to take their arguments (floats,
vectors as columns, shapes checked) and hand back values and gradients:
the text from one `# helper: NAME` line to the next is copied into a module
that uses _NAME (NumpyPrinter.helper), with the helpers it needs. It is a
module of its own so that linters, coverage and tests reach it."""

import numpy as _np

# ---------------------------------------------------------------- carried
# helper: ndarray
_ndarray = _np.ndarray


# helper: floats  (needs: ndarray)
def _floats(value):
    """value as an array of floats (integers become float64)."""
    if type(value) is _ndarray and value.dtype.kind == "f":
        return value
    array = _np.asarray(value)
    return array if array.dtype.kind == "f" else array.astype(_np.float64)


# helper: matrix  (needs: floats)
def _matrix(value):
    """A matrix argument, and the shape it was passed with."""
    array = _floats(value)
    return array, array.shape


# helper: column  (needs: floats)
def _column(value):
    """A vector argument: shape (n,) is taken as the column (n, 1)."""
    array = _floats(value)
    return (array[:, None] if array.ndim == 1 else array), array.shape


# helper: row  (needs: floats)
def _row(value):
    """A row argument: shape (n,) is taken as the row (1, n)."""
    array = _floats(value)
    return (array[None, :] if array.ndim == 1 else array), array.shape


# helper: scalar_in  (needs: floats)
def _scalar_in(value, name):
    """A scalar argument, with its shape and dtype as given. A Python number
    stays one: NumPy treats it as weak, so it does not change the dtype."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), (), None
    array = _floats(value)
    if array.size != 1:
        raise ValueError(f"{name}: expected a scalar, got shape {array.shape}")
    return array.reshape(()), array.shape, array.dtype


# helper: bad_shape
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


# helper: same_dtype
def _same_dtype(dtype, *values):
    """Every array argument has the computation's dtype: results can be
    written into temporaries without changing any value's precision."""
    for value in values:  # a loop, not all(...): this runs on every call
        if getattr(value, "dtype", dtype) != dtype:
            return False
    return True


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
