"""`symgrad derive --steps`: every path, and their sum is the gradient.

A variable used more than once (tied weights, an unrolled RNN, an L2 term,
both windows of the NER model) reaches the target along several paths; the
steps show each path's chain of local Jacobians and its term, and the
gradient as the sum of the terms. `Explanation.chain_rule()` gives the
same paths as data, and each path's term is evaluated here on its own (by
SymPy, at the inputs, tests/symbolic.py), summed, and compared with central
finite differences of the compiled model's plain evaluation, which knows
nothing of gradients: for every example and for random models.
"""

from __future__ import annotations

import re
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy
from gradcheck import assert_close, draw_inputs, entry_point, finite_differences, program_of
from random_models import RandomChooser, generate
from symbolic import Evaluator, numeric

import symgrad
from symgrad.cli import main
from symgrad.explain import PATH_LIMIT, Explanation

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DOMAINS = {"logdet.sg": {"X": "spd"}}  # inputs inside each example's domain (the rest: real)


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.mktemp("symgrad-cache")))
        yield


def as_value(arg):
    """An argument as symbolic.Evaluator takes it: a number, a column as a list, a list of rows."""
    return arg if np.ndim(arg) == 0 else np.asarray(arg).tolist()


def path_sums(text: str, sizes: dict, args: list) -> dict[str, dict[str, np.ndarray]]:
    """By target and variable: the sum of the path terms `--steps` writes,
    each term evaluated by SymPy at args; a gradient with too many paths to
    write out is left out."""
    program = program_of(text)
    explanation = Explanation(program)
    derived = explanation.partials.derived if explanation.partials else None
    values = {v.name: as_value(a) for v, a in zip(program.arguments, args)}
    evaluator = Evaluator(program, {d: sizes[d] for d in program.dims}, values, derived=derived)
    sums: dict[str, dict[str, np.ndarray]] = {}
    for request in program.grads:
        for name, rule in explanation.chain_rule(request.target).items():
            if rule.paths is None:
                assert rule.count > PATH_LIMIT
                continue
            assert len(rule.paths) == rule.count
            total = sympy.zeros(*evaluator.shape(program.variables[name].shape))
            for path in rule.paths:
                assert path.links[0].node is request.node and path.links[-1].operand.data == name
                total += evaluator.evaluate(path.term)
            with mpmath.workdps(30):
                cache: dict = {}
                sums.setdefault(request.target, {})[name] = np.array(
                    [[float(numeric(sympy.nsimplify(e) if e.is_Float else e, {}, cache)) for e in row]
                     for row in total.tolist()])
    return sums


def assert_paths_sum_to_the_gradient(text: str, sizes: dict, args: list) -> int:
    """Returns how many gradients were compared."""
    program = program_of(text)
    module = symgrad.compile_source(text)
    positions = [v.name for v in program.arguments]
    compared = 0
    for target, by_variable in path_sums(text, sizes, args).items():
        evaluate = entry_point(module, "evaluate", program, target)
        for name, total in by_variable.items():
            if name not in positions:  # a const: no argument to move
                continue
            fd, scale = finite_differences(evaluate, args, positions.index(name))
            assert_close(f"{target} by {name}", total.reshape(fd.shape), fd, scale, 6e-6, 1e-5, 1e-8)
            compared += 1
    return compared


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.sg")))
def test_the_paths_of_every_example_sum_to_its_gradient(name):
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    program = program_of(text)
    if program.undefined_functions:
        pytest.skip("a function without a formula has no value to compare")
    sizes = {dim: 2 + k for k, dim in enumerate(program.dims)}  # small, and unequal: a transpose shows
    args = draw_inputs(text, sizes, seed=3, domains=DOMAINS.get(name))
    assert assert_paths_sum_to_the_gradient(text, sizes, args) >= 1


@pytest.mark.parametrize("seed", range(40))
def test_the_paths_of_random_models_sum_to_their_gradients(seed):
    model = generate(RandomChooser(seed))
    args = draw_inputs(model.text, model.sizes, model.seed, model.domains, model.vector_1d)
    assert_paths_sum_to_the_gradient(model.text, model.sizes, args)


# ------------------------------------------------------------- the text

TIED = """param W : R^(n x m)
input X : R^m
h = W X
s = sum(tanh(Wᵀ h))
grad s wrt W
"""

RNN = """param W : R^(n x n)
param U : R^(n x m)
input x1 : R^m
input x2 : R^m
input x3 : R^m
h1 = tanh(U x1)
h2 = tanh(W h1 + U x2)
h3 = tanh(W h2 + U x3)
s = sum(h3)
grad s wrt W, U
"""


def derive_steps(capsys, tmp_path, text: str, *options: str) -> list[str]:
    path = tmp_path / "model.sg"
    path.write_text(text, encoding="utf-8")
    assert main(["derive", "--steps", *options, str(path)]) == 0
    return [line.strip() for line in capsys.readouterr().out.splitlines()]


def test_tied_weights_steps_show_both_paths_and_their_sum(capsys, tmp_path):
    lines = derive_steps(capsys, tmp_path, TIED)
    steps = lines[lines.index("Steps for s (G is the gradient arriving at each step)"):]
    assert "∂s/∂W = the sum of 2 paths, one for each way s uses W:" in steps
    chains = [line for line in steps if line.startswith("path ") and " · " in line]
    assert chains == [  # through h = W X, and through Wᵀ directly (the gradient's order)
        "path 1 = ∂s/∂(tanh(Wᵀ h)) · ∂(tanh(Wᵀ h))/∂(Wᵀ h) · ∂(Wᵀ h)/∂h · ∂h/∂W",
        "path 2 = ∂s/∂(tanh(Wᵀ h)) · ∂(tanh(Wᵀ h))/∂(Wᵀ h) · ∂(Wᵀ h)/∂(Wᵀ) · ∂(Wᵀ)/∂W"]
    terms = [line.partition(" = ")[2] for line in steps if line.startswith("path ") and " · " not in line]
    assert len(terms) == 2
    (total,) = [line for line in steps if line.startswith("∂s/∂W = ") and "paths" not in line]
    assert total == "∂s/∂W = " + " + ".join(terms)


def test_an_unrolled_rnn_has_one_path_per_step_that_uses_w(capsys, tmp_path):
    lines = derive_steps(capsys, tmp_path, RNN)
    lines = lines[lines.index("Steps for s (G is the gradient arriving at each step)"):]
    # W is used by steps 2 and 3 (the paths through W h2 and through h2), U by all three steps.
    assert "∂s/∂W = the sum of 2 paths, one for each way s uses W:" in lines
    assert "∂s/∂U = the sum of 3 paths, one for each way s uses U:" in lines
    (total,) = [line for line in lines if line.startswith("∂s/∂U = ") and "paths" not in line]
    assert total.count(" + ") == 2


def test_a_value_used_twice_in_one_operation_names_each_operand(capsys, tmp_path):
    lines = derive_steps(capsys, tmp_path, "param x : R^n\ns = sum(x ∘ x)\ngrad s wrt x\n")
    assert "path 1 = ∂s/∂(x ∘ x) · ∂(x ∘ x)/∂x (operand 1)" in lines
    assert "path 2 = ∂s/∂(x ∘ x) · ∂(x ∘ x)/∂x (operand 2)" in lines
    assert lines[-1] == "∂s/∂x = x + x"


def test_too_many_paths_are_counted_not_written(capsys, tmp_path):
    # Each definition uses the one before twice: 2^40 paths.
    body = "".join(f"x{k} = tanh(x{k - 1}) + x{k - 1}\n" for k in range(1, 41))
    lines = derive_steps(capsys, tmp_path, f"param x0 : R^n\n{body}s = sum(x40)\ngrad s wrt x0\n")
    assert (f"∂s/∂x0: the sum of about 10^12 paths, more than the {PATH_LIMIT} written out; "
            "the error signals above add them up at each value used more than once") in lines


def test_latex_steps_of_several_paths_are_latex_lines(capsys, tmp_path):
    lines = derive_steps(capsys, tmp_path, TIED, "--latex")
    steps = lines[lines.index(r"\noindent\textbf{Steps for $s$ (G is the gradient arriving at each step)}") + 1:]
    rows = [line for line in steps if line and not line.startswith(("\\begin{", "\\end{"))]
    assert rows and all(line.endswith(r" \\") or next_line == r"\end{align*}" for line, next_line in zip(steps, steps[1:])
                        if line in rows)
    assert (r"\frac{\partial s}{\partial W} &= \text{the sum of 2 paths, one for each way }s\text{ uses }W\text{:} \\"
            in steps)


def test_an_l2_term_is_a_path_of_its_own(capsys, tmp_path):
    lines = derive_steps(capsys, tmp_path, "param W : R^(n x m)\ninput x : R^m\nconst λ = 0.1\n"
                                           "J = sum(tanh(W x)) + λ ||W||^2\ngrad J wrt W\n")
    assert "∂J/∂W = the sum of 2 paths, one for each way J uses W:" in lines
    chains = [line for line in lines if line.startswith("path ") and " · " in line]
    assert len(chains) == 2 and any("‖W‖" in chain for chain in chains)


@pytest.mark.parametrize("text", [TIED, (EXAMPLES / "window_ner.sg").read_text(encoding="utf-8")],
                         ids=["tied", "window_ner"])
def test_the_sum_of_the_paths_reads_as_the_gradient_section(capsys, tmp_path, text):
    lines = derive_steps(capsys, tmp_path, text)
    start = next(k for k, line in enumerate(lines) if line.startswith("Steps for"))
    shapes = r" +\[[^]]*\]( = (\[[^]]*\])+)?$"
    gradients = {re.sub(shapes, "", line) for line in lines[:start] if line.startswith("∂")}
    sums = [line for line in lines[start:]
            if line.startswith("∂") and not any(mark in line for mark in (" · ", "paths", "↦"))]
    assert sums and all(line in gradients for line in sums), (sums, gradients)
