"""Gradient checks: `symgrad check`, `symgrad.check` and a module's own check_gradients().

A check must catch real bugs: bugs planted into generated modules (by editing
their text) fail it, naming the variable and the worst entry. It must never
cry wolf: every example passes at 20 seeds.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from checking import imported

import symgrad
from symgrad.checking import CheckInputError
from symgrad.cli_check import Progress, parse_dims
from symgrad.cli import main
from symgrad.compiler import generate_module
from symgrad.source import Source, read_source

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.sg"))
WINDOW = str(REPO / "examples" / "window.sg")


def planted(tmp_path: Path, model: str, edits, only_in: str | None = None) -> Path:
    """A module file compiled from an example (or model text), with each
    regex edit (pattern, replacement) applied where it matches; `only_in`:
    only inside that generated function."""
    path = REPO / "examples" / model
    source = read_source(str(path)) if path.is_file() else Source(model, "model.sg")
    code = generate_module(source, with_check=True)
    # A step's comment goes above it, so that an edit matches the statement to its end.
    code = re.sub(r"^( +)(\w+ = .+?)  (# .+ : .+  \(.+:\d+\))$", r"\1\3\n\1\2", code, flags=re.MULTILINE)
    for pattern, replacement in edits:
        if only_in:
            start = code.index(f"\ndef {only_in}(")
            end = code.index("\ndef ", start + 1)
            body, count = re.subn(pattern, replacement, code[start:end], flags=re.MULTILINE)
            code = code[:start] + body + code[end:]
        else:
            code, count = re.subn(pattern, replacement, code, flags=re.MULTILINE)
        assert count, f"the generated code has no match for {pattern!r}"
    out = tmp_path / f"planted_{len(list(tmp_path.glob('*.py')))}.py"
    out.write_text(code, encoding="utf-8")
    return out


def failing(report) -> set[str]:
    return {result.variable for result in report.results if not result.passed}


# ------------------------------------------------------------ planted bugs

PLANTED = {
    # ∂logdet(X)/∂X = X⁻ᵀ; a dropped transpose shows only on a non-symmetric X
    "a transpose dropped on a square matrix": (
        "logdet.sg", [(r"^(\s+)(\w+) = _np\.linalg\.inv\(X\)$", r"\1\2 = _np.linalg.inv(X).T")], None, {"X"}),
    "a sign flipped": ("window.sg", [(r"^(\s+delta_z = )(.+)$", r"\1-(\2)")], None, {"W", "b", "x"}),
    "a factor of 2": ("norm_wx.sg", [(r"^(\s+delta_q = )2\.0 \* q$", r"\1q")], None, {"W", "x"}),
    # W scores the true and the corrupt window: keep only the true window's share
    "one branch dropped where a variable is used twice": (
        "window_ner.sg", [(r"^(\s+grad_W = )(\w+) \+ \w+$", r"\1\2")], None, {"W"}),
    # rowsum over the batch, summed down the classes instead; C = N so the shape still fits
    "a wrong axis in a bias sum": (
        "softmax_classifier.sg", [(r"_np\.sum\(delta_S, axis=1", "_np.sum(delta_S, axis=0")],
        {"C": 4, "D": 3, "N": 4}, {"b"}),
}


@pytest.mark.parametrize("bug", PLANTED)
def test_a_planted_bug_fails_the_check_naming_the_variable_and_its_worst_entry(bug, tmp_path):
    model, edits, dims, wrong = PLANTED[bug]
    report = symgrad.check(imported(planted(tmp_path, model, edits)), dims=dims)
    assert not report.passed
    assert failing(report) == wrong
    for result in report.results:
        if result.variable in wrong:
            assert isinstance(result.worst["where"], list) and len(result.worst["where"]) == len(result.shape)
            assert abs(result.worst["analytic"] - result.worst["numeric"]) > 1e-3 * abs(result.worst["numeric"])


def test_the_table_marks_the_failing_variable_and_shows_its_worst_entry(tmp_path):
    model, edits, dims, _ = PLANTED["a factor of 2"]
    report = symgrad.check(imported(planted(tmp_path, model, edits)), dims=dims)
    row = next(line for line in str(report).splitlines() if line.split()[:1] == ["W"])
    worst = report.result("W").worst
    assert row.split()[-1] == "FAIL"
    assert "[" + ", ".join(map(str, worst["where"])) + "]" in row
    assert f"{worst['analytic']:.9g}" in row and f"{worst['numeric']:.9g}" in row


@pytest.mark.parametrize("function", ["backward", "value_and_grad"])
def test_a_bug_in_only_one_of_the_gradient_functions_is_caught_and_named(function, tmp_path):
    module = imported(planted(tmp_path, "window.sg", [(r"^(\s+delta_z = )(.+)$", r"\1-(\2)")], only_in=function))
    report = symgrad.check(module)
    assert failing(report) == {"W", "b", "x"}
    assert report.result("W").worst["via"] == function


def test_a_gradient_code_that_raises_fails_every_gradient_of_its_statement(tmp_path):
    model, edits, _, _ = PLANTED["a wrong axis in a bias sum"]
    report = symgrad.check(imported(planted(tmp_path, model, edits)))  # C != N: the reshape fails
    assert failing(report) == {"W", "b"}
    assert report.result("b").error.startswith("the gradient code raised ValueError")
    assert any("the gradient code raised ValueError" in note for note in report.notes)


def test_a_bug_in_a_variable_too_big_to_check_entry_by_entry_is_caught_along_a_direction(tmp_path):
    model, edits, _, _ = PLANTED["a sign flipped"]
    report = symgrad.check(imported(planted(tmp_path, model, edits)), max_entries=0)
    assert failing(report) == {"W", "b", "x"}
    assert report.result("W").entries_checked == 0
    assert report.result("W").worst["where"].startswith("direction ")


# ------------------------------------------------------- no false alarms

@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_every_example_passes_at_20_seeds(example):
    module = symgrad.load(example)
    for seed in range(20):
        report = symgrad.check(module, seed=seed)
        assert report.passed, (seed, str(report))


def test_a_symmetric_model_draw_is_not_symmetric():
    """Positive definite draws for logdet are not symmetric, or a dropped
    transpose in X⁻ᵀ would pass."""
    spec = symgrad.load(REPO / "examples" / "logdet.sg", with_check=True)._CHECK_SPEC
    assert spec["arguments"] == [("X", "X", "param", "n", "n", "pd")]
    report = symgrad.check(REPO / "examples" / "logdet.sg")
    assert any("X positive definite" in note for note in report.notes)


# ------------------------------------------------------------- kinks

def test_drawn_inputs_that_put_a_step_across_a_kink_are_redrawn():
    # 100,000 entries of |x|: a direction's step usually crosses a kink
    report = symgrad.check("param x : R^n\ny = sum(abs(x))\ngrad y\n", dims={"n": 100_000}, seed=1, max_entries=100)
    assert report.passed
    assert report.data["draws"] > 1
    assert any(note.startswith("inputs redrawn") and "argument of abs at <string>:2:9" in note
               for note in report.notes)


def test_given_inputs_at_a_kink_skip_those_comparisons_and_say_so():
    report = symgrad.check("param x : R^n\ny = sum(relu(x) + hardtanh(x) ∘ x)\ngrad y\n",
                           inputs={"x": np.array([0.0, 1.0, -1.0, 2.0])})
    assert report.passed
    assert report.result("x").entries_checked == 1  # x[3]; relu at 0, hardtanh at ±1 skip the others
    assert report.result("x").skipped_at_kinks >= 3
    assert any("skipped: the inputs put a kink within the step" in note for note in report.notes)


# ------------------------------------------------------------- domains

@pytest.mark.parametrize("text, drawn", [
    ("param x : R^n\ny = sum(log(x) + sqrt(x) + x .^ 0.5)\ngrad y\n", "x positive"),
    ("f(t) = log(t)\nparam x : R^n\ny = sum(f(x))\ngrad y\n", "x positive"),
    ("param A : R^(n x n)\ny = logdet(A) + tr(inv(A^T))\ngrad y\n", "A positive definite"),
])
def test_a_variable_a_restricted_function_takes_is_drawn_inside_its_domain(text, drawn):
    report = symgrad.check(text)
    assert report.passed
    assert any(drawn in note for note in report.notes)


def test_an_expression_outside_the_domain_names_the_function_its_inputs_and_suggests_inputs():
    with pytest.raises(CheckInputError) as error:
        symgrad.check("param x : R^n\nparam c : R\ny = sum(log(x - 10 c c))\ngrad y\n")
    message = str(error.value)
    assert message.startswith("the argument of log at <string>:3:9 (`y = sum(log(x - 10 c c))`) is not positive")
    assert "at each of 10 random draws (seed 0); it depends on x, c" in message
    assert "--inputs FILE.npz" in message


def test_given_inputs_outside_the_domain_are_bad_input():
    with pytest.raises(CheckInputError, match=r"entry \[1\] is -2\) with the inputs given"):
        symgrad.check("param x : R^n\ny = sum(log(x))\ngrad y\n", inputs={"x": [1.0, -2.0]})


# ------------------------------------------------------------ inputs

def test_given_inputs_bind_the_dimensions_and_the_rest_is_drawn():
    report = symgrad.check(WINDOW, inputs={"W": np.ones((2, 5), dtype=np.float32)})
    assert report.passed
    assert report.data["dims"] == {"n": 2, "m": 5}
    assert report.data["given"] == ["W"]
    assert "W converted from float32 to float64" in report.notes


@pytest.mark.parametrize("options, message", [
    ({"inputs": {"W": np.ones((2, 5)), "b": np.ones(3)}}, "b: expected R^n (n = 2 from W), got shape (3,)"),
    ({"inputs": {"V": np.ones(3)}}, "the inputs name 'V', which is no argument of the model"),
    ({"dims": {"k": 3}}, "unknown dimension 'k' (the model's: n, m)"),
    ({"dims": {"n": 0}}, "dimension n must be a positive integer, got 0"),
    ({"dims": {"n": 4}, "inputs": {"W": np.ones((2, 5))}}, "dimension n = 4 disagrees with the shape of W"),
])
def test_inputs_that_do_not_fit_the_model_are_bad_input(options, message):
    with pytest.raises(CheckInputError) as error:
        symgrad.check(WINDOW, **options)
    assert str(error.value).startswith(message)


def test_a_python_spelling_names_an_input_too():
    report = symgrad.check("param lambda : R\nparam x : R^n\ny = lambda sum(x)\ngrad y\n", inputs={"lambda_": 2.0})
    assert report.passed and report.data["given"] == ["lambda"]


@pytest.mark.parametrize("text, dims", [("n=8,m=20", {"n": 8, "m": 20}), (" n = 3 ,", {"n": 3}), ("", {})])
def test_parse_dims(text, dims):
    assert parse_dims(text) == dims


@pytest.mark.parametrize("text", ["n", "n=x", "n=0", "=3", "n=-1"])
def test_parse_dims_rejects(text):
    with pytest.raises(ValueError, match="expected NAME=SIZE"):
        parse_dims(text)


# --------------------------------------------------------------- the API

@pytest.mark.parametrize("kind", ["path", "text", "loaded", "compiled file"])
def test_check_takes_a_path_model_text_or_a_compiled_module(kind, tmp_path):
    model = {
        "path": lambda: WINDOW,
        "text": lambda: Path(WINDOW).read_text(encoding="utf-8"),
        "loaded": lambda: symgrad.load(WINDOW),
        "compiled file": lambda: imported(planted(tmp_path, "window.sg", [])),
    }[kind]()
    report = symgrad.check(model, dims={"n": 2, "m": 3}, seed=5)
    assert report.passed
    assert [(r.variable, r.shape, r.entries_checked) for r in report.results] == [
        ("W", [2, 3], 6), ("b", [2], 2), ("u", [2], 2), ("x", [3], 3)]


def test_a_module_symgrad_did_not_generate_is_refused():
    with pytest.raises(CheckInputError, match="no module generated by this symgrad"):
        symgrad.check(json)


def test_the_report_as_json_and_markdown():
    report = symgrad.check(WINDOW, seed=3)
    data = json.loads(report.to_json())
    assert data["passed"] is True and data["seed"] == 3 and data["dims"] == {"n": 3, "m": 4}
    assert [g["variable"] for g in data["gradients"]] == ["W", "b", "u", "x"]
    assert set(data["gradients"][0]) >= {"shape", "entries_checked", "max_abs_error", "max_rel_error", "worst",
                                         "passed"}
    markdown = report._repr_markdown_()
    assert "| ∂s/∂W | 3×4 | 12 of 12 |" in markdown
    assert markdown.count("| pass |") == 4


def test_several_grad_statements_are_each_checked():
    report = symgrad.check("param x : R^n\nparam w : R^n\na = sum(exp(x))\nb = w^T x\ngrad a wrt x\ngrad b\n")
    assert [(r.target, r.variable) for r in report.results] == [("a", "x"), ("b", "x"), ("b", "w")]
    assert report.passed
    assert "grad a wrt x" in str(report) and "grad b wrt x, w" in str(report)


def test_entries_beyond_the_limit_are_sampled_and_every_gradient_still_gets_directions():
    report = symgrad.check(WINDOW, dims={"n": 20, "m": 30}, max_entries=100)
    counts = {r.variable: (r.entries_checked, r.directions) for r in report.results}
    assert counts == {"b": (20, 4), "u": (20, 4), "x": (30, 4), "W": (30, 4)}
    assert report.passed


def test_colour_only_when_asked():
    report = symgrad.check(WINDOW)
    assert "\x1b[" not in report.to_text()
    assert "\x1b[32mpass\x1b[0m" in report.to_text(color=True)


def test_progress_is_shown_once_a_second_has_passed_and_cleared_at_the_end():
    stream = io.StringIO()
    progress = Progress(stream, after=0.0)
    progress(5, 10)
    progress.close()
    assert stream.getvalue() == "\rchecking: 50% (5/10 evaluations)\r\x1b[K"
    quiet = io.StringIO()
    progress = Progress(quiet, after=3600.0)
    progress(5, 10)
    progress.close()
    assert quiet.getvalue() == ""


# ---------------------------------------------------------- the command

def test_check_command_exits_0_when_every_gradient_passes(capsys):
    assert main(["check", WINDOW]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].startswith("passed: all 4 gradients agree with finite differences")
    assert "\x1b[" not in out and err == ""


def test_check_command_exits_1_and_names_the_failing_gradient(tmp_path, capsys):
    model, edits, _, _ = PLANTED["a factor of 2"]
    assert main(["check", str(planted(tmp_path, model, edits))]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "FAILED: 2 of 2 gradients disagree with finite differences (df/dW, df/dx)"


@pytest.mark.parametrize("argv, message", [
    (["--dims", "n=x"], "symgrad: error: --dims: expected NAME=SIZE"),
    (["--dims", "k=2"], "symgrad: error: unknown dimension 'k'"),
    (["--inputs", "{tmp}/missing.npz"], "symgrad: error: cannot read '{tmp}/missing.npz'"),
    (["--inputs", "{tmp}/not.npz"], "symgrad: error: {tmp}/not.npz: not a .npz file"),
])
def test_check_command_exits_2_for_bad_input(argv, message, tmp_path, capsys):
    (tmp_path / "not.npz").write_text("text", encoding="utf-8")
    argv = [part.format(tmp=tmp_path) for part in argv]
    assert main(["check", WINDOW, *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(message.format(tmp=tmp_path))


def test_check_command_reports_a_bad_model_at_its_place_with_status_2(tmp_path, capsys):
    path = tmp_path / "model.sg"
    path.write_text("param x : R^n\ny = sum(x) + z\ngrad y\n", encoding="utf-8")
    assert main(["check", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"{path}:2:14: error: unknown name 'z'")


def test_check_command_exits_2_for_a_model_outside_its_domain(tmp_path, capsys):
    path = tmp_path / "model.sg"
    path.write_text("param x : R^n\ny = sum(sqrt(x - 5))\ngrad y\n", encoding="utf-8")
    assert main(["check", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"symgrad: error: the argument of sqrt at {path}:2:9")


def test_check_command_reads_inputs_and_writes_json_and_markdown(tmp_path, capsys):
    np.savez(tmp_path / "inputs.npz", W=np.full((2, 3), 0.5), x=np.arange(3.0))
    json_path, markdown_path = tmp_path / "report.json", tmp_path / "report.md"
    assert main(["check", WINDOW, "--inputs", str(tmp_path / "inputs.npz"), "--json", str(json_path),
                 "--markdown", str(markdown_path)]) == 0
    assert "arrays given for W, x" in capsys.readouterr().out
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["given"] == ["W", "x"] and data["dims"] == {"n": 2, "m": 3} and data["passed"]
    assert markdown_path.read_text(encoding="utf-8").count("| pass |") == 4


@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_a_report_written_to_standard_output_is_alone_there(option, capsys):
    """`--json -` gives standard output that a JSON parser reads whole (and
    `--markdown -` the Markdown table alone); the table goes to standard error."""
    assert main(["check", WINDOW, "--dims", "n=2,m=3", option, "-"]) == 0
    written = capsys.readouterr()
    if option == "--json":
        assert json.loads(written.out)["passed"] is True
    else:
        assert written.out.startswith("**symgrad check**") and written.out.count("| pass |") == 4
    assert "passed: all 4 gradients agree" in written.err


def test_json_and_markdown_cannot_both_take_standard_output(capsys):
    assert main(["check", WINDOW, "--json", "-", "--markdown", "-"]) == 2
    assert capsys.readouterr().err.startswith("symgrad: error: --json - and --markdown - would both write")


# ---------------------------------------- the generated module checks itself

def run_with_only_numpy(directory: Path, script: str) -> subprocess.CompletedProcess:
    numpy_home = str(Path(np.__file__).resolve().parent.parent)
    prelude = f"import sys\nsys.path[:0] = [{str(directory)!r}, {numpy_home!r}]\n"
    # -I -S: no site-packages, so no symgrad: the path is the standard library, the file and NumPy
    return subprocess.run([sys.executable, "-I", "-S", "-c", prelude + script], capture_output=True, text=True,
                          cwd=directory, timeout=120)


def test_a_compiled_module_checks_its_own_gradients_with_only_numpy(tmp_path):
    (tmp_path / "window_model.py").write_text(generate_module(read_source(WINDOW), with_check=True),
                                              encoding="utf-8")
    planted(tmp_path, "window.sg", [(r"^(\s+delta_z = )(.+)$", r"\1-(\2)")]).rename(tmp_path / "buggy.py")
    done = run_with_only_numpy(tmp_path, (
        "import window_model, buggy\n"
        "good = window_model.check_gradients(dims={'n': 4, 'm': 6}, seed=2)\n"
        "bad = buggy.check_gradients(quiet=True)\n"
        "assert 'symgrad' not in sys.modules\n"
        "print(good['passed'], bad['passed'], sorted(g['variable'] for g in bad['gradients'] if not g['passed']))\n"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{WINDOW}: n=4, m=6; seed 2; float64; each gradient per entry and along 4 random directions"
    assert lines[-1] == "True False ['W', 'b', 'x']"


# ------------------------------------------- the checker, carried on request

def test_symgrad_check_compiles_the_check_a_loaded_module_lacks():
    """A module from symgrad.load carries no checker; symgrad.check of it
    compiles the same model with one, in memory."""
    module = symgrad.load(WINDOW)
    assert not hasattr(module, "check_gradients")
    assert symgrad.check(module, dims={"n": 3, "m": 4}).passed


def test_checking_a_file_compiled_without_the_check_says_how_to_get_one(tmp_path):
    path = tmp_path / "window_model.py"
    path.write_text(generate_module(read_source(WINDOW)), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "symgrad", "check", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr == (f"symgrad: error: {path} has no gradient check: compile it with "
                           "`symgrad compile --with-check`, or check the model file itself\n")
