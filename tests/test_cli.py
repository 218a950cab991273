"""The `symgrad` command line: help, version, `shapes`, and how it fails.

Most tests call `symgrad.cli.main(argv)` in-process; the last ones run the
installed console script, as a user does.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import symgrad
import symgrad.lowering
from symgrad.cli import main

REPO = Path(__file__).resolve().parent.parent
WINDOW = REPO / "examples" / "window.sg"

WINDOW_SHAPES = """\
dim   n, m
param W    : R^(n×m)
param b    : R^n
param u    : R^n
input x    : R^m
fn    f(t) : R → R
def   z    : R^n
def   h    : R^n
def   s    : R
grad  s wrt W, b, u, x
"""

SUBCOMMANDS = ["compile", "derive", "check", "shapes"]


def exit_code(argv) -> int:
    """main's status, also when argparse exits (--help, --version, a bad option)."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


def model(tmp_path: Path, text: str) -> str:
    path = tmp_path / "model.sg"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def test_help_lists_every_subcommand(capsys):
    assert exit_code(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: symgrad")
    for name in SUBCOMMANDS:
        assert re.search(rf"^\s+{name}\s+\S", out, re.MULTILINE), name


def test_no_command_prints_help_and_exits_2(capsys):
    assert exit_code([]) == 2
    assert capsys.readouterr().out.startswith("usage: symgrad")


def test_version(capsys):
    assert exit_code(["--version"]) == 0
    assert capsys.readouterr().out == f"symgrad {symgrad.__version__}\n"


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_help(name, capsys):
    assert exit_code([name, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: symgrad {name} [-h]")


def test_shapes_of_the_window_model(capsys):
    assert main(["shapes", str(WINDOW)]) == 0
    out, err = capsys.readouterr()
    assert out == WINDOW_SHAPES
    assert err == ""


def test_shapes_pads_a_name_only_where_its_shape_follows(capsys, tmp_path):
    """The dim row has no shape after its names: no trailing spaces there,
    however long the other names are."""
    path = tmp_path / "long.sg"
    path.write_text("param weights : R^(n x m)\ninput x : R^m\ny = sum(weights x)\ngrad y\n", encoding="utf-8")
    assert main(["shapes", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[:3] == ["dim   n, m", "param weights : R^(n×m)", "input x       : R^m"]
    assert [text for text in out.splitlines() if text != text.rstrip()] == []


def test_check_of_the_window_model_passes(capsys):
    assert main(["check", str(WINDOW)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{WINDOW}: n=3, m=4; seed 0; float64;")
    assert out.endswith("passed: all 4 gradients agree with finite differences (max rel err <= rtol = 1e-05)\n")
    assert err == ""


def test_an_unknown_command_exits_2(capsys):
    assert exit_code(["frobnicate", str(WINDOW)]) == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


@pytest.mark.parametrize("text, line, column, message", [
    ("param W : R^(n x m)\ninput x : R^n\nz = W x\ngrad z\n", 3, 7, "matrix product of R^(n×m)"),
    ("param W : R^(n x m)\nz = W +\n", 2, 8, "unexpected end of statement"),
    (b"param x : R\n\xff = x\n", 2, 1, "the file is not valid UTF-8"),
])
def test_a_bad_model_is_a_located_error_with_status_2(tmp_path, capsys, text, line, column, message):
    path = model(tmp_path, text)
    assert main(["shapes", path]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"{path}:{line}:{column}: error: {message}")
    assert "Traceback" not in err


def test_a_missing_file_exits_2(tmp_path, capsys):
    missing = str(tmp_path / "missing.sg")
    assert main(["shapes", missing]) == 2
    assert capsys.readouterr().err == f"symgrad: error: cannot read '{missing}': No such file or directory\n"


def test_an_internal_error_exits_3_without_a_traceback(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(symgrad.lowering, "analyze", broken)
    monkeypatch.delenv("SYMGRAD_DEBUG", raising=False)
    assert main(["shapes", str(WINDOW)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("symgrad: internal error: RuntimeError: boom\n")
    assert "Traceback" not in err


# ------------------------------------------------ the installed console script

SCRIPT = str(Path(sysconfig.get_path("scripts"), "symgrad"))


@pytest.mark.parametrize("command", [[SCRIPT], [sys.executable, "-m", "symgrad"]], ids=["script", "python -m"])
def test_the_installed_command_prints_shapes(command):
    done = subprocess.run([*command, "shapes", str(WINDOW)], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, WINDOW_SHAPES, "")


def test_the_installed_command_reports_a_bad_model_without_a_traceback(tmp_path):
    path = model(tmp_path, "param x : R^n\ns = y + x\ngrad s\n")
    done = subprocess.run([SCRIPT, "shapes", path], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith(f"{path}:2:5: error: unknown name 'y'")
    assert "Traceback" not in done.stderr
