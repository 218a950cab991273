"""Issue 13's benchmark: Hessians and Hessian-vector products, generated
against hand-written NumPy (and JAX / PyTorch when installed).

    python benchmarks/second_order.py [--repeats 21] [--quick | --smoke] [--markdown FILE]

Workloads (float64):
- the full Hessian of L2-regularized logistic regression,
  J = sum(softplus(X w)) - yᵀ X w + λ/2 ||w||², X 10,000 × 1,000 (--quick:
  2,000 × 200): symgrad's hessian() against `X.T @ (d[:, None] * X) + λ I`
  with d = σ(X w) ∘ (1 - σ(X w)), jax.jit(jax.hessian(J)), torch.func.hessian(J);
- its Hessian-vector product: hvp() against `X.T @ (d * (X @ v)) + λ v`,
  jax.jit of jax.jvp of jax.grad, torch.func.jvp of torch.func.grad;
- the HVP of the W2 MLP (benchmarks/models/w2_mlp.sg: 64 × 256 → 128 → 10,
  relu, mean softmax cross-entropy + L2) along all four params, against a
  forward-over-reverse pass written by hand;
- the HVP of the window model (examples/window.sg as
  benchmarks/models/w1_window.sg writes it, n = 8, m = 20) along W, b, u, x,
  likewise.
Every result is first checked against the hand-written one. Rounds are
interleaved (each round runs every implementation once, shuffled); each
sample repeats a call to last at least 20 ms; medians, and ratios to
hand-written NumPy within the run. An implementation whose rounds would
overrun its share of --budget stops after fewer (3 at least; the row says
how many) while the others go on. Run as a script, it sets BLAS (and
PyTorch) to one thread before NumPy loads. --smoke runs every check at tiny
sizes, two rounds: a test that it works, no claim about speed.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"  # before NumPy loads its BLAS

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402

import symgrad  # noqa: E402
from bench_numpy import header, installed, markdown_table, time_round  # noqa: E402

HERE = Path(__file__).resolve().parent
LAMBDA = 0.1
LOGREG = f"""param w : R^n
input X : R^(N x n)
input y : R^N
const lambda = {LAMBDA}
z = X w
J = sum(softplus(z)) - yᵀ z + lambda/2 ||w||^2
hessian J wrt w
"""
MLP = (HERE / "models" / "w2_mlp.sg").read_text() + "hessian J wrt W1, b1, W2, b2\n"
# examples/window.sg's model with the built-in sigmoid for its user function f
# (a user function's second derivative has no formula yet).
WINDOW = (HERE / "models" / "w1_window.sg").read_text() + "hessian s wrt W, b, u, x\n"
MLP_L2 = 1e-4  # w2_mlp.sg's weight on ||W1||² + ||W2||²

SIZES = {"full": dict(logreg=(10000, 1000), mlp=(64, 256, 128), window=(8, 20)),
         "quick": dict(logreg=(2000, 200), mlp=(64, 256, 128), window=(8, 20)),
         "smoke": dict(logreg=(30, 5), mlp=(6, 5, 7), window=(3, 4))}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ---------------------------------------------------------------- hand-written

def logreg_hessian_hand(w, X, y):
    """Xᵀ diag(σ'(X w)) X + λ I."""
    p = sigmoid(X @ w)
    return X.T @ ((p * (1 - p))[:, None] * X) + LAMBDA * np.eye(len(w))


def logreg_hvp_hand(w, X, y, v):
    """Xᵀ (σ'(X w) ∘ X v) + λ v."""
    p = sigmoid(X @ w)
    return X.T @ (p * (1 - p) * (X @ v)) + LAMBDA * v


def mlp_hvp_hand(W1, b1, W2, b2, X, Y, direction):
    """(∇²J) v along (V1, v1, V2, v2), forward over reverse: the gradient's
    pass (Z1, H, S, P; dS, dH, dZ1) and its tangent (dotted) along the
    direction; relu'' = 0, softmax's tangent P ∘ Ṡ - P ∘ 1ᵀ(P ∘ Ṡ) per column."""
    V1, v1, V2, v2 = direction
    N = X.shape[1]
    Z1 = W1 @ X + b1
    active = Z1 > 0
    H = Z1 * active
    S = W2 @ H + b2
    E = np.exp(S - S.max(axis=0, keepdims=True))
    P = E / E.sum(axis=0, keepdims=True)
    labels = Y.sum(axis=0, keepdims=True) / N
    dS = P * labels - Y / N
    H_dot = (V1 @ X + v1) * active
    S_dot = V2 @ H + W2 @ H_dot + v2
    PS = P * S_dot
    dS_dot = (PS - P * PS.sum(axis=0, keepdims=True)) * labels
    dZ1_dot = (V2.T @ dS + W2.T @ dS_dot) * active
    return (dZ1_dot @ X.T + 2 * MLP_L2 * V1, dZ1_dot.sum(axis=1, keepdims=True),
            dS_dot @ H.T + dS @ H_dot.T + 2 * MLP_L2 * V2, dS_dot.sum(axis=1, keepdims=True))


def window_hvp_hand(W, b, u, x, direction):
    """(∇²s) v of s = uᵀ σ(W x + b) along (V, v_b, v_u, v_x): δ = u ∘ σ'(z)
    and its tangent δ̇ = v_u ∘ σ'(z) + u ∘ σ'(z) ∘ (1 - 2 h) ∘ ż."""
    V, vb, vu, vx = direction
    h = sigmoid(W @ x + b)
    slope = h * (1 - h)
    delta = u * slope
    z_dot = V @ x + W @ vx + vb
    delta_dot = vu * slope + u * slope * (1 - 2 * h) * z_dot
    return np.outer(delta_dot, x) + np.outer(delta, vx), delta_dot, slope * z_dot, V.T @ delta + W.T @ delta_dot


# ------------------------------------------- the losses, for JAX and PyTorch

def logreg_loss(xp, a):
    z = a["X"] @ a["w"]
    return xp.sum(xp.softplus(z)) - a["y"] @ z + LAMBDA / 2 * xp.sum(a["w"] ** 2)


def mlp_loss(xp, a):
    H = xp.relu(a["W1"] @ a["X"] + a["b1"])
    S = a["W2"] @ H + a["b2"]
    N = a["X"].shape[1]
    return -xp.sum(a["Y"] * xp.log_softmax(S)) / N + MLP_L2 * (xp.sum(a["W1"] ** 2) + xp.sum(a["W2"] ** 2))


def window_loss(xp, a):
    return a["u"] @ xp.sigmoid(a["W"] @ a["x"] + a["b"])


def jax_implementation(kind, loss, args, wrt, direction):
    """jax.jit(jax.hessian) of the loss in its one variable, or jax.jit of
    the jvp of its gradient along the direction (forward over reverse)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    xp = SimpleNamespace(sigmoid=jax.nn.sigmoid, relu=jax.nn.relu, sum=jnp.sum, softplus=jax.nn.softplus,
                         log_softmax=lambda s: jax.nn.log_softmax(s, axis=0))
    params = {k: jnp.asarray(args[k]) for k in wrt}
    rest = {k: jnp.asarray(v) for k, v in args.items() if k not in wrt}

    def f(p, r):
        return loss(xp, {**p, **r})
    if kind == "hessian":
        (only,) = wrt
        step = jax.jit(jax.hessian(f))
        return lambda: jax.block_until_ready(step(params, rest))[only][only]
    tangent = dict(zip(wrt, map(jnp.asarray, direction)))
    step = jax.jit(lambda p, t, r: jax.jvp(lambda q: jax.grad(f)(q, r), (p,), (t,))[1])

    def hvp():
        product = jax.block_until_ready(step(params, tangent, rest))
        return [product[k] for k in wrt]
    return hvp


def torch_implementation(kind, loss, args, wrt, direction):
    """torch.func.hessian of the loss in its one variable, or torch.func.jvp
    of torch.func.grad along the direction, eager."""
    import torch
    import torch.func
    xp = SimpleNamespace(sigmoid=torch.sigmoid, relu=torch.relu, sum=torch.sum,
                         softplus=torch.nn.functional.softplus, log_softmax=lambda s: torch.log_softmax(s, dim=0))
    params = {k: torch.from_numpy(args[k]) for k in wrt}
    rest = {k: torch.from_numpy(np.asarray(v)) for k, v in args.items() if k not in wrt}

    def f(p):
        return loss(xp, {**p, **rest})
    if kind == "hessian":
        (only,) = wrt
        hessian = torch.func.hessian(f)
        return lambda: hessian(params)[only][only]
    tangent = dict(zip(wrt, map(torch.from_numpy, direction)))
    gradient = torch.func.grad(f)

    def hvp():
        product = torch.func.jvp(gradient, (params,), (tangent,))[1]
        return [product[k] for k in wrt]
    return hvp


FRAMEWORKS = {"JAX jit": ("jax", jax_implementation), "PyTorch torch.func": ("torch", torch_implementation)}


# ----------------------------------------------------------------- workloads

def workloads(size: str):
    """(label, kind, model text, arguments, direction or None, hand-written, loss)."""
    sizes = SIZES[size]
    rng = np.random.default_rng(0)
    normal = rng.standard_normal
    N, n = sizes["logreg"]
    X = normal((N, n)) / np.sqrt(n)
    logreg = dict(w=normal(n), X=X, y=(rng.random(N) < 0.5).astype(float))
    yield f"logistic regression {N}x{n}: Hessian", "hessian", LOGREG, logreg, None, logreg_hessian_hand, logreg_loss
    yield (f"logistic regression {N}x{n}: HVP", "hvp", LOGREG, logreg, (normal(n),),
           lambda w, X, y, direction: (logreg_hvp_hand(w, X, y, direction[0]),), logreg_loss)
    d, N, h = sizes["mlp"]
    c = 10
    mlp = dict(W1=normal((h, d)) * 0.05, b1=normal((h, 1)) * 0.1, W2=normal((c, h)) * 0.05,
               b2=normal((c, 1)) * 0.1, X=normal((d, N)), Y=np.eye(c)[rng.integers(0, c, N)].T)
    direction = tuple(normal(mlp[k].shape) for k in ("W1", "b1", "W2", "b2"))
    yield f"W2 MLP {d}x{N} h{h}: HVP", "hvp", MLP, mlp, direction, mlp_hvp_hand, mlp_loss
    n, m = sizes["window"]
    window = dict(W=normal((n, m)) * 0.3, b=normal(n), u=normal(n), x=normal(m))
    direction = tuple(normal(window[k].shape) for k in ("W", "b", "u", "x"))
    yield f"window {n}x{m}: HVP", "hvp", WINDOW, window, direction, window_hvp_hand, window_loss


def agree(label: str, results, references):
    """Assert that an implementation's arrays (the Hessian, or the HVP in wrt order) are the reference's."""
    assert len(results) == len(references), label
    for theirs, mine in zip(results, references):
        theirs = np.reshape(np.asarray(theirs), np.shape(mine))
        assert np.allclose(theirs, mine, rtol=1e-8, atol=1e-8 * np.max(np.abs(mine))), label


def bench(repeats: int, size: str, frameworks: list[str], budget: float):
    """Per workload, (label, median seconds per call of each implementation, those checked)."""
    rows = []
    for label, kind, text, args, direction, hand, loss in workloads(size):
        module = symgrad.compile_source(text, f"{label.split(':')[0]}.sg")
        call = list(args.values())
        wrt = list(module.SIGNATURE["hessians"][0][2])
        if kind == "hessian":
            implementations = {"hand NumPy": lambda: hand(*call), "symgrad": lambda: module.hessian(*call)}
        else:
            implementations = {"hand NumPy": lambda: hand(*call, direction),
                               "symgrad": lambda: module.hvp(*call, direction)}
        for name in frameworks:
            implementations[name] = FRAMEWORKS[name][1](kind, loss, args, wrt, direction)
        arrays = (lambda result: [result]) if kind == "hessian" else list
        reference = arrays(implementations["hand NumPy"]())
        agree(f"{label}: hand NumPy", reference, arrays(implementations["symgrad"]()))  # the hand-written is right
        for name, run in implementations.items():
            if name != "hand NumPy":
                agree(f"{label}: {name}", arrays(run()), reference)
        once = {name: time_round(run, 1) for name, run in implementations.items()}
        inner = {name: 1 if size == "smoke" else max(1, int(0.02 / max(seconds, 1e-7)))
                 for name, seconds in once.items()}
        # Each implementation's share of the budget sets its rounds (3 at
        # least): a slow one stops early, the others keep interleaving.
        share = budget / len(implementations)
        rounds = {name: repeats if size == "smoke" else max(3, min(repeats, int(share / (once[name] * inner[name]))))
                  for name in implementations}
        samples = {name: [] for name in implementations}
        for _ in range(max(rounds.values())):
            order = [name for name in implementations if len(samples[name]) < rounds[name]]
            random.shuffle(order)
            for name in order:
                samples[name].append(time_round(implementations[name], inner[name]))
        fewer = [f"{name} {count}" for name, count in rounds.items() if count < repeats]
        rows.append((label + (f" (rounds: {', '.join(fewer)})" if fewer else ""),
                     {name: statistics.median(times) for name, times in samples.items()}, list(implementations)))
    return rows


def run(argv=None) -> tuple[list, str]:
    """Run the benchmark as the command line says; (rows, markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="logistic regression 2,000 x 200")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 2 rounds, every check: no timing claims")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds of timing per workload, shared by its implementations: "
                        "fewer rounds (3 at least) for a slow one")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table there")
    options = parser.parse_args(argv)
    size = "smoke" if options.smoke else "quick" if options.quick else "full"
    if __name__ == "__main__" and installed("torch"):
        import torch
        torch.set_num_threads(1)
    frameworks = [name for name, (module_name, _) in FRAMEWORKS.items() if installed(module_name)]
    missing = [module_name for module_name, _ in FRAMEWORKS.values() if not installed(module_name)]
    if missing:
        print(f"# not installed, not timed: {', '.join(missing)} (pip install -e '.[bench]')")
    rows = bench(2 if options.smoke else options.repeats, size, frameworks, options.budget)
    threads = "1" if os.environ.get("OPENBLAS_NUM_THREADS") == "1" else "default"
    top = header(threads) + ("; smoke run: tiny sizes, 2 rounds, not a measurement" if options.smoke else "")
    table = f"{top}\n\n" + markdown_table(rows, ["hand NumPy", "symgrad", *frameworks], [])
    print("\n" + table)
    if options.markdown:
        Path(options.markdown).write_text(table + "\n")
    return rows, table


if __name__ == "__main__":
    run()
