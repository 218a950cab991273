"""Model text to a NumPy module: `compile_source`, `load`, `generate_module`.

Compiled modules are cached by content (the model text, its file name and
the symgrad version) in the user's cache directory, so an unchanged model is
not compiled again, in this process or the next, and a changed one is.
The cache directory is that of symgrad.cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from .cache import cache_dir, code_fingerprint, write_cached
from .source import Source, read_source


def generate_module(source: Source) -> str:
    """The generated module's source for a model, or ModelError."""
    from .differentiation import differentiate_program
    from .lowering import analyze
    from .codegen.numpy_backend import generate
    program = analyze(source)
    return generate(program, differentiate_program(program))


def _key(source: Source) -> str:
    digest = hashlib.sha256(code_fingerprint())
    for part in (source.filename, source.text):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:32]


_loaded: dict[str, ModuleType] = {}


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_source(text: str, filename: str = "<string>") -> ModuleType:
    """Compile model text to a module object with forward, backward,
    value_and_grad and evaluate (cached by content)."""
    return _compile(Source(text, filename))


def load(path: str | os.PathLike) -> ModuleType:
    """Compile the model file at path (cached by content) and return the module."""
    return _compile(read_source(os.fspath(path)))


def _compile(source: Source) -> ModuleType:
    key = _key(source)
    if key in _loaded:
        return _loaded[key]
    name = f"symgrad_model_{key}"
    path = cache_dir() / f"{name}.py"
    if not path.exists():
        code = generate_module(source)
        if not write_cached(path, code):  # no writable cache: compile in memory only
            module = ModuleType(name)
            exec(compile(code, f"<symgrad {source.filename}>", "exec"), module.__dict__)
            return _register(key, module)
    return _register(key, _import(path, name))


def _register(key: str, module: ModuleType) -> ModuleType:
    """Keep the module, also in sys.modules under its name: pickle finds its
    Grads class there (in this process, in forked workers, and in any process
    that has loaded the same model, whose module gets the same name)."""
    _loaded[key] = module
    sys.modules[module.__name__] = module
    return module
