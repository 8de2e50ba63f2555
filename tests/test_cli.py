"""The click CLI (SPEC §8), driven through CliRunner against real SQLite files and PostgreSQL."""

from __future__ import annotations

import base64
import csv
import json
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from ledger import keys, note, query, registry, transparency
from ledger.errors import ConflictError
from ledger.store.db import make_engine
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WATER = "6923451000013"
TEA = "6923451000020"
BEV_KEY_ID = "b1aed0e774ad4ce3"
ELEC_KEY_ID = "0309d6a1ad6cc722"
BEV_2024 = SAMPLES / "records" / "sup-bev-2024.csv"
FIRST_BEV_RECORD = "a1013e85-649d-5f71-bbc5-7ca3cf61a88d"  # line 2 of sup-bev-2024.csv


@dataclass
class Ledger:
    url: str
    keys: Path
    dir: Path

    def key(self, name: str) -> str:
        return str(self.keys / f"{name}.key")


def run(url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--db", url, *args], env=env, prog_name="carbon-ledger")


def entry_count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM entries")).scalar_one())
    finally:
        engine.dispose()


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    assert result.stderr == "" or result.stderr.startswith("figures as of")
    return result


def refused(result: Result, *fragments: str, code: int = 1) -> str:
    """Assert a refusal: exit code, ``Error:`` on stderr, nothing on stdout, the fragments."""
    assert result.exit_code == code, (result.output, result.exception)
    if code == 1:
        assert result.stderr.startswith("Error: "), result.stderr
        assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


def append_args(
    ledger: Ledger, supplier: str = "sup-bev", key: str | None = None, **options: str
) -> list[str]:
    values = {
        "product": WATER, "stage": "production", "activity": "electricity", "amount": "1000",
        "unit": "kWh", "factor": "cn-grid-electricity", "units-covered": "100",
        "period-start": "2025-01-01", "period-end": "2025-02-01",
    }
    values.update({k.replace("_", "-"): v for k, v in options.items()})
    args = ["append", "--supplier", supplier, "--key", key or ledger.key(supplier)]
    for name, value in values.items():
        if value:
            args += [f"--{name}", value]
    return args


@pytest.fixture
def ledger(tmp_path: Path, key_dir: Path, make_world: Callable[..., Any]) -> Ledger:
    """A sample-world ledger in ``<tmp>/l.db``."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    make_world(url, "test.example/cli")["engine"].dispose()
    return Ledger(url, key_dir, tmp_path)


@pytest.fixture
def any_ledger(
    db_url: str, tmp_path: Path, key_dir: Path, make_world: Callable[..., Any]
) -> Ledger:
    """The same sample world on each backend (SQLite file, PostgreSQL server)."""
    make_world(db_url, "test.example/cli")["engine"].dispose()
    return Ledger(db_url, key_dir, tmp_path)


@pytest.fixture
def imported(ledger: Ledger) -> Ledger:
    """The sample world plus sup-bev's 2024 records (84 rows)."""
    ok(run(ledger.url, "import", str(BEV_2024), "--supplier", "sup-bev",
           "--key", ledger.key("sup-bev")))
    return ledger


# ---------------------------------------------------------------- whole flow, both backends


def test_operator_and_supplier_flow(db_url: str, key_dir: Path, tmp_path: Path) -> None:
    op = str(key_dir / "operator.key")
    result = ok(run(db_url, "init", "--operator-key", op, "--origin", "test.example/flow"))
    assert result.stdout.startswith("initialised ledger ")
    assert "(origin test.example/flow)" in result.stdout
    refused(run(db_url, "init", "--operator-key", op),
            "Error: this database already holds a ledger; init refuses to reset it")
    assert entry_count(db_url) == 1

    with (SAMPLES / "suppliers.csv").open(newline="") as handle:
        for n, row in enumerate(csv.DictReader(handle), start=1):
            sid = row["supplier_id"]
            result = ok(run(db_url, "supplier", "add", sid, "--name", row["name"], "--country",
                            "CN", "--public-key", str(key_dir / f"{sid}.key.pub"),
                            "--operator-key", op))
            kid = keys.key_id(keys.load_public(key_dir / f"{sid}.key.pub"))
            assert result.stdout == f"registered supplier {sid} (key {kid}) at seq {n}\n"
    refused(run(db_url, "supplier", "add", "sup-bev", "--name", "again", "--country", "CN",
                "--public-key", str(key_dir / "sup-bev.key.pub"), "--operator-key", op),
            "Error: supplier 'sup-bev' is already registered")
    refused(run(db_url, "supplier", "add", "sup-new", "--name", "X", "--country", "china",
                "--public-key", str(key_dir / "sup-bev.key.pub"), "--operator-key", op),
            "Error: country 'china' must be an ISO 3166-1 alpha-2 code like CN")
    refused(run(db_url, "supplier", "add", "sup-new", "--name", "X", "--country", "CN",
                "--public-key", str(key_dir / "sup-bev.key.pub"),
                "--operator-key", str(key_dir / "sup-bev.key")),
            f"Error: this key ({BEV_KEY_ID}) is not the ledger operator's key (5795522a340c8c39)")
    listing = ok(run(db_url, "supplier", "list")).stdout.splitlines()
    assert listing[0].split() == ["supplier_id", "name", "country", "key_id", "key"]
    assert [line.split()[0] for line in listing[2:]] == [
        "sup-bev", "sup-elec", "sup-logi", "sup-pack"]
    assert BEV_KEY_ID in listing[2] and listing[2].endswith("active")

    result = ok(run(db_url, "factor", "import", str(SAMPLES / "factors.csv"), "--operator-key", op))
    assert result.stdout == "imported 13 factors\n"
    count = entry_count(db_url)
    # the same file again is a no-op that says so
    result = ok(run(db_url, "factor", "import", str(SAMPLES / "factors.csv"), "--operator-key", op))
    assert result.stdout == "imported 0 factors; skipped 13 factor versions already in the ledger\n"
    assert entry_count(db_url) == count
    factors = json.loads(ok(run(db_url, "--json", "factor", "list")).stdout)
    assert len(factors) == 13
    assert factors[0] == {
        "factor_id": "cn-grid-electricity", "version": 1, "activity": "electricity",
        "stage": "production", "unit": "kWh", "kgco2e_per_unit": "0.5366", "gwp": "AR5",
        "source": factors[0]["source"], "year": 2022, "region": "CN"}
    table = ok(run(db_url, "factor", "list")).stdout
    assert "desnz-pp-crate" in table and "2.56858892" in table

    bev = str(key_dir / "sup-bev.key")
    for pid, name, mass in [(WATER, "Water 500 ml x 12", "6.3"), (TEA, "Green tea", "0.58"),
                            ("6923451000037", "Jug", "1.02")]:
        result = ok(run(db_url, "product", "add", pid, "--supplier", "sup-bev", "--key", bev,
                        "--name", name, "--declared-unit", "piece", "--mass-kg", mass,
                        "--category", "24410"))
        assert result.stdout.startswith(f"registered product {pid} at seq ")
    refused(run(db_url, "product", "add", WATER, "--supplier", "sup-bev", "--key", bev,
                "--name", "dup", "--declared-unit", "piece", "--mass-kg", "1"),
            f"Error: product '{WATER}' is already registered")
    refused(run(db_url, "product", "add", "96385074", "--supplier", "sup-bev", "--key", bev,
                "--name", "zero", "--declared-unit", "piece", "--mass-kg", "0"),
            "Error: mass_kg: 0 must be greater than 0")

    result = ok(run(db_url, "append", "--supplier", "sup-bev", "--key", bev, "--product", WATER,
                    "--stage", "production", "--activity", "electricity", "--amount", "1000",
                    "--unit", "kWh", "--factor", "cn-grid-electricity", "--units-covered", "100",
                    "--period-start", "2025-01-01", "--period-end", "2025-02-01",
                    "--record-id", "flow-1"))
    assert result.stdout == f"appended record flow-1 at seq {count + 7}: 530.6 kgCO2e\n"
    bev_log = json.loads(ok(run(db_url, "--json", "log", "--supplier", "sup-bev")).stdout)
    assert [e["kind"] for e in bev_log] == ["record", "submission"] + [
        "product", "submission"] * 3 + ["supplier"]
    result = ok(run(db_url, "import", str(BEV_2024), "--supplier", "sup-bev", "--key", bev))
    assert result.stdout == (f"imported 84 records from sup-bev-2024.csv as submission "
                             f"{count + 8} (seq {count + 9}-{count + 92})\n")
    cp = tmp_path / "seen.cp"
    ok(run(db_url, "checkpoint", "--operator-key", op, "--out", str(cp)))
    assert cp.read_text().startswith(f"test.example/flow\n{count + 93}\n")
    proof = json.loads(ok(run(db_url, "prove", "flow-1")).stdout)
    assert (proof["record_id"], proof["seq"], proof["tree_size"]) == ("flow-1", count + 7,
                                                                       count + 93)
    result = ok(run(db_url, "verify", "--checkpoint", str(cp)))
    assert result.stdout.startswith(
        f"OK: {count + 93} entries verified (5 submissions, 85 records, 3 products, "
        "4 suppliers, 13 factors, 1 checkpoint); tree size ")
    assert "consistency proof from your checkpoint" in result.stdout


# ---------------------------------------------------------------- keygen


def test_keygen_writes_a_0600_pair_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "new.key"
    result = ok(run("sqlite:///unused.db", "keygen", "--out", str(out)))
    public = out.with_name("new.key.pub")
    kid = keys.key_id(keys.load_public(public))
    vkey = note.verifier_key("new", keys.load_public(public))  # the name is the file's stem
    assert result.stdout == (
        f"wrote {out} (private, 0600) and {public}; key_id {kid}\nverifier key: {vkey}\n"
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert keys.key_id(keys.load_private(out).public_key()) == kid
    before = out.read_bytes()
    refused(run("sqlite:///unused.db", "keygen", "--out", str(out)),
            f"Error: {out} already exists; refusing to overwrite a key")
    assert out.read_bytes() == before
    data = json.loads(ok(run("sqlite:///unused.db", "--json", "keygen", "--out",
                             str(tmp_path / "j.key"))).stdout)
    assert data["public"] == str(tmp_path / "j.key.pub") and len(data["key_id"]) == 16


def test_keygen_with_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keys.PASSPHRASE_ENV, raising=False)
    out = tmp_path / "enc.key"
    env = {keys.PASSPHRASE_ENV: "s3cret"}
    ok(run("sqlite:///unused.db", "keygen", "--out", str(out), env=env))
    assert out.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    url = f"sqlite:///{tmp_path / 'l.db'}"
    refused(run(url, "init", "--operator-key", str(out)),
            f"Error: key file {out} is encrypted; set CARBON_LEDGER_PASSPHRASE to its passphrase")
    refused(run(url, "init", "--operator-key", str(out), env={keys.PASSPHRASE_ENV: "wrong"}),
            "is not a PEM private key, or the passphrase is wrong")
    ok(run(url, "init", "--operator-key", str(out), env=env))
    assert entry_count(url) == 1


def test_group_readable_key_is_refused(ledger: Ledger) -> None:
    (ledger.keys / "sup-bev.key").chmod(0o644)
    refused(run(ledger.url, *append_args(ledger)),
            f"Error: key file {ledger.key('sup-bev')} has mode 0644; private keys must be 0600")


# ---------------------------------------------------------------- supplier keys


def test_rotate_and_revoke_keys(any_ledger: Ledger, tmp_path: Path) -> None:
    ledger = any_ledger
    op = ledger.key("operator")
    new = tmp_path / "bev2.key"
    ok(run(ledger.url, "keygen", "--out", str(new)))
    new_kid = keys.key_id(keys.load_public(Path(f"{new}.pub")))
    result = ok(run(ledger.url, "supplier", "rotate-key", "sup-bev", "--public-key",
                    f"{new}.pub", "--operator-key", op))
    assert result.stdout.startswith(f"rotated sup-bev to key {new_kid} at seq ")
    rotated_at = int(result.stdout.rsplit(" ", 1)[1])

    count = entry_count(ledger.url)
    refused(run(ledger.url, "import", str(BEV_2024), "--supplier", "sup-bev", "--key",
                ledger.key("sup-bev")),
            f"Error: key {BEV_KEY_ID} of supplier 'sup-bev' was revoked or rotated out at seq "
            f"{rotated_at}")
    assert entry_count(ledger.url) == count
    ok(run(ledger.url, *append_args(ledger, key=str(new))))
    listing = ok(run(ledger.url, "supplier", "list")).stdout
    bev_lines = [line for line in listing.splitlines() if line.startswith("sup-bev")]
    assert len(bev_lines) == 2
    assert BEV_KEY_ID in bev_lines[0] and bev_lines[0].endswith("retired")
    assert new_kid in bev_lines[1] and bev_lines[1].endswith("active")

    result = ok(run(ledger.url, "supplier", "revoke-key", "sup-bev", new_kid, "--reason",
                    "laptop stolen", "--operator-key", op))
    revoked_at = int(result.stdout.rsplit(" ", 1)[1])
    assert result.stdout == f"revoked key {new_kid} of sup-bev at seq {revoked_at}\n"
    count = entry_count(ledger.url)
    stderr = refused(run(ledger.url, "import", str(BEV_2024), "--supplier", "sup-bev",
                         "--key", str(new)))
    assert stderr == (f"Error: key {new_kid} of supplier 'sup-bev' was revoked or rotated out "
                      f"at seq {revoked_at}\n")
    assert entry_count(ledger.url) == count
    refused(run(ledger.url, "supplier", "revoke-key", "sup-bev", new_kid, "--operator-key", op),
            f"Error: key {new_kid} was already revoked at seq {revoked_at}")
    # a key retired by the rotation can still be revoked (found compromised later), once
    result = ok(run(ledger.url, "supplier", "revoke-key", "sup-bev", BEV_KEY_ID, "--reason",
                    "found on a stolen laptop", "--operator-key", op))
    old_revoked_at = int(result.stdout.rsplit(" ", 1)[1])
    assert result.stdout == f"revoked key {BEV_KEY_ID} of sup-bev at seq {old_revoked_at}\n"
    refused(run(ledger.url, "supplier", "revoke-key", "sup-bev", BEV_KEY_ID, "--operator-key",
                op), f"Error: key {BEV_KEY_ID} was already revoked at seq {old_revoked_at}")
    count = entry_count(ledger.url)
    ok(run(ledger.url, "verify"))
    refused(run(ledger.url, "supplier", "revoke-key", "sup-bev", ELEC_KEY_ID,
                "--operator-key", op),
            f"Error: key {ELEC_KEY_ID} is not registered for supplier 'sup-bev'")
    refused(run(ledger.url, "supplier", "rotate-key", "sup-nobody", "--public-key",
                str(ledger.keys / "sup-bev.key.pub"), "--operator-key", op),
            "Error: supplier 'sup-nobody' is not registered")
    assert entry_count(ledger.url) == count


def test_foreign_key_is_refused(ledger: Ledger) -> None:
    count = entry_count(ledger.url)
    stderr = refused(run(ledger.url, "import", str(BEV_2024), "--supplier", "sup-bev",
                         "--key", ledger.key("sup-elec")))
    assert stderr == (f"Error: key {ELEC_KEY_ID} is not registered for supplier 'sup-bev' "
                      "(it belongs to supplier 'sup-elec')\n")
    refused(run(ledger.url, *append_args(ledger, "sup-elec", key=ledger.key("sup-bev"))),
            f"Error: key {BEV_KEY_ID} is not registered for supplier 'sup-elec' "
            "(it belongs to supplier 'sup-bev')")
    refused(run(ledger.url, *append_args(ledger, "sup-ghost", key=ledger.key("sup-bev"))),
            "Error: supplier 'sup-ghost' is not registered")
    assert entry_count(ledger.url) == count


# ---------------------------------------------------------------- append


def test_append_happy_path(ledger: Ledger) -> None:
    count = entry_count(ledger.url)
    result = ok(run(ledger.url, *append_args(ledger, record_id="r-1", note="line 1")))
    assert result.stdout == f"appended record r-1 at seq {count + 1}: 530.6 kgCO2e\n"
    data = json.loads(ok(run(ledger.url, "--json", *append_args(
        ledger, record_id="r-2", amount="2.5", unit="MWh", factor_version="1"))).stdout)
    assert data["record"]["co2e_kg"] == "1341.5"
    assert data["record"]["factor_version"] == 1
    assert (data["seq"], data["submission_seq"]) == (count + 3, count + 2)
    measured = ok(run(ledger.url, *append_args(
        ledger, record_id="r-3", factor="", co2e_kg="42.000", evidence_sha256="ab" * 32,
        data_quality="primary")))
    assert measured.stdout.endswith(": 42 kgCO2e\n")
    crate = ok(run(ledger.url, *append_args(
        ledger, "sup-pack", record_id="r-4", stage="packaging", activity="reusable_crate",
        amount="1", unit="kg", factor="desnz-pp-crate", reuse_cycles="3")))
    assert crate.stdout.endswith(": 0.856196306667 kgCO2e\n")
    freight = ok(run(ledger.url, *append_args(
        ledger, "sup-logi", record_id="r-5", stage="transport", activity="road_freight",
        amount="", unit="", factor="desnz-hgv-average", distance_km="1276",
        mass_kg="97038.9")))
    assert freight.stdout.endswith(": 15504.945310008 kgCO2e\n")
    assert entry_count(ledger.url) == count + 10


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"product": "6900000000000"},
         "Error: product_id: product '6900000000000' is not registered"),
        ({"factor": "no-such-factor"}, "Error: factor_id: factor no-such-factor does not exist"),
        ({"factor_version": "9"},
         "Error: factor_id: factor cn-grid-electricity version 9 does not exist"),
        ({"unit": "kg"},
         "Error: unit: cannot convert kg (mass) to kWh (energy): different dimensions"),
        ({"unit": "MJ", "factor": "desnz-pet", "activity": "pet_resin"},
         "Error: unit: cannot convert MJ (energy) to kg (mass): different dimensions"),
        ({"amount": "-3"}, "Error: amount: -3 must not be negative"),
        ({"period_end": "2024-12-31"},
         "Error: period_end: 2024-12-31 is not after period_start 2025-01-01"),
        ({"co2e_kg": "530.5"}, "Error: co2e_kg: stated 530.5 but amount × factor is 530.6"),
        ({"supersedes": "no-such-record"}, "Error: 1 bad row(s); nothing was written\n"
         "  line 1: supersedes: record 'no-such-record' does not exist"),
    ],
)
def test_append_refusals_write_nothing(
    ledger: Ledger, options: dict[str, str], message: str
) -> None:
    count = entry_count(ledger.url)
    stderr = refused(run(ledger.url, *append_args(ledger, **options)))
    assert stderr.startswith(message + "\n")
    assert entry_count(ledger.url) == count


# ---------------------------------------------------------------- import


def test_import_dry_run_duplicate_and_allow_duplicate(
    any_ledger: Ledger, tmp_path: Path
) -> None:
    ledger = any_ledger
    bev = ledger.key("sup-bev")
    count = entry_count(ledger.url)
    result = ok(run(ledger.url, "import", str(BEV_2024), "--supplier", "sup-bev", "--key", bev,
                    "--dry-run"))
    assert result.stdout == ("dry run: all 84 rows of sup-bev-2024.csv are valid; nothing was "
                             "written\n")
    assert entry_count(ledger.url) == count

    data = json.loads(ok(run(ledger.url, "--json", "import", str(BEV_2024), "--supplier",
                             "sup-bev", "--key", bev)).stdout)
    assert (data["rows"], data["dry_run"]) == (84, False)
    assert (data["submission_seq"], data["first_seq"], data["last_seq"]) == (
        count, count + 1, count + 84)
    assert len(data["source_sha256"]) == 64 and len(data["records_root"]) == 64
    assert entry_count(ledger.url) == count + 85

    stderr = refused(run(ledger.url, "import", str(BEV_2024), "--supplier", "sup-bev",
                         "--key", bev))
    assert stderr == (f"Error: this file (sha256 {data['source_sha256'][:16]}…) was already "
                      f"imported in the submission at seq {count}; use --allow-duplicate to "
                      "import it again\n")
    refused(run(ledger.url, "import", str(BEV_2024), "--supplier", "sup-bev", "--key", bev,
                "--dry-run"), "use --allow-duplicate to import it again")

    stderr = refused(run(ledger.url, "import", str(BEV_2024), "--supplier", "sup-bev",
                         "--key", bev, "--allow-duplicate"))
    lines = stderr.splitlines()
    assert lines[0] == "Error: 84 bad row(s); nothing was written"
    assert f"  line 2: record_id: '{FIRST_BEV_RECORD}' already exists in the ledger" in lines
    assert len(lines) == 85
    assert entry_count(ledger.url) == count + 85
    # the dry run finds exactly what the real import finds (issue 13: it used to pass)
    dry = refused(run(ledger.url, "import", str(BEV_2024), "--supplier", "sup-bev",
                      "--key", bev, "--allow-duplicate", "--dry-run"))
    assert dry == stderr

    # the same ids twice within one new file
    twice = tmp_path / "twice.csv"
    rows = BEV_2024.read_text().splitlines()
    twice.write_text("\n".join([rows[0], rows[1].replace(FIRST_BEV_RECORD, "new-1"),
                                rows[2].replace(rows[2].split(",")[0], "new-1")]) + "\n")
    # (both rows' contents are in the ledger already: past that check, the ids clash)
    again = ("import", str(twice), "--supplier", "sup-bev", "--key", bev, "--allow-duplicate")
    stderr = refused(run(ledger.url, *again))
    assert stderr.splitlines() == ["Error: 1 bad row(s); nothing was written",
                                   "  line 3: record_id: 'new-1' repeats line 2"]
    assert refused(run(ledger.url, *again, "--dry-run")) == stderr
    assert refused(run(ledger.url, *again[:-1])).startswith(
        "Error: every record in this file is already in the ledger (line 2 is the record at ")
    assert entry_count(ledger.url) == count + 85


def test_import_jsonl_and_unknown_type(ledger: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({
        "record_id": "j-1", "product_id": TEA, "stage": "production", "activity": "electricity",
        "amount": "14732.6", "unit": "kWh", "factor_id": "cn-grid-electricity",
        "factor_version": 1, "units_covered": 323669, "period_start": "2024-01-01",
        "period_end": "2024-02-01"}) + "\n")
    result = ok(run(ledger.url, "import", str(path), "--supplier", "sup-bev", "--key",
                    ledger.key("sup-bev")))
    assert result.stdout.startswith("imported 1 record from rows.jsonl as submission ")
    other = tmp_path / "rows.xlsx"
    other.write_text("x")
    refused(run(ledger.url, "import", str(other), "--supplier", "sup-bev", "--key",
                ledger.key("sup-bev")),
            f"Error: {other}: unknown file type '.xlsx'; use .csv or .jsonl")
    refused(run(ledger.url, "import", str(tmp_path / "missing.csv"), "--supplier", "sup-bev",
                "--key", ledger.key("sup-bev")), "does not exist", code=2)


# ---------------------------------------------------------------- retract, log


def test_retract(imported: Ledger) -> None:
    bev = imported.key("sup-bev")
    count = entry_count(imported.url)
    result = ok(run(imported.url, "retract", FIRST_BEV_RECORD, "--supplier", "sup-bev",
                    "--key", bev, "--reason", "double counted"))
    assert result.stdout == f"retracted {FIRST_BEV_RECORD} at seq {count + 1}\n"
    refused(run(imported.url, "retract", FIRST_BEV_RECORD, "--supplier", "sup-bev", "--key",
                bev, "--reason", "again"),
            f"Error: record '{FIRST_BEV_RECORD}' is already retracted")
    refused(run(imported.url, "retract", "nope", "--supplier", "sup-bev", "--key", bev,
                "--reason", "x"), "Error: record 'nope' does not exist")
    refused(run(imported.url, "retract", "2df44b14-300d-5d15-a27b-dc71035fbcb2", "--supplier",
                "sup-bev", "--key", bev, "--reason", "   "),
            "Error: reason: a retraction needs a reason")
    refused(run(imported.url, "retract", "2df44b14-300d-5d15-a27b-dc71035fbcb2", "--supplier",
                "sup-elec", "--key", imported.key("sup-elec"), "--reason", "not mine"),
            "Error: record '2df44b14-300d-5d15-a27b-dc71035fbcb2' belongs to 'sup-bev'")
    assert entry_count(imported.url) == count + 2


def test_log_filters(imported: Ledger) -> None:
    ok(run(imported.url, *append_args(imported, "sup-logi", record_id="logi-1",
                                      stage="transport", activity="road_freight", unit="tkm",
                                      factor="desnz-hgv-average", product=TEA)))
    ok(run(imported.url, "retract", FIRST_BEV_RECORD, "--supplier", "sup-bev", "--key",
           imported.key("sup-bev"), "--reason", "dup"))

    table = ok(run(imported.url, "log", "--limit", "3")).stdout.splitlines()
    assert table[0].split() == ["seq", "kind", "record_id", "status", "recorded_at", "summary"]
    assert [line.split()[1] for line in table[2:]] == ["retraction", "submission", "record"]
    assert f"sup-bev retracted {FIRST_BEV_RECORD}: dup" in table[2]

    def log(*args: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = json.loads(
            ok(run(imported.url, "--json", "log", *args)).stdout)
        return entries

    retractions = log("--kind", "retraction")
    assert [e["payload"]["record_id"] for e in retractions] == [FIRST_BEV_RECORD]
    logi = log("--supplier", "sup-logi", "--kind", "record")
    assert [e["payload"]["record_id"] for e in logi] == ["logi-1"]
    assert [e["kind"] for e in log("--supplier", "sup-logi", "--limit", "100")] == [
        "record", "submission", "supplier"]
    bev = log("--supplier", "sup-bev", "--limit", "1000")
    kinds = [e["kind"] for e in bev]
    assert kinds[:2] == ["retraction", "submission"]
    assert (kinds.count("record"), kinds.count("product"), kinds.count("submission")) == (
        84, 3, 5)
    assert kinds[-1] == "supplier" and len(kinds) == 84 + 3 + 5 + 2
    assert all(e["payload"]["supplier_id"] == "sup-bev" for e in bev)
    tea = log("--product", TEA, "--limit", "1000")
    assert {e["payload"]["product_id"] for e in tea} == {TEA}
    tea_rows = sum(f",{TEA}," in line for line in BEV_2024.read_text().splitlines())
    assert tea_rows == 36
    assert len(tea) == tea_rows + 1  # sup-bev's rows for the tea + sup-logi's record
    assert len(log("--kind", "record", "--limit", "5")) == 5
    assert log("--kind", "factor", "--limit", "100")[-1]["seq"] == 5
    seqs = [e["seq"] for e in log("--limit", "1000")]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == entry_count(imported.url)


# ---------------------------------------------------------------- export, verify, prove


def test_export_and_verify_bundle(imported: Ledger, tmp_path: Path) -> None:
    op = imported.key("operator")
    cp = tmp_path / "seen.cp"
    ok(run(imported.url, "checkpoint", "--operator-key", op, "--out", str(cp)))
    size = entry_count(imported.url)
    bundle = tmp_path / "export.jsonl"
    result = ok(run(imported.url, "export", "--out", str(bundle)))
    assert result.stdout == f"exported {size} entries and 1 checkpoint to {bundle}\n"
    result = ok(run("sqlite:///does-not-exist.db", "verify", "--bundle", str(bundle),
                    "--checkpoint", str(cp)))
    assert result.stdout.startswith(
        f"OK: {size} entries verified (7 submissions, 84 records, 6 products, 4 suppliers, "
        "13 factors, 1 checkpoint)")
    assert f"root at size {size} matches the checkpoint you saw" in result.stdout

    lines = bundle.read_bytes().splitlines(keepends=True)
    tampered = tmp_path / "tampered.jsonl"
    index = next(i for i, line in enumerate(lines) if b'"co2e_kg":"14512.50798"' in line)
    lines[index] = lines[index].replace(b"14512.50798", b"14512.50799")
    tampered.write_bytes(b"".join(lines))
    refused(run("sqlite:///does-not-exist.db", "verify", "--bundle", str(tampered)),
            "Error: verification failed at seq ")


def test_verify_ok_and_json(imported: Ledger, tmp_path: Path) -> None:
    result = ok(run(imported.url, "verify"))
    size = entry_count(imported.url)
    assert result.stdout.splitlines()[0].startswith(
        f"OK: {size} entries verified (7 submissions, 84 records, 6 products, 4 suppliers, "
        f"13 factors, 0 checkpoints); tree size {size}, root ")
    report = json.loads(ok(run(imported.url, "--json", "verify")).stdout)
    assert (report["entries"], report["records"], report["tree_size"]) == (size, 84, size)
    assert len(report["root_hash"]) == 64


def test_checkpoint_and_prove(imported: Ledger, tmp_path: Path) -> None:
    op = imported.key("operator")
    refused(run(imported.url, "prove", FIRST_BEV_RECORD),
            "Error: the ledger has no checkpoint yet; the operator must run "
            "`carbon-ledger checkpoint --operator-key K` first")
    refused(run(imported.url, "prove", "no-such-record"),
            "Error: record 'no-such-record' is not in the ledger")
    refused(run(imported.url, "checkpoint", "--operator-key", imported.key("sup-bev")),
            f"Error: this key ({BEV_KEY_ID}) is not the ledger operator's key")

    size = entry_count(imported.url)
    cp = tmp_path / "cp.txt"
    result = ok(run(imported.url, "checkpoint", "--operator-key", op, "--out", str(cp)))
    note = cp.read_text(encoding="utf-8")
    root_b64 = note.split("\n")[2]
    root_hex = base64.b64decode(root_b64).hex()
    # both spellings of the root: base64 as in the note, hex as `verify` prints it
    assert result.stdout == (
        f"{note}tree size {size}, root {root_hex} (hex), {root_b64} (base64)\n")
    assert f"root {root_hex} (hex), {root_b64} (base64)" in ok(run(imported.url, "verify")).stdout
    lines = note.split("\n")
    assert lines[0] == "test.example/cli" and lines[1] == str(size) and lines[3] == ""
    assert lines[4].startswith("— test.example/cli ")
    data = json.loads(ok(run(imported.url, "--json", "checkpoint", "--operator-key", op)).stdout)
    assert (data["tree_size"], data["note"]) == (size, note)  # same tree: same checkpoint

    proof = json.loads(ok(run(imported.url, "prove", FIRST_BEV_RECORD)).stdout)
    assert set(proof) == {"record_id", "seq", "tree_size", "entry_bytes", "leaf_hash",
                          "inclusion_proof", "checkpoint"}
    assert proof["record_id"] == FIRST_BEV_RECORD
    assert proof["tree_size"] == size and proof["checkpoint"] == note
    assert isinstance(proof["seq"], int) and 0 < proof["seq"] < size
    entry = json.loads(proof["entry_bytes"])
    assert entry["seq"] == proof["seq"] and entry["payload"]["record_id"] == FIRST_BEV_RECORD
    assert len(proof["leaf_hash"]) == 64
    assert all(len(h) == 64 for h in proof["inclusion_proof"])
    engine = make_engine(imported.url)
    with engine.connect() as conn:
        info = registry.ledger_info(conn)
    engine.dispose()
    transparency.check_proof_document(proof, info.origin, info.operator_public_key)

    out = tmp_path / "proof.json"
    result = ok(run(imported.url, "prove", FIRST_BEV_RECORD, "--out", str(out)))
    assert result.stdout == (f"wrote proof of seq {proof['seq']} under checkpoint size {size} "
                             f"to {out}\n")
    assert json.loads(out.read_text()) == proof

    ok(run(imported.url, *append_args(imported, record_id="late")))
    refused(run(imported.url, "prove", "late"),
            "after the latest checkpoint (size "
            f"{size}); the operator must sign a new checkpoint")


# ---------------------------------------------------------------- query smoke


def test_query_intensity_and_scorecard(imported: Ledger) -> None:
    result = ok(run(imported.url, "query", "intensity", "--by", "supplier", "--from",
                    "2024-01-01", "--to", "2025-01-01", "--format", "csv"))
    lines = result.stdout.splitlines()
    assert lines[0].split(",") == list(query.SUPPLIER_COLUMNS)
    assert lines[1].startswith("sup-bev,84,")  # 84 records of 2024
    result = ok(run(imported.url, "query", "intensity", "--by", "product", "--from",
                    "2024-01-01", "--to", "2025-01-01", "--format", "csv"))
    assert result.stdout.splitlines()[0].split(",") == list(query.PRODUCT_COLUMNS)
    data = json.loads(ok(run(imported.url, "--json", "query", "intensity", "--from",
                             "2024-01-01", "--to", "2025-01-01")).stdout)
    assert [row["supplier_id"] for row in data] == ["sup-bev"]
    assert isinstance(data[0]["total_kgco2e"], str)
    ok(run(imported.url, "query", "intensity", "--by", "stage", "--from", "2024-01-01",
           "--to", "2025-01-01"))
    result = ok(run(imported.url, "query", "scorecard", "--from", "2024-01-01", "--to",
                    "2025-01-01", "--baseline-from", "2023-01-01", "--baseline-to",
                    "2024-01-01"))
    assert "sup-bev" in result.stdout and "figures as of tree size" in result.stdout
    refused(run(imported.url, "query", "intensity", "--from", "2024-01-01", "--to",
                "2025-01-01", "--baseline-from", "2023-01-01"),
            "Error: give both --baseline-from and --baseline-to, or neither")


# ---------------------------------------------------------------- global behaviour


def test_json_outputs_parse(imported: Ledger) -> None:
    suppliers = json.loads(ok(run(imported.url, "--json", "supplier", "list")).stdout)
    assert [s["supplier_id"] for s in suppliers] == ["sup-bev", "sup-elec", "sup-logi",
                                                     "sup-pack"]
    assert suppliers[0] == {"supplier_id": "sup-bev", "name": "Qinghe Beverages Co., Ltd.",
                            "country": "CN", "key_id": BEV_KEY_ID, "active": True}
    retract = json.loads(ok(run(imported.url, "--json", "retract", FIRST_BEV_RECORD,
                                "--supplier", "sup-bev", "--key", imported.key("sup-bev"),
                                "--reason", "x")).stdout)
    assert set(retract) == {"ok", "seq"}
    product = json.loads(ok(run(imported.url, "--json", "product", "add", "urn:test:p1",
                                "--supplier", "sup-pack", "--key", imported.key("sup-pack"),
                                "--name", "Box", "--declared-unit", "piece", "--mass-kg",
                                "0.2")).stdout)
    assert product["seq"] == product["submission_seq"] + 1


def test_verbose_reraises(ledger: Ledger) -> None:
    quiet = run(ledger.url, "init", "--operator-key", ledger.key("operator"))
    assert quiet.exit_code == 1 and isinstance(quiet.exception, SystemExit)
    loud = run(ledger.url, "-v", "init", "--operator-key", ledger.key("operator"))
    assert isinstance(loud.exception, ConflictError)
    assert str(loud.exception) == "this database already holds a ledger; init refuses to reset it"
    assert loud.exit_code == 1
    assert "Error:" not in loud.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["append", "--supplier", "sup-bev"], "Missing option '--key'"),
        (["append", "--supplier", "s", "--key", "k", "--product", "p", "--stage", "assembly",
          "--activity", "a", "--units-covered", "1", "--period-start", "2025-01-01",
          "--period-end", "2025-02-01"], "Invalid value for '--stage'"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["log", "--limit", "many"], "Invalid value for '--limit': 'many' is not a valid integer"),
        (["import"], "Missing argument 'FILE'"),
        (["product", "add", "p", "--supplier", "s", "--key", "k", "--name", "n",
          "--declared-unit", "furlong", "--mass-kg", "1"], "Invalid value for '--declared-unit'"),
        (["query", "intensity", "--by", "country", "--from", "2025-01-01", "--to", "2026-01-01"],
         "Invalid value for '--by'"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(f"sqlite:///{tmp_path / 'l.db'}", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("Usage: carbon-ledger")


def test_missing_ledger_is_a_domain_error(tmp_path: Path) -> None:
    missing = tmp_path / "mistyped.db"
    for args in (["verify"], ["log"], ["supplier", "list"], ["export", "--out", "x.jsonl"]):
        refused(run(f"sqlite:///{missing}", *args),
                f"Error: no ledger at {missing}: the file does not exist (check --db, or run "
                "`carbon-ledger init` to create one)")
        assert not missing.exists()  # a read on a mistyped path leaves no empty file behind
    missing.touch()
    refused(run(f"sqlite:///{missing}", "verify"),
            "Error: no carbon-ledger schema in this database; run `carbon-ledger init` first")
    refused(run("mysql://nowhere/db", "verify"), "Error: unsupported database URL")


def _leaf_commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*path, name))
        else:
            yield (*path, name)


LEAF_COMMANDS = list(_leaf_commands(cli))


def test_all_spec_commands_exist() -> None:
    expected = {("keygen",), ("init",), ("supplier", "add"), ("supplier", "rotate-key"),
                ("supplier", "revoke-key"), ("supplier", "list"), ("product", "add"),
                ("factor", "import"), ("factor", "list"), ("append",), ("import",),
                ("retract",), ("verify",), ("checkpoint",), ("prove",), ("log",), ("export",),
                ("query", "intensity"), ("query", "scorecard"), ("label", "export"),
                ("label", "verify"), ("demo",)}
    assert expected <= set(LEAF_COMMANDS)


@pytest.mark.parametrize("command", LEAF_COMMANDS, ids=" ".join)
def test_help_has_an_example(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: cli {' '.join(command)}") or result.stdout.startswith(
        f"Usage: carbon-ledger {' '.join(command)}")
    assert "Example" in result.stdout
