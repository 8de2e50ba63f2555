"""Generate a realistic CSV of valid emission records for one supplier, quickly.

Importable (``write_records``) and runnable::

    python bench/gen_records.py out.csv 100000 --supplier sup-logi \
        --product 6923451000013 --product 6970123000017 --seed 0

Rows are streamed to the file one at a time (no big lists), so 10^6 rows cost no memory.
Every row uses a factor of ``samples/factors.csv`` with a unit that converts to the factor's
unit, so it imports into a ledger built from the samples (any registered product). The same
``(n, supplier_id, products, seed)`` always writes byte-identical files.

The mix of stages depends on the supplier: a logistics supplier (id containing ``logi``)
writes mostly transport rows (road/rail/sea/air in tkm or distance_km + mass_kg, EV charging
in kWh) and some warehousing, packaging and production rows, so all four stages appear; a
packaging supplier (``pack``) mostly packaging (board, film, reusable crates with
reuse_cycles); anyone else mostly production (grid electricity, natural gas, PET resin).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

COLUMNS = (
    "record_id", "product_id", "stage", "activity", "amount", "unit", "factor_id",
    "factor_version", "co2e_kg", "units_covered", "period_start", "period_end",
    "data_quality", "reuse_cycles", "distance_km", "mass_kg", "evidence_sha256",
    "supersedes", "note",
)  # fmt: skip

# (stage, activity, factor_id, factor_version or "", unit, low, high, note)
Template = tuple[str, str, str, str, str, float, float, str]
PRODUCTION: list[Template] = [
    ("production", "electricity", "cn-grid-electricity", "1", "kWh", 500, 60000, "line sub-meter"),
    ("production", "electricity", "cn-grid-electricity", "2", "kWh", 500, 60000, "site bill"),
    ("production", "electricity", "cn-grid-electricity", "", "MWh", 1, 60, "site bill, MWh"),
    ("production", "natural_gas", "cn-natural-gas", "", "m3", 50, 9000, "boiler gas meter"),
    ("production", "pet_resin", "desnz-pet", "", "kg", 100, 20000, "resin issued to line"),
]
TRANSPORT: list[Template] = [
    ("transport", "road_freight", "desnz-hgv-average", "", "tkm", 1000, 90000, "HGV trunk"),
    ("transport", "road_freight", "desnz-hgv-average", "", "", 0, 0, "HGV RDC run"),
    ("transport", "rail_freight", "desnz-rail-freight", "", "tkm", 1000, 120000, "rail"),
    ("transport", "sea_freight", "desnz-container-ship", "", "tkm", 10000, 900000, "feeder"),
    ("transport", "air_freight", "desnz-air-freight", "", "tkm", 10, 5000, "air express"),
    ("transport", "electricity", "cn-grid-electricity-ev", "", "kWh", 100, 9000, "EV vans"),
]
WAREHOUSING: list[Template] = [
    ("warehousing", "electricity", "cn-grid-electricity-wh", "1", "kWh", 200, 30000, "RDC"),
]
PACKAGING: list[Template] = [
    ("packaging", "corrugated_box", "desnz-corrugated-board", "", "kg", 50, 9000, "shipper"),
    ("packaging", "corrugated_box", "desnz-corrugated-board", "", "t", 0.1, 9, "shipper, t"),
    ("packaging", "plastic_film", "desnz-plastic-film", "", "kg", 20, 3000, "shrink film"),
    ("packaging", "reusable_crate", "desnz-pp-crate", "", "kg", 500, 30000, "PP crate trips"),
]


def profile(supplier_id: str) -> list[Template]:
    """Weighted templates for a supplier (repeats weight a stage)."""
    if "logi" in supplier_id:
        return TRANSPORT * 3 + WAREHOUSING * 3 + PACKAGING[:1] + PRODUCTION[:1]
    if "pack" in supplier_id:
        return PACKAGING * 4 + PRODUCTION[:2] + TRANSPORT[:1] + WAREHOUSING
    return PRODUCTION * 4 + PACKAGING[:2] + TRANSPORT[:1] + WAREHOUSING


def _months() -> list[tuple[str, str]]:
    out = []
    for year in (2023, 2024, 2025):
        for month in range(1, 13):
            end = date(year + (month == 12), month % 12 + 1, 1)
            out.append((date(year, month, 1).isoformat(), end.isoformat()))
    return out


def write_records(
    path: Path | str,
    n: int,
    supplier_id: str,
    products: Sequence[str],
    seed: int = 0,
) -> Path:
    """Write ``n`` valid records of ``supplier_id`` for ``products`` to a CSV at ``path``."""
    if not products:
        raise ValueError("give at least one product_id")
    path = Path(path)
    rng = random.Random(f"{supplier_id}/{seed}")
    templates = profile(supplier_id)
    months = _months()
    product_list = list(products)
    rand: Callable[[], float] = rng.random
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for i in range(n):
            stage, activity, fid, version, unit, low, high, note = templates[
                int(rand() * len(templates))
            ]
            record_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            start, end = months[int(rand() * len(months))]
            amount = distance = mass = reuse = evidence = ""
            if unit:
                amount = f"{low + (high - low) * rand():.{3 if high < 10 else 1}f}"
            else:  # transport by distance and mass
                distance, mass = f"{50 + 2000 * rand():.0f}", f"{1000 + 90000 * rand():.1f}"
            if activity == "reusable_crate":
                reuse = str(20 + int(rand() * 60))
            quality = "secondary"
            if rand() < 0.3:
                quality = "primary"
                evidence = hashlib.sha256(record_id.encode()).hexdigest()
            writer.writerow((
                record_id, product_list[i % len(product_list)], stage, activity, amount, unit,
                fid, version, "", 1000 + int(rand() * 400000), start, end, quality, reuse,
                distance, mass, evidence, "", f"{note} #{i}",
            ))  # fmt: skip
    return path


def write_outputs(path: Path | str, products: Sequence[str], seed: int = 0) -> Path:
    """Write the monthly declared outputs (2023-2025) of ``products`` to a CSV at ``path``.

    Accounting v2 divides a product's footprint by its declared output, and a label refuses
    a product without one, so a benchmarked label product needs these rows (imported with
    ``carbon-ledger output import`` by the product's owner). One row per product and month,
    never overlapping, with deterministic ids.
    """
    path = Path(path)
    rng = random.Random(f"outputs/{seed}")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("output_id", "product_id", "units", "period_start", "period_end"))
        for product_id in products:
            for start, end in _months():
                output_id = uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{product_id}/{start}/{seed}")
                units = 2_000_000 + int(rng.random() * 1_000_000)
                writer.writerow((str(output_id), product_id, units, start, end))
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("n", type=int)
    parser.add_argument("--supplier", required=True)
    parser.add_argument("--product", action="append", required=True, help="repeatable")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_records(args.out, args.n, args.supplier, args.product, args.seed)


if __name__ == "__main__":
    main()
