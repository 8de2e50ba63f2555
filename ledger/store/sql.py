"""SQL that read paths share, on a SQLAlchemy connection or on the stdlib ``sqlite3`` driver.

Importing SQLAlchemy costs about 0.1 s of process start-up, more than a query over
``record_sums`` or a Merkle proof takes. So the short read-only commands (``query``,
``prove``) open a SQLite ledger with :mod:`sqlite3` directly, and the reads they need are
written once, as plain SQL with ``:name`` parameters, which both drivers take. Everything
else (writes, PostgreSQL, the audit's streaming reads) goes through :mod:`ledger.store.db`.

This module must not import SQLAlchemy at module level: a test holds the light commands to it.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ledger.errors import StorageError

#: a SQLAlchemy ``Connection`` or a ``sqlite3.Connection``: anything :func:`rows` takes
Reader = Any

LOCK_TIMEOUT_ENV = "CARBON_LEDGER_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0


def lock_timeout() -> float:
    """Seconds a writer waits for the write lock (env ``CARBON_LEDGER_LOCK_TIMEOUT``, 60)."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 86_400:
        raise StorageError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds (0 < s < 1 day)")
    return seconds


def rows(conn: Reader, sql: str, params: Mapping[str, Any] | None = None) -> Iterable[Any]:
    """Run one statement with ``:name`` parameters on either driver; the rows as tuples."""
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(sql, dict(params or {}))
    from sqlalchemy import text

    return conn.execute(text(sql), dict(params or {}))  # type: ignore[no-any-return]


def first(conn: Reader, sql: str, params: Mapping[str, Any] | None = None) -> Any:
    """The first row of a statement, or None."""
    for row in rows(conn, sql, params):
        return row
    return None


def dialect(conn: Reader) -> str:
    """``sqlite`` or ``postgresql``."""
    return "sqlite" if isinstance(conn, sqlite3.Connection) else str(conn.dialect.name)


def in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(:name0, :name1, ...)`` and its parameters, for ``IN`` on either driver."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{k}" for k in params) + ")", params


def missing_file_error(path: str) -> StorageError:
    """A SQLite path with no file behind it: opening it would create an empty file there,
    so a mistyped --db would leave litter (only ``init`` creates one)."""
    return StorageError(
        f"no ledger at {path}: the file does not exist (check --db, or run "
        "`carbon-ledger init` to create one)"
    )


def sqlite_file(url: str) -> str | None:
    """The file path of a plain ``sqlite:///PATH`` URL, else None (PostgreSQL, memory, URIs)."""
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = unquote(url[len("sqlite:///") :])
    return None if not path or path == ":memory:" or path.startswith("file:") else path


def _is_database_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError)


#: 2: outputs and footprints tables (0.1.0 wrote 1); 3: record_sums, no ix_records_groups.
#: ``reindex`` upgrades an older database.
SCHEMA_VERSION = 3


def check_schema(conn: Reader, *, allow_older: bool = False) -> None:
    """Refuse a database without our schema, or one written by a newer or an older version
    (index tables are derived: ``carbon-ledger reindex`` brings an older one up to date)."""
    try:
        row = first(conn, "SELECT value FROM meta WHERE key = 'schema_version'")
    except Exception as exc:
        if not _is_database_error(exc):
            raise
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


@contextmanager
def reading(url: str) -> Iterator[Reader]:
    """A consistent read snapshot of the ledger at ``url``, opened as cheaply as possible.

    A SQLite file opens with :mod:`sqlite3` (``BEGIN`` holds one WAL snapshot for every
    statement, so sums and their as-of corrections agree); anything else opens through
    :func:`ledger.store.db.reading`.
    """
    path = sqlite_file(url)
    if path is None:
        from ledger.store import db

        with db.reading(db.make_engine(url)) as conn:
            yield conn
        return
    if not Path(path).exists():
        raise missing_file_error(path)
    try:
        lite = sqlite3.connect(path, timeout=lock_timeout(), isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the SQLite database {path}: {exc}") from exc
    try:
        lite.execute("BEGIN")
        check_schema(lite)
        yield lite
    except sqlite3.Error as exc:
        raise StorageError(f"database error: {exc}") from exc
    finally:
        lite.close()
