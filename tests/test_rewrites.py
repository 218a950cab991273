"""Every rewrite of symgrad.rewrites is an identity: for each named rewrite,
a model where it applies is differentiated with the whole table and with
the table less that rewrite, and the two gradient graphs are evaluated by
the independent SymPy evaluator of tests/symbolic.py (which knows nothing
of the rewrites) at small concrete sizes: every entry must be equal,
exactly. The rewrite must also have applied (counted), so that the
comparison is not of two equal graphs by accident.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
import sympy
from symbolic import Evaluator, random_point
from test_textbook_forms import BATCHNORM

from symgrad.differentiation import differentiate_program
from symgrad.ir import Node
from symgrad.lowering import analyze
from symgrad.ops import OPS
from symgrad.rewrites import REWRITES
from symgrad.second_order import differentiate_second_order
from symgrad.shapes import Shape
from symgrad.source import Source

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LABELS = """
param S : R^(C x N)
input y : {0..C-1}^N
J = -1/N sum(pick(log_softmax(S), y)) + 2 sum(pick(log_softmax(S), y))
grad J wrt S
"""

WORD2VEC = """
param U : R^(d x V)
param v : R^d
input o : {0..V-1}
J = -log_softmax(U^T v)[o]
grad J wrt U, v
"""

# the rewrite's name (": a second case"): a model where it applies, its sizes
CASES = {
    "broadcast by itself": ("param A : R^(n x m)\nJ = sum(A ∘ A)\ngrad J wrt A\n", {}),
    "numbers folded": ("param A : R^(n x m)\nJ = 3 ||A||^2\ngrad J wrt A\n", {}),
    "zero added": ("param x : R^n\nJ = sum(relu(x) ∘ 0) + x^T x\ngrad J wrt x\n", {}),
    "sum with a negation": (BATCHNORM, {"D": 2, "N": 2}),
    "like terms": (BATCHNORM, {"D": 2, "N": 2}),
    "like terms: of opposite signs": ("param x : R^n\nparam y : R^n\nJ = sum(exp(x ∘ y - x ∘ y + x))\n"
                                      "grad J wrt x, y\n", {}),
    "parts that tile": ("param z : R^(2 h)\nJ = sum(σ(z[0:h]) ∘ tanh(z[h:2 h]))\ngrad J wrt z\n", {"h": 2}),
    "parts that tile: columns": ("param Z : R^(2 x 4)\nJ = sum(exp(Z[:, 0:1])) + sum(tanh(Z[:, 1:4]))\n"
                                 "grad J wrt Z\n", {}),
    "common denominator": ((EXAMPLES / "svm_labels.sg").read_text(encoding="utf-8"), {"C": 3, "D": 2}),
    "common denominator: seen in the gradient": ("param S : R^(C x N)\ninput y : {0..C-1}^N\n"
                                                 "R = relu(S)\nJ = 1/N (sum(R) - sum(pick(R, y)))\n"
                                                 "grad J wrt S\n", {"C": 3}),
    "sign outward": ("param s : R^n\nJ = sum(-s ∘ s)\ngrad J wrt s\n", {}),
    "sign out of a product": ("param A : R^(n x m)\nparam x : R^m\nJ = sum((-A) x) - sum(-(x - 1))\n"
                              "grad J wrt A, x\n", {}),
    "times one or zero": ("param x : R^n\nJ = sum(x .^ 2)\ngrad J wrt x\n", {}),
    "numbers gathered": ("param W : R^(n x m)\nconst reg : R\nJ = reg / 2 ||W||^2 + 0.5 reg sum(W ∘ W)\n"
                         "grad J wrt W\n", {}),
    "factors cancelled": ("param X : R^(n x n)\nl = log(abs(det(X)))\ngrad l wrt X\n", {}),
    "gate of zero": ("param x : R^n\nJ = sum(relu(x) ∘ 0) + x^T x\ngrad J wrt x\n", {}),
    "scale and diagonal products": ("param A : R^(n x n)\nparam B : R^(n x n)\nparam v : R^n\n"
                                    "t = tr(A B) + sum(A diag(v) B)\ngrad t wrt A, B, v\n", {}),
    "negation outward": (BATCHNORM, {"D": 2, "N": 2}),
    "selections": ("param r : R^(1 x N)\nparam S : R^(C x N)\ninput y : {0..C-1}^N\n"
                   "J = sum(pick(r + S, y))\ngrad J wrt r, S\n", {"C": 3}),
    "one-hot sums": ("param r : R^(1 x N)\nparam a : R\nparam S : R^(C x N)\ninput y : {0..C-1}^N\n"
                     "J = sum(r ∘ onehot(y, C)) + sum(a ∘ onehot(y, C)) + sum(S)\ngrad J wrt r, a\n",
                     {"C": 3}),
    "block of a block": ("param x : R^2\nparam y : R^2\ninput W : R^(6 x 1)\nJ = sum([x; y] ∘ W[0:4, :])\n"
                         "grad J wrt x, y\n", {}),
    "part of a constant": ("param x : R^2\nparam y : R^2\nJ = sum([x; y])\ngrad J wrt x, y\n", {}),
    "softmax cross-entropy of labels": (LABELS, {"C": 3}),
    "softmax cross-entropy of labels: one label": (WORD2VEC, {}),
    "diagonal of a product": ("param A : R^(n x n)\nparam B : R^(n x n)\nparam v : R^n\n"
                              "t = sum(A diag(v) B)\ngrad t wrt v\n", {}),
    "by one": ("param x : R^n\nJ = sum(x .^ 2)\ngrad J wrt x\n", {}),
    "double negation": ("param x : R^n\nJ = sum(-(-x))\ngrad J wrt x\n", {}),
    "double negation: of a number times a value": (
        (EXAMPLES / "word2vec_negative.sg").read_text(encoding="utf-8"), {"K": 2}),
    "negated difference": ("param S : R^(C x N)\ninput y : {0..C-1}^N\nJ = sum(pick(log_softmax(S), y))\n"
                           "grad J wrt S\n", {"C": 3}),
    "transposes": ("param x : R^n\nparam W : R^(n x n)\nJ = x^T W x\ngrad J wrt x, W\n", {}),
    "identity added": ("param w : R^n\ninput X : R^(N x n)\nJ = sum(softplus(X w)) + 0.5 ||w||^2\n"
                       "hessian J wrt w\n", {}),
    "identity added: of a gradient": ("param A : R^(n x n)\nJ = tr(A) + ||A||^2\ngrad J wrt A\n", {}),
    "sums along an axis": ("param w : R^n\nparam b : R\ninput X : R^(N x n)\nJ = sum(softplus(X w + b))\n"
                           "hessian J wrt w, b\n", {}),
    "sums along an axis: a Jacobian's diagonal": ("param b : R\ninput x : R^n\ny = tanh(x + b)\n"
                                                   "jacobian y wrt b\n", {}),
    "diagonal of an identity": ("param x : R^n\ny = tanh(x)\njacobian y wrt x\n", {}),
}
SIZES = {"n": 2, "m": 2, "N": 2, "C": 2, "d": 2, "V": 3}


def counted(rewrite, fired: list):
    """The rewrite, which notes in `fired` each time it applies."""
    def apply(*args):
        result = rewrite.apply(*args)
        if result is not None:
            fired.append(rewrite.name)
        return result
    return dataclasses.replace(rewrite, apply=apply)


def exactly_equal(expected, got, evaluator: Evaluator, seed: int) -> bool:
    """Equal as formulas (their difference simplifies to 0), or else, for
    formulas SymPy will not simplify (|det X| against det X sign(det X)),
    equal in exact rational arithmetic at three random rational points."""
    if expected == got or sympy.simplify(expected - got) == 0:
        return True
    rng = random.Random(seed)
    for _ in range(3):
        point = random_point(evaluator, rng)
        difference = (expected - got).xreplace(point)
        if not (difference.is_Rational and difference == 0 or sympy.simplify(difference) == 0):
            return False
    return True


def table_without(name: str, fired: list) -> tuple:
    return tuple(counted(r, fired) for r in REWRITES if r.name != name)


def test_every_rewrite_has_a_case_and_the_names_are_unique():
    names = [r.name for r in REWRITES]
    assert len(names) == len(set(names))
    assert {case.split(":")[0] for case in CASES} == set(names)
    for rewrite in REWRITES:
        assert rewrite.pattern and rewrite.ops and all(op in OPS or op == "*" for op in rewrite.ops)


@pytest.mark.parametrize("case", list(CASES))
def test_the_rewrite_keeps_every_gradient(case):
    text, sizes = CASES[case]
    name = case.split(":")[0]  # "name: another case of it"
    program = analyze(Source(text, "model.sg"))
    fired: list = []
    table = tuple(counted(r, fired) for r in REWRITES)
    rewritten = differentiate_program(program, table)
    second = differentiate_second_order(program, rewritten, table)
    assert name in fired, f"the case of '{name}' does not exercise it"
    unrewritten = differentiate_program(program, table_without(name, []))
    second_without = differentiate_second_order(program, unrewritten, table_without(name, []))
    evaluator = Evaluator(program, {**SIZES, **sizes})
    pairs = [(variable, node, without.gradients[variable])
             for with_it, without in zip(rewritten, unrewritten) for variable, node in with_it.gradients.items()]
    # Second derivatives in matrix form: the Hessians and Jacobians.
    pairs += [(d.target, d.matrix, e.matrix) for d, e in zip(second.hessians + second.jacobians,
                                                            second_without.hessians + second_without.jacobians)]
    for variable, node, unrewritten_node in pairs:
        got, expected = evaluator.evaluate(node), evaluator.evaluate(unrewritten_node)
        assert got.shape == expected.shape
        for k, (e, g) in enumerate(zip(expected, got)):
            assert exactly_equal(e, g, evaluator, k), (name, variable, k, e, g)


def test_the_rewrites_change_the_graph():
    """Without 'numbers gathered' and 'like terms', the batch norm's
    gradient keeps 2 (... / (2 sqrt(var + eps))): the rewrites do something."""
    program = analyze(Source(BATCHNORM, "model.sg"))
    without = [r for r in REWRITES if r.name not in ("numbers gathered", "like terms")]
    fewer, more = (sum(1 for _ in _nodes(d.gradients["X"])) for d in (
        differentiate_program(program, tuple(without))[0], differentiate_program(program)[0]))
    assert more < fewer


def _nodes(root: Node):
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            yield node
            stack.extend(node.args)


def test_the_cross_entropy_written_with_labels_y_is_the_fused_gradient():
    """derive writes log_softmax'(log_softmax(S), c Y) as
    (softmax(S) ∘ colsum(Y) - Y) / N for c = -1/N (its expansion): equal to
    G - softmax(S) ∘ colsum(G) for every Y, not only one-hot ones."""
    program = analyze(Source("param S : R^(C x N)\ninput Y : R^(C x N)\nconst a : R\n"
                             "J = -1/N sum(Y ∘ log_softmax(S)) + a sum(Y ∘ log_softmax(S))\n"
                             "grad J wrt S\n", "model.sg"))
    evaluator = Evaluator(program, {"C": 3, "N": 2})
    fused = [n for n in _nodes(differentiate_program(program)[0].gradients["S"]) if n.op == "log_softmax_grad"]
    assert fused
    for node in fused:
        expansion = OPS["log_softmax_grad"].expansion(*node.args)
        assert expansion.shape == Shape(*node.shape.dims())
        assert any(n.op == "colsum" and n.args[0].op != "mul" for n in _nodes(expansion)) or \
            node.args[1].op != "mul"
        for e, g in zip(evaluator.evaluate(node), evaluator.evaluate(expansion)):
            assert sympy.simplify(e - g) == 0
