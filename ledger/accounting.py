"""Emission accounting rules (SPEC §5), in one place.

:func:`build_record` turns one input row into the canonical record payload, resolving and
pinning the factor version and computing ``co2e_kg`` exactly. :func:`recompute_co2e` is what
``verify`` runs on every stored record, so the same code decides at append time and at audit.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ledger import units
from ledger.decimals import canonical_text, fmt, mul, parse_decimal, to_decimal
from ledger.errors import InputError
from ledger.footprint import Factor
from ledger.vocab import DATA_QUALITY, STAGES

# defined in ledger.vocab; still importable from here for code written against the old home
from ledger.vocab import check_token as check_token
from ledger.vocab import parse_date as parse_date

RECORD_COLUMNS = (
    "record_id",
    "product_id",
    "stage",
    "activity",
    "amount",
    "unit",
    "factor_id",
    "factor_version",
    "co2e_kg",
    "units_covered",
    "period_start",
    "period_end",
    "data_quality",
    "reuse_cycles",
    "distance_km",
    "mass_kg",
    "evidence_sha256",
    "supersedes",
    "allocation_group",
    "note",
)
_HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")
MAX_NOTE = 2000


FactorLookup = Callable[[str, "int | None"], "Factor | None"]


class RowProblems(Exception):
    """Internal: every problem found in one row, as (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(problems)
        self.problems = problems


def compute_co2e(
    amount: Decimal, unit: str, factor: Factor, reuse_cycles: Decimal | None
) -> Decimal:
    """amount (converted to the factor's unit) × kgco2e_per_unit (÷ reuse_cycles)."""
    conversion = units.ratio(unit, factor.unit)
    if conversion == 1 and reuse_cycles is None:
        return mul(amount, factor.kgco2e_per_unit)
    value = Fraction(amount) * conversion * Fraction(factor.kgco2e_per_unit)
    if reuse_cycles is not None:
        value /= Fraction(reuse_cycles)
    return to_decimal(value)


_KNOWN_COLUMNS = frozenset((*RECORD_COLUMNS, "supplier_id"))


def _text(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if type(value) is str:  # fast path: CSV cells
        value = value.strip()
        if value.isascii():
            return value or None
    if isinstance(value, bool):
        raise InputError(f"expected text, got {value!r}")
    if isinstance(value, (int, Decimal)):
        return str(value)
    if not isinstance(value, str):
        raise InputError(f"expected text, got {type(value).__name__}")
    value = value.strip()
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError("contains a lone surrogate, which is not valid Unicode") from None
    return value or None


class _Cells:
    """One input row's cells as text, and every problem found in it so far (in order)."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.problems: list[tuple[str, str]] = []
        self.values: dict[str, str | None] = dict.fromkeys(_KNOWN_COLUMNS)
        for name in row:
            if name not in _KNOWN_COLUMNS:
                continue
            try:
                self.values[name] = _text(row, name)
            except InputError as exc:
                self.problems.append((name, str(exc)))
        if not _KNOWN_COLUMNS.issuperset(row):
            for name in sorted(set(row) - _KNOWN_COLUMNS):
                self.problems.append((name, "unknown column"))

    def __getitem__(self, name: str) -> str | None:
        return self.values.get(name)

    def need(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            self.problems.append((name, "is required"))
        return value

    def attempt(self, name: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, or None with its InputError recorded against ``name``."""
        try:
            return fn()
        except InputError as exc:
            self.problems.append((name, str(exc)))
            return None

    def decimal(self, name: str, *, allow_zero: bool) -> Decimal | None:
        text = self.values.get(name)
        if text is None:
            return None
        return self.attempt(name, lambda: parse_decimal(text, allow_zero=allow_zero))  # type: ignore[no-any-return]


def _identity(
    cells: _Cells, payload: dict[str, Any], supplier_id: str, product_exists: Callable[[str], bool]
) -> None:
    """supplier_id, record_id, product_id, stage and activity."""
    if cells["supplier_id"] is not None and cells["supplier_id"] != supplier_id:
        cells.problems.append(("supplier_id", f"{cells['supplier_id']!r} is not {supplier_id!r}"))
    record_id = cells["record_id"] or str(uuid.uuid4())
    payload["record_id"] = cells.attempt("record_id", lambda: check_token(record_id, "record_id"))
    product_id = cells.need("product_id")
    if product_id is not None and not product_exists(product_id):
        cells.problems.append(("product_id", f"product {product_id!r} is not registered"))
    payload["product_id"] = product_id
    stage = cells.need("stage")
    if stage is not None and stage not in STAGES:
        cells.problems.append(("stage", f"{stage!r} is not one of {', '.join(STAGES)}"))
    payload["stage"] = stage
    activity = cells.need("activity")
    if activity is not None:
        cells.attempt("activity", lambda: check_token(activity, "activity"))
    payload["activity"] = activity


def _activity_data(cells: _Cells, payload: dict[str, Any]) -> tuple[Decimal | None, str | None]:
    """amount and unit, or transport's distance_km × mass_kg in tkm (exact)."""
    stage = payload["stage"]
    distance = cells.decimal("distance_km", allow_zero=False)
    mass = cells.decimal("mass_kg", allow_zero=False)
    amount = cells.decimal("amount", allow_zero=True)
    unit = cells["unit"]
    if distance is not None or mass is not None:
        if stage != "transport":
            cells.problems.append(("distance_km", "distance_km and mass_kg are for transport only"))
        elif distance is None or mass is None:
            cells.problems.append(
                ("mass_kg" if mass is None else "distance_km", "give both or neither")
            )
        elif amount is not None or unit not in (None, "tkm"):
            cells.problems.append(("amount", "give amount+unit or distance_km+mass_kg, not both"))
        else:
            amount, unit = to_decimal(Fraction(mul(distance, mass)) / 1000), "tkm"  # exact
            payload["distance_km"], payload["mass_kg"] = fmt(distance), fmt(mass)
    elif cells["amount"] is None:
        cells.problems.append(("amount", "is required (or distance_km and mass_kg for transport)"))
    if unit is None and amount is not None:
        cells.problems.append(("unit", "is required"))
    elif unit is not None:
        stated_unit = unit
        if cells.attempt("unit", lambda: units.dimension(stated_unit)) is None:
            unit = None  # reported once; do not report it again when pricing the amount
    if amount is not None:
        given = cells["amount"]
        payload["amount"] = canonical_text(given, amount) if given is not None else fmt(amount)
    payload["unit"] = unit
    return amount, unit


def _coverage_and_period(cells: _Cells, payload: dict[str, Any]) -> None:
    cells.need("units_covered")
    units_covered = cells.decimal("units_covered", allow_zero=False)
    payload["units_covered"] = (
        canonical_text(cells["units_covered"] or "", units_covered)
        if units_covered is not None
        else None
    )
    start_text, end_text = cells.need("period_start"), cells.need("period_end")
    cells.problems.extend(period_problems(start_text, end_text))
    payload["period_start"], payload["period_end"] = start_text, end_text


def period_problems(start_text: str | None, end_text: str | None) -> list[tuple[str, str]]:
    """What is wrong with a stated period (records and outputs): each bound a date, the end
    after the start. A missing bound is the caller's "is required"."""
    problems: list[tuple[str, str]] = []
    bounds = []
    for name, text in (("period_start", start_text), ("period_end", end_text)):
        try:
            bounds.append(parse_date(text) if text else None)
        except InputError as exc:
            problems.append((name, str(exc)))
            bounds.append(None)
    start, end = bounds
    if start is not None and end is not None and end <= start:
        problems.append(("period_end", f"{end_text} is not after period_start {start_text}"))
    return problems


def evidence_problems(evidence: str) -> list[tuple[str, str]]:
    """An ``evidence_sha256`` must be a SHA-256 in lowercase hex (records and outputs)."""
    if _HEX64_RE.match(evidence):
        return []
    return [("evidence_sha256", "must be 64 lowercase hex characters")]


def note_problems(note: str) -> list[tuple[str, str]]:
    if len(note) > MAX_NOTE:
        return [("note", f"is longer than {MAX_NOTE} characters")]
    return []


def _annotations(cells: _Cells, payload: dict[str, Any]) -> Decimal | None:
    """data_quality, reuse_cycles, evidence, supersedes, allocation_group, note."""
    quality = cells["data_quality"] or "secondary"
    if quality not in DATA_QUALITY:
        cells.problems.append(("data_quality", f"{quality!r} is not primary or secondary"))
    payload["data_quality"] = quality
    reuse = cells.decimal("reuse_cycles", allow_zero=False)
    if reuse is not None:
        if payload["stage"] != "packaging":
            cells.problems.append(("reuse_cycles", "reuse_cycles is for packaging only"))
        payload["reuse_cycles"] = fmt(reuse)
    evidence = cells["evidence_sha256"]
    if evidence is not None:
        cells.problems.extend(evidence_problems(evidence))
        payload["evidence_sha256"] = evidence
    for name in ("supersedes", "allocation_group"):
        token = cells[name]
        if token is not None:
            payload[name] = cells.attempt(name, functools.partial(check_token, token, name))
    note = cells["note"]
    if note is not None:
        cells.problems.extend(note_problems(note))
        payload["note"] = note
    return reuse


def _emissions(
    cells: _Cells,
    payload: dict[str, Any],
    quantity: tuple[Decimal | None, str | None],
    reuse: Decimal | None,
    factor_lookup: FactorLookup,
) -> Factor | None:
    """co2e_kg: amount × the pinned factor (checked against a stated value), or measured."""
    amount, unit = quantity
    stage, activity = payload["stage"], payload["activity"]
    stated = cells.decimal("co2e_kg", allow_zero=True)
    factor_id = cells["factor_id"]
    if factor_id is None:
        if cells["factor_version"] is not None:
            cells.problems.append(("factor_version", "given without factor_id"))
        if stated is None:
            if cells["co2e_kg"] is None:
                cells.problems.append(("factor_id", "give a factor_id, or a measured co2e_kg"))
        else:
            if payload["data_quality"] != "primary":
                cells.problems.append(
                    ("data_quality", "a measured co2e_kg needs data_quality primary")
                )
            if cells["evidence_sha256"] is None:
                cells.problems.append(
                    ("evidence_sha256", "a measured co2e_kg needs evidence_sha256")
                )
            payload["co2e_kg"] = fmt(stated)
        return None
    version_text = cells["factor_version"]
    version = None
    if version_text is not None:
        if not (version_text.isascii() and version_text.isdigit()) or len(version_text) > 9:
            cells.problems.append(("factor_version", f"{version_text!r} is not a whole number"))
        else:
            version = int(version_text)
    factor = factor_lookup(factor_id, version)
    if factor is None:
        label = factor_id if version is None else f"{factor_id} version {version}"
        cells.problems.append(("factor_id", f"factor {label} does not exist"))
        return None
    if activity is not None and factor.activity != activity:
        cells.problems.append(
            ("activity", f"{activity!r} does not match factor activity {factor.activity!r}")
        )
    elif stage in STAGES and factor.stage != stage:
        cells.problems.append(
            ("stage", f"{stage!r} does not match factor {factor_id} stage {factor.stage!r}")
        )
    elif amount is not None and unit is not None:
        try:
            co2e = compute_co2e(amount, unit, factor, reuse)
        except InputError as exc:
            cells.problems.append(("unit", str(exc)))
        else:
            if stated is not None and stated != co2e:
                cells.problems.append(
                    ("co2e_kg", f"stated {fmt(stated)} but amount × factor is {fmt(co2e)}")
                )
            payload["co2e_kg"] = fmt(co2e)
    payload["factor_id"], payload["factor_version"] = factor.factor_id, factor.version
    return factor


def build_record(
    row: Mapping[str, Any],
    supplier_id: str,
    product_exists: Callable[[str], bool],
    factor_lookup: FactorLookup,
) -> tuple[dict[str, Any], Factor | None]:
    """Validate one input row and return (record payload, factor used).

    Raises :class:`RowProblems` listing every bad field of the row, so the importer can
    report them all. Each group of fields has its own helper, in the order the problems
    are reported.
    """
    cells = _Cells(row)
    payload: dict[str, Any] = {"supplier_id": supplier_id}
    _identity(cells, payload, supplier_id, product_exists)
    quantity = _activity_data(cells, payload)
    _coverage_and_period(cells, payload)
    reuse = _annotations(cells, payload)
    factor = _emissions(cells, payload, quantity, reuse, factor_lookup)
    if cells.problems:
        raise RowProblems(cells.problems)
    return {k: v for k, v in payload.items() if v is not None}, factor


def recompute_co2e(payload: Mapping[str, Any], factor: Factor | None) -> str | None:
    """What verify expects ``co2e_kg`` to be, or None for a measured record."""
    if factor is None:
        return None
    reuse = payload.get("reuse_cycles")
    return fmt(
        compute_co2e(
            Decimal(payload["amount"]),
            payload["unit"],
            factor,
            Decimal(reuse) if reuse is not None else None,
        )
    )
