"""README.md's two set-up commands, and .ci/run, which runs exactly those."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CI = REPO / ".ci" / "run"


def setup_commands() -> list[str]:
    """The lines of the first code block under the README's "Set up" heading."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Set up\n", 1)[1]
    block = re.search(r"^```\w*\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    return block.group(1).splitlines()


def test_the_readme_has_two_set_up_commands_that_install_run_an_example_and_test():
    install, test = setup_commands()
    assert "pip install -e \".[test]\"" in install
    example = re.search(r"symgrad \w+ (examples/\S+\.sg)$", install)
    assert example and (REPO / example.group(1)).is_file()
    assert "-m pytest" in test


def test_ci_runs_exactly_the_readme_commands():
    assert os.access(CI, os.X_OK)
    assigned = re.findall(r"^(SETUP|TESTS)='(.*)'$", CI.read_text(encoding="utf-8"), re.MULTILINE)
    assert assigned == [("SETUP", setup_commands()[0]), ("TESTS", setup_commands()[1])]


def fake_python3(bin_dir: Path):
    """A `python3` whose `-m venv .venv` makes a .venv of stubs: pip and symgrad
    succeed, python (the test run) exits with $PYTEST_STATUS."""
    bin_dir.mkdir()
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
