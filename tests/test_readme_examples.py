"""README.md's "Examples" section lists every example with a command that works."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from symgrad.cli import main

REPO = Path(__file__).resolve().parent.parent


def listed() -> dict[str, str]:
    """Each example file named in the section's table, with its command."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Examples\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| \[([\w.]+)\]\(examples/\1\) \|.*\| `([^`]+)` \|$", section, re.MULTILINE)
    return dict(rows)


def test_every_example_is_listed():
    files = {path.name for path in (REPO / "examples").iterdir() if path.suffix in (".sg", ".py")}
    assert files and set(listed()) == files


@pytest.mark.parametrize("name, command", sorted(listed().items()))
def test_each_command_runs_its_own_example(name, command, capsys):
    words = shlex.split(command)
    assert f"examples/{name}" in words
    if words[0] == ".venv/bin/symgrad":
        assert main([*words[1:-1], str(REPO / words[-1])]) == 0
        assert capsys.readouterr().out
    else:
        assert words[0] == ".venv/bin/python"   # the scripts' own tests run them
