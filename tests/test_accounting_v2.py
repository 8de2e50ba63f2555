"""SPEC §6 v2 figures on one small world per case, every figure worked out by hand.

Each test appends its own records and outputs to a bare world (4 suppliers, round factors,
two products) and asserts the exact figures of ``ledger.query``. The hand computations are
in the comments; the shared definitions are:

* ``N(p, W)`` = Σ declared units of p's effective outputs × the share of their days in W;
* ``φ(r, W)`` = 1 for a record wholly inside W; for a straddling production record the share
  of its period's declared output that falls in W; otherwise the share of its days in W;
* product stage intensity = Σ co2e · φ / N; coverage = Σ_S max_g Σ_{r∈g} units · φ / N;
* supplier stage intensity = Σ co2e · φ / Σ_p H · mass_kg, with H = max over allocation
  groups of Σ units · φ, and N itself for the owner's own production.

Factors (kgCO2e per unit): t-elec electricity/production 0.5 /kWh (AR5), t-elec6 the same
value under AR6, t-resin pet_resin/production 3 /kg, t-road road_freight 0.1 /tkm, t-rail
rail_freight 0.03 /tkm, t-ev electricity/transport 0.5 /kWh, t-wh electricity/warehousing
0.5 /kWh, t-board corrugated_box 1.2 /kg, t-crate reusable_crate 2 /kg.
Products: BOTTLE (sup-bev, 2 kg per piece), BANK (sup-elec, 0.25 kg per piece).
"""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from ledger import keys, query, records, registry, transparency
from ledger.errors import InputError
from ledger.figures import rounded
from ledger.store.db import make_engine
from ledger_cli.main import cli

D = Decimal
REPO = Path(__file__).resolve().parent.parent
BOTTLE, BANK = "BOTTLE", "BANK"
JAN = ("2025-01-01", "2025-02-01")
Q1, Q2 = ("2025-01-01", "2025-04-01"), ("2025-04-01", "2025-07-01")
Y2025 = ("2025-01-01", "2026-01-01")
FACTORS_CSV = """\
factor_id,version,activity,stage,unit,kgco2e_per_unit,gwp,source,year,region
t-elec,1,electricity,production,kWh,0.5,AR5,test grid,2024,CN
t-elec6,1,electricity,production,kWh,0.5,AR6,test grid (AR6),2024,CN
t-resin,1,pet_resin,production,kg,3,AR5,test resin,2024,CN
t-road,1,road_freight,transport,tkm,0.1,AR5,test road,2024,CN
t-rail,1,rail_freight,transport,tkm,0.03,AR5,test rail,2024,CN
t-ev,1,electricity,transport,kWh,0.5,AR5,test ev,2024,CN
t-wh,1,electricity,warehousing,kWh,0.5,AR5,test warehouse,2024,CN
t-board,1,corrugated_box,packaging,kg,1.2,AR5,test board,2024,CN
t-crate,1,reusable_crate,packaging,kg,2,AR5,test crate,2024,CN
"""


class World:
    """A bare ledger and the verbs a test needs, each one signed submission."""

    def __init__(self, url: str, key_dir: Path, tmp_path: Path) -> None:
        self.url = url
        self.key_dir = key_dir
        self.engine = make_engine(url)
        self.operator = keys.load_private(key_dir / "operator.key")
        registry.init_ledger(self.engine, self.operator, "test.example/v2")
        self.keys = {}
        for sid in ("sup-bev", "sup-elec", "sup-logi", "sup-pack"):
            registry.add_supplier(
                self.engine,
                sid,
                f"Supplier {sid}",
                "CN",
                keys.load_public(key_dir / f"{sid}.key.pub"),
                self.operator,
            )
            self.keys[sid] = keys.load_private(key_dir / f"{sid}.key")
        factors = tmp_path / "factors.csv"
        factors.write_text(FACTORS_CSV, encoding="utf-8")
        registry.import_factors(self.engine, factors, self.operator)
        records.add_product(
            self.engine, "sup-bev", self.keys["sup-bev"], BOTTLE, "Bottle", "piece", "2"
        )
        records.add_product(
            self.engine, "sup-elec", self.keys["sup-elec"], BANK, "Bank", "piece", "0.25"
        )
        self.n = 0

    def output(
        self,
        units: str,
        period: tuple[str, str],
        product: str = BOTTLE,
        supplier: str = "sup-bev",
        **extra: str,
    ) -> str:
        self.n += 1
        oid = extra.pop("output_id", f"o{self.n}")
        row = {
            "output_id": oid,
            "product_id": product,
            "units": units,
            "period_start": period[0],
            "period_end": period[1],
            **extra,
        }
        records.declare_outputs(self.engine, supplier, self.keys[supplier], iter([(1, row)]))
        return oid

    def record(
        self,
        supplier: str,
        stage: str,
        activity: str,
        units: str,
        period: tuple[str, str],
        factor: str,
        co2e: str,
        product: str = BOTTLE,
        **extra: str,
    ) -> str:
        self.n += 1
        rid = extra.pop("record_id", f"r{self.n}")
        row = {
            "record_id": rid,
            "product_id": product,
            "stage": stage,
            "activity": activity,
            "units_covered": units,
            "period_start": period[0],
            "period_end": period[1],
            "factor_id": factor,
            **extra,
        }
        payload, _ = records.append_record(self.engine, supplier, self.keys[supplier], row)
        assert payload["co2e_kg"] == co2e, (rid, payload["co2e_kg"])
        return rid

    def product(self, window: tuple[str, str], **kw: Any) -> dict[str, Any]:
        frame = query.intensity(self.engine, "product", window, **kw)
        return {r["product_id"]: r for r in frame.to_dict("records")}[BOTTLE]

    def supplier(self, window: tuple[str, str], sid: str, **kw: Any) -> dict[str, Any]:
        frame = query.intensity(self.engine, "supplier", window, **kw)
        return {r["supplier_id"]: r for r in frame.to_dict("records")}[sid]


@pytest.fixture
def w(db_url: str, key_dir: Path, tmp_path: Path) -> World:
    return World(db_url, key_dir, tmp_path)


def test_joint_inputs_divide_by_the_declared_output(w: World) -> None:
    # 1000 bottles in January; electricity and resin both made them (different groups).
    w.output("1000", JAN)
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )  # 1000 kWh × 0.5 = 500
    w.record(
        "sup-bev", "production", "pet_resin", "1000", JAN, "t-resin", "300", amount="100", unit="kg"
    )  # 100 kg × 3 = 300
    p = w.product(JAN)
    # (500 + 300) / 1000 = 0.8 per bottle; / 2 kg = 0.4 per kg; coverage max(1000,1000)/1000
    assert (p["production"], p["footprint_kgco2e_per_unit"]) == (D("0.8"), D("0.8"))
    assert p["footprint_kgco2e_per_kg"] == D("0.4")
    assert (p["reference_units"], p["reference_flow"]) == (D("1000"), "declared")
    assert p["coverage_production"] == D("1")
    assert p["missing_stages"] == ["warehousing", "transport", "packaging"]
    # supplier: 800 / (N 1000 × 2 kg) = 0.4
    assert w.supplier(JAN, "sup-bev")["intensity_kgco2e_per_kg"] == D("0.4")


def test_two_meters_for_the_same_bottles(w: World) -> None:
    w.output("1000", JAN)
    # line A 600 kWh -> 300, line B 400 kWh -> 200; both cover the same 1000 bottles
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "300",
        amount="600",
        unit="kWh",
        allocation_group="line-a",
    )
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "200",
        amount="400",
        unit="kWh",
        allocation_group="line-b",
    )
    p = w.product(JAN)
    # (300 + 200) / 1000 = 0.5; coverage max(1000, 1000) / 1000 = 1
    assert (p["production"], p["coverage_production"]) == (D("0.5"), D("1"))
    assert w.supplier(JAN, "sup-bev")["production"] == D("0.25")  # 500 / (1000 × 2)


def test_two_meters_in_one_group_show_double_coverage(w: World) -> None:
    # Left in the default group the meters look like 2000 bottles: the per-unit figure is
    # still right (N is declared), and coverage 2 shows the double count instead of hiding it.
    w.output("1000", JAN)
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "300",
        amount="600",
        unit="kWh",
    )
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "200",
        amount="400",
        unit="kWh",
    )
    p = w.product(JAN)
    assert (p["production"], p["coverage_production"]) == (D("0.5"), D("2"))


def test_modal_split_road_and_rail_add_up(w: World) -> None:
    w.output("1000", JAN)
    # road carries 600 bottles (1200 kg) 500 km: 600 tkm × 0.1 = 60
    w.record(
        "sup-logi",
        "transport",
        "road_freight",
        "600",
        JAN,
        "t-road",
        "60",
        distance_km="500",
        mass_kg="1200",
        allocation_group="line-haul",
    )
    # rail carries the other 400 (800 kg) 500 km: 400 tkm × 0.03 = 12
    w.record(
        "sup-logi",
        "transport",
        "rail_freight",
        "400",
        JAN,
        "t-rail",
        "12",
        distance_km="500",
        mass_kg="800",
        allocation_group="line-haul",
    )
    logi = w.supplier(JAN, "sup-logi")
    # H = 600 + 400 = 1000 bottles × 2 kg = 2000 kg; 72 / 2000 = 0.036
    assert logi["transport"] == logi["intensity_kgco2e_per_kg"] == D("0.036")
    # ISO 14083: 72 kg / 1000 tkm = 0.072 per tkm
    assert logi["transport_kgco2e_per_tkm"] == D("0.072")
    p = w.product(JAN)
    assert (p["transport"], p["coverage_transport"]) == (D("0.072"), D("1"))  # 72 / 1000


def test_successive_legs_cover_the_same_units(w: World) -> None:
    w.output("1000", JAN)
    # trunk: 1000 bottles (2000 kg) × 100 km = 200 tkm × 0.1 = 20
    w.record(
        "sup-logi",
        "transport",
        "road_freight",
        "1000",
        JAN,
        "t-road",
        "20",
        amount="200",
        unit="tkm",
        allocation_group="trunk",
    )
    # line haul, also road: 2000 kg × 500 km = 1000 tkm × 0.1 = 100
    w.record(
        "sup-logi",
        "transport",
        "road_freight",
        "1000",
        JAN,
        "t-road",
        "100",
        amount="1000",
        unit="tkm",
        allocation_group="line-haul",
    )
    # last mile EV: 100 kWh × 0.5 = 50
    w.record(
        "sup-logi",
        "transport",
        "electricity",
        "1000",
        JAN,
        "t-ev",
        "50",
        amount="100",
        unit="kWh",
        allocation_group="last-mile",
    )
    logi = w.supplier(JAN, "sup-logi")
    # H = max(1000, 1000, 1000) = 1000 bottles = 2000 kg; 170 / 2000 = 0.085
    assert logi["intensity_kgco2e_per_kg"] == D("0.085")
    # per tkm: only the tkm legs: 120 / 1200 = 0.1
    assert logi["transport_kgco2e_per_tkm"] == D("0.1")
    assert w.product(JAN)["coverage_transport"] == D("1")


def test_batches_with_different_inputs(w: World) -> None:
    mar, apr, both = (
        ("2025-03-01", "2025-04-01"),
        ("2025-04-01", "2025-05-01"),
        ("2025-03-01", "2025-05-01"),
    )
    w.output("1000", mar)
    w.output("500", apr)
    # March: 1000 kWh -> 500 for 1000 bottles; April: 250 kWh -> 125 and 100 kg resin -> 300
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        mar,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "500",
        apr,
        "t-elec",
        "125",
        amount="250",
        unit="kWh",
    )
    w.record(
        "sup-bev", "production", "pet_resin", "500", apr, "t-resin", "300", amount="100", unit="kg"
    )
    assert w.product(mar)["production"] == D("0.5")  # 500 / 1000
    assert w.product(apr)["production"] == D("0.85")  # 425 / 500
    p = w.product(both)
    # (500 + 125 + 300) / 1500 = 0.616666…; groups electricity 1500, pet_resin 500 -> 1500
    assert p["production"] == D("0.616666666667")
    assert p["coverage_production"] == D("1")
    # supplier: 925 / (1500 × 2) = 0.308333…
    assert w.supplier(both, "sup-bev")["production"] == D("0.308333333333")


def test_straddling_records_count_by_their_share(w: World) -> None:
    # quarterly outputs: 1000 in Q1, 3000 in Q2, 2000 in Q3, 2000 in Q4
    for units, period in (
        ("1000", Q1),
        ("3000", Q2),
        ("2000", ("2025-07-01", "2025-10-01")),
        ("2000", ("2025-10-01", "2026-01-01")),
    ):
        w.output(units, period)
    # an annual resin purchase: 400 kg × 3 = 1200 for the year's 8000 bottles
    w.record(
        "sup-bev",
        "production",
        "pet_resin",
        "8000",
        Y2025,
        "t-resin",
        "1200",
        amount="400",
        unit="kg",
    )
    # inputs follow output: Q1 φ = 1000/8000 -> 150 / 1000 = 0.15 per bottle; Q2 450/3000
    q1, q2 = w.product(Q1), w.product(Q2)
    assert (q1["production"], q2["production"]) == (D("0.15"), D("0.15"))
    assert (q1["coverage_production"], q2["coverage_production"]) == (D("1"), D("1"))
    assert w.product(Y2025)["production"] == D("0.15")  # 1200 / 8000
    # a road leg from 1 March to 1 May (61 days): 610 tkm × 0.1 = 61, by days:
    # 31 March days in Q1 -> 31 kg, 30 April days in Q2 -> 30 kg
    w.record(
        "sup-logi",
        "transport",
        "road_freight",
        "4000",
        ("2025-03-01", "2025-05-01"),
        "t-road",
        "61",
        amount="610",
        unit="tkm",
    )
    assert w.product(Q1)["transport"] == D("0.031")  # 31 / 1000
    assert w.product(Q2)["transport"] == D("0.01")  # 30 / 3000
    # coverage Q1: 4000 × 31/61 / 1000 = 2.032786885246 (more units handled than declared)
    assert w.product(Q1)["coverage_transport"] == D("2.032786885246")
    # Q2 against Q1: production unchanged; transport 0.031 -> 0.01: the change is physical
    q2_vs_q1 = w.product(Q2, baseline=Q1)
    # footprint Q1 0.181, Q2 0.16: (0.16 − 0.181) / 0.181 × 100 = −11.602209944751…
    assert q2_vs_q1["baseline_footprint_kgco2e_per_unit"] == D("0.181")
    assert q2_vs_q1["change_pct"] == D("-11.602209944751")
    assert q2_vs_q1["comparable"] is True


def test_partial_transport_coverage_is_reported(w: World) -> None:
    w.output("1000", JAN)
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    # the logistics provider reports only 500 of the 1000 bottles: 500 tkm × 0.1 = 50
    w.record(
        "sup-logi",
        "transport",
        "road_freight",
        "500",
        JAN,
        "t-road",
        "50",
        amount="500",
        unit="tkm",
    )
    p = w.product(JAN)
    # transport spread over the declared 1000: 0.05; coverage 500/1000 = 0.5 (a data gap)
    assert (p["transport"], p["coverage_transport"]) == (D("0.05"), D("0.5"))
    # the provider's own intensity is per kg it handled: 50 / (500 × 2) = 0.05
    assert w.supplier(JAN, "sup-logi")["transport"] == D("0.05")


def test_corrections_and_retractions_across_the_window_boundary(w: World) -> None:
    dec_jan = ("2024-12-01", "2025-02-01")  # 62 days: 31 in December, 31 in January
    w.output("1000", JAN)
    w.output("1000", ("2024-12-01", "2025-01-01"))
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    # a warehouse record straddling the year end, then corrected: 620 kWh -> 310, fixed
    # to 124 kWh -> 62; January's share 31/62 of the correction = 31
    w.record(
        "sup-logi",
        "warehousing",
        "electricity",
        "2000",
        dec_jan,
        "t-wh",
        "310",
        amount="620",
        unit="kWh",
        record_id="wh-wrong",
    )
    w.record(
        "sup-logi",
        "warehousing",
        "electricity",
        "2000",
        dec_jan,
        "t-wh",
        "62",
        amount="124",
        unit="kWh",
        supersedes="wh-wrong",
    )
    # a road record straddling too, then retracted
    w.record(
        "sup-logi",
        "transport",
        "road_freight",
        "2000",
        dec_jan,
        "t-road",
        "62",
        amount="620",
        unit="tkm",
        record_id="road-dup",
    )
    with w.engine.connect() as conn:
        before_retraction = transparency.tree_size(conn)
    records.retract(w.engine, "sup-logi", w.keys["sup-logi"], "road-dup", "duplicate")
    p = w.product(JAN)
    assert p["warehousing"] == D("0.031")  # 31 / 1000
    assert p["transport"] is None and "transport" in p["missing_stages"]
    # as of the size before the retraction, the road record still counted: 31 / 1000
    assert w.product(JAN, as_of=before_retraction)["transport"] == D("0.031")
    # December 2024 gets the other halves
    dec = w.product(("2024-12-01", "2025-01-01"))
    assert (dec["warehousing"], dec["transport"]) == (D("0.031"), None)


def test_reusable_packaging_and_alternative_boxes(w: World) -> None:
    w.output("2000", JAN)
    # 1000 bottles go in crates: a 2 kg crate on 500 trips = 1000 kg, ÷ 50 uses × 2 = 40
    w.record(
        "sup-pack",
        "packaging",
        "reusable_crate",
        "1000",
        JAN,
        "t-crate",
        "40",
        amount="1000",
        unit="kg",
        reuse_cycles="50",
        allocation_group="transit",
    )
    # the other 1000 in boxes: 100 kg × 1.2 = 120 (alternatives: same group, units add)
    w.record(
        "sup-pack",
        "packaging",
        "corrugated_box",
        "1000",
        JAN,
        "t-board",
        "120",
        amount="100",
        unit="kg",
        allocation_group="transit",
    )
    p = w.product(JAN)
    # (40 + 120) / 2000 = 0.08; coverage (1000 + 1000) / 2000 = 1
    assert (p["packaging"], p["coverage_packaging"]) == (D("0.08"), D("1"))
    assert w.supplier(JAN, "sup-pack")["packaging"] == D("0.04")  # 160 / (2000 × 2)


def test_mixed_gwp_sets_are_never_comparable(w: World) -> None:
    feb = ("2025-02-01", "2025-03-01")
    w.output("1000", JAN)
    w.output("1000", feb)
    # identical physical emissions, AR5 in January and AR6 in February
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        feb,
        "t-elec6",
        "480",
        amount="960",
        unit="kWh",
    )
    row = w.supplier(feb, "sup-bev", baseline=JAN)
    # (0.24 − 0.25) / 0.25 = −4 %, but the GWP sets differ: not comparable
    assert (row["change_pct"], row["gwp_sets"], row["comparable"]) == (D("-4"), ["AR6"], False)
    card = query.scorecard(w.engine, feb, JAN, D("3"), as_of="latest")
    fig = card.table.iloc[0]
    assert (fig["comparable"], fig["meets_target"]) == (False, None)


def test_no_declared_output_is_inferred_and_never_comparable(w: World) -> None:
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    p = w.product(JAN, baseline=JAN)
    # N inferred from the owner's production: 1000; 500 / 1000 = 0.5
    assert (p["reference_flow"], p["reference_units"], p["production"]) == (
        "inferred",
        D("1000"),
        D("0.5"),
    )
    assert p["comparable"] is False


def test_another_supplier_cannot_move_the_reference_flow(w: World) -> None:
    w.output("1000", JAN)
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    with pytest.raises(InputError) as err:
        w.output("100000000000", ("2025-02-01", "2025-03-01"), supplier="sup-logi")
    assert str(err.value) == (
        "line 1: product_id: only 'sup-bev', the owner of product 'BOTTLE', may declare its "
        "output (not 'sup-logi'); nothing was written"
    )
    # a production row by the logistics provider claiming 10^11 units: it adds its own tiny
    # emissions (0.001 kWh × 0.5 = 0.0005) and cannot change N = 1000
    w.record(
        "sup-logi",
        "production",
        "electricity",
        "100000000000",
        JAN,
        "t-elec",
        "0.0005",
        amount="0.001",
        unit="kWh",
    )
    p = w.product(JAN)
    assert p["reference_units"] == D("1000")
    assert p["production"] == D("0.5000005")  # 500.0005 / 1000
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            w.url,
            "output",
            "add",
            BOTTLE,
            "--supplier",
            "sup-logi",
            "--key",
            str(w.key_dir / "sup-logi.key"),
            "--units",
            "5",
            "--period-start",
            "2025-03-01",
            "--period-end",
            "2025-04-01",
        ],
    )
    assert result.exit_code == 1
    assert "only 'sup-bev', the owner of product 'BOTTLE', may declare its output" in (
        result.stderr
    )


def test_overlapping_outputs_are_refused_within_a_file_and_against_the_ledger(
    w: World,
) -> None:
    w.output("1000", JAN, output_id="jan")
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    rows = [
        (
            2,
            {
                "output_id": "feb",
                "product_id": BOTTLE,
                "units": "10",
                "period_start": "2025-02-01",
                "period_end": "2025-03-01",
            },
        ),
        (
            3,
            {
                "output_id": "feb-again",
                "product_id": BOTTLE,
                "units": "10",
                "period_start": "2025-02-15",
                "period_end": "2025-03-15",
            },
        ),
        (
            4,
            {
                "output_id": "jan-2",
                "product_id": BOTTLE,
                "units": "10",
                "period_start": "2025-01-20",
                "period_end": "2025-01-25",
            },
        ),
    ]
    with pytest.raises(InputError) as err:
        records.declare_outputs(w.engine, "sup-bev", w.keys["sup-bev"], iter(rows))
    assert err.value.problems == [
        "line 3: period_start: period 2025-02-15..2025-03-15 overlaps output 'feb' "
        "(2025-02-01..2025-03-01) of product 'BOTTLE'; supersede or retract it first",
        "line 4: period_start: period 2025-01-20..2025-01-25 overlaps output 'jan' "
        "(2025-01-01..2025-02-01) of product 'BOTTLE'; supersede or retract it first",
    ]
    # a correction supersedes the January declaration and may cover the same days
    w.output("1250", JAN, supersedes="jan")
    assert w.product(JAN, as_of="latest")["reference_units"] == D("1250")
    with pytest.raises(InputError, match="supersedes targets 'jan', already superseded"):
        w.output("1300", JAN, supersedes="jan")


def test_retracted_output_stops_counting(w: World) -> None:
    oid = w.output("1000", JAN)
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    records.retract(w.engine, "sup-bev", w.keys["sup-bev"], oid, "wrong plant")
    assert w.product(JAN)["reference_flow"] == "inferred"


@pytest.mark.parametrize("target", ["0", "-5", "100", "150"])
def test_a_target_outside_0_to_100_is_refused(w: World, target: str) -> None:
    with pytest.raises(InputError, match="must be more than 0 and less than 100"):
        query.scorecard(w.engine, Y2025, ("2024-01-01", "2025-01-01"), D(target))


def test_numeric_frames_describe_and_exact_by_default(w: World) -> None:
    w.output("1000", JAN)
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    exact = query.intensity(w.engine, "product", JAN)
    assert isinstance(exact["footprint_kgco2e_per_unit"].iloc[0], Decimal)
    numeric = query.intensity(w.engine, "product", JAN, numeric=True)
    assert numeric["footprint_kgco2e_per_unit"].dtype == "float64"
    assert numeric["footprint_kgco2e_per_unit"].describe()["mean"] == 0.5
    card = query.scorecard(w.engine, JAN, JAN, as_of="latest", numeric=True)
    assert card.table["intensity_kgco2e_per_kg"].dtype == "float64"
    with w.engine.connect() as conn:  # a Connection is a source too
        pd.testing.assert_frame_equal(query.intensity(conn, "product", JAN), exact)
    from sqlmodel import Session

    with Session(w.engine) as session:  # and a SQLModel Session
        pd.testing.assert_frame_equal(query.intensity(session, "product", JAN), exact)
        assert query.scorecard(session, JAN, JAN, as_of="latest").tree_size == exact.attrs[
            "tree_size"
        ]


# ---- the demo's scorecard equals the sample generator's own arithmetic ------------------


def test_demo_scorecard_equals_the_generators_truth(tmp_path: Path) -> None:
    from ledger import demo

    spec = importlib.util.spec_from_file_location("generate", REPO / "samples" / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    sys.modules["generate"] = generate  # its dataclasses look their module up
    spec.loader.exec_module(generate)
    result = demo.build(tmp_path / "demo")
    card = query.scorecard(result.engine, Y2025, ("2024-01-01", "2025-01-01"), D("12"))
    table = {r["supplier_id"]: r for r in card.table.to_dict("records")}
    now, base = generate.truth(2025), generate.truth(2024)
    for sid in now:
        assert table[sid]["intensity_kgco2e_per_kg"] == rounded(now[sid]), sid
        assert table[sid]["baseline_intensity_kgco2e_per_kg"] == rounded(base[sid]), sid
        assert table[sid]["comparable"] is True
    # the logistics provider met a 12 % target (−14.19 %); the v1 rule said −9.92 %, failed
    assert table["sup-logi"]["meets_target"] is True
    assert table["sup-logi"]["change_pct"] == rounded(
        (now["sup-logi"] - base["sup-logi"]) * 100 / base["sup-logi"]
    )


# ---- helpers, CLI and the caller's decimal context --------------------------------------


def test_rounding_change_and_window_helpers() -> None:
    from datetime import date
    from fractions import Fraction

    from ledger.figures import change_pct

    # half-even once at the 12th place: ...2|5 stays ...2, ...3|5 goes to ...4; 1/3, 2/3 cut
    assert rounded(Fraction(25, 10**13)) == D("0.000000000002")
    assert rounded(Fraction(35, 10**13)) == D("0.000000000004")
    assert (rounded(Fraction(1, 3)), rounded(Fraction(2, 3))) == (
        D("0.333333333333"),
        D("0.666666666667"),
    )
    # (0.88 − 1) × 100 / 1 = −12 exactly: the "meets −12 %" boundary is inclusive
    assert change_pct(Fraction(88, 100), Fraction(1)) == -12
    assert change_pct(Fraction(1), Fraction(0)) is None
    assert change_pct(None, Fraction(1)) is None
    assert query.parse_window("2025-01-01", "2026-01-01") == (date(2025, 1, 1), date(2026, 1, 1))
    with pytest.raises(InputError, match="after its start"):
        query.parse_window("2025-01-01", "2025-01-01")
    # the records' own strict format: ISO week dates and the like are refused
    for bad in ("2025W011", "2025-1-1", "20250101"):
        with pytest.raises(InputError, match="is not a date YYYY-MM-DD"):
            query.parse_window(bad, "2026-01-01")
    with pytest.raises(InputError, match="--by must be"):
        query.intensity(None, by="region")


def test_figures_do_not_depend_on_the_callers_decimal_context(w: World) -> None:
    """Exact whatever ``decimal.getcontext()`` the calling application set.

    BANK (0.25 kg): 308.64175 kWh × 0.5 = 154.320875, primary, 1234567 units, declared.
    per unit 154.320875 / 1234567 = 0.000125; per kg 0.0005; supplier 154.320875 /
    (1234567 × 0.25 = 308641.75) = 0.0005. A 6-digit context would round on the way.
    """
    import decimal

    mar = ("2027-03-01", "2027-04-01")
    w.output("1234567", mar, product=BANK, supplier="sup-elec")
    w.record(
        "sup-elec",
        "production",
        "electricity",
        "1234567",
        mar,
        "t-elec",
        "154.320875",
        product=BANK,
        amount="308.64175",
        unit="kWh",
        data_quality="primary",
    )
    for prec in (28, 6):
        with decimal.localcontext(decimal.Context(prec=prec)):
            sup = w.supplier(mar, "sup-elec")
            prod = query.intensity(w.engine, "product", mar).iloc[0]
        assert sup["production"] == D("0.0005"), prec
        assert sup["primary_data_share"] == D("100"), prec
        assert prod["footprint_kgco2e_per_unit"] == D("0.000125"), prec
        assert prod["footprint_kgco2e_per_kg"] == D("0.0005"), prec


def _cli(url: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--db", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def test_cli_query_columns_as_of_and_scorecard(w: World) -> None:
    w.output("1000", JAN)
    w.output("1000", ("2025-02-01", "2025-03-01"))
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        JAN,
        "t-elec",
        "500",
        amount="1000",
        unit="kWh",
    )
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        ("2025-02-01", "2025-03-01"),
        "t-elec",
        "400",
        amount="800",
        unit="kWh",
    )
    feb = (
        "--from",
        "2025-02-01",
        "--to",
        "2025-03-01",
        "--baseline-from",
        "2025-01-01",
        "--baseline-to",
        "2025-02-01",
    )
    # no checkpoint yet: the default --as-of checkpoint falls back to the latest entries
    result = _cli(w.url, "query", "intensity", "--by", "supplier", *feb, "--format", "csv")
    header, row = result.stdout.splitlines()
    assert header.split(",") == query.SUPPLIER_COLUMNS
    # February 400 / 2000 kg = 0.2 against January 500 / 2000 = 0.25: −20 %
    assert row == (
        "sup-bev,1,400,0.2,,,,0.2,,0,warehousing;transport;packaging,AR5,0.25,-20,"
        "True,Supplier sup-bev"
    )
    with w.engine.connect() as conn:
        size = transparency.tree_size(conn)
    assert result.stderr == f"figures as of tree size {size} (no checkpoint signed yet)\n"
    cp = transparency.sign_checkpoint(w.engine, w.operator)
    data = _cli(w.url, "--json", "query", "intensity", "--by", "product", *feb).stdout
    bottle = __import__("json").loads(data)[0]
    assert (bottle["reference_flow"], bottle["reference_units"]) == ("declared", "1000")
    assert (bottle["coverage_production"], bottle["comparable"]) == ("1", True)
    # appended after the checkpoint: the default (checkpoint) does not see it, latest does
    w.record(
        "sup-bev",
        "production",
        "electricity",
        "1000",
        ("2025-02-01", "2025-03-01"),
        "t-elec",
        "50",
        amount="100",
        unit="kWh",
        allocation_group="line-b",
    )
    pinned = _cli(w.url, "query", "scorecard", *feb, "--format", "csv")
    assert pinned.stderr == (
        f"figures as of latest checkpoint, tree size {cp.tree_size}, root {cp.root_hash}\n"
    )
    missing = "warehousing;transport;packaging"
    assert pinned.stdout.splitlines()[1] == (
        f"sup-bev,Supplier sup-bev,0.2,0.25,-20,True,0,1,{missing},AR5,{missing},True,"
        f"{cp.tree_size},{cp.root_hash}"
    )
    latest = _cli(w.url, "query", "scorecard", *feb, "--as-of", "latest", "--format", "csv")
    # (400 + 50) / 2000 = 0.225: −10 %, which misses the default 12 % target; no checkpoint
    # has that size, so no root
    assert latest.stdout.splitlines()[1] == (
        f"sup-bev,Supplier sup-bev,0.225,0.25,-10,True,0,2,{missing},AR5,{missing},False,"
        f"{cp.tree_size + 2},"
    )
    refused = CliRunner().invoke(
        cli, ["--db", w.url, "query", "scorecard", *feb, "--target-reduction", "100"]
    )
    assert refused.exit_code == 1
    assert "Error: --target-reduction 100 must be more than 0 and less than 100" in (refused.stderr)
    bad = CliRunner().invoke(cli, ["--db", w.url, "query", "intensity", *feb, "--as-of", "x"])
    assert bad.exit_code == 1 and "--as-of must be latest, checkpoint or a tree size" in (
        bad.stderr
    )


def _forced_output(w: World, supplier: str, row: dict[str, str]) -> int:
    """A supplier-signed output written past the append-time checks (a modified client)."""
    from ledger.canonical import canonical_bytes
    from ledger.outputs import build_output
    from ledger.spool import Spool
    from ledger.submit import write_submission

    payload = build_output(row, supplier)
    spool = Spool()
    spool.add(1, "output", canonical_bytes(payload), payload)
    return write_submission(w.engine, supplier, w.keys[supplier], spool).first_seq


@pytest.mark.parametrize(
    ("supplier", "period", "reason"),
    [
        (
            "sup-logi",
            ("2025-03-01", "2025-04-01"),
            "only 'sup-bev', the owner of product 'BOTTLE', may declare its output "
            "(not 'sup-logi')",
        ),
        (
            "sup-bev",
            ("2025-01-15", "2025-02-15"),
            "period 2025-01-15..2025-02-15 overlaps output 'o1' (2025-01-01..2025-02-01) of "
            "product 'BOTTLE'; supersede or retract it first",
        ),
    ],
)
def test_verify_refuses_an_output_the_append_checks_would_have_refused(
    w: World, supplier: str, period: tuple[str, str], reason: str
) -> None:
    from ledger import audit
    from ledger.errors import VerificationError

    w.output("1000", JAN)
    seq = _forced_output(
        w,
        supplier,
        {
            "output_id": "forced",
            "product_id": BOTTLE,
            "units": "100000000000",
            "period_start": period[0],
            "period_end": period[1],
        },
    )
    with pytest.raises(VerificationError) as err:
        audit.verify_database(w.engine)
    assert (err.value.seq, str(err.value)) == (seq, f"output 'forced': {reason}")


def test_output_rows_and_record_rows_share_the_period_evidence_and_note_rules() -> None:
    """One home for the fields both kinds of row carry: the same problems, word for word."""
    from ledger.accounting import RowProblems, build_record
    from ledger.outputs import build_output

    bad = {
        "period_start": "2025-02-01",
        "period_end": "2025-01-01",
        "evidence_sha256": "ABC",
        "note": "x" * 2001,
    }
    shared = [
        ("period_end", "2025-01-01 is not after period_start 2025-02-01"),
        ("evidence_sha256", "must be 64 lowercase hex characters"),
        ("note", "is longer than 2000 characters"),
    ]
    with pytest.raises(RowProblems) as output:
        build_output({"product_id": "6923451000013", "units": "1", **bad}, "sup-bev")
    with pytest.raises(RowProblems) as record:
        build_record(bad, "sup-bev", lambda _p: True, lambda _f, _v: None)
    assert [p for p in output.value.problems if p[0] in dict(shared)] == shared
    assert [p for p in record.value.problems if p[0] in dict(shared)] == shared
