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
    argument name; the others are drawn), and every hvp and hessian against
    differences of the gradient, every jacobian against differences of the
    value. `dims`: sizes of the dimensions (default 3, 4, 5, ...). Entries
    (and columns of a Hessian or Jacobian) are compared one by one up to
    `max_entries`; every derivative is also compared along `directions`
    random directions. Prints a report unless quiet and returns it as a
    dict: 'passed', 'gradients' (one dict each), 'derivatives' (one dict per
    hvp variable, hessian and jacobian), 'notes'."""
    report = _check_run(_CHECK_SPEC, globals(), _check_probe, dims, seed, inputs, max_entries, directions, rtol)
    if not quiet:
        print(_check_table(report))
    return report


def _check_run(spec, entries, probe, dims=None, seed=0, inputs=None, max_entries=10000, directions=4,
               rtol=1e-5, progress=None):
    """The report of a check (see check_gradients); CheckInputError for
    inputs that cannot be checked. `entries`: the module's functions by name;
    `probe`: its _check_probe; `progress(done, total)`: called as it goes.
    The hessian and jacobian statements are those of the module's SIGNATURE."""
    signature = entries.get("SIGNATURE", {})
    hessians = [(target, suffix, wrt, full) for target, suffix, wrt, _, full in signature.get("hessians", ())]
    jacobians = signature.get("jacobians", ())

    def derivatives_at(args, last):
        """Every statement's results at one draw (_CheckRedraw: draw again):
        the gradients, then the hvps, hessians and jacobians."""
        shapes = [_np.shape(value) for value in args]
        plan = _check_plan(spec, shapes, max_entries, _np.random.default_rng([seed, 1]))  # the same at every draw
        sizes_of = {a[0]: int(_np.prod(shape)) for a, shape in zip(spec["arguments"], shapes)}
        total = 2 * sum(len(chosen) + directions * (sizes_of[name] > 1) for (_, name), chosen in plan.items())
        for _, _, wrt, full in hessians:
            total += 2 * (directions + min(sum(sizes_of[name] for name in wrt), max_entries) * full)
        total += 2 * sum(min(sizes_of[name], max_entries) + directions * (sizes_of[name] > 1)
                         for _, _, name in jacobians)
        counter = _check_counter(progress, total)
        gradients = [_check_gradient(spec, entries, probe, args, request, plan, directions, rtol,
                                     _np.random.default_rng([seed, 2]), last, counter) for request in spec["grads"]]
        rng = _np.random.default_rng([seed, 3])
        derivatives = [_check_hessian(spec, entries, probe, args, request, max_entries, directions, rtol, rng, last,
                                      counter) for request in hessians]
        derivatives += [[_check_jacobian(spec, entries, probe, args, request, max_entries, directions, rtol, rng,
                                         last, counter)] for request in jacobians]
        return gradients, derivatives

    drawn = check_inputs(spec, probe, dims, seed, inputs, derivatives_at)
    notes = drawn["notes"]
    gradients, derivatives = drawn["accepted"]
    flat = [result for results in gradients for result in results]
    rows = [row for found in derivatives for row in found]
    notes += [f"d{r['target']}/d{r['variable']}: {r['error']}" for r in flat if r["error"]]
    notes += [f"{r['name']}: {r['error']}" for r in rows if r["error"]]
    notes += [f"d{r['target']}/d{r['variable']} is 0 at every point compared: these inputs do not "
              f"exercise it (try another --seed)" for r in flat if r["all_zero"]]
    notes += [f"{r['name']} is 0 at every point compared: the model is linear in its variables there, or these "
              f"inputs do not exercise it (try another --seed)" for r in rows if r["all_zero"]]
    notes += [f"{r['name']} is not symmetric: entry {a['where']} is {a['entry']:.9g}, entry {a['where'][::-1]} "
              f"is {a['transposed']:.9g}" for r in rows for a in [r["asymmetry"]] if a and a["max_rel_error"] > rtol]
    skipped = sum(result["skipped_at_kinks"] for result in flat + rows)
    if skipped:
        notes.append(f"{skipped} comparison{'s' * (skipped > 1)} skipped: the inputs put a kink "
                     f"within the step")
    return {
        "model": spec["model"], "passed": all(result["passed"] for result in flat + rows),
        "dims": drawn["sizes"], "seed": seed, "given": drawn["given"], "draws": drawn["draws"], "ids": drawn["ids"],
        "directions": directions, "max_entries": max_entries, "rtol": rtol, "floor": _CHECK_FLOOR,
        "gradients": flat, "derivatives": rows, "notes": notes,
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
    rms = _check_rms(x)
    largest = max((float(_np.max(_np.abs(a))) for a in g if a.size), default=0.0)
    rows, skipped = [], 0

    def compare(where, f_plus, f_minus, step, projected, spread, points):
        nonlocal skipped
        if not (_np.isfinite(f_plus) and _np.isfinite(f_minus)):
            raise _CheckRedraw("a finite-difference step left the model's domain (its value is not finite there)")
        numeric = (f_plus - f_minus) / step
        floor = _CHECK_FLOOR * _CHECK_EPS * (max(scale, abs(f_plus), abs(f_minus)) / step * 2 + spread)
        fails = any(not abs(a - numeric) <= max(rtol * max(abs(a), abs(numeric)), floor) for a in projected)
        site = _check_straddled(spec, probe, points) if fails and spec["kinks"] else None
        if site and not skip:
            raise _CheckRedraw(_check_across(site))
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


def _check_straddled(spec, probe, points):
    """The first kink whose argument is on different sides at the two points
    that points() yields (copied: a kink's argument may be a view of an argument)."""
    ends = [[_np.array(k) for k in probe(*values)[0]] for values in points()]
    return next((site for site, a, b in zip(spec["kinks"], *ends) if _np.any(_np.sign(a) != _np.sign(b))), None)


def _check_across(site):
    """Why inputs are drawn again when a step crossed a kink (site: op, where, line)."""
    return f"a step put the argument of {site[0]} at {site[1]} (`{site[2]}`) across its kink"


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


# ---------------------------------------------- hvp, hessian and jacobian checks
# Each hessian statement's hvp along `directions` random directions V (per
# variable, standard normal entries times the variable's rms, so that x ± t V
# moves every entry about as far as a gradient's step; t = eps^(1/3)): per
# entry of every variable A, (H V)_A against (g_A(x + t V) - g_A(x - t V)) / 2t,
# g the gradient from value_and_grad. A difference of first derivatives is
# one finite-difference level, as for gradients: the same rtol, and the floor
# 100 eps (C / t + G), C the largest of |gradient entry| at the two points and
# F / rms(x_A) (F the gradient check's, which a gradient's terms scale with
# over x's), G the largest |(H V)_A|. Its hessian (every variable a vector or scalar): column j
# and row j against (g(x + h e_j) - g(x - h e_j)) / 2h (h as for gradients)
# for up to max_entries columns, H V along the same directions, and
# |H_ij - H_ji| within the tolerance of those comparisons. Each jacobian
# statement: every column of jacobian() and of value_and_jacobian() against
# differences of the value y, and J v along random unit directions, as a
# gradient is checked (C the largest of |y| and sum_j |J_ij x_j|). A failing
# comparison is computed again by Richardson extrapolation (_CheckTally).


class _CheckBroken(Exception):
    """A generated function is missing, raised, or gave the wrong shape: its
    row fails with this message, without comparisons."""


def _check_calling(name, function, *args):
    """function(*args) (`name`: how the report calls it), or _CheckBroken."""
    if function is None:
        raise _CheckBroken(f"the module has no {name}: compile the model again")
    try:
        return function(*args)
    except Exception as error:
        raise _CheckBroken(f"{name} raised {type(error).__name__}: {error}") from None


def _check_rms(x):
    """The root mean square of an array's entries, 1 where they are all 0."""
    rms = float(_np.sqrt(_np.mean(x * x))) if x.size else 0.0
    return rms if rms > 0 else 1.0


def _check_columns(size, max_entries, rng):
    """The columns of a Hessian or Jacobian to compare one by one: all, or a
    random sample of max_entries."""
    return _np.arange(size) if size <= max_entries else _np.sort(rng.choice(size, max(max_entries, 0), replace=False))


def _check_along(function, args, moves, what):
    """The central difference of function(args) along a direction, as a
    function of the step t: moves = [(argument's index, its value, its part
    of the direction)]; see _check_differences (`what`: what function computes)."""
    def difference(t):
        moved = [list(args), list(args)]
        for index, x, along in moves:
            moved[0][index], moved[1][index] = x + t * along, x - t * along
        plus, minus = function(moved[0]), function(moved[1])
        return plus, minus, t, lambda: iter(moved)
    return _check_differences(difference, what)


def _check_stepped(function, args, flat, position, what):
    """The central difference of function(args) in one entry, flat[position]
    (flat: a view of one of args), as a function of the step h; see
    _check_differences."""
    centre = flat[position]

    def difference(h):
        flat[position] = centre + h
        high, plus = flat[position], function(args)
        flat[position] = centre - h
        low, minus = flat[position], function(args)
        flat[position] = centre

        def points():
            for value in (high, low):
                flat[position] = value
                yield args
            flat[position] = centre
        return plus, minus, float(high - low) / 2, points
    return _check_differences(difference, what)


def _check_differences(difference, what):
    """difference(step) -> (f at the far point, f at the near one, half the
    step actually taken, the two points as a function for _check_straddled),
    as a function of the step that computes each step once and returns
    (numeric derivative, f at both points, half step, points)."""
    found = {}

    def at(step):
        if step not in found:
            plus, minus, half, points = difference(step)
            _check_finite((plus, minus), what)
            found[step] = ((plus - minus) / (2 * half), plus, minus, half, points)
        return found[step]
    return at


def _check_finite(arrays, what):
    if not all(_np.all(_np.isfinite(a)) for a in arrays):
        raise _CheckRedraw(f"a finite-difference step left the model's domain (its {what} is not finite there)")


class _CheckTally:
    """The comparisons of one row of the report (an hvp's variable, a
    hessian, a jacobian), each an entry of a numeric derivative against the
    same entry of the analytic arrays. A failing comparison is computed again
    by Richardson extrapolation, (4 D(s/2) - D(s)) / 3 from a second
    difference of half the step, whose truncation error is O(s^4) where
    D(s)'s is O(s^2) (a model whose third derivatives are large, a deep
    tanh network, fails the first only). A comparison that fails both
    and whose two points put a kink's argument on different sides draws the
    inputs again (when skip: it is skipped and counted)."""

    def __init__(self, spec, probe, rtol, skip):
        self.spec, self.probe, self.rtol, self.skip = spec, probe, rtol, skip
        self.max_abs, self.max_rel, self.worst = 0.0, -1.0, {}  # the worst by kind: column or direction
        self.all_zero, self.skipped, self.directions = True, 0, 0
        self.in_columns, self.along = 0, None  # entries compared in a column; those compared along a direction

    def passes(self, numeric, analytic, floor):
        passes = _np.ones(numeric.shape, dtype=bool)
        for a in analytic.values():
            passes &= _np.abs(a - numeric) <= _np.maximum(self.rtol * _np.maximum(_np.abs(a), _np.abs(numeric)),
                                                          floor)
        return passes

    def add(self, difference, step, part, analytic, scale, where, direction=None):
        """Compare difference(step) (see _check_differences), its entries
        `part` (a slice), with each analytic array ({the function it comes
        from: array}); floor 100 eps (F / half step + G), F the largest of
        `scale` and |f| at the two points, G the largest |analytic|. where(i):
        the index the report shows for entry i (or {function: where}, where
        they differ); direction: its number, for a comparison along a
        direction (else a column's)."""
        analytic = {via: _np.asarray(a, dtype=_np.float64).reshape(-1) for via, a in analytic.items()}
        spread = max(float(_np.max(_np.abs(a), initial=0)) for a in analytic.values())

        def compared(step):
            numeric, plus, minus, half, points = difference(step)
            largest = max(scale, float(_np.max(_np.abs(plus), initial=0)), float(_np.max(_np.abs(minus), initial=0)))
            return numeric[part], _CHECK_FLOOR * _CHECK_EPS * (largest / half + spread), points

        numeric, floor, points = compared(step)
        passes = self.passes(numeric, analytic, floor)
        if not passes.all():
            halved, halved_floor, _ = compared(step / 2)
            # the rounding error of 4/3 D(s/2) - 1/3 D(s): (4/3 2 + 1/3) = 3 times D(s)'s
            numeric = _np.where(passes, numeric, (4 * halved - numeric) / 3)
            floor = _np.where(passes, floor, max(3 * floor, halved_floor))
            passes = self.passes(numeric, analytic, floor)
        kept = _np.ones(numeric.shape, dtype=bool)
        if not passes.all() and self.spec["kinks"]:
            site = _check_straddled(self.spec, self.probe, points)
            if site and not self.skip:
                raise _CheckRedraw(_check_across(site))
            if site:
                self.skipped += int(_np.sum(~passes))
                kept = passes
        if direction is None:
            self.in_columns += int(_np.sum(kept))
        else:
            self.directions += bool(kept.any())
            self.along = kept if self.along is None else self.along | kept
        positions = _np.flatnonzero(kept)
        floor = _np.broadcast_to(floor, numeric.shape)[positions]
        for via, a in analytic.items():
            a, n = a[positions], numeric[positions]
            difference, size = _np.abs(a - n), _np.maximum(_np.abs(a), _np.abs(n))
            finite = _np.isfinite(a)
            relative = _np.where(finite, difference / _np.maximum(size, _np.maximum(floor / self.rtol, 1e-300)),
                                 _np.inf)
            self.all_zero = self.all_zero and not _np.any(size)
            if not len(positions):
                continue
            self.max_abs = max(self.max_abs, float(_np.max(_np.where(finite, difference, _np.inf))))
            worst = int(_np.argmax(relative))
            self.max_rel = max(self.max_rel, float(relative[worst]))
            kind = "column" if direction is None else "direction"
            if relative[worst] > self.worst.get(kind, (-1.0,))[0]:
                self.worst[kind] = (float(relative[worst]), {
                    "where": (where[via] if isinstance(where, dict) else where)(int(positions[worst])),
                    "direction": direction,
                    "analytic": float(a[worst]), "numeric": float(n[worst]), "via": via})
        return float(_np.max(floor, initial=0))

    def summary(self, kind, target, variable, shape, error=None, asymmetry=None):
        """The row of what has the `shape`. Its entries checked: those
        compared in a column (an hvp's: along a direction). Its worst
        comparison: a column's, unless only a direction fails (as for gradients)."""
        checked = self.in_columns if kind != "hvp" else int(_np.sum(self.along)) if self.along is not None else 0
        column, along = self.worst.get("column"), self.worst.get("direction")
        worst = column if column and not (along and column[0] <= self.rtol < along[0]) else along
        name = f"{kind} {target}" + (f" wrt {variable}" if kind != "hessian" else "")
        symmetric = asymmetry is None or asymmetry["max_rel_error"] <= self.rtol
        return {
            "kind": kind, "name": name, "target": target, "variable": variable, "shape": list(shape),
            "entries": int(_np.prod(shape)), "entries_checked": int(checked), "directions": self.directions,
            "max_abs_error": self.max_abs, "max_rel_error": max(self.max_rel, 0.0), "worst": worst and worst[1],
            "skipped_at_kinks": self.skipped, "all_zero": self.all_zero and bool(self.worst),
            "asymmetry": asymmetry,
            "passed": bool(self.max_rel <= self.rtol and symmetric and error is None), "error": error,
        }


def _check_hessian(spec, entries, probe, args, request, max_entries, directions, rtol, rng, skip, count):
    """The rows of one hessian statement: its hvp, one row per variable, and
    its hessian where it has one, against differences of the gradient. A
    broken hvp fails its rows only, a broken hessian its row only."""
    target, suffix, wrt, full = request
    names = [a[0] for a in spec["arguments"]]
    _, grad_suffix, grad_wrt = next(g for g in spec["grads"] if g[0] == target)
    indices, picks = [names.index(name) for name in wrt], [grad_wrt.index(name) for name in wrt]
    xs = [args[index] for index in indices]
    offsets = _np.cumsum([0] + [x.size for x in xs])
    order = int(offsets[-1])
    tallies = [_CheckTally(spec, probe, rtol, skip) for _ in wrt]
    square = _CheckTally(spec, probe, rtol, skip)
    value_and_grad = entries.get("value_and_grad" + grad_suffix)
    broken = {"hvp": None, "hessian": None}  # why either has no comparisons

    def gradient(values):
        """The gradient of the statement's variables, flat, one after the other."""
        grads = _check_calling(f"value_and_grad{grad_suffix}", value_and_grad, *values)[1]
        return _np.concatenate([_np.array(grads[p], dtype=_np.float64).reshape(-1) for p in picks])

    def scales():
        """What rounding in each variable's gradient grows with, also where
        its terms cancel: F / rms(x_A), F the gradient check's (the largest
        of |s| and sum |g x|), as a gradient's terms scale like s's over x's."""
        value, grads = _check_calling(f"value_and_grad{grad_suffix}", value_and_grad, *args)
        terms = sum(float(_np.sum(_np.abs(_np.array(grads[p], dtype=_np.float64).reshape(-1) * x.reshape(-1))))
                    for p, x in zip(picks, xs))
        largest = max(abs(float(value)), terms)
        return [largest / _check_rms(x) for x in xs]

    def products(v, difference, direction):
        """hvp(..., v) against the difference of the gradient along v."""
        found = _check_calling(f"hvp{suffix}", entries.get("hvp" + suffix), *args, tuple(v))
        if len(found) != len(wrt):
            raise _CheckBroken(f"hvp{suffix} gave {len(found)} arrays for {len(wrt)} variables")
        for number, (tally, name, x, product) in enumerate(zip(tallies, wrt, xs, found)):
            if _np.shape(product) != x.shape:
                raise _CheckBroken(f"hvp{suffix} gave shape {_np.shape(product)} for {name}, of shape {x.shape}")
            tally.add(difference, _CHECK_STEP, slice(offsets[number], offsets[number + 1]), {"hvp": product},
                      scale[number], lambda i, shape=x.shape: [int(k) for k in _np.unravel_index(i, shape)],
                      direction)

    hessian = None
    try:
        if full:
            hessian = _np.array(_check_calling(f"hessian{suffix}", entries.get("hessian" + suffix), *args),
                                dtype=_np.float64)
            if hessian.shape != (order, order):
                raise _CheckBroken(f"hessian{suffix} gave shape {hessian.shape}, expected {(order, order)}")
    except _CheckBroken as error:
        hessian, broken["hessian"] = None, str(error)
    asymmetry = None
    try:
        scale = scales()
        for direction in range(1, directions + 1):
            v = [rng.standard_normal(x.shape) * _check_rms(x) for x in xs]
            difference = _check_along(gradient, args, list(zip(indices, xs, v)), "gradient")
            if broken["hvp"] is None:
                try:
                    products(v, difference, direction)
                except _CheckBroken as error:
                    broken["hvp"] = str(error)
            if hessian is not None:
                product = hessian @ _np.concatenate([along.reshape(-1) for along in v])
                square.add(difference, _CHECK_STEP, slice(None), {"hessian": product}, max(scale), lambda i: [i],
                           direction)
            if count:
                count(2)
        floor = 0.0
        for column in (int(c) for c in _check_columns(order, max_entries, rng)) if hessian is not None else ():
            number = int(_np.searchsorted(offsets, column, side="right")) - 1
            flat, position = xs[number].reshape(-1), column - int(offsets[number])
            difference = _check_stepped(gradient, args, flat, position, "gradient")
            step = _CHECK_STEP * max(abs(flat[position]), _check_rms(xs[number]))
            floor = max(floor, square.add(
                difference, step, slice(None), {"hessian": hessian[:, column], "hessian transposed": hessian[column]},
                max(scale), {"hessian": lambda i, column=column: [i, column],
                      "hessian transposed": lambda i, column=column: [column, i]}))
            if count:
                count(2)
        asymmetry = _check_symmetry(hessian, floor, rtol) if hessian is not None else None
    except _CheckBroken as error:  # the gradient itself: nothing can be compared
        broken = {kind: found or str(error) for kind, found in broken.items()}
    rows = [t.summary("hvp", target, name, x.shape, broken["hvp"]) for t, name, x in zip(tallies, wrt, xs)]
    return rows + ([square.summary("hessian", target, ", ".join(wrt), (order, order), broken["hessian"], asymmetry)]
                   if full else [])


def _check_symmetry(hessian, floor, rtol):
    """How far a Hessian is from symmetric: the largest relative difference
    of H_ij and H_ji (measured as the report measures errors) and where."""
    size = _np.maximum(_np.abs(hessian), _np.abs(hessian.T))
    relative = _np.abs(hessian - hessian.T) / _np.maximum(size, max(floor / rtol, 1e-300))
    if not relative.size:
        return {"max_rel_error": 0.0, "where": None}
    i, j = (int(k) for k in _np.unravel_index(int(_np.argmax(relative)), relative.shape))
    return {"max_rel_error": float(relative[i, j]), "where": [i, j],
            "entry": float(hessian[i, j]), "transposed": float(hessian[j, i])}


def _check_jacobian(spec, entries, probe, args, request, max_entries, directions, rtol, rng, skip, count):
    """The row of one jacobian statement: jacobian() and value_and_jacobian()
    against differences of the value."""
    target, suffix, name = request
    index = [a[0] for a in spec["arguments"]].index(name)
    x = args[index]
    flat, rms = x.reshape(-1), _check_rms(x)
    tally = _CheckTally(spec, probe, rtol, skip)
    together = entries.get("value_and_jacobian" + suffix)
    shape = (0, x.size)

    def value(values):
        y = _check_calling(f"value_and_jacobian{suffix}", together, *values)[0]
        return _np.array(y, dtype=_np.float64).reshape(-1)

    try:
        y, pairs = _check_calling(f"value_and_jacobian{suffix}", together, *args)
        alone = _check_calling(f"jacobian{suffix}", entries.get("jacobian" + suffix), *args)
        y = _np.array(y, dtype=_np.float64).reshape(-1)
        if not _np.all(_np.isfinite(y)):
            raise _CheckRedraw(f"the value of {target} is not finite")
        shape = (y.size, x.size)
        matrices = {"jacobian": _np.array(alone, dtype=_np.float64),
                    "value_and_jacobian": _np.array(pairs, dtype=_np.float64)}
        for via, matrix in matrices.items():
            if matrix.shape != shape:
                raise _CheckBroken(f"{via}{suffix} gave shape {matrix.shape}, expected {shape}")
        # what rounding in y grows with, also where its terms cancel: |y|, and sum_j |J_ij x_j|
        scale = max(float(_np.max(_np.abs(y), initial=0)),
                    float(_np.max(_np.abs(matrices["jacobian"]) @ _np.abs(flat), initial=0)))
        for column in (int(c) for c in _check_columns(x.size, max_entries, rng)):
            step = _CHECK_STEP * max(abs(flat[column]), rms)
            tally.add(_check_stepped(value, args, flat, column, "value"), step, slice(None),
                      {via: m[:, column] for via, m in matrices.items()}, scale, lambda i, column=column: [i, column])
            if count:
                count(2)
        for direction in range(1, directions + 1 if x.size > 1 else 1):
            v = rng.standard_normal(x.shape)
            v /= _np.sqrt(_np.sum(v * v))
            tally.add(_check_along(value, args, [(index, x, v)], "value"), _CHECK_STEP * rms * x.size ** 0.5,
                      slice(None), {via: m @ v.reshape(-1) for via, m in matrices.items()}, scale, lambda i: [i],
                      direction)
            if count:
                count(2)
        return tally.summary("jacobian", target, name, shape)
    except _CheckBroken as error:
        return tally.summary("jacobian", target, name, shape, str(error))


def _check_table(report, color=False):
    """The report as aligned text: one table per grad statement, then one of
    the hvps, hessians and jacobians."""
    paint = (lambda text, code: f"\x1b[{code}m{text}\x1b[0m") if color else (lambda text, code: text)
    sizes = ", ".join(f"{dim}={size}" for dim, size in report["dims"].items())
    given = f"; arrays given for {', '.join(report['given'])}" if report["given"] else ""
    derivatives = report.get("derivatives", [])
    kinds = {row["kind"] for row in derivatives}
    compared = ["each gradient per entry"] * bool(report["gradients"]) + \
               [f"each {' and '.join(k for k in ('hessian', 'jacobian') if k in kinds)} per column"] * \
               bool(kinds - {"hvp"})
    along = f"along {report['directions']} random directions"
    lines = [f"{report['model']}: {sizes + '; ' if sizes else ''}seed {report['seed']}{given}; float64; "
             + (" and ".join(compared + [along]) if len(compared) < 2 else ", ".join(compared) + ", all " + along)]
    lines += [f"ids (not differentiated): {', '.join(report['ids'])}"] * bool(report.get("ids"))
    header = ["shape", "entries checked", "max abs err", "max rel err", "worst entry", "analytic", "numeric", ""]

    def table(title, first, rows):
        """A title over rows (label, result) as aligned columns, `first` the label's heading."""
        cells = [[first] + header] + [[
                  label, " x ".join(map(str, r["shape"])) or "scalar", f"{r['entries_checked']} of {r['entries']}",
                  f"{r['max_abs_error']:.1e}", f"{r['max_rel_error']:.1e}", _check_where(r["worst"]),
                  *(f"{r['worst'][key]:.9g}" if r["worst"] else "-" for key in ("analytic", "numeric")),
                  "pass" if r["passed"] else "FAIL"] for label, r in rows]
        widths = [max(len(row[column]) for row in cells) for column in range(len(cells[0]))]
        lines.append(title)
        for number, row in enumerate(cells):
            padded = [cell.ljust(width) for cell, width in zip(row, widths)]
            if number:
                padded[-1] = paint(row[-1], "32" if row[-1] == "pass" else "1;31")
            lines.append(("  " + "  ".join(padded)).rstrip())

    for target in dict.fromkeys(result["target"] for result in report["gradients"]):
        results = [r for r in report["gradients"] if r["target"] == target]
        table(f"grad {target} wrt {', '.join(r['variable'] for r in results)}",
              "variable", [(r["variable"], r) for r in results])
    if derivatives:
        table("hvp, hessian, jacobian: against central differences of the gradient (a jacobian's: of the value)",
              "derivative", [(r["name"], r) for r in derivatives])
    lines += [f"note: {note}" for note in report["notes"]]
    failed = [f"d{r['target']}/d{r['variable']}" for r in report["gradients"] if not r["passed"]]
    failed += [r["name"] for r in derivatives if not r["passed"]]
    count = len(report["gradients"]) + len(derivatives)
    noun = "derivative" if derivatives else "gradient"
    if failed:
        lines.append(paint(f"FAILED: {len(failed)} of {count} {noun}s disagree with finite differences "
                           f"({', '.join(failed)})", "1;31"))
    else:
        lines.append(paint(f"passed: {'all ' * (count > 1)}{count} {noun}{'s' * (count > 1)} agree"
                           f"{'s' * (count == 1)} with finite differences "
                           f"(max rel err <= rtol = {report['rtol']:g})", "32"))
    return "\n".join(lines)


def _check_where(worst):
    """The worst comparison's place as the table shows it: an entry [i, j],
    a gradient's "direction 2", a product's entry along one, "[3], direction 2"."""
    if not worst:
        return "-"
    where = worst["where"]
    if isinstance(where, list):
        where = "[" + ", ".join(map(str, where)) + "]" if where else "-"
    if not worst.get("direction"):
        return where
    return f"{where}, direction {worst['direction']}" if where != "-" else f"direction {worst['direction']}"
