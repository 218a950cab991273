"""What a generated numba module carries around its kernels: the compiled
functions' decorator and the shape adapters its kernels call, dispatched on
the argument types while numba compiles (overload), so that one kernel takes
a vector as (n,) or (n, 1), in any layout. Read as text by
NumbaPrinter.helper."""

import numba as _numba
import numpy as _np
from numba.extending import overload as _overload

# ---------------------------------------------------------------- carried
# helper: njit
# No cache=True: numba would keep its machine code in a __pycache__ beside the
# module's file, the symgrad cache entry, and unpickle it on the next run with
# no check of its own, so that one damaged file there would break every later
# call, against the rule of symgrad's cache (docs/guarantees.md, "Cache"):
# nothing is used that was not checked first. Each process compiles its kernels
# once, on their first call.
# error_model="numpy": a division by zero gives inf or nan, as in NumPy,
# rather than raising ZeroDivisionError as Python's floats do.
_njit = _numba.njit(nogil=True, error_model="numpy")


# helper: new_tuple
# tuple.__new__(Grads, gradients): the NamedTuple of a kernel's gradients without
# the call and length check of Grads._make (a kernel gives every field): 0.06 µs
# of the window model's 3.4 µs call.
_new_tuple = tuple.__new__


# helper: shaped
def _shaped(gradient, like):
    """The gradient in the shape of its argument `like` (a vector given as (n,)
    gets (n,), a number a number)."""


@_overload(_shaped)
def _shaped_typed(gradient, like):
    if not isinstance(like, _numba.types.Array):  # a scalar argument: its gradient is a number
        if isinstance(gradient, _numba.types.Array):
            return lambda gradient, like: gradient.sum()
        return lambda gradient, like: gradient
    if not isinstance(gradient, _numba.types.Array):  # a constant gradient, such as 1
        return lambda gradient, like: _np.zeros(like.shape, like.dtype) + gradient
    if gradient.layout == "C":
        return lambda gradient, like: gradient.reshape(like.shape)
    return lambda gradient, like: _np.ascontiguousarray(gradient).reshape(like.shape)


# helper: copied
def _copied(value):
    """A copy of an array (a gradient that is an argument, or a view of one); a number as it is."""


@_overload(_copied)
def _copied_typed(value):
    if isinstance(value, _numba.types.Array):
        return lambda value: value.copy()
    return lambda value: value


# helper: taken
def _taken(vector, rows, cols):
    """A vector argument as the 2-D array (rows, cols) the steps read."""


@_overload(_taken)
def _taken_typed(vector, rows, cols):
    if vector.layout == "C":
        return lambda vector, rows, cols: vector.reshape((rows, cols))
    return lambda vector, rows, cols: _np.ascontiguousarray(vector).reshape((rows, cols))


# helper: value
def _value(result):
    """A 1x1 result as a number."""


@_overload(_value)
def _value_typed(result):
    if isinstance(result, _numba.types.Array):
        return lambda result: result.sum()
    return lambda result: result


# helper: array
def _array(x):
    """A 1x1 value as an array (a number becomes a 1x1 array of its type), for
    the helpers, which loop over the entries of 2-D arrays."""


@_overload(_array)
def _array_typed(x):
    if isinstance(x, _numba.types.Array):
        return lambda x: x
    return lambda x: _np.full((1, 1), x)
