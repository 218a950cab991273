"""Generated code against hand-written NumPy (and JAX / PyTorch when installed).

    python benchmarks/bench_numpy.py [--repeats 30] [--quick | --smoke]
        [--targets numpy,array-api,numba] [--threads 1|default] [--markdown FILE]

For each workload: check the hand-written gradients against the NumPy
target's, and every other implementation's (each symgrad target's, JAX's,
PyTorch's) against the hand-written ones, then time value_and_grad of every
implementation in one process, interleaved (each round runs every
implementation once, in a shuffled order), and print the median per call
and the ratio to hand-written NumPy. "GEMM floor" is the time of the
workload's matrix products alone (forward and backward), a bound no
implementation can beat. Also prints compile times for MLPs of 10, 50 and
200 layers. Timings are the machine's of the moment: compare ratios within
one run.

The run sets no thread counts: set OMP_NUM_THREADS, OPENBLAS_NUM_THREADS
and MKL_NUM_THREADS in the environment; --threads only labels the table, and
the header says what threadpoolctl (or else the environment) reports.
--smoke runs every implementation and every check at tiny sizes, two
rounds: a test that the benchmark works, with no claim about speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import symgrad
from symgrad.compiler import generate_module
from symgrad.source import Source

MODELS = Path(__file__).parent / "models"


# ---------------------------------------------------------------- hand-written

def window_hand(W, b, u, x):
    z = W @ x + b
    h = 1 / (1 + np.exp(-z))
    s = u @ h
    delta = u * h * (1 - h)
    return s, (np.outer(delta, x), delta, h, W.T @ delta)


def mlp_hand(W1, b1, W2, b2, X, Y):
    N = X.shape[1]
    Z1 = W1 @ X + b1
    H = np.maximum(Z1, 0)
    S = W2 @ H + b2
    S = S - S.max(axis=0, keepdims=True)
    E = np.exp(S)
    sums = E.sum(axis=0, keepdims=True)
    log_p = S - np.log(sums)
    J = -np.sum(Y * log_p) / N + 1e-4 * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dS = (E / sums * Y.sum(axis=0, keepdims=True) - Y) / N
    dW2 = dS @ H.T + 2e-4 * W2
    db2 = dS.sum(axis=1, keepdims=True)
    dZ1 = W2.T @ dS
    dZ1 *= Z1 > 0
    dW1 = dZ1 @ X.T + 2e-4 * W1
    db1 = dZ1.sum(axis=1, keepdims=True)
    return J, (dW1, db1, dW2, db2)


def tanh8_hand(X, Y, *params):
    Ws, bs = params[0::2], params[1::2]
    hs = [X]
    for W, b in zip(Ws, bs):
        hs.append(np.tanh(W @ hs[-1] + b))
    D = hs[-1] - Y
    E = 0.5 * np.sum(D * D)
    grads = []
    G = D
    for i in range(len(Ws) - 1, -1, -1):
        G = G * (1 - hs[i + 1] * hs[i + 1])
        grads.append(G.sum(axis=1, keepdims=True))
        grads.append(G @ hs[i].T)
        G = Ws[i].T @ G
    return E, tuple(reversed(grads))


def logreg_hand(w, X, y):
    margin = y * (X @ w)
    L = np.sum(np.logaddexp(0, -margin)) + 0.05 * (w @ w)
    g = -y / (1 + np.exp(margin))
    return L, (X.T @ g + 0.1 * w,)


# ------------------------------------------- the losses, for JAX and PyTorch
# Written once over `xp`, a namespace of the few operations they need; the
# frameworks differentiate them (jax.grad under jit; torch autograd, eager).

def window_loss(xp, a):
    return a["u"] @ xp.sigmoid(a["W"] @ a["x"] + a["b"])


def mlp_loss(xp, a):
    H = xp.relu(a["W1"] @ a["X"] + a["b1"])
    S = a["W2"] @ H + a["b2"]
    N = a["X"].shape[1]
    return -xp.sum(a["Y"] * xp.log_softmax(S)) / N + 1e-4 * (xp.sum(a["W1"] ** 2) + xp.sum(a["W2"] ** 2))


def tanh8_loss(xp, a):
    H = a["X"]
    for i in range(1, 9):
        H = xp.tanh(a[f"W{i}"] @ H + a[f"b{i}"])
    return 0.5 * xp.sum((H - a["Y"]) ** 2)


def logreg_loss(xp, a):
    return xp.sum(xp.softplus(-a["y"] * (a["X"] @ a["w"]))) + 0.05 * (a["w"] @ a["w"])


def jax_implementation(loss, args, wrt):
    """value_and_grad of loss under jax.jit, in float64 where the arguments are."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    xp = SimpleNamespace(sigmoid=jax.nn.sigmoid, relu=jax.nn.relu, tanh=jnp.tanh, sum=jnp.sum,
                         log_softmax=lambda s: jax.nn.log_softmax(s, axis=0), softplus=jax.nn.softplus)
    params = {k: jnp.asarray(v) for k, v in args.items() if k in wrt}
    rest = {k: jnp.asarray(v) for k, v in args.items() if k not in wrt}
    step = jax.jit(jax.value_and_grad(lambda p, r: loss(xp, {**p, **r})))

    def run():
        value, grads = jax.block_until_ready(step(params, rest))
        return value, [grads[k] for k in wrt]
    return run


def torch_implementation(loss, args, wrt):
    """value and gradients of loss by torch autograd, eager."""
    import torch
    xp = SimpleNamespace(sigmoid=torch.sigmoid, relu=torch.relu, tanh=torch.tanh, sum=torch.sum,
                         log_softmax=lambda s: torch.log_softmax(s, dim=0),
                         softplus=torch.nn.functional.softplus)
    tensors = {k: torch.from_numpy(v).requires_grad_(k in wrt) for k, v in args.items()}

    def run():
        for k in wrt:
            tensors[k].grad = None
        value = loss(xp, tensors)
        value.backward()
        return value.detach(), [tensors[k].grad for k in wrt]
    return run


FRAMEWORKS = {"JAX jit": ("jax", jax_implementation), "PyTorch eager": ("torch", torch_implementation)}


def installed(module_name: str) -> bool:
    return importlib.util.find_spec(module_name) is not None


# ----------------------------------------------------------------- workloads

# The sizes of each workload: the issue's, and the smoke test's tiny ones.
SIZES = {
    "full": dict(mlp={"W2": (64, 256, 128), "W3": (784, 512, 1024)}, tanh=(512, 256), logreg=(10000, 1000)),
    "smoke": dict(mlp={"W2": (6, 5, 7), "W3": (9, 4, 11)}, tanh=(6, 4), logreg=(30, 5)),
}


def workloads(quick: bool, smoke: bool = False):
    """(label, model file, arguments, hand-written, GEMM floor, loss) of
    each workload; quick: W1, W2 and a small W5 only."""
    sizes = SIZES["smoke" if smoke else "full"]
    rng = np.random.default_rng(0)
    normal = rng.standard_normal
    d, n = 20, 8
    yield ("W1 window 8x20", "w1_window.sg",
           dict(W=normal((n, d)) * 0.3, b=normal(n), u=normal(n), x=normal(d)),
           window_hand, lambda a: [a["W"] @ a["x"]], window_loss)
    for workload, dtype in (("W2", np.float64), ("W3", np.float64), ("W3", np.float32)):
        d, N, h = sizes["mlp"][workload]
        label = f"{workload} MLP {d}x{N} h{h}" + (f" {np.dtype(dtype).name[0]}{np.dtype(dtype).itemsize * 8}"
                                                 if workload == "W3" else "")
        if quick and workload == "W3":
            continue
        c = 10
        Y = np.eye(c)[rng.integers(0, c, N)].T
        args = dict(W1=normal((h, d)) * 0.05, b1=normal((h, 1)) * 0.1, W2=normal((c, h)) * 0.05,
                    b2=normal((c, 1)) * 0.1, X=normal((d, N)), Y=Y)
        args = {k: v.astype(dtype) for k, v in args.items()}

        def gemms(a):
            H = a["W1"] @ a["X"]
            S = a["W2"] @ H
            return [H, S, S @ H.T, a["W2"].T @ S, H @ a["X"].T]
        yield label, "w2_mlp.sg", args, mlp_hand, gemms, mlp_loss
    if not quick:
        w, N = sizes["tanh"]
        args = dict(X=normal((w, N)), Y=normal((w, N)) * 0.5)
        for i in range(1, 9):
            args[f"W{i}"] = normal((w, w)) / np.sqrt(w)
            args[f"b{i}"] = normal((w, 1)) * 0.1

        def tanh_gemms(a):
            out, H = [], a["X"]
            for i in range(1, 9):
                H = a[f"W{i}"] @ H
                out.append(H)
                out.append(H @ a["X"].T)
                out.append(a[f"W{i}"].T @ H)
            return out
        yield f"W4 8 tanh layers {w}, N={N}", "w4_tanh8.sg", args, tanh8_hand, tanh_gemms, tanh8_loss
    N, d = (2000, 200) if quick else sizes["logreg"]
    X = normal((N, d))
    y = np.sign(normal(N))
    yield (f"W5 logistic regression {N}x{d}", "w5_logreg.sg", dict(w=normal(d) * 0.01, X=X, y=y),
           logreg_hand, lambda a: [a["X"] @ a["w"], a["X"].T @ a["y"]], logreg_loss)


def time_round(function, repeat_inner: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat_inner):
        function()
    return (time.perf_counter() - start) / repeat_inner


def agree(label: str, value, grads, reference_value, reference_grads):
    """Assert that an implementation's value and gradients are the generated ones."""
    grads = [np.asarray(g) for g in grads]
    tolerance = 1e-3 if grads[0].dtype == np.float32 else 1e-8
    assert np.allclose(float(value), float(reference_value), rtol=tolerance), (label, value, reference_value)
    for theirs, mine in zip(grads, reference_grads):
        mine = np.reshape(mine, np.shape(theirs))
        assert np.allclose(theirs, mine, rtol=tolerance, atol=tolerance * np.max(np.abs(mine))), label


def target_column(target: str) -> str:
    return f"symgrad {target}"


def bench(repeats: int, quick: bool, frameworks: list[str], targets: list[str] = ("numpy",),
          smoke: bool = False):
    """Per workload, (label, median seconds per call of each implementation,
    the names of the implementations whose gradients were checked)."""
    rows = []
    for label, model, args, hand, gemms, loss in workloads(quick, smoke):
        modules = {target: symgrad.load(MODELS / model, target=target) for target in targets}
        call_args = list(args.values())  # every hand-written function takes the model's argument order
        reference = symgrad.load(MODELS / model)
        value, grads = reference.value_and_grad(*call_args)
        agree(f"{label}: hand NumPy", *hand(*call_args), value, grads)  # the hand-written code is right
        value, grads = hand(*call_args)
        implementations = {target_column(t): (lambda m=m: m.value_and_grad(*call_args)) for t, m in modules.items()}
        implementations.update({"hand NumPy": lambda: hand(*call_args), "GEMM floor": lambda: gemms(args)})
        for name in frameworks:
            implementations[name] = FRAMEWORKS[name][1](loss, args, list(reference.Grads._fields))
        checked = []
        for name, run in implementations.items():
            if name not in ("hand NumPy", "GEMM floor"):
                agree(f"{label}: {name}", *run(), value, grads)
                checked.append(name)
        one = time_round(implementations["hand NumPy"], 1)
        inner = 1 if smoke else max(1, int(0.02 / max(one, 1e-7)))
        samples = {name: [] for name in implementations}
        for _ in range(repeats):
            order = list(implementations)
            random.shuffle(order)
            for name in order:
                samples[name].append(time_round(implementations[name], inner))
        medians = {name: statistics.median(times) for name, times in samples.items()}
        rows.append((label, medians, checked))
    return rows


def compile_times(runs: int = 3):
    """Compile times of MLPs, the best of `runs` after one to warm up
    (benchmarks/compile_scaling.py has the table by phase)."""
    from compile_scaling import mlp_model
    generate_module(Source(mlp_model(2), "warm-up.sg"))
    results = []
    for layers in (10, 50, 200):
        text = mlp_model(layers)
        source = Source(text, f"mlp{layers}.sg")
        results.append((layers, min(time_round(lambda: generate_module(source), 1) for _ in range(runs))))
    return results


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def threads_note(label: str) -> str:
    """The threads the run had: the label the user gave, and what
    threadpoolctl reports (else the environment's variables)."""
    try:
        from threadpoolctl import threadpool_info
        pools = ", ".join(f"{p['internal_api']} {p.get('version') or ''} {p['num_threads']} threads".replace("  ", " ")
                          for p in threadpool_info())
    except ImportError:
        pools = (", ".join(f"{v}={os.environ[v]}" for v in THREAD_VARIABLES if v in os.environ)
                 or "no thread variables set")
    return f"threads: {label} ({pools})"


def header(threads: str) -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"NumPy {np.__version__}, symgrad {symgrad.__version__}; {threads_note(threads)}")


def markdown_table(rows, columns: list[str], targets: list[str]) -> str:
    """Hand-written NumPy's median per call, every other implementation's as
    its ratio to it (and its median), and each symgrad target's as a ratio
    to the GEMM floor."""
    others = [c for c in columns if c != "hand NumPy"]
    floors = [f"{c} / floor" for c in targets]
    lines = [f"| workload | hand NumPy | {' | '.join(others + floors)} |",
             "|---" + "|---:" * (len(others) + len(floors) + 1) + "|"]
    for label, medians, _ in rows:
        hand = medians["hand NumPy"]
        cells = [f"{medians[c] / hand:.2f} ({milliseconds(medians[c])})" for c in others]
        cells += [f"{medians[c] / medians['GEMM floor']:.2f}" for c in targets]
        lines.append(f"| {label} | {milliseconds(hand)} | {' | '.join(cells)} |")
    return "\n".join(lines)


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds >= 1e-4 else f"{seconds * 1e6:.1f} µs"


def run(argv=None) -> tuple[list, str]:
    """Run the benchmark as the command line says; (rows, markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="W1, W2 and a small W5 only")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 2 rounds, every check: no timing claims")
    parser.add_argument("--targets", default="numpy", help="symgrad targets to time, comma-separated")
    parser.add_argument("--threads", default="default", help="a label for the table: 1 or default")
    parser.add_argument("--markdown", metavar="FILE", help="also write the table there")
    options = parser.parse_args(argv)
    from symgrad.codegen import TARGETS
    targets = options.targets.split(",")
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}: the targets are {', '.join(sorted(TARGETS))}")
    if "numba" in targets and not installed("numba"):
        print("# numba not installed, not timed (pip install -e '.[numba]')")
        targets.remove("numba")
    repeats = 2 if options.smoke else options.repeats
    top = header(options.threads) + ("; smoke run: tiny sizes, 2 rounds, not a measurement" if options.smoke else "")
    frameworks = [name for name, (module_name, _) in FRAMEWORKS.items() if installed(module_name)]
    missing = [module_name for module_name, _ in FRAMEWORKS.values() if not installed(module_name)]
    if missing:
        print(f"# not installed, not timed: {', '.join(missing)} (pip install -e '.[bench]')")
    rows = bench(repeats, options.quick, frameworks, targets, options.smoke)
    columns = [*map(target_column, targets), "hand NumPy", "GEMM floor", *frameworks]
    table = f"{top}\n\n" + markdown_table(rows, columns, [*map(target_column, targets)])
    print("\n" + table)
    if options.markdown:
        Path(options.markdown).write_text(table + "\n")
    if not options.smoke:
        print("\n| MLP layers | compile time |\n|---|---|")
        for layers, seconds in compile_times():
            print(f"| {layers} | {seconds:.3f} s |")
    return rows, table


def main():
    run()


if __name__ == "__main__":
    main()
