"""Every command and option on deep models, under Python's usual recursion limit.

A chain of 1,000 definitions and 5,000-deep nesting (brackets around a sum
and around a product, nested calls, nested negations and transposes) go
through `symgrad shapes`, `derive` (--steps in each notation: --latex,
--ascii and the default), `compile --with-check` and `check`, in-process
through symgrad.cli.main (and once through a subprocess): each exits 0 and
prints what it is for. tests/test_scale.py checks the front end alone on
the same models.

Each run is one that no other already covers, and each model is derived
and generated once, so that the file takes about half the 40 s it took
when it ran every option alone and did each command's work from the start:
- derive --steps writes what derive without it writes, in the same
  notation (the same Explanation.text, the paths appended), so --steps in
  each notation covers plain derive, --latex and --ascii;
- the three notations print from one Explanation of the model (a
  process-level memo of the class, by the model's text): reading and
  differentiating the model is the same for each, printing is not;
- compile --with-check writes the module compile writes and its check
  beside it; check then loads and runs that same text, which a memo of
  compiler.generate_module hands it instead of generating it again, and
  Python compiles it there (compile's own test does not do it a second time).
"""

from __future__ import annotations

import re
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

# By derive's options (--steps in each notation): how the notation writes
# ∂s/∂x, and the heading of the steps.
DERIVE = {
    ("--steps",): ("∂{s}/∂{x}", "Steps for {s} "),
    ("--latex", "--steps"): (r"\frac{{\partial {s}}}{{\partial {x}}}", r"\textbf{{Steps for ${s}$ "),
    ("--ascii", "--steps"): ("d{s}/d{x}", "Steps for {s} "),
}


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.mktemp("symgrad-cache")))
        yield


@pytest.fixture(scope="module", autouse=True)
def generated_once():
    """compiler.generate_module remembered by its arguments for this file's
    tests: check runs the module that compile --with-check wrote."""
    from symgrad import compiler
    generate, modules = compiler.generate_module, {}

    def remembered(source, target="numpy", with_check=False):
        key = (source.filename, source.text, target, with_check)
        if key not in modules:
            modules[key] = generate(source, target, with_check)
        return modules[key]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compiler, "generate_module", remembered)
        yield


@pytest.fixture(scope="module", autouse=True)
def derived_once():
    """explain.Explanation remembered by the model's text for this file's
    tests: derive in each notation prints from one derivation."""
    from symgrad import explain
    explanation, explanations = explain.Explanation, {}

    def remembered(program):
        key = (program.source.filename, program.source.text)
        if key not in explanations:
            explanations[key] = explanation(program)
        return explanations[key]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(explain, "Explanation", remembered)
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
    if "--latex" in options:  # LaTeX writes x0 as x_{0}
        variable = re.sub(r"(\D+)(\d+)", r"\1_{\2}", variable)
    derivative, heading = (text and text.format(s=target, x=variable) for text in DERIVE[options])
    gradients, _, steps = out.partition(heading or "\0")
    assert re.search(re.escape(derivative) + " &?= ", gradients)  # LaTeX aligns at =
    assert derivative in steps  # the gradient's paths: written out, or counted where there are too many


@pytest.mark.parametrize("name", MODELS)
def test_compile(capsys, files, name):
    code = run(capsys, "compile", "--with-check", files[name])
    assert "\ndef value_and_grad(" in code and "\ndef check_gradients(" in code


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
