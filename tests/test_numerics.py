"""Numerics of the classification functions, against a high-precision
reference; and the generated code at kinks.

softmax, log_softmax, logsumexp, sigmoid, softplus, log(sigmoid), the
stable forms lowering rewrites (log(1 + exp(x)), 1 / (1 + exp(-x)),
log(1 - sigmoid(x)), log(softmax(S))) and cross-entropy, with their
gradients, through the generated NumPy code in float64, at inputs up to
1e4 in magnitude of both signs: at a grid of hard points (where exp
overflows or underflows, where 1 - sigmoid or 1 - softmax cancels) and at
points Hypothesis draws.

Every value and every gradient entry must be finite, and equal to the
exact value of the same float64 inputs (mpmath, 60 digits) within

    |computed - exact| <= 1e-12 |exact| + 4 eps sum_k |x_k d(exact)/dx_k|

wherever the exact value is a normal float64 (neither overflowing nor
under 2.2e-308, where a relative error means nothing). The second term is
the value's own condition: what rounding each input by half an ulp would
change the exact value by, which no float64 algorithm can avoid (it matters
only where a result cancels to near 0, such as logsumexp of [-log 2, -log 2]).
It is computed in mpmath too, by differentiating the reference.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad

mpmath.mp.dps = 60
EPS = float(np.finfo(np.float64).eps)
TINY = float(np.finfo(np.float64).tiny)     # the smallest normal float64
HUGE = float(np.finfo(np.float64).max)
RTOL = 1e-12

# Magnitudes where something happens: exp over- and underflows (709.8,
# -745), 1 - sigmoid(x) rounds to 0 (x > 36.7), e^-x is under eps, ...
MAGNITUDES = [0.0, 1e-300, 1e-8, 1e-3, 0.5, 1.0, 2.0, 10.0, 20.0, 30.0, 36.0, 37.0, 40.0, 50.0, 100.0,
              300.0, 700.0, 708.0, 709.0, 710.0, 745.0, 746.0, 800.0, 1000.0, 5000.0, 9999.5, 1e4]
GRID = sorted({sign * m for m in MAGNITUDES for sign in (1.0, -1.0)})


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.mktemp("symgrad-cache")))
        yield


_modules: dict[str, object] = {}


def compiled(text: str):
    if text not in _modules:
        _modules[text] = symgrad.compile_source(text)
    return _modules[text]


# ------------------------------------------------------------- the reference

def mp(values):
    return [mpmath.mpf(float(v)) for v in values]


def sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def softplus(x):
    return mpmath.log1p(mpmath.exp(x))


# Written without cancellation, so that 60 digits are 60 digits also where
# the result is 1e-300 next to 1 (the largest entry's log_softmax).

def logsumexp(s):
    """m + log1p(the sum of exp(v - m) over all entries but one largest)."""
    top = s.index(max(s))
    return s[top] + mpmath.log1p(mpmath.fsum(mpmath.exp(v - s[top]) for k, v in enumerate(s) if k != top))


def log_softmax(s):
    top = s.index(max(s))
    rest = mpmath.log1p(mpmath.fsum(mpmath.exp(v - s[top]) for k, v in enumerate(s) if k != top))
    return [(v - s[top]) - rest for v in s]


def softmax(s):
    return [mpmath.exp(v) for v in log_softmax(s)]


def one_minus_softmax(s):
    return [-mpmath.expm1(v) for v in log_softmax(s)]


def softmax_partial(s, i, j):
    """d softmax(s)_i / ds_j = P_i ([i = j] - P_j)."""
    return softmax(s)[i] * (one_minus_softmax(s)[i] if i == j else -softmax(s)[j])


def log_softmax_partial(s, i, j):
    """d log_softmax(s)_i / ds_j = [i = j] - P_j."""
    return one_minus_softmax(s)[j] if i == j else -softmax(s)[j]


def sensitivity(f, x) -> mpmath.mpf:
    """sum_k |x_k df/dx_k| at x (a list of mpf): how much rounding the inputs
    moves the exact value, per unit of relative error in them."""
    total = mpmath.mpf(0)
    for k, xk in enumerate(x):
        if xk == 0:
            continue
        def along(t, k=k):
            moved = list(x)
            moved[k] = t
            return f(moved)
        total += abs(xk * mpmath.diff(along, xk))
    return total


def assert_accurate(what: str, computed, exact, f, x):
    """computed (a float64) is finite and within the tolerance of exact,
    the value of f (a function of the list x) at x."""
    computed = float(computed)
    assert np.isfinite(computed), f"{what} = {computed} at {x}"
    if not TINY <= abs(exact) <= HUGE:
        # underflows: any float within the smallest normal of it will do
        assert abs(exact) > HUGE or abs(computed - exact) <= TINY, f"{what} = {computed}, exact {exact}"
        return
    bound = RTOL * abs(exact)
    error = abs(computed - exact)
    if error > bound:  # only then is the condition worth computing
        bound += 4 * EPS * sensitivity(f, x)
    assert error <= bound, (f"{what} at {[float(v) for v in x]}: computed {computed!r}, exact "
                            f"{mpmath.nstr(exact, 20)}, relative error {float(error / abs(exact)):.3g}")


# -------------------------------------------------- elementwise, one scalar

# Each case: the model's expression of x, and the exact function and derivative.
SCALAR = {
    "sigmoid": ("sigmoid(x)", sigmoid, lambda x: sigmoid(x) * sigmoid(-x)),
    "σ": ("σ(x)", sigmoid, lambda x: sigmoid(x) * sigmoid(-x)),
    "softplus": ("softplus(x)", softplus, sigmoid),
    "log_sigmoid": ("log(sigmoid(x))", lambda x: -softplus(-x), lambda x: sigmoid(-x)),
    "log_one_plus_exp": ("log(1 + exp(x))", softplus, sigmoid),
    "one_over_one_plus_exp": ("1 / (1 + exp(-x))", sigmoid, lambda x: sigmoid(x) * sigmoid(-x)),
    "log_one_minus_sigmoid": ("log(1 - sigmoid(x))", lambda x: -softplus(x), lambda x: -sigmoid(x)),
    "tanh": ("tanh(x)", mpmath.tanh, lambda x: mpmath.sech(x) ** 2),
}


def check_scalar(name: str, x: float):
    expression, f, derivative = SCALAR[name]
    module = compiled(f"param x : R\ny = {expression}\ngrad y\n")
    value, grads = module.value_and_grad(x)
    (point,) = mp([x])
    assert_accurate(f"{expression}", value, f(point), lambda v: f(v[0]), [point])
    assert_accurate(f"d/dx {expression}", grads.x, derivative(point), lambda v: derivative(v[0]), [point])


@pytest.mark.parametrize("name", SCALAR)
def test_elementwise_function_and_derivative_on_the_grid(name):
    for x in GRID:
        check_scalar(name, x)


@pytest.mark.parametrize("name", SCALAR)
@settings(max_examples=60, deadline=None, derandomize=True)
@given(x=st.floats(-1e4, 1e4))
def test_elementwise_function_and_derivative_at_random_points(name, x):
    check_scalar(name, x)


def test_sigmoid_derivative_keeps_its_digits_where_one_minus_sigmoid_rounds_to_0():
    """sigma'(x) = sigma(x) (1 - sigma(x)) loses every digit for x > 37
    when 1 - sigma(x) is computed as written; it is sigma(x) sigma(-x)."""
    module = compiled("param x : R\ny = sigmoid(x)\ngrad y\n")
    slope = float(module.value_and_grad(40.0)[1].x)
    assert slope == pytest.approx(float(sigmoid(mpmath.mpf(40)) * sigmoid(mpmath.mpf(-40))), rel=1e-14)


def test_tanh_derivative_keeps_its_digits_in_both_tails_beside_small_entries():
    """tanh'(x) = 1 - tanh(x)^2 is 0 as written for |x| > 19.1 (7.2e-35 at
    x = 40) and loses digits from |x| ~ 1 on; in a vector whose other
    entries are small (the slope's fast case), every entry is still exact
    to RTOL."""
    module = compiled("input x : R^n\ny = sum(tanh(x))\ngrad y wrt x\n")
    for tail in (2.5, 5.0, 19.0, 20.0, 40.0, 300.0, 354.0, 360.0, 700.0, 710.0, 1e4):
        for sign in (1.0, -1.0):
            x = np.array([0.0, 0.01, -0.3, 0.5, sign * tail, 1.0, -2.0])
            for entry, slope in zip(mp(x), module.value_and_grad(x)[1].x):
                exact = mpmath.sech(entry) ** 2
                assert_accurate("tanh'", slope, exact, lambda v: mpmath.sech(v[0]) ** 2, [entry])
    assert float(module.value_and_grad(np.array([40.0]))[1].x[0]) == pytest.approx(7.2e-35, rel=0.01)


# ------------------------------------------------ per column: vectors

def scores():
    """A column of 2 to 4 scores: a base anywhere in [-1e4, 1e4] plus
    offsets that keep some entries within exp's range of each other."""
    offsets = st.one_of(st.floats(-60, 60), st.sampled_from([0.0, -1e-9, 1e-9, -36.7, 36.7, -709.0, -746.0]),
                        st.floats(-2e4, 2e4))
    return st.tuples(st.floats(-1e4, 1e4), st.lists(offsets, min_size=2, max_size=4)).map(
        lambda pair: [float(np.clip(pair[0] + offset, -1e4, 1e4)) for offset in pair[1]])


HARD_COLUMNS = [
    [0.0, 0.0], [30.0, 0.0, -5.0], [50.0, 0.0, 0.0], [0.0, -50.0, -50.0], [1e4, 0.0, -1e4],
    [-1e4, -1e4 + 1, -1e4 + 40], [700.0, 0.0, 1.0], [20.0, 19.0, 0.0], [-0.5, -1.0, -3.0],
    [1e4, 1e4, 1e4], [-1e4, -1e4], [745.0, 0.0], [36.0, 0.0, 0.0, 0.0], [-1e4, 1e4, 0.5, -0.5],
    [-0.6931471805599453, -0.6931471805599453],  # logsumexp cancels to 2.3e-17: within the condition term
]


def one_hot(n: int, i: int) -> np.ndarray:
    u = np.zeros(n)
    u[i] = 1.0
    return u


def check_entries(function: str, s: list[float]):
    """u^T function(s) for every one-hot u: each entry of softmax(s) (or
    log_softmax(s)), and each row of its Jacobian."""
    module = compiled(f"param s : R^n\ninput u : R^n\ny = u^T {function}(s)\ngrad y wrt s\n")
    entries, partials = {"softmax": (softmax, softmax_partial), "log_softmax": (log_softmax, log_softmax_partial)}[
        function]
    x = mp(s)
    for i in range(len(s)):
        value, grads = module.value_and_grad(np.array(s), one_hot(len(s), i))
        entry = lambda v, i=i: entries(v)[i]
        assert_accurate(f"{function}(s)[{i}]", value, entry(x), entry, x)
        for j in range(len(s)):
            partial = lambda v, i=i, j=j: partials(v, i, j)
            assert_accurate(f"d {function}(s)[{i}] / ds[{j}]", grads.s[j], partial(x), partial, x)


def check_logsumexp(s: list[float]):
    module = compiled("param s : R^n\ny = logsumexp(s)\ngrad y\n")
    x = mp(s)
    value, grads = module.value_and_grad(np.array(s))
    assert_accurate("logsumexp(s)", value, logsumexp(x), logsumexp, x)
    for j in range(len(s)):
        partial = lambda v, j=j: softmax(v)[j]
        assert_accurate(f"d logsumexp(s) / ds[{j}]", grads.s[j], partial(x), partial, x)


CROSS_ENTROPY = {
    "log_softmax": "param S : R^(k x N)\ninput Y : R^(k x N)\nJ = -sum(Y ∘ log_softmax(S))\ngrad J wrt S\n",
    "log(softmax)": "param S : R^(k x N)\ninput Y : R^(k x N)\nJ = -sum(Y ∘ log(softmax(S)))\ngrad J wrt S\n",
}


def check_cross_entropy(columns: list[list[float]], labels: list[int], spelling: str):
    """-sum(Y ∘ log_softmax(S)) over a batch whose columns are examples,
    Y one-hot: the sum of -log p(label) and the gradient P - Y."""
    k = len(columns[0])
    S = np.array(columns).T
    Y = np.stack([one_hot(k, label) for label in labels], axis=1)
    value, grads = compiled(CROSS_ENTROPY[spelling]).value_and_grad(S, Y)
    flat = mp(S.reshape(-1))  # row-major: entry (r, c) is flat[r * N + c]
    n = S.shape[1]

    def column(v, c):
        return [v[r * n + c] for r in range(k)]

    def loss(v):
        return -mpmath.fsum(log_softmax(column(v, c))[labels[c]] for c in range(n))

    assert_accurate("cross-entropy", value, loss(flat), loss, flat)
    for r in range(k):
        for c in range(n):
            partial = lambda v, r=r, c=c: -log_softmax_partial(column(v, c), labels[c], r)
            assert_accurate(f"dJ/dS[{r}, {c}]", grads.S[r, c], partial(flat), partial, flat)


COLUMN_CHECKS = {"softmax": lambda s: check_entries("softmax", s),
                 "log_softmax": lambda s: check_entries("log_softmax", s), "logsumexp": check_logsumexp}


@pytest.mark.parametrize("function", COLUMN_CHECKS)
@pytest.mark.parametrize("column", HARD_COLUMNS, ids=str)
def test_per_column_function_and_gradient_at_hard_points(function, column):
    COLUMN_CHECKS[function](column)


@pytest.mark.parametrize("function", COLUMN_CHECKS)
@settings(max_examples=40, deadline=None, derandomize=True)
@given(column=scores())
def test_per_column_function_and_gradient_at_random_points(function, column):
    COLUMN_CHECKS[function](column)


@pytest.mark.parametrize("spelling", CROSS_ENTROPY)
def test_cross_entropy_and_gradient_at_hard_points(spelling):
    columns = [c for c in HARD_COLUMNS if len(c) == 3]
    for first in range(3):
        check_cross_entropy(columns, [(first + c) % 3 for c in range(len(columns))], spelling)


@pytest.mark.parametrize("spelling", CROSS_ENTROPY)
@settings(max_examples=30, deadline=None, derandomize=True)
@given(data=st.data())
def test_cross_entropy_and_gradient_at_random_points(spelling, data):
    k = data.draw(st.integers(2, 4))
    columns = data.draw(st.lists(scores().filter(lambda c: len(c) >= k).map(lambda c: c[:k]),
                                 min_size=1, max_size=3))
    labels = data.draw(st.lists(st.integers(0, k - 1), min_size=len(columns), max_size=len(columns)))
    check_cross_entropy(columns, labels, spelling)


def test_log_softmax_of_a_dominant_score_is_its_tiny_negative_not_0():
    """log_softmax([50, 0, 0])[0] = -log(1 + 2 e^-50) = -3.86e-22: the
    logsumexp is taken as max + log1p(the rest), not log(1 + the rest)."""
    module = compiled("param s : R^n\ninput u : R^n\ny = u^T log_softmax(s)\ngrad y wrt s\n")
    value, grads = module.value_and_grad(np.array([50.0, 0.0, 0.0]), one_hot(3, 0))
    assert float(value) == pytest.approx(-3.8574996959278356e-22, rel=1e-14)
    assert float(grads.s[0]) == pytest.approx(3.8574996959278356e-22, rel=1e-14)


def test_softmax_gradient_of_a_dominant_score_keeps_its_digits():
    """d softmax(s)_0 / ds_0 = P_0 (1 - P_0): with s = [30, 0, -5], 1 - P_0
    is 9.4e-14 and computing it as 1 - P_0 keeps only 3 digits."""
    module = compiled("param s : R^n\ninput u : R^n\ny = u^T softmax(s)\ngrad y wrt s\n")
    grads = module.value_and_grad(np.array([30.0, 0.0, -5.0]), one_hot(3, 0))[1]
    exact = softmax_partial(mp([30.0, 0.0, -5.0]), 0, 0)
    assert float(grads.s[0]) == pytest.approx(float(exact), rel=1e-14)


def test_logsumexp_just_above_0_is_not_rounded_to_0():
    """logsumexp([0, -50, -50]) = log(1 + 2 e^-50) = 3.86e-22."""
    module = compiled("param s : R^n\ny = logsumexp(s)\ngrad y\n")
    assert float(module.evaluate(np.array([0.0, -50.0, -50.0]))) == pytest.approx(3.8574996959278356e-22, rel=1e-14)


# ------------------------------------------- kinks, in the generated code

# At the exact kink, the conventions of language.md ("Derivatives at kinks"),
# here through the NumPy code (tests/test_differentiation.py checks the same
# points on symgrad's gradient graphs).
KINKS = {
    "relu'(0) = 0": ("input x : R^3\ns = sum(relu(x))\ngrad s wrt x\n", [[0.0, 2, -1]], [[0, 1, 0]]),
    "abs'(0) = 0": ("input x : R^3\ns = sum(abs(x)) + norm1(2 x)\ngrad s wrt x\n", [[0.0, 2, -1]], [[0, 3, -3]]),
    "max routes to a at a tie": ("input a : R^3\ninput b : R^3\ns = sum(max(a, b))\ngrad s wrt a, b\n",
                                 [[1.0, 1, 0], [1.0, 0, 1]], [[1, 1, 0], [0, 0, 1]]),
    "min routes to a at a tie": ("input a : R^3\ninput b : R^3\ns = sum(min(a, b))\ngrad s wrt a, b\n",
                                 [[1.0, 1, 0], [1.0, 0, 1]], [[1, 0, 1], [0, 1, 0]]),
    "in a user function": ("f(a, b) = max(a, b) + min(a, b) + relu(a) + abs(b)\ninput a : R^2\ninput b : R^2\n"
                           "s = sum(f(a, b))\ngrad s wrt a, b\n", [[0.0, 0], [0.0, 1]], [[2, 1], [0, 2]]),
    "hardtanh inside only, leaky_relu and elu at 0 as below": (
        "input x : R^3\ns = sum(hardtanh(x) + leaky_relu(x, 0.3) + elu(x, 2))\ngrad s wrt x\n",
        [[-1.0, 0, 1]], [[0.3 + 2 * np.exp(-1), 1 + 0.3 + 2, 2]]),
}


@pytest.mark.parametrize("name", KINKS)
def test_the_generated_code_follows_the_conventions_at_kinks(name):
    text, args, expected = KINKS[name]
    grads = compiled(text).value_and_grad(*(np.array(a) for a in args))[1]
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("text, zero", [
    ("param x : R^n\ny = ||x||\ngrad y\n", np.zeros(3)),
    ("param x : R\ny = ||x||\ngrad y\n", 0.0),
    ("param W : R^(n x m)\ny = 3 ||W|| + sum(W)\ngrad y\n", np.zeros((2, 3))),
])
def test_the_gradient_of_a_norm_at_0_is_0_like_abs_at_0(text, zero):
    """||A|| has no derivative at A = 0; its gradient there is 0, as
    abs'(0) = 0 (a weight initialized to zeros under a norm penalty), not
    the 0/0 = nan of g A / ||A||."""
    value, grads = compiled(text).value_and_grad(zero)
    expected = 0.0 if "sum(W)" not in text else 1.0
    assert float(value) == 0.0
    np.testing.assert_array_equal(grads[0], np.full(np.shape(zero), expected))
