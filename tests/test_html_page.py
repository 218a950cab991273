"""`symgrad derive MODEL.sg --html FILE` (symgrad.page): one self-contained
page, well-formed XML, with a MathML formula per gradient, the graph as
inline SVG (a note where Graphviz is missing) and the shape table; rendered
in headless Chromium to a screenshot that is not blank. Jupyter's display of
a derivation (its _repr_html_) is the page's derivation, in MathML too.

The screenshot helpers are shared with tests/test_notebook.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import symgrad
from symgrad.cli import main
from symgrad.lowering import analyze
from symgrad.mathml import MathMLPrinter, mathml
from symgrad.page import page
from symgrad.source import Source, read_source

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.sg"))
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome",
                                                  "google-chrome-stable") if shutil.which(name)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (CI installs "
                                                              "it: apt-get install chromium)")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
TOKENS = {"mi", "mn", "mo", "mtext"}
TWO_CHILDREN = {"msup", "msub", "mfrac"}


def screenshot(html: Path, png: Path, width: int, height: int) -> None:
    """html drawn by headless Chromium into png, width × height pixels."""
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={png.parent / 'chromium-profile'}", f"--window-size={width},{height}",
                    f"--screenshot={png}", html.resolve().as_uri()],
                   capture_output=True, timeout=180, check=True)


def assert_not_blank(png: Path, width: int, height: int) -> None:
    """The picture has the size asked for, some ink (0.5% to 60% of its
    pixels far from white) and the many colours of drawn text and lines."""
    from PIL import Image
    image = Image.open(png).convert("RGB")
    assert image.size == (width, height)
    colours = image.getcolors(maxcolors=width * height)
    ink = sum(count for count, rgb in colours if min(rgb) < 200) / (width * height)
    assert 0.005 < ink < 0.6, f"{ink:.2%} of the pixels are ink"
    assert len(colours) >= 32, f"{len(colours)} colours"


def maths(root: ET.Element) -> list[ET.Element]:
    return list(root.iter("math"))


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


def section(root: ET.Element, title: str) -> ET.Element:
    """The table that follows the heading `title` (its names in MathML read as text)."""
    for parent in root.iter():
        children = list(parent)
        for k, child in enumerate(children):
            if child.tag == "h2" and text_of(child) == title:
                return children[k + 1]
    raise AssertionError(f"no section '{title}'")


# The lecture's window gradients, δᵀ xᵀ, δᵀ, h and Wᵀ δᵀ, as MathML's text
# reads them (a superscript T follows its base).
WINDOW = {"W": "δTxT", "b": "δT", "u": "h", "x": "WTδT"}


@pytest.mark.parametrize("model, expected", [("window.sg", WINDOW), ("softmax_classifier.sg", None)])
def test_the_page_is_xml_with_a_formula_for_each_gradient(model, expected):
    request = analyze(read_source(REPO / "examples" / model)).grads[0]
    target, variables = request.target, [v.name for v in request.wrt]
    root = ET.fromstring(page(read_source(REPO / "examples" / model)))
    assert root.tag == "html"
    gradients = maths(section(root, f"Gradients of {target}"))
    assert len(gradients) == len(variables)
    for formula, variable in zip(gradients, variables):
        fraction = formula.find("mrow/mfrac")  # ∂target/∂variable, then = and the gradient
        assert [text_of(part) for part in fraction] == [f"∂{target}", f"∂{variable}"]
        left, equals, right = text_of(formula).partition("=")
        assert left == f"∂{target}∂{variable}" and equals and right
        if expected:
            assert right == expected[variable]


def test_jupyter_shows_the_derivation_in_mathml_with_its_headings():
    """Jupyter prefers text/html: the derivation's HTML has the terminal's
    headings and a MathML formula for each gradient, δᵀ xᵀ and the others as
    the lecture writes them (MathJax-free, so nbconvert's offline HTML
    draws them); one gradient shows alone as its row."""
    derivation = symgrad.derive(str(REPO / "examples" / "window.sg"))
    root = ET.fromstring(derivation._repr_html_())
    assert [text_of(h) for h in root.iter("h2")] == [
        f"Forward ({REPO / 'examples' / 'window.sg'})", "Functions",
        "Error signals of s (a column's signal is written as a row)", "Gradients of s"]
    gradients = maths(section(root, "Gradients of s"))
    assert [text_of(formula) for formula in gradients] == [f"∂s∂{v}={WINDOW[v]}" for v in "Wbux"]
    alone = ET.fromstring(derivation.gradients["x"]._repr_html_())
    assert [text_of(formula) for formula in maths(alone)] == ["∂s∂x=WTδT"]
    assert not list(alone.iter("h2"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_gives_well_formed_mathml(path):
    """Every character of a formula is in a token element (<mi>, <mn>,
    <mo>, <mtext>), never bare between them, and each script and fraction
    has its two parts: what a browser needs to lay it out."""
    root = ET.fromstring(page(read_source(path)))
    found = maths(root)
    assert found
    for formula in found:
        for element in formula.iter():
            if element.tag not in TOKENS:
                assert not (element.text or "").strip(), (path.name, element.tag, element.text)
            assert not (element.tail or "").strip() or element is formula, (path.name, element.tag, element.tail)
            if element.tag in ("mi", "mn"):  # a name marked up twice would show its tags as text
                assert not set(element.text or "") & set("<>&"), (path.name, element.text)
            if element.tag in TWO_CHILDREN:
                assert len(element) == 2, (path.name, ET.tostring(element, encoding="unicode"))


def written(text: str, name: str) -> str:
    program = analyze(Source(text, "m.sg"))
    return mathml(MathMLPrinter().doc(program.definitions[name]))


MODEL = """\
param W_1 : R^(n x n)
param W2 : R^(n x n)
param c : R
input x : R^n
y = (W_1 x) / c
p = c^1.5
q = [x; W2 x]
r = W_1^T x - 2 x
J = sum(y) + p + sum(q) + sum(r)
grad J wrt W_1, W2, c
"""


def test_the_printer_marks_up_names_fractions_powers_and_blocks():
    y = written(MODEL, "y")
    assert "<mfrac>" in y
    assert "<msub><mi>W</mi><mrow><mn>1</mn></mrow></msub>" in y
    assert "<msup><mrow><mi>c</mi></mrow><mrow><mn>1.5</mn></mrow></msup>" in written(MODEL, "p")
    q = written(MODEL, "q")
    assert "<mtable>" in q and q.count("<mtr>") == 2 and "<msub><mi>W</mi><mrow><mn>2</mn></mrow></msub>" in q
    r = written(MODEL, "r")
    assert '<mi mathvariant="normal">T</mi>' in r
    assert "<mo>\u2212</mo><mn>2</mn>" in r  # a minus sign, not a hyphen; never `+ -2`


@needs_dot
def test_the_graph_is_inline_svg():
    root = ET.fromstring(page(read_source(REPO / "examples" / "window.sg")))
    svg = [e for e in root.iter() if e.tag.endswith("svg")]
    assert len(svg) == 1
    assert len([g for g in svg[0].iter() if g.get("class") == "node"]) >= 8


def test_without_graphviz_the_page_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` there
    root = ET.fromstring(page(read_source(REPO / "examples" / "window.sg")))
    assert not [e for e in root.iter() if e.tag.endswith("svg")]
    note = [text_of(p) for p in root.iter("p") if p.get("class") == "note"]
    assert len(note) == 1 and "Graphviz" in note[0]


def test_derive_html_writes_the_page(tmp_path, capsys):
    out = tmp_path / "window.html"
    assert main(["derive", str(REPO / "examples" / "window.sg"), "--html", str(out)]) == 0
    assert capsys.readouterr().out == ""
    root = ET.parse(out).getroot()
    shapes = [[text_of(td) for td in tr.iter("td")] for tr in section(root, "Shapes").iter("tr")]
    assert ["param", "W", "R^(n×m)"] in shapes and ["def", "s", "R"] in shapes
    assert not re.search(r"<script|https?://(?!www\.w3\.org)", out.read_text(encoding="utf-8"))


def test_derive_html_with_steps_writes_the_chain_rule(capsys):
    assert main(["derive", str(REPO / "examples" / "max_branch.sg"), "--html", "-", "--steps"]) == 0
    root = ET.fromstring(capsys.readouterr().out)
    steps = section(root, "Steps for f (G is the gradient arriving at each step)")
    assert len(maths(steps)) >= 6


def test_derive_html_to_a_missing_folder_is_bad_input(tmp_path, capsys):
    assert main(["derive", str(REPO / "examples" / "window.sg"), "--html", str(tmp_path / "no" / "p.html")]) == 2
    assert "cannot write" in capsys.readouterr().err


@needs_chromium
def test_the_page_renders_in_chromium(tmp_path):
    html = tmp_path / "window_ner.html"
    html.write_text(page(read_source(REPO / "examples" / "window_ner.sg")), encoding="utf-8")
    screenshot(html, tmp_path / "page.png", 1000, 1400)
    assert_not_blank(tmp_path / "page.png", 1000, 1400)


@needs_chromium
def test_a_blank_page_fails_the_screenshot_check(tmp_path):
    html = tmp_path / "blank.html"
    html.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    screenshot(html, tmp_path / "blank.png", 400, 300)
    with pytest.raises(AssertionError, match="ink"):
        assert_not_blank(tmp_path / "blank.png", 400, 300)
