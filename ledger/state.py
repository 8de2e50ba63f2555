"""The shapes of index-table changes, and the row layouts of records and outputs.

Which rows each entry kind inserts or updates is the kind's own rule
(:meth:`ledger.kinds.Kind.changes`); the appender applies them to the database, ``reindex``
rebuilds from them, and ``verify`` re-derives them from the entry bytes and compares.
"""

from __future__ import annotations

from collections.abc import Mapping
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


def allocation_group(payload: Mapping[str, Any]) -> str:
    """A record's allocation group (SPEC §5): stated, or by default its activity."""
    return str(payload.get("allocation_group") or payload["activity"])


def record_values(payload: dict[str, Any]) -> tuple[Any, ...]:
    """The index values of a record payload, in RECORD_INDEX_FIELDS order (spooled on import)."""
    return (*map(payload.get, RECORD_INDEX_FIELDS[:-1]), allocation_group(payload))


def record_row(seq: int, submission_seq: int, payload: dict[str, Any]) -> dict[str, Any]:
    row = dict(zip(RECORD_INDEX_FIELDS, record_values(payload), strict=True))
    row["seq"] = seq
    row["submission_seq"] = submission_seq
    row["status"] = "effective"
    row["status_seq"] = None
    return row


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


def key_insert(seq: int, payload: dict[str, Any], effective_at: str) -> Insert:
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
