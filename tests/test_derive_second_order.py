"""`symgrad derive` writes Hessians, Hessian-vector products and Jacobians
in matrix notation with their shape equations, as the textbook writes them
(issue #13): for L2-regularized logistic regression
∇²J = Xᵀ diag(σ(z) ∘ (1 - σ(z))) X + λ I, the product d ∘ X of a column d
written diag(d) X. The expected lines are written here by hand; `--steps`
names the reverse-over-reverse scalar Jᵥ and the identity's columns; the
LaTeX renders with KaTeX and compiles with pdflatex; a file of `jacobian`
statements only derives, draws and makes a page, with no traceback.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import symgrad
from symgrad.cli import main
from test_latex import environments, katex, pdflatex

LOGREG = """param w : R^n
input X : R^(N x n)
input y : R^N
const λ = 0.1
z = X w
p = sigmoid(z)
J = sum(softplus(z)) - yᵀ z + λ/2 ||w||^2
hessian J wrt w
jacobian p wrt w
"""
# Two variables, a vector and a scalar: a block per pair.
TWO = """param w : R^n
param b : R
input X : R^(N x n)
input y : R^N
z = X w + b
J = sum(softplus(z)) - yᵀ z + 0.5 ||w||^2
hessian J wrt w, b
"""
JACOBIAN_ONLY = "param w : R^n\ninput X : R^(N x n)\np = sigmoid(X w)\njacobian p wrt w\n"
MATRIX = "param W : R^(m x n)\ninput x : R^n\nJ = sum(tanh(W x))\nhessian J\n"


def derive(capsys, tmp_path, text: str, *options: str) -> list[str]:
    """derive's lines for a model, without the padding before the shapes."""
    model = tmp_path / "model.sg"
    model.write_text(text, encoding="utf-8")
    assert main(["derive", *options, str(model)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return [" ".join(line.split()) for line in out.splitlines()]


def test_the_logistic_regression_hessian_reads_as_the_textbook_with_its_shapes(capsys, tmp_path):
    lines = derive(capsys, tmp_path, LOGREG)
    assert "∇²J = Xᵀ diag(σ(z) ∘ (1 - σ(z))) X + λ I [n×n] = [n×N][N×N][N×n] + [n×n]" in lines
    # The direction last: Xᵀ diag(σ'(z)) X v.
    assert "(∇²J) v = Xᵀ (σ(z) ∘ (1 - σ(z)) ∘ (X v)) + λ v [n×1] = [n×N][N×1] + [n×1]" in lines
    # after its gradient
    assert lines[lines.index("Hessian of J") - 2] == "∂J/∂w = λ w + Xᵀ (-y + σ(z)) [n×1]"


def test_the_jacobian_is_a_diagonal_times_the_matrix(capsys, tmp_path):
    lines = derive(capsys, tmp_path, LOGREG)
    assert lines[lines.index("Jacobian of p") + 1] == "∂p/∂w = diag(σ(z) ∘ (1 - σ(z))) X [N×n] = [N×N][N×n]"


def test_the_softmax_jacobian_is_the_textbook_diagonal_less_an_outer_product(capsys, tmp_path):
    lines = derive(capsys, tmp_path, "param W : R^(m x n)\ninput x : R^n\np = softmax(x)\njacobian p wrt x\n"
                                     "q = softmax(W x)\njacobian q wrt x\n")
    assert "∂p/∂x = diag(softmax(x)) - softmax(x) softmax(x)ᵀ [n×n]" in lines
    assert "∂q/∂x = (diag(softmax(W x)) - softmax(W x) softmax(W x)ᵀ) W [m×n]" in lines


def test_ascii_spells_the_hessian(capsys, tmp_path):
    lines = derive(capsys, tmp_path, LOGREG, "--ascii")
    assert ("nabla^2 J = X^T diag(sigmoid(z) .* (1 - sigmoid(z))) X + lambda I [nxn] = [nxN][NxN][Nxn] + [nxn]"
            in lines)
    assert "dp/dw = diag(sigmoid(z) .* (1 - sigmoid(z))) X [Nxn] = [NxN][Nxn]" in lines


def test_two_variables_have_named_blocks_and_the_block_matrix(capsys, tmp_path):
    lines = derive(capsys, tmp_path, TWO)
    section = lines[lines.index("Hessian of J") + 1:]
    assert [line.split(" = ")[0] for line in section] == [
        "((∇²J) v)_w", "((∇²J) v)_b", "∂²J/∂w²", "∂²J/∂w∂b", "∂²J/∂b²", "∇²J"]
    assert "∂²J/∂w² = Xᵀ diag(σ(z) ∘ (1 - σ(z))) X + I [n×n] = [n×N][N×N][N×n] + [n×n]" in section
    # The block below the diagonal is the transpose of the one above.
    assert section[-1] == "∇²J = [∂²J/∂w², ∂²J/∂w∂b; (∂²J/∂w∂b)ᵀ, ∂²J/∂b²] [(n + 1)×(n + 1)]"
    assert [line.partition(" [")[2] for line in section[2:5]] == [
        "n×n] = [n×N][N×N][N×n] + [n×n]", "n×1] = [n×N][N×1]", "1×1]"]


def test_steps_show_the_reverse_over_reverse_scalar_and_the_identitys_columns(capsys, tmp_path):
    lines = derive(capsys, tmp_path, LOGREG, "--steps")
    steps = lines[lines.index("Steps for ∇²J") + 1:lines.index("Jacobian of p")]
    assert steps[0].startswith("Jᵥ = sum(∂J/∂w ∘ v)")
    assert steps[1] == "Jᵥ = sum((λ w + Xᵀ (-y + σ(z))) ∘ v) [1×1]"
    assert steps[2].startswith("(∇²J) v = ∂Jᵥ/∂w") and "reverse over reverse" in steps[2]
    assert steps[4].startswith("∇²J = (∇²J) v at v = I")
    assert steps[5].startswith("∇²J = Xᵀ diag(σ(z) ∘ (1 - σ(z))) X + λ I")
    jacobian = lines[lines.index("Steps for ∂p/∂w") + 1:]
    assert jacobian[0] == "pᵤ = sum(p ∘ u)"
    assert jacobian[2] == "(∂p/∂w)ᵀ u = Xᵀ (σ(z) ∘ (1 - σ(z)) ∘ u) [n×1] = [n×N][N×1]"


def test_steps_of_two_variables_set_one_direction_to_the_identity_and_the_other_to_zero(capsys, tmp_path):
    lines = derive(capsys, tmp_path, TWO, "--steps")
    first = lines[lines.index("Steps for ∇²J") + 1]
    assert first.startswith("Jᵥ = sum(∂J/∂w ∘ v_w) + sum(∂J/∂b ∘ v_b)")
    assert any(line.startswith("∂²J/∂w∂b = ((∇²J) v)_w at v_b = 1, v_w = 0") for line in lines)
    assert any(line.startswith("∂²J/∂w² = ((∇²J) v)_w at v_w = I, v_b = 0") for line in lines)


def test_products_of_diagonals_need_no_brackets_and_scalars_no_transposes(capsys, tmp_path):
    """Logistic regression with labels ±1: J = sum(softplus(-y ∘ (X w))),
    ∇²J = -Xᵀ diag(y) diag(σ'(-y ∘ X w)) diag(y) (-X), the product of
    diagonals unbracketed (it associates); of three scalars, the block
    matrix's lower blocks are the upper ones."""
    lines = derive(capsys, tmp_path, "param w : R^n\ninput X : R^(N x n)\ninput y : R^N\n"
                                     "J = sum(softplus(-y ∘ (X w)))\nhessian J\n")
    (hessian,) = [line for line in lines if line.startswith("∇²J = ")]
    assert "diag(y) diag(σ(-y ∘ (X w)) ∘ (1 - σ(-y ∘ (X w)))) diag(y)" in hessian
    assert hessian.endswith("[n×n] = [n×N][N×N][N×N][N×N][N×n]")
    # ... and so a Hadamard product of Hadamard products, the direction last.
    (product,) = [line for line in lines if line.startswith("(∇²J) v = ")]
    assert "(y ∘ σ(-y ∘ (X w)) ∘ (1 - σ(-y ∘ (X w))) ∘ y ∘ (X (-v)))" in product
    lines = derive(capsys, tmp_path, "param a : R\nparam b : R\nparam c : R\nf = a b c\nhessian f\n")
    assert lines[-1] == ("∇²f = [∂²f/∂a², ∂²f/∂a∂b, ∂²f/∂a∂c; ∂²f/∂a∂b, ∂²f/∂b², ∂²f/∂b∂c; "
                         "∂²f/∂a∂c, ∂²f/∂b∂c, ∂²f/∂c²] [3×3]")
    assert "∂²f/∂a∂b = c [1×1]" in lines


def test_a_matrix_variable_has_the_product_and_no_matrix(capsys, tmp_path):
    lines = derive(capsys, tmp_path, MATRIX)
    section = lines[lines.index("Hessian of J") + 1:]
    assert section[0].startswith("(∇²J) v = ") and " [m×n]" in section[0]
    assert section[1].startswith("∇²J: not written: W is a matrix")


@pytest.mark.parametrize("text", [LOGREG, TWO, JACOBIAN_ONLY], ids=["logreg", "two", "jacobian-only"])
def test_the_latex_renders_with_katex_and_compiles(capsys, tmp_path, text):
    latex = "\n".join(derive(capsys, tmp_path, text, "--latex", "--steps"))
    assert latex.isascii()
    done = katex(environments(latex))
    assert done.returncode == 0, done.stderr
    assert pdflatex(tmp_path, latex).returncode == 0


def test_the_latex_writes_the_hessian_and_its_blocks(capsys, tmp_path):
    latex = derive(capsys, tmp_path, TWO, "--latex")
    assert any(line.startswith(r"\frac{{\partial }^{2}J}{\partial w \, \partial b} &= ") for line in latex)
    assert any(line.startswith(r"{\nabla}^{2}J &= \begin{bmatrix}") for line in latex)


def test_a_jacobian_only_file_derives(capsys, tmp_path):
    lines = derive(capsys, tmp_path, JACOBIAN_ONLY)
    assert lines[-2:] == ["Jacobian of p", "∂p/∂w = diag(σ(X w) ∘ (1 - σ(X w))) X [N×n] = [N×N][N×n]"]
    assert symgrad.derive(str(tmp_path / "model.sg")).gradients == {}


def test_a_jacobian_only_file_draws_its_forward_graph_with_values(tmp_path):
    pytest.importorskip("graphviz", reason="the graph extra is not installed")
    from test_graph import Dot
    model = tmp_path / "model.sg"
    model.write_text(JACOBIAN_ONLY, encoding="utf-8")
    X, w = np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([0.5, -0.25])
    dot = Dot(symgrad.graph(str(model), inputs={"X": X, "w": w}).source)
    p = 1 / (1 + np.exp(-(X @ w)))
    assert dot.output() == {"value": ["[" + "; ".join(f"{x:.4g}" for x in p) + "]"], "shape": ["p : R^N"],
                            "gradient": []}


def test_the_page_and_the_notebook_display_show_second_derivatives(capsys, tmp_path):
    for text, heading in ((JACOBIAN_ONLY, "Jacobian of "), (TWO, "Hessian of ")):
        (tmp_path / "model.sg").write_text(text, encoding="utf-8")
        assert main(["derive", "--html", str(tmp_path / "page.html"), str(tmp_path / "model.sg")]) == 0
        assert capsys.readouterr().err == ""
        page = (tmp_path / "page.html").read_text(encoding="utf-8")
        ET.fromstring(page.split("\n", 1)[1])  # well-formed XML after the DOCTYPE
        assert heading in page and "diag" in page
        assert heading in symgrad.derive(str(tmp_path / "model.sg"))._repr_html_()
