"""symgrad: a symbolic differentiation compiler for matrix expressions."""

__version__ = "0.1.0"
