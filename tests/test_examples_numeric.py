"""The lecture's worked examples (../shared/spec/worked-examples.md, items
1 to 9) run through the generated NumPy code: each example in examples/ is
compiled with symgrad.load, run at the worked point in float64, and its value
and gradients are compared with the listed numbers to the digits given.
Items 7 to 9 list no numbers: their gradients are compared with finite
differences or with the closed forms the item gives, at seeded random points.
(tests/test_worked_examples.py checks the same items exactly, with SymPy.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradcheck import check_grads

import symgrad
from symgrad import optim

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    return symgrad.load(str(EXAMPLES / name))


def agrees(value, listed) -> bool:
    """value equals the listed number (a string, or nested lists of them) to
    the digits given: within half a unit of its last decimal place."""
    value, listed = np.asarray(value, dtype=np.float64), np.asarray(listed, dtype=str)
    if value.shape != listed.shape:
        return False
    return all(abs(v - float(text)) <= 0.5 * 10.0 ** -len(text.partition(".")[2]) + 1e-12
               for v, text in zip(value.ravel(), listed.ravel()))


def test_agrees_reads_the_digits_given():
    assert agrees(0.196611, "0.19661") and not agrees(0.19667, "0.19661")
    assert agrees(715.0, "715") and not agrees(716.0, "715")
    assert agrees([0.22, 0.26], ["0.22", "0.26"]) and not agrees([0.22], ["0.22", "0.26"])


def assert_gradients(grads, expected: dict):
    for name, listed in expected.items():
        got = getattr(grads, name)
        assert agrees(got, listed), f"d/d{name}: got {np.asarray(got).tolist()}, listed {listed}"


# ----------------------------------------------------------- 1. apple, orange

def test_apple_and_orange_price_and_gradients():
    price, grads = load("apple_orange.sg").value_and_grad(
        apple=100.0, apple_num=2.0, orange=150.0, orange_num=3.0, tax=1.1)
    assert agrees(price, "715")
    assert_gradients(grads, dict(apple="2.2", apple_num="110", orange="3.3", orange_num="165", tax="650"))


def test_apple_alone_price_and_gradients():
    price, grads = load("apple.sg").value_and_grad(apple=100.0, apple_num=2.0, tax=1.1)
    assert agrees(price, "220")
    assert_gradients(grads, dict(apple="2.2", apple_num="110", tax="200"))


# ------------------------------------------------------------ 2. max branch

def test_gradients_sum_at_a_branch_and_max_routes():
    f, grads = load("max_branch.sg").value_and_grad(x=1.0, y=2.0, z=0.0)
    assert agrees(f, "6")
    assert_gradients(grads, dict(x="2", y="5", z="0"))


# -------------------------------------------------------- 3. sigmoid neuron

def test_sigmoid_neuron():
    f, grads = load("sigmoid_neuron.sg").value_and_grad(w0=2.0, w1=-3.0, w2=-3.0, x0=-1.0, x1=-2.0)
    assert agrees(f, "0.73106")
    assert_gradients(grads, dict(w0="-0.19661", w1="-0.39322", w2="0.19661", x0="0.39322", x1="-0.58984"))


# ---------------------------------------------------------------- 4. ||W x||²

def test_squared_norm_of_w_x():
    f, grads = load("norm_wx.sg").value_and_grad(W=np.array([[0.1, 0.5], [-0.3, 0.8]]), x=np.array([0.2, 0.4]))
    assert agrees(f, "0.116")
    assert_gradients(grads, dict(W=[["0.088", "0.176"], ["0.104", "0.208"]], x=["-0.112", "0.636"]))


# --------------------------------------------------------- 5. two-layer net

def two_layer_params() -> dict:
    return dict(W1=np.array([[0.15, 0.20], [0.25, 0.30]]), b1=0.35,
                W2=np.array([[0.40, 0.45], [0.50, 0.55]]), b2=0.60)


def two_layer_gradients(params: dict):
    return load("two_layer.sg").value_and_grad(i=np.array([0.05, 0.10]), target=np.array([0.01, 0.99]),
                                               **params)


def test_two_layer_network_error_and_gradients():
    E, grads = two_layer_gradients(two_layer_params())
    assert agrees(E, "0.298371")
    assert_gradients(grads, dict(
        W2=[["0.082167", "0.082668"], ["-0.022603", "-0.022740"]],
        W1=[["0.00043857", "0.00087714"], ["0.00049771", "0.00099543"]],
        b1="0.0187256", b2="0.1004003"))


def test_two_layer_network_one_sgd_step():
    params = two_layer_params()
    _, grads = two_layer_gradients(params)
    stepped = optim.SGD(lr=0.5).step(params, grads)
    assert agrees(stepped["W2"][0, 0], "0.358916")   # w5
    assert agrees(stepped["W1"][0, 0], "0.149781")   # w1


# --------------------------------------------------------------- 6. SVM loss

def test_svm_loss_with_an_active_margin():
    L, grads = load("svm_loss.sg").value_and_grad(s=np.array([13.0, -7.0, 11.0]), y=np.array([1.0, 0.0, 0.0]),
                                                  delta=10.0)
    assert agrees(L, "8")
    # the one active margin, class 3: its score counts +1, the true class's -1
    np.testing.assert_array_equal(grads.s, [-1.0, 0.0, 1.0])


def test_svm_loss_with_every_margin_met():
    L, grads = load("svm_loss.sg").value_and_grad(s=np.array([4.26, 1.33]), y=np.array([1.0, 0.0]), delta=1.0)
    assert agrees(L, "0")
    np.testing.assert_array_equal(grads.s, [0.0, 0.0])


# ------------------------------------------------------------- 7. window NER

def window_ner_inputs(seed: int):
    """L, W, b, u and two windows of five word ids that repeat and share words."""
    rng = np.random.default_rng(seed)
    d, V, n = 2, 6, 3
    L, W = rng.uniform(-1, 1, (d, V)), rng.uniform(-1, 1, (n, 5 * d))
    b, u = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    return L, W, b, u, np.array([1, 4, 0, 4, 2]), np.array([1, 4, 5, 4, 3])


def test_window_ner_gradients_agree_with_finite_differences():
    L, W, b, u, w, wc = window_ner_inputs(7)
    model = load("window_ner.sg")
    assert model.evaluate(L, W, b, u, w, wc) > 0   # the margin is active: every gradient is at work
    check_grads(model, text=(EXAMPLES / "window_ner.sg").read_text(encoding="utf-8"), args=[L, W, b, u, w, wc])


def test_window_ner_loss_is_zero_when_the_true_window_wins_by_the_margin():
    L, W, b, _, w, wc = window_ner_inputs(8)
    x, xc = L[:, w].reshape(-1, order="F"), L[:, wc].reshape(-1, order="F")   # the words' columns, stacked
    h, hc = 1 / (1 + np.exp(-(W @ x + b))), 1 / (1 + np.exp(-(W @ xc + b)))
    u = 10 * (h - hc) / np.sum((h - hc) ** 2)   # s - s_c = u^T (h - h_c) = 10
    J, grads = load("window_ner.sg").value_and_grad(L, W, b, u, w, wc)
    assert J == 0
    assert all(not np.any(g) for g in grads)


# ----------------------------------------------------- 8. softmax classifier

def test_softmax_classifier_gradient_is_the_lectures_closed_form():
    rng = np.random.default_rng(8)
    C, D, N, lam = 3, 4, 5, 0.1
    W, b, X = rng.standard_normal((C, D)), rng.standard_normal(C), rng.standard_normal((D, N))
    Y = np.eye(C)[:, rng.integers(0, C, N)]
    J, grads = load("softmax_classifier.sg").value_and_grad(W, b, X, Y, lam)
    S = W @ X + b[:, None]
    P = np.exp(S) / np.exp(S).sum(axis=0)
    np.testing.assert_allclose(J, -np.sum(Y * np.log(P)) / N + lam * np.sum(W * W), rtol=1e-12)
    np.testing.assert_allclose(grads.W, (P - Y) @ X.T / N + 2 * lam * W, rtol=1e-10)
    np.testing.assert_allclose(grads.b, (P - Y).sum(axis=1) / N, rtol=1e-10, atol=1e-15)


# ------------------------------------------------------------- 9. identities

RNG = np.random.default_rng(9)


def test_quadratic_form_gradient_is_a_plus_a_transpose_x():
    A, x = RNG.standard_normal((3, 3)), RNG.standard_normal(3)
    q, grads = load("quadratic_form.sg").value_and_grad(A, x)
    np.testing.assert_allclose(q, x @ A @ x, rtol=1e-12)
    np.testing.assert_allclose(grads.x, (A + A.T) @ x, rtol=1e-12)


def test_trace_of_axb_gradient_is_a_transpose_b_transpose():
    A, X, B = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))
    t, grads = load("trace_axb.sg").value_and_grad(A, X, B)
    np.testing.assert_allclose(t, np.trace(A @ X @ B), rtol=1e-12)
    np.testing.assert_allclose(grads.X, A.T @ B.T, rtol=1e-12)


def test_logdet_gradient_is_the_inverse_transposed():
    X = RNG.standard_normal((3, 3)) + 3 * np.eye(3)   # not symmetric: X^-T differs from X^-1
    l, grads = load("logdet.sg").value_and_grad(X)
    np.testing.assert_allclose(l, np.log(np.linalg.det(X)), rtol=1e-12)
    np.testing.assert_allclose(grads.X, np.linalg.inv(X).T, rtol=1e-10)


def test_logistic_regression_gradient():
    w, X, y = RNG.standard_normal(2), RNG.standard_normal((5, 2)), RNG.choice([-1.0, 1.0], 5)
    L, grads = load("logistic_regression.sg").value_and_grad(w, X, y)
    margins = y * (X @ w)
    np.testing.assert_allclose(L, np.sum(np.log1p(np.exp(-margins))), rtol=1e-12)
    np.testing.assert_allclose(grads.w, -X.T @ (y / (1 + np.exp(margins))), rtol=1e-10)


@pytest.mark.parametrize("name", ["apple_orange.sg", "apple.sg", "max_branch.sg", "sigmoid_neuron.sg",
                                  "norm_wx.sg", "two_layer.sg", "svm_loss.sg", "window_ner.sg",
                                  "softmax_classifier.sg", "quadratic_form.sg", "trace_axb.sg", "logdet.sg",
                                  "logistic_regression.sg", "softmax_labels.sg", "svm_labels.sg",
                                  "two_layer_labels.sg", "word2vec_naive.sg", "word2vec_negative.sg",
                                  "lstm_cell.sg"])
def test_every_worked_example_opens_with_a_comment(name):
    assert (EXAMPLES / name).read_text(encoding="utf-8").startswith("# ")
