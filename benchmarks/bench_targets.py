"""The array-API target against the NumPy target (docs/backends.md).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        python benchmarks/bench_targets.py [--repeats 21]

Times value_and_grad on the MLP workloads W2 and W3 of bench_numpy.py: the
NumPy target's module on NumPy arrays, and the array-API target's module on
NumPy arrays, PyTorch CPU tensors and, under jax.jit, JAX arrays (those
whose library is installed). Rounds are interleaved (each runs every
implementation once, in a shuffled order); prints the median per call and
the ratio to the NumPy target.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import time
from pathlib import Path

import symgrad

HERE = Path(__file__).parent


def implementations(text: str, filename: str, args: list) -> dict:
    numpy_module = symgrad.compile_source(text, filename)
    module = symgrad.compile_source(text, filename, target="array-api")
    runs = {"numpy target": lambda: numpy_module.value_and_grad(*args),
            "array-api on NumPy": lambda: module.value_and_grad(*args)}
    if importlib.util.find_spec("torch"):
        import torch
        torch.set_num_threads(1)
        tensors = [torch.from_numpy(a) for a in args]
        runs["array-api on PyTorch CPU"] = lambda: module.value_and_grad(*tensors)
    if importlib.util.find_spec("jax"):
        import jax
        jax.config.update("jax_enable_x64", True)
        arrays, jitted = [jax.numpy.asarray(a) for a in args], jax.jit(module.value_and_grad)
        runs["array-api under jax.jit"] = lambda: jax.block_until_ready(jitted(*arrays))
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    options = parser.parse_args()
    spec = importlib.util.spec_from_file_location("bench_numpy", HERE / "bench_numpy.py")
    bench_numpy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_numpy)
    for label, model, args, *_ in bench_numpy.workloads(quick=False):
        if not label.startswith(("W2", "W3")):
            continue
        runs = implementations((bench_numpy.MODELS / model).read_text(encoding="utf-8"), model, list(args.values()))
        for run in runs.values():  # compile (jit) and warm up
            run()
        samples = {name: [] for name in runs}
        for _ in range(options.repeats):
            for name in random.sample(list(runs), len(runs)):
                start = time.perf_counter()
                runs[name]()
                samples[name].append(time.perf_counter() - start)
        base = statistics.median(samples["numpy target"])
        for name, times in samples.items():
            median = statistics.median(times)
            print(f"{label:28s} {name:26s} {median * 1e3:8.2f} ms  {median / base:5.2f}x")


if __name__ == "__main__":
    main()
