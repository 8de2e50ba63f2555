"""The light read path: ``query`` and ``prove`` on the stdlib sqlite3 driver.

The same SQL runs on a SQLAlchemy connection and on a plain ``sqlite3`` connection
(``ledger.store.sql``); these tests hold both to the same answers, on a ledger with a
correction, a retraction and entries after the latest checkpoint (so ``--as-of checkpoint``
takes the as-of corrections of ``record_sums``), and hold the commands to their imports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger import proofs, query, records, transparency
from ledger.store import db, sql, sums
from ledger.tables import intensity_table, scorecard_table
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "records"
WINDOW, BASELINE = ("2025-01-01", "2026-01-01"), ("2024-01-01", "2025-01-01")


@pytest.fixture
def ledger(make_world: Any, tmp_path: Path) -> dict[str, Any]:
    """Two years of two suppliers, a checkpoint, then a correction and a retraction."""
    w = make_world(f"sqlite:///{tmp_path / 'ledger.db'}")
    for name, supplier in [
        ("sup-bev-2024.csv", "sup-bev"),
        ("sup-bev-2025.csv", "sup-bev"),
        ("sup-logi-2024.csv", "sup-logi"),
        ("sup-logi-2025.csv", "sup-logi"),
    ]:
        records.import_records(w["engine"], SAMPLES / name, supplier, w["keys"][supplier])
    transparency.sign_checkpoint(w["engine"], w["operator"])
    records.import_records(
        w["engine"], SAMPLES / "sup-bev-2025-correction.csv", "sup-bev", w["keys"]["sup-bev"]
    )
    with db.reading(w["engine"]) as conn:
        victim = next(
            iter(
                conn.exec_driver_sql(
                    "SELECT record_id FROM records WHERE supplier_id = 'sup-logi' AND status = "
                    "'effective' AND period_start >= '2025-01-01' ORDER BY seq LIMIT 1"
                )
            )
        )[0]
    records.retract(w["engine"], "sup-logi", w["keys"]["sup-logi"], victim, "double entry")
    w["victim"] = victim
    return w


@pytest.mark.parametrize("by", ["supplier", "product", "stage"])
@pytest.mark.parametrize("as_of", ["latest", "checkpoint"])
def test_both_drivers_give_the_same_tables(ledger: dict[str, Any], by: str, as_of: str) -> None:
    with db.reading(ledger["engine"]) as heavy:
        want = intensity_table(heavy, by, WINDOW, BASELINE, as_of)
        card = scorecard_table(heavy, WINDOW, BASELINE, as_of=as_of)
    with sql.reading(ledger["url"]) as light:
        assert not isinstance(light, type(heavy))  # really the stdlib driver
        got = intensity_table(light, by, WINDOW, BASELINE, as_of)
        light_card = scorecard_table(light, WINDOW, BASELINE, as_of=as_of)
    assert (got.columns, got.rows, got.attrs) == (want.columns, want.rows, want.attrs)
    assert light_card == card
    assert got.rows  # a table with figures, not two empty ones


def test_as_of_checkpoint_is_the_ledger_as_it_stood(ledger: dict[str, Any]) -> None:
    """The as-of corrections (``record_sums`` minus what changed since) equal a fresh ledger
    that never saw the correction or the retraction."""
    with db.reading(ledger["engine"]) as conn:
        size = proofs.latest_checkpoint(conn).tree_size  # type: ignore[union-attr]
        assert proofs.tree_size(conn) > size
    at_checkpoint = query.intensity(ledger["engine"], "product", WINDOW, as_of=size)
    latest = query.intensity(ledger["engine"], "product", WINDOW, as_of="latest")
    assert not at_checkpoint.equals(latest)  # the correction changed sup-bev's product
    # rebuild from the entries below the checkpoint only: what the ledger held then
    with db.writing(ledger["engine"]) as conn:
        conn.exec_driver_sql("DELETE FROM record_sums")
        conn.exec_driver_sql(
            f"UPDATE records SET status = 'effective', status_seq = NULL WHERE status_seq >= {size}"
        )
        conn.exec_driver_sql(f"UPDATE records SET status = 'gone' WHERE seq >= {size}")
        sums.rebuild(conn)
    rebuilt = query.intensity(ledger["engine"], "product", WINDOW, as_of="latest")
    assert at_checkpoint.equals(rebuilt)


def test_prove_is_the_same_document_on_both_drivers(ledger: dict[str, Any]) -> None:
    with db.reading(ledger["engine"]) as conn:
        rid = next(iter(conn.exec_driver_sql("SELECT record_id FROM records LIMIT 1")))[0]
    heavy = transparency.prove(ledger["engine"], rid)
    with sql.reading(ledger["url"]) as light:
        assert proofs.prove(light, rid) == heavy
    result = CliRunner().invoke(cli, ["--db", ledger["url"], "prove", rid])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == heavy


def test_missing_file_and_old_schema_are_refused_without_litter(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            f"sqlite:///{missing}",
            "query",
            "intensity",
            "--from",
            "2025-01-01",
            "--to",
            "2026-01-01",
        ],
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no ledger at {missing}: the file does not exist (check --db, or run "
        "`carbon-ledger init` to create one)\n"
    )
    assert not missing.exists()


def test_the_light_commands_import_neither_sqlalchemy_nor_pandas(ledger: dict[str, Any]) -> None:
    with db.reading(ledger["engine"]) as conn:
        rid = next(iter(conn.exec_driver_sql("SELECT record_id FROM records LIMIT 1")))[0]
    for args in (
        ["query", "intensity", "--by", "product", "--from", "2025-01-01", "--to", "2026-01-01"],
        [
            "query",
            "scorecard",
            "--from",
            "2025-01-01",
            "--to",
            "2026-01-01",
            "--baseline-from",
            "2024-01-01",
            "--baseline-to",
            "2025-01-01",
        ],
        ["prove", rid],
    ):
        code = (
            "import sys\n"
            "from ledger_cli.main import main\n"
            f"sys.argv = ['carbon-ledger', '--db', {ledger['url']!r}, *{args!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "heavy = ('sqlalchemy', 'sqlmodel', 'pandas', 'numpy')\n"
            "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert done.stderr.strip().splitlines()[-1] == "[]", (args, done.stderr)


def test_sums_follow_a_correction_inside_one_import(make_world: Any, tmp_path: Path) -> None:
    """A record and its correction in the same file: the transaction groups its own records
    with their final status, so only the correction counts (and nothing is subtracted twice)."""
    import csv

    w = make_world(f"sqlite:///{tmp_path / 'one.db'}")
    with (SAMPLES / "sup-bev-2025.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        first = next(reader)
        fields = list(reader.fieldnames or [])
    fixed = {**first, "record_id": "fixed-1", "supersedes": first["record_id"], "amount": "1000"}
    path = tmp_path / "both.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows([first, fixed])
    records.import_records(w["engine"], path, "sup-bev", w["keys"]["sup-bev"])
    with db.reading(w["engine"]) as conn:
        assert sums.first_mismatch(conn) is None
        (group,) = sums.stored(conn).values()
        co2e = next(
            iter(conn.exec_driver_sql("SELECT co2e_kg FROM records WHERE record_id = 'fixed-1'"))
        )[0]
    # one effective record left in the group: the correction, 1000 kWh x its factor
    assert (group.records, group.co2e_kg) == (1, Decimal(co2e))
