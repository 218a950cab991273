"""The array-API target: modules over the array API standard through
array-api-compat, which run on the arrays of NumPy, CuPy, PyTorch, JAX and
Dask. printer.py (the NumPy printer's rules, changed where the standard
differs), writer.py (the module around the steps), and the runtime its
modules carry as text (runtime.py, helpers.py)."""
