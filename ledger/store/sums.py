"""Exact per-group sums of the effective records: what every figure is read from (issue 14).

A query's cost should follow the number of groups, not the number of records. ``record_sums``
holds, per (supplier, product, stage, allocation group, data quality, GWP set, tkm or not,
record period), the count of effective records and the exact sums of their ``co2e_kg``,
``units_covered`` and (for transport stated in tkm) ``amount``. Keeping the record period in
the key is what makes any window exact: a group either lies inside the window (share 1), or
straddles it and is weighed by its period's share, as one record of that period would be.

One rule, one home: :func:`group_sums` is the only definition of a group and of its sums. The
appender maintains the table with it (the rows a batch inserts are added, the records a batch
retires are subtracted), ``reindex`` rebuilds the table with it, and ``verify`` recomputes it
from the records table and compares, so the incremental path is checked against the plain one
on every audit.

Sums are exact: PostgreSQL adds ``numeric``; SQLite has no exact decimal type, so it hands
back each group's decimal strings and Python adds them as ``Decimal`` in a context that traps
any rounding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledger.decimals import EXACT, fmt
from ledger.store.sql import Reader, dialect, first, in_list, rows

#: the group key, in table column order
KEY_COLUMNS = (
    "supplier_id",
    "product_id",
    "stage",
    "allocation_group",
    "data_quality",
    "gwp",
    "is_tkm",
    "period_start",
    "period_end",
)
SUM_COLUMNS = ("records", "co2e_kg", "units_covered", "tkm")
Key = tuple[str, str, str, str, str, str, int, str, str]

#: a record's group key as SQL over ``records r LEFT JOIN factors f``, in KEY_COLUMNS order
_IS_TKM = "(r.unit = 'tkm' AND r.stage = 'transport')"
_KEY_SQL = {
    **{c: f"r.{c}" for c in KEY_COLUMNS},
    "gwp": "COALESCE(f.gwp, '')",
    "is_tkm": f"CASE WHEN {_IS_TKM} THEN 1 ELSE 0 END",
}
_FROM = (
    "records r LEFT JOIN factors f ON f.factor_id = r.factor_id AND f.version = r.factor_version"
)
_BY_KEY = "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9"


def _aggregates(conn: Reader, co2e: str, units: str, tkm: str) -> str:
    """The three exact sums of a group: ``numeric`` on PostgreSQL, the decimal strings
    themselves on SQLite (added by :func:`exact_sum`)."""
    if dialect(conn) == "sqlite":
        return ", ".join(f"group_concat({e}, ',')" for e in (co2e, units, tkm))
    return ", ".join(f"SUM(CAST({e} AS numeric))" for e in (co2e, units, tkm))


def exact_sum(value: Any) -> Decimal:
    """A group sum: a Decimal from PostgreSQL, or SQLite's comma-joined decimal strings."""
    if isinstance(value, Decimal):
        return value
    total = Decimal(0)
    for part in str(value).split(","):
        total = EXACT.add(total, Decimal(part))
    return total


@dataclass(frozen=True)
class Sums:
    """Effective records of one group: how many, and their exact sums."""

    records: int
    co2e_kg: Decimal
    units_covered: Decimal
    tkm: Decimal | None  # transport work stated in tkm; None for other groups

    def plus(self, other: Sums, sign: int = 1) -> Sums:
        """``self + sign × other``, exactly."""
        tkm = self.tkm
        if other.tkm is not None:
            tkm = EXACT.add(tkm or Decimal(0), EXACT.multiply(sign, other.tkm))
        return Sums(
            self.records + sign * other.records,
            EXACT.add(self.co2e_kg, EXACT.multiply(sign, other.co2e_kg)),
            EXACT.add(self.units_covered, EXACT.multiply(sign, other.units_covered)),
            tkm,
        )


NO_SUMS = Sums(0, Decimal(0), Decimal(0), None)


def group_sums(conn: Reader, where: str, params: Mapping[str, Any]) -> dict[Key, Sums]:
    """The groups of the records rows matching ``where`` (SQL over ``r``), with their sums.

    The single definition of a group: the table, its rebuild, its check and the as-of
    corrections of a query are all made of this.
    """
    sums = _aggregates(
        conn, "r.co2e_kg", "r.units_covered", f"CASE WHEN {_IS_TKM} THEN r.amount END"
    )
    columns = ", ".join(_KEY_SQL[c] for c in KEY_COLUMNS)
    sql = f"SELECT {columns}, COUNT(*), {sums} FROM {_FROM} WHERE {where} {_BY_KEY}"
    out: dict[Key, Sums] = {}
    for row in rows(conn, sql, params):
        key: Key = (*row[:6], int(row[6]), row[7], row[8])  # type: ignore[assignment]
        out[key] = _summed(row[9:])
    return out


def _summed(row: Any) -> Sums:
    """Sums from ``(COUNT, co2e, units, tkm)`` as the database aggregated them."""
    records, co2e, units, tkm = row
    return Sums(
        int(records), exact_sum(co2e), exact_sum(units), None if tkm is None else exact_sum(tkm)
    )


def all_groups(conn: Reader) -> dict[Key, Sums]:
    """What ``record_sums`` must hold: every group of the effective records, from scratch."""
    return group_sums(conn, "r.status = 'effective'", {})


def stored(
    conn: Reader,
    window: tuple[str, str] | None = None,
    *,
    where: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> dict[Key, Sums]:
    """The ``record_sums`` rows (only groups whose period overlaps ``window``, if given, and
    that match ``where``)."""
    sql = f"SELECT {', '.join(KEY_COLUMNS + SUM_COLUMNS)} FROM record_sums"
    conditions, bound = [], dict(params or {})
    if window is not None:
        conditions.append("period_start < :end AND period_end > :start")
        bound.update(start=window[0], end=window[1])
    if where is not None:
        conditions.append(where)
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    out: dict[Key, Sums] = {}
    for row in rows(conn, sql, bound):
        key: Key = (*row[:6], int(row[6]), row[7], row[8])  # type: ignore[assignment]
        out[key] = _sums_of(row[9:])
    return out


_PERIOD_OR_NONE = (
    "CASE WHEN period_start >= :start AND period_end <= :end THEN NULL ELSE {column} END"
)
#: a group of ``record_sums`` in a window: the key without its period, and the period when
#: the group straddles the window (None when it lies inside, merged over periods)
WindowKey = tuple[str, str, str, str, str, str, int, tuple[str, str] | None]


def window_groups(conn: Reader, window: tuple[str, str]) -> dict[WindowKey, Sums]:
    """The ``record_sums`` groups overlapping ``window``; groups inside it are merged over
    their periods in the database (one row per key, not per month of it)."""
    sql = (
        f"SELECT {', '.join(KEY_COLUMNS[:7])}, "
        f"{_PERIOD_OR_NONE.format(column='period_start')}, "
        f"{_PERIOD_OR_NONE.format(column='period_end')}, "
        f"SUM(records), {_aggregates(conn, 'co2e_kg', 'units_covered', 'tkm')} "
        f"FROM record_sums WHERE period_start < :end AND period_end > :start {_BY_KEY}"
    )
    out: dict[WindowKey, Sums] = {}
    for row in rows(conn, sql, {"start": window[0], "end": window[1]}):
        period = None if row[7] is None else (row[7], row[8])
        key: WindowKey = (*row[:6], int(row[6]), period)  # type: ignore[assignment]
        out[key] = _summed(row[9:])
    return out


def _sums_of(row: Any) -> Sums:
    records, co2e, units, tkm = row
    return Sums(int(records), Decimal(co2e), Decimal(units), None if tkm is None else Decimal(tkm))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


class SumBook:
    """The groups one write transaction touches: summed once, changed in memory, written once.

    The appender calls :meth:`add_inserted` after each batch of record rows is inserted and
    :meth:`retire` with the record ids a batch supersedes or retracts (before their status
    changes), then :meth:`write` before commit. The records inserted by the transaction are
    grouped once, in :meth:`write`, with their final status: a record both inserted and
    retired in one transaction is simply not counted, and an import of N records costs one
    GROUP BY over them, not one per batch.
    """

    def __init__(self, conn: Any) -> None:  # a SQLAlchemy Connection (it writes)
        self.conn = conn
        self._groups: dict[Key, Sums] = {}
        self._dirty: set[Key] = set()
        self._inserted: tuple[int, int] | None = None  # first and last seq inserted
        self._where = " AND ".join(f"{c} = :{c}" for c in KEY_COLUMNS)

    def add_inserted(self, first_seq: int, last_seq: int) -> None:
        """Note record rows with seq in ``[first_seq, last_seq]`` (added in :meth:`write`)."""
        start = first_seq if self._inserted is None else self._inserted[0]
        self._inserted = (start, last_seq)

    def retire(self, record_ids: Iterable[str]) -> None:
        """Subtract the still-effective records ``record_ids`` that this transaction did not
        insert (about to be retired; the others are grouped with their final status)."""
        ids = sorted(set(record_ids))
        earlier = "" if self._inserted is None else f" AND r.seq < {int(self._inserted[0])}"
        for start in range(0, len(ids), 900):
            placeholders, params = in_list("id", ids[start : start + 900])
            where = f"r.record_id IN {placeholders} AND r.status = 'effective'{earlier}"
            self._apply(group_sums(self.conn, where, params), -1)

    def _apply(self, delta: dict[Key, Sums], sign: int) -> None:
        self._load([k for k in delta if k not in self._groups])
        for key, sums in delta.items():
            self._groups[key] = self._groups[key].plus(sums, sign)
            self._dirty.add(key)

    def _load(self, keys: list[Key]) -> None:
        """Read the current sums of ``keys``: by primary key when few, else every group of
        their suppliers in one statement (an import touches thousands of one supplier's)."""
        if len(keys) <= 32:
            for key in keys:
                row = first(
                    self.conn,
                    f"SELECT {', '.join(SUM_COLUMNS)} FROM record_sums WHERE {self._where}",
                    dict(zip(KEY_COLUMNS, key, strict=True)),
                )
                self._groups[key] = NO_SUMS if row is None else _sums_of(row)
            return
        placeholders, params = in_list("s", sorted({k[0] for k in keys}))
        found = stored(self.conn, where=f"supplier_id IN {placeholders}", params=params)
        for key in keys:
            self._groups[key] = found.get(key, NO_SUMS)

    def write(self) -> None:
        """Add the inserted records, then write every changed group."""
        if self._inserted is not None:
            first_seq, last_seq = self._inserted
            where = "r.seq >= :a AND r.seq <= :b AND r.status = 'effective'"
            self._apply(group_sums(self.conn, where, {"a": first_seq, "b": last_seq}), 1)
            self._inserted = None
        write_groups(self.conn, {k: self._groups[k] for k in self._dirty})
        self._dirty.clear()


def write_groups(conn: Any, groups: Mapping[Key, Sums]) -> None:
    """Upsert each group's sums, or delete the group when no record is left in it."""
    keys = sorted(groups)
    gone = [k for k in keys if groups[k].records == 0]
    kept = [(*k, *_row(groups[k])) for k in keys if groups[k].records != 0]
    placeholder = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    if gone:
        where = " AND ".join(f"{c} = {placeholder}" for c in KEY_COLUMNS)
        conn.exec_driver_sql(f"DELETE FROM record_sums WHERE {where}", gone)
    if kept:
        columns = KEY_COLUMNS + SUM_COLUMNS
        updates = ", ".join(f"{c} = excluded.{c}" for c in SUM_COLUMNS)
        conn.exec_driver_sql(
            f"INSERT INTO record_sums ({', '.join(columns)}) "
            f"VALUES ({', '.join([placeholder] * len(columns))}) "
            f"ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET {updates}",
            kept,
        )


def _row(sums: Sums) -> tuple[Any, ...]:
    return (sums.records, _text(sums.co2e_kg), _text(sums.units_covered), _text(sums.tkm))


def rebuild(conn: Any) -> int:
    """Fill an empty ``record_sums`` from the records table (``reindex``); the group count."""
    groups = all_groups(conn)
    write_groups(conn, groups)
    return len(groups)


def first_mismatch(conn: Reader) -> tuple[Key, Sums | None, Sums | None] | None:
    """The first group where ``record_sums`` differs from the records table, if any."""
    want, have = all_groups(conn), stored(conn)
    for key in sorted(set(want) | set(have)):
        if want.get(key) != have.get(key):
            return key, want.get(key), have.get(key)
    return None


def first_seq_of(conn: Reader, key: Key) -> int | None:
    """The first effective record seq in a group (to name where a mismatching group starts)."""
    where = " AND ".join(f"{_KEY_SQL[c]} = :{c}" for c in KEY_COLUMNS)
    row = first(
        conn,
        f"SELECT MIN(r.seq) FROM {_FROM} WHERE r.status = 'effective' AND {where}",
        dict(zip(KEY_COLUMNS, key, strict=True)),
    )
    return None if row is None or row[0] is None else int(row[0])
