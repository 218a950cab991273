"""The code of issue 12's operations on every target: gathers by ids (with
repeated ids, whose gradients sum), one id, blocks and entries (with
dimension expressions), block matrices, vec, pick and onehot. Each model's
value and gradients from the generated module (numpy, array-api on NumPy,
PyTorch, JAX eagerly and under jax.jit, numba) are compared with the same
model written in plain NumPy here, the scatters of its gradients by
np.add.at; float32 arguments give float32 results. The softmax
cross-entropy's module makes no dense one-hot matrix and its gradient is
(softmax(S) - onehot(y)) / N."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad


def softmax(s):
    e = np.exp(s - s.max(axis=0))
    return e / e.sum(axis=0)


def scattered(g, ids, shape, axis):
    """np.add.at's scatter-add: the reference for every gradient of a gather."""
    out = np.zeros(shape)
    np.add.at(out, (slice(None), ids) if axis == 1 else ids, g)
    return out


def onehot(y, classes):
    out = np.zeros((classes, len(y)))
    out[y, np.arange(len(y))] = 1
    return out


# Each model: its text, its arguments (by name, drawn from rng; ids are
# integer arrays with repeats, or a Python int), and the reference: the
# value and the gradients, by name, in plain NumPy.
def lookups_inputs(rng):
    d, V, k = 3, 6, 8
    return dict(L=rng.standard_normal((d, V)), C=rng.standard_normal((d, k)), D=rng.standard_normal((d, k)),
                w=np.array([0, 2, 2, 5, 0, 2, 1, 1]), u=rng.integers(0, V, k), lam=0.3)


def lookups_reference(a):
    L, C, D, w, u, lam = (a[n] for n in ("L", "C", "D", "w", "u", "lam"))
    t = np.tanh(L[:, w])
    value = np.sum(C * t) + np.sum(D * L[:, u]) + lam * np.sum(L * L)
    dL = scattered(C * (1 - t * t), w, L.shape, 1) + scattered(D, u, L.shape, 1) + 2 * lam * L
    return value, dict(L=dL, C=t)


def rows_inputs(rng):
    V, m, k = 5, 3, 7
    return dict(A=rng.standard_normal((V, m)), B=rng.standard_normal((k, m)), x=rng.standard_normal(V),
                c=rng.standard_normal(k), w=np.array([4, 4, 0, 1, 4, 2, 0]))


def rows_reference(a):
    A, B, x, c, w = (a[n] for n in ("A", "B", "x", "c", "w"))
    e = np.exp(A[w])
    value = np.sum(e * B) + np.sum(x[w] * c)
    return value, dict(A=scattered(e * B, w, A.shape, 0), x=scattered(c, w, x.shape, 0))


def single_inputs(rng):
    d, V, C = 3, 6, 4
    return dict(L=rng.standard_normal((d, V)), c=rng.standard_normal(d), x=rng.standard_normal(V),
                s=rng.standard_normal(C), i=4, j=2)


def single_reference(a):
    L, c, x, s, i, j = (a[n] for n in ("L", "c", "x", "s", "i", "j"))
    value = np.sum(c * np.sin(L[:, i])) + x[i] ** 3 + s[j] * x[i]
    dL = np.zeros_like(L)
    dL[:, i] = c * np.cos(L[:, i])
    dx = np.zeros_like(x)
    dx[i] = 3 * x[i] ** 2 + s[j]
    ds = np.zeros_like(s)
    ds[j] = x[i]
    return value, dict(L=dL, x=dx, s=ds)


def blocks_inputs(rng):
    return dict(A=rng.standard_normal((4, 3)), z=rng.standard_normal(5))


def blocks_reference(a):
    A, z = a["A"], a["z"]
    n = len(z)
    value = np.sum(np.tanh(A[1:3, 0:2])) + A[0, 1] * z[2] + np.sum(z[0:2] ** 2) + np.sum(z[1:n] * z[0:n - 1])
    dA = np.zeros_like(A)
    dA[1:3, 0:2] = 1 - np.tanh(A[1:3, 0:2]) ** 2
    dA[0, 1] += z[2]
    dz = np.zeros_like(z)
    dz[2] += A[0, 1]
    dz[0:2] += 2 * z[0:2]
    dz[1:n] += z[0:n - 1]
    dz[0:n - 1] += z[1:n]
    return value, dict(A=dA, z=dz)


def stacks_inputs(rng):
    return dict(A=rng.standard_normal((2, 3)), B=rng.standard_normal((4, 3)), x=rng.standard_normal(3), c=0.7)


def stacks_reference(a):
    A, B, x, c = (a[n] for n in ("A", "B", "x", "c"))
    S = np.vstack([A, B])
    Q = np.block([[A, A], [B, B]])
    value = np.sum(np.tanh(S) * S) + np.sum(np.hstack([A, A]) ** 2) + np.sum(x ** 2) + c ** 2 + 1 + np.sum(Q ** 3)
    dS = (1 - np.tanh(S) ** 2) * S + np.tanh(S)
    dQ = 3 * Q ** 2
    dA = dS[:2] + 4 * A + dQ[:2, :3] + dQ[:2, 3:]
    dB = dS[2:] + dQ[2:, :3] + dQ[2:, 3:]
    return value, dict(A=dA, B=dB, x=2 * x, c=2 * c)


def vec_inputs(rng):
    return dict(A=rng.standard_normal((3, 2)), v=rng.standard_normal(6))


def vec_reference(a):
    A, v = a["A"], a["v"]
    t = np.tanh(A.reshape(-1, order="F"))
    return np.sum(t * v), dict(A=((1 - t * t) * v).reshape(A.shape, order="F"), v=t)


def classes_inputs(rng):
    C, N, D = 4, 9, 3
    return dict(W=rng.standard_normal((C, D)), X=rng.standard_normal((D, N)), T=rng.standard_normal((C, N)),
                y=np.array([0, 3, 3, 1, 0, 2, 3, 3, 1]))


def classes_reference(a):
    W, X, T, y = (a[n] for n in ("W", "X", "T", "y"))
    C, N = T.shape
    S = W @ X
    P = softmax(S)
    R = T - onehot(y, C)
    value = -np.mean(np.log(P[y, np.arange(N)])) + np.sum(R * R)
    return value, dict(W=(P - onehot(y, C)) / N @ X.T, T=2 * R)


MODELS = {
    "lookups": ("param L : R^(d x V)\ninput C : R^(d x k)\ninput D : R^(d x k)\ninput w : {0..V-1}^k\n"
                "input u : {0..V-1}^k\nconst lam : R\n"
                "J = sum(C ∘ tanh(L[:, w])) + sum(D ∘ L[:, u]) + lam ||L||^2\ngrad J wrt L, C\n",
                lookups_inputs, lookups_reference),
    "rows": ("param A : R^(V x m)\ninput B : R^(k x m)\nparam x : R^V\ninput c : R^k\ninput w : {0..V-1}^k\n"
             "J = sum(exp(A[w, :]) ∘ B) + sum(x[w] ∘ c)\ngrad J wrt A, x\n",
             rows_inputs, rows_reference),
    "single": ("param L : R^(d x V)\ninput c : R^d\nparam x : R^V\nparam s : R^C\ninput i : {0..V-1}\n"
               "input j : {0..C-1}\nJ = sum(c ∘ sin(L[:, i])) + x[i]^3 + pick(s, j) x[i]\ngrad J wrt L, x, s\n",
               single_inputs, single_reference),
    "blocks": ("param A : R^(m x p)\nparam z : R^n\n"
               "J = sum(tanh(A[1:3, 0:2])) + A[0, 1] z[2] + ||z[0:2]||^2 + sum(z[1:n] ∘ z[0:n - 1])\n"
               "grad J wrt A, z\n",
               blocks_inputs, blocks_reference),
    "stacks": ("param A : R^(n x m)\nparam B : R^(k x m)\nparam x : R^m\nparam c : R\n"
               "S = [A; B]\nJ = sum(tanh(S) ∘ S) + ||[A, A]||^2 + ||[x; c; 1]||^2 + sum([A, A; B, B] .^ 3)\n"
               "grad J wrt A, B, x, c\n",
               stacks_inputs, stacks_reference),
    "vec": ("param A : R^(n x m)\nparam v : R^(n m)\nJ = sum(tanh(vec(A)) ∘ v)\ngrad J wrt A, v\n",
            vec_inputs, vec_reference),
    "classes": ("param W : R^(C x D)\ninput X : R^(D x N)\nparam T : R^(C x N)\ninput y : {0..C-1}^N\n"
                "S = W X\nJ = -1/N sum(pick(log_softmax(S), y)) + ||T - onehot(y, C)||^2\ngrad J wrt W, T\n",
                classes_inputs, classes_reference),
}

# (target, library of the arrays passed)
RUNS = [("numpy", "numpy"), ("array-api", "numpy"), ("array-api", "torch"), ("array-api", "jax"),
        ("array-api", "jax-jit"), ("array-api", "dask"), ("numba", "numpy"),
        pytest.param("array-api", "torch-cuda", marks=pytest.mark.gpu)]


def converter(library: str):
    """(to the library's array, back to NumPy) for the run's library."""
    if library == "numpy":
        return np.asarray, np.asarray
    if library == "dask":
        da = pytest.importorskip("dask.array")
        return (lambda a: da.from_array(np.asarray(a), chunks=2),
                lambda v: np.asarray(v.compute() if hasattr(v, "compute") else v))
    if library in ("torch", "torch-cuda"):
        torch = pytest.importorskip("torch")
        device = "cuda" if library == "torch-cuda" else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            pytest.skip("no CUDA device")
        return (lambda a: torch.as_tensor(a, device=device),
                lambda v: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v))
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax.numpy.asarray, np.asarray


def module_for(name: str, target: str):
    if target == "numba":
        pytest.importorskip("numba")
    if target == "array-api":
        pytest.importorskip("array_api_compat")
    return symgrad.compile_source(MODELS[name][0], f"{name}.sg", target=target)


def run(name: str, target: str, library: str, dtype):
    """The module's value and gradients (NumPy arrays) for the model's
    arguments in dtype, and the reference's, from the same draw."""
    text, inputs, reference = MODELS[name]
    arguments = inputs(np.random.default_rng(len(name)))
    module = module_for(name, target)
    to, back = converter(library)
    passed = {key: (value if isinstance(value, int) else to(np.asarray(value, dtype)) if isinstance(value, float)
                    else to(value) if value.dtype.kind == "i" else to(np.asarray(value, dtype)))
              for key, value in arguments.items()}
    order = [argument[0] for argument in module.SIGNATURE["arguments"]]
    call = module.value_and_grad
    if library == "jax-jit":
        import jax
        call = jax.jit(call)
    value, grads = call(*(passed[key] for key in order))
    expected, expected_grads = reference(arguments)
    computed = {field: back(getattr(grads, field)) for field in grads._fields}
    return back(value), computed, expected, expected_grads


@pytest.mark.parametrize("target, library", RUNS)
@pytest.mark.parametrize("name", list(MODELS))
def test_value_and_gradients_match_plain_numpy(name, target, library):
    value, grads, expected, expected_grads = run(name, target, library, np.float64)
    assert value == pytest.approx(expected, rel=1e-10)
    assert set(grads) == set(expected_grads)
    for field, gradient in grads.items():
        reference = expected_grads[field]
        assert gradient.shape == np.shape(reference), field
        assert np.allclose(gradient, reference, rtol=1e-10, atol=1e-10 * np.abs(reference).max()), field


@pytest.mark.parametrize("target, library", [("numpy", "numpy"), ("array-api", "torch"), ("numba", "numpy")])
@pytest.mark.parametrize("name", list(MODELS))
def test_float32_stays_float32(name, target, library):
    value, grads, expected, expected_grads = run(name, target, library, np.float32)
    assert value.dtype == np.float32
    assert value == pytest.approx(expected, rel=1e-4)
    for field, gradient in grads.items():
        assert gradient.dtype == np.float32, field
        reference = expected_grads[field]
        assert np.allclose(gradient, reference, rtol=1e-3, atol=1e-4 * np.abs(reference).max()), field


CROSS_ENTROPY = ("param S : R^(C x N)\ninput y : {0..C-1}^N\nJ = -1/N sum(pick(log_softmax(S), y))\n"
                 "grad J wrt S\n")


@pytest.mark.parametrize("target", ["numpy", "array-api", "numba"])
def test_softmax_cross_entropy_makes_no_dense_onehot(target):
    if target == "numba":
        pytest.importorskip("numba")
    code = source_of(CROSS_ENTROPY, target)
    assert "onehot" not in code.replace("onehot(y, C)", ""), "a one-hot matrix is made"
    assert "_indicator(" not in code and "_np.arange(C" not in code
    module = symgrad.compile_source(CROSS_ENTROPY, "ce.sg", target=target)
    rng = np.random.default_rng(5)
    S, y = rng.standard_normal((6, 40)), rng.integers(0, 6, 40)
    value, grads = module.value_and_grad(S, y)
    P = softmax(S)
    assert value == pytest.approx(-np.mean(np.log(P[y, np.arange(40)])), rel=1e-12)
    assert np.allclose(grads.S, (P - onehot(y, 6)) / 40, rtol=1e-12, atol=1e-15)


def source_of(text: str, target: str) -> str:
    from symgrad.compiler import generate_module
    from symgrad.source import Source
    return generate_module(Source(text, "model.sg"), target)


def test_a_gradient_plus_a_scatter_adds_into_the_temporary():
    """lam ||L||² + sum(C ∘ L[:, w]): its gradient 2 lam L + scatter(C, w)
    adds C's columns into the fresh 2 lam L, not into an argument, and the
    argument L is unchanged."""
    code = source_of(MODELS["lookups"][0], "numpy")
    body = code[code.index("def value_and_grad"):]
    assert "_scatter_add(" in body
    arguments = lookups_inputs(np.random.default_rng(1))
    L = arguments["L"].copy()
    module = module_for("lookups", "numpy")
    module.value_and_grad(*(arguments[a[0]] for a in module.SIGNATURE["arguments"]))
    assert np.array_equal(arguments["L"], L)


@pytest.mark.parametrize("target", ["numpy", "array-api", "numba"])
def test_vec_and_unvec_never_write_into_nor_hand_back_an_argument(target):
    """vec(A) of an F-ordered A (whose reshape is a view of A) feeds a step
    that could be written in place, and the gradients are vec(A) and
    unvec(v): A and v stay unchanged, and no gradient shares their memory."""
    module = symgrad.compile_source("param A : R^(n x m)\nparam v : R^(n m)\n"
                                    "J = sum(tanh(vec(A)) ∘ v) + sum(vec(A) ∘ v)\ngrad J wrt A, v\n",
                                    "views.sg", target=target)
    rng = np.random.default_rng(3)
    A, v = np.asfortranarray(rng.standard_normal((3, 2))), rng.standard_normal(6)
    A0, v0 = A.copy(), v.copy()
    value, grads = module.value_and_grad(A, v)
    assert np.array_equal(A, A0) and np.array_equal(v, v0)
    t = np.tanh(A.reshape(-1, order="F"))
    assert np.allclose(grads.v, t + A.reshape(-1, order="F"), rtol=1e-12)
    assert np.allclose(grads.A, ((1 - t * t) * v + v).reshape(3, 2, order="F"), rtol=1e-12)
    for gradient in grads:
        assert not np.shares_memory(gradient, A) and not np.shares_memory(gradient, v)
