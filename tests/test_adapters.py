"""symgrad.adapters: a compiled model inside PyTorch and JAX code. Its
gradients equal PyTorch's and JAX's own autodiff on the same formulas,
written here by hand with the framework's operations (`xp` is torch or
jax.numpy; both spell exp, log and sum(axis=, keepdims=) alike)."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad import adapters

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def jax():
    return pytest.importorskip("jax")


@pytest.fixture
def jax64(jax):
    """JAX with float64 arrays, for this test alone (the flag is global)."""
    with jax.enable_x64(True):
        yield jax


def window(xp, W, b, u, x):
    """s = uᵀ σ(W x + b)."""
    return u @ (1 / (1 + xp.exp(-(W @ x + b))))


def mlp(xp, W1, b1, W2, b2, X, Y, lambda_):
    """J = -1/N sum(Y ∘ log_softmax(S)) + λ (||W1||² + ||W2||²), S = W2 relu(W1 X + b1) + b2."""
    Z = W1 @ X + b1[:, None]
    S = W2 @ (Z * (Z > 0)) + b2[:, None]
    log_softmax = S - xp.log(xp.sum(xp.exp(S), axis=0, keepdims=True))
    return -xp.sum(Y * log_softmax) / X.shape[1] + lambda_ * (xp.sum(W1 * W1) + xp.sum(W2 * W2))


def logistic_regression(xp, w, X, y):
    """L = sum(log(1 + exp(-y ∘ (X w))))."""
    return xp.sum(xp.log(1 + xp.exp(-y * (X @ w))))


def window_arguments(rng):
    return dict(W=rng.standard_normal((3, 4)), b=rng.standard_normal(3), u=rng.standard_normal(3),
                x=rng.standard_normal(4))


def mlp_arguments(rng):
    D, H, C, N = 4, 5, 3, 6
    return dict(W1=rng.standard_normal((H, D)), b1=rng.standard_normal(H), W2=rng.standard_normal((C, H)),
                b2=rng.standard_normal(C), X=rng.standard_normal((D, N)),
                Y=np.eye(C)[rng.integers(0, C, N)].T, lambda_=0.01)


def logistic_regression_arguments(rng):
    return dict(w=rng.standard_normal(3), X=rng.standard_normal((7, 3)), y=rng.choice([-1.0, 1.0], 7))


# model file: (reference formula, its arguments, the variables of its grad statement)
MODELS = {
    "window.sg": (window, window_arguments, ("W", "b", "u", "x")),
    "mlp.sg": (mlp, mlp_arguments, ("W1", "b1", "W2", "b2")),
    "logistic_regression.sg": (logistic_regression, logistic_regression_arguments, ("w",)),
}


def relative_error(got, want) -> float:
    got, want = np.asarray(got), np.asarray(want)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def torch_value_and_grads(torch, function, arrays, wrt, scale=1.0):
    """function(**arrays) and the gradients of scale times it, by loss.backward()."""
    tensors = {name: torch.tensor(value, requires_grad=name in wrt) if isinstance(value, np.ndarray) else value
               for name, value in arrays.items()}
    value = function(**tensors)
    (value * scale).backward()
    return value, [tensors[name].grad for name in wrt]


def jax_value_and_grads(jax, function, arrays, wrt, transform=lambda f: f):
    """function(**arrays) and its gradients with respect to wrt, by
    transform(jax.value_and_grad)."""
    rest = {name: value for name, value in arrays.items() if name not in wrt}

    def of_wrt(*values):
        return function(**dict(zip(wrt, values)), **rest)

    differentiated = transform(jax.value_and_grad(of_wrt, argnums=tuple(range(len(wrt)))))
    return differentiated(*(jax.numpy.asarray(arrays[name]) for name in wrt))


@pytest.mark.parametrize("example", MODELS)
def test_torch_gradients_equal_torch_autodiff(torch, example):
    reference, draw, wrt = MODELS[example]
    arrays = draw(np.random.default_rng(0))
    value, grads = torch_value_and_grads(torch, adapters.torch_function(symgrad.load(EXAMPLES / example)), arrays, wrt)
    want, want_grads = torch_value_and_grads(torch, lambda **a: reference(torch, **a), arrays, wrt)
    assert value.dtype == torch.float64 and relative_error(value.detach(), want.detach()) < 1e-12
    for name, grad, want_grad in zip(wrt, grads, want_grads):
        assert grad.dtype == torch.float64 and grad.shape == want_grad.shape, name
        assert relative_error(grad, want_grad) < 1e-12, name


@pytest.mark.parametrize("example", MODELS)
def test_jax_gradients_equal_jax_autodiff_also_under_jit(jax64, example):
    reference, draw, wrt = MODELS[example]
    arrays = draw(np.random.default_rng(1))
    function = adapters.jax_function(symgrad.load(EXAMPLES / example))
    want, want_grads = jax_value_and_grads(jax64, lambda **a: reference(jax64.numpy, **a), arrays, wrt)
    for transform in (lambda f: f, jax64.jit):
        value, grads = jax_value_and_grads(jax64, function, arrays, wrt, transform)
        assert value.dtype == np.float64 and relative_error(value, want) < 1e-12
        for name, grad, want_grad in zip(wrt, grads, want_grads):
            assert grad.dtype == np.float64 and grad.shape == want_grad.shape, name
            assert relative_error(grad, want_grad) < 1e-12, name


def test_jit_of_grad_and_vmap_of_the_function_itself_work(jax64):
    arrays = window_arguments(np.random.default_rng(2))
    function = adapters.jax_function(symgrad.load(EXAMPLES / "window.sg"))
    grad_W = jax64.jit(jax64.grad(function))(*arrays.values())
    want = jax64.grad(lambda *a: window(jax64.numpy, *a))(*map(jax64.numpy.asarray, arrays.values()))
    assert relative_error(grad_W, want) < 1e-12
    W, b, u, x = arrays.values()
    windows = np.stack([x, -x, 2 * x])   # one window per row
    scores = jax64.vmap(function, in_axes=(None, None, None, 0))(W, b, u, windows)
    assert relative_error(scores, [window(np, W, b, u, row) for row in windows]) < 1e-12


def test_an_upstream_gradient_other_than_1_scales_the_gradients(torch, jax64):
    arrays = mlp_arguments(np.random.default_rng(3))
    wrt = MODELS["mlp.sg"][2]
    module = symgrad.load(EXAMPLES / "mlp.sg")
    _, grads = torch_value_and_grads(torch, adapters.torch_function(module), arrays, wrt, scale=3.0)
    _, want = torch_value_and_grads(torch, lambda **a: mlp(torch, **a), arrays, wrt, scale=3.0)
    _, unscaled = torch_value_and_grads(torch, lambda **a: mlp(torch, **a), arrays, wrt)
    function = adapters.jax_function(module)
    _, jax_grads = jax_value_and_grads(jax64, lambda **a: 3.0 * function(**a), arrays, wrt)
    for grad, jax_grad, want_grad, once in zip(grads, jax_grads, want, unscaled):
        assert relative_error(grad, want_grad) < 1e-12 and relative_error(jax_grad, want_grad) < 1e-12
        assert relative_error(want_grad, 3 * once) < 1e-12   # the reference is scaled, too


def test_float32_arguments_give_float32_values_and_gradients(torch, jax):
    arrays = window_arguments(np.random.default_rng(4))
    module = symgrad.load(EXAMPLES / "window.sg")
    single = {name: value.astype(np.float32) for name, value in arrays.items()}
    value, grads = torch_value_and_grads(torch, adapters.torch_function(module), single, tuple(single))
    want, want_grads = torch_value_and_grads(torch, lambda **a: window(torch, **a), arrays, tuple(arrays))
    assert value.dtype == torch.float32 and relative_error(value.detach(), want.detach()) < 1e-5
    jax_value, jax_grads = jax_value_and_grads(jax, adapters.jax_function(module), single, tuple(single), jax.jit)
    assert jax_value.dtype == np.float32 and relative_error(jax_value, want.detach()) < 1e-5
    for grad, jax_grad, want_grad in zip(grads, jax_grads, want_grads):
        assert grad.dtype == torch.float32 and jax_grad.dtype == np.float32
        assert relative_error(grad, want_grad) < 1e-5 and relative_error(jax_grad, want_grad) < 1e-5


def test_a_python_number_keeps_a_float32_computation_in_float32_as_in_numpy(jax64):
    arrays = mlp_arguments(np.random.default_rng(9))
    single = {name: value.astype(np.float32) if isinstance(value, np.ndarray) else value
              for name, value in arrays.items()}
    module = symgrad.load(EXAMPLES / "mlp.sg")
    wrt = MODELS["mlp.sg"][2]
    want, want_grads = module.value_and_grad(**single)   # lambda_ = 0.01, a Python float
    for transform in (lambda f: f, jax64.jit):
        value, grads = jax_value_and_grads(jax64, adapters.jax_function(module), single, wrt, transform)
        assert value == want and all(np.array_equal(g, w) for g, w in zip(grads, want_grads))


def test_differentiating_an_argument_outside_wrt_is_an_error(torch, jax64):
    arrays = mlp_arguments(np.random.default_rng(5))
    module = symgrad.load(EXAMPLES / "mlp.sg")
    tensors = {name: torch.tensor(value) if isinstance(value, np.ndarray) else value for name, value in arrays.items()}
    tensors["X"].requires_grad_()
    loss = adapters.torch_function(module)
    with pytest.raises(ValueError, match=r"X is differentiated, but `grad J wrt W1, b1, W2, b2` gives it no gradient"):
        loss(**tensors)
    with torch.no_grad():   # no gradient asked for: the value alone
        assert relative_error(loss(**tensors), mlp(torch, **tensors)) < 1e-12
    with pytest.raises(ValueError, match="X is differentiated"):
        jax_value_and_grads(jax64, adapters.jax_function(module), arrays, ("W1", "X"))


def test_a_torch_model_holds_the_params_and_trains_with_torch_optimizers(torch):
    arrays = mlp_arguments(np.random.default_rng(6))
    data = {name: torch.tensor(arrays[name], dtype=torch.float32) for name in ("X", "Y")}
    for optimizer in (torch.optim.SGD, torch.optim.Adam):
        net = adapters.TorchModel(symgrad.load(EXAMPLES / "mlp.sg"), dims={"H": 16, "D": 4}, seed=0, b2=np.ones(3))
        assert [(name, tuple(p.shape)) for name, p in net.named_parameters()] == [
            ("W1", (16, 4)), ("b1", (16,)), ("W2", (3, 16)), ("b2", (3,))]
        assert net.b2.tolist() == [1, 1, 1] and not net.b1.any() and net.W1.dtype == torch.float32
        steps = optimizer(net.parameters(), lr=0.05)
        losses = []
        for _ in range(40):
            steps.zero_grad()
            loss = net(**data, lambda_=1e-4)
            loss.backward()
            steps.step()
            losses.append(loss.item())
        assert losses[-1] < 0.5 * losses[0], (optimizer, losses)


def test_a_torch_model_freezes_params_outside_wrt_and_names_what_it_lacks(torch):
    module = symgrad.compile_source("param W : R^(n x m)\nparam b : R^n\ninput x : R^m\n"
                                    "s = sum(tanh(W x + b))\ngrad s wrt W\n")
    net = adapters.TorchModel(module, dims={"n": 2, "m": 3}, dtype=torch.float64)
    assert net.W.requires_grad and not net.b.requires_grad
    x = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    net(x=x).backward()
    want = net.W.detach().clone().requires_grad_()
    torch.sum(torch.tanh(want @ x + net.b.detach())).backward()
    assert relative_error(net.W.grad, want.grad) < 1e-12 and net.b.grad is None
    with pytest.raises(ValueError, match=r"the size of m is unknown.*dims=\{'m': \.\.\.\}"):
        adapters.TorchModel(module, dims={"n": 2})
    with pytest.raises(TypeError, match=r"x is no param of the model \(its params: W, b\)"):
        adapters.TorchModel(module, dims={"n": 2, "m": 3}, x=np.zeros(3))


def test_arguments_and_params_are_named_by_their_keyword_spelling(torch, jax64):
    module = symgrad.compile_source("param lambda : R\nparam _x : R^n\ninput X : R^(n x N)\n"
                                    "s = lambda sum(X) + _x^T _x\ngrad s\n")
    net = adapters.TorchModel(module, dtype=torch.float64, lambda_=0.5, _x=np.array([1.0, -2.0]))
    net(X=torch.ones(2, 3, dtype=torch.float64)).backward()   # ∂s/∂λ = sum(X) = 6, ∂s/∂x = 2 x
    assert [name for name, _ in net.named_parameters()] == ["lambda_", "_x"]
    assert net.lambda_.grad.item() == 6.0 and net._x.grad.tolist() == [2.0, -4.0]
    function = adapters.jax_function(module)
    grad = jax64.grad(lambda x: function(0.5, _x=x, X=np.ones((2, 3))))(np.array([1.0, -2.0]))
    assert grad.tolist() == [2.0, -4.0]
    with pytest.raises(TypeError, match="'plain' is no module compiled by symgrad"):
        adapters.torch_function(types.ModuleType("plain"))


def test_statement_picks_one_of_several_grad_statements(torch, jax64):
    module = symgrad.compile_source("param W : R^(n x m)\ninput x : R^m\n"
                                    "J = sum(exp(W x))\nR = ||W||^2\ngrad J wrt W\ngrad R wrt W\n")
    W, x = np.random.default_rng(7).standard_normal((2, 3)), np.array([0.5, -1.0, 2.0])
    _, (grad,) = torch_value_and_grads(torch, adapters.torch_function(module, statement="R"), dict(W=W, x=x), ("W",))
    _, (jax_grad,) = jax_value_and_grads(jax64, adapters.jax_function(module, "R"), dict(W=W, x=x), ("W",))
    assert relative_error(grad, 2 * W) < 1e-12 and relative_error(jax_grad, 2 * W) < 1e-12
    _, (first,) = jax_value_and_grads(jax64, adapters.jax_function(module), dict(W=W, x=x), ("W",))
    assert relative_error(first, np.outer(np.exp(W @ x), x)) < 1e-12
    with pytest.raises(ValueError, match=r"no `grad L` statement; its grad statements are of J, R"):
        adapters.torch_function(module, statement="L")


def array_api_norm_wx(numpy_module):
    """A stand-in for a module of the array-API target, for examples/norm_wx.sg
    (f = ||W x||², ∂f/∂W = 2 q xᵀ, ∂f/∂x = 2 Wᵀ q, q = W x): written with the
    operators every array library has, it records the types it is called
    with."""
    module = types.ModuleType("norm_wx_array_api")
    module.TARGET, module.SIGNATURE, module.Grads = "array-api", numpy_module.SIGNATURE, numpy_module.Grads
    module.called_with = []

    def value_and_grad(W, x):
        module.called_with.append(type(W))
        q = W @ x
        return (q * q).sum(), module.Grads(2 * q[:, None] * x[None, :], 2 * W.T @ q)

    def forward(W, x):   # the cache: the gradients
        return value_and_grad(W, x)

    def backward(cache, upstream=1.0):
        return module.Grads(*(grad * upstream for grad in cache))

    def evaluate(W, x):
        return value_and_grad(W, x)[0]

    module.forward, module.backward, module.value_and_grad, module.evaluate = forward, backward, value_and_grad, evaluate
    return module


def test_an_array_api_module_is_called_with_the_frameworks_own_arrays(torch, jax64):
    module = array_api_norm_wx(symgrad.load(EXAMPLES / "norm_wx.sg"))
    rng = np.random.default_rng(8)
    arrays = dict(W=rng.standard_normal((3, 4)), x=rng.standard_normal(4))
    q = arrays["W"] @ arrays["x"]
    want = (np.outer(6 * q, arrays["x"]), 6 * arrays["W"].T @ q)
    _, grads = torch_value_and_grads(torch, adapters.torch_function(module), arrays, ("W", "x"), scale=3.0)
    assert set(module.called_with) == {torch.Tensor}
    function = adapters.jax_function(module)
    _, jax_grads = jax_value_and_grads(jax64, lambda **a: 3.0 * function(**a), arrays, ("W", "x"), jax64.jit)
    assert all(issubclass(kind, jax64.core.Tracer) for kind in module.called_with[1:])
    assert "callback" not in str(jax64.make_jaxpr(jax64.grad(function))(*arrays.values()))
    for grad, jax_grad, want_grad in zip(grads, jax_grads, want):
        assert relative_error(grad, want_grad) < 1e-12 and relative_error(jax_grad, want_grad) < 1e-12


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_importing_symgrad_and_its_adapters_imports_neither_torch_nor_jax():
    done = run_python("import sys, symgrad, symgrad.adapters\n"
                      "print(sorted({'torch', 'jax'} & set(sys.modules)))")
    assert done.returncode == 0 and done.stdout == "[]\n", done.stderr


def test_a_missing_framework_is_an_import_error_that_names_the_extra():
    done = run_python("import sys; sys.modules['torch'] = sys.modules['jax'] = None\n"
                      "import symgrad.adapters as adapters\n"
                      "for make in (lambda: adapters.torch_function(None), lambda: adapters.TorchModel,\n"
                      "             lambda: adapters.jax_function(None)):\n"
                      "    try:\n"
                      "        make()\n"
                      "    except ImportError as error:\n"
                      "        print(error)\n")
    assert done.stdout.splitlines() == [
        'symgrad.adapters needs torch: pip install "symgrad[torch]"',
        'symgrad.adapters needs torch: pip install "symgrad[torch]"',
        'symgrad.adapters needs jax: pip install "symgrad[jax]"'], done.stderr
