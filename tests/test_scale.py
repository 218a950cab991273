"""Large models: deep nesting and long chains are checked with no
RecursionError, and a long file with mistakes everywhere reports each one;
a 200-layer MLP compiles and derives on a stack that does not grow with it,
and runs.

These tests time nothing; benchmarks/front_end.py times the same models at
full size (100,000 lines), which these check at sizes a test can afford, and
benchmarks/compile_scaling.py times the compilation of MLPs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from checking import check, errors, shapes

import symgrad
from symgrad.compiler import generate_module
from symgrad.source import Source

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from compile_scaling import mlp_model  # noqa: E402  (the benchmarks' models)
from front_end import BROKEN_LAYER, chain, layers, nested  # noqa: E402


@pytest.mark.parametrize("operation, op", [
    ("", "variable"),           # brackets only: the value is `a` itself
    (" + a", "add"),            # an operation inside each: 5,000 levels deep
    (" ∘ a", "mul"),
])
def test_5000_nested_brackets(operation, op):
    program = check(nested(5000, operation))
    assert program.definitions["y"].op == op
    assert program.definitions["y"].shape.is_scalar


def test_5000_nested_calls():
    program = check(f"param a : R\ny = {'exp(' * 5000}a{')' * 5000}\ngrad y\n")
    assert program.definitions["y"].op == "exp"


def test_5000_nested_negations_and_transposes():
    assert shapes(f"param v : R^n\ny = {'-' * 5000}v{'ᵀ' * 5001}\ns = y v\ngrad s\n")["y"] == "R^(1×n)"


def test_a_mistake_5000_brackets_deep_is_located():
    (error,) = errors(f"param a : R\ny = {'(' * 5000}q{')' * 5000}\ngrad a\n")
    assert (error.span.line, error.span.column, error.message) == (2, 5005, "unknown name 'q'")


def test_a_chain_of_1000_definitions():
    program = check(chain(1000))
    assert len(program.definitions) == 1001
    assert str(program.definitions["x1000"].shape) == "R^n"


def test_a_long_model():
    program = check(layers(3000))
    assert len(program.variables) == 1 + 3 * 428
    assert program.grads[0].target == "s428"


def test_a_long_model_with_mistakes_everywhere_reports_each_one():
    found = errors(layers(3000, BROKEN_LAYER))
    assert len(found) == 3 * 428
    assert [e.span.line for e in found[:3]] == [8, 9, 10]
    assert found[-1].span.line == 3 + 7 * 428


def stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_a_200_layer_mlp_compiles_and_derives_on_a_stack_that_does_not_grow_with_it():
    """With Python's recursion limit 100 frames above this test's, compiling
    and deriving a 200-layer MLP go through: no step recurses per layer."""
    generate_module(Source(mlp_model(2)))  # first-call imports on the normal stack
    str(symgrad.derive(mlp_model(2)))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(stack_depth() + 100)
    try:
        code = generate_module(Source(mlp_model(200), "mlp200.sg"))
        derivation = str(symgrad.derive(mlp_model(200)))
    finally:
        sys.setrecursionlimit(limit)
    assert code.count("def backward(") == 1
    assert "∂E/∂W0 = " in derivation


def test_a_200_layer_mlp_runs_and_its_gradient_matches_a_directional_difference(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    module = symgrad.compile_source(mlp_model(200, "tanh"), "mlp200.sg")
    rng = np.random.default_rng(0)
    w, n = 3, 4
    X, Y = rng.standard_normal((w, n)), rng.standard_normal((w, n))
    params = [rng.standard_normal((w, w)) if i % 2 == 0 else 0.1 * rng.standard_normal(w) for i in range(400)]
    value, grads = module.value_and_grad(X, Y, *params)
    _, cache = module.forward(X, Y, *params)
    for fused, cached in zip(grads, module.backward(cache)):
        np.testing.assert_allclose(cached, fused, rtol=1e-12)
    direction = [rng.standard_normal(p.shape) for p in params]
    step = 1e-6
    moved = [module.evaluate(X, Y, *(p + sign * step * d for p, d in zip(params, direction))) for sign in (1, -1)]
    numeric = (moved[0] - moved[1]) / (2 * step)
    analytic = sum(float(np.sum(g * d)) for g, d in zip(grads, direction))
    assert np.isfinite(value) and numeric == pytest.approx(analytic, rel=1e-6)
