"""examples/tour.ipynb, the tour of the window model, runs from top to
bottom under `jupyter nbconvert --to html --execute` (the `jupyter` extra),
its cells show what they promise (shapes, derivation, graph, compiled
module, check, a loss that falls), the derivation in MathML (text/html,
which Jupyter and nbconvert prefer, and which needs no MathJax), and its
HTML draws in headless Chromium to a picture that is not blank, as
docs/tour.png is (docs/notebook.md)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_html_page import assert_not_blank, needs_chromium, screenshot

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "examples" / "tour.ipynb"
SCREENSHOT = REPO / "docs" / "tour.png"
EXECUTE_LIMIT = 600  # seconds for the whole notebook (it takes a few)


def nbconvert(*arguments: str) -> None:
    run = subprocess.run([sys.executable, "-m", "nbconvert", *arguments],
                         capture_output=True, text=True, timeout=EXECUTE_LIMIT)
    assert run.returncode == 0, re.sub(r"\x1b\[[0-9;]*m", "", run.stderr)[-4000:]  # the failing cell, uncoloured


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory) -> Path:
    """The notebook executed, with its outputs, as CI runs it."""
    for package in ("nbconvert", "nbclient", "ipykernel"):
        pytest.importorskip(package, reason=f"{package} is not installed (the `jupyter` extra: "
                                            "pip install -e '.[jupyter]')")
    out = tmp_path_factory.mktemp("tour")
    nbconvert("--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=python3",
              f"--ExecutePreprocessor.timeout={EXECUTE_LIMIT}", "--output-dir", str(out), "--output", "tour",
              str(NOTEBOOK))
    return out / "tour.ipynb"


@pytest.fixture(scope="module")
def executed(executed_notebook) -> Path:
    """The executed notebook as HTML (what `--to html --execute` writes)."""
    nbconvert("--to", "html", "--output-dir", str(executed_notebook.parent), "--output", "tour",
              str(executed_notebook))
    return executed_notebook.with_suffix(".html")


def test_the_notebook_executes_and_shows_each_step(executed):
    html = executed.read_text(encoding="utf-8")
    assert "Traceback" not in html
    assert re.search(r"param W\s+: R\^\(n×m\)", html)   # symgrad shapes
    assert "∂s/∂W" in html                                # the derivation, printed
    assert html.count("<mfrac>") >= 5                     # ... and in MathML (derivation_html)
    if shutil.which("dot"):
        pictures = [base64.b64decode(data).decode("utf-8")
                    for data in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html)]
        assert [svg for svg in pictures if svg.count('class="node"') >= 8]   # the graph, inline
    assert "pass" in html and "ds/dW: shape (4, 6)" in html       # check and compile


def test_the_derivation_displays_as_mathml(executed_notebook, executed):
    """The derivation cell's output carries text/html with a <math> per row
    (forward values, functions, the signal, the gradients) under derive's
    headings, and that is what the HTML shows: no LaTeX source left for a
    MathJax that offline HTML does not have."""
    cells = json.loads(executed_notebook.read_text(encoding="utf-8"))["cells"]
    cell = next(c for c in cells if "".join(c["source"]) == 'derivation = symgrad.derive("window.sg")\nderivation')
    [result] = [output for output in cell["outputs"] if output["output_type"] == "execute_result"]
    shown = "".join(result["data"]["text/html"])
    assert shown.count("<math>") >= 3 + 2 + 1 + 4
    for heading in ("Forward (", "Functions", "Error signals of", "Gradients of"):
        assert f"<h2>{heading}" in shown
    assert "\\begin{aligned}" not in executed.read_text(encoding="utf-8")


def test_the_training_loss_falls(executed):
    losses = [float(v) for v in re.findall(r"step +\d+ +loss (\d+\.\d+)", executed.read_text(encoding="utf-8"))]
    assert len(losses) >= 5
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    assert losses[-1] < 0.8 * losses[0]


@needs_chromium
def test_the_notebook_renders_in_chromium(executed, tmp_path):
    screenshot(executed, tmp_path / "tour.png", 1100, 2400)
    assert_not_blank(tmp_path / "tour.png", 1100, 2400)


def test_the_screenshot_in_docs_is_a_picture_of_the_notebook():
    """docs/tour.png, the picture README.md shows, is there and not blank
    (made as docs/notebook.md says)."""
    from PIL import Image
    width, height = Image.open(SCREENSHOT).size
    assert 800 <= width <= 2000 and 1000 <= height <= 6000
    assert_not_blank(SCREENSHOT, width, height)

