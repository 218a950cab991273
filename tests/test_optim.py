"""symgrad.optim: each update rule of the lecture notes against steps worked
by hand, and the two initializations' variances."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pytest

import symgrad
from symgrad import optim


def steps(optimizer, theta, gradients):
    """θ after one step per gradient given, each taken at the lookahead
    point by the function g(θ) given (or a fixed number)."""
    params = {"w": np.array([theta])}
    for gradient in gradients:
        at = optimizer.lookahead(params)["w"]
        g = gradient(at) if callable(gradient) else np.array([gradient])
        params = optimizer.step(params, {"w": g})
    return params["w"][0]


def test_sgd_steps_against_the_gradient():
    # w := w - η g: 1 - 0.1 * 2 = 0.8, then 0.8 - 0.1 * (-1) = 0.9
    assert steps(optim.SGD(lr=0.1), 1.0, [2.0, -1.0]) == pytest.approx(0.9)


def test_momentum_keeps_a_velocity():
    # m = 0.1 * 1 = 0.1, θ = 0.9; m = 0.9 * 0.1 + 0.1 * 1 = 0.19, θ = 0.71
    assert steps(optim.Momentum(lr=0.1, beta=0.9), 1.0, [1.0, 1.0]) == pytest.approx(0.71)


def test_nesterov_takes_the_gradient_where_the_momentum_carries_theta():
    # J = θ²/2, g(θ) = θ. Step 1: m = 0.1 * 1, θ = 0.9. Step 2: g at
    # 0.9 - 0.9 * 0.1 = 0.81, m = 0.09 + 0.081 = 0.171, θ = 0.729
    # (plain momentum would take g(0.9) and reach 0.72).
    assert steps(optim.Nesterov(lr=0.1, beta=0.9), 1.0, [lambda t: t, lambda t: t]) == pytest.approx(0.729)


def test_adagrad_divides_by_the_root_of_the_summed_squares_plus_eps():
    # ε = 7 inside the root: s = 9, θ = 1 - 0.4 * 3/√16 = 0.7;
    # s = 18, θ = 0.7 - 0.4 * 3/√25 = 0.46
    assert steps(optim.Adagrad(lr=0.4, eps=7.0), 1.0, [3.0, 3.0]) == pytest.approx(0.46)


def test_rmsprop_decays_the_squared_gradients():
    # β = 0.5, ε = 7: s = 0.5 * 4 = 2, θ = 1 - 0.3 * 2/√9 = 0.8;
    # s = 0.5 * 2 + 0.5 * 16 = 9, θ = 0.8 - 0.3 * 4/√16 = 0.5
    assert steps(optim.RMSprop(lr=0.3, beta=0.5, eps=7.0), 1.0, [2.0, 4.0]) == pytest.approx(0.5)


def test_adam_corrects_both_averages_for_their_start_at_zero():
    # β₁ = 0.5, β₂ = 0.75, ε = 5, g = 2 twice.
    # T = 1: m = 1, s = 1; m̂ = 1/0.5 = 2, ŝ = 1/0.25 = 4; θ = 1 - 0.3 * 2/√9 = 0.8
    # T = 2: m = 1.5, s = 1.75; m̂ = 1.5/0.75 = 2, ŝ = 1.75/0.4375 = 4; θ = 0.6
    adam = optim.Adam(lr=0.3, beta1=0.5, beta2=0.75, eps=5.0)
    assert steps(adam, 1.0, [2.0, 2.0]) == pytest.approx(0.6)
    assert adam.m["w"][0] == pytest.approx(1.5) and adam.s["w"][0] == pytest.approx(1.75)


def test_adadelta_scales_by_the_rms_of_past_updates_over_the_rms_of_gradients():
    # γ = 0.5, ε = 0.25, g = 2 twice.
    # t = 1: E[g²] = 2, Δθ = -(√0.25/√2.25) 2 = -2/3, E[Δθ²] = 0.5 * 4/9 = 2/9
    # t = 2: E[g²] = 1 + 2 = 3, Δθ = -(√(2/9 + 0.25)/√3.25) 2
    second = -math.sqrt(2 / 9 + 0.25) / math.sqrt(3.25) * 2
    assert steps(optim.AdaDelta(gamma=0.5, eps=0.25), 1.0, [2.0, 2.0]) == pytest.approx(1 - 2 / 3 + second)


def test_adadelta_learning_rate_scales_the_update():
    # the first step of the test above, times η = 0.5
    assert steps(optim.AdaDelta(lr=0.5, gamma=0.5, eps=0.25), 1.0, [2.0]) == pytest.approx(1 - 1 / 3)


class Params(NamedTuple):
    w: object
    b: object


def test_a_step_on_generated_gradients_keeps_the_parameters_kind():
    model = symgrad.compile_source("param w : R^n\nparam b : R\ninput x : R^n\n"
                                   "J = 1/2 ||w - x||^2 + b\ngrad J wrt w, b\n")
    params = Params(np.array([1.0, 2.0]), 0.5)
    _, grads = model.value_and_grad(*params, np.array([0.0, 4.0]))
    new = optim.SGD(lr=0.5).step(params, grads)   # g_w = w - x = (1, -2), g_b = 1
    assert isinstance(new, Params)
    np.testing.assert_allclose(new.w, [0.5, 3.0])
    assert new.b == pytest.approx(0.0)
    np.testing.assert_array_equal(params.w, [1.0, 2.0])   # the given parameters are untouched


def test_a_parameter_without_a_gradient_keeps_its_value():
    new = optim.SGD(lr=1.0).step({"w": 1.0, "frozen": 3.0}, {"w": 0.5})
    assert new == {"w": 0.5, "frozen": 3.0}


def test_a_gradient_of_no_parameter_is_an_error():
    with pytest.raises(KeyError, match="x"):
        optim.SGD().step({"w": 1.0}, {"w": 0.5, "x": 1.0})


def test_each_parameter_has_its_own_state():
    momentum = optim.Momentum(lr=1.0, beta=0.5)
    params = momentum.step({"a": 0.0, "b": 0.0}, {"a": 1.0, "b": -2.0})
    params = momentum.step(params, {"a": 0.0, "b": 0.0})
    # a: m = 1, then 0.5 (θ = -1.5); b: m = -2, then -1 (θ = 3)
    assert params == pytest.approx({"a": -1.5, "b": 3.0})


@pytest.mark.parametrize("init, variance", [(optim.xavier, 2 / (400 + 100)), (optim.he, 2 / 100)])
def test_initializations_have_the_lectures_variance_with_fan_in_the_columns(init, variance):
    W = init((400, 100), rng=0)    # W : R^(n_out × n_in), n_out = 400, n_in = 100
    assert W.shape == (400, 100)
    assert abs(W.mean()) < 0.05 * math.sqrt(variance)
    assert W.var() == pytest.approx(variance, rel=0.03)
