"""`symgrad check`: the command line of the derivative check (symgrad.checking)."""

from __future__ import annotations

import os
import sys
import time

from .checking import CheckInputError, check
from .compiler import UnknownTarget, load


def parse_dims(text: str) -> dict[str, int]:
    """`n=8,m=20` as {"n": 8, "m": 20}; ValueError with a reason otherwise."""
    dims = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, equals, size = part.partition("=")
        if not equals or not name.strip() or not size.strip().isdigit() or int(size) < 1:
            raise ValueError(f"expected NAME=SIZE with a positive integer size, got '{part}'")
        dims[name.strip()] = int(size)
    return dims


class Progress:
    """A progress line on standard error, shown only on a terminal and only
    once the check has taken a second."""

    def __init__(self, stream=sys.stderr, after: float = 1.0):
        self.stream = stream
        self.start = time.monotonic()
        self.after = after
        self.shown = 0.0

    def __call__(self, done: int, total: int):
        now = time.monotonic()
        if now - self.start < self.after or now - self.shown < 0.1:
            return
        self.shown = now
        self.stream.write(f"\rchecking: {100 * done // max(total, 1)}% ({done}/{total} evaluations)")
        self.stream.flush()

    def close(self):
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def run(args) -> int:
    """`symgrad check`: 0 when every gradient, hvp, hessian and jacobian
    passes, 1 when one fails, 2 for bad input."""
    if args.json == args.markdown == "-":
        print("symgrad: error: --json - and --markdown - would both write to standard output: "
              "write one of them to a file", file=sys.stderr)
        return 2
    try:
        dims = parse_dims(args.dims or "")
    except ValueError as error:
        print(f"symgrad: error: --dims: {error}", file=sys.stderr)
        return 2
    model = args.model
    if args.target != "numpy":  # another target's module, run on NumPy arrays
        try:
            model = load(args.model, target=args.target)
        except UnknownTarget as error:
            print(f"symgrad: error: --target: {error}", file=sys.stderr)
            return 2
    progress = Progress() if sys.stderr.isatty() else None
    try:
        report = check(model, dims, args.seed, args.inputs, args.max_entries, args.directions,
                       args.rtol, progress)
    except CheckInputError as error:
        print(f"symgrad: error: {error}", file=sys.stderr)
        return 2
    finally:
        if progress:
            progress.close()
    # Standard output holds one thing: the report that `-` asks for, alone (so
    # that it can be piped to a parser), else the table, which then goes to
    # standard error.
    table = sys.stderr if "-" in (args.json, args.markdown) else sys.stdout
    color = table.isatty() and not os.environ.get("NO_COLOR")
    print(report.to_text(color), file=table)
    for path, text in ((args.json, report.to_json()), (args.markdown, report.to_markdown())):
        if path == "-":
            sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
        elif path:
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text + ("" if text.endswith("\n") else "\n"))
    return 0 if report.passed else 1
