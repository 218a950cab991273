"""The numba target gives the NumPy target's numbers, dtypes and errors on the
benchmark models and the examples it compiles."""

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

import symgrad  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Each model costs numba a few seconds to compile in each process (no
# on-disk cache: see test_numba_keeps_nothing_in_the_cache_directory): the
# benchmark models but the eight tanh layers, and three
# examples (softmax; a gradient that is a number, and a transposed one).
MODELS = [ROOT / "benchmarks" / "models" / f"{name}.sg" for name in ("w1_window", "w2_mlp", "w5_logreg")] + [
    ROOT / "examples" / name for name in ("softmax_classifier.sg", "max_branch.sg", "quadratic_form.sg")]


def arguments(module, rng, dtype=np.float64, sizes=(3, 4, 5, 6, 2, 7)):
    """Random arguments of the module's SIGNATURE, vectors as (n,)."""
    dims = dict(zip(module.SIGNATURE["dims"], sizes))
    values = []
    for name, keyword, kind, rows, cols in module.SIGNATURE["arguments"]:
        rows, cols = (dims.get(d, d) for d in (rows, cols))
        shape = () if rows == cols == 1 else (rows,) if cols == 1 else (cols,) if rows == 1 else (rows, cols)
        values.append(rng.standard_normal(shape).astype(dtype) if shape else float(rng.standard_normal()))
    return values


def close(a, b, tol=1e-12):
    return np.linalg.norm(np.asarray(a, float) - b) <= tol * max(1.0, np.linalg.norm(b))


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_numba_module_gives_the_numpy_targets_value_and_gradients(path):
    fast, ref = symgrad.load(path, target="numba"), symgrad.load(path)
    args = arguments(ref, np.random.default_rng(0))
    value, grads = fast.value_and_grad(*args)
    expected, expected_grads = ref.value_and_grad(*args)
    assert close(value, expected) and close(fast.evaluate(*args), expected)
    for got, want in zip(grads, expected_grads):
        assert np.shape(got) == np.shape(want) and close(got, want)
    for got, want in zip(fast.backward(fast.forward(*args)[1], 2.5), ref.backward(ref.forward(*args)[1], 2.5)):
        assert close(got, want)


def test_float32_stays_float32_and_columns_keep_their_shape():
    fast = symgrad.load(ROOT / "benchmarks" / "models" / "w1_window.sg", target="numba")
    rng = np.random.default_rng(1)
    W, b, u, x = (rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (3, 1), (3,), (4,)))
    value, grads = fast.value_and_grad(W, b, u, x)
    assert type(value) is np.float32 and all(g.dtype == np.float32 for g in grads)
    assert [g.shape for g in grads] == [(3, 4), (3, 1), (3,), (4,)]


def test_bad_shape_gives_the_numpy_targets_error():
    path = ROOT / "benchmarks" / "models" / "w1_window.sg"
    fast, ref = symgrad.load(path, target="numba"), symgrad.load(path)
    W, b, u, x = np.ones((3, 4)), np.ones(2), np.ones(3), np.ones(4)
    with pytest.raises(ValueError) as expected:
        ref.value_and_grad(W, b, u, x)
    with pytest.raises(ValueError, match=None) as got:
        fast.value_and_grad(W, b, u, x)
    assert str(got.value) == str(expected.value)


def test_sigmoid_slope_keeps_its_digits_in_the_tails():
    """σ'(±40) = e^-40 / (1 + e^-40)², to 1e-14 relative (1 - σ would give 0 at +40)."""
    from symgrad.codegen.numba.helpers import _sigmoid, _sigmoid_slope, _tanh_slope
    z = np.array([[40.0, -40.0]])
    exact = np.exp(-40.0) / (1 + np.exp(-40.0)) ** 2
    assert np.allclose(_sigmoid_slope(_sigmoid(z), z), exact, rtol=1e-14, atol=0)
    sech2 = (2 / (np.exp(40.0) + np.exp(-40.0))) ** 2
    assert np.allclose(_tanh_slope(np.tanh(z), z), sech2, rtol=1e-14, atol=0)


def test_an_unsupported_operation_names_itself_and_the_numpy_target():
    with pytest.raises(ValueError, match=r"'inv'.*--target numpy"):
        symgrad.compile_source("param A : R^(n x n)\ninput x : R^n\ns = x^T inv(A) x\ngrad s wrt A\n",
                               target="numba")


def test_the_command_line_refuses_an_unsupported_model_with_status_2(tmp_path):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "symgrad", "compile", "--target", "numba",
                           str(ROOT / "examples" / "logdet.sg")], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'logdet'" in done.stderr and "--target numpy" in done.stderr


def test_random_models_the_target_compiles_give_the_numpy_targets_numbers():
    """The first three random property-test models without an operation the
    target refuses: value, gradients and backward of every grad statement."""
    from gradcheck import draw_inputs, entry_point, program_of
    from random_models import RandomChooser, generate
    checked = 0
    for seed in range(60):
        model = generate(RandomChooser(seed))
        try:
            fast = symgrad.compile_source(model.text, f"random{seed}.sg", target="numba")
        except ValueError as error:
            assert "use --target numpy" in str(error)
            continue
        ref = symgrad.compile_source(model.text, f"random{seed}.sg")
        args = draw_inputs(model.text, model.sizes, model.seed, model.domains, model.vector_1d)
        program = program_of(model.text)
        for target in model.targets:
            def both(kind):
                return entry_point(fast, kind, program, target), entry_point(ref, kind, program, target)
            (got, got_grads), (want, want_grads) = (f(*args) for f in both("value_and_grad"))
            assert close(got, want), f"random model {seed}:\n{model.text}"
            for a, b in zip(got_grads, want_grads):
                assert np.shape(a) == np.shape(b) and close(a, b), f"random model {seed}:\n{model.text}"
            (fast_forward, ref_forward), (fast_backward, ref_backward) = both("forward"), both("backward")
            for a, b in zip(fast_backward(fast_forward(*args)[1], 2.5), ref_backward(ref_forward(*args)[1], 2.5)):
                assert close(a, b), f"random model {seed}:\n{model.text}"
        checked += 1
        if checked == 3:
            break
    assert checked == 3


def test_kinks_follow_the_numpy_target():
    """relu'(0) = 0, and max(a, b) routes its gradient to a on a tie."""
    text = "param a : R^n\ninput b : R^n\ns = sum(relu(a)) + sum(max(a, b))\ngrad s wrt a\n"
    fast = symgrad.compile_source(text, "kinks.sg", target="numba")
    a, b = np.array([0.0, 1.0, -1.0, 2.0]), np.array([5.0, 1.0, -2.0, 3.0])
    _, (grad,) = fast.value_and_grad(a, b)
    relu_slope = np.array([0.0, 1.0, 0.0, 1.0])   # 0 at 0
    max_slope = np.array([0.0, 1.0, 1.0, 0.0])    # a where a >= b, ties included
    assert np.array_equal(grad, relu_slope + max_slope)


def test_numba_keeps_nothing_in_the_cache_directory(tmp_path, monkeypatch):
    """numba's own disk cache would unpickle its files on the next run with no
    check, so a damaged one would break every later call (the cache's rule,
    docs/guarantees.md): a module loaded from symgrad's cache and called
    leaves no numba file there."""
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    path = ROOT / "benchmarks" / "models" / "w5_logreg.sg"
    module = symgrad.compile_source(path.read_text() + "\n# a text of its own\n", str(path), target="numba")
    assert Path(module.__file__).parent == tmp_path  # run from its cache entry
    module.value_and_grad(*arguments(module, np.random.default_rng(1)))
    written = [p.name for p in tmp_path.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert written == []


def kernel_source(module, kind="value_and_grad"):
    import inspect
    return inspect.getsource(getattr(module, f"_{kind}_kernel").py_func)


def test_the_window_kernels_elementwise_run_is_one_loop_writing_only_needed_values():
    """t2 = W x + b, t3 = σ(t2), t4 = σ'(t2), grad_b = u ∘ t4: one loop nest,
    which keeps t3 (s and grad_u read it) and grad_b, and no array of t2 or t4."""
    fast = symgrad.load(ROOT / "benchmarks" / "models" / "w1_window.sg", target="numba")
    source = kernel_source(fast)
    assert source.count("for _i in range") == 1 and source.count("_np.empty(") == 2
    assert not re.search(r"^ *t[24] = |\bt[24]\[", source, re.MULTILINE)  # no array of t2 or t4


BROADCAST_MODEL = """param W : R^(n x m)
param b : R^n
param c : R^(1 x m)
input X : R^(n x m)
s = sum(tanh(W + b) .* relu(X - c) + exp(-W) ./ (2 + sigmoid(X)) + softplus(W) - max(X, W) .* W)
grad s wrt W, b, c
"""


def test_a_run_broadcasting_a_column_a_row_and_numbers_is_fused_with_the_numpy_targets_numbers():
    """tanh, relu, max, exp, σ, softplus and their slopes over a matrix, b a
    column and c a row broadcast onto it: one loop in evaluate's kernel, and
    the NumPy target's value and gradients, in σ's and softplus's tails too."""
    fast, ref = (symgrad.compile_source(BROADCAST_MODEL, "broadcast.sg", target=t) for t in ("numba", "numpy"))
    rng = np.random.default_rng(3)
    W, X = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    W[0, 0], X[1, 1] = 40.0, -40.0  # the tails of σ and softplus
    args = (W, rng.standard_normal(4), rng.standard_normal((1, 5)), X)
    (value, grads), (expected, expected_grads) = fast.value_and_grad(*args), ref.value_and_grad(*args)
    assert close(value, expected) and all(close(g, e) for g, e in zip(grads, expected_grads))
    assert kernel_source(fast, "evaluate").count("for _i in range") == 1


def test_logistic_regression_equals_the_textbook_formula():
    """W5 against its formula written here in NumPy, not against symgrad:
    L = Σ log(1 + exp(-y ∘ X w)) + λ/2 ||w||², ∂L/∂w = -Xᵀ (y ∘ σ(-y ∘ X w)) + λ w."""
    rng = np.random.default_rng(7)
    w, X, y = rng.standard_normal(4), rng.standard_normal((9, 4)), np.sign(rng.standard_normal(9))
    module = symgrad.load(ROOT / "benchmarks" / "models" / "w5_logreg.sg", target="numba")
    value, grads = module.value_and_grad(w, X, y)
    margins = y * (X @ w)
    assert np.isclose(value, np.sum(np.log1p(np.exp(-margins))) + 0.05 * w @ w, rtol=1e-12)
    expected = -X.T @ (y / (1 + np.exp(margins))) + 0.1 * w
    assert close(grads.w, expected)


@pytest.mark.parametrize("order", ["C", "F"])
def test_a_single_id_gather_compiles_and_runs_without_a_performance_warning(order):
    """J = Σ tanh(A L[:, c]) + Σ tanh(M[c, :] A), one id c: the column of L
    (strided in a C-ordered L) and the row of M (strided in an F-ordered M)
    feed products, which numba warns about (NumbaPerformanceWarning) unless
    they are contiguous. No warning, and the numbers of the formulas written
    here: with s = 1 - tanh²(A v), v = L[:, c], and t = 1 - tanh²(r A),
    r = M[c, :]: ∂J/∂A = s vᵀ + r tᵀ, ∂J/∂L[:, c] = Aᵀ s, ∂J/∂M[c, :] = A t."""
    import warnings
    rng = np.random.default_rng(11)
    L, M = (np.asarray(rng.standard_normal(shape), order=order) for shape in ((3, 5), (5, 4)))
    A, c = rng.standard_normal((4, 3)), 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = symgrad.compile_source(f"param L : R^(d x V)\nparam M : R^(V x k)\nparam A : R^(k x d)\n"
                                        f"input c : {{0..V-1}}\n# {order}-ordered\n"
                                        "J = sum(tanh(A L[:, c])) + sum(tanh(M[c, :] A))\ngrad J wrt L, M, A\n",
                                        f"single_id_{order}.sg", target="numba")
        value, grads = module.value_and_grad(L, M, A, c)
    assert [str(w.message) for w in caught] == []
    v, r = L[:, c], M[c, :]
    s, t = 1 - np.tanh(A @ v) ** 2, 1 - np.tanh(r @ A) ** 2
    assert np.isclose(value, np.sum(np.tanh(A @ v)) + np.sum(np.tanh(r @ A)), rtol=1e-12)
    expected_L, expected_M = np.zeros((3, 5)), np.zeros((5, 4))
    expected_L[:, c], expected_M[c, :] = A.T @ s, A @ t
    assert close(grads.L, expected_L) and close(grads.M, expected_M)
    assert close(grads.A, np.outer(s, v) + np.outer(r, t))


def test_a_model_scalar_named_like_a_python_builtin_does_not_shadow_the_wrappers_own():
    """The wrapper converts scalars with the module's own names, not `float`:
    a scalar called float (or int) is an argument like any other."""
    module = symgrad.compile_source("param v : R^n\nparam float : R\nparam int : R\ns = float int sum(v ∘ v)\n"
                                    "grad s wrt v, float\n", target="numba")
    value, grads = module.value_and_grad(np.array([1.0, 2.0, 3.0]), 2.0, 0.5)
    assert value == pytest.approx(2.0 * 0.5 * 14.0)
    np.testing.assert_allclose(grads.v, 2.0 * 0.5 * 2 * np.array([1.0, 2.0, 3.0]))
    assert grads.float == pytest.approx(0.5 * 14.0)
