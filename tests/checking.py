"""Helpers of the front-end tests (test_parsing, test_shapes, test_errors,
test_scale): check a model's text, and read what the front end found."""

from __future__ import annotations

import importlib.util

import pytest

from symgrad import syntax as ast
from symgrad.lowering import analyze
from symgrad.parsing import parse
from symgrad.source import Diagnostic, ModelError, Source

FILENAME = "model.sg"


def check(text: str):
    """The checked program of a model, or ModelError."""
    return analyze(Source(text, FILENAME))


def shapes(text: str) -> dict[str, str]:
    """Every definition of a correct model with its shape, as written."""
    return {name: str(node.shape) for name, node in check(text).definitions.items()}


def errors(text: str) -> list[Diagnostic]:
    """Every error of a wrong model, in the order they are reported."""
    with pytest.raises(ModelError) as caught:
        check(text)
    return caught.value.diagnostics


def statements(text: str) -> list[ast.Statement]:
    return parse(Source(text, FILENAME))


def tree(expr: ast.Expr) -> str:
    """An expression as a prefix form that shows how it was grouped:
    `W x + b` is `(add (juxtapose W x) b)`."""
    if isinstance(expr, ast.Number):
        return expr.text
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Binary):
        return f"({expr.op} {tree(expr.left)} {tree(expr.right)})"
    if isinstance(expr, ast.Call):
        return f"(call {expr.func.id} {' '.join(tree(a) for a in expr.args)})"
    if isinstance(expr, ast.Group):  # brackets show in the grouping of the rest
        return tree(expr.operand)
    if isinstance(expr, ast.Whole):
        return ":"
    if isinstance(expr, ast.Range):
        return f"(range {tree(expr.start)} {tree(expr.stop)})"
    if isinstance(expr, ast.Index):
        return f"(index {tree(expr.base)} {' '.join(tree(a) for a in expr.axes)})"
    if isinstance(expr, ast.Block):
        return "(block " + " ; ".join(" ".join(tree(b) for b in row) for row in expr.rows) + ")"
    word = {ast.Negate: "neg", ast.Transpose: "T", ast.Norm: "norm"}[type(expr)]
    return f"({word} {tree(expr.operand)})"


def imported(path):
    """A Python file (an example script, a generated module) run as a module of its own."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
