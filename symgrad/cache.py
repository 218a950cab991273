"""Where symgrad keeps what it computes once and reuses across processes:
compiled modules (symgrad.compiler), the parser's tables (symgrad.parsing)
and the derivatives of user functions (symgrad.partials).

The directory is $SYMGRAD_CACHE_DIR, else $XDG_CACHE_HOME/symgrad, else
~/.cache/symgrad. Its entries are executed (modules) or unpickled (tables),
so nothing is read that could be damaged or another user's:

- every entry ends with a line holding the SHA-256 of the text before it,
  checked before the text is used: a damaged, truncated or half-written
  entry is built again and rewritten, with a one-line warning;
- the directory is created private (0700) and used only while it belongs to
  the user and neither group nor others may write to it; the same holds for
  each file read. Otherwise symgrad compiles in memory and says once why.
  (Windows: no mode checks, the digests still hold.)

Writes go to a temporary file renamed into place, so concurrent processes
each see a whole entry or none; a directory that cannot be written (a
read-only file system) only means building again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

from .version import __version__

T = TypeVar("T")

# The last line of every entry: this, then the hex SHA-256 of all before it.
_DIGEST_LINE = b"\n# symgrad-cache sha256="

# What symgrad writes here, by kind, for `symgrad cache`.
ENTRY_KINDS = {"compiled modules": "symgrad_model_*.py", "parser tables": "lark-tables-*.pickle",
               "derivatives": "partials/*.json"}
# Left behind by an interrupted write, or by versions before the digests
# (and numba's own cache of a development version of the numba target).
LEFTOVERS = ("*.tmp", "partials/*.tmp", "lark-tables.pickle", "__pycache__/symgrad_model_*.pyc",
             "__pycache__/symgrad_model_*.nbi", "__pycache__/symgrad_model_*.nbc")


def cache_dir() -> Path:
    root = os.environ.get("SYMGRAD_CACHE_DIR")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symgrad"


@cache
def code_fingerprint() -> bytes:
    """A digest of symgrad's own code, so that a changed compiler (not only a
    new version) never reuses what the old one wrote."""
    from importlib.util import find_spec  # found, not imported: this module is below the code generators
    digest = hashlib.sha256(__version__.encode())
    folders = [Path(__file__).parent] + [Path(find_spec(name).submodule_search_locations[0])
                                         for name in ("symgrad.codegen", "symgrad.grammar")]
    for package in folders:
        for path in sorted(package.rglob("*.py")) + sorted(package.glob("*.lark")):
            digest.update(path.read_bytes())
    return digest.digest()


def key(*parts: str) -> str:
    """An entry's name: a digest of what it is computed from and of
    symgrad's code."""
    digest = hashlib.sha256(code_fingerprint())
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:32]


def cached(name: str, build: Callable[[], bytes], use: Callable[[bytes, Path | None], T]) -> T:
    """use(text, path) of the cache entry `name` (a path relative to the
    cache directory). Where there is no such entry, or it is damaged or not
    the user's, or `use` fails on it, the text is built, stored, and used:
    path is where it was stored, None where it could not be."""
    path = cache_dir() / name
    text = _read(path)
    if text is not None:
        try:
            return use(text, path)
        except Exception as error:  # an entry that checks but does not load: build it again
            _warn(f"cache entry {path} does not load ({type(error).__name__}); rebuilt it")
    text = build()
    return use(text, path if _write(path, text) else None)


def _warn(message: str) -> None:
    """One line on stderr, once per process."""
    if message not in _warned:
        _warned.add(message)
        print(f"symgrad: warning: {message}", file=sys.stderr)


_warned: set[str] = set()


def _distrust(status: os.stat_result) -> str | None:
    """Why a directory or file of the cache must not be used, or None: it
    belongs to another user, or group or others may write to it."""
    if os.name == "nt":  # no POSIX owners or modes to check
        return None
    if status.st_uid != os.geteuid():
        return f"it belongs to another user (uid {status.st_uid})"
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"group or others may write to it (mode {stat.S_IMODE(status.st_mode):o})"
    return None


def _directory(path: Path, create: bool) -> bool:
    """Whether the directory of the entry at path (the cache directory or
    one below it) may be used; made private where missing and create."""
    directories = [cache_dir()]
    for part in path.parent.relative_to(directories[0]).parts:
        directories.append(directories[-1] / part)
    for directory in directories:
        if create:
            try:
                directory.parent.mkdir(parents=True, exist_ok=True)
                directory.mkdir(mode=0o700)
            except FileExistsError:
                pass
            except OSError:  # cannot be made (a read-only file system, a file in the way)
                return False
        try:
            status = directory.stat()
        except OSError:
            return False
        if not stat.S_ISDIR(status.st_mode):
            return False
        problem = _distrust(status)
        if problem:
            _warn(f"not using the cache directory {directory}: {_with_fix(directory, problem)} "
                 "(working without a cache meanwhile)")
            return False
    return True


def _with_fix(directory: Path, problem: str) -> str:
    fix = f"run `chmod 700 {directory}` or set" if "mode" in problem else "set"
    return f"{problem}; {fix} SYMGRAD_CACHE_DIR to a directory of your own"


def _read(path: Path) -> bytes | None:
    """The text of the entry at path, checked; None where it is missing,
    unreadable, not the user's or damaged."""
    if not _directory(path, create=False):
        return None
    try:
        with open(path, "rb") as stream:
            problem = _distrust(os.fstat(stream.fileno()))  # of the file opened, not of a name
            if problem:
                _warn(f"not loading cache entry {path}: {problem}; rebuilt it")
                return None
            data = stream.read()
    except OSError:  # missing (the usual case) or unreadable: built and written anew
        return None
    text, line, digest = data.rpartition(_DIGEST_LINE)
    if not line or digest != _hex_digest(text) + b"\n":
        _warn(f"cache entry {path} is damaged; rebuilt it")
        return None
    return text


def _write(path: Path, text: bytes) -> bool:
    """Store an entry: written whole to a temporary file, then renamed into
    place, so that a concurrent reader sees the old entry or the new one.
    False where it cannot be written."""
    if not _directory(path, create=True):
        return False
    try:
        stream = tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=path.name + ".", suffix=".tmp",
                                             delete=False)
    except OSError:  # a read-only directory
        return False
    try:
        with stream:
            stream.write(text + _DIGEST_LINE + _hex_digest(text) + b"\n")
        os.replace(stream.name, path)
    except OSError:  # a full disk: leave no half entry behind
        with contextlib.suppress(OSError):
            os.unlink(stream.name)
        return False
    return True


def _hex_digest(text: bytes) -> bytes:
    return hashlib.sha256(text).hexdigest().encode()


# ------------------------------------------------------------ symgrad cache

def info() -> str:
    """What `symgrad cache --info` prints: where, whether used, how many
    entries of each kind, how big."""
    root = cache_dir()
    lines = [f"directory: {root}"]
    if not root.is_dir():
        return "\n".join(lines + ["status: not created yet (made on first use)", "entries: 0"]) + "\n"
    problem = _distrust(root.stat())
    if problem:
        lines.append(f"status: not used: {_with_fix(root, problem)}")
    elif not os.access(root, os.W_OK):
        lines.append("status: read only (entries are read, none written)")
    else:
        lines.append("status: in use")
    counts = {kind: len(list(root.glob(pattern))) for kind, pattern in ENTRY_KINDS.items()}
    size = sum(path.stat().st_size for path in _files(root))
    lines.append(f"entries: {sum(counts.values())} ("
                 + ", ".join(f"{count} {kind}" for kind, count in counts.items()) + ")")
    lines.append(f"size: {size:,} bytes")
    return "\n".join(lines) + "\n"


def clear() -> str:
    """Delete every file symgrad wrote in the cache directory (only those:
    the directory may be one the user chose for more); say what."""
    root = cache_dir()
    files = _files(root) if root.is_dir() else []
    size = sum(path.stat().st_size for path in files)
    for path in files:
        path.unlink()
    for directory in (root / "partials", root / "__pycache__"):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    return f"removed {len(files)} files ({size:,} bytes) from {root}\n"


def _files(root: Path) -> list[Path]:
    return [path for pattern in [*ENTRY_KINDS.values(), *LEFTOVERS] for path in root.glob(pattern)
            if path.is_file()]

