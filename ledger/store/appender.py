"""The serialized appender: the only code that writes entries.

One :class:`Appender` is one write transaction. It reads the head (last seq, hash, time) and
rebuilds the Merkle frontier from O(log n) stored nodes, then appends entries in memory
batches: entry rows, completed Merkle subtree nodes and index changes are flushed with
``executemany`` every :data:`BATCH` entries. Nothing is visible to readers until commit; a
crash before commit leaves the ledger exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from ledger import merkle
from ledger.entry import GENESIS_PREV, SUBMITTED_KINDS, Entry, make_entry, utc_now
from ledger.errors import ConflictError
from ledger.kinds import changes_for
from ledger.state import (
    RECORD_INDEX_FIELDS,
    RECORD_TABLE_COLUMNS,
    Change,
    Insert,
    Update,
)
from ledger.store import db
from ledger.store.lookups import fetch_nodes, load_nodes
from ledger.store.sums import SumBook

BATCH = 5000
__all__ = ["Appender", "appending", "fetch_nodes", "load_nodes", "write_rows"]


class Appender:
    """Appends entries inside one open write transaction.

    Rows are buffered as tuples and written with the driver's ``executemany``: on the import
    hot path a record costs one envelope concatenation, two SHA-256s and three row tuples.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        head = conn.execute(
            text("SELECT seq, entry_hash, recorded_at FROM entries ORDER BY seq DESC LIMIT 1")
        ).first()
        now = utc_now()
        if head is None:
            self.next_seq, self.prev, self.recorded_at = 0, GENESIS_PREV, now
        else:
            self.next_seq, self.prev = head[0] + 1, head[1]
            self.recorded_at = max(now, head[2])  # never go back in time
        self.frontier = merkle.CompactRange(
            self.next_seq, load_nodes(conn, merkle.peak_positions(self.next_seq))
        )
        self.submission_seq: int | None = None
        self._rows: dict[str, list[tuple[Any, ...]]] = {}
        self._updates: list[Update] = []
        self.sums = SumBook(conn)

    def append(self, kind: str, payload_bytes: bytes, index: Any) -> Entry:
        """Append one entry whose payload is already canonical.

        ``index`` is the record's :func:`ledger.state.record_values` for a record, else the
        payload dict (from which :func:`ledger.kinds.changes_for` derives the index rows).
        """
        seq = self.next_seq
        entry = make_entry(seq, kind, self.recorded_at, self.prev, payload_bytes)
        if kind == "submission":
            self.submission_seq = seq
        covering = self.submission_seq if kind in SUBMITTED_KINDS else None
        rows = self._rows
        rows.setdefault("entries", []).append(
            (
                seq,
                kind,
                entry.recorded_at,
                entry.prev,
                entry.entry_hash,
                entry.leaf_hash,
                entry.entry_bytes,
                covering,
            )
        )
        nodes = self.frontier.append(entry.leaf_hash)
        if len(nodes) > 1:
            rows.setdefault("merkle_nodes", []).extend(nodes[1:])  # level 0 lives in entries
        if kind == "record" and isinstance(index, tuple):
            rows.setdefault("records", []).append((seq, covering, *index, "effective", None))
            supersedes = index[_SUPERSEDES]
            if supersedes is not None:
                self._updates.append(
                    Update(
                        "records",
                        "record_id",
                        supersedes,
                        {"status": "superseded", "status_seq": seq},
                    )
                )
        else:
            buffer_changes(rows, self._updates, changes_for(kind, seq, index, covering))
        self.next_seq += 1
        self.prev = entry.entry_hash
        if len(rows["entries"]) >= BATCH:
            self.flush()
        return entry

    def add_submission_nodes(
        self, submission_seq: int, nodes: list[tuple[int, int, bytes]]
    ) -> None:
        """Buffer completed records_root subtrees (level >= 1) of a submission."""
        self._rows.setdefault("submission_nodes", []).extend(
            (submission_seq, lv, ix, h) for lv, ix, h in nodes
        )

    def flush(self) -> None:
        """Write buffered rows (see :func:`write_rows`)."""
        write_rows(self.conn, self._rows, self._updates, self.sums)
        self._rows, self._updates = {}, []

    def finish(self) -> None:
        """Write what is buffered and the changed record sums: the last step before commit."""
        self.flush()
        self.sums.write()

    @property
    def root(self) -> bytes:
        return self.frontier.root()


def buffer_changes(
    rows: dict[str, list[tuple[Any, ...]]], updates: list[Update], changes: list[Change]
) -> None:
    """Buffer index changes as row tuples in each table's column order, updates in order."""
    for change in changes:
        if isinstance(change, Insert):
            columns = _COLUMNS.setdefault(change.table, tuple(change.row))
            rows.setdefault(change.table, []).append(tuple(change.row.get(c) for c in columns))
        else:
            updates.append(change)


def write_rows(
    conn: Connection,
    rows: dict[str, list[tuple[Any, ...]]],
    updates: list[Update],
    sums: SumBook | None = None,
) -> None:
    """Write buffered rows with ``executemany``. Order matters: inserts before the updates
    that target them. Used by the appender and by :mod:`ledger.store.reindex`.

    With ``sums``, the record sums follow: the inserted records are added, and the records
    the updates supersede or retract are subtracted before their status changes. (``reindex``
    passes none: it rebuilds the sums once at the end.)"""
    placeholder = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    order = [*_INSERT_ORDER, *(table for table in rows if table not in _INSERT_ORDER)]
    try:
        for table in order:
            table_rows = rows.get(table)
            if table_rows:
                columns = _COLUMNS[table]
                sql = (
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join([placeholder] * len(columns))})"
                )
                conn.exec_driver_sql(sql, table_rows)
    except IntegrityError as exc:
        raise ConflictError(_describe_conflict(exc)) from exc
    if sums is not None:
        inserted = rows.get("records")
        if inserted:
            sums.add_inserted(inserted[0][0], inserted[-1][0])
        sums.retire(
            c.key
            for c in updates
            if c.table == "records" and c.values.get("status", "effective") != "effective"
        )
    for change in updates:
        assignments = ", ".join(f"{column} = :{column}" for column in change.values)
        conn.execute(
            text(f"UPDATE {change.table} SET {assignments} WHERE {change.key_column} = :_key"),
            {**change.values, "_key": change.key},
        )


_SUPERSEDES = RECORD_INDEX_FIELDS.index("supersedes")
_INSERT_ORDER = (
    "entries",
    "merkle_nodes",
    "submission_nodes",
    "suppliers",
    "supplier_keys",
    "products",
    "factors",
    "submissions",
    "records",
    "outputs",
    "footprints",
)
#: column order of each table's buffered tuples; index tables take their Insert rows' order
_COLUMNS: dict[str, tuple[str, ...]] = {
    "entries": (
        "seq",
        "kind",
        "recorded_at",
        "prev_hash",
        "entry_hash",
        "leaf_hash",
        "entry_bytes",
        "submission_seq",
    ),
    "merkle_nodes": ("level", "idx", "hash"),
    "submission_nodes": ("submission_seq", "level", "idx", "hash"),
    "records": RECORD_TABLE_COLUMNS,
}


def _describe_conflict(exc: IntegrityError) -> str:
    message = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
    if ("records" in message and "record_id" in message) or "records_pkey" in message:
        return "a record_id in this submission already exists in the ledger"
    return f"the ledger already holds a conflicting row ({message})"


@contextmanager
def appending(engine: Engine) -> Iterator[Appender]:
    """Open a serialized write transaction and yield an appender; commit on success."""
    with db.writing(engine) as conn:
        appender = Appender(conn)
        yield appender
        appender.finish()
