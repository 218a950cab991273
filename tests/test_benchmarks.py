"""benchmarks/bench_numpy.py's smoke mode: every implementation's gradients
are checked against the hand-written NumPy ones, and the markdown table has
a row per workload and a column per implementation. Nothing here is timed:
the smoke mode makes no claim about speed. benchmarks/second_order.py's
smoke mode likewise checks every Hessian and HVP against the hand-written ones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bench_numpy  # noqa: E402  (the benchmark, run in-process)
import second_order  # noqa: E402  (issue 13's benchmark of Hessians and HVPs)

WORKLOADS = ["W1 window", "W2 MLP", "W3 MLP", "W3 MLP", "W4 8 tanh", "W5 logistic"]


@pytest.fixture(autouse=True)
def no_jax(monkeypatch, tmp_path_factory):
    """PyTorch is timed where installed; JAX is left out, since the benchmark
    switches JAX to float64 for the whole process. Modules go to a temporary cache."""
    monkeypatch.setattr(bench_numpy, "FRAMEWORKS", {k: v for k, v in bench_numpy.FRAMEWORKS.items() if k != "JAX jit"})
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "symgrad-cache"))


def frameworks() -> list[str]:
    return [name for name, (module, _) in bench_numpy.FRAMEWORKS.items() if bench_numpy.installed(module)]


def test_the_smoke_mode_checks_every_implementation_and_writes_the_table(tmp_path):
    table_file = tmp_path / "table.md"
    rows, table = bench_numpy.run(["--smoke", "--targets", "numpy,array-api", "--threads", "1",
                                   "--markdown", str(table_file)])
    checked = ["symgrad numpy", "symgrad array-api", *frameworks()]
    assert [label for label, _, _ in rows] == [label for label, *_ in bench_numpy.workloads(False, smoke=True)]
    assert all(label.startswith(prefix) for (label, _, _), prefix in zip(rows, WORKLOADS, strict=True))
    for label, medians, checked_here in rows:
        assert checked_here == checked, label
        assert set(medians) == {*checked, "hand NumPy", "GEMM floor"}
    assert table_file.read_text() == table + "\n"
    lines = table.splitlines()
    assert "threads: 1" in lines[0] and "smoke run" in lines[0]
    columns = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert columns == ["workload", "hand NumPy", "symgrad numpy", "symgrad array-api", "GEMM floor", *frameworks(),
                       "symgrad numpy / floor", "symgrad array-api / floor"]
    body = lines[4:]
    assert [line.split("|")[1].strip() for line in body] == [label for label, _, _ in rows]
    assert all(len(line.strip("|").split("|")) == len(columns) for line in body)


def test_a_wrong_hand_written_gradient_stops_the_benchmark(monkeypatch):
    right = bench_numpy.logreg_hand

    def wrong(w, X, y):
        value, (gradient,) = right(w, X, y)
        return value, (gradient * 1.01,)
    monkeypatch.setattr(bench_numpy, "logreg_hand", wrong)
    with pytest.raises(AssertionError, match="W5 logistic regression .*: hand NumPy"):
        bench_numpy.run(["--smoke", "--targets", "numpy"])


def test_an_unknown_target_is_refused(capsys):
    with pytest.raises(SystemExit):
        bench_numpy.run(["--smoke", "--targets", "numpy,cuda"])
    assert "unknown target cuda" in capsys.readouterr().err


def test_the_smoke_sizes_are_tiny():
    for label, _, args, *_ in bench_numpy.workloads(False, smoke=True):
        assert max(np.size(a) for a in args.values()) <= 300, label


# ------------------------------------------- benchmarks/second_order.py


@pytest.fixture
def second_order_without_jax(monkeypatch):
    monkeypatch.setattr(second_order, "FRAMEWORKS",
                        {k: v for k, v in second_order.FRAMEWORKS.items() if k != "JAX jit"})
    return [name for name, (module, _) in second_order.FRAMEWORKS.items() if second_order.installed(module)]


def test_the_second_order_smoke_mode_checks_every_hessian_and_hvp(second_order_without_jax):
    rows, table = second_order.run(["--smoke"])
    assert [label for label, _, _ in rows] == ["logistic regression 30x5: Hessian", "logistic regression 30x5: HVP",
                                               "W2 MLP 6x5 h7: HVP", "window 3x4: HVP"]
    for label, medians, checked in rows:
        assert checked == ["hand NumPy", "symgrad", *second_order_without_jax], label
        assert set(medians) == set(checked)
    lines = table.splitlines()
    assert "smoke run" in lines[0]
    assert [cell.strip() for cell in lines[2].strip("|").split("|")] == [
        "workload", "hand NumPy", "symgrad", *second_order_without_jax]


def test_a_wrong_hand_written_hvp_stops_the_second_order_benchmark(second_order_without_jax, monkeypatch):
    right = second_order.window_hvp_hand
    monkeypatch.setattr(second_order, "window_hvp_hand",
                        lambda *args: (*right(*args)[:3], right(*args)[3] * 1.01))
    with pytest.raises(AssertionError, match="window 3x4: HVP: hand NumPy"):
        second_order.run(["--smoke"])
