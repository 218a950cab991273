"""Where symgrad keeps what it computes once and reuses across processes:
compiled modules (symgrad.compiler), the parser's tables (symgrad.parsing)
and the derivatives of user functions (symgrad.partials).

The directory is $SYMGRAD_CACHE_DIR, else $XDG_CACHE_HOME/symgrad, else
~/.cache/symgrad.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

from . import __version__


def cache_dir() -> Path:
    root = os.environ.get("SYMGRAD_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symgrad"


@functools.cache
def code_fingerprint() -> bytes:
    """A digest of symgrad's own code, so that a changed compiler (not only a
    new version) never reuses what the old one wrote."""
    from . import codegen, grammar
    digest = hashlib.sha256(__version__.encode())
    for package in (Path(__file__).parent, Path(codegen.__file__).parent, Path(grammar.__file__).parent):
        for path in sorted(package.glob("*.py")) + sorted(package.glob("*.lark")):
            digest.update(path.read_bytes())
    return digest.digest()


def write_cached(path: Path, text: str) -> bool:
    """Write a file of the cache, then rename it into place, so that a
    concurrent reader never sees half a file. False where the cache
    directory cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp",
                                         delete=False) as stream:
            stream.write(text)
        os.replace(stream.name, path)
    except OSError:
        return False
    return True
