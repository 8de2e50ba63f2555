"""Footprint intensity per supplier, product and stage, on pandas (SPEC §6).

Records counted in a window ``[from, to)`` are the effective ones (not superseded, not
retracted) whose ``period_start`` falls in it. Sums are exact ``Decimal``; ratios are
rounded half-even to :data:`RATIO_PLACES` places, so csv/json figures are reproducible.

Two deliberate refinements of the SPEC §6 formulas (see README "Method"), because several
activities usually cover the *same* units (a bottle's electricity, resin and gas rows each
cover that month's output) and dividing by the sum of their ``units_covered`` would count
the output once per activity:

* Product stage intensity ``I(p, s) = Σ co2e(p, s) / N(p)``, where the reference flow
  ``N(p)`` is the number of declared units produced in the window: the largest
  ``Σ units_covered`` of any one production activity of p (of any activity if p has no
  production records). Legs that cover only some units (a rail leg for 20 % of the output)
  are then spread over the whole output, which is what a per-unit footprint means.
* Supplier stage intensity divides by the product mass S handled in stage s, counting each
  product's units once: ``I(S, s) = Σ co2e(S, s) / Σ_p N_S(p, s) × mass_kg(p)`` with
  ``N_S(p, s)`` the largest ``Σ units_covered`` of one of S's activities for p in s.

A stage with no records contributes 0 and is reported in ``missing_stages``.
Passing ``as_of`` (a tree size, e.g. a checkpoint's) computes the figures exactly as the
ledger stood at that size, so a lender can reproduce them from the checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, text
from sqlmodel import Session

from ledger.errors import InputError
from ledger.footprint import STAGES
from ledger.store import db
from ledger.vocab import parse_date

RATIO_PLACES = 12
_Q = Decimal(1).scaleb(-RATIO_PLACES)
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)
ZERO = Decimal(0)
Window = tuple[date, date]
SUPPLIER_COLUMNS = [
    "supplier_id",
    "records",
    "total_kgco2e",
    *STAGES,
    "intensity_kgco2e_per_kg",
    "primary_data_share",
    "missing_stages",
    "baseline_intensity_kgco2e_per_kg",
    "change_pct",
]
PRODUCT_COLUMNS = [
    "product_id",
    "product_name",
    "records",
    "total_kgco2e",
    "reference_units",
    *STAGES,
    "footprint_kgco2e_per_unit",
    "footprint_kgco2e_per_kg",
    "primary_data_share",
    "missing_stages",
    "baseline_footprint_kgco2e_per_unit",
    "change_pct",
]
STAGE_COLUMNS = [
    "stage",
    "records",
    "total_kgco2e",
    "intensity_kgco2e_per_kg",
    "primary_data_share",
    "baseline_intensity_kgco2e_per_kg",
    "change_pct",
]


def ratio(num: Decimal, den: Decimal) -> Decimal:
    with localcontext(_CTX):
        return (num / den).quantize(_Q)


def change_pct(now: Decimal | None, base: Decimal | None) -> Decimal | None:
    """(now − base) / base × 100; None when either side is missing or base is 0."""
    if now is None or base is None or base == 0:
        return None
    with localcontext(_CTX):
        return ((now - base) * 100 / base).quantize(_Q)


def parse_window(start: str | date, end: str | date) -> Window:
    a = start if isinstance(start, date) else parse_date(start)
    b = end if isinstance(end, date) else parse_date(end)
    if b <= a:
        raise InputError(f"window end {b} must be after its start {a}")
    return a, b


#: One row per (supplier, product, stage, activity, data quality) group of effective records.
#: Sums are exact: PostgreSQL adds ``numeric``; SQLite has no exact decimal type, so it hands
#: back the group's decimal strings and Python adds them as ``Decimal``. Either way only
#: groups, not 10^6 rows, cross into Python.
# "+r.seq": SQLite's unary plus stops the planner using the seq key, so it scans ix_records_groups
_GROUP_SQL = """
SELECT r.supplier_id, r.product_id, r.stage, r.activity, r.data_quality, COUNT(*),
       {co2e}, {units}, MIN(p.mass_kg)
FROM records r JOIN products p ON p.product_id = r.product_id
WHERE r.period_start >= :start AND r.period_start < :end AND +r.seq < :as_of
  AND (r.status = 'effective' OR r.status_seq >= :as_of)
GROUP BY r.supplier_id, r.product_id, r.stage, r.activity, r.data_quality
"""
_SUMS = {
    "sqlite": ("group_concat(r.co2e_kg, ',')", "group_concat(r.units_covered, ',')"),
    "postgresql": ("SUM(CAST(r.co2e_kg AS numeric))", "SUM(CAST(r.units_covered AS numeric))"),
}
#: columns of the frames the figure functions take: one row per record or per group
RECORD_FRAME_COLUMNS = [
    "supplier_id",
    "product_id",
    "stage",
    "activity",
    "data_quality",
    "records",
    "co2e_kg",
    "units_covered",
    "mass_kg",
]


def _connection(source: Engine | Connection | Session) -> tuple[Connection, Any]:
    if isinstance(source, Session):
        return source.connection(), None
    if isinstance(source, Engine):
        manager = db.reading(source)
        return manager.__enter__(), manager
    return source, None


def _exact_sum(value: Any) -> Decimal:
    """A group sum: a Decimal from PostgreSQL, or SQLite's comma-joined decimal strings."""
    if isinstance(value, Decimal):
        return value
    with localcontext(_CTX):
        return sum(map(Decimal, str(value).split(",")), ZERO)


def records_frame(conn: Connection, window: Window, as_of: int | None = None) -> pd.DataFrame:
    """Effective records in the window, grouped, with exact Decimal sums (object columns)."""
    params = {
        "start": window[0].isoformat(),
        "end": window[1].isoformat(),
        "as_of": as_of if as_of is not None else 2**62,
    }
    co2e, units = _SUMS["sqlite" if conn.dialect.name == "sqlite" else "postgresql"]
    rows = conn.execute(text(_GROUP_SQL.format(co2e=co2e, units=units)), params).all()
    frame = pd.DataFrame(
        [
            (sup, prod, stage, act, dq, int(n), _exact_sum(c), _exact_sum(u), Decimal(m))
            for sup, prod, stage, act, dq, n, c, u, m in rows
        ],
        columns=RECORD_FRAME_COLUMNS,
        dtype=object,
    )
    return frame


def _sum(values: Iterable[Decimal]) -> Decimal:
    with localcontext(_CTX):
        return sum(values, ZERO)


def _primary_share(frame: pd.DataFrame) -> Decimal | None:
    total = _sum(frame["co2e_kg"])
    if total == 0:
        return None
    primary = _sum(frame.loc[frame["data_quality"] == "primary", "co2e_kg"])
    with localcontext(_CTX):  # exact whatever decimal context the caller has set
        return ratio(primary * 100, total)


def _per_kg_by_stage(frame: pd.DataFrame) -> dict[str, Decimal | None]:
    """Σ co2e(s) / Σ_(S,p) N_S(p, s) × mass(p) per stage (supplier and stage views).

    ``N_S(p, s)``, the units of p that supplier S handled in stage s, is the largest
    ``Σ units_covered`` of any one of S's activities for p in s, so activities covering the
    same units are not counted twice and alternative modes (road or rail) are not added up.
    """
    out: dict[str, Decimal | None] = dict.fromkeys(STAGES)
    if frame.empty:
        return out
    keys = ["stage", "supplier_id", "product_id"]
    units = frame.groupby([*keys, "activity"])["units_covered"].agg(_sum)
    handled_units = units.groupby(level=[0, 1, 2]).max()
    mass = frame.groupby(keys)["mass_kg"].first()
    co2e = frame.groupby("stage")["co2e_kg"].agg(_sum)
    handled: dict[str, Decimal] = {}
    with localcontext(_CTX):  # exact whatever decimal context the caller has set
        for key, n in handled_units.items():
            stage_key: tuple[str, str, str] = tuple(key)  # type: ignore[arg-type,assignment]
            handled[stage_key[0]] = handled.get(stage_key[0], ZERO) + n * mass.loc[stage_key]
    for stage, kg in handled.items():
        out[stage] = ratio(co2e[stage], kg)
    return out


def _total(by_stage: dict[str, Decimal | None]) -> Decimal | None:
    present = [v for v in by_stage.values() if v is not None]
    return _sum(present) if present else None


def supplier_figures(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for supplier_id, group in frame.groupby("supplier_id", sort=True):
        by_stage = _per_kg_by_stage(group)
        out[str(supplier_id)] = {
            "records": int(group["records"].sum()),
            "total_kgco2e": _sum(group["co2e_kg"]),
            **by_stage,
            "intensity": _total(by_stage),
            "primary_data_share": _primary_share(group),
            "missing_stages": [s for s in STAGES if by_stage[s] is None],
        }
    return out


def reference_units(group: pd.DataFrame) -> Decimal:
    """N(p): units produced in the window (largest Σ units_covered of one production activity)."""
    production = group[group["stage"] == "production"]
    source = production if not production.empty else group
    sums = source.groupby(["stage", "activity"])["units_covered"].agg(_sum)
    return max(sums)  # type: ignore[no-any-return]


def product_figures(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for product_id, group in frame.groupby("product_id", sort=True):
        units = reference_units(group)
        totals = group.groupby("stage")["co2e_kg"].agg(_sum)
        by_stage: dict[str, Decimal | None] = {
            s: ratio(totals[s], units) if s in totals.index else None for s in STAGES
        }
        mass = group["mass_kg"].iloc[0]
        footprint = _sum(v for v in by_stage.values() if v is not None)  # F(p) = Σ_s I(p, s)
        out[str(product_id)] = {
            "records": int(group["records"].sum()),
            "total_kgco2e": _sum(group["co2e_kg"]),
            "reference_units": units,
            **by_stage,
            "footprint": footprint,
            "footprint_per_kg": ratio(footprint, mass),
            "primary_data_share": _primary_share(group),
            "missing_stages": [s for s in STAGES if by_stage[s] is None],
        }
    return out


def stage_figures(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    by_stage = _per_kg_by_stage(frame)
    out: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        group = frame[frame["stage"] == stage]
        out[stage] = {
            "records": int(group["records"].sum()),
            "total_kgco2e": _sum(group["co2e_kg"]),
            "intensity": by_stage[stage],
            "primary_data_share": _primary_share(group) if not group.empty else None,
        }
    return out


@dataclass(frozen=True)
class _View:
    key: str
    figures: Any
    value: str  # the figure compared with the baseline
    columns: list[str]


_VIEWS = {
    "supplier": _View("supplier_id", supplier_figures, "intensity", SUPPLIER_COLUMNS),
    "product": _View("product_id", product_figures, "footprint", PRODUCT_COLUMNS),
    "stage": _View("stage", stage_figures, "intensity", STAGE_COLUMNS),
}


def intensity(
    source: Engine | Connection | Session,
    by: str = "supplier",
    window: tuple[str | date, str | date] = ("1900-01-01", "9999-12-31"),
    baseline: tuple[str | date, str | date] | None = None,
    as_of: int | None = None,
) -> pd.DataFrame:
    """Intensity table for ``by`` = supplier | product | stage (columns of SPEC §6)."""
    if by not in _VIEWS:
        raise InputError(f"--by must be supplier, product or stage, not {by!r}")
    view = _VIEWS[by]
    conn, manager = _connection(source)
    try:
        now = view.figures(records_frame(conn, parse_window(*window), as_of))
        base = (
            view.figures(records_frame(conn, parse_window(*baseline), as_of))
            if baseline is not None
            else {}
        )
        names = _product_names(conn) if by == "product" else {}
    finally:
        if manager is not None:
            manager.__exit__(None, None, None)
    rows = []
    for key, fig in now.items():
        base_value = base.get(key, {}).get(view.value)
        row = {view.key: key, **fig}
        if by == "supplier":
            row["intensity_kgco2e_per_kg"] = row.pop("intensity")
            row["baseline_intensity_kgco2e_per_kg"] = base_value
        elif by == "product":
            row["product_name"] = names.get(key, "")
            row["footprint_kgco2e_per_unit"] = row.pop("footprint")
            row["footprint_kgco2e_per_kg"] = row.pop("footprint_per_kg")
            row["baseline_footprint_kgco2e_per_unit"] = base_value
        else:
            row["intensity_kgco2e_per_kg"] = row.pop("intensity")
            row["baseline_intensity_kgco2e_per_kg"] = base_value
        row["change_pct"] = change_pct(fig[view.value], base_value)
        rows.append(row)
    return pd.DataFrame(rows, columns=view.columns)


def _product_names(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(text("SELECT product_id, name FROM products")).all())  # type: ignore[arg-type]


@dataclass(frozen=True)
class Scorecard:
    """Supplier scorecard for green finance, pinned to the checkpoint it was computed from."""

    table: pd.DataFrame
    target_reduction_pct: Decimal
    tree_size: int
    root_hash: str | None  # None when the ledger has no checkpoint yet
    checkpoint_note: str | None


def scorecard(
    engine: Engine,
    window: tuple[str | date, str | date],
    baseline: tuple[str | date, str | date],
    target_reduction_pct: Decimal = Decimal(12),
) -> Scorecard:
    """Per supplier: intensity, change vs baseline, target met, primary share, records.

    Figures are computed as of the latest signed checkpoint, so anyone holding that
    checkpoint (tree size + root) and the ledger export can recompute them exactly.

    A supplier's intensity sums the stages it reported, so a window that reports more or
    fewer stages than the baseline is not comparable: adding a stage looks like an increase,
    dropping one like a reduction. ``comparable`` says whether both windows cover the same
    stages, and ``meets_target`` is left empty (None) when they do not.
    """
    from ledger.transparency import latest_checkpoint, tree_size

    with db.reading(engine) as conn:
        checkpoint = latest_checkpoint(conn)
        as_of = checkpoint.tree_size if checkpoint is not None else tree_size(conn)
        frame = intensity(conn, "supplier", window, baseline, as_of=as_of)
        base = intensity(conn, "supplier", baseline, None, as_of=as_of)
    base_missing = dict(zip(base["supplier_id"], base["missing_stages"], strict=True))
    frame = frame[
        [
            "supplier_id",
            "intensity_kgco2e_per_kg",
            "baseline_intensity_kgco2e_per_kg",
            "change_pct",
            "primary_data_share",
            "records",
            "missing_stages",
        ]
    ].copy()
    frame["baseline_missing_stages"] = [base_missing.get(s) for s in frame["supplier_id"]]
    frame["comparable"] = [
        base is not None and list(now) == list(base)
        for now, base in zip(frame["missing_stages"], frame["baseline_missing_stages"], strict=True)
    ]
    frame["meets_target"] = [
        None if change is None or not same else bool(change <= -target_reduction_pct)
        for change, same in zip(frame["change_pct"], frame["comparable"], strict=True)
    ]
    frame["tree_size"] = as_of
    frame["root_hash"] = checkpoint.root_hash if checkpoint is not None else None
    return Scorecard(
        frame,
        target_reduction_pct,
        as_of,
        checkpoint.root_hash if checkpoint is not None else None,
        checkpoint.note if checkpoint is not None else None,
    )
