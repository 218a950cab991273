"""The derivatives of user functions are kept in the cache directory: a
model whose functions were differentiated before is differentiated without
SymPy, to the same result; a changed function, const or callee is derived
again; a damaged or unwritable cache is no error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from symgrad.lowering import analyze
from symgrad.notation import Printer
from symgrad.partials import Partials
from symgrad.source import Source

MODEL = """\
const c = 0.5
g(a) = c a^2
f(t, s) = sigmoid(t) g(s)
param x : R^n
param y : R^n
z = sum(f(x, y))
grad z wrt x, y
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def partials(text: str = MODEL) -> Partials:
    return Partials(analyze(Source(text, "model.sg")))


def test_a_second_process_derives_the_same_without_importing_sympy(tmp_path, private_cache):
    path = tmp_path / "model.sg"
    path.write_text(MODEL, encoding="utf-8")
    script = ("import sys, symgrad\n"
              "text = symgrad.derive(sys.argv[1]).text(steps=True)\n"
              "print('sympy' in sys.modules)\n"
              "print(text)\n")
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(private_cache))

    def run():
        result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                                env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout.split("\n", 1)

    first, second = run(), run()
    assert first[0] == "True" and second[0] == "False"
    assert second[1] == first[1]
    assert "f(t, s)" in first[1]


def test_the_derived_formulas_from_the_cache_are_those_sympy_gave():
    fresh = partials()
    derived = [fresh.derive("f", 0), fresh.derive("f", 1)]
    cached = partials()
    for index, function in enumerate(derived):
        again = cached.derive("f", index)
        assert again.name == function.name and again.params == function.params
        assert Printer().doc(again.body) == Printer().doc(function.body)


@pytest.mark.parametrize("change", [
    ("f(t, s) = sigmoid(t) g(s)", "f(t, s) = tanh(t) g(s)"),  # the function
    ("g(a) = c a^2", "g(a) = c a^3"),                          # a function it calls
    ("const c = 0.5", "const c = 0.25"),                        # a const it reads
])
def test_a_changed_formula_is_derived_again(change, private_cache):
    partials().derive("f", 1)
    before = set((private_cache / "partials").iterdir())
    changed = partials(MODEL.replace(*change)).derive("f", 1)
    assert set((private_cache / "partials").iterdir()) - before
    printed = Printer().doc(changed.body)
    assert printed != Printer().doc(partials().derive("f", 1).body)


def test_a_damaged_cache_file_is_derived_again_and_replaced(private_cache):
    expected = Printer().doc(partials().derive("f", 0).body)
    for path in (private_cache / "partials").iterdir():
        path.write_text('{"params": ["t"], "nodes": [["mul", null, [7]]]}', encoding="utf-8")
    assert Printer().doc(partials().derive("f", 0).body) == expected
    stored = [json.loads(p.read_bytes().rpartition(b"\n# symgrad-cache sha256=")[0])
              for p in (private_cache / "partials").iterdir()]
    assert all(len(s["nodes"]) > 1 for s in stored)


def test_without_a_writable_cache_directory_functions_are_still_derived(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(blocker / "cache"))
    assert partials().derive("f", 0).params == ("t", "s", "f(t, s)")
