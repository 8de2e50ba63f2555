"""Every record rule checked against the ledger also holds within one submission (issue 13.1).

Two rows that supersede the same record used to pass `--dry-run` and the import, and from
then on every `verify` failed at that seq. The dry run and the real import now apply the same
rules, in file order, to the ledger's state plus the file's earlier rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from ledger import audit, records
from ledger.errors import InputError
from ledger.store import db
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WATER = "6923451000013"
HEADER = (
    "record_id,product_id,stage,activity,amount,unit,factor_id,units_covered,"
    "period_start,period_end,data_quality,supersedes"
)


def row(record_id: str, supersedes: str = "", amount: str = "1200.5") -> str:
    return (
        f"{record_id},{WATER},production,electricity,{amount},kWh,cn-grid-electricity,10000,"
        f"2025-03-01,2025-04-01,secondary,{supersedes}"
    )


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def entries(world: dict[str, Any]) -> int:
    with db.reading(world["engine"]) as conn:
        return int(conn.execute(text("SELECT count(*) FROM entries")).scalar_one())


def refused_both_ways(world: dict[str, Any], path: Path) -> list[str]:
    """The dry run and the real import refuse with the same problems; nothing is written."""
    before = entries(world)
    found = []
    for dry_run in (True, False):
        with pytest.raises(InputError) as caught:
            records.import_records(
                world["engine"], path, "sup-bev", world["keys"]["sup-bev"], dry_run=dry_run
            )
        found.append([str(caught.value), *caught.value.problems])
    assert found[0] == found[1]
    assert entries(world) == before
    return found[0]


@pytest.fixture
def seeded(world: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The sample world plus two sup-bev records, r-1 and r-2, in the ledger."""
    path = write_csv(tmp_path / "seed.csv", row("r-1"), row("r-2"))
    records.import_records(world["engine"], path, "sup-bev", world["keys"]["sup-bev"])
    return world


def test_two_rows_superseding_one_record_are_refused(
    seeded: dict[str, Any], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "twice.csv", row("c-1", "r-1"), row("c-2", "r-1", "1100.5"))
    assert refused_both_ways(seeded, path) == [
        "1 bad row(s); nothing was written",
        "line 3: supersedes: record 'r-1' is already superseded or retracted by line 2 of "
        "this submission",
    ]
    audit.verify_database(seeded["engine"])  # the ledger is still whole


def test_superseding_a_record_superseded_earlier_in_the_file_is_refused(
    seeded: dict[str, Any], tmp_path: Path
) -> None:
    # line 2 corrects r-1 by c-1; line 3 corrects c-1 (fine); line 4 corrects c-1 again
    path = write_csv(
        tmp_path / "chain.csv",
        row("c-1", "r-1"),
        row("c-2", "c-1"),
        row("c-3", "c-1"),
    )
    assert refused_both_ways(seeded, path) == [
        "1 bad row(s); nothing was written",
        "line 4: supersedes: record 'c-1' is already superseded or retracted by line 3 of "
        "this submission",
    ]


def test_a_chain_of_corrections_within_one_file_is_accepted_and_verifies(
    seeded: dict[str, Any], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "chain.csv", row("c-1", "r-1"), row("c-2", "c-1"))
    report = records.import_records(seeded["engine"], path, "sup-bev", seeded["keys"]["sup-bev"])
    assert report.rows == 2
    with db.reading(seeded["engine"]) as conn:
        status = dict(conn.execute(text("SELECT record_id, status FROM records")).all())
    assert status == {
        "r-1": "superseded",
        "r-2": "effective",
        "c-1": "superseded",
        "c-2": "effective",
    }
    audit.verify_database(seeded["engine"])


def test_targets_later_in_the_file_or_already_superseded_in_the_ledger_are_refused(
    seeded: dict[str, Any], tmp_path: Path
) -> None:
    records.import_records(
        seeded["engine"],
        write_csv(tmp_path / "fix.csv", row("c-1", "r-2")),
        "sup-bev",
        seeded["keys"]["sup-bev"],
    )
    path = write_csv(
        tmp_path / "bad.csv",
        row("d-1", "r-2"),  # r-2 was superseded by the previous import
        row("d-2", "d-3"),  # d-3 comes later in the file: not an earlier record
        row("d-3"),
    )
    assert refused_both_ways(seeded, path) == [
        "2 bad row(s); nothing was written",
        "line 2: supersedes: record 'r-2' is already superseded",
        "line 3: supersedes: record 'd-3' does not exist",
    ]


def test_duplicate_record_ids_in_the_file_and_the_ledger_are_found_by_the_dry_run(
    seeded: dict[str, Any], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "dups.csv", row("n-1"), row("r-2"), row("n-1"))
    assert refused_both_ways(seeded, path) == [
        "2 bad row(s); nothing was written",
        "line 3: record_id: 'r-2' already exists in the ledger",
        "line 4: record_id: 'n-1' repeats line 2",
    ]
    # through the CLI, the dry run says the same and exits 1
    runner = CliRunner()
    args = ["--db", seeded["url"], "import", str(path), "--supplier", "sup-bev"]
    args += ["--key", str(seeded["key_dir"] / "sup-bev.key"), "--dry-run"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: 2 bad row(s); nothing was written\n"
        "  line 3: record_id: 'r-2' already exists in the ledger\n"
        "  line 4: record_id: 'n-1' repeats line 2\n"
    )


def test_a_reexported_file_is_a_duplicate_whatever_its_bytes(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 13.6: a file differing by a newline was imported twice. The check compares the
    records (all but their ids), and says so."""
    engine, key = world["engine"], world["keys"]["sup-bev"]
    source = SAMPLES / "records" / "sup-bev-2024.csv"
    first = records.import_records(engine, source, "sup-bev", key)
    assert first.result is not None
    crlf = tmp_path / "reexport.csv"
    crlf.write_bytes(source.read_bytes().replace(b"\n", b"\r\n"))
    lines = source.read_text(encoding="utf-8").splitlines()
    fresh_ids = tmp_path / "no-ids.csv"  # record_id column emptied: new UUIDs would be drawn
    fresh_ids.write_text(
        "\n".join([lines[0], *("," + line.split(",", 1)[1] for line in lines[1:])]) + "\n",
        encoding="utf-8",
    )
    message = (
        f"every record in this file is already in the ledger (line 2 is the record at seq "
        f"{first.result.first_seq}): the duplicate check compares the records' product, stage, "
        "activity, amount, unit, factor, co2e, units and period, not the file's bytes or "
        "record ids; use --allow-duplicate to import it again"
    )
    before = entries(world)
    for path in (crlf, fresh_ids):
        for dry_run in (True, False):
            with pytest.raises(records.DuplicateFileError) as caught:
                records.import_records(engine, path, "sup-bev", key, dry_run=dry_run)
            assert str(caught.value) == message
    assert entries(world) == before
    again = records.import_records(engine, fresh_ids, "sup-bev", key, allow_duplicate=True)
    assert again.rows == 84


def test_one_new_row_makes_a_file_new(world: dict[str, Any], tmp_path: Path) -> None:
    engine, key = world["engine"], world["keys"]["sup-bev"]
    records.import_records(engine, write_csv(tmp_path / "a.csv", row("a-1")), "sup-bev", key)
    both = write_csv(tmp_path / "b.csv", row("b-1"), row("b-2", amount="99"))
    assert records.import_records(engine, both, "sup-bev", key).rows == 2
