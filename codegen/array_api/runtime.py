"""What generated array-API modules carry to take their arguments (floats,
vectors as columns, shapes checked) and hand back values and gradients,
in the library, on the device and in the dtype of the arguments: the text
from one `# helper: NAME` line to the next is copied into a module that
uses _NAME (ArrayApiPrinter.helper). Every helper takes the namespace `xp`
of the call (array_api_compat.array_namespace of the arguments) first;
none writes into an array."""

import array_api_compat as _compat

# ---------------------------------------------------------------- carried
# helper: namespace
def _namespace(*values):
    """(xp, device): the array API namespace and the device of the arguments
    that are arrays; NumPy's, on the CPU, when every one is a number or a list."""
    arrays = [value for value in values if _compat.is_array_api_obj(value)]
    if not arrays:
        from array_api_compat import numpy as xp
        return xp, None
    return _compat.array_namespace(*arrays), _compat.device(arrays[0])


# helper: floats
def _floats(xp, value):
    """value as an array of floats of xp (integers become float64)."""
    array = value if _compat.is_array_api_obj(value) else xp.asarray(value)
    return array if xp.isdtype(array.dtype, "real floating") else xp.astype(array, xp.float64)


# helper: matrix  (needs: floats)
def _matrix(xp, value):
    """A matrix argument, and the shape it was passed with."""
    array = _floats(xp, value)
    return array, tuple(array.shape)


# helper: column  (needs: floats)
def _column(xp, value):
    """A vector argument: shape (n,) is taken as the column (n, 1)."""
    array = _floats(xp, value)
    return (array[:, None] if array.ndim == 1 else array), tuple(array.shape)


# helper: row  (needs: floats)
def _row(xp, value):
    """A row argument: shape (n,) is taken as the row (1, n)."""
    array = _floats(xp, value)
    return (array[None, :] if array.ndim == 1 else array), tuple(array.shape)


# helper: scalar_in  (needs: floats)
def _scalar_in(xp, value, name):
    """A scalar argument, with its shape and dtype as given (a Python number:
    (), None). A number stays one until the computation's dtype is known
    (_dtype_of), so that it does not widen a float32 computation."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), (), None
    array = _floats(xp, value)
    if _compat.size(array) != 1:
        raise ValueError(f"{name}: expected a scalar, got shape {tuple(array.shape)}")
    return xp.reshape(array, ()), tuple(array.shape), array.dtype


# helper: ids
def _ids(xp, value, name):
    """A vector of ids: an integer array of xp of shape (N,) or (N, 1), taken
    1-d, and its shape as given. Floats and bools are no ids."""
    array = value if _compat.is_array_api_obj(value) else xp.asarray(value)
    if not xp.isdtype(array.dtype, "integral"):
        raise ValueError(f"{name}: ids must be integers, got an array of {array.dtype}")
    return (array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array), tuple(array.shape)


# helper: traced
def _traced(value):
    """Whether value is an array being traced (under jax.jit): its entries
    are not known yet, so nothing can check them."""
    return any(kind.__name__ == "Tracer" for kind in type(value).__mro__)


# helper: id_in  (needs: traced)
def _id_in(xp, value, name):
    """One id: a Python int or an integer array of one entry, as a Python int
    (a traced one stays a 0-d array)."""
    if type(value) is int:
        return value
    array = value if _compat.is_array_api_obj(value) else xp.asarray(value)
    if not xp.isdtype(array.dtype, "integral") or isinstance(value, bool):
        raise ValueError(f"{name}: an id must be an integer, got {type(value).__name__} "
                         f"{array.dtype if array.ndim else value!r}")
    if _compat.size(array) != 1:
        raise ValueError(f"{name}: expected one id, got shape {tuple(array.shape)}")
    return xp.reshape(array, ()) if _traced(array) else int(xp.reshape(array, ()))


# helper: outside  (needs: traced)
def _outside(xp, ids, count):
    """Whether an id, or some id of a vector, is outside 0..count-1 (False
    for traced ones, whose values are not known)."""
    if isinstance(ids, int):
        return not 0 <= ids < count
    return not _traced(ids) and bool(xp.any((ids < 0) | (ids >= count)))


# helper: out_of_range
def _out_of_range(xp, name, ids, count, label):
    """Raise the ValueError of the first id outside 0..count-1 (label: the
    count as the model writes it)."""
    if isinstance(ids, int):
        position, value, where = 0, ids, ""
    else:
        outside = xp.astype((ids < 0) | (ids >= count), xp.int8)
        position = int(xp.argmax(outside))
        value, where = int(ids[position]), f" at position {position}"
    named = f" ({label}={count})" if label != str(count) else ""
    raise ValueError(f"{name}: id {value}{where} is out of range 0..{count - 1}{named}")


# helper: dtype_of
def _dtype_of(xp, *values):
    """The computation's dtype: that of the arrays among values, as the
    library promotes them (float64 when every one is a number)."""
    arrays = [value for value in values if not isinstance(value, float)]
    return xp.result_type(*arrays) if arrays else xp.float64


# helper: value_out
def _value_out(xp, value, dtype):
    """A 1x1 result as a 0-d array of the computation's dtype (NumPy's
    reductions give scalars, and a constant result is a Python number)."""
    return xp.reshape(xp.asarray(value, dtype=dtype), ())


# helper: grad_out
def _grad_out(xp, gradient, shape, dtype, default_dtype, copy, upstream):
    """A gradient, times upstream, in the shape and dtype of its argument
    (dtype None: the argument was a Python number; use the computation's),
    a copy where it is an argument itself, so that writing into it changes
    no input. `upstream` may be a number or a 0-d array of the library."""
    if dtype is None:
        dtype = default_dtype
    if not (isinstance(upstream, (int, float)) and upstream == 1):
        gradient, copy = gradient * upstream, False
    gradient = xp.asarray(gradient, dtype=dtype, copy=True if copy else None)
    return gradient if tuple(gradient.shape) == tuple(shape) else xp.reshape(gradient, shape)


# helper: directions  (needs: direction_parts, direction_shape)
def _directions(xp, direction, expected, dtype, device):
    """The directions of a Hessian-vector product (_direction_parts), each
    as its variable is taken (a vector a column or row, a scalar 0-d), in
    the computation's dtype, on its device."""
    taken = []
    for value, (name, shape) in _direction_parts(direction, expected):
        array = xp.asarray(value, dtype=dtype, device=device)
        _direction_shape(name, array.shape, shape)
        taken.append(xp.reshape(array, shape))
    return taken


# helper: unit_directions
def _unit_directions(xp, k, shapes, dtype, device):
    """The k-th unit direction, split over variables of these shapes (each
    a vector or a scalar; entries counted across them in order): made by
    comparison, as no array is written into."""
    directions = []
    for shape in shapes:
        size = shape[0] * shape[1] if shape else 1
        unit = xp.astype(xp.arange(size, device=device) == k, dtype)
        directions.append(xp.reshape(unit, shape))
        k -= size
    return directions


# helper: entries_of
def _entries_of(xp, values, dtype, device):
    """The entries of vectors and scalars, one after another: one 1-D array."""
    return xp.concat([xp.reshape(xp.asarray(value, dtype=dtype, device=device), (-1,)) for value in values])


# helper: stacked
def _stacked(xp, vectors, axis, dtype, device):
    """1-D arrays as the columns (axis 1) or rows (axis 0) of a matrix."""
    return xp.stack(vectors, axis=axis)


# helper: matrix_out
def _matrix_out(xp, value, rows, cols, copy, dtype, device):
    """A Hessian or Jacobian: a rows × cols array of the computation's dtype
    (copy: it is an argument, or a view of one)."""
    return xp.reshape(xp.asarray(value, dtype=dtype, device=device, copy=True if copy else None), (rows, cols))


# helper: entries_out
def _entries_out(xp, value, dtype, device):
    """A vector value as the 1-D array of its entries, a copy in the
    computation's dtype."""
    return xp.reshape(xp.asarray(value, dtype=dtype, device=device, copy=True), (-1,))
