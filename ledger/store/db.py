"""Engines for SQLite (embedded default) and PostgreSQL, with the append-only triggers.

SQLite runs in WAL mode so that readers (verify, query, labels) never block the writer. Write
transactions start with ``BEGIN IMMEDIATE`` so that two appenders can never both read the same
head; on PostgreSQL the same job is done by a transaction-scoped advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from ledger.errors import StorageError
from ledger.store.sql import (  # one home for what the light read path shares
    DEFAULT_LOCK_TIMEOUT,
    LOCK_TIMEOUT_ENV,
    SCHEMA_VERSION,
    check_schema,
    lock_timeout,
    missing_file_error,
)
from ledger.vocab import DEFAULT_DB_URL

DEFAULT_URL = DEFAULT_DB_URL  # defined in ledger.vocab, so the CLI starts without SQLAlchemy
__all__ = ["DEFAULT_LOCK_TIMEOUT", "SCHEMA_VERSION", "check_schema", "lock_timeout"]

APPEND_ONLY_TABLES = ("entries", "checkpoints")
_ADVISORY_LOCK_KEY = 0x6C6564676572  # "ledger"
_WRITE = "carbon_ledger_write"

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} rejected'); END"""
    for table in APPEND_ONLY_TABLES
    for op in ("UPDATE", "DELETE")
] + [
    # INSERT OR REPLACE deletes the old row without firing DELETE triggers (SQLite runs them
    # only with recursive_triggers on), so an insert may never land on an existing key.
    f"""CREATE TRIGGER IF NOT EXISTS {table}_no_replace BEFORE INSERT ON {table}
        WHEN EXISTS (SELECT 1 FROM {table} WHERE {key} = NEW.{key})
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: INSERT over an existing row rejected');
        END"""
    for table, key in (("entries", "seq"), ("checkpoints", "id"))
]
# On PostgreSQL a role that may only append must not be able to append a row that breaks
# the chain (every later verify and append would fail, and nobody can delete it) or plant a
# row that a later append collides with. These insert triggers re-derive what the appender
# derives, with PostgreSQL's built-in sha256() (11+; no extension needed):
#   entries        seq = head + 1, prev_hash = head's entry_hash (64 zeros for seq 0),
#                  entry_hash = sha256(entry_bytes), leaf_hash = sha256(0x00 || entry_bytes),
#                  and the bytes' envelope names that kind, prev, recorded_at and seq;
#   merkle_nodes   only a complete subtree of existing entries, with the hash of its children;
#   index tables   only for an existing entry of the kind that creates such a row.
# They run with the inserting role's rights, which include SELECT on these tables.
_PG_ENTRY_CHECK = """
CREATE OR REPLACE FUNCTION carbon_ledger_entry_check() RETURNS trigger AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    doc text;
    tail text;
BEGIN
    -- A point lookup of the predecessor, never a scan: a plan cached while the table was
    -- small must not turn each insert into a walk of the whole table. Rows only ever enter
    -- through this check, so seq - 1 present and seq absent means seq is the next one.
    IF NEW.seq = 0 AND NOT EXISTS (SELECT 1 FROM entries WHERE seq = 0) THEN
        head_seq := -1;
        head_hash := repeat('0', 64);
    ELSE
        head_seq := NEW.seq - 1;
        SELECT entry_hash INTO head_hash FROM entries WHERE seq = head_seq;
        IF NOT FOUND OR EXISTS (SELECT 1 FROM entries WHERE seq = NEW.seq) THEN
            SELECT coalesce(max(seq), -1) INTO head_seq FROM entries;
            RAISE EXCEPTION 'entries: seq % rejected, the next seq is %', NEW.seq, head_seq + 1;
        END IF;
    END IF;
    IF NEW.prev_hash IS DISTINCT FROM head_hash THEN
        RAISE EXCEPTION 'entries: seq % rejected, prev_hash is not the entry_hash of seq %',
            NEW.seq, head_seq;
    END IF;
    IF NEW.entry_hash IS DISTINCT FROM encode(sha256(NEW.entry_bytes), 'hex')
       OR NEW.leaf_hash IS DISTINCT FROM sha256('\\x00'::bytea || NEW.entry_bytes) THEN
        RAISE EXCEPTION 'entries: seq % rejected, entry_hash or leaf_hash is not the hash of '
            'entry_bytes', NEW.seq;
    END IF;
    doc := convert_from(NEW.entry_bytes, 'UTF8');
    tail := ',"prev":"' || NEW.prev_hash || '","recorded_at":"' || NEW.recorded_at
        || '","seq":' || NEW.seq || ',"v":1}';
    IF left(doc, length(NEW.kind) + 22) IS DISTINCT FROM
           '{"kind":"' || NEW.kind || '","payload":{'
       OR right(doc, length(tail)) IS DISTINCT FROM tail THEN
        RAISE EXCEPTION 'entries: seq % rejected, entry_bytes do not carry its kind, prev, '
            'recorded_at and seq', NEW.seq;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""
_PG_NODE_CHECK = """
CREATE OR REPLACE FUNCTION carbon_ledger_node_check() RETURNS trigger AS $$
DECLARE
    left_hash bytea;
    right_hash bytea;
BEGIN
    IF NEW.level < 1 OR NEW.idx < 0 THEN
        RAISE EXCEPTION 'merkle_nodes: node (%, %) rejected', NEW.level, NEW.idx;
    END IF;
    IF NEW.level = 1 THEN
        SELECT leaf_hash INTO left_hash FROM entries WHERE seq = 2 * NEW.idx;
        SELECT leaf_hash INTO right_hash FROM entries WHERE seq = 2 * NEW.idx + 1;
    ELSE
        SELECT hash INTO left_hash FROM merkle_nodes
            WHERE level = NEW.level - 1 AND idx = 2 * NEW.idx;
        SELECT hash INTO right_hash FROM merkle_nodes
            WHERE level = NEW.level - 1 AND idx = 2 * NEW.idx + 1;
    END IF;
    IF left_hash IS NULL OR right_hash IS NULL
       OR NEW.hash IS DISTINCT FROM sha256('\\x01'::bytea || left_hash || right_hash) THEN
        RAISE EXCEPTION 'merkle_nodes: node (%, %) rejected, it is not the hash of stored '
            'children', NEW.level, NEW.idx;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""
_PG_INDEX_CHECK = """
CREATE OR REPLACE FUNCTION carbon_ledger_index_check() RETURNS trigger AS $$
DECLARE
    at_seq bigint := (to_jsonb(NEW) ->> TG_ARGV[0])::bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM entries
                   WHERE seq = at_seq AND kind = ANY (TG_ARGV[1:array_length(TG_ARGV, 1)])) THEN
        RAISE EXCEPTION '%: row rejected, no % entry at seq %', TG_TABLE_NAME,
            array_to_string(TG_ARGV[1:array_length(TG_ARGV, 1)], ' or '), at_seq;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""
#: index table -> (column holding the creating entry's seq, kinds that create a row)
_PG_INDEX_SOURCES = {
    "records": ("seq", ("record",)),
    "submissions": ("seq", ("submission",)),
    "products": ("seq", ("product",)),
    "suppliers": ("seq", ("supplier",)),
    "factors": ("seq", ("factor",)),
    "supplier_keys": ("added_seq", ("supplier", "key_rotate")),
    "submission_nodes": ("submission_seq", ("submission",)),
}


def _pg_trigger(name: str, when: str, table: str, function: str, *args: str) -> str:
    arguments = ", ".join(f"'{a}'" for a in args)
    return f"""DO $$ BEGIN
          CREATE TRIGGER {name} {when} ON {table}
              FOR EACH {"STATEMENT" if "TRUNCATE" in when else "ROW"}
              EXECUTE FUNCTION {function}({arguments});
        EXCEPTION WHEN duplicate_object THEN NULL; END $$"""


_PG_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION carbon_ledger_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION '% is append-only: % rejected', TG_TABLE_NAME, TG_OP; END;
       $$ LANGUAGE plpgsql""",
    _PG_ENTRY_CHECK,
    _PG_NODE_CHECK,
    _PG_INDEX_CHECK,
    *[
        _pg_trigger(
            f"{table}_append_only", "BEFORE UPDATE OR DELETE", table, "carbon_ledger_append_only"
        )
        for table in APPEND_ONLY_TABLES
    ],
    *[
        _pg_trigger(f"{table}_no_truncate", "BEFORE TRUNCATE", table, "carbon_ledger_append_only")
        for table in APPEND_ONLY_TABLES
    ],
    _pg_trigger("entries_chain_check", "BEFORE INSERT", "entries", "carbon_ledger_entry_check"),
    _pg_trigger("merkle_nodes_check", "BEFORE INSERT", "merkle_nodes", "carbon_ledger_node_check"),
    *[
        _pg_trigger(
            f"{table}_source_check",
            "BEFORE INSERT",
            table,
            "carbon_ledger_index_check",
            column,
            *kinds,
        )
        for table, (column, kinds) in _PG_INDEX_SOURCES.items()
    ],
]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and explicit BEGIN control."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": lock_timeout()})
            _configure_sqlite(engine)
        elif url.startswith("postgresql"):
            engine = create_engine(url, pool_pre_ping=True)
        else:
            raise StorageError(
                f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql+psycopg://..."
            )
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot open database {url}: {exc}") from exc
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout() * 1000)}")
        # 64 MiB page cache (default 2 MiB): index inserts of a large import stay in memory
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_schema(engine: Engine) -> None:
    """Create tables and append-only triggers (idempotent)."""
    _connect(engine).close()
    try:
        from sqlmodel import SQLModel

        from ledger.store import schema  # noqa: F401  (registers the tables)

        SQLModel.metadata.create_all(engine)
        with engine.begin() as conn:
            if is_sqlite(engine):
                for statement in _SQLITE_TRIGGERS:
                    conn.exec_driver_sql(statement)
            else:
                for statement in _PG_TRIGGERS:  # psycopg treats % as a placeholder marker
                    conn.exec_driver_sql(statement.replace("%", "%%"))
            if conn.execute(text("SELECT 1 FROM meta WHERE key = 'schema_version'")).first():
                return
            conn.execute(
                text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"),
                {"v": str(SCHEMA_VERSION)},
            )
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot create the ledger schema: {_short(exc)}") from exc


#: How :func:`integrity_problems` names its check in messages (they quote it, so that an
#: operator knows what failed and what to run by hand).
INTEGRITY_CHECK = "PRAGMA integrity_check"


def integrity_problems(conn: Connection, limit: int = 5) -> list[str]:
    """What SQLite's full ``PRAGMA integrity_check`` finds wrong (empty when sound).

    ``quick_check`` is not enough: it skips comparing each index with its table, and a
    secondary index that lost rows makes queries and labels silently read fewer records
    while every entry still verifies. PostgreSQL keeps no such user-reachable file format,
    so there is nothing to check there.
    """
    if conn.dialect.name != "sqlite":
        return []
    rows = [str(r[0]) for r in conn.exec_driver_sql(f"PRAGMA integrity_check({int(limit)})")]
    return [] if rows == ["ok"] else rows


def _short(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0]


def _connect(engine: Engine) -> Connection:
    """Open a connection; failing to reach the database is a StorageError that says which."""
    try:
        return engine.connect()
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        # keep every line: psycopg's second line is the hint "Is the server running ...?"
        lines = [ln.strip() for ln in str(orig if orig is not None else exc).splitlines()]
        reason = "; ".join(ln for ln in lines if ln)
        if is_sqlite(engine):
            where = f"cannot open the SQLite database {engine.url.database}"
        else:
            where = f"cannot connect to the PostgreSQL database {engine.url.database!r}"
        raise StorageError(f"{where}: {reason}") from exc


def _require_sqlite_file(engine: Engine) -> None:
    """Refuse a SQLite path with no file behind it before connecting, which would create an
    empty file there: a mistyped --db must not leave litter (only ``init`` creates one)."""
    if not is_sqlite(engine):
        return
    name = engine.url.database or ""
    if name and name != ":memory:" and not name.startswith("file:") and not Path(name).exists():
        raise missing_file_error(name)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read transaction: a consistent snapshot that never blocks the writer."""
    _require_sqlite_file(engine)
    try:
        with _connect(engine) as conn:
            if not is_sqlite(engine):  # PostgreSQL's default READ COMMITTED is no snapshot
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                check_schema(conn)
                yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"database error: {_short(exc)}") from exc


def _lock_busy(exc: SQLAlchemyError) -> bool:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "55P03" or "database is locked" in str(orig)


@contextmanager
def writing(engine: Engine, *, check: bool = True) -> Iterator[Connection]:
    """The one write transaction: serialized, all or nothing.

    A writer waits at most :func:`lock_timeout` seconds for the lock, never for ever: on
    PostgreSQL any role that may connect can take the advisory lock, so a stalled or hostile
    session must cost a clear error, not a hung import.
    """
    timeout = lock_timeout()
    if check:
        _require_sqlite_file(engine)
    try:
        with _connect(engine) as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                if not is_sqlite(engine):
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(timeout * 1000)}")
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY}
                    )
                if check:
                    check_schema(conn)
                yield conn
    except SQLAlchemyError as exc:
        if _lock_busy(exc):
            raise StorageError(
                f"another session has held the ledger's write lock for more than {timeout:g} s; "
                f"nothing was written. Try again, or raise {LOCK_TIMEOUT_ENV} (seconds)"
            ) from exc
        raise StorageError(f"database error: {_short(exc)}") from exc
