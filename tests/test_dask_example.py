"""examples/dask_logreg.py: the full-batch loss and gradient of
examples/logreg_columns.sg, summed over chunks of the examples on a
LocalCluster of two worker processes, equal those of the whole data set in
one process; gradient descent on them lowers the loss."""

from __future__ import annotations

import io
import runpy
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import symgrad

distributed = pytest.importorskip("dask.distributed")
import dask  # noqa: E402  (after the skip: dask is an optional extra)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def example():
    """The example's functions. Its file is on no worker's path, so that
    cloudpickle sends them to the workers by value, as it does for a script."""
    return SimpleNamespace(**runpy.run_path(str(EXAMPLES / "dask_logreg.py")))


@pytest.fixture(scope="module")
def client():
    """Two worker processes (about 1 s to start here), one thread each: the
    chunks live in processes other than the test's."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        yield client


def reference(X, y, w, b, lam):
    """(J, ∂J/∂w, ∂J/∂b) of J = 1/N sum_i log(1 + exp(-y_i (wᵀ x_i + b))) + lam/2 ||w||²,
    by the textbook formulas: ∂/∂(wᵀ x_i + b) of the i-th loss is -y_i sigmoid(-m_i)."""
    m = y * (X.T @ w + b)
    signal = -y / (1 + np.exp(m)) / len(y)
    return np.mean(np.logaddexp(0, -m)) + lam / 2 * w @ w, X @ signal + lam * w, np.sum(signal)


def relative_error(got, want) -> float:
    return float(np.linalg.norm(np.subtract(got, want)) / np.linalg.norm(want))


def test_the_gradient_over_chunks_on_two_workers_equals_the_gradient_of_the_gathered_data(client, example):
    parts = example.make_on_workers(client, example.lazy_chunks(examples=3001, features=5, chunks=5, seed=7))
    assert all(chunks for chunks in client.has_what().values())   # both workers hold chunks
    rng = np.random.default_rng(1)
    w, b, lam = rng.standard_normal(5), 0.3, 0.1

    J, grad_w, grad_b = example.loss_and_grad(parts, w, b, lam)

    X_all, y_all = dask.compute(*example.joined(parts))   # small: gathered here only to compare
    numpy_module = symgrad.load(str(EXAMPLES / "logreg_columns.sg"))
    J_one, grads_one = numpy_module.value_and_grad(w, b, X_all, y_all, len(y_all), lam)
    for want in ((J_one, grads_one.w, grads_one.b), reference(X_all, y_all, w, b, lam)):
        assert relative_error(J, want[0]) <= 1e-12
        assert relative_error(grad_w, want[1]) <= 1e-12
        assert relative_error(grad_b, want[2]) <= 1e-12


def test_the_data_set_is_the_same_however_it_is_chunked_and_wherever_it_is_made(client, example):
    here = example.make_examples(5, 0, 10_000, 3)   # three blocks of 4,096 examples, the last in part
    for chunks in (1, 3, 7):
        X, y = dask.compute(*example.joined(example.lazy_chunks(10_000, 3, chunks, seed=5)))
        np.testing.assert_array_equal(X, here[0])
        np.testing.assert_array_equal(y, here[1])
    assert set(np.unique(here[1])) == {-1.0, 1.0}


def test_a_short_gradient_descent_lowers_the_loss_at_every_step(client, example):
    parts = example.make_on_workers(client, example.lazy_chunks(examples=4000, features=4, chunks=3, seed=2))
    history = example.gradient_descent(parts, steps=4, lr=2.0, lam=1e-3, out=io.StringIO())
    assert np.all(np.diff(history["loss"]) < 0)
    assert history["grad_norm"][-1] < history["grad_norm"][0] / 2


def test_a_step_copies_no_chunk_to_an_idle_worker(client, example):
    """Every chunk on a busy worker, the other idle: to balance the work,
    dask would copy chunks to the idle one, but each share waits for the
    worker that holds its chunk."""
    busy = sorted(client.scheduler_info()["workers"])[0]
    parts = [tuple(client.persist(list(part), workers=[busy]))
             for part in example.lazy_chunks(examples=40_000, features=5, chunks=8, seed=3)]
    distributed.wait(parts)
    sleeping = client.submit(time.sleep, 1, workers=[busy], pure=False)
    example.loss_and_grad(parts, np.ones(5), 0.0, 0.1)
    assert sleeping.done()
    assert {worker for workers in client.who_has(parts).values() for worker in workers} == {busy}


def test_the_command_runs_on_a_running_cluster_and_reports_each_step_and_each_worker(client, example, capsys):
    status = example.main(["--scheduler", client.scheduler.address, "--examples", "2000", "--features", "3",
                           "--chunks", "4", "--steps", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert [line.split()[:2] for line in lines if line.startswith("step")] == [["step", "0"], ["step", "1"]]
    assert len([line for line in lines if line.startswith("worker")]) == 2


def test_the_array_api_target_on_dask_arrays_gives_the_same_loss_and_gradient(client, example):
    try:
        step = example.array_api_loss_and_grad((EXAMPLES / "logreg_columns.sg").read_text(encoding="utf-8"))
    except LookupError:
        pytest.skip("this symgrad has no array-API target yet")
    parts = example.make_on_workers(client, example.lazy_chunks(examples=3001, features=5, chunks=5, seed=7))
    w, b, lam = np.random.default_rng(1).standard_normal(5), 0.3, 0.1
    got = step(parts, w, b, lam)
    want = reference(*dask.compute(*example.joined(parts)), w, b, lam)
    for value, expected in zip(got, want):
        assert relative_error(value, expected) <= 1e-12


def test_chunks_not_kept_on_the_workers_are_refused_with_a_clear_error(client, example):
    with pytest.raises(ValueError, match="not kept on the workers"):
        example.loss_and_grad(example.lazy_chunks(examples=100, features=2, chunks=2), np.ones(2), 0.0, 0.1)
