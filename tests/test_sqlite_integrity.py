"""`verify` runs SQLite's full integrity_check: an index that lost rows fails (issue 13.3).

Rows removed from a secondary index of ``records`` (the table intact) made ``query`` and
labels read fewer records while every entry still verified; ``PRAGMA quick_check`` says ok.
"""

from __future__ import annotations

import gc
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger import audit, records
from ledger.errors import VerificationError
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WATER = "6923451000013"
INDEX = "ix_records_product_id"


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url  # a file format question: SQLite only


def bump_schema_version(con: sqlite3.Connection) -> None:
    (version,) = con.execute("PRAGMA schema_version").fetchone()
    con.execute(f"PRAGMA schema_version = {version + 1}")


def drop_index_rows(path: Path, product_id: str) -> int:
    """Leave ``records`` whole but remove one product's rows from INDEX.

    Delete the rows (the index loses them), hide the index from SQLite by making its
    definition a partial index that holds nothing, put the rows back (the hidden index is
    not updated), then restore the definition.
    """
    con = sqlite3.connect(path, isolation_level=None)
    rows = con.execute("SELECT * FROM records WHERE product_id = ?", (product_id,)).fetchall()
    con.execute("DELETE FROM records WHERE product_id = ?", (product_id,))
    (sql,) = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (INDEX,)).fetchone()
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql + " WHERE 0", INDEX))
    bump_schema_version(con)  # so every connection re-reads the edited definition
    con.close()
    con = sqlite3.connect(path, isolation_level=None)
    marks = ", ".join("?" * len(rows[0]))
    con.executemany(f"INSERT INTO records VALUES ({marks})", rows)
    con.execute("PRAGMA writable_schema = ON")
    con.execute("UPDATE sqlite_master SET sql = ? WHERE name = ?", (sql, INDEX))
    bump_schema_version(con)
    con.close()
    return len(rows)


def test_verify_fails_when_an_index_lost_rows(world: dict[str, Any], tmp_path: Path) -> None:
    records.import_records(
        world["engine"],
        SAMPLES / "records" / "sup-bev-2025.csv",
        "sup-bev",
        world["keys"]["sup-bev"],
    )
    audit.verify_database(world["engine"])
    world["engine"].dispose()
    gc.collect()  # no stray connection may keep the old schema cached
    path = Path(world["engine"].url.database)
    dropped = drop_index_rows(path, WATER)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA quick_check").fetchall() == [("ok",)]  # blind to it
    # the table holds the product's rows; a lookup through the index finds none of them
    where = "WHERE product_id = ?"
    (total,) = con.execute(f"SELECT count(*) FROM records NOT INDEXED {where}", (WATER,)).fetchone()
    (seen,) = con.execute(
        f"SELECT count(*) FROM records INDEXED BY {INDEX} {where}", (WATER,)
    ).fetchone()
    assert (total, seen) == (dropped, 0) and dropped > 0
    con.close()
    with pytest.raises(VerificationError) as caught:
        audit.verify_database(world["engine"])
    with pytest.raises(VerificationError) as in_two:  # the check runs in the helper process
        audit.verify_database(world["engine"], jobs=2)
    assert (in_two.value.seq, str(in_two.value)) == (caught.value.seq, str(caught.value))
    message = str(caught.value)
    assert message.startswith("the SQLite file is damaged (PRAGMA integrity_check: row ")
    assert f"missing from index {INDEX}" in message
    result = CliRunner().invoke(cli, ["--db", world["url"], "verify"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the SQLite file is damaged (PRAGMA integrity_check: ")
    assert result.stderr.rstrip().endswith(
        "restore it from a backup, or run REINDEX and verify again"
    )
