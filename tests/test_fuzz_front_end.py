"""Fuzzing the front end: whatever a model file holds, `symgrad` answers
with status 0, or with status 2 and errors located as
`FILE:LINE:COL: error: MESSAGE` (the source line and a caret below it).
Never a traceback, never status 3 (an internal error of symgrad), never a
Python exception leaking out of the command line, never a hang.

The inputs, drawn by Hypothesis:
- random bytes, written to the model file as they are (a file that is not
  UTF-8 is a located error too), or decoded leniently first;
- random sequences of the grammar's own tokens: every terminal of
  grammar/symgrad.lark (names, numbers and comments drawn from its patterns),
  the built-in function names, blanks and line ends;
- random sentences of the grammar: statements derived from its rules, after
  declarations they may use, each definition summed into a `grad`
  statement: they parse, and most go on to be checked, differentiated and
  compiled, or fail on their names and shapes;
- the examples (examples/*.sg) with tokens deleted, duplicated, swapped or
  inserted: these mostly still parse, and go on through differentiation
  and code generation (`symgrad compile`, whose module must be valid Python,
  and `symgrad derive`).

Each input runs in process, through symgrad.cli.main, under a per-input
alarm (a hang guard of HANG_SECONDS, far above the milliseconds an input
takes; no time is asserted); a few run through a subprocess as a user runs
`symgrad`. A run makes some 2,300 inputs, the same each time; with
SYMGRAD_FUZZ_EXAMPLES=N each test draws N new ones.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lark import Lark
from test_errors import HEADER as DECLARATIONS
from test_errors import internal_names

from symgrad.cli import main
from symgrad.ops import BUILTINS
from symgrad.parsing import grammar_text, parser
from symgrad.source import Source

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.sg"))
HANG_SECONDS = 30


def fuzz_settings(examples: int):
    """`examples` inputs per run, the same each time; SYMGRAD_FUZZ_EXAMPLES=N:
    N new ones."""
    wanted = os.environ.get("SYMGRAD_FUZZ_EXAMPLES")
    return settings(max_examples=int(wanted) if wanted else examples, derandomize=not wanted, deadline=None,
                    database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder for the model files (one fixture for the whole module:
    Hypothesis runs every example of a test in one call)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SYMGRAD_DEBUG", raising=False)  # internal errors are reported, not raised
        patch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield tmp_path_factory.mktemp("fuzz")


# ------------------------------------------------------------- the invariant

class Hang(BaseException):
    """An input ran past HANG_SECONDS (a BaseException: the command line
    turns every Exception into status 3, and this must get through)."""


@contextlib.contextmanager
def hang_guard(seconds: float = HANG_SECONDS):
    if not hasattr(signal, "setitimer"):  # no alarms here (Windows): no guard
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"an input ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with hang_guard(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def source_lines(data: bytes) -> list[str]:
    """The model's lines as symgrad reads and shows them."""
    text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    return Source(text).lines


HEADER = re.compile(r"(?P<path>.*):(?P<line>\d+):(?P<column>\d+): (?:error|warning): (?P<message>.+)")


def located_errors(stderr: str, path: str, lines: list[str]) -> list[tuple[int, int, str]]:
    """(line, column, message) of every error in stderr, which must be
    nothing but located errors: each a header inside the file, the line
    it names, a caret under the column, then notes and hints."""
    rows = stderr.split("\n")
    assert rows[-1] == "", repr(stderr[-200:])
    rows.pop()
    found = []
    index = 0
    while index < len(rows):
        header = HEADER.fullmatch(rows[index])
        assert header and header["path"] == path, f"not a located error: {rows[index]!r}\n{stderr}"
        line, column = int(header["line"]), int(header["column"])
        assert 1 <= line <= len(lines), (line, len(lines), rows[index])
        shown = lines[line - 1]
        assert 1 <= column <= len(shown) + 1, (column, shown, rows[index])
        assert rows[index + 1] == f"    {shown}", (rows[index + 1], shown)
        pad = "".join(c if c == "\t" else " " for c in shown[:column - 1])
        assert re.fullmatch(re.escape(f"    {pad}^") + "~*", rows[index + 2]), rows[index + 2]
        found.append((line, column, header["message"]))
        index += 3
        while index < len(rows) and rows[index].startswith(("  note: ", "  hint: ")):
            index += 1
    assert found
    return found


def assert_answered(status: int, stdout: str, stderr: str, path: str, data: bytes):
    """Status 0 with nothing on stderr, or status 2 with located errors only."""
    assert "Traceback" not in stderr
    assert status in (0, 2), f"status {status}: {stderr}"
    if status == 0:
        assert ": error: " not in stderr
        if stderr:  # derive's warnings (a function's name close to a known one's), located as errors are
            located_errors(stderr, path, source_lines(data))
    else:
        for _, _, message in located_errors(stderr, path, source_lines(data)):
            assert not internal_names(message), message  # no grammar-internal name: _BY, LPAR


def check_file(directory: Path, data: bytes, commands=("shapes",)):
    """Write data as a model file and run each command on it in process."""
    path = directory / "model.sg"
    path.write_bytes(data)
    for command in commands:
        argv = [command, str(path)]
        if command == "compile":
            out = directory / "model_out.py"
            out.unlink(missing_ok=True)
            argv += ["-o", str(out)]
        status, stdout, stderr = run_in_process(argv)
        assert_answered(status, stdout, stderr, str(path), data)
        if command == "compile" and status == 0:
            compile(out.read_text(encoding="utf-8"), str(out), "exec")  # a module Python reads


# ------------------------------------------------------------------ the inputs

# Bytes that make UTF-8 and the lexer work: a byte-order mark, broken and
# overlong sequences, NUL, CR, form feed, no-break space, the language's
# non-ASCII characters, and characters Python reads specially.
BYTE_PIECES = [codecs.BOM_UTF8, b"\xff", b"\xc3", b"\xe2\x88", b"\xed\xa0\x80", b"\xc0\xaf", b"\x00", b"\r",
               b"\r\n", b"\n", b"\x0c", b"\t", b"\xc2\xa0", b"\xe2\x80\xa8", *(c.encode() for c in "∘⊙×ᵀσ²θ'\"\\|$")]


def raw_bytes():
    return st.one_of(st.binary(max_size=200),
                     st.lists(st.one_of(st.sampled_from(BYTE_PIECES), st.binary(max_size=6)), max_size=40)
                     .map(b"".join))


# Pieces of #12's constructs: indexing (`[` right after an operand, or after
# a blank, where it opens a block matrix), ranges, blocks, ids and dimension
# expressions.
INDEXING_WORDS = ["[", "x[", " [", "]", "[0:n]", "[w]", "[:, 0]", "[n - 1]", "[h:2 h]", "[A; B]", "[v, v]", ";", ":",
                  "..", "{0..n-1}^m", "{0..C-1}", "{0..n}", "R^(n + m)", "R^(2 h)", "R^(n x 5 d)", "2 h", "n - 1",
                  "pick", "onehot", "vec", "A^-2", "A^0"]


def grammar_words():
    """Every terminal of the grammar (a literal as written, a pattern as
    strings it matches), the built-in function names, and characters of no
    token at all."""
    words = []
    for terminal in parser().terminals.values():
        pattern = terminal.pattern
        if pattern.type == "str":
            words.append(st.just(pattern.value))
        else:
            words.append(st.from_regex(pattern.to_regexp(), fullmatch=True).filter(lambda w: len(w) < 30))
    words.append(st.sampled_from(sorted(BUILTINS)))
    words.append(st.sampled_from(["x", "n", "m", "W", "b", "f", "t", "2.", "1e999", "R^(nxm)", "x²", "|", "$",
                                  "\u00a0", "\ufeff", "# z = W x +", "a^-b", "||x||^2", *INDEXING_WORDS]))
    return st.one_of(words)


def token_lines():
    """Lines of grammar words, joined by blanks or nothing."""
    line = st.lists(st.tuples(st.sampled_from(["", " ", " ", "\t"]), grammar_words()), max_size=12).map(
        lambda pairs: "".join(blank + word for blank, word in pairs))
    return st.lists(line, max_size=6).map("\n".join)


def tokens_of(text: str) -> list[str]:
    """The text cut at the grammar's tokens: each piece is a token with the
    blanks and comments before it (the last piece may be blanks only);
    a character of no token is a piece of its own."""
    grammar = parser()
    pieces, start, position = [], 0, 0
    while True:
        position = grammar.skip.match(text, position).end()
        if position >= len(text):
            break
        match = grammar.any_token.regex.match(text, position)
        position = match.end() if match and match.end() > position else position + 1
        pieces.append(text[start:position])
        start = position
    pieces.append(text[start:])
    return pieces


# The grammar's rules, by the symbol they expand, and how deep each symbol's
# shallowest derivation goes (a derivation out of depth takes the shallowest).
GRAMMAR = Lark(grammar_text(), start="statement", parser="lalr")
RULES: dict[str, list[tuple[str, ...]]] = {}
for _rule in GRAMMAR.rules:
    RULES.setdefault(_rule.origin.name, []).append(tuple(symbol.name for symbol in _rule.expansion))
SHALLOWEST: dict[str, int] = {terminal.name: 0 for terminal in GRAMMAR.terminals}
while RULES.keys() - SHALLOWEST.keys():
    for _symbol, _expansions in RULES.items():
        _depths = [max(SHALLOWEST.get(s, 10 ** 9) for s in e) for e in _expansions]
        if min(_depths) < 10 ** 9:
            SHALLOWEST[_symbol] = 1 + min(_depths)
# A name is mostly a NAME (not a statement word), a statement mostly a
# definition, and an operand mostly a plain one (a level of the operator
# table passes to the next), so that expressions stay of a readable size.
WEIGHTS = {("name", ("NAME",)): 12, ("postfix", ("postfix", "INDEX_OPEN", "subscript", "RSQB")): 3,
           ("subscript", ("expr", "COLON", "expr")): 3, ("atom", ("LSQB", "block_row", "__atom_star_2", "RSQB")): 3,
           ("statement", ("declaration",)): 2, ("type", ("id_range", "CARET", "dim_leaf")): 2,
           ("type", ("R", "CARET", "LPAR", "dim", "RPAR")): 2, ("dim", ("dim", "PLUS", "dim_product")): 2, ("statement", ("definition",)): 6, ("statement", ("function",)): 2,
           ("sum", ("product",)): 3, ("product", ("unary",)): 6, ("unary", ("postfix",)): 4,
           ("postfix", ("atom",)): 8, ("atom", ("number",)): 3, ("atom", ("name",)): 4,
           ("atom", ("name", "LPAR", "expr", "__atom_star_1", "RPAR")): 3, ("__atom_star_1", ("COMMA", "expr")): 3}

# The declarations of test_errors (W, A, v, w, a, c), ids, a vector of a
# dimension expression, and two functions.
SENTENCE_HEADER = (DECLARATIONS + "input y : {0..n-1}^m\ninput i : {0..m-1}\nparam z : R^(2 n)\n"
                   "f(t) = t^2\ng(p, q) = max(p, q) + p q\n")
# What the NAME and number terminals are drawn from: the header's names, the
# built-in functions, and words the grammar uses in one place only.
SENTENCE_WORDS = {
    "NAME": ["W", "A", "v", "w", "a", "a", "c", "f", "g", "n", "m", "t", "q", "x", "T", "y", "θ", "exp", "max", "sum",
             "softmax", "leaky_relu", "diag", "inv", "tr", "logsumexp", "norm1", "y", "i", "z", "n", "m", "pick",
             "onehot", "vec", "ones", "eye", "rowsum", "colmean"],
    "INDEX_OPEN": ["["],   # its pattern looks behind at the operand, written right before it
    "NUMBER": ["2", "0.5", ".5", "1e-3", "3", "1", "0", "1e999"],
    "INT": ["1", "2", "3", "0"],
}


def terminal_text(name: str):
    pattern = next(t.pattern for t in GRAMMAR.terminals if t.name == name)
    if name in SENTENCE_WORDS:
        return st.sampled_from(SENTENCE_WORDS[name])
    if pattern.type == "str":
        return st.just(pattern.value)
    return st.from_regex(pattern.to_regexp(), fullmatch=True)


@st.composite
def sentence(draw, symbol: str = "statement", depth: int = 7):
    """A random derivation of `symbol` from the grammar's rules."""
    if symbol not in RULES:
        return draw(terminal_text(symbol))
    options = RULES[symbol]
    if depth <= 0:
        shallowest = min(max(SHALLOWEST[s] for s in e) for e in options)
        options = [e for e in options if max(SHALLOWEST[s] for s in e) == shallowest]
    expansion = draw(st.sampled_from([e for e in options for _ in range(WEIGHTS.get((symbol, e), 1))]))
    text = ""
    for s in expansion:   # an index's `[` right after its operand: after a blank it opens a block matrix
        text += ("" if s == "INDEX_OPEN" or not text else " ") + draw(sentence(s, depth - 1))
    return text


@st.composite
def grammar_sentences(draw):
    """A model: the header, random statements, and each definition's sum
    differentiated."""
    statements = draw(st.lists(sentence(), min_size=1, max_size=5))
    defined = [s.split("=")[0].strip() for s in statements if re.fullmatch(r"[^\W\d]\w* = .*", s)]
    sums = [f"s{k} = sum({name})\ngrad s{k} wrt W, A, v, w, a" for k, name in enumerate(defined)]
    return SENTENCE_HEADER + "\n".join(statements + sums + ["grad a"]) + "\n"


EXAMPLE_TOKENS = {path.name: tokens_of(path.read_text(encoding="utf-8")) for path in EXAMPLES}


@st.composite
def mutated_example(draw):
    """An example with 1 to 4 edits: a token deleted, duplicated, swapped
    with another, or a grammar word inserted."""
    pieces = list(EXAMPLE_TOKENS[draw(st.sampled_from(sorted(EXAMPLE_TOKENS)))])
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(["delete", "duplicate", "swap", "insert"]))
        at = draw(st.integers(0, len(pieces) - 1))
        if edit == "delete" and len(pieces) > 1:
            del pieces[at]
        elif edit == "duplicate":
            pieces.insert(at, pieces[at])
        elif edit == "swap":
            other = draw(st.integers(0, len(pieces) - 1))
            pieces[at], pieces[other] = pieces[other], pieces[at]
        else:
            pieces.insert(at, draw(st.sampled_from([" ", "\n", ""])) + draw(grammar_words()))
    return "".join(pieces)


# ------------------------------------------------------------------- the tests

@fuzz_settings(700)
@given(data=raw_bytes())
def test_random_bytes_are_a_model_or_located_errors(workdir, data):
    check_file(workdir, data)


@fuzz_settings(300)
@given(data=raw_bytes(), encoding=st.sampled_from(["utf-8", "latin-1"]))
def test_random_bytes_decoded_leniently_are_a_model_or_located_errors(workdir, data, encoding):
    text = data.decode(encoding, errors="replace")
    check_file(workdir, text.encode("utf-8"))


@fuzz_settings(600)
@given(text=token_lines())
def test_random_token_sequences_are_a_model_or_located_errors(workdir, text):
    check_file(workdir, text.encode("utf-8"))


@fuzz_settings(300)
@given(text=grammar_sentences())
def test_random_sentences_of_the_grammar_compile_or_give_located_errors(workdir, text):
    check_file(workdir, text.encode("utf-8"), ("compile", "derive"))


@fuzz_settings(400)
@given(text=mutated_example())
def test_mutated_examples_compile_or_give_located_errors(workdir, text):
    check_file(workdir, text.encode("utf-8"), ("compile", "derive"))


@fuzz_settings(6)
@given(data=st.one_of(raw_bytes(), token_lines().map(str.encode), mutated_example().map(str.encode)))
def test_the_symgrad_command_answers_any_input_without_a_traceback(workdir, data):
    path = workdir / "command.sg"
    path.write_bytes(data)
    run = subprocess.run([sys.executable, "-m", "symgrad", "shapes", str(path)], capture_output=True,
                         timeout=120, env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    stderr = run.stderr.decode("utf-8")
    assert_answered(run.returncode, run.stdout.decode("utf-8"), stderr, str(path), data)


# ----------------------------------------- the checks themselves can fail

def test_a_traceback_or_an_internal_error_fails_the_invariant():
    with pytest.raises(AssertionError):
        assert_answered(3, "", "symgrad: internal error: KeyError: 'x'\n", "m.sg", b"y = x\n")
    with pytest.raises(AssertionError):
        assert_answered(2, "", "Traceback (most recent call last):\n", "m.sg", b"y = x\n")


@pytest.mark.parametrize("stderr", [
    "m.sg:3:1: error: unknown name 'x'\n    y = x\n    ^\n",       # line 3 of a 1-line file
    "m.sg:1:9: error: unknown name 'x'\n    y = x\n        ^\n",   # past the end of the line
    "m.sg:1:5: error: unknown name 'x'\n    y = x\n   ^\n",        # the caret elsewhere
    "m.sg:1:5: error: unknown name 'x'\n    y = z\n        ^\n",   # another line shown
    "error: unknown name 'x'\n",                                    # no place
    "other.sg:1:5: error: unknown name 'x'\n    y = x\n        ^\n",  # another file
])
def test_an_error_outside_the_file_or_without_its_place_fails_the_invariant(stderr):
    with pytest.raises(AssertionError):
        assert_answered(2, "", stderr, "m.sg", b"y = x\n")


def test_a_located_error_passes_the_invariant():
    assert located_errors("m.sg:1:5: error: unknown name 'x'\n    y = x\n        ^\n  hint: declare it\n",
                          "m.sg", ["y = x"]) == [(1, 5, "unknown name 'x'")]


def test_the_hang_guard_stops_a_hang():
    with pytest.raises(Hang):
        with hang_guard(0.05):
            while True:
                pass


def test_mutation_works_on_the_grammars_tokens():
    assert tokens_of("z = W x  # note\ngrad z") == ["z", " =", " W", " x", "  # note\ngrad", " z", ""]
    assert "".join(tokens_of(EXAMPLES[0].read_text(encoding="utf-8"))) == EXAMPLES[0].read_text(encoding="utf-8")


# The constructs of #12 the inputs must reach, as patterns of the text.
CONSTRUCTS = {
    "an index right after its operand": r"[\w)\]'ᵀ]\[",
    "a bracket after a blank": r" \[",
    "a range": r"\[[^\]\n]*\w+ : \w",
    "a block matrix of rows": r"\[[^\]\n]*;",
    "a type of ids": r": \{[^}\n]*\.\.[^}\n]*\}",
    "a dimension expression in a type": r"R \^ [({][^)}\n]*(?:[+\-*]|\d \w)",
}


def test_the_sentences_of_the_grammar_reach_each_construct_of_indexing():
    texts = []

    @fuzz_settings(300)
    @given(text=grammar_sentences())
    def draw(text):
        texts.append(text.removeprefix(SENTENCE_HEADER))

    draw()
    missed = [name for name, pattern in CONSTRUCTS.items() if not any(re.search(pattern, t) for t in texts)]
    assert missed == []


def test_the_mutated_examples_and_grammar_words_hold_indexing_ids_and_dimension_expressions():
    pieces = {piece.strip() for tokens in EXAMPLE_TOKENS.values() for piece in tokens}
    assert {"[", ":", ";", "{", "..", "vec", "pick", "onehot"} <= pieces
    assert {"[", " [", "{0..n-1}^m", "R^(2 h)", "[h:2 h]"} <= set(INDEXING_WORDS)
