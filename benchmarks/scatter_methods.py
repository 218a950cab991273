"""Gather (L[:, w], A[w, :], x[w]) and its gradient, the scatter-add, in plain NumPy.

    python benchmarks/scatter_methods.py [--repeats 21] [--smoke]

For an embedding matrix of d=50 by V=100,000 and k=10,000 ids drawn with
repeats (uniform, and Zipf-like skew), in float64 and float32, for the column
case (L is d x V, C order, gather columns), the row case (V x d, gather rows)
and the vector case (x[w]), times: the forward gather variants; the
scatter-add of G into a zero array of L's shape (np.add.at, bincount, sorted
segment sums, and the wrong unbuffered `out[:, w] += G` as a floor only); the
zero-fill alone (is np.zeros lazy, so that the page faults land on first
touch?); forward plus backward of J = sum(C * L[:, w]) with a dense dL (the
best is the 1.0x reference a generated module must meet within 1.1x); and
the sparse form (unique ids and their summed columns, no dense array).
The functions scatter_cols, scatter_rows and scatter_vec are the
recommendations for the generated code's runtime.
Every scatter is first checked against np.add.at, so a wrong method is never
reported. Rounds are interleaved (each runs every method once, shuffled);
prints the median per call and the ratio to the fastest correct method of
its group. BLAS/OpenMP threads are set to 1 before NumPy is imported.
--smoke runs every method and check at tiny sizes, two rounds: a test that
the script works, with no claim about speed.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads its BLAS

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

try:  # information only: generated code may not depend on SciPy
    import scipy.sparse as scipy_sparse
except ImportError:  # pragma: no cover - optional
    scipy_sparse = None


# --- the scatters: out[ids] += G along one axis, repeated ids summed -------
# Column case: G is d x k, the result d x V.  Row case: G is k x d, the result
# V x d.  Vector case: G has k entries, the result V.


def segments(ids):
    """Sort the ids once: (order, start of each run of equal ids, the unique ids)."""
    order = np.argsort(ids)
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    return order, starts, sorted_ids[starts]


def compact_sums(G, ids, axis):
    """(unique ids u, S) with S's slice j along `axis` the sum of G's slices whose id is u[j].

    One sort gives u and each id's position in u (the inverse); one flat
    bincount then sums into the small (n_unique-wide) array, which stays in
    cache, instead of into L's size. bincount sums in float64.
    """
    unique, inverse = np.unique(ids, return_inverse=True)
    n = len(unique)
    if G.ndim == 1:
        flat = inverse
    elif axis == 1:
        flat = np.arange(G.shape[0])[:, None] * n + inverse
    else:
        flat = inverse[:, None] * G.shape[1] + np.arange(G.shape[1])
    shape = G.shape[:axis] + (n,) + G.shape[axis + 1 :]
    sums = np.bincount(flat.ravel(), weights=G.ravel(), minlength=n * (G.size // len(ids)))
    return unique, sums.reshape(shape).astype(G.dtype, copy=False)


def compact_then_assign(G, ids, size, axis):
    """compact_sums, then one assignment of the unique slices into zeros of L's shape."""
    unique, sums = compact_sums(G, ids, axis)
    out = np.zeros(G.shape[:axis] + (size,) + G.shape[axis + 1 :], G.dtype)
    out[(slice(None),) * axis + (unique,)] = sums
    return out


def cols_add_at(G, ids, size):
    out = np.zeros((G.shape[0], size), G.dtype)
    np.add.at(out, (slice(None), ids), G)
    return out


def cols_bincount_rows(G, ids, size):
    """One bincount per row: d passes over the k ids."""
    out = np.empty((G.shape[0], size), G.dtype)
    for r in range(G.shape[0]):
        out[r] = np.bincount(ids, weights=G[r], minlength=size)
    return out


def cols_bincount_flat(G, ids, size):
    """One bincount over d*k flat indices r*V + w (bincount sums in float64)."""
    d = G.shape[0]
    flat = (np.arange(d)[:, None] * size + ids).ravel()
    return np.bincount(flat, weights=G.ravel(), minlength=d * size).reshape(d, size).astype(G.dtype, copy=False)


def cols_segsum(G, ids, size):
    """argsort the ids, np.add.reduceat over the sorted columns, assign to the unique ids."""
    order, starts, unique = segments(ids)
    out = np.zeros((G.shape[0], size), G.dtype)
    out[:, unique] = np.add.reduceat(G[:, order], starts, axis=1)
    return out


def cols_segsum_T(G, ids, size):
    """Segment sums on the transposed (k x d) G, reduceat along axis 0."""
    order, starts, unique = segments(ids)
    out = np.zeros((G.shape[0], size), G.dtype)
    out.T[unique] = np.add.reduceat(G.T[order], starts, axis=0)
    return out


def cols_unbuffered(G, ids, size):
    """WRONG with repeated ids (the last write wins): a timing floor only."""
    out = np.zeros((G.shape[0], size), G.dtype)
    out[:, ids] += G
    return out


def cols_scipy(G, ids, size):
    """G @ one-hot(k x V) in CSR: information only (no SciPy in generated code)."""
    onehot = scipy_sparse.csr_matrix((np.ones(len(ids), G.dtype), ids, np.arange(len(ids) + 1)), shape=(len(ids), size))
    return np.asarray((onehot.T @ G.T).T)


def rows_add_at(G, ids, size):
    out = np.zeros((size, G.shape[1]), G.dtype)
    np.add.at(out, ids, G)
    return out


def rows_bincount_flat(G, ids, size):
    """One bincount over k*d flat indices w*d + c."""
    d = G.shape[1]
    flat = (ids[:, None] * d + np.arange(d)).ravel()
    return np.bincount(flat, weights=G.ravel(), minlength=size * d).reshape(size, d).astype(G.dtype, copy=False)


def rows_bincount_cols(G, ids, size):
    """One bincount per column, written into a strided column of the result."""
    out = np.empty((size, G.shape[1]), G.dtype)
    for c in range(G.shape[1]):
        out[:, c] = np.bincount(ids, weights=G[:, c], minlength=size)
    return out


def rows_segsum(G, ids, size):
    order, starts, unique = segments(ids)
    out = np.zeros((size, G.shape[1]), G.dtype)
    out[unique] = np.add.reduceat(G[order], starts, axis=0)
    return out


def rows_unbuffered(G, ids, size):
    """WRONG with repeated ids: a timing floor only."""
    out = np.zeros((size, G.shape[1]), G.dtype)
    out[ids] += G
    return out


def rows_scipy(G, ids, size):
    onehot = scipy_sparse.csr_matrix((np.ones(len(ids), G.dtype), ids, np.arange(len(ids) + 1)), shape=(len(ids), size))
    return np.asarray(onehot.T @ G)


def vec_add_at(g, ids, size):
    out = np.zeros(size, g.dtype)
    np.add.at(out, ids, g)
    return out


def vec_bincount(g, ids, size):
    return np.bincount(ids, weights=g, minlength=size).astype(g.dtype, copy=False)


def vec_segsum(g, ids, size):
    order, starts, unique = segments(ids)
    out = np.zeros(size, g.dtype)
    out[unique] = np.add.reduceat(g[order], starts)
    return out


def vec_unbuffered(g, ids, size):
    """WRONG with repeated ids: a timing floor only."""
    out = np.zeros(size, g.dtype)
    out[ids] += g
    return out


# The recommendations (see the verdict): bincount sums in float64, so for
# float64 one flat bincount over L's whole size is one pass that needs no
# cast; for float32 that pass would make a float64 array of L's size and cast
# it, so the float32 forms sum into something small first.


def scatter_cols(G, ids, size):
    return (cols_bincount_flat if G.dtype == np.float64 else cols_bincount_rows)(G, ids, size)


def scatter_rows(G, ids, size):
    return rows_bincount_flat(G, ids, size) if G.dtype == np.float64 else compact_then_assign(G, ids, size, 0)


def scatter_vec(g, ids, size):
    return (vec_bincount if g.dtype == np.float64 else vec_add_at)(g, ids, size)


def scatter_table(axis, add_at, recommended, specific):
    """A layout's scatters: np.add.at first (the reference), its own methods, then the shared ones."""
    return {
        "np.add.at": add_at,
        **specific,
        "unique + compact bincount + assign": lambda G, w, V: compact_then_assign(G, w, V, axis),
        "recommended " + recommended.__name__: recommended,
    }


# Per layout: how G is shaped from d and k, the gathers, the scatters (the
# first is the np.add.at reference; names ending "(wrong)" are floors).
LAYOUTS = {
    "cols": dict(
        table=lambda d, V, dt, rng: rng.standard_normal((d, V)).astype(dt),
        grad=lambda d, k, dt, rng: rng.standard_normal((d, k)).astype(dt),
        gathers={
            "L[:, w]": lambda L, w: L[:, w],
            "np.take(L, w, axis=1)": lambda L, w: np.take(L, w, axis=1),
            "L.T[w].T (F-order result)": lambda L, w: L.T[w].T,
            "ascontiguous(L.T[w].T)": lambda L, w: np.ascontiguousarray(L.T[w].T),
        },
        scatters=scatter_table(
            1,
            cols_add_at,
            scatter_cols,
            {
                "bincount per row": cols_bincount_rows,
                "bincount flat r*V+w": cols_bincount_flat,
                "segment sums (axis 1)": cols_segsum,
                "segment sums on G.T": cols_segsum_T,
                "out[:, w] += G (wrong)": cols_unbuffered,
                "scipy one-hot (info)": cols_scipy,
            },
        ),
        axis=1,
    ),
    "rows": dict(
        table=lambda d, V, dt, rng: rng.standard_normal((V, d)).astype(dt),
        grad=lambda d, k, dt, rng: rng.standard_normal((k, d)).astype(dt),
        gathers={
            "A[w]": lambda A, w: A[w],
            "np.take(A, w, axis=0)": lambda A, w: np.take(A, w, axis=0),
        },
        scatters=scatter_table(
            0,
            rows_add_at,
            scatter_rows,
            {
                "bincount flat w*d+c": rows_bincount_flat,
                "bincount per column": rows_bincount_cols,
                "segment sums (axis 0)": rows_segsum,
                "out[w] += G (wrong)": rows_unbuffered,
                "scipy one-hot (info)": rows_scipy,
            },
        ),
        axis=0,
    ),
    "vec": dict(
        table=lambda d, V, dt, rng: rng.standard_normal(V).astype(dt),
        grad=lambda d, k, dt, rng: rng.standard_normal(k).astype(dt),
        gathers={
            "x[w]": lambda x, w: x[w],
            "np.take(x, w)": lambda x, w: np.take(x, w),
        },
        scatters=scatter_table(
            0,
            vec_add_at,
            scatter_vec,
            {"bincount": vec_bincount, "segment sums": vec_segsum, "out[w] += g (wrong)": vec_unbuffered},
        ),
        axis=0,
    ),
}


def draw_ids(kind, V, k, rng):
    """k ids in [0, V): uniform, or Zipf-like (p(rank r) ~ 1/r, ranks shuffled over the ids)."""
    if kind == "uniform":
        return rng.integers(0, V, k)
    p = 1.0 / np.arange(1, V + 1)
    return rng.permutation(V)[rng.choice(V, k, p=p / p.sum())]


def sparse_form(G, ids, axis):
    """(unique ids, their summed slices): the gradient without the dense array."""
    order, starts, unique = segments(ids)
    return unique, np.add.reduceat(np.take(G, order, axis=axis), starts, axis=axis)


def check(layout, G, ids, size):
    """Every correct scatter agrees with np.add.at; every "(wrong)" one really is wrong when ids repeat."""
    scatters = LAYOUTS[layout]["scatters"]
    reference = scatters["np.add.at"](G, ids, size)
    tol = dict(rtol=1e-4, atol=1e-4) if G.dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    repeats = len(np.unique(ids)) < len(ids)
    for name, scatter in scatters.items():
        if name.endswith("(info)") and scipy_sparse is None:
            continue
        result = scatter(G, ids, size)
        assert result.shape == reference.shape and result.dtype == G.dtype, (name, result.shape, result.dtype)
        agrees = np.allclose(result, reference, **tol)
        assert agrees != (name.endswith("(wrong)") and repeats), f"{layout} {name}: agrees with np.add.at = {agrees}"
    axis = LAYOUTS[layout]["axis"]
    for unique, sums in (sparse_form(G, ids, axis), compact_sums(G, ids, axis)):
        assert sums.dtype == G.dtype and np.allclose(np.take(reference, unique, axis=axis), sums, **tol)
        assert np.count_nonzero(np.delete(reference, unique, axis=axis)) == 0


def runs_for(layout, dtype, ids_kind, d, V, k, rng):
    """{(group, method): thunk} for one dtype, layout and id distribution."""
    spec = LAYOUTS[layout]
    L = spec["table"](d, V, dtype, rng)
    G = spec["grad"](d, k, dtype, rng)
    w = draw_ids(ids_kind, V, k, rng)
    axis = spec["axis"]
    check(layout, G, w, V)
    runs = {("gather", name): (lambda f=f: f(L, w)) for name, f in spec["gathers"].items()}
    for name, f in spec["scatters"].items():
        if not (name.endswith("(info)") and scipy_sparse is None):
            runs[("scatter", name)] = lambda f=f: f(G, w, V)
    runs[("scatter", "sparse form: segment sums (sparse)")] = lambda: sparse_form(G, w, axis)
    runs[("scatter", "sparse form: compact bincount (sparse)")] = lambda: compact_sums(G, w, axis)
    shape = L.shape
    buffer = np.zeros(shape, dtype)
    runs[("zero-fill", "np.zeros (lazy?)")] = lambda: np.zeros(shape, dtype)
    runs[("zero-fill", "np.zeros + fill(0) (first touch)")] = lambda: np.zeros(shape, dtype).fill(0)
    runs[("zero-fill", "np.empty + fill(0)")] = lambda: np.empty(shape, dtype).fill(0)
    runs[("zero-fill", "reused buffer.fill(0)")] = lambda: buffer.fill(0)
    # Forward plus backward of J = sum(C * gather(L, w)): dJ/dL = scatter(C, w, V).
    def gather(L, w):  # the fastest gather in every case but x[w] in float32, by a few µs
        return np.take(L, w, axis=axis)

    C = G
    for name in [n for n in spec["scatters"] if not n.endswith(("(wrong)", "(info)"))]:
        scatter = spec["scatters"][name]
        runs[("fwd+bwd", f"vdot + {name}")] = lambda s=scatter: (np.vdot(C, gather(L, w)), s(C, w, V))
    runs[("fwd+bwd", "vdot + segment sums (sparse)")] = lambda: (np.vdot(C, gather(L, w)), sparse_form(C, w, axis))
    runs[("fwd+bwd", "vdot + compact bincount (sparse)")] = lambda: (np.vdot(C, gather(L, w)), compact_sums(C, w, axis))
    runs[("fwd+bwd", "vdot alone (forward)")] = lambda: np.vdot(C, gather(L, w))
    return runs, len(np.unique(w))


def time_runs(runs, repeats):
    for run in runs.values():  # warm up
        run()
    samples = {key: [] for key in runs}
    for _ in range(repeats):
        for key in random.sample(list(runs), len(runs)):
            start = time.perf_counter_ns()
            runs[key]()
            samples[key].append(time.perf_counter_ns() - start)
    return {key: statistics.median(times) / 1e3 for key, times in samples.items()}


def report(case, medians):
    """Print a case's rows with their ratio to the fastest correct method of the group; return its verdict."""
    best = {}
    for group in dict.fromkeys(g for g, _ in medians):
        rows = {m: t for (g, m), t in medians.items() if g == group}
        correct = {m: t for m, t in rows.items() if not m.endswith(("(wrong)", "(info)", "(sparse)", "(forward)"))}
        best[group] = min(correct or rows, key=(correct or rows).get)
        for method, median in sorted(rows.items(), key=lambda item: item[1]):
            print(f"{group:10s} {method:40s} {case} {median:11.1f} {median / rows[best[group]]:7.2f}")
    reference = medians[("fwd+bwd", best["fwd+bwd"])]
    sparse = min(t for (g, m), t in medians.items() if g == "fwd+bwd" and m.endswith("(sparse)"))
    dense = medians[("zero-fill", "np.zeros + fill(0) (first touch)")]
    return (
        f"  {case} gather: {best['gather']}; scatter: {best['scatter']}; fwd+bwd {reference:.0f} µs,"
        f" of which a fresh dense array {dense / reference:.0%}; sparse form {sparse / reference:.2f}x"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, two rounds: checks only")
    options = parser.parse_args()
    d, V, k, repeats = (4, 100, 50, 2) if options.smoke else (50, 100_000, 10_000, options.repeats)
    rng = np.random.default_rng(0)
    scipy_note = "with" if scipy_sparse else "without"
    print(f"NumPy {np.__version__}, d={d} V={V} k={k}, median of {repeats}, 1 thread, {scipy_note} SciPy")
    print(f"{'group':10s} {'method':40s} {'dtype':8s} {'layout':6s} {'ids':8s} {'median µs':>11s} {'ratio':>7s}")
    verdicts = []
    for layout in LAYOUTS:
        for dtype in (np.float64, np.float32):
            for ids_kind in ("uniform", "zipf"):
                runs, n_unique = runs_for(layout, dtype, ids_kind, d, V, k, rng)
                case = f"{np.dtype(dtype).name:8s} {layout:6s} {ids_kind:8s}"
                verdicts.append(report(case, time_runs(runs, repeats)))
                print(f"{'':10s} ({n_unique} unique ids of {k})")
    print("\nVerdict (fastest correct method per case; the dense write's share of the best forward+backward):")
    print("\n".join(verdicts))

if __name__ == "__main__":
    main()
