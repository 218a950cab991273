"""The binding plan: in which order a compiled module's `_arguments` binds
every dimension from the shapes of the arrays passed, and checks every
other axis.

An axis of an argument whose dimension d reads symbols is used, in the
order the arguments are declared, as soon as it can be:
- every symbol of d known: the axis is checked, size == d;
- one symbol s unknown and d linear in it, d = a s + b (a and b
  polynomials of known symbols): s is bound, s = (size - b) / a, which
  must be a positive integer (`5 d` given 250 gives d = 50);
- else the axis waits until some later argument has bound what it lacks.
A dimension no axis ever binds is one no call could give a size: the
compiler refuses the model (`undetermined`), before any code is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Program, Variable
from .shapes import Dim, dim_from_terms, dim_symbols, dim_terms
from .source import Diagnostic


@dataclass(frozen=True)
class Step:
    """One use of an axis: `variable`'s axis 0 (rows, or a vector of ids'
    length) or 1 (columns), of dimension `dim`. `symbol` is the dimension it
    binds (None: it checks the axis); then dim = slope · symbol + rest."""

    variable: Variable
    axis: int
    dim: Dim
    symbol: str | None = None
    slope: Dim = 1
    rest: Dim = 0

    @property
    def plain(self) -> bool:
        """Whether the axis is the symbol itself (n = x.shape[0], no solving)."""
        return self.symbol is not None and self.dim == self.symbol


def axes(variable: Variable) -> list[tuple[int, Dim]]:
    """The axes of an argument as _arguments takes it: a matrix or vector
    is 2-D (a vector a column or a row), a vector of ids 1-D, a scalar and
    one id have none."""
    if variable.shape.is_scalar:
        return []
    if variable.ids is not None:
        return [(0, variable.shape.rows)]
    return list(enumerate(variable.shape.dims()))


def linear_parts(dim: Dim, symbol: str) -> tuple[Dim, Dim] | None:
    """(a, b) with dim = a · symbol + b, a and b free of symbol; None when
    dim is not linear in it (s², or s not in it)."""
    slope: dict = {}
    rest: dict = {}
    for monomial, coefficient in dim_terms(dim).items():
        count = monomial.count(symbol)
        if count > 1:
            return None
        target = slope if count else rest
        key = tuple(s for s in monomial if s != symbol)
        target[key] = target.get(key, 0) + coefficient
    if not slope:
        return None
    return dim_from_terms(slope), dim_from_terms(rest)


def plan(arguments: list[Variable]) -> list[tuple[Variable, list[Step]]]:
    """For each argument in declaration order, the steps _arguments does
    right after taking it: its own axes as far as they can be used, then any
    earlier axis that was waiting for what it bound."""
    known: set[str] = set()
    waiting: list[tuple[Variable, int, Dim]] = []
    result = []
    for variable in arguments:
        waiting += [(variable, axis, dim) for axis, dim in axes(variable)]
        steps = []
        while True:
            # Every axis that can be checked first (one `if` checks them), then
            # the first that binds a dimension, which may let others go.
            checked = [item for item in waiting if all(s in known for s in dim_symbols(item[2]))]
            steps += [Step(*item) for item in checked]
            waiting = [item for item in waiting if item not in checked]
            for item in waiting:
                unknown = [s for s in dim_symbols(item[2]) if s not in known]
                parts = linear_parts(item[2], unknown[0]) if len(unknown) == 1 else None
                if parts is not None:
                    waiting.remove(item)
                    steps.append(Step(*item, unknown[0], *parts))
                    known.add(unknown[0])
                    break
            else:
                break
        result.append((variable, steps))
    return result


def bound_order(program: Program) -> list[str]:
    """The dimensions the arguments' shapes bind, in the order bound."""
    return [step.symbol for _, steps in plan(program.arguments) for step in steps if step.symbol]


def undetermined(program: Program) -> list[str]:
    """The model's dimensions that no argument's shape determines."""
    bound = set(bound_order(program))
    return [dim for dim in program.dims if dim not in bound]


def dimension_errors(program: Program) -> list[Diagnostic]:
    """A located error for each dimension no argument's shape determines,
    at the place the model first wrote it."""
    errors = []
    for dim in undetermined(program):
        shapes = [f"{v.name} : {v.shape}" for v in program.arguments
                  if any(dim in dim_symbols(d) for _, d in axes(v))]
        hint = (f"{', '.join(shapes)} cannot give it a size: with it another unknown dimension, or "
                f"not linearly; " if shapes else "")
        errors.append(Diagnostic(program.dims[dim], f"no argument's shape determines the dimension '{dim}'",
                                 hint + f"declare an argument whose shape has {dim} (a dimension is bound "
                                        f"from the shapes of the arrays passed)"))
    return errors
