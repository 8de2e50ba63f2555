"""The shared vocabulary, defined once: stages, units, declared units, data quality, GWP sets,
entry kinds, id, date and timestamp formats.

Every module that validates or renders one of these reads it from here, so a value accepted
at append time is one every exporter can map (a declared unit the PACT exporter does not know
used to be accepted by ``product add`` and then stop ``label export --all`` half-way).
``ledger.contracts`` spells the same sets as ``Literal`` types for the JSON Schemas; a test
checks that they agree with this module.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from fractions import Fraction

from ledger.errors import InputError

__all__ = [
    "DATA_QUALITY",
    "DECLARED_UNITS",
    "GWP_SETS",
    "KINDS",
    "OPERATOR_KINDS",
    "PACT_DECLARED_UNITS",
    "STAGES",
    "SUBMITTED_KINDS",
    "TIMESTAMP_FORMAT",
    "TOKEN_RE",
    "UNITS",
    "Window",
    "check_token",
    "parse_date",
    "parse_timestamp",
    "parse_window",
    "utc_now",
]

#: entry kinds (SPEC §4); :mod:`ledger.entry` checks every entry against this list
KINDS: tuple[str, ...] = (
    "genesis",
    "supplier",
    "key_rotate",
    "key_revoke",
    "product",
    "factor",
    "submission",
    "record",
    "retraction",
    "output",
    "footprint",
)
#: kinds a supplier submission may cover
SUBMITTED_KINDS: tuple[str, ...] = ("record", "product", "retraction", "output")
#: kinds carrying their own operator signature
OPERATOR_KINDS: tuple[str, ...] = (
    "genesis",
    "supplier",
    "key_rotate",
    "key_revoke",
    "factor",
    "footprint",
)

#: the four life-cycle stages (SPEC §1), in the order tables and labels show them
STAGES: tuple[str, ...] = ("production", "warehousing", "transport", "packaging")

#: activity units (SPEC §3): unit -> (dimension, size in the dimension's base unit).
#: Conversions are exact rationals; only units of one dimension convert.
UNITS: dict[str, tuple[str, Fraction]] = {
    "MJ": ("energy", Fraction(1)),
    "GJ": ("energy", Fraction(1000)),
    "kWh": ("energy", Fraction(18, 5)),
    "MWh": ("energy", Fraction(3600)),
    "g": ("mass", Fraction(1, 1000)),
    "kg": ("mass", Fraction(1)),
    "t": ("mass", Fraction(1000)),
    "L": ("volume", Fraction(1, 1000)),
    "m3": ("volume", Fraction(1)),
    "tkm": ("transport", Fraction(1)),
    "pallet_day": ("pallet_storage", Fraction(1)),
    "m3_day": ("volume_storage", Fraction(1)),
    "piece": ("count", Fraction(1)),
}

#: PACT v3 ``CarbonFootprint.declaredUnitOfMeasurement`` enum
PACT_DECLARED_UNITS: tuple[str, ...] = (
    "liter",
    "kilogram",
    "cubic meter",
    "kilowatt hour",
    "megajoule",
    "ton kilometer",
    "square meter",
    "piece",
    "hour",
    "megabit second",
)

#: a product's declared unit as the ledger spells it -> its PACT v3 name. ``product add``
#: accepts exactly these keys, so every registered product can be exported as a PACT PCF.
DECLARED_UNITS: dict[str, str] = {
    "piece": "piece",
    "kilogram": "kilogram",
    "liter": "liter",
    "cubic_meter": "cubic meter",
    "kilowatt_hour": "kilowatt hour",
    "megajoule": "megajoule",
}

#: a record's data quality (SPEC §5): supplier-specific measurement or database factor
DATA_QUALITY: tuple[str, ...] = ("primary", "secondary")

#: IPCC assessment reports whose GWP-100 values a factor may use
GWP_SETS: tuple[str, ...] = ("AR4", "AR5", "AR6")

#: ids (supplier, product, record, factor, activity, category): 1-128 characters
TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,127}\Z")

#: RFC 3339 UTC with microseconds and ``Z``: fixed width, so string order is time order
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def check_token(value: str, what: str) -> str:
    """Return ``value`` if it is a valid id token; else raise naming ``what``."""
    if not TOKEN_RE.match(value):
        raise InputError(
            f"{what} {value!r} must be 1-128 characters of letters, digits and _ . : - /"
        )
    return value


def parse_date(text: str) -> date:
    """The one date parser: strictly ``YYYY-MM-DD`` (``date.fromisoformat`` alone would also
    take ``2025W011`` or ``20250101``), and a real calendar date."""
    if not _DATE_RE.match(text):
        raise InputError(f"{text!r} is not a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{text!r} is not a valid calendar date") from exc


#: where the ledger lives when neither --db nor CARBON_LEDGER_DB says (SPEC §8)
DEFAULT_DB_URL = "sqlite:///carbon-ledger.db"

#: a half-open window [from, to) of dates: the one window type of query, labels and export
Window = tuple[date, date]


def parse_window(start: str | date, end: str | date) -> Window:
    """A half-open window ``[start, end)`` of ``YYYY-MM-DD`` dates (the records' own format)."""
    a = start if isinstance(start, date) else parse_date(start)
    b = end if isinstance(end, date) else parse_date(end)
    if b <= a:
        raise InputError(f"window end {b} must be after its start {a}")
    return a, b


def utc_now() -> str:
    """The current time in :data:`TIMESTAMP_FORMAT`."""
    return datetime.now(timezone.utc).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime from :data:`TIMESTAMP_FORMAT` text."""
    try:
        return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise InputError(f"{text!r} is not a timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ") from exc
