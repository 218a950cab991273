"""Loop fusion in the numba target's kernels: a run of elementwise steps of
one shape becomes one loop nest over the entries, which writes only the
values needed after the run (returned, cached, or read by another step);
the others live in one local number per entry, never in an array.

A run starts at an elementwise step and takes every later elementwise step
of the same shape whose operands are computed before the run or inside it,
skipping the steps between (a product, a sum), which keep their order after
the loop: no step moves before a value it reads. Each step is written by the
printer's own rule on numbers (its operands indexed), with the stable helpers
in their one-number forms (helpers.py, `*_entry`)."""

from __future__ import annotations

import re

from symgrad.ir import Node

from ..schedule import IDENTIFIER, Step

# The operations fused, each written as the printer writes it on numbers,
# but those whose array form is a loop helper: these call its entry form.
ENTRY_HELPERS = {"sigmoid": "sigmoid_entry", "sigmoid_slope": "sigmoid_slope_entry",
                 "softplus": "softplus_entry", "tanh_slope": "tanh_slope_entry"}
FUSED = ("add", "sub", "mul", "div", "neg", "exp", "log", "tanh", "abs", "sqrt", "relu", "max", "min",
         "gt", "ge", "where_gt", "where_ge", "softplus_slope") + tuple(ENTRY_HELPERS)
NUMBER = re.compile(r"_t\([-+0-9.e]+\)")


def operand_entry(operand: str, node: Node, shape, inside: set[str]) -> str | None:
    """The entry (_i, _j) of an operand of a step of `shape`: a number as it
    is, a value of the run its local, a column's row _i, a row's column _j;
    None where it is neither a name nor a number (a transposed view: left
    unfused)."""
    if NUMBER.fullmatch(operand):
        return operand
    if operand in inside:
        return f"_e_{operand}"
    if not operand.isidentifier() or node.shape.is_scalar:
        return None
    rows, cols = node.shape.dims()
    if (rows, cols) != shape.dims() and not (rows == 1 or cols == 1):
        return None
    return f"{operand}[{'0' if rows == 1 != shape.rows else '_i'}, {'0' if cols == 1 != shape.cols else '_j'}]"


def entry_expression(printer, step: Step, inside: set[str] = frozenset()) -> str | None:
    """The step's value at entry (_i, _j), the run's values `inside` read
    from their locals; None where it is not fused."""
    node = step.node
    if node.op not in FUSED or node.shape.is_scalar:
        return None
    entries = [operand_entry(operand, arg, node.shape, inside) for operand, arg in zip(step.operands, node.args)]
    if None in entries:
        return None
    if node.op in ENTRY_HELPERS:
        return printer.call(ENTRY_HELPERS[node.op], *entries)
    return printer.expression(node, entries)


def fuse(lines: list, live_out: str, printer) -> list:
    """The body's lines with each run of two or more fusable steps as one loop nest."""
    fusable = {id(line) for line in lines if isinstance(line, Step) and entry_expression(printer, line)}
    taken: set[int] = set()
    out = []
    for start, first in enumerate(lines):
        if id(first) in taken:
            continue
        if id(first) not in fusable:
            out.append(first)
            continue
        run, skipped = [first], set()
        for line in lines[start + 1:]:
            if not isinstance(line, Step):
                break
            reads = {name for operand in line.operands for name in IDENTIFIER.findall(operand)}
            if (id(line) in fusable and line.node.shape == first.node.shape and not reads & skipped
                    and id(line) not in taken):
                run.append(line)
            else:
                skipped.add(line.name)
        if len(run) < 2:
            out.append(first)
            continue
        taken.update(id(step) for step in run)
        out += loop(run, needed(run, lines, live_out), printer)
    return out


def needed(run: list[Step], lines: list, live_out: str) -> set[str]:
    """The run's values read after it: returned or cached (live_out), or read by a step outside it."""
    names = {step.name for step in run}
    members = {id(step) for step in run}
    used = set(IDENTIFIER.findall(live_out))
    for line in lines:
        if isinstance(line, Step) and id(line) not in members:
            used.update(name for operand in line.operands for name in IDENTIFIER.findall(operand))
        elif not isinstance(line, Step):
            used.update(IDENTIFIER.findall(line))
    return names & used


def loop(run: list[Step], kept: set[str], printer) -> list[str]:
    """One loop nest computing the run entry by entry, filling the arrays of the kept values."""
    rows, cols = (printer.dim(d) for d in run[0].node.shape.dims())
    names = {step.name for step in run}
    lines = [f"    {step.name} = _np.empty(({rows}, {cols}), _dtype)" for step in run if step.name in kept]
    lines += [f"    for _i in range({rows}):", f"        for _j in range({cols}):"]
    for step in run:
        expression = entry_expression(printer, step, names)
        lines.append(f"            _e_{step.name} = {expression}  # {step.comment}")
        if step.name in kept:
            lines.append(f"            {step.name}[_i, _j] = _e_{step.name}")
    return lines
