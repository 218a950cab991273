"""`symgrad graph` and symgrad.graph: the computational graph of a model,
as the lecture notes draw it.

    g = symgrad.graph("examples/max_branch.sg", at=0)   # or inputs={"x": 1.0, ...}
    g.save("graph.svg")                                  # .png, .pdf; .dot needs no Graphviz
    g                                                    # in Jupyter: the picture

One node per gate (an operation of the model: +, ∘, max, σ, a user function,
...), a leaf per variable and number, and one wire per operand, labelled with
its shape (and with the model's name of the value, where the model names
it). With values, each wire shows the forward value it carries (above, in
black) and the gradient that flows back along it (below, in red): the share
∂target/∂operand that its gate's adjoint rule sends that way (symgrad.ops),
which is what the derivation sums at a branch ("gradients sum at outward
branches"); a node with several outgoing wires shows that sum. Big models
are drawn with a box (cluster) per definition.

The values are not computed here: the gradient of every wire is a node of
the derivation's graph (symgrad.differentiation, asked for every argument,
not only `wrt`), and every node is evaluated by a NumPy module that the
NumPy target's writer writes (codegen.numpy), the same printer rules as the
compiled model. Random inputs are drawn as `symgrad check` draws them, by
the checker's check_inputs (symgrad.check_runtime), from the model's
_CHECK_SPEC and _check_probe that the module carries.

Drawing needs Graphviz: the `graphviz` Python package (`pip install
'symgrad[graph]'`) and the system's `dot` program.
"""

from __future__ import annotations

import dataclasses
import html
import os
from collections import Counter
from types import ModuleType

from .codegen.numpy.writer import NumpyWriter
from .codegen.schedule import FunctionWriter, Namer, render
from .differentiation import adjoint_rule, differentiate_program
from .ir import GradRequest, JacobianRequest, Node, Program, postorder
from .ops import OPS
from .source import Source

FORMATS = ("svg", "png", "pdf", "dot")
# Above this many gates, each definition is drawn in a box of its own.
GROUP_ABOVE = 12
# Arrays of at most this many entries are shown in full.
FULL_UP_TO = 6
VALUE_COLOR, GRADIENT_COLOR, SHAPE_COLOR = "black", "red3", "gray35"
# A gate whose operation's symbol is no gate label (the matrix product is
# written by juxtaposing, "A B").
GATE_SYMBOLS = {"matmul": "×"}

MISSING_DOT = ("drawing the graph needs Graphviz's `dot` program, which is not on the PATH: install "
               "Graphviz (Debian or Ubuntu: `apt-get install graphviz`; macOS: `brew install graphviz`; "
               "others: https://graphviz.org/download/), or write the DOT source, which needs no Graphviz "
               "(a .dot output)")
MISSING_PACKAGE = ("drawing the graph needs the graphviz Python package: pip install 'symgrad[graph]' "
                   "(or pip install graphviz)")


class GraphError(ValueError):
    """A graph that cannot be drawn as asked: an unknown output format or
    grad statement, or Graphviz missing (the message says what to install)."""


class GraphvizMissing(GraphError):
    """Graphviz's `dot` program (or its Python package) is not installed."""


def graphviz_module():
    try:
        import graphviz
    except ImportError:
        raise GraphvizMissing(MISSING_PACKAGE) from None
    return graphviz


# ------------------------------------------------------------- the result

class Graph:
    """A drawn computational graph: `.source` is its DOT text, `.save(path)`
    writes it as SVG, PNG, PDF or DOT, `.render(format)` gives the bytes;
    in Jupyter it shows as SVG."""

    def __init__(self, source: str, title: str):
        self.source = source
        self.title = title

    def __repr__(self) -> str:
        return f"<symgrad graph of {self.title}: {self.source.count(' -> ')} wires>"

    def render(self, format: str = "svg") -> bytes:
        """The graph drawn by Graphviz's `dot` in `format` (svg, png, pdf;
        dot: the source itself, no Graphviz needed)."""
        if format not in FORMATS:
            raise GraphError(f"unknown graph format '{format}': the formats are {', '.join(FORMATS)}")
        if format == "dot":
            return self.source.encode("utf-8")
        graphviz = graphviz_module()
        try:
            return graphviz.Source(self.source).pipe(format=format)
        except graphviz.ExecutableNotFound:
            raise GraphvizMissing(MISSING_DOT) from None

    def save(self, path: str | os.PathLike, format: str | None = None) -> str:
        """Write the graph to path, in `format` or else the one its suffix
        names; returns the format written."""
        format = format or format_of(path)
        data = self.render(format)
        with open(path, "wb") as stream:
            stream.write(data)
        return format

    def _repr_mimebundle_(self, include=None, exclude=None):
        try:
            return {"image/svg+xml": self.render("svg").decode("utf-8")}
        except GraphvizMissing as error:  # in a notebook: say what to install, no traceback
            return {"text/plain": f"{self!r}: {error}"}

    def _repr_svg_(self) -> str | None:
        return self._repr_mimebundle_().get("image/svg+xml")


def format_of(path) -> str:
    """The format a file name's suffix names (.gv is DOT too)."""
    suffix = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    suffix = "dot" if suffix == "gv" else suffix
    if suffix not in FORMATS:
        raise GraphError(f"cannot tell the format from '{os.fspath(path)}': name it .svg, .png, .pdf or .dot, "
                         "or give --format")
    return suffix


# ------------------------------------------------------------- the values

class ValuesWriter(NumpyWriter):
    """A NumPy module with one function, `_graph_values(arguments)`, that
    returns the value of each node of `wanted`, in order: the steps the
    NumPy target writes, every product computed on its own (none absorbed
    into a longer chain) and no buffer reused, so that every value is there.
    Compiled with the check, the module also carries what the checker
    needs to draw the random inputs (_CHECK_SPEC, _check_probe)."""

    def __init__(self, program: Program, derivations, wanted: list[Node]):
        super().__init__(program, derivations)
        self.wanted = wanted

    def request_code(self, derivation, index: int) -> str:
        return ""  # no grad functions: _graph_values computes every value wanted

    def sparse_class(self) -> list[str]:
        # The last section the NumPy writer writes before the helpers its code
        # uses: _graph_values goes there, also where there is no grad statement.
        return [self.values_function()]

    def values_function(self) -> str:
        namer = Namer(self.taken() | {name for pair in self.given.values() for name in pair})
        leaves = {id(v.node): self.spelled[v.name] for v in self.program.variables.values()}
        writer = FunctionWriter(self, namer, leaves)
        math_names = self.math_names()
        for node in postorder(self.wanted):
            own = node.name in self.program.definitions and self.program.definitions[node.name] is node
            writer.emit(node, self.spelled[node.name] if own else "t", math_names, own)
        returned = ", ".join(writer.value(node) for node in self.wanted)
        body = render(self.prologue(set()), writer.lines, returned, self.printer, False)
        arguments = ", ".join(self.spelled[v.name] for v in self.program.arguments)
        return f"def _graph_values({arguments}):\n" + "\n".join(body) + f"\n    return ({returned},)"


def values_module(program: Program, derivations, wanted: list[Node]) -> ModuleType:
    module = ModuleType("symgrad_graph_values")
    code = ValuesWriter(program, derivations, wanted).write(with_check=True)
    exec(compile(code, f"<symgrad graph {program.source.filename}>", "exec"), module.__dict__)
    return module


def arguments_at(module: ModuleType, seed: int, inputs: dict | None, dims: dict | None) -> list:
    """The model's arguments, in order: the arrays given, the others drawn
    as `symgrad check` draws its first inputs at `seed` (check_inputs; kept
    even where a function with a restricted domain is outside it at every
    draw: the graph shows the nan)."""
    from .check_runtime import CheckInputError as CheckerInputError, check_inputs  # NumPy, only when drawing
    from .checking import CheckInputError
    try:
        return check_inputs(module._CHECK_SPEC, module._check_probe, dims, seed, inputs, strict=False)["arguments"]
    except CheckerInputError as error:
        raise CheckInputError(str(error)) from None


def shown(value) -> str:
    """A value as a wire shows it: a number, a small array in full (rows
    apart by `;`, as a block is written), with 4 significant digits; a
    larger one as its shape and norm. Ids are integers: in full, or their
    count and range."""
    import numpy
    array = numpy.asarray(value)
    ids = array.dtype.kind in "iu"
    array = array if ids else array.astype(float)
    if array.size == 1:
        return number(array.item())
    if array.size > FULL_UP_TO:
        return (f"{array.size} ids in {array.min()}..{array.max()}" if ids else
                f"{'×'.join(map(str, array.shape))}, ‖·‖ = {number(float(numpy.linalg.norm(array)))}")
    rows = array.reshape(array.shape[0], -1)
    return "[" + "; ".join(", ".join(number(x.item()) for x in row) for row in rows) + "]"


def number(x: float | int) -> str:
    """A float with 4 significant digits (no -0); an id as it is."""
    if isinstance(x, int):
        return str(x)
    text = f"{x:.4g}"
    return "0" if text == "-0" else text


# ------------------------------------------------------------- the drawing

@dataclasses.dataclass
class Wire:
    """An operand going into its gate (gate None: the output); `share`: the
    gradient that flows back along it, where one does."""

    source: Node
    gate: Node | None
    share: Node | None


class Drawing:
    """The computational graph of one grad statement, with values where
    inputs are given; of a `jacobian` statement, its forward graph (the
    values, no gradients: a vector has none)."""

    def __init__(self, program: Program, statement: str | None = None, group: bool | None = None):
        # The second derivatives are derive's, not the graph's: the values module is written without them.
        self.program = dataclasses.replace(program, hessians=[], jacobians=[])
        self.request = self.chosen(program, statement)
        self.nodes = postorder([self.request.node])
        self.derivation = self.derivation_of_every_wire()
        self.gradients: dict[int, Node] = {}   # node id -> ∂target/∂node, the sum over its wires
        if self.derivation:
            self.gradients = {id(node): gradient for node, gradient in self.derivation.signals}
            self.gradients.update({id(self.program.variables[name].node): gradient
                                   for name, gradient in self.derivation.gradients.items()})
        self.wires = self.layout()
        self.outgoing = Counter(id(wire.source) for wire in self.wires)
        gates = [node for node in self.nodes if node.args]
        self.group = len(gates) > GROUP_ABOVE if group is None else group
        self.values: dict[int, object] | None = None

    # -------------------------------------------------------- layout
    @staticmethod
    def chosen(program: Program, statement: str | None) -> GradRequest | JacobianRequest:
        """The grad statement of target `statement` (default: the first), or
        the jacobian statement where no grad statement has that target (a
        hessian statement has its grad statement: lowering adds it)."""
        requests = program.grads + program.jacobians   # a model has one at least (lowering says so)
        if statement is None:
            return requests[0]
        for request in requests:
            if request.target == statement:
                return request
        kinds = "grad or jacobian" if program.jacobians else "grad"
        raise GraphError(f"the model has no {kinds} statement of '{statement}' "
                         f"(its statements: {', '.join(r.target for r in requests) or 'none'})")

    def layout(self) -> list[Wire]:
        """Every wire: one per operand of every gate, and the output's."""
        wires = [Wire(operand, node, self.share(node, index))
                 for node in self.nodes for index, operand in enumerate(node.args)]
        return wires + [Wire(self.request.node, None, self.gradients.get(id(self.request.node)))]

    def derivation_of_every_wire(self):
        """The target differentiated with respect to every argument it
        depends on, not only `wrt`, so that every wire gets its gradient."""
        used = {id(node) for node in self.nodes}
        wrt = tuple(v for v in self.program.arguments if id(v.node) in used and v.ids is None)
        if not wrt or not isinstance(self.request, GradRequest):
            return None
        request = dataclasses.replace(self.request, wrt=wrt)
        return differentiate_program(dataclasses.replace(self.program, grads=[request]))[0]

    def share(self, gate: Node, index: int) -> Node | None:
        """The gradient gate's adjoint rule sends operand `index`, summed
        down to its shape, as the derivation built it (its builder gives
        back the same nodes)."""
        operand = gate.args[index]
        rule = adjoint_rule(gate, index)
        if id(operand) not in self.gradients or id(gate) not in self.gradients or rule is None:
            return None
        builder = self.derivation.builder
        builder.span = gate.span
        return builder.sum_to(rule(builder, gate, self.gradients[id(gate)]), operand.shape)

    def owners(self) -> dict[int, str]:
        """The definition each gate is drawn in: the first, in the model's
        order, that reaches it before another definition's value."""
        definitions = {id(node) for node in self.program.definitions.values() if node.args}
        owner: dict[int, str] = {}
        for name, node in self.program.definitions.items():
            stop = definitions - {id(node)}
            for inner in postorder([node], stop=stop):
                if inner.args and id(inner) not in stop:
                    owner.setdefault(id(inner), name)
        return owner

    # -------------------------------------------------------- values
    def evaluate(self, seed: int = 0, inputs: dict | None = None, dims: dict | None = None):
        """Every node's value and every wire's gradient, at `inputs` (arrays by
        argument name) and the rest drawn at `seed`."""
        derivations = [self.derivation] if self.derivation else []
        wanted = list({id(n): n for n in self.nodes + [w.share for w in self.wires if w.share is not None]
                       + list(self.gradients.values())}.values())
        module = values_module(self.program, derivations, wanted)
        import numpy
        with numpy.errstate(all="ignore"):  # a log of a negative given input is shown as nan, not warned about
            results = vars(module)["_graph_values"](*arguments_at(module, seed, inputs, dims))
        self.values = {id(node): value for node, value in zip(wanted, results)}

    # -------------------------------------------------------- labels
    def gate_label(self, node: Node) -> str:
        """The gate's symbol, a leaf's name or number; at a branch with
        values, the sum of the gradients that come back along its wires."""
        if node.op in ("variable", "dimension", "apply"):   # its name
            text = str(node.data)
        elif node.op == "number":
            text = number(node.data)
        elif node.op == "mul" and node.shape.is_scalar:
            text = "×"
        else:
            text = GATE_SYMBOLS.get(node.op) or OPS[node.op].symbol or node.op
        rows = [cell(text)]
        if self.values is not None and self.outgoing[id(node)] > 1 and id(node) in self.gradients:
            rows.append(cell("Σ " + shown(self.values[id(self.gradients[id(node)])]), GRADIENT_COLOR))
        return table(rows)

    def wire_label(self, wire: Wire) -> str:
        """Its value above (black), the name and shape of what it carries,
        its gradient below (red)."""
        source = wire.source
        named = source.name if source.name in self.program.definitions else None
        variable = self.program.variables.get(source.data) if source.op == "variable" else None
        shape = variable.type_text if variable else str(source.shape)  # ids: {0..V - 1}^5
        rows = [cell(f"{named} : {shape}" if named else shape, SHAPE_COLOR, small=True)]
        if self.values is not None:
            rows.insert(0, cell(shown(self.values[id(source)]), VALUE_COLOR))
            if wire.share is not None:
                rows.append(cell(shown(self.values[id(wire.share)]), GRADIENT_COLOR))
        return table(rows)

    # -------------------------------------------------------- output
    def dot(self, title: str) -> str:
        graphviz = graphviz_module()
        digraph = graphviz.Digraph(title, graph_attr={"rankdir": "LR", "label": title, "labelloc": "t",
                                                      "fontname": "Helvetica", "nodesep": "0.4"},
                                   node_attr={"fontname": "Helvetica"}, edge_attr={"fontname": "Helvetica"})
        ids = self.node_ids()
        owners = self.owners() if self.group else {}
        clusters: dict[str, list[Node]] = {}
        for node in self.nodes:
            if id(node) in owners:
                clusters.setdefault(owners[id(node)], []).append(node)
            else:
                self.dot_node(digraph, ids[id(node)], node)
        for name, nodes in clusters.items():
            with digraph.subgraph(name=f"cluster_{name}") as box:
                box.attr(label=name, style="rounded", color="gray60")
                for node in nodes:
                    self.dot_node(box, ids[id(node)], node)
        for index, wire in enumerate(self.wires):
            if wire.gate is None:
                out = f"out{index}"
                digraph.node(out, label=wire.source.name or "output", shape="plaintext")
                digraph.edge(ids[id(wire.source)], out, label=self.wire_label(wire))
            else:
                digraph.edge(ids[id(wire.source)], ids[id(wire.gate)], label=self.wire_label(wire))
        return digraph.source

    def dot_node(self, digraph, name: str, node: Node):
        shape = "circle" if node.args else "plaintext"
        digraph.node(name, label=self.gate_label(node), shape=shape, margin="0.02")

    def node_ids(self) -> dict[int, str]:
        """DOT names: a variable's name (v_x), a number's place (c1), a gate's (g1)."""
        ids, counts = {}, {"c": 0, "g": 0}
        for node in self.nodes:
            if node.op == "variable":
                ids[id(node)] = f"v_{node.data}"
                continue
            kind = "g" if node.args else "c"
            counts[kind] += 1
            ids[id(node)] = f"{kind}{counts[kind]}"
        return ids


def cell(text: str, color: str | None = None, small: bool = False) -> str:
    text = html.escape(text)
    if color or small:
        size = ' POINT-SIZE="9"' if small else ""
        text = f'<FONT COLOR="{color or VALUE_COLOR}"{size}>{text}</FONT>'
    return f"<TR><TD>{text}</TD></TR>"


def table(rows: list[str]) -> str:
    """An HTML-like Graphviz label: the rows one above the other."""
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def graph(source: Source, at: int | None = None, inputs=None, dims: dict | None = None,
          statement: str | None = None, group: bool | None = None) -> Graph:
    """The computational graph of a model; with `at` (a seed), `inputs`
    (arrays by argument name, or a .npz path; the others drawn at seed `at`
    or 0) or `dims` (the sizes of the dimensions), with every wire's value
    and gradient. `statement`: the grad statement's target (default: the
    first); `group`: a box per definition (default: for more than
    GROUP_ABOVE gates)."""
    from .checking import read_inputs
    from .lowering import analyze
    drawing = Drawing(analyze(source), statement, group)
    if at is not None or inputs is not None or dims:
        drawing.evaluate(at or 0, read_inputs(inputs), dims)
    title = os.path.basename(source.filename)
    return Graph(drawing.dot(title), title)
