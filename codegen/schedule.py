"""The backend-neutral schedule of a generated module: which values each
function computes and in what order, what they are called, which forward
values the cache keeps for backward, which products are computed inside a
longer chain, and the comment on each step (its math, shape and model
line). A target's printer says how each step is written (codegen/<target>/
printer.py); its writer, how the module around them is (writer.py).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from symgrad.differentiation import Derivation
from symgrad.ir import Node, Program, UserFunction, postorder, scatter_terms
from symgrad.naming import keyword_spelling, python_names
from symgrad.notation import Printer
from symgrad.ops import OPS
from symgrad.second_order import SecondOrder

from . import LINE_WIDTH

# tr(A B ...) and diag(A B ...) are computed from the factors (the printer's
# reduction_of_product), never from the product, which may be N×N of the data.
REDUCTIONS_OF_PRODUCTS = ("tr", "diag_vector", "sum")
# Factors of products that are no arrays of their own: A⁻¹ X is a solve and
# diag(v) X a scaling (the printer's merged_factor).
MERGED_FACTORS = ("inv", "diag_matrix")


class Namer:
    """Chooses local names that clash with no model name and no other local."""

    def __init__(self, taken):
        self.taken = set(taken)
        self.count = 0

    def fresh(self, wanted: str, own: bool = False) -> str:
        """A new local name like `wanted`; `own`: wanted is the value's own
        model spelling, which no other local can have."""
        if own:
            return wanted
        if wanted == "t" or not wanted.isidentifier() or keyword.iskeyword(wanted):
            self.count += 1
            wanted = f"t{self.count}"
        name = wanted
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name



@dataclass
class Step:
    """One generated statement, `name = expression  # comment`, kept as a
    record until the function is complete, when `render` may turn it into an
    in-place form that writes into a dead operand's buffer."""

    name: str
    node: Node
    operands: list[str]
    expression: str
    comment: str
    written_into: bool = False  # a scatter-add into an operand already (scattered_into)

    @property
    def fresh(self) -> bool:
        """Its value is a new array of its own (no view, no argument)."""
        return not OPS[self.node.op].view and self.node.op != "apply" and not self.node.shape.is_scalar

    def lines(self) -> list[str]:
        """The statement with its comment after it, on the same line where
        both fit in LINE_WIDTH, else on the line above."""
        statement = f"    {self.name} = {self.expression}"
        if len(statement) + len(self.comment) + 4 <= LINE_WIDTH:
            return [f"{statement}  # {self.comment}"]
        return [f"    # {self.comment}", statement]


IDENTIFIER = re.compile(r"[^\W\d]\w*")


def render(prologue: list[str], lines: list, live_out: str, printer, inplace: bool) -> list[str]:
    """The function body's lines: the prologue (taking the arguments), then
    the steps. With `inplace`, a step whose operand is a
    temporary array of the result's shape, never used again, writes into
    that operand's buffer (out=), when the arguments share one dtype
    (`_inplace`, computed once per call): fewer fresh allocations, less
    memory traffic. Names in `live_out` (returned, cached) are never reused."""
    live = set(IDENTIFIER.findall(live_out))
    if inplace:
        lines = scattered_into(lines, live, printer)
    last_use = last_uses(lines)
    produced = {line.name: line for line in lines if isinstance(line, Step) and line.fresh}
    reused = False
    for index, step in enumerate(lines):
        if not (inplace and isinstance(step, Step)) or step.written_into:
            continue
        for position, operand in enumerate(step.operands):
            donor = produced.get(operand)
            if (donor is None or operand in live or last_use.get(operand) != index
                    or donor.node.shape != step.node.shape):
                continue
            form = printer.inplace(step.node, step.operands, position, f"{operand} if _inplace else None")
            if form:
                step.expression = form
                reused = True
                break
    out = prologue + printer.inplace_guard() * reused
    for line in lines:
        out += line.lines() if isinstance(line, Step) else [line]
    return out


def last_uses(lines: list) -> dict[str, int]:
    """Each name's last reading step, by index in lines."""
    last_use: dict[str, int] = {}
    for index, line in enumerate(lines):
        if isinstance(line, Step):
            for operand in line.operands:  # an operand may be an expression: `t5.T` uses t5
                for name in IDENTIFIER.findall(operand):
                    last_use[name] = index
    return last_use


SCATTERS = ("scatter", "pick_scatter")


def scattered_into(lines: list, live: set[str], printer) -> list:
    """The lines with each `T + scatter(G, w)` (or `-`, or a pick_scatter)
    whose scatter is read by that sum alone and whose T is a temporary of
    the sum's shape that no later step reads (nor returned, nor cached:
    `live`) written as a scatter-add into T (printer.scatter_into, under
    `_inplace`): the scatter's step is gone, and the k columns at the ids
    are added into T instead of an array of T's size made and added. The
    scatter's operands are then read at the sum."""
    last_use = last_uses(lines)
    uses: dict[str, int] = {}
    for line in lines:
        for operand in line.operands if isinstance(line, Step) else ():
            for name in IDENTIFIER.findall(operand):
                uses[name] = uses.get(name, 0) + 1
    steps = {line.name: line for line in lines if isinstance(line, Step)}
    gone: set[str] = set()
    for index, step in enumerate(lines):
        if not isinstance(step, Step) or step.node.op not in ("add", "sub"):
            continue
        for position in (1, 0) if step.node.op == "add" else (1,):
            scatter, base = steps.get(step.operands[position]), steps.get(step.operands[1 - position])
            if (scatter is None or base is None or scatter.node.op not in SCATTERS or scatter.name in live
                    or uses.get(scatter.name) != 1 or not base.fresh or base.name in live or base.name in gone
                    or last_use.get(base.name) != index or base.node.shape != step.node.shape):
                continue
            form = printer.scatter_into(step.node, base.name, f"{base.name} if _inplace else None", scatter.node,
                                        scatter.operands)
            if form:
                step.expression, step.operands = form, [base.name, *scatter.operands]
                step.written_into = True
                # the comment names no value that is gone: the scatter's math in its place
                head, _, rest = step.comment.partition(" = ")
                math = scatter.comment.partition(" = ")[2].rsplit(" : ", 1)[0]
                step.comment = f"{head} = " + re.sub(rf"\b{re.escape(scatter.name)}\b", lambda _: math, rest, count=1)
                gone.add(scatter.name)
                break
    return [line for line in lines if not (isinstance(line, Step) and line.name in gone)]


class FunctionWriter:
    """Writes the body of one generated function: one statement per node."""

    def __init__(self, module: "Schedule", namer: Namer, names: dict[int, str],
                 absorbed: set[int] = frozenset()):
        self.module = module
        self.printer = module.printer
        self.namer = namer
        self.names = dict(names)  # node id -> Python expression already available
        self.absorbed = absorbed  # matrix products computed inside a longer chain
        self.lines: list[str] = []

    def factors(self, node: Node) -> list[Node]:
        """The factors of a matrix-product chain, through the absorbed products."""
        if node.op == "matmul" and (node is self.chain_root or id(node) in self.absorbed):
            return [f for a in node.args for f in self.factors(a)]
        return [node]

    def chain(self, factors: list[Node]) -> list[str]:
        """The values of a product's factors. An inverse used by this product
        alone is no factor of its own: A⁻¹ X is solve(A, X) and X A⁻¹ is
        solve(Aᵀ, Xᵀ)ᵀ, one factorization of A, with a solve's accuracy.
        Nor is a diagonal matrix used only in products: diag(v) X = v ∘ X,
        X diag(v) = X ∘ vᵀ, never the N×N diag(v) of a data vector."""
        merged = [index for index, f in enumerate(factors) if f.op in MERGED_FACTORS and id(f) in self.absorbed]
        values = [None if index in merged else self.value(f) for index, f in enumerate(factors)]
        for index in reversed(merged):  # right to left: A⁻¹ B⁻¹ X = solve(A, solve(B, X))
            op, inner = factors[index].op, self.value(factors[index].args[0])
            if index + 1 < len(values):
                values[index:index + 2] = [self.printer.merged_factor(op, inner, values[index + 1], on_left=True)]
            else:
                values[index - 1:] = [self.printer.merged_factor(op, inner, values[index - 1], on_left=False)]
        return values

    def value(self, node: Node) -> str:
        """The expression for node: its name, or an inlined leaf."""
        if id(node) in self.names:
            return self.names[id(node)]
        if node.op == "number":
            return self.printer.number(node.data)
        if node.op == "dimension":
            return self.printer.dim(node.data)
        raise KeyError(node)

    def inline(self, node: Node) -> bool:
        # A transpose is inlined on a name (x.T), not on an inlined transpose: x.T.T.T... 5,000 long
        # would overflow Python's compiler.
        return (node.op in ("number", "dimension") or
                node.op == "transpose" and (self.names.get(id(node.args[0]), "").isidentifier()
                                            or node.args[0].op == "number"))

    chain_root = None

    def emit(self, node: Node, name_hint: str, math_names: dict[int, tuple[str, bool]], own: bool = False):
        if id(node) in self.names or node.op in ("number", "dimension") or id(node) in self.absorbed:
            return
        self.chain_root = node
        gram = weighted_gram(node) if node.op == "matmul" and id(node.args[1]) in self.absorbed else None
        if gram:
            operands = [self.value(part) for part in gram]
            self.step(node, self.printer.weighted_gram(*operands), operands, name_hint, math_names, own)
            return
        factors = self.factors(node)
        reduced = node.op in REDUCTIONS_OF_PRODUCTS and id(node.args[0]) in self.absorbed
        hadamard = reduced and node.args[0].op == "mul"
        if reduced and not hadamard:
            factors = self.factors(node.args[0])
        if hadamard:
            chain = [self.value(a) for a in node.args[0].args]
        else:
            chain = self.chain(factors) if reduced or node.op == "matmul" else []
        if hadamard:  # sum(A ∘ B) in one pass, never A ∘ B itself
            expression = self.printer.sum_of_product(*chain)
        elif reduced and len(chain) == 1:  # tr(A⁻¹ B) = tr(solve(A, B))
            expression = self.printer.expression(node, chain)
        elif reduced:
            # tr or diag of a product: never the product itself, which may be N×N of the data.
            expression = self.printer.reduction_of_product(node.op, chain)
        elif len(chain) > 2:
            # The cheapest order depends on the sizes, known only at call time.
            expression = self.printer.product_chain(chain)
        elif len(chain) == 1:  # A⁻¹ B solved, or diag(v) B scaled
            expression = chain[0]
        else:
            expression = self.printer.expression(node, chain or [self.value(a) for a in node.args])
        if self.inline(node):
            self.names[id(node)] = expression
            return
        self.step(node, expression, chain or [self.value(a) for a in node.args], name_hint, math_names, own)

    def step(self, node: Node, expression: str, operands: list[str], name_hint: str,
             math_names: dict[int, tuple[str, bool]], own: bool):
        """The step `name = expression` of node, commented with its math."""
        name = self.namer.fresh(name_hint, own)
        self.names[id(node)] = name
        model_name = math_names.pop(id(node), None)
        math = Printer(math_names, self.module.arities).doc(node)
        math_names[id(node)] = model_name or (name, False)
        where = f"  ({self.module.filename}:{node.span.line})" if node.span else ""
        self.lines.append(Step(name, node, operands, expression,
                               f"{math_names[id(node)][0]} = {math} : {node.shape}{where}"))

# Operations whose value is never negative, whatever their operands are
# (σ' = sigmoid_slope, softplus' = softplus_slope = σ, tanh' = 1 - tanh²).
NONNEGATIVE_OPS = ("exp", "sigmoid", "softplus", "sigmoid_slope", "softplus_slope", "tanh_slope", "abs", "relu",
                   "sqrt", "sqnorm", "norm", "norm1", "softmax")


def nonnegative(node: Node, depth: int = 6) -> bool:
    """Whether node's value is known ≥ 0 at every input: a nonnegative
    operation, a square x ∘ x, or sums, products, quotients of such values
    (looked at `depth` operations deep)."""
    if node.op in NONNEGATIVE_OPS:
        return True
    if node.op == "number":
        return node.data >= 0
    if depth == 0:
        return False
    if node.op == "mul" and node.args[0] is node.args[1]:
        return True
    if node.op == "pow":
        exponent = node.args[1]
        return exponent.op == "number" and float(exponent.data) % 2 == 0 or nonnegative(node.args[0], depth - 1)
    if node.op in ("add", "mul", "div", "fill", "transpose", "vec", "unvec"):
        return all(nonnegative(arg, depth - 1) for arg in node.args)
    return False


def weighted_gram(node: Node) -> tuple[Node, Node] | None:
    """(A, d) where node is Aᵀ (d ∘ A) of a column d ≥ 0 (nonnegative):
    Aᵀ diag(d) A = Sᵀ S with S = √d ∘ A, one symmetric product (BLAS syrk,
    half the multiplications of Aᵀ (d ∘ A)). The logistic regression's
    Hessian Xᵀ diag(σ'(X w)) X is one. None for any other node."""
    if node.op != "matmul" or node.args[0].op != "transpose" or node.args[1].op != "mul":
        return None
    a = node.args[0].args[0]
    for d, other in (node.args[1].args, node.args[1].args[::-1]):
        if (other is a and not a.shape.is_scalar and d.shape.cols == 1 and d.shape.rows == a.shape.rows
                and not d.shape.is_scalar and nonnegative(d)):
            return a, d
    return None


def gathered_only(gradient: Node) -> list[Node]:
    """The scatters that `gradient` is the sum of, all along one axis: the
    gradient of a variable the model reads only through gathers (by vectors
    of ids or single ids), ∂J/∂L = Σᵢ scatter(Gᵢ, idsᵢ); [] where it is
    anything else. Its sparse form is the ids and Gᵢ's columns (rows)
    summed per unique id: no array of L's size."""
    terms = scatter_terms(gradient)
    return terms if len({term.data[0] for term in terms}) == 1 else []


def gradient_order(derivation: Derivation, available: set[int], roots: list[Node] | None = None) -> list[Node]:
    """The gradient graph's nodes, operands first, not descending below the
    nodes in `available` (forward values come from the cache, not again);
    `roots`: the values wanted, if not the gradients themselves.
    The gradients nearest the output come first (by the depth of their
    graph): as backpropagation reaches a layer, its weights' gradients are
    taken while its error signal is fresh in the cache, and no signal stays
    alive to the end."""
    roots = list(derivation.gradients.values()) if roots is None else roots
    depth: dict[int, int] = {}
    for node in postorder(roots, stop=available):
        below = [] if id(node) in available else node.args
        depth[id(node)] = 1 + max((depth[id(a)] for a in below), default=0)
    return postorder(sorted(roots, key=lambda root: depth[id(root)]), stop=available)



class Schedule:
    """What a target's writer builds on: the names of the model's values in
    the module, and, per grad statement, the steps of its functions (per
    hessian or jacobian statement, derivative_body's).
    Subclasses give `printer_class` and write `prologue` (taking the
    arguments) and the module itself."""

    printer_class: type

    def __init__(self, program: Program, derivations: list[Derivation], second_order: SecondOrder | None = None):
        self.program = program
        self.derivations = derivations
        # The hessian and jacobian statements' derivatives (none: a module of grad statements alone).
        self.second_order = second_order or SecondOrder([], [])
        # Shown in comments only, escaped so that no file name can end one.
        self.filename = repr(program.source.filename)[1:-1]
        model_names = list(program.variables) + list(program.dims) + list(program.definitions) \
            + list(program.functions)
        self.spelled = python_names(model_names)
        self.keywords = python_names(program.variables, keyword_spelling)
        # One builder made every derivative (the first-order one where there is one).
        builders = [d.builder for d in derivations] + [d.builder for d in
                                                       self.second_order.hessians + self.second_order.jacobians]
        partials = builders[0].partials if builders else None
        self.arities = partials.arities() if partials else {}
        # A user function lives at module level as _fn_NAME: no model name
        # starts with `_`, and no Python builtin the runtime uses is shadowed.
        self.functions: dict[str, str] = {name: f"_fn_{self.spelled[name]}" for name in program.functions}
        self.derived: list[UserFunction] = []
        for (original, index), function in (partials.derived.items() if partials else ()):
            if function is not None:
                self.derived.append(function)
                # f' is _d1_f; f'' (a second derivative: of f', derived first) _d1_d1_f, unless taken
                base = self.spelled[original] if original in self.spelled else self.functions[original].lstrip("_")
                name = f"_d{index + 1}_{base}"
                while name in self.functions.values():
                    name += "_"
                self.functions[function.name] = name
        self.printer = self.printer_class({d: self.spelled[d] for d in program.dims}, self.functions,
                                          [self.spelled[v.name] for v in program.arguments])
        # Locals for the shape and dtype each argument was passed with.
        namer = Namer(self.taken())
        self.given = {v.name: (namer.fresh(f"{self.spelled[v.name]}_shape"),
                               namer.fresh(f"{self.spelled[v.name]}_dtype")) for v in program.arguments}

    def shown_arity(self, function: UserFunction) -> int:
        return self.arities.get(function.name, len(function.params))

    def taken(self) -> set[str]:
        return set(self.spelled.values()) | set(self.functions.values()) | {"cache", "upstream"}

    def math_names(self) -> dict[int, tuple[str, bool]]:
        names = {id(v.node): (v.name, False) for v in self.program.variables.values()}
        names.update({id(node): (name, False) for name, node in self.program.definitions.items()})
        return names


    def prologue(self, wrt: set[str]) -> list[str]:
        """The lines that take the arguments (the target's own)."""
        raise NotImplementedError

    def forward_body(self, derivation: Derivation, wrt: bool = True):
        """The prologue, one line per forward step, the writer that knows the
        name of every value computed, and the math names of those values
        (for the comments of the gradient steps)."""
        request = derivation.request
        lines = self.prologue({v.name for v in request.wrt} if wrt else set())
        writer = FunctionWriter(self, self.local_namer(), self.variable_names(),
                                self.absorbed_products(derivation, gradient=wrt))
        math_names = self.math_names()
        self.emit_all(writer, postorder([request.node]), math_names)
        return lines, writer.lines, writer, math_names

    def local_namer(self, taken: set[str] = frozenset()) -> Namer:
        """The namer of an entry point's locals: no model name, no local of
        the prologue, none of `taken`."""
        return Namer(self.taken() | {n for pair in self.given.values() for n in pair} | set(taken))

    def variable_names(self) -> dict[int, str]:
        return {id(v.node): self.spelled[v.name] for v in self.program.variables.values()}

    def emit_all(self, writer: FunctionWriter, nodes: list[Node], math_names: dict, hints: dict[int, str] = {}):
        """One step per node, in order: a model definition under its own
        name, another value under its hint (or t)."""
        for node in nodes:
            own = node.name in self.program.definitions and self.program.definitions[node.name] is node
            writer.emit(node, self.spelled[node.name] if own else hints.get(id(node), "t"), math_names, own)

    def derivative_body(self, roots: list[Node], directions: list[Node], hints: dict[int, str],
                        looped: bool = False) -> tuple[list, list, FunctionWriter]:
        """The steps of a function that computes `roots` from the arguments
        and the `directions` (leaves, each a local of its own, named by its
        hint or else as derive writes it: v, u): only the values the roots need. With `looped` (a
        matrix taken column by column, at unit directions), the steps that
        do not depend on the directions come first, computed once before the
        loop, and no product chain of the loop takes in one of them. Returns
        (the steps before the loop, those in it, the writer)."""
        nodes = postorder(roots)
        varying: set[int] = set()
        for node in nodes:
            if node.op == "direction" or any(id(arg) in varying for arg in node.args):
                varying.add(id(node))
        absorbed = self.absorbed(nodes, roots)
        if looped:
            absorbed -= {id(arg) for node in nodes if id(node) in varying for arg in node.args
                         if id(arg) not in varying}
        else:
            varying = set()
        namer = self.local_namer()
        leaves = self.variable_names()
        math_names = self.math_names()
        for direction in directions:
            leaves[id(direction)] = namer.fresh(hints.get(id(direction), direction.data))
            math_names[id(direction)] = (direction.data, False)
        writer = FunctionWriter(self, namer, leaves, absorbed)
        self.emit_all(writer, [node for node in nodes if id(node) not in varying], math_names, hints)
        before = len(writer.lines)
        self.emit_all(writer, [node for node in nodes if id(node) in varying], math_names, hints)
        return writer.lines[:before], writer.lines[before:], writer

    def copies(self, results: list[Node], available: dict[int, str]) -> list[bool]:
        """Per value handed back, whether it must be copied: never an
        input, a view of one, nor one array twice."""
        flags, returned = [], set()
        for node in results:
            flags.append(OPS[node.op].view or id(node) in available or id(node) in returned)
            returned.add(id(node))
        return flags

    def absorbed_products(self, derivation: Derivation, gradient: bool = True) -> set[int]:
        """The values not computed on their own, in the functions that compute
        the gradients too (or, with gradient=False, the value alone):
        matrix products used once, by another matrix product, and not named
        by the model: they are computed inside the longer chain, whose order
        is chosen at call time; a product (named or not) whose only use is a
        trace or a diagonal: that is computed from its factors; a Hadamard
        product of two operands of one shape whose only use is a sum (the
        sum of C ∘ E): that is one dot product of them; an inverse
        whose only use is one product: the product is a solve; a diagonal
        matrix used only in products: they scale rows or columns."""
        forward = postorder([derivation.request.node])
        backward = gradient_order(derivation, {id(n) for n in forward}) if gradient else []
        return self.absorbed(forward + backward,
                             [derivation.request.node, *(derivation.gradients.values() if gradient else ())])

    def absorbed(self, nodes: list[Node], results: list[Node]) -> set[int]:
        """The values among `nodes` not computed on their own (absorbed_products)
        in a function that computes them all and returns `results`."""
        uses: dict[int, list[str]] = {}
        for node in nodes:
            for arg in node.args:
                uses.setdefault(id(arg), []).append(node.op)
        for root in results:
            uses.setdefault(id(root), []).append("result")
        # Aᵀ (d ∘ A) is Sᵀ S (weighted_gram): d ∘ A is no value of its own, nor is Sᵀ S absorbed into a chain.
        grams = {id(node) for node in nodes if weighted_gram(node) and uses.get(id(node.args[1])) == ["matmul"]}
        return {id(node.args[1]) for node in nodes if id(node) in grams} | {id(node) for node in nodes if (
                node.op == "matmul" and id(node) not in grams and (
                    uses.get(id(node)) in (["tr"], ["diag_vector"]) and not node.shape.is_scalar
                    or uses.get(id(node)) == ["matmul"] and not (
                        node.name in self.program.definitions and self.program.definitions[node.name] is node))
                or node.op == "mul" and uses.get(id(node)) == ["sum"] and not node.shape.is_scalar
                and node.args[0].shape == node.args[1].shape
                or node.op == "inv" and uses.get(id(node)) == ["matmul"]
                or node.op == "diag_matrix" and set(uses.get(id(node), ())) == {"matmul"})}

    def cache_nodes(self, derivation: Derivation, writer: FunctionWriter) -> list[Node]:
        """Forward values (and variables) the gradient graph reads. A value
        written inline (Bᵀ as `B.T`) is not kept: backward writes it again
        from what it is made of."""
        kept = {id(n) for n in postorder([derivation.request.node]) if writer.names.get(id(n), "").isidentifier()}
        return [n for n in gradient_order(derivation, kept) if id(n) in kept]

    def sparse_gradients(self, derivation: Derivation) -> dict[str, list[Node]]:
        """The variables of wrt read only through gathers, and the scatters
        each one's gradient is the sum of (gathered_only)."""
        found = {v.name: gathered_only(derivation.gradients[v.name]) for v in derivation.request.wrt}
        return {name: terms for name, terms in found.items() if terms}

    def backward_body(self, derivation: Derivation, forward: FunctionWriter, forward_math: dict,
                      available: dict[int, str], sparse: bool = False) -> tuple[list, list[tuple]]:
        """One line per gradient step, given the forward values by name
        (`available`; `forward`, `forward_math`: forward_body's writer and
        names), and per variable of wrt (variable, its gradient's value,
        whether it must be copied: never an input, a view of one, or one
        array twice). With `sparse`, a variable read only through gathers
        has no gradient computed but its scattered parts: its value is the
        list of (Gᵢ's value, idsᵢ's value, Gᵢ's node) and its copy flag the
        axis ("rows" or "cols")."""
        request = derivation.request
        parts = self.sparse_gradients(derivation) if sparse else {}
        wanted = [term.args[0] if name in parts else derivation.gradients[name]
                  for name in derivation.gradients for term in parts.get(name, [None])]
        namer = Namer(forward.namer.taken | set(available.values()))
        namer.count = forward.namer.count
        writer = FunctionWriter(self, namer, available, self.absorbed_products(derivation))
        signal_names = {}
        for forward, gradient in derivation.signals:
            if id(gradient) not in signal_names and forward.name and gradient.args:
                signal_names[id(gradient)] = f"delta_{self.spelled.get(forward.name, 't')}"
        hints = {id(node): f"grad_{self.spelled[name]}" for name, node in derivation.gradients.items()}
        hints = {**hints, **signal_names}
        math_names = dict(forward_math)
        math_names.update({key: ("δ_" + hint[len("delta_"):], False) for key, hint in signal_names.items()})
        self.emit_all(writer, gradient_order(derivation, set(available), wanted), math_names, hints)
        dense = [v for v in request.wrt if v.name not in parts]
        copies = dict(zip([v.name for v in dense],
                          self.copies([derivation.gradients[v.name] for v in dense], available)))
        results = []
        for variable in request.wrt:
            if variable.name in parts:
                results.append((variable, [(writer.value(term.args[0]), writer.value(term.args[1]), term.args[0])
                                           for term in parts[variable.name]], parts[variable.name][0].data[0]))
            else:
                results.append((variable, writer.value(derivation.gradients[variable.name]), copies[variable.name]))
        return writer.lines, results


    def suffix(self, request) -> str:
        """What a grad statement's entry points add to their names: nothing
        for a file's only grad statement, else _TARGET (a hessian or jacobian
        statement's always have it: derivative_suffix)."""
        return "" if len(self.derivations) == 1 else f"_{self.spelled.get(request.target, request.target)}"

    def derivative_suffix(self, target: str) -> str:
        """What a hessian or jacobian statement's functions add to their names: _TARGET."""
        return f"_{self.spelled.get(target, target)}"

    def signature(self) -> dict:
        """The module's public description of its interface (`SIGNATURE`),
        which the gradient checker and the framework adapters read."""
        program = self.program
        second = self.second_order
        # A file with hessian or jacobian statements: (target, suffix, wrt, fields, whether `hessian()`
        # is there) per hessian statement, (target, suffix, variable) per jacobian statement.
        derivatives = {} if not (second.hessians or second.jacobians) else {
            "hessians": [(h.target, self.derivative_suffix(h.target), tuple(v.name for v in h.request.wrt),
                          tuple(self.spelled[v.name] for v in h.request.wrt), h.full) for h in second.hessians],
            "jacobians": [(j.target, self.derivative_suffix(j.target), j.request.variable.name)
                          for j in second.jacobians]}
        return {
            "model": program.source.filename,
            "dims": list(program.dims),
            "arguments": [(v.name, self.keywords[v.name], v.kind, v.shape.rows, v.shape.cols)
                          for v in program.arguments],
            "statements": [(d.request.target, self.suffix(d.request), tuple(v.name for v in d.request.wrt),
                            tuple(self.spelled[v.name] for v in d.request.wrt)) for d in self.derivations],
            **derivatives,
        }
