"""The classifiers that take integer labels, as CS231n writes them
(examples/softmax_labels.sg, svm_labels.sg, two_layer_labels.sg): each
model's value and every gradient equal those of a NumPy implementation
written here, forward and the course's hand-derived backward, at float64 to
1e-10, for random sizes where the batch repeats labels; and `symgrad check`
passes each model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference_numpy import log_softmax, one_hot, softmax

import symgrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MODELS = ["softmax_labels.sg", "svm_labels.sg", "two_layer_labels.sg"]


def batch(seed: int):
    """Random sizes C, D, N with N > C, so that some label repeats, and the
    labels y (every class in 0..C-1 may occur)."""
    rng = np.random.default_rng(seed)
    C, D = rng.integers(2, 6), rng.integers(1, 5)
    N = C + rng.integers(1, 6)
    y = rng.integers(0, C, N)
    assert len(set(y)) < N
    return rng, C, D, N, y


def assert_gradients(model, arguments: dict, want_value: float, want: dict):
    """model's value and gradients at arguments are want_value and want (the
    gradients by name, in wrt order), to 1e-10 (the value to 1e-12)."""
    value, grads = model.value_and_grad(**arguments)
    np.testing.assert_allclose(value, want_value, rtol=1e-12, atol=1e-14)
    assert grads._fields == tuple(want)
    for name, gradient in want.items():
        np.testing.assert_allclose(getattr(grads, name), gradient, rtol=1e-10, atol=1e-12, err_msg=name)


def cross_entropy(S, y, N):
    """-1/N Σ_j log softmax(S)[y_j, j] and its gradient dS = (P - Y)/N, Y the
    one-hot labels."""
    value = -log_softmax(S)[y, np.arange(N)].sum() / N
    return value, (softmax(S) - one_hot(y, S.shape[0])) / N


# ------------------------------------------------------------- softmax

SOFTMAX = (EXAMPLES / "softmax_labels.sg").read_text(encoding="utf-8")
# the same loss spelled with the one-hot matrix of the labels
SOFTMAX_ONEHOT = SOFTMAX.replace("sum(pick(log_softmax(S), y))", "sum(onehot(y, C) ∘ log_softmax(S))")


def test_the_onehot_spelling_is_another_model():
    assert SOFTMAX_ONEHOT != SOFTMAX and "sum(pick(" not in SOFTMAX_ONEHOT


@pytest.mark.parametrize("text", [SOFTMAX, SOFTMAX_ONEHOT], ids=["pick", "onehot"])
@pytest.mark.parametrize("seed", range(3))
def test_the_softmax_loss_and_gradients_are_cs231n_s(text, seed):
    rng, C, D, N, y = batch(seed)
    W, b, X, lam = rng.standard_normal((C, D)), rng.standard_normal(C), rng.standard_normal((D, N)), 0.3
    data_loss, dS = cross_entropy(W @ X + b[:, None], y, N)
    want = dict(W=dS @ X.T + 2 * lam * W, b=dS.sum(axis=1))
    assert_gradients(symgrad.compile_source(text), dict(W=W, b=b, X=X, y=y, lambda_=lam),
                     data_loss + lam * np.sum(W * W), want)


# ------------------------------------------------------------- SVM

def svm(S, y, N, delta=1.0):
    """CS231n's vectorized multiclass SVM: the margins of the wrong classes,
    their mean, and dS: 1/N where a margin is positive, and minus 1/N times
    their count at each example's own class."""
    columns = np.arange(N)
    margins = np.maximum(0, S - S[y, columns] + delta)
    margins[y, columns] = 0
    dS = (margins > 0).astype(float)
    dS[y, columns] = -dS.sum(axis=0)
    return margins.sum() / N, dS / N


@pytest.mark.parametrize("seed", range(4))
def test_the_svm_loss_and_gradients_are_cs231n_s(seed):
    rng, C, D, N, y = batch(seed)
    W, b, X, lam = rng.standard_normal((C, D)), rng.standard_normal(C), rng.standard_normal((D, N)), 0.2
    data_loss, dS = svm(W @ X + b[:, None], y, N)
    assert 0 < np.count_nonzero(dS) < C * N   # some margins are met and some are not
    want = dict(W=dS @ X.T + 2 * lam * W, b=dS.sum(axis=1))
    assert_gradients(symgrad.load(str(EXAMPLES / "svm_labels.sg")), dict(W=W, b=b, X=X, y=y, lambda_=lam),
                     data_loss + lam * np.sum(W * W), want)


# ------------------------------------------------------------- two layers

@pytest.mark.parametrize("seed", range(3))
def test_the_two_layer_net_s_loss_and_gradients_are_its_backpropagation(seed):
    rng, C, D, N, y = batch(seed)
    H, lam = rng.integers(2, 6), 0.1
    W1, b1, W2, b2 = (rng.standard_normal(shape) for shape in ((H, D), H, (C, H), C))
    X = rng.standard_normal((D, N))
    Z1 = W1 @ X + b1[:, None]
    hidden = np.maximum(Z1, 0)
    data_loss, dS = cross_entropy(W2 @ hidden + b2[:, None], y, N)
    dZ1 = (W2.T @ dS) * (Z1 > 0)
    want = dict(W1=dZ1 @ X.T + 2 * lam * W1, b1=dZ1.sum(axis=1), W2=dS @ hidden.T + 2 * lam * W2, b2=dS.sum(axis=1))
    assert_gradients(symgrad.load(str(EXAMPLES / "two_layer_labels.sg")),
                     dict(W1=W1, b1=b1, W2=W2, b2=b2, X=X, y=y, lambda_=lam),
                     data_loss + lam * (np.sum(W1 * W1) + np.sum(W2 * W2)), want)


@pytest.mark.parametrize("name", MODELS)
def test_symgrad_check_passes(name):
    report = symgrad.check(str(EXAMPLES / name))
    assert report.passed, report.to_json()
