"""A compiled model as the callables scipy.optimize.minimize takes.

    objective = Objective(model, {"w": np.zeros(n), "b": 0.0}, X=X, y=y, lam=1.0)
    result = scipy.optimize.minimize(objective.fun, objective.x0, jac=objective.jac,
                                     hessp=objective.hessp, method="trust-ncg")
    objective.unpack(result.x)          # {"w": array of shape (n,), "b": array of shape ()}
    objective.minimize(method="trust-ncg").params      # the same, in one call

`model` is what `symgrad.load`, `symgrad.compile_source` or an import of a
`symgrad compile` output gives (or a model file's path). The optimized
variables θ₁, ..., θₖ are the `wrt` variables of one statement about a scalar
s: its `hessian s wrt ...` statement where the file has one, else its
`grad s wrt ...`; `statement=NAME` picks s (default: the first hessian
statement's, else the first grad statement's). Every other argument of the
model is fixed data, given by keyword as to the module's forward.

The flat vector x stacks the variables in `wrt` order, each by columns:
x = [vec(θ₁); ...; vec(θₖ)], vec(A) the columns of A one after another (NumPy's
order="F"; a vector's entries in order, a scalar as one entry). This is the
order of the rows and columns of the module's `hessian()`, so that

    fun(x) = s,   jac(x) = ∂s/∂x = [vec(∂s/∂θ₁); ...],   hessp(x, p) = (∇²s) p,
    hess(x) = ∇²s, the (Σ entries) × (Σ entries) matrix.

hessp packs the module's hvp (the directions unpacked from p as the
variables are from x); hess is the module's hessian(), which exists where
every variable is a scalar or a vector. fun and jac at one x cost one call
of value_and_grad: each computes both and keeps them for the other. Values
are float64, as scipy expects, whatever dtype the data has.

scipy is imported by `Objective.minimize` alone.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["Objective"]

# scipy.optimize.minimize's methods that use a Hessian-vector product, and
# those that need the whole Hessian.
HESSP_METHODS = {"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"}
HESS_METHODS = {"dogleg", "trust-exact"}


class Objective:
    """One scalar of a compiled model as a function of a flat vector x
    (`fun`, `jac`, `hess`, `hessp`), its fixed data bound.

    initial: the starting value of every optimized variable, by keyword (a
    dict); its shapes are those unpack gives (a vector as a 1-D or n×1
    array, a scalar as a number or 0-d array). x0 is it packed."""

    def __init__(self, model, initial: dict, /, statement: str | None = None, **data):
        if isinstance(model, (str, os.PathLike)):
            from .compiler import load
            model = load(model)
        spec = getattr(model, "SIGNATURE", None)
        if spec is None:
            raise TypeError(f"{getattr(model, '__name__', model)!r} is no module compiled by symgrad "
                            "(symgrad.load, symgrad.compile_source or a `symgrad compile` output)")
        grads = {target: (suffix, wrt, fields) for target, suffix, wrt, fields in spec["statements"]}
        hessians = {target: (suffix, wrt, fields, full) for target, suffix, wrt, fields, full
                    in spec.get("hessians", ())}
        if not grads:
            raise ValueError(f"{spec['model']} has no grad or hessian statement: nothing to minimize")
        self.target = statement if statement is not None else next(iter(hessians or grads))
        if self.target not in grads:
            known = ", ".join(f"`grad {t}`" for t in grads) or "none"
            raise ValueError(f"{spec['model']} has no statement about {self.target}: minimize needs the "
                             f"gradient of a scalar (its grad statements: {known})")
        suffix, grad_wrt, grad_fields = grads[self.target]
        self._value_and_grad = getattr(model, "value_and_grad" + suffix)
        if self.target in hessians:
            hessian_suffix, wrt, self._fields, full = hessians[self.target]
            self._hvp = getattr(model, "hvp" + hessian_suffix)
            self._hessian = getattr(model, "hessian" + hessian_suffix) if full else None
        else:
            wrt, self._fields, self._hvp, self._hessian = grad_wrt, grad_fields, None, None
        self.model = spec["model"]
        keywords = {name: keyword for name, keyword, *_ in spec["arguments"]}
        self.variables = [keywords[name] for name in wrt]
        statement_text = f"{'hessian' if self._hvp else 'grad'} {self.target} wrt {', '.join(wrt)}"
        _same_names("initial", initial, self.variables, f"the variables of `{statement_text}`")
        fixed = [k for k in keywords.values() if k not in self.variables]
        _same_names("the data", data, fixed, "the model's other arguments")
        self._data = data
        self._order = list(keywords.values())  # the model's arguments in declaration order, as every entry takes them
        self.shapes = {k: np.shape(initial[k]) for k in self.variables}
        sizes = [int(np.prod(shape)) for shape in self.shapes.values()]
        self._slices = dict(zip(self.variables, (slice(end - size, end) for size, end
                                                 in zip(sizes, np.cumsum(sizes)))))
        self.size = sum(sizes)
        self.x0 = self.pack(initial)
        self._last = None  # (x, value, gradient) of the last value_and_grad call

    def pack(self, values: dict) -> np.ndarray:
        """x: each variable's entries by columns, in wrt order (float64)."""
        _same_names("pack", values, self.variables, "the variables")
        parts = []
        for keyword in self.variables:
            value = np.asarray(values[keyword], dtype=np.float64)
            if _entries(value.shape) != _entries(self.shapes[keyword]):
                raise ValueError(f"pack: {keyword} has shape {value.shape}, the objective's is "
                                 f"{self.shapes[keyword]}")
            parts.append(value.ravel(order="F"))
        return np.concatenate(parts)

    def unpack(self, x) -> dict:
        """The variables of x, by keyword, in the shapes of the initial values."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.size,):
            raise ValueError(f"x has shape {x.shape}; the objective packs {self.size} entries")
        return {k: x[self._slices[k]].reshape(self.shapes[k], order="F") for k in self.variables}

    def fun(self, x) -> float:
        """s(x)."""
        return self._evaluated(x)[1]

    def jac(self, x) -> np.ndarray:
        """∂s/∂x, packed as x is."""
        return self._evaluated(x)[2].copy()

    def hessp(self, x, p) -> np.ndarray:
        """(∇²s) p, packed as x is: the module's hvp along p unpacked."""
        if self._hvp is None:
            raise ValueError(f"{self.model} has no `hessian {self.target}` statement, so no Hessian-vector "
                             f"product: add `hessian {self.target}` to the model")
        direction = tuple(self.unpack(p).values())
        return self._packed(self._hvp(*self._arguments(x), direction))

    def hess(self, x) -> np.ndarray:
        """∇²s, the (Σ entries) × (Σ entries) matrix, rows and columns as x."""
        if self._hessian is None:
            why = ("no `hessian` statement" if self._hvp is None
                   else "a matrix variable, so no full Hessian; use hessp")
            raise ValueError(f"{self.model}: `{self.target}` has {why}")
        return np.asarray(self._hessian(*self._arguments(x)), dtype=np.float64)

    @property
    def has_hessian(self) -> bool:
        """Whether hess is defined (every variable a scalar or vector)."""
        return self._hessian is not None

    def minimize(self, x0=None, method: str | None = "trust-ncg", **options):
        """scipy.optimize.minimize from x0 (default: the initial values),
        given jac always, hessp where the method takes one, hess where the
        method needs the matrix. The result also has `.params`, x unpacked."""
        from scipy.optimize import minimize
        derivatives = {"jac": self.jac}
        name = (method or "").lower()  # None: scipy's choice, which takes no Hessian
        if name in HESSP_METHODS:
            derivatives["hessp"] = self.hessp
        elif name in HESS_METHODS:
            derivatives["hess"] = self.hess
        result = minimize(self.fun, self.x0 if x0 is None else x0, method=method, **derivatives, **options)
        result.params = self.unpack(result.x)
        return result

    def _arguments(self, x) -> list:
        """The module's arguments at x, in its order."""
        values = {**self._data, **self.unpack(x)}
        return [values[keyword] for keyword in self._order]

    def _evaluated(self, x):
        """(x, s, ∂s/∂x) at x, from one value_and_grad call per point."""
        if self._last is None or not np.array_equal(self._last[0], x):
            value, grads = self._value_and_grad(*self._arguments(x))
            gradient = self._packed(grads)
            self._last = (np.array(x, dtype=np.float64), float(value), gradient)
        return self._last

    def _packed(self, named) -> np.ndarray:
        """A NamedTuple of arrays (gradients, HVP) as x is packed."""
        entries = named._asdict()
        return np.concatenate([np.asarray(entries[field], dtype=np.float64).ravel(order="F")
                               for field in self._fields])


def _entries(shape: tuple) -> tuple:
    """A shape without its 1s: a vector as (n,) or (n, 1), a scalar as () or (1, 1), are one."""
    return tuple(size for size in shape if size != 1)


def _same_names(what: str, given: dict, expected: list, description: str) -> None:
    """A TypeError unless `given` has exactly the keywords `expected`."""
    missing = [k for k in expected if k not in given]
    unknown = [k for k in given if k not in expected]
    if missing or unknown:
        parts = ([f"misses {', '.join(missing)}"] if missing else []) + \
                ([f"has {', '.join(unknown)}, not among them"] if unknown else [])
        raise TypeError(f"{what} {' and '.join(parts)} ({description}: {', '.join(expected) or 'none'})")
