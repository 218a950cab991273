"""examples/logreg_newton.py --quick: trust-ncg from the generated HVP and
L-BFGS-B from the gradient stop at one minimum of the digits' logistic
regression, where the objective and gradient written in NumPy here agree."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from checking import imported

pytest.importorskip("scipy")
pytest.importorskip("sklearn")

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "logreg_newton.py"


def numpy_objective(w, b, X, y, lam):
    """J = sum(log(1 + exp(z))) - yᵀ z + lam/2 ||w||², z = X w + b, and its gradient in w and b."""
    z = X @ w + b
    r = 1 / (1 + np.exp(-z)) - y
    return np.sum(np.logaddexp(0, z)) - y @ z + lam / 2 * w @ w, X.T @ r + lam * w, r.sum()


def test_quick_newton_and_lbfgs_reach_the_minimum_where_the_numpy_gradient_vanishes():
    example = imported(SCRIPT)
    out = io.StringIO()
    newton, lbfgs = example.main(["--quick", "--digit", "3"], out=out)
    X, y = example.digits(3, 400)
    for run in (newton, lbfgs):
        assert run["success"], run["method"]
        J, gradient_w, gradient_b = numpy_objective(run["params"]["w"], run["params"]["b"], X, y, 1.0)
        assert run["objective"] == pytest.approx(J, rel=1e-12)
        assert np.linalg.norm(np.append(gradient_w, gradient_b)) < 1e-5, run["method"]
    assert newton["objective"] == pytest.approx(lbfgs["objective"], rel=1e-9)
    assert newton["hvp_calls"] > 0 and newton["iterations"] < lbfgs["iterations"]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("digit 3 against the rest: 400 examples, 64 pixels")
    assert [line.split()[0] for line in lines[2:]] == ["trust-ncg", "L-BFGS-B"]
