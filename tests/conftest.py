"""Fixtures: real SQLite files and a real PostgreSQL server started for the test run.

The PostgreSQL server is started once per session with initdb/pg_ctl on a Unix socket in a
temporary directory (as the ``postgres`` user when the tests run as root). Tests are skipped
on PostgreSQL only when no server binary exists; ``.ci/run`` installs one.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
_counter = itertools.count()


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A throwaway PostgreSQL cluster on a Unix socket."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="carbon-ledger-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = (
            f"-k {self.socket_dir} -p {self.port} -c listen_addresses='' -c fsync=off "
            "-c max_connections=60"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"

    def create_database(self, template: str | None = None) -> str:
        """A new database (a copy of ``template``'s database when given); returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(_counter)}"
        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user="postgres",
            dbname="postgres",
            autocommit=True,
        ) as conn:
            copy = f' TEMPLATE "{template}"' if template is not None else ""
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what needs PostgreSQL or Chromium, so `pytest -m "not postgres and not browser"`
    is the quick local subset on a laptop that has neither (``.ci/run`` installs both).

    A test is ``postgres`` when any fixture it uses is parametrised to "postgresql" (db_url
    and the like), or when it uses the server fixture directly."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        fixtures = getattr(item, "fixturenames", ())
        backends = {value for value in params.values() if value in ("sqlite", "postgresql")}
        if "postgresql" in backends or ("postgres_server" in fixtures and not backends):
            item.add_marker(pytest.mark.postgres)
        if "chromium" in fixtures:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binary (pg_ctl) on this machine; .ci/run installs one")
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """The TEST ONLY sample keys, copied with mode 0600."""
    target = tmp_path / "keys"
    shutil.copytree(SAMPLES / "keys", target)
    for key in target.glob("*.key"):
        key.chmod(0o600)
    return target


WorldBuilder = Callable[..., dict[str, Any]]


@pytest.fixture
def make_world(key_dir: Path) -> WorldBuilder:
    """Build the sample world (operator, 4 suppliers, 13 factors, 6 products) at a URL."""
    import csv

    from ledger import keys, records, registry
    from ledger.store.db import make_engine

    def build(url: str, origin: str = "test.example/ledger") -> dict[str, Any]:
        engine = make_engine(url)
        operator = keys.load_private(key_dir / "operator.key")
        registry.init_ledger(engine, operator, origin)
        supplier_keys = {}
        with (SAMPLES / "suppliers.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                sid = row["supplier_id"]
                registry.add_supplier(
                    engine,
                    sid,
                    row["name"],
                    row["country"],
                    keys.load_public(key_dir / f"{sid}.key.pub"),
                    operator,
                )
                supplier_keys[sid] = keys.load_private(key_dir / f"{sid}.key")
        registry.import_factors(engine, SAMPLES / "factors.csv", operator)
        with (SAMPLES / "products.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                records.add_product(
                    engine,
                    row["supplier_id"],
                    supplier_keys[row["supplier_id"]],
                    row["product_id"],
                    row["name"],
                    row["declared_unit"],
                    row["mass_kg"],
                    row["category"] or None,
                )
        return {
            "engine": engine,
            "url": url,
            "operator": operator,
            "keys": supplier_keys,
            "key_dir": key_dir,
        }

    return build


@pytest.fixture
def world(db_url: str, make_world: WorldBuilder) -> dict[str, Any]:
    """A ledger with the sample operator, suppliers, factors and products (no records)."""
    return make_world(db_url)


@pytest.fixture(scope="session")
def gen_records() -> ModuleType:
    """bench/gen_records.py, the realistic record generator (bench/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_records", REPO / "bench" / "gen_records.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def cli_env() -> dict[str, str]:
    """The environment for a carbon-ledger subprocess, without the caller's CARBON_LEDGER_DB."""
    env = dict(os.environ)
    env.pop("CARBON_LEDGER_DB", None)
    return env


@pytest.fixture
def tls_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (serve's TLS tests)."""
    directory = tmp_path
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function that returns a free loopback TCP port each time it is called."""
    return _free_port
