"""Dimension expressions in argument types (`R^(n x 5 d)`, `R^(n + m)`,
`{0..V-1}^(N T)`) at run time: every dimension bound from the shapes passed,
solving simple equations, in a fixed order; every other axis checked; the
conditions on the dimensions (program.requirements) checked; a dimension no
argument determines refused at compile time; `symgrad check` drawing sizes
that satisfy all of it. References are plain NumPy written here."""

from __future__ import annotations

import re

import numpy as np
import pytest
from checking import errors

import symgrad
from symgrad.cli import main
from symgrad.codegen import generate
from symgrad.differentiation import differentiate_program
from symgrad.ir import Requirement
from symgrad.lowering import analyze
from symgrad.second_order import differentiate_second_order
from symgrad.source import Source


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "symgrad-cache"))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


PRODUCT = """param W : R^(n x 5 d)
input x : R^(5 d)
param b : R^n
loss = sum(sigmoid(W x + b))
grad loss wrt W, b
"""

SUM = """param z : R^(n + m)
input a : R^n
input c : R^m
loss = z^T z + sum(a) + 2 sum(c)
grad loss wrt z
"""


def test_a_product_dimension_is_solved_from_the_shape_and_the_numbers_are_the_formulas():
    module = symgrad.compile_source(PRODUCT)
    rng = np.random.default_rng(0)
    W, x, b = rng.standard_normal((3, 250)) / 16, rng.standard_normal(250), rng.standard_normal(3)
    value, grads = module.value_and_grad(W, x, b)
    s = sigmoid(W @ x + b)
    slope = s * (1 - s)
    assert value == pytest.approx(np.sum(s), rel=1e-12)
    np.testing.assert_allclose(grads.W, np.outer(slope, x), rtol=1e-12)
    np.testing.assert_allclose(grads.b, slope, rtol=1e-12)


def test_a_sum_dimension_is_checked_once_its_parts_are_bound():
    module = symgrad.compile_source(SUM)
    z, a, c = np.arange(5.0), np.ones(2), np.ones(3)
    value, grads = module.value_and_grad(z, a, c)
    assert value == pytest.approx(30 + 2 + 6)
    np.testing.assert_allclose(grads.z, 2 * z)
    # z waits for a's n, then gives m = 6 - 2 = 4, which c (3 entries) contradicts.
    with pytest.raises(ValueError, match=re.escape("c: expected shape (m=4,) or (m=4, 1) (m from z), got shape (3,)")):
        module.value_and_grad(np.arange(6.0), a, c)
    with pytest.raises(ValueError, match=re.escape(
            "z: expected shape (m + n,) or (m + n, 1) (n=2 from a), got shape (2,): m + n = 2 gives m = 0, "
            "not a positive integer")):
        module.value_and_grad(np.arange(2.0), a, c)


def test_an_expression_solved_from_a_later_argument_binds_an_earlier_one():
    # z comes first but only a and c determine n and m: z's axis waits for them.
    module = symgrad.compile_source(SUM)
    assert module.evaluate(np.ones(7), np.ones(3), np.ones(4)) == pytest.approx(7 + 3 + 8)


@pytest.mark.parametrize("W, x, b, message", [
    ((3, 250), (251,), (3,), "x: expected shape (5 d=250,) or (5 d=250, 1) (d=50 from W), got shape (251,)"),
    ((3, 251), (250,), (3,), "W: expected shape (n, 5 d), got shape (3, 251): 5 d = 251 gives d = 50.2, "
                             "not a positive integer"),
    ((3, 250), (250,), (4,), "b: expected shape (n=3,) or (n=3, 1) (n from W), got shape (4,)"),
])
def test_a_wrong_size_names_the_variable_the_expected_shape_with_values_and_the_shape_given(W, x, b, message):
    module = symgrad.compile_source(PRODUCT)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        module.value_and_grad(np.zeros(W), np.zeros(x), np.zeros(b))


def test_a_non_positive_solution_is_a_value_error():
    module = symgrad.compile_source("param z : R^(n + 2)\nloss = sum(z)\ngrad loss wrt z\n")
    assert module.evaluate(np.ones(3)) == 3
    with pytest.raises(ValueError, match=re.escape("z: expected shape (n + 2,) or (n + 2, 1), got shape (2,): "
                                                   "n + 2 = 2 gives n = 0, not a positive integer")):
        module.evaluate(np.ones(2))


def test_ids_counted_by_a_product_take_their_length_from_it():
    module = symgrad.compile_source("""param E : R^(V x N)
input X : R^(d x T)
input w : {0..V-1}^(N T)
loss = sum(E)
grad loss wrt E
""")
    E, X = np.ones((4, 3)), np.ones((2, 5))
    assert module.evaluate(E, X, np.zeros(15, dtype=int)) == 12
    with pytest.raises(ValueError, match=re.escape(
            "w: expected shape (N T=15,) or (N T=15, 1) (N=3 from E, T=5 from X), got shape (14,)")):
        module.evaluate(E, X, np.zeros(14, dtype=int))


def requirement_module(minimum: int):
    """z : R^n and a : R^h with the condition n - h >= minimum added to
    the program (as lowering adds one for a block z[0:h])."""
    program = analyze(Source("param z : R^n\ninput a : R^h\nloss = sum(z) + sum(a)\ngrad loss wrt z\n", "req.sg"))
    span = program.variables["z"].span
    program.requirements.append(Requirement(symgrad.shapes.dim_add("n", "h", -1), minimum, "z needs h entries",
                                            span))
    namespace: dict = {}
    derivations = differentiate_program(program)
    exec(generate(program, derivations, differentiate_second_order(program, derivations)), namespace)
    return namespace


@pytest.mark.parametrize("minimum", [0, 2])
def test_a_condition_on_the_dimensions_is_checked_at_run_time_with_the_values(minimum):
    module = requirement_module(minimum)
    z = np.ones(5)
    assert module["evaluate"](z, np.ones(5 - minimum)) == 10 - minimum
    for a in (np.ones(6 - minimum), [1.0] * (6 - minimum)):  # the fast path and the other
        with pytest.raises(ValueError, match=re.escape("z needs h entries (h=" + str(6 - minimum) + ", n=5)")):
            module["evaluate"](z, a)


def test_a_block_of_a_vector_is_checked_inside_it_at_run_time():
    module = symgrad.compile_source("param z : R^n\ninput a : R^h\nloss = sum(z[0:h] .* a)\ngrad loss wrt z\n")
    value, grads = module.value_and_grad(np.arange(5.0), np.ones(3))
    assert value == 3
    np.testing.assert_array_equal(grads.z, [1, 1, 1, 0, 0])
    with pytest.raises(ValueError, match=r"\(h=6, n=5\)$"):
        module.value_and_grad(np.arange(5.0), np.ones(6))


@pytest.mark.parametrize("text, name, line, column", [
    ("param w : R^n\ninput y : {0..C-1}^N\ninput X : R^(n x N)\nloss = sum(w^T X)\ngrad loss wrt w\n",
     "C", 2, 15),
    ("param A : R^(n m)\nloss = sum(A)\ngrad loss wrt A\n", "n", 1, 14),
])
def test_a_dimension_no_argument_determines_is_a_located_compile_time_error(text, name, line, column):
    found = errors(text)
    assert [(e.span.line, e.span.column) for e in found][:1] == [(line, column)]
    assert found[0].message == f"no argument's shape determines the dimension '{name}'"
    assert f"declare an argument whose shape has {name}" in found[0].hint


def test_the_undetermined_dimension_error_exits_2_with_a_caret(tmp_path, capsys):
    model = tmp_path / "ids.sg"
    model.write_text("param w : R^n\ninput y : {0..C-1}^N\ninput X : R^(n x N)\nloss = sum(w^T X)\n"
                     "grad loss wrt w\n")
    assert main(["compile", str(model)]) == 2
    err = capsys.readouterr().err
    assert f"{model}:2:15: error: no argument's shape determines the dimension 'C'" in err
    assert "Traceback" not in err and "\n" + " " * 18 + "^" in err


def test_check_draws_sizes_that_fit_the_expressions():
    report = symgrad.check(PRODUCT, seed=1)
    assert report.passed
    sizes = report.data["dims"]
    assert set(sizes) == {"n", "d"}
    assert report.result("W").shape == [sizes["n"], 5 * sizes["d"]]


def test_check_takes_symbols_in_dims_and_solves_given_arrays():
    report = symgrad.check(PRODUCT, dims={"n": 2})
    assert report.data["dims"]["n"] == 2
    report = symgrad.check(PRODUCT, inputs={"x": np.ones(35)})
    assert report.data["dims"]["d"] == 7 and report.passed
    with pytest.raises(symgrad.checking.CheckInputError, match="d = 7.2, not a positive integer"):
        symgrad.check(PRODUCT, inputs={"x": np.ones(36)})
    with pytest.raises(symgrad.checking.CheckInputError, match=re.escape(
            "'5 d' is an expression: give the sizes of its symbols (n, d), it is computed from them")):
        symgrad.check(PRODUCT, dims={"5 d": 10})


def test_check_draws_sizes_that_meet_the_conditions_on_the_dimensions():
    # Default sizes would be n=3, h=4: the block z[0:h] needs n >= h, so n grows.
    text = "param z : R^n\ninput a : R^h\nloss = sum(z[0:h] .* a)\ngrad loss wrt z\n"
    report = symgrad.check(text)
    assert report.passed and report.data["dims"]["n"] >= report.data["dims"]["h"]
    with pytest.raises(symgrad.checking.CheckInputError, match=r"\(h=4, n=2\): choose other --dims"):
        symgrad.check(text, dims={"n": 2, "h": 4})


def test_torch_model_draws_params_whose_shapes_are_expressions():
    torch = pytest.importorskip("torch")
    from symgrad import adapters
    module = symgrad.compile_source(PRODUCT)
    net = adapters.TorchModel(module, dims={"n": 3, "d": 4}, seed=0, dtype=torch.float64)
    assert tuple(net.W.shape) == (3, 20) and tuple(net.b.shape) == (3,)
    # Sizes also come from a param given: 35 columns of 5 d give d = 7.
    net = adapters.TorchModel(module, seed=0, W=np.zeros((2, 35)), dtype=torch.float64)
    x = torch.ones(35, dtype=torch.float64)
    loss = net(x=x)
    loss.backward()
    assert loss.item() == pytest.approx(2 * sigmoid(0.0))  # W = 0, b = 0
    np.testing.assert_allclose(net.W.grad.numpy(), np.full((2, 35), 0.25))


def test_the_fast_path_solves_too_and_falls_through_to_the_errors():
    # Exact float64 arrays of the right ndim take _arguments' fast path.
    module = symgrad.compile_source(PRODUCT)
    W, b = np.full((2, 15), 0.1), np.zeros(2)
    value, grads = module.value_and_grad(W, np.ones(15), b)
    assert value == pytest.approx(2 * sigmoid(1.5))
    assert module._arguments(W, np.ones(15), b)[-4:-2] == (2, 3)  # n, d
    with pytest.raises(ValueError, match=re.escape("x: expected shape (5 d=15,) or (5 d=15, 1) (d=3 from W)")):
        module.value_and_grad(W, np.ones(10), b)
    with pytest.raises(ValueError, match=re.escape("5 d = 3 gives d = 0.6, not a positive integer")):
        module.value_and_grad(np.zeros((2, 3)), np.ones(3), b)
