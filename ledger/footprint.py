"""Computed product footprints: the frozen value that labels are rendered from.

``ledger.query`` / ``ledger.labels`` compute a :class:`ProductFootprint` from effective records;
the renderers (PACT, SVG, HTML, CSV) only format it, so every format shows the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ledger.vocab import STAGES as STAGES  # importable from here too


@dataclass(frozen=True)
class Factor:
    """An emission factor version as the operator registered it (a ``factor`` entry)."""

    factor_id: str
    version: int
    activity: str
    stage: str
    unit: str
    kgco2e_per_unit: Decimal
    gwp: str  # "AR5" | "AR6"
    source: str
    year: int
    region: str


@dataclass(frozen=True)
class ProductFootprint:
    """Footprint of one product over a half-open window ``[period_start, period_end)``.

    All quantities are exact ``Decimal``; rounding is the renderer's job.
    ``by_stage[s]`` is ``None`` when stage ``s`` has no records in the window (reported as
    missing, contributing 0 to the total).
    """

    product_id: str
    product_name: str
    owner_supplier_id: str
    owner_supplier_name: str
    declared_unit: str  # "piece", "kilogram", "liter", ...
    mass_kg: Decimal  # per declared unit, > 0
    category: str | None
    period_start: date
    period_end: date
    kgco2e_per_unit: Decimal
    kgco2e_per_kg: Decimal
    by_stage: dict[str, Decimal | None]
    primary_data_share: Decimal  # percent, 0..100
    record_count: int
    suppliers: tuple[str, ...]  # every supplier that contributed a record
    factors: tuple[Factor, ...] = field(default_factory=tuple)
    reference_units: Decimal = Decimal(0)  # N(p, W): declared units in the window
    reference_flow: str = "declared"  # "declared" | "inferred" (labels refuse inferred)
    #: Σ_S H(S, p, s, W) / N(p, W) per stage: < 1 is a data gap, > 1 means outputs are missing
    coverage: dict[str, Decimal | None] = field(default_factory=dict)

    @property
    def missing_stages(self) -> tuple[str, ...]:
        return tuple(s for s in STAGES if self.by_stage.get(s) is None)

    @property
    def gwp_sets(self) -> tuple[str, ...]:
        return tuple(sorted({f.gwp for f in self.factors}))
