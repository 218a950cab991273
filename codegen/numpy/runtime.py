"""What generated NumPy modules carry to take their arguments (floats,
vectors as columns, shapes checked) and hand back values and gradients:
the text from one `# helper: NAME` line to the next is copied into a module
that uses _NAME (NumpyPrinter.helper), with the helpers it needs. It is a
module of its own so that linters, coverage and tests reach it."""

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


# helper: bad_shape
def _bad_shape(name, given, expected, dims, bound_by):
    """Raise the ValueError of an argument of the wrong shape."""
    rows, cols = (f"{d}={dims[d]}" if d in dims else str(d) for d in expected)
    text = (f"({rows},) or ({rows}, 1)" if expected[1] == 1
            else f"(1, {cols}) or ({cols},)" if expected[0] == 1 else f"({rows}, {cols})")
    sources = sorted(f"{d} from {bound_by[d]}" for d in expected if d in bound_by)
    note = f" ({', '.join(sources)})" if sources else ""
    raise ValueError(f"{name}: expected shape {text}{note}, got shape {given}")


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
