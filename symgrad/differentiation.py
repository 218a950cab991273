"""Reverse-mode differentiation over the IR, in matrix form.

For `grad s wrt W, b`: walk the nodes that s depends on in reverse
topological order, starting from ∂s/∂s = 1. Each node's gradient G (the
"error signal" δ of the lecture, in the node's own shape) is the sum of what
its users sent it ("gradients sum at outward branches"); its operation's
adjoint rule (symgrad.ops) turns G into each operand's share. Only nodes
that depend on a requested variable are visited, so nothing is computed for
gradients nobody asked for, and every gradient is built once and shared by
all that use it (∂s/∂W, ∂s/∂b and ∂s/∂x share δ).

Every share is checked to have its operand's shape, and every result its
variable's shape: the gradient of a scalar has the variable's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ir import GradRequest, Node, Program, Variable, postorder
from .ops import OPS
from .rewrites import REWRITES
from .simplify import Builder, InternalError


@dataclass
class Derivation:
    """The gradients of one `grad` statement."""

    request: GradRequest
    gradients: dict[str, Node]                 # variable name -> ∂target/∂variable
    signals: list[tuple[Node, Node]]           # (forward node, its gradient), in the order computed
    builder: Builder = field(repr=False)

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def partials(self):
        """The user functions' derivatives this derivation used (or None)."""
        return self.builder.partials


def adjoint_rule(node: Node, index: int):
    """The rule `rule(b, y, g)` that gives operand `index` of node its share
    of the gradient (see symgrad.ops.Op), or None where it gets none."""
    vjp = OPS[node.op].vjp
    if vjp is None:
        return None
    if callable(vjp):  # one rule for every operand (user functions)
        return lambda b, y, g: vjp(b, y, g, index)
    return vjp[index]


def differentiate(request: GradRequest, builder: Builder) -> Derivation:
    wanted = {id(v.node) for v in request.wrt}
    order = postorder([request.node])
    builder.share(order)
    depends: set[int] = set()
    for node in order:
        if id(node) in wanted or any(id(arg) in depends for arg in node.args):
            depends.add(id(node))

    shares: dict[int, list[Node]] = {id(request.node): [builder.num(1)]}
    signals: list[tuple[Node, Node]] = []
    for node in reversed(order):
        if id(node) not in depends or id(node) not in shares or not node.args:
            continue
        gradient = _total(builder, shares.pop(id(node)))
        signals.append((node, gradient))
        builder.span = node.span
        if OPS[node.op].vjp is None:
            raise InternalError(f"operation '{node.op}' has no adjoint rule")
        rules = [(index, operand, adjoint_rule(node, index)) for index, operand in enumerate(node.args)
                 if id(operand) in depends]
        if sum(rule is not None for *_, rule in rules) > 1:
            builder.signal(gradient)  # a δ several operands use, which derive names
        for index, operand, rule in rules:
            if rule is None:
                continue
            share = builder.sum_to(rule(builder, node, gradient), operand.shape)
            if share.shape != operand.shape:
                raise InternalError(
                    f"the adjoint rule of '{node.op}' gave operand {index + 1} a gradient of shape "
                    f"{share.shape}, but the operand is {operand.shape}")
            shares.setdefault(id(operand), []).append(share)

    gradients = {}
    for variable in request.wrt:
        contributions = shares.get(id(variable.node))
        gradient = _total(builder, contributions) if contributions else builder.zeros(variable.shape)
        _check_variable_shape(variable, gradient)
        gradients[variable.name] = gradient
    return Derivation(request, gradients, signals, builder)


def _total(builder: Builder, shares: list[Node]) -> Node:
    total = shares[0]
    for share in shares[1:]:
        total = builder.add(total, share)
    return total


def _check_variable_shape(variable: Variable, gradient: Node):
    if gradient.shape != variable.shape:
        raise InternalError(f"∂/∂{variable.name} came out {gradient.shape}, "
                            f"but {variable.name} is {variable.shape}")


def program_builder(program: Program, rewrites=REWRITES) -> Builder:
    """The builder of a program's derivative graphs (with what derives its
    user functions, where it has any)."""
    partial = None
    if program.functions or program.undefined_functions:
        from .partials import Partials  # SymPy is imported only for functions not seen before
        partial = Partials(program)
    return Builder(partial=partial, rewrites=rewrites)


def differentiate_program(program: Program, rewrites=REWRITES) -> list[Derivation]:
    """Every `grad` statement's gradients. One builder serves them all, so
    that what two statements share is built once. `rewrites`: the
    simplifications applied (symgrad.rewrites; the tests leave one out)."""
    builder = program_builder(program, rewrites)
    return [differentiate(request, builder) for request in program.grads]
