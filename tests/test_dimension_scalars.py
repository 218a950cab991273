"""A dimension used as a scalar (`1/N`, `sqrt(d)`, `log(n)`, `d^-0.5`) works in
every position a scalar may take: through compile, `symgrad check` (the CLI,
in process), `symgrad derive`, and the module's own check_gradients().

The generator below writes random models from TERMS: each is one place a
dimension can stand (an operand of the arithmetic operations, a base and an
exponent of powers, the argument of every elementwise function and of the
column-wise ones, an argument of a user function, a scale or a slope), with
the same term written in plain NumPy. The model's value is compared with
the NumPy sum of its terms, and its gradients with central differences of
that NumPy sum, so a term read or computed wrongly cannot pass by agreeing
with itself.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.special import erf

import symgrad
from symgrad.cli import main


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "symgrad-cache"))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(s):
    e = np.exp(s - s.max(axis=0))
    return e / e.sum(axis=0)


def logsumexp(s):
    return np.log(np.exp(s).sum(axis=0))


HEADER = """param w : R^n
param X : R^(n x m)
param a : R
f1(t, s) = log(s) t + sqrt(s) t^2 + t / s + s^0.5 + exp(-s) t
f2(p, q) = p^2 q + tanh(p) q - p
"""


def f1(t, s):
    return np.log(s) * t + np.sqrt(s) * t ** 2 + t / s + s ** 0.5 + np.exp(-s) * t


def f2(p, q):
    return p ** 2 * q + np.tanh(p) * q - p


# Elementwise functions of one argument, as NumPy computes them; the
# dimension is given as is, and shifted off the kinks at integers where the
# function has one.
UNARY = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "sigmoid": sigmoid, "σ": sigmoid,
    "relu": lambda x: np.maximum(x, 0), "softplus": lambda x: np.log1p(np.exp(x)),
    "gelu": lambda x: x * 0.5 * (1 + erf(x / np.sqrt(2))), "hardtanh": lambda x: np.clip(x, -1, 1),
}

# (model text with D for the dimension, the same in NumPy: D its size, w, X, a the arguments)
TERMS = [
    # arithmetic
    ("D a", lambda D, w, X, a: D * a),
    ("a + D", lambda D, w, X, a: a + D),
    ("a - D", lambda D, w, X, a: a - D),
    ("D - a", lambda D, w, X, a: D - a),
    ("a / D", lambda D, w, X, a: a / D),
    ("D / a", lambda D, w, X, a: D / a),
    ("-D a", lambda D, w, X, a: -D * a),
    ("(1 / D) sum(X)", lambda D, w, X, a: X.sum() / D),
    # powers: the dimension as base and as exponent
    ("D^2 a", lambda D, w, X, a: D ** 2 * a),
    ("D^-0.5 a", lambda D, w, X, a: D ** -0.5 * a),
    ("D^(0.5) a", lambda D, w, X, a: D ** 0.5 * a),
    ("D^-1 a", lambda D, w, X, a: a / D),
    ("a^D", lambda D, w, X, a: a ** D),
    ("D^a", lambda D, w, X, a: D ** a),
    ("sum(w .^ D)", lambda D, w, X, a: (w ** D).sum()),
    ("sum(D .^ w)", lambda D, w, X, a: (D ** w).sum()),
    ("sum(w .^ (1 / D))", lambda D, w, X, a: (w ** (1 / D)).sum()),
    # column-wise functions
    ("sum(w^T softmax(X / sqrt(D)))", lambda D, w, X, a: (w @ softmax(X / np.sqrt(D))).sum()),
    ("sum(logsumexp(X / D))", lambda D, w, X, a: logsumexp(X / D).sum()),
    ("sum(log_softmax(D X) ∘ X)", lambda D, w, X, a: ((D * X - logsumexp(D * X)) * X).sum()),
    # two-argument functions: a side of max and min, a slope
    ("max(D, a - 2)", lambda D, w, X, a: max(D, a - 2)),
    ("min(D + 1.6, a)", lambda D, w, X, a: min(D + 1.6, a)),
    ("sum(leaky_relu(X, 1 / D))", lambda D, w, X, a: np.where(X > 0, X, X / D).sum()),
    ("sum(elu(X, D))", lambda D, w, X, a: np.where(X > 0, X, D * np.expm1(X)).sum()),
    # user functions
    ("sum(f1(w, D))", lambda D, w, X, a: f1(w, D).sum()),
    ("sum(f2(D, w))", lambda D, w, X, a: f2(D, w).sum()),
    ("sum(f1(X, D + a))", lambda D, w, X, a: f1(X, D + a).sum()),
    # scales of vectors and matrices
    ("sum(D w ∘ w)", lambda D, w, X, a: (D * w * w).sum()),
    ("sum(w / D)", lambda D, w, X, a: (w / D).sum()),
    ("D ||w||^2", lambda D, w, X, a: D * (w @ w)),
    ("||X||^2 / D", lambda D, w, X, a: (X * X).sum() / D),
    ("sum(X ./ D)", lambda D, w, X, a: (X / D).sum()),
]
for name, function in UNARY.items():
    TERMS.append((f"{name}(D) a", lambda D, w, X, a, f=function: f(D) * a))
    TERMS.append((f"{name}(D - 2.5) sum(w)", lambda D, w, X, a, f=function: f(D - 2.5) * w.sum())
                 if name not in ("log", "sqrt") else
                 (f"{name}(D + a) sum(w)", lambda D, w, X, a, f=function: f(D + a) * w.sum()))


def models(rounds: int = 2, per_model: int = 9):
    """Random models: each round uses every term once, in random order, a
    random dimension in each; `per_model` terms a model."""
    rng = random.Random(11)
    for _ in range(rounds):
        order = rng.sample(range(len(TERMS)), len(TERMS))
        for start in range(0, len(order), per_model):
            chosen = [(TERMS[i], rng.choice("nm")) for i in order[start:start + per_model]]
            text = " + ".join(f"({term.replace('D', dim)})" for (term, _), dim in chosen)
            sizes = {"n": rng.randint(1, 4), "m": rng.randint(1, 4)}
            yield HEADER + f"L = {text}\ngrad L\n", chosen, sizes


MODELS = list(models())


def test_every_term_is_in_some_model():
    used = {term for _, chosen, _ in MODELS for (term, _), _ in chosen}
    assert used == {term for term, _ in TERMS}


def inputs(sizes: dict, seed: int) -> dict:
    """w and a positive, X of either sign: |entries| in [0.5, 1.5]."""
    rng = np.random.default_rng(seed)
    n, m = sizes["n"], sizes["m"]
    return {"w": rng.uniform(0.5, 1.5, n),
            "X": rng.uniform(0.5, 1.5, (n, m)) * rng.choice([-1.0, 1.0], (n, m)),
            "a": float(rng.uniform(0.5, 1.5))}


def reference(chosen, sizes: dict, values: dict) -> float:
    return float(sum(np.sum(numpy(sizes[dim], values["w"], values["X"], values["a"]))
                     for (_, numpy), dim in chosen))


def reference_gradient(chosen, sizes: dict, values: dict, name: str) -> np.ndarray:
    """Central differences of the NumPy reference."""
    x = np.array(values[name], dtype=float)
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        h = 1e-6 * max(1.0, abs(x[index]))
        steps = []
        for sign in (1, -1):
            moved = x.copy()
            moved[index] += sign * h
            steps.append(reference(chosen, sizes, {**values, name: moved if x.ndim else float(moved)}))
        gradient[index] = (steps[0] - steps[1]) / (2 * h)
    return gradient


@pytest.mark.parametrize("index", range(len(MODELS)))
def test_dimensions_as_scalars_compile_check_and_derive(index, tmp_path, capsys):
    text, chosen, sizes = MODELS[index]
    values = inputs(sizes, index)
    module = symgrad.compile_source(text)

    value, grads = module.value_and_grad(**values)
    np.testing.assert_allclose(value, reference(chosen, sizes, values), rtol=1e-10)
    for name in ("w", "X", "a"):
        np.testing.assert_allclose(getattr(grads, name), reference_gradient(chosen, sizes, values, name),
                                   rtol=1e-5, atol=1e-6, err_msg=f"dL/d{name} of\n{text}")

    report = symgrad.compile_source(text, with_check=True).check_gradients(dims=sizes, inputs=values, quiet=True)
    assert report["passed"], report

    model = tmp_path / "model.sg"
    model.write_text(text, encoding="utf-8")
    arrays = tmp_path / "inputs.npz"
    np.savez(arrays, **values)
    dims = ",".join(f"{d}={s}" for d, s in sizes.items())
    assert main(["check", str(model), "--dims", dims, "--inputs", str(arrays)]) == 0, capsys.readouterr()
    assert main(["derive", str(model), "--steps"]) == 0, capsys.readouterr()
