"""RFC 8785 canonical JSON: the fast path must equal the reference implementation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import registry
from ledger.canonical import canonical_bytes
from ledger.entry import make_entry, parse_entry
from ledger.errors import InputError, VerificationError
from ledger.keys import load_private
from ledger.store.db import make_engine

MAX_SAFE = 2**53 - 1
# characters that stress JCS: controls, quote/backslash, DEL, separators, the BMP private-use
# range U+E000..U+FFFF (sorts differently by UTF-16 than by code point) and astral characters
SPECIAL = [
    "\x00", "\x01", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1f", '"', "\\", "/", "\x7f",
    "\u0080", "\u00e9", "\u2028", "\u2029", "\ud7ff", "\ue000", "\uf8ff", "\ufeff", "\uffff",
    "\U00010000", "\U0001f600", "\U0010ffff", "€", "中",
]
chars = st.one_of(st.characters(codec="utf-8"), st.sampled_from(SPECIAL))
texts = st.text(alphabet=chars, max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE, max_value=MAX_SAFE),
    st.sampled_from([0, -1, MAX_SAFE, -MAX_SAFE, 2**31, -(2**31)]),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(texts, children, max_size=5),
    ),
    max_leaves=25,
)
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_canonical_bytes_equals_rfc8785(value: Any) -> None:
    data = canonical_bytes(value)
    assert data == rfc8785.dumps(value)
    assert json.loads(data) == value
    assert canonical_bytes(json.loads(data)) == data  # idempotent


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(texts, scalars, min_size=1, max_size=8))
def test_canonical_objects_sort_keys_by_utf16(value: dict[str, Any]) -> None:
    data = canonical_bytes(value)
    assert data == rfc8785.dumps(value)
    keys = list(json.loads(data))
    assert keys == sorted(value, key=lambda k: k.encode("utf-16-be"))


def test_astral_and_private_use_keys_are_ordered_by_utf16_code_units() -> None:
    value: Any = {"\ue000": 1, "\U0001f600": 2, "a": {"\uffff": 3, "\U00010000": 4}}
    expected = '{"a":{"\U00010000":4,"\uffff":3},"\U0001f600":2,"\ue000":1}'.encode()
    assert canonical_bytes(value) == expected == rfc8785.dumps(value)


def test_control_characters_use_lowercase_short_escapes() -> None:
    assert canonical_bytes({"k\n": "\x00\x1f\x7f\t\u2028\"\\/"}) == (
        b'{"k\\n":"\\u0000\\u001f\x7f\\t\xe2\x80\xa8\\"\\\\/"}'
    )


@settings(max_examples=60, deadline=None)
@given(json_values, st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_refused(value: Any, number: float) -> None:
    with pytest.raises(InputError) as info:
        canonical_bytes({"v": value, "x": [number]})
    assert str(info.value) == "floats are not allowed in ledger JSON; use a decimal string"


@settings(max_examples=100, deadline=None)
@given(texts, surrogates, texts, st.booleans(), st.booleans())
def test_lone_surrogates_are_refused(
    before: str, surrogate: str, after: str, as_key: bool, astral_key: bool
) -> None:
    bad = before + surrogate + after
    value: dict[str, Any] = {bad: 1} if as_key else {"k": [bad]}
    if astral_key:  # forces the rfc8785 slow path
        value["\U0001f600"] = 0
    with pytest.raises(InputError) as info:
        canonical_bytes(value)
    assert str(info.value) == "text contains a lone surrogate, which is not valid Unicode"


@pytest.mark.parametrize("number", [MAX_SAFE + 1, -(MAX_SAFE + 1), 2**64, -(2**100), 10**400])
@pytest.mark.parametrize("astral", [False, True])
def test_integers_outside_the_safe_range_are_refused(number: int, astral: bool) -> None:
    value: dict[str, Any] = {"n": [number]}
    if astral:
        value["\U0001f600"] = 1
    with pytest.raises(InputError) as info:
        canonical_bytes(value)
    assert str(info.value) == f"integer {number} is outside the exact IEEE 754 range"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "a"}, "object key 1 is not a string"),
        ({"a": b"x"}, "value of type bytes cannot be canonicalized"),
        ({"a": {1, 2}}, "value of type set cannot be canonicalized"),
    ],
)
def test_other_types_are_refused(value: Any, message: str) -> None:
    with pytest.raises(InputError) as info:
        canonical_bytes(value)
    assert str(info.value) == message


def test_boundary_integers_are_accepted() -> None:
    assert canonical_bytes([MAX_SAFE, -MAX_SAFE, True, None]) == (
        b"[9007199254740991,-9007199254740991,true,null]"
    )


# ---------------------------------------------------------------- parse_entry


@pytest.fixture
def genesis_bytes(sqlite_url: str, key_dir: Path) -> bytes:
    """The entry bytes of a real genesis entry, read back from a real SQLite ledger."""
    engine = make_engine(sqlite_url)
    registry.init_ledger(engine, load_private(key_dir / "operator.key"), "test.example/canon")
    with engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT entry_bytes FROM entries WHERE seq = 0").one()
    return bytes(row[0])


def _variants(data: bytes) -> dict[str, bytes]:
    obj = json.loads(data)
    reordered = dict(reversed(list(obj.items())))
    payload_reordered = dict(obj, payload=dict(reversed(list(obj["payload"].items()))))
    return {
        "spaces after separators": json.dumps(obj, sort_keys=True, ensure_ascii=False).encode(),
        "indented": json.dumps(obj, sort_keys=True, indent=1, separators=(",", ":")).encode(),
        "trailing newline": data + b"\n",
        "leading space": b" " + data,
        "reordered envelope keys": json.dumps(
            reordered, separators=(",", ":"), ensure_ascii=False).encode(),
        "reordered payload keys": json.dumps(
            payload_reordered, separators=(",", ":"), ensure_ascii=False).encode(),
        "escaped slash": data.replace(b"/", b"\\/", 1),
        "escaped letter": data.replace(b'"genesis"', b'"\\u0067enesis"', 1),
    }


def test_parse_entry_accepts_the_real_entry(genesis_bytes: bytes) -> None:
    parsed = parse_entry(genesis_bytes, 0)
    assert (parsed.seq, parsed.kind) == (0, "genesis")
    assert parsed.prev == "0" * 64
    assert parsed.payload["origin"] == "test.example/canon"
    assert canonical_bytes(parsed.payload) == parsed.payload_bytes
    assert parsed.payload_bytes in genesis_bytes


@pytest.mark.parametrize(
    "variant",
    ["spaces after separators", "indented", "trailing newline", "leading space",
     "reordered envelope keys", "reordered payload keys", "escaped slash", "escaped letter"],
)
def test_parse_entry_rejects_non_canonical_variants(genesis_bytes: bytes, variant: str) -> None:
    data = _variants(genesis_bytes)[variant]
    assert data != genesis_bytes
    assert json.loads(data) == json.loads(genesis_bytes)  # same JSON value, other bytes
    with pytest.raises(VerificationError) as info:
        parse_entry(data, 0)
    assert str(info.value) == "entry bytes are not in canonical (RFC 8785) form"
    assert info.value.seq == 0


def test_parse_entry_rejects_escaped_non_ascii() -> None:
    payload = canonical_bytes({"name": "Qinghe \u00e9\U0001f600"})
    entry = make_entry(5, "product", "2025-01-01T00:00:00.000000Z", "ab" * 32, payload)
    assert parse_entry(entry.entry_bytes, 5).payload == {"name": "Qinghe \u00e9\U0001f600"}
    ascii_only = json.dumps(json.loads(entry.entry_bytes), sort_keys=True,
                            separators=(",", ":")).encode()
    assert b"\\u00e9" in ascii_only
    with pytest.raises(VerificationError) as info:
        parse_entry(ascii_only, 5)
    assert str(info.value) == "entry bytes are not in canonical (RFC 8785) form"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff{}", "entry bytes are not valid UTF-8 JSON"),
        (b'{"v":1}', "entry envelope has the wrong fields"),
        (b'{"kind":"record","payload":{},"prev":"","recorded_at":"","seq":0,"v":2}',
         "entry version 2 is not supported"),
        (b'{"kind":"bogus","payload":{},"prev":"","recorded_at":"","seq":0,"v":1}',
         "unknown entry kind 'bogus'"),
        (b'{"kind":"record","payload":[],"prev":"","recorded_at":"","seq":0,"v":1}',
         "entry seq, prev, recorded_at or payload has the wrong type"),
        (b'{"kind":"record","payload":{},"prev":7,"recorded_at":"","seq":0,"v":1}',
         "entry seq, prev, recorded_at or payload has the wrong type"),
        ('{"kind":"record","payload":{},"prev":"é","recorded_at":"","seq":0,"v":1}'.encode(),
         "entry seq, prev, recorded_at or payload has the wrong type"),
    ],
)
def test_parse_entry_rejects_malformed_envelopes(data: bytes, message: str) -> None:
    with pytest.raises(VerificationError) as info:
        parse_entry(data, 7)
    assert str(info.value) == message
    assert info.value.seq == 7
