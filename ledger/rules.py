"""The record rules a submission must obey, against the ledger *and* within itself.

A submission is applied in order, so every rule the ledger enforces between submissions must
also hold between the rows of one file: a record_id is unique in the ledger and in the file;
a ``supersedes`` or retraction target is an earlier record of the same supplier that is still
effective (earlier in the ledger or earlier in this file), and no two rows may consume the
same target. ``verify`` replays exactly these rules, so a submission that broke one would
make every later audit fail at its seq, with no way to repair an append-only ledger.

:class:`SubmissionRules` collects the rows of a submission in file order (an import feeds it
from pass 1) and :meth:`SubmissionRules.problems` checks them against a database connection.
The dry run and the real import call the same method, the real one inside its serialized
write transaction. The rows wait in a :class:`ledger.store.row_index.RowIndex` beside the
import's spool, so memory does not grow with the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from ledger.state import RECORD_INDEX_FIELDS
from ledger.store import Connection, queries
from ledger.store.row_index import RowIndex

MAX_REPORTED = 1000
_PRODUCT = RECORD_INDEX_FIELDS.index("product_id")
_START = RECORD_INDEX_FIELDS.index("period_start")


def content_key(values: tuple[Any, ...]) -> str:
    """A digest of a record's index values without its record_id (RECORD_INDEX_FIELDS[1:])."""
    return hashlib.sha256(repr(tuple(values)).encode("utf-8")).hexdigest()


def row_facts(line: int, values: tuple[Any, ...]) -> tuple[int, str, str, str, str]:
    """What the in-file rules need of a good row: line, record_id, product, period start and
    :func:`content_key` (computed where the row is validated, in the import's workers)."""
    return line, values[0], values[_PRODUCT], values[_START], content_key(values[1:])


class SubmissionRules:
    """Record ids and supersedes/retraction targets of one submission, in file order."""

    def __init__(self, supplier_id: str, directory: str | None = None) -> None:
        self.supplier_id = supplier_id
        self._rows = RowIndex(directory)
        self.targets: list[tuple[int, str, str]] = []  # (line, field, record_id)

    def add_records(self, rows: Iterable[tuple[int, str, str, str, str]]) -> None:
        """Good rows as :func:`row_facts` tuples, in file order."""
        self._rows.add(rows)

    def add_targets(self, targets: Iterable[tuple[int, str, str]]) -> None:
        """``(line, field, record_id)`` of rows that supersede or retract a record."""
        self.targets.extend(targets)

    def close(self) -> None:
        self._rows.close()

    def problems(self, conn: Connection) -> list[str]:
        """Every broken rule as ``line N: field: what is wrong``, in line order."""
        repeats = [
            f"line {line}: record_id: {rid!r} repeats line {first}"
            for line, rid, first in self._rows.repeats(MAX_REPORTED)
        ]
        found = repeats + self._taken(conn) + self._target_problems(conn)
        return sorted(found, key=_line_of)[:MAX_REPORTED]

    def _taken(self, conn: Connection) -> list[str]:
        """Record ids of this submission that the ledger already holds."""
        out: list[str] = []
        for first_line in self._rows.first_lines(500):
            for rid in sorted(queries.taken_record_ids(conn, list(first_line))):
                out.append(
                    f"line {first_line[rid]}: record_id: {rid!r} already exists in the ledger"
                )
            if len(out) >= MAX_REPORTED:
                break
        return out

    def _target_problems(self, conn: Connection) -> list[str]:
        """Apply the targets in file order to the ledger's state plus this file's rows."""
        stored = queries.record_owner_status(conn, sorted({t[2] for t in self.targets}))
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
            if self._rows.defined_before(rid, line) is None:
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

    def same_records_in_ledger(self, conn: Connection) -> tuple[int, int] | None:
        """``(line, seq)`` of an example when every row of this submission is, record_id
        aside, an effective record of this supplier already in the ledger: the file was
        imported before, whatever its bytes (a re-export, other line endings, new ids).

        One query settles the usual case (the first row is new); only a likely duplicate
        costs a query per (product, period_start) group of the file.
        """
        first = self._rows.first_row()
        if first is None:
            return None
        line, product, start, content = first
        stored = self._stored_contents(conn, product, start)
        if content not in stored:
            return None
        cache: tuple[tuple[str, str], dict[str, list[int]]] | None = None
        for group_product, group_start, group_content, count in self._rows.content_counts():
            if cache is None or cache[0] != (group_product, group_start):
                contents = self._stored_contents(conn, group_product, group_start)
                cache = ((group_product, group_start), contents)
            if len(cache[1].get(group_content, [])) < count:
                return None
        return line, stored[content][0]

    def _stored_contents(self, conn: Connection, product: str, start: str) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for seq, values in queries.effective_record_values(conn, self.supplier_id, product, start):
            out.setdefault(content_key(values), []).append(seq)
        return out


def _line_of(problem: Any) -> int:
    head = str(problem).split(":", 1)[0]
    return int(head.removeprefix("line ")) if head.startswith("line ") else 0
