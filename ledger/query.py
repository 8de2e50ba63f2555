"""Footprint intensity per supplier, product and stage as pandas tables (SPEC §6 v2).

The maths lives in :mod:`ledger.figures` (exact rationals, shared with labels and ``verify``);
the reads in :mod:`ledger.store.facts`. This module only chooses the window and the tree
size, calls both, and lays the figures out as DataFrames with the SPEC's column names.

* **Exact by default.** Figure columns hold ``Decimal`` rounded half-even to 12 places once,
  at the end; ``numeric=True`` gives float64 columns that ``describe()`` and ``.plot()`` take.
* **As of a tree size.** ``as_of`` (an int, ``"latest"`` or ``"checkpoint"``) computes the
  figures exactly as the ledger stood at that size; the size used is in ``frame.attrs``.
* **Honest comparisons.** ``comparable`` is true only when both windows report the same
  stages, declare their reference flows, and use one GWP set; otherwise ``meets_target`` is
  left empty rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pandas as pd

from ledger import figures
from ledger.errors import InputError
from ledger.figures import RATIO_PLACES, IntensityFigures, ProductFigures, WindowFacts, rounded
from ledger.footprint import STAGES
from ledger.store import facts as store_facts
from ledger.transparency import resolve_as_of
from ledger.vocab import Window, parse_window

__all__ = ["RATIO_PLACES", "Scorecard", "intensity", "parse_window", "resolve_as_of", "scorecard"]

SUPPLIER_COLUMNS = [
    "supplier_id",
    "records",
    "total_kgco2e",
    *STAGES,
    "intensity_kgco2e_per_kg",
    "transport_kgco2e_per_tkm",
    "primary_data_share",
    "missing_stages",
    "gwp_sets",
    "baseline_intensity_kgco2e_per_kg",
    "change_pct",
    "comparable",
    "supplier_name",
]
PRODUCT_COLUMNS = [
    "product_id",
    "product_name",
    "records",
    "total_kgco2e",
    "reference_units",
    "reference_flow",
    *STAGES,
    *(f"coverage_{s}" for s in STAGES),
    "footprint_kgco2e_per_unit",
    "footprint_kgco2e_per_kg",
    "primary_data_share",
    "missing_stages",
    "gwp_sets",
    "baseline_footprint_kgco2e_per_unit",
    "change_pct",
    "comparable",
]
STAGE_COLUMNS = [
    "stage",
    "records",
    "total_kgco2e",
    "intensity_kgco2e_per_kg",
    "primary_data_share",
    "gwp_sets",
    "baseline_intensity_kgco2e_per_kg",
    "change_pct",
    "comparable",
]
_TEXT_COLUMNS = {
    "supplier_id",
    "supplier_name",
    "product_id",
    "product_name",
    "stage",
    "reference_flow",
    "missing_stages",
    "gwp_sets",
    "comparable",
    "meets_target",
    "baseline_missing_stages",
    "root_hash",
}


def window_facts(conn: Any, window: Window, as_of: int) -> WindowFacts:
    """Read and weigh one window's contributions (the input of every view)."""
    return figures.weigh(
        store_facts.contributions(conn, window, as_of),
        window,
        store_facts.products(conn),
        store_facts.outputs(conn, as_of),
    )


def _stage_cells(values: dict[str, Fraction | None], prefix: str = "") -> dict[str, Any]:
    return {f"{prefix}{s}": rounded(values[s]) for s in STAGES}


def _supplier_row(fig: IntensityFigures) -> dict[str, Any]:
    return {
        "supplier_id": fig.key,
        "records": fig.records,
        "total_kgco2e": rounded(fig.total_kgco2e),
        **_stage_cells(fig.by_stage),
        "intensity_kgco2e_per_kg": rounded(fig.intensity),
        "transport_kgco2e_per_tkm": rounded(fig.transport_per_tkm),
        "primary_data_share": rounded(fig.primary_data_share),
        "missing_stages": list(fig.missing_stages),
        "gwp_sets": list(fig.gwp_sets),
    }


def _stage_row(fig: IntensityFigures) -> dict[str, Any]:
    return {
        "stage": fig.key,
        "records": fig.records,
        "total_kgco2e": rounded(fig.total_kgco2e),
        "intensity_kgco2e_per_kg": rounded(fig.intensity),
        "primary_data_share": rounded(fig.primary_data_share),
        "gwp_sets": list(fig.gwp_sets),
    }


def _product_row(fig: ProductFigures) -> dict[str, Any]:
    return {
        "product_id": fig.product_id,
        "records": fig.records,
        "total_kgco2e": rounded(fig.total_kgco2e),
        "reference_units": rounded(fig.reference_units),
        "reference_flow": fig.reference_flow,
        **_stage_cells(fig.by_stage),
        **_stage_cells(fig.coverage, "coverage_"),
        "footprint_kgco2e_per_unit": rounded(fig.footprint),
        "footprint_kgco2e_per_kg": rounded(fig.footprint_per_kg),
        "primary_data_share": rounded(fig.primary_data_share),
        "missing_stages": list(fig.missing_stages),
        "gwp_sets": list(fig.gwp_sets),
    }


@dataclass(frozen=True)
class _View:
    key: str
    compute: Any  # WindowFacts -> {key: figures}
    row: Any  # figures -> row dict
    value: str  # the figure compared with the baseline
    baseline_column: str
    columns: list[str]


_VIEWS = {
    "supplier": _View(
        "supplier_id",
        figures.supplier_figures,
        _supplier_row,
        "intensity",
        "baseline_intensity_kgco2e_per_kg",
        SUPPLIER_COLUMNS,
    ),
    "product": _View(
        "product_id",
        figures.product_figures,
        _product_row,
        "footprint",
        "baseline_footprint_kgco2e_per_unit",
        PRODUCT_COLUMNS,
    ),
    "stage": _View(
        "stage",
        figures.stage_figures,
        _stage_row,
        "intensity",
        "baseline_intensity_kgco2e_per_kg",
        STAGE_COLUMNS,
    ),
}


def _declared(fig: Any) -> bool:
    if isinstance(fig, ProductFigures):
        return fig.reference_flow == "declared"
    return bool(fig.reference_flows_declared)


def _missing(fig: Any) -> tuple[str, ...]:
    if isinstance(fig, IntensityFigures) and fig.key in STAGES:
        return ()  # a stage view row has no stages to miss
    return tuple(fig.missing_stages)


def intensity(
    source: Any,
    by: str = "supplier",
    window: tuple[str | date, str | date] = ("1900-01-01", "9999-12-31"),
    baseline: tuple[str | date, str | date] | None = None,
    as_of: int | str | None = "latest",
    numeric: bool = False,
) -> pd.DataFrame:
    """Intensity table for ``by`` = supplier | product | stage (the columns of SPEC §6).

    ``source`` is a SQLAlchemy Engine, Connection or SQLModel Session. ``as_of`` is a tree
    size, ``"latest"`` (the default here) or ``"checkpoint"``; the size used is in
    ``frame.attrs["tree_size"]``. Figures are exact ``Decimal`` unless ``numeric=True``.

    >>> intensity(engine, "product", ("2025-01-01", "2026-01-01"))  # doctest: +SKIP
    """
    if by not in _VIEWS:
        raise InputError(f"--by must be supplier, product or stage, not {by!r}")
    view = _VIEWS[by]
    now_window = parse_window(*window)
    base_window = parse_window(*baseline) if baseline is not None else None
    with store_facts.connected(source) as conn:
        size, described = resolve_as_of(conn, as_of)
        now = view.compute(window_facts(conn, now_window, size))
        base = view.compute(window_facts(conn, base_window, size)) if base_window else {}
        names = (
            store_facts.names(conn, "products" if by == "product" else "suppliers")
            if by != "stage"
            else {}
        )
    rows = []
    for key, fig in now.items():
        before = base.get(key)
        row = view.row(fig)
        if by != "stage":
            row[f"{by}_name"] = names.get(key, "")
        row[view.baseline_column] = rounded(getattr(before, view.value, None))
        row["change_pct"] = rounded(
            figures.change_pct(getattr(fig, view.value), getattr(before, view.value, None))
        )
        row["comparable"] = before is not None and figures.comparable(
            _missing(fig),
            _missing(before),
            fig.gwp_sets,
            before.gwp_sets,
            _declared(fig) and _declared(before),
        )
        rows.append(row)
    frame = pd.DataFrame(rows, columns=view.columns)
    frame.attrs.update(tree_size=size, as_of=described)
    return to_numeric(frame) if numeric else frame


def to_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """float64 copies of the exact figure columns, for ``describe()`` and plotting."""
    out = frame.copy()
    for column in out.columns:
        if column not in _TEXT_COLUMNS:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out.attrs.update(frame.attrs)
    return out


@dataclass(frozen=True)
class Scorecard:
    """Supplier scorecard for green finance, pinned to the tree size it was computed from."""

    table: pd.DataFrame
    target_reduction_pct: Decimal
    tree_size: int
    root_hash: str | None  # None when no checkpoint covers exactly that size
    checkpoint_note: str | None
    as_of: str


def check_target(target_reduction_pct: Decimal) -> Decimal:
    if not 0 < target_reduction_pct < 100:
        raise InputError(
            f"--target-reduction {target_reduction_pct} must be more than 0 and less than 100 (%)"
        )
    return target_reduction_pct


def scorecard(
    source: Any,
    window: tuple[str | date, str | date],
    baseline: tuple[str | date, str | date],
    target_reduction_pct: Decimal = Decimal(12),
    as_of: int | str | None = "checkpoint",
    numeric: bool = False,
) -> Scorecard:
    """Per supplier: intensity now and at baseline, change, comparable, target met.

    ``meets_target`` is True/False only when ``comparable``: the same stages reported in both
    windows, declared reference flows, one GWP set (mixing AR5 and AR6 factors, within a
    window or between them, changes the figure with no physical change). Otherwise None.
    Figures are as of the latest checkpoint by default, so anyone holding that checkpoint and
    the ledger export can recompute them exactly.
    """
    from ledger.transparency import all_checkpoints

    target = check_target(target_reduction_pct)
    with store_facts.connected(source) as conn:
        size, described = resolve_as_of(conn, as_of)
        frame = intensity(conn, "supplier", window, baseline, as_of=size)
        base = intensity(conn, "supplier", baseline, None, as_of=size)
        pinned = [c for c in all_checkpoints(conn) if c.tree_size == size]
    base_missing = dict(zip(base["supplier_id"], base["missing_stages"], strict=True))
    table = frame[
        [
            "supplier_id",
            "supplier_name",
            "intensity_kgco2e_per_kg",
            "baseline_intensity_kgco2e_per_kg",
            "change_pct",
            "comparable",
            "primary_data_share",
            "records",
            "missing_stages",
            "gwp_sets",
        ]
    ].copy()
    table["baseline_missing_stages"] = [base_missing.get(s) for s in table["supplier_id"]]
    table["meets_target"] = [
        None if change is None or not same else bool(change <= -target)
        for change, same in zip(table["change_pct"], table["comparable"], strict=True)
    ]
    checkpoint = pinned[-1] if pinned else None
    table["tree_size"] = size
    table["root_hash"] = checkpoint.root_hash if checkpoint is not None else None
    table.attrs.update(tree_size=size, as_of=described)
    return Scorecard(
        to_numeric(table) if numeric else table,
        target,
        size,
        checkpoint.root_hash if checkpoint is not None else None,
        checkpoint.note if checkpoint is not None else None,
        described,
    )
