"""Reads behind verify, export, proofs and ``log`` (SPEC §4, §6). Internal.

The auditor's checks compare the index tables with what the entries replay to; the SQL
that reads both sides lives here so that a new backend implements one interface. Values
come back as stored (no conversion): a column of the wrong type is itself evidence that
``verify`` reports, so the caller, not the store, decides what a stored value means.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, text

from ledger.store.lookups import (  # the reads short commands share, without SQLAlchemy
    checkpoint_rows,
    entry_and_leaf,
    latest_checkpoint_row,
    record_seq,
    tree_size,
)

__all__ = ["checkpoint_rows", "entry_and_leaf", "latest_checkpoint_row", "record_seq", "tree_size"]

_STREAM = {"stream_results": True, "yield_per": 5000}


def entry_row_batches(conn: Connection, size: int, start: int = 0) -> Iterator[Sequence[Any]]:
    """Entries from ``start`` to below ``size`` in seq order, streamed in batches of 5000, as
    rows of (seq, kind, recorded_at, prev_hash, entry_hash, leaf_hash, submission_seq,
    entry_bytes). The query runs now; consume the batches inside the same transaction."""
    result = conn.execute(
        text(
            "SELECT seq, kind, recorded_at, prev_hash, entry_hash, leaf_hash, "
            "submission_seq, entry_bytes FROM entries WHERE seq >= :s AND seq < :n ORDER BY seq"
        ).execution_options(**_STREAM),
        {"s": start, "n": size},
    )
    return result.partitions(5000)


def footprint_entry_bytes(conn: Connection) -> list[Any]:
    """Entry bytes (as stored) of every entry whose kind column says ``footprint``."""
    return [
        data
        for (data,) in conn.execute(
            text("SELECT entry_bytes FROM entries WHERE kind = 'footprint'")
        )
    ]


def table_rows(conn: Connection, table: str) -> list[dict[str, Any]]:
    """Every row of one small index table (a name from ``ledger.verify.SMALL_TABLE_KEYS``),
    as column -> value."""
    return [dict(row) for row in conn.execute(text(f"SELECT * FROM {table}")).mappings()]


def record_column_batches(
    conn: Connection, columns: Sequence[str], since: int = 0
) -> Iterator[list[tuple[Any, ...]]]:
    """Every row of ``records`` from seq ``since`` on (not only those below a size: a row no
    entry creates must be seen), those columns in seq order, in batches of 10,000."""
    rows = conn.execute(
        text(f"SELECT {', '.join(columns)} FROM records WHERE seq >= :s ORDER BY seq"),
        {"s": since},
    )
    for batch in rows.partitions(10_000):
        yield [tuple(row) for row in batch]


def record_statuses(conn: Connection) -> dict[str, tuple[str, int | None]]:
    """record_id -> (status, status_seq) of every record that is not effective."""
    rows = conn.execute(
        text("SELECT record_id, status, status_seq FROM records WHERE status <> 'effective'")
    )
    return {rid: (status, status_seq) for rid, status, status_seq in rows}


def merkle_node_rows(conn: Connection, since: int = 0) -> Iterator[tuple[Any, Any, Any]]:
    """(level, idx, hash) of every stored complete subtree, by level then index; with
    ``since``, only those that leaf ``since`` or a later one completed (they end past it)."""
    rows = conn.execute(
        text(
            "SELECT level, idx, hash FROM merkle_nodes "
            "WHERE (CAST(idx + 1 AS BIGINT) << level) > :s ORDER BY level, idx"
        ),
        {"s": since},
    )
    return ((level, idx, node) for level, idx, node in rows)


def submission_node_rows(conn: Connection, since: int = 0) -> Iterator[tuple[Any, Any, Any, Any]]:
    """(submission_seq, level, idx, hash) of every stored records_root subtree of the
    submissions from seq ``since`` on, in order."""
    rows = conn.execute(
        text(
            "SELECT submission_seq, level, idx, hash FROM submission_nodes "
            "WHERE submission_seq >= :s ORDER BY submission_seq, level, idx"
        ),
        {"s": since},
    )
    return ((sub_seq, level, idx, node) for sub_seq, level, idx, node in rows)


def record_entries(conn: Connection, size: int) -> list[tuple[int, Any, Any]]:
    """(seq, submission_seq, entry_bytes) of the record entries below ``size``, in order."""
    rows = conn.execute(
        text(
            "SELECT seq, submission_seq, entry_bytes FROM entries "
            "WHERE kind = 'record' AND seq < :n ORDER BY seq"
        ),
        {"n": size},
    ).all()
    return [(seq, sub_seq, data) for seq, sub_seq, data in rows]


def record_rows_by_seq(conn: Connection) -> dict[Any, dict[str, Any]]:
    """Every row of ``records`` as column -> value, by its seq column."""
    rows = conn.execute(text("SELECT * FROM records")).mappings()
    return {r["seq"]: dict(r) for r in rows}


def entry_bytes_stream(conn: Connection, size: int) -> Iterator[Any]:
    """The entry bytes (as stored) of seqs below ``size`` in order, streamed. The query runs
    now; consume the stream inside the same transaction."""
    result = conn.execute(
        text("SELECT entry_bytes FROM entries WHERE seq < :n ORDER BY seq").execution_options(
            **_STREAM
        ),
        {"n": size},
    )
    return (data for (data,) in result)


def entry_log(
    conn: Connection,
    *,
    kind: str | None = None,
    product: str | None = None,
    supplier: str | None = None,
    limit: int = 20,
) -> list[tuple[Any, ...]]:
    """The newest ``limit`` entries matching every filter given, newest first, as
    (seq, kind, recorded_at, entry_bytes, record_id, status, status_seq); the last three are
    None for an entry that is not a record."""
    clauses: list[str] = []
    params: dict[str, object] = {"limit": limit}
    if kind:
        clauses.append("e.kind = :kind")
        params["kind"] = kind
    if product:
        clauses.append("r.product_id = :product")
        params["product"] = product
    if supplier:
        # from the index tables, not a LIKE on entry_bytes (a BLOB never matches a text
        # pattern in SQLite): submissions and the entries they cover, plus the operator's
        # supplier, key_rotate and key_revoke entries for this supplier
        clauses.append(
            "(s.supplier_id = :supplier OR cs.supplier_id = :supplier "
            "OR e.seq IN (SELECT seq FROM suppliers WHERE supplier_id = :supplier) "
            "OR e.seq IN (SELECT added_seq FROM supplier_keys WHERE supplier_id = :supplier) "
            "OR e.seq IN (SELECT revoked_seq FROM supplier_keys WHERE supplier_id = :supplier))"
        )
        params["supplier"] = supplier
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = text(
        "SELECT e.seq, e.kind, e.recorded_at, e.entry_bytes, r.record_id, r.status, "
        "r.status_seq FROM entries e "
        "LEFT JOIN records r ON r.seq = e.seq LEFT JOIN submissions s ON s.seq = e.seq "
        "LEFT JOIN submissions cs ON cs.seq = e.submission_seq "
        f"{where} ORDER BY e.seq DESC LIMIT :limit"
    )
    return [tuple(row) for row in conn.execute(sql, params).all()]
