"""ledger.query on a small hand-built world, every figure worked out by hand (SPEC §5-§6).

The world is deliberately tiny and uses round numbers so that each expected figure below can
be checked with pencil and paper. The formulas are the ones documented in ``ledger/query.py``:

* effective records (not superseded, not retracted) whose ``period_start`` is in ``[from, to)``;
* product stage intensity ``I(p, s) = Σ co2e(p, s) / N(p)`` with the reference flow ``N(p)`` the
  largest ``Σ units_covered`` of one *production* activity of p (of any (stage, activity) when p
  has no production record);
* supplier stage intensity ``I(S, s) = Σ co2e(S, s) / Σ_p N_S(p, s) × mass_kg(p)`` with
  ``N_S(p, s)`` the largest ``Σ units_covered`` of one of S's activities for p in s;
* totals are sums of the (already rounded) stage figures; every ratio is rounded half-even to
  12 decimal places; ``change_pct = (now − base) × 100 / base``;
* primary share = primary co2e × 100 / all co2e.

Factors (written by the test, see FACTORS_CSV), kgCO2e per unit:
    t-elec v1 electricity/production 0.5 /kWh     t-elec v2 0.4 /kWh (latest)
    t-elec-wh electricity/warehousing 0.5 /kWh    t-resin pet_resin/production 3 /kg
    t-road road_freight 0.1 /tkm                  t-rail rail_freight 0.03 /tkm
    t-board corrugated_box 1.2 /kg                t-crate reusable_crate 2 /kg
Products (mass per declared unit): P-BOTTLE 2 kg (sup-bev), P-CUP 0.5 kg (sup-bev),
P-BANK 0.25 kg (sup-elec), P-SLEEVE 0.1 kg (sup-pack).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from ledger import keys, query, records, registry, transparency
from ledger.store.db import make_engine

D = Decimal
EVIDENCE = "ab" * 32
Y2024 = ("2024-01-01", "2025-01-01")
Y2025 = ("2025-01-01", "2026-01-01")
SUPPLIERS = ("sup-bev", "sup-elec", "sup-logi", "sup-pack")
FACTORS_CSV = """\
factor_id,version,activity,stage,unit,kgco2e_per_unit,gwp,source,year,region
t-elec,1,electricity,production,kWh,0.5,AR5,test grid v1,2023,CN
t-elec,2,electricity,production,kWh,0.4,AR5,test grid v2,2024,CN
t-elec-wh,1,electricity,warehousing,kWh,0.5,AR5,test grid (warehousing),2023,CN
t-resin,1,pet_resin,production,kg,3,AR5,test resin,2024,CN
t-road,1,road_freight,transport,tkm,0.1,AR5,test road,2024,CN
t-rail,1,rail_freight,transport,tkm,0.03,AR5,test rail,2024,CN
t-board,1,corrugated_box,packaging,kg,1.2,AR5,test board,2024,CN
t-crate,1,reusable_crate,packaging,kg,2,AR5,test crate,2024,CN
"""
PRODUCTS = [  # product_id, owner, name, mass_kg
    ("P-BOTTLE", "sup-bev", "Test bottle", "2"),
    ("P-CUP", "sup-bev", "Test cup", "0.5"),
    ("P-BANK", "sup-elec", "Test power bank", "0.25"),
    ("P-SLEEVE", "sup-pack", "Test sleeve", "0.1"),
]

H1, H2 = ("2025-01-01", "2025-07-01"), ("2025-07-01", "2026-01-01")
B24 = ("2024-03-01", "2024-04-01")


def _row(rid: str, product: str, stage: str, activity: str, period: tuple[str, str],
         units: str, **extra: str) -> dict[str, str]:
    return {"record_id": rid, "product_id": product, "stage": stage, "activity": activity,
            "units_covered": units, "period_start": period[0], "period_end": period[1],
            **extra}


# (supplier, row, expected co2e_kg) — appended in this order.
RECORDS: list[tuple[str, dict[str, str], str]] = [
    # ---- 2024 (baseline) ----
    # 2000 kWh × 0.5 (v1 pinned) = 1000
    ("sup-bev", _row("b24-elec", "P-BOTTLE", "production", "electricity", B24, "1500",
                     amount="2000", unit="kWh", factor_id="t-elec", factor_version="1"), "1000"),
    # 200 kg × 3 = 600
    ("sup-bev", _row("b24-resin", "P-BOTTLE", "production", "pet_resin", B24, "1500",
                     amount="200", unit="kg", factor_id="t-resin"), "600"),
    # 400 kWh × 0.5 = 200
    ("sup-bev", _row("b24-cup", "P-CUP", "production", "electricity", B24, "2000",
                     amount="400", unit="kWh", factor_id="t-elec", factor_version="1"), "200"),
    # 3000 tkm × 0.1 = 300; starts 2024-12-15 and ends in 2025: counted in 2024 (period_start)
    ("sup-logi", _row("l24-road", "P-BOTTLE", "transport", "road_freight",
                      ("2024-12-15", "2025-01-15"), "1500",
                      amount="3000", unit="tkm", factor_id="t-road"), "300"),
    # 250 kg × 1.2 = 300
    ("sup-pack", _row("p24-board", "P-BOTTLE", "packaging", "corrugated_box", B24, "1500",
                      amount="250", unit="kg", factor_id="t-board"), "300"),
    # 300 kWh × 0.5 = 150
    ("sup-elec", _row("e24-elec", "P-BANK", "production", "electricity", B24, "1000",
                      amount="300", unit="kWh", factor_id="t-elec", factor_version="1"), "150"),
    # ---- 2025 ----
    # version pinned: 1000 kWh × 0.5 (v1) = 500, first half of the output (750 units)
    ("sup-bev", _row("bev25-elec-h1", "P-BOTTLE", "production", "electricity", H1, "750",
                     amount="1000", unit="kWh", factor_id="t-elec", factor_version="1"), "500"),
    # latest version (v2): 1200 kWh × 0.4 = 480 — wrong reading, superseded below
    ("sup-bev", _row("bev25-elec-h2", "P-BOTTLE", "production", "electricity", H2, "750",
                     amount="1200", unit="kWh", factor_id="t-elec"), "480"),
    # 150 kg × 3 = 450, covers the whole year's 1500 units (same units as electricity)
    ("sup-bev", _row("bev25-resin", "P-BOTTLE", "production", "pet_resin", Y2025, "1500",
                     amount="150", unit="kg", factor_id="t-resin"), "450"),
    # measured (no factor): 90, primary, with evidence; covers 1000 of the 1500 units
    ("sup-bev", _row("bev25-gas", "P-BOTTLE", "production", "natural_gas", Y2025, "1000",
                     amount="40", unit="m3", co2e_kg="90", data_quality="primary",
                     evidence_sha256=EVIDENCE), "90"),
    # primary quality with a factor: 300 kWh × 0.4 = 120
    ("sup-bev", _row("bev25-cup", "P-CUP", "production", "electricity", Y2025, "2000",
                     amount="300", unit="kWh", factor_id="t-elec", data_quality="primary"),
     "120"),
    # 200 kWh × 0.5 = 100
    ("sup-bev", _row("bev25-wh", "P-BOTTLE", "warehousing", "electricity", Y2025, "1500",
                     amount="200", unit="kWh", factor_id="t-elec-wh"), "100"),
    # 50 kWh × 0.5 = 25 — retracted below
    ("sup-bev", _row("bev25-cup-wh", "P-CUP", "warehousing", "electricity", Y2025, "2000",
                     amount="50", unit="kWh", factor_id="t-elec-wh"), "25"),
    # correction of bev25-elec-h2: 1000 kWh × 0.4 (latest v2) = 400
    ("sup-bev", _row("bev25-elec-h2-fix", "P-BOTTLE", "production", "electricity", H2, "750",
                     amount="1000", unit="kWh", factor_id="t-elec",
                     supersedes="bev25-elec-h2"), "400"),
    # modal split: road for 1200 units: 400 km × 2400 kg / 1000 = 960 tkm × 0.1 = 96
    ("sup-logi", _row("l25-road", "P-BOTTLE", "transport", "road_freight", Y2025, "1200",
                      distance_km="400", mass_kg="2400", factor_id="t-road"), "96"),
    # ... and rail for the other 300 units: 1000 km × 600 kg / 1000 = 600 tkm × 0.03 = 18
    ("sup-logi", _row("l25-rail", "P-BOTTLE", "transport", "rail_freight", Y2025, "300",
                      distance_km="1000", mass_kg="600", factor_id="t-rail"), "18"),
    # 200 tkm × 0.1 = 20
    ("sup-logi", _row("l25-cup", "P-CUP", "transport", "road_freight", Y2025, "2000",
                      amount="200", unit="tkm", factor_id="t-road"), "20"),
    # 200 kg × 1.2 = 240
    ("sup-pack", _row("p25-board", "P-BOTTLE", "packaging", "corrugated_box", Y2025, "1500",
                      amount="200", unit="kg", factor_id="t-board"), "240"),
    # reusable crate: 60 kg × 2 / 40 uses = 3
    ("sup-pack", _row("p25-crate", "P-BOTTLE", "packaging", "reusable_crate", Y2025, "1500",
                      amount="60", unit="kg", factor_id="t-crate", reuse_cycles="40"), "3"),
    # 20 kg × 1.2 = 24
    ("sup-pack", _row("p25-cup", "P-CUP", "packaging", "corrugated_box", Y2025, "2000",
                      amount="20", unit="kg", factor_id="t-board"), "24"),
    # P-SLEEVE has no production record: N = largest Σ units of any (stage, activity)
    # 20 kWh × 0.5 = 10, 1000 units
    ("sup-pack", _row("p25-sleeve-wh", "P-SLEEVE", "warehousing", "electricity", Y2025,
                      "1000", amount="20", unit="kWh", factor_id="t-elec-wh"), "10"),
    # 10 kg × 2 / 20 uses = 1, 600 units
    ("sup-pack", _row("p25-sleeve-crate", "P-SLEEVE", "packaging", "reusable_crate", Y2025,
                      "600", amount="10", unit="kg", factor_id="t-crate", reuse_cycles="20"),
     "1"),
    # 2025 electricity at v2: 250 kWh × 0.4 = 100
    ("sup-elec", _row("e25-elec", "P-BANK", "production", "electricity", Y2025, "1000",
                      amount="250", unit="kWh", factor_id="t-elec"), "100"),
    # starts on the window's exclusive end: in neither window. 1000 kWh × 0.4 = 400
    ("sup-elec", _row("e26-elec", "P-BANK", "production", "electricity",
                      ("2026-01-01", "2026-02-01"), "1000",
                      amount="1000", unit="kWh", factor_id="t-elec"), "400"),
]


def build_world(url: str, key_dir: Path, tmp_path: Path) -> dict[str, Any]:
    engine = make_engine(url)
    operator = keys.load_private(key_dir / "operator.key")
    registry.init_ledger(engine, operator, "test.example/query")
    skeys = {}
    for sid in SUPPLIERS:
        registry.add_supplier(engine, sid, f"Supplier {sid}", "CN",
                              keys.load_public(key_dir / f"{sid}.key.pub"), operator)
        skeys[sid] = keys.load_private(key_dir / f"{sid}.key")
    factors = tmp_path / "factors.csv"
    factors.write_text(FACTORS_CSV, encoding="utf-8")
    registry.import_factors(engine, factors, operator)
    for pid, owner, name, mass in PRODUCTS:
        records.add_product(engine, owner, skeys[owner], pid, name, "piece", mass)
    for sid, row, co2e in RECORDS:
        payload, _ = records.append_record(engine, sid, skeys[sid], row)
        assert payload["co2e_kg"] == co2e, row["record_id"]
        if row.get("factor_id") == "t-elec":
            # pinned stays at v1; no version given pins the latest, v2
            assert payload["factor_version"] == int(row.get("factor_version", "2"))
        if row["record_id"] == "l25-road":
            assert (payload["amount"], payload["unit"]) == ("960", "tkm")
    records.retract(engine, "sup-bev", skeys["sup-bev"], "bev25-cup-wh", "double counted")
    return {"engine": engine, "operator": operator, "keys": skeys}


@pytest.fixture
def small(db_url: str, key_dir: Path, tmp_path: Path) -> dict[str, Any]:
    return build_world(db_url, key_dir, tmp_path)


@pytest.fixture
def small_sqlite(sqlite_url: str, key_dir: Path, tmp_path: Path) -> dict[str, Any]:
    world = build_world(sqlite_url, key_dir, tmp_path)
    world["url"] = sqlite_url
    return world


def rows_by(frame: pd.DataFrame, key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in frame.to_dict("records"):
        name = str(row.pop(key))
        out[name] = {
            str(k): (None if isinstance(v, float) and v != v else v) for k, v in row.items()
        }
    return out


def assert_figures(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Exact comparison; Decimals must be Decimals (not floats) and equal."""
    assert set(actual) == set(expected)
    for column, want in expected.items():
        got = actual[column]
        if isinstance(want, Decimal):
            assert isinstance(got, Decimal), (column, got)
        assert got == want, (column, got, want)


# ---------------------------------------------------------------------------------------
# Expected figures, 2025 window, 2024 baseline.
#
# sup-bev 2025 effective: bev25-elec-h1 500, bev25-elec-h2-fix 400 (h2 480 superseded),
#   bev25-resin 450, bev25-gas 90 (primary), bev25-cup 120 (primary), bev25-wh 100
#   (bev25-cup-wh 25 retracted)                                   -> 6 records, Σ = 1660
#   production co2e = 500 + 400 + 450 + 90 + 120 = 1560
#   N_S(BOTTLE, production) = max(electricity 750 + 750, pet_resin 1500, natural_gas 1000)
#                           = 1500 -> 1500 × 2 kg = 3000 kg
#   N_S(CUP, production)    = 2000 -> 2000 × 0.5 kg = 1000 kg
#   I(production) = 1560 / 4000 = 0.39
#   I(warehousing) = 100 / (1500 × 2) = 0.0333… -> 0.033333333333
#   I = 0.39 + 0.033333333333 = 0.423333333333
#   primary share = (90 + 120) × 100 / 1660 = 12.6506024096385… -> 12.650602409639
#   baseline 2024: production (1000 + 600 + 200) / (1500 × 2 + 2000 × 0.5) = 1800/4000 = 0.45
#   change = (0.423333333333 − 0.45) × 100 / 0.45 = −2.6666666667 / 0.45 = −5.925925926
# sup-elec: e25-elec 100 (e26-elec starts 2026-01-01: out) -> 100 / (1000 × 0.25) = 0.4
#   baseline 150 / 250 = 0.6; change = −0.2 × 100 / 0.6 = −33.333… -> −33.333333333333
# sup-logi: 96 + 18 + 20 = 134, 3 records
#   N_S(BOTTLE, transport) = max(road 1200, rail 300) = 1200 -> 2400 kg; CUP 2000 × 0.5 = 1000
#   I(transport) = 134 / 3400 = 0.03941176470588… -> 0.039411764706
#   baseline l24-road 300 / (1500 × 2) = 0.1
#   change = (0.039411764706 − 0.1) × 100 / 0.1 = −60.588235294
# sup-pack: 240 + 3 + 24 + 10 + 1 = 278, 5 records
#   warehousing: 10 / (1000 × 0.1) = 0.1
#   packaging: (240 + 3 + 24 + 1) / (max(1500, 1500) × 2 + 2000 × 0.5 + 600 × 0.1)
#            = 268 / 4060 = 0.0660098522167… -> 0.066009852217
#   I = 0.1 + 0.066009852217 = 0.166009852217
#   baseline p24-board 300 / 3000 = 0.1; change = 0.066009852217 × 100 / 0.1 = 66.009852217
# ---------------------------------------------------------------------------------------
SUPPLIER_2025 = {
    "sup-bev": {
        "records": 6, "total_kgco2e": D("1660"),
        "production": D("0.39"), "warehousing": D("0.033333333333"),
        "transport": None, "packaging": None,
        "intensity_kgco2e_per_kg": D("0.423333333333"),
        "primary_data_share": D("12.650602409639"),
        "missing_stages": ["transport", "packaging"],
        "baseline_intensity_kgco2e_per_kg": D("0.45"),
        "change_pct": D("-5.925925926"),
    },
    "sup-elec": {
        "records": 1, "total_kgco2e": D("100"),
        "production": D("0.4"), "warehousing": None, "transport": None, "packaging": None,
        "intensity_kgco2e_per_kg": D("0.4"),
        "primary_data_share": D("0"),
        "missing_stages": ["warehousing", "transport", "packaging"],
        "baseline_intensity_kgco2e_per_kg": D("0.6"),
        "change_pct": D("-33.333333333333"),
    },
    "sup-logi": {
        "records": 3, "total_kgco2e": D("134"),
        "production": None, "warehousing": None, "transport": D("0.039411764706"),
        "packaging": None,
        "intensity_kgco2e_per_kg": D("0.039411764706"),
        "primary_data_share": D("0"),
        "missing_stages": ["production", "warehousing", "packaging"],
        "baseline_intensity_kgco2e_per_kg": D("0.1"),
        "change_pct": D("-60.588235294"),
    },
    "sup-pack": {
        "records": 5, "total_kgco2e": D("278"),
        "production": None, "warehousing": D("0.1"), "transport": None,
        "packaging": D("0.066009852217"),
        "intensity_kgco2e_per_kg": D("0.166009852217"),
        "primary_data_share": D("0"),
        "missing_stages": ["production", "transport"],
        "baseline_intensity_kgco2e_per_kg": D("0.1"),
        "change_pct": D("66.009852217"),
    },
}

# ---------------------------------------------------------------------------------------
# Products, 2025 (per declared unit; reference flow N(p) from production):
# P-BANK: e25-elec 100; N = 1000 -> production 0.1, footprint 0.1, per kg 0.1 / 0.25 = 0.4
#   baseline 150 / 1000 = 0.15; change = −0.05 × 100 / 0.15 = −33.333333333333
# P-BOTTLE: 9 records: bev 500, 400, 450, 90, 100; logi 96, 18; pack 240, 3 -> Σ 1897
#   N = max(electricity 750 + 750, pet_resin 1500, natural_gas 1000) = 1500
#   production (500 + 400 + 450 + 90) / 1500 = 1440 / 1500 = 0.96
#   warehousing 100 / 1500 = 0.0666… -> 0.066666666667
#   transport (96 + 18) / 1500 = 0.076  (rail leg spread over the whole output)
#   packaging (240 + 3) / 1500 = 0.162
#   F = 0.96 + 0.066666666667 + 0.076 + 0.162 = 1.264666666667
#   per kg = 1.264666666667 / 2 = 0.6323333333335 -> half-even -> 0.632333333334
#   primary share = 90 × 100 / 1897 = 4.74433315761729… -> 4.744333157617
#   baseline: N = max(1500, 1500) = 1500; production (1000 + 600) / 1500 = 1.066666666667,
#     transport 300 / 1500 = 0.2, packaging 300 / 1500 = 0.2 -> F = 1.466666666667
#   change = (1.264666666667 − 1.466666666667) × 100 / 1.466666666667
#          = −20.2 / 1.466666666667 = −13.77272727272414… -> −13.772727272724
#   (303/22 = 13.772727272727… less 13.77 × 3.3e-13 / 1.47 ≈ 3.1e-12 for the rounded F)
# P-CUP: bev25-cup 120 (primary), l25-cup 20, p25-cup 24 -> Σ 164; N = 2000
#   production 0.06, transport 0.01, packaging 0.012 -> F = 0.082, per kg 0.164
#   primary 120 × 100 / 164 = 73.1707317073170… -> 73.170731707317
#   baseline 200 / 2000 = 0.1; change = −0.018 × 100 / 0.1 = −18
# P-SLEEVE: no production: N = max(warehousing/electricity 1000, packaging/reusable_crate 600)
#   = 1000; warehousing 10 / 1000 = 0.01, packaging 1 / 1000 = 0.001 -> F = 0.011,
#   per kg 0.011 / 0.1 = 0.11; no 2024 records -> baseline and change None
# ---------------------------------------------------------------------------------------
PRODUCT_2025 = {
    "P-BANK": {
        "product_name": "Test power bank", "records": 1, "total_kgco2e": D("100"),
        "reference_units": D("1000"),
        "production": D("0.1"), "warehousing": None, "transport": None, "packaging": None,
        "footprint_kgco2e_per_unit": D("0.1"), "footprint_kgco2e_per_kg": D("0.4"),
        "primary_data_share": D("0"),
        "missing_stages": ["warehousing", "transport", "packaging"],
        "baseline_footprint_kgco2e_per_unit": D("0.15"),
        "change_pct": D("-33.333333333333"),
    },
    "P-BOTTLE": {
        "product_name": "Test bottle", "records": 9, "total_kgco2e": D("1897"),
        "reference_units": D("1500"),
        "production": D("0.96"), "warehousing": D("0.066666666667"),
        "transport": D("0.076"), "packaging": D("0.162"),
        "footprint_kgco2e_per_unit": D("1.264666666667"),
        "footprint_kgco2e_per_kg": D("0.632333333334"),
        "primary_data_share": D("4.744333157617"),
        "missing_stages": [],
        "baseline_footprint_kgco2e_per_unit": D("1.466666666667"),
        "change_pct": D("-13.772727272724"),
    },
    "P-CUP": {
        "product_name": "Test cup", "records": 3, "total_kgco2e": D("164"),
        "reference_units": D("2000"),
        "production": D("0.06"), "warehousing": None, "transport": D("0.01"),
        "packaging": D("0.012"),
        "footprint_kgco2e_per_unit": D("0.082"), "footprint_kgco2e_per_kg": D("0.164"),
        "primary_data_share": D("73.170731707317"),
        "missing_stages": ["warehousing"],
        "baseline_footprint_kgco2e_per_unit": D("0.1"),
        "change_pct": D("-18"),
    },
    "P-SLEEVE": {
        "product_name": "Test sleeve", "records": 2, "total_kgco2e": D("11"),
        "reference_units": D("1000"),
        "production": None, "warehousing": D("0.01"), "transport": None,
        "packaging": D("0.001"),
        "footprint_kgco2e_per_unit": D("0.011"), "footprint_kgco2e_per_kg": D("0.11"),
        "primary_data_share": D("0"),
        "missing_stages": ["production", "transport"],
        "baseline_footprint_kgco2e_per_unit": None,
        "change_pct": None,
    },
}

# ---------------------------------------------------------------------------------------
# Stages, 2025 (Σ over suppliers of N_S(p, s) × mass):
# production: sup-bev 1560 + sup-elec 100 = 1660, 6 records; kg = 4000 + 1000 × 0.25 = 4250
#   I = 1660 / 4250 = 0.39058823529411… -> 0.390588235294; primary 210 × 100 / 1660
#   baseline (1800 + 150) / 4250 = 1950 / 4250 = 0.45882352941176… -> 0.458823529412
#   change = (0.390588235294 − 0.458823529412) × 100 / 0.458823529412
#          = −6.8235294118 / 0.458823529412 = −14.87179487186416… -> −14.871794871864
# warehousing: 100 + 10 = 110, 2 records; kg = 1500 × 2 + 1000 × 0.1 = 3100
#   I = 110 / 3100 = 0.0354838709677… -> 0.035483870968; no 2024 records -> None
# transport: 134, 3 records, 0.039411764706; baseline 0.1; change −60.588235294
# packaging: 268, 4 records, 0.066009852217; baseline 0.1
#   change = (0.066009852217 − 0.1) × 100 / 0.1 = −33.990147783
# ---------------------------------------------------------------------------------------
STAGE_2025 = {
    "production": {
        "records": 6, "total_kgco2e": D("1660"),
        "intensity_kgco2e_per_kg": D("0.390588235294"),
        "primary_data_share": D("12.650602409639"),
        "baseline_intensity_kgco2e_per_kg": D("0.458823529412"),
        "change_pct": D("-14.871794871864"),
    },
    "warehousing": {
        "records": 2, "total_kgco2e": D("110"),
        "intensity_kgco2e_per_kg": D("0.035483870968"),
        "primary_data_share": D("0"),
        "baseline_intensity_kgco2e_per_kg": None,
        "change_pct": None,
    },
    "transport": {
        "records": 3, "total_kgco2e": D("134"),
        "intensity_kgco2e_per_kg": D("0.039411764706"),
        "primary_data_share": D("0"),
        "baseline_intensity_kgco2e_per_kg": D("0.1"),
        "change_pct": D("-60.588235294"),
    },
    "packaging": {
        "records": 4, "total_kgco2e": D("268"),
        "intensity_kgco2e_per_kg": D("0.066009852217"),
        "primary_data_share": D("0"),
        "baseline_intensity_kgco2e_per_kg": D("0.1"),
        "change_pct": D("-33.990147783"),
    },
}


def check_views(engine: Any) -> None:
    sup = query.intensity(engine, by="supplier", window=Y2025, baseline=Y2024)
    assert list(sup.columns) == query.SUPPLIER_COLUMNS
    assert list(sup["supplier_id"]) == sorted(SUPPLIER_2025)
    got = rows_by(sup, "supplier_id")
    for sid, want in SUPPLIER_2025.items():
        assert_figures(got[sid], want)

    prod = query.intensity(engine, by="product", window=Y2025, baseline=Y2024)
    assert list(prod.columns) == query.PRODUCT_COLUMNS
    got = rows_by(prod, "product_id")
    assert list(got) == sorted(PRODUCT_2025)
    for pid, want in PRODUCT_2025.items():
        assert_figures(got[pid], want)

    stage = query.intensity(engine, by="stage", window=Y2025, baseline=Y2024)
    assert list(stage.columns) == query.STAGE_COLUMNS
    got = rows_by(stage, "stage")
    assert list(got) == ["production", "warehousing", "transport", "packaging"]
    for name, want in STAGE_2025.items():
        assert_figures(got[name], want)


def test_intensity_views_by_hand(small: dict[str, Any]) -> None:
    check_views(small["engine"])


def test_baseline_window_on_its_own(small: dict[str, Any]) -> None:
    """The 2024 figures as the current window, without a baseline.

    sup-bev: 3 records, Σ 1800, production 1800 / 4000 = 0.45; warehousing missing too.
    sup-logi: l24-road counts in 2024 although it ends in 2025 (period_start decides).
    P-BOTTLE: N = 1500; 1600/1500 = 1.066666666667, 0.2, 0.2 -> F = 1.466666666667;
      per kg 1.466666666667 / 2 = 0.7333333333335 -> half-even -> 0.733333333334.
    """
    engine = small["engine"]
    sup = rows_by(query.intensity(engine, "supplier", Y2024), "supplier_id")
    assert list(sup) == ["sup-bev", "sup-elec", "sup-logi", "sup-pack"]
    assert_figures(sup["sup-bev"], {
        "records": 3, "total_kgco2e": D("1800"), "production": D("0.45"),
        "warehousing": None, "transport": None, "packaging": None,
        "intensity_kgco2e_per_kg": D("0.45"), "primary_data_share": D("0"),
        "missing_stages": ["warehousing", "transport", "packaging"],
        "baseline_intensity_kgco2e_per_kg": None, "change_pct": None,
    })
    assert sup["sup-logi"]["records"] == 1
    assert sup["sup-logi"]["transport"] == D("0.1")
    prod = rows_by(query.intensity(engine, "product", Y2024), "product_id")
    assert list(prod) == ["P-BANK", "P-BOTTLE", "P-CUP"]  # P-SLEEVE has no 2024 record
    bottle = prod["P-BOTTLE"]
    assert bottle["reference_units"] == D("1500")
    assert bottle["production"] == D("1.066666666667")
    assert bottle["footprint_kgco2e_per_unit"] == D("1.466666666667")
    assert bottle["footprint_kgco2e_per_kg"] == D("0.733333333334")
    assert bottle["missing_stages"] == ["warehousing"]
    # 2026 window: only e26-elec (1000 kWh × 0.4 = 400 over 1000 × 0.25 kg = 1.6)
    later = rows_by(query.intensity(engine, "supplier", ("2026-01-01", "2027-01-01")),
                    "supplier_id")
    assert list(later) == ["sup-elec"]
    assert later["sup-elec"]["intensity_kgco2e_per_kg"] == D("1.6")
    # an empty window gives an empty frame with the documented columns
    empty = query.intensity(engine, "product", ("2030-01-01", "2031-01-01"), Y2024)
    assert empty.empty and list(empty.columns) == query.PRODUCT_COLUMNS


def test_scorecard_pinned_to_checkpoint(small: dict[str, Any]) -> None:
    engine, operator, skeys = small["engine"], small["operator"], small["keys"]

    # no checkpoint yet: figures as of the current tree, no root
    unpinned = query.scorecard(engine, Y2025, Y2024, D("12"))
    with engine.connect() as conn:
        size_now = transparency.tree_size(conn)
    assert (unpinned.tree_size, unpinned.root_hash, unpinned.checkpoint_note) == (
        size_now, None, None)

    cp1 = transparency.sign_checkpoint(engine, operator)
    card = query.scorecard(engine, Y2025, Y2024, D("12"))
    assert card.tree_size == cp1.tree_size == size_now
    assert card.root_hash == cp1.root_hash
    assert card.checkpoint_note == cp1.note
    assert card.target_reduction_pct == D("12")
    table = rows_by(card.table, "supplier_id")
    assert list(table) == ["sup-bev", "sup-elec", "sup-logi", "sup-pack"]
    # comparable: the same stages in both windows. 2024 has production only for sup-bev
    # (2025 adds warehousing) and packaging only for sup-pack (2025 adds warehousing): their
    # changes mix in a new stage, so no target verdict (None). meets_target: change <= −12
    #   sup-elec −33.3… -> yes; sup-logi −60.588… -> yes
    meets = {"sup-bev": None, "sup-elec": True, "sup-logi": True, "sup-pack": None}
    base_missing = {
        "sup-bev": ["warehousing", "transport", "packaging"],
        "sup-elec": ["warehousing", "transport", "packaging"],
        "sup-logi": ["production", "warehousing", "packaging"],
        "sup-pack": ["production", "warehousing", "transport"],
    }
    for sid, fig in table.items():
        want = SUPPLIER_2025[sid]
        assert_figures(fig, {
            "intensity_kgco2e_per_kg": want["intensity_kgco2e_per_kg"],
            "baseline_intensity_kgco2e_per_kg": want["baseline_intensity_kgco2e_per_kg"],
            "change_pct": want["change_pct"],
            "primary_data_share": want["primary_data_share"],
            "records": want["records"],
            "missing_stages": want["missing_stages"],
            "meets_target": meets[sid],
            "baseline_missing_stages": base_missing[sid],
            "comparable": meets[sid] is not None,
            "tree_size": cp1.tree_size,
            "root_hash": cp1.root_hash,
        })
    # a 5 % target: sup-bev's −5.93 % would meet it, but its windows are not comparable;
    # a target of exactly 60.588235294 % is met by sup-logi alone (the boundary counts)
    loose = rows_by(query.scorecard(engine, Y2025, Y2024, D("5")).table, "supplier_id")
    assert {k: v["meets_target"] for k, v in loose.items()} == meets
    strict = query.scorecard(engine, Y2025, Y2024, D("60.588235294")).table
    assert list(strict["meets_target"]) == [None, False, True, None]

    # after the checkpoint: a new sup-elec record and a sup-pack correction
    #   e25-extra: 300 kWh × 0.4 = 120, 1000 units
    #   p25-board-fix supersedes p25-board (240): 100 kg × 1.2 = 120
    records.append_record(engine, "sup-elec", skeys["sup-elec"], _row(
        "e25-extra", "P-BANK", "production", "electricity", H2, "1000",
        amount="300", unit="kWh", factor_id="t-elec"))
    records.append_record(engine, "sup-pack", skeys["sup-pack"], _row(
        "p25-board-fix", "P-BOTTLE", "packaging", "corrugated_box", Y2025, "1500",
        amount="100", unit="kg", factor_id="t-board", supersedes="p25-board"))

    # the scorecard still stands as of cp1: identical figures and pin
    again = query.scorecard(engine, Y2025, Y2024, D("12"))
    assert (again.tree_size, again.root_hash) == (cp1.tree_size, cp1.root_hash)
    pd.testing.assert_frame_equal(again.table, card.table)
    # so does intensity(as_of=cp1.tree_size), every view
    for by in ("supplier", "product", "stage"):
        pd.testing.assert_frame_equal(
            query.intensity(engine, by, Y2025, Y2024, as_of=cp1.tree_size),
            query.intensity(engine, by, Y2025, Y2024, as_of=size_now))

    # without as_of the new entries count
    #   sup-elec: (100 + 120) / ((1000 + 1000) × 0.25) = 220 / 500 = 0.44
    #     change = (0.44 − 0.6) × 100 / 0.6 = −26.666… -> −26.666666666667
    #   sup-pack packaging: (120 + 3 + 24 + 1) / 4060 = 148 / 4060 = 0.0364532019704… ->
    #     0.036453201970; I = 0.1 + 0.036453201970 = 0.13645320197
    #     change = 0.03645320197 × 100 / 0.1 = 36.45320197
    live = rows_by(query.intensity(engine, "supplier", Y2025, Y2024), "supplier_id")
    assert live["sup-elec"]["records"] == 2
    assert live["sup-elec"]["intensity_kgco2e_per_kg"] == D("0.44")
    assert live["sup-elec"]["change_pct"] == D("-26.666666666667")
    assert live["sup-pack"]["records"] == 5
    assert live["sup-pack"]["total_kgco2e"] == D("158")  # 278 − 240 + 120
    assert live["sup-pack"]["packaging"] == D("0.03645320197")
    assert live["sup-pack"]["intensity_kgco2e_per_kg"] == D("0.13645320197")
    assert live["sup-pack"]["change_pct"] == D("36.45320197")
    for sid in ("sup-bev", "sup-logi"):
        assert live[sid]["intensity_kgco2e_per_kg"] == SUPPLIER_2025[sid][
            "intensity_kgco2e_per_kg"]

    # a new checkpoint moves the scorecard to the new figures
    cp2 = transparency.sign_checkpoint(engine, operator)
    assert cp2.tree_size == cp1.tree_size + 4  # two submissions of one record each
    moved = query.scorecard(engine, Y2025, Y2024, D("12"))
    assert (moved.tree_size, moved.root_hash) == (cp2.tree_size, cp2.root_hash)
    fig = rows_by(moved.table, "supplier_id")
    assert fig["sup-elec"]["change_pct"] == D("-26.666666666667")
    assert fig["sup-elec"]["meets_target"] is True
    assert fig["sup-pack"]["intensity_kgco2e_per_kg"] == D("0.13645320197")
    assert set(moved.table["tree_size"]) == {cp2.tree_size}
    assert set(moved.table["root_hash"]) == {cp2.root_hash}


def test_retraction_after_checkpoint_is_as_of(small: dict[str, Any]) -> None:
    """A retraction after the checkpoint: the record still counts as of the checkpoint.

    Retracting bev25-gas (90, primary): sup-bev production (1560 − 90) / 4000 = 0.3675
    (N_S(BOTTLE) stays max(1500, 1500) = 1500), I = 0.3675 + 0.033333333333 = 0.400833333333;
    primary = 120 × 100 / 1570 = 7.64331210191082… -> 7.643312101911.
    """
    engine, operator, skeys = small["engine"], small["operator"], small["keys"]
    cp = transparency.sign_checkpoint(engine, operator)
    records.retract(engine, "sup-bev", skeys["sup-bev"], "bev25-gas", "meter misread")
    pinned = rows_by(query.intensity(engine, "supplier", Y2025, Y2024, as_of=cp.tree_size),
                     "supplier_id")
    assert_figures(pinned["sup-bev"], SUPPLIER_2025["sup-bev"])
    live = rows_by(query.intensity(engine, "supplier", Y2025), "supplier_id")["sup-bev"]
    assert live["records"] == 5
    assert live["production"] == D("0.3675")
    assert live["intensity_kgco2e_per_kg"] == D("0.400833333333")
    assert live["primary_data_share"] == D("7.643312101911")
    # as of a tree size before the supersession, the wrong h2 reading (480) counted and
    # the fix (seq after it) did not: sup-bev production (1560 − 400 + 480) / 4000 = 0.41
    with engine.connect() as conn:
        fix_seq = conn.exec_driver_sql(
            "SELECT seq FROM records WHERE record_id = 'bev25-elec-h2-fix'").scalar_one()
    before = rows_by(query.intensity(engine, "supplier", Y2025, as_of=fix_seq),
                     "supplier_id")["sup-bev"]
    assert before["production"] == D("0.41")
    assert before["records"] == 7  # the retraction of bev25-cup-wh came later too
    # ... with bev25-cup-wh (25) still in: warehousing (100 + 25) / (3000 + 1000) = 0.03125
    assert before["warehousing"] == D("0.03125")


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------
def _cli(url: str, *args: str) -> str:
    from ledger_cli.main import cli

    result = CliRunner().invoke(cli, ["--db", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


WINDOW_ARGS = ("--from", "2025-01-01", "--to", "2026-01-01",
               "--baseline-from", "2024-01-01", "--baseline-to", "2025-01-01")

SUPPLIER_CSV = """\
supplier_id,records,total_kgco2e,production,warehousing,transport,packaging,\
intensity_kgco2e_per_kg,primary_data_share,missing_stages,baseline_intensity_kgco2e_per_kg,\
change_pct
sup-bev,6,1660,0.39,0.033333333333,,,0.423333333333,12.650602409639,transport;packaging,0.45,\
-5.925925926
sup-elec,1,100,0.4,,,,0.4,0,warehousing;transport;packaging,0.6,-33.333333333333
sup-logi,3,134,,,0.039411764706,,0.039411764706,0,production;warehousing;packaging,0.1,\
-60.588235294
sup-pack,5,278,,0.1,,0.066009852217,0.166009852217,0,production;transport,0.1,66.009852217
"""

PRODUCT_CSV = """\
product_id,product_name,records,total_kgco2e,reference_units,production,warehousing,\
transport,packaging,footprint_kgco2e_per_unit,footprint_kgco2e_per_kg,primary_data_share,\
missing_stages,baseline_footprint_kgco2e_per_unit,change_pct
P-BANK,Test power bank,1,100,1000,0.1,,,,0.1,0.4,0,warehousing;transport;packaging,0.15,\
-33.333333333333
P-BOTTLE,Test bottle,9,1897,1500,0.96,0.066666666667,0.076,0.162,1.264666666667,\
0.632333333334,4.744333157617,,1.466666666667,-13.772727272724
P-CUP,Test cup,3,164,2000,0.06,,0.01,0.012,0.082,0.164,73.170731707317,warehousing,0.1,-18
P-SLEEVE,Test sleeve,2,11,1000,,0.01,,0.001,0.011,0.11,0,production;transport,,
"""

STAGE_CSV = """\
stage,records,total_kgco2e,intensity_kgco2e_per_kg,primary_data_share,\
baseline_intensity_kgco2e_per_kg,change_pct
production,6,1660,0.390588235294,12.650602409639,0.458823529412,-14.871794871864
warehousing,2,110,0.035483870968,0,,
transport,3,134,0.039411764706,0,0.1,-60.588235294
packaging,4,268,0.066009852217,0,0.1,-33.990147783
"""


def test_cli_query_intensity(small_sqlite: dict[str, Any]) -> None:
    url = small_sqlite["url"]
    q = ("query", "intensity")
    assert _cli(url, *q, "--by", "supplier", *WINDOW_ARGS, "--format", "csv") == SUPPLIER_CSV
    assert _cli(url, *q, "--by", "product", *WINDOW_ARGS, "--format", "csv") == PRODUCT_CSV
    assert _cli(url, *q, "--by", "stage", *WINDOW_ARGS, "--format", "csv") == STAGE_CSV

    # json: exact decimal strings, lists kept, null for missing
    data = json.loads(_cli(url, *q, "--by", "supplier", *WINDOW_ARGS, "--format", "json"))
    assert [r["supplier_id"] for r in data] == list(SUPPLIER_2025)
    assert data[0] == {
        "supplier_id": "sup-bev", "records": 6, "total_kgco2e": "1660",
        "production": "0.39", "warehousing": "0.033333333333", "transport": None,
        "packaging": None, "intensity_kgco2e_per_kg": "0.423333333333",
        "primary_data_share": "12.650602409639", "missing_stages": ["transport", "packaging"],
        "baseline_intensity_kgco2e_per_kg": "0.45", "change_pct": "-5.925925926",
    }
    products = json.loads(_cli(url, "--json", *q, "--by", "product", *WINDOW_ARGS))
    bottle = next(r for r in products if r["product_id"] == "P-BOTTLE")
    assert bottle["reference_units"] == "1500"
    assert bottle["footprint_kgco2e_per_kg"] == "0.632333333334"
    assert bottle["missing_stages"] == []
    sleeve = next(r for r in products if r["product_id"] == "P-SLEEVE")
    assert (sleeve["baseline_footprint_kgco2e_per_unit"], sleeve["change_pct"]) == (None, None)

    # table: rounded for people (1 decimal with thousands separators ≥ 1000, 3 decimals ≥ 1,
    # 4 significant digits < 1, %.1f shares and signed changes), short headers, "–" for missing
    table = _cli(url, *q, "--by", "supplier", *WINDOW_ARGS, "--format", "table")
    lines = table.splitlines()
    assert lines[0].split() == [
        "supplier_id", "name", "records", "total", "kgCO2e", "production", "warehousing",
        "transport", "packaging", "kgCO2e/kg", "primary", "missing", "baseline", "change"]
    assert lines[2].split() == [
        "sup-bev", "Supplier", "sup-bev", "6", "1,660.0", "0.3900", "0.03333", "–", "–",
        "0.4233", "12.7%", "transport,packaging", "0.4500", "-5.9%"]
    assert lines[5].split() == [
        "sup-pack", "Supplier", "sup-pack", "5", "278.000", "–", "0.1000", "–", "0.06601",
        "0.1660", "0.0%", "production,transport", "0.1000", "+66.0%"]
    assert "0.423333333333" not in table
    ptable = _cli(url, *q, "--by", "product", *WINDOW_ARGS)  # table is the default
    bottle_line = next(line for line in ptable.splitlines() if line.startswith("P-BOTTLE"))
    assert bottle_line.split() == [
        "P-BOTTLE", "Test", "bottle", "9", "1,897.0", "1,500.0", "0.9600", "0.06667", "0.07600",
        "0.1620", "1.265", "0.6323", "4.7%", "–", "1.467", "-13.8%"]
    assert ptable.splitlines()[0].split()[:2] == ["product_id", "name"]  # names, not just ids


def test_cli_query_errors_and_scorecard(small_sqlite: dict[str, Any]) -> None:
    from ledger_cli.main import cli

    url = small_sqlite["url"]
    runner = CliRunner()
    half = runner.invoke(cli, ["--db", url, "query", "intensity", "--from", "2025-01-01",
                               "--to", "2026-01-01", "--baseline-from", "2024-01-01"])
    assert half.exit_code == 1 and "--baseline-to" in half.output
    backwards = runner.invoke(cli, ["--db", url, "query", "intensity", "--from", "2026-01-01",
                                    "--to", "2025-01-01"])
    assert backwards.exit_code == 1 and "Error: window end" in backwards.output
    bad_by = runner.invoke(cli, ["--db", url, "query", "intensity", "--by", "region",
                                 "--from", "2025-01-01", "--to", "2026-01-01"])
    assert bad_by.exit_code == 2

    cp = transparency.sign_checkpoint(small_sqlite["engine"], small_sqlite["operator"])
    out = _cli(url, "query", "scorecard", *WINDOW_ARGS, "--target-reduction", "30",
               "--format", "csv")
    assert out == (
        "supplier_id,intensity_kgco2e_per_kg,baseline_intensity_kgco2e_per_kg,change_pct,"
        "primary_data_share,records,missing_stages,baseline_missing_stages,comparable,"
        "meets_target,tree_size,root_hash\n"
        f"sup-bev,0.423333333333,0.45,-5.925925926,12.650602409639,6,transport;packaging,"
        f"warehousing;transport;packaging,False,,{cp.tree_size},{cp.root_hash}\n"
        f"sup-elec,0.4,0.6,-33.333333333333,0,1,warehousing;transport;packaging,"
        f"warehousing;transport;packaging,True,True,{cp.tree_size},{cp.root_hash}\n"
        f"sup-logi,0.039411764706,0.1,-60.588235294,0,3,production;warehousing;packaging,"
        f"production;warehousing;packaging,True,True,{cp.tree_size},{cp.root_hash}\n"
        f"sup-pack,0.166009852217,0.1,66.009852217,0,5,production;transport,"
        f"production;warehousing;transport,False,,{cp.tree_size},{cp.root_hash}\n"
    )
    table = _cli(url, "query", "scorecard", *WINDOW_ARGS, "--target-reduction", "30")
    assert "meets -30%" in table
    assert table.rstrip("\n").endswith(
        f"figures as of checkpoint tree size {cp.tree_size}, root {cp.root_hash}")


def test_ratio_change_and_window_helpers() -> None:
    # half-even at the 13th place: ...2|5 stays ...2, ...3|5 goes to ...4 (half-up would not
    # keep the first); 1/3 and 2/3 are cut at 12 places
    assert query.ratio(D("0.0000000000025"), D(1)) == D("0.000000000002")
    assert query.ratio(D("0.0000000000035"), D(1)) == D("0.000000000004")
    assert query.ratio(D(1), D(3)) == D("0.333333333333")
    assert query.ratio(D(2), D(3)) == D("0.666666666667")
    # (0.88 − 1) × 100 / 1 = −12 exactly; the scorecard's "meets −12 %" boundary is inclusive
    assert query.change_pct(D("0.88"), D("1")) == D("-12")
    assert query.change_pct(D("1"), D("0")) is None
    assert query.change_pct(None, D("1")) is None
    assert query.change_pct(D("1"), None) is None
    from datetime import date

    from ledger.errors import InputError

    assert query.parse_window("2025-01-01", "2026-01-01") == (date(2025, 1, 1), date(2026, 1, 1))
    with pytest.raises(InputError, match="after its start"):
        query.parse_window("2025-01-01", "2025-01-01")
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        query.parse_window("2025-1-1x", "2026-01-01")
    with pytest.raises(InputError, match="--by must be"):
        query.intensity(None, by="region")  # type: ignore[arg-type]


def test_figures_do_not_depend_on_the_callers_decimal_context(
        small_sqlite: dict[str, Any]) -> None:
    """Exact figures whatever ``decimal.getcontext()`` the calling application set.

    e27: P-BANK (0.25 kg), 308.64175 kWh × 0.4 = 123.4567, primary, 1234567 units.
    kg handled = 1234567 × 0.25 = 308641.75 (8 digits); I = 123.4567 / 308641.75 = 0.0004;
    primary share = 123.4567 × 100 / 123.4567 = 100. Under a 6-digit context the product and
    the ×100 would round (308642, 12345.7) and give 0.000399999676 and 100.000243….
    """
    import decimal

    engine = small_sqlite["engine"]
    records.append_record(engine, "sup-elec", small_sqlite["keys"]["sup-elec"], _row(
        "e27", "P-BANK", "production", "electricity", ("2027-03-01", "2027-04-01"), "1234567",
        amount="308.64175", unit="kWh", factor_id="t-elec", data_quality="primary"))
    window = ("2027-01-01", "2028-01-01")
    for prec in (28, 6):
        with decimal.localcontext(decimal.Context(prec=prec)):
            sup = rows_by(query.intensity(engine, "supplier", window), "supplier_id")
            stage = rows_by(query.intensity(engine, "stage", window), "stage")
            prod = rows_by(query.intensity(engine, "product", window), "product_id")
        assert sup["sup-elec"]["production"] == D("0.0004"), prec
        assert sup["sup-elec"]["primary_data_share"] == D("100"), prec
        assert stage["production"]["intensity_kgco2e_per_kg"] == D("0.0004"), prec
        # per unit: 123.4567 / 1234567 = 0.0001; per kg 0.0001 / 0.25 = 0.0004
        assert prod["P-BANK"]["footprint_kgco2e_per_kg"] == D("0.0004"), prec
        assert prod["P-BANK"]["primary_data_share"] == D("100"), prec
