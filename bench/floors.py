"""Floors: the same work as a ledger operation done with public tools only, timed in-process.

Each floor answers "how fast can this machine do the unavoidable part of the operation?", so
the benchmark reports every operation as a ratio to a floor measured in the same run (issue
14). Nothing here imports the project: the floors read the ledger's own tables through the
plain DB-API driver (``sqlite3`` or ``psycopg``) and redo the minimal work:

- import: bare ``executemany`` of the same entry rows into an empty table of the same shape
  as ``entries`` (its columns and primary key, no other index, no trigger), in one
  transaction, with the ledger's SQLite pragmas;
- verify: read every entry's bytes in seq order and compute two SHA-256s per entry (the
  entry hash and the RFC 6962 leaf hash);
- query: read a table of exact per-(supplier, product, stage, allocation group, period)
  aggregates and sum them with ``Decimal`` (the O(groups) design the issue asks for); for
  reference also a float ``GROUP BY`` in the database and pandas ``read_csv`` + ``groupby``
  of the same records as CSV;
- start-up: ``python -c pass``.

Only the timed part is timed: rows are fetched before an insert batch is timed, and the
aggregate table and the CSV are built before their reads are timed.
"""

from __future__ import annotations

import csv
import hashlib
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

Window = tuple[str, str]
RECORD_COLUMNS = (
    "supplier_id",
    "product_id",
    "stage",
    "allocation_group",
    "period_start",
    "period_end",
    "co2e_kg",
    "units_covered",
)


@dataclass(frozen=True)
class Backend:
    """DB-API access to one benchmarked ledger and to an empty scratch database beside it.

    ``connect`` opens the ledger, ``scratch`` the scratch database (floors write only
    there), ``param`` is the driver's placeholder (``?`` or ``%s``).
    """

    name: str
    url: str
    connect: Callable[[], Any]
    scratch: Callable[[], Any]
    param: str

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    @classmethod
    def from_url(cls, url: str, scratch_url: str) -> Backend:
        """Plain-driver access to the ledger at a carbon-ledger ``--db`` URL and a scratch db."""
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            path, scratch = parsed.database, make_url(scratch_url).database
            return cls(
                "sqlite", url, lambda: sqlite3.connect(path), lambda: sqlite3.connect(scratch), "?"
            )

        def connector(db_url: str) -> Callable[[], Any]:
            import psycopg

            u = make_url(db_url)
            params = {"host": u.query.get("host") or u.host, "port": u.query.get("port") or u.port}
            params = {k: str(v) for k, v in params.items() if v}
            return lambda: psycopg.connect(user=u.username, dbname=u.database, **params)

        return cls("postgresql", url, connector(url), connector(scratch_url), "%s")

    @contextmanager
    def ledger(self) -> Iterator[Any]:
        """A ledger connection, closed at the end (sqlite3's own context manager does not)."""
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def scratch_db(self) -> Iterator[Any]:
        conn = self.scratch()
        try:
            yield conn
        finally:
            conn.close()


def sqlite_pragmas(conn: Any) -> None:
    """The pragmas the ledger's engine sets (ledger/store/db.py), so the floor is like for like."""
    conn.isolation_level = None
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        conn.execute(f"PRAGMA {pragma}")


def _entries_ddl(backend: Backend, conn: Any, table: str) -> str:
    """CREATE TABLE of ``table`` with the columns and primary key of the ledger's entries."""
    if backend.is_sqlite:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'entries'").fetchone()
        ddl = str(row[0])
        return ddl.replace("entries", table, 1)
    cur = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'entries' ORDER BY ordinal_position"
    )
    columns = [f"{n} {t}{' NOT NULL' if null == 'NO' else ''}" for n, t, null in cur]
    return f"CREATE TABLE {table} ({', '.join(columns)}, PRIMARY KEY (seq))"


def insert_floor(
    backend: Backend, first_seq: int, last_seq: int, batch: int = 20_000, keep: bool = False
) -> tuple[float, int]:
    """Seconds to ``executemany`` entries ``first_seq..last_seq`` into a bare entries table,
    and the rows inserted. ``keep`` leaves the copy in ``floor_entries`` (for the test that
    the floor writes the same bytes)."""
    p = backend.param
    with backend.ledger() as source, backend.scratch_db() as target:
        if backend.is_sqlite:
            sqlite_pragmas(target)
        target.execute("DROP TABLE IF EXISTS floor_entries")
        target.execute(_entries_ddl(backend, source, "floor_entries"))
        if not backend.is_sqlite:
            target.commit()
        names = [d[0] for d in source.execute("SELECT * FROM entries LIMIT 0").description]
        insert = (
            f"INSERT INTO floor_entries ({', '.join(names)}) VALUES ({', '.join([p] * len(names))})"
        )
        select = f"SELECT * FROM entries WHERE seq >= {p} AND seq <= {p} ORDER BY seq"
        seconds, count = 0.0, 0
        if backend.is_sqlite:
            target.execute("BEGIN IMMEDIATE")
        for low in range(first_seq, last_seq + 1, batch):
            rows = source.execute(select, (low, min(low + batch - 1, last_seq))).fetchall()
            start = time.perf_counter()
            target.cursor().executemany(insert, rows)
            seconds += time.perf_counter() - start
            count += len(rows)
        start = time.perf_counter()
        if backend.is_sqlite:
            target.execute("COMMIT")
        else:
            target.commit()
        seconds += time.perf_counter() - start
        if not keep:
            target.execute("DROP TABLE floor_entries")
            if not backend.is_sqlite:
                target.commit()
    return seconds, count


def read_hash_floor(backend: Backend) -> tuple[float, int]:
    """Seconds to read every entry's bytes in seq order and SHA-256 each twice; entry count."""
    sha256 = hashlib.sha256
    count = 0
    start = time.perf_counter()
    with backend.ledger() as conn:
        cur = conn.cursor() if backend.is_sqlite else conn.cursor(name="floor_read")
        cur.execute("SELECT entry_bytes FROM entries ORDER BY seq")
        while rows := cur.fetchmany(10_000):
            for (data,) in rows:
                sha256(data).digest()
                sha256(b"\x00" + data).digest()
            count += len(rows)
    return time.perf_counter() - start, count


def _effective_records(conn: Any, backend: Backend) -> Any:
    cur = conn.cursor() if backend.is_sqlite else conn.cursor(name="floor_records")
    cur.execute(f"SELECT {', '.join(RECORD_COLUMNS)} FROM records WHERE status = 'effective'")
    return cur


def build_aggregates(backend: Backend) -> int:
    """Write exact per-group sums to ``floor_aggregates`` in the scratch db; number of groups."""
    sums: dict[tuple[str, ...], list[Any]] = {}
    with backend.ledger() as conn:
        for *key, co2e, units in _effective_records(conn, backend):
            group = sums.setdefault(tuple(key), [Decimal(0), Decimal(0), 0])
            group[0] += Decimal(co2e)
            group[1] += Decimal(units)
            group[2] += 1
    p = backend.param
    with backend.scratch_db() as target:
        target.execute("DROP TABLE IF EXISTS floor_aggregates")
        target.execute(
            f"CREATE TABLE floor_aggregates ({', '.join(f'{c} TEXT' for c in RECORD_COLUMNS)}, "
            "records INTEGER)"
        )
        target.cursor().executemany(
            f"INSERT INTO floor_aggregates VALUES ({', '.join([p] * 9)})",
            [(*key, str(c), str(u), n) for key, (c, u, n) in sums.items()],
        )
        target.commit()
    return len(sums)


def aggregate_floor(
    backend: Backend, window: Window
) -> tuple[float, dict[tuple[str, str], Decimal]]:
    """Seconds to read the exact aggregates overlapping ``window`` and sum them exactly, and
    Σ co2e per (supplier, stage) (so a test can hold the floor to the query's figures).

    Per supplier and stage: Σ co2e; per (supplier, product, stage, group): Σ units covered.
    ``build_aggregates`` must have run. Groups whose period straddles the window edge count
    whole: the floor reads, it does not prorate.
    """
    p = backend.param
    start = time.perf_counter()
    co2e: dict[tuple[str, str], Decimal] = {}
    units: dict[tuple[str, str, str, str], Decimal] = {}
    with backend.scratch_db() as conn:
        cur = conn.execute(
            "SELECT supplier_id, product_id, stage, allocation_group, co2e_kg, units_covered "
            f"FROM floor_aggregates WHERE period_start < {p} AND period_end > {p}",
            (window[1], window[0]),
        )
        for supplier, product, stage, group, c, u in cur:
            co2e[supplier, stage] = co2e.get((supplier, stage), Decimal(0)) + Decimal(c)
            key = (supplier, product, stage, group)
            units[key] = units.get(key, Decimal(0)) + Decimal(u)
    return time.perf_counter() - start, co2e


def float_group_by_floor(backend: Backend, window: Window) -> float:
    """Seconds for the database to sum co2e as floats per supplier and stage over a window."""
    p = backend.param
    real = "REAL" if backend.is_sqlite else "double precision"
    start = time.perf_counter()
    with backend.ledger() as conn:
        conn.execute(
            f"SELECT supplier_id, stage, SUM(CAST(co2e_kg AS {real})), "
            f"SUM(CAST(units_covered AS {real})) FROM records WHERE status = 'effective' "
            f"AND period_start < {p} AND period_end > {p} GROUP BY supplier_id, stage",
            (window[1], window[0]),
        ).fetchall()
    return time.perf_counter() - start


def write_records_csv(backend: Backend, path: Path) -> Path:
    """The effective records' grouping columns and figures as a CSV (the pandas floor's input)."""
    with backend.ledger() as conn, path.open("w", newline="", encoding="utf-8") as handle:
        cur = _effective_records(conn, backend)
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(RECORD_COLUMNS)
        while rows := cur.fetchmany(10_000):
            writer.writerows(rows)
    return path


def pandas_floor(path: Path, window: Window) -> float:
    """Seconds for pandas to read the records CSV and sum co2e per supplier and stage."""
    import pandas as pd  # imported before the clock starts: the floor is the work, not the import

    start = time.perf_counter()
    frame = pd.read_csv(path)
    frame = frame[(frame.period_start < window[1]) & (frame.period_end > window[0])]
    frame.groupby(["supplier_id", "stage"])[["co2e_kg", "units_covered"]].sum()
    return time.perf_counter() - start


def startup_floor(repeat: int = 3) -> float:
    """Median seconds of ``python -c pass`` with the benchmark's interpreter."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
