"""Where a generated value_and_grad spends its time, statement by statement.

    python benchmarks/profile_steps.py W1 [--runs 2000]

Runs each statement of the generated value_and_grad of a workload of
bench_numpy.py on its inputs, alone, many times, and prints the best time per
run of each, less the cost of running an empty statement the same way, with
the totals of the three parts: taking the arguments (conversion, shape checks,
dims), the computation, and returning the results (shapes, dtypes, the
NamedTuple). The parts' sum is close to, not equal to, a whole call's time.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import textwrap
import timeit

import symgrad
from bench_numpy import MODELS, workloads


def statements(function):
    """The statements of function's body, without its docstring."""
    body = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0].body[1:]
    return [ast.unparse(s).replace("return ", "_result = ", 1) if isinstance(s, ast.Return) else ast.unparse(s)
            for s in body]


def best_time(code, namespace, runs: int) -> float:
    return min(timeit.repeat(lambda: exec(code, dict(namespace)), number=runs, repeat=5)) / runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", help="W1, W2, ... as in bench_numpy.py")
    parser.add_argument("--runs", type=int, default=2000)
    options = parser.parse_args()
    label, model, args, *_ = next(w for w in workloads(quick=False) if w[0].startswith(options.workload))
    module = symgrad.load(MODELS / model)
    namespace = dict(vars(module), **args)
    empty = best_time(compile("pass", "empty", "exec"), namespace, options.runs)
    steps = statements(module.value_and_grad)
    # The arguments are taken by the module's _arguments (one statement); the
    # last statement returns the results.
    taken = next(i for i, text in enumerate(steps) if "_arguments(" in text)
    parts = {"arguments": 0.0, "computation": 0.0, "results": 0.0}
    print(f"# {label}: value_and_grad, best of 5 x {options.runs} runs per statement\n")
    for index, text in enumerate(steps):
        code = compile(text, "step", "exec")
        seconds = max(best_time(code, namespace, options.runs) - empty, 0.0)
        exec(code, namespace)
        part = "arguments" if index <= taken else "results" if index == len(steps) - 1 else "computation"
        parts[part] += seconds
        print(f"{seconds * 1e6:9.2f} us  {text.splitlines()[0][:100]}")
    print()
    for name, seconds in parts.items():
        print(f"{seconds * 1e6:9.2f} us  {name}")
    whole = min(timeit.repeat(lambda: module.value_and_grad(**args), number=options.runs, repeat=5)) / options.runs
    print(f"{whole * 1e6:9.2f} us  a whole call")


if __name__ == "__main__":
    main()
