"""The documentation says what symgrad does: transcripts and function lists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from symgrad.cli import main
from symgrad.ops import BUILTINS

REPO = Path(__file__).resolve().parent.parent
LANGUAGE = (REPO / "docs" / "language.md").read_text(encoding="utf-8")


def transcripts(text: str, command: str) -> list[str]:
    """The output shown under each `$ COMMAND` line of a code block."""
    return re.findall(rf"^\$ {re.escape(command)}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("document", ["README.md", "docs/language.md"])
def test_the_shapes_transcript_is_what_symgrad_prints(document, capsys):
    shown = transcripts((REPO / document).read_text(encoding="utf-8"), "symgrad shapes examples/window.sg")
    assert shown
    assert main(["shapes", str(REPO / "examples" / "window.sg")]) == 0
    printed = capsys.readouterr().out
    assert shown == [printed] * len(shown)


def test_the_reference_documents_exactly_the_built_in_functions():
    section = LANGUAGE.split("\n## Built-in functions\n", 1)[1].split("\n## ", 1)[0]
    code = " ".join(re.findall(r"`([^`]+)`", section))
    called = set(re.findall(r"(\w+)\(", code))
    listed = set(re.findall(r"^\| `([\w ]+)` \|", section, re.MULTILINE))
    documented = called | {name for row in listed for name in row.split()}
    assert documented == set(BUILTINS)


def test_the_readme_python_example_runs(monkeypatch):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"^```python\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    monkeypatch.chdir(REPO)
    namespace: dict = {}
    exec(example, namespace)
    assert namespace["grads"].W.shape == (3, 4)
