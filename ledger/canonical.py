"""RFC 8785 (JCS) canonical JSON for the value space the ledger uses.

Payloads hold only strings, integers, booleans, null, objects and arrays: every quantity is a
decimal *string* (SPEC §3), so JSON numbers are small integers (seq, count, version, year).
For that subset JCS output equals ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` provided that (a) object keys sort the same by UTF-16 code units as by
code points, which holds unless a key mixes astral characters with U+E000..U+FFFF, and (b)
there are no floats and no lone surrogates. We check those conditions and fall back to the
reference ``rfc8785`` implementation for the rare key case, so the fast path is never wrong;
``tests/test_canonical.py`` cross-checks both with hypothesis.

Internal: not part of the library API (the facade is :mod:`ledger`).
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from ledger.errors import InputError

MAX_SAFE_INT = 2**53 - 1
_dumps = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode


def _check(value: Any) -> bool:
    """Validate the value space; return True when some key needs UTF-16 ordering."""
    kind = type(value)
    if kind is str:
        return False
    if kind is dict:  # fast path: flat objects with ASCII keys, the shape of every payload
        astral = False
        for key, item in value.items():
            if type(key) is not str:
                raise InputError(f"object key {key!r} is not a string")
            if not key.isascii() and any(ord(ch) > 0xFFFF for ch in key):
                astral = True
            item_kind = type(item)
            if item_kind is str or item_kind is bool or item is None:
                continue
            astral = _check(item) or astral
        return astral
    if isinstance(value, str):
        return False
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise InputError(f"integer {value} is outside the exact IEEE 754 range")
        return False
    if isinstance(value, dict):
        astral = False
        for key, item in value.items():
            if not isinstance(key, str):
                raise InputError(f"object key {key!r} is not a string")
            if not key.isascii() and any(ord(ch) > 0xFFFF for ch in key):
                astral = True
            astral = _check(item) or astral
        return astral
    if isinstance(value, (list, tuple)):
        astral = False
        for item in value:
            astral = _check(item) or astral
        return astral
    if isinstance(value, float):
        raise InputError("floats are not allowed in ledger JSON; use a decimal string")
    raise InputError(f"value of type {type(value).__name__} cannot be canonicalized")


def plain_canonical_bytes(value: Any) -> bytes:
    """JCS bytes of a value already known to be in the plain subset — decoded from ASCII
    JSON with no float and only exactly representable integers — where JCS is
    ``json.dumps`` with sorted keys and no walk of the value is needed. A non-ASCII result
    (an escaped astral key, say) is the caller's cue to use :func:`canonical_bytes`."""
    return _dumps(value).encode("utf-8")


def canonical_bytes(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``."""
    if _check(value):
        try:
            return bytes(rfc8785.dumps(value))
        except (rfc8785.CanonicalizationError, UnicodeEncodeError) as exc:
            raise InputError("text contains a lone surrogate, which is not valid Unicode") from exc
    try:
        return _dumps(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError("text contains a lone surrogate, which is not valid Unicode") from exc
