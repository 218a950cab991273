"""Models whose names are Python keywords, builtins, the generated module's own
names or its temporaries compile, import and compute the right gradients
(compared with finite differences); keyword arguments and gradient fields use
the spelling rule of symgrad/naming.py; and nothing from the model text but
identifiers and numbers reaches the generated source.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
import unicodedata

import numpy as np
import pytest
from gradcheck import check_grads
from random_models import RandomChooser, generate

import symgrad
from symgrad.codegen import RUNTIME_FILES, carried
from symgrad.compiler import generate_module
from symgrad.source import Source


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "symgrad-cache"))


LONG = "x" * 10_000

HOSTILE = [
    # Python keywords, builtins, and NumPy's usual name
    "lambda", "def", "import", "None", "True", "match", "np", "print", "float", "ValueError", "self",
    "__import__", "type", "object", "isinstance", "len", "range", "exec", "globals",
    # dunder names Python gives a meaning of its own
    "__builtins__", "__name__", "__class__", "__init__", "__file__", "__dict__",
    # the generated module's names: its entry points, parameters and runtime
    "cache", "grads", "value", "upstream", "forward", "backward", "evaluate", "value_and_grad", "Grads",
    "_np", "_dtype", "dtype", "_cache", "_upstream", "_Grads", "_floats", "_value_out", "_grad_out",
    "_sigmoid", "_NamedTuple", "_ndarray", "_erf", "given", "dim", "copy", "shape", "_inplace", "_same_dtype",
    "_logsumexp_parts", "_softmax_grad", "check_gradients", "_CHECK_SPEC", "_check_probe",
    # the generated module's temporaries
    "t", "t1", "t2", "t3", "delta_z", "grad_W", "grad_x", "W_shape", "W_dtype", "x_shape", "_d1_f", "d1_f",
    "Grads_y", "forward_y", "_fn_f", "fn_f", "_p1", "t11", "delta_h",
    # Greek and other Unicode letters, lookalikes of the template's W and x
    # (fullwidth Ｗ and bold 𝐱, which Python reads as W and x; Cyrillic х),
    # and a very long name
    "α", "λ", "θ", "Δ", "ϕ", "ℌ", "Ｗ", "𝐱", "х", LONG,
]

# Each template uses NAME in one role, beside W : R^(n x m), x : R^m and the
# definitions h and y, so it holds for every name but those.
ROLES = {
    "matrix_param": "param NAME : R^(n x m)\ninput x : R^m\nh = NAME x\ny = sum(sigmoid(h) ∘ h)\ngrad y wrt NAME, x\n",
    "vector_input": "param W : R^(n x m)\ninput NAME : R^m\nh = W NAME\ny = sum(sigmoid(h) ∘ h) + NAME^T NAME\n"
                    "grad y wrt W, NAME\n",
    "scalar_param": "param W : R^(n x m)\nparam NAME : R\ninput x : R^m\ny = sum(sigmoid(NAME W x)) + NAME^2\ngrad y\n",
    "definition": "param W : R^(n x m)\ninput x : R^m\nNAME = sigmoid(W x)\ny = sum(NAME ∘ NAME)\ngrad y wrt W, x\n",
    "target": "param W : R^(n x m)\ninput x : R^m\nh = sigmoid(W x)\nNAME = sum(h ∘ h)\ngrad NAME wrt W, x\n",
    "dimension": "param W : R^(NAME x m)\ninput x : R^m\ny = 1/NAME sum(sigmoid(W x)) + NAME\ngrad y wrt W, x\n",
    "function": "param W : R^(n x m)\ninput x : R^m\nNAME(t) = sigmoid(t) + t^2\ny = sum(NAME(W x))\ngrad y wrt W, x\n",
    "function_parameter": "param W : R^(n x m)\ninput x : R^m\nf(NAME, q) = sigmoid(NAME) q + NAME^2 max(NAME, q)\n"
                          "y = sum(f(W x, 0.3))\ngrad y wrt W, x\n",
    "const": "param W : R^(n x m)\nconst NAME : R^n\ninput x : R^m\ny = NAME^T tanh(W x)\ngrad y\n",
    "const_value": "param W : R^(n x m)\nconst NAME = 0.5\ninput x : R^m\ny = NAME sum(tanh(W x))\ngrad y\n",
}
CLASHES = {("W", "matrix_param"), ("x", "vector_input")}


def name_id(name: str) -> str:
    return "x*10000" if name == LONG else name


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", HOSTILE, ids=name_id)
def test_hostile_name_compiles_and_matches_finite_differences(name, role):
    text = ROLES[role].replace("NAME", name)
    dims = {"n": 3, "m": 2, name: 3}
    check_grads(text, dims)
    if role == "vector_input":  # passed as (m, 1) too
        check_grads(text, dims, vector_1d=False, seed=1)


@pytest.mark.parametrize("name, keyword, field", [
    ("lambda", "lambda_", "lambda_"), ("def", "def_", "def_"), ("import", "import_", "import_"),
    ("None", "None_", "None_"), ("match", "match_", "match_"),
    ("type", "type_", "type_"), ("case", "case_", "case_"),  # soft keywords, on every Python (type: 3.12 on)
    ("__import__", "__import__", "v__import__"), ("_np", "_np", "v_np"), ("_", "_", "v_"),
    ("print", "print", "print"), ("np", "np", "np"), ("cache", "cache", "cache"),
    ("upstream", "upstream", "upstream"), ("ϕ", "u03d5", "u03d5"), ("φ", "φ", "φ"), ("ℌ", "u210c", "u210c"),
])
def test_keyword_arguments_and_gradient_fields_use_the_spelling_rule(name, keyword, field):
    module = symgrad.compile_source(f"param {name} : R^n\ninput x : R^n\ny = {name}^T x\ngrad y wrt {name}, x\n")
    assert module.Grads._fields == (field, "x")
    value, grads = module.value_and_grad(**{keyword: np.array([1.0, 2.0]), "x": np.array([3.0, 4.0])})
    assert value == 11.0
    np.testing.assert_array_equal(getattr(grads, field), [3.0, 4.0])
    assert module.evaluate(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 11.0  # positional works too


def test_names_that_python_folds_together_stay_apart():
    """Python reads ϕ and φ (and ℌ and H) as one identifier; the model has four variables."""
    text = ("param ϕ : R^n\nparam φ : R^n\nparam ℌ : R\nparam H : R\n"
            "y = sum(ϕ) + 2 sum(φ ∘ φ) + 3 ℌ + H^2\ngrad y\n")
    module = check_grads(text, {"n": 2})
    assert module.Grads._fields == ("u03d5", "φ", "u210c", "H")
    value, grads = module.value_and_grad(np.ones(2), np.full(2, 2.0), 5.0, 7.0)
    assert value == 2 + 16 + 15 + 49
    np.testing.assert_array_equal(grads.u03d5, [1.0, 1.0])
    np.testing.assert_array_equal(grads.φ, [8.0, 8.0])
    assert grads.u210c == 3.0 and grads.H == 14.0


# Lookalikes: Python folds the second of each pair into the first (NFKC),
# except the Cyrillic а, which only looks like a Latin a.
LOOKALIKES = [("W", "Ｗ"), ("x", "𝐱"), ("fi", "ﬁ"), ("K", "\u212a"), ("μ", "µ"), ("a", "а")]


@pytest.mark.parametrize("plain, lookalike", LOOKALIKES, ids=[repr(pair[1]) for pair in LOOKALIKES])
def test_a_name_and_its_lookalike_are_two_variables(plain, lookalike):
    text = f"param {plain} : R^n\nparam {lookalike} : R^n\ny = sum({plain}) + 3 sum({lookalike} ∘ {lookalike})\ngrad y\n"
    module = check_grads(text, {"n": 2})
    first, second = module.Grads._fields
    assert first != second
    value, grads = module.value_and_grad(np.ones(2), np.full(2, 2.0))
    assert value == 2 + 24
    np.testing.assert_array_equal(grads[0], [1.0, 1.0])
    np.testing.assert_array_equal(grads[1], [12.0, 12.0])
    assert module.value_and_grad(**{first: np.ones(2), second: np.full(2, 2.0)})[0] == 26


def test_a_spelling_taken_by_an_earlier_name_gets_another_underscore():
    module = check_grads("param lambda_ : R\nparam lambda : R\ny = lambda_ + 2 lambda\ngrad y\n")
    assert module.Grads._fields == ("lambda_", "lambda__")
    assert module.value_and_grad(lambda_=1.0, lambda__=10.0)[0] == 21.0


def test_several_targets_with_keyword_names_get_spelled_entry_points():
    text = ("param W : R^(n x m)\ninput x : R^m\nlambda = sum(tanh(W x))\ndef = ||W||^2\n"
            "grad lambda wrt W, x\ngrad def\n")
    module = check_grads(text, {"n": 2, "m": 3}, target="lambda")
    check_grads(text, {"n": 2, "m": 3}, target="def")
    assert module.forward is module.forward_lambda_
    assert module.Grads_def_._fields == ("W",)


def test_user_functions_named_like_entry_points_of_several_targets():
    text = ("param W : R^(n x m)\ninput x : R^m\nforward_a(t) = t^2\nevaluate_b(t) = sin(t)\n"
            "a = sum(forward_a(W x))\nb = sum(evaluate_b(W x))\ngrad a\ngrad b\n")
    check_grads(text, {"n": 2, "m": 3}, target="a")
    check_grads(text, {"n": 2, "m": 3}, target="b")


@pytest.mark.parametrize("function, call", [
    ("f(f) = sigmoid(f)", "f(x)"),
    ("f(f) = tanh(f) + f^2", "f(x)"),
    ("f(t, f) = sigmoid(t) f + exp(f)", "f(x, z)"),
    ("f(f_, f) = sigmoid(f_ + f)", "f(x, z)"),
])
def test_a_function_parameter_named_like_its_function(function, call):
    """A partial may take the function's output, spelled like the function:
    it must not collide with a parameter of that name."""
    check_grads(f"param x : R^n\nparam z : R^n\n{function}\ny = sum({call}) + sum(z)\ngrad y\n", {"n": 3})


def test_an_infinite_number_is_written_as_infinity_not_as_a_name():
    text = "param inf : R\nparam x : R^n\nconst big = -1e999\ny = sum(min(x, 1e999) + max(x, big)) + inf^2\ngrad y\n"
    module = check_grads(text, {"n": 2})
    value, grads = module.value_and_grad(3.0, np.array([1.0, 5.0]))
    assert value == 2 * (1.0 + 5.0) + 9.0
    np.testing.assert_array_equal(grads.x, [2.0, 2.0])


# ------------------------------------------- what reaches the generated code

PAYLOAD = "\"\"\" '; __import__('os').system('echo pwned') # \\ ! $ % & ? @ ~ | < \"\"\""
WITH_COMMENTS = f"""\
# {PAYLOAD}
param W : R^(n x m)        # {PAYLOAD}
param lambda : R           # {PAYLOAD}
input x : R^m              # {PAYLOAD}
f(t) = sigmoid(t)          # {PAYLOAD}
z = W x                    # {PAYLOAD}
s = sum(f(z)) + lambda^2   # {PAYLOAD}
grad s wrt W, lambda, x    # {PAYLOAD}
"""


def without_comments(text: str) -> str:
    return "\n".join(line.split("#")[0].rstrip() for line in text.splitlines()) + "\n"


def test_comments_of_the_model_never_reach_the_generated_code():
    with_comments = generate_module(Source(WITH_COMMENTS, "model.sg"))
    assert with_comments == generate_module(Source(without_comments(WITH_COMMENTS), "model.sg"))
    assert "pwned" not in with_comments and "system" not in with_comments


# Characters the generated text uses in strings and comments, beside
# identifiers, numbers and spaces: punctuation, the language's operators and
# the math notation. Not among them: quotes, backslashes, control characters.
SYMBOLS = "#'()+,-./:;=>[]^`{}*@|×‖⁻¹²³ᵀ∂∘⊙≥≤√σδΦ𝟏"
TOKEN = re.compile(rf"[^\W\d]\w*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\s+|[{re.escape(SYMBOLS)}]")


def text_of_strings_and_comments(code: str) -> list[str]:
    """The content of every string literal (f-string text included) and comment."""
    texts = []
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            texts.append(token.string[1:])
        elif token.type == tokenize.STRING:
            node = ast.parse(token.string, mode="eval").body
            if isinstance(node, ast.JoinedStr):  # an f-string, before Python 3.12
                texts += [part.value for part in node.values if isinstance(part, ast.Constant)]
            else:
                texts.append(node.value)
        elif token.type == getattr(tokenize, "FSTRING_MIDDLE", None):
            texts.append(token.string)
    return texts


def unexpected_text(text: str, filename: str) -> str:
    """What is left of text after the file name (as given, or escaped as in
    a comment) and every allowed token."""
    return TOKEN.sub("", text.replace(filename, "").replace(repr(filename)[1:-1], ""))


def fixed_texts() -> set[str]:
    """The strings and comments of the code blocks the backend copies into
    every module as they are (its runtime and helpers): no model text."""
    blocks = [carried(kind) for kind in RUNTIME_FILES]
    texts = set()
    for block in blocks:
        try:
            texts.update(text_of_strings_and_comments(block))
        except (tokenize.TokenError, SyntaxError):  # not a code block
            pass
    return texts


MODELS = {
    "comments": WITH_COMMENTS,
    "hostile_names": ("param lambda : R^(n x m)\ninput __import__ : R^m\nconst print : R\n"
                      "None(t) = tanh(t) + t^2\nnp(p, q) = max(p, q) + gelu(p)\ncache = lambda __import__\n"
                      "ϕ = np(None(cache), print)\nφ = sum(softmax(ϕ)) + logsumexp(ϕ) + ||lambda||^2\n"
                      "grad φ wrt lambda, __import__\n"),
    "every_structure": ("param X : R^(n x n)\nparam v : R^n\nupstream = logdet(X) + det(X) + tr(inv(X)) "
                        "+ v^T diag(X) + sum(diag(v)) + norm1(X) + ||v|| + mean(X .^ 2) + sum(log_softmax(X))"
                        "\ngrad upstream\n"),
}


@pytest.mark.parametrize("filename", ["model.sg", 'we"ird\\ \'na me """.sg'], ids=["plain", "quotes"])
@pytest.mark.parametrize("model", MODELS)
def test_strings_and_comments_of_the_generated_code_hold_only_names_numbers_and_math(model, filename):
    code = generate_module(Source(MODELS[model], filename))
    fixed = fixed_texts()
    leftovers = {text: unexpected_text(text, filename) for text in text_of_strings_and_comments(code)
                 if text not in fixed}
    assert {text: rest for text, rest in leftovers.items() if rest} == {}
    compile(code, "generated.py", "exec")


@pytest.mark.parametrize("seed", range(40))
def test_random_models_with_code_in_their_comments_give_only_names_numbers_and_math(seed):
    """The models of the property test (every operation, user functions,
    hostile Unicode names), each line with a comment of code: the module is
    the one of the model without comments, and its strings and comments
    hold nothing but names, numbers and math."""
    text = generate(RandomChooser(seed)).text
    commented = "".join(f"{line}  # {PAYLOAD}\n" for line in text.splitlines())
    code = generate_module(Source(commented, "model.sg"))
    assert code == generate_module(Source(text, "model.sg"))
    fixed = fixed_texts()
    leftovers = {t: unexpected_text(t, "model.sg") for t in text_of_strings_and_comments(code) if t not in fixed}
    assert {t: rest for t, rest in leftovers.items() if rest} == {}


def test_the_check_of_strings_and_comments_finds_a_stray_character():
    code = generate_module(Source(MODELS["comments"], "model.sg")).replace("# z = W x", "# z = W! x", 1)
    assert any(unexpected_text(text, "model.sg") == "!" for text in text_of_strings_and_comments(code))


def test_a_file_name_with_a_newline_cannot_start_a_line_of_code():
    code = generate_module(Source(MODELS["hostile_names"], "x.sg\nimport os\n"))
    assert "\nimport os" not in code
    namespace = {}
    exec(compile(code, "generated.py", "exec"), namespace)
    assert "os" not in namespace


# ------------------------------------- keyword arguments as written, safely

def module_names() -> list[str]:
    """Every name a generated module defines or uses that starts with `_`:
    its runtime, helpers, locals and check code, from models that use them all."""
    names = set()
    for model in MODELS.values():
        names |= set(re.findall(r"(?<![\w.])_[A-Za-z0-9_]*", generate_module(Source(model, "model.sg"))))
    return sorted(names)


def python_takes_as_keyword(name: str) -> bool:
    """Whether f(NAME=...) can be written for a function with a parameter NAME,
    under the name as written (the contract spells soft keywords with `_`)."""
    return (name.isidentifier() and not keyword.iskeyword(name) and unicodedata.normalize("NFKC", name) == name
            and name not in ("match", "case", "type"))


NAMES = sorted(set(HOSTILE) - {LONG} | {
    "_x", "__x", "_x_", "__name__", "__init__", "__class__", "_", "__", "___", "_0", "_Grads", "_fn_f",
    "_forward_body", "_value_and_grad_body", "_evaluate_body", "_forward_body_", "v_x", "lambda", "async",
    "await", "nonlocal", "match", "case", "type", "_match", "match_", "ϕ", "_ϕ", "ℌ", "ﬁ", "Ｗ", "µ", "Å", "_µ",
    "𝐱", "x²", "α_1", "_α", "_tanh_slope",
})


@pytest.mark.parametrize("name", sorted(set(NAMES) | set(module_names())))
def test_every_name_is_a_keyword_argument_as_written_where_python_takes_it(name):
    """One variable of the name, beside one called v_NAME (its gradient
    field's spelling, if it starts with `_`), both scalars: the module takes
    the name as written as a keyword argument wherever Python can; its
    gradients are right whatever the name (so no name of the module's own
    is shadowed); the gradient fields are valid NamedTuple fields."""
    other = "v" + name if name.startswith("_") else "w_" + name
    text = f"param {name} : R^n\nparam {other} : R\ninput x : R^n\ny = sum(tanh({name}) ∘ x) {other} + {other}^2\ngrad y\n"
    module = symgrad.compile_source(text)
    a, c, x = np.array([0.3, -1.2]), 1.7, np.array([2.0, 0.5])
    as_written = python_takes_as_keyword(name) and python_takes_as_keyword(other)
    calls = [lambda: module.value_and_grad(a, c, x)]
    if as_written:
        calls.append(lambda: module.value_and_grad(**{name: a, other: c, "x": x}))
    for call in calls:
        value, grads = call()
        assert value == pytest.approx(np.sum(np.tanh(a) * x) * c + c ** 2, rel=1e-14)
        np.testing.assert_allclose(grads[0], (1 - np.tanh(a) ** 2) * x * c, rtol=1e-14)
        assert grads[1] == pytest.approx(np.sum(np.tanh(a) * x) + 2 * c, rel=1e-14)
    if as_written:
        assert module.evaluate(**{name: a, other: c, "x": x}) == pytest.approx(value, rel=1e-14)
        assert module.forward(**{name: a, other: c, "x": x})[0] == pytest.approx(value, rel=1e-14)
    assert not any(field.startswith("_") or keyword.iskeyword(field) for field in module.Grads._fields)
    assert symgrad.compile_source(text, with_check=True).check_gradients(quiet=True)["passed"]


def test_shapes_prints_the_spellings_that_differ(tmp_path, capsys):
    from symgrad.cli import main
    model = tmp_path / "model.sg"
    model.write_text("param _x : R^n\nparam lambda : R\nparam ϕ : R\nparam x : R\n"
                     "y = sum(_x) lambda ϕ x\ngrad y\n", encoding="utf-8")
    assert main(["shapes", str(model)]) == 0
    printed = capsys.readouterr().out
    assert printed.split("python names:\n")[1] == ("  _x -> v_x (keyword argument: _x)\n"
                                                   "  lambda -> lambda_\n  ϕ -> u03d5\n")
