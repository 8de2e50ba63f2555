"""Footprint intensity per supplier, product and stage as pandas tables (SPEC §6 v2).

The rows come from :mod:`ledger.tables` (pandas-free, shared with the CLI), the maths from
:mod:`ledger.figures`, the reads from :mod:`ledger.store.facts`. This module only turns rows
into DataFrames with the SPEC's column names.

* **Exact by default.** Figure columns hold ``Decimal`` rounded half-even to 12 places once,
  at the end; ``numeric=True`` gives float64 columns that ``describe()`` and ``.plot()`` take.
* **As of a tree size.** ``as_of`` (an int, ``"latest"`` or ``"checkpoint"``) computes the
  figures exactly as the ledger stood at that size; the size used is in ``frame.attrs``.
* **Honest comparisons.** ``comparable`` is true only when both windows report the same
  stages, declare their reference flows, and use one GWP set; otherwise ``meets_target`` is
  left empty rather than guessed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd

from ledger.figures import RATIO_PLACES
from ledger.proofs import resolve_as_of
from ledger.store import facts as store_facts
from ledger.tables import (
    PRODUCT_COLUMNS,
    STAGE_COLUMNS,
    SUPPLIER_COLUMNS,
    WHOLE_TIME,
    Scorecard,
    Table,
    check_target,
    intensity_table,
    scorecard_table,
    view_of,
)
from ledger.vocab import parse_window

__all__ = [
    "PRODUCT_COLUMNS",
    "RATIO_PLACES",
    "STAGE_COLUMNS",
    "SUPPLIER_COLUMNS",
    "Scorecard",
    "check_target",
    "intensity",
    "parse_window",
    "resolve_as_of",
    "scorecard",
    "to_frame",
    "to_numeric",
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


def to_frame(table: Table) -> pd.DataFrame:
    """A DataFrame of a :class:`ledger.tables.Table`, its ``attrs`` kept."""
    frame = pd.DataFrame(table.rows, columns=table.columns)
    frame.attrs.update(table.attrs)
    return frame


def intensity(
    source: Any,
    by: str = "supplier",
    window: tuple[str | date, str | date] = WHOLE_TIME,
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
    view_of(by)
    with store_facts.connected(source) as conn:
        frame = to_frame(intensity_table(conn, by, window, baseline, as_of))
    return to_numeric(frame) if numeric else frame


def to_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """float64 copies of the exact figure columns, for ``describe()`` and plotting."""
    out = frame.copy()
    for column in out.columns:
        if column not in _TEXT_COLUMNS:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out.attrs.update(frame.attrs)
    return out


def scorecard(
    source: Any,
    window: tuple[str | date, str | date],
    baseline: tuple[str | date, str | date],
    target_reduction_pct: Decimal = Decimal(12),
    as_of: int | str | None = "checkpoint",
    numeric: bool = False,
) -> Scorecard[pd.DataFrame]:
    """Per supplier: intensity now and at baseline, change, comparable, target met.

    See :func:`ledger.tables.scorecard_table`: ``meets_target`` is True/False only when the
    windows are ``comparable``, else None; figures are as of the latest checkpoint by default.
    """
    with store_facts.connected(source) as conn:
        card = scorecard_table(conn, window, baseline, target_reduction_pct, as_of)
    table = to_frame(card.table)
    return Scorecard[pd.DataFrame](
        to_numeric(table) if numeric else table,
        card.target_reduction_pct,
        card.tree_size,
        card.root_hash,
        card.checkpoint_note,
        card.as_of,
    )
