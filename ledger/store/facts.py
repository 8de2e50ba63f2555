"""The reads behind every figure (SPEC §6): contributions, outputs and products as of a size.

Contributions come from ``record_sums`` (:mod:`ledger.store.sums`), so a query costs
O(groups), whatever the window and however many records there are: a group whose record
period lies inside the window counts whole (groups that differ only in period are merged),
one that straddles the window comes back with its period so :mod:`ledger.figures` can weigh
it by its share. ``record_sums`` holds the latest state; a figure as of an earlier tree size
is the latest sums corrected by the few records that changed since that size (appended at or
after it: subtracted; retired at or after it: added back), read through the primary key and
the ``status_seq`` index.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from ledger.figures import Contribution, OutputFact, ProductInfo
from ledger.store.sql import Reader, rows
from ledger.store.sums import NO_SUMS, WindowKey, group_sums, window_groups
from ledger.vocab import Window

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlmodel import Session

#: far beyond any real tree size: "as of now"
LATEST = 2**62

_OVERLAP = "r.period_start < :end AND r.period_end > :start"


@contextmanager
def connected(source: Engine | Connection | Session) -> Iterator[Connection]:
    """A read connection from an Engine, a Connection or a Session (the pandas API's sources)."""
    from sqlalchemy import Connection, Engine

    from ledger.store import db

    if isinstance(source, Engine):
        with db.reading(source) as conn:
            yield conn
    elif isinstance(source, Connection):
        yield source
    else:  # a Session (sqlmodel is not imported for the check: it costs 0.3 s of start-up)
        yield source.connection()


def contributions(conn: Reader, window: Window, as_of: int = LATEST) -> list[Contribution]:
    """Effective records (as of ``as_of``) that overlap the window, as few contributions as
    exactness allows: groups inside the window merged across periods, straddling ones not."""
    start, end = window[0].isoformat(), window[1].isoformat()
    merged = window_groups(conn, (start, end))
    if as_of < LATEST:
        params = {"start": start, "end": end, "as_of": as_of}
        later = f"r.seq >= :as_of AND r.status = 'effective' AND {_OVERLAP}"
        retired_since = f"r.status_seq >= :as_of AND r.seq < :as_of AND {_OVERLAP}"
        for where, sign in ((later, -1), (retired_since, 1)):
            for key, sums in group_sums(conn, where, params).items():
                span = (key[7], key[8])
                inside = span[0] >= start and span[1] <= end
                at: WindowKey = (*key[:7], None if inside else span)
                merged[at] = merged.get(at, NO_SUMS).plus(sums, sign)
    out = []
    for (sup, prod, stage, group, quality, gwp, is_tkm, period), sums in merged.items():
        if not sums.records:
            continue
        out.append(
            Contribution(
                supplier_id=sup,
                product_id=prod,
                stage=stage,
                group=group,
                data_quality=quality,
                gwp=gwp or None,
                co2e=Fraction(sums.co2e_kg),
                units_covered=Fraction(sums.units_covered),
                period=None
                if period is None
                else (date.fromisoformat(period[0]), date.fromisoformat(period[1])),
                tkm=Fraction(sums.tkm) if is_tkm and sums.tkm is not None else None,
                records=sums.records,
            )
        )
    return out


def outputs(conn: Reader, as_of: int = LATEST) -> dict[str, list[OutputFact]]:
    """Effective declared outputs as of ``as_of``, per product."""
    out: dict[str, list[OutputFact]] = {}
    found = rows(
        conn,
        "SELECT product_id, units, period_start, period_end FROM outputs "
        "WHERE seq < :as_of AND (status = 'effective' OR status_seq >= :as_of)",
        {"as_of": as_of},
    )
    for product_id, units, start, end in found:
        out.setdefault(product_id, []).append(
            OutputFact(
                product_id,
                Fraction(Decimal(units)),
                date.fromisoformat(start),
                date.fromisoformat(end),
            )
        )
    return out


def products(conn: Reader) -> dict[str, ProductInfo]:
    found = rows(conn, "SELECT product_id, supplier_id, mass_kg FROM products")
    return {p: ProductInfo(p, s, Fraction(Decimal(m))) for p, s, m in found}


def names(conn: Reader, table: str) -> dict[str, str]:
    """id -> name of every product or supplier (for tables people read)."""
    key = {"products": "product_id", "suppliers": "supplier_id"}[table]
    return {k: v for k, v in rows(conn, f"SELECT {key}, name FROM {table}")}
