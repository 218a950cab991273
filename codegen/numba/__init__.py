"""The numba target: every entry point one njit kernel (compiled once,
cached on disk), called through a lean Python wrapper."""
