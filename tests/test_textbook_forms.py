"""`derive` writes gradients in the form a teacher would: numbers folded
through products and quotients, like terms merged, |det X| / det X ·
sign(det X) cancelled, the softmax cross-entropy as (softmax - labels) / N.
The lines expected are the notes' (each written here by hand); that they
are equal to the gradients is tests/test_rewrites.py's and the exact SymPy
checks' business.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import symgrad

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# the shape column at a line's end: [n×m], [n×m] = [n×p][p×m]
SHAPES = re.compile(r"\s+\[[^\]]*×[^\]]*\](\s*=\s*(\[[^\]]*\])+)?$")

BATCHNORM = """
param gamma : R^D
param beta : R^D
input X : R^(D x N)
input G : R^(D x N)
const one : R^N
const eps : R
mu = 1/N X one
xc = X - mu
var = 1/N (xc ∘ xc) one
xhat = xc / sqrt(var + eps)
L = sum(G ∘ (gamma ∘ xhat + beta))
grad L wrt gamma, beta, X
"""


def lines(model: str) -> list[str]:
    """derive's lines, stripped, their shape columns dropped."""
    text = symgrad.derive(model).text()
    return [SHAPES.sub("", line.strip()) for line in text.splitlines()]


def gradient_line(model: str, start: str) -> str:
    found = [line for line in lines(model) if line.startswith(start)]
    assert len(found) == 1, (start, lines(model))
    return found[0]


@pytest.mark.parametrize("model, start, expected", [
    # (2 (lambda / 2)) w: the numbers of λ/2 ‖w‖²'s gradient cancel
    (str(EXAMPLES / "logreg_columns.sg"), "∂J/∂w =", "∂J/∂w = lambda w + X δᵀ"),
    # (((1/abs(det X)) sign(det X)) det X) X⁻ᵀ
    ("param X : R^(n x n)\nl = log(abs(det(X)))\ngrad l wrt X\n", "∂l/∂X =", "∂l/∂X = X⁻ᵀ"),
    # ((-1 / N) onehot(y, C) + 1 / N) ∘ [...]: over one denominator
    (str(EXAMPLES / "svm_labels.sg"), "δ_1 =",
     "δ_1 = ∂J/∂(S - pick(S, y) + delta) = (1 - onehot(y, C)) / N ∘ [S - pick(S, y) + delta > 0]"),
    # δ_1 + onehot(y, C) ∘ colsum(-δ_1)
    (str(EXAMPLES / "svm_labels.sg"), "δ_S =", "δ_S = ∂J/∂S = δ_1 - onehot(y, C) ∘ colsum(δ_1)"),
    # Xᵀ (-σ(-y ∘ (X w)) ∘ y)
    (str(EXAMPLES / "logistic_regression.sg"), "∂L/∂w =", "∂L/∂w = -Xᵀ (σ(-y ∘ (X w)) ∘ y)"),
    # δ_xc + (1 / N) (-rowsum(δ_xc) oneᵀ)
    (BATCHNORM, "∂L/∂X =", "∂L/∂X = δ_xc - (1 / N) (rowsum(δ_xc) oneᵀ)"),
    # unblock(δ_cᵀ ∘ i ∘ (1 - g ∘ g), [3 h:4 h])ᵀ + unblock(..., [0:h])ᵀ + ...: the gates' signals stacked
    (str(EXAMPLES / "lstm_cell.sg"), "δ_z =",
     "δ_z = ∂J/∂z = [δ_c ∘ gᵀ ∘ (iᵀ ∘ (1 - iᵀ)), δ_c ∘ c0ᵀ ∘ (fᵀ ∘ (1 - fᵀ)), "
     "(h1ᵀ - targetᵀ) ∘ tanh(c)ᵀ ∘ (oᵀ ∘ (1 - oᵀ)), δ_c ∘ iᵀ ∘ (1 - gᵀ ∘ gᵀ)]"),
    # -σ(-(-U[:, k]ᵀ v))ᵀ
    (str(EXAMPLES / "word2vec_negative.sg"), "δ_1 =", "δ_1 = ∂J/∂(U[:, k]ᵀ v) = σ(U[:, k]ᵀ v)ᵀ"),
    # δᵀ + sum(-δᵀ) y: the sign out of the sum
    (str(EXAMPLES / "svm_loss.sg"), "∂L/∂s =", "∂L/∂s = δᵀ - sum(δᵀ) y"),
    # the same term twice, each with a 2 in a denominator: one term, no 2
    (BATCHNORM, "δ_xc =", "δ_xc = ∂L/∂xc = δ_xhat / sqrt(var + eps) - (1 / N) (rowsum(δ_xhat ∘ xhat / "
                          "sqrt(var + eps)) / sqrt(var + eps) oneᵀ) ∘ xc"),
    # reg/2 ‖W‖² + 0.5 reg sum(W ∘ W): (0.5 reg) W1 + (0.5 reg) W1 + (2 (reg / 2)) W1
    ("param W1 : R^(n x m)\nconst reg : R\nJ = reg / 2 ||W1||^2 + 0.5 reg sum(W1 ∘ W1)\ngrad J wrt W1\n",
     "∂J/∂W1 =", "∂J/∂W1 = 2 (reg W1)"),
    # the cross-entropy of one-hot columns Y: δ_1 - softmax(S) ∘ colsum(δ_1), δ_1 = (-1 / N) Y
    (str(EXAMPLES / "softmax_classifier.sg"), "δ =", "δ = ∂J/∂S = (softmax(S) ∘ colsum(Y) - Y) / N"),
    (str(EXAMPLES / "mlp.sg"), "δ_S =", "δ_S = ∂J/∂S = (softmax(S) ∘ colsum(Y) - Y) / N"),
    # ... and of integer labels (unchanged)
    (str(EXAMPLES / "softmax_labels.sg"), "δ =", "δ = ∂J/∂S = (softmax(S) - onehot(y, C)) / N"),
    # of one label o: δ_1 - colsum(δ_1ᵀ) softmax(Uᵀ v)ᵀ, δ_1 = scatter(-1, [o])ᵀ
    (str(EXAMPLES / "word2vec_naive.sg"), "δ =", "δ = ∂J/∂(Uᵀ v) = softmax(Uᵀ v)ᵀ - onehot(o, V)ᵀ"),
    # a positive log-likelihood: -(softmax(S) - onehot(y, C)) is onehot(y, C) - softmax(S)
    ("param S : R^(C x N)\ninput y : {0..C-1}^N\nJ = sum(pick(log_softmax(S), y))\ngrad J wrt S\n",
     "∂J/∂S =", "∂J/∂S = onehot(y, C) - softmax(S)"),
])
def test_the_gradient_reads_as_the_notes_write_it(model, start, expected):
    assert gradient_line(model, start) == expected


def test_no_example_writes_a_number_twice_in_one_product_or_a_term_twice():
    """No line of any example's derivation holds `(2 (`, `/ 2)`-and-`2 (`,
    or the same term twice in a row (a + a)."""
    for path in sorted(EXAMPLES.glob("*.sg")):
        for line in lines(str(path)):
            assert "(2 (" not in line, (path.name, line)
            terms = line.split(" = ")[-1].split(" + ")
            assert all(a != b for a, b in zip(terms, terms[1:])), (path.name, line)
