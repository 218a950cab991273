"""Every command and option on deep models, under Python's usual recursion limit.

A chain of 1,000 definitions and 5,000-deep nesting (brackets around a sum
and around a product, nested calls, nested negations and transposes) go
through `symgrad shapes`, `derive` (plain, --steps, --latex, --ascii, and
the combinations), `compile` and `check`, in-process through
symgrad.cli.main (and once through a subprocess): each exits 0 and prints
what it is for. tests/test_scale.py checks the front end alone on the same
models.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from symgrad.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from front_end import chain, nested  # noqa: E402  (the benchmarks' models)

MODELS = {
    "chain": (chain(1000), "s", "x0"),
    "brackets": (nested(5000, " + a"), "y", "a"),
    "products": (nested(5000, " ∘ a"), "y", "a"),  # its gradient sums 5,000 products
    "calls": (f"param a : R\ny = {'tanh(' * 5000}a{')' * 5000}\ngrad y\n", "y", "a"),
    "transposes": (f"param v : R^n\ny = {'-' * 5000}v{'ᵀ' * 5001}\ns = y v\ngrad s\n", "s", "v"),
}

# By derive's options: how its notation writes ∂s/∂x, and the heading of the steps.
DERIVE = {
    (): ("∂{s}/∂{x}", None),
    ("--steps",): ("∂{s}/∂{x}", "Steps for {s} "),
    ("--latex",): (r"\frac{{\partial {s}}}{{\partial {x}}}", None),
    ("--ascii",): ("d{s}/d{x}", None),
    ("--latex", "--steps"): (r"\frac{{\partial {s}}}{{\partial {x}}}", "% Steps for {s} "),
    ("--ascii", "--steps"): ("d{s}/d{x}", "Steps for {s} "),
}


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.mktemp("symgrad-cache")))
        yield


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("deep")
    for name, (text, _, _) in MODELS.items():
        (folder / f"{name}.sg").write_text(text, encoding="utf-8")
    return {name: str(folder / f"{name}.sg") for name in MODELS}


@pytest.fixture(autouse=True)
def usual_recursion_limit():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default: nothing may lean on a raised limit
    yield
    sys.setrecursionlimit(limit)


def run(capsys, *args: str) -> str:
    status = main(list(args))
    out, err = capsys.readouterr()
    assert (status, err) == (0, ""), err[-2000:]
    return out


@pytest.mark.parametrize("name", MODELS)
def test_shapes(capsys, files, name):
    _, target, _ = MODELS[name]
    assert f"def   {target}" in run(capsys, "shapes", files[name])


@pytest.mark.parametrize("options", DERIVE, ids=lambda o: " ".join(o) or "plain")
@pytest.mark.parametrize("name", MODELS)
def test_derive(capsys, files, name, options):
    _, target, variable = MODELS[name]
    out = run(capsys, "derive", *options, files[name])
    derivative, heading = (text and text.format(s=target, x=variable) for text in DERIVE[options])
    gradients, _, steps = out.partition(heading or "\0")
    assert f"{derivative} = " in gradients
    if heading:  # the gradient's paths: written out, or counted where there are too many
        assert derivative in steps


@pytest.mark.parametrize("name", MODELS)
def test_compile(capsys, files, name):
    _, target, variable = MODELS[name]
    code = run(capsys, "compile", files[name])
    namespace: dict = {}
    exec(compile(code, files[name], "exec"), namespace)
    assert callable(namespace["value_and_grad"])


@pytest.mark.parametrize("name", MODELS)
def test_check(capsys, files, name):
    _, target, variable = MODELS[name]
    out = run(capsys, "check", files[name])
    assert f"\n  {variable} " in out and "passed: 1 gradient agrees with finite differences" in out


def test_derive_steps_of_the_chain_in_a_fresh_process(files):
    result = subprocess.run([sys.executable, "-m", "symgrad", "derive", "--steps", files["chain"]],
                            capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert "∂s/∂x0: the sum of about 10^301 paths" in result.stdout
