"""Issue 16: what a new user trips over in the first hour, each item through CliRunner.

Every test asserts the exit code and the exact message. The sample world (operator, four
suppliers, 13 factors, six products) is built with the shared ``make_world`` fixture.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ledger import keys
from ledger.entry import KINDS
from ledger_cli import app as cli_app
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WATER = "6923451000013"
TEA = "6923451000020"
BEV_2024 = SAMPLES / "records" / "sup-bev-2024.csv"
OPERATOR_KEY_ID = "5795522a340c8c39"
GOOD_ROW = {
    "product_id": WATER,
    "stage": "production",
    "activity": "electricity",
    "amount": "1000",
    "unit": "kWh",
    "factor_id": "cn-grid-electricity",
    "units_covered": "100",
    "period_start": "2025-01-01",
    "period_end": "2025-02-01",
}


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=input, prog_name="carbon-ledger")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result


def refused(result: Result, message: str, code: int = 1) -> None:
    """Exit code and the exact stderr."""
    assert result.exit_code == code, (result.output, result.exception)
    assert result.stderr == message, result.stderr


class World:
    def __init__(self, url: str, key_dir: Path, tmp: Path) -> None:
        self.url, self.keys, self.tmp = url, key_dir, tmp

    def key(self, name: str) -> str:
        return str(self.keys / f"{name}.key")

    def run(self, *args: str, **kw: Any) -> Result:
        return run("--db", self.url, *args, **kw)

    def bev(self, *args: str, **kw: Any) -> Result:
        """A supplier command of sup-bev (its --supplier and --key appended)."""
        return self.run(*args, "--supplier", "sup-bev", "--key", self.key("sup-bev"), **kw)


@pytest.fixture
def world(tmp_path: Path, key_dir: Path, make_world: Callable[..., Any]) -> World:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    make_world(url, "test.example/ergo")["engine"].dispose()
    return World(url, key_dir, tmp_path)


@pytest.fixture
def imported(world: World) -> World:
    """Plus sup-bev's 84 records of 2024 and a checkpoint."""
    ok(world.bev("import", str(BEV_2024)))
    ok(world.run("checkpoint", "--operator-key", world.key("operator")))
    return world


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


# ------------------------------------------------------------------ 1. options after the command


def test_db_and_json_are_accepted_after_the_subcommand(imported: World) -> None:
    before = ok(run("--db", imported.url, "--json", "factor", "list")).stdout
    after = ok(run("factor", "list", "--json", "--db", imported.url)).stdout
    assert after == before and len(json.loads(after)) == 13
    nested = ok(run("factor", "--json", "list", "--db", imported.url)).stdout
    assert nested == before
    first = ok(run("--db", imported.url, "verify")).stdout
    assert ok(run("verify", "--db", imported.url)).stdout == first
    assert first.startswith("OK: 115 entries verified")
    # CARBON_LEDGER_DB still works, and --db after the command wins over it
    env = {"CARBON_LEDGER_DB": "sqlite:////nonexistent/dir/x.db"}
    assert ok(run("verify", "--db", imported.url, env=env)).stdout == first


# ------------------------------------------------------------------ 2. JSON outcomes


def test_json_success_has_ok_and_failures_are_one_object(world: World) -> None:
    data = json.loads(ok(world.run("verify", "--json")).stdout)
    assert data["ok"] is True and data["entries"] == 30
    result = world.run("prove", "no-such-record", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "ok": False,
        "error": {
            "type": "NotFoundError",
            "message": "record 'no-such-record' is not in the ledger",
        },
    }
    assert result.stderr == "Error: record 'no-such-record' is not in the ledger\n"
    bad = write_csv(world.tmp / "bad.csv", [{**GOOD_ROW, "unit": "kwh"}])
    result = world.bev("import", str(bad), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "ok": False,
        "error": {
            "type": "InputError",
            "message": "1 problem(s) in bad.csv; nothing was written",
            "problems": [
                "line 2: unit: unknown unit 'kwh' (units are case-sensitive: MJ, GJ, kWh, MWh, "
                "g, kg, t, L, m3, tkm, pallet_day, m3_day, piece); did you mean 'kWh'?"
            ],
        },
    }


def test_json_verification_failure_carries_the_seq(world: World) -> None:
    other = world.tmp / "other.key"
    ok(world.run("keygen", "--out", str(other)))
    result = world.run("verify", "--operator-pub", f"{other}.pub", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "VerificationError" and error["seq"] == 0
    assert error["message"].startswith(f"the ledger's operator key {OPERATOR_KEY_ID} is not")


# ------------------------------------------------------------------ 3. import problems


def test_header_problems_are_reported_once_with_the_closest_name(world: World) -> None:
    rows = [
        {**{k: v for k, v in GOOD_ROW.items() if k != "factor_id"},
         "factor": "cn-grid-electricity", "supersede": ""}
        for _ in range(2000)
    ]  # fmt: skip
    path = write_csv(world.tmp / "header.csv", rows)
    refused(
        world.bev("import", str(path)),
        "Error: 2 problems in the header line\n"
        "  line 1: header: unknown column 'factor'; did you mean 'factor_id'?\n"
        "  line 1: header: unknown column 'supersede'; did you mean 'supersedes'?\n",
    )


def test_value_problems_suggest_the_closest_valid_value(world: World) -> None:
    rows = [
        {**GOOD_ROW, "unit": "kwh"},
        {**GOOD_ROW, "stage": "prodution"},
        {**GOOD_ROW, "factor_id": "cn-grid-electrcity"},
    ]
    refused(
        world.bev("import", str(write_csv(world.tmp / "values.csv", rows))),
        "Error: 3 problem(s) in values.csv; nothing was written\n"
        "  line 2: unit: unknown unit 'kwh' (units are case-sensitive: MJ, GJ, kWh, MWh, g, kg, "
        "t, L, m3, tkm, pallet_day, m3_day, piece); did you mean 'kWh'?\n"
        "  line 3: stage: 'prodution' is not one of production, warehousing, transport, "
        "packaging; did you mean 'production'?\n"
        "  line 4: factor_id: factor cn-grid-electrcity does not exist; did you mean "
        "'cn-grid-electricity'?\n",
    )


def test_semicolon_files_are_sniffed_or_named(world: World) -> None:
    rows = [{**GOOD_ROW, "record_id": "semi-1", "amount": "1000.5"}]
    path = write_csv(world.tmp / "semi.csv", rows, delimiter=";")
    result = ok(world.bev("import", str(path), "--dry-run"))
    assert result.stdout == "dry run: all 1 row of semi.csv are valid; nothing was written\n"
    result = ok(world.bev("import", str(path), "--delimiter", ";"))
    assert re.fullmatch(r"imported 1 record from semi\.csv as submission \d+ \(seq \d+-\d+\)\n",
                        result.stdout)
    # no factor_version: the latest, v2 at 0.5306 kgCO2e/kWh; 1000.5 × 0.5306 = 530.6 + 0.2653
    log = json.loads(ok(world.run("log", "--kind", "record", "--json")).stdout)
    assert log[0]["payload"]["co2e_kg"] == "530.8653"


def test_long_error_lists_say_how_many_more_and_errors_file_has_all(world: World) -> None:
    rows = [{**GOOD_ROW, "units_covered": "0"} for _ in range(150)]
    path = write_csv(world.tmp / "many.csv", rows)
    errors = world.tmp / "errors.txt"
    result = world.bev("import", str(path), "--errors", str(errors))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "Error: 150 problem(s) in many.csv; nothing was written"
    assert len(lines) == 1 + 100 + 1
    assert lines[1] == "  line 2: units_covered: 0 must be greater than 0"
    assert lines[-1] == "  … and 50 more (import --errors FILE writes them all)"
    written = errors.read_text(encoding="utf-8").splitlines()
    assert written == [f"line {n}: units_covered: 0 must be greater than 0" for n in range(2, 152)]


# ------------------------------------------------------------------ 4. progress on a terminal


def on_a_terminal(args: list[str], env: dict[str, str]) -> list[str]:
    """Run the CLI with a pseudo-terminal as stdin/stdout/stderr; return every drawn frame."""
    master, slave = pty.openpty()
    command = [sys.executable, "-c", "from ledger_cli.main import main; main()", *args]
    env = {k: v for k, v in env.items() if k != "CI"}
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    code = proc.wait(timeout=60)
    os.close(master)
    text = output.decode("utf-8", errors="replace")
    assert code == 0, text[-2000:]
    return text.replace("\r\n", "\n").replace("\r", "\n").splitlines()


def test_import_progress_on_a_pseudo_terminal(
    world: World, tmp_path: Path, gen_records: ModuleType, cli_env: dict[str, str]
) -> None:
    """10^5 rows (about 10 s here, 2 cores shared): the write phase shows a count and a rate."""
    rows = tmp_path / "rows.csv"
    gen_records.write_records(rows, 100_000, "sup-bev", [WATER, TEA], seed=1)
    frames = on_a_terminal(
        ["--db", world.url, "import", str(rows), "--supplier", "sup-bev", "--key",
         world.key("sup-bev")], cli_env)  # fmt: skip
    writing = [f for f in frames if f.startswith("writing: ")]
    mid = [f for f in writing if re.match(r"writing: [1-9][0-9,]*/100,000 records +\d+% ", f)
           and not f.startswith("writing: 100,000/")]  # fmt: skip
    assert mid, frames[-10:]  # a count while it writes, before the end
    assert all(re.search(r" [0-9,]+ records/s  (ETA \d+:\d\d:\d\d|elapsed)", f) for f in mid)
    assert any(re.match(r"validating: [0-9.,]+ (KiB|MiB)/[0-9.]+ MiB", f) for f in frames)
    assert frames[-1].startswith("imported 100000 records from rows.csv as submission ")


def test_label_export_and_verify_progress_on_a_terminal(
    imported: World, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    ok(imported.bev("output", "import", str(SAMPLES / "outputs" / "sup-bev-2024.csv")))
    ok(imported.run("checkpoint", "--operator-key", imported.key("operator")))
    label = tmp_path / "water.label.json"
    window = ["--from", "2024-01-01", "--to", "2025-01-01"]
    frames = on_a_terminal(["--db", imported.url, "label", "export", WATER, *window, "--out",
                            str(label), "--operator-key", imported.key("operator")],
                           cli_env)  # fmt: skip
    done = r"decoding entries: ([0-9,]+)/\1 entries  100%  .*"
    assert any(re.fullmatch(done, f) for f in frames), frames
    # the statement is logged right after the checkpoint, so its seq is the size it is as of
    said = rf"wrote json label of {WATER} to {re.escape(str(label))} "
    said += r"\(footprint statement at seq (\d+); figures as of tree size \1\)"
    assert re.fullmatch(said, frames[-1]), frames[-1]
    pub = imported.key("operator") + ".pub"
    frames = on_a_terminal(["label", "verify", str(label), "--operator-pub", pub], cli_env)
    assert any(re.fullmatch(done, f) for f in frames), frames
    assert frames[-1].startswith(f"OK: label of {WATER} verified offline: ")


def test_no_progress_when_piped(world: World, cli_env: dict[str, str]) -> None:
    path = write_csv(world.tmp / "one.csv", [GOOD_ROW])
    command = [
        sys.executable, "-c", "from ledger_cli.main import main; main()", "--db", world.url,
        "import", str(path), "--supplier", "sup-bev", "--key", world.key("sup-bev"),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, env=cli_env, timeout=120)
    assert done.returncode == 0 and done.stderr == b""


# ------------------------------------------------------------------ 5. query tables


def test_query_tables_fit_the_width_show_names_and_sort(imported: World) -> None:
    ok(imported.bev("import", str(SAMPLES / "records" / "sup-bev-2025.csv")))
    ok(imported.run("checkpoint", "--operator-key", imported.key("operator")))
    args = ["query", "scorecard", "--from", "2025-01-01", "--to", "2026-01-01",
            "--baseline-from", "2024-01-01", "--baseline-to", "2025-01-01"]  # fmt: skip
    wide = ok(imported.run(*args, env={"COLUMNS": "200"})).stdout.splitlines()
    assert wide[0].split()[:3] == ["supplier_id", "name", "kgCO2e/kg"]
    assert wide[2].startswith("sup-bev      Qinghe Beverages Co., Ltd.")
    narrow = ok(imported.run(*args, env={"COLUMNS": "80"})).stdout.splitlines()
    assert max(len(line) for line in narrow) <= 80
    # the columns that carry the answer stay; which others fit depends on the query version
    assert narrow[0].split()[:2] == ["supplier_id", "kgCO2e/kg"]
    assert {"change", "comparable"} <= set(narrow[0].split())
    note = " ".join(line for line in narrow if line.startswith("(") or line.endswith("csv)"))
    assert re.fullmatch(r"\(\d+ columns hidden to fit 80 columns: baseline missing, records, .*; "
                        r"widen the terminal or use --format csv\)", note), narrow
    by_product = ["query", "intensity", "--by", "product", "--from", "2024-01-01", "--to",
                  "2025-01-01", "--format", "csv"]  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(ok(imported.run(*by_product, "--sort",
                                                            "total_kgco2e", "--desc")).stdout)))
    totals = [float(r["total_kgco2e"]) for r in rows]
    assert totals == sorted(totals, reverse=True) and rows[0]["product_name"]
    result = imported.run(*by_product, "--sort", "total_kgco2")
    assert result.exit_code == 1
    # the column list is whatever the query returns (it grows with SPEC §6 v2)
    assert result.stderr.startswith(
        "Error: --sort: no column 'total_kgco2'; columns are product_id, product_name, ")
    assert result.stderr.endswith("; did you mean 'total_kgco2e'?\n")


# ------------------------------------------------------------------ 6. HTML scorecard


def test_scorecard_html_report(imported: World, tmp_path: Path) -> None:
    ok(imported.bev("import", str(SAMPLES / "records" / "sup-bev-2025.csv")))
    ok(imported.run("checkpoint", "--operator-key", imported.key("operator")))
    out = tmp_path / "report.html"
    result = ok(imported.run("query", "scorecard", "--from", "2025-01-01", "--to", "2026-01-01",
                             "--baseline-from", "2024-01-01", "--baseline-to", "2025-01-01",
                             "--format", "html", "--out", str(out)))  # fmt: skip
    assert result.stdout == f"wrote scorecard report for 1 supplier to {out}\n"
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 1
    assert "Qinghe Beverages Co., Ltd." in html and "target −12%" in html
    assert "missing: warehousing, transport, packaging" in html
    # self-contained: no script, no external resource (only the SVG namespace URI)
    assert "<script" not in html and "src=" not in html and "<link" not in html
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"]


@pytest.mark.browser
def test_scorecard_html_renders_in_chromium(imported: World, tmp_path: Path) -> None:
    from test_labels_browser import CHROMIUM_FLAGS, read_png

    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("no chromium binary")
    ok(imported.bev("import", str(SAMPLES / "records" / "sup-bev-2025.csv")))
    ok(imported.run("checkpoint", "--operator-key", imported.key("operator")))
    out = tmp_path / "report.html"
    ok(imported.run("query", "scorecard", "--from", "2025-01-01", "--to", "2026-01-01",
                    "--baseline-from", "2024-01-01", "--baseline-to", "2025-01-01",
                    "--format", "html", "--out", str(out)))  # fmt: skip
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", out.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    width, height, pixels = read_png(shot.read_bytes())
    assert (width, height) == (800, 1000)
    colours = set(pixels[:: 7])
    assert len(colours) > 50
    # the baseline bar (#9fb3c8) and the "now" bar: green #2f855a if it meets the target, red
    # #c53030 if it misses, grey #627d98 when not comparable (no verdict)
    card = json.loads(ok(imported.run("query", "scorecard", "--from", "2025-01-01", "--to",
                                      "2026-01-01", "--baseline-from", "2024-01-01",
                                      "--baseline-to", "2025-01-01", "--json")).stdout)
    now = {True: (0x2F, 0x85, 0x5A), False: (0xC5, 0x30, 0x30), None: (0x62, 0x7D, 0x98)}
    assert (0x9F, 0xB3, 0xC8) in colours and now[card[0]["meets_target"]] in colours


# ------------------------------------------------------------------ 7. product list, log


def test_product_list_and_log_status(imported: World) -> None:
    listing = ok(imported.run("product", "list", "--supplier", "sup-bev")).stdout.splitlines()
    assert listing[0].split() == ["product_id", "supplier_id", "name", "unit", "kg/unit",
                                  "category"]  # fmt: skip
    assert [line.split()[0] for line in listing[2:]] == [WATER, TEA, "6923451000037"]
    data = json.loads(ok(imported.run("product", "list", "--json")).stdout)
    assert len(data) == 6 and data[0]["mass_kg"] == "6.3"
    refused(imported.run("product", "list", "--supplier", "sup-nobody"),
            "Error: supplier 'sup-nobody' is not registered\n")

    first = "a1013e85-649d-5f71-bbc5-7ca3cf61a88d"  # line 2 of sup-bev-2024.csv
    ok(imported.bev("append", "--product", WATER, "--stage", "production", "--activity",
                    "electricity", "--amount", "1", "--unit", "kWh", "--factor",
                    "cn-grid-electricity", "--units-covered", "1", "--period-start",
                    "2024-01-01", "--period-end", "2024-02-01", "--record-id", "fix-1",
                    "--supersedes", first))  # fmt: skip
    entries = json.loads(ok(imported.run("log", "--kind", "record", "--limit", "200",
                                         "--json")).stdout)  # fmt: skip
    status = {e["record_id"]: (e["status"], e["status_seq"]) for e in entries}
    fix_seq = next(e["seq"] for e in entries if e["record_id"] == "fix-1")
    assert status[first] == ("superseded", fix_seq) and status["fix-1"] == ("effective", None)
    table = ok(imported.run("log", "--kind", "record", "--limit", "200")).stdout.splitlines()
    assert table[0].split() == ["seq", "kind", "record_id", "status", "recorded_at", "summary"]
    old = next(line for line in table if first in line)
    assert f"superseded (seq {fix_seq})" in old
    refused(imported.run("log", "--kind", "records"),
            f"Error: unknown kind 'records'; kinds are {', '.join(KINDS)}; did you mean "
            "'record'?\n")  # fmt: skip
    refused(imported.run("log", "--supplier", "sup-bevv"),
            "Error: supplier 'sup-bevv' is not registered\n")
    refused(imported.run("log", "--product", "123"), "Error: product '123' is not registered\n")


# ------------------------------------------------------------------ 8. validate at the door


@pytest.mark.parametrize(
    ("product_id", "mass", "message"),
    [
        ("1234", "1", "product_id: '1234' is not a GTIN-8/12/13/14 (a numeric product id must "
                      "be a GTIN-8/12/13/14 with a valid GS1 check digit)"),
        ("6923451000014", "1", "product_id: '6923451000014' has a wrong GTIN check digit (a "
                               "numeric product id must be a GTIN-8/12/13/14 with a valid GS1 "
                               "check digit)"),
        ("urn:x", "1", "product_id: 'urn:x' is not a URN (urn:<nid>:<nss>); PACT needs "
                       "urn:<nid>:<nss>, e.g. urn:gtin:…"),
        ("sku:42", "1", "product_id: 'sku:42' has ':' but is not a URN; use a GTIN, a urn:… "
                        "id, or an internal id without ':'"),
        ("96385074", "0.000000000001", "mass_kg: 0.000000000001 kg per declared unit is outside "
                                       "0.000001-1000000 kg (1 mg to 1000 t); is the unit right?"),
        ("96385074", "1e-12", "mass_kg: '1e-12' is not a plain decimal number like 1200.5"),
        ("96385074", "2000000", "mass_kg: 2000000 kg per declared unit is outside "
                                "0.000001-1000000 kg (1 mg to 1000 t); is the unit right?"),
    ],
)  # fmt: skip
def test_product_add_refuses_what_cannot_be_exported(
    world: World, product_id: str, mass: str, message: str
) -> None:
    refused(world.bev("product", "add", product_id, "--name", "X", "--declared-unit", "piece",
                      "--mass-kg", mass), f"Error: {message}\n")  # fmt: skip


@pytest.mark.parametrize(
    "product_id", ["96385074", "urn:pact:example.com:product-id:X1", "urn:gtin:4006381333931",
                   "SKU-42"]
)  # fmt: skip
def test_product_add_accepts_exportable_ids(world: World, product_id: str) -> None:
    result = ok(world.bev("product", "add", product_id, "--name", "X", "--declared-unit",
                          "piece", "--mass-kg", "0.000001"))  # fmt: skip
    assert result.stdout.startswith(f"registered product {product_id} at seq ")


# ------------------------------------------------------------------ 9. smaller things


def test_out_dash_is_stdout_and_import_dash_is_stdin(imported: World, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    proof = ok(imported.run("prove", "a1013e85-649d-5f71-bbc5-7ca3cf61a88d", "--out", "-"))
    assert json.loads(proof.stdout)["seq"] == 31
    note = ok(imported.run("checkpoint", "--operator-key", imported.key("operator"), "--out",
                           "-"))  # fmt: skip
    assert note.stdout.startswith("test.example/ergo\n115\n")
    assert note.stderr.startswith("tree size 115, root ")
    csv_out = ok(imported.run("query", "intensity", "--from", "2024-01-01", "--to",
                              "2025-01-01", "--format", "csv", "--out", "-"))  # fmt: skip
    assert csv_out.stdout.startswith("supplier_id,records,")
    bundle = ok(imported.run("export", "--out", "-")).stdout
    assert len(bundle.splitlines()) == 1 + 1 + 115  # header, checkpoint, entries
    assert not (tmp_path / "-").exists()
    row = json.dumps({**GOOD_ROW, "record_id": "stdin-1"}) + "\n"
    result = ok(imported.bev("import", "-", input=row))
    assert re.fullmatch(r"imported 1 record from stdin as submission 115 \(seq 116-116\)\n",
                        result.stdout)
    csv_text = "product_id,stage,activity,amount,unit,factor_id,units_covered,period_start," \
               f"period_end\n{WATER},production,electricity,2,kWh,cn-grid-electricity,1," \
               "2024-03-01,2024-04-01\n"  # fmt: skip
    result = ok(imported.bev("import", "-", input=csv_text))
    assert result.stdout.startswith("imported 1 record from stdin as submission 117 ")


def test_factor_import_and_list(world: World, tmp_path: Path) -> None:
    op = world.key("operator")
    header = "factor_id,version,activity,stage,unit,kgco2e_per_unit,gwp,source,year,region\n"
    tiny = tmp_path / "tiny.csv"
    tiny.write_text(header + "tiny,1,electricity,production,kWh,0.0000001,AR6,test,2024,CN\n")
    assert ok(world.run("factor", "import", str(tiny), "--operator-key", op)).stdout == (
        "imported 1 factor\n")
    assert ok(world.run("factor", "import", str(tiny), "--operator-key", op)).stdout == (
        "imported 0 factors; skipped 1 factor version already in the ledger\n")
    changed = tmp_path / "changed.csv"
    changed.write_text(header + "tiny,1,electricity,production,kWh,0.0000002,AR6,test,2024,CN\n")
    refused(world.run("factor", "import", str(changed), "--operator-key", op),
            "Error: factor tiny version 1 already exists with a different definition; factors "
            "are immutable: add a new version\n")
    ar4 = tmp_path / "ar4.csv"
    ar4.write_text(header + "old,1,electricity,production,kWh,0.5,AR4,test,2007,CN\n")
    refused(world.run("factor", "import", str(ar4), "--operator-key", op),
            f"Error: 1 problem(s) in {ar4}; nothing was written\n"
            "  line 2: gwp: 'AR4' is not one of AR5, AR6\n")
    factors = json.loads(ok(world.run("factor", "list", "--json")).stdout)
    tiny_row = next(f for f in factors if f["factor_id"] == "tiny")
    assert tiny_row["kgco2e_per_unit"] == "0.0000001" and tiny_row["stage"] == "production"
    table = ok(world.run("factor", "list")).stdout.splitlines()
    assert table[0].split() == ["factor_id", "v", "activity", "stage", "unit", "kgCO2e/unit",
                                "gwp", "year", "region"]  # fmt: skip
    assert any(line.startswith("tiny ") and " production " in line and "0.0000001" in line
               for line in table)  # fmt: skip


def test_verify_names_the_key_and_both_root_forms(imported: World) -> None:
    out = ok(imported.run("verify")).stdout.splitlines()
    root_hex = out[0].split("root ")[1].split(" ")[0]
    root_b64 = base64.b64encode(bytes.fromhex(root_hex)).decode()
    assert out[0] == (
        "OK: 115 entries verified (7 submissions, 84 records, 6 products, 4 suppliers, "
        f"13 factors, 1 checkpoint); tree size 115, root {root_hex} (hex), {root_b64} (base64)"
    )
    assert out[1] == f"  trusted operator key {OPERATOR_KEY_ID} (from the genesis entry)"
    pub = imported.key("operator") + ".pub"
    pinned = ok(imported.run("verify", "--operator-pub", pub)).stdout.splitlines()
    assert pinned[1] == f"  trusted operator key {OPERATOR_KEY_ID} (from --operator-pub {pub})"
    data = json.loads(ok(imported.run("verify", "--json")).stdout)
    assert (data["operator_key_id"], data["root_hash_base64"]) == (OPERATOR_KEY_ID, root_b64)


def test_encrypted_key_prompts_on_a_terminal(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "locked.key"
    ok(world.run("keygen", "--out", str(key), env={"CARBON_LEDGER_PASSPHRASE": "s3cret"}))
    assert b"ENCRYPTED" in key.read_bytes()
    env = {"CARBON_LEDGER_PASSPHRASE": None}  # type: ignore[dict-item]
    args = ["supplier", "rotate-key", "sup-bev", "--public-key", f"{key}.pub",
            "--operator-key", str(key)]  # fmt: skip
    # not a terminal: no prompt, the error names the variable
    refused(world.run(*args, env=env),
            f"Error: key file {key} is encrypted; set CARBON_LEDGER_PASSPHRASE to its "
            "passphrase\n")  # fmt: skip
    monkeypatch.setattr(cli_app, "interactive", lambda: True)
    result = world.run(*args, env=env, input="wrong\n")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Passphrase for {key}: \nError: key file {key} is not a PEM private key, or the "
        "passphrase is wrong\n")  # fmt: skip
    # the right passphrase unlocks it (and this key is not the operator's: a domain refusal)
    result = world.run(*args, env=env, input="s3cret\n")
    assert result.exit_code == 1
    kid = keys.key_id(keys.load_public(Path(f"{key}.pub")))
    assert result.stderr == (
        f"Passphrase for {key}: \nError: this key ({kid}) is not the ledger operator's key "
        f"({OPERATOR_KEY_ID})\n")  # fmt: skip


def test_demo_table_shows_missing_stages(tmp_path: Path) -> None:
    result = ok(run("demo", "--dir", str(tmp_path / "demo"), env={"COLUMNS": "140"}))
    lines = result.stdout.splitlines()
    head = lines.index("Supplier carbon intensity 2025 vs 2024 baseline (kgCO2e per kg of "
                       "product):") + 1  # fmt: skip
    assert "missing" in lines[head].split()
    bev = next(line for line in lines[head:] if line.startswith("sup-bev"))
    assert "wareh,transp,pack" in bev or "warehousing,transport,packaging" in bev
