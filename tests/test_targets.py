"""Every target gives the same numbers on the project's own models (issue 14,
item 5): the examples (examples/*.sg) and random models of the property
tests (tests/random_models.py), compiled for the NumPy target and for the
array-API target, whose module runs on the arrays of NumPy, PyTorch (CPU),
JAX (CPU, eagerly and under jax.jit) and Dask (chunked), and, marked `gpu`
and skipped without one, PyTorch on CUDA and CuPy.

The reference is the NumPy target's module on the same float64 inputs
(itself checked against finite differences and hand-written formulas
elsewhere: tests/test_property_gradients.py, test_examples_numeric.py):
the value, every gradient of value_and_grad, and backward with an
upstream value of 2.5 (a 0-d array of the library), each within 1e-12 of
the reference's norm, and each a float64 array of the library of the
arguments, on their device. The hand-written checks below (kinks, float32)
need no reference module.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from gradcheck import draw_inputs, entry_point, program_of
from random_models import RandomChooser, generate

import symgrad

pytest.importorskip("array_api_compat")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.sg"))
RTOL = 1e-12
UPSTREAM = 2.5
RANDOM_SEEDS = range(30)
JIT_SEEDS = range(4)  # jit compiles are slow: a few models only
# Each argument's domain where the default (entries of either sign) is outside an operation's.
DOMAINS = {"logdet.sg": {"X": "spd"}}
# Operations a library's namespace lacks, and the models that use them.
UNSUPPORTED = {"dask": (re.compile(r"\b(log)?det\b"), "dask.array.linalg has no det or slogdet")}


@dataclass
class Library:
    """How a test hands NumPy inputs to a library and reads results back."""

    name: str
    to: Callable             # a NumPy array -> the library's
    computed: Callable       # a list of the library's results -> NumPy arrays
    is_own: Callable         # whether a result is the library's array, on the inputs' device
    jit: Callable = None     # a function -> its compiled form (JAX)


def make_library(name: str) -> Library:
    if name == "numpy":
        return Library(name, np.array, lambda values: [np.asarray(v) for v in values],
                       lambda v: isinstance(v, np.ndarray))
    if name in ("torch", "torch-cuda"):
        torch = pytest.importorskip("torch")
        device = "cuda" if name == "torch-cuda" else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            pytest.skip("no CUDA device")
        return Library(name, lambda a: torch.tensor(a, device=device),
                       lambda values: [v.detach().cpu().numpy() for v in values],
                       lambda v: isinstance(v, torch.Tensor) and v.device.type == device)
    if name in ("jax", "jax-jit"):
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
        return Library(name, lambda a: jax.numpy.asarray(a), lambda values: [np.asarray(v) for v in values],
                       lambda v: isinstance(v, jax.Array), jax.jit if name == "jax-jit" else None)
    if name == "dask":
        da = pytest.importorskip("dask.array")
        import dask
        return Library(name, lambda a: da.from_array(a, chunks=dask_chunks(a.shape)),
                       lambda values: [np.asarray(v) for v in dask.compute(*values)],
                       lambda v: isinstance(v, da.Array))
    if name == "cupy":
        cupy = pytest.importorskip("cupy")
        if cupy.cuda.runtime.getDeviceCount() == 0:
            pytest.skip("no CUDA device")
        return Library(name, cupy.asarray, lambda values: [cupy.asnumpy(v) for v in values],
                       lambda v: isinstance(v, cupy.ndarray))
    raise ValueError(name)


def dask_chunks(shape: tuple) -> tuple:
    """Each axis in two chunks; a square matrix in one, since dask's
    inverses and solves (an LU) need square chunks."""
    if len(shape) == 2 and shape[0] == shape[1]:
        return shape
    return tuple(max(1, (n + 1) // 2) for n in shape)


CPU_LIBRARIES = ["numpy", "torch", "jax", "dask"]
GPU_LIBRARIES = [pytest.param(name, marks=pytest.mark.gpu) for name in ("torch-cuda", "cupy")]


@pytest.fixture(params=CPU_LIBRARIES + GPU_LIBRARIES)
def library(request) -> Library:
    return make_library(request.param)


# ------------------------------------------------------------------ checking

def assert_close(got, want, what: str):
    """got within RTOL of want's norm (entries near 0 are summed in other
    orders by other libraries, so no entry-wise bound)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    error, scale = np.linalg.norm(got - want), np.linalg.norm(want)
    assert error <= RTOL * scale or error == 0, f"{what}: relative error {error / scale:.2e}"


def run_on(library: Library, text: str, filename: str, args: list, targets: list):
    """For each grad statement: the value, the gradients of value_and_grad,
    and backward's times UPSTREAM, by the NumPy target's module on `args`
    and by the array-API module on the library's copies of them."""
    program = program_of(text)
    reference = symgrad.compile_source(text, filename)
    module = symgrad.compile_source(text, filename, target="array-api")
    converted = convert(library, args)
    for target in targets:
        target = target if len(targets) > 1 else None
        value, grads = entry_point(reference, "value_and_grad", program, target)(*args)
        scaled = entry_point(reference, "backward", program, target)(
            entry_point(reference, "forward", program, target)(*args)[1], UPSTREAM)
        forward = entry_point(module, "forward", program, target)
        backward = entry_point(module, "backward", program, target)
        value_and_grad = entry_point(module, "value_and_grad", program, target)
        evaluate = entry_point(module, "evaluate", program, target)
        upstream = library.to(np.asarray(UPSTREAM))
        if library.jit:
            value_and_grad, evaluate = library.jit(value_and_grad), library.jit(evaluate)
            got_scaled = library.jit(lambda *a: backward(forward(*a)[1], upstream))(*converted)
        else:
            got_scaled = backward(forward(*converted)[1], upstream)
        got_value, got_grads = value_and_grad(*converted)
        results = [got_value, evaluate(*converted), *got_grads, *got_scaled]
        for result in results:
            assert library.is_own(result), f"{target}: a {type(result).__name__}, not the library's array"
            assert str(result.dtype).endswith("float64"), f"{target}: dtype {result.dtype}"
        got = library.computed(results)
        n = len(grads)
        assert_close(got[0], value, f"{target} value")
        assert_close(got[1], value, f"{target} evaluate")
        for index, field in enumerate(grads._fields):
            assert_close(got[2 + index], getattr(grads, field), f"{target} d/d{field}")
            assert_close(got[2 + n + index], getattr(scaled, field), f"{target} backward d/d{field}")


def convert(library: Library, args: list) -> list:
    """The library's copies of args; a Python number stays one, as a caller
    passes it, unless every argument is a number (then nothing would say
    which library to compute with)."""
    keep = not all(isinstance(a, float) for a in args)
    return [a if keep and isinstance(a, float) else library.to(np.asarray(a)) for a in args]


def skip_unsupported(library: Library, text: str):
    pattern, reason = UNSUPPORTED.get(library.name.split("-")[0], (None, None))
    if pattern and pattern.search(text):
        pytest.skip(f"{library.name}: {reason}")


# ------------------------------------------------------------------- models

def example_inputs(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    dims = {d: size for d, size in zip(program_of(text).dims, (3, 4, 5, 2, 6, 3, 4))}
    return draw_inputs(text, dims, seed=1, domains=DOMAINS.get(path.name))


@pytest.mark.parametrize("library", CPU_LIBRARIES + ["jax-jit"] + GPU_LIBRARIES, indirect=True)
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_gives_the_numpy_targets_numbers(library, path):
    text = path.read_text(encoding="utf-8")
    skip_unsupported(library, text)
    run_on(library, text, f"examples/{path.name}", example_inputs(path), [g.target for g in program_of(text).grads])


def random_model(seed: int):
    model = generate(RandomChooser(seed))
    return model, draw_inputs(model.text, model.sizes, model.seed, model.domains, model.vector_1d)


@pytest.mark.parametrize("library", CPU_LIBRARIES + GPU_LIBRARIES, indirect=True)
def test_random_models_give_the_numpy_targets_numbers(library):
    checked = 0
    for seed in RANDOM_SEEDS:
        model, args = random_model(seed)
        if library.name in UNSUPPORTED and UNSUPPORTED[library.name][0].search(model.text):
            continue
        try:
            run_on(library, model.text, f"random{seed}.sg", args, model.targets)
        except AssertionError as error:
            raise AssertionError(f"random model {seed}:\n{model.text}\n{error}") from None
        checked += 1
    assert checked >= 0.75 * len(RANDOM_SEEDS)


@pytest.mark.parametrize("seed", JIT_SEEDS)
def test_random_models_under_jax_jit_give_the_numpy_targets_numbers(seed):
    model, args = random_model(seed)
    run_on(make_library("jax-jit"), model.text, f"random{seed}.sg", args, model.targets)


# Operations the examples and the random models above reach seldom or never
# (linear algebra, products of three or more matrices, their traces and
# diagonals, elu, the norms), on a symmetric positive definite A.
LINEAR_ALGEBRA = """param A : R^(n x n)
param B : R^(n x m)
param C : R^(m x n)
param v : R^n
input x : R^n
s = tr(B C A) + sum(diag(B C A)) + x^T A^-1 x + sum(inv(A) B) + det(A) + logdet(A)
t = sum(elu(B, 0.5)) + norm1(C) + ||B|| + sum(diag(v) B C) + sum(softmax(B)) + sum(gelu(C))
L = s + t
grad L wrt A, B, C, v, x
"""


@pytest.mark.parametrize("library", CPU_LIBRARIES + GPU_LIBRARIES, indirect=True)
def test_linear_algebra_and_rare_operations_give_the_numpy_targets_numbers(library):
    skip_unsupported(library, LINEAR_ALGEBRA)
    args = draw_inputs(LINEAR_ALGEBRA, {"n": 3, "m": 4}, seed=3, domains={"A": "spd"})
    run_on(library, LINEAR_ALGEBRA, "linear_algebra.sg", args, ["L"])


@pytest.mark.parametrize("library", ["dask"], indirect=True)
def test_linear_algebra_without_determinants_gives_the_numpy_targets_numbers_on_dask(library):
    text = LINEAR_ALGEBRA.replace(" + det(A) + logdet(A)", "")
    args = draw_inputs(text, {"n": 3, "m": 4}, seed=3, domains={"A": "spd"})
    run_on(library, text, "linear_algebra.sg", args, ["L"])


# ------------------------------------------------------- written by hand

KINKS = """param x : R^n
param y : R^n
s = sum(max(x, y) + relu(x) + 2 abs(y))
grad s wrt x, y
"""


def test_kinks_follow_the_conventions_on_every_library(library):
    """relu'(0) = 0, max routes the gradient to its first operand on ties,
    abs'(0) = 0: at x = (0, 1, -1, 2), y = (0, 0, 2, 2),
    ds/dx = [x >= y] + [x > 0] and ds/dy = [y > x] + 2 sign(y)."""
    x, y = np.array([0.0, 1.0, -1.0, 2.0]), np.array([0.0, 0.0, 2.0, 2.0])
    module = symgrad.compile_source(KINKS, "kinks.sg", target="array-api")
    s, grads = module.value_and_grad(library.to(x), library.to(y))
    s, dx, dy = library.computed([s, grads.x, grads.y])
    assert s == np.sum(np.maximum(x, y) + np.maximum(x, 0) + 2 * np.abs(y))
    assert dx.tolist() == [1.0 + 0.0, 1.0 + 1.0, 0.0 + 0.0, 1.0 + 1.0]
    assert dy.tolist() == [0.0 + 0.0, 0.0 + 0.0, 1.0 + 2.0, 0.0 + 2.0]


def test_float32_arguments_give_float32_results(library):
    """A float32 computation stays float32 (a Python number for lambda does
    not widen it), and its numbers are those of float64 to float32's
    precision."""
    path = ROOT / "examples" / "mlp.sg"
    args = example_inputs(path)
    module = symgrad.compile_source(path.read_text(encoding="utf-8"), "examples/mlp.sg", target="array-api")
    narrow = [a if isinstance(a, float) else library.to(np.asarray(a, dtype=np.float32)) for a in args]
    value, grads = module.value_and_grad(*narrow)
    for result in (value, *grads):
        assert library.is_own(result) and str(result.dtype).endswith("float32")
    want_value, want_grads = symgrad.load(path).value_and_grad(*args)
    got = library.computed([value, *grads])
    for result, want in zip(got, [want_value, *want_grads]):
        np.testing.assert_allclose(result, want, rtol=1e-4, atol=1e-5)


def test_the_compiled_file_runs_on_pytorch_tensors(tmp_path):
    """`symgrad compile --target array-api` writes a module that says so and
    computes on tensors as the NumPy target does on arrays."""
    torch = pytest.importorskip("torch")
    out = tmp_path / "window_aa.py"
    subprocess.run([sys.executable, "-m", "symgrad.cli", "compile", "--target", "array-api",
                    str(ROOT / "examples" / "window.sg"), "-o", str(out)], check=True, cwd=ROOT)
    namespace: dict = {}
    exec(compile(out.read_text(encoding="utf-8"), str(out), "exec"), namespace)
    assert namespace["TARGET"] == "array-api"
    args = example_inputs(ROOT / "examples" / "window.sg")
    value, grads = namespace["value_and_grad"](*[torch.tensor(a) for a in args])
    want_value, want_grads = symgrad.load(ROOT / "examples" / "window.sg").value_and_grad(*args)
    assert_close(value.numpy(), want_value, "value")
    for got, want in zip(grads, want_grads):
        assert isinstance(got, torch.Tensor)
        assert_close(got.numpy(), want, "gradient")


def test_a_gradient_that_is_an_argument_is_handed_back_as_a_copy():
    """ds/dx of s = xᵀ y is y itself: writing into the gradient, as an
    optimizer may, must not change the input."""
    torch = pytest.importorskip("torch")
    module = symgrad.compile_source("param x : R^n\ninput y : R^n\ns = x^T y\ngrad s wrt x\n", "dot.sg",
                                    target="array-api")
    y = torch.tensor([1.0, 2.0], dtype=torch.float64)
    _, grads = module.value_and_grad(torch.zeros(2, dtype=torch.float64), y)
    grads.x.add_(1.0)
    assert y.tolist() == [1.0, 2.0] and grads.x.tolist() == [2.0, 3.0]


def test_the_adapters_call_the_array_api_module_with_the_frameworks_arrays():
    """symgrad.adapters hands an array-API module tensors and JAX tracers
    (no callback in the jaxpr), and the gradients, times the upstream 3,
    are the NumPy target's."""
    torch, jax = pytest.importorskip("torch"), pytest.importorskip("jax")
    from symgrad import adapters
    jax.config.update("jax_enable_x64", True)
    path = ROOT / "examples" / "mlp.sg"
    args = example_inputs(path)
    module = symgrad.compile_source(path.read_text(encoding="utf-8"), "examples/mlp.sg", target="array-api")
    _, want = symgrad.load(path).value_and_grad(*args)
    tensors = [torch.tensor(a, requires_grad=index < 4) if not isinstance(a, float) else a
               for index, a in enumerate(args)]
    (3 * adapters.torch_function(module)(*tensors)).backward()
    function = adapters.jax_function(module)
    grad = jax.jit(jax.grad(lambda *a: 3 * function(*a), argnums=(0, 1, 2, 3)))
    arrays = [a if isinstance(a, float) else jax.numpy.asarray(a) for a in args]
    assert "callback" not in str(jax.make_jaxpr(jax.grad(function))(*arrays))
    for tensor, jax_grad, expected in zip(tensors, grad(*arrays), want):
        assert_close(tensor.grad.numpy(), 3 * expected, "torch")
        assert_close(np.asarray(jax_grad), 3 * expected, "jax")


# ------------------------------------------------ symgrad check --target

def test_symgrad_check_runs_the_array_api_module_on_numpy_arrays(tmp_path, capsys, monkeypatch):
    """`symgrad check --target array-api` checks that target's module: it
    passes, and fails (status 1) where that module's sigmoid' is wrong."""
    from symgrad.cli import main
    from symgrad.codegen.array_api.printer import ArrayApiPrinter
    model = tmp_path / "neuron.sg"
    model.write_text(f"# {tmp_path.name}\n" + (ROOT / "examples" / "two_layer.sg").read_text(encoding="utf-8"),
                     encoding="utf-8")
    assert main(["check", "--target", "array-api", str(model)]) == 0
    assert "passed: all 4 gradients agree" in capsys.readouterr().out
    monkeypatch.setattr(ArrayApiPrinter, "_print_sigmoid_slope", lambda self, node, y, z: f"1.01 * {y} * (1 - {y})")
    model.write_text(model.read_text(encoding="utf-8") + "# planted\n", encoding="utf-8")
    assert main(["check", "--target", "array-api", str(model)]) == 1
    assert main(["check", "--target", "cuda", str(model)]) == 2
    assert "unknown target 'cuda': the targets are array-api, numba, numpy" in capsys.readouterr().err


def test_a_module_compiled_with_check_checks_itself(tmp_path):
    out = tmp_path / "window_checked.py"
    subprocess.run([sys.executable, "-m", "symgrad.cli", "compile", "--target", "array-api", "--with-check",
                    str(ROOT / "examples" / "window.sg"), "-o", str(out)], check=True, cwd=ROOT)
    namespace: dict = {}
    exec(compile(out.read_text(encoding="utf-8"), str(out), "exec"), namespace)
    assert namespace["TARGET"] == "array-api" and namespace["check_gradients"]()["passed"]
