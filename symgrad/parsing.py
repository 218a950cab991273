"""Text to syntax tree: `parse(source)` returns the statements of a file.

The grammar (grammar/symgrad.lark) is the one definition of the syntax. Lark
compiles it into LALR(1) tables and into the callbacks that build the tree
(ToSyntax, below); this module runs those tables itself:

- The file is cut into statements, one per line, continued while a bracket
  is open. Each is parsed on its own, so that a syntax error in one statement
  does not hide the errors in the others.
- A statement is lexed and parsed in one pass. The lexer tries only the
  terminals the parser accepts in its current state (Lark calls this a
  contextual lexer): that is how `x` between two dimensions and `T` after `^`
  are keywords there and names elsewhere, and how `||` opens or closes a norm.

Lark's own `parse()` works the same way with much more machinery per token
(some 25 µs a token, against some 4 here), and a 100,000-line model must be
checked in seconds (benchmarks/front_end.py measures it). The loop makes no
Python recursion, so 5,000 nested brackets are fine.
"""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import NamedTuple

from lark import Lark, Transformer, __version__ as lark_version
from lark.lexer import Lexer
from lark.parsers.lalr_analysis import Shift

from . import syntax as ast
from .cache import cached, key as cache_key
from .source import Diagnostic, ModelError, Source, Span

OPENING = {"(": ")", "[": "]", "{": "}"}
BRACKET = re.compile(r"[()\[\]{}]")

# The head of a statement that can only start one: on a line that continues
# an unclosed bracket, it means the bracket was left open by mistake.
# (`f(t,` followed by `  u) = t u` continues; `  z = a` starts anew.)
_WORD = r"(?!ᵀ)[^\W\d](?:(?!ᵀ)\w)*"
STATEMENT_HEAD = re.compile(
    rf"\s*(?:(?:param|input|const)\s+{_WORD}\s*[:=]|(?:grad|hessian|jacobian)\s+{_WORD}\s*(?:wrt\b|$)"
    rf"|{_WORD}\s*(?:\(\s*{_WORD}\s*(?:,\s*{_WORD}\s*)*\))?\s*=)")
# What a statement that did not parse would have introduced: its name, and
# whether it is a `grad` (`hessian`, `jacobian`) statement.
UNPARSED_HEAD = re.compile(rf"\s*(?:(?:param|input|const)\s+({_WORD})|(grad|hessian|jacobian)\b|({_WORD})\s*[(=])")

# How a terminal that is not one literal string is named in "expected ..."
# messages (a literal is shown quoted): no grammar-internal name (`INDEX_OPEN`,
# `HADAMARD`) ever reaches a message.
TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "INT": "a whole number", "NORM_OPEN": "'||'",
    "NORM_CLOSE": "'||'", "$END": "the end of the line", "HADAMARD": "'∘'",
    "DIVIDE": "'/'", "INDEX_OPEN": "'['",
}
# Terminals that may stand where a name is expected (`param` as a variable):
# when a name is expected, "a name" says it all.
NAME_WORDS = {"PARAM", "INPUT", "CONST", "GRAD", "HESSIAN", "JACOBIAN", "WRT"}
# Terminals that start an expression: when those are expected, "an
# expression" says it all.
EXPRESSION_STARTS = {"NAME", "NUMBER", "LPAR", "LSQB", "NORM_OPEN", "MINUS"} | NAME_WORDS
NORM_BARS = {"NORM_OPEN", "NORM_CLOSE"}


# A token is a plain tuple (type, text, line, column), which Python makes
# several times faster than a class instance; a token never spans lines.
Token = tuple[str, str, int, int]


def token_span(token: Token) -> Span:
    _, text, line, column = token
    return Span(line, column, line, column + len(text))


def quoted(text: str) -> str:
    """Source text quoted in a message: 'x', or "'" for the prime."""
    return f'"{text}"' if "'" in text else f"'{text}'"


class ToSyntax(Transformer):
    """Builds syntax nodes as the parser reduces, bottom-up (Lark calls these
    methods by rule name, with the rule's tokens and built children)."""

    # --- leaves
    def name(self, children):
        (token,) = children
        return ast.Name(token[1], token_span(token))

    def number(self, children):
        (token,) = children
        return ast.Number(float(token[1]), token[1], token_span(token))

    def signed_number(self, children):
        number = self.number(children[-1:])
        if len(children) == 1:
            return number
        return ast.Number(-number.value, "-" + number.text, token_span(children[0]).to(number.span))

    # --- expressions
    def _binary(op):
        def build(self, children):
            left, token, right = children
            return ast.Binary(op, left, right, left.span.to(right.span), token_span(token))
        return build

    add = _binary("add")
    sub = _binary("sub")
    star = _binary("star")
    at = _binary("at")
    hadamard = _binary("hadamard")
    divide = _binary("divide")
    power = _binary("power")
    elementwise_power = _binary("elementwise_power")

    def juxtapose(self, children):
        left, right = children
        # A juxtaposition's error is reported at the start of its right operand.
        start = Span(right.span.line, right.span.column, right.span.line, right.span.column + 1)
        return ast.Binary("juxtapose", left, right, left.span.to(right.span), start)

    def neg(self, children):
        token, operand = children
        op = token_span(token)
        return ast.Negate(operand, op.to(operand.span), op)

    def transpose(self, children):
        # `A^T` has two tokens; its operator is `^` and it ends after `T`.
        operand, token = children[0], children[1]
        span = operand.span.to(token_span(children[-1]))
        number = operand.operand if type(operand) is ast.Group else operand
        if type(number) is ast.Number:
            # `1ᵀ X` reads as the number 1 times X: what was meant is a row of ones.
            raise SyntaxProblem(Diagnostic(
                span, f"a number has no transpose: {quoted(number.text + ('^T' if token[1] == '^' else token[1]))} "
                      f"is the number {number.text}",
                "a row of ones is ones(n)ᵀ (n its length): 1ᵀ X is ones(n)ᵀ X, or colsum(X)"))
        return ast.Transpose(operand, span, token_span(token))

    def call(self, children):
        func, open_, *args, close = children
        return ast.Call(func, tuple(args), func.span.to(token_span(close)), token_span(open_))

    def norm(self, children):
        bar, operand, close = children
        return ast.Norm(operand, token_span(bar).to(token_span(close)))

    def group(self, children):
        open_, operand, close = children
        return ast.Group(operand, token_span(open_).to(token_span(close)))

    def index(self, children):
        base, open_, *axes, close = children
        return ast.Index(base, tuple(axes), base.span.to(token_span(close)), token_span(open_))

    def whole(self, children):
        (colon,) = children
        return ast.Whole(token_span(colon))

    def block_range(self, children):
        start, _, stop = children
        return ast.Range(start, stop, start.span.to(stop.span))

    def block_row(self, children):
        return tuple(children)

    def brackets(self, children):
        open_, *rows, close = children
        rows = [row for row in rows if type(row) is tuple and type(row[0]) is not str]
        span = token_span(open_).to(token_span(close))
        if len(rows) == 1 and len(rows[0]) == 1:
            return ast.Group(rows[0][0], span)
        return ast.Block(tuple(rows), span)

    # --- types
    def dim_leaf(self, children):
        (token,) = children
        if token[0] == "INT":
            return ast.Number(float(token[1]), token[1], token_span(token))
        return ast.Name(token[1], token_span(token))

    dim_add = _binary("add")
    dim_sub = _binary("sub")

    del _binary

    def dim_mul(self, children):
        if len(children) == 3:
            return self.star(children)
        return self.juxtapose(children)

    def scalar_type(self, children):
        return (), None

    def vector_type(self, children):
        return tuple(ast.Dim(c, c.span) for c in children if not isinstance(c, tuple)), None

    matrix_type = vector_type

    def id_range(self, children):
        low, high = children
        return ast.Dim(low, low.span), ast.Dim(high, high.span)

    def id_type(self, children):
        ids, *dims = children
        return tuple(ast.Dim(c, c.span) for c in dims), ids

    # --- statements
    def declaration(self, children):
        keyword, name, (dims, ids) = children
        spans = [d.span for d in (ids or ()) + dims]
        type_span = spans[0].to(spans[-1]) if spans else name.span
        end = type_span if spans else name.span
        return ast.Declaration(keyword[1], name, ast.TypeExpr(dims, type_span, ids), token_span(keyword).to(end))

    def const_value(self, children):
        keyword, name, value = children
        return ast.ConstValue(name, value, token_span(keyword).to(value.span))

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
        return ast.Grad(target, wrt, token_span(keyword).to(end), keyword[1])


class _NoLexer(Lexer):
    """Lark needs a lexer to build a parser; this module lexes itself."""

    def __init__(self, conf):
        pass

    def lex(self, text):
        raise NotImplementedError


@cache
def grammar_text() -> str:
    return resources.files("symgrad.grammar").joinpath("symgrad.lark").read_text(encoding="utf-8")


# --------------------------------------------------------- the LALR tables

class SyntaxProblem(Exception):
    """A statement does not parse; carries its diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


class StateLexer(NamedTuple):
    """How one parser state lexes: `regex` finds the next terminal; a name
    that is in `keywords` is that keyword; any other name is a NAME if
    `names` (the state accepts names), else unexpected."""

    regex: re.Pattern
    keywords: dict[str, str]
    names: bool


class Parser:
    """Lark's LALR tables for `statement`, in the shape the loop below reads
    fastest, and one compiled lexer per parser state."""

    def __init__(self):
        lark = _lark()
        conf = lark.parse_interactive("").parser_state.parse_conf
        self.start_state = conf.start_state
        self.end_state = conf.end_state
        self.terminals = {t.name: t for t in lark.terminals}
        # Per state: symbol -> next state (>= 0: shift or goto) or ~rule.
        # Symbols become plain str: Lark names some with its Token class,
        # whose Python-level __eq__ would run at every lookup.
        self.rules: list[tuple[int, str, object]] = []
        rule_index: dict[int, int] = {}
        self.actions: dict[int, dict[str, int]] = {}
        for state, row in conf.parse_table.states.items():
            actions = self.actions[state] = {}
            for symbol, (action, arg) in row.items():
                if action is Shift:
                    actions[str(symbol)] = arg
                    continue
                if id(arg) not in rule_index:
                    rule_index[id(arg)] = len(self.rules)
                    self.rules.append((len(arg.expansion), str(arg.origin.name),
                                       self._callback(arg, conf.callbacks)))
                actions[str(symbol)] = ~rule_index[id(arg)]
        self.skip = re.compile("(?:%s)*" % "|".join(
            self.terminals[name].pattern.to_regexp() for name in lark.lexer_conf.ignore))
        self.any_token = self._lexer(set(self.terminals) - set(lark.lexer_conf.ignore))
        self.lexers: dict[int, StateLexer] = {}
        self.chains: dict[tuple[int, int, str], int] = {}  # see passes()

    @staticmethod
    def _callback(rule, callbacks):
        """None for `?rule: child`, whose value is its child's: the loop
        then skips the call (most reductions of an expression are these)."""
        expansion = rule.expansion
        if (rule.options.expand1 and len(expansion) == 1 and not expansion[0].is_term
                and not expansion[0].name.startswith("_")):
            return None
        return callbacks[rule]

    def _lexer(self, accepted: set[str]) -> StateLexer:
        """A lexer for the terminals `accepted`: one regular expression with
        the literals first, longest first (`.^` before `^`), then the patterns.
        A literal that is a name (`param`, `T`) is no alternative of its own:
        a name is matched whole, then looked up, so `Tx` stays a name."""
        name = re.compile(self.terminals["NAME"].pattern.to_regexp())
        literals, patterns, keywords = [], [], {}
        for terminal in (self.terminals[t] for t in accepted):
            pattern = terminal.pattern
            if pattern.type == "str" and name.fullmatch(pattern.value):
                keywords[pattern.value] = terminal.name
            elif pattern.type == "str":
                literals.append((-len(pattern.value), terminal.name, re.escape(pattern.value)))
            else:
                patterns.append((terminal.name, pattern.to_regexp()))
        if keywords and "NAME" not in accepted:
            patterns.append(("NAME", name.pattern))
        # A pattern given a priority (INDEX_OPEN: `[` with no space before)
        # is tried before the literals it overlaps.
        first = sorted(p for p in patterns if self.terminals[p[0]].priority > 0)
        patterns = [p for p in patterns if p not in first]
        groups = first + [(n, p) for _, n, p in sorted(literals)] + sorted(patterns)
        # A state that takes only the end of the statement matches nothing: `(?!)`.
        alternatives = "|".join(f"(?P<{n}>{p})" for n, p in groups) or "(?!)"
        regex = re.compile(alternatives)
        return StateLexer(regex, keywords, "NAME" in accepted)

    def lexer(self, state: int) -> StateLexer:
        lexer = self.lexers.get(state)
        if lexer is None:
            accepted = {s for s in self.actions[state] if s.isupper() and s != "$END"}
            lexer = self.lexers[state] = self._lexer(accepted)
        return lexer

    # ------------------------------------------------------------ the loop
    def parse(self, text: str, start: int, end: int, line: int) -> ast.Statement:
        """Parse text[start:end], a statement beginning at the start of line
        `line`, or raise SyntaxProblem. One loop lexes a token in the
        parser's state, then makes every reduction it completes and shifts
        it; at the end, the end token makes the rest and is accepted.
        (The loop is written out in one function: it runs for every token
        of the file, and Python calls are what it would spend most on.)"""
        actions, rules, lexers, chains, skip = self.actions, self.rules, self.lexers, self.chains, self.skip.match
        multiline = text.find("\n", start, end) >= 0
        state = self.start_state
        states = [state]
        values: list = []
        line_start = pos = start
        token = None
        norms = 0  # how many norms are open
        while True:
            at = skip(text, pos, end).end()  # past blanks and comments
            if multiline and text.count("\n", pos, at):
                line += text.count("\n", pos, at)
                line_start = text.rfind("\n", pos, at) + 1
            regex, keywords, names = lexers.get(state) or self.lexer(state)
            match = regex.match(text, at, end)
            if match is not None:
                kind, value = match.lastgroup, match.group()
                if kind == "NAME":
                    kind = keywords.get(value) or ("NAME" if names else None)
                elif kind in NORM_BARS:  # `||`: see the grammar
                    kind = "NORM_CLOSE" if norms and "NORM_CLOSE" in actions[state] else "NORM_OPEN"
                    norms += 1 if kind == "NORM_OPEN" else -1
                if kind is None:
                    raise SyntaxProblem(self.unexpected_text(text, at, end, line, at - line_start + 1, state))
                token = (kind, value, line, at - line_start + 1)
                pos = match.end()
            elif at < end:
                raise SyntaxProblem(self.unexpected_text(text, at, end, line, at - line_start + 1, state))
            else:  # the end token, just past the last one (logical_lines gives none without)
                _, value, at_line, column = token
                kind = "$END"
                token = (kind, "", at_line, column + len(value))
            while True:
                action = actions[state].get(kind)
                if action is None:
                    raise SyntaxProblem(self.unexpected_token(token, state, text, at))
                if action >= 0:
                    state = action
                    states.append(state)
                    values.append(token)
                    break
                size, origin, callback = rules[~action]
                if callback is None:  # `?rule: child`: see passes()
                    key = (states[-2], state, kind)
                    state = chains.get(key)
                    if state is None:
                        state = chains[key] = self.passes(*key)
                    states[-1] = state
                else:
                    if size:
                        children = values[-size:]
                        del states[-size:], values[-size:]
                        values.append(callback(children))
                    else:
                        values.append(callback([]))
                    state = actions[states[-1]][origin]
                    states.append(state)
                if state == self.end_state and kind == "$END":
                    return values[-1]

    def passes(self, below: int, top: int, kind: str) -> int:
        """The state after every reduction by a rule `?rule: child` that the
        token `kind` makes in state `top`, with `below` under it. Such a
        reduction keeps the value and swaps the top state for a goto from
        `below`, so a chain of them (an operand climbing the precedence levels
        from `atom` to `expr`) depends on these three alone; the loop looks
        the result up instead of making the chain each time."""
        while True:
            action = self.actions[top].get(kind)
            if action is None or action >= 0 or self.rules[~action][2] is not None:
                return top
            top = self.actions[below][self.rules[~action][1]]

    # ------------------------------------------------------------ errors
    def unexpected_text(self, text, pos, end, line, column, state) -> Diagnostic:
        """No terminal this state accepts starts here."""
        match = self.any_token.regex.match(text, pos, end)
        if match is not None:
            kind = self.any_token.keywords.get(match.group(), match.lastgroup)
            return self.unexpected_token((kind, match.group(), line, column), state, text, pos)
        habit = numpy_habit(text[:end], pos, line, column)
        if habit is not None:
            return habit
        char = text[pos]
        shown = repr(char) if not char.isprintable() or char.isspace() else f"'{char}'"
        hint = None
        if char == "|":
            hint = "a norm is written ||A||; absolute value is abs(a)"
        elif char.isspace():  # a no-break space pasted from a document, say
            hint = "an unusual blank: write a plain space"
        return Diagnostic(Span.point(line, column), f"unexpected character {shown}", hint)

    def unexpected_token(self, token: Token, state: int, source: str, at: int) -> Diagnostic:
        """The parser cannot take this token (lexed at source[at])."""
        expected = self.describe_expected({s for s in self.actions[state] if s.isupper()})
        kind, text, line, column = token
        if kind == "$END":
            return Diagnostic(Span.point(line, column), "unexpected end of statement" + expected)
        habit = numpy_habit(source, at, line, column)
        if habit is not None:
            return habit
        hint = "a definition is written NAME = EXPR, one per line" if text == "=" else None
        return Diagnostic(token_span(token), f"unexpected {quoted(text)}" + expected, hint)

    def describe_expected(self, expected: set[str]) -> str:
        starts_expression = {"NAME", "NUMBER", "LPAR"} <= expected
        if starts_expression:
            expected = expected - EXPRESSION_STARTS
        elif "NAME" in expected:
            expected = expected - NAME_WORDS
        words = {self.terminal_word(name) for name in expected}
        listed = sorted(words)
        if starts_expression:
            listed.insert(0, "an expression")
        if not listed:
            return ""
        if len(listed) > 6:
            listed = listed[:6] + ["..."]
        return "; expected " + (listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1])

    def terminal_word(self, name: str) -> str:
        """A terminal as a message names it: its words, or its text quoted."""
        if name in TERMINAL_WORDS:
            return TERMINAL_WORDS[name]
        pattern = self.terminals[name].pattern
        if pattern.type != "str":
            raise KeyError(f"the terminal {name} has no words in TERMINAL_WORDS")
        return quoted(pattern.value)


# ------------------------------------------------------------ NumPy habits

# NumPy's (and Python's) spellings of what a model writes otherwise, by
# function name: the model's spelling, {0} and {1} the arguments as written.
NUMPY_FUNCTIONS = {
    "dot": "{0}ᵀ {1}", "vdot": "{0}ᵀ {1}", "inner": "{0}ᵀ {1}", "matmul": "{0} {1}", "outer": "{0} {1}ᵀ",
    "transpose": "{0}ᵀ", "norm": "||{0}||", "trace": "tr({0})", "multiply": "{0} ∘ {1}",
    "divide": "{0} / {1}", "power": "{0} .^ {1}", "square": "{0} .^ 2", "maximum": "max({0}, {1})",
    "minimum": "min({0}, {1})", "identity": "eye({0})", "expit": "sigmoid({0})",
}
# Modules whose functions a model calls by their bare names.
NUMPY_MODULE = re.compile(r"\b(?:np|numpy|jnp|torch|math|scipy|F)$")
OPERAND_BEFORE = re.compile(r"(\d*\.?\d+|\w+)\s*$")  # a number or a name, and its postfix marks


def in_model_spelling(function: str, args: list[str]) -> str | None:
    """How a model writes NumPy's `function(*args)` (args as written), or
    None if NumPy's name means nothing to a model."""
    from .ops import BUILTINS
    axis = re.fullmatch(r"axis\s*=\s*(-?\d+)", args[-1]) if len(args) == 2 else None
    side = {"0": "col", "-2": "col", "1": "row", "-1": "row"}.get(axis.group(1)) if axis else None
    if side and function in ("sum", "mean"):  # sum(A, axis=1)
        return f"{side}{function}({args[0]})"
    template = NUMPY_FUNCTIONS.get(function)
    if template is None:
        return f"{function}({', '.join(args)})" if function in BUILTINS else None
    wanted = template.count("{1}") + 1
    if len(args) != wanted:
        args = ["a", "b"][:wanted]
    if not template.startswith(("||", "tr(", "max(", "min(", "eye(", "sigmoid(")):
        # An operand of an operator keeps its own grouping: (W x)ᵀ.
        args = [a if re.fullmatch(rf"{_WORD}|[\d.]+", a) else f"({a})" for a in args]
    return template.format(*args)


def call_arguments(text: str, open_at: int) -> list[str] | None:
    """The arguments, as written, of the call whose `(` is text[open_at];
    None if it is not closed in the text."""
    args, depth, start = [], 0, open_at + 1
    for index in range(open_at, len(text)):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                args.append(text[start:index].strip())
                return [a for a in args if a]
        elif char == "," and depth == 1:
            args.append(text[start:index].strip())
            start = index + 1
    return None


def operand_before(text: str) -> str | None:
    """The name, number or bracketed expression that text ends with, if any."""
    text = text.rstrip()
    name = OPERAND_BEFORE.search(text)
    if name:
        return name.group(1)
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        depth += {")": 1, "]": 1, "(": -1, "[": -1}.get(text[index], 0)
        if depth == 0:
            return text[index:] if index < len(text) - 1 else None
    return None


def numpy_habit(text: str, at: int, line: int, column: int) -> Diagnostic | None:
    """The error of a NumPy (or Python) spelling that fails to parse at
    text[at], with the model's spelling as its hint; None for any other
    syntax error. (`dot(w, v)` parses, and lowering answers it.)"""
    before, after = text[:at], text[at:]
    if after.startswith("*") and before.endswith("*"):  # w ** 2
        base = operand_before(before[:-1]) or "A"
        power = re.match(r"\*\s*([\w.]+)", after)
        k = power.group(1) if power else "k"
        return Diagnostic(Span(line, column - 1, line, column + 1), "'**' is Python's power",
                          f"write {base} .^ {k} (entry by entry; {base}^{k} for a scalar)")
    module = NUMPY_MODULE.search(before)
    function = re.match(rf"\.(?:{_WORD}\.)*({_WORD})", after)
    if module and function:  # np.exp(x), np.linalg.norm(w)
        written = module.group() + function.group()
        start, end = column - len(module.group()), column + function.end()
        opens = at + function.end()
        args = call_arguments(text, opens) if text[opens:opens + 1] == "(" else None
        spelling = in_model_spelling(function.group(1), args or ["…"])
        hint = (f"write {spelling}" if spelling else
                "a model calls its functions by their names alone; docs/language.md lists the built-ins")
        return Diagnostic(Span(line, start, line, end), f"'{written}' is a Python module's function; "
                                                         "a model has no modules", hint)
    if re.match(r"\.T\b", after):  # x.T
        operand = operand_before(before) or "A"
        return Diagnostic(Span(line, column, line, column + 2), "'.T' is NumPy's transpose",
                          f"write {operand}ᵀ or {operand}^T")
    if after.startswith("=") and re.search(r"\baxis\s*$", before):  # sum(A, axis=1)
        call = re.search(rf"({_WORD})\s*\(([^()]*(?:\([^()]*\)[^()]*)*?),\s*axis\s*$", before)
        axis = re.match(r"=\s*(-?\d+)", after)
        spelling = (in_model_spelling(call.group(1), [call.group(2).strip(), f"axis={axis.group(1)}"])
                    if call and axis else None)
        hint = (f"write {spelling}" if spelling and "axis" not in spelling else
                "rowsum(A) sums each row (NumPy's axis=1), colsum(A) each column (axis=0)")
        return Diagnostic(Span(line, column, line, column + 1),
                          "a function of a model takes no keyword arguments ('axis=' is NumPy's)", hint)
    return None


def _lark() -> Lark:
    """Lark's LALR tables for `statement`, kept between processes in the
    cache directory (building them is most of a short command's parse time),
    keyed by the grammar and symgrad's code, Lark's version and Python's.
    The stored text is Lark's own `save`; it is read back the way Lark's own
    cache reads it (`Lark.load` takes no transformer), fresh or not, once
    symgrad.cache has checked it."""

    def build() -> bytes:
        stream = io.BytesIO()
        Lark(grammar_text(), start="statement", parser="lalr", lexer=_NoLexer, maybe_placeholders=False
             ).save(stream)
        return stream.getvalue()

    def read(tables: bytes, _) -> Lark:
        return Lark.__new__(Lark)._load(io.BytesIO(tables), transformer=ToSyntax())

    version = f"lark {lark_version}, Python {sys.version_info[0]}.{sys.version_info[1]}"
    return cached(f"lark-tables-{cache_key(version)}.pickle", build, read)


@cache
def parser() -> Parser:
    return Parser()


# ------------------------------------------------------------ logical lines

class LogicalLine(NamedTuple):
    start: int       # offset of its first character in the text
    end: int         # offset just past its last character
    first_line: int  # 1-based number of its first physical line
    unclosed: tuple[str, int, int] | None  # a bracket left open: (bracket, line, column)


def logical_lines(text: str) -> list[LogicalLine]:
    """Cut the file into statements: one per line, continued while a bracket
    is open. A continuation line that starts like a statement (`z = ...`,
    `param ...`) starts a new one instead, so that one unclosed bracket is
    reported at the bracket and does not swallow the rest of the file."""
    result: list[LogicalLine] = []
    open_brackets: list[tuple[str, int, int]] = []  # (bracket, line, column)
    start = first = end = None
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):
        line_start, offset = offset, offset + len(line) + 1
        code = line.split("#", 1)[0] if "#" in line else line
        if start is not None and STATEMENT_HEAD.match(code):
            result.append(LogicalLine(start, end, first, open_brackets[0]))
            start = None
            open_brackets.clear()
        if start is None:
            if not code.strip():
                continue
            start, first = line_start, number
        end = line_start + len(line)
        for match in BRACKET.finditer(code):
            char = match.group()
            if char in OPENING:
                open_brackets.append((char, number, match.start() + 1))
            elif open_brackets:
                open_brackets.pop()  # a mismatched pair is the parser's to report
        if not open_brackets:
            result.append(LogicalLine(start, end, first, None))
            start = None
    if start is not None:
        result.append(LogicalLine(start, end, first, open_brackets[0]))
    return result


# --------------------------------------------------------------------- parse

@dataclass
class ParsedFile:
    """What parsing found: the statements that parse, the syntax errors, and
    what the statements that did not parse would have introduced, so that
    checking the rest reports no error that only follows from those."""

    statements: list[ast.Statement] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    unparsed_names: set[str] = field(default_factory=set)
    unparsed_grad: bool = False

    def unparsed(self, text: str):
        head = UNPARSED_HEAD.match(text)
        if head is None:
            return
        declared, grad, defined = head.groups()
        if grad:
            self.unparsed_grad = True
        else:
            self.unparsed_names.add(declared or defined)


def read_statements(source: Source) -> ParsedFile:
    """Every statement of the file that parses, and every syntax error."""
    parsed = ParsedFile()
    text = source.text
    run = parser().parse
    for line in logical_lines(text):
        if line.unclosed:
            bracket, at_line, column = line.unclosed
            parsed.diagnostics.append(Diagnostic(Span.point(at_line, column), f"'{bracket}' is never closed",
                                                 hint=f"add '{OPENING[bracket]}'"))
            parsed.unparsed(text[line.start:line.end])
            continue
        try:
            parsed.statements.append(run(text, line.start, line.end, line.first_line))
        except SyntaxProblem as problem:
            parsed.diagnostics.append(problem.diagnostic)
            parsed.unparsed(text[line.start:line.end])
    return parsed


def parse(source: Source) -> list[ast.Statement]:
    """All statements of the file, or ModelError with every syntax error."""
    parsed = read_statements(source)
    if parsed.diagnostics:
        raise ModelError(source, parsed.diagnostics)
    return parsed.statements
