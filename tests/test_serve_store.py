"""The PCF register and tile reads on both backends (SQLite and the real PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ledger import keys, transparency
from ledger.errors import NotFoundError
from ledger.serve import pact_api, tiles
from ledger.store import db, serving


def _version(pcf_id: str, version: int, figure: str) -> serving.PcfVersion:
    doc = {"id": pcf_id, "status": "Active", "pcf": {"pcfExcludingBiogenicUptake": figure}}
    return serving.PcfVersion(
        pcf_id=pcf_id,
        product_id="P1",
        period_start="2025-01-01",
        period_end="2026-01-01",
        version=version,
        issued_at=f"2026-01-0{version}T00:00:00.000000Z",
        figures_sha256=str(version) * 64,
        document=json.dumps(doc) + "\n",
    )


def test_register_keeps_versions_and_deprecates_earlier(world: dict[str, Any]) -> None:
    engine = world["engine"]
    serving.ensure_pcf_table(engine)  # idempotent on a ledger that already has it
    first = "00000000-0000-5000-8000-000000000001"
    second = "00000000-0000-5000-8000-000000000002"
    with db.writing(engine) as conn:
        serving.insert_pcf_version(conn, _version(first, 1, "1.5"))
        serving.insert_pcf_version(conn, _version(second, 2, "1.25"))
    with db.reading(engine) as conn:
        versions = serving.pcf_versions_of(conn, "P1", "2025-01-01", "2026-01-01")
        assert [v.pcf_id for v in versions] == [first, second]
        assert serving.supplier_country(conn, "sup-bev") == "CN"
        assert serving.supplier_country(conn, "nobody") is None
    served = pact_api.served_footprints(engine)
    assert [(d["id"], d["status"]) for d in served] == [(first, "Deprecated"), (second, "Active")]
    assert served[0]["pcf"] == {"pcfExcludingBiogenicUptake": "1.5"}  # only status changes


def test_reindex_keeps_the_published_register(world: dict[str, Any]) -> None:
    """PCF ids already handed to partners are not derived from the entries: kept as they are."""
    from ledger.store.reindex import reindex

    engine = world["engine"]
    pcf = "00000000-0000-5000-8000-000000000003"
    with db.writing(engine) as conn:
        serving.insert_pcf_version(conn, _version(pcf, 1, "2"))
    report = reindex(engine)
    assert "pcf_versions" not in report.tables
    assert [d["id"] for d in pact_api.served_footprints(engine)] == [pcf]


def test_tiles_read_the_store(world: dict[str, Any]) -> None:
    engine = world["engine"]
    transparency.sign_checkpoint(engine, keys.load_private(world["key_dir"] / "operator.key"))
    with db.reading(engine) as conn:
        size = transparency.tree_size(conn)
        tile = tiles.read_tile(conn, tiles.TileRef(0, 0, size), size)
        bundle = tiles.read_tile(conn, tiles.TileRef(None, 0, size), size)
        leaves = serving.leaf_hashes(conn, 0, size)
        entries = serving.entry_bytes_range(conn, 0, size)
    assert 0 < size < 256
    assert tile == b"".join(leaves) and len(tile) == 32 * size
    assert bundle == b"".join(len(e).to_bytes(2, "big") + e for e in entries)
    with db.reading(engine) as conn, pytest.raises(NotFoundError, match="beyond the latest"):
        tiles.read_tile(conn, tiles.TileRef(0, 0, size + 1), size)  # not covered yet
