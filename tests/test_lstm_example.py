"""examples/lstm_cell.sg: one LSTM step whose gates are blocks of one stacked
product W [x; h0] + b. Its value and every gradient equal those of the cell
written here in NumPy, forward and backward by hand, at float64 to 1e-10;
and `symgrad check` passes it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference_numpy import sigmoid
from test_examples_labels import assert_gradients

import symgrad

MODEL = Path(__file__).resolve().parent.parent / "examples" / "lstm_cell.sg"


def lstm_step(W, b, x, h0, c0, target):
    """The loss 1/2 ||h1 - target||^2 of one LSTM step and its gradients,
    backpropagated by hand through h1 = o ∘ tanh(c), c = f ∘ c0 + i ∘ g and
    the four gate blocks of z = W [x; h0] + b (rows 0:h, h:2h, 2h:3h, 3h:4h)."""
    h = len(h0)
    inputs = np.concatenate([x, h0])
    z = W @ inputs + b
    i, f, o, g = sigmoid(z[:h]), sigmoid(z[h:2 * h]), sigmoid(z[2 * h:3 * h]), np.tanh(z[3 * h:])
    c = f * c0 + i * g
    h1 = o * np.tanh(c)
    dh1 = h1 - target
    do = dh1 * np.tanh(c)
    dc = dh1 * o * (1 - np.tanh(c) ** 2)
    di, df, dg, dc0 = dc * g, dc * c0, dc * i, dc * f
    dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)])
    dinputs = W.T @ dz
    grads = dict(W=np.outer(dz, inputs), b=dz, x=dinputs[:len(x)], h0=dinputs[len(x):], c0=dc0)
    return 0.5 * np.sum((h1 - target) ** 2), grads


@pytest.mark.parametrize("seed", range(4))
def test_the_cell_s_loss_and_gradients_are_its_backpropagation_by_hand(seed):
    rng = np.random.default_rng(seed)
    d, h = rng.integers(1, 5), rng.integers(1, 5)
    W, b = rng.standard_normal((4 * h, d + h)), rng.standard_normal(4 * h)
    x, h0, c0, target = rng.standard_normal(d), rng.standard_normal(h), rng.standard_normal(h), rng.standard_normal(h)
    arguments = dict(W=W, b=b, x=x, h0=h0, c0=c0, target=target)
    assert_gradients(symgrad.load(str(MODEL)), arguments, *lstm_step(**arguments))


def test_a_weight_matrix_of_the_wrong_width_is_refused():
    """W must have d + h columns: d from x, h from h0."""
    rng = np.random.default_rng(0)
    d, h = 3, 2
    with pytest.raises(ValueError, match="W"):
        symgrad.load(str(MODEL)).evaluate(W=rng.standard_normal((4 * h, d + h + 1)), b=np.zeros(4 * h),
                                          x=np.zeros(d), h0=np.zeros(h), c0=np.zeros(h), target=np.zeros(h))


def test_symgrad_check_passes():
    report = symgrad.check(str(MODEL))
    assert report.passed, report.to_json()
