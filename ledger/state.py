"""How each entry changes the index tables: the one replay rule, shared by append and verify.

Append applies these changes to the database as it writes the entry; ``verify`` re-derives
them from the entry bytes alone and compares them with what the database holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RECORD_INDEX_FIELDS = (
    "record_id",
    "supplier_id",
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
    "supersedes",
    "allocation_group",
)
OUTPUT_INDEX_FIELDS = (
    "output_id",
    "product_id",
    "supplier_id",
    "units",
    "period_start",
    "period_end",
    "supersedes",
)


@dataclass(frozen=True)
class Insert:
    table: str
    row: dict[str, Any]


@dataclass(frozen=True)
class Update:
    """``UPDATE table SET values WHERE key_column = key`` (index tables only)."""

    table: str
    key_column: str
    key: str
    values: dict[str, Any]


Change = Insert | Update


#: column order of the records table as the appender writes it
RECORD_TABLE_COLUMNS = ("seq", "submission_seq", *RECORD_INDEX_FIELDS, "status", "status_seq")


def allocation_group(payload: dict[str, Any]) -> str:
    """A record's allocation group (SPEC §5): stated, or by default its activity."""
    return str(payload.get("allocation_group") or payload["activity"])


def record_values(payload: dict[str, Any]) -> tuple[Any, ...]:
    """The index values of a record payload, in RECORD_INDEX_FIELDS order (spooled on import)."""
    return (*(payload.get(name) for name in RECORD_INDEX_FIELDS[:-1]), allocation_group(payload))


def record_row(seq: int, submission_seq: int, payload: dict[str, Any]) -> dict[str, Any]:
    row = dict(zip(RECORD_INDEX_FIELDS, record_values(payload), strict=True))
    row["seq"] = seq
    row["submission_seq"] = submission_seq
    row["status"] = "effective"
    row["status_seq"] = None
    return row


def changes_for(
    kind: str, seq: int, payload: dict[str, Any], submission_seq: int | None
) -> list[Change]:
    """Index changes caused by one entry."""
    if kind == "record":
        assert submission_seq is not None
        out: list[Change] = [Insert("records", record_row(seq, submission_seq, payload))]
        if "supersedes" in payload:
            out.append(
                Update(
                    "records",
                    "record_id",
                    payload["supersedes"],
                    {"status": "superseded", "status_seq": seq},
                )
            )
        return out
    if kind == "output":
        assert submission_seq is not None
        row = {name: payload.get(name) for name in OUTPUT_INDEX_FIELDS}
        row.update(seq=seq, submission_seq=submission_seq, status="effective", status_seq=None)
        out = [Insert("outputs", row)]
        if "supersedes" in payload:
            out.append(
                Update(
                    "outputs",
                    "output_id",
                    payload["supersedes"],
                    {"status": "superseded", "status_seq": seq},
                )
            )
        return out
    if kind == "footprint":
        return [
            Insert(
                "footprints",
                {
                    "seq": seq,
                    "product_id": payload["product_id"],
                    "window_from": payload["window"]["from"],
                    "window_to": payload["window"]["to"],
                    "as_of_size": payload["as_of_size"],
                    "records_digest": payload["records_digest"],
                },
            )
        ]
    if kind == "retraction":
        table, column = (
            ("outputs", "output_id") if "output_id" in payload else ("records", "record_id")
        )
        return [Update(table, column, payload[column], {"status": "retracted", "status_seq": seq})]
    if kind == "submission":
        return [
            Insert(
                "submissions",
                {
                    "seq": seq,
                    "supplier_id": payload["supplier_id"],
                    "key_id": payload["key_id"],
                    "count": payload["count"],
                    "source_sha256": payload.get("source_sha256"),
                },
            )
        ]
    if kind == "product":
        return [
            Insert(
                "products",
                {
                    "product_id": payload["product_id"],
                    "supplier_id": payload["supplier_id"],
                    "name": payload["name"],
                    "declared_unit": payload["declared_unit"],
                    "mass_kg": payload["mass_kg"],
                    "category": payload.get("category"),
                    "seq": seq,
                },
            )
        ]
    if kind == "factor":
        row = {k: payload[k] for k in FACTOR_FIELDS}
        row["seq"] = seq
        return [Insert("factors", row)]
    if kind == "supplier":
        return [
            Insert(
                "suppliers",
                {
                    "supplier_id": payload["supplier_id"],
                    "name": payload["name"],
                    "country": payload["country"],
                    "seq": seq,
                },
            ),
            _key_insert(seq, payload, payload.get("created_at", "")),
        ]
    if kind == "key_rotate":
        retired: list[Change] = [
            Update(
                "supplier_keys",
                "key_id",
                old,
                {"revoked_seq": seq, "revoked_at": payload["effective_at"]},
            )
            for old in payload.get("retires", [])
        ]
        return [*retired, _key_insert(seq, payload, payload["effective_at"])]
    if kind == "key_revoke":
        return [
            Update(
                "supplier_keys",
                "key_id",
                payload["key_id"],
                {"revoked_seq": seq, "revoked_at": payload["effective_at"]},
            )
        ]
    return []  # genesis


FACTOR_FIELDS = (
    "factor_id",
    "version",
    "activity",
    "stage",
    "unit",
    "kgco2e_per_unit",
    "gwp",
    "source",
    "year",
    "region",
)


def _key_insert(seq: int, payload: dict[str, Any], effective_at: str) -> Insert:
    return Insert(
        "supplier_keys",
        {
            "key_id": payload["key_id"],
            "supplier_id": payload["supplier_id"],
            "public_key": payload["public_key"],
            "added_seq": seq,
            "effective_at": effective_at,
            "revoked_seq": None,
            "revoked_at": None,
        },
    )
