"""examples/window_ner.py: the max-margin window classifier trains, word
vectors included, on its made-up corpus; examples/window_ner.sg's value and
gradients, ∂J/∂L included, are those written by hand in NumPy."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from checking import imported
from test_examples_labels import assert_gradients

import symgrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def window_ner():
    return imported(EXAMPLES / "window_ner.py")


def test_a_short_training_lowers_the_loss_and_beats_chance_on_held_out_windows():
    history = window_ner().train(epochs=3, out=io.StringIO())
    assert history["loss"][-1] < history["loss"][0] / 2
    assert history["accuracy"][-1] >= 0.75   # half the held-out windows are true: chance is 50%


def test_the_word_vectors_of_the_cities_are_trained():
    example = window_ner()
    before = example.train(epochs=0, out=io.StringIO())
    after = example.train(epochs=1, out=io.StringIO())
    cities = [before["vocabulary"].index(city) for city in example.LOCATIONS]
    moved = np.linalg.norm(after["params"]["L"][:, cities] - before["params"]["L"][:, cities], axis=0)
    assert np.all(moved > 1e-3)


def window_input(L, window):
    """x: the word vectors L[:, w[0]], ..., L[:, w[4]], one under the other."""
    return np.concatenate([L[:, word] for word in window])


def window_loss_and_gradients(L, W, b, u, w, wc):
    """The max-margin loss of two windows of word ids and its gradients, by
    hand; the gradient of x is cut back into five word vectors, each added to
    its word's column of L."""
    d = L.shape[0]
    x, xc = window_input(L, w), window_input(L, wc)
    h, hc = 1 / (1 + np.exp(-(W @ x + b))), 1 / (1 + np.exp(-(W @ xc + b)))
    J = max(0.0, 1 + u @ hc - u @ h)
    active = float(J > 0)                       # max routes to 0 when 1 + s_c - s <= 0
    delta, delta_c = -active * u * h * (1 - h), active * u * hc * (1 - hc)
    grad_L = np.zeros_like(L)
    for window, dz in ((w, delta), (wc, delta_c)):
        dx = W.T @ dz
        for position, word in enumerate(window):
            grad_L[:, word] += dx[position * d:(position + 1) * d]
    grads = dict(L=grad_L, W=np.outer(delta, x) + np.outer(delta_c, xc), b=delta + delta_c, u=active * (hc - h))
    return J, grads


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("margin", ["active", "met"])
def test_the_gradient_with_respect_to_the_word_vectors_is_the_one_written_by_hand(seed, margin):
    """Random sizes; the windows repeat a word (padding) and share others, so
    the scatter back into L must add, not overwrite. u is set so that the
    corrupt window scores higher (every gradient at work) or the true one wins
    by 10 (J = 0, no gradient)."""
    model = symgrad.load(str(EXAMPLES / "window_ner.sg"))
    rng = np.random.default_rng(seed)
    d, n, V = rng.integers(1, 4), rng.integers(2, 5), rng.integers(6, 9)
    w, wc = np.array([0, 0, 1, 2, 3]), np.array([0, 0, 4, 2, 3])
    L, W, b, u = (rng.standard_normal(shape) for shape in ((d, V), (n, 5 * d), n, n))
    gap = 1 / (1 + np.exp(-(W @ window_input(L, wc) + b))) - 1 / (1 + np.exp(-(W @ window_input(L, w) + b)))
    u = u * np.sign(u @ gap) if margin == "active" else -10 * gap / (gap @ gap)
    arguments = dict(L=L, W=W, b=b, u=u, w=w, wc=wc)
    want_J, want = window_loss_and_gradients(**arguments)
    assert (want_J > 0) == (margin == "active")
    assert_gradients(model, arguments, want_J, want)
    # the training loop's sparse form: the windows' words and their columns of the same gradient
    J, sparse = model.value_and_grad_sparse(**arguments)
    np.testing.assert_allclose(J, want_J, rtol=1e-10, atol=1e-12)
    assert list(sparse.L.ids) == sorted(set(w) | set(wc))
    np.testing.assert_allclose(sparse.L.values, want["L"][:, sorted(set(w) | set(wc))], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse.L.dense(), want["L"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse.W, want["W"], rtol=1e-10, atol=1e-12)


def test_the_model_passes_symgrad_check():
    assert symgrad.check(str(EXAMPLES / "window_ner.sg")).passed


def test_the_command_line_prints_the_loss_and_the_final_accuracy(capsys):
    assert window_ner().main(["--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "epoch   2/2" in printed and "held-out accuracy" in printed and "chance: 50%" in printed
