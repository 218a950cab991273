"""Full-batch gradient descent for L2-regularized logistic regression
(examples/logreg_columns.sg) over a dataset that is never in one process: it
is generated chunk by chunk on the workers of a dask.distributed cluster,
stays there, and each step sends the workers the weights and gets back
their summed gradient.

The examples are the columns of X, split into chunks of columns. With the
NumPy target (the default) every worker runs the compiled model on its
chunks: a chunk of N of the N_all examples gives its share of the loss,
1/N_all sum over its examples, and of the gradient; the L2 term is given to
the first chunk alone (lambda there, 0 elsewhere), so that the shares add up
to the full-batch loss and gradient exactly. The shares are added in a tree
of tasks on the workers, four at a time; only the d + 2 numbers of the
result come back to this process.

With `--target array-api` the module compiled for the array API standard is
called once on the whole dataset as dask arrays: dask builds the graph
(products and sums over chunks, its own tree reductions) and the cluster
runs it.

    python examples/dask_logreg.py                                  # a LocalCluster
    python examples/dask_logreg.py --examples 2000000 --chunks 16 --steps 5
    python examples/dask_logreg.py --scheduler tcp://10.0.0.5:8786  # a running cluster
    python examples/dask_logreg.py --target array-api

Needs the `dask` extra: pip install -e ".[dask]"; the workers of a cluster
need symgrad and NumPy installed too (each compiles the model once).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

import symgrad

MODEL = Path(__file__).resolve().parent / "logreg_columns.sg"
BLOCK = 4096   # examples drawn from one seed


def chunk_bounds(examples: int, chunks: int) -> list[tuple[int, int]]:
    """(start, stop) of `chunks` consecutive chunks of the examples, as equal as can be."""
    stops = [examples * (k + 1) // chunks for k in range(chunks)]
    return list(zip([0] + stops[:-1], stops))


def make_examples(seed: int, start: int, stop: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    """Examples start to stop - 1 of the data set, (X, y): one example per
    column of X, standard normal features, and labels of +1 or -1 drawn with
    P(y = +1 | x) = sigmoid(w*ᵀ x + b*). The true (w*, b*) are drawn from the
    seed, and each block of BLOCK examples from (seed, block), so that the
    data set is the same whichever process makes which part of it, and
    however it is chunked."""
    truth = np.random.default_rng(seed)
    w_true, b_true = truth.standard_normal(features) / np.sqrt(features), truth.standard_normal()
    X, u = np.empty((features, stop - start)), np.empty(stop - start)
    for block in range(start // BLOCK, (stop - 1) // BLOCK + 1):
        rng = np.random.default_rng([seed, block])
        X_block, u_block = rng.standard_normal((features, BLOCK)), rng.random(BLOCK)
        first, last = max(start, block * BLOCK), min(stop, (block + 1) * BLOCK)
        X[:, first - start:last - start] = X_block[:, first - block * BLOCK:last - block * BLOCK]
        u[first - start:last - start] = u_block[first - block * BLOCK:last - block * BLOCK]
    p = 1 / (1 + np.exp(-(w_true @ X + b_true)))
    return X, np.where(u < p, 1.0, -1.0)


def lazy_chunks(examples: int, features: int, chunks: int, seed: int = 0) -> list[tuple]:
    """The chunks of the data set, each (X_k, y_k) as dask arrays of shapes
    (features, size) and (size,). Nothing is computed yet: each chunk is a
    task that makes it where it runs."""
    import dask
    import dask.array as da
    parts = []
    for start, stop in chunk_bounds(examples, chunks):
        part = dask.delayed(make_examples, pure=True)(seed, start, stop, features)
        parts.append((da.from_delayed(part[0], (features, stop - start), dtype=np.float64),
                      da.from_delayed(part[1], (stop - start,), dtype=np.float64)))
    return parts


def joined(parts: list[tuple]) -> tuple:
    """(X, y): the chunks side by side, X : (features, examples), y : (examples,)."""
    import dask.array as da
    return da.concatenate([X for X, _ in parts], axis=1), da.concatenate([y for _, y in parts])


def make_on_workers(client, parts: list[tuple]) -> list[tuple]:
    """The chunks made and kept on the workers of the client's cluster,
    chunk k on worker k mod W (left to itself, the scheduler may put most
    of them on one worker)."""
    from dask.distributed import wait
    workers = sorted(client.scheduler_info()["workers"])
    kept = [tuple(client.persist(list(part), workers=[workers[k % len(workers)]])) for k, part in enumerate(parts)]
    wait(kept)
    return kept


def chunk_share(model_text: str, X, y, w, b, examples: int, lam: float) -> tuple:
    """(J_k, ∂J_k/∂w, ∂J_k/∂b): one chunk's share of the loss and gradient,
    from the model compiled in this worker (once per process: compile_source
    keeps it by content)."""
    model = symgrad.compile_source(model_text, MODEL.name)
    J, grads = model.value_and_grad(w, b, X, y, examples, lam)
    return J, grads.w, grads.b


def add(*shares: tuple) -> tuple:
    """The sum of some (J, ∂J/∂w, ∂J/∂b)."""
    return tuple(sum(terms) for terms in zip(*shares))


def tree_sum(parts: list, fan_in: int = 4):
    """The sum of delayed parts, as a tree of tasks on the workers: each
    adds up to fan_in parts of the level below, ceil(log_fan_in(len(parts)))
    levels in all (4 is dask's own split_every for its reductions)."""
    import dask
    while len(parts) > 1:
        parts = [dask.delayed(add)(*parts[k:k + fan_in]) for k in range(0, len(parts), fan_in)]
    return parts[0]


def loss_and_grad(parts: list[tuple], w, b: float, lam: float) -> tuple:
    """(J, ∂J/∂w, ∂J/∂b) of the full batch over the chunks kept on the
    workers (make_on_workers), with the NumPy target: one share per chunk,
    computed where the chunk is, the L2 term in the first share alone, the
    shares tree-summed on the cluster."""
    import dask
    from dask.distributed import get_client
    model_text = MODEL.read_text(encoding="utf-8")
    examples = sum(X.shape[1] for X, _ in parts)
    holders = get_client().who_has([X for X, _ in parts])
    shares = []
    for k, (X, y) in enumerate(parts):
        (X_k,), (y_k,) = X.to_delayed().ravel(), y.to_delayed().ravel()   # the kept chunks themselves
        if not holders.get(X_k.key):
            raise ValueError("the chunks are not kept on the workers: pass those that make_on_workers returns")
        # Only where the chunk is: to balance the work, dask would otherwise
        # copy chunks to a worker that is idle while theirs is busy.
        with dask.annotate(workers=list(holders[X_k.key]), allow_other_workers=False):
            shares.append(dask.delayed(chunk_share)(model_text, X_k, y_k, w, b, examples, lam if k == 0 else 0.0))
    J, grad_w, grad_b = dask.compute(tree_sum(shares))[0]
    return float(J), grad_w, float(grad_b)


def array_api_loss_and_grad(model_text: str):
    """loss_and_grad through the array-API target: the compiled module is
    called on the chunks joined as dask arrays, N_all = N, and the graph it
    builds (dask's own products and reductions over chunks) is computed on
    the cluster. A LookupError if this symgrad has no array-API target."""
    import dask
    import dask.array as da
    try:
        model = symgrad.compile_source(model_text, MODEL.name, target="array-api")
    except (TypeError, ValueError) as error:   # no target argument, or an unknown target
        raise LookupError(f"this symgrad has no array-API target ({error}); use --target numpy") from None

    def loss_and_grad(parts: list[tuple], w, b: float, lam: float) -> tuple:
        X, y = joined(parts)
        J, grads = model.value_and_grad(da.from_array(w), b, X, y, X.shape[1], lam)
        J, grad_w, grad_b = dask.compute(J, grads.w, grads.b)
        return float(J), np.asarray(grad_w), float(grad_b)

    return loss_and_grad


def gradient_descent(parts: list[tuple], *, steps: int, lr: float, lam: float, step_loss_and_grad=loss_and_grad,
                     out=None) -> dict:
    """`steps` steps of full-batch gradient descent over the chunks kept on
    the workers, from w = 0, b = 0, printing the loss and gradient norm of
    each step and its seconds to out (None: standard output).
    Returns the history: loss, gradient norm and seconds per step, and the
    final (w, b)."""
    w, b = np.zeros(parts[0][0].shape[0]), 0.0
    history = {"loss": [], "grad_norm": [], "seconds": []}
    for step in range(steps):
        start = time.perf_counter()
        J, grad_w, grad_b = step_loss_and_grad(parts, w, b, lam)
        seconds = time.perf_counter() - start
        norm = float(np.sqrt(grad_w @ grad_w + grad_b ** 2))
        print(f"step {step:3d}  loss {J:.6f}  |grad| {norm:.3e}  {seconds:.3f} s", file=out)
        history["loss"].append(J)
        history["grad_norm"].append(norm)
        history["seconds"].append(seconds)
        w, b = w - lr * grad_w, b - lr * grad_b
    history["w"], history["b"] = w, b
    return history


def process_memory() -> dict:
    """This process's resident memory now and at its peak, in bytes (the
    kernel updates ru_maxrss, in KiB on Linux, lazily: it may lag behind)."""
    import resource
    import psutil
    rss = psutil.Process().memory_info().rss
    return {"rss": rss, "peak": max(rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)}


def worker_memory(dask_worker) -> dict:
    """A worker's data held (bytes of the chunks it keeps) and its process's memory."""
    return {"data": dask_worker.state.nbytes, **process_memory()}


def resident(memory: dict) -> str:
    return f"resident {memory['rss'] / 2**20:.0f} MiB (peak {memory['peak'] / 2**20:.0f} MiB)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a running cluster's scheduler (default: a LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the LocalCluster (default 2)")
    parser.add_argument("--examples", type=int, default=200_000, help="N, the number of examples (default 200000)")
    parser.add_argument("--features", type=int, default=20, help="d, the features per example (default 20)")
    parser.add_argument("--chunks", type=int, default=8, help="chunks of the examples (default 8)")
    parser.add_argument("--steps", type=int, default=10, help="gradient descent steps (default 10)")
    parser.add_argument("--lr", type=float, default=2.0, help="learning rate (default 2)")
    parser.add_argument("--lambda", dest="lam", type=float, default=1e-3, help="L2 strength (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", choices=["numpy", "array-api"], default="numpy",
                        help="numpy: the module on each chunk, shares tree-summed (default); "
                             "array-api: the module on the dask arrays, one graph")
    args = parser.parse_args(argv)
    if min(args.workers, args.examples, args.features, args.chunks) < 1 or args.chunks > args.examples:
        parser.error("--workers, --examples, --features and --chunks must be positive, chunks <= examples")

    from dask.distributed import Client, LocalCluster

    step = loss_and_grad
    if args.target == "array-api":
        try:
            step = array_api_loss_and_grad(MODEL.read_text(encoding="utf-8"))
        except LookupError as error:
            parser.error(str(error))
    started = time.perf_counter()
    cluster = (contextlib.nullcontext(args.scheduler) if args.scheduler
               else LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0"))
    with cluster as cluster_or_address, Client(cluster_or_address) as client:
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers ({client.scheduler.address}), "
              f"{time.perf_counter() - started:.2f} s to connect")
        started = time.perf_counter()
        parts = make_on_workers(client, lazy_chunks(args.examples, args.features, args.chunks, args.seed))
        print(f"data: {args.examples} examples x {args.features} features in {args.chunks} chunks, "
              f"{sum(X.nbytes + y.nbytes for X, y in parts) / 2**20:.1f} MiB, "
              f"made on the workers in {time.perf_counter() - started:.2f} s")
        history = gradient_descent(parts, steps=args.steps, lr=args.lr, lam=args.lam, step_loss_and_grad=step)
        print(f"{args.steps} steps in {sum(history['seconds']):.2f} s "
              f"({np.median(history['seconds']):.3f} s per step, median)")
        for address, memory in sorted(client.run(worker_memory).items()):
            print(f"worker {address}: data {memory['data'] / 2**20:.1f} MiB, {resident(memory)}")
        print(f"this process: {resident(process_memory())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
