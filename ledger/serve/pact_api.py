"""PACT v3 ListFootprints/GetFootprint/Events semantics, without any web framework.

Filters follow ``spec/v3/openapi.yaml`` (components/parameters): ``productId``,
``companyId``, ``geography``, ``classification`` (each repeatable, OR within one name,
case-insensitive), ``validOn``, ``validAfter``, ``validBefore`` and ``status``; different
names combine with AND. The validity period is ``validityPeriodStart``/``End`` when given,
otherwise, as the spec says, ``referencePeriodEnd`` to ``referencePeriodEnd`` + 3 years. The
same criteria select the footprints of a RequestCreated event. An empty value is no filter
(``?classification=`` selects everything, as a client that has no value would send it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ledger.errors import InputError
from ledger.labels import publish
from ledger.store import Engine, db, serving

LIST_FILTERS = ("productId", "companyId", "geography", "classification")
DATE_FILTERS = ("validOn", "validAfter", "validBefore")
EVENT_CREATED = "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3"
EVENT_FULFILLED = "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3"
EVENT_REJECTED = "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3"
EVENT_PUBLISHED = "org.wbcsd.pact.ProductFootprint.PublishedEvent.3"


@dataclass(frozen=True)
class Criteria:
    any_of: dict[str, frozenset[str]] = field(default_factory=dict)  # lower-cased values
    valid_on: datetime | None = None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    status: str | None = None


def parse_datetime(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(f"{name} must be an RFC 3339 date-time, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def criteria_from(values: Mapping[str, Sequence[str]]) -> Criteria:
    """Criteria from query parameters or event data (each name maps to its values)."""
    any_of: dict[str, frozenset[str]] = {}
    for name in LIST_FILTERS:
        given = [v.strip().lower() for v in values.get(name, ()) if isinstance(v, str)]
        given = [v for v in given if v]
        if given:
            any_of[name] = frozenset(given)
    dates: dict[str, datetime | None] = {}
    for name in DATE_FILTERS:
        given = [v for v in values.get(name, ()) if isinstance(v, str) and v.strip()]
        dates[name] = parse_datetime(name, given[-1].strip()) if given else None
    statuses = [v for v in values.get("status", ()) if isinstance(v, str) and v.strip()]
    return Criteria(
        any_of,
        dates["validOn"],
        dates["validAfter"],
        dates["validBefore"],
        statuses[-1].strip().lower() if statuses else None,
    )


def criteria_from_event(data: Mapping[str, Any]) -> Criteria:
    values: dict[str, list[str]] = {}
    for name in (*LIST_FILTERS, *DATE_FILTERS, "status"):
        raw = data.get(name)
        if raw is None:
            continue
        items = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(v, str) for v in items):
            raise InputError(f"data.{name} must be a string or a list of strings")
        values[name] = items
    return criteria_from(values)


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def validity(doc: Mapping[str, Any]) -> tuple[datetime, datetime]:
    ref_end = parse_datetime("referencePeriodEnd", doc["pcf"]["referencePeriodEnd"])
    start = doc.get("validityPeriodStart")
    end = doc.get("validityPeriodEnd")
    return (
        parse_datetime("validityPeriodStart", start) if start else ref_end,
        parse_datetime("validityPeriodEnd", end) if end else _add_years(ref_end, 3),
    )


def _lower(values: Iterable[Any]) -> set[str]:
    return {v.lower() for v in values if isinstance(v, str)}


def matches(doc: Mapping[str, Any], criteria: Criteria) -> bool:
    pcf = doc.get("pcf", {})
    fields = {
        "productId": _lower(doc.get("productIds", ())),
        "companyId": _lower(doc.get("companyIds", ())),
        "classification": _lower(doc.get("productClassifications", ())),
        "geography": _lower(
            pcf.get(k)
            for k in (
                "geographyCountry",
                "geographyRegionOrSubregion",
                "geographyCountrySubdivision",
            )
        ),
    }
    for name, wanted in criteria.any_of.items():
        if not fields[name] & wanted:
            return False
    if criteria.status is not None and str(doc.get("status", "")).lower() != criteria.status:
        return False
    if criteria.valid_on or criteria.valid_after or criteria.valid_before:
        start, end = validity(doc)
        if criteria.valid_on and not start <= criteria.valid_on <= end:
            return False
        if criteria.valid_after and not start > criteria.valid_after:
            return False
        if criteria.valid_before and not end < criteria.valid_before:
            return False
    return True


def served_footprints(engine: Engine) -> list[dict[str, Any]]:
    """Every issued PCF in issue order, with the latest version per (product, window)
    Active and earlier ones Deprecated."""
    with db.reading(engine) as conn:
        versions = serving.all_pcf_versions(conn)
    latest: dict[tuple[str, str, str], int] = {}
    for v in versions:
        key = (v.product_id, v.period_start, v.period_end)
        latest[key] = max(latest.get(key, 0), v.version)
    return [
        publish.served_document(v, v.version < latest[(v.product_id, v.period_start, v.period_end)])
        for v in versions
    ]


def check_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def check_event(body: Any) -> dict[str, Any]:
    """A CloudEvents structured-mode event with the PACT v3 BaseEvent fields, or InputError."""
    if not isinstance(body, dict):
        raise InputError("the event must be a JSON object")
    for name in ("type", "specversion", "id", "source", "time"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise InputError(f"the event has no {name} string")
    if body["specversion"] != "1.0":
        raise InputError("specversion must be 1.0 (CloudEvents)")
    parse_datetime("time", body["time"])
    if not isinstance(body.get("data"), dict):
        raise InputError("the event has no data object")
    data = body["data"]
    kind = body["type"]
    if kind == EVENT_PUBLISHED:
        ids = data.get("pfIds")
        if not isinstance(ids, list) or not ids or not all(check_uuid(i) for i in ids):
            raise InputError("data.pfIds must be a non-empty list of footprint UUIDs")
    elif kind in (EVENT_FULFILLED, EVENT_REJECTED):
        if not isinstance(data.get("requestEventId"), str):
            raise InputError("data.requestEventId must be a string")
    elif kind == EVENT_CREATED:
        criteria_from_event(data)
    else:
        raise InputError(f"event type {kind!r} is not a PACT v3 event")
    return body
