"""Source text, positions in it, and the located errors a model file can have.

Every error in a `.sg` file is reported as::

    FILE:LINE:COL: error: MESSAGE
        <the source line>
        <a caret under COL>
      hint: ...

LINE and COL are 1-based and COL counts characters, not bytes.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple


class Span(NamedTuple):
    """A stretch of source text, 1-based, end exclusive. A tuple, not a
    frozen dataclass: a large model makes millions and a tuple is made
    several times faster."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(line: int, column: int) -> "Span":
        return Span(line, column, line, column + 1)

    def to(self, other: "Span") -> "Span":
        """The span from the start of self to the end of other."""
        return Span(self.line, self.column, other.end_line, other.end_column)


@dataclass(frozen=True)
class Source:
    """A model's text and the name it is reported under."""

    text: str
    filename: str = "<string>"

    @cached_property
    def lines(self) -> list[str]:
        """The physical lines, cut at "\\n" only, as the parser counts them
        (str.splitlines would also cut at form feeds and other separators,
        and the line shown would not be the line reported)."""
        lines = self.text.split("\n")
        if len(lines) > 1 and lines[-1] == "":
            lines.pop()  # the newline that ends the last line starts none
        return [line.removesuffix("\r") for line in lines]

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def snippet(self, span: Span) -> str:
        """The text at a span, as written."""
        if span.line == span.end_line:
            return self.line_text(span.line)[span.column - 1:span.end_column - 1]
        lines = [self.line_text(span.line)[span.column - 1:],
                 *(self.line_text(n) for n in range(span.line + 1, span.end_line)),
                 self.line_text(span.end_line)[:span.end_column - 1]]
        return "\n".join(lines)

    def end_of_text(self) -> tuple[int, int]:
        """(line, column) just past the last character that is not blank:
        where a missing last statement would go (1, 1 in an empty file)."""
        for number in range(len(self.lines), 0, -1):
            text = self.lines[number - 1].rstrip()
            if text:
                return number, len(text) + 1
        return 1, 1


@dataclass
class Diagnostic:
    """One located error. `hint` may be filled in after the error is found,
    by whoever learns more (an undeclared name learns its implied shape from
    the operator that uses it)."""

    span: Span
    message: str
    hint: str | None = None
    notes: list[str] = field(default_factory=list)
    # An error of the whole file (no grad statement): reported at the end of
    # its text, and listed after the errors of lines.
    of_file: bool = False
    severity: str = "error"  # or "warning", which does not stop the command

    def render(self, source: Source) -> str:
        line = source.line_text(self.span.line)
        col = self.span.column
        # Keep tabs in the caret's indentation so that it lines up under them.
        pad = "".join(c if c == "\t" else " " for c in line[: col - 1])
        width = 1
        if self.span.end_line == self.span.line and self.span.end_column > col:
            width = min(self.span.end_column - col, max(1, len(line) - col + 1))
        out = [
            f"{source.filename}:{self.span.line}:{col}: {self.severity}: {self.message}",
            f"    {line}",
            f"    {pad}^{'~' * (width - 1)}",
        ]
        out += [f"  note: {n}" for n in self.notes]
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)


class ModelError(Exception):
    """The model file is wrong; carries every located error found in it."""

    def __init__(self, source: Source, diagnostics: list[Diagnostic]):
        self.source = source
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.of_file, d.span.line, d.span.column))
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render(self.source) for d in self.diagnostics)


def read_source(path: str) -> Source:
    """Read a model file as UTF-8; a file that is not UTF-8 is a located error.
    The byte-order mark some editors write first is dropped: it is no part
    of the model, nor a column of its first line to the user."""
    with open(path, "rb") as stream:
        data = stream.read().removeprefix(codecs.BOM_UTF8)
    try:
        return Source(data.decode("utf-8"), path)
    except UnicodeDecodeError as error:
        good = data[: error.start].decode("utf-8")
        line = good.count("\n") + 1
        column = len(good) - (good.rfind("\n") + 1) + 1
        text = data.decode("utf-8", errors="replace")
        raise ModelError(Source(text, path), [Diagnostic(
            Span.point(line, column), f"the file is not valid UTF-8 (byte 0x{data[error.start]:02x})",
            "save the model as UTF-8")]) from None
