"""Where a generated value_and_grad spends its time, statement by statement.

    python benchmarks/profile_steps.py W1 [--runs 2000] [--target numba]

Runs each statement of the generated value_and_grad of a workload of
bench_numpy.py on its inputs, alone, many times, and prints the best time per
run of each, less the cost of running an empty statement the same way, with
the totals of the three parts: taking the arguments (conversion, shape checks,
dims), the computation, and returning the results (shapes, dtypes, the
NamedTuple). The parts' sum is close to, not equal to, a whole call's time.

With --target numba, whose whole computation is one compiled kernel, it
splits the call instead: the Python wrapper (a whole call less the kernel),
the kernel, and numba's call boundary alone, an empty compiled function of
the same arguments that hands back as many fresh arrays as the kernel does
(dispatch, unboxing, boxing).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import textwrap
import timeit

import numpy as np

import symgrad
from bench_numpy import MODELS, workloads


def statements(function):
    """The statements of function's body, without its docstring."""
    body = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0].body[1:]
    return [ast.unparse(s).replace("return ", "_result = ", 1) if isinstance(s, ast.Return) else ast.unparse(s)
            for s in body]


def best_time(code, namespace, runs: int) -> float:
    return min(timeit.repeat(lambda: exec(code, dict(namespace)), number=runs, repeat=5)) / runs


def numba_split(module, args: dict, runs: int) -> None:
    """The numba module's value_and_grad: whole call, kernel, call boundary."""
    import numba
    gradients = module.value_and_grad(**args)[1]
    kernel = module._value_and_grad_kernel
    # The kernel's parameters are _in_NAME, in the model's order.
    given = [args[name.removeprefix("_in_")] for name in inspect.signature(kernel.py_func).parameters]
    fresh = "".join(f"_np.empty({g.shape!r}), " for g in gradients)
    namespace = {"_np": np}
    exec(f"def boundary(*given):\n    return 0.0, ({fresh})", namespace)
    boundary = numba.njit(namespace["boundary"])
    calls = {"a whole call": lambda: module.value_and_grad(*given), "the kernel": lambda: kernel(*given),
             "the call boundary": lambda: boundary(*given)}
    for call in calls.values():
        call()  # compiles
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(5):  # interleaved, so that a busy moment slows all three alike
        for name, call in calls.items():
            best[name] = min(best[name], timeit.timeit(call, number=runs) / runs)
    print(f"# value_and_grad of the numba target, best of 5 x {runs} calls, interleaved\n")
    for name in calls:
        print(f"{best[name] * 1e6:9.2f} us  {name}")
    print(f"{(best['a whole call'] - best['the kernel']) * 1e6:9.2f} us  the wrapper (a whole call less the kernel)")
    print(f"{(best['the kernel'] - best['the call boundary']) * 1e6:9.2f} us  "
          f"the kernel's own work (the kernel less the boundary)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", help="W1, W2, ... as in bench_numpy.py")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--target", default="numpy", choices=["numpy", "numba"])
    options = parser.parse_args()
    label, model, args, *_ = next(w for w in workloads(quick=False) if w[0].startswith(options.workload))
    module = symgrad.load(MODELS / model, target=options.target)
    if options.target == "numba":
        return numba_split(module, args, options.runs)
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
