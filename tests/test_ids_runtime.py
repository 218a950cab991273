"""Ids at run time (language.md, "Integer ids"; the build contract's
"Run-time representation"): a vector of ids is any integer array of shape
(N,) or (N, 1), one id a Python int or an integer array of one entry; floats
and bools are ValueErrors; an id out of range (negative included) is a
ValueError naming the variable, the value and its position; ids take no part
in the dtype; `symgrad check` draws them in range, with a repeat, and never
steps them. References are loops over the ids written here."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import symgrad
from symgrad.cli import main


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "symgrad-cache"))


# The embedding lookup of a window of ids, and of one more id.
LOOKUP = """param L : R^(d x V)
input w : {0..V-1}^k
input i : {0..V-1}
param u : R^d
loss = u^T L[:, w] ones(k) + u^T L[:, i]
grad loss wrt L, u
"""

# Ids declared where only their length matters.
SHAPE_ONLY = """param W : R^(C x n)
input y : {0..C-1}^N
input X : R^(n x N)
loss = sum(W X)
grad loss wrt W
"""


@pytest.fixture(scope="module")
def lookup():
    return symgrad.compile_source(LOOKUP)


def lookup_reference(L, w, i, u):
    """The value and gradients by loops: each id adds its column once."""
    value, grad_L = 0.0, np.zeros_like(L)
    for index in list(w) + [i]:
        value += u @ L[:, index]
        grad_L[:, index] += u
    grad_u = sum(L[:, index] for index in list(w) + [i])
    return value, grad_L, grad_u


def arrays(dtype=np.float64):
    rng = np.random.default_rng(3)
    return rng.standard_normal((4, 6)).astype(dtype), rng.standard_normal(4).astype(dtype)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64, np.intp])
@pytest.mark.parametrize("column", [False, True])
def test_any_integer_vector_of_ids_gathers_and_repeated_ids_scatter_summed(lookup, dtype, column):
    L, u = arrays()
    w = np.array([5, 0, 5, 2, 5], dtype=dtype)
    value, grads = lookup.value_and_grad(L, w[:, None] if column else w, 1, u)
    expected, grad_L, grad_u = lookup_reference(L, [5, 0, 5, 2, 5], 1, u)
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grads.L, grad_L, rtol=1e-12)
    np.testing.assert_allclose(grads.u, grad_u, rtol=1e-12)


@pytest.mark.parametrize("one_id", [4, np.int64(4), np.array(4), np.array([4]), np.int32(4)])
def test_one_id_is_an_int_or_an_integer_array_of_one_entry(lookup, one_id):
    L, u = arrays()
    w = np.array([1, 2])
    assert lookup.evaluate(L, w, one_id, u) == pytest.approx(lookup_reference(L, w, 4, u)[0], rel=1e-12)


@pytest.mark.parametrize("w, message", [
    ([0, 1, 2, 7], "w: id 7 at position 3 is out of range 0..5 (V=6)"),
    ([0, -1, 2, 3], "w: id -1 at position 1 is out of range 0..5 (V=6)"),
    ([[6], [0]], "w: id 6 at position 0 is out of range 0..5 (V=6)"),
    ([0.0, 1.0], "w: ids must be integers, got an array of float64"),
    ([True, False], "w: ids must be integers, got an array of bool"),
])
@pytest.mark.parametrize("kind", ["array", "list"])  # an exact int64 array takes the fast path
def test_bad_ids_are_value_errors_that_name_the_variable_value_and_position(lookup, w, message, kind):
    L, u = arrays()
    given = np.array(w) if kind == "array" else w
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        lookup.value_and_grad(L, given, 0, u)


@pytest.mark.parametrize("one_id, message", [
    (6, "i: id 6 is out of range 0..5 (V=6)"),
    (-1, "i: id -1 is out of range 0..5 (V=6)"),
    (np.array(9), "i: id 9 is out of range 0..5 (V=6)"),
    (1.0, "i: an id must be an integer, got float 1.0"),
    (True, "i: an id must be an integer, got bool True"),
    (np.array([1, 2]), "i: expected one id, got shape (2,)"),
])
def test_a_bad_single_id_is_a_value_error(lookup, one_id, message):
    L, u = arrays()
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        lookup.evaluate(L, np.array([0]), one_id, u)


def test_a_wrong_count_of_ids_names_the_length_and_where_it_came_from():
    module = symgrad.compile_source(SHAPE_ONLY)
    W, X = np.ones((3, 2)), np.ones((2, 4))
    assert module.evaluate(W, np.array([0, 1, 2, 2]), X) == 24
    with pytest.raises(ValueError, match=re.escape("X: expected shape (n=2, N=5) (N from y, n from W), "
                                                   "got shape (2, 4)")):
        module.evaluate(W, np.array([0, 1, 2, 2, 0]), X)
    with pytest.raises(ValueError, match=re.escape("y: expected shape (N,) or (N, 1), got shape (2, 2)")):
        module.evaluate(W, np.zeros((2, 2), dtype=int), X)


@pytest.mark.parametrize("ids_dtype", [np.int8, np.int64])
def test_ids_take_no_part_in_the_dtype(lookup, ids_dtype):
    L, u = arrays(np.float32)
    value, grads = lookup.value_and_grad(L, np.array([1, 1, 3], dtype=ids_dtype), np.int64(2), u)
    assert value.dtype == np.float32
    assert grads.L.dtype == np.float32 and grads.u.dtype == np.float32
    module = symgrad.compile_source(SHAPE_ONLY)
    assert module.evaluate(np.ones((3, 2), np.float32), np.array([0, 1], dtype=np.int64),
                           np.ones((2, 2), np.float32)).dtype == np.float32


def test_pick_and_onehot_select_by_the_ids():
    module = symgrad.compile_source("""param S : R^(C x N)
input y : {0..C-1}^N
loss = sum(pick(S, y)) + 2 sum(onehot(y, C) .* S .* S)
grad loss wrt S
""")
    S, y = np.arange(12.0).reshape(3, 4), np.array([2, 0, 0, 1])
    picked = np.zeros_like(S)
    for column, label in enumerate(y):
        picked[label, column] = 1
    value, grads = module.value_and_grad(S, y)
    assert value == pytest.approx(np.sum(picked * S) + 2 * np.sum(picked * S * S))
    np.testing.assert_allclose(grads.S, picked + 4 * picked * S)
    with pytest.raises(ValueError, match=re.escape("y: id 3 at position 1 is out of range 0..2 (C=3)")):
        module.value_and_grad(S, np.array([2, 3, 0, 1]))


def test_check_draws_ids_in_range_with_a_repeat_and_never_steps_them():
    module = symgrad.compile_source(LOOKUP, with_check=True)
    seen = []
    spied = {}
    for name in ("evaluate", "value_and_grad", "forward"):
        def spy(L, w, i, u, _function=getattr(module, name)):
            seen.append((np.array(w), i))
            return _function(L, w, i, u)
        spied[name] = spy
    for name, spy in spied.items():
        setattr(module, name, spy)
    report = symgrad.check(module, dims={"k": 6})
    assert report.passed and report.data["ids"] == ["w", "i"]
    first_w, first_i = seen[0]
    assert len(seen) > 20 and first_w.dtype.kind == "i" and type(first_i) is int
    assert all(np.array_equal(w, first_w) and i == first_i for w, i in seen)
    V = report.data["dims"]["V"]
    assert len(first_w) == 6 and 0 <= first_w.min() and first_w.max() < V and 0 <= first_i < V
    assert len(set(first_w.tolist())) < len(first_w)  # a repeated id, so that the scatter sums
    assert "ids (not differentiated): w, i" in str(report)
    assert "\nids (not differentiated): w, i\n" in report.to_markdown()
    assert [r.variable for r in report.results] == ["L", "u"]


def test_check_takes_given_ids_and_refuses_ones_out_of_range_or_not_integers(tmp_path):
    report = symgrad.check(LOOKUP, inputs={"w": np.array([0, 0, 1]), "i": np.array(2)})
    assert report.passed and report.data["dims"]["k"] == 3
    with pytest.raises(symgrad.checking.CheckInputError, match="w: ids must be integers"):
        symgrad.check(LOOKUP, inputs={"w": np.array([0.0, 1.0])})
    with pytest.raises(symgrad.checking.CheckInputError, match=r"w: ids must be in 0\.\.3, got 0\.\.9"):
        symgrad.check(LOOKUP, dims={"V": 4}, inputs={"w": np.array([0, 9])})


def test_check_json_lists_the_ids(tmp_path, capsys):
    model, out = tmp_path / "lookup.sg", tmp_path / "report.json"
    model.write_text(LOOKUP)
    assert main(["check", str(model), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["ids"] == ["w", "i"]
    assert "ids (not differentiated): w, i" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["numpy", "array-api"])
def test_torch_function_passes_integer_tensor_ids_through(target):
    torch = pytest.importorskip("torch")
    from symgrad import adapters
    loss = adapters.torch_function(symgrad.compile_source(LOOKUP, target=target))
    L0, u0 = arrays()
    L, u = torch.tensor(L0, requires_grad=True), torch.tensor(u0, requires_grad=True)
    w = torch.tensor([5, 0, 5])
    out = loss(L, w, torch.tensor(1), u)
    out.backward()
    expected, grad_L, grad_u = lookup_reference(L0, [5, 0, 5], 1, u0)
    assert out.item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(L.grad.numpy(), grad_L, rtol=1e-12)
    np.testing.assert_allclose(u.grad.numpy(), grad_u, rtol=1e-12)
    assert w.dtype == torch.int64 and w.tolist() == [5, 0, 5]
    with pytest.raises(ValueError, match=re.escape("w: id 6 at position 0 is out of range 0..5 (V=6)")):
        loss(L, torch.tensor([6]), 1, u)


def test_jax_function_passes_integer_ids_through_also_under_jit():
    jax = pytest.importorskip("jax")
    from symgrad import adapters
    f = adapters.jax_function(symgrad.compile_source(LOOKUP))
    L0, u0 = arrays(np.float32)
    w = jax.numpy.array([5, 0, 5])
    expected, grad_L, _ = lookup_reference(L0.astype(np.float64), [5, 0, 5], 1, u0.astype(np.float64))
    assert float(jax.jit(f)(L0, w, 1, u0)) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(jax.grad(f)(L0, w, 1, u0), grad_L, rtol=1e-5)


def test_the_numba_target_takes_ids_and_dimension_expressions_as_the_numpy_target_does():
    pytest.importorskip("numba")
    module = symgrad.compile_source(LOOKUP.replace("R^(d x V)", "R^(2 h x V)").replace("R^d", "R^(2 h)"),
                                    target="numba")
    L, u = arrays()
    for w, i in ((np.array([5, 0, 5]), 1), (np.array([[5], [0], [5]], dtype=np.int8), np.int64(1))):
        value, grads = module.value_and_grad(L, w, i, u)
        expected, grad_L, grad_u = lookup_reference(L, [5, 0, 5], 1, u)
        assert value == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(grads.L, grad_L, rtol=1e-12)
        np.testing.assert_allclose(grads.u, grad_u, rtol=1e-12)
    for w, i, message in ((np.array([0, 6]), 1, "w: id 6 at position 1 is out of range 0..5 (V=6)"),
                          (np.array([0]), -1, "i: id -1 is out of range 0..5 (V=6)"),
                          (np.array([0.0]), 1, "w: ids must be integers, got an array of float64")):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            module.value_and_grad(L, w, i, u)
    with pytest.raises(ValueError, match=re.escape("u: expected shape (2 h=4,) or (2 h=4, 1) (h=2 from L), "
                                                   "got shape (3,)")):
        module.value_and_grad(L, np.array([0]), 1, u[:3])
    L3 = np.zeros((3, 6))
    with pytest.raises(ValueError, match=re.escape("2 h = 3 gives h = 1.5, not a positive integer")):
        module.value_and_grad(L3, np.array([0]), 1, u)
