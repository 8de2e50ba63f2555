"""Footprint intensity and scorecard tables (SPEC §6 v2) as plain rows, without pandas.

The maths lives in :mod:`ledger.figures` (exact rationals, shared with labels and ``verify``);
the reads in :mod:`ledger.store.facts` (O(groups), from ``record_sums``). This module chooses
the window and the tree size, calls both, and lays the figures out as rows with the SPEC's
column names. :mod:`ledger.query` turns them into pandas DataFrames; the CLI renders them
directly, so ``carbon-ledger query`` starts without pandas or SQLAlchemy.

* **Exact.** Figure cells hold ``Decimal`` rounded half-even to 12 places once, at the end.
* **As of a tree size.** ``as_of`` (an int, ``"latest"`` or ``"checkpoint"``) computes the
  figures exactly as the ledger stood at that size; the size used is in ``attrs``.
* **Honest comparisons.** ``comparable`` is true only when both windows report the same
  stages, declare their reference flows, and use one GWP set; otherwise ``meets_target`` is
  left empty rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, Generic, TypeVar

from ledger import figures
from ledger.errors import InputError
from ledger.figures import IntensityFigures, ProductFigures, WindowFacts, rounded
from ledger.footprint import STAGES
from ledger.proofs import all_checkpoints, resolve_as_of
from ledger.store import facts as store_facts
from ledger.store.sql import Reader
from ledger.vocab import Window, parse_window

WHOLE_TIME = ("1900-01-01", "9999-12-31")


@dataclass
class Table:
    """Rows of one view, in column order, with what they were computed from (``attrs``)."""

    columns: list[str]
    rows: list[dict[str, Any]]
    attrs: dict[str, Any] = field(default_factory=dict)


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


def window_facts(conn: Reader, window: Window, as_of: int) -> WindowFacts:
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


def _missing_of(fig: IntensityFigures | None) -> list[str] | None:
    return None if fig is None else list(fig.missing_stages)


def view_of(by: str) -> _View:
    """The view for ``by``; anything else is refused before any database is opened."""
    if by not in _VIEWS:
        raise InputError(f"--by must be supplier, product or stage, not {by!r}")
    return _VIEWS[by]


def intensity_table(
    conn: Reader,
    by: str = "supplier",
    window: tuple[str | date, str | date] = WHOLE_TIME,
    baseline: tuple[str | date, str | date] | None = None,
    as_of: int | str | None = "latest",
) -> Table:
    """The intensity rows for ``by`` = supplier | product | stage, on an open read snapshot."""
    return _intensity(conn, by, window, baseline, as_of)[0]


def _intensity(
    conn: Reader,
    by: str,
    window: tuple[str | date, str | date],
    baseline: tuple[str | date, str | date] | None,
    as_of: int | str | None,
) -> tuple[Table, dict[str, Any]]:
    """The rows, and the baseline window's figures by key (the scorecard reads them too)."""
    view = view_of(by)
    now_window = parse_window(*window)
    base_window = parse_window(*baseline) if baseline is not None else None
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
        rows.append({c: row.get(c) for c in view.columns})
    return Table(list(view.columns), rows, {"tree_size": size, "as_of": described}), base


def check_target(target_reduction_pct: Decimal) -> Decimal:
    if not 0 < target_reduction_pct < 100:
        raise InputError(
            f"--target-reduction {target_reduction_pct} must be more than 0 and less than 100 (%)"
        )
    return target_reduction_pct


SCORECARD_COLUMNS = [
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
    "baseline_missing_stages",
    "meets_target",
    "tree_size",
    "root_hash",
]


T = TypeVar("T")


@dataclass(frozen=True)
class Scorecard(Generic[T]):
    """Supplier scorecard for green finance, pinned to the tree size it was computed from.

    ``table`` is a :class:`Table` here and a pandas DataFrame from :mod:`ledger.query`."""

    table: T
    target_reduction_pct: Decimal
    tree_size: int
    root_hash: str | None  # None when no checkpoint covers exactly that size
    checkpoint_note: str | None
    as_of: str


def scorecard_table(
    conn: Reader,
    window: tuple[str | date, str | date],
    baseline: tuple[str | date, str | date],
    target_reduction_pct: Decimal = Decimal(12),
    as_of: int | str | None = "checkpoint",
) -> Scorecard[Table]:
    """Per supplier: intensity now and at baseline, change, comparable, target met.

    ``meets_target`` is True/False only when ``comparable``: the same stages reported in both
    windows, declared reference flows, one GWP set (mixing AR5 and AR6 factors, within a
    window or between them, changes the figure with no physical change). Otherwise None.
    Figures are as of the latest checkpoint by default, so anyone holding that checkpoint and
    the ledger export can recompute them exactly.
    """
    target = check_target(target_reduction_pct)
    size, described = resolve_as_of(conn, as_of)
    now, base = _intensity(conn, "supplier", window, baseline, size)
    pinned = [c for c in all_checkpoints(conn) if c.tree_size == size]
    checkpoint = pinned[-1] if pinned else None
    root = checkpoint.root_hash if checkpoint is not None else None
    rows = []
    for row in now.rows:
        change, same = row["change_pct"], row["comparable"]
        rows.append(
            {
                **{c: row[c] for c in SCORECARD_COLUMNS[:10]},
                "baseline_missing_stages": _missing_of(base.get(row["supplier_id"])),
                "meets_target": None if change is None or not same else bool(change <= -target),
                "tree_size": size,
                "root_hash": root,
            }
        )
    table = Table(list(SCORECARD_COLUMNS), rows, {"tree_size": size, "as_of": described})
    return Scorecard(
        table, target, size, root, checkpoint.note if checkpoint is not None else None, described
    )
