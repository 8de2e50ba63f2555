"""PostgreSQL with the README's least-privilege roles (issue 13.4).

The supplier role may append, so the database itself must refuse a row that breaks the chain
or that a later append would collide with; and a role that may only read can take the
advisory lock, so writers wait with a timeout and say so.
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from ledger import audit, records
from ledger.errors import StorageError
from ledger.store import db
from ledger_cli.main import cli

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


@pytest.fixture(params=["postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("postgres_server")
    return str(server.create_database())


def readme_role_sql() -> str:
    """The grants of the ```sql block in the README's PostgreSQL section (roles are
    cluster-wide, so the fixture creates them once, without a password)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## PostgreSQL", 1)[1]
    block = section.split("```sql", 1)[1].split("```", 1)[0]
    return re.sub(r"CREATE ROLE [^;]*;", "", block)


def as_role(url: str, role: str) -> str:
    return url.replace("postgres@", f"{role}@", 1)


def connect(url: str) -> psycopg.Connection[Any]:
    """A raw psycopg connection for an SQLAlchemy URL of the test server."""
    match = re.match(r"postgresql\+psycopg://(\w+)@/(\w+)\?host=([^&]+)&port=(\d+)", url)
    assert match is not None, url
    user, dbname, host, port = match.groups()
    return psycopg.connect(user=user, dbname=dbname, host=host, port=int(port))


@pytest.fixture
def roles(world: dict[str, Any]) -> dict[str, Any]:
    """The README's supplier_app role, and a reader that may only SELECT."""
    with connect(world["url"]) as admin:
        for role in ("supplier_app", "reader"):
            admin.execute(
                f"DO $$ BEGIN CREATE ROLE {role} LOGIN; "  # type: ignore[arg-type]
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        admin.execute(readme_role_sql())  # type: ignore[arg-type]
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    return world


def an_electricity_row(record_id: str) -> dict[str, str]:
    row = next(csv.DictReader((SAMPLES / "records" / "sup-bev-2025.csv").open(newline="")))
    return {**row, "record_id": record_id}


def head(conn: psycopg.Connection[Any]) -> tuple[int, str]:
    row = conn.execute("SELECT seq, entry_hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def test_the_supplier_role_appends_but_cannot_insert_a_chain_breaking_row(
    roles: dict[str, Any],
) -> None:
    url = as_role(roles["url"], "supplier_app")
    engine = db.make_engine(url)
    records.append_record(engine, "sup-bev", roles["keys"]["sup-bev"], an_electricity_row("ok-1"))
    with connect(url) as conn:
        seq, prev = head(conn)
        nxt = seq + 1
        junk = b'{"kind":"record","payload":{},"prev":"x","recorded_at":"t","seq":1,"v":1}'

        def entry(seq: int, prev: str, data: bytes, entry_hash: str | None = None) -> str:
            conn.execute(
                "INSERT INTO entries (seq, kind, recorded_at, prev_hash, entry_hash, leaf_hash, "
                "entry_bytes, submission_seq) VALUES (%s, 'record', 't', %s, %s, %s, %s, NULL)",
                (
                    seq,
                    prev,
                    entry_hash or hashlib.sha256(data).hexdigest(),
                    hashlib.sha256(b"\x00" + data).digest(),
                    data,
                ),
            )
            return "inserted"

        refusals = [
            (
                lambda: entry(nxt + 5, prev, junk),
                f"entries: seq {nxt + 5} rejected, the next seq is {nxt}",
            ),
            (
                lambda: entry(nxt, "0" * 64, junk),
                f"entries: seq {nxt} rejected, prev_hash is not the entry_hash of seq {seq}",
            ),
            (
                lambda: entry(nxt, prev, junk, "ab" * 32),
                f"entries: seq {nxt} rejected, entry_hash or leaf_hash is not the hash of "
                "entry_bytes",
            ),
            (
                lambda: entry(nxt, prev, junk),
                f"entries: seq {nxt} rejected, entry_bytes do not carry its kind, prev, "
                "recorded_at and seq",
            ),
            (
                lambda: conn.execute(
                    "INSERT INTO merkle_nodes (level, idx, hash) VALUES (1, 4096, %s)",
                    (b"\x00" * 32,),
                ),
                "merkle_nodes: node (1, 4096) rejected, it is not the hash of stored children",
            ),
            (
                lambda: conn.execute(
                    "INSERT INTO records (seq, submission_seq, record_id, supplier_id, "
                    "product_id, stage, activity, amount, unit, co2e_kg, units_covered, "
                    "period_start, period_end, data_quality, status) "
                    "SELECT seq + 1000, submission_seq, 'planted', supplier_id, product_id, "
                    "stage, activity, amount, unit, co2e_kg, units_covered, period_start, "
                    "period_end, data_quality, status "
                    "FROM records WHERE record_id = 'ok-1'"
                ),
                f"records: row rejected, no record entry at seq {seq + 1000}",
            ),
        ]
        for attempt, message in refusals:
            with pytest.raises(psycopg.errors.RaiseException) as caught:
                attempt()
            assert str(caught.value).splitlines()[0] == message
            conn.rollback()
    # nothing got in: the ledger verifies and the role goes on appending
    records.append_record(engine, "sup-bev", roles["keys"]["sup-bev"], an_electricity_row("ok-2"))
    report = audit.verify_database(roles["engine"])
    assert report.entries == seq + 3  # two more entries: the submission and its record
    engine.dispose()


def test_a_reader_holding_the_advisory_lock_costs_writers_a_clear_error(
    roles: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(db.LOCK_TIMEOUT_ENV, "1")
    engine = roles["engine"]
    with db.reading(engine) as conn:
        before = conn.execute(text("SELECT count(*) FROM entries")).scalar_one()
    reader = connect(as_role(roles["url"], "reader"))
    reader.autocommit = True
    reader.execute("SELECT pg_advisory_lock(%s)", (db._ADVISORY_LOCK_KEY,))
    message = (
        "another session has held the ledger's write lock for more than 1 s; nothing was "
        "written. Try again, or raise CARBON_LEDGER_LOCK_TIMEOUT (seconds)"
    )
    try:
        started = time.monotonic()
        with pytest.raises(StorageError) as caught:
            records.append_record(
                engine, "sup-bev", roles["keys"]["sup-bev"], an_electricity_row("late-1")
            )
        assert str(caught.value) == message
        assert time.monotonic() - started < 10
        bev = str(roles["key_dir"] / "sup-bev.key")
        result = CliRunner().invoke(
            cli,
            [
                *("--db", roles["url"], "retract", "no-such", "--supplier", "sup-bev"),
                *("--key", bev, "--reason", "test"),
            ],
        )
        assert result.exit_code == 1
        assert result.stderr == f"Error: {message}\n"
    finally:
        reader.execute("SELECT pg_advisory_unlock(%s)", (db._ADVISORY_LOCK_KEY,))
        reader.close()
    with db.reading(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM entries")).scalar_one() == before
    records.append_record(engine, "sup-bev", roles["keys"]["sup-bev"], an_electricity_row("ok-3"))
