"""How long the front end (parse and check shapes) takes on large models.

Prints the seconds `symgrad.lowering.analyze` takes on:
- a 100,000-line model (layers of the window classifier, each adding its
  score to the last; declarations, products, a user function, comments);
- the same model with mistakes in every layer (an unknown name, a shape
  mismatch, a syntax error), rejected with every error rendered;
- a chain of 1,000 definitions, each using the one before;
- 5,000 nested brackets, with and without an operation at each level.
The bound the front end is held to: under 10 s for 100,000 lines.

    python benchmarks/front_end.py [--lines 100000] [--runs 3]

Each time is the best of --runs. tests/test_scale.py checks these models at
test-friendly sizes with no timing; the functions below make them.
"""

from __future__ import annotations

import argparse
import time

from symgrad.lowering import analyze
from symgrad.source import ModelError, Source

# One layer of the window classifier: 7 lines.
LAYER = """\
param W{k} : R^(n x m)
param b{k} : R^n
param u{k} : R^n
# layer {k}: its score, added to the ones before
z{k} = W{k} x + b{k}
h{k} = f(z{k})
s{k} = s{j} + u{k}^T h{k}
"""
# The same layer with three mistakes: an unknown name (x{k} is nowhere
# declared), a shape mismatch (b{k} + u{k}^T) and a syntax error.
BROKEN_LAYER = """\
param W{k} : R^(n x m)
param b{k} : R^n
param u{k} : R^n
# layer {k}: three mistakes
z{k} = W{k} x{k} + b{k}
h{k} = b{k} + u{k}^T
s{k} = s{j} + u{k}^T h{k} +
"""


def layers(lines: int, layer: str = LAYER) -> str:
    """A model of about `lines` lines made of `layer`s."""
    head = "input x : R^m\nf(t) = sigmoid(t)\ns0 = 0\n"
    count = max(1, (lines - 4) // layer.count("\n"))
    body = "".join(layer.format(k=k, j=k - 1) for k in range(1, count + 1))
    return f"{head}{body}grad s{count}\n"


def chain(length: int) -> str:
    """`length` definitions, each made from the one before."""
    body = "".join(f"x{k} = tanh(x{k - 1}) + 2 x{k - 1}\n" for k in range(1, length + 1))
    return f"param x0 : R^n\n{body}s = sum(x{length})\ngrad s\n"


def nested(depth: int, operation: str = "") -> str:
    """`depth` brackets around `a`; with `operation` (say " + a"), one more
    operation inside each, so that the expression is `depth` levels deep."""
    return f"param a : R\ny = {'(' * depth}a{(operation + ')') * depth}\ngrad y\n"


def seconds(text: str, runs: int) -> float:
    """The best time of `runs` checks of `text` (and rendering its errors)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        try:
            analyze(Source(text, "model.sg"))
        except ModelError as error:
            error.render()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cases = [
        (f"{args.lines:,}-line model", layers(args.lines)),
        (f"{args.lines:,}-line model, 3 mistakes a layer", layers(args.lines, BROKEN_LAYER)),
        ("1,000-definition chain", chain(1000)),
        ("5,000 nested brackets", nested(5000)),
        ("5,000 nested brackets, each with a +", nested(5000, " + a")),
    ]
    analyze(Source(chain(3)))  # build the parser tables once, outside the times
    for name, text in cases:
        print(f"{name:<40} {text.count(chr(10)):>7} lines  {seconds(text, args.runs):7.3f} s", flush=True)


if __name__ == "__main__":
    main()
