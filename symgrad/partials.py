"""The partial derivatives of a program's user functions, as the gradient
graph needs them: `f'` (or `∂f/∂a` for several arguments), applied
elementwise.

Each is derived once per program by SymPy (symgrad.scalar) and kept in the
cache directory, keyed by the function's formula (with the formulas of the
functions it calls and the values of the consts it reads) and symgrad's own
code: a model whose functions were seen before is differentiated without
importing SymPy, which is most of a short command's time.
"""

from __future__ import annotations

import json

from . import cache
from .ir import Node, Program, UserFunction, postorder
from .shapes import SCALAR
from .simplify import Builder


class Partials:
    """The partial derivatives of a program's user functions, derived once
    each and applied where the gradient graph needs them."""

    def __init__(self, program: Program):
        self.program = program
        self.derived: dict[tuple[str, int], UserFunction | None] = {}
        # The derived functions by name: a second derivative differentiates them again ((∂f/∂a)').
        self.by_name: dict[str, UserFunction] = {}
        self.shown_arity: dict[str, int] = {}  # derived name -> operands to show (not the output)

    def __call__(self, builder: Builder, y: Node, index: int) -> Node:
        key = (y.data, index)
        if key not in self.derived:
            self.derived[key] = self.derive(y.data, index)
        name = self.partial_name(y.data, index)
        self.shown_arity[name] = len(y.args)
        derived = self.derived[key]
        uses_output = derived is not None and len(derived.params) > len(y.args)
        args = y.args + (y,) if uses_output else y.args
        return builder.op("apply", *args, data=name, shape=y.shape, span=y.span)

    def partial_name(self, name: str, index: int) -> str:
        function = self.program.functions.get(name)
        if function is None or len(function.params) == 1:
            return f"{name}'" if function or index == 0 else f"{name}'{index + 1}"
        return f"∂{name}/∂{function.params[index]}"

    def derive(self, name: str, index: int) -> UserFunction | None:
        function = self.program.functions.get(name) or self.by_name.get(name)
        if function is None:  # used but never defined (allowed by `derive`)
            return None

        def differentiate() -> bytes:
            from .scalar import derive_partial  # imports SymPy
            formula, params = derive_partial(self.program, function, index)
            return json.dumps({"params": params, "nodes": _flatten(formula)}).encode()

        # Read back from the text stored, fresh or not: both ways give the same nodes.
        formula, params = cache.cached(f"partials/{self.key(function, index)}.json", differentiate,
                                       lambda text, _: _unflatten(json.loads(text), function))
        derived = UserFunction(self.partial_name(name, index), tuple(params), formula, function.span)
        self.by_name[derived.name] = derived
        return derived

    def key(self, function: UserFunction, index: int) -> str:
        """What the derivative depends on: the formula of the function and of
        every function it calls, the consts they read, which argument, and
        symgrad's code."""
        formulas, consts, pending = {}, {}, [function]
        while pending:
            called = pending.pop()
            formulas[called.name] = [list(called.params), _flatten(called.body)]
            for node in postorder([called.body]):
                if node.op == "apply" and node.data not in formulas:
                    pending.append(self.program.functions[node.data])
                elif node.op == "variable":
                    consts[node.data] = self.program.variables[node.data].value
        return cache.key(json.dumps([function.name, index, formulas, consts], sort_keys=True))

    def arities(self) -> dict[str, int]:
        return dict(self.shown_arity)

    def arity(self, name: str) -> int:
        """How many parameters of a user or derived function to show."""
        if name in self.shown_arity:
            return self.shown_arity[name]
        return len(self.program.functions[name].params)

    def functions(self) -> list[UserFunction]:
        """The derived functions, in the order first needed."""
        return [f for f in self.derived.values() if f is not None]


def _flatten(root: Node) -> list:
    """A scalar formula as a list of [op, data, operand positions], operands
    first: what JSON can hold."""
    position: dict[int, int] = {}
    nodes = []
    for node in postorder([root]):
        position[id(node)] = len(nodes)
        nodes.append([node.op, node.data, [position[id(a)] for a in node.args]])
    return nodes


def _unflatten(stored: dict, function: UserFunction) -> tuple[Node, list[str]]:
    """The formula and parameters that _flatten and derive stored."""
    nodes: list[Node] = []
    for op, data, operands in stored["nodes"]:
        leaf = op == "argument"
        nodes.append(Node(op, tuple(nodes[i] for i in operands), SCALAR, function.span if leaf else None,
                          data=data, name=data if leaf else None))
    return nodes[-1], list(stored["params"])
