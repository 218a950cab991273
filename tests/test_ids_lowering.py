"""Ids as labels (#12): pick(S, y) and onehot(y, C) in the softmax
cross-entropy, whose gradient derive writes as the textbook's
(softmax(S) - onehot(y, C)) / N while the gradient graph forms no one-hot
matrix; and an embedding L[:, w], whose gradient derive writes for the
gathered columns, scattered into ∂J/∂L.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradcheck import check_grads
from test_indexing import exact

import symgrad
from symgrad.ir import postorder

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SIZES = {"C": 3, "N": 4, "d": 2}
IDS = {"y": [2, 0, 2, 1]}

# The loss written three ways the notes write it, each with (1/N or not) its gradient.
LOSSES = {
    "onehot, mean": ("J = -1/N sum(onehot(y, C) ∘ log_softmax(S))", "(softmax(S) - onehot(y, C)) / N"),
    "pick, mean": ("J = -1/N sum(pick(log_softmax(S), y))", "(softmax(S) - onehot(y, C)) / N"),
    "colsum, mean": ("J = -mean(colsum(onehot(y, C) ∘ log(softmax(S))))", "(softmax(S) - onehot(y, C)) / N"),
    "onehot, sum": ("J = -sum(onehot(y, C) ∘ log_softmax(S))", "softmax(S) - onehot(y, C)"),
    "pick, sum": ("J = -sum(pick(log_softmax(S), y))", "softmax(S) - onehot(y, C)"),
    "mean of negated": ("J = mean(-pick(log_softmax(S), y))", "(softmax(S) - onehot(y, C)) / N"),
    "sum over N": ("J = -sum(pick(log_softmax(S), y)) / N", "(softmax(S) - onehot(y, C)) / N"),
    "scaled": ("J = 2 sum(pick(log_softmax(S), y))", "-2 (softmax(S) - onehot(y, C))"),
}


def test_a_weighted_cross_entropy_is_exact():
    text = ("input y : {0..C-1}^N\nparam S : R^(C x N)\nparam r : R^(1 x N)\n"
            "J = -sum(r ∘ pick(log_softmax(S), y))\ngrad J wrt S, r\n")
    explanation = symgrad.derive(text)
    assert explanation.gradient_line(explanation.gradients["S"], "unicode", shapes=False) == (
        "∂J/∂S = onehot(y, C) ∘ δ - softmax(S) ∘ δ")   # δ = ∂J/∂pick(...) = -r
    exact(text, SIZES, IDS)


def loss_model(loss: str) -> str:
    return f"input y : {{0..C-1}}^N\nparam S : R^(C x N)\n{loss}\ngrad J wrt S\n"


def gradient_line(text: str, style: str = "unicode") -> str:
    explanation = symgrad.derive(text)
    return explanation.gradient_line(explanation.gradients["S"], style, shapes=False)


@pytest.mark.parametrize("name", LOSSES)
def test_derive_writes_the_textbook_gradient_of_the_softmax_cross_entropy(name):
    loss, gradient = LOSSES[name]
    assert gradient_line(loss_model(loss)) == f"∂J/∂S = {gradient}"


def test_the_textbook_gradient_in_ascii_and_latex():
    text = loss_model(LOSSES["onehot, mean"][0])
    assert gradient_line(text, "ascii") == "dJ/dS = (softmax(S) - onehot(y, C)) / N"
    assert gradient_line(text, "latex") == (
        "\\frac{\\partial J}{\\partial S} = \\frac{\\operatorname{softmax}\\left(S\\right) - "
        "\\operatorname{onehot}\\left(y, C\\right)}{N}")


@pytest.mark.parametrize("name", LOSSES)
def test_the_softmax_cross_entropy_forms_no_onehot_matrix(name):
    explanation = symgrad.derive(loss_model(LOSSES[name][0]))
    ops = {node.op for node in postorder([explanation.gradients["S"].node,
                                          *explanation.program.definitions.values()])}
    assert "onehot" not in ops
    assert "pick_scatter" in ops   # the one-hot part: a scatter into softmax(S)


@pytest.mark.parametrize("name", LOSSES)
def test_the_softmax_cross_entropy_gradient_is_exact(name):
    exact(loss_model(LOSSES[name][0]), SIZES, IDS)


def test_the_error_signal_of_a_linear_classifier_is_the_textbook_one():
    text = ("input X : R^(d x N)\ninput y : {0..C-1}^N\nparam W : R^(C x d)\nparam b : R^C\n"
            "S = W X + b\nJ = -1/N sum(onehot(y, C) ∘ log_softmax(S))\ngrad J wrt W, b\n")
    lines = [line.strip() for line in str(symgrad.derive(text)).splitlines()]
    assert "δ = ∂J/∂S = (softmax(S) - onehot(y, C)) / N [C×N]" in lines
    assert "∂J/∂W = δ Xᵀ                             [C×d] = [C×N][N×d]" in lines
    exact(text, SIZES, IDS)


def softmax_reference(S, y):
    """-1/N Σ_j log softmax(S)[y_j, j] and its gradient, in plain NumPy."""
    shifted = S - S.max(axis=0)
    P = np.exp(shifted) / np.exp(shifted).sum(axis=0)
    N = S.shape[1]
    Y = np.zeros_like(S)
    Y[y, np.arange(N)] = 1
    return -np.log(P[y, np.arange(N)]).sum() / N, (P - Y) / N


def test_the_compiled_softmax_cross_entropy_matches_numpy_and_finite_differences():
    text = loss_model(LOSSES["onehot, mean"][0])
    rng = np.random.default_rng(1)
    S, y = rng.normal(size=(5, 7)), np.array([4, 0, 4, 2, 1, 3, 0])
    module = check_grads(text, args=[y, S])
    value, (grad,) = module.value_and_grad(y, S)
    expected_value, expected_grad = softmax_reference(S, y)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------ embeddings

EMBEDDING = ("param L : R^(d x V)\nparam u : R^d\ninput w : {0..V-1}^k\n"
             "E = L[:, w]\ns = sum(tanh(uᵀ E))\ngrad s wrt L, u\n")


def test_derive_writes_an_embeddings_gradient_for_the_gathered_columns():
    explanation = symgrad.derive(EMBEDDING)
    gathered, where = explanation.gradient_line(explanation.gradients["L"], "unicode").split("\n")
    head, shapes = gathered.split("[d×k]", 1)
    assert head.rstrip() == "∂s/∂L[:, w] = u δ"   # δ = ∂s/∂(uᵀ E), shared with ∂s/∂u
    assert shapes.strip() == "= [d×1][1×k]"
    assert where == "∂s/∂L: scattered back into L's shape, repeated ids summed [d×V]"
    ascii_lines = explanation.gradient_line(explanation.gradients["L"], "ascii", shapes=False).split("\n")
    assert ascii_lines == ["ds/dL[:, w] = u delta", "ds/dL: scattered back into L's shape, repeated ids summed"]


def test_derive_writes_each_gathered_part_of_a_window_and_where_they_go():
    lines = symgrad.derive((EXAMPLES / "window_ner.sg").read_text(encoding="utf-8")).text().splitlines()
    start = lines.index("Gradients of J") + 1
    assert [line.split("  [")[0].rstrip() for line in lines[start:start + 3]] == [
        "  ∂J/∂L[:, w] = unvec(Wᵀ δ_2ᵀ)", "  ∂J/∂L[:, wc] = unvec(Wᵀ δ_4ᵀ)",
        "  ∂J/∂L: each scattered back into L's shape, repeated ids summed [d×V]"]


def test_an_embeddings_gradient_sums_repeated_ids_exactly():
    exact(EMBEDDING, {"d": 2, "V": 4, "k": 5}, {"w": [1, 3, 1, 1, 0]})


def test_derive_steps_and_latex_run_on_every_construct_with_ids():
    text = ("param L : R^(d x V)\nparam S : R^(C x N)\nparam x : R^n\ninput w : {0..V-1}^k\n"
            "input y : {0..C-1}^N\ninput i : {0..n-1}\n"
            "s = sum(L[:, w]) + sum(pick(S, y)) + x[i] + sum(S[y, :]) + sum(onehot(y, C) ∘ S)\n"
            "grad s wrt L, S, x\n")
    explanation = symgrad.derive(text)
    steps = explanation.text("unicode", steps=True)
    assert "pick(S, y)" in steps and "L[:, w]" in steps and "x[i]" in steps and "S[y, :]" in steps
    latex = explanation.text("latex", steps=True)
    assert "\\operatorname{pick}\\left(S, y\\right)" in latex
    assert "scatter" in explanation.text("ascii", steps=True)


def test_the_mask_of_the_other_classes_compiles_to_picks_not_a_one_hot_matrix():
    # (1 - onehot(y, C)) ∘ M summed is sum(M) less the picks: the SVM's masked margins.
    text = (EXAMPLES / "svm_labels.sg").read_text(encoding="utf-8")
    code = symgrad.compiler.generate_module(symgrad.source.Source(text, "svm_labels.sg"))
    assert "_onehot(" not in code and "onehot(y, C) ∘ margins" not in code
    rng = np.random.default_rng(3)
    C, D, N = 4, 3, 9
    W, X, b = rng.standard_normal((C, D)), rng.standard_normal((D, N)), rng.standard_normal(C)
    y = rng.integers(0, C, N)
    module = symgrad.compile_source(text)
    S = W @ X + b[:, None]
    margins = np.maximum(0, S - S[y, np.arange(N)] + 1.0)
    margins[y, np.arange(N)] = 0
    value = module.evaluate(W=W, b=b, X=X, y=y, lambda_=0.1)
    np.testing.assert_allclose(value, margins.sum() / N + 0.1 * np.sum(W * W), rtol=1e-12)


def test_a_negation_of_a_negation_is_written_with_brackets_never_as_two_minus_signs():
    from symgrad.ir import Node
    from symgrad.notation import Printer
    from symgrad.shapes import column

    x = Node("variable", (), column("n"), None, data="x", name="x")
    negated = Node("neg", (x,), x.shape, None)
    printer = Printer({})
    assert printer.doc(Node("neg", (negated,), x.shape, None)) == "-(-x)"
    assert printer.doc(Node("add", (x, negated), x.shape, None)) == "x - x"
    text = symgrad.derive((EXAMPLES / "word2vec_negative.sg").read_text(encoding="utf-8")).text()
    assert "--" not in text and "+ -" not in text
