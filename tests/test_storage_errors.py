"""Storage failures are clear StorageErrors, and ``Error: ...`` (exit 1) in the CLI, never a
traceback: an unreachable PostgreSQL server, a database without the schema, and a database
written by a newer carbon-ledger (SPEC §9)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from ledger import audit, keys, records, registry
from ledger.errors import StorageError
from ledger.store import db

CLI = [sys.executable, "-c", "from ledger_cli.main import main; main()"]


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


RunCli = Callable[..., Outcome]


@pytest.fixture
def run_cli() -> RunCli:
    """The CLI in-process (fast); an exception other than the handled exit is a traceback."""
    from ledger_cli.main import cli

    def run(url: str, *args: str) -> Outcome:
        result = CliRunner().invoke(cli, ["--db", url, *args], prog_name="carbon-ledger")
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += f"\nTraceback: {result.exception!r}"
        return Outcome(result.exit_code, result.stdout, stderr)

    return run


@pytest.fixture
def run_process() -> RunCli:
    """The CLI as a real process, as a user runs it."""
    env = dict(os.environ)
    env.pop("CARBON_LEDGER_DB", None)

    def run(url: str, *args: str) -> Outcome:
        done = subprocess.run(
            [*CLI, "--db", url, *args], capture_output=True, text=True, env=env, timeout=120
        )
        return Outcome(done.returncode, done.stdout, done.stderr)

    return run


def _fails_cleanly(result: Outcome, *needles: str) -> str:
    """Exit 1 with one ``Error: ...`` line that contains every needle; no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: "), result.stderr
    first = result.stderr.splitlines()[0]
    for needle in needles:
        assert needle in first, f"{needle!r} not in {first!r}"
    return first


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["unix-socket", "tcp"])
def unreachable_pg(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(URL of a PostgreSQL server that is not there, what the message must name)."""
    port = _closed_port()
    if request.param == "unix-socket":
        empty = tmp_path / "no-server-here"
        empty.mkdir()
        return (
            f"postgresql+psycopg://postgres@/ledger?host={empty}&port={port}",
            f"{empty}/.s.PGSQL.{port}",
        )
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/ledger", f"port {port}"


def test_unreachable_postgres_is_a_storage_error(
    unreachable_pg: tuple[str, str], key_dir: Path
) -> None:
    url, where = unreachable_pg
    engine = db.make_engine(url)  # lazy: connecting is what fails
    operator = keys.load_private(key_dir / "operator.key")
    attempts: list[Callable[[], Any]] = [
        lambda: audit.verify_database(engine),
        lambda: audit.ledger_size(engine),
        lambda: registry.init_ledger(engine, operator, "test.example/ledger"),  # create_schema
        lambda: db.create_schema(engine),
    ]
    for attempt in attempts:
        with pytest.raises(StorageError) as caught:
            attempt()
        message = str(caught.value)
        assert message.startswith("cannot connect to the PostgreSQL database 'ledger': ")
        assert where in message and "Is the server running" in message, message


def test_unreachable_postgres_in_the_cli(
    unreachable_pg: tuple[str, str], key_dir: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    url, where = unreachable_pg
    rows = tmp_path / "rows.csv"
    rows.write_text("product_id,stage,activity\n", encoding="utf-8")
    for args in (
        ["verify"],
        ["init", "--operator-key", str(key_dir / "operator.key")],
        ["import", str(rows), "--supplier", "sup-bev", "--key", str(key_dir / "sup-bev.key")],
    ):
        _fails_cleanly(run_cli(url, *args), "cannot connect to the PostgreSQL database", where)


def test_database_without_schema(db_url: str, run_cli: RunCli, tmp_path: Path) -> None:
    engine = db.make_engine(db_url)
    if db.is_sqlite(engine):  # a file that exists (a missing one is refused before opening)
        Path(str(engine.url.database)).touch()
    with pytest.raises(StorageError, match=r"no carbon-ledger schema.*run `carbon-ledger init`"):
        audit.verify_database(engine)
    _fails_cleanly(run_cli(db_url, "verify"), "no carbon-ledger schema", "carbon-ledger init")
    if db.is_sqlite(engine):  # an existing, empty file is no ledger either
        empty = tmp_path / "empty.db"
        empty.touch()
        _fails_cleanly(run_cli(f"sqlite:///{empty}", "verify"), "run `carbon-ledger init`")


def _set_schema_version(engine: Engine, value: str) -> None:
    with db.writing(engine, check=False) as conn:
        conn.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": value})


def test_database_from_a_newer_version(
    db_url: str, key_dir: Path, run_cli: RunCli, tmp_path: Path
) -> None:
    engine = db.make_engine(db_url)
    operator = keys.load_private(key_dir / "operator.key")
    registry.init_ledger(engine, operator, "test.example/ledger")
    assert audit.verify_database(engine).tree_size == 1
    _set_schema_version(engine, "999")

    supplier = keys.load_private(key_dir / "sup-bev.key")
    for attempt in (
        lambda: audit.verify_database(engine),  # reading
        lambda: registry.init_ledger(engine, operator, "test.example/ledger"),  # writing
        lambda: records.add_product(engine, "sup-bev", supplier, "p1", "P", "piece", "1"),
    ):
        with pytest.raises(StorageError) as caught:
            attempt()
        assert "newer carbon-ledger" in str(caught.value) and "999" in str(caught.value)

    _fails_cleanly(run_cli(db_url, "verify"), "newer", "schema 999", "upgrade carbon-ledger")
    _fails_cleanly(
        run_cli(db_url, "init", "--operator-key", str(key_dir / "operator.key")), "newer"
    )
    with db.writing(engine, check=False) as conn:  # nothing was written meanwhile
        assert conn.execute(text("SELECT COUNT(*) FROM entries")).scalar_one() == 1


def test_garbled_schema_version_is_a_storage_error(db_url: str, key_dir: Path) -> None:
    engine = db.make_engine(db_url)
    registry.init_ledger(engine, keys.load_private(key_dir / "operator.key"), "t.example/l")
    _set_schema_version(engine, "one")
    with pytest.raises(StorageError, match="schema_version 'one' is not a carbon-ledger"):
        audit.verify_database(engine)


def test_bad_urls(tmp_path: Path, run_cli: RunCli) -> None:
    with pytest.raises(StorageError, match="unsupported database URL"):
        db.make_engine("mysql://localhost/ledger")
    missing_dir = tmp_path / "no" / "such" / "dir" / "ledger.db"
    with pytest.raises(StorageError, match=f"no ledger at {missing_dir}: the file does not"):
        audit.verify_database(db.make_engine(f"sqlite:///{missing_dir}"))
    with pytest.raises(StorageError, match=f"cannot open the SQLite database {missing_dir}"):
        db.create_schema(db.make_engine(f"sqlite:///{missing_dir}"))  # init: no such directory
    _fails_cleanly(run_cli("mysql://localhost/ledger", "verify"), "unsupported database URL")


def test_a_real_process_prints_the_error_not_a_traceback(
    unreachable_pg: tuple[str, str], run_process: RunCli
) -> None:
    url, where = unreachable_pg
    _fails_cleanly(run_process(url, "verify"), "cannot connect to the PostgreSQL database", where)


def test_real_processes_refuse_missing_and_newer_schemas(
    key_dir: Path, run_process: RunCli, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    _fails_cleanly(run_process(f"sqlite:///{empty}", "verify"), "run `carbon-ledger init`")
    newer = f"sqlite:///{tmp_path / 'newer.db'}"
    engine = db.make_engine(newer)
    registry.init_ledger(engine, keys.load_private(key_dir / "operator.key"), "t.example/l")
    _set_schema_version(engine, "999")
    _fails_cleanly(run_process(newer, "verify"), "newer carbon-ledger", "schema 999")
