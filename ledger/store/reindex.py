"""Rebuild every index table from the entries: ``carbon-ledger reindex`` (SPEC §9). Internal.

The ``entries`` table is the only source of truth; ``meta``, ``checkpoints`` and
``pcf_versions`` are the other tables that are not derived. Every other table of the schema
is an index: it is dropped, created again from the current table definitions (so a column a
newer version added is there) and refilled by replaying the entries through the appender's
own rule, :func:`ledger.kinds.changes_for`, plus the Merkle subtree tables. It is one
transaction: a failure leaves the database as it was. Then the current schema version is
stamped, which is how a database written by an older carbon-ledger is brought up to date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, text

from ledger import merkle
from ledger.entry import SUBMITTED_KINDS, parse_entry
from ledger.kinds import changes_for
from ledger.state import Update
from ledger.store import db, sums
from ledger.store.appender import BATCH, buffer_changes, write_rows

#: tables that are not derived from the entries and are never rebuilt (``pcf_versions`` is
#: the register of PACT footprints published to partners: ids and bytes they already hold)
SOURCE_TABLES = ("meta", "entries", "checkpoints", "pcf_versions")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReindexReport:
    """What was rebuilt: the entries replayed, the index tables, the schema version stamped."""

    entries: int
    tables: tuple[str, ...]
    schema_version: int


def index_tables() -> list[Table]:
    """Every table of the schema except the source tables, in dependency order."""
    from sqlmodel import SQLModel

    from ledger.store import schema  # noqa: F401  (registers the tables)

    return [t for t in SQLModel.metadata.sorted_tables if t.name not in SOURCE_TABLES]


def reindex(engine: Engine, progress: Progress | None = None) -> ReindexReport:
    """Drop, recreate and refill every index table; stamp the current schema version.

    ``progress(done, total)`` is called after each batch of entries.
    """
    with db.writing(engine, check=False) as conn:
        db.check_schema(conn, allow_older=True)  # a newer schema is not ours to rebuild
    db.create_schema(engine)  # tables and triggers this version added; keeps the version
    tables = index_tables()
    with db.writing(engine, check=False) as conn:
        db.check_schema(conn, allow_older=True)
        for table in reversed(tables):
            table.drop(conn, checkfirst=True)
        for table in tables:
            table.create(conn)
        total = conn.execute(text("SELECT COUNT(*) FROM entries")).scalar_one()
        done = _replay(conn, total, progress)
        sums.rebuild(conn)
        conn.execute(
            text("UPDATE meta SET value = :v WHERE key = 'schema_version'"),
            {"v": str(db.SCHEMA_VERSION)},
        )
    return ReindexReport(done, tuple(t.name for t in tables), db.SCHEMA_VERSION)


def _replay(conn: Connection, total: int, progress: Progress | None) -> int:
    """Replay every entry in seq order into the (empty) index tables; return the count."""
    tree = merkle.CompactRange()
    submission_tree = merkle.CompactRange()
    submission_seq: int | None = None
    rows: dict[str, list[tuple[Any, ...]]] = {}
    updates: list[Update] = []
    done, after = 0, -1
    page = text("SELECT seq, entry_bytes FROM entries WHERE seq > :after ORDER BY seq LIMIT :n")
    while batch := conn.execute(page, {"after": after, "n": BATCH}).all():
        for seq, entry_bytes in batch:
            data = bytes(entry_bytes)
            entry = parse_entry(data, seq)
            for node in tree.append(merkle.leaf_hash(data)):
                if node[0] > 0:  # level 0 lives in entries
                    rows.setdefault("merkle_nodes", []).append(node)
            if entry.kind == "submission":
                submission_seq, submission_tree = seq, merkle.CompactRange()
            covering = submission_seq if entry.kind in SUBMITTED_KINDS else None
            if covering is not None:
                for level, idx, node_hash in submission_tree.append(
                    merkle.leaf_hash(entry.payload_bytes)
                ):
                    if level > 0:
                        rows.setdefault("submission_nodes", []).append(
                            (covering, level, idx, node_hash)
                        )
            buffer_changes(rows, updates, changes_for(entry.kind, seq, entry.payload, covering))
        write_rows(conn, rows, updates)
        rows, updates = {}, []
        done += len(batch)
        after = batch[-1][0]
        if progress is not None:
            progress(done, total)
    return done
