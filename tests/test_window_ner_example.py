"""examples/window_ner.py: the max-margin window classifier trains, word
vectors included, on its made-up corpus."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np

import symgrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def window_ner():
    spec = importlib.util.spec_from_file_location("window_ner", EXAMPLES / "window_ner.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_training_lowers_the_loss_and_beats_chance_on_held_out_windows():
    history = window_ner().train(epochs=3, out=io.StringIO())
    assert history["loss"][-1] < history["loss"][0] / 2
    assert history["accuracy"][-1] >= 0.75   # half the held-out windows are true: chance is 50%


def test_the_word_vectors_of_the_cities_are_trained():
    example = window_ner()
    before = example.train(epochs=0, out=io.StringIO())
    after = example.train(epochs=1, out=io.StringIO())
    cities = [before["vocabulary"].index(city) for city in example.LOCATIONS]
    moved = np.linalg.norm(after["params"]["L"][cities] - before["params"]["L"][cities], axis=1)
    assert np.all(moved > 1e-3)


def test_word_gradients_are_the_gradient_of_the_loss_with_respect_to_the_word_vectors():
    example = window_ner()
    model = symgrad.load(str(EXAMPLES / "window_ner.sg"))
    rng = np.random.default_rng(3)
    dim, hidden, words = 2, 3, 6
    W, b, u = rng.standard_normal((hidden, 5 * dim)), rng.standard_normal(hidden), rng.standard_normal(hidden)
    true, bad = np.array([0, 0, 1, 2, 3]), np.array([0, 0, 4, 2, 3])   # word 0 (padding) twice, shared context

    def loss(L):
        return model.evaluate(W, b, u, L[true].ravel(), L[bad].ravel())

    L = rng.standard_normal((words, dim))
    while loss(L) <= 0:   # the margin must be active for any gradient to flow
        L = rng.standard_normal((words, dim))
    _, grads = model.value_and_grad(W, b, u, L[true].ravel(), L[bad].ravel())
    got = example.word_gradients(grads, true, bad, L.shape)
    step, numeric = 1e-6, np.zeros_like(L)
    for position in np.ndindex(L.shape):
        shift = np.zeros_like(L)
        shift[position] = step
        numeric[position] = (loss(L + shift) - loss(L - shift)) / (2 * step)
    np.testing.assert_allclose(got, numeric, atol=1e-7)
    assert not np.any(got[5])   # a word in neither window gets no gradient


def test_the_command_line_prints_the_loss_and_the_final_accuracy(capsys):
    assert window_ner().main(["--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "epoch   2/2" in printed and "held-out accuracy" in printed and "chance: 50%" in printed
