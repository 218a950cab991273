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
`<mn>` and `<mi>` tokens once the whole formula is written. The sections and
rows are symgrad.explain's, the same as the terminal's and LaTeX's.
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
from .notation import ATOM, SUBSCRIPTED, Printer
from .source import ModelError, Source

# The token elements of MathML: what is inside them is text, never bare.
TOKENS = {"mi", "mn", "mo", "mtext"}
UPRIGHT_T = '<mi mathvariant="normal">T</mi>'
MINUS_SIGN = "\u2212"  # −, the minus of mathematics, not the hyphen
THIN_SPACE = '<mspace width="0.2em"/>'
STRAIGHT = ' stretchy="false"'


def _element(tag: str, text: str) -> str:
    return f"<{tag}>{html.escape(text, quote=False)}</{tag}>"


def _fence(char: str, tall: bool = False) -> str:
    """A bracket, tight against what it encloses and of the text's height
    unless it encloses a fraction or a table: browsers draw a stretchy one
    from the math font's wider variants, f ( t )."""
    return f'<mo lspace="0" rspace="0"{"" if tall else STRAIGHT}>{char}</mo>'


def _fenced(opening: str, text: str, closing: str) -> str:
    tall = "<mfrac>" in text or "<mtable>" in text
    return f"<mrow>{_fence(opening, tall)}{text}{_fence(closing, tall)}</mrow>"


class MathMLPrinter(Printer):
    """Presentation MathML (the elements inside <math>), for web pages."""

    transpose_mark = UPRIGHT_T
    pi = "<mi>π</mi>"
    inverse_mark = f"<mrow><mo>{MINUS_SIGN}</mo><mn>1</mn></mrow>"
    aside = '<mspace width="2em"/>'
    times = " · "
    matrix_times = " "

    # ---------------------------------------------------- the hooks
    def group(self, text: str) -> str:
        return _fenced("(", text, ")")

    def postfix(self, text: str, mark: str) -> str:
        return f"<msup><mrow>{text}</mrow>{mark}</msup>"

    def power(self, base: str, exponent: str) -> str:
        return self.postfix(base, f"<mrow>{exponent}</mrow>")

    def power_mark(self, k: int) -> str:
        return _element("mn", str(k))

    def inverse_transpose_mark(self) -> str:
        return f"<mrow><mo>{MINUS_SIGN}</mo>{UPRIGHT_T}</mrow>"

    def number(self, value: float) -> str:
        if value < 0:  # a bare sign, which the base class reads: a + (-2) is written a - 2
            return "-" + self.number(-value)
        return self.pi if value == math.pi else _element("mn", f"{value:g}")

    def written_number(self, text: str) -> str:
        return _element("mn", text)

    def call(self, name: str, args: list[str]) -> str:
        name = self.call_names.get(name, name)
        shown = _element("mi", self.function_names[name]) if name in self.function_names else self.function_symbol(name)
        return f"<mrow>{shown}{_fenced('(', '<mo>,</mo>'.join(args), ')')}</mrow>"

    def function_symbol(self, name: str) -> str:
        """A function's name; a derivative's f' as f and a prime."""
        base = name.rstrip("'")
        if base == name:
            return _element("mi", name)
        return f'<mrow>{_element("mi", base)}<mo lspace="0" rspace="0">{"′" * (len(name) - len(base))}</mo></mrow>'

    def symbol(self, name: str) -> str:
        """A name as the LaTeX printer sets it: W1 and W_1 with the subscript
        1, N_all with the subscript all; f(t) (a derivative's parameter that
        stands for the function's value) as a call."""
        value_of = re.fullmatch(r"(.+?)\((.*)\)", name)
        if value_of:
            return self.call(value_of[1], [self.symbol(a.strip()) for a in value_of[2].split(",")])
        found = SUBSCRIPTED.fullmatch(name)
        if found is None:
            return _element("mi", name)
        base, digits, words = found.groups()
        subscript = "<mo>,</mo>".join(_element("mn" if part.isdigit() else "mi", part)
                                      for part in (digits or words).split("_"))
        return f"<msub>{_element('mi', base)}<mrow>{subscript}</mrow></msub>"

    def signal(self, subscript: str) -> str:
        if not subscript:
            return _element("mi", self.delta)
        return f"<msub>{_element('mi', self.delta)}<mrow>{self.symbol(subscript)}</mrow></msub>"

    def derivative(self, target: str, of: str) -> str:
        return f"<mfrac><mrow><mo>∂</mo>{target}</mrow><mrow><mo>∂</mo>{of}</mrow></mfrac>"

    def prose(self, text: str) -> str:
        return _element("mtext", text.replace(" ", "\u00a0"))  # spaces kept at its ends

    def written_quotient(self, a: str, b: str, tight: bool) -> tuple[str, int]:
        return self.fraction(a, b), ATOM

    def fraction(self, a: str, b: str) -> str:
        return f"<mfrac><mrow>{a}</mrow><mrow>{b}</mrow></mfrac>"

    def ones(self) -> str:
        return "<mn>𝟏</mn>"

    def indicator(self, condition: str) -> str:
        return _fenced("[", condition, "]")

    def stack(self, rows: list[list[str]]) -> str:
        table = "".join("<mtr>" + "".join(f"<mtd>{block}</mtd>" for block in row) + "</mtr>" for row in rows)
        return _fenced("[", f"<mtable>{table}</mtable>", "]")

    # ------------------------------------- the operations written otherwise
    def _print_div(self, node, t):
        a, b = node.args
        return self.fraction(self.doc(a, t), self.doc(b, t)), ATOM


def _bare(text: str) -> str:
    """A run of bare text between elements as MathML tokens: each number an
    <mn>, each name an <mi> (a block's bounds: 2 h, m - 1), each other
    sign an <mo>; blanks only part them, but a blank alone is the space of
    a product (W x), kept so that W xc does not read Wxc."""
    if text.isspace():
        return THIN_SPACE
    tokens = []
    for token in re.findall(r"\d+(?:\.\d+)?|[^\W\d_]\w*|\S", text):
        if token[0].isdigit():
            tokens.append(_element("mn", token))
        elif token[0].isalpha():
            tokens.append(_element("mi", token))
        elif token in "()[]‖":
            tokens.append(_fence(token))
        else:
            tokens.append(_element("mo", MINUS_SIGN if token == "-" else token))
    return "".join(tokens)


def mathml(fragment: str) -> str:
    """A formula the printer wrote, as a <math> element: bare text tokenized."""
    parts, inside = [], 0
    for part in re.split(r"(<[^>]*>)", fragment):
        if part.startswith("<"):
            closing, tag = re.match(r"<(/?)(\w+)", part).groups()
            if tag in TOKENS and not part.endswith("/>"):
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
.graph svg { max-width: 100%; height: auto; } .note { color: #a33; }
"""
# The derivation's own style, inside it, so that it reads the same in a
# notebook as on the page: its class twice outweighs JupyterLab's rules
# (:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td aligns right).
DERIVATION_STYLE = """
.symgrad-derivation.symgrad-derivation table td, .symgrad-derivation.symgrad-derivation table th {
  text-align: left; padding: 0.25em 0.9em; vertical-align: middle; }
.symgrad-derivation.symgrad-derivation td.formula { white-space: nowrap; }
.symgrad-derivation.symgrad-derivation td.inner { white-space: nowrap; padding-left: 2.5em; }
.symgrad-derivation.symgrad-derivation td.shape { font-family: monospace; color: #555; }
.symgrad-derivation.symgrad-derivation math { font-size: 1.35em; math-style: normal; }
.symgrad-derivation.symgrad-derivation h2 math { font-size: 1em; }
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


def _heading(title: list[tuple[str, str]]) -> str:
    """A section's heading: its words, its names in MathML, a file name as code."""
    marked = {"text": html.escape, "file": lambda text: f"<code>{html.escape(text)}</code>", "math": mathml}
    return "".join(marked[kind](str(text)) for kind, text in title)


def derivation_html(explanation: Explanation, steps: bool = False) -> str:
    """The derivation as HTML, each section (forward values, functions,
    error signals, gradients; steps: the chain rule) a heading and a table
    of its rows, the formula in MathML beside its shape: what the page
    shows, and what a notebook shows with IPython.display.HTML."""
    parts = [f'<div class="symgrad-derivation"><style>{DERIVATION_STYLE}</style>']
    for section in explanation.sections(MathMLPrinter, steps):
        rows = [[f'<td class="{"inner" if row.inner else "formula"}">{mathml(row.formula)}</td>',
                 f'<td class="shape">{html.escape(row.shape)}</td>'] for row in section.rows]
        parts += [f"<h2>{_heading(section.title)}</h2>", _table(rows, ("formula", "shape"))]
    return "\n".join(parts) + "</div>"


def graph_section(source: Source) -> str:
    """The computational graph as inline SVG, or a note saying why not."""
    try:
        svg = graph(source).render("svg").decode("utf-8")
    except (GraphError, ModelError) as error:
        return f'<p class="note">No graph: {html.escape(str(error).splitlines()[0])}</p>'
    return '<div class="graph">' + svg[svg.index("<svg"):] + "</div>"  # without the XML prolog and DOCTYPE


def page(source: Source, steps: bool = False) -> str:
    """The page of a model: its shapes, its derivation (steps: with the
    chain rule written out) and its graph."""
    program = analyze(source, allow_undefined_functions=True)
    title = html.escape(os.path.basename(source.filename))
    shapes = [[f'<td class="kind">{html.escape(kind)}</td>', f"<td>{html.escape(name)}</td>",
               f'<td class="shape">{html.escape(shape)}</td>'] for kind, name, shape in shape_rows(program)]
    parts = [f"<h1>{title}: shapes, derivation and graph</h1>", "<h2>Shapes</h2>",
             _table(shapes, ("", "name", "type or shape")), derivation_html(Explanation(program), steps),
             "<h2>Computational graph</h2>", graph_section(source)]
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"/>'
            f"<title>symgrad: {title}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body>\n</html>\n")
