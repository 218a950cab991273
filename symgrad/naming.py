"""How model names are spelled in Python (keyword arguments, gradient fields).

The rule, applied to the variables in declaration order:

1. A name Python accepts as written and keeps as written is used unchanged.
2. A Python keyword or soft keyword gets a trailing underscore:
   `lambda` -> `lambda_`, `match` -> `match_`, `type` -> `type_`. The soft
   keywords are those of every Python symgrad runs on, so that a model's
   spellings do not change with the Python that compiles it.
3. Any other name has each character that Python would not accept, or
   would change (Python folds identifiers with Unicode NFKC, so `ϕ` would
   become `φ`), replaced by `_uXXXX` (its code point in hex; `uXXXX` at the
   start): `ϕ` -> `u03d5`, `W²` -> `W_u00b2`.
4. A name that starts with `_` (NamedTuple fields may not) gets a leading
   `v`: `_x` -> `v_x`, `_` -> `v_`.
5. A spelling already taken by an earlier name gets one more `_` until it is
   free.

`symgrad shapes` prints every spelling that differs from its name.
"""

from __future__ import annotations

import keyword
import unicodedata

# `type` is a soft keyword from Python 3.12 on; `_` is handled by rule 4.
SOFT_KEYWORDS = frozenset(keyword.softkwlist) | {"case", "match", "type"}


def _kept(name: str) -> bool:
    return name.isidentifier() and unicodedata.normalize("NFKC", name) == name


def base_spelling(name: str) -> str:
    if name.startswith("_"):
        return "v" + name if _kept(name) else "v" + _escaped(name)
    return _escaped(name)


def _escaped(name: str) -> str:
    if _kept(name):
        return name + "_" if keyword.iskeyword(name) or name in SOFT_KEYWORDS else name
    spelled = "".join(
        char if _kept(("_" if index else "") + char) else _escape(char, index)
        for index, char in enumerate(name))
    # Characters fine alone can still compose under NFKC; then escape all.
    return spelled if _kept(spelled) else "".join(
        char if char.isascii() else _escape(char, index) for index, char in enumerate(name))


def _escape(char: str, index: int) -> str:
    return f"{'_' if index else ''}u{ord(char):04x}"


def python_names(names) -> dict[str, str]:
    """Model name -> Python spelling, unique, in the order given."""
    taken: set[str] = set()
    spelled: dict[str, str] = {}
    for name in names:
        spelling = base_spelling(name)
        while spelling in taken:
            spelling += "_"
        taken.add(spelling)
        spelled[name] = spelling
    return spelled
