"""Accounting rules (SPEC §3, §5): exact unit conversion, co2e, factor pinning, row problems."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from ledger import audit, keys, records, registry, units, vocab
from ledger.accounting import RowProblems, build_record, compute_co2e, recompute_co2e
from ledger.decimals import CO2E_PLACES, fmt
from ledger.errors import InputError
from ledger.footprint import Factor
from ledger.store.db import make_engine

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PRODUCT = "6923451000013"


def make_factor(
    factor_id: str = "grid",
    version: int = 1,
    unit: str = "kWh",
    value: str = "0.5366",
    activity: str = "electricity",
    stage: str = "production",
) -> Factor:
    return Factor(
        factor_id=factor_id,
        version=version,
        activity=activity,
        stage=stage,
        unit=unit,
        kgco2e_per_unit=Decimal(value),
        gwp="AR5",
        source="test",
        year=2024,
        region="CN",
    )


FACTORS: dict[tuple[str, int], Factor] = {
    ("grid", 1): make_factor("grid", 1, "kWh", "0.5366"),
    ("grid", 2): make_factor("grid", 2, "kWh", "0.5306"),
    ("hgv", 1): make_factor("hgv", 1, "tkm", "0.12522", "road_freight", "transport"),
    ("crate", 1): make_factor("crate", 1, "kg", "2.56858892", "reusable_crate", "packaging"),
}


def lookup(factor_id: str, version: int | None) -> Factor | None:
    if version is None:
        versions = [v for f, v in FACTORS if f == factor_id]
        if not versions:
            return None
        version = max(versions)
    return FACTORS.get((factor_id, version))


def base_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "record_id": "rec-1",
        "product_id": PRODUCT,
        "stage": "production",
        "activity": "electricity",
        "amount": "1000",
        "unit": "kWh",
        "factor_id": "grid",
        "units_covered": "100",
        "period_start": "2025-01-01",
        "period_end": "2025-02-01",
    }
    for key, value in changes.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value
    return row


def problems_of(row: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(RowProblems) as info:
        build_record(row, "sup-bev", lambda p: p == PRODUCT, lookup)
    return info.value.problems


# ---------------------------------------------------------------- unit conversion table


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("kWh", "MJ", Fraction(18, 5)),
        ("MJ", "kWh", Fraction(5, 18)),
        ("MWh", "kWh", Fraction(1000)),
        ("kWh", "MWh", Fraction(1, 1000)),
        ("GJ", "MJ", Fraction(1000)),
        ("MWh", "GJ", Fraction(18, 5)),
        ("g", "kg", Fraction(1, 1000)),
        ("t", "kg", Fraction(1000)),
        ("kg", "t", Fraction(1, 1000)),
        ("g", "t", Fraction(1, 1_000_000)),
        ("L", "m3", Fraction(1, 1000)),
        ("m3", "L", Fraction(1000)),
        ("tkm", "tkm", Fraction(1)),
        ("pallet_day", "pallet_day", Fraction(1)),
        ("m3_day", "m3_day", Fraction(1)),
        ("piece", "piece", Fraction(1)),
    ],
)
def test_unit_ratio_is_exact(source: str, target: str, expected: Fraction) -> None:
    assert units.ratio(source, target) == expected
    assert isinstance(units.ratio(source, target), Fraction)


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("kg", "kWh", "cannot convert kg (mass) to kWh (energy): different dimensions"),
        ("kWh", "kg", "cannot convert kWh (energy) to kg (mass): different dimensions"),
        ("L", "kg", "cannot convert L (volume) to kg (mass): different dimensions"),
        ("m3", "m3_day",
         "cannot convert m3 (volume) to m3_day (volume_storage): different dimensions"),
        ("tkm", "t", "cannot convert tkm (transport) to t (mass): different dimensions"),
        ("piece", "pallet_day",
         "cannot convert piece (count) to pallet_day (pallet_storage): different dimensions"),
    ],
)
def test_cross_dimension_names_both_units(source: str, target: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        units.ratio(source, target)
    assert str(info.value) == message


@pytest.mark.parametrize(("source", "target"), [("kwh", "kWh"), ("kWh", "KG"), ("ton", "ton")])
def test_unknown_unit_is_refused_case_sensitively(source: str, target: str) -> None:
    with pytest.raises(InputError) as info:
        units.ratio(source, target)
    bad = source if source not in vocab.UNITS else target
    assert str(info.value).startswith(
        f"unknown unit {bad!r} (units are case-sensitive: MJ, GJ, kWh")


# ---------------------------------------------------------------- compute_co2e


@pytest.mark.parametrize(
    ("amount", "unit", "factor", "reuse", "expected"),
    [
        ("1000", "kWh", make_factor(unit="kWh", value="0.5366"), None, "536.6"),
        ("27045.3", "kWh", make_factor(unit="kWh", value="0.5366"), None, "14512.50798"),
        ("2", "MWh", make_factor(unit="kWh", value="0.5306"), None, "1061.2"),
        ("1", "kWh", make_factor(unit="MJ", value="1.1"), None, "3.96"),
        ("250", "g", make_factor(unit="kg", value="2"), None, "0.5"),
        ("4.479", "t", make_factor(unit="kg", value="1.19973"), None, "5373.59067"),
        ("500", "L", make_factor(unit="m3", value="2.1622"), None, "1.0811"),
        ("0", "kWh", make_factor(unit="kWh", value="0.5366"), None, "0"),
        # MJ -> kWh is x 5/18: not a finite decimal, so 12 places half-even
        ("1000", "MJ", make_factor(unit="kWh", value="0.5306"), None, "147.388888888889"),
        # reuse_cycles, exact when the quotient is a finite decimal
        ("27838.8", "kg", make_factor(unit="kg", value="2.56858892"), "50", "1430.12866452192"),
        ("10", "kg", make_factor(unit="kg", value="1"), "4", "2.5"),
        ("1", "kg", make_factor(unit="kg", value="1"), "1048576", "0.00000095367431640625"),
        # ... and 12 places, half-even, when it is not
        ("1", "kg", make_factor(unit="kg", value="1"), "3", "0.333333333333"),
        ("2", "kg", make_factor(unit="kg", value="1"), "3", "0.666666666667"),
        ("31507.2", "kg", make_factor(unit="kg", value="2.56858892"), "60", "1348.8174136704"),
        ("1", "MJ", make_factor(unit="kWh", value="1"), "2", "0.138888888889"),
        ("100", "kg", make_factor(unit="kg", value="1"), "7", "14.285714285714"),
    ],
)
def test_compute_co2e_exact(
    amount: str, unit: str, factor: Factor, reuse: str | None, expected: str
) -> None:
    value = compute_co2e(Decimal(amount), unit, factor, Decimal(reuse) if reuse else None)
    assert fmt(value) == expected
    assert CO2E_PLACES == 12


def test_compute_co2e_across_dimensions_names_both_units() -> None:
    with pytest.raises(InputError) as info:
        compute_co2e(Decimal("5"), "kg", make_factor(unit="kWh"), None)
    assert str(info.value) == "cannot convert kg (mass) to kWh (energy): different dimensions"


def test_recompute_matches_build_and_measured_is_none() -> None:
    payload, factor = build_record(base_row(amount="1234.5", unit="MWh"), "sup-bev",
                                   lambda p: True, lookup)
    assert payload["co2e_kg"] == "655025.7"  # 1234500 kWh x 0.5306
    assert recompute_co2e(payload, factor) == "655025.7"
    assert recompute_co2e(payload, None) is None


# ---------------------------------------------------------------- build_record


def test_build_record_pins_latest_version_and_normalises() -> None:
    payload, factor = build_record(
        base_row(amount="0100.50", units_covered="10.0", note="  line 1  "),
        "sup-bev", lambda p: True, lookup,
    )
    assert factor is FACTORS[("grid", 2)]
    assert payload == {
        "supplier_id": "sup-bev",
        "record_id": "rec-1",
        "product_id": PRODUCT,
        "stage": "production",
        "activity": "electricity",
        "amount": "100.5",
        "unit": "kWh",
        "units_covered": "10",
        "period_start": "2025-01-01",
        "period_end": "2025-02-01",
        "data_quality": "secondary",
        "note": "line 1",
        "co2e_kg": "53.3253",
        "factor_id": "grid",
        "factor_version": 2,
    }


def test_build_record_explicit_version_and_stated_co2e_that_agrees() -> None:
    payload, factor = build_record(
        base_row(factor_version="1", co2e_kg="536.6"), "sup-bev", lambda p: True, lookup
    )
    assert factor is FACTORS[("grid", 1)]
    assert (payload["factor_version"], payload["co2e_kg"]) == (1, "536.6")


def test_build_record_generates_uuid_record_id() -> None:
    payload, _ = build_record(base_row(record_id=None), "sup-bev", lambda p: True, lookup)
    assert len(payload["record_id"]) == 36 and payload["record_id"].count("-") == 4


def test_build_record_transport_distance_mass_and_measured() -> None:
    payload, _ = build_record(
        base_row(stage="transport", activity="road_freight", factor_id="hgv", amount=None,
                 unit=None, distance_km="1276", mass_kg="97038.9"),
        "sup-logi", lambda p: True, lookup,
    )
    assert (payload["amount"], payload["unit"]) == ("123821.6364", "tkm")
    assert (payload["distance_km"], payload["mass_kg"]) == ("1276", "97038.9")
    assert payload["co2e_kg"] == "15504.945310008"
    measured, factor = build_record(
        base_row(factor_id=None, co2e_kg="12.50", data_quality="primary",
                 evidence_sha256="a" * 64),
        "sup-bev", lambda p: True, lookup,
    )
    assert factor is None
    assert measured["co2e_kg"] == "12.5"
    assert "factor_id" not in measured and "factor_version" not in measured


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"record_id": "bad id"},
         [("record_id",
           "record_id 'bad id' must be 1-128 characters of letters, digits and _ . : - /")]),
        ({"supplier_id": "sup-elec"}, [("supplier_id", "'sup-elec' is not 'sup-bev'")]),
        ({"product_id": None}, [("product_id", "is required")]),
        ({"product_id": "6900000000000"},
         [("product_id", "product '6900000000000' is not registered")]),
        ({"stage": "assembly"},
         [("stage", "'assembly' is not one of production, warehousing, transport, packaging")]),
        ({"stage": None}, [("stage", "is required")]),
        ({"activity": "elec tricity"},
         [("activity", "activity 'elec tricity' must be 1-128 characters of letters, digits "
                       "and _ . : - /"),
          ("activity", "'elec tricity' does not match factor activity 'electricity'")]),
        ({"activity": "natural_gas"},
         [("activity", "'natural_gas' does not match factor activity 'electricity'")]),
        ({"amount": None},
         [("amount", "is required (or distance_km and mass_kg for transport)")]),
        ({"amount": "-5"}, [("amount", "-5 must not be negative")]),
        ({"amount": "1e3"}, [("amount", "'1e3' is not a plain decimal number like 1200.5")]),
        ({"amount": "1,000"}, [("amount", "'1,000' is not a plain decimal number like 1200.5")]),
        ({"amount": "1000000000000000"},
         [("amount", "1000000000000000 is too large (at most 15 integer and 30 total digits)")]),
        ({"amount": True}, [("amount", "expected text, got True"),
                            ("amount", "is required (or distance_km and mass_kg for transport)")]),
        ({"unit": None}, [("unit", "is required")]),
        ({"unit": "kg"},
         [("unit", "cannot convert kg (mass) to kWh (energy): different dimensions")]),
        ({"units_covered": None}, [("units_covered", "is required")]),
        ({"units_covered": "0"}, [("units_covered", "0 must be greater than 0")]),
        ({"period_start": "2025-13-01"},
         [("period_start", "'2025-13-01' is not a valid calendar date")]),
        ({"period_start": "2025/01/01"},
         [("period_start", "'2025/01/01' is not a date YYYY-MM-DD")]),
        ({"period_end": None}, [("period_end", "is required")]),
        ({"period_end": "2025-01-01"},
         [("period_end", "2025-01-01 is not after period_start 2025-01-01")]),
        ({"data_quality": "tertiary"},
         [("data_quality", "'tertiary' is not primary or secondary")]),
        ({"reuse_cycles": "5"}, [("reuse_cycles", "reuse_cycles is for packaging only")]),
        ({"reuse_cycles": "0"}, [("reuse_cycles", "0 must be greater than 0")]),
        ({"distance_km": "10", "mass_kg": "5"},
         [("distance_km", "distance_km and mass_kg are for transport only")]),
        ({"evidence_sha256": "ABC"}, [("evidence_sha256", "must be 64 lowercase hex characters")]),
        ({"supersedes": "x y"},
         [("supersedes", "supersedes 'x y' must be 1-128 characters of letters, digits and "
                         "_ . : - /")]),
        ({"note": "n" * 2001}, [("note", "is longer than 2000 characters")]),
        ({"note": "bad \ud800"},
         [("note", "contains a lone surrogate, which is not valid Unicode")]),
        ({"factor_id": "nope"}, [("factor_id", "factor nope does not exist")]),
        ({"factor_version": "9"}, [("factor_id", "factor grid version 9 does not exist")]),
        ({"factor_version": "v1"}, [("factor_version", "'v1' is not a whole number")]),
        ({"factor_version": "\u00b2"}, [("factor_version", "'\u00b2' is not a whole number")]),
        ({"factor_version": "\u0661"}, [("factor_version", "'\u0661' is not a whole number")]),
        ({"co2e_kg": "536.61"}, [("co2e_kg", "stated 536.61 but amount × factor is 530.6")]),
        ({"factor_id": None}, [("factor_id", "give a factor_id, or a measured co2e_kg")]),
        ({"factor_id": None, "factor_version": "1"},
         [("factor_version", "given without factor_id"),
          ("factor_id", "give a factor_id, or a measured co2e_kg")]),
        ({"factor_id": None, "co2e_kg": "5"},
         [("data_quality", "a measured co2e_kg needs data_quality primary"),
          ("evidence_sha256", "a measured co2e_kg needs evidence_sha256")]),
        ({"colour": "green"}, [("colour", "unknown column")]),
        ({"amount": [1]}, [("amount", "expected text, got list"),
                           ("amount", "is required (or distance_km and mass_kg for transport)")]),
    ],
)
def test_build_record_reports_each_field(
    changes: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert problems_of(base_row(**changes)) == expected


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"distance_km": "10"}, [("mass_kg", "give both or neither")]),
        ({"mass_kg": "10"}, [("distance_km", "give both or neither")]),
        ({"distance_km": "10", "mass_kg": "5", "amount": "3", "unit": "tkm"},
         [("amount", "give amount+unit or distance_km+mass_kg, not both")]),
        ({"distance_km": "0", "mass_kg": "5"},
         [("distance_km", "0 must be greater than 0"), ("distance_km", "give both or neither")]),
    ],
)
def test_build_record_transport_problems(
    changes: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    row = base_row(stage="transport", activity="road_freight", factor_id="hgv",
                   amount=None, unit=None)
    row.update(changes)
    assert problems_of(row) == expected


def test_build_record_unknown_unit() -> None:
    # the unit is checked on its own and again when converting to the factor's unit; the
    # problem may be reported twice but never with another field or message
    assert set(problems_of(base_row(unit="kwh"))) == {
        ("unit", "unknown unit 'kwh' (units are case-sensitive: MJ, GJ, kWh, MWh, g, kg, t, L, "
                 "m3, tkm, pallet_day, m3_day, piece)")
    }


def test_build_record_reports_every_bad_field_of_one_row() -> None:
    row = base_row(stage="assembly", amount="-1", units_covered=None, period_start="2025-02-30",
                   evidence_sha256="xyz")
    assert problems_of(row) == [
        ("stage", "'assembly' is not one of production, warehousing, transport, packaging"),
        ("amount", "-1 must not be negative"),
        ("units_covered", "is required"),
        ("period_start", "'2025-02-30' is not a valid calendar date"),
        ("evidence_sha256", "must be 64 lowercase hex characters"),
    ]


# ---------------------------------------------------------------- factor pinning (database)


@pytest.fixture
def sample_ledger(sqlite_url: str, key_dir: Path) -> tuple[Engine, Ed25519PrivateKey, Path]:
    """Operator, sup-bev and the sample factors and sup-bev products, on SQLite."""
    engine = make_engine(sqlite_url)
    operator = keys.load_private(key_dir / "operator.key")
    registry.init_ledger(engine, operator, "test.example/acct")
    registry.add_supplier(engine, "sup-bev", "Qinghe", "CN",
                          keys.load_public(key_dir / "sup-bev.key.pub"), operator)
    registry.import_factors(engine, SAMPLES / "factors.csv", operator)
    supplier = keys.load_private(key_dir / "sup-bev.key")
    records.add_product(engine, "sup-bev", supplier, PRODUCT, "Water", "piece", "6.3")
    return engine, supplier, key_dir


def _record(engine: Engine, record_id: str) -> tuple[str, int, str]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT r.co2e_kg, r.factor_version, e.entry_bytes FROM records r "
                 "JOIN entries e ON e.seq = r.seq WHERE r.record_id = :r"),
            {"r": record_id},
        ).one()
    payload = json.loads(bytes(row[2]))["payload"]
    assert payload["co2e_kg"] == row[0] and payload["factor_version"] == int(row[1])
    return row[0], int(row[1]), bytes(row[2]).decode()


def test_factor_version_is_pinned(
    sample_ledger: tuple[Engine, Ed25519PrivateKey, Path], tmp_path: Path
) -> None:
    engine, supplier, key_dir = sample_ledger
    append: Callable[..., dict[str, Any]] = lambda **kw: records.append_record(  # noqa: E731
        engine, "sup-bev", supplier, base_row(factor_id="cn-grid-electricity", **kw))[0]
    old = append(record_id="before-v3")
    assert (old["factor_version"], old["co2e_kg"]) == (2, "530.6")
    co2e_before, version_before, bytes_before = _record(engine, "before-v3")

    v3 = tmp_path / "factors-v3.csv"
    with v3.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(registry.FACTOR_COLUMNS)
        writer.writerow(["cn-grid-electricity", "3", "electricity", "production", "kWh",
                         "0.5000", "AR5", "test v3", "2024", "CN"])
    registry.import_factors(engine, v3, keys.load_private(key_dir / "operator.key"))

    assert _record(engine, "before-v3") == (co2e_before, version_before, bytes_before)
    assert (co2e_before, version_before) == ("530.6", 2)
    new = append(record_id="after-v3")
    assert (new["factor_version"], new["co2e_kg"]) == (3, "500")
    pinned = append(record_id="pinned-v1", factor_version="1")
    assert (pinned["factor_version"], pinned["co2e_kg"]) == (1, "536.6")
    report = audit.verify_database(engine)
    assert report.records == 3 and report.factors == 14
