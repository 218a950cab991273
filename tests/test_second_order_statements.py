"""The `hessian` and `jacobian` statements as the checker reads them: what
each one requests, the `grad` statement a hessian brings, and every
mistake located with its hint (language.md, "Derivatives beyond the
gradient"; docs/language.md, "hessian and jacobian")."""

from __future__ import annotations

import subprocess
import sys

import pytest
from checking import check, errors

MODEL = """\
param W : R^(n x m)
param b : R^n
param c : R
input x : R^m
z = W x + b
p = sigmoid(z)
J = sum(softplus(z)) + c^2
"""


def located(body: str) -> list[tuple[int, int, str]]:
    return [(d.span.line, d.span.column, d.message) for d in errors(MODEL + body)]


def test_a_hessian_statement_requests_its_variables_and_brings_the_grad_statement_of_its_scalar():
    program = check(MODEL + "hessian J wrt b, c\n")
    (hessian,) = program.hessians
    assert (hessian.target, [v.name for v in hessian.wrt]) == ("J", ["b", "c"])
    (grad,) = program.grads
    assert (grad.target, [v.name for v in grad.wrt]) == ("J", ["b", "c"])


def test_a_hessian_without_wrt_takes_every_param():
    (hessian,) = check(MODEL + "hessian J\n").hessians
    assert [v.name for v in hessian.wrt] == ["W", "b", "c"]


def test_a_hessian_reads_the_grad_statement_of_its_scalar_wherever_it_stands():
    program = check(MODEL + "hessian J wrt b\ngrad J wrt W, b, x\n")
    assert [(g.target, [v.name for v in g.wrt]) for g in program.grads] == [("J", ["W", "b", "x"])]
    assert [v.name for v in program.hessians[0].wrt] == ["b"]


def test_a_jacobian_statement_requests_a_vector_by_a_vector_and_needs_no_grad():
    program = check(MODEL + "jacobian p wrt x\n")
    (jacobian,) = program.jacobians
    assert (jacobian.target, jacobian.variable.name, program.grads) == ("p", "x", [])


def test_statement_words_are_still_names_elsewhere():
    program = check("param hessian : R^n\njacobian = sum(hessian ∘ hessian)\nhessian jacobian wrt hessian\n")
    assert program.hessians[0].target == "jacobian"


@pytest.mark.parametrize("body, expected", [
    ("hessian z wrt b\n", [(8, 9, "hessian needs a scalar, but 'z' is R^n [n×1]")]),
    ("jacobian W wrt b\n", [(8, 10, "jacobian needs a vector or scalar, but 'W' is R^(n×m) [n×m]")]),
    ("jacobian z wrt W\n", [(8, 16, "jacobian takes a vector or scalar variable, but 'W' is R^(n×m) [n×m]")]),
    ("jacobian z wrt b, x\n", [(8, 1, "a jacobian is taken with respect to one variable")]),
    ("jacobian z\n", [(8, 1, "a jacobian is taken with respect to one variable")]),
    ("hessian J wrt b\nhessian J wrt c\n", [(9, 9, "'J' already has a hessian statement")]),
    ("jacobian z wrt b\njacobian z wrt x\n", [(9, 10, "'z' already has a jacobian statement")]),
    ("grad J wrt W\nhessian J wrt W, b\n",
     [(9, 1, "the Hessian is taken of the gradient of `grad J`, which has no b")]),
    ("hessian J wrt n\n", [(8, 15, "'n' is a dimension; gradients are taken with respect to params and inputs")]),
    ("hessian q wrt b\n", [(8, 9, "unknown name 'q'")]),
])
def test_each_mistake_in_a_second_order_statement_is_reported_at_its_place(body, expected):
    found = located(body)
    assert [(line, column, message[:len(text)]) for (line, column, message), (_, _, text) in zip(found, expected)] \
        == expected and len(found) == len(expected)


@pytest.mark.parametrize("body, hint", [
    ("jacobian W wrt b\n", "vec(W)"),
    ("jacobian z wrt W\n", "vec(W)"),
    ("grad J wrt W\nhessian J wrt W, b\n", "add b after wrt in `grad J wrt ...`"),
    ("hessian z wrt b\n", "jacobian z wrt x"),
])
def test_each_second_order_mistake_comes_with_a_hint(body, hint):
    (only,) = errors(MODEL + body)
    assert hint in only.hint


def test_the_command_line_shows_a_second_order_mistake_with_a_caret_and_exit_status_2(tmp_path):
    model = tmp_path / "bad.sg"
    model.write_text(MODEL + "jacobian W wrt b\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "symgrad", "derive", str(model)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "bad.sg:8:10: error: jacobian needs a vector or scalar" in done.stderr
    assert "    jacobian W wrt b\n             ^\n" in done.stderr
    assert "Traceback" not in done.stderr
