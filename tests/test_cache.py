"""The cache directory (docs/guarantees.md, "Cache"): a damaged entry is
never run or unpickled but built again and rewritten; a directory or entry
another user could have written is not used; concurrent processes and a
read-only cache are no error; `symgrad cache` shows and empties it.

Every test sets SYMGRAD_CACHE_DIR to a directory of its own. An entry's
format is the documented one: its text, then a last line
`# symgrad-cache sha256=<hex SHA-256 of the text>`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import symgrad
import symgrad.compiler
from symgrad import parsing
from symgrad.cli import main
from symgrad.lowering import analyze
from symgrad.source import Source

EXP = "param x : R^n\ny = sum(exp(x))\ngrad y\n"   # y = Σ exp(x), ∂y/∂x = exp(x)
CUBE = "f(t) = t^3\nparam x : R^n\ny = sum(f(x))\ngrad y\n"   # y = Σ x³, ∂y/∂x = 3x²
X = np.array([0.5, -1.0, 2.0])
posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX owners and modes")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory of this test's own; nothing compiled or
    parsed in this process is reused."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(directory))
    monkeypatch.setattr(symgrad.compiler, "_loaded", {})
    parsing.parser.cache_clear()
    yield directory
    parsing.parser.cache_clear()


def fresh_process(monkeypatch) -> list[str]:
    """Forget the modules compiled so far, as a new process would, and count
    the models generated from now on."""
    monkeypatch.setattr(symgrad.compiler, "_loaded", {})
    parsing.parser.cache_clear()
    generated: list[str] = []
    original = symgrad.compiler.generate_module
    monkeypatch.setattr(symgrad.compiler, "generate_module",
                        lambda source, *options: generated.append(source.filename) or original(source, *options))
    return generated


def assert_exp_model(module) -> None:
    value, grads = module.value_and_grad(X)
    assert value == pytest.approx(np.exp(X).sum(), rel=1e-12)
    np.testing.assert_allclose(grads.x, np.exp(X), rtol=1e-12)


def with_digest(text: bytes) -> bytes:
    return text + b"\n# symgrad-cache sha256=" + hashlib.sha256(text).hexdigest().encode() + b"\n"


def checks(entry: Path) -> bool:
    """Whether an entry ends with the digest of the text before it."""
    text, line, digest = entry.read_bytes().rpartition(b"\n# symgrad-cache sha256=")
    return bool(line) and digest == hashlib.sha256(text).hexdigest().encode() + b"\n"


def only(directory: Path, pattern: str) -> Path:
    found = list(directory.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def at_most_one_warning(err: str) -> None:
    lines = err.splitlines()
    assert len(lines) <= 1 and all(line.startswith("symgrad: warning: ") for line in lines), err


def evil(marker: Path) -> bytes:
    """Python that, once run, leaves a directory at marker."""
    return f"import os\nos.mkdir({str(marker)!r})\n".encode()


# ------------------------------------------------------- damaged entries

MODULE_DAMAGE = {
    "replaced by garbage": lambda text: b"garbage(",
    "truncated": lambda text: text[: len(text) // 2],
    "a line appended that runs": lambda text: text + b"\nvalue_and_grad = lambda *args: (0.0, None)\n",
    "checks but does not run": lambda text: with_digest(b"raise ImportError('written by a broken symgrad')\n"),
}


@pytest.mark.parametrize("damage", MODULE_DAMAGE.values(), ids=MODULE_DAMAGE.keys())
def test_a_damaged_module_is_compiled_again_and_rewritten(damage, cache, monkeypatch, capsys):
    symgrad.compile_source(EXP)
    entry = only(cache, "symgrad_model_*.py")
    entry.write_bytes(damage(entry.read_bytes()))
    capsys.readouterr()
    generated = fresh_process(monkeypatch)
    assert_exp_model(symgrad.compile_source(EXP))
    assert len(generated) == 1
    at_most_one_warning(capsys.readouterr().err)
    generated = fresh_process(monkeypatch)  # the entry rewritten is whole: used as it is
    assert_exp_model(symgrad.compile_source(EXP))
    assert generated == [] and capsys.readouterr().err == ""


def test_symgrad_check_passes_with_a_damaged_module_in_the_cache(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path / "cache"))
    model = tmp_path / "model.sg"
    model.write_text(EXP, encoding="utf-8")

    def check():
        return subprocess.run([sys.executable, "-m", "symgrad", "check", str(model)], capture_output=True,
                              text=True, env=env, timeout=120)

    assert check().returncode == 0
    only(tmp_path / "cache", "symgrad_model_*.py").write_text("garbage(", encoding="utf-8")
    result = check()
    assert result.returncode == 0, result.stderr
    at_most_one_warning(result.stderr)


def test_damaged_parser_tables_are_never_unpickled_and_are_rebuilt(cache, tmp_path, capsys):
    parsing.Parser()  # builds and stores the tables
    entry = only(cache, "lark-tables*.pickle")
    marker = tmp_path / "unpickled"

    class RunsCode:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    # Lark's own cache file is a line, then pickles: this one runs code once unpickled.
    entry.write_bytes(b"0" * 64 + b"\n" + pickle.dumps(RunsCode()))
    capsys.readouterr()
    parsing.parser.cache_clear()
    program = analyze(Source("param x : R^n\ny = sum(x)\ngrad y\n", "model.sg"))
    assert not marker.exists()
    assert list(program.variables) == ["x"]
    at_most_one_warning(capsys.readouterr().err)
    assert checks(only(cache, "lark-tables*.pickle"))


def test_parser_tables_with_a_word_changed_are_rebuilt(cache, capsys):
    """A change that still unpickles (a disk's flipped bits in the keyword
    `param`) is found by the digest, not by Lark."""
    parsing.Parser()
    entry = only(cache, "lark-tables*.pickle")
    data = entry.read_bytes()
    assert b"param" in data
    entry.write_bytes(data.replace(b"param", b"parum"))
    capsys.readouterr()
    parsing.parser.cache_clear()
    program = analyze(Source("param x : R^n\ny = sum(x)\ngrad y\n", "model.sg"))
    assert list(program.variables) == ["x"]
    at_most_one_warning(capsys.readouterr().err)


def test_a_damaged_derivative_is_derived_again(cache, monkeypatch, capsys):
    """The stored f' of f(t) = t³ with its 3 changed to 5: still valid JSON,
    and a wrong gradient were it used."""
    symgrad.compile_source(CUBE)
    entry = only(cache, "partials/*.json")
    text = entry.read_text(encoding="utf-8")
    assert "3.0" in text
    entry.write_text(text.replace("3.0", "5.0"), encoding="utf-8")
    for module in cache.glob("symgrad_model_*.py"):  # so that the model is differentiated again
        module.unlink()
    capsys.readouterr()
    fresh_process(monkeypatch)
    value, grads = symgrad.compile_source(CUBE).value_and_grad(X)
    assert value == pytest.approx((X ** 3).sum(), rel=1e-12)
    np.testing.assert_allclose(grads.x, 3 * X ** 2, rtol=1e-12)
    at_most_one_warning(capsys.readouterr().err)
    assert checks(entry)


# ------------------------------------------------------------- the trust rule

@posix_only
def test_the_cache_directory_is_made_private(tmp_path, monkeypatch):
    directory = tmp_path / "not-yet" / "cache"
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(directory))
    monkeypatch.setattr(symgrad.compiler, "_loaded", {})
    symgrad.compile_source(CUBE)
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (directory / "partials").stat().st_mode & 0o777 == 0o700
    assert [path for path in directory.rglob("*") if path.stat().st_mode & 0o077] == []


def plant(cache: Path, marker: Path, monkeypatch) -> list[Path]:
    """Compile EXP into the cache, then put in place of its module one that
    checks (a whole entry with its digest) but was written by someone else:
    it leaves marker behind when run. The files of the cache, sorted."""
    symgrad.compile_source(EXP)
    only(cache, "symgrad_model_*.py").write_bytes(with_digest(evil(marker)))
    fresh_process(monkeypatch)
    return sorted(cache.rglob("*"))


@posix_only
@pytest.mark.parametrize("mode", [0o775, 0o757])
def test_a_cache_directory_others_may_write_to_is_not_used(mode, cache, tmp_path, monkeypatch, capsys):
    marker = tmp_path / "ran"
    files = plant(cache, marker, monkeypatch)
    cache.chmod(mode)
    capsys.readouterr()
    module = symgrad.compile_source(EXP)
    assert not marker.exists()
    assert_exp_model(module)
    symgrad.compile_source("param x : R^n\ny = sum(sin(x))\ngrad y\n")
    assert sorted(cache.rglob("*")) == files  # nothing written there either
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"chmod 700 {cache}" in err and "SYMGRAD_CACHE_DIR" in err


needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="making a file another user's takes root")


@posix_only
@needs_root
@pytest.mark.parametrize("foreign", ["the directory", "the entry"])
def test_what_another_user_owns_is_not_used(foreign, cache, tmp_path, monkeypatch, capsys):
    marker = tmp_path / "ran"
    plant(cache, marker, monkeypatch)
    nobody = 65534
    for path in [cache, *cache.rglob("*")] if foreign == "the directory" else cache.glob("symgrad_model_*"):
        os.chown(path, nobody, nobody)
    capsys.readouterr()
    module = symgrad.compile_source(EXP)
    assert not marker.exists()
    assert_exp_model(module)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"another user (uid {nobody})" in err


# ------------------------------------------- concurrent and read-only caches

CONCURRENT = """\
import os, sys, time
import numpy as np, symgrad
model, ready, go = sys.argv[1:]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
print(float(symgrad.load(model).evaluate(np.array([0.5, -1.0, 2.0]))))
"""


def test_processes_compiling_the_same_model_at_once_all_succeed_and_leave_one_good_entry(tmp_path):
    model = tmp_path / "cube.sg"
    model.write_text(CUBE, encoding="utf-8")
    cache = tmp_path / "cache"
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache))
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    processes = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(model), str(r), str(go)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in ready]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all start compiling with the cache empty
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0 and err == "", err
        assert float(out) == pytest.approx((X ** 3).sum(), rel=1e-12)
    entries = [only(cache, pattern) for pattern in ("symgrad_model_*.py", "lark-tables*.pickle", "partials/*.json")]
    assert all(checks(entry) for entry in entries)
    assert list(cache.rglob("*.tmp")) == []


def read_only(monkeypatch, directory: Path) -> None:
    """Make every write under directory fail as on a read-only file system:
    each starts by opening a file for writing, which then fails with EROFS.
    (Modes would not do: the tests may run as root, whom they do not stop,
    and mounting a file system read-only needs privileges they lack.)"""
    real_open = os.open

    def open_(path, flags, *args, **kwargs):
        if str(path).startswith(str(directory)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)


def test_a_read_only_cache_is_read_and_its_damage_is_no_error(cache, monkeypatch, capsys):
    symgrad.compile_source(EXP)
    good = only(cache, "symgrad_model_*.py")
    symgrad.compile_source(CUBE)
    damaged, = set(cache.glob("symgrad_model_*.py")) - {good}
    damaged.write_text("garbage(", encoding="utf-8")
    before = {path: path.read_bytes() for path in cache.rglob("*") if path.is_file()}
    read_only(monkeypatch, cache)
    capsys.readouterr()
    generated = fresh_process(monkeypatch)
    assert_exp_model(symgrad.compile_source(EXP))           # from the cache
    value, grads = symgrad.compile_source(CUBE).value_and_grad(X)  # built again, in memory
    np.testing.assert_allclose(grads.x, 3 * X ** 2, rtol=1e-12)
    symgrad.compile_source("param x : R^n\ny = sum(sin(x))\ngrad y\n")  # not cached: in memory
    assert len(generated) == 2
    at_most_one_warning(capsys.readouterr().err)
    assert {path: path.read_bytes() for path in cache.rglob("*") if path.is_file()} == before


# ----------------------------------------------------------- symgrad cache

def test_symgrad_cache_info_says_where_how_many_and_how_big(cache, capsys):
    symgrad.compile_source(CUBE)
    symgrad.compile_source(EXP)
    parsing.Parser()
    capsys.readouterr()
    assert main(["cache", "--info"]) == 0
    out = capsys.readouterr().out
    size = sum(path.stat().st_size for path in cache.rglob("*") if path.is_file())
    assert f"directory: {cache}\n" in out
    assert "entries: 4 (2 compiled modules, 1 parser tables, 1 derivatives)\n" in out
    assert f"size: {size:,} bytes\n" in out
    assert main(["cache"]) == 0 and capsys.readouterr().out == out


def test_symgrad_cache_clear_removes_what_symgrad_wrote_and_nothing_else(cache, capsys):
    symgrad.compile_source(CUBE)
    parsing.Parser()
    mine = cache / "notes.txt"
    mine.write_text("the user's own", encoding="utf-8")
    capsys.readouterr()
    assert main(["cache", "--clear"]) == 0
    assert "removed 3 files" in capsys.readouterr().out
    assert [path.name for path in cache.rglob("*")] == ["notes.txt"]
    main(["cache", "--info"])
    assert "entries: 0 " in capsys.readouterr().out


def test_symgrad_cache_clear_removes_numbas_files_of_a_development_version(cache, capsys):
    """The numba target kept numba's own (unchecked) cache beside the entries
    for a while: --clear removes those files too."""
    numba_files = cache / "__pycache__"
    numba_files.mkdir(parents=True)
    for name in ("symgrad_model_0f.kernel-12.py311.nbi", "symgrad_model_0f.kernel-12.py311.1.nbc"):
        (numba_files / name).write_bytes(b"machine code")
    (numba_files / "unrelated.nbi").write_bytes(b"not symgrad's")
    assert main(["cache", "--clear"]) == 0
    assert sorted(path.name for path in numba_files.iterdir()) == ["unrelated.nbi"]


def test_symgrad_cache_takes_one_of_its_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["cache", "--info", "--clear"])
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err
