"""The reads behind every figure (SPEC §6): contributions, outputs and products as of a size.

Only groups cross into Python: records that lie wholly inside the window are summed per
(supplier, product, stage, allocation group, data quality, GWP set, tkm or not) — their share
of the window is 1; records that straddle a window boundary come back one by one with their
period, so :mod:`ledger.figures` can weigh them by their share. Sums are exact: PostgreSQL
adds ``numeric``; SQLite has no exact decimal type, so it hands back the group's decimal
strings and Python adds them as fractions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Context, Decimal, Inexact
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlmodel import Session

from ledger.figures import Contribution, OutputFact, ProductInfo
from ledger.store import db
from ledger.vocab import Window

#: far beyond any real tree size: "as of now"
LATEST = 2**62

# ``+r.seq``: unary plus hides the seq column from SQLite's planner, so it streams the
# covering index ix_records_groups instead of walking the primary key in seq order.
_CONTRIBUTIONS_SQL = """
SELECT r.supplier_id, r.product_id, r.stage, r.allocation_group, r.data_quality, f.gwp,
       CASE WHEN r.unit = 'tkm' AND r.stage = 'transport' THEN 1 ELSE 0 END AS is_tkm,
       CASE WHEN r.period_start >= :start AND r.period_end <= :end THEN NULL
            ELSE r.period_start END AS ps,
       CASE WHEN r.period_start >= :start AND r.period_end <= :end THEN NULL
            ELSE r.period_end END AS pe,
       COUNT(*), {co2e}, {units}, {amount}
FROM records r LEFT JOIN factors f ON f.factor_id = r.factor_id AND f.version = r.factor_version
WHERE r.period_start < :end AND r.period_end > :start AND +r.seq < :as_of
  AND (r.status = 'effective' OR r.status_seq >= :as_of)
GROUP BY r.supplier_id, r.product_id, r.stage, r.allocation_group, r.data_quality, f.gwp,
         is_tkm, ps, pe
"""
_SUMS = {
    "sqlite": (
        "group_concat(r.co2e_kg, ',')",
        "group_concat(r.units_covered, ',')",
        "group_concat(r.amount, ',')",
    ),
    "postgresql": (
        "SUM(CAST(r.co2e_kg AS numeric))",
        "SUM(CAST(r.units_covered AS numeric))",
        "SUM(CAST(r.amount AS numeric))",
    ),
}


@contextmanager
def connected(source: Engine | Connection | Session) -> Iterator[Connection]:
    """A read connection from an Engine, a Connection or a Session (the pandas API's sources)."""
    if isinstance(source, Session):
        yield source.connection()
    elif isinstance(source, Engine):
        with db.reading(source) as conn:
            yield conn
    else:
        yield source


#: decimal addition that raises rather than rounds: the sum of decimal strings is exact
_EXACT = Context(prec=200, traps=[Inexact])


def exact_sum(value: Any) -> Fraction:
    """A group sum: a Decimal from PostgreSQL, or SQLite's comma-joined decimal strings.

    Added as Decimals in a context that traps inexact results, so the sum is exact and one
    Fraction is made per group, not per record.
    """
    if isinstance(value, Decimal):
        return Fraction(value)
    total = Decimal(0)
    for text_ in str(value).split(","):
        total = _EXACT.add(total, Decimal(text_))
    return Fraction(total)


def contributions(conn: Connection, window: Window, as_of: int = LATEST) -> list[Contribution]:
    """Effective records (as of ``as_of``) that overlap the window, grouped where possible."""
    params = {"start": window[0].isoformat(), "end": window[1].isoformat(), "as_of": as_of}
    sums = _SUMS["sqlite" if conn.dialect.name == "sqlite" else "postgresql"]
    rows = conn.execute(
        text(_CONTRIBUTIONS_SQL.format(co2e=sums[0], units=sums[1], amount=sums[2])), params
    )
    out = []
    for sup, prod, stage, group, quality, gwp, is_tkm, ps, pe, n, co2e, units, amount in rows:
        period = None if ps is None else (date.fromisoformat(ps), date.fromisoformat(pe))
        out.append(
            Contribution(
                supplier_id=sup,
                product_id=prod,
                stage=stage,
                group=group,
                data_quality=quality,
                gwp=gwp,
                co2e=exact_sum(co2e),
                units_covered=exact_sum(units),
                period=period,
                tkm=exact_sum(amount) if is_tkm else None,
                records=int(n),
            )
        )
    return out


def outputs(conn: Connection, as_of: int = LATEST) -> dict[str, list[OutputFact]]:
    """Effective declared outputs as of ``as_of``, per product."""
    out: dict[str, list[OutputFact]] = {}
    rows = conn.execute(
        text(
            "SELECT product_id, units, period_start, period_end FROM outputs "
            "WHERE seq < :as_of AND (status = 'effective' OR status_seq >= :as_of)"
        ),
        {"as_of": as_of},
    )
    for product_id, units, start, end in rows:
        out.setdefault(product_id, []).append(
            OutputFact(
                product_id,
                Fraction(Decimal(units)),
                date.fromisoformat(start),
                date.fromisoformat(end),
            )
        )
    return out


def products(conn: Connection) -> dict[str, ProductInfo]:
    rows = conn.execute(text("SELECT product_id, supplier_id, mass_kg FROM products"))
    return {p: ProductInfo(p, s, Fraction(Decimal(m))) for p, s, m in rows}


def names(conn: Connection, table: str) -> dict[str, str]:
    """id -> name of every product or supplier (for tables people read)."""
    key = {"products": "product_id", "suppliers": "supplier_id"}[table]
    return dict(conn.execute(text(f"SELECT {key}, name FROM {table}")).all())  # type: ignore[arg-type]
