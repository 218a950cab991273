"""derive's LaTeX compiles and renders, and the forward section is the model as written.

Every example's `symgrad derive --latex` (with and without --steps) is
rendered by KaTeX in strict mode (tests/latex/render.js, the KaTeX pinned in
tests/latex/package.json, installed by `npm install` there) and compiled by
pdflatex in a minimal document with amsmath; each is skipped, saying why,
only where node and KaTeX, or pdflatex, are missing. The names are set as
the lecture sets them, checked against strings written here: no Unicode
and no raw `_` reach the LaTeX. Jupyter's display keeps the terminal's
headings and shapes. The forward section equals each definition's line of
the source, compared after a normalization of notation written here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import symgrad
from symgrad.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.sg"))
KATEX_DIR = ROOT / "tests" / "latex"
DOCUMENT = ("\\documentclass{{article}}\n\\usepackage{{amsmath}}\n\\allowdisplaybreaks\n"
            "\\begin{{document}}\n{body}\n\\end{{document}}\n")
# A model with every kind of name: digits (W1), `_` (W_2, N_all, y_hat),
# Greek (λ, Ω_k), several letters (loss, hidden).
NAMES = ("param W1 : R^(k x m)\nparam W_2 : R^(o x k)\nparam λ : R\ninput x : R^m\ninput N_all : R\n"
         "param Ω_k : R^o\nhidden = tanh(W1 x)\ny_hat = W_2 hidden + Ω_k\n"
         "loss = 1/N_all sum(y_hat ∘ y_hat) + λ ||W1||^2\ngrad loss wrt W1, W_2, λ, Ω_k\n")
# Greek functions, their partials (∂ψ/∂a), a function with no formula (ω), a number 1e-3.
FUNCTIONS = ("ψ(a, b) = a exp(b) + a^2\nparam λ_1 : R^n\ninput x : R^n\n"
             "φ = sum(ψ(λ_1, x) + ω(x)) + 1e-3 sum(x .^ 2)\ngrad φ wrt λ_1, x\n")


def derive(capsys, *args: str) -> str:
    assert main(["derive", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


@pytest.fixture(scope="module")
def latex_of_examples() -> dict[str, str]:
    """(example, options) -> its LaTeX, each example with and without --steps."""
    found = {}
    for path in EXAMPLES:
        explanation = symgrad.derive(str(path))
        for steps in (False, True):
            found[f"{path.name}{' --steps' if steps else ''}"] = explanation.text("latex", steps=steps)
    return found


def environments(latex: str) -> list[str]:
    """The formulas of derive's LaTeX: each align* and each heading."""
    formulas = re.findall(r"\\begin\{align\*\}.*?\\end\{align\*\}", latex, flags=re.S)
    headings = re.findall(r"^\\noindent(\\textbf\{.*\})$", latex, flags=re.M)
    assert formulas and headings
    return formulas + headings


def katex(formulas: list[str]) -> subprocess.CompletedProcess:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the KaTeX render test needs it")
    if not (KATEX_DIR / "node_modules" / "katex").is_dir():
        pytest.skip("KaTeX is not installed: run `npm install` in tests/latex (CI does)")
    return subprocess.run(["node", str(KATEX_DIR / "render.js")], input=json.dumps(formulas), text=True,
                          capture_output=True, timeout=300)


def test_every_examples_latex_renders_with_katex_in_strict_mode(latex_of_examples):
    formulas = [formula for latex in latex_of_examples.values() for formula in environments(latex)]
    done = katex(formulas)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"rendered {len(formulas)} formulas"


def test_the_notebooks_formulas_render_with_katex_in_strict_mode():
    formulas = []
    for path in EXAMPLES:
        markdown = symgrad.derive(str(path)).markdown(steps=True)
        formulas += re.findall(r"\$\$(.*?)\$\$", markdown, flags=re.S)
        formulas += [name for heading in re.findall(r"\*\*(.*?)\*\*", markdown)
                     for name in re.findall(r"\$([^$]+)\$", heading)]  # the headings' names
    done = katex(formulas)
    assert done.returncode == 0, done.stderr


def pdflatex(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (Debian: apt-get install texlive-latex-base; CI installs it)")
    (tmp_path / "derive.tex").write_text(DOCUMENT.format(body=body), encoding="utf-8")
    return subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "derive.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_examples_latex_compiles_with_pdflatex(latex_of_examples, tmp_path, path):
    body = latex_of_examples[path.name] + "\n" + latex_of_examples[f"{path.name} --steps"]
    done = pdflatex(tmp_path, body)
    errors = [line for line in done.stdout.splitlines() if line.startswith("!")]
    assert done.returncode == 0 and (tmp_path / "derive.pdf").is_file(), (errors, done.stdout[-3000:])


@pytest.mark.parametrize("text", [NAMES, FUNCTIONS], ids=["names", "functions"])
def test_a_model_of_greek_and_underscored_names_compiles_and_renders(capsys, tmp_path, text):
    (tmp_path / "names.sg").write_text(text, encoding="utf-8")
    latex = derive(capsys, "--latex", "--steps", str(tmp_path / "names.sg"))
    assert latex.isascii()
    done = katex(environments(latex))
    assert done.returncode == 0, done.stderr
    assert pdflatex(tmp_path, latex).returncode == 0


def test_names_are_set_as_the_lecture_sets_them(capsys, tmp_path):
    (tmp_path / "names.sg").write_text(NAMES, encoding="utf-8")
    latex = derive(capsys, "--latex", str(tmp_path / "names.sg"))
    assert r"\frac{\partial \mathrm{loss}}{\partial W_{1}} &= " in latex        # W1: a subscript, loss upright
    assert r"\frac{\partial \mathrm{loss}}{\partial W_{2}} &= " in latex        # W_2 as W1 is
    assert r"\frac{\partial \mathrm{loss}}{\partial \lambda} &= " in latex      # λ: its macro
    assert r"\frac{\partial \mathrm{loss}}{\partial \Omega_{k}} &= " in latex
    assert r"\frac{1}{N_{\mathrm{all}}}" in latex and r"y_{\mathrm{hat}}" in latex


@pytest.mark.parametrize("name", ["examples", "names"])
def test_no_unicode_nor_a_raw_underscore_reaches_the_latex(capsys, tmp_path, latex_of_examples, name):
    (tmp_path / "names.sg").write_text(NAMES, encoding="utf-8")
    texts = (latex_of_examples.values() if name == "examples"
             else [derive(capsys, "--latex", "--steps", str(tmp_path / "names.sg"))])
    for latex in texts:
        assert latex.isascii(), sorted({char for char in latex if not char.isascii()})
        # A function's name may spell its `_` (\operatorname{log\_softmax}), a heading too (a file name); a value's never.
        values = re.sub(r"\\operatorname\{[^{}]*\}|^\\noindent.*$", "", latex, flags=re.M)
        assert "\\_" not in values
        assert re.findall(r"(?<!\\)_(?!\{)", values) == []  # every subscript in braces: W_{1}, never W_1


def test_ascii_spells_greek_letters(capsys, tmp_path):
    (tmp_path / "names.sg").write_text(NAMES, encoding="utf-8")
    out = derive(capsys, "--ascii", "--steps", str(tmp_path / "names.sg"))
    assert out.isascii() and "\\u03bb" not in out and "\\u03a9" not in out
    assert "dloss/dlambda = " in out and "dloss/dOmega_k = " in out


def test_latex_aligns_each_section_at_equals_and_keeps_headings_and_shapes(capsys):
    latex = derive(capsys, "--latex", str(ROOT / "examples" / "two_layer.sg"))
    heading, environment = latex.splitlines()[:2]
    assert heading.startswith(r"\noindent\textbf{Forward (") and heading.endswith(r"examples/two\_layer.sg)}")
    assert environment == r"\begin{align*}"
    assert r"\noindent\textbf{Gradients of $E$}" in latex
    assert (r"\frac{\partial E}{\partial W_{1}} &= {\delta_{2}}^\top {i}^\top && "
            r"[k \times m] = [k \times 1][1 \times m] \\") in latex
    assert r"\mathrm{hidden} &= \sigma\left(W_{1} i + b_{1}\right) && [k \times 1] \\" in latex


# ------------------------------------------------------------ Jupyter
def test_the_notebook_display_has_the_terminals_headings_and_shapes():
    explanation = symgrad.derive(str(ROOT / "examples" / "two_layer.sg"))
    markdown = explanation._repr_markdown_()
    headings = re.findall(r"^\*\*(.*)\*\*$", markdown, flags=re.M)
    assert headings == ["Forward (`" + str(ROOT / "examples" / "two_layer.sg") + "`)",
                        "Error signals of $E$ (a column's signal is written as a row)", "Gradients of $E$"]
    assert r"\frac{\partial E}{\partial W_{1}} &= {\delta_{2}}^\top {i}^\top && [k \times m] = [k \times 1][1 \times m]" \
        in markdown
    assert markdown.count("$$\\begin{aligned}") == 3
    latex = explanation._repr_latex_()
    assert r"\noindent\textbf{Gradients of $E$}" in latex and r"[o \times k] = [o \times 1][1 \times k]" in latex


def test_repr_is_the_derivation_as_the_terminal_prints_it(capsys):
    path = str(ROOT / "examples" / "window.sg")
    explanation = symgrad.derive(path)
    assert repr(explanation) == derive(capsys, path)
    assert "∂s/∂W = δᵀ xᵀ                            [n×m] = [n×1][1×m]" in repr(explanation)
    assert repr(explanation.gradients["W"]) == "∂s/∂W = δᵀ xᵀ                            [n×m] = [n×1][1×m]"


# ------------------------------------------------- the forward section as written
def normalized(formula: str) -> str:
    """A formula in one spelling, written independently of symgrad: no
    spaces, ASCII marks for ᵀ ‖ ² σ ∘, no comment."""
    formula = formula.split("#")[0]
    for mark, plain in (("ᵀ", "^T"), ("‖", "||"), ("²", "^2"), ("σ(", "sigmoid("), ("∘", ".*"), ("⊙", ".*")):
        formula = formula.replace(mark, plain)
    return re.sub(r"\s+", "", formula)


def source_definitions(path: Path) -> dict[str, str]:
    """name -> formula, of every `name = formula` line of a model's source."""
    found = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        matched = re.fullmatch(r"\s*([^\W\d]\w*)\s*=(.*)", text.split("#")[0])
        if matched and not text.lstrip().startswith(("const", "#")):
            found[matched[1]] = matched[2]
    return found


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_the_forward_section_is_the_source_as_written(capsys, path):
    out = derive(capsys, "--ascii", str(path))
    forward = out.split("\n\n")[0].splitlines()[1:]
    printed = dict(re.fullmatch(r"  (\S+) = (.*?)(?: +\[[^\]]*\])?", row).groups() for row in forward)
    assert {name: normalized(formula) for name, formula in printed.items()} == {
        name: normalized(formula) for name, formula in source_definitions(path).items()}


@pytest.mark.parametrize("example, row", [
    ("logistic_regression.sg", "L = sum(log(1 + exp(-y ∘ (X w))))"),
    ("word2vec_negative.sg", "J = -log(σ(U[:, o]ᵀ v)) - sum(log(σ(-U[:, k]ᵀ v)))"),
    ("two_layer.sg", "E = 1/2 ‖target - out‖²"),
    ("svm_labels.sg", "J = 1/N sum((1 - onehot(y, C)) ∘ margins) + lambda ‖W‖²"),
])
def test_a_formula_the_ir_rewrites_is_printed_as_written(capsys, example, row):
    forward = [line.strip() for line in derive(capsys, str(ROOT / "examples" / example)).split("\n\n")[0].splitlines()]
    assert any(re.fullmatch(re.escape(row) + r" +\[.*\]", line) for line in forward), forward
    assert not any("softplus" in line for line in forward)
