"""MathML, which browsers lay out without scripts or fonts from the
network: the formulas of `symgrad derive --html` (symgrad.page) and of a
derivation in Jupyter (Explanation._repr_html_), whose offline HTML
(nbconvert's, with no MathJax) draws them too.

The formulas are printed by MathMLPrinter, a notation.Printer like the
Unicode, ASCII and LaTeX ones: the base class decides what is written
(transposes pushed inside, P x + Q x as (P + Q) x, a + (-b) as a - b, ...);
this one only says how each piece is marked up. Its pieces are MathML
elements with the base class's operators left between them as bare text
(` + `, ` ∘ `, `[`, `:`); `mathml()` turns each run of bare text into `<mo>`,
`<mn>` and `<mi>` tokens once the whole formula is written.
`derivation_html()` lays out the sections and rows of symgrad.explain, the
same as the terminal's and LaTeX's, as headings and tables.
"""

from __future__ import annotations

import html
import math
import re

from .notation import ATOM, SUBSCRIPTED, Printer

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

    def subscript(self, text: str, subscript: str) -> str:
        return f"<msub><mrow>{text}</mrow><mrow>{subscript}</mrow></msub>"

    def directional(self, target: str, direction: str) -> str:
        return self.subscript(target, _element("mi", direction))

    def ratio(self, top: str, bottom: str) -> str:
        return self.fraction(top, bottom)

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
    def _print_identity(self, node, t):
        return _element("mi", "I"), ATOM  # an element: lambda I, not lambdaI

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


# The derivation's own style, inside it, so that it reads the same in a
# notebook as on the page: its class twice outweighs JupyterLab's rules
# (:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td aligns right), and
# its headings keep the page's size, below a notebook's own section headings.
DERIVATION_STYLE = """
.symgrad-derivation.symgrad-derivation h2 { font-size: 1.2em; }
.symgrad-derivation.symgrad-derivation table td, .symgrad-derivation.symgrad-derivation table th {
  text-align: left; padding: 0.25em 0.9em; vertical-align: middle; }
.symgrad-derivation.symgrad-derivation td.formula { white-space: nowrap; }
.symgrad-derivation.symgrad-derivation td.inner { white-space: nowrap; padding-left: 2.5em; }
.symgrad-derivation.symgrad-derivation td.shape { font-family: monospace; color: #555; }
.symgrad-derivation.symgrad-derivation math { font-size: 1.35em; math-style: normal; }
.symgrad-derivation.symgrad-derivation h2 math { font-size: 1em; }
"""


def table(rows: list[list[str]], header: tuple[str, ...]) -> str:
    """A table of rows of cells already marked up (<td>...</td>)."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _heading(title: list[tuple[str, str]]) -> str:
    """A section's heading: its words, its names in MathML, a file name as code."""
    marked = {"text": html.escape, "file": lambda text: f"<code>{html.escape(text)}</code>", "math": mathml}
    return "".join(marked[kind](str(text)) for kind, text in title)


def derivation_html(sections) -> str:
    """The sections of a derivation (symgrad.explain's Section: a title in
    parts, rows with a formula and a shape) written by MathMLPrinter, as
    HTML: each a heading (none for a title of no parts) and a table of its
    rows, the formula in MathML beside its shape. What the page shows, and
    what Jupyter shows for a derivation."""
    parts = [f'<div class="symgrad-derivation"><style>{DERIVATION_STYLE}</style>']
    for section in sections:
        rows = [[f'<td class="{"inner" if row.inner else "formula"}">{mathml(row.formula)}</td>',
                 f'<td class="shape">{html.escape(row.shape)}</td>'] for row in section.rows]
        parts += [f"<h2>{_heading(section.title)}</h2>"] if section.title else []
        parts.append(table(rows, ("formula", "shape")))
    return "\n".join(parts) + "</div>"
