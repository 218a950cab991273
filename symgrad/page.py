"""`symgrad derive MODEL.sg --html FILE`: the derivation as one page to share.

One self-contained HTML file, which is also well-formed XML: the shapes of
the model's variables and definitions in a table, the derivation (forward
values, error signals, gradients) in MathML, which browsers lay out without
scripts or fonts from the network, and the computational graph
(symgrad.graph) as inline SVG (a note instead where Graphviz is missing).
The derivation is symgrad.mathml's, as Jupyter shows it; its sections and
rows are symgrad.explain's, the same as the terminal's and LaTeX's.
"""

from __future__ import annotations

import html
import os

from .explain import Explanation
from .graphing import GraphError, graph
from .ir import Program
from .lowering import analyze
from .mathml import MathMLPrinter, derivation_html, table
from .source import ModelError, Source

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72em; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; } td, th { padding: 0.25em 0.9em; text-align: left; vertical-align: middle; }
th { border-bottom: 1px solid #999; } td.shape, td.kind { font-family: monospace; color: #555; }
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
    rows += [(kind, f"{r.target} wrt {', '.join(v.name for v in r.wrt)}", "")
             for kind, requests in (("grad", program.grads), ("hessian", program.hessians)) for r in requests]
    rows += [("jacobian", f"{r.target} wrt {r.variable.name}", "") for r in program.jacobians]
    return rows


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
             table(shapes, ("", "name", "type or shape")),
             derivation_html(Explanation(program).sections(MathMLPrinter, steps)),
             "<h2>Computational graph</h2>", graph_section(source)]
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"/>'
            f"<title>symgrad: {title}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body>\n</html>\n")
