"""Deterministic generator for the carbon-ledger sample data set.

The world
=========

A small slice of a green supply chain modelled on JD.com's *Qingliu* (青流) programme.
Four fictitious Chinese suppliers each sign monthly greenhouse-gas emission records for
the products they touch, across the four life-cycle stages the ledger knows:

* ``sup-bev``  -- Qinghe Beverages Co., Ltd. (Hangzhou plant).  Owns three bottled
  products.  Production: line-level sub-metered electricity (primary activity data),
  natural gas for the hot-fill tea line, PET resin for the bottles.  From October 2025
  the tea line's boiler has a continuous emission monitor (CEMS): those three months are
  recorded as *measured* CO2e (primary, no factor, with an evidence hash).
* ``sup-elec`` -- Shenzhen Lumen Electronics Accessories Co., Ltd. (Dongguan plant).
  Owns a power bank, a USB-C cable and wireless earbuds.  Production electricity is
  allocated from the site bill by machine hours (secondary).  In 2025 a longer burn-in
  / ageing test for power banks and earbuds *raises* electricity per unit slightly: this
  is the one supplier whose intensity gets worse.
* ``sup-logi`` -- Tianlu Green Logistics Co., Ltd.  Moves the makers' products: short
  trunk HGV legs to regional distribution centres, long-haul legs split between road
  and rail (rail share grows in 2025), a coastal container lane for power banks, air
  freight for earbuds in the 2024 "618" and "Double 11" peaks (dropped in 2025), and EV
  last-mile delivery recorded as charging electricity.  It also runs the Kunshan
  warehouse (rooftop PV, enlarged in 2025; electricity recorded net of solar) and a
  Dongguan warehouse without PV.
* ``sup-pack`` -- Luyuan Packaging Co., Ltd.  Corrugated cartons (lighter flute in
  2025), shrink film, and reusable PP crates for the beverages (more reuse cycles and a
  larger crate share in 2025).

Everything is generated from fixed seeds and fixed dates: running ``python
samples/generate.py`` from the repository root rewrites every data file under
``samples/`` byte-for-byte identically.  Numbers are computed with ``decimal.Decimal`` and
written as plain decimal strings (never exponent notation).

The Ed25519 keys written to ``samples/keys/`` are derived from a *published* seed.  They
are TEST ONLY demo keys: anybody can recompute them.  Never use them for real data.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import sys
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

SAMPLES_DIR: Path = Path(__file__).resolve().parent

YEARS: tuple[int, ...] = (2024, 2025)
#: Fixed namespace for every record_id (uuid5 over a descriptive string).
RECORD_NAMESPACE: uuid.UUID = uuid.uuid5(
    uuid.NAMESPACE_URL, "urn:carbon-ledger:samples:records"
)
#: Allocation groups (SPEC §5): rows in one group cover disjoint units and add up; different
#: groups cover the same units. Transport legs are ISO 14083 legs: the trunk leg to the
#: regional DC, then one line-haul leg (road, rail, coastal or air: each unit takes one), then
#: the last mile. Cartons and crates are alternative transit packaging for the same products;
#: film wraps every unit of its products. Rows with no entry keep the default (the activity).
GROUP_BY_TAG: dict[str, str] = {
    "trunk": "trunk",
    "long-haul road": "line-haul",
    "long-haul rail": "line-haul",
    "coastal": "line-haul",
    "peak air": "line-haul",
    "ev last mile": "last-mile",
    "carton": "transit-pack",
    "crate": "transit-pack",
    "film": "film",
}
#: Prefix of the published key seed: sha256(KEY_SEED_PREFIX + name) is the private key.
KEY_SEED_PREFIX: bytes = b"carbon-ledger TEST ONLY "

# fmt: off
RECORD_HEADER: tuple[str, ...] = (
    "record_id", "product_id", "stage", "activity", "amount", "unit", "factor_id",
    "factor_version", "co2e_kg", "units_covered", "period_start", "period_end",
    "data_quality", "reuse_cycles", "distance_km", "mass_kg", "evidence_sha256",
    "supersedes", "allocation_group", "note",
)
OUTPUT_HEADER: tuple[str, ...] = (
    "output_id", "product_id", "units", "period_start", "period_end", "evidence_sha256",
)
FACTOR_HEADER: tuple[str, ...] = (
    "factor_id", "version", "activity", "stage", "unit", "kgco2e_per_unit", "gwp", "source",
    "year", "region",
)
# fmt: on

D = Decimal


# --------------------------------------------------------------------------- helpers


class SampleDataError(Exception):
    """A generated row broke the sample-data contract (a bug in this script)."""


def require(condition: object, detail: object) -> None:
    """Like ``assert`` but not stripped by ``python -O``."""
    if not condition:
        raise SampleDataError(str(detail))


def q(value: Decimal, places: str) -> Decimal:
    """Round ``value`` to the exponent of ``places`` (e.g. ``"0.1"``), banker's rounding."""
    return value.quantize(D(places), rounding=ROUND_HALF_EVEN)


def num(value: Decimal | int | None) -> str:
    """Plain decimal string: never exponent notation, empty for ``None``."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = format(value, "f")
    require("e" not in text.lower(), text)
    return text


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def gtin13(first12: str) -> str:
    """Append the GS1 check digit to 12 digits."""
    require(
        len(first12) == 12 and first12.isdigit(), f"need 12 digits, got {first12!r}"
    )
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def gtin13_valid(code: str) -> bool:
    return len(code) == 13 and code.isdigit() and gtin13(code[:12]) == code


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """Half-open ``[first of month, first of next month)``."""
    start = date(year, month, 1)
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return start, end


def jitter(rng: random.Random, spread_bp: int) -> Decimal:
    """A multiplier ``1 +/- spread`` drawn in basis points (integer arithmetic only)."""
    return D(10000 + rng.randint(-spread_bp, spread_bp)) / D(10000)


def series(text: str) -> tuple[Decimal, ...]:
    """``"0.1 0.2"`` -> ``(Decimal("0.1"), Decimal("0.2"))``: one value per month."""
    return tuple(D(x) for x in text.split())


def rates(text: str) -> dict[str, Decimal]:
    """``"tea=0.2 jug=0.3"`` -> ``{"tea": Decimal("0.2"), "jug": Decimal("0.3")}``."""
    return {k: D(v) for k, v in (item.split("=") for item in text.split())}


def write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(list(header))
        for row in rows:
            writer.writerow(list(row))
            count += 1
    return count


# --------------------------------------------------------------------------- world


@dataclass(frozen=True)
class Supplier:
    supplier_id: str
    name: str
    country: str

    @property
    def key_file(self) -> str:
        return f"keys/{self.supplier_id}.key"


@dataclass(frozen=True)
class Product:
    product_id: str
    supplier_id: str
    name: str
    declared_unit: str
    mass_kg: Decimal  # per declared unit
    category: str  # UN CPC v2.1 code, may be empty
    key: str  # short internal handle used in this script only


@dataclass(frozen=True)
class Factor:
    factor_id: str
    version: int
    activity: str
    stage: str
    unit: str
    kgco2e_per_unit: Decimal
    gwp: str
    source: str
    year: int
    region: str


SUPPLIERS: tuple[Supplier, ...] = (
    Supplier("sup-bev", "Qinghe Beverages Co., Ltd.", "CN"),
    Supplier("sup-elec", "Shenzhen Lumen Electronics Accessories Co., Ltd.", "CN"),
    Supplier("sup-logi", "Tianlu Green Logistics Co., Ltd.", "CN"),
    Supplier("sup-pack", "Luyuan Packaging Co., Ltd.", "CN"),
)

# fmt: off
PRODUCTS: tuple[Product, ...] = (
    Product(gtin13("692345100001"), "sup-bev", "Qinghe Natural Mineral Water 500 ml x 12",
            "piece", D("6.3"), "24410", "water12"),
    Product(gtin13("692345100002"), "sup-bev", "Qinghe Jasmine Green Tea 550 ml",
            "piece", D("0.58"), "24490", "tea"),
    Product(gtin13("692345100003"), "sup-bev", "Qinghe Drinking Water 4.5 L jug (per liter)",
            "liter", D("1.02"), "24410", "jug"),
    Product(gtin13("697012300001"), "sup-elec", "Lumen PowerCore 20000 mAh power bank",
            "piece", D("0.35"), "46420", "powerbank"),
    Product(gtin13("697012300002"), "sup-elec", "Lumen USB-C to USB-C cable 1 m 60 W",
            "piece", D("0.06"), "", "cable"),
    Product(gtin13("697012300003"), "sup-elec", "Lumen AirBeat wireless earbuds",
            "piece", D("0.12"), "", "earbuds"),
)
# fmt: on
PRODUCT: dict[str, Product] = {p.key: p for p in PRODUCTS}

_MEE_2022 = (
    "MEE & NBS (China) Announcement on the 2022 electricity CO2 emission factors "
    "(issued Dec 2024): national average grid factor 0.5366 kgCO2/kWh; CO2 only"
)
_MEE_2023 = (
    "MEE & NBS (China) Announcement on the 2023 electricity CO2 emission factors: "
    "national average grid factor 0.5306 kgCO2/kWh; CO2 only"
)
_DESNZ25 = "UK DESNZ GHG conversion factors for company reporting 2025"
_DESNZ24 = (
    "UK DESNZ GHG conversion factors for company reporting 2024 (condensed set v1.1)"
)

# fmt: off
FACTORS: tuple[Factor, ...] = (
    Factor("cn-grid-electricity", 1, "electricity", "production", "kWh", D("0.5366"), "AR5",
           _MEE_2022, 2022, "CN"),
    Factor("cn-grid-electricity", 2, "electricity", "production", "kWh", D("0.5306"), "AR5",
           _MEE_2023, 2023, "CN"),
    Factor("cn-grid-electricity-wh", 1, "electricity", "warehousing", "kWh", D("0.5306"),
           "AR5", _MEE_2023 + "; warehousing copy of cn-grid-electricity v2", 2023, "CN"),
    Factor("cn-grid-electricity-ev", 1, "electricity", "transport", "kWh", D("0.5306"),
           "AR5", _MEE_2023 + "; EV last-mile charging copy of cn-grid-electricity v2",
           2023, "CN"),
    Factor("cn-natural-gas", 1, "natural_gas", "production", "m3", D("2.1622"), "AR5",
           "NDRC (China) 2015 GHG accounting guideline for other industrial enterprises "
           "(trial) default values: NCV 389.31 GJ/10^4 Nm3 x 15.30 tC/TJ x 99% oxidation "
           "x 44/12 = 2.1622 kgCO2/m3; CO2 only (IPCC 2006 Vol.2 default 56100 kgCO2/TJ "
           "gives 2.184)", 2015, "CN"),
    Factor("desnz-pet", 1, "pet_resin", "production", "kg", D("3.85491851"), "AR5",
           _DESNZ24 + ", Material use, Plastics: PET (incl. forming), primary material "
           "production, 3854.91851 kgCO2e/t; 2024 edition used", 2024, "GB"),
    Factor("desnz-hgv-average", 1, "road_freight", "transport", "tkm", D("0.12522"), "AR5",
           _DESNZ25 + ", Freighting goods + WTT- delivery vehs & freight, HGV (all "
           "diesel) All HGVs average laden, well-to-wheel", 2025, "GB"),
    Factor("desnz-rail-freight", 1, "rail_freight", "transport", "tkm", D("0.03470"),
           "AR5", _DESNZ25 + ", Freighting goods + WTT, Rail freight train, well-to-wheel",
           2025, "GB"),
    Factor("desnz-container-ship", 1, "sea_freight", "transport", "tkm", D("0.01977"),
           "AR5", _DESNZ25 + ", Freighting goods + WTT, Cargo ship container ship "
           "average, well-to-wheel", 2025, "GLO"),
    Factor("desnz-air-freight", 1, "air_freight", "transport", "tkm", D("0.66646"), "AR5",
           _DESNZ25 + ", Freighting goods + WTT, Air freight, well-to-wheel", 2025, "GLO"),
    Factor("desnz-corrugated-board", 1, "corrugated_box", "packaging", "kg", D("1.19973"),
           "AR5", _DESNZ25 + ", Material use, Paper and board: board, primary material "
           "production (1199.73 kgCO2e/t)", 2025, "GB"),
    Factor("desnz-plastic-film", 1, "plastic_film", "packaging", "kg", D("2.91651"), "AR5",
           _DESNZ25 + ", Material use, Plastics: average plastic film, primary material "
           "production (2916.51 kgCO2e/t)", 2025, "GB"),
    Factor("desnz-pp-crate", 1, "reusable_crate", "packaging", "kg", D("2.56858892"),
           "AR5", _DESNZ24 + ", Material use, Plastics: PP (incl. forming), primary "
           "material production, 2568.58892 kgCO2e/t, used for injection-moulded PP "
           "crates; 2024 edition used", 2024, "GB"),
)
# fmt: on
FACTOR_IDS: set[str] = {f.factor_id for f in FACTORS}


def factor(factor_id: str) -> Factor:
    """Latest version of ``factor_id``."""
    return max(
        (f for f in FACTORS if f.factor_id == factor_id), key=lambda f: f.version
    )


# Seasonality (index 0 = January).
BEV_SEASON = series("0.78 0.72 0.86 0.95 1.08 1.24 1.35 1.32 1.12 0.98 1.06 0.90")
ELEC_SEASON = series("0.85 0.70 0.88 0.92 1.05 1.38 0.95 0.92 1.00 1.10 1.45 1.15")
#: Share of Kunshan warehouse electricity covered by its rooftop PV, per month.
PV_SHARE: dict[int, tuple[Decimal, ...]] = {
    2024: series("0.12 0.14 0.17 0.20 0.23 0.22 0.24 0.25 0.21 0.18 0.14 0.11"),
    2025: series("0.21 0.24 0.29 0.34 0.38 0.36 0.39 0.41 0.35 0.30 0.24 0.20"),
}
VOLUME_GROWTH: dict[int, Decimal] = {2024: D("1"), 2025: D("1.06")}

#: Base monthly output (declared units) before seasonality and growth.
BASE_UNITS: dict[str, int] = {
    "water12": 110_000,
    "tea": 420_000,
    "jug": 260_000,
    "powerbank": 52_000,
    "cable": 240_000,
    "earbuds": 38_000,
}


def produced_units(key: str, year: int, month: int) -> int:
    """Units produced in a month: deterministic, independent of record generation order."""
    rng = random.Random(f"units|{key}|{year}|{month}")
    season = BEV_SEASON if PRODUCT[key].supplier_id == "sup-bev" else ELEC_SEASON
    units = (
        D(BASE_UNITS[key]) * season[month - 1] * VOLUME_GROWTH[year] * jitter(rng, 400)
    )
    return int(q(units, "1"))


# --------------------------------------------------------------------------- records


class RecordSet:
    """Collects the rows of one ``<supplier>-<year>.csv`` file."""

    def __init__(self, supplier_id: str, year: int) -> None:
        self.supplier_id = supplier_id
        self.year = year
        self.rows: list[dict[str, str]] = []

    def add(
        self,
        *,
        product: Product,
        month: int,
        stage: str,
        activity: str,
        tag: str,
        units_covered: int,
        data_quality: str,
        amount: Decimal | None = None,
        unit: str = "",
        factor_id: str = "",
        factor_version: int | None = None,
        co2e_kg: Decimal | None = None,
        reuse_cycles: int | None = None,
        distance_km: Decimal | None = None,
        mass_kg: Decimal | None = None,
        evidence: str | None = None,
        supersedes: str = "",
        note: str = "",
    ) -> dict[str, str]:
        start, end = month_bounds(self.year, month)
        name = (
            f"{self.supplier_id}|{product.product_id}|{stage}|{activity}|{tag}|"
            f"{start.isoformat()}"
        )
        row = {
            "record_id": str(uuid.uuid5(RECORD_NAMESPACE, name)),
            "product_id": product.product_id,
            "stage": stage,
            "activity": activity,
            "amount": num(amount),
            "unit": unit,
            "factor_id": factor_id,
            "factor_version": num(factor_version),
            "co2e_kg": num(co2e_kg),
            "units_covered": num(units_covered),
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "data_quality": data_quality,
            "reuse_cycles": num(reuse_cycles),
            "distance_km": num(distance_km),
            "mass_kg": num(mass_kg),
            "evidence_sha256": sha256_hex(evidence) if evidence else "",
            "supersedes": supersedes,
            "allocation_group": GROUP_BY_TAG.get(tag, ""),
            "note": note,
        }
        self.rows.append(row)
        return row


def grid_version(year: int) -> int:
    """2024 rows pin the 2022 grid factor (v1); 2025 rows pin the 2023 factor (v2)."""
    return 1 if year == 2024 else 2


#: The March 2025 water line-1 meter export double-counted three CIP days; the
#: correction file supersedes that record with the true reading.
MISREAD = ("water12", 2025, 3)
MISREAD_FACTOR = D("1.10")


def beverage_records(year: int) -> tuple[RecordSet, dict[str, str]]:
    rs = RecordSet("sup-bev", year)
    rng = random.Random(f"sup-bev|{year}")
    y25 = year == 2025
    # Per declared unit: (kWh, PET kg, natural gas m3)
    kwh = {"water12": D("0.31"), "tea": D("0.045"), "jug": D("0.028")}
    pet = {"water12": D("0.138"), "tea": D("0.026"), "jug": D("0.0205")}
    gas_tea = D("0.0085")
    if y25:  # VFD compressors + heat recovery on blow moulders; lighter bottles.
        kwh = {"water12": D("0.278"), "tea": D("0.0405"), "jug": D("0.0252")}
        pet = {"water12": D("0.128"), "tea": D("0.0241"), "jug": D("0.0195")}
        gas_tea = D("0.0078")
    line = {"water12": "line-1", "tea": "line-3 hot-fill", "jug": "line-2"}
    misread_row: dict[str, str] = {}
    for month in range(1, 13):
        for key in ("water12", "tea", "jug"):
            p = PRODUCT[key]
            units = produced_units(key, year, month)
            true_kwh = q(D(units) * kwh[key] * jitter(rng, 300), "0.1")
            amount = true_kwh
            note = f"{line[key]} sub-meter"
            if (key, year, month) == MISREAD:
                amount = q(true_kwh * MISREAD_FACTOR, "0.1")
            row = rs.add(
                product=p,
                month=month,
                stage="production",
                activity="electricity",
                tag=line[key],
                units_covered=units,
                data_quality="primary",
                amount=amount,
                unit="kWh",
                factor_id="cn-grid-electricity",
                factor_version=grid_version(year),
                evidence=f"sup-bev {line[key]} meter export {year}-{month:02d}",
                note=note,
            )
            if (key, year, month) == MISREAD:
                misread_row = dict(row)
                misread_row["_true_kwh"] = num(true_kwh)
            rs.add(
                product=p,
                month=month,
                stage="production",
                activity="pet_resin",
                tag="preform resin",
                units_covered=units,
                data_quality="secondary",
                amount=q(D(units) * pet[key] * jitter(rng, 150), "0.1"),
                unit="kg",
                factor_id="desnz-pet",
                note="bottle and cap resin issued to line",
            )
            if key == "tea":
                m3 = q(D(units) * gas_tea * jitter(rng, 300), "0.1")
                if y25 and month >= 10:
                    # Boiler CEMS commissioned: measured CO2e, no factor.
                    measured = q(
                        m3 * D("2.1622") * (D("0.975") + D(rng.randint(0, 15)) / 1000),
                        "0.001",
                    )
                    rs.add(
                        product=p,
                        month=month,
                        stage="production",
                        activity="natural_gas",
                        tag="boiler",
                        units_covered=units,
                        data_quality="primary",
                        amount=m3,
                        unit="m3",
                        co2e_kg=measured,
                        evidence=f"sup-bev boiler-2 CEMS monthly report {year}-{month:02d}",
                        note="hot-fill boiler-2 stack CEMS measured CO2e",
                    )
                else:
                    rs.add(
                        product=p,
                        month=month,
                        stage="production",
                        activity="natural_gas",
                        tag="boiler",
                        units_covered=units,
                        data_quality="secondary",
                        amount=m3,
                        unit="m3",
                        factor_id="cn-natural-gas",
                        note="hot-fill boiler-2 gas bill allocated to tea",
                    )
    return rs, misread_row


def electronics_records(year: int) -> RecordSet:
    rs = RecordSet("sup-elec", year)
    rng = random.Random(f"sup-elec|{year}")
    kwh = {"powerbank": D("0.82"), "cable": D("0.048"), "earbuds": D("0.29")}
    if (
        year == 2025
    ):  # longer burn-in / ageing test under tightened battery safety rules
        kwh = {"powerbank": D("0.852"), "cable": D("0.0492"), "earbuds": D("0.301")}
    for month in range(1, 13):
        for key in ("powerbank", "cable", "earbuds"):
            units = produced_units(key, year, month)
            note = "site bill allocated by machine hours"
            if year == 2025 and key in ("powerbank", "earbuds"):
                note += "; extended burn-in test"
            rs.add(
                product=PRODUCT[key],
                month=month,
                stage="production",
                activity="electricity",
                tag="assembly",
                units_covered=units,
                data_quality="secondary",
                amount=q(D(units) * kwh[key] * jitter(rng, 300), "0.1"),
                unit="kWh",
                factor_id="cn-grid-electricity",
                factor_version=grid_version(year),
                note=note,
            )
    return rs


def logistics_records(year: int) -> RecordSet:
    rs = RecordSet("sup-logi", year)
    rng = random.Random(f"sup-logi|{year}")
    y25 = year == 2025
    # Long-haul rail share of the long-haul tonnage.
    rail_share = rates(
        "water12=0.55 tea=0.45 jug=0.55 powerbank=0.40 cable=0.40 earbuds=0.35"
        if y25
        else "water12=0.30 tea=0.20 jug=0.30 powerbank=0.10 cable=0.10 earbuds=0.05"
    )
    # EV last-mile kWh per declared unit (2025: new vans + route optimisation).
    ev_kwh = rates(
        "water12=0.16 tea=0.025 jug=0.030 powerbank=0.018 cable=0.006 earbuds=0.008"
    )
    ev_gain = D("0.94") if y25 else D("1")
    # Warehouse gross kWh per declared unit handled.
    wh_kwh = rates(
        "water12=0.060 tea=0.012 jug=0.010 powerbank=0.020 cable=0.008 earbuds=0.015"
    )
    dongguan_gain = D("0.95") if y25 else D("1")  # LED + HVAC retrofit
    for month in range(1, 13):
        for p in PRODUCTS:
            key = p.key
            units = produced_units(key, year, month)
            shipped = int(q(D(units) * (D("0.97") + D(rng.randint(0, 30)) / 1000), "1"))
            mass = D(shipped) * p.mass_kg  # kg shipped
            bev = p.supplier_id == "sup-bev"
            origin = "Hangzhou plant" if bev else "Dongguan plant"
            rdc = "Kunshan RDC" if bev else "Guangzhou Huangpu RDC"
            short_km = D("118") if bev else D("76")
            # 1. Short trunk leg to the regional DC, all units, HGV.
            if key in ("water12", "powerbank"):
                rs.add(
                    product=p,
                    month=month,
                    stage="transport",
                    activity="road_freight",
                    tag="trunk",
                    units_covered=shipped,
                    data_quality="secondary",
                    amount=q(mass * short_km / 1000, "0.1"),
                    unit="tkm",
                    factor_id="desnz-hgv-average",
                    note=f"HGV {origin} -> {rdc}",
                )
            else:
                rs.add(
                    product=p,
                    month=month,
                    stage="transport",
                    activity="road_freight",
                    tag="trunk",
                    units_covered=shipped,
                    data_quality="secondary",
                    distance_km=short_km,
                    mass_kg=q(mass, "0.1"),
                    factor_id="desnz-hgv-average",
                    note=f"HGV {origin} -> {rdc}",
                )
            # 2. Long haul to Beijing for ~25-30% of units: road vs rail.
            lh_share = D("0.25") if bev else D("0.30")
            lh_units = int(q(D(shipped) * lh_share, "1"))
            rail_units = int(q(D(lh_units) * rail_share[key], "1"))
            road_units = lh_units - rail_units
            lh_km = D("1276") if bev else D("2148")
            rail_km = D("1318") if bev else D("2294")
            if road_units > 0:
                rs.add(
                    product=p,
                    month=month,
                    stage="transport",
                    activity="road_freight",
                    tag="long-haul road",
                    units_covered=road_units,
                    data_quality="secondary",
                    distance_km=lh_km,
                    mass_kg=q(D(road_units) * p.mass_kg, "0.1"),
                    factor_id="desnz-hgv-average",
                    note=f"HGV {rdc} -> Beijing Gu'an RDC",
                )
            rs.add(
                product=p,
                month=month,
                stage="transport",
                activity="rail_freight",
                tag="long-haul rail",
                units_covered=rail_units,
                data_quality="secondary",
                amount=q(D(rail_units) * p.mass_kg * rail_km / 1000, "0.1"),
                unit="tkm",
                factor_id="desnz-rail-freight",
                note=f"rail container {rdc} -> Beijing Fengtai freight yard",
            )
            # 3. Coastal container lane for power banks to Tianjin.
            if key == "powerbank":
                sea_units = int(q(D(shipped) * D("0.10"), "1"))
                rs.add(
                    product=p,
                    month=month,
                    stage="transport",
                    activity="sea_freight",
                    tag="coastal",
                    units_covered=sea_units,
                    data_quality="secondary",
                    amount=q(D(sea_units) * p.mass_kg * D("2596") / 1000, "0.1"),
                    unit="tkm",
                    factor_id="desnz-container-ship",
                    note="coastal container Yantian -> Tianjin port",
                )
            # 4. Peak-season air freight for earbuds (2024 only).
            if key == "earbuds" and not y25 and month in (6, 11):
                air_units = int(q(D(shipped) * D("0.08"), "1"))
                rs.add(
                    product=p,
                    month=month,
                    stage="transport",
                    activity="air_freight",
                    tag="peak air",
                    units_covered=air_units,
                    data_quality="secondary",
                    amount=q(D(air_units) * p.mass_kg * D("1967") / 1000, "0.1"),
                    unit="tkm",
                    factor_id="desnz-air-freight",
                    note="peak-season air freight Shenzhen Bao'an -> Beijing Capital",
                )
            # 5. EV last mile for ~45% of units.
            lm_units = int(q(D(shipped) * D("0.45"), "1"))
            rs.add(
                product=p,
                month=month,
                stage="transport",
                activity="electricity",
                tag="ev last mile",
                units_covered=lm_units,
                data_quality="primary",
                amount=q(D(lm_units) * ev_kwh[key] * ev_gain * jitter(rng, 400), "0.1"),
                unit="kWh",
                factor_id="cn-grid-electricity-ev",
                evidence=f"sup-logi EV charger export {p.product_id} {year}-{month:02d}",
                note="EV van charging kWh allocated by parcel-km",
            )
            # 6. Warehousing.
            gross = D(shipped) * wh_kwh[key] * jitter(rng, 300)
            if bev:
                pv = PV_SHARE[year][month - 1]
                net = q(gross * (1 - pv), "0.1")
                note = (
                    f"Kunshan warehouse; net of rooftop solar: gross {num(q(gross, '0.1'))} kWh"
                    f" minus PV {num(q(gross, '0.1') - net)} kWh"
                )
            else:
                net = q(gross * dongguan_gain, "0.1")
                note = "Dongguan warehouse; no on-site PV; allocated by pallet-days"
            rs.add(
                product=p,
                month=month,
                stage="warehousing",
                activity="electricity",
                tag="warehouse",
                units_covered=shipped,
                data_quality="primary",
                amount=net,
                unit="kWh",
                factor_id="cn-grid-electricity-wh",
                evidence=f"sup-logi warehouse meter {p.product_id} {year}-{month:02d}",
                note=note,
            )
    return rs


def packaging_records(year: int) -> RecordSet:
    rs = RecordSet("sup-pack", year)
    rng = random.Random(f"sup-pack|{year}")
    y25 = year == 2025
    # kg of board per boxed unit; 2025: lighter E/B-flute board.
    board = rates(
        "tea=0.0193 jug=0.0042 powerbank=0.078 cable=0.0295 earbuds=0.0505"
        if y25
        else "tea=0.021 jug=0.0045 powerbank=0.085 cable=0.032 earbuds=0.055"
    )
    # kg of film per unit; 2025: thinner shrink film.
    film = rates(
        "water12=0.026 powerbank=0.0055" if y25 else "water12=0.028 powerbank=0.0060"
    )
    crate_share = D("0.40") if y25 else D("0.35")
    reuse_cycles = 60 if y25 else 50
    crate_kg = D("1.8")
    per_crate = rates("water12=2 tea=24 jug=18")  # declared units per crate
    for month in range(1, 13):
        for p in PRODUCTS:
            key = p.key
            units = produced_units(key, year, month)
            crated = int(q(D(units) * crate_share, "1")) if key in per_crate else 0
            boxed = units - crated if key in ("tea", "jug") else units
            if key in board:
                kg = D(boxed) * board[key] * jitter(rng, 200)
                if key == "tea":
                    rs.add(
                        product=p,
                        month=month,
                        stage="packaging",
                        activity="corrugated_box",
                        tag="carton",
                        units_covered=boxed,
                        data_quality="secondary",
                        amount=q(kg / 1000, "0.001"),
                        unit="t",
                        factor_id="desnz-corrugated-board",
                        note="15-bottle shipper carton",
                    )
                else:
                    rs.add(
                        product=p,
                        month=month,
                        stage="packaging",
                        activity="corrugated_box",
                        tag="carton",
                        units_covered=boxed,
                        data_quality="secondary",
                        amount=q(kg, "0.1"),
                        unit="kg",
                        factor_id="desnz-corrugated-board",
                        note="retail box and shipper share"
                        if p.supplier_id == "sup-elec"
                        else "4-jug corrugated tray",
                    )
            if key in film:
                rs.add(
                    product=p,
                    month=month,
                    stage="packaging",
                    activity="plastic_film",
                    tag="film",
                    units_covered=units,
                    data_quality="secondary",
                    amount=q(D(units) * film[key] * jitter(rng, 200), "0.1"),
                    unit="kg",
                    factor_id="desnz-plastic-film",
                    note="PE shrink film" if key == "water12" else "PE inner bag",
                )
            if crated:
                trips = (D(crated) / per_crate[key]).to_integral_value()
                rs.add(
                    product=p,
                    month=month,
                    stage="packaging",
                    activity="reusable_crate",
                    tag="crate",
                    units_covered=crated,
                    data_quality="secondary",
                    amount=q(trips * crate_kg, "0.1"),
                    unit="kg",
                    factor_id="desnz-pp-crate",
                    reuse_cycles=reuse_cycles,
                    note=f"1.8 kg PP crate trips: {num(trips)}; amortised over "
                    f"{reuse_cycles} cycles",
                )
    return rs


def correction_rows(misread: dict[str, str]) -> list[dict[str, str]]:
    """One record superseding the misread March 2025 water line-1 electricity record."""
    start = misread["period_start"]
    fixed = {k: v for k, v in misread.items() if not k.startswith("_")}
    fixed.update(
        {
            "record_id": str(
                uuid.uuid5(
                    RECORD_NAMESPACE, f"sup-bev|correction|{misread['record_id']}"
                )
            ),
            "amount": misread["_true_kwh"],
            "evidence_sha256": sha256_hex(f"sup-bev line-1 meter re-read {start[:7]}"),
            "supersedes": misread["record_id"],
            "note": (
                f"corrected meter reading: export double-counted 3 CIP days; original "
                f"{misread['amount']} kWh"
            ),
        }
    )
    return [fixed]


# --------------------------------------------------------------------------- keys


def key_names() -> list[str]:
    return ["operator"] + [s.supplier_id for s in SUPPLIERS]


KEYS_README = """\
# TEST ONLY -- PUBLISHED DEMO KEYS -- NEVER USE FOR REAL DATA

**These Ed25519 private keys are public.** They are committed to a public repository and
are derived from a published seed:

    private_key = sha256(b"carbon-ledger TEST ONLY " + name)   # 32 raw Ed25519 seed bytes

so anyone can recompute them and sign records "as" any of these suppliers or as the
operator. They exist only so that `carbon-ledger demo` and the tests can build a sample
ledger from `samples/`. A ledger, checkpoint or carbon label signed with them proves
nothing.

Never register these public keys in a ledger that holds real data; never sign real
emission records, checkpoints or labels with them; generate real keys with
`carbon-ledger keygen --out PATH` and keep them off disk images and repositories.

| file | who | key_id |
|---|---|---|
{rows}

`key_id` = first 16 hex characters of SHA-256 of the raw 32-byte public key. Private keys
are unencrypted PKCS#8 PEM; public keys are SubjectPublicKeyInfo PEM.

The generator writes the private keys with mode 0600, but git only records the executable
bit: after a fresh checkout they are 0644. If the key loader insists on 0600, run
`chmod 600 samples/keys/*.key` (or let the demo copy them to a private directory first).

Regenerate with `python samples/generate.py` from the repository root.
"""


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


def write_keys(keys_dir: Path) -> None:
    """Ed25519 keys derived from the published seed, plus a loud TEST ONLY README."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    rows: list[str] = []
    for name in key_names():
        seed = hashlib.sha256(KEY_SEED_PREFIX + name.encode("ascii")).digest()
        private = Ed25519PrivateKey.from_private_bytes(seed)
        private_pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_path = keys_dir / f"{name}.key"
        key_path.write_bytes(private_pem)
        os.chmod(key_path, 0o600)
        (keys_dir / f"{name}.key.pub").write_bytes(public_pem)
        who = "platform operator" if name == "operator" else f"supplier `{name}`"
        rows.append(
            f"| `{name}.key` / `{name}.key.pub` | {who} | `{key_id(private.public_key())}` |"
        )
    (keys_dir / "README.md").write_text(
        KEYS_README.format(rows="\n".join(rows)), encoding="utf-8", newline="\n"
    )


# --------------------------------------------------------------------------- checks

ENERGY = {"kWh", "MWh", "GJ", "MJ"}
MASS = {"g", "kg", "t"}
VOLUME = {"L", "m3"}
DIMENSIONS: tuple[set[str], ...] = (
    ENERGY,
    MASS,
    VOLUME,
    {"tkm"},
    {"pallet_day", "m3_day"},
    {"piece"},
)


def same_dimension(a: str, b: str) -> bool:
    return any(a in dim and b in dim for dim in DIMENSIONS)


def check_records(files: dict[str, list[dict[str, str]]]) -> None:
    """Fail loudly if any generated record breaks the sample-data contract."""
    products = {p.product_id for p in PRODUCTS}
    versions = {(f.factor_id, f.version) for f in FACTORS}
    seen: set[str] = set()
    numeric = (
        "amount",
        "factor_version",
        "co2e_kg",
        "units_covered",
        "reuse_cycles",
        "distance_km",
        "mass_kg",
    )
    for fname, rows in files.items():
        for i, r in enumerate(rows, start=2):
            where = f"{fname} line {i}"
            require(r["record_id"] not in seen, where)
            seen.add(r["record_id"])
            require(r["product_id"] in products, where)
            for col in numeric:
                v = r[col]
                require("e" not in v.lower(), (where, col, v))
                if v:
                    require(D(v) > 0, (where, col, v))
            require(
                date.fromisoformat(r["period_start"])
                < date.fromisoformat(r["period_end"]),
                where,
            )
            require(r["data_quality"] in ("primary", "secondary"), where)
            ev = r["evidence_sha256"]
            require(ev == "" or (len(ev) == 64 and ev == ev.lower()), where)
            if r["factor_id"]:
                require(r["factor_id"] in FACTOR_IDS, where)
                require(r["co2e_kg"] == "", where)
                f = factor(r["factor_id"])
                if r["factor_version"]:
                    require(
                        (r["factor_id"], int(r["factor_version"])) in versions, where
                    )
                require(f.stage == r["stage"] and f.activity == r["activity"], where)
                if r["amount"]:
                    require(same_dimension(r["unit"], f.unit), where)
                    require(not r["distance_km"] and not r["mass_kg"], where)
                else:
                    require(
                        f.unit == "tkm" and r["distance_km"] and r["mass_kg"], where
                    )
                    require(r["unit"] == "", where)
            else:
                require(r["data_quality"] == "primary" and r["co2e_kg"] and ev, where)
            if r["reuse_cycles"]:
                require(int(r["reuse_cycles"]) >= 1, where)
    for p in PRODUCTS:
        require(gtin13_valid(p.product_id), p.product_id)


# --------------------------------------------------------------------------- main


def build_records() -> dict[str, list[dict[str, str]]]:
    """Every record file, by file name, checked against the sample-data contract."""
    files: dict[str, list[dict[str, str]]] = {}
    misread: dict[str, str] = {}
    for year in YEARS:
        bev, mis = beverage_records(year)
        misread = misread or mis
        for rs in (
            bev,
            electronics_records(year),
            logistics_records(year),
            packaging_records(year),
        ):
            files[f"{rs.supplier_id}-{year}.csv"] = [
                {k: v for k, v in row.items() if not k.startswith("_")}
                for row in rs.rows
            ]
    correction = correction_rows(misread)
    files["sup-bev-2025-correction.csv"] = correction
    check_records(files)
    require(
        any(
            r["record_id"] == correction[0]["supersedes"]
            for r in files["sup-bev-2025.csv"]
        ),
        "the correction must supersede a sup-bev 2025 record",
    )
    return files


def output_rows(supplier_id: str, year: int) -> list[dict[str, str]]:
    """The owner's monthly declared output of each product: the reference flow (SPEC §5)."""
    rows = []
    for p in PRODUCTS:
        if p.supplier_id != supplier_id:
            continue
        for month in range(1, 13):
            start, end = month_bounds(year, month)
            rows.append(
                {
                    "output_id": str(
                        uuid.uuid5(RECORD_NAMESPACE, f"output|{p.product_id}|{start}")
                    ),
                    "product_id": p.product_id,
                    "units": str(produced_units(p.key, year, month)),
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                    "evidence_sha256": sha256_hex(
                        f"{supplier_id} production report {p.product_id} {start:%Y-%m}"
                    ),
                }
            )
    return rows


def build_outputs() -> dict[str, list[dict[str, str]]]:
    owners = sorted({p.supplier_id for p in PRODUCTS})
    return {f"{s}-{y}.csv": output_rows(s, y) for s in owners for y in YEARS}


_TO_FACTOR_UNIT = {("t", "kg"): Fraction(1000)}


def _row_co2e(row: dict[str, str]) -> Fraction:
    """amount × factor (÷ reuse_cycles), or the measured co2e_kg: this script's own arithmetic."""
    if not row["factor_id"]:
        return Fraction(D(row["co2e_kg"]))
    versions = [x for x in FACTORS if x.factor_id == row["factor_id"]]
    wanted = int(row["factor_version"]) if row["factor_version"] else None
    f = max(versions, key=lambda x: x.version) if wanted is None else next(
        x for x in versions if x.version == wanted
    )
    if row["distance_km"]:
        amount, unit = Fraction(D(row["distance_km"])) * Fraction(D(row["mass_kg"])) / 1000, "tkm"
    else:
        amount, unit = Fraction(D(row["amount"])), row["unit"]
    if unit != f.unit:
        amount *= _TO_FACTOR_UNIT[(unit, f.unit)]
    co2e = amount * Fraction(f.kgco2e_per_unit)
    return co2e / int(row["reuse_cycles"]) if row["reuse_cycles"] else co2e


def truth(year: int) -> dict[str, Fraction]:
    """SPEC §6 v2 supplier intensity (kgCO2e per kg handled) for a calendar year.

    Written from the generator's own rows and outputs, with no code from ``ledger``, so the
    demo's scorecard can be checked against it. Every row is one month, inside the year, so
    every share φ is 1: a stage's intensity is Σ co2e over Σ_p H(S, p, s) · mass_kg(p), where
    H is the largest Σ units_covered of one allocation group, and the owner's own production
    counts the declared output instead. Superseded rows do not count.
    """
    records = build_records()
    superseded = {r["supersedes"] for rows in records.values() for r in rows if r["supersedes"]}
    produced = {p.product_id: 0 for p in PRODUCTS}
    for name, rows in build_outputs().items():
        if name.endswith(f"-{year}.csv"):
            for row in rows:
                produced[row["product_id"]] += int(row["units"])
    by_id = {p.product_id: p for p in PRODUCTS}
    co2e: dict[tuple[str, str], Fraction] = {}
    groups: dict[tuple[str, str, str], dict[str, Fraction]] = {}
    for name, rows in records.items():
        supplier = "-".join(name.split("-")[:2])  # "sup-bev-2025-correction.csv" -> sup-bev
        for row in rows:
            if row["record_id"] in superseded or not row["period_start"].startswith(str(year)):
                continue
            key = (supplier, row["stage"])
            co2e[key] = co2e.get(key, Fraction(0)) + _row_co2e(row)
            group = row["allocation_group"] or row["activity"]
            g = groups.setdefault((supplier, row["product_id"], row["stage"]), {})
            g[group] = g.get(group, Fraction(0)) + int(row["units_covered"])
    kg: dict[tuple[str, str], Fraction] = {}
    for (supplier, product_id, stage), g in groups.items():
        p = by_id[product_id]
        units = max(g.values())
        if stage == "production" and p.supplier_id == supplier:
            units = Fraction(produced[product_id])
        kg[(supplier, stage)] = kg.get((supplier, stage), Fraction(0)) + units * Fraction(p.mass_kg)
    out: dict[str, Fraction] = {}
    for (supplier, stage), total in co2e.items():
        out[supplier] = out.get(supplier, Fraction(0)) + total / kg[(supplier, stage)]
    return dict(sorted(out.items()))


def write_all(root: Path) -> dict[str, int]:
    """Write the whole sample world under ``root``; return row counts by relative path."""
    counts: dict[str, int] = {}
    write_keys(root / "keys")
    counts["suppliers.csv"] = write_csv(
        root / "suppliers.csv",
        ("supplier_id", "name", "country", "key_file"),
        ((s.supplier_id, s.name, s.country, s.key_file) for s in SUPPLIERS),
    )
    counts["products.csv"] = write_csv(
        root / "products.csv",
        ("product_id", "supplier_id", "name", "declared_unit", "mass_kg", "category"),
        (
            (
                p.product_id,
                p.supplier_id,
                p.name,
                p.declared_unit,
                num(p.mass_kg),
                p.category,
            )
            for p in PRODUCTS
        ),
    )
    counts["factors.csv"] = write_csv(
        root / "factors.csv",
        FACTOR_HEADER,
        (
            (
                f.factor_id,
                str(f.version),
                f.activity,
                f.stage,
                f.unit,
                num(f.kgco2e_per_unit),
                f.gwp,
                f.source,
                str(f.year),
                f.region,
            )
            for f in FACTORS
        ),
    )
    for fname, rows in build_records().items():
        counts[f"records/{fname}"] = write_csv(
            root / "records" / fname,
            RECORD_HEADER,
            ([row[c] for c in RECORD_HEADER] for row in rows),
        )
    for fname, rows in build_outputs().items():
        counts[f"outputs/{fname}"] = write_csv(
            root / "outputs" / fname,
            OUTPUT_HEADER,
            ([row[c] for c in OUTPUT_HEADER] for row in rows),
        )
    return counts


def generated_paths(root: Path) -> list[Path]:
    """Every file this script writes, relative to ``root``."""
    names = ["suppliers.csv", "products.csv", "factors.csv", "keys/README.md"]
    for key in key_names():
        names += [f"keys/{key}.key", f"keys/{key}.key.pub"]
    names += [f"records/{name}" for name in build_records()]
    names += [f"outputs/{name}" for name in build_outputs()]
    return [root / name for name in names]


def drift(committed: Path, fresh: Path) -> list[str]:
    """Relative paths whose bytes differ between two generated trees."""
    return [
        str(new.relative_to(fresh))
        for old, new in zip(
            generated_paths(committed), generated_paths(fresh), strict=True
        )
        if not old.is_file() or old.read_bytes() != new.read_bytes()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=SAMPLES_DIR,
        help="directory to write (default: samples/)",
    )
    parser.add_argument(
        "--truth",
        action="store_true",
        help="print each supplier's SPEC §6 intensity for 2024 and 2025, computed here",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary directory and fail if --out differs (drift check)",
    )
    args = parser.parse_args(argv)
    if args.truth:
        before, after = truth(2024), truth(2025)
        for supplier, now in after.items():
            change = (now - before[supplier]) * 100 / before[supplier]
            print(f"{supplier}: 2024 {float(before[supplier]):.5f}  2025 {float(now):.5f}  "
                  f"change {float(change):+.2f} %")
        return 0
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            write_all(Path(tmp))
            changed = drift(args.out, Path(tmp))
        for path in changed:
            print(f"drift: {path}", file=sys.stderr)
        return 1 if changed else 0
    for path, count in write_all(args.out).items():
        print(f"{path}: {count} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
