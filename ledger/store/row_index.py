"""A submission's rows on disk while it is checked: record ids, products, periods, contents.

:class:`ledger.rules.SubmissionRules` asks it the in-file questions (a repeated id, a target
defined earlier in the file, which rows share a product and period). It is a small SQLite
file beside the import's spool, so memory does not grow with the file; an append of one
keeps it in memory.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator


class RowIndex:
    """``(line, record_id, product_id, period_start, content)`` of each row, by line."""

    def __init__(self, directory: str | None = None) -> None:
        path = os.path.join(directory, "record-ids.sqlite") if directory else ":memory:"
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE rows (line INTEGER PRIMARY KEY, record_id TEXT, product_id TEXT, "
            "period_start TEXT, content TEXT)"
        )
        self._indexed = False

    def add(self, rows: Iterable[tuple[int, str, str, str, str]]) -> None:
        self._db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()

    def _index(self) -> None:
        if not self._indexed:  # built once, after the bulk insert: cheaper than as we go
            self._db.execute("CREATE INDEX rows_record_id ON rows (record_id, line)")
            self._indexed = True

    def repeats(self, limit: int) -> list[tuple[int, str, int]]:
        """``(line, record_id, first line)`` of every row whose id an earlier row has."""
        self._index()
        return self._db.execute(
            "SELECT line, record_id, first FROM (SELECT line, record_id, "
            "min(line) OVER (PARTITION BY record_id) AS first FROM rows) "
            "WHERE line > first ORDER BY line LIMIT ?",
            (limit,),
        ).fetchall()

    def first_lines(self, batch: int) -> Iterator[dict[str, int]]:
        """Each record id with the line it first appears on, in batches, in line order."""
        cursor = self._db.execute(
            "SELECT record_id, min(line) FROM rows GROUP BY record_id ORDER BY 2"
        )
        while rows := cursor.fetchmany(batch):
            yield dict(rows)

    def defined_before(self, record_id: str, line: int) -> int | None:
        self._index()
        row = self._db.execute(
            "SELECT min(line) FROM rows WHERE record_id = ? AND line < ?", (record_id, line)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def first_row(self) -> tuple[int, str, str, str] | None:
        """``(line, product_id, period_start, content)`` of the first row."""
        row = self._db.execute(
            "SELECT line, product_id, period_start, content FROM rows ORDER BY line LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), row[1], row[2], row[3])

    def content_counts(self) -> Iterator[tuple[str, str, str, int]]:
        """``(product_id, period_start, content, rows)``, grouped by product and period."""
        yield from self._db.execute(
            "SELECT product_id, period_start, content, count(*) FROM rows "
            "GROUP BY product_id, period_start, content ORDER BY product_id, period_start"
        )
