"""Text to syntax tree: `parse(source)` returns the statements of a file.

The file is cut into logical lines (a line goes on while a bracket is open)
and each is parsed on its own with the grammar's `statement` rule, so that a
syntax error in one statement does not hide the errors in the others.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import syntax as ast
from .source import Diagnostic, ModelError, Source, Span

OPENING = {"(": ")", "[": "]", "{": "}"}
CLOSING = {v: k for k, v in OPENING.items()}

# Tokens after which `||` closes an open norm: those that end an operand.
ENDS_OPERAND = {
    "NAME", "NUMBER", "RPAR", "RSQB", "RBRACE", "NORM_CLOSE", "PRIME", "SUPER_T", "T",
    "PARAM", "INPUT", "CONST", "GRAD", "WRT",
}

# How a terminal is named in "expected ..." messages.
TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "INT": "a whole number", "NORM_OPEN": "'||'",
    "NORM_CLOSE": "'||'", "PARAM": "'param'", "INPUT": "'input'", "CONST": "'const'",
    "GRAD": "'grad'", "WRT": "'wrt'", "$END": "the end of the line",
}


def span_of(item) -> Span:
    if isinstance(item, Token):
        return Span(item.line, item.column, item.end_line, item.end_column)
    return item.span


def span_over(first, last) -> Span:
    return span_of(first).to(span_of(last))


class NormBars:
    """Lark post-lexer: tells an opening `||` from a closing one.

    `||` closes when a norm is open and the token before it ends an operand;
    otherwise it opens. So `||a|| b ||c||` is two norms; a norm written right
    inside another needs brackets: `||2 (||x||)||`.
    """

    always_accept = ("NORM_BAR",)

    def process(self, stream):
        depth = 0
        previous = None
        for token in stream:
            if token.type == "NORM_BAR":
                if depth and previous in ENDS_OPERAND:
                    depth -= 1
                    token = Token.new_borrow_pos("NORM_CLOSE", token.value, token)
                else:
                    depth += 1
                    token = Token.new_borrow_pos("NORM_OPEN", token.value, token)
            previous = token.type
            yield token


class ToSyntax(Transformer):
    """Builds syntax nodes while Lark reduces (LALR calls these bottom-up,
    iteratively, so deep nesting costs no Python recursion). Lines are
    shifted by `line_offset`, the first line of the statement in the file."""

    line_offset = 0

    def _shift(self, span: Span) -> Span:
        k = self.line_offset
        return Span(span.line + k, span.column, span.end_line + k, span.end_column)

    def _tok(self, token: Token) -> Span:
        return self._shift(span_of(token))

    # --- leaves
    def name(self, children):
        (token,) = children
        return ast.Name(str(token), self._tok(token))

    def variable(self, children):
        return children[0]

    def number(self, children):
        (token,) = children
        return ast.Number(float(token), str(token), self._tok(token))

    def signed_number(self, children):
        number = self.number(children[-1:])
        if len(children) == 1:
            return number
        span = self._tok(children[0]).to(number.span)
        return ast.Number(-number.value, "-" + number.text, span)

    # --- expressions
    def _binary(op):
        def build(self, children):
            left, token, right = children
            return ast.Binary(op, left, right, left.span.to(right.span), self._tok(token))
        return build

    add = _binary("add")
    sub = _binary("sub")
    star = _binary("star")
    at = _binary("at")
    hadamard = _binary("hadamard")
    divide = _binary("divide")
    power = _binary("power")
    elementwise_power = _binary("elementwise_power")
    del _binary

    def juxtapose(self, children):
        left, right = children
        # A juxtaposition's error is reported at the start of its right operand.
        start = Span(right.span.line, right.span.column, right.span.line, right.span.column + 1)
        return ast.Binary("juxtapose", left, right, left.span.to(right.span), start)

    def neg(self, children):
        token, operand = children
        op = self._tok(token)
        return ast.Negate(operand, op.to(operand.span), op)

    def transpose(self, children):
        operand, token = children[0], children[1]
        end = self._tok(children[-1])
        return ast.Transpose(operand, operand.span.to(end), self._tok(token))

    def call(self, children):
        func, *args = children
        return ast.Call(func, tuple(args), func.span.to(args[-1].span))

    def norm(self, children):
        bar, operand, close = children
        return ast.Norm(operand, self._tok(bar).to(self._tok(close)))

    # --- types
    def dim(self, children):
        (token,) = children
        value = int(token) if token.type == "INT" else str(token)
        return ast.Dim(value, self._tok(token))

    def scalar_type(self, children):
        return ("type", ())

    def vector_type(self, children):
        return ("type", tuple(c for c in children if isinstance(c, ast.Dim)))

    matrix_type = vector_type

    # --- statements
    def declaration(self, children):
        keyword, name, (_, dims) = children
        start = self._tok(keyword)
        end = dims[-1].span if dims else name.span
        type_span = dims[0].span.to(dims[-1].span) if dims else name.span
        return ast.Declaration(str(keyword), name, ast.TypeExpr(dims, type_span), start.to(end))

    def const_value(self, children):
        keyword, name, value = children
        return ast.ConstValue(name, value, self._tok(keyword).to(value.span))

    def function(self, children):
        name, *params, body = children
        return ast.Function(name, tuple(params), body, name.span.to(body.span))

    def definition(self, children):
        name, expr = children
        return ast.Definition(name, expr, name.span.to(expr.span))

    def grad(self, children):
        keyword, target, *rest = children
        wrt = tuple(rest[1:]) if rest else None
        end = (wrt[-1] if wrt else target).span
        return ast.Grad(target, wrt, self._tok(keyword).to(end))


@cache
def grammar_text() -> str:
    return resources.files("symgrad.grammar").joinpath("symgrad.lark").read_text(encoding="utf-8")


_lock = threading.Lock()
_transformer = ToSyntax()


@cache
def _parser() -> Lark:
    return Lark(
        grammar_text(),
        start="statement",
        parser="lalr",
        lexer="contextual",
        postlex=NormBars(),
        transformer=_transformer,
        maybe_placeholders=False,
        cache=True,  # Lark keeps the analysed grammar in a temporary file: faster start
    )


# ------------------------------------------------------------ logical lines

@dataclass(frozen=True)
class LogicalLine:
    text: str
    first_line: int  # 1-based line number of the first physical line


def logical_lines(source: Source, diagnostics: list[Diagnostic]) -> list[LogicalLine]:
    """Cut the file into statements: one per line, continued while a bracket
    is open. A continuation line that contains `=` starts a new statement
    instead (no expression contains `=`), so one unclosed bracket is reported
    at the bracket and does not swallow the rest of the file."""
    result: list[LogicalLine] = []
    pending: list[str] = []
    first = 0
    open_brackets: list[tuple[str, int, int]] = []  # (bracket, line, column)

    def flush():
        if open_brackets:
            bracket, line, column = open_brackets[0]
            diagnostics.append(Diagnostic(
                Span.point(line, column),
                f"'{bracket}' is never closed",
                hint=f"add '{OPENING[bracket]}'"))
        elif any(part.split("#", 1)[0].strip() for part in pending):
            result.append(LogicalLine("\n".join(pending), first))
        pending.clear()
        open_brackets.clear()

    for number, line in enumerate(source.text.split("\n"), start=1):
        code = line.split("#", 1)[0]
        if pending and open_brackets and "=" in code:
            flush()
        if not pending:
            first = number
        pending.append(line)
        for column, char in enumerate(code, start=1):
            if char in OPENING:
                open_brackets.append((char, number, column))
            elif char in CLOSING and open_brackets:
                open_brackets.pop()  # a mismatched pair is the parser's to report
        if not open_brackets:
            flush()
    flush()
    return result


# --------------------------------------------------------------------- parse

def describe_expected(expected: set[str]) -> str:
    parser = _parser()
    words = set()
    starts_expression = {"NAME", "NUMBER", "LPAR"} <= expected
    for name in expected:
        if starts_expression and name in {"NAME", "NUMBER", "LPAR", "LSQB", "NORM_OPEN", "NORM_BAR",
                                          "MINUS", "PARAM", "INPUT", "CONST", "GRAD", "WRT"}:
            continue
        if name in TERMINAL_WORDS:
            words.add(TERMINAL_WORDS[name])
        else:
            try:
                pattern = parser.get_terminal(name).pattern
            except KeyError:
                continue
            words.add(f"'{pattern.value}'" if pattern.type == "str" else name.lower())
    listed = sorted(words)
    if starts_expression:
        listed.insert(0, "an expression")
    if not listed:
        return ""
    if len(listed) > 6:
        listed = listed[:6] + ["..."]
    return "; expected " + (listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1])


def syntax_diagnostic(error: UnexpectedInput, offset: int) -> Diagnostic:
    if isinstance(error, UnexpectedCharacters):
        char = error.char
        shown = repr(char) if not char.isprintable() or char.isspace() else f"'{char}'"
        message = f"unexpected character {shown}"
        hint = None
        if char == "|":
            hint = "a norm is written ||A||; absolute value is abs(a)"
        elif char == "=":
            hint = "a definition is written NAME = EXPR, one per line"
        return Diagnostic(Span.point(error.line + offset, error.column), message, hint)
    if isinstance(error, UnexpectedToken) and error.token.type != "$END":
        token = error.token
        message = f"unexpected '{token.value}'" + describe_expected(set(error.expected))
        return Diagnostic(Span(token.line + offset, token.column,
                               token.end_line + offset, token.end_column), message)
    # The statement ended too early: point just past its last character.
    expected = set(getattr(error, "expected", ()) or ())
    return Diagnostic(Span.point(error.line + offset if error.line > 0 else offset + 1,
                                 max(1, error.column)),
                      "unexpected end of statement" + describe_expected(expected))


def parse_statement(line: LogicalLine) -> ast.Statement:
    parser = _parser()
    with _lock:
        _transformer.line_offset = line.first_line - 1
        return parser.parse(line.text)


def end_position(line: LogicalLine) -> tuple[int, int]:
    """The line and column just past the last code character of a statement."""
    physical = line.text.split("\n")
    for index in range(len(physical) - 1, -1, -1):
        code = physical[index].split("#", 1)[0].rstrip()
        if code:
            return line.first_line + index, len(code) + 1
    return line.first_line, 1


def parse(source: Source) -> list[ast.Statement]:
    """All statements of the file, or ModelError with every syntax error."""
    diagnostics: list[Diagnostic] = []
    statements = []
    for line in logical_lines(source, diagnostics):
        try:
            statements.append(parse_statement(line))
        except UnexpectedInput as error:
            diagnostic = syntax_diagnostic(error, line.first_line - 1)
            if isinstance(error, UnexpectedEOF) or (
                    isinstance(error, UnexpectedToken) and error.token.type == "$END"):
                diagnostic.span = Span.point(*end_position(line))
            diagnostics.append(diagnostic)
        except VisitError as error:  # a bug in ToSyntax, never the user's fault
            raise error.orig_exc from None
    if diagnostics:
        raise ModelError(source, diagnostics)
    return statements
