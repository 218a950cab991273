"""The gradient checker: symgrad.checking runs it against a module's
functions, and a module compiled with `--with-check` carries it as text
(everything below the line `carried`), so that it can check itself with
NumPy alone (its `check_gradients()`)."""

import numpy as _np

# ---------------------------------------------------------------- carried
# ------------------------------------------------------------ gradient checks
# check_gradients() compares every gradient of this module with central
# finite differences of its value, in float64; `symgrad check` runs this code.
#
# Per entry x_i: numeric = (f(x + h e_i) - f(x - h e_i)) / 2h, with the step
# h = eps^(1/3) max(|x_i|, rms(x)), which balances the truncation error of a
# central difference (~h^2) with its rounding error (~eps / h). Along a random
# unit direction v: numeric = (f(x + t v) - f(x - t v)) / 2t, t = h sqrt(size),
# against analytic = <gradient, v>. Each comparison passes when
#     |analytic - numeric| <= max(rtol max(|analytic|, |numeric|), floor),
# rtol = 1e-5, floor = 100 eps (F / h + G): the rounding error of the
# comparison, F the largest of |f(x ± h)| and sum |g x| over the variables
# (what rounding in f grows with), G the largest |gradient entry| (along a
# direction, sum |g v|). A failing comparison whose two points put the
# argument of a kink (relu, abs, max, ...) on different sides of it is no
# evidence: the inputs are drawn again (given inputs: it is skipped).


class CheckInputError(ValueError):
    """Inputs that cannot be checked: a wrong name, dimension or shape, or
    values outside the model's domain."""



class _CheckRedraw(Exception):
    """The drawn inputs put a step across a kink or outside the domain
    (`depends`: the arguments the value outside its domain depends on)."""

    def __init__(self, message, depends=()):
        super().__init__(message)
        self.depends = depends


_CHECK_EPS = float(_np.finfo(_np.float64).eps)
_CHECK_STEP = _CHECK_EPS ** (1 / 3)
_CHECK_FLOOR = 100.0
_CHECK_DRAWS = 10


def check_gradients(dims=None, seed=0, inputs=None, max_entries=10000, directions=4, rtol=1e-5, quiet=False):
    """Check every gradient of this module against central finite differences,
    in float64, at seeded random inputs or the arrays in `inputs` (a dict by
    argument name; the others are drawn). `dims`: sizes of the dimensions
    (default 3, 4, 5, ...). Entries are compared one by one up to
    `max_entries` in all; every gradient is also compared along `directions`
    random directions. Prints a report unless quiet and returns it as a
    dict: 'passed', 'gradients' (one dict each), 'notes'."""
    report = _check_run(_CHECK_SPEC, globals(), _check_probe, dims, seed, inputs, max_entries, directions, rtol)
    if not quiet:
        print(_check_table(report))
    return report


def _check_run(spec, entries, probe, dims=None, seed=0, inputs=None, max_entries=10000, directions=4,
               rtol=1e-5, progress=None):
    """The report of a check (see check_gradients); CheckInputError for
    inputs that cannot be checked. `entries`: the module's functions by name;
    `probe`: its _check_probe; `progress(done, total)`: called as it goes."""

    def gradients_at(args, last):
        """Every grad statement's results at one draw (_CheckRedraw: draw again)."""
        shapes = [_np.shape(value) for value in args]
        plan = _check_plan(spec, shapes, max_entries, _np.random.default_rng([seed, 1]))  # the same at every draw
        sizes_of = {a[0]: int(_np.prod(shape)) for a, shape in zip(spec["arguments"], shapes)}
        total = 2 * sum(len(chosen) + directions * (sizes_of[name] > 1) for (_, name), chosen in plan.items())
        counter = _check_counter(progress, total)
        return [_check_gradient(spec, entries, probe, args, request, plan, directions, rtol,
                                _np.random.default_rng([seed, 2]), last, counter) for request in spec["grads"]]

    drawn = check_inputs(spec, probe, dims, seed, inputs, gradients_at)
    notes = drawn["notes"]
    flat = [result for results in drawn["accepted"] for result in results]
    notes += [f"d{r['target']}/d{r['variable']}: {r['error']}" for r in flat if r["error"]]
    notes += [f"d{r['target']}/d{r['variable']} is 0 at every point compared: these inputs do not "
              f"exercise it (try another --seed)" for r in flat if r["all_zero"]]
    skipped = sum(result["skipped_at_kinks"] for result in flat)
    if skipped:
        notes.append(f"{skipped} comparison{'s' * (skipped > 1)} skipped: the inputs put a kink "
                     f"within the step")
    return {
        "model": spec["model"], "passed": all(result["passed"] for result in flat),
        "dims": drawn["sizes"], "seed": seed, "given": drawn["given"], "draws": drawn["draws"], "ids": drawn["ids"],
        "directions": directions, "max_entries": max_entries, "rtol": rtol, "floor": _CHECK_FLOOR,
        "gradients": flat, "notes": notes,
    }


def check_inputs(spec, probe, dims=None, seed=0, inputs=None, accept=None, strict=True):
    """The model's arguments as `symgrad check` draws them (`spec`, `probe`:
    a module's _CHECK_SPEC and _check_probe): the arrays in `inputs` (by
    argument name), the others drawn in the model's order from one generator
    seeded with `seed` (sizes from the arrays, then `dims`, then 3, 4, 5,
    ...; see _check_draw and _check_draw_ids). Drawn again, at most
    _CHECK_DRAWS times in all, while a function with a restricted domain is
    outside it or `accept(arguments, last)` raises _CheckRedraw; past the
    last draw that is a CheckInputError (strict), or the last draw is kept
    (not strict: a graph shows the nan it gives). CheckInputError for inputs
    that cannot be checked. Returns a dict: "arguments" (in order),
    "accepted" (what accept returned), "sizes" (of the dimensions), "given"
    and "ids" (argument names), "draws" (how many), "notes"."""
    given, notes = _check_given(spec, inputs)
    sizes = _check_sizes(spec, dims, given)
    shapes = [_check_shape(argument, sizes) for argument in spec["arguments"]]
    counts = {a[0]: _check_dim(a[5][1], sizes) for a in spec["arguments"] if _check_ids(a)}
    for name, count in counts.items():
        if name in given and given[name].size and (given[name].min() < 0 or given[name].max() >= count):
            raise CheckInputError(f"{name}: ids must be in 0..{count - 1}, got {given[name].min()}.."
                                  f"{given[name].max()}")
    rng = _np.random.default_rng(seed)
    drawn = [a[0] for a in spec["arguments"] if a[0] not in given]
    draws = _CHECK_DRAWS if drawn else 1
    redrawn, accepted = {}, None
    with _np.errstate(all="ignore"):  # log of a negative, ... is reported, not warned about
        for draw in range(draws):
            args = [given[a[0]].copy() if a[0] in given else _check_draw_ids(rng, shape, counts[a[0]])
                    if a[0] in counts else _check_draw(rng, shape, a[5])
                    for a, shape in zip(spec["arguments"], shapes)]
            last = draw == draws - 1
            try:
                problem = _check_domain(spec, probe, args)
                if problem:
                    raise _CheckRedraw(*problem)
                accepted = accept(args, last) if accept else None
                break
            except _CheckRedraw as redraw:
                if last and strict:
                    where = "with the inputs given" if not drawn else f"at each of {draws} random draws (seed {seed})"
                    depends = f"; it depends on {', '.join(redraw.depends)}" if redraw.depends else ""
                    raise CheckInputError(f"{redraw} {where}{depends}: pass inputs inside the domain "
                                          f"with --inputs FILE.npz (inputs= in Python)") from None
                redrawn[str(redraw)] = redrawn.get(str(redraw), 0) + 1
    notes += [f"inputs redrawn {count} time{'s' * (count > 1)}: {reason}" for reason, count in redrawn.items()]
    words = {"positive": "positive", "pd": "positive definite", "pd positive": "positive definite, positive entries"}
    special = [f"{a[0]} {words[a[5]]}" for a in spec["arguments"] if a[5] in words and a[0] in drawn]
    if special:
        notes.append("drawn inside the domain of the functions that take them: " + "; ".join(special))
    return {"arguments": args, "accepted": accepted, "sizes": sizes, "given": sorted(given), "ids": list(counts),
            "draws": min(sum(redrawn.values()) + 1, draws), "notes": notes}


def _check_counter(progress, total):
    """A counter of evaluations that reports to progress(done, total)."""
    done = [0]

    def count(evaluations):
        done[0] += evaluations
        progress(done[0], total)
    return count if progress else None


def _check_arrays(values, spec):
    """Arguments as float64 arrays as the model's code sees them: a vector as
    a column (or a row), a scalar as a 0-d array."""
    arrays = []
    for value, argument in zip(values, spec["arguments"]):
        rows, cols = argument[3:5]
        if _check_ids(argument):  # as the module takes them: 1-d integers, one id an int
            arrays.append(_np.reshape(value, -1) if rows != 1 else int(_np.reshape(value, ())))
            continue
        array = _np.asarray(value, dtype=_np.float64)
        if rows == 1 and cols == 1:
            array = array.reshape(())
        elif array.ndim == 1:
            array = array[:, None] if cols == 1 else array[None, :]
        arrays.append(array)
    return arrays


def _check_given(spec, inputs):
    """The arrays given, by model name, as float64 copies (keys may be model
    names or Python spellings), and notes on what was converted."""
    names = {spelled: name for name, spelled, *_ in spec["arguments"]}
    names.update({name: name for name, *_ in spec["arguments"]})
    arguments = {argument[0]: argument for argument in spec["arguments"]}
    given, notes = {}, []
    for key, value in dict(inputs or {}).items():
        if key not in names:
            known = ", ".join(name for name, *_ in spec["arguments"])
            raise CheckInputError(f"the inputs name '{key}', which is no argument of the model "
                                   f"(its arguments: {known})")
        array = _np.asarray(value)
        if _check_ids(arguments[names[key]]):
            if array.dtype.kind not in "iu":
                raise CheckInputError(f"{key}: ids must be integers, got an array of {array.dtype}")
            given[names[key]] = _np.array(array.reshape(-1) if array.ndim else array)  # never stepped
            continue
        if array.dtype.kind not in "biuf":
            raise CheckInputError(f"{key}: expected real numbers, got an array of {array.dtype}")
        if array.dtype != _np.float64:
            notes.append(f"{names[key]} converted from {array.dtype} to float64")
        given[names[key]] = _np.array(array, dtype=_np.float64, order="C")  # stepped in place, through a flat view
    return given, notes


def _check_sizes(spec, dims, given):
    """Every dimension's size: from the arrays given (solving `5 d` = 250
    for d as the module does), then `dims` (symbols only), then 3, 4, 5, ...
    in the order the model declares them, raised where a condition on the
    dimensions (`requirements`: a block inside its matrix) asks for more."""
    axes = []  # (argument, dimension, size) of every axis given
    for name, _, _, rows, cols, _ in spec["arguments"]:
        if name not in given:
            continue
        shape = given[name].shape
        if rows == 1 and cols == 1 and given[name].size == 1:
            shape = (1, 1)
        elif len(shape) == 1 and (rows == 1 or cols == 1):
            shape = (shape[0], 1) if cols == 1 else (1, shape[0])
        if len(shape) != 2:
            raise CheckInputError(f"{name}: expected {_check_type(rows, cols)}, got shape {given[name].shape}")
        axes += [(name, rows, shape[0]), (name, cols, shape[1])]
    bound, by = {}, {}
    while True:  # bind what one axis determines, until nothing more is
        solved = next((found for _, dim, size in axes for found in [_check_solve(dim, size, bound)] if found), None)
        if solved is None:
            break
        symbol, size = solved
        name = next(name for name, dim, _ in axes if symbol in _check_symbols(dim))
        if size != int(size) or size < 1:
            raise CheckInputError(f"{name}: its shape gives {symbol} = {size:g}, not a positive integer")
        bound[symbol], by[symbol] = int(size), name
    for dim, size in dict(dims or {}).items():
        if dim not in spec["dims"]:
            known = ", ".join(spec["dims"]) or "none"
            raise CheckInputError(f"'{dim}' is an expression: give the sizes of its symbols ({known}), it is "
                                   f"computed from them" if not str(dim).isidentifier() else
                                   f"unknown dimension '{dim}' (the model's: {known})")
        if isinstance(size, bool) or not isinstance(size, (int, _np.integer)) or size < 1:
            raise CheckInputError(f"dimension {dim} must be a positive integer, got {size!r}")
        if bound.get(dim, size) != size:
            raise CheckInputError(f"dimension {dim} = {size} disagrees with the shape of {by[dim]}, "
                                   f"which makes it {bound[dim]}")
        bound[dim] = int(size)
    sizes = {dim: bound.get(dim, 3 + index) for index, dim in enumerate(spec["dims"])}
    free = [dim for dim in spec["dims"] if dim not in bound]
    for _ in range(1000):  # raise the free sizes a condition grows with, until every one holds
        unmet = [(dim, least) for dim, least, _ in spec.get("requirements", ()) if _check_dim(dim, sizes) < least]
        if not unmet:
            break
        for dim, _ in unmet:
            for symbol in _check_symbols(dim):
                more = dict(sizes, **{symbol: sizes[symbol] + 1})
                if symbol in free and _check_dim(dim, more) > _check_dim(dim, sizes):
                    sizes[symbol] += 1
    for dim, least, message in spec.get("requirements", ()):
        if _check_dim(dim, sizes) < least:
            values = ", ".join(f"{d}={sizes[d]}" for d in _check_symbols(dim))
            raise CheckInputError(f"{message} ({values}): choose other --dims")
    for name, dim, size in axes:
        if _check_dim(dim, sizes) != size:
            argument = next(a for a in spec["arguments"] if a[0] == name)
            known = ", ".join(f"{d} = {sizes[d]}" + f" from {by[d]}" * (d in by) for d in _check_symbols(dim))
            raise CheckInputError(f"{name}: expected {_check_type(*argument[3:5])}{f' ({known})' if known else ''}, "
                                   f"got shape {given[name].shape}")
    return sizes


def _check_type(rows, cols):
    """A shape as a type writes it: R^n, R^(n x 5 d)."""
    rows, cols = (_check_text(d) for d in (rows, cols))
    return (f"R^{rows}" if " " not in rows else f"R^({rows})") if cols == "1" else f"R^({rows} x {cols})"


def _check_ids(argument):
    """Whether an argument of _CHECK_SPEC holds ids (its domain ("ids", count))."""
    return isinstance(argument[5], tuple)


def _check_draw_ids(rng, shape, count):
    """Ids drawn uniformly in 0..count-1; a vector of two or more repeats its
    first, so that a scatter of repeated ids is exercised. One id: an int."""
    ids = rng.integers(0, count, size=shape)
    if ids.size > 1:
        ids[-1] = ids[0]
    return ids if ids.ndim else int(ids)


def _check_symbols(dim):
    """The symbols a dimension reads: a number, a symbol, or the terms
    ((symbols, coefficient), ...) of a polynomial (`5 d`: ((("d",), 5),))."""
    return () if isinstance(dim, int) else (dim,) if isinstance(dim, str) else \
        tuple(dict.fromkeys(s for monomial, _ in dim for s in monomial))


def _check_dim(dim, sizes):
    """A dimension's size once its symbols have sizes."""
    if isinstance(dim, (int, str)):
        return sizes.get(dim, dim)
    total = 0
    for monomial, coefficient in dim:
        for symbol in monomial:
            coefficient *= sizes[symbol]
        total += coefficient
    return total


def _check_text(dim):
    """A dimension as the model writes it: `5 d`, `n + m`."""
    if not isinstance(dim, tuple):
        return str(dim)
    text = " + ".join(" ".join([str(c)] * (c != 1 or not m) + list(m)) for m, c in dim)
    return text.replace("+ -", "- ")


def _check_solve(dim, size, known):
    """(symbol, value) where `dim` = size has one unknown symbol, linearly;
    else None."""
    unknown = [s for s in _check_symbols(dim) if s not in known]
    if len(unknown) != 1:
        return None
    terms = ((((dim,), 1),) if isinstance(dim, str) else dim)
    slope, rest = 0, size
    for monomial, coefficient in terms:
        for symbol in monomial:
            coefficient *= known.get(symbol, 1)
        if monomial.count(unknown[0]) > 1:
            return None
        if unknown[0] in monomial:
            slope += coefficient
        else:
            rest -= coefficient
    return (unknown[0], rest / slope) if slope else None


def _check_shape(argument, sizes):
    """The array shape an argument is drawn in: () for a scalar, (n,) for a
    column vector, 2-D otherwise."""
    rows, cols = (_check_dim(dim, sizes) for dim in argument[3:5])
    if argument[3] == 1 and argument[4] == 1:
        return ()
    return (rows,) if argument[4] == 1 else (rows, cols)


def _check_draw(rng, shape, domain):
    """Random values of one argument inside its domain: "real": standard
    normal, a matrix's entries divided by sqrt(columns) so that products stay
    of order 1; "positive": uniform in [0.5, 2]; "pd": positive definite, a
    symmetric positive definite part plus a skew-symmetric one, so that a
    dropped transpose still shows; "pd positive": symmetric, positive entries."""
    if "pd" in domain and len(shape) == 2 and shape[0] == shape[1]:
        n = shape[0]
        if "positive" in domain:
            b = rng.uniform(0, 1, shape)
            return b @ b.T / n + _np.identity(n)
        b, k = rng.standard_normal(shape), rng.standard_normal(shape)
        return b @ b.T / n + _np.identity(n) + (k - k.T) * (0.5 / n ** 0.5)
    if domain != "real":
        return _np.array(rng.uniform(0.5, 2.0, shape))
    values = _np.array(rng.standard_normal(shape))
    return values / shape[1] ** 0.5 if len(shape) == 2 and min(shape) > 1 else values


def _check_domain(spec, probe, args):
    """None, or what is outside the domain of a function that has a
    restricted one (log, sqrt, a fractional power, logdet, inv, det) and
    the arguments it depends on."""
    values = probe(*args)[1] if spec["domains"] else []
    for (op, test, where, line, depends), value in zip(spec["domains"], values):
        value = _np.asarray(value, dtype=_np.float64)
        if test == "positive":
            bad = _np.argwhere(~(value > 0))
            if not len(bad):
                continue
            entry = tuple(int(i) for i in bad[0])
            shown = list(entry[:1] if value.ndim == 2 and value.shape[1] == 1 else entry)
            problem = f"not positive (entry {shown} is {value[entry]:.3g})" if shown else f"{value[entry]:.3g}, not positive"
        elif test == "positive determinant":
            if _np.linalg.slogdet(value)[0] > 0:
                continue
            problem = "a matrix whose determinant is not positive"
        else:
            condition = _np.linalg.cond(value)
            if condition < 1e8:
                continue
            problem = f"nearly singular (condition number {condition:.2g})"
        return f"the argument of {op} at {where} (`{line}`) is {problem}", depends
    return None


def _check_plan(spec, shapes, max_entries, rng):
    """The entries of each gradient to compare one by one: whole variables,
    smallest first, while max_entries lasts; the first that does not fit
    gets a random sample of what is left."""
    sizes = {a[0]: int(_np.prod(shape)) for a, shape in zip(spec["arguments"], shapes)}
    pairs = sorted(((target, name) for target, _, wrt in spec["grads"] for name in wrt),
                   key=lambda pair: sizes[pair[1]])
    plan, left = {}, max_entries
    for target, name in pairs:
        size = sizes[name]
        plan[target, name] = (_np.arange(size) if size <= left else
                              _np.sort(rng.choice(size, max(left, 0), replace=False)))
        left -= len(plan[target, name])
    return plan


def _check_gradient(spec, entries, probe, args, request, plan, directions, rtol, rng, skip, count):
    """The results for one grad statement: each gradient from value_and_grad
    and from backward(forward(...)), against finite differences of evaluate."""
    target, suffix, wrt = request
    evaluate = entries["evaluate" + suffix]
    names = [a[0] for a in spec["arguments"]]
    value = float(evaluate(*args))
    if not _np.isfinite(value):
        raise _CheckRedraw(f"the value of {target} is not finite")
    try:
        _, grads = entries["value_and_grad" + suffix](*args)
        _, cache = entries["forward" + suffix](*args)
        cached = entries["backward" + suffix](cache)
    except Exception as error:  # the module's gradient code is broken: every gradient fails
        return [_check_summary(target, name, args[names.index(name)], [], 0, rtol,
                               f"the gradient code raised {type(error).__name__}: {error}") for name in wrt]
    pairs = [[_np.array(g, dtype=_np.float64) for g in pair] for pair in zip(grads, cached)]
    scale = max(abs(value), sum(float(_np.sum(_np.abs(g[0] * args[names.index(name)])))
                                for name, g in zip(wrt, pairs) if g[0].shape == args[names.index(name)].shape))
    results = []
    for name, pair in zip(wrt, pairs):
        index = names.index(name)
        shapes = [g.shape for g in pair if g.shape != args[index].shape]
        if shapes:
            results.append(_check_summary(target, name, args[index], [], 0, rtol,
                                          f"a gradient of shape {shapes[0]} for an argument of shape "
                                          f"{args[index].shape}"))
            continue
        rows, skipped = _check_compare(spec, probe, evaluate, args, index, pair, plan[target, name], directions,
                                       scale, rng, rtol, skip, count)
        results.append(_check_summary(target, name, args[index], rows, skipped, rtol))
    return results


def _check_compare(spec, probe, evaluate, args, index, analytic, chosen, directions, scale, rng, rtol, skip, count):
    """Finite differences of one variable: per chosen entry, then along random
    directions. Returns the rows (where, numeric, analytic values, floor) and
    how many comparisons were skipped at a kink (when skip; else a failing
    comparison whose two points straddle a kink redraws the inputs)."""
    x = args[index]
    flat, g = x.reshape(-1), [a.reshape(-1) for a in analytic]
    rms = float(_np.sqrt(_np.mean(flat * flat))) if flat.size else 0.0
    rms = rms if rms > 0 else 1.0
    largest = max((float(_np.max(_np.abs(a))) for a in g if a.size), default=0.0)
    rows, skipped = [], 0

    def straddled(points):
        """The first kink whose argument is on different sides at the two
        points (copied: a kink's argument may be a view of an argument)."""
        ends = [[_np.array(k) for k in probe(*values)[0]] for values in points()]
        return next((site for site, a, b in zip(spec["kinks"], *ends) if _np.any(_np.sign(a) != _np.sign(b))), None)

    def compare(where, f_plus, f_minus, step, projected, spread, points):
        nonlocal skipped
        if not (_np.isfinite(f_plus) and _np.isfinite(f_minus)):
            raise _CheckRedraw("a finite-difference step left the model's domain (its value is not finite there)")
        numeric = (f_plus - f_minus) / step
        floor = _CHECK_FLOOR * _CHECK_EPS * (max(scale, abs(f_plus), abs(f_minus)) / step * 2 + spread)
        fails = any(not abs(a - numeric) <= max(rtol * max(abs(a), abs(numeric)), floor) for a in projected)
        site = straddled(points) if fails and spec["kinks"] else None
        if site and not skip:
            raise _CheckRedraw(f"a step put the argument of {site[0]} at {site[1]} (`{site[2]}`) across its kink")
        if site:
            skipped += 1
        else:
            rows.append((where, numeric, projected, floor))

    for position in chosen:
        centre = flat[position]
        h = _CHECK_STEP * max(abs(centre), rms)
        flat[position] = centre + h
        high, f_plus = flat[position], float(evaluate(*args))
        flat[position] = centre - h
        low, f_minus = flat[position], float(evaluate(*args))
        flat[position] = centre

        def points(high=high, low=low, centre=centre, position=position):
            for value in (high, low):
                flat[position] = value
                yield args
            flat[position] = centre
        where = tuple(int(i) for i in _np.unravel_index(position, x.shape))
        compare(where, f_plus, f_minus, float(high - low), [a[position] for a in g], largest, points)
        if count:
            count(2)
    t = _CHECK_STEP * rms * flat.size ** 0.5
    for direction in range(directions if flat.size > 1 else 0):
        v = rng.standard_normal(x.shape)
        v /= _np.sqrt(_np.sum(v * v))
        moved = [list(args), list(args)]
        moved[0][index], moved[1][index] = x + t * v, x - t * v
        projected = [float(_np.sum(a * v.reshape(-1))) for a in g]
        spread = max(float(_np.sum(_np.abs(a * v.reshape(-1)))) for a in g)
        compare(f"direction {direction + 1}", float(evaluate(*moved[0])), float(evaluate(*moved[1])), 2 * t,
                projected, spread, lambda moved=moved: iter(moved))
        if count:
            count(2)
    return rows, skipped


def _check_summary(target, name, x, rows, skipped, rtol, error=None):
    """One gradient's line of the report: what was compared, the largest
    errors, and the worst comparison: the entry with the largest relative
    error, or a direction when no entry was compared or only a direction fails."""
    worst, max_abs, max_rel, all_zero = {}, 0.0, -1.0, True
    for where, numeric, values, floor in rows:
        kind = "entry" if isinstance(where, tuple) else "direction"
        for via, value in zip(("value_and_grad", "backward"), values):
            difference, size = abs(value - numeric), max(abs(value), abs(numeric))
            finite = bool(_np.isfinite(value))
            relative = difference / max(size, floor / rtol, 1e-300) if finite else _np.inf
            max_abs, max_rel = max(max_abs, difference if finite else _np.inf), max(max_rel, relative)
            all_zero = all_zero and size == 0
            if relative > worst.get(kind, (-1.0,))[0]:
                worst[kind] = (relative, {"where": list(where) if kind == "entry" else where,
                                          "analytic": float(value), "numeric": float(numeric), "via": via})
    entry, direction = worst.get("entry"), worst.get("direction")
    if entry is None or direction is not None and entry[0] <= rtol < direction[0]:
        entry = direction
    return {
        "target": target, "variable": name, "shape": list(x.shape), "entries": int(x.size),
        "entries_checked": sum(isinstance(row[0], tuple) for row in rows),
        "directions": sum(isinstance(row[0], str) for row in rows),
        "max_abs_error": float(max_abs), "max_rel_error": float(max(max_rel, 0.0)), "worst": entry and entry[1],
        "skipped_at_kinks": skipped, "all_zero": all_zero and bool(rows),
        "passed": bool(max_rel <= rtol and error is None), "error": error,
    }


def _check_table(report, color=False):
    """The report as aligned text, one table per grad statement."""
    paint = (lambda text, code: f"\x1b[{code}m{text}\x1b[0m") if color else (lambda text, code: text)
    sizes = ", ".join(f"{dim}={size}" for dim, size in report["dims"].items())
    given = f"; arrays given for {', '.join(report['given'])}" if report["given"] else ""
    lines = [f"{report['model']}: {sizes + '; ' if sizes else ''}seed {report['seed']}{given}; float64; "
             f"each gradient per entry and along {report['directions']} random directions"]
    lines += [f"ids (not differentiated): {', '.join(report['ids'])}"] * bool(report.get("ids"))
    header = ("variable", "shape", "entries checked", "max abs err", "max rel err", "worst entry",
              "analytic", "numeric", "")
    for target in dict.fromkeys(result["target"] for result in report["gradients"]):
        results = [r for r in report["gradients"] if r["target"] == target]
        rows = [header]
        for r in results:
            worst = r["worst"] or {"where": "-", "analytic": "-", "numeric": "-"}
            where = worst["where"]
            if isinstance(where, list):
                where = "[" + ", ".join(map(str, where)) + "]" if where else "-"
            shape = " x ".join(map(str, r["shape"])) or "scalar"
            rows.append((r["variable"], shape, f"{r['entries_checked']} of {r['entries']}",
                         f"{r['max_abs_error']:.1e}", f"{r['max_rel_error']:.1e}", where,
                         *(f"{worst[key]:.9g}" if r["worst"] else "-" for key in ("analytic", "numeric")),
                         "pass" if r["passed"] else "FAIL"))
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        lines.append(f"grad {target} wrt {', '.join(r['variable'] for r in results)}")
        for number, row in enumerate(rows):
            cells = [cell.ljust(width) for cell, width in zip(row, widths)]
            if number:
                cells[-1] = paint(row[-1], "32" if row[-1] == "pass" else "1;31")
            lines.append(("  " + "  ".join(cells)).rstrip())
    lines += [f"note: {note}" for note in report["notes"]]
    failed = [f"d{r['target']}/d{r['variable']}" for r in report["gradients"] if not r["passed"]]
    count = len(report["gradients"])
    if failed:
        lines.append(paint(f"FAILED: {len(failed)} of {count} gradients disagree with finite differences "
                           f"({', '.join(failed)})", "1;31"))
    else:
        lines.append(paint(f"passed: {'all ' * (count > 1)}{count} gradient{'s' * (count > 1)} agree"
                           f"{'s' * (count == 1)} with finite differences "
                           f"(max rel err <= rtol = {report['rtol']:g})", "32"))
    return "\n".join(lines)
