"""Where symgrad keeps what it computes once and reuses across processes:
compiled modules (symgrad.compiler) and the parser's tables (symgrad.parsing).

The directory is $SYMGRAD_CACHE_DIR, else $XDG_CACHE_HOME/symgrad, else
~/.cache/symgrad.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("SYMGRAD_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symgrad"
