"""Engines for SQLite (embedded default) and PostgreSQL, with the append-only triggers.

SQLite runs in WAL mode so that readers (verify, query, labels) never block the writer. Write
transactions start with ``BEGIN IMMEDIATE`` so that two appenders can never both read the same
head; on PostgreSQL the same job is done by a transaction-scoped advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from ledger.errors import StorageError

DEFAULT_URL = "sqlite:///carbon-ledger.db"
SCHEMA_VERSION = 2  # 2: outputs and footprints tables (0.1.0 wrote 1; `reindex` upgrades)
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
_PG_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION carbon_ledger_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION '% is append-only: % rejected', TG_TABLE_NAME, TG_OP; END;
       $$ LANGUAGE plpgsql""",
    *[
        f"""DO $$ BEGIN
              CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
                  FOR EACH ROW EXECUTE FUNCTION carbon_ledger_append_only();
              CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                  FOR EACH STATEMENT EXECUTE FUNCTION carbon_ledger_append_only();
            EXCEPTION WHEN duplicate_object THEN NULL; END $$"""
        for table in APPEND_ONLY_TABLES
    ],
]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and explicit BEGIN control."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 60})
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
        cursor.execute("PRAGMA busy_timeout=60000")
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


def check_schema(conn: Connection, *, allow_older: bool = False) -> None:
    """Refuse a database without our schema, or one written by a newer or an older version
    (index tables are derived: ``carbon-ledger reindex`` brings an older one up to date)."""
    try:
        row = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).first()
    except SQLAlchemyError as exc:
        raise StorageError(
            "no carbon-ledger schema in this database; run `carbon-ledger init` first"
        ) from exc
    if row is None:
        raise StorageError("the database has no schema_version; it was not made by carbon-ledger")
    try:
        version = int(row[0])
    except ValueError:
        raise StorageError(
            f"the database's schema_version {row[0]!r} is not a carbon-ledger schema version"
        ) from None
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"the database was created by a newer carbon-ledger (schema {row[0]}, this "
            f"version reads schema {SCHEMA_VERSION}); upgrade carbon-ledger"
        )
    if version < SCHEMA_VERSION and not allow_older:
        raise StorageError(
            f"the database has schema {version}, this carbon-ledger uses schema "
            f"{SCHEMA_VERSION}; run `carbon-ledger reindex` to rebuild its index tables"
        )


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


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read transaction: a consistent snapshot that never blocks the writer."""
    try:
        with _connect(engine) as conn:
            if not is_sqlite(engine):  # PostgreSQL's default READ COMMITTED is no snapshot
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                check_schema(conn)
                yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"database error: {_short(exc)}") from exc


@contextmanager
def writing(engine: Engine, *, check: bool = True) -> Iterator[Connection]:
    """The one write transaction: serialized, all or nothing."""
    try:
        with _connect(engine) as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                if not is_sqlite(engine):
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY}
                    )
                if check:
                    check_schema(conn)
                yield conn
    except SQLAlchemyError as exc:
        raise StorageError(f"database error: {_short(exc)}") from exc
