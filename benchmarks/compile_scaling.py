"""How compile time grows with the size of a model: MLPs of 25, 50, 100 and
200 layers (docs/performance.md quotes this table).

    python benchmarks/compile_scaling.py [--layers 25 50 100 200] [--runs 5]

Layer i is `H_i = relu(W_i H_(i-1) + b_i)` over a batch of columns, the loss
1/2 ||H - Y||^2, and `grad E` asks for every weight and bias. For each size
the table gives the best of --runs for each phase of symgrad.compiler's
generate_module: the front end (parse, names, shapes: symgrad.lowering.
analyze), reverse-mode differentiation, and writing the NumPy module (with
its gradient-check probe); then their total, the total per layer, and the
lines of the module written. Compile time grows linearly when the
per-layer column stays flat.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

from symgrad import __version__
from symgrad.codegen import generate
from symgrad.differentiation import differentiate_program
from symgrad.lowering import analyze
from symgrad.second_order import differentiate_second_order
from symgrad.source import Source


def mlp_model(layers: int, activation: str = "relu") -> str:
    """An MLP of `layers` layers of width w over a batch of N columns."""
    lines = ["input X : R^(w x N)", "input Y : R^(w x N)"]
    previous = "X"
    for i in range(layers):
        lines += [f"param W{i} : R^(w x w)", f"param b{i} : R^w", f"H{i} = {activation}(W{i} {previous} + b{i})"]
        previous = f"H{i}"
    lines += [f"E = 1/2 ||{previous} - Y||^2", "grad E"]
    return "\n".join(lines) + "\n"


def phases(text: str, name: str) -> tuple[float, float, float, int]:
    """Seconds of the front end, differentiation and code generation, and
    the lines of the module."""
    start = time.perf_counter()
    program = analyze(Source(text, name))
    checked = time.perf_counter()
    derivations = differentiate_program(program)
    second_order = differentiate_second_order(program, derivations)
    derived = time.perf_counter()
    code = generate(program, derivations, second_order)
    written = time.perf_counter()
    return checked - start, derived - checked, written - derived, code.count("\n")


def measure(layers: int, runs: int) -> dict:
    text = mlp_model(layers)
    samples = [phases(text, f"mlp{layers}.sg") for _ in range(runs)]
    front, derive, write = (min(s[k] for s in samples) for k in range(3))
    return {"layers": layers, "front end": front, "differentiate": derive, "write module": write,
            "total": front + derive + write, "lines": samples[0][3]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--runs", type=int, default=5, help="best of this many (default 5)")
    options = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {sys.version.split()[0]}, "
          f"symgrad {__version__}; best of {options.runs}")
    measure(5, 1)  # imports and first-call costs out of the way
    print("\n| layers | front end | differentiate | write module | total | per layer | module lines |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for layers in options.layers:
        row = measure(layers, options.runs)
        print(f"| {layers} | {row['front end'] * 1e3:.1f} ms | {row['differentiate'] * 1e3:.1f} ms | "
              f"{row['write module'] * 1e3:.1f} ms | {row['total'] * 1e3:.1f} ms | "
              f"{row['total'] / layers * 1e3:.2f} ms | {row['lines']:,} |")


if __name__ == "__main__":
    main()
