"""How model names are spelled in Python (keyword arguments, gradient fields).

The rule, applied to the variables in declaration order:

1. A name Python accepts as written and keeps as written is used unchanged,
   in keyword arguments: `x`, `_x`, `__name__`, `_`.
2. A Python keyword or soft keyword gets a trailing underscore:
   `lambda` -> `lambda_`, `match` -> `match_`, `type` -> `type_`. The soft
   keywords are those of every Python symgrad runs on, so that a model's
   spellings do not change with the Python that compiles it (`_`, which
   Python accepts as a name everywhere, is kept).
3. Any other name has each character that Python would not accept, or
   would change (Python folds identifiers with Unicode NFKC, so `ϕ` would
   become `φ`), replaced by `_uXXXX` (its code point in hex; `uXXXX` at the
   start): `ϕ` -> `u03d5`, `W²` -> `W_u00b2`.
4. Gradient fields only: a spelling that starts with `_` (NamedTuple fields
   may not) gets a leading `v`: `_x` -> `v_x`, `_` -> `v_`. Inside the
   generated code, that is the variable's name too (the module's own names
   start with `_`, so that no model name can shadow them).
5. A spelling already taken by an earlier name gets one more `_` until it is
   free (keyword arguments and gradient fields each).

`symgrad shapes` prints every spelling that differs from its name.
"""

from __future__ import annotations

import keyword
import unicodedata

# `type` is a soft keyword from Python 3.12 on; `_` is one only as a pattern.
SOFT_KEYWORDS = (frozenset(keyword.softkwlist) | {"case", "match", "type"}) - {"_"}


def _kept(name: str) -> bool:
    return name.isidentifier() and unicodedata.normalize("NFKC", name) == name


def keyword_spelling(name: str) -> str:
    """A name as a keyword argument (rules 1 to 3)."""
    if _kept(name):
        return name + "_" if keyword.iskeyword(name) or name in SOFT_KEYWORDS else name
    spelled = "".join(
        char if _kept(("_" if index else "") + char) else _escape(char, index)
        for index, char in enumerate(name))
    # Characters fine alone can still compose under NFKC; then escape all.
    return spelled if _kept(spelled) else "".join(
        char if char.isascii() else _escape(char, index) for index, char in enumerate(name))


def base_spelling(name: str) -> str:
    """A name as a gradient field and inside the generated code (rules 1 to 4)."""
    spelled = keyword_spelling(name)
    return "v" + spelled if spelled.startswith("_") else spelled


def _escape(char: str, index: int) -> str:
    return f"{'_' if index else ''}u{ord(char):04x}"


def python_names(names, spelling=base_spelling) -> dict[str, str]:
    """Model name -> Python spelling (by default as a gradient field; pass
    keyword_spelling for keyword arguments), unique, in the order given."""
    taken: set[str] = set()
    spelled: dict[str, str] = {}
    for name in names:
        candidate = spelling(name)
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        spelled[name] = candidate
    return spelled
