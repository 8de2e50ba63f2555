"""Entry bytes: the one thing the ledger stores verbatim and everything else is checked against.

``entry_bytes = JCS({"v":1,"seq":n,"kind":k,"recorded_at":t,"prev":p,"payload":obj})``.
Because the payload is itself canonical JSON, the envelope is assembled by concatenation in
JCS key order (kind, payload, prev, recorded_at, seq, v): the payload is canonicalized once,
and its bytes are reused both for the entry and for the submission's ``records_root``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ledger.canonical import MAX_SAFE_INT, canonical_bytes, plain_canonical_bytes
from ledger.errors import VerificationError

# the vocabulary lives in ledger.vocab; these names stay importable from here
from ledger.vocab import KINDS as KINDS
from ledger.vocab import OPERATOR_KINDS as OPERATOR_KINDS
from ledger.vocab import SUBMITTED_KINDS as SUBMITTED_KINDS
from ledger.vocab import utc_now as utc_now

ENTRY_VERSION = 1
GENESIS_PREV = "0" * 64

_ENVELOPE_KEYS = {"v", "seq", "kind", "recorded_at", "prev", "payload"}


@dataclass(frozen=True)
class Entry:
    """One ledger entry with its derived hashes."""

    seq: int
    kind: str
    recorded_at: str
    prev: str
    entry_bytes: bytes
    entry_hash: str
    leaf_hash: bytes


def envelope_bytes(seq: int, kind: str, recorded_at: str, prev: str, payload: bytes) -> bytes:
    """Canonical entry bytes around an already-canonical payload."""
    return b"".join(
        (
            b'{"kind":"',
            kind.encode("ascii"),
            b'","payload":',
            payload,
            b',"prev":"',
            prev.encode("ascii"),
            b'","recorded_at":"',
            recorded_at.encode("ascii"),
            b'","seq":',
            str(seq).encode("ascii"),
            b',"v":1}',
        )
    )


def make_entry(seq: int, kind: str, recorded_at: str, prev: str, payload: bytes) -> Entry:
    data = envelope_bytes(seq, kind, recorded_at, prev, payload)
    return Entry(
        seq=seq,
        kind=kind,
        recorded_at=recorded_at,
        prev=prev,
        entry_bytes=data,
        entry_hash=hashlib.sha256(data).hexdigest(),
        leaf_hash=hashlib.sha256(b"\x00" + data).digest(),
    )


@dataclass(frozen=True)
class ParsedEntry:
    """Entry bytes decoded and checked for canonical form."""

    seq: int
    kind: str
    recorded_at: str
    prev: str
    payload: dict[str, Any]
    payload_bytes: bytes


class _NotPlain(Exception):
    """Internal: the entry holds a float, a NaN or a large integer; the reference decides."""


def _no_float(text: str) -> Any:
    raise _NotPlain(text)


def _safe_int(text: str) -> int:
    value = int(text)
    if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return value
    raise _NotPlain(text)


_decode_plain = json.JSONDecoder(
    parse_float=_no_float, parse_int=_safe_int, parse_constant=_no_float
).decode


def _parse_plain(entry_bytes: bytes) -> ParsedEntry | None:
    """The common case of :func:`parse_entry`, or None to leave the entry to the reference.

    For ASCII bytes with no float, NaN or large integer, JCS is ``json.dumps`` with sorted
    keys, so the value walk of :func:`ledger.canonical.canonical_bytes` is not needed; every
    other check is the reference's own, on the same values. It only ever *accepts* an entry
    the reference accepts (same fields): anything else — non-ASCII, a float, a wrong type,
    bytes that differ — goes to the reference, which gives the verdict and the message.
    """
    try:
        obj = _decode_plain(entry_bytes.decode("ascii"))
    except (_NotPlain, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if type(obj) is not dict or obj.keys() != _ENVELOPE_KEYS or obj["v"] != ENTRY_VERSION:
        return None
    kind, seq, payload = obj["kind"], obj["seq"], obj["payload"]
    recorded_at, prev = obj["recorded_at"], obj["prev"]
    if (
        kind not in KINDS
        or type(seq) is not int
        or type(payload) is not dict
        or type(recorded_at) is not str
        or type(prev) is not str
        or not (recorded_at + prev).isascii()
    ):
        return None
    try:
        payload_bytes = plain_canonical_bytes(payload)
    except UnicodeEncodeError:  # a lone surrogate: the reference names it
        return None
    if envelope_bytes(seq, kind, recorded_at, prev, payload_bytes) != entry_bytes:
        return None
    return ParsedEntry(seq, kind, recorded_at, prev, payload, payload_bytes)


def parse_entry(entry_bytes: bytes, expected_seq: int | None = None) -> ParsedEntry:
    """Decode entry bytes, requiring them to be exactly canonical.

    Re-encoding and comparing is what makes "every other column is derived from the bytes"
    true: a byte changed anywhere either breaks JSON, breaks canonical form or changes a field.
    """
    plain = _parse_plain(entry_bytes)
    if plain is not None:
        return plain
    where = expected_seq
    try:
        obj = json.loads(entry_bytes)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VerificationError("entry bytes are not valid UTF-8 JSON", where) from exc
    if not isinstance(obj, dict) or obj.keys() != _ENVELOPE_KEYS:
        raise VerificationError("entry envelope has the wrong fields", where)
    if obj["v"] != ENTRY_VERSION:
        raise VerificationError(f"entry version {obj['v']!r} is not supported", where)
    kind, seq, payload = obj["kind"], obj["seq"], obj["payload"]
    if kind not in KINDS:
        raise VerificationError(f"unknown entry kind {kind!r}", where)
    recorded_at, prev = obj["recorded_at"], obj["prev"]
    if (
        type(seq) is not int
        or not isinstance(payload, dict)
        or not isinstance(recorded_at, str)
        or not isinstance(prev, str)
        or not (recorded_at + prev).isascii()
    ):
        raise VerificationError("entry seq, prev, recorded_at or payload has the wrong type", where)
    payload_bytes = canonical_bytes(payload)
    canonical = envelope_bytes(seq, kind, recorded_at, prev, payload_bytes)
    if canonical != entry_bytes:
        raise VerificationError("entry bytes are not in canonical (RFC 8785) form", where)
    return ParsedEntry(seq, kind, recorded_at, prev, payload, payload_bytes)


def decode_canonical(entry_bytes: bytes) -> ParsedEntry:
    """Decode entry bytes whose canonical form another process checks (the "semantics" half
    of a split ``verify``): the decode without the re-encoding, and ``payload_bytes`` cut
    from the bytes where canonical form puts them (between the kind and the envelope's
    ``prev``). On bytes that are not canonical the result is meaningless, and the other half
    fails on the same entry first."""
    obj = json.loads(entry_bytes)
    kind = obj["kind"]
    start = len(b'{"kind":"","payload":') + len(kind)
    payload_bytes = entry_bytes[start : entry_bytes.rindex(b',"prev":"')]
    return ParsedEntry(
        obj["seq"], kind, obj["recorded_at"], obj["prev"], obj["payload"], payload_bytes
    )
