"""CS224N's skip-gram word2vec (examples/word2vec_naive.sg,
word2vec_negative.sg, trained by examples/word2vec.py): each loss and its
gradients equal the course's formulas written here in NumPy, at float64 to
1e-10, for random sizes with repeated ids; `symgrad check` passes both
models; and a short training lowers the loss and makes a planted pair of
words (found in the same contexts) each other's nearest neighbours.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from checking import imported
from reference_numpy import sigmoid, softmax
from test_examples_labels import assert_gradients

import symgrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def word2vec():
    return imported(EXAMPLES / "word2vec.py")


def naive_softmax(Vc, U, c, o):
    """J = -log ŷ_o, ŷ = softmax(Uᵀ v_c); ∂J/∂v_c = U (ŷ - y), ∂J/∂U = v_c (ŷ - y)ᵀ,
    y the one-hot vector of o; the other columns of Vc get none."""
    v = Vc[:, c]
    y_hat = softmax(U.T @ v)
    error = y_hat.copy()
    error[o] -= 1
    grad_Vc = np.zeros_like(Vc)
    grad_Vc[:, c] = U @ error
    return -np.log(y_hat[o]), dict(Vc=grad_Vc, U=np.outer(v, error))


def negative_sampling(Vc, U, c, o, k):
    """J = -log σ(u_oᵀ v_c) - Σ_k log σ(-u_kᵀ v_c);
    ∂J/∂v_c = -(1 - σ(u_oᵀ v_c)) u_o + Σ_k (1 - σ(-u_kᵀ v_c)) u_k,
    ∂J/∂u_o = -(1 - σ(u_oᵀ v_c)) v_c, ∂J/∂u_k = (1 - σ(-u_kᵀ v_c)) v_c, a
    sample drawn twice (or equal to o) getting each share."""
    v = Vc[:, c]
    outside = sigmoid(U[:, o] @ v)
    value = -np.log(outside)
    grad_v, grad_U = -(1 - outside) * U[:, o], np.zeros_like(U)
    grad_U[:, o] -= (1 - outside) * v
    for sample in k:
        negative = sigmoid(-U[:, sample] @ v)
        value -= np.log(negative)
        grad_v += (1 - negative) * U[:, sample]
        grad_U[:, sample] += (1 - negative) * v
    grad_Vc = np.zeros_like(Vc)
    grad_Vc[:, c] = grad_v
    return value, dict(Vc=grad_Vc, U=grad_U)


def vectors(seed: int):
    rng = np.random.default_rng(seed)
    d, V = rng.integers(1, 5), rng.integers(3, 8)
    return rng, V, rng.standard_normal((d, V)), rng.standard_normal((d, V))


@pytest.mark.parametrize("seed", range(4))
def test_the_naive_softmax_loss_and_gradients_are_cs224n_s(seed):
    rng, V, Vc, U = vectors(seed)
    c = int(rng.integers(V))
    o = c if seed == 0 else int(rng.integers(V))   # a word may be in its own window
    assert_gradients(symgrad.load(str(EXAMPLES / "word2vec_naive.sg")), dict(Vc=Vc, U=U, c=c, o=o),
                     *naive_softmax(Vc, U, c, o))


@pytest.mark.parametrize("seed", range(4))
def test_the_negative_sampling_loss_and_gradients_are_cs224n_s(seed):
    rng, V, Vc, U = vectors(seed)
    c, o = int(rng.integers(V)), int(rng.integers(V))
    k = np.append(rng.integers(0, V, rng.integers(1, 2 * V)), [o, c, c])   # repeats, o and c among them
    assert_gradients(symgrad.load(str(EXAMPLES / "word2vec_negative.sg")), dict(Vc=Vc, U=U, c=c, o=o, k=k),
                     *negative_sampling(Vc, U, c, o, k))


@pytest.mark.parametrize("name", ["word2vec_naive.sg", "word2vec_negative.sg"])
def test_symgrad_check_passes(name):
    report = symgrad.check(str(EXAMPLES / name))
    assert report.passed, report.to_json()


@pytest.mark.parametrize("loss", ["negative", "naive"])
def test_a_short_training_lowers_the_loss_and_makes_the_planted_pair_neighbours(loss):
    example = word2vec()
    history = example.train(loss, epochs=3, out=io.StringIO())
    assert history["loss"][-1] < 0.9 * history["loss"][0]
    first, second = example.PLANTED
    assert example.neighbours(history, first, 1) == [second]
    assert example.neighbours(history, second, 1) == [first]


def test_the_command_line_prints_the_loss_and_the_neighbours(capsys):
    assert word2vec().main(["--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "epoch   1/1" in printed and "nearest to" in printed
