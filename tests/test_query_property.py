"""Property test: ledger.query.intensity against a plain-Python reference (SPEC §6).

Random records (the 4 sample suppliers, the 6 sample products, the 13 sample factors, or a
measured value) are imported through the library, some then superseded or retracted; the
supplier, product and stage views are compared with a reference written here from the formulas
documented in ``ledger/query.py`` — with ``Fraction`` arithmetic and exact half-even rounding to
12 places, so it shares no arithmetic code with the module:

* effective records whose ``period_start`` is in ``[from, to)``;
* ``N_S(p, s)`` = largest Σ units_covered of one of S's activities for p in s;
  ``I(S, s) = Σ co2e / Σ_p N_S(p, s) × mass(p)``; ``I(S) = Σ_s I(S, s)``;
* ``N(p)`` = largest Σ units_covered of one production activity of p (any (stage, activity)
  without production); ``I(p, s) = Σ co2e / N(p)``; ``F = Σ_s I(p, s)``; per kg ``F / mass``;
* stage view: ``Σ co2e(s) / Σ_(S, p) N_S(p, s) × mass(p)``;
* primary share ``primary × 100 / total`` (None when total is 0);
  ``change_pct = (now − base) × 100 / base`` (None when base is missing or 0).
"""

from __future__ import annotations

import csv
import itertools
import shutil
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger import keys, query, records, registry
from ledger.accounting import RECORD_COLUMNS
from ledger.footprint import STAGES
from ledger.store.db import make_engine

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SUPPLIERS = ("sup-bev", "sup-elec", "sup-logi", "sup-pack")
WINDOW_A = (date(2024, 1, 1), date(2025, 1, 1))
WINDOW_B = (date(2025, 1, 1), date(2026, 1, 1))
EVIDENCE = "0123456789abcdef" * 4


def _read_csv(name: str) -> list[dict[str, str]]:
    with (SAMPLES / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


FACTORS = _read_csv("factors.csv")
PRODUCTS = _read_csv("products.csv")
MASS = {p["product_id"]: Fraction(p["mass_kg"]) for p in PRODUCTS}
LATEST: dict[str, int] = {}
for _f in FACTORS:
    LATEST[_f["factor_id"]] = max(LATEST.get(_f["factor_id"], 0), int(_f["version"]))
FACTOR_VALUE = {
    (f["factor_id"], int(f["version"])): Fraction(f["kgco2e_per_unit"]) for f in FACTORS
}
# exact conversions only (the reference does not re-implement 12-place rounding of co2e)
UNIT_CHOICES = {
    "kWh": [("kWh", Fraction(1)), ("MWh", Fraction(1000))],
    "m3": [("m3", Fraction(1)), ("L", Fraction(1, 1000))],
    "kg": [("kg", Fraction(1)), ("g", Fraction(1, 1000)), ("t", Fraction(1000))],
    "tkm": [("tkm", Fraction(1))],
}
REUSE = [2, 4, 5, 8, 10, 20, 25, 40, 50]  # terminating divisions


@dataclass(frozen=True)
class Rec:
    supplier: str
    row: dict[str, str]  # the CSV row, without record_id / supersedes
    co2e: Fraction  # expected, exact
    fate: str = "keep"  # keep | retract | supersede
    replacement: Rec | None = None

    @property
    def product(self) -> str:
        return self.row["product_id"]

    @property
    def stage(self) -> str:
        return self.row["stage"]

    @property
    def activity(self) -> str:
        return self.row["activity"]

    @property
    def units(self) -> Fraction:
        return Fraction(self.row["units_covered"])

    @property
    def primary(self) -> bool:
        return self.row["data_quality"] == "primary"

    @property
    def start(self) -> date:
        return date.fromisoformat(self.row["period_start"])


def decimals(lo: int, hi: int, max_places: int = 3) -> st.SearchStrategy[Decimal]:
    return st.builds(
        lambda n, k: Decimal(n).scaleb(-k), st.integers(lo, hi), st.integers(0, max_places)
    )


def text(value: Decimal) -> str:
    return format(value, "f")


def exact(value: Fraction) -> Decimal:
    """A Fraction with a terminating expansion, as an exact Decimal."""
    places = 0
    while value.denominator != 1:
        value *= 10
        places += 1
        assert places <= 80, "not a terminating decimal"
    return Decimal(value.numerator).scaleb(-places)


@st.composite
def record(draw: st.DrawFn, supplier: str | None = None, replacement: bool = False) -> Rec:
    supplier = supplier or draw(st.sampled_from(SUPPLIERS))
    product = draw(st.sampled_from([p["product_id"] for p in PRODUCTS]))
    # mostly inside one of the two windows, sometimes on or just outside an edge
    start = draw(
        st.one_of(
            st.builds(
                lambda year, day: date(year, 1, 1) + timedelta(days=day),
                st.sampled_from([2024, 2025]),
                st.integers(0, 364),
            ),
            st.sampled_from(
                [
                    date(2023, 12, 31),
                    date(2024, 1, 1),
                    date(2024, 12, 31),
                    date(2025, 1, 1),
                    date(2025, 12, 31),
                    date(2026, 1, 1),
                ]
            ),
        )
    )
    end = start + timedelta(days=draw(st.integers(1, 90)))
    row = {
        "product_id": product,
        "units_covered": text(draw(decimals(1, 300000, 2))),
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
    }
    if draw(st.integers(0, 9)) == 0:  # a measured record: primary, with evidence
        co2e = draw(decimals(0, 10**6, 3))
        row.update(
            stage=draw(st.sampled_from(STAGES)),
            activity=draw(st.sampled_from(["steam", "refrigerant_leak"])),
            amount=text(draw(decimals(0, 10000))),
            unit="kg",
            co2e_kg=text(co2e),
            data_quality="primary",
            evidence_sha256=EVIDENCE,
        )
        value = Fraction(co2e)
    else:
        factor = draw(st.sampled_from(FACTORS))
        fid, stage = factor["factor_id"], factor["stage"]
        version = int(factor["version"])
        pin = draw(st.booleans())
        if not pin:
            version = LATEST[fid]
        row.update(
            stage=stage,
            activity=factor["activity"],
            factor_id=fid,
            data_quality=draw(st.sampled_from(["primary", "secondary"])),
        )
        if pin:
            row["factor_version"] = str(version)
        if factor["unit"] == "tkm" and draw(st.booleans()):
            km, kg = draw(decimals(1, 50000, 1)), draw(decimals(1, 100000, 2))
            row.update(distance_km=text(km), mass_kg=text(kg))
            amount = Fraction(km) * Fraction(kg) / 1000
        else:
            unit, size = draw(st.sampled_from(UNIT_CHOICES[factor["unit"]]))
            raw = draw(decimals(0, 100000))
            row.update(amount=text(raw), unit=unit)
            amount = Fraction(raw) * size
        value = amount * FACTOR_VALUE[(fid, version)]
        if stage == "packaging" and draw(st.booleans()):
            reuse = draw(st.sampled_from(REUSE))
            row["reuse_cycles"] = str(reuse)
            value /= reuse
    if replacement:
        return Rec(supplier, row, value)
    fate = draw(st.sampled_from(["keep"] * 6 + ["retract", "supersede"]))
    rep = draw(record(supplier=supplier, replacement=True)) if fate == "supersede" else None
    return Rec(supplier, row, value, fate, rep)


# ------------------------------------------------------------------- reference (Fraction)
def round12(value: Fraction) -> Decimal:
    """Exact half-even rounding to 12 decimal places (Fraction.__round__ is half-even)."""
    return Decimal(round(value * 10**12)).scaleb(-12)


def ref_change(now: Decimal | None, base: Decimal | None) -> Decimal | None:
    if now is None or base is None or base == 0:
        return None
    return round12((Fraction(now) - Fraction(base)) * 100 / Fraction(base))


def ref_share(recs: list[Rec]) -> Decimal | None:
    total = sum((r.co2e for r in recs), Fraction(0))
    if total == 0:
        return None
    return round12(sum((r.co2e for r in recs if r.primary), Fraction(0)) * 100 / total)


def handled_kg(recs: list[Rec]) -> Fraction:
    """Σ over (supplier, product) of (largest Σ units of one activity) × mass."""
    units: dict[tuple[str, str], dict[str, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
    for r in recs:
        units[(r.supplier, r.product)][r.activity] += r.units
    return sum((max(acts.values()) * MASS[key[1]] for key, acts in units.items()), Fraction(0))


def ref_supplier(recs: list[Rec]) -> dict[str, dict[str, Any]]:
    out = {}
    for sid in sorted({r.supplier for r in recs}):
        mine = [r for r in recs if r.supplier == sid]
        by_stage: dict[str, Decimal | None] = {}
        for s in STAGES:
            rs = [r for r in mine if r.stage == s]
            by_stage[s] = (
                round12(sum((r.co2e for r in rs), Fraction(0)) / handled_kg(rs)) if rs else None
            )
        present = [v for v in by_stage.values() if v is not None]
        out[sid] = {
            "records": len(mine),
            "total_kgco2e": exact(sum((r.co2e for r in mine), Fraction(0))),
            **by_stage,
            "intensity_kgco2e_per_kg": sum(present, Decimal(0)),
            "primary_data_share": ref_share(mine),
            "missing_stages": [s for s in STAGES if by_stage[s] is None],
        }
    return out


def ref_product(recs: list[Rec]) -> dict[str, dict[str, Any]]:
    out = {}
    for pid in sorted({r.product for r in recs}):
        mine = [r for r in recs if r.product == pid]
        production = [r for r in mine if r.stage == "production"] or mine
        sums: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
        for r in production:
            sums[(r.stage, r.activity)] += r.units
        n = max(sums.values())
        by_stage = {}
        for s in STAGES:
            rs = [r for r in mine if r.stage == s]
            by_stage[s] = round12(sum((r.co2e for r in rs), Fraction(0)) / n) if rs else None
        footprint = sum((v for v in by_stage.values() if v is not None), Decimal(0))
        out[pid] = {
            "records": len(mine),
            "total_kgco2e": exact(sum((r.co2e for r in mine), Fraction(0))),
            "reference_units": exact(n),
            **by_stage,
            "footprint_kgco2e_per_unit": footprint,
            "footprint_kgco2e_per_kg": round12(Fraction(footprint) / MASS[pid]),
            "primary_data_share": ref_share(mine),
            "missing_stages": [s for s in STAGES if by_stage[s] is None],
        }
    return out


def ref_stage(recs: list[Rec]) -> dict[str, dict[str, Any]]:
    out = {}
    for s in STAGES:
        rs = [r for r in recs if r.stage == s]
        total = sum((r.co2e for r in rs), Fraction(0))
        out[s] = {
            "records": len(rs),
            "total_kgco2e": exact(total),
            "intensity_kgco2e_per_kg": round12(total / handled_kg(rs)) if rs else None,
            "primary_data_share": ref_share(rs) if rs else None,
        }
    return out


REFERENCE = {
    "supplier": (
        "supplier_id",
        ref_supplier,
        "intensity_kgco2e_per_kg",
        "baseline_intensity_kgco2e_per_kg",
    ),
    "product": (
        "product_id",
        ref_product,
        "footprint_kgco2e_per_unit",
        "baseline_footprint_kgco2e_per_unit",
    ),
    "stage": ("stage", ref_stage, "intensity_kgco2e_per_kg", "baseline_intensity_kgco2e_per_kg"),
}


def reference(
    by: str, effective: list[Rec], window: tuple[date, date], baseline: tuple[date, date] | None
) -> dict[str, dict[str, Any]]:
    _key, figures, value, base_column = REFERENCE[by]

    def within(w: tuple[date, date]) -> list[Rec]:
        return [r for r in effective if w[0] <= r.start < w[1]]

    now = figures(within(window))
    base = figures(within(baseline)) if baseline is not None else {}
    for k, fig in now.items():
        base_value = base.get(k, {}).get(value)
        fig[base_column] = base_value
        fig["change_pct"] = ref_change(fig[value], base_value)
    return now


# ------------------------------------------------------------------------------ the world
_counter = itertools.count()


def fresh_world(sqlite_url: str, key_dir: Path) -> tuple[str, dict[str, Any]]:
    """A copy of the ledger at ``sqlite_url``, which holds the sample suppliers, factors and
    products (no records) — built on the first example, copied for each one after."""
    template = Path(sqlite_url.removeprefix("sqlite:///"))
    if not template.exists():
        engine = make_engine(sqlite_url)
        operator = keys.load_private(key_dir / "operator.key")
        registry.init_ledger(engine, operator, "test.example/property")
        for s in _read_csv("suppliers.csv"):
            registry.add_supplier(
                engine,
                s["supplier_id"],
                s["name"],
                s["country"],
                keys.load_public(key_dir / f"{s['supplier_id']}.key.pub"),
                operator,
            )
        registry.import_factors(engine, SAMPLES / "factors.csv", operator)
        for p in PRODUCTS:
            owner = p["supplier_id"]
            records.add_product(
                engine,
                owner,
                keys.load_private(key_dir / f"{owner}.key"),
                p["product_id"],
                p["name"],
                p["declared_unit"],
                p["mass_kg"],
                p["category"] or None,
            )
        engine.dispose()  # the last connection closing checkpoints the WAL into the file
    target = template.with_name(f"example-{next(_counter)}.db")
    shutil.copyfile(template, target)
    skeys = {sid: keys.load_private(key_dir / f"{sid}.key") for sid in SUPPLIERS}
    return f"sqlite:///{target}", skeys


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(RECORD_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path


def load(engine: Any, skeys: dict[str, Any], recs: list[Rec], tmp_path: Path) -> list[Rec]:
    """Import, supersede and retract through the library; return the effective records."""
    ids = {id(r): f"r{n}" for n, r in enumerate(recs)}
    for round_ in ("first", "corrections"):
        for sid in SUPPLIERS:
            if round_ == "first":
                rows = [{**r.row, "record_id": ids[id(r)]} for r in recs if r.supplier == sid]
            else:
                rows = [
                    {
                        **r.replacement.row,
                        "record_id": f"{ids[id(r)]}-fix",
                        "supersedes": ids[id(r)],
                    }
                    for r in recs
                    if r.supplier == sid and r.replacement is not None
                ]
            if rows:
                path = write_csv(tmp_path / f"{sid}-{round_}-{next(_counter)}.csv", rows)
                report = records.import_records(engine, path, sid, skeys[sid])
                assert report.rows == len(rows)
    for r in recs:
        if r.fate == "retract":
            records.retract(engine, r.supplier, skeys[r.supplier], ids[id(r)], "property test")
    effective = [r for r in recs if r.fate == "keep"]
    effective += [replace(r.replacement, fate="keep") for r in recs if r.replacement is not None]
    return effective


def frame_rows(frame: Any, key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in frame.to_dict("records"):
        name = str(row.pop(key))
        row.pop("product_name", None)
        out[name] = {
            str(k): (None if isinstance(v, float) and v != v else v) for k, v in row.items()
        }
    return out


def assert_same(
    actual: dict[str, dict[str, Any]], expected: dict[str, dict[str, Any]], context: str
) -> None:
    assert list(actual) == list(expected), context
    for name, want in expected.items():
        got = actual[name]
        assert set(got) == set(want), (context, name)
        for column, value in want.items():
            if isinstance(value, Decimal):
                assert isinstance(got[column], Decimal), (context, name, column, got[column])
            assert got[column] == value, (context, name, column, got[column], value)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(recs=st.lists(record(), min_size=6, max_size=30))
def test_intensity_matches_reference(
    sqlite_url: str, key_dir: Path, tmp_path: Path, recs: list[Rec]
) -> None:
    url, skeys = fresh_world(sqlite_url, key_dir)  # each example: a fresh copy
    engine = make_engine(url)
    try:
        effective = load(engine, skeys, recs, tmp_path)
        for fate in ("retract", "supersede"):
            event(f"has {fate}: {any(r.fate == fate for r in recs)}")
        in_b = sum(WINDOW_B[0] <= r.start < WINDOW_B[1] for r in effective)
        event(f"effective records in 2025: {'0' if not in_b else '1-5' if in_b <= 5 else '6+'}")
        for by in ("supplier", "product", "stage"):
            for window, baseline in ((WINDOW_B, WINDOW_A), (WINDOW_A, WINDOW_B), (WINDOW_B, None)):
                frame = query.intensity(engine, by, window, baseline)
                key = REFERENCE[by][0]
                assert_same(
                    frame_rows(frame, key),
                    reference(by, effective, window, baseline),
                    f"{by} {window} vs {baseline}",
                )
    finally:
        engine.dispose()
