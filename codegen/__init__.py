"""Code generation: a checked, differentiated program as a module of one target.

A target is a folder here (numpy/) with a printer (printer.py: one rule per
IR operation) and a writer (writer.py: the module around the steps), both
built on the backend-neutral schedule (schedule.py). TARGETS below is the
one place where a target is registered. Installed, this folder is the
package symgrad.codegen.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from pathlib import Path

from symgrad.shapes import DimExpr

# Target name -> the writer class that writes its modules ("module:Class").
TARGETS = {"numpy": "symgrad.codegen.numpy.writer:NumpyWriter",
           "array-api": "symgrad.codegen.array_api.writer:ArrayApiWriter",
           "numba": "symgrad.codegen.numba.writer:NumbaWriter"}

# The line after which a runtime file's text is copied into generated modules.
CARRIED_MARK = "# ---------------------------------------------------------------- carried\n"
# The longest line of generated code the writers aim for (the project sets
# no limit of its own: 110 keeps a step and its comment on one line for most
# models).
LINE_WIDTH = 110
# The runtime files, by what they hold (modules of their own, read as text:
# the text below CARRIED_MARK is carried).
RUNTIME_FILES = {"runtime": "symgrad.codegen.numpy.runtime", "helpers": "symgrad.codegen.numpy.helpers",
                 "array_api_runtime": "symgrad.codegen.array_api.runtime",
                 "array_api_helpers": "symgrad.codegen.array_api.helpers",
                 "shared_helpers": "symgrad.codegen.helpers",
                 "numba_runtime": "symgrad.codegen.numba.runtime", "numba_helpers": "symgrad.codegen.numba.helpers",
                 "check": "symgrad.check_runtime"}


class UnknownTarget(ValueError):
    """A target name that is not in TARGETS."""


def writer_class(target: str) -> type:
    """The writer of a target, or UnknownTarget naming the targets there are.
    A printer without a rule for an operation that reaches code is an error
    here, before any model is compiled."""
    if target not in TARGETS:
        raise UnknownTarget(f"unknown target '{target}': the targets are {', '.join(sorted(TARGETS))}")
    module, name = TARGETS[target].split(":")
    writer = getattr(importlib.import_module(module), name)
    missing = missing_rules(writer.printer_class)
    if missing:
        raise NotImplementedError(f"the {target} target's printer has no rule for {', '.join(missing)}")
    return writer


def missing_rules(printer_class: type) -> list[str]:
    """The operations of symgrad.ops.OPS that reach code (all but those the
    writers print as names and literals) without a `_print_NAME` rule."""
    from symgrad.ops import OPS
    return [name for name, op in OPS.items()
            if not op.printed_by_writer and not hasattr(printer_class, f"_print_{name}")]


def generate(program, derivations, second_order, target: str = "numpy", with_check: bool = False) -> str:
    """The source of a target's module for a program, its gradients'
    derivations and those of its hessian and jacobian statements
    (symgrad.second_order.SecondOrder); with_check: it carries
    check_gradients() too."""
    return writer_class(target)(program, derivations, second_order).write(with_check)


def _runtime_text(kind: str) -> str:
    """A runtime file's text, found where its module is (not imported)."""
    return Path(importlib.util.find_spec(RUNTIME_FILES[kind]).origin).read_text(encoding="utf-8")


@cache
def carried(kind: str) -> str:
    """The part of a runtime file (RUNTIME_FILES) that generated modules carry."""
    text = _runtime_text(kind)
    return text[text.index(CARRIED_MARK) + len(CARRIED_MARK):]


@cache
def carried_sections(kind: str, mark: str = "# helper: ") -> dict[str, tuple[str, tuple[str, ...]]]:
    """A runtime file cut at its `# helper: NAME  (needs: A, B)` lines: by
    name, the text up to the next one and the helpers it needs."""
    text = "\n" + carried(kind)
    sections = {}
    for part in text.split("\n" + mark)[1:]:
        head, _, body = part.partition("\n")
        name, _, needs = head.partition("  (needs: ")
        sections[name] = (body.strip("\n") + "\n", tuple(filter(None, needs.rstrip(")").split(", "))))
    return sections


def packed(head: str, items: list[str], tail: str, joiner: str = ", ") -> list[str]:
    """The lines of `head`, the items joined by `joiner`, then `tail`: as
    many items a line as LINE_WIDTH takes, continued under the first."""
    lines = [head]
    for index, item in enumerate(items):
        text = item + (joiner.rstrip() if index + 1 < len(items) else tail)
        if lines[-1] == head:
            lines[-1] += text
        elif len(lines[-1]) + 1 + len(text) > LINE_WIDTH:
            lines.append(" " * len(head) + text)
        else:
            lines[-1] += " " + text
    return lines if items else [head + tail]


def literal(value) -> str:
    """A value as Python source: repr, but a dimension expression (`5 d`)
    as its terms, ((("d",), 5),), which a module evaluates with no symgrad."""
    if isinstance(value, DimExpr):
        return repr(value.terms)
    if isinstance(value, (tuple, list)):
        items = [literal(item) for item in value]
        if isinstance(value, list):
            return f"[{', '.join(items)}]"
        return f"({', '.join(items)}{',' * (len(items) == 1)})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def literal_dict(name: str, value: dict, comment: str) -> str:
    """`NAME = {...}` in Python under a comment, one key a line, a long
    list's items as many a line as LINE_WIDTH takes."""
    lines = []
    for key, item in value.items():
        if isinstance(item, list) and item:
            lines += packed(f"    {key!r}: [", [literal(entry) for entry in item], "],")
        else:
            lines.append(f"    {key!r}: {literal(item)},")
    return comment + f"{name} = {{\n" + "\n".join(lines) + "\n}"
