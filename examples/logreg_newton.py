"""Newton's method from a generated Hessian-vector product: L2-regularized
logistic regression (examples/logreg_newton.sg) on scikit-learn's 8x8
digits (bundled, no download), one digit against the rest, minimized by
scipy.optimize.minimize twice from w = 0, b = 0:

- `trust-ncg`, a trust-region Newton method whose conjugate-gradient inner
  loop asks only for products (∇²J) p, which the module's hvp gives;
- `L-BFGS-B`, a quasi-Newton method that uses the gradient alone.

Both run to tight tolerances; the script prints each one's iterations,
function and derivative calls, seconds, final objective and gradient norm.

    python examples/logreg_newton.py                 # the digit 3 against the rest, lam = 1
    python examples/logreg_newton.py --digit 8 --lam 0.1
    python examples/logreg_newton.py --quick         # the first 400 digits

Needs the `examples` and `optimize` extras: pip install -e ".[examples,optimize]".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import symgrad

MODEL = Path(__file__).resolve().parent / "logreg_newton.sg"

# Each method with tolerances tight enough that both stop at the same minimum.
METHODS = {
    "trust-ncg": dict(gtol=1e-7),
    "L-BFGS-B": dict(gtol=1e-9, ftol=1e-15, maxiter=20000, maxcor=20),
}


def digits(digit: int, examples: int | None = None):
    """(X, y): one example per row, pixels scaled to [0, 1]; y = 1 for the digit, 0 for the rest."""
    from sklearn.datasets import load_digits
    data = load_digits()
    X, labels = data.data[:examples] / 16.0, data.target[:examples]
    return X, (labels == digit).astype(np.float64)


def solve(method: str, X, y, lam: float) -> dict:
    """Minimize J from w = 0, b = 0 with one method; what it took and where it stopped."""
    objective = symgrad.objective(symgrad.load(MODEL), {"w": np.zeros(X.shape[1]), "b": 0.0}, X=X, y=y, lam=lam)
    start = time.perf_counter()
    result = objective.minimize(method=method, options=METHODS[method])
    seconds = time.perf_counter() - start
    return dict(method=method, iterations=result.nit, fun_calls=result.nfev, grad_calls=result.njev,
                hvp_calls=getattr(result, "nhev", 0), seconds=seconds, objective=result.fun,
                gradient_norm=float(np.linalg.norm(objective.jac(result.x))), params=result.params,
                success=bool(result.success))


def main(argv=None, out=sys.stdout) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digit", type=int, default=3, help="the class against the rest (default 3)")
    parser.add_argument("--lam", type=float, default=1.0, help="the L2 strength on w (default 1)")
    parser.add_argument("--quick", action="store_true", help="the first 400 digits only")
    options = parser.parse_args(argv)
    X, y = digits(options.digit, 400 if options.quick else None)
    print(f"digit {options.digit} against the rest: {X.shape[0]} examples, {X.shape[1]} pixels, "
          f"lam = {options.lam:g}", file=out)
    print(f"{'method':<10} {'iterations':>10} {'J calls':>8} {'∇J calls':>9} {'HVPs':>6} {'seconds':>8} "
          f"{'objective':>22} {'‖∇J‖':>9}", file=out)
    runs = [solve(method, X, y, options.lam) for method in METHODS]
    for run in runs:
        print(f"{run['method']:<10} {run['iterations']:>10} {run['fun_calls']:>8} {run['grad_calls']:>9} "
              f"{run['hvp_calls']:>6} {run['seconds']:>8.3f} {run['objective']:>22.15f} "
              f"{run['gradient_norm']:>9.1e}", file=out)
    return runs


if __name__ == "__main__":
    main()
