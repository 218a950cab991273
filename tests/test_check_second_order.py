"""`symgrad check` on hessian and jacobian statements: each hvp against
differences of the gradient, each hessian column by column and for symmetry,
each jacobian against differences of the value (docs/checking.md).

A planted bug is a generated module file with a wrong function appended
(it replaces the generated one in the module's namespace, which the check
reads): the check fails with status 1 and names the function. Correct
functions written here in plain NumPy pass, so the checker is held to
references independent of the generated code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad.cli import main
from symgrad.compiler import generate_module
from symgrad.source import Source

REPO = Path(__file__).resolve().parent.parent
# L2 logistic regression with an intercept: hessian J wrt w, b; arguments w, b, X, y, lam.
LOGREG = (REPO / "examples" / "logreg_newton.sg").read_text(encoding="utf-8")

# A network of tanh units and a squared error; its Hessian blocks mix W1, b1 and w2.
MLP = """\
param W1 : R^(h x n)
param b1 : R^h
param w2 : R^h
input X : R^(n x N)
input y : R^N
H = tanh(W1 X + b1 ones(N)ᵀ)
r = Hᵀ w2 - y
J = 1/2 rᵀ r + 0.01/2 sum(W1 ∘ W1)
hessian J wrt W1, b1, w2
"""

JACOBIAN = """\
param w : R^n
input X : R^(N x n)
p = sigmoid(X w)
jacobian p wrt w
"""


def module_file(tmp_path: Path, model: str, appended: str = "") -> str:
    """A module compiled with the check, with `appended` code after it."""
    path = tmp_path / f"model_{len(list(tmp_path.glob('*.py')))}.py"
    path.write_text(generate_module(Source(model, "model.sg"), with_check=True) + appended, encoding="utf-8")
    return str(path)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def logreg_hvp(w, b, X, y, lam, direction):
    """The Hessian of sum(softplus(z)) - yᵀ z + λ/2 ||w||², z = X w + b,
    times (v, c), written here: with d = σ'(z) and u = d ∘ (X v + c),
    (Xᵀ u + λ v, sum(u))."""
    v, c = direction
    z = X @ w + b
    u = sigmoid(z) * (1 - sigmoid(z)) * (X @ v + c)
    return X.T @ u + lam * v, np.sum(u)


def logreg_hessian(w, b, X, y, lam):
    """[[Xᵀ diag(d) X + λ I, Xᵀ d], [dᵀ X, sum(d)]], d = σ'(X w + b), written here."""
    z = X @ w + b
    d = sigmoid(z) * (1 - sigmoid(z))
    ones = np.ones((len(z), 1))
    design = np.hstack([X, ones])  # the Hessian of the intercept is that of a column of ones
    return design.T @ (d[:, None] * design) + lam * np.diag(np.r_[np.ones(len(w)), 0.0])


# ------------------------------------------------------ correct models pass

def test_a_correct_logistic_regression_passes_with_every_row_named(tmp_path, capsys):
    path = module_file(tmp_path, LOGREG)
    assert main(["check", path, "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "  hvp J wrt w  " in out and "  hvp J wrt b  " in out and "  hessian J  " in out
    assert out.splitlines()[-1].startswith("passed: all 5 derivatives agree with finite differences")


def test_the_transcript_in_the_documentation_has_the_rows_symgrad_prints(monkeypatch, capsys):
    """Row by row, but for the errors, values and the worst entry (their last
    digits are the machine's)."""
    text = (REPO / "docs" / "checking.md").read_text(encoding="utf-8")
    shown = text.split("$ symgrad check examples/logreg_newton.sg\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(REPO)  # the report names the model as the command line does
    assert main(["check", "examples/logreg_newton.sg"]) == 0

    def rows(report: str) -> list[list[str]]:
        return [re.sub(r"-?\d+\.\d+(e[-+]\d+)?|\[[\d, ]*\]", "#", line).split() for line in report.splitlines()]
    assert rows(shown) == rows(capsys.readouterr().out)


def test_the_array_api_targets_functions_are_checked_alike(capsys):
    assert main(["check", str(REPO / "examples" / "logreg_newton.sg"), "--target", "array-api"]) == 0
    assert "  hessian J  " in capsys.readouterr().out


def test_a_tanh_network_passes_for_every_variable_of_its_hvp():
    report = symgrad.check(MLP, dims={"h": 3, "n": 2, "N": 4}, seed=2)
    assert report.passed, str(report)
    assert [(r.name, r.shape, r.directions) for r in report.derivatives] == [
        ("hvp J wrt W1", [3, 2], 4), ("hvp J wrt b1", [3], 4), ("hvp J wrt w2", [3], 4)]
    assert max(r.max_rel_error for r in report.derivatives) < 1e-6


def test_a_deep_tanh_chain_whose_third_derivatives_are_large_passes():
    """60 layers: at seed 5 the central difference of the gradient alone is
    1.4e-5 off the hvp (its O(t²) truncation error); the Richardson retry
    of a failing comparison gets within rtol."""
    layers = "".join(f"h{i} = tanh(W h{i - 1})\n" for i in range(1, 61))
    model = f"param W : R^(n x n)\ninput x : R^n\nh0 = x\n{layers}s = sum(h60)\nhessian s wrt W, x\n"
    report = symgrad.check(model, seed=5)
    assert report.passed, str(report)


def test_a_hessian_with_a_scalar_variable_is_checked_column_by_column_and_for_symmetry():
    report = symgrad.check(LOGREG, seed=0)
    hessian = report.derivative("hessian J")
    assert report.passed, str(report)
    assert (hessian.shape, hessian.entries_checked, hessian.variable) == ([4, 4], 16, "w, b")
    assert hessian.asymmetry["max_rel_error"] <= 1e-5


def test_a_file_of_jacobian_statements_only_is_checked_against_the_value():
    report = symgrad.check(JACOBIAN, dims={"n": 3, "N": 5}, seed=4)
    assert report.passed, str(report)
    assert report.results == []
    row = report.derivative("jacobian p wrt w")
    assert (row.shape, row.entries_checked, row.directions) == ([5, 3], 15, 4)


def test_second_derivatives_of_relu_are_zero_away_from_its_kinks():
    model = ("param W : R^(h x n)\ninput X : R^(n x N)\nparam u : R^h\n"
             "J = sum((uᵀ relu(W X)) .^ 2)\nhessian J wrt W, u\n")
    for seed in range(3):
        assert symgrad.check(model, dims={"h": 3, "n": 2, "N": 3}, seed=seed).passed


def test_differences_of_the_gradient_across_a_kink_are_skipped_with_the_inputs_given():
    """relu's argument is 0 at the given inputs: every step crosses its kink,
    where the gradient jumps, so no difference of it is evidence."""
    model = "param w : R^n\ninput X : R^(N x n)\nJ = sum(relu(X w)) + 1/2 wᵀw\nhessian J wrt w\n"
    X = np.array([[1.0, -2.0], [0.5, -2.0], [1.0, 3.0]])
    report = symgrad.check(model, inputs={"w": np.array([1.0, 0.5]), "X": X})
    assert [(r.name, r.entries_checked, r.skipped_at_kinks > 0) for r in report.derivatives] == [
        ("hvp J wrt w", 0, True), ("hessian J", 0, True)]
    assert any(note.endswith("comparisons skipped: the inputs put a kink within the step") for note in report.notes)


def test_hand_written_functions_pass_and_the_json_carries_their_rows(tmp_path):
    written = "\n\n".join(["import numpy as np", _source(sigmoid), _source(logreg_hvp), _source(logreg_hessian),
                           "hvp_J = logreg_hvp", "hessian_J = logreg_hessian"])
    path = module_file(tmp_path, LOGREG, "\n\n" + written + "\n")
    report = symgrad.check(path, seed=3)
    assert report.passed, str(report)
    data = json.loads(report.to_json())
    rows = {row["name"]: row for row in data["derivatives"]}
    assert set(rows) == {"hvp J wrt w", "hvp J wrt b", "hessian J"}
    assert rows["hvp J wrt w"]["kind"] == "hvp" and rows["hessian J"]["kind"] == "hessian"
    assert set(rows["hvp J wrt w"]) >= {"target", "variable", "shape", "entries_checked", "directions",
                                        "max_rel_error", "worst", "passed", "error", "asymmetry"}
    assert rows["hvp J wrt w"]["worst"]["via"] == "hvp" and rows["hessian J"]["passed"]
    assert "| hvp J wrt w | 3 | 3 of 3 |" in report.to_markdown()


def _source(function) -> str:
    import inspect
    return inspect.getsource(function)


# ------------------------------------------------------ planted bugs fail

def test_an_hvp_off_by_one_percent_fails_with_status_1_naming_it(tmp_path, capsys):
    path = module_file(tmp_path, LOGREG, "\n\n_generated = hvp_J\n\n\ndef hvp_J(*args):\n"
                                         "    return HVP_J(*(1.01 * part for part in _generated(*args)))\n")
    assert main(["check", path]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == ("FAILED: 2 of 5 derivatives disagree with finite differences "
                                    "(hvp J wrt w, hvp J wrt b)")
    row = next(line for line in out.splitlines() if line.startswith("  hvp J wrt w"))
    assert row.endswith("FAIL") and "direction" in row


def test_an_hvp_wrong_in_one_block_fails_that_variable_only(tmp_path):
    """The b1 part of the product perturbed: the other variables pass."""
    path = module_file(tmp_path, MLP, "\n\n_generated = hvp_J\n\n\ndef hvp_J(*args):\n"
                                      "    W1, b1, w2 = _generated(*args)\n"
                                      "    return HVP_J(W1, b1 + 1e-3 * w2, w2)\n")
    report = symgrad.check(path, dims={"h": 3, "n": 2, "N": 4})
    assert {r.name for r in report.derivatives if not r.passed} == {"hvp J wrt b1"}


def test_a_hessian_missing_a_term_fails_at_its_entries(tmp_path):
    """λ dropped from the diagonal of the w block: the columns compared show it."""
    path = module_file(tmp_path, LOGREG, "\n\n_generated = hessian_J\n\n\ndef hessian_J(*args):\n"
                                         "    H = _generated(*args).copy()\n"
                                         "    H[:-1, :-1] -= 0.1 * _np.identity(len(args[0]))\n    return H\n")
    report = symgrad.check(path, inputs={"lam": np.array(0.1)})
    row = report.derivative("hessian J")
    assert not report.passed and not row.passed and report.derivative("hvp J wrt w").passed
    assert row.worst["where"][0] == row.worst["where"][1] < 3  # a diagonal entry of the w block
    assert abs(row.worst["numeric"] - row.worst["analytic"] - 0.1) < 1e-6


def test_an_asymmetric_hessian_fails_and_the_report_says_where(tmp_path, capsys):
    path = module_file(tmp_path, LOGREG, "\n\n_generated = hessian_J\n\n\ndef hessian_J(*args):\n"
                                         "    H = _generated(*args).copy()\n    H[0, 2] += 1e-3\n    return H\n")
    assert main(["check", path, "--json", str(tmp_path / "report.json")]) == 1
    out = capsys.readouterr().out
    assert "note: hessian J is not symmetric: entry [0, 2] is " in out
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    hessian = next(row for row in data["derivatives"] if row["name"] == "hessian J")
    assert not hessian["passed"] and hessian["asymmetry"]["where"] in ([0, 2], [2, 0])
    assert data["passed"] is False


def test_a_jacobian_with_two_columns_swapped_fails_and_value_and_jacobian_is_checked_too(tmp_path):
    swapped = module_file(tmp_path, JACOBIAN, "\n\n_generated = jacobian_p\n\n\ndef jacobian_p(*args):\n"
                                              "    return _generated(*args)[:, [1, 0, 2]]\n")
    report = symgrad.check(swapped, dims={"n": 3, "N": 5})
    assert not report.passed and report.derivative("jacobian p wrt w").worst["via"] == "jacobian"
    scaled = module_file(tmp_path, JACOBIAN, "\n\n_generated = value_and_jacobian_p\n\n\n"
                                             "def value_and_jacobian_p(*args):\n"
                                             "    y, J = _generated(*args)\n    return y, 1.001 * J\n")
    report = symgrad.check(scaled, dims={"n": 3, "N": 5})
    assert report.derivative("jacobian p wrt w").worst["via"] == "value_and_jacobian"
    assert not report.passed


def test_a_module_without_the_function_fails_saying_so(tmp_path):
    path = module_file(tmp_path, LOGREG, "\n\ndel hvp_J\n")
    report = symgrad.check(path)
    assert not report.passed
    assert "hvp J wrt w: the module has no hvp_J: compile the model again" in report.notes


def test_a_hessian_that_raises_fails_its_row_and_the_hvp_is_still_checked(tmp_path):
    path = module_file(tmp_path, LOGREG, "\n\ndef hessian_J(*args):\n    raise ValueError('no')\n")
    report = symgrad.check(path)
    assert [(r.name, r.passed) for r in report.derivatives] == [
        ("hvp J wrt w", True), ("hvp J wrt b", True), ("hessian J", False)]
    assert "hessian J: hessian_J raised ValueError: no" in report.notes


def test_a_module_checks_its_own_second_derivatives():
    module = symgrad.compile_source(LOGREG, with_check=True)
    found = module.check_gradients(seed=2, quiet=True)
    assert found["passed"]
    assert [row["name"] for row in found["derivatives"]] == ["hvp J wrt w", "hvp J wrt b", "hessian J"]
