"""`carbon-ledger reindex`: index tables are derived, so they can be rebuilt from the entries.

An older schema version is refused by every command with the instruction to reindex; after
reindex, `verify` passes and the query figures are those of the original index.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from ledger import audit, query, records, transparency
from ledger.errors import StorageError
from ledger.labels.export import LabelOptions
from ledger.labels.export import export_one as export_label
from ledger.outputs import read_rows as read_output_rows
from ledger.store import db
from ledger.store.reindex import index_tables, reindex
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DATA = Path(__file__).resolve().parent / "data"
WINDOW = ("2025-01-01", "2026-01-01")


@pytest.fixture
def filled(world: dict[str, Any]) -> dict[str, Any]:
    """The sample world with two suppliers' 2025 records and outputs, a correction, a logged
    footprint statement and a checkpoint."""
    engine = world["engine"]
    for supplier_id in ("sup-bev", "sup-elec"):
        path = SAMPLES / "records" / f"{supplier_id}-2025.csv"
        records.import_records(engine, path, supplier_id, world["keys"][supplier_id])
    records.import_records(
        engine,
        SAMPLES / "records" / "sup-bev-2025-correction.csv",
        "sup-bev",
        world["keys"]["sup-bev"],
    )
    for supplier_id in ("sup-bev", "sup-elec"):  # the reference flow: the outputs table
        rows = read_output_rows(SAMPLES / "outputs" / f"{supplier_id}-2025.csv")
        records.declare_outputs(engine, supplier_id, world["keys"][supplier_id], rows)
    export_label(  # logs a footprint statement: the footprints table
        engine, "6923451000013", *WINDOW, "json", LabelOptions(), world["operator"]
    )
    world["checkpoint"] = transparency.sign_checkpoint(engine, world["operator"]).note
    return world


def _figures(engine: Any) -> list[pd.DataFrame]:
    return [query.intensity(engine, by, WINDOW) for by in ("supplier", "product", "stage")]


def _damage(engine: Any, schema_version: int) -> None:
    """Empty the records, outputs and Merkle node indexes, drop the footprints table and a
    key row, set a schema version."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM records"))
        conn.execute(text("DELETE FROM merkle_nodes"))
        conn.execute(text("DELETE FROM outputs"))
        conn.execute(text("DROP TABLE footprints"))  # as in a 0.1.0 database
        conn.execute(text("DELETE FROM supplier_keys WHERE supplier_id = 'sup-bev'"))
        conn.execute(
            text("UPDATE meta SET value = :v WHERE key = 'schema_version'"),
            {"v": str(schema_version)},
        )


def test_an_older_schema_is_refused_until_reindex(filled: dict[str, Any]) -> None:
    engine, url = filled["engine"], filled["url"]
    before = _figures(engine)
    assert len(before[0]) == 2  # sup-bev and sup-elec reported 2025 records
    _damage(engine, db.SCHEMA_VERSION - 1)
    runner = CliRunner()
    instruction = (
        f"Error: the database has schema {db.SCHEMA_VERSION - 1}, this carbon-ledger uses "
        f"schema {db.SCHEMA_VERSION}; run `carbon-ledger reindex` to rebuild its index tables\n"
    )
    for args in (["verify"], ["supplier", "list"], ["log", "--limit", "1"]):
        result = runner.invoke(cli, ["--db", url, *args])
        assert result.exit_code == 1, args
        assert result.stderr == instruction
    with pytest.raises(StorageError, match="run `carbon-ledger reindex`"):
        query.intensity(engine, "supplier", WINDOW)

    result = runner.invoke(cli, ["--db", url, "reindex"])
    assert result.exit_code == 0, result.output
    entries = audit.ledger_size(engine)
    assert result.stdout.startswith(f"reindexed {entries} entries into ")
    assert f"schema version {db.SCHEMA_VERSION}" in result.stdout

    result = runner.invoke(cli, ["--db", url, "verify"])
    assert result.exit_code == 0, result.output
    audit.verify_database(engine, filled["checkpoint"])
    after = _figures(engine)
    for old, new in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(old, new)


def test_reindex_of_a_sound_ledger_changes_nothing(filled: dict[str, Any]) -> None:
    engine = filled["engine"]
    tables = [t.name for t in index_tables()]
    assert {"suppliers", "supplier_keys", "products", "factors", "submissions", "records"} <= set(
        tables
    )
    assert {"merkle_nodes", "submission_nodes", "outputs", "footprints"} <= set(tables)
    with engine.connect() as conn:
        snapshot = {
            t: sorted(tuple(map(str, row)) for row in conn.execute(text(f"SELECT * FROM {t}")))
            for t in tables
        }
    seen: list[tuple[int, int]] = []
    report = reindex(engine, lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (report.entries, report.entries)
    with engine.connect() as conn:
        for t in tables:
            rows = sorted(tuple(map(str, row)) for row in conn.execute(text(f"SELECT * FROM {t}")))
            assert rows == snapshot[t], t
    audit.verify_database(engine, filled["checkpoint"])


def test_a_newer_schema_is_refused_and_not_reindexed(filled: dict[str, Any]) -> None:
    engine, url = filled["engine"], filled["url"]
    _damage(engine, db.SCHEMA_VERSION + 1)
    for args in (["verify"], ["reindex"]):
        result = CliRunner().invoke(cli, ["--db", url, *args])
        assert result.exit_code == 1
        assert "was created by a newer carbon-ledger" in result.stderr


def test_a_database_written_by_0_1_0_is_upgraded_by_reindex(tmp_path: Path) -> None:
    """A real 0.1.0 database (schema 1: no outputs or footprints tables) is refused, then
    reindexed, then verifies."""
    path = tmp_path / "ledger-0.1.0.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((DATA / "ledger-0.1.0.sql").read_text(encoding="utf-8"))
    url = f"sqlite:///{path}"
    runner = CliRunner()
    refused = runner.invoke(cli, ["--db", url, "verify"])
    assert refused.exit_code == 1
    assert f"has schema 1, this carbon-ledger uses schema {db.SCHEMA_VERSION}" in refused.stderr
    upgraded = runner.invoke(cli, ["--db", url, "reindex"])
    assert upgraded.exit_code == 0, upgraded.output
    # genesis 1 + supplier 1 + factors 13 + 3 products (each a submission of one: 6)
    # + 5 records in one submission (6) = 27 entries
    assert upgraded.stdout.startswith("reindexed 27 entries into ")
    result = runner.invoke(cli, ["--db", url, "verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 27 entries verified")
    assert "5 records" in result.stdout
