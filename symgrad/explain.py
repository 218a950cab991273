"""`symgrad derive`: the derivation, written the way the lecture writes it.

For the window model it reads::

    δ = ∂s/∂z = uᵀ ∘ f'(z)ᵀ                [1×n]
    ∂s/∂W = δᵀ xᵀ                          [n×m] = [n×1][1×m]

An error signal δ is named wherever one gradient is shared by several
others; the error signal of a column vector z is written as the row
∂s/∂z (1×n), as in the lecture, so that it appears transposed (δᵀ) where
the gradients use it.

A `hessian` statement adds its Hessian-vector product and Hessian, a
`jacobian` statement its Jacobian (symgrad.second_order), in the same
notation, a column d scaling a matrix's rows written as the diagonal
matrix it multiplies by (the code forms none)::

    ∇²J = Xᵀ diag(σ(z) ∘ (1 - σ(z))) X + λ I   [n×n] = [n×N][N×N][N×n] + [n×n]

The derivation is a list of sections (a heading, rows of `left = right`
with a shape), which each format lays out: the terminal's columns, LaTeX's
align* (aligned at =, the shapes in a column of their own), MathML tables
for Jupyter and `derive --html` (symgrad.mathml; Markdown with LaTeX for
front ends without HTML). The forward section
writes the model's formulas from its source, as written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import count

from .differentiation import Derivation, adjoint_rule, differentiate_program
from . import syntax as ast
from .ir import Node, Program, postorder, scatter_terms
from .lowering import read_as
from .mathml import MathMLPrinter, derivation_html
from .notation import PRINTERS, PRODUCT, SUM, Printer, in_ascii, latex_text
from .ops import OPS
from .second_order import HessianDerivation, JacobianDerivation, differentiate_second_order
from .shapes import Shape
from .simplify import Builder
from .source import ModelError

LEAVES = {name for name, op in OPS.items() if op.arity == 0}  # the operations of no operands
# How the Hessian (a Jacobian) is the product with a direction (the vector-Jacobian product) at V = I.
ALL_COLUMNS = " (each column of the identity a direction, all at once)"
LONGEST_FORMULA = 24  # operations in a value without a name that derive writes out where it is used
PATH_LIMIT = 32  # the most paths `--steps` writes out one by one for a gradient


def _trivial(node: Node) -> bool:
    return node.op in LEAVES or (node.op == "transpose" and node.args[0].op in LEAVES)


def _uses(node: Node) -> list[Node]:
    """The operands of node, once for each node that uses them as printed: a
    fused operation is printed as its expansion, which may use one twice."""
    expansion = OPS[node.op].expansion
    if expansion is None:
        return list({id(a): a for a in node.args}.values())
    operands = {id(a) for a in node.args}
    return [a for inner in postorder([expansion(*node.args)], stop=operands) if id(inner) not in operands
            for a in {id(a): a for a in inner.args}.values() if id(a) in operands]


def _signal_names(derivation: Derivation, forward_names: dict[int, str],
                  forward_ids: set[int]) -> list[tuple[Node, Node, str, bool]]:
    """(forward node, gradient, δ name, written as a row?) for each shared
    error signal, from the target down. A gradient that is itself a forward
    value (∂/∂x of (x + y) max(y, z) is max(y, z)) is written as it is."""
    references: dict[int, int] = {}
    roots = list(derivation.gradients.values())
    for root in roots:
        references[id(root)] = references.get(id(root), 0) + 1
    for node in postorder(roots):
        for arg in _uses(node):
            references[id(arg)] = references.get(id(arg), 0) + 1
    result = []
    seen: set[int] = set()
    for forward, gradient in derivation.signals:  # from the target down
        if (id(gradient) in seen or references.get(id(gradient), 0) < 2 or _trivial(gradient)
                or id(gradient) in forward_ids):
            continue
        seen.add(id(gradient))
        subscript = forward_names.get(id(forward)) or str(len(result) + 1)
        result.append((forward, gradient, subscript, gradient.shape.is_column))
    return result


def _forward_values(program: Program) -> list[tuple[str, Node]]:
    """The definitions, in order, each after the values it uses that have
    no name but a formula of more than LONGEST_FORMULA operations: those get
    a name (v1, v2, ...), so that a deep expression (5,000 nested calls) is
    written once, in pieces, and not again in full wherever it is used."""
    taken = set(program.variables) | set(program.definitions) | set(program.dims) | set(program.functions)
    fresh = (f"v{k}" for k in count(1) if f"v{k}" not in taken)
    defined = {id(node): name for name, node in program.definitions.items()}
    values: list[tuple[str, Node]] = []
    operations: dict[int, int] = {}  # each value's formula, as printed: its operations
    for node in postorder(list(program.definitions.values())):
        if id(node) in defined:
            values.append((defined[id(node)], node))
            operations[id(node)] = 0
            continue
        operations[id(node)] = (1 + sum(operations[id(arg)] for arg in node.args)) if node.args else 0
        if operations[id(node)] > LONGEST_FORMULA and node.op not in LEAVES:
            values.append((next(fresh), node))
            operations[id(node)] = 0
    return values


def _as_written(program: Program, forward_values: list[tuple[str, Node]]) -> dict[str, ast.Expr]:
    """The syntax tree of each definition and function as the model writes
    it (symgrad.lowering.read_as), for the forward section: the IR has
    rewritten some (log(1 + exp(z)) is softplus(z) there, to compute it
    stably). A definition cut into named pieces (v1, ...) is left out: it
    is written with them, from the IR. Nothing where the model calls a
    function it does not define (read_as reads only a complete model)."""
    try:
        written = read_as(program.source)
    except ModelError:
        return {}
    pieced, after_piece = set(), False
    for name, _ in forward_values:
        if name not in program.definitions:
            after_piece = True
        elif after_piece:
            pieced.add(name)
            after_piece = False
    return {name: tree for name, tree in written.items() if name not in pieced}


def _operand_share(builder: Builder, node: Node, index: int, gradient: Node) -> Node | None:
    """The share of node's operand `index` in the gradient G arriving at
    node, summed to the operand's shape (None where it gets nothing)."""
    rule = adjoint_rule(node, index)
    return builder.sum_to(rule(builder, node, gradient), node.args[index].shape) if rule else None


@dataclass(frozen=True)
class Link:
    """One step of a path: from a value to its operand number `index`."""

    node: Node
    index: int

    @property
    def operand(self) -> Node:
        return self.node.args[self.index]


@dataclass
class Path:
    """One way the target depends on a variable: the links from the target
    down to the variable, and the path's term of the gradient, its local
    rules applied in turn to ∂target/∂target = 1 (the chain rule along it)."""

    links: tuple[Link, ...]
    term: Node


@dataclass
class ChainRule:
    """∂target/∂variable as the sum over every path from the target down to
    the variable, a value used twice giving two paths (ResNets' and RNNs'
    "gradients sum at outward branches"): Σ_paths term = the gradient.
    `paths` is None when there are more than PATH_LIMIT of them."""

    variable: str
    count: int
    paths: list[Path] | None = field(default=None)


def _paths(root: Node, goal: Node, builder: Builder) -> ChainRule:
    """Every path of operand links from root down to goal that carries a
    gradient, counted first (a count per value, operands before users) and
    enumerated by an explicit stack only when there are few. They are in
    the order the gradient adds them: by the last link first, its value
    latest in the forward pass first (reverse mode reaches it first)."""
    count: dict[int, int] = {}
    links: dict[int, list[Link]] = {}
    order = postorder([root])
    position = {id(node): k for k, node in enumerate(order)}
    for node in order:
        if node is goal:
            count[id(node)] = 1
            continue
        links[id(node)] = [Link(node, index) for index, operand in enumerate(node.args)
                           if count.get(id(operand)) and adjoint_rule(node, index) is not None]
        count[id(node)] = sum(count[id(link.operand)] for link in links[id(node)])
    total = count[id(root)]
    if total > PATH_LIMIT:
        return ChainRule(goal.data, total)
    paths = []
    stack: list[tuple[Node, tuple | None]] = [(root, None)]  # (value, links above it as a linked list)
    while stack:
        node, above = stack.pop()
        if node is goal:
            upward: list[Link] = []  # from the variable up to the target
            while above is not None:
                above, link = above
                upward.append(link)
            paths.append(upward)
            continue
        stack.extend((link.operand, (above, link)) for link in reversed(links[id(node)]))
    paths.sort(key=lambda upward: [(-position[id(link.node)], link.index) for link in upward])
    return ChainRule(goal.data, total, [Path(tuple(upward[::-1]), _term(upward[::-1], builder))
                                        for upward in paths])


def _term(chain: list[Link], builder: Builder) -> Node:
    """One path's term: 1 at the target, then each link's share in turn."""
    gradient = builder.num(1)
    for link in chain:
        builder.span = link.node.span
        gradient = _operand_share(builder, link.node, link.index, gradient)
    return gradient


@dataclass
class Row:
    """One line of the derivation: `left relation right`, which LaTeX aligns
    at the relation (= or :), and the shape of its value or its shape
    equation. `inner`: a step's detail, indented under its chain."""

    left: str
    relation: str = ""
    right: str = ""
    shape: str = ""
    inner: bool = False
    # The first row of a variable's steps: LaTeX starts a new environment
    # there, since KaTeX expands at most 1,000 macros in one formula.
    opens: bool = False

    @property
    def formula(self) -> str:
        return f"{self.left}{self.relation}{self.right}"


@dataclass
class Section:
    """A heading and its rows. The heading is in parts, each ("text", words),
    ("math", a formula the printer wrote) or ("file", a file name), so that
    each format sets each part as it should (LaTeX: $s$; Markdown: `file`)."""

    title: list[tuple[str, str]]
    rows: list[Row]


@dataclass
class GradientView:
    """One gradient, printable: str() gives matrix notation, Jupyter its
    MathML row (LaTeX for front ends without HTML)."""

    target: str
    variable: str
    node: Node
    explanation: "Explanation" = field(repr=False)

    def __str__(self) -> str:
        return self.explanation.gradient_line(self, "unicode")

    __repr__ = __str__

    def _repr_latex_(self) -> str:
        return f"$${self.explanation.gradient_line(self, 'latex', shapes=False)}$$"

    def _repr_html_(self) -> str:
        printer = self.explanation.printer(MathMLPrinter, self.target)
        rows = self.explanation.result_rows(printer, self.target, self.variable, self.node)
        return derivation_html([Section([], rows)])


class Explanation:
    """The derivation of every gradient of a program (`symgrad.derive`): in
    a terminal (str, repr), as LaTeX (`text("latex")`) and in Jupyter, where
    it shows as HTML with its formulas in MathML, which needs no MathJax
    (Markdown with LaTeX, or LaTeX, where a front end shows no HTML), the
    headings and shapes kept, as the terminal has them."""

    def __init__(self, program: Program):
        self.program = program
        self.derivations = differentiate_program(program)
        self.second_order = differentiate_second_order(program, self.derivations)
        second = self.second_order.hessians + self.second_order.jacobians
        builder = (self.derivations[0].builder if self.derivations else second[0].builder if second
                   else Builder())
        self.partials = builder.partials
        self.forward_values = _forward_values(program)
        self.forward_names = {id(node): name for name, node in self.forward_values}
        self.as_written = _as_written(program, self.forward_values)
        forward_ids = {id(node) for node in postorder(
            list(program.definitions.values()) + [request.node for request in program.grads])}
        self._chain_rules: dict[str, dict[str, ChainRule]] = {}
        self._forward_printers: dict[type, Printer] = {}
        self.targets: dict[str, dict[str, GradientView]] = {}
        self.signals: dict[str, list[tuple[Node, Node, str, bool]]] = {}
        for derivation in self.derivations:
            signals = _signal_names(derivation, self.forward_names, forward_ids)
            if len(signals) == 1:
                signals = [(f, g, "", row) for f, g, _, row in signals]
            self.signals[derivation.target] = signals
            self.targets[derivation.target] = {
                name: GradientView(derivation.target, name, node, self)
                for name, node in derivation.gradients.items()}

    def __str__(self) -> str:
        return self.text()

    __repr__ = __str__  # a derivation at the prompt reads as in the terminal

    def _repr_latex_(self) -> str:
        return self.text("latex")

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def _repr_html_(self) -> str:
        return derivation_html(self.sections(MathMLPrinter))

    @property
    def gradients(self) -> dict[str, GradientView]:
        """The gradients of the first `grad` statement, by variable (none in
        a model of `jacobian` statements only)."""
        return next(iter(self.targets.values()), {})

    # ------------------------------------------------------------ printing
    def printer(self, style: str, target: str, diagonals: bool = False) -> Printer:
        """A printer of derivatives of target, which names the forward values
        and target's error signals; diagonals: d ∘ B written diag(d) B."""
        printer_class = PRINTERS[style] if isinstance(style, str) else style
        bare = printer_class()
        names = {key: (bare.symbol(name), False) for key, name in self.forward_names.items()}
        for _, gradient, subscript, row in self.signals.get(target, []):
            names[id(gradient)] = (bare.signal(subscript), row)
        arities = self.partials.arities() if self.partials else {}
        # A derivative's constant term is c 𝟏.
        return printer_class(names, arities, matrix_terms=True, diagonals=diagonals)

    def forward_printer(self, printer_class) -> Printer:
        """A printer that names forward values only (never an error signal,
        even where a forward value is also a gradient); one per style."""
        printer = self._forward_printers.get(printer_class)
        if printer is None:
            bare = printer_class()
            names = {key: (bare.symbol(name), False) for key, name in self.forward_names.items()}
            printer = printer_class(names, self.partials.arities() if self.partials else {})
            self._forward_printers[printer_class] = printer
        return printer

    def formula(self, node: Node, printer_class) -> str:
        """A forward value's own formula, the others it uses by their names."""
        printer = self.forward_printer(printer_class)
        name = printer.names.pop(id(node), None)
        try:
            return printer.doc(node)
        finally:
            if name is not None:
                printer.names[id(node)] = name

    def forward_formula(self, name: str, node: Node, printer_class) -> str:
        """A forward value as the model writes it (its source's syntax, not
        the IR, which computes log(1 + exp(z)) as softplus(z)); a value in
        named pieces (v1, ...) and a piece itself as the IR has it."""
        tree = self.as_written.get(name)
        return self.formula(node, printer_class) if tree is None else self.forward_printer(printer_class).written(tree)

    def label(self, node: Node, printer: Printer) -> str:
        """How ∂target/∂(value) writes a forward value: its name, or its formula."""
        if node.op == "variable":
            return printer.symbol(node.data)
        name = self.forward_names.get(id(node))
        if name is not None:
            return printer.symbol(name)
        forward = self.forward_printer(type(printer))
        return forward.group(forward.doc(node))

    def d(self, printer: Printer, target: str, of: str) -> str:
        """∂target/∂of, of two names of the model."""
        return printer.derivative(printer.symbol(target), printer.symbol(of))

    @staticmethod
    def d_written(printer: Printer, target: str, of: str) -> str:
        """∂target/∂of, of two labels already written by the printer."""
        return printer.derivative(target, of)

    def shape_equation(self, node: Node, printer: Printer, terms: bool = False) -> str:
        """[n×m] = [n×1][1×m]: the shape of node and, where it is a product,
        of its factors as printed (diag(d) B: d's N×N diagonal and B's);
        terms: each term of a sum at its top so, [n×n] = [n×N][N×N][N×n] + [n×n]."""
        written = [" + ".join("".join(printer.shape(shape) for shape in _factor_shapes(term, printer))
                              for term in (_terms(node, printer) if terms else [node]))]
        result = printer.shape(node.shape)
        return result if written[0] == result else f"{result} = {written[0]}"

    def gradient_line(self, view: GradientView, style: str, shapes: bool = True) -> str:
        return "\n".join(self.gradient_lines(view, style, shapes))

    def gradient_lines(self, view: GradientView, style: str, shapes: bool = True) -> list[str]:
        printer = self.printer(style, view.target)
        return _lines(self.result_rows(printer, view.target, view.variable, view.node), shapes)

    def result_lines(self, printer: Printer, target: str, variable: str, node: Node, shapes: bool) -> list[str]:
        return _lines(self.result_rows(printer, target, variable, node), shapes)

    def result_rows(self, printer: Printer, target: str, variable: str, node: Node) -> list[Row]:
        """∂J/∂X = ..., or where X is only gathered from (an embedding, L[:, w]
        and L[:, wc]) a row for each gathered part's gradient and one that
        says where they go, as the notes write it."""
        scatters = scatter_terms(node, printer.names)
        if not scatters:
            return [Row(self.d(printer, target, variable), " = ", printer.doc(node), self.shape_equation(node, printer))]
        rows = []
        for scatter in scatters:
            gathered = printer.doc(Node("gather", (Node("variable", (), scatter.shape, scatter.span, data=variable),
                                                   scatter.args[1]), scatter.args[0].shape, scatter.span,
                                        data=scatter.data[0]))
            rows.append(Row(printer.derivative(printer.symbol(target), gathered), " = ", printer.doc(scatter.args[0]),
                            self.shape_equation(scatter.args[0], printer)))
        each = "each " if len(scatters) > 1 else ""
        where = (f"{printer.prose(each + 'scattered back into ')}{printer.symbol(variable)}"
                 f"{printer.prose(chr(39) + 's shape, repeated ids summed')}")
        rows.append(Row(self.d(printer, target, variable), ": ", where, self.shape_equation(node, printer)))
        return rows

    def sections(self, style="unicode", steps: bool = False) -> list[Section]:
        """The derivation in sections: the forward values as the model
        writes them, its functions, then for each target its error signals,
        its gradients and (steps) the chain rule written out. `style` is a
        printer's name (unicode, ascii, latex) or a Printer class."""
        printer_class = PRINTERS[style] if isinstance(style, str) else style
        first = self.printer(printer_class, next(iter(self.targets), ""))
        sections = [Section([("text", "Forward ("), ("file", self.program.source.filename), ("text", ")")],
                            [Row(first.symbol(name), " = ", self.forward_formula(name, node, printer_class),
                                 first.shape(node.shape)) for name, node in self.forward_values])]
        functions = list(self.program.functions.values())
        derived = self.partials.functions() if self.partials else []
        if functions or derived or self.program.undefined_functions:
            rows = []
            for function in functions + derived:
                params = (function.params[: self.partials.arity(function.name)] if self.partials
                          else function.params)
                call = first.call(function.name, [first.symbol(p) for p in params])
                tree = self.as_written.get(function.name) if function in functions else None
                rows.append(Row(call, " = ", first.doc(function.body) if tree is None else first.written(tree)))
            for name in self.program.undefined_functions:
                rows.append(Row(first.call(name, [first.symbol("t")]), ": ", first.prose(
                    "no formula given (its derivative is written ") + first.function_symbol(name + "'")
                    + first.prose(")")))
            sections.append(Section([("text", "Functions")], rows))
        for derivation in self.derivations:
            target = derivation.target
            printer = self.printer(printer_class, target)
            signals = self.signals[target]
            if signals:
                title = [("text", "Error signals of "), ("math", printer.symbol(target))]
                if any(is_row for *_, is_row in signals):
                    title.append(("text", " (a column's signal is written as a row)"))
                rows = []
                for forward, gradient, subscript, is_row in signals:
                    shown = printer.names.pop(id(gradient))
                    body = printer.doc(gradient, transposed=is_row)
                    printer.names[id(gradient)] = shown
                    d = printer.derivative(printer.symbol(target), self.label(forward, printer))
                    rows.append(Row(shown[0], " = ", f"{d} = {body}",
                                    printer.shape(gradient.shape.T if is_row else gradient.shape)))
                sections.append(Section(title, rows))
            sections.append(Section([("text", "Gradients of "), ("math", printer.symbol(target))],
                                    [row for view in self.targets[target].values()
                                     for row in self.result_rows(printer, target, view.variable, view.node)]))
            if steps:
                sections.append(Section([("text", "Steps for "), ("math", printer.symbol(target)),
                                         ("text", " (G is the gradient arriving at each step)")],
                                        self.steps(derivation, printer)))
            for hessian in self.second_order.hessians:
                if hessian.target == target:
                    sections += self.hessian_sections(hessian, printer_class, steps)
        for jacobian in self.second_order.jacobians:
            sections += self.jacobian_sections(jacobian, printer_class, steps)
        return sections

    # ------------------------------------------------ second derivatives
    def hessian_sections(self, hessian: HessianDerivation, printer_class, steps: bool) -> list[Section]:
        """A `hessian` statement's Hessian-vector product, for each variable
        its share, and its Hessian in matrix form (block by block for
        several variables: ∂²J/∂W∂b); steps: how each arises."""
        printer = self.printer(printer_class, hessian.target, diagonals=True)
        target = printer.symbol(hessian.target)
        rows = [Row(self.hvp_label(hessian, variable, printer), " = ", printer.doc(product),
                    self.shape_equation(product, printer, terms=True))
                for variable, product in hessian.products.items()]
        rows += self.hessian_rows(hessian, printer)
        sections = [Section([("text", "Hessian of "), ("math", target)], rows)]
        if steps:
            sections.append(Section([("text", "Steps for "), ("math", printer.hessian(target))],
                                    self.hessian_steps(hessian, printer)))
        return sections

    def hvp_label(self, hessian: HessianDerivation, variable: str, printer: Printer) -> str:
        """(∇²J) v, and ((∇²J) v)_w, its share of w, for several variables."""
        product = f"{printer.group(printer.hessian(printer.symbol(hessian.target)))} {printer.symbol('v')}"
        if len(hessian.products) == 1:
            return product
        return printer.subscript(printer.group(product), printer.symbol(variable))

    def block_label(self, hessian: HessianDerivation, a: str, b: str, printer: Printer) -> str:
        if len(hessian.products) == 1:
            return printer.hessian(printer.symbol(hessian.target))
        return printer.second_derivative(printer.symbol(hessian.target), printer.symbol(a), printer.symbol(b))

    def transposed_block(self, hessian: HessianDerivation, a: str, b: str, printer: Printer) -> str:
        """(∂²J/∂a∂b)ᵀ, a block below the diagonal (∂²J/∂b∂a: the Hessian is
        symmetric); of two scalars, ∂²J/∂a∂b itself."""
        label = self.block_label(hessian, a, b, printer)
        if hessian.blocks[a, b].shape.is_scalar:
            return label
        return printer.postfix(printer.group(label), printer.transpose_mark)

    def hessian_rows(self, hessian: HessianDerivation, printer: Printer) -> list[Row]:
        """∇²J = ... [its shape equation]; for several variables each block
        on and above the diagonal, then the block matrix, those below as the
        transposes of those above; or why there is no matrix form."""
        whole = printer.hessian(printer.symbol(hessian.target))
        if not hessian.full:
            matrices = [v.name for v in hessian.request.wrt if 1 not in (v.shape.rows, v.shape.cols)]
            are = "is a matrix" if len(matrices) == 1 else "are matrices"
            return [Row(whole, ": ", printer.prose(f"not written: {', '.join(matrices)} {are} "
                                                   "(the product with a direction above is its action)"))]
        if hessian.matrix is None:
            return [Row(whole, ": ", printer.prose("taken column by column, as the product above at each column of "
                                                   "the identity (an operation has no matrix form)"))]
        variables = [v.name for v in hessian.request.wrt]
        if len(variables) == 1:
            return [Row(whole, " = ", printer.doc(hessian.matrix), self.shape_equation(hessian.matrix, printer, True))]
        rows = [Row(self.block_label(hessian, a, b, printer), " = ", printer.doc(block),
                    self.shape_equation(block, printer, True))
                for (a, b), block in hessian.blocks.items() if variables.index(a) <= variables.index(b)]
        matrix = printer.stack([[self.block_label(hessian, a, b, printer) if i <= j
                                 else self.transposed_block(hessian, b, a, printer)
                                 for j, b in enumerate(variables)] for i, a in enumerate(variables)])
        rows.append(Row(whole, " = ", matrix, printer.shape(hessian.matrix.shape)))
        return rows

    def hessian_steps(self, hessian: HessianDerivation, printer: Printer) -> list[Row]:
        """The product as the gradient of Jᵥ = Σ sum(∂J/∂X ∘ V_X) (reverse
        over reverse), then the Hessian as that product at V = I."""
        target = printer.symbol(hessian.target)
        scalar = printer.directional(target, "v")
        builder = hessian.builder
        written = [printer.call("sum", [f"{self.d(printer, hessian.target, variable)}{printer.hadamard}"
                                        f"{printer.symbol(direction.data)}"])
                   for variable, direction in hessian.directions.items()]
        # Jᵥ's terms as second_order built them (the builder shares equal nodes: these are its own).
        built = [builder.op("sum", builder.mul(hessian.first.gradients[variable], direction))
                 for variable, direction in hessian.directions.items()]
        directions = ", ".join(printer.symbol(d.data) for d in hessian.directions.values())
        rows = [Row(scalar, " = ", " + ".join(written)
                    + f"{printer.aside}{printer.prose('(a scalar: the derivative of ')}{target}"
                      f"{printer.prose(' along the direction ')}{directions}{printer.prose(')')}"),
                Row(scalar, " = ", " + ".join(printer.wrap(node, SUM) for node in built), printer.shape(Shape(1, 1)))]
        for variable, product in hessian.products.items():
            label = self.hvp_label(hessian, variable, printer)
            rows.append(Row(label, " = ", f"{printer.derivative(scalar, printer.symbol(variable))}"
                                          f"{printer.aside}{printer.prose('(reverse over reverse: the gradient of ')}"
                                          f"{scalar}{printer.prose(', by the same adjoint rules)')}"))
            rows.append(Row(label, " = ", printer.doc(product), self.shape_equation(product, printer, terms=True)))
        if hessian.matrix is None:
            return rows
        variables = list(hessian.directions)
        for (a, b), block in hessian.blocks.items():
            if variables.index(a) > variables.index(b):
                continue
            # The identity of b's entries (1 for a scalar) as b's directions, the others 0.
            unit = printer.number(1) if hessian.directions[b].shape.is_scalar else "I"
            at = ", ".join([f"{printer.symbol(hessian.directions[b].data)} = {unit}"]
                           + [f"{printer.symbol(hessian.directions[other].data)} = {printer.number(0)}"
                              for other in variables if other != b])
            where = (printer.prose(ALL_COLUMNS) if len(variables) == 1 else
                     f"{printer.prose(' (the columns of the identity as directions of ')}{printer.symbol(b)}"
                     f"{printer.prose(', the others 0)')}")
            label = self.block_label(hessian, a, b, printer)
            rows.append(Row(label, " = ", f"{self.hvp_label(hessian, a, printer)}{printer.aside}"
                                          f"{printer.prose('at ')}{at}{where}"))
            rows.append(Row(label, " = ", printer.doc(block), self.shape_equation(block, printer, True)))
        return rows

    def jacobian_sections(self, jacobian: JacobianDerivation, printer_class, steps: bool) -> list[Section]:
        """∂y/∂x in matrix form, a row per entry of y, with its shape
        equation; steps: as the transpose of the vector-Jacobian product
        (∂y/∂x)ᵀ u, the gradient of yᵤ = sum(y ∘ u), at U = I."""
        printer = self.printer(printer_class, jacobian.target, diagonals=True)
        # y's own name is not used in its derivative: ∂p/∂w = diag(σ(z) ∘ (1 - σ(z))) X.
        printer.names.pop(id(jacobian.request.node), None)
        target, variable = jacobian.target, jacobian.request.variable.name
        d = self.d(printer, target, variable)
        if jacobian.matrix is None:
            rows = [Row(d, ": ", printer.prose("taken row by row, as the vector-Jacobian product at each column of "
                                               "the identity (an operation has no matrix form)"))]
        else:
            rows = [Row(d, " = ", printer.doc(jacobian.matrix), self.shape_equation(jacobian.matrix, printer, True))]
        sections = [Section([("text", "Jacobian of "), ("math", printer.symbol(target))], rows)]
        if not steps:
            return sections
        u = printer.symbol(jacobian.cotangent.data)
        scalar = printer.directional(printer.symbol(target), jacobian.cotangent.data)
        product = f"{printer.postfix(printer.group(d), printer.transpose_mark)} {u}"
        weighted = f"{printer.symbol(target)}{printer.hadamard}{u}"
        steps_rows = [
            Row(scalar, " = ", weighted if jacobian.request.node.shape.is_scalar else printer.call("sum", [weighted])),
            Row(product, " = ", f"{printer.derivative(scalar, printer.symbol(variable))}{printer.aside}"
                                f"{printer.prose('(the vector-Jacobian product: the gradient of ')}{scalar}"
                                f"{printer.prose(')')}"),
            Row(product, " = ", printer.doc(jacobian.product), self.shape_equation(jacobian.product, printer, True))]
        if jacobian.matrix is not None:
            transposed = printer.postfix(printer.group(product), printer.transpose_mark)
            steps_rows.append(Row(d, " = ", f"{transposed}{printer.aside}{printer.prose('at ')}{u} = I"
                                            f"{printer.prose(ALL_COLUMNS)}"))
        sections.append(Section([("text", "Steps for "), ("math", d)], steps_rows))
        return sections

    def text(self, style: str = "unicode", steps: bool = False) -> str:
        """What `symgrad derive` prints: in LaTeX, a piece of a document
        (each heading in bold, then its rows in an align* environment,
        aligned at = and with the shapes in a column of their own), which
        pdflatex compiles with amsmath and KaTeX renders."""
        sections = self.sections(style, steps)
        if style == "latex":
            return "\n".join(f"\\noindent\\textbf{{{_heading(section.title, 'latex')}}}\n"
                              + "".join(f"\\begin{{align*}}\n{_aligned(rows)}\n\\end{{align*}}\n"
                                        for rows in _blocks(section.rows))
                              for section in sections)
        lines: list[str] = []
        for section in sections:
            lines += ["", _heading(section.title, style)] if lines else [_heading(section.title, style)]
            lines += [f"{'    ' if row.inner else '  '}{row.formula if row.inner else f'{row.formula:<40} {row.shape}'}"
                      .rstrip() for row in section.rows]
        return "\n".join(lines) + "\n"

    def markdown(self, steps: bool = False) -> str:
        """The derivation in Markdown, as Jupyter shows it: each heading in
        bold, its rows as display formulas (LaTeX's aligned), one a block."""
        return "\n\n".join("\n\n".join([f"**{_heading(section.title, 'markdown')}**"]
                                          + [f"$$\\begin{{aligned}}\n{_aligned(rows)}\n\\end{{aligned}}$$"
                                             for rows in _blocks(section.rows)])
                             for section in self.sections("latex", steps)) + "\n"

    # --------------------------------------------------------------- steps
    def chain_rule(self, target: str | None = None) -> dict[str, ChainRule]:
        """The paths of each gradient of a `grad` statement (the first by
        default), by variable: what `--steps` writes."""
        derivation = next(d for d in self.derivations if target in (None, d.target))
        found = self._chain_rules.get(derivation.target)
        if found is None:
            builder = derivation.builder
            found = {v.name: _paths(derivation.request.node, v.node, builder) for v in derivation.request.wrt}
            self._chain_rules[derivation.target] = found
        return found

    def steps(self, derivation: Derivation, printer: Printer) -> list[Row]:
        """The chain rule written out: for each variable, every path from the
        target down to it (one for each way the target uses it), each as its
        chain of local Jacobians, the matrix form each takes and the path's
        term; then the gradient as the sum of the terms."""
        rows = []
        target = printer.symbol(derivation.target)
        for variable, rule in self.chain_rule(derivation.target).items():
            d = self.d(printer, derivation.target, variable)
            of = printer.symbol(variable)
            first = len(rows)
            if rule.count == 0:
                rows.append(Row(d, " = ", f"0{printer.aside}{printer.prose('(')}{target}"
                                          f"{printer.prose(' does not depend on ')}{of}{printer.prose(')')}"))
                continue
            if rule.paths is None:
                why = (f"the sum of {_how_many(rule.count)} paths, more than the {PATH_LIMIT} written out; "
                       "the error signals above add them up at each value used more than once")
                rows.append(Row(d, ": ", printer.prose(why)))
                continue
            several = len(rule.paths) > 1
            if several:
                rows.append(Row(d, " = ", f"{printer.prose(f'the sum of {len(rule.paths)} paths, one for each way ')}"
                                          f"{target}{printer.prose(' uses ')}{of}{printer.prose(':')}"))
            for number, path in enumerate(rule.paths, 1):
                name = printer.prose(f"path {number}") if several else d
                rows += self._path_rows(path, name, printer)
                if several:
                    rows.append(Row(name, " = ", printer.doc(path.term), inner=True))
            gradient = derivation.gradients[variable]
            if scatter_terms(gradient, printer.names):  # gathered only: as the gradient section writes it
                rows += [replace(row, shape="") for row in self.result_rows(printer, derivation.target, variable,
                                                                            gradient)]
            elif several or rule.paths[0].links:  # (the target itself has no chain to add up)
                terms = " + ".join(printer.wrap(path.term, PRODUCT if several else SUM) for path in rule.paths)
                rows.append(Row(d, " = ", terms))
            if first < len(rows):
                rows[first].opens = True
        return rows

    def _path_rows(self, path: Path, name: str, printer: Printer) -> list[Row]:
        """A path's chain of local Jacobians, then the matrix form of each."""
        labels: dict[int, str] = {}
        for link in path.links:
            for node in (link.node, link.operand):
                if id(node) not in labels:
                    labels[id(node)] = self.label(node, printer)
        steps = []
        for link in path.links:
            step = printer.derivative(labels[id(link.node)], labels[id(link.operand)])
            if link.node.args.count(link.operand) > 1:  # x ∘ x: which of the two
                step += " " + printer.prose(f"(operand {link.index + 1})")
            steps.append(step)
        rows = [Row(name, " = ", printer.chain_dot.join(steps) or printer.number(1))]
        rows += [Row(step, ": ", self.local_rule(link, printer), inner=True) for step, link in zip(steps, path.links)]
        return rows

    def local_rule(self, link: Link, printer: Printer) -> str:
        """How the step's Jacobian acts on the arriving gradient G."""
        builder = Builder(partial=self.partials)
        node = link.node
        g = Node("argument", (), node.shape, node.span, data="G")
        text = f"G{printer.maps_to}{printer.doc(_operand_share(builder, node, link.index, g))}"
        factor = adjoint_rule(node, link.index)(builder, node, builder.num(1))
        if (OPS[node.op].elementwise and node.shape == link.operand.shape and not node.shape.is_scalar
                and factor.op != "number"):
            text += (f"{printer.aside}{printer.prose('(the Jacobian ')}{printer.call('diag', [printer.doc(factor)])}"
                     f"{printer.prose(' is diagonal: multiplying by it is the elementwise product')}"
                     f"{printer.hadamard}{printer.wrap(factor, PRODUCT + 1)}{printer.prose(')')}")
        return text


def _terms(node: Node, printer: Printer) -> list[Node | Shape]:
    """The terms of the sums at the top of node, in order; A + c I's c I as its shape."""
    terms, stack = [], [node]
    while stack:
        each = stack.pop()
        if isinstance(each, Node) and id(each) not in printer.names and not each.shape.is_scalar and (
                each.op in ("add", "sub", "add_diagonal")):
            stack += [each.shape, each.args[0]] if each.op == "add_diagonal" else reversed(each.args)
        else:
            terms.append(each)
    return terms


def _factor_shapes(node: Node | Shape, printer: Printer) -> list[Shape]:
    """The shapes of node's factors as printed: a matrix product's factors,
    diag(d) B's (d's diagonal matrix, B), and, where the printer writes
    diagonals, a scaled or negated value's (c A's and -A's: A's); a shape
    stands for itself."""
    shapes: list[Shape] = []
    stack: list[Node | Shape] = [node]
    while stack:
        each = stack.pop()
        if isinstance(each, Shape) or id(each) in printer.names:
            shapes.append(each if isinstance(each, Shape) else each.shape)
            continue
        transposed = each.op == "transpose" and id(each.args[0]) not in printer.names
        scaling = printer.diagonal_scaling(each.args[0] if transposed else each)
        if each.op == "matmul":
            stack += [each.args[1], each.args[0]]
        elif scaling:
            vector, matrix = scaling
            n = vector.shape.rows if vector.shape.is_column else vector.shape.cols
            diagonal, other = Shape(n, n), (matrix.shape.T if transposed else matrix)
            # Popped last to first: diag(d) B where d is a column (transposed: a row), else B diag(d).
            stack += [other, diagonal] if vector.shape.is_column != transposed else [diagonal, other]
        elif printer.diagonals and each.op == "neg":
            stack.append(each.args[0])
        elif printer.diagonals and each.op == "mul" and any(a.shape.is_scalar for a in each.args):
            stack.append(next(a for a in each.args if not a.shape.is_scalar) if not each.shape.is_scalar
                         else each.args[0])
        else:
            shapes.append(each.shape)
    return shapes


def _lines(rows: list[Row], shapes: bool) -> list[str]:
    """Rows as lines of text, each with its shape in a column if shapes."""
    return [f"{row.formula:<40} {row.shape}" if shapes and row.shape else row.formula for row in rows]


def _heading(title: list[tuple[str, str]], style: str) -> str:
    """A section's heading in a format: unicode, ascii, latex (text mode,
    its names in $...$) or markdown."""
    if style == "latex":
        return "".join(f"${text}$" if kind == "math" else latex_text(text) for kind, text in title)
    if style == "markdown":
        return "".join(f"`{text}`" if kind == "file" else f"${text}$" if kind == "math" else text
                       for kind, text in title)
    heading = "".join(text for _, text in title)
    return in_ascii(heading) if style == "ascii" else heading


def _blocks(rows: list[Row]) -> list[list[Row]]:
    """A section's rows cut where a row opens a new environment; none for no rows."""
    blocks: list[list[Row]] = []
    for row in rows:
        if row.opens or not blocks:
            blocks.append([])
        blocks[-1].append(row)
    return blocks


def _aligned(rows: list[Row]) -> str:
    """Rows as the body of LaTeX's align* or aligned: each aligned at its
    relation, a step's detail after it, the shapes in a column of their own."""
    lines = []
    for row in rows:
        line = f"&\\quad {row.formula}" if row.inner or not row.relation else (
            f"{row.left} &{row.relation.lstrip()}{row.right}")
        lines.append(f"{line} && {row.shape}" if row.shape else line)
    return " \\\\\n".join(lines)


def _how_many(count: int) -> str:
    """A count of paths, in digits while it is short (2⁴⁰⁰ paths is no number to print)."""
    return f"{count:,}" if count < 10**9 else f"about 10^{len(str(count)) - 1}"


def derive(program: Program) -> Explanation:
    return Explanation(program)
