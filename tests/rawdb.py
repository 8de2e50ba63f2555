"""Raw database access for tests that play a database writer, on SQLite or PostgreSQL.

The library never edits a written row; these helpers do, around it, with the append-only
triggers out of the way, so that a test can assert exactly what ``verify``, ``checkpoint``
or a witness then refuses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from ledger.store import sums


class Raw:
    """A connection around the library: sqlite3 or psycopg, ``?`` placeholders."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        else:
            u = make_url(url)
            self.conn = psycopg.connect(
                host=str(u.query["host"]),
                port=int(str(u.query["port"])),
                user=u.username,
                dbname=u.database,
            )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(sql if self.sqlite else sql.replace("?", "%s"), tuple(params))

    def disable_append_only(self) -> None:
        if self.sqlite:
            names = [
                n
                for (n,) in self.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                    "AND tbl_name IN ('entries', 'checkpoints')"
                )
            ]
            for name in names:
                self.execute(f"DROP TRIGGER {name}")
        else:
            # the owner can: append-only guards, and the insert checks on the other tables
            for table in ("entries", "checkpoints", "merkle_nodes", "records", "submissions"):
                self.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")


@contextmanager
def tampering(url: str) -> Iterator[Raw]:
    raw = Raw(url)
    try:
        raw.disable_append_only()
        yield raw
        raw.conn.commit()
    finally:
        raw.conn.close()


def cut_tail(engine: Engine, url: str, start: int, *, keep_checkpoints: bool) -> None:
    """Delete every entry from ``start`` on, with the index rows it created, as a careful
    attacker would (so that only a checkpoint can tell)."""
    sub_nodes = inspect(engine).has_table("submission_nodes")
    engine.dispose()
    with tampering(url) as raw:
        raw.execute("DELETE FROM entries WHERE seq >= ?", (start,))
        raw.execute("DELETE FROM records WHERE seq >= ?", (start,))
        raw.execute("DELETE FROM submissions WHERE seq >= ?", (start,))
        raw.execute("DELETE FROM merkle_nodes WHERE ((idx + 1) << level) > ?", (start,))
        if sub_nodes:
            raw.execute("DELETE FROM submission_nodes WHERE submission_seq >= ?", (start,))
        if not keep_checkpoints:
            raw.execute("DELETE FROM checkpoints")
    with engine.begin() as conn:  # and the per-group sums, recomputed from what is left
        conn.execute(text("DELETE FROM record_sums"))
        sums.rebuild(conn)
    engine.dispose()
