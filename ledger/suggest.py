"""Did-you-mean hints for a mistyped name (a unit, a stage, a factor id, a column).

A new user's commonest import mistake is a near miss: ``kwh`` for ``kWh``, ``prodution`` for
``production``, ``factor`` (the ``append`` flag's name) for the ``factor_id`` column. Naming
the closest valid name turns a lookup in the README into a one-character fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: names that are not close in spelling but are what people type (flag names for columns)
ALIASES = {"factor": "factor_id", "supersede": "supersedes", "product": "product_id"}


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The valid name nearest to ``word``: a case-insensitive match first, then difflib."""
    options = list(choices)
    if word in ALIASES and ALIASES[word] in options:
        return ALIASES[word]
    folded = {option.casefold(): option for option in options}
    if word.casefold() in folded:
        return folded[word.casefold()]
    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not matches:
        lowered = difflib.get_close_matches(word.casefold(), list(folded), n=1, cutoff=0.6)
        return folded[lowered[0]] if lowered else None
    return matches[0]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'kWh'?"`` or ``""`` when nothing is close (appended to a message)."""
    match = closest(word, choices)
    return f"; did you mean {match!r}?" if match is not None and match != word else ""
