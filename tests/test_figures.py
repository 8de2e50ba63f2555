"""ledger.figures: records summed per key before the rational arithmetic give the same figures.

:func:`ledger.figures.record_contributions` (what labels and ``verify`` feed to
:func:`ledger.figures.weigh`) is cross-checked against the simple reference, one
:func:`ledger.figures.record_contribution` per record: every product, supplier and stage
figure must be the same exact rational.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import figures
from ledger.figures import OutputFact, ProductInfo

WINDOW = (date(2025, 1, 1), date(2026, 1, 1))
PRODUCTS = {
    "p1": ProductInfo("p1", "sup-a", Fraction(1, 2)),
    "p2": ProductInfo("p2", "sup-b", Fraction(3)),
}
OUTPUTS = {
    "p1": [
        OutputFact("p1", Fraction(1200), date(2025, 1, 1), date(2025, 7, 1)),
        OutputFact("p1", Fraction(900), date(2025, 7, 1), date(2026, 1, 1)),
    ],
    "p2": [],  # no declared output: an inferred reference flow
}
PERIODS = [
    ("2025-01-01", "2025-02-01"),
    ("2024-12-15", "2025-01-15"),  # straddles the window start
    ("2025-06-01", "2025-08-01"),  # straddles the two outputs
    ("2025-12-01", "2026-02-01"),  # straddles the window end
]
DECIMALS = st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False).map(str)


@st.composite
def record(draw: st.DrawFn) -> tuple[dict[str, Any], str | None]:
    stage = draw(st.sampled_from(["production", "warehousing", "transport", "packaging"]))
    start, end = draw(st.sampled_from(PERIODS))
    payload = {
        "supplier_id": draw(st.sampled_from(["sup-a", "sup-b"])),
        "product_id": draw(st.sampled_from(["p1", "p2"])),
        "stage": stage,
        "activity": draw(st.sampled_from(["electricity", "road_freight"])),
        "unit": draw(st.sampled_from(["tkm", "kWh"])),
        "amount": draw(DECIMALS),
        "co2e_kg": draw(DECIMALS),
        "units_covered": draw(DECIMALS.filter(lambda v: v != "0")),
        "period_start": start,
        "period_end": end,
        "data_quality": draw(st.sampled_from(["primary", "secondary"])),
    }
    if draw(st.booleans()):
        payload["allocation_group"] = draw(st.sampled_from(["leg-1", "leg-2"]))
    return payload, draw(st.sampled_from(["AR5", "AR6", None]))


def all_figures(contributions: list[figures.Contribution]) -> tuple[Any, ...]:
    facts = figures.weigh(contributions, WINDOW, PRODUCTS, OUTPUTS)
    return (
        figures.product_figures(facts),
        figures.supplier_figures(facts),
        figures.stage_figures(facts),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(record(), max_size=60))
def test_summed_records_give_the_figures_of_one_contribution_per_record(
    records: list[tuple[dict[str, Any], str | None]],
) -> None:
    reference = [figures.record_contribution(p, gwp) for p, gwp in records]
    merged = figures.record_contributions(records)
    assert sum(c.records for c in merged) == len(records)
    assert all_figures(merged) == all_figures(reference)


def test_records_sharing_every_key_become_one_exact_contribution() -> None:
    base = {
        "supplier_id": "sup-a",
        "product_id": "p1",
        "stage": "transport",
        "activity": "road_freight",
        "unit": "tkm",
        "period_start": "2025-01-01",
        "period_end": "2025-02-01",
        "data_quality": "primary",
    }
    rows = [
        ({**base, "amount": "0.1", "co2e_kg": "0.000000000001", "units_covered": "1"}, "AR6"),
        ({**base, "amount": "0.2", "co2e_kg": "12345678901234.5", "units_covered": "2"}, "AR6"),
        ({**base, "amount": "1", "co2e_kg": "1", "units_covered": "1", "note": "x"}, "AR5"),
    ]
    first, second = figures.record_contributions(rows)
    # 0.000000000001 + 12345678901234.5 = 12345678901234.500000000001 exactly (no rounding);
    # tkm 0.1 + 0.2 = 0.3 exactly (a float sum would give 0.30000000000000004)
    assert first.co2e == Fraction("12345678901234.500000000001")
    assert first.tkm == Fraction(3, 10) and first.units_covered == 3 and first.records == 2
    assert first.period == (date(2025, 1, 1), date(2025, 2, 1))
    assert (second.gwp, second.records, second.co2e) == ("AR5", 1, 1)  # another GWP set
