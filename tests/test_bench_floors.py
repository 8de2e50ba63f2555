"""The benchmark's floors do the same work as the operations they bound (bench/floors.py).

A floor that read fewer rows, or summed other figures, would make every ratio in the
benchmark table look better than it is. These tests hold each floor to the ledger: the bare
insert copies exactly the entry rows an import wrote, the read+hash floor reads every entry,
and the exact aggregate floor's totals equal the query's. On both backends.
"""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ledger import query, records

REPO = Path(__file__).resolve().parent.parent
WINDOW = ("2023-01-01", "2026-01-01")  # every generated record lies wholly inside
PRODUCTS = ["6923451000013", "6970123000017"]


@pytest.fixture(scope="module")
def floors() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_floors", REPO / "bench" / "floors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_floors"] = module  # its dataclass resolves annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def ledger_with_records(
    world: dict[str, Any], tmp_path: Path, gen_records: ModuleType, floors: ModuleType
) -> dict[str, Any]:
    """The sample world plus 300 generated records of two suppliers, and floor access to it."""
    for supplier, seed in (("sup-logi", 1), ("sup-pack", 2)):
        path = gen_records.write_records(
            tmp_path / f"{supplier}.csv", 150, supplier, PRODUCTS, seed
        )
        records.import_records(world["engine"], path, supplier, world["keys"][supplier])
    url = world["url"]
    # on PostgreSQL the floor tables (floor_*) go in the ledger's own database here
    scratch = f"sqlite:///{tmp_path / 'scratch.db'}" if url.startswith("sqlite") else url
    return {**world, "backend": floors.Backend.from_url(url, scratch)}


def test_insert_floor_writes_the_same_entry_rows(
    ledger_with_records: dict[str, Any], floors: ModuleType
) -> None:
    backend = ledger_with_records["backend"]
    with backend.ledger() as conn:
        (last,) = conn.execute("SELECT MAX(seq) FROM entries").fetchone()
        first = last - 150  # the sup-pack submission entry and its 150 records
        source = conn.execute(f"SELECT * FROM entries WHERE seq >= {first} ORDER BY seq").fetchall()
    seconds, count = floors.insert_floor(backend, first, last, batch=64, keep=True)
    assert count == 151 and seconds > 0
    with backend.scratch_db() as conn:
        copy = conn.execute("SELECT * FROM floor_entries ORDER BY seq").fetchall()
    assert [tuple(r) for r in copy] == [tuple(r) for r in source]


def test_read_hash_floor_reads_every_entry(
    ledger_with_records: dict[str, Any], floors: ModuleType
) -> None:
    backend = ledger_with_records["backend"]
    with backend.ledger() as conn:
        (entries,) = conn.execute("SELECT COUNT(*) FROM entries").fetchone()
    _seconds, count = floors.read_hash_floor(backend)
    assert count == entries


def test_aggregate_floor_totals_equal_the_query(
    ledger_with_records: dict[str, Any], floors: ModuleType
) -> None:
    backend = ledger_with_records["backend"]
    groups = floors.build_aggregates(backend)
    assert 0 < groups <= 300
    _seconds, co2e = floors.aggregate_floor(backend, WINDOW)
    by_supplier: dict[str, Decimal] = {}
    for (supplier, _stage), value in co2e.items():
        by_supplier[supplier] = by_supplier.get(supplier, Decimal(0)) + value
    table = query.intensity(ledger_with_records["engine"], by="supplier", window=WINDOW)
    # every record lies wholly inside WINDOW (phi = 1), so the query's total is the plain
    # sum of the records' co2e: the floor's exact sums, regrouped per supplier
    expected = dict(zip(table["supplier_id"], table["total_kgco2e"], strict=True))
    assert set(by_supplier) == {"sup-logi", "sup-pack"}
    assert by_supplier == {s: expected[s] for s in by_supplier}
