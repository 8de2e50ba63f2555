"""The database itself keeps ``entries`` and ``checkpoints`` append-only (SPEC §9).

The triggers are checked from outside the library: raw ``sqlite3`` on the SQLite file and raw
``psycopg`` on PostgreSQL, the way an operator's maintenance script would touch them. The
index tables stay writable: they are rebuilt from the entries, and verify notices a change.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from ledger import audit, records, transparency
from ledger.errors import StorageError, VerificationError
from ledger.store import db

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
INDEX_TABLES = (
    "suppliers",
    "supplier_keys",
    "products",
    "factors",
    "submissions",
    "records",
    "merkle_nodes",
)

# Statements an append-only table must refuse; {rid} is an existing checkpoint id.
SQLITE_REFUSED = [
    ("UPDATE entries SET kind = 'record' WHERE seq = 5", "entries is append-only: UPDATE rejected"),
    ("UPDATE entries SET entry_bytes = entry_bytes", "entries is append-only: UPDATE rejected"),
    ("DELETE FROM entries WHERE seq = 40", "entries is append-only: DELETE rejected"),
    ("DELETE FROM entries", "entries is append-only: DELETE rejected"),
    ("UPDATE checkpoints SET root_hash = 'ab'", "checkpoints is append-only: UPDATE rejected"),
    ("DELETE FROM checkpoints", "checkpoints is append-only: DELETE rejected"),
    # REPLACE deletes the old row without firing DELETE triggers (recursive_triggers is off)
    ("INSERT OR REPLACE INTO entries SELECT * FROM entries WHERE seq = 4", "entries is append"),
    ("REPLACE INTO checkpoints SELECT * FROM checkpoints", "checkpoints is append-only"),
    (
        "INSERT INTO entries SELECT * FROM entries WHERE seq = 40 "
        "ON CONFLICT (seq) DO UPDATE SET kind = 'record'",
        "entries is append-only",
    ),
]
PG_REFUSED = [
    ("UPDATE entries SET kind = 'record' WHERE seq = 5", "entries is append-only: UPDATE rejected"),
    ("DELETE FROM entries WHERE seq = 40", "entries is append-only: DELETE rejected"),
    ("TRUNCATE entries", "entries is append-only: TRUNCATE rejected"),
    ("UPDATE checkpoints SET root_hash = 'ab'", "checkpoints is append-only: UPDATE rejected"),
    ("DELETE FROM checkpoints", "checkpoints is append-only: DELETE rejected"),
    ("TRUNCATE checkpoints", "checkpoints is append-only: TRUNCATE rejected"),
    (
        "INSERT INTO entries SELECT * FROM entries WHERE seq = 40 "
        "ON CONFLICT (seq) DO UPDATE SET kind = 'record'",
        "entries: seq 40 rejected, the next seq is 67",  # the insert check fires first
    ),
]


@pytest.fixture
def ledger(world: dict[str, Any]) -> dict[str, Any]:
    """world + one import + a checkpoint: 152 entries, one stored checkpoint."""
    engine: Engine = world["engine"]
    records.import_records(
        engine, SAMPLES / "records" / "sup-elec-2024.csv", "sup-elec", world["keys"]["sup-elec"]
    )
    assert transparency.sign_checkpoint(engine, world["operator"]).tree_size == 67
    return world


def snapshot(engine: Engine) -> tuple[list[Any], list[Any]]:
    with db.reading(engine) as conn:
        entries = [tuple(r) for r in conn.execute(text("SELECT * FROM entries ORDER BY seq"))]
        cps = [tuple(r) for r in conn.execute(text("SELECT * FROM checkpoints ORDER BY id"))]
    return entries, cps


def sqlite_path(url: str) -> Path:
    assert url.startswith("sqlite:///")
    return Path(url.removeprefix("sqlite:///"))


def pg_connect(url: str) -> psycopg.Connection[Any]:
    u = make_url(url)
    host, port = str(u.query["host"]), int(str(u.query["port"]))
    return psycopg.connect(host=host, port=port, user=u.username, dbname=u.database)


@pytest.fixture
def pg(ledger: dict[str, Any]) -> Iterator[psycopg.Connection[Any]]:
    with pg_connect(ledger["url"]) as conn:
        yield conn


# ---- SQLite -------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_triggers_refuse_every_rewrite(ledger: dict[str, Any]) -> None:
    engine: Engine = ledger["engine"]
    before = snapshot(engine)
    with closing(sqlite3.connect(sqlite_path(ledger["url"]))) as c:
        for statement, message in SQLITE_REFUSED:
            with pytest.raises(sqlite3.DatabaseError, match=message):
                c.execute(statement)
            c.rollback()
    assert snapshot(engine) == before
    assert audit.verify_database(engine).entries == 67


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_triggers_also_bind_the_library_connection(ledger: dict[str, Any]) -> None:
    engine: Engine = ledger["engine"]
    before = snapshot(engine)
    for statement, message in SQLITE_REFUSED[:6]:
        with pytest.raises(StorageError, match=message), db.writing(engine) as conn:
            conn.execute(text(statement))
    assert snapshot(engine) == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_appends_still_work_after_refusals(ledger: dict[str, Any]) -> None:
    """The REPLACE guard must not stop ordinary appends or new checkpoints."""
    engine: Engine = ledger["engine"]
    with (
        closing(sqlite3.connect(sqlite_path(ledger["url"]))) as c,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        c.execute("INSERT OR REPLACE INTO entries SELECT * FROM entries WHERE seq = 66")
    row = next(csv.DictReader((SAMPLES / "records" / "sup-elec-2025.csv").open(newline="")))
    records.append_record(engine, "sup-elec", ledger["keys"]["sup-elec"], row)
    assert transparency.sign_checkpoint(engine, ledger["operator"]).tree_size == 69
    report = audit.verify_database(engine)
    assert (report.entries, report.checkpoints) == (69, 2)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_index_tables_stay_writable(ledger: dict[str, Any]) -> None:
    with closing(sqlite3.connect(sqlite_path(ledger["url"]))) as c:
        for table in INDEX_TABLES:
            assert c.execute(f"UPDATE {table} SET rowid = rowid").rowcount > 0, table
            assert c.execute(f"DELETE FROM {table}").rowcount > 0, table
            c.rollback()
        c.execute("DELETE FROM merkle_nodes WHERE level = 1")
        c.commit()
    with pytest.raises(VerificationError, match="merkle_nodes table differs"):
        audit.verify_database(ledger["engine"])


# ---- PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_triggers_refuse_update_delete_truncate(
    ledger: dict[str, Any], pg: psycopg.Connection[Any]
) -> None:
    engine: Engine = ledger["engine"]
    before = snapshot(engine)
    for statement, message in PG_REFUSED:
        with pytest.raises(psycopg.errors.RaiseException, match=message):
            pg.execute(statement)  # type: ignore[arg-type]
        pg.rollback()
    assert snapshot(engine) == before
    assert audit.verify_database(engine).entries == 67


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_index_tables_stay_writable(
    ledger: dict[str, Any], pg: psycopg.Connection[Any]
) -> None:
    for table in INDEX_TABLES:
        assert pg.execute(f"DELETE FROM {table}").rowcount > 0, table  # type: ignore[arg-type]
        pg.rollback()
    pg.execute("DELETE FROM merkle_nodes WHERE level = 1")
    pg.commit()
    with pytest.raises(VerificationError, match="merkle_nodes table differs"):
        audit.verify_database(ledger["engine"])


# ---- both -----------------------------------------------------------------------------------


def test_a_reader_sees_one_snapshot_while_a_writer_appends(ledger: dict[str, Any]) -> None:
    """verify compares entries with index tables across many statements; a writer that commits
    in between must not show up half-way (PostgreSQL's default READ COMMITTED would)."""
    engine: Engine = ledger["engine"]
    row = next(csv.DictReader((SAMPLES / "records" / "sup-elec-2025.csv").open(newline="")))
    count = text("SELECT (SELECT COUNT(*) FROM entries), (SELECT COUNT(*) FROM records)")
    with db.reading(engine) as conn:
        first = tuple(conn.execute(count).one())
        records.append_record(engine, "sup-elec", ledger["keys"]["sup-elec"], row)
        assert tuple(conn.execute(count).one()) == first == (67, 36)
    with db.reading(engine) as conn:
        assert tuple(conn.execute(count).one()) == (69, 37)
