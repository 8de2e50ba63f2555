"""The record rules a submission must obey, against the ledger *and* within itself.

A submission is applied in order, so every rule the ledger enforces between submissions must
also hold between the rows of one file: a record_id is unique in the ledger and in the file;
a ``supersedes`` or retraction target is an earlier record of the same supplier that is still
effective — earlier in the ledger or earlier in this file — and no two rows may consume the
same target. ``verify`` replays exactly these rules, so a submission that broke one would
make every later audit fail at its seq, with no way to repair an append-only ledger.

:class:`SubmissionRules` collects the rows of a submission in file order (an import feeds it
from pass 1) and :meth:`SubmissionRules.problems` checks them against a database connection.
The dry run and the real import call the same method, the real one inside its serialized
write transaction. Record ids are kept in a small SQLite file beside the import's spool, so
memory does not grow with the file.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, text

from ledger.state import RECORD_INDEX_FIELDS

MAX_REPORTED = 1000
_BATCH = 500


class SubmissionRules:
    """Record ids and supersedes/retraction targets of one submission, in file order."""

    def __init__(self, supplier_id: str, directory: str | None = None) -> None:
        self.supplier_id = supplier_id
        path = os.path.join(directory, "record-ids.sqlite") if directory else ":memory:"
        self._ids = sqlite3.connect(path)
        self._ids.execute("PRAGMA journal_mode=OFF")
        self._ids.execute("PRAGMA synchronous=OFF")
        self._ids.execute(
            "CREATE TABLE rows (line INTEGER PRIMARY KEY, record_id TEXT, product_id TEXT, "
            "period_start TEXT, content TEXT)"
        )
        self._indexed = False
        self.targets: list[tuple[int, str, str]] = []  # (line, field, record_id)

    def add_records(self, rows: Iterable[tuple[int, tuple[Any, ...]]]) -> None:
        """Good rows as ``(line, record_values(payload))``, in file order."""
        self._ids.executemany(
            "INSERT INTO rows VALUES (?, ?, ?, ?, ?)",
            (
                (line, values[0], values[_PRODUCT], values[_START], content_key(values[1:]))
                for line, values in rows
            ),
        )

    def add_targets(self, targets: Iterable[tuple[int, str, str]]) -> None:
        """``(line, field, record_id)`` of rows that supersede or retract a record."""
        self.targets.extend(targets)

    def close(self) -> None:
        self._ids.close()

    def _index(self) -> None:
        if not self._indexed:  # built once, after the bulk insert: cheaper than as we go
            self._ids.execute("CREATE INDEX rows_record_id ON rows (record_id, line)")
            self._indexed = True

    def problems(self, conn: Connection) -> list[str]:
        """Every broken rule as ``line N: field: what is wrong``, in line order."""
        self._index()
        found = self._repeats() + self._taken(conn) + self._target_problems(conn)
        return sorted(found, key=_line_of)[:MAX_REPORTED]

    def _repeats(self) -> list[str]:
        rows = self._ids.execute(
            "SELECT line, record_id, first FROM (SELECT line, record_id, "
            "min(line) OVER (PARTITION BY record_id) AS first FROM rows) "
            "WHERE line > first ORDER BY line LIMIT ?",
            (MAX_REPORTED,),
        )
        return [
            f"line {line}: record_id: {rid!r} repeats line {first}" for line, rid, first in rows
        ]

    def _taken(self, conn: Connection) -> list[str]:
        """Record ids of this submission that the ledger already holds."""
        stmt = text("SELECT record_id FROM records WHERE record_id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        out: list[str] = []
        cursor = self._ids.execute(
            "SELECT record_id, min(line) FROM rows GROUP BY record_id ORDER BY 2"
        )
        while len(out) < MAX_REPORTED and (batch := cursor.fetchmany(_BATCH)):
            first_line = dict(batch)
            for (rid,) in conn.execute(stmt, {"ids": list(first_line)}):
                out.append(
                    f"line {first_line[rid]}: record_id: {rid!r} already exists in the ledger"
                )
        return out

    def same_records_in_ledger(self, conn: Connection) -> tuple[int, int] | None:
        """``(line, seq)`` of an example when every row of this submission is, record_id
        aside, an effective record of this supplier already in the ledger: the file was
        imported before, whatever its bytes (a re-export, other line endings, new ids).

        One query settles the usual case (the first row is new); only a likely duplicate
        costs a query per (product, period_start) group of the file.
        """
        self._index()
        first = self._ids.execute(
            "SELECT line, product_id, period_start, content FROM rows ORDER BY line LIMIT 1"
        ).fetchone()
        if first is None:
            return None
        line, product, start, content = first
        stored = self._stored_contents(conn, product, start)
        if content not in stored:
            return None
        groups = self._ids.execute(
            "SELECT product_id, period_start, content, count(*) FROM rows "
            "GROUP BY product_id, period_start, content ORDER BY product_id, period_start"
        )
        cache: tuple[tuple[str, str], dict[str, list[int]]] | None = None
        for group_product, group_start, group_content, count in groups:
            if cache is None or cache[0] != (group_product, group_start):
                cache = (
                    (group_product, group_start),
                    self._stored_contents(conn, group_product, group_start),
                )
            if len(cache[1].get(group_content, [])) < count:
                return None
        return int(line), stored[content][0]

    def _stored_contents(self, conn: Connection, product: str, start: str) -> dict[str, list[int]]:
        rows = conn.execute(
            text(
                f"SELECT seq, {', '.join(RECORD_INDEX_FIELDS[1:])} FROM records "
                "WHERE product_id = :p AND period_start = :s AND supplier_id = :sup "
                "AND status = 'effective' ORDER BY seq"
            ),
            {"p": product, "s": start, "sup": self.supplier_id},
        )
        out: dict[str, list[int]] = {}
        for seq, *values in rows:
            out.setdefault(content_key(tuple(values)), []).append(int(seq))
        return out

    def _defined_before(self, rid: str, line: int) -> int | None:
        row = self._ids.execute(
            "SELECT min(line) FROM rows WHERE record_id = ? AND line < ?", (rid, line)
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _target_problems(self, conn: Connection) -> list[str]:
        """Apply the targets in file order to the ledger's state plus this file's rows."""
        stored = _stored_records(conn, sorted({t[2] for t in self.targets}))
        consumed: dict[str, int] = {}  # record_id -> line that superseded or retracted it
        problems: list[str] = []
        for line, field, rid in sorted(self.targets):
            where = f"line {line}: {field}: record {rid!r}"
            if rid in consumed:
                problems.append(
                    f"{where} is already superseded or retracted by line {consumed[rid]} "
                    "of this submission"
                )
                continue
            if self._defined_before(rid, line) is None:
                if rid not in stored:
                    problems.append(f"{where} does not exist")
                    continue
                owner, status = stored[rid]
                if owner != self.supplier_id:
                    problems.append(f"{where} belongs to {owner!r}")
                    continue
                if status != "effective":
                    problems.append(f"{where} is already {status}")
                    continue
            consumed[rid] = line
        return problems


def content_key(values: tuple[Any, ...]) -> str:
    """A digest of a record's index values without its record_id (RECORD_INDEX_FIELDS[1:])."""
    return hashlib.sha256(repr(tuple(values)).encode("utf-8")).hexdigest()


_PRODUCT = RECORD_INDEX_FIELDS.index("product_id")
_START = RECORD_INDEX_FIELDS.index("period_start")


def _stored_records(conn: Connection, ids: list[str]) -> dict[str, tuple[str, str]]:
    """record_id -> (supplier_id, status) for the ids the ledger holds."""
    stmt = text(
        "SELECT record_id, supplier_id, status FROM records WHERE record_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), _BATCH):
        for rid, supplier, status in conn.execute(stmt, {"ids": ids[start : start + _BATCH]}):
            found[rid] = (supplier, status)
    return found


def _line_of(problem: Any) -> int:
    head = str(problem).split(":", 1)[0]
    return int(head.removeprefix("line ")) if head.startswith("line ") else 0
