"""Model text to a module of a target: `compile_source`, `load`, `generate_module`.

Compiled modules are cached by content (the model text, its file name and
symgrad's code) in the user's cache directory, so an unchanged model is not
compiled again, in this process or the next, and a changed one is. The
cache directory, and how its entries are checked before they are run, are
those of symgrad.cache.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

from . import cache
from .codegen import UnknownTarget  # noqa: F401  (the error of an unknown target, for the command line)
from .cache import cache_dir  # noqa: F401  (where tests and users look for the cache)
from .source import Source, read_source


def generate_module(source: Source, target: str = "numpy", with_check: bool = False) -> str:
    """The generated module's source for a model, or ModelError (or
    codegen.UnknownTarget); with_check: it carries check_gradients()."""
    from .codegen import generate, writer_class
    from .differentiation import differentiate_program
    from .lowering import analyze
    from .second_order import differentiate_second_order
    writer_class(target)  # an unknown target is told before the model is read
    program = analyze(source)
    derivations = differentiate_program(program)
    return generate(program, derivations, differentiate_second_order(program, derivations), target, with_check)


_loaded: dict[str, ModuleType] = {}
# Module name -> how it was compiled (source, target), for with_check.
_compiled_from: dict[str, tuple[Source, str]] = {}


def compile_source(text: str, filename: str = "<string>", target: str = "numpy",
                   with_check: bool = False) -> ModuleType:
    """Compile model text to a module object with forward, backward,
    value_and_grad and evaluate (cached by content)."""
    return _compile(Source(text, filename), target, with_check)


def load(path: str | os.PathLike, target: str = "numpy", with_check: bool = False) -> ModuleType:
    """Compile the model file at path (cached by content) and return the module."""
    return _compile(read_source(os.fspath(path)), target, with_check)


def with_check(module: ModuleType) -> ModuleType | None:
    """The same model compiled with check_gradients(), for a module compiled
    in this process; None for any other module."""
    if module.__name__ not in _compiled_from:
        return None
    source, target = _compiled_from[module.__name__]
    return _compile(source, target, True)


def _compile(source: Source, target: str, checked: bool) -> ModuleType:
    key = cache.key(source.filename, source.text, target, "with check" if checked else "")
    if key in _loaded:
        return _loaded[key]
    name = f"symgrad_model_{key}"

    def run(code: bytes, path: Path | None) -> ModuleType:
        """The module of the code: its file is the cache entry where stored
        (tracebacks then show its lines), else a name that says whose it is."""
        module = ModuleType(name)
        if path is not None:
            module.__file__ = str(path)
        exec(compile(code, str(path) if path else f"<symgrad {source.filename}>", "exec"), module.__dict__)
        return module

    module = cache.cached(f"{name}.py", lambda: generate_module(source, target, checked).encode(), run)
    _compiled_from[name] = (source, target)
    return _register(key, module)


def _register(key: str, module: ModuleType) -> ModuleType:
    """Keep the module, also in sys.modules under its name: pickle finds its
    Grads class there (in this process, in forked workers, and in any process
    that has loaded the same model, whose module gets the same name)."""
    _loaded[key] = module
    sys.modules[module.__name__] = module
    return module
