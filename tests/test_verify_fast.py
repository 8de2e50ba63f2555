"""The fast paths of ``verify`` against their references, value by value.

``parse_entry`` first tries a plain decode (ASCII, no float, NaN or large integer) and only
ever accepts what the reference accepts, with the same fields; everything else, valid or
not, must come out of the reference unchanged (same result, same message). The replay's
record digest (``record_key_of``) must equal the digest of the row the appender writes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import entry
from ledger.entry import GENESIS_PREV, make_entry, parse_entry
from ledger.errors import LedgerError
from ledger.state import record_row
from ledger.verify import record_key, record_key_of

MAX_SAFE = 2**53 - 1
AT = "2026-01-01T00:00:00.000000Z"
texts = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"), st.sampled_from(['"', "\\", "\x00", "\u00e9", "\U0001f600"])
    ),
    max_size=8,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),  # beyond the safe range too
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
values = st.recursive(
    scalars,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(texts, c, max_size=4)),
    max_leaves=12,
)


def reference(data: bytes, seq: int) -> object:
    """What parse_entry gives with the plain path switched off: a ParsedEntry or the error."""
    plain = entry._parse_plain
    entry._parse_plain = lambda _data: None  # type: ignore[assignment]
    try:
        return entry.parse_entry(data, seq)
    except LedgerError as exc:
        return (type(exc), str(exc), getattr(exc, "seq", None))
    finally:
        entry._parse_plain = plain  # type: ignore[assignment]


def both(data: bytes, seq: int) -> tuple[object, object]:
    try:
        fast: object = parse_entry(data, seq)
    except LedgerError as exc:
        fast = (type(exc), str(exc), getattr(exc, "seq", None))
    return fast, reference(data, seq)


def envelope(payload: Any, **override: Any) -> dict[str, Any]:
    return {"v": 1, "seq": 7, "kind": "record", "recorded_at": AT, "prev": GENESIS_PREV,
            "payload": payload, **override}  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(payload=st.dictionaries(texts, values, max_size=5), spaced=st.booleans())
def test_plain_parse_agrees_with_the_reference(payload: dict[str, Any], spaced: bool) -> None:
    obj = envelope(payload)
    for data in (
        json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        ),
        json.dumps(obj, sort_keys=True, separators=(",", ":")).encode(),  # \\u escapes
        json.dumps(obj, sort_keys=not spaced).encode(),
    ):
        fast, ref = both(data, 7)
        assert fast == ref


@pytest.mark.parametrize(
    "data",
    [
        b'{"kind":"record","payload":{"a":1.5},"prev":"%s","recorded_at":"%s","seq":7,"v":1}',
        b'{"kind":"record","payload":{"a":NaN},"prev":"%s","recorded_at":"%s","seq":7,"v":1}',
        b'{"kind":"record","payload":{"a":9007199254740993},"prev":"%s","recorded_at":"%s",'
        b'"seq":7,"v":1}',
        b'{"kind":"record","payload":{"a":"\\ud800"},"prev":"%s","recorded_at":"%s","seq":7,"v":1}',
        b'{"kind":"record","payload":{"\\ud83d\\ude00":1,"\\ue000":2},"prev":"%s",'
        b'"recorded_at":"%s","seq":7,"v":1}',
        b'{"kind":"record","payload":{},"prev":"%s","recorded_at":"%s","seq":7,"v":true}',
        b'{"kind":"record","payload":{},"prev":"%s","recorded_at":"%s","seq":true,"v":1}',
        b'{"kind":"nope","payload":{},"prev":"%s","recorded_at":"%s","seq":7,"v":1}',
        b'{"kind":"record","payload":{},"prev":"a\\"b%s","recorded_at":"%s","seq":7,"v":1}',
        b'{"kind":"record","payload":{},"prev":"\\u00e9%s","recorded_at":"%s","seq":7,"v":1}',
        b'{"kind":"record","payload":{"b":1,"a":2},"prev":"%s","recorded_at":"%s","seq":7,"v":1}',
        b'{"kind":"record","payload":{"a":-0},"prev":"%s","recorded_at":"%s","seq":7,"v":1}',
        b'{"kind":"record","payload":{"a":"\xc3\xa9"},"prev":"%s","recorded_at":"%s","seq":7,'
        b'"v":1}',
        b'{"kind":"record","payload":{"a":"x"},"prev":"%s","recorded_at":"%s","seq":7,"v":1}',
    ],
)
def test_plain_parse_leaves_every_odd_entry_to_the_reference(data: bytes) -> None:
    data = data % (GENESIS_PREV.encode(), AT.encode())
    fast, ref = both(data, 7)
    assert fast == ref
    if entry._parse_plain(data) is not None:  # accepted: then exactly as the reference
        assert entry._parse_plain(data) == ref


def test_plain_parse_takes_real_entries() -> None:
    payload = b'{"amount":"13727.7","factor_version":1,"record_id":"r-1","retires":[]}'
    made = make_entry(3, "record", AT, GENESIS_PREV, payload)
    plain = entry._parse_plain(made.entry_bytes)
    assert plain is not None and plain.payload_bytes == payload
    assert plain == reference(made.entry_bytes, 3)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"allocation_group": "split-a", "supersedes": "r-0", "reuse_cycles": "500"},
        {"note": "x", "distance_km": "12", "mass_kg": "3", "evidence_sha256": "ab" * 32},
    ],
)
def test_record_key_of_is_the_key_of_the_appended_row(extra: dict[str, str]) -> None:
    payload = {
        "record_id": "r-1", "supplier_id": "sup-bev", "product_id": "6923451000013",
        "stage": "production", "activity": "electricity", "amount": "13727.7", "unit": "kWh",
        "factor_id": "cn-grid-electricity", "factor_version": 1, "co2e_kg": "7366.28382",
        "units_covered": "1000", "period_start": "2024-01-01", "period_end": "2024-02-01",
        "data_quality": "secondary", **extra,
    }  # fmt: skip
    assert record_key_of(40, 30, payload) == record_key(record_row(40, 30, payload))
