"""Large models: deep nesting and long chains are checked with no
RecursionError, and a long file with mistakes everywhere reports each one.

These tests time nothing; benchmarks/front_end.py times the same models at
full size (100,000 lines), which these check at sizes a test can afford.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from checking import check, errors, shapes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from front_end import BROKEN_LAYER, chain, layers, nested  # noqa: E402  (the benchmark's models)


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
