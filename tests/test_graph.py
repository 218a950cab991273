"""`symgrad graph` and symgrad.graph: the computational graph as the lecture
notes draw it.

The numbers on the wires are compared with numbers worked out here: the
lecture's worked example 2 (../shared/spec/worked-examples.md), and at
random inputs, plain NumPy on inputs drawn here with the generator and the
recipe that `symgrad check` documents (docs/checking.md). The DOT source
is read as text (its nodes, wires and their labels' cells); the tests that
render need Graphviz's `dot` and are skipped where it is missing.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest

import symgrad
from symgrad.cli import main

pytest.importorskip("graphviz", reason="the graph extra (pip install 'symgrad[graph]') is not installed")

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

RED = "red3"  # the gradients' colour (#cd0000 in SVG); values are black


# ------------------------------------------------------- reading DOT source

def cells(label: str) -> list[tuple[str, str]]:
    """The (colour, text) of each row of an HTML-like label, top to bottom."""
    found = re.findall(r'<TD>(?:<FONT COLOR="([^"]+)"[^>]*>)?([^<]*)', label)
    return [(color or "black", html.unescape(text)) for color, text in found]


class Dot:
    """A graph's DOT source, read: node labels by name, wires as
    (tail, head, cells), clusters by label with their nodes."""

    def __init__(self, source: str):
        self.source = source
        self.nodes = {name: cells(label) for name, label in
                      re.findall(r"^\s*(\w+) \[label=<(.*)>.*\]$", source, re.MULTILINE)}
        self.nodes.update({name: [("black", label)] for name, label in  # the output's terminal
                           re.findall(r"^\s*(\w+) \[label=(\w+) shape=plaintext\]$", source, re.MULTILINE)})
        self.wires = [(tail, head, cells(label)) for tail, head, label in
                      re.findall(r"^\s*(\w+) -> (\w+) \[label=<(.*)>\]$", source, re.MULTILINE)]
        self.clusters = {}
        for body in re.findall(r"subgraph cluster_\w+ \{(.*?)\n\t\}", source, re.DOTALL):
            label = re.search(r"label=(\w+)", body).group(1)
            self.clusters[label] = set(re.findall(r"^\s*(\w+) \[label=<", body, re.MULTILINE))

    def named(self, text: str) -> str:
        """The one node whose label's first row is text (a gate's symbol, a leaf's name)."""
        found = [name for name, rows in self.nodes.items() if rows[0][1] == text]
        assert len(found) == 1, (text, found)
        return found[0]

    def wire(self, tail: str, head: str | None = None) -> dict:
        """The wire from tail to head (nodes by their label; without head,
        tail's only wire): its value, its gradient and its other rows (name
        and shape)."""
        found = [c for t, h, c in self.wires if t == self.named(tail) and head in (None, self.nodes[h][0][1])]
        assert len(found) == 1, (tail, head, found)
        return rows(found[0])

    def output(self) -> dict:
        (_, _, found), = [w for w in self.wires if w[1].startswith("out")]
        return rows(found)


def rows(label_cells: list[tuple[str, str]]) -> dict:
    return {"value": [t for c, t in label_cells if c == "black"],
            "gradient": [t for c, t in label_cells if c == RED],
            "shape": [t for c, t in label_cells if c not in ("black", RED)]}


# ------------------------------------------- worked example 2: the notes' numbers

MAX_BRANCH = EXAMPLES / "max_branch.sg"
NOTES = {"x": 1.0, "y": 2.0, "z": 0.0}


def test_the_model_is_worked_example_2():
    text = MAX_BRANCH.read_text(encoding="utf-8")
    assert re.search(r"^f = \(x \+ y\) max\(y, z\)$", text, re.MULTILINE)
    assert re.search(r"^grad f wrt x, y, z$", text, re.MULTILINE)


def test_worked_example_2_shows_the_notes_numbers_on_its_wires():
    """f = (x + y) max(y, z) at x = 1, y = 2, z = 0 (the notes): x + y = 3,
    max(y, z) = 2, f = 6; the product sends x + y the other factor, 2, and
    max the other, 3; + passes 2 to x and to y; max routes its 3 to y (y > z)
    and 0 to z; y, used twice, sums 2 + 3 = 5."""
    dot = Dot(symgrad.graph(str(MAX_BRANCH), inputs=NOTES).source)
    assert dot.wire("x", "+") == {"value": ["1"], "shape": ["R"], "gradient": ["2"]}
    assert dot.wire("y", "+") == {"value": ["2"], "shape": ["R"], "gradient": ["2"]}
    assert dot.wire("y", "max") == {"value": ["2"], "shape": ["R"], "gradient": ["3"]}
    assert dot.wire("z", "max") == {"value": ["0"], "shape": ["R"], "gradient": ["0"]}
    assert dot.wire("+", "×") == {"value": ["3"], "shape": ["R"], "gradient": ["2"]}
    assert dot.wire("max", "×") == {"value": ["2"], "shape": ["R"], "gradient": ["3"]}
    assert dot.output() == {"value": ["6"], "shape": ["f : R"], "gradient": ["1"]}
    assert dot.nodes[dot.named("y")] == [("black", "y"), (RED, "Σ 5")]   # gradients sum at the branch
    assert dot.nodes[dot.named("x")] == [("black", "x")]                  # no branch, no sum


@needs_dot
@pytest.mark.parametrize("suffix", ["svg", "png", "pdf"])
def test_worked_example_2_renders(tmp_path, suffix):
    path = tmp_path / f"graph.{suffix}"
    assert main(["graph", str(MAX_BRANCH), "--inputs", str(npz(tmp_path, NOTES)), "-o", str(path)]) == 0
    data = path.read_bytes()
    if suffix == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = np.frombuffer(data[16:24], dtype=">u4")
        assert width > 200 and height > 100
    elif suffix == "pdf":
        assert data.startswith(b"%PDF-") and len(data) > 1000
    else:
        root = ElementTree.fromstring(data)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        for shown in ("x", "y", "z", "+", "max", "×", "1", "2", "3", "6", "0", "Σ 5"):
            assert shown in texts, shown
        red = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("fill") == "#cd0000"]
        assert sorted(red) == sorted(["2", "2", "3", "0", "2", "3", "1", "Σ 5"])


def npz(folder: Path, arrays: dict) -> Path:
    path = folder / "inputs.npz"
    np.savez(path, **arrays)
    return path


# --------------------------------------------------------- at random inputs

def drawn(seed: int, shapes: list[tuple]) -> list[np.ndarray]:
    """Inputs drawn as docs/checking.md says `symgrad check` draws them: one
    generator seeded with the seed, the arguments in declaration order,
    standard normal, a matrix's entries divided by sqrt(its columns)."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(shape) for shape in shapes]
    return [v / np.sqrt(v.shape[1]) if v.ndim == 2 else v for v in values]


def four(x: float) -> str:
    return f"{x:.4g}"


def test_at_a_seed_the_wires_carry_the_values_and_gradients_of_the_drawn_inputs(capsys):
    x, y, z = drawn(7, [(), (), ()])
    assert main(["graph", str(MAX_BRANCH), "--at", "7"]) == 0
    dot = Dot(capsys.readouterr().out)
    routed_to_y = y >= z
    assert dot.wire("x", "+") == {"value": [four(x)], "shape": ["R"], "gradient": [four(max(y, z))]}
    assert dot.wire("y", "max")["gradient"] == [four((x + y) * routed_to_y)]
    assert dot.wire("z", "max")["gradient"] == [four((x + y) * (not routed_to_y))]
    assert dot.output()["value"] == [four((x + y) * max(y, z))]
    assert dot.nodes[dot.named("y")][1] == (RED, "Σ " + four(max(y, z) + (x + y) * routed_to_y))


def test_the_window_model_shows_small_arrays_in_full_and_large_ones_as_shape_and_norm():
    """s = uᵀ σ(W x + b) at seed 3, n = 3, m = 4: W (12 entries) and its
    gradient δ xᵀ as shape and norm; the vectors (3 and 4 entries) in full."""
    W, b, u, x = drawn(3, [(3, 4), (3,), (3,), (4,)])
    z = W @ x + b
    h = 1 / (1 + np.exp(-z))
    delta = u * h * (1 - h)
    dot = Dot(symgrad.graph(str(EXAMPLES / "window.sg"), at=3).source)

    def full(v):
        return "[" + "; ".join(four(e) for e in v) + "]"

    assert dot.wire("W")["value"] == [f"3×4, ‖·‖ = {four(np.linalg.norm(W))}"]
    assert dot.wire("W")["gradient"] == [f"3×4, ‖·‖ = {four(np.linalg.norm(np.outer(delta, x)))}"]
    assert dot.wire("x") == {"value": [full(x)], "shape": ["R^m"], "gradient": [full(W.T @ delta)]}
    assert dot.wire("b", "+") == {"value": [full(b)], "shape": ["R^n"], "gradient": [full(delta)]}
    assert dot.wire("f") == {"value": [full(h)], "shape": ["h : R^n"], "gradient": [full(u)]}
    assert dot.output()["value"] == [four(u @ h)]


def test_dims_set_the_sizes_of_the_random_inputs():
    dot = Dot(symgrad.graph(str(EXAMPLES / "window.sg"), dims={"n": 2, "m": 5}).source)
    assert dot.wire("W")["value"][0].startswith("2×5, ")
    assert dot.wire("x")["value"][0].count(";") == 4


# ------------------------------------------------------ layout and shapes

def test_the_window_model_labels_every_wire_with_its_shape():
    """The shapes of the model's declarations: W : R^(n x m), x : R^m,
    b, u : R^n; W x and z are R^n, uᵀ is R^(1×n), s is R."""
    dot = Dot(symgrad.graph(str(EXAMPLES / "window.sg")).source)
    assert dot.wire("W") == {"value": [], "shape": ["R^(n×m)"], "gradient": []}
    assert dot.wire("x")["shape"] == ["R^m"]
    assert dot.wire("b", "+")["shape"] == ["R^n"]
    assert dot.wire("+", "f")["shape"] == ["z : R^n"]
    assert dot.wire("u", "ᵀ")["shape"] == ["R^n"]
    assert dot.wire("ᵀ")["shape"] == ["R^(1×n)"]
    assert dot.output()["shape"] == ["s : R"]
    assert len(dot.wires) == 9  # W, x into W x; W x, b into +; z into f; u into ᵀ; uᵀ, h into uᵀ h; s out


def test_a_big_model_is_grouped_by_definition():
    """mlp.sg: hidden = relu(W1 X + b1), S = W2 hidden + b2, J = ...: more
    gates than a picture takes in at once, so each definition is a box."""
    dot = Dot(symgrad.graph(str(EXAMPLES / "mlp.sg")).source)
    assert set(dot.clusters) == {"hidden", "S", "J"}
    assert dot.named("relu") in dot.clusters["hidden"]
    assert dot.named("log_softmax") in dot.clusters["J"]
    assert not any(dot.named(leaf) in box for leaf in ("W1", "X", "b1", "W2") for box in dot.clusters.values())
    assert Dot(symgrad.graph(str(EXAMPLES / "mlp.sg"), group=False).source).clusters == {}


def test_a_small_model_is_grouped_only_when_asked(capsys):
    assert Dot(symgrad.graph(str(MAX_BRANCH)).source).clusters == {}
    assert main(["graph", str(MAX_BRANCH), "--group"]) == 0
    dot = Dot(capsys.readouterr().out)
    assert dot.clusters == {"f": {dot.named("+"), dot.named("max"), dot.named("×")}}


# A wire's type: R, R^n, R^(n×m), named (`h : R^n`); ids {0..V - 1}, {0..V - 1}^5.
TYPE = re.compile(r"(\w+ : )?(R(\^.+)?|\{0\.\.[^}]+\}(\^.+)?)")
# The value of a wire of ids: integers, in full or as their count and range.
IDS = re.compile(r"\d+|\[\d+(; \d+)*\]|\d+ ids in \d+\.\.\d+")


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.sg")), ids=lambda p: p.name)
def test_every_example_graphs_without_and_with_values(example, tmp_path):
    """The DOT source only (no Graphviz run): a wire into every gate from
    each of its operands, each wire labelled with a type. At seed 0 every
    wire has a value too; a wire of ids (a model with `{0..C-1}` inputs)
    carries integers and no gradient: ids are not differentiated."""
    assert main(["graph", str(example), "-o", str(tmp_path / "graph.dot")]) == 0
    dot = Dot((tmp_path / "graph.dot").read_text(encoding="utf-8"))
    assert dot.wires
    assert all(TYPE.fullmatch(rows[-1][1]) for _, _, rows in dot.wires)
    gates = {name for name, rows in dot.nodes.items() if name.startswith("g")}
    assert gates <= {head for _, head, _ in dot.wires}
    assert main(["graph", str(example), "--at", "0", "-o", str(tmp_path / "valued.dot")]) == 0
    valued = Dot((tmp_path / "valued.dot").read_text(encoding="utf-8"))
    assert [(tail, head) for tail, head, _ in valued.wires] == [(tail, head) for tail, head, _ in dot.wires]
    wires = [rows(label) for _, _, label in valued.wires]
    assert all(len(wire["value"]) == 1 and len(wire["gradient"]) <= 1 for wire in wires)
    of_ids = [wire for wire in wires if wire["shape"][0].startswith("{")]
    assert bool(of_ids) == ("{0.." in example.read_text(encoding="utf-8"))
    assert all(IDS.fullmatch(wire["value"][0]) and wire["gradient"] == [] for wire in of_ids), of_ids


def test_the_ids_on_the_wires_are_those_symgrad_check_draws(monkeypatch):
    """window_ner.sg at seed 5 (d, V, n = 3, 4, 5): the graph shows the
    inputs drawn by the checker's recipe, here in plain NumPy: one generator,
    the arguments in order, L, W, b, u standard normal (a matrix's entries
    divided by sqrt(its columns)), then the ids w and wc uniform in 0..V-1,
    the last of each the same as its first (a repeated id). And `symgrad
    check` evaluates the model first at the very same arrays."""
    rng = np.random.default_rng(5)
    L = rng.standard_normal((3, 4)) / 2
    W = rng.standard_normal((5, 15)) / np.sqrt(15)
    b, u = rng.standard_normal(5), rng.standard_normal(5)
    w, wc = rng.integers(0, 4, 5), rng.integers(0, 4, 5)
    w[-1], wc[-1] = w[0], wc[0]

    def full(v):
        return "[" + "; ".join(four(e) for e in v) + "]"

    dot = Dot(symgrad.graph(str(EXAMPLES / "window_ner.sg"), at=5).source)
    assert dot.wire("w") == {"value": [full(w)], "shape": ["{0..V - 1}^5"], "gradient": []}
    assert dot.wire("wc")["value"] == [full(wc)]

    def values(leaf):  # on every wire out of the leaf (W, b, u, L are used by both windows)
        return {rows(label)["value"][0] for tail, _, label in dot.wires if tail == dot.named(leaf)}
    assert values("b") == {full(b)} and values("u") == {full(u)}
    assert values("W") == {f"5×15, ‖·‖ = {four(np.linalg.norm(W))}"}
    assert values("L") == {f"3×4, ‖·‖ = {four(np.linalg.norm(L))}"}

    module = symgrad.load(str(EXAMPLES / "window_ner.sg"), with_check=True)
    evaluated = []
    evaluate = module.evaluate
    monkeypatch.setattr(module, "evaluate", lambda *args: evaluated.append([np.copy(a) for a in args])
                        or evaluate(*args))
    assert symgrad.check(module, seed=5).passed
    first = evaluated[0]
    for drawn_here, checked in zip([L, W, b, u, w, wc], first):
        assert np.array_equal(checked, drawn_here)
    assert [a.dtype.kind for a in first[4:]] == ["i", "i"]


def test_inputs_outside_a_domain_are_drawn_again_as_the_check_does_and_given_ones_show_nan(tmp_path):
    """f = log(x - y): at a seed whose first draw has x <= y, the wires
    carry the second draw (x, y the next two normals of the generator), as
    `symgrad check` redraws; given x = 1, y = 2 the check refuses them,
    while the graph shows f = nan (log of -1) with its gradients."""
    model = tmp_path / "domain.sg"
    model.write_text("input x : R\ninput y : R\nf = log(x - y)\ngrad f wrt x, y\n")
    seed = next(seed for seed in range(100) if np.subtract(*drawn(seed, [(), ()])) <= 0)
    x, y = drawn(seed, [(), (), (), ()])[2:]
    assert x > y
    dot = Dot(symgrad.graph(str(model), at=seed).source)
    assert dot.wire("x")["value"] == [four(x)] and dot.wire("y")["value"] == [four(y)]
    assert dot.output() == {"value": [four(np.log(x - y))], "shape": ["f : R"], "gradient": ["1"]}
    from symgrad.checking import CheckInputError
    with pytest.raises(CheckInputError, match="is -1, not positive with the inputs given"):
        symgrad.check(str(model), inputs={"x": 1.0, "y": 2.0})
    dot = Dot(symgrad.graph(str(model), inputs={"x": 1.0, "y": 2.0}).source)
    assert dot.output()["value"] == ["nan"] and dot.wire("x")["gradient"] == ["-1"]


def test_a_single_id_is_shown_as_an_integer():
    """word2vec_naive.sg at seed 0: the center word c and the outside word
    o, single ids in 0..V-1 (V = 4: d, V = 3, 4), drawn after Vc and U."""
    rng = np.random.default_rng(0)
    rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    c, o = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    dot = Dot(symgrad.graph(str(EXAMPLES / "word2vec_naive.sg"), at=0).source)
    assert dot.wire("c") == {"value": [str(c)], "shape": ["{0..V - 1}"], "gradient": []}
    assert dot.wire("o") == {"value": [str(o)], "shape": ["{0..V - 1}"], "gradient": []}


def test_a_second_grad_statement_is_chosen_by_its_target(tmp_path, capsys):
    model = tmp_path / "two.sg"
    model.write_text("input a : R\ninput b : R\np = a b\nq = a + b\ngrad p wrt a\ngrad q wrt b\n")
    assert main(["graph", str(model), "--grad", "q"]) == 0
    dot = Dot(capsys.readouterr().out)
    assert dot.output()["shape"] == ["q : R"] and "×" not in [rows[0][1] for rows in dot.nodes.values()]
    assert main(["graph", str(model), "--grad", "r"]) == 2
    assert "no grad statement of 'r' (its statements: p, q)" in capsys.readouterr().err


# ---------------------------------------------------- outputs and errors

@needs_dot
def test_in_jupyter_the_graph_shows_as_svg():
    bundle = symgrad.graph(str(MAX_BRANCH))._repr_mimebundle_()
    assert ElementTree.fromstring(bundle["image/svg+xml"].encode()).tag.endswith("svg")
    assert repr(symgrad.graph(str(MAX_BRANCH))) == "<symgrad graph of max_branch.sg: 7 wires>"  # and the output


def test_without_dot_the_command_says_what_to_install_and_exits_2(tmp_path):
    """A PATH with no `dot` on it (and no Python either: the interpreter is
    run by its full path)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))
    done = subprocess.run([sys.executable, "-m", "symgrad", "graph", str(MAX_BRANCH), "-o", str(tmp_path / "g.svg")],
                          env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "`dot` program" in done.stderr and "apt-get install graphviz" in done.stderr
    assert "https://graphviz.org/download/" in done.stderr
    assert not (tmp_path / "g.svg").exists()
    done = subprocess.run([sys.executable, "-m", "symgrad", "graph", str(MAX_BRANCH), "-o", str(tmp_path / "g.dot")],
                          env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")


def test_without_dot_the_api_raises_the_message_and_the_notebook_shows_it(monkeypatch, tmp_path):
    from symgrad.graphing import GraphvizMissing
    monkeypatch.setenv("PATH", str(tmp_path))
    drawn_graph = symgrad.graph(str(MAX_BRANCH))
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        drawn_graph.save(tmp_path / "g.png")
    assert "apt-get install graphviz" in drawn_graph._repr_mimebundle_()["text/plain"]
    assert drawn_graph.save(tmp_path / "g.dot") == "dot"


def test_bad_requests_exit_2(tmp_path, capsys):
    assert main(["graph", str(MAX_BRANCH), "-o", str(tmp_path / "g.jpg")]) == 2
    assert "cannot tell the format from" in capsys.readouterr().err
    assert main(["graph", str(MAX_BRANCH), "--dims", "n=0"]) == 2
    assert "--dims: expected NAME=SIZE" in capsys.readouterr().err
    assert main(["graph", str(MAX_BRANCH), "--inputs", str(npz(tmp_path, {"w": 1.0}))]) == 2
    assert "'w', which is no argument of the model" in capsys.readouterr().err
    (tmp_path / "bad.sg").write_text("input x : R\nf = x + y\ngrad f wrt x\n")
    assert main(["graph", str(tmp_path / "bad.sg")]) == 2
    assert "bad.sg:2:9: error: unknown name 'y'" in capsys.readouterr().err


def test_graph_has_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["graph", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: symgrad graph [-h]")
    for option in ("--output", "--format", "--at", "--inputs", "--dims", "--grad", "--group"):
        assert option in out
