"""How long `symgrad.derive` takes on every model in examples/.

For each file: `warm`, the median of several in-process runs of
`symgrad.derive(path)` (parse, check shapes, differentiate, derive the
partials of user functions), after one run that warms the caches; and
`cold`, the median of a few fresh processes that import symgrad and derive
the file once (what `symgrad derive FILE` costs, without interpreter
start-up: SymPy is imported only for models with user functions).
The target is under 0.5 s per example.

    python benchmarks/derive_times.py [--runs 7] [--cold-runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import symgrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

COLD = """\
import sys, time
start = time.perf_counter()
import symgrad
symgrad.derive(sys.argv[1])
print(time.perf_counter() - start)
"""


def warm(path: Path) -> float:
    start = time.perf_counter()
    symgrad.derive(str(path))
    return time.perf_counter() - start


def cold(path: Path) -> float:
    done = subprocess.run([sys.executable, "-c", COLD, str(path)], capture_output=True, text=True, check=True)
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="in-process runs per example (default 7)")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes per example (default 3)")
    options = parser.parse_args()
    print(f"{'example':<26} {'warm':>9} {'cold':>9}   (medians of {options.runs} and {options.cold_runs} runs)")
    for path in sorted(EXAMPLES.glob("*.sg")):
        warm(path)
        in_process = statistics.median(warm(path) for _ in range(options.runs))
        fresh = statistics.median(cold(path) for _ in range(options.cold_runs))
        print(f"{path.name:<26} {in_process * 1000:6.1f} ms {fresh * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
