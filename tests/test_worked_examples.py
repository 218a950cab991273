"""The lecture's worked examples (../shared/spec/worked-examples.md), checked
symbolically: each example in examples/ is evaluated with the SymPy
evaluator of tests/symbolic.py at the worked point, exactly, and its value and
gradients are compared with the listed numbers to the digits given.
(Tests of the generated NumPy code at the same points live elsewhere.)
"""

from __future__ import annotations

import random
from pathlib import Path

import sympy
from symbolic import STRUCTURAL, Model, Rational, exact, matrix, mismatches

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str, values: dict, sizes: dict | None = None) -> Model:
    return Model(str(EXAMPLES / name), sizes or {}, values)


def agrees(value, listed) -> bool:
    """value equals the listed number (a string, or nested lists of them) to
    the digits given: within half a unit of its last decimal place."""
    if isinstance(value, sympy.MatrixBase):
        value = value.tolist() if value.cols > 1 else list(value)
        if isinstance(listed, str):
            listed = [listed]
    if isinstance(listed, list):
        return len(value) == len(listed) and all(agrees(v, l) for v, l in zip(value, listed))
    decimals = len(listed.partition(".")[2])
    return abs(sympy.N(value, 30) - Rational(listed)) <= Rational(1, 2) / 10 ** decimals


def test_agrees_reads_the_digits_given():
    assert agrees(Rational(196611, 1000000), "0.19661")
    assert not agrees(Rational(19667, 100000), "0.19661")
    assert agrees(sympy.Integer(715), "715") and not agrees(sympy.Integer(716), "715")


# ----------------------------------------------------------- 1. apple, orange

def test_apple_and_orange_price_and_gradients():
    model = example("apple_orange.sg", dict(apple=100, apple_num=2, orange=150, orange_num=3, tax=1.1))
    assert agrees(model.value(), "715")
    expected = dict(apple="2.2", apple_num="110", orange="3.3", orange_num="165", tax="650")
    for name, listed in expected.items():
        assert agrees(model.gradient(name), listed), name


def test_apple_alone_price_and_gradients():
    model = example("apple.sg", dict(apple=100, apple_num=2, tax=1.1))
    assert agrees(model.value(), "220")
    for name, listed in dict(apple="2.2", apple_num="110", tax="200").items():
        assert agrees(model.gradient(name), listed), name


# ------------------------------------------------------------ 2. max branch

def test_gradients_sum_at_a_branch_and_max_routes():
    model = example("max_branch.sg", dict(x=1, y=2, z=0))
    assert agrees(model.value(), "6")
    for name, listed in dict(x="2", y="5", z="0").items():
        assert agrees(model.gradient(name), listed), name


# -------------------------------------------------------- 3. sigmoid neuron

def test_sigmoid_neuron():
    model = example("sigmoid_neuron.sg", dict(w0=2, w1=-3, w2=-3, x0=-1, x1=-2))
    assert agrees(model.value(), "0.73106")
    expected = dict(w0="-0.19661", w1="-0.39322", w2="0.19661", x0="0.39322", x1="-0.58984")
    for name, listed in expected.items():
        assert agrees(model.gradient(name), listed), name


# ---------------------------------------------------------------- 4. ||W x||²

def test_squared_norm_of_w_x():
    model = example("norm_wx.sg", dict(W=[[0.1, 0.5], [-0.3, 0.8]], x=[0.2, 0.4]), {"n": 2, "m": 2})
    assert agrees(model.definition("q"), ["0.22", "0.26"])
    assert agrees(model.value(), "0.116")
    assert agrees(model.gradient("W"), [["0.088", "0.176"], ["0.104", "0.208"]])
    assert agrees(model.gradient("x"), ["-0.112", "0.636"])


# --------------------------------------------------------- 5. two-layer net

TWO_LAYER = dict(i=[0.05, 0.10], W1=[[0.15, 0.20], [0.25, 0.30]], b1=0.35,
                 W2=[[0.40, 0.45], [0.50, 0.55]], b2=0.60, target=[0.01, 0.99])


def two_layer() -> Model:
    return example("two_layer.sg", TWO_LAYER, {"m": 2, "k": 2, "o": 2})


def test_two_layer_network_forward_values():
    model = two_layer()
    assert agrees(model.definition("hidden"), ["0.593270", "0.596884"])
    assert agrees(model.definition("out"), ["0.751365", "0.772928"])
    assert agrees(model.value(), "0.298371")


def test_two_layer_network_gradients():
    model = two_layer()
    assert agrees(model.gradient("W2"), [["0.082167", "0.082668"], ["-0.022603", "-0.022740"]])
    assert agrees(model.gradient("W1"), [["0.00043857", "0.00087714"], ["0.00049771", "0.00099543"]])
    assert agrees(model.gradient("b1"), "0.0187256")
    assert agrees(model.gradient("b2"), "0.1004003")


def test_two_layer_network_one_sgd_step():
    model = two_layer()
    rate = exact(0.5)
    w5 = exact(0.40) - rate * model.gradient("W2")[0, 0]
    w1 = exact(0.15) - rate * model.gradient("W1")[0, 0]
    assert agrees(w5, "0.358916")
    assert agrees(w1, "0.149781")


# --------------------------------------------------------------- 6. SVM loss

def test_svm_loss_with_an_active_margin():
    model = example("svm_loss.sg", dict(s=[13, -7, 11], y=[1, 0, 0], delta=10), {"k": 3})
    assert agrees(model.value(), "8")
    # the one active margin, class 3: its score counts +1, the true class's -1
    assert model.gradient("s") == matrix([-1, 0, 1])


def test_svm_loss_with_every_margin_met():
    model = example("svm_loss.sg", dict(s=[4.26, 1.33], y=[1, 0], delta=1), {"k": 2})
    assert agrees(model.value(), "0")
    assert model.gradient("s") == matrix([0, 0])


# ------------------------------------------------------------- 7. window NER

def test_window_ner_gradients_agree_with_finite_differences():
    # The notes' model: windows of five word ids, x = vec(L[:, w]); the word
    # "1" is twice in the true window and in both: its column sums four shares.
    rng = random.Random(7)
    d, V, n = 2, 4, 2
    sizes = {"d": d, "V": V, "n": n}
    values = {"L": [[rng.uniform(-1, 1) for _ in range(V)] for _ in range(d)],
              "W": [[rng.uniform(-1, 1) for _ in range(5 * d)] for _ in range(n)],
              "b": [rng.uniform(-1, 1) for _ in range(n)], "u": [rng.uniform(-1, 1) for _ in range(n)],
              "w": [1, 0, 2, 1, 3], "wc": [1, 0, 3, 1, 2]}
    model = example("window_ner.sg", values, sizes)
    assert sympy.N(model.value()) > 0  # the margin is active: every gradient is at work
    step = Rational(1, 10 ** 6)
    for name in ("L", "W", "b", "u"):
        gradient = model.gradient(name)
        for index in range(len(gradient)):
            def shifted(sign):
                moved = {k: matrix(v) if k not in ("w", "wc") else v for k, v in values.items()}
                moved[name][index] += sign * step
                return example("window_ner.sg", moved, sizes).value()
            central = (shifted(1) - shifted(-1)) / (2 * step)
            assert abs(sympy.N(central - gradient[index], 30)) < 1e-9, (name, index)


# ----------------------------------------------------- 8. softmax classifier

def test_softmax_classifier_gradient_is_the_lectures_closed_form():
    sizes = {"C": 3, "D": 2, "N": 2}
    Y = [[1, 0], [0, 0], [0, 1]]  # one-hot: example 1 in class 1, example 2 in class 3
    model = example("softmax_classifier.sg", {"Y": Y}, sizes)
    symbols = model.evaluator.symbols
    W, X, b, lam = symbols["W"], symbols["X"], symbols["b"], symbols["lambda"][0, 0]
    S = W * X + b * sympy.ones(1, 2)
    closed = (STRUCTURAL["softmax"](S) - matrix(Y)) * X.T / 2 + 2 * lam * W
    difference = (model.gradient("W") - closed).applyfunc(sympy.simplify)
    assert difference == sympy.zeros(3, 2)


# ------------------------------------------------------------- 9. identities

def symbols_of(model: Model, *names):
    return [model.evaluator.symbols[name] for name in names]


def test_quadratic_form_gradient_is_a_plus_a_transpose_x():
    model = example("quadratic_form.sg", {}, {"n": 3})
    A, x = symbols_of(model, "A", "x")
    assert (model.gradient("x") - (A + A.T) * x).expand() == sympy.zeros(3, 1)


def test_trace_of_axb_gradient_is_a_transpose_b_transpose():
    model = example("trace_axb.sg", {}, {"p": 2, "n": 3, "m": 2})
    A, B = symbols_of(model, "A", "B")
    assert (model.gradient("X") - A.T * B.T).expand() == sympy.zeros(3, 2)


def test_logdet_gradient_is_the_inverse_transposed():
    model = example("logdet.sg", {}, {"n": 2})
    (X,) = symbols_of(model, "X")
    assert (model.gradient("X") - X.inv().T).applyfunc(sympy.simplify) == sympy.zeros(2, 2)


def test_logistic_regression_gradient():
    model = example("logistic_regression.sg", {}, {"N": 3, "d": 2})
    w, X, y = symbols_of(model, "w", "X", "y")
    margins = -y.multiply_elementwise(X * w)
    weights = margins.applyfunc(lambda t: sympy.exp(t) / (1 + sympy.exp(t)))
    closed = -X.T * y.multiply_elementwise(weights)   # -Xᵀ (y ∘ σ(-y ∘ X w))
    assert mismatches(model, points=2) == []
    assert (model.gradient("w") - closed).applyfunc(sympy.simplify) == sympy.zeros(2, 1)
