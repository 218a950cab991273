"""README.md: its two set-up commands, .ci/run, which runs exactly those, and
every `$ symgrad ...` command its code blocks show, whose output must be what
the command prints today.

A sample is compared line by line with what the command writes (standard
output, then standard error, as a terminal shows them), with only these
variations allowed:
- a line `...` stands for one or more lines of the output left out;
- in the table of `symgrad check`, the errors, the worst entry and its
  analytic and numeric values are rounding noise, which differs from
  machine to machine: of each row, the variable, shape, entries checked and
  pass or FAIL are compared, and the spacing of the header (which follows
  the widths of those values).
The commands run in a copy of the repository's examples/, beside the files
the README's text describes (FILES).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from symgrad.cli import main

REPO = Path(__file__).resolve().parent.parent
CI = REPO / ".ci" / "run"
README = (REPO / "README.md").read_text(encoding="utf-8")


def setup_commands() -> list[str]:
    """The lines of the first code block under the README's "Set up" heading."""
    section = README.split("\n## Set up\n", 1)[1]
    block = re.search(r"^```\w*\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    return block.group(1).splitlines()


def test_the_readme_has_two_set_up_commands_that_install_run_an_example_and_test():
    install, test = setup_commands()
    assert "pip install -e \".[test,all]\"" in install
    example = re.search(r"symgrad \w+ (examples/\S+\.sg)$", install)
    assert example and (REPO / example.group(1)).is_file()
    assert "-m pytest" in test


def test_ci_runs_exactly_the_readme_commands():
    assert os.access(CI, os.X_OK)
    assigned = re.findall(r"^(SETUP|TESTS)='(.*)'$", CI.read_text(encoding="utf-8"), re.MULTILINE)
    assert assigned == [("SETUP", setup_commands()[0]), ("TESTS", setup_commands()[1])]


def fake_python3(bin_dir: Path):
    """A `python3` whose `-m venv .venv` makes a .venv of stubs: pip and symgrad
    succeed, python (the test run) exits with $PYTEST_STATUS; and a `dot`, so
    that CI finds Graphviz and installs no system package."""
    bin_dir.mkdir()
    (bin_dir / "dot").write_text("#!/usr/bin/env bash\nexit 0\n")
    (bin_dir / "dot").chmod(0o755)
    script = bin_dir / "python3"
    script.write_text(
        "#!/usr/bin/env bash\n"
        "mkdir -p .venv/bin\n"
        "printf '#!/usr/bin/env bash\\nexit 0\\n' > .venv/bin/pip\n"
        "cp .venv/bin/pip .venv/bin/symgrad\n"
        "printf '#!/usr/bin/env bash\\nexit $PYTEST_STATUS\\n' > .venv/bin/python\n"
        "chmod +x .venv/bin/*\n")
    script.chmod(0o755)


@pytest.mark.parametrize("pytest_status, ci_status", [(0, 0), (1, 1), (5, 1)])
def test_ci_fails_when_the_tests_fail_or_none_ran(tmp_path, pytest_status, ci_status):
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_bytes(CI.read_bytes())
    fake_python3(tmp_path / "bin")
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
               PYTEST_STATUS=str(pytest_status))
    done = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True)
    assert done.returncode == ci_status
    printed = [line for line in done.stdout.splitlines() if line.startswith("+ ")]
    assert printed == [f"+ {command}" for command in setup_commands()]


# ------------------------------------------------- the samples of the tour

# Files the README's text describes beside its samples: "With `z = W y + b`
# in the window model".
FILES = {"window.sg": ("examples/window.sg", "z = W x + b", "z = W y + b")}


def samples() -> list[tuple[str, str]]:
    """Each `$ symgrad ...` line of a code block, with the lines shown after it."""
    found = []
    for block in re.findall(r"^```\w*\n(.*?)^```", README, re.MULTILINE | re.DOTALL):
        for command, output in re.findall(r"^\$ (symgrad .*)\n((?:(?!\$ ).*\n)*)", block, re.MULTILINE):
            found.append((command, output))
    return found


ROW = re.compile(r"^  (\S+)\s+(.+?)\s+(\d+ of \d+)\s.*\s(pass|FAIL)$")


def comparable(command: str, text: str) -> list:
    """The lines of a sample or an output, with the variation allowed for
    `symgrad check` taken out."""
    lines = text.rstrip("\n").split("\n")
    if shlex.split(command)[1] != "check":
        return lines
    return [ROW.match(line).groups() if ROW.match(line) else " ".join(line.split()) for line in lines]


def matches(shown: list, printed: list) -> bool:
    """Whether printed is shown, a line `...` standing for one or more lines."""
    if "..." not in shown:
        return shown == printed
    cut = shown.index("...")
    head, tail = shown[:cut], shown[cut + 1:]
    return printed[:cut] == head and any(matches(tail, printed[start:])
                                          for start in range(cut + 1, len(printed) - len(tail) + 1))


def test_the_readme_shows_symgrad_commands():
    commands = [shlex.split(command)[1] for command, _ in samples()]
    assert {"shapes", "derive", "check"} <= set(commands)


@pytest.mark.parametrize("command, shown", samples(), ids=[command for command, _ in samples()])
def test_each_readme_sample_is_what_the_command_prints(command, shown, tmp_path, monkeypatch, capsys):
    (tmp_path / "examples").mkdir()
    for example in (REPO / "examples").iterdir():
        (tmp_path / "examples" / example.name).write_bytes(example.read_bytes())
    for name, (source, old, new) in FILES.items():
        text = (REPO / source).read_text(encoding="utf-8")
        assert text.count(old) == 1
        (tmp_path / name).write_text(text.replace(old, new), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    main(shlex.split(command)[1:])
    written = capsys.readouterr()
    printed = written.out + written.err
    assert matches(comparable(command, shown), comparable(command, printed)), (
        f"README.md shows for `{command}`:\n{shown}\nwhich prints today:\n{printed}")


def test_an_elided_sample_matches_only_around_its_dots():
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert not matches(["a", "...", "d"], ["a", "d"])
    assert not matches(["a", "...", "d"], ["a", "b", "e"])
    assert not matches(["a", "b"], ["a", "b", "c"])
