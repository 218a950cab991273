"""`symgrad derive MODEL.sg --html FILE`: the derivation as one page to share.

One self-contained HTML file, which is also well-formed XML: the shapes of
the model's variables and definitions in a table, the derivation (forward
values, error signals, gradients) in MathML, which browsers lay out without
scripts or fonts from the network, and the computational graph
(symgrad.graph) as inline SVG (a note instead where Graphviz is missing).

The formulas are printed by MathMLPrinter, a notation.Printer like the
Unicode, ASCII and LaTeX ones: the base class decides what is written
(transposes pushed inside, P x + Q x as (P + Q) x, a + (-b) as a - b, ...);
this one only says how each piece is marked up. Its pieces are MathML
elements with the base class's operators left between them as bare text
(` + `, ` ∘ `, `[`, `:`); `mathml()` turns each run of bare text into `<mo>`,
`<mn>` and `<mi>` tokens (or one `<mtext>` for a phrase of words) once the
whole formula is written.
"""

from __future__ import annotations

import html
import math
import os
import re

from .explain import Explanation
from .graphing import GraphError, graph
from .ir import Program
from .lowering import analyze
from .notation import ATOM, POSTFIX, Printer
from .source import ModelError, Source

# The token elements of MathML: what is inside them is text, never bare.
TOKENS = {"mi", "mn", "mo", "mtext"}
UPRIGHT_T = '<mi mathvariant="normal">T</mi>'
MINUS_SIGN = "\u2212"  # −, the minus of mathematics, not the hyphen
SLASH = '<mo lspace="0" rspace="0">/</mo>'  # ∂s/∂W as the terminal writes it, not ∂s / ∂W


def _element(tag: str, text: str) -> str:
    return f"<{tag}>{html.escape(text, quote=False)}</{tag}>"


class MathMLPrinter(Printer):
    """Presentation MathML (the elements inside <math>), for web pages."""

    transpose_mark = UPRIGHT_T
    pi = "<mi>π</mi>"
    inverse_mark = f"<mrow><mo>{MINUS_SIGN}</mo><mn>1</mn></mrow>"

    def __init__(self, names: dict[int, tuple[str, bool]] | None = None,
                 arities: dict[str, int] | None = None, matrix_terms: bool = False):
        # Names come as the model spells them (W_1, δ_2): marked up here once,
        # since the base class writes a named value's name as it is given.
        marked = {key: (self.symbol(name), flipped) for key, (name, flipped) in (names or {}).items()}
        super().__init__(marked, arities, matrix_terms)

    # ---------------------------------------------------- the hooks
    def group(self, text: str) -> str:
        return f"<mrow><mo>(</mo>{text}<mo>)</mo></mrow>"

    def postfix(self, text: str, mark: str) -> str:
        return f"<msup><mrow>{text}</mrow>{mark}</msup>"

    def power_mark(self, k: int) -> str:
        return _element("mn", str(k))

    def inverse_transpose_mark(self) -> str:
        return f"<mrow><mo>{MINUS_SIGN}</mo>{UPRIGHT_T}</mrow>"

    def number(self, value: float) -> str:
        if value < 0:  # a bare sign, which the base class reads: a + (-2) is written a - 2
            return "-" + self.number(-value)
        return self.pi if value == math.pi else _element("mn", f"{value:g}")

    def call(self, name: str, args: list[str]) -> str:
        name = self.call_names.get(name, name)
        shown = _element("mi", self.function_names[name]) if name in self.function_names else self.function_symbol(name)
        return f"<mrow>{shown}<mo>(</mo>{'<mo>,</mo>'.join(args)}<mo>)</mo></mrow>"

    def function_symbol(self, name: str) -> str:
        """A function's name; a derivative's f' as f and a prime."""
        base = name.rstrip("'")
        if base == name:
            return _element("mi", name)
        return f'<mrow>{_element("mi", base)}<mo lspace="0" rspace="0">{"′" * (len(name) - len(base))}</mo></mrow>'

    def symbol(self, name: str) -> str:
        """A name: W_1 and W1 with the subscript 1, x_hat with hat, f(t) as a call."""
        value_of = re.fullmatch(r"(.+?)\((.*)\)", name)
        if value_of:  # a derivative's parameter that stands for the function's value
            return self.call(value_of[1], [self.symbol(a.strip()) for a in value_of[2].split(",")])
        parts = re.fullmatch(r"([^\W\d_]+)_?(\d+)", name) or re.fullmatch(r"(.+?)_(.+)", name)
        if parts:
            subscript = _element("mn" if parts[2].isdigit() else "mi", parts[2])
            return f"<msub>{_element('mi', parts[1])}{subscript}</msub>"
        return _element("mi", name)

    def ones(self) -> str:
        return "<mn>𝟏</mn>"

    def indicator(self, condition: str) -> str:
        return f"<mrow><mo>[</mo>{condition}<mo>]</mo></mrow>"

    def stack(self, rows: list[list[str]]) -> str:
        table = "".join("<mtr>" + "".join(f"<mtd>{block}</mtd>" for block in row) + "</mtr>" for row in rows)
        return f"<mrow><mo>[</mo><mtable>{table}</mtable><mo>]</mo></mrow>"

    # ------------------------------------- the operations written otherwise
    def _print_div(self, node, t):
        a, b = node.args
        return f"<mfrac><mrow>{self.doc(a, t)}</mrow><mrow>{self.doc(b, t)}</mrow></mfrac>", ATOM

    def _print_pow(self, node, t):
        """base^exponent as a script: an integer as a number, any other exponent as its formula."""
        base, exponent = node.args
        integer = exponent.op == "number" and float(exponent.data).is_integer()
        mark = self.power_mark(int(exponent.data)) if integer else f"<mrow>{self.doc(exponent)}</mrow>"
        return self.postfix(self.wrap(base, ATOM, t), mark), POSTFIX


def _bare(text: str) -> str:
    """A run of bare text between elements as MathML tokens: a phrase of
    words (the notes' "scattered back into ...") as one <mtext>, else each
    number an <mn>, each name an <mi> (dimensions: 2 h, m - 1) and each
    other sign an <mo>."""
    if len(re.findall(r"[^\W\d_]{2,}", text)) >= 2:
        return _element("mtext", text.replace(" ", "\u00a0"))
    tokens = []
    for token in re.findall(r"\d+(?:\.\d+)?|[^\W\d_]\w*|\S", text):
        if token[0].isdigit():
            tokens.append(_element("mn", token))
        elif token[0].isalpha():
            tokens.append(_element("mi", token))
        else:
            tokens.append(SLASH if token == "/" else _element("mo", MINUS_SIGN if token == "-" else token))
    return "".join(tokens)


def mathml(fragment: str) -> str:
    """A formula the printer wrote, as a <math> element: bare text tokenized."""
    parts, inside = [], 0
    for part in re.split(r"(<[^>]*>)", fragment):
        if part.startswith("<"):
            closing, tag = re.match(r"<(/?)(\w+)", part).groups()
            if tag in TOKENS:
                inside += -1 if closing else 1
            parts.append(part)
        elif part:
            parts.append(part if inside else _bare(part))
    return f'<math><mrow>{"".join(parts)}</mrow></math>'


# ------------------------------------------------------------- the page

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; } td, th { padding: 0.25em 0.9em; text-align: left; vertical-align: middle; }
th { border-bottom: 1px solid #999; } td.shape, td.kind { font-family: monospace; color: #555; }
math { font-size: 1.25em; math-style: normal; }
.graph svg { max-width: 100%; height: auto; } .note { color: #a33; }
"""


def shape_rows(program: Program) -> list[tuple[str, str, str]]:
    """(kind, name, shape) of every dimension, variable, function and definition."""
    rows = [("dim", ", ".join(program.dims), "")] if program.dims else []
    rows += [(v.kind, v.name, v.type_text + (f" = {v.value:g}" if v.value is not None else ""))
             for v in program.variables.values()]
    rows += [("fn", f"{f.name}({', '.join(f.params)})", " × ".join("R" for _ in f.params) + " → R")
             for f in program.functions.values()]
    rows += [("def", name, str(node.shape)) for name, node in program.definitions.items()]
    rows += [("grad", f"{r.target} wrt {', '.join(v.name for v in r.wrt)}", "") for r in program.grads]
    return rows


def _table(rows: list[list[str]], header: tuple[str, ...]) -> str:
    """A table of rows of cells already marked up (<td>...</td>)."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _formula_rows(lines: list[tuple[str, str]]) -> list[list[str]]:
    """(formula, shape) pairs as table cells: the formula in MathML."""
    return [[f"<td>{mathml(formula)}</td>", f'<td class="shape">{html.escape(shape)}</td>'] for formula, shape in lines]


def derivation_sections(explanation: Explanation) -> list[tuple[str, list[tuple[str, str]]]]:
    """(title, [(formula, shape)]) of the derivation: the forward values,
    then for each target its error signals and its gradients, as `symgrad
    derive` writes them, in MathML."""
    sections = [("Forward", [(f"{MathMLPrinter().symbol(name)} = {explanation.formula(node, MathMLPrinter)}",
                              node.shape.brackets) for name, node in explanation.forward_values])]
    for target, views in explanation.targets.items():
        plain = explanation.printer("unicode", target)
        printer = MathMLPrinter(plain.names, plain.arities, plain.matrix_terms)
        signals = []
        for node, gradient, _, is_row in explanation.signals[target]:
            name = printer.names.pop(id(gradient))  # the signal's formula, not its name
            body = printer.doc(gradient, transposed=is_row)
            printer.names[id(gradient)] = name
            d = explanation.d_written(printer, printer.symbol(target), explanation.label(node, printer))
            signals.append((f"{name[0]} = {d} = {body}", (gradient.shape.T if is_row else gradient.shape).brackets))
        if signals:
            sections.append((f"Error signals of {target}", signals))
        gradients = []
        for view in views.values():
            lines = explanation.result_lines(printer, target, view.variable, view.node, False)
            shapes = [""] * (len(lines) - 1) + [explanation.shape_equation(view.node, printer)]
            gradients += zip(lines, shapes)
        sections.append((f"Gradients of {target}", gradients))
    return sections


def graph_section(source: Source) -> str:
    """The computational graph as inline SVG, or a note saying why not."""
    try:
        svg = graph(source).render("svg").decode("utf-8")
    except (GraphError, ModelError) as error:
        return f'<p class="note">No graph: {html.escape(str(error).splitlines()[0])}</p>'
    return '<div class="graph">' + svg[svg.index("<svg"):] + "</div>"  # without the XML prolog and DOCTYPE


def page(source: Source) -> str:
    """The page of a model: its shapes, its derivation and its graph."""
    program = analyze(source, allow_undefined_functions=True)
    title = html.escape(os.path.basename(source.filename))
    parts = [f"<h1>{title}: shapes, derivation and graph</h1>", "<h2>Shapes</h2>",
             _table([[f'<td class="kind">{html.escape(kind)}</td>', f"<td>{html.escape(name)}</td>",
                      f'<td class="shape">{html.escape(shape)}</td>'] for kind, name, shape in shape_rows(program)],
                    ("", "name", "type or shape"))]
    for title_of_section, lines in derivation_sections(Explanation(program)):
        parts += [f"<h2>{html.escape(title_of_section)}</h2>", _table(_formula_rows(lines), ("formula", "shape"))]
    parts += ["<h2>Computational graph</h2>", graph_section(source)]
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"/>'
            f"<title>symgrad: {title}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body>\n</html>\n")
