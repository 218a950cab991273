"""Time and peak memory of traces, inverses and determinants over data.

    python benchmarks/trace_inverse.py [--sizes 2000 8000] [--d 5]

For each model, the generated value_and_grad of the installed symgrad beside
the textbook NumPy of the same formula, the old style: tr(Dᵀ Σ⁻¹ D) through
the N×N matrix Dᵀ Σ⁻¹ D, its gradient through g I of size N×N, and Σ
inverted again for logdet's gradient. Time: the best of 5 calls after one
warm-up call; peak: the most memory allocated at once during one call
(tracemalloc, which sees NumPy's arrays). Run it with an older symgrad to
compare versions: the first column is whatever symgrad is installed.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import symgrad

inv = np.linalg.inv


def textbook_quadratic(S, D):
    """tr(Dᵀ Σ⁻¹ D) and -Σ⁻ᵀ D (g I) Dᵀ Σ⁻ᵀ, as written."""
    value = np.trace(D.T @ inv(S) @ D)
    g = np.eye(D.shape[1])
    return value, -inv(S).T @ D @ g @ D.T @ inv(S).T


def textbook_gaussian(S, D):
    """N/2 logdet(Σ) + tr(Dᵀ Σ⁻¹ D)/2: Σ inverted for each term."""
    n = D.shape[1]
    value = 0.5 * n * np.linalg.slogdet(S)[1] + 0.5 * np.trace(D.T @ inv(S) @ D)
    g = 0.5 * np.eye(n)
    return value, -inv(S).T @ D @ g @ D.T @ inv(S).T + 0.5 * n * inv(S).T


def textbook_batch(S, X):
    """sum(log(1 + diag(Xᵀ Σ⁻¹ X))): the N×N product, and diag(δ) in the gradient."""
    q = np.diag(X.T @ inv(S) @ X)
    delta = np.diag(1 / (1 + q))
    return np.sum(np.log1p(q)), -inv(S).T @ X @ delta @ X.T @ inv(S).T


MODELS = [
    ("tr(Dᵀ Σ⁻¹ D)", "param S : R^(d x d)\ninput D : R^(d x N)\nf = tr(D^T S^-1 D)\ngrad f wrt S\n",
     textbook_quadratic),
    ("N/2 logdet Σ + tr(Dᵀ Σ⁻¹ D)/2", "param S : R^(d x d)\ninput D : R^(d x N)\n"
     "f = 0.5 N logdet(S) + 0.5 tr(D^T S^-1 D)\ngrad f wrt S\n", textbook_gaussian),
    ("sum(D ∘ (Σ⁻¹ D))", "param S : R^(d x d)\ninput D : R^(d x N)\nf = sum(D ∘ (S^-1 D))\ngrad f wrt S\n",
     textbook_quadratic),
    ("sum(log(1 + diag(Xᵀ Σ⁻¹ X)))", "param S : R^(d x d)\ninput D : R^(d x N)\n"
     "f = sum(log(1 + diag(D^T S^-1 D)))\ngrad f wrt S\n", textbook_batch),
]


def measure(function, arguments) -> tuple[float, float]:
    """(best seconds of 5 calls, peak bytes of one call)."""
    function(*arguments)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        function(*arguments)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    try:
        function(*arguments)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return min(times), peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000], help="values of N")
    parser.add_argument("--d", type=int, default=5, help="the size of Σ")
    options = parser.parse_args()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((options.d, options.d))
    S = a @ a.T / options.d + np.eye(options.d)
    print(f"# symgrad {symgrad.__version__}, d = {options.d}: value_and_grad (generated) "
          f"and the textbook NumPy, best of 5 calls, peak memory of one call\n")
    print(f"{'model':34} {'N':>6} {'generated':>11} {'peak':>10} {'textbook':>11} {'peak':>10}")
    for label, text, textbook in MODELS:
        module = symgrad.compile_source(text)
        for n in options.sizes:
            D = rng.standard_normal((options.d, n))
            value, (gradient,) = module.value_and_grad(S, D)
            expected_value, expected = textbook(S, D)
            assert np.isclose(value, expected_value, rtol=1e-10), (label, value, expected_value)
            assert np.allclose(gradient, expected, rtol=1e-9, atol=1e-12), label
            ours, ours_peak = measure(module.value_and_grad, (S, D))
            theirs, theirs_peak = measure(textbook, (S, D))
            print(f"{label:34} {n:>6} {ours * 1e3:>8.2f} ms {ours_peak / 2**20:>6.2f} MiB"
                  f" {theirs * 1e3:>8.2f} ms {theirs_peak / 2**20:>6.2f} MiB")


if __name__ == "__main__":
    main()
