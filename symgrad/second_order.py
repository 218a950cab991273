"""Second derivatives in matrix form: Hessian-vector products, Hessians,
Jacobians.

`hessian s wrt A, B`: the Hessian-vector product (∇²s) v, for a direction
v = (V_A, V_B) shaped like the variables, is the gradient of the scalar

    sᵥ = sum(∂s/∂A ∘ V_A) + sum(∂s/∂B ∘ V_B)

(reverse over reverse): the gradient graph of s is differentiated once
more, by the same adjoint rules (symgrad.ops, which hold the rules of the
fused operations of gradient graphs too). Its share of A is ((∇²s) v)_A,
in A's shape. For L2-regularized logistic regression that is
Xᵀ (σ'(z) ∘ (X v)) + λ v: two matrix-vector products, as written by hand.

The full Hessian, where every variable is a vector or scalar, is that
product taken at the columns of the identity all at once ("batched": the
operations' `batch` rules): for the logistic regression V = I gives
Xᵀ (σ'(z) ∘ X) + λ I, that is Xᵀ diag(σ'(z)) X + λ I, with no diagonal
matrix formed and λ added on the diagonal. Block (A, B) is ∂²s/∂A∂B, a row
per entry of A; blocks below the diagonal are the transposes of those above
(the Hessian is symmetric), computed once. Where some operation has no batch
rule (or a value is a matrix for one direction), `matrix` is None and the
generated code takes the Hessian column by column from the product.

`jacobian y wrt x`: the vector-Jacobian product Jᵀ u is the gradient of
sum(y ∘ u); batched at u = the columns of the identity it is Jᵀ, and
J = (Jᵀ)ᵀ, a row per entry of y.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .differentiation import Derivation, differentiate, program_builder
from .ir import GradRequest, HessianRequest, JacobianRequest, Node, Program, postorder
from .ops import OPS
from .rewrites import REWRITES
from .shapes import Shape, dim_add, entries
from .simplify import Builder


@dataclass
class HessianDerivation:
    """The second derivatives of one `hessian` statement."""

    request: HessianRequest
    first: Derivation                  # the gradient of s (its `grad` statement)
    directions: dict[str, Node]        # variable -> its direction V (op "direction": data "v" or "v_A"), its shape
    products: dict[str, Node]          # variable -> ((∇²s) v) of that variable, in its shape
    blocks: dict[tuple[str, str], Node] = field(default_factory=dict)   # (A, B) -> ∂²s/∂A∂B, where in matrix form
    matrix: Node | None = None         # the blocks assembled; None: not in matrix form
    builder: Builder = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return self.request.target

    @property
    def full(self) -> bool:
        """Whether the statement has a full Hessian: every variable a vector or scalar."""
        return all(entries(v.shape) is not None for v in self.request.wrt)

    @property
    def size(self):
        """The Hessian's order, Σ entries of the variables (a dimension expression)."""
        total = 0
        for variable in self.request.wrt:
            total = dim_add(total, entries(variable.shape))
        return total


@dataclass
class JacobianDerivation:
    """The Jacobian of one `jacobian y wrt x` statement."""

    request: JacobianRequest
    cotangent: Node                    # u (op "direction", data "u"), y's shape
    product: Node                      # Jᵀ u, in x's shape
    matrix: Node | None = None         # ∂y/∂x, a row per entry of y; None: not in matrix form
    builder: Builder = field(default=None, repr=False)

    @property
    def target(self) -> str:
        return self.request.target


@dataclass
class SecondOrder:
    hessians: list[HessianDerivation]
    jacobians: list[JacobianDerivation]


_ZERO = object()  # a value that depends on the directions set to 0 only


def batched(builder: Builder, roots: list[Node], values: dict[int, object]) -> list | None:
    """roots taken at several directions at once: `values` maps each
    direction leaf to its batch (entries × k; _ZERO: left out). Each root
    becomes its batch (entries × k), None where it does not depend on the
    directions, _ZERO where only on those left out; None in place of the
    list where some value cannot be batched (ops.Op.batch)."""
    memo: dict[int, object] = dict(values)
    width = next(v.shape.cols for v in values.values() if v is not _ZERO)
    for node in postorder(roots):
        if id(node) in memo:
            continue
        parts = [memo.get(id(arg)) for arg in node.args]
        if all(part is None for part in parts):
            continue
        if all(part is None or part is _ZERO for part in parts):
            memo[id(node)] = _ZERO
            continue
        rule = OPS[node.op].batch
        if rule is None or entries(node.shape) is None:
            return None
        if node.op in ("add", "sub") and _ZERO in parts:  # x + 0, 0 - x: x (-x) spread to the sum's shape
            (kept,) = [part for part in parts if part is not _ZERO]
            result = builder.neg(kept) if parts[0] is _ZERO and node.op == "sub" else kept
            memo[id(node)] = builder.fill(result, Shape(entries(node.shape), width))
            continue
        parts = [builder.zeros(Shape(entries(arg.shape), width)) if part is _ZERO else part
                 for arg, part in zip(node.args, parts)]
        result = rule(builder, node, parts)
        if result is None:
            return None
        memo[id(node)] = result
    return [memo.get(id(root)) for root in roots]


def _identity(builder: Builder, n) -> Node:
    return builder.num(1) if n == 1 else builder.eye(n)


def hessian(request: HessianRequest, first: Derivation, builder: Builder) -> HessianDerivation:
    # Written v (one variable) or v_A, v_B: the direction's name in derive.
    directions = {v.name: builder.op("direction", data="v" if len(request.wrt) == 1 else f"v_{v.name}", shape=v.shape)
                  for v in request.wrt}
    total = None
    for variable in request.wrt:
        term = builder.op("sum", builder.mul(first.gradients[variable.name], directions[variable.name]))
        total = term if total is None else builder.add(total, term)
    second = differentiate(GradRequest(f"{request.target}ᵥ", total, request.wrt, request.span), builder)
    result = HessianDerivation(request, first, directions, second.gradients, builder=builder)
    if result.full:
        _matrix_form(result, builder)
    return result


def _matrix_form(result: HessianDerivation, builder: Builder):
    """The Hessian's blocks on and above the diagonal by batching, those
    below as their transposes, assembled; left empty where batching fails."""
    variables = result.request.wrt
    blocks: dict[tuple[str, str], Node] = {}
    for j, column in enumerate(variables):
        wanted = variables[:j + 1]
        values = {id(result.directions[v.name]): _ZERO for v in variables}
        values[id(result.directions[column.name])] = _identity(builder, entries(column.shape))
        found = batched(builder, [result.products[v.name] for v in wanted], values)
        if found is None:
            return
        for row, block in zip(wanted, found):
            shape = Shape(entries(row.shape), entries(column.shape))
            blocks[row.name, column.name] = (builder.zeros(shape) if block is None or block is _ZERO else block)
    for i, row in enumerate(variables):
        for column in variables[:i]:
            blocks[row.name, column.name] = builder.T(blocks[column.name, row.name])
    rows = [[blocks[r.name, c.name] for c in variables] for r in variables]
    if len(variables) == 1:
        matrix = rows[0][0]
    else:
        matrix = builder.op("vstack", *[builder.op("hstack", *row) if len(row) > 1 else row[0] for row in rows])
    result.blocks, result.matrix = blocks, matrix


def jacobian(request: JacobianRequest, builder: Builder) -> JacobianDerivation:
    y, x = request.node, request.variable
    cotangent = builder.op("direction", data="u", shape=y.shape)
    weighted = builder.mul(y, cotangent) if y.shape.is_scalar else builder.op("sum", builder.mul(y, cotangent))
    product = differentiate(GradRequest(f"{request.target}ᵤ", weighted, (x,), request.span), builder).gradients[x.name]
    result = JacobianDerivation(request, cotangent, product, builder=builder)
    found = batched(builder, [product], {id(cotangent): _identity(builder, entries(y.shape))})
    if found is not None:
        (transposed,) = found
        shape = Shape(entries(y.shape), entries(x.shape))
        result.matrix = (builder.zeros(shape) if transposed is None or transposed is _ZERO
                         else builder.T(transposed))
    return result


def differentiate_second_order(program: Program, derivations: list[Derivation],
                               rewrites=REWRITES) -> SecondOrder:
    """Every `hessian` and `jacobian` statement's derivatives, built by the
    first-order derivations' builder (what they share is built once)."""
    builder = derivations[0].builder if derivations else program_builder(program, rewrites)
    by_target = {d.request.target: d for d in derivations}
    hessians = [hessian(request, by_target[request.target], builder) for request in program.hessians]
    jacobians = [jacobian(request, builder) for request in program.jacobians]
    return SecondOrder(hessians, jacobians)
