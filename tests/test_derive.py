"""`symgrad derive` and `symgrad.derive`: the derivation in the lecture's notation.

The window model of the contract must print the lecture's lines; the
matrix-calculus identities come out in closed form; --ascii, --latex and
--steps print the same derivation in other dress.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import symgrad
from symgrad.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WINDOW = str(EXAMPLES / "window.sg")


def derive(capsys, *args) -> list[str]:
    """The lines `symgrad derive ARGS` prints, stripped; it must succeed quietly."""
    assert main(["derive", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return [line.strip() for line in out.splitlines()]


def line(lines: list[str], pattern: str) -> str:
    """The one line that matches pattern (a regular expression, anchored)."""
    found = [text for text in lines if re.fullmatch(pattern, text)]
    assert len(found) == 1, (pattern, lines)
    return found[0]


def model(tmp_path: Path, text: str) -> str:
    path = tmp_path / "model.sg"
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---------------------------------------------------------- the window model

def test_window_error_signal_is_the_lectures_row(capsys):
    line(derive(capsys, WINDOW), r"δ = ∂s/∂z = uᵀ ∘ f'\(z\)ᵀ +\[1×n\]")


def test_window_gradient_of_w_is_delta_transposed_x_transposed_with_its_shapes(capsys):
    line(derive(capsys, WINDOW), r"∂s/∂W = δᵀ xᵀ +\[n×m\] = \[n×1\]\[1×m\]")


def test_window_gradients_of_b_x_and_u(capsys):
    lines = derive(capsys, WINDOW)
    line(lines, r"∂s/∂b = δᵀ +\[n×1\]")
    line(lines, r"∂s/∂x = Wᵀ δᵀ +\[m×1\] = \[m×n\]\[n×1\]")
    line(lines, r"∂s/∂u = h +\[n×1\]")


def test_window_forward_definitions_come_first_with_their_shapes(capsys):
    lines = derive(capsys, WINDOW)
    forward = [text for text in lines if re.fullmatch(r"[zhs] = .*", text)]
    assert forward == ["z = W x + b                              [n×1]",
                       "h = f(z)                                 [n×1]",
                       "s = uᵀ h                                 [1×1]"]


def test_ascii_output_is_pure_ascii(capsys):
    lines = derive(capsys, "--ascii", WINDOW)
    assert all(text.isascii() for text in lines)
    line(lines, r"delta = ds/dz = u\^T \.\* f'\(z\)\^T +\[1xn\]")
    line(lines, r"ds/dW = delta\^T x\^T +\[nxm\] = \[nx1\]\[1xm\]")


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.sg")))
def test_ascii_steps_of_every_example_are_pure_ascii(capsys, name):
    lines = derive(capsys, "--ascii", "--steps", str(EXAMPLES / name))
    assert [text for text in lines if not text.isascii()] == []


def test_ascii_output_spells_greek_and_derived_names_in_ascii(capsys, tmp_path):
    # Greek variables and functions, partials named ∂ψ/∂a, a function without a formula
    path = model(tmp_path, "ψ(a, b) = a exp(b) + a^2\nparam λ : R^n\ninput x : R^n\n"
                           "φ = sum(ψ(λ, x) + ω(x))\ngrad φ wrt λ, x\n")
    lines = derive(capsys, "--ascii", "--steps", path)
    assert [text for text in lines if not text.isascii()] == []
    line(lines, r"dpsi/da\(a, b\) = 2 a \+ exp\(b\)")  # ψ spelled, never \u03c8
    line(lines, r"dphi/dlambda = dpsi/da\(lambda, x\) +\[nx1\]")


def test_latex_output(capsys):
    lines = derive(capsys, "--latex", WINDOW)
    assert (r"\delta &= \frac{\partial s}{\partial z} = {u}^\top \circ {\operatorname{f'}\left(z\right)}^\top "
            r"&& [1 \times n]") in lines
    assert r"\frac{\partial s}{\partial W} &= {\delta}^\top {x}^\top && [n \times m] = [n \times 1][1 \times m] \\" in lines
    assert r"\frac{\partial s}{\partial x} &= {W}^\top {\delta}^\top && [m \times 1] = [m \times n][n \times 1]" in lines


def test_latex_steps_are_aligned_rows_with_prose_in_text(capsys):
    lines = derive(capsys, "--latex", "--steps", WINDOW)
    steps = lines[lines.index(r"\noindent\textbf{Steps for $s$ (G is the gradient arriving at each step)}") + 1:]
    # Each variable's steps: one align* environment, its rows ended by \\ but the last.
    assert steps[0] == r"\begin{align*}" and steps[-1] == r"\end{align*}"
    for environment in "\n".join(steps).split(r"\end{align*}")[:-1]:
        rows = environment.strip().splitlines()[1:]
        assert rows and all(text.endswith(r" \\") for text in rows[:-1]) and not rows[-1].endswith("\\")
    assert r"&\quad \frac{\partial s}{\partial h}: G \mapsto G u \\" in steps
    diagonal = next(text for text in steps if "diag" in text)
    assert r"\text{(the Jacobian }\operatorname{diag}\left(\operatorname{f'}\left(z\right)\right)" in diagonal
    assert (r"\operatorname{f'}\left(t\right) &= \operatorname{f}\left(t\right) \left(1 - \operatorname{f}\left(t\right)"
            r"\right)") in lines


def test_latex_writes_an_underscore_as_a_subscript_and_a_functions_once_escaped(capsys, tmp_path):
    path = model(tmp_path, "param w_1 : R^n\ninput x : R^n\ny_hat = log_softmax(w_1 ∘ x)\n"
                           "s = sum(y_hat ∘ y_hat)\ngrad s wrt w_1\n")
    text = "\n".join(derive(capsys, "--latex", "--steps", path))
    assert r"\partial w_{1}}" in text
    assert r"\partial y_{\mathrm{hat}}}" in text
    assert r"\operatorname{log\_softmax}" in text and "\\\\_" not in text


def test_a_gradient_renders_as_latex_in_jupyter():
    view = symgrad.derive(WINDOW).gradients["W"]
    assert view._repr_latex_() == r"$$\frac{\partial s}{\partial W} = {\delta}^\top {x}^\top$$"


def test_steps_show_the_chain_of_jacobians(capsys):
    lines = derive(capsys, "--steps", WINDOW)
    line(lines, r"∂s/∂W = ∂s/∂h · ∂h/∂z · ∂z/∂\(W x\) · ∂\(W x\)/∂W")
    line(lines, r"∂s/∂x = ∂s/∂h · ∂h/∂z · ∂z/∂\(W x\) · ∂\(W x\)/∂x")


def test_steps_show_the_diagonal_jacobian_becoming_an_elementwise_product(capsys):
    lines = derive(capsys, "--steps", WINDOW)
    local = [text for text in lines if text.startswith("∂h/∂z:")]
    assert len(local) == 3  # on the way to W, b and x
    assert all(text.startswith("∂h/∂z: G ↦ G ∘ f'(z)") for text in local)
    assert all("diag(f'(z))" in text and "elementwise product ∘ f'(z)" in text for text in local)


# ------------------------------------------------------ functions and labels

UNDEFINED = "param W : R^(n x m)\ninput x : R^m\nz = W x\nh = g(z)\ns = sum(h)\ngrad s wrt W\n"


def test_a_function_used_but_never_defined_is_derived_as_f_prime(capsys, tmp_path):
    lines = derive(capsys, model(tmp_path, UNDEFINED))
    assert "g(t): no formula given (its derivative is written g')" in lines
    assert "g'(z)" in line(lines, r"∂s/∂W = .*")


def test_the_api_derives_an_undefined_function_too():
    assert "g'(z)" in str(symgrad.derive(UNDEFINED).gradients["W"])


def test_a_forward_value_that_is_also_a_gradient_is_written_as_itself(capsys):
    # ∂f/∂x of (x + y) max(y, z) is the forward value max(y, z), not a δ
    lines = derive(capsys, str(EXAMPLES / "max_branch.sg"))
    line(lines, r"f = \(x \+ y\) max\(y, z\) +\[1×1\]")
    line(lines, r"∂f/∂x = max\(y, z\) +\[1×1\]")
    line(lines, r"∂f/∂y = \(x \+ y\) ∘ \[y ≥ z\] \+ max\(y, z\) +\[1×1\]")
    assert not any(text.startswith("δ") for text in lines)


def test_an_unnamed_values_error_signal_is_labelled_by_its_formula(capsys):
    lines = derive(capsys, str(EXAMPLES / "two_layer.sg"))
    line(lines, r"δ_1 = ∂E/∂\(W2 hidden \+ b2\) = .*")
    assert not any("∂·" in text for text in lines)


def test_a_spread_one_is_written_as_the_ones_matrix_and_inv_transposed_as_a_power():
    text = str(symgrad.derive("param X : R^(n x n)\ns = sum(inv(X))\ngrad s wrt X\n").gradients["X"])
    assert text.startswith("∂s/∂X = -X⁻ᵀ 𝟏 X⁻ᵀ ")


# ------------------------------------------ identities of worked example 9

def gradient(name: str, variable: str) -> str:
    """The gradient's matrix notation, without its shape equation."""
    text = str(symgrad.derive(str(EXAMPLES / name)).gradients[variable])
    return re.sub(r" +\[.*$", "", text)


def test_logdet_gradient_is_x_inverse_transposed():
    assert gradient("logdet.sg", "X") == "∂l/∂X = X⁻ᵀ"


def test_logdet_gradient_in_ascii_and_latex(capsys):
    assert "dl/dX = X^-T" in derive(capsys, "--ascii", str(EXAMPLES / "logdet.sg"))[-1]
    assert symgrad.derive(str(EXAMPLES / "logdet.sg")).gradients["X"]._repr_latex_().endswith("{X}^{-\\top}$$")


def test_quadratic_form_gradient_is_a_plus_a_transposed_times_x():
    assert gradient("quadratic_form.sg", "x") == "∂q/∂x = (A + Aᵀ) x"


def test_trace_of_axb_gradient_is_a_transposed_b_transposed():
    assert gradient("trace_axb.sg", "X") == "∂t/∂X = Aᵀ Bᵀ"


def test_a_long_formula_without_a_name_is_named_once_and_used_by_name(capsys, tmp_path):
    """30 nested calls: the first 25 become v1 (more than 24 operations), written once."""
    path = model(tmp_path, f"param a : R^n\ny = sum({'tanh(' * 30}a{')' * 30})\ngrad y wrt a\n")
    lines = derive(capsys, path)
    call, close = re.escape("tanh("), re.escape(")")
    line(lines, rf"v1 = {call * 25}a{close * 25} +\[n×1\]")
    line(lines, rf"y = sum\({call * 5}v1{close * 5}\) +\[1×1\]")
    assert not any("tanh(" * 25 in text for text in lines if not text.startswith("v1 = "))


def test_a_short_formula_without_a_name_is_written_where_it_is_used(capsys):
    lines = derive(capsys, str(EXAMPLES / "window_ner.sg"))
    assert not any(text.startswith("v1 = ") for text in lines)
    line(lines, r"∂J/∂L.* = .*unvec\(Wᵀ δ_2ᵀ\).*")   # the window's share, x = vec(L[:, w])


# ------------------------------- a constant term of a matrix derivative is c 𝟏
# ∂/∂A sum(A) is the matrix of ones: beside other terms it is 𝟏 (or c 𝟏), never
# a bare number, which reads as a scalar. The terms are compared as sets, so
# that the order symgrad adds them in does not matter.
SPREAD = "param A : R^(n x m)\nparam W : R^(n x m)\nparam v : R^n\nparam w : R^n\n"


def gradient_terms(capsys, tmp_path, text: str, variable: str, *options: str) -> set[str]:
    lines = derive(capsys, *options, model(tmp_path, SPREAD + text))
    d = {"--ascii": "dy/d", "--latex": r"\frac{\partial y}{\partial "}.get(options[0] if options else "", "∂y/∂")
    found = line(lines, rf"{re.escape(d + variable)}\}}? &?= .*")
    formula = re.sub(r" +\[.*$| && .*$| \\\\$", "", found.split("= ", 1)[1])
    return set(formula.split(" + "))


@pytest.mark.parametrize("options, ones", [((), "𝟏"), (("--ascii",), "ones"), (("--latex",), r"\mathbf{1}")])
def test_a_matrix_of_ones_beside_other_terms_is_written_as_ones(capsys, tmp_path, options, ones):
    text = "y = sum(A ∘ W) + sum(A)\ngrad y wrt A\n"
    assert gradient_terms(capsys, tmp_path, text, "A", *options) == {ones, "W"}


def test_a_scaled_matrix_of_ones_is_c_times_ones(capsys, tmp_path):
    text = "y = 2 sum(A) + sum(A ∘ W)\ngrad y wrt A\n"
    assert gradient_terms(capsys, tmp_path, text, "A") == {"2 𝟏", "W"}


def test_a_column_of_ones_beside_other_terms_is_written_as_ones(capsys, tmp_path):
    text = "y = sum(v) + sum(v ∘ w)\ngrad y wrt v\n"
    assert gradient_terms(capsys, tmp_path, text, "v") == {"𝟏", "w"}


def test_the_models_own_broadcast_and_a_number_inside_a_product_are_written_as_they_are(capsys, tmp_path):
    lines = derive(capsys, model(tmp_path, SPREAD + "B = A + 1\ny = sum(W ∘ tanh(B))\ngrad y wrt A\n"))
    line(lines, r"B = A \+ 1 +\[n×m\]")
    line(lines, r"∂y/∂A = W ∘ \(1 - tanh\(B\) ∘ tanh\(B\)\) +\[n×m\]")
