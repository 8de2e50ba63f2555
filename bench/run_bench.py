"""End-to-end benchmark: every operation as a whole `carbon-ledger` process, against its floor.

    python bench/run_bench.py                       # 10^6 records on SQLite
    python bench/run_bench.py --records 100000
    python bench/run_bench.py --quick               # 10^4 records: the CI smoke run
    python bench/run_bench.py --scaling             # 10^4, 10^5, 10^6: per-record costs
    python bench/run_bench.py --db postgresql       # 10^5 records on a local PostgreSQL

It builds the sample world through the CLI (operator, suppliers, factors, products and their
declared outputs), generates a realistic CSV of N records for the logistics supplier (all four
stages) and 10^4 records of one dedicated label product whose owner declares its monthly
output, then times import, label export (which logs the footprint statement), verify --jobs
1 and 2 (which re-derives it), query intensity, query scorecard, prove, label verify and
--help, each as a separate process, with the wall time, CPU time and peak RSS of each. In
the same run it measures the floors of bench/floors.py (the same work done with public tools
only) and prints one table:
operation, now, floor, now as a share of the floor's speed, goal (issue 14), met. Results go
to stdout and bench/out/results-<db>-N.json. Nothing here asserts a time: this is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SAMPLES = REPO / "samples"
LABEL_PRODUCT = "6923451000044"  # a valid GTIN-13 owned by sup-bev, only for the label bench
LABEL_RECORDS = 10_000
WINDOW = ("2023-01-01", "2026-01-01")  # every generated record
SCORE_WINDOW, SCORE_BASELINE = ("2025-01-01", "2026-01-01"), ("2024-01-01", "2025-01-01")
SIZES = (10_000, 100_000, 1_000_000)


def _load(name: str, path: Path) -> Any:
    """Import a file that is not in a package (bench/ and tests/ are not packages)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


floors = _load("floors", BENCH / "floors.py")
gen = _load("gen_records", BENCH / "gen_records.py")


def run_cli(args: list[str], db_url: str, cwd: Path) -> dict[str, Any]:
    """Run one carbon-ledger process; wall and CPU seconds, peak RSS (MB) and its stdout.

    CPU seconds and peak RSS come from wait4, so they include the worker processes the
    command started and reaped. On a shared machine CPU time is the steadier figure.
    """
    cmd = [sys.executable, "-c", "from ledger_cli.main import main; main()", "--db", db_url, *args]
    env = {**os.environ, "CI": "1"}  # no progress bars in the measurement
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code != 0:
        raise SystemExit(f"carbon-ledger {' '.join(args)} failed ({code}):\n{stderr}")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,  # with its reaped workers
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "stdout": stdout,
    }


def run_median(args: list[str], db_url: str, cwd: Path, repeat: int) -> dict[str, Any]:
    """Median wall time of ``repeat`` runs of a read-only command (largest peak RSS)."""
    runs = [run_cli(args, db_url, cwd) for _ in range(repeat)]
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def build_world(db_url: str, work: Path, keys: Path) -> None:
    """The sample registry and declared outputs, through the CLI, on any backend."""

    def cli(*args: str) -> None:
        run_cli(list(args), db_url, work)

    operator = str(keys / "operator.key")
    cli("init", "--operator-key", operator, "--origin", "bench.example/carbon-ledger")
    with (SAMPLES / "suppliers.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            sid = row["supplier_id"]
            cli(
                "supplier",
                "add",
                sid,
                "--name",
                row["name"],
                "--country",
                row["country"],
                "--public-key",
                str(keys / f"{sid}.key.pub"),
                "--operator-key",
                operator,
            )
    cli("factor", "import", str(SAMPLES / "factors.csv"), "--operator-key", operator)
    products = list(csv.DictReader((SAMPLES / "products.csv").open(newline="")))
    products.append(
        {
            "product_id": LABEL_PRODUCT,
            "supplier_id": "sup-bev",
            "name": "Bench label product",
            "declared_unit": "piece",
            "mass_kg": "0.5",
        }
    )
    for p in products:
        sid = p["supplier_id"]
        cli(
            "product",
            "add",
            p["product_id"],
            "--supplier",
            sid,
            "--key",
            str(keys / f"{sid}.key"),
            "--name",
            p["name"],
            "--declared-unit",
            p["declared_unit"],
            "--mass-kg",
            p["mass_kg"],
        )
    outputs = sorted((SAMPLES / "outputs").glob("*.csv"))
    gen.write_outputs(work / "sup-bev-bench-outputs.csv", [LABEL_PRODUCT], seed=8)
    for path in [*outputs, work / "sup-bev-bench-outputs.csv"]:
        sid = "-".join(path.name.split("-")[:2])
        cli("output", "import", str(path), "--supplier", sid, "--key", str(keys / f"{sid}.key"))


def max_seq(backend: Any) -> int:
    with backend.ledger() as conn:
        return int(conn.execute("SELECT MAX(seq) FROM entries").fetchone()[0])


def bench_once(n: int, backend: Any, work: Path, jobs: list[int], repeat: int) -> dict[str, Any]:
    """One full run at ``n`` records on a fresh, empty ledger at ``backend``."""
    keys = work / "keys"
    if not keys.exists():
        shutil.copytree(SAMPLES / "keys", keys)
        for key_file in keys.glob("*.key"):
            key_file.chmod(0o600)
    url = backend.url
    label_n = min(LABEL_RECORDS, n)
    r: dict[str, Any] = {"records": n, "db": backend.name, "label_records": label_n, "ops": {}}
    r["load_before"] = os.getloadavg()[0]  # a shared machine: say how busy it was
    ops, fl = r["ops"], {}
    r["floors"] = fl
    build_world(url, work, keys)
    main_csv, label_csv = work / f"records-{n}.csv", work / "label-records.csv"
    start = time.perf_counter()
    products = [
        "6923451000013",
        "6923451000020",
        "6923451000037",
        "6970123000017",
        "6970123000024",
        "6970123000031",
    ]
    gen.write_records(main_csv, n, "sup-logi", products, seed=7)
    gen.write_records(label_csv, label_n, "sup-bev", [LABEL_PRODUCT], seed=8)
    say(
        f"  generated {n:,} + {label_n:,} records in {time.perf_counter() - start:.1f} s "
        f"({main_csv.stat().st_size / 1e6:.0f} MB CSV)"
    )
    run_cli(
        ["import", str(label_csv), "--supplier", "sup-bev", "--key", str(keys / "sup-bev.key")],
        url,
        work,
    )

    first = max_seq(backend) + 1
    ops["import"] = run_cli(
        ["import", str(main_csv), "--supplier", "sup-logi", "--key", str(keys / "sup-logi.key")],
        url,
        work,
    )
    last = max_seq(backend)
    say(f"  import {ops['import']['seconds']:.1f} s; floor: bare insert of entries {first}..{last}")
    fl["insert"], _rows = floors.insert_floor(backend, first, last)

    run_cli(
        [
            "checkpoint",
            "--operator-key",
            str(keys / "operator.key"),
            "--out",
            str(work / "seen.cp"),
        ],
        url,
        work,
    )
    label = work / "label.json"
    label_args = [
        "label",
        "export",
        LABEL_PRODUCT,
        "--from",
        WINDOW[0],
        "--to",
        WINDOW[1],
        "--format",
        "json",
        "--out",
        str(label),
    ]
    # the first export computes and logs the footprint statement and signs a checkpoint;
    # it runs before verify, which re-derives every logged statement (part of its cost)
    ops["label_export"] = run_cli(
        [*label_args, "--operator-key", str(keys / "operator.key")], url, work
    )
    r["label_bytes"] = label.stat().st_size
    # the same export once the statement is logged: evidence, proofs and the JSON alone,
    # without the pre-sign audit of the checkpoint the first export signs
    ops["label_export_logged"] = run_median(label_args, url, work, repeat)
    for j in jobs:
        ops[f"verify{j}"] = run_cli(
            ["verify", "--jobs", str(j), "--checkpoint", str(work / "seen.cp")], url, work
        )
        say(f"  verify --jobs {j}: {ops[f'verify{j}']['seconds']:.1f} s")
    fl["read_hash"], r["entries"] = floors.read_hash_floor(backend)

    ops["intensity"] = run_median(
        [
            "query",
            "intensity",
            "--by",
            "supplier",
            "--from",
            WINDOW[0],
            "--to",
            WINDOW[1],
            "--format",
            "csv",
        ],
        url,
        work,
        repeat,
    )
    ops["scorecard"] = run_median(
        [
            "query",
            "scorecard",
            "--from",
            SCORE_WINDOW[0],
            "--to",
            SCORE_WINDOW[1],
            "--baseline-from",
            SCORE_BASELINE[0],
            "--baseline-to",
            SCORE_BASELINE[1],
            "--target-reduction",
            "5",
            "--format",
            "csv",
        ],
        url,
        work,
        repeat,
    )
    r["aggregate_groups"] = floors.build_aggregates(backend)
    fl["aggregate"] = statistics.median(
        floors.aggregate_floor(backend, WINDOW)[0] for _ in range(repeat)
    )
    fl["float_group_by"] = statistics.median(
        floors.float_group_by_floor(backend, WINDOW) for _ in range(repeat)
    )
    records_csv = floors.write_records_csv(backend, work / "effective-records.csv")
    fl["pandas"] = statistics.median(
        floors.pandas_floor(records_csv, WINDOW) for _ in range(repeat)
    )

    with backend.ledger() as conn:
        record_id = conn.execute(
            "SELECT record_id FROM records WHERE supplier_id = 'sup-logi' ORDER BY seq LIMIT 1 "
            f"OFFSET {n // 2}"
        ).fetchone()[0]
    ops["prove"] = run_median(
        ["prove", record_id, "--out", str(work / "proof.json")], url, work, repeat
    )
    ops["label_verify"] = run_median(
        ["label", "verify", str(label), "--operator-pub", str(keys / "operator.key.pub")],
        url,
        work,
        repeat,
    )
    ops["help"] = run_median(["--help"], url, work, repeat)
    fl["startup"] = floors.startup_floor(repeat)
    for op in ops.values():
        op.pop("stdout", None)
    r["load_after"] = os.getloadavg()[0]
    return r


def say(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------- backends


@contextlib.contextmanager
def sqlite_backends(work: Path) -> Iterator[Any]:
    """A factory of fresh SQLite ledgers (one file per size) with a scratch file beside each."""

    def make(n: int) -> Any:
        return floors.Backend.from_url(
            f"sqlite:///{work / f'ledger-{n}.db'}", f"sqlite:///{work / f'scratch-{n}.db'}"
        )

    yield make


@contextlib.contextmanager
def postgresql_backends(work: Path) -> Iterator[Any]:
    """A throwaway local PostgreSQL server, started as the tests start theirs (the one home
    of that recipe is tests/conftest.py), with a fresh ledger and scratch database per size;
    stopped and removed at the end."""
    conftest = _load("bench_pg_conftest", REPO / "tests" / "conftest.py")
    bindir = conftest._pg_bin()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binary (pg_ctl) on this machine")
    server = conftest.PostgresServer(bindir)
    server.start()
    try:
        yield lambda _n: floors.Backend.from_url(server.create_database(), server.create_database())
    finally:
        server.stop()


# ---------------------------------------------------------------- report

GOALS = {  # issue 14
    "import": 0.40,  # of the bare-insert floor's speed
    "import_rss_mb": 300,
    "verify": 0.25,  # of the read + 2×SHA-256 floor's speed
    "intensity": 0.1,
    "scorecard": 0.2,
    "prove": 0.1,
    "label_export": 1.0,
    "label_export_logged": 1.0,
    "label_verify": 0.2,
    "help": 0.1,
}


def _share(floor: float, now: float) -> str:
    """Speed as a share of the floor's (floor time / now time) and the slowdown factor."""
    share = floor / now * 100
    return (
        f"{share:.2g} % ({now / floor:.1f}×)"
        if share < 10
        else f"{share:.0f} % ({now / floor:.1f}×)"
    )


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table_rows(r: dict[str, Any]) -> list[tuple[str, ...]]:
    ops, fl, n = r["ops"], r["floors"], r["records"]
    db = "SQLite" if r["db"] == "sqlite" else "PostgreSQL"
    imp = ops["import"]
    rows = [
        (
            f"import {n:,} rows",
            f"{imp['seconds']:.2f} s ({n / imp['seconds']:,.0f} records/s, CPU "
            f"{imp['cpu_seconds']:.2f} s), peak RSS {imp['peak_rss_mb']:.0f} MB",
            f"bare `executemany` of the same entry rows: {fl['insert']:.2f} s",
            _share(fl["insert"], imp["seconds"]),
            "≥ 40 % of floor, ≤ 300 MB",
            _yes(
                fl["insert"] / imp["seconds"] >= GOALS["import"]
                and imp["peak_rss_mb"] <= GOALS["import_rss_mb"]
            ),
        ),
    ]
    verify_secs = [ops[k]["seconds"] for k in ops if k.startswith("verify")]
    for key in [k for k in ops if k.startswith("verify")]:
        v, jobs = ops[key], key.removeprefix("verify")
        ok = fl["read_hash"] / v["seconds"] >= GOALS["verify"] and (
            jobs == "1" or v["seconds"] <= min(verify_secs) * 1.05
        )
        rows.append(
            (
                f"`verify --jobs {jobs}` ({r['entries']:,} entries)",
                f"{v['seconds']:.2f} s ({r['entries'] / v['seconds']:,.0f} entries/s, CPU "
                f"{v['cpu_seconds']:.2f} s), peak RSS {v['peak_rss_mb']:.0f} MB",
                f"read entry bytes + 2×SHA-256: {fl['read_hash']:.2f} s",
                _share(fl["read_hash"], v["seconds"]),
                "≥ 25 % of floor" + ("" if jobs == "1" else "; not slower than fewer jobs"),
                _yes(ok),
            )
        )
    agg = (
        f"exact aggregate table read: {fl['aggregate']:.3f} s ({r['aggregate_groups']:,} groups); "
        f"{db} float GROUP BY: {fl['float_group_by']:.2f} s; pandas read_csv+groupby: "
        f"{fl['pandas']:.2f} s"
    )
    for key, name in (
        ("intensity", "`query intensity --by supplier`"),
        ("scorecard", "`query scorecard`"),
    ):
        now = ops[key]["seconds"]
        rows.append(
            (
                name,
                f"{now:.2f} s (CPU {ops[key]['cpu_seconds']:.2f} s)",
                agg if key == "intensity" else "same as above",
                _share(fl["aggregate"], now),
                f"≤ {GOALS[key]} s",
                _yes(now <= GOALS[key]),
            )
        )
    start = f"`python -c pass`: {fl['startup']:.3f} s"
    for key, name, floor in (
        ("prove", "`prove` one record", start),
        (
            "label_export",
            f"`label export`, {r['label_records']:,} records "
            f"({r['label_bytes'] / 1e6:.1f} MB JSON, logs the statement)",
            "",
        ),
        ("label_export_logged", "`label export`, statement already logged", ""),
        ("label_verify", "`label verify` of that label", start),
        ("help", "`carbon-ledger --help`", start),
    ):
        now = ops[key]["seconds"]
        share = _share(fl["startup"], now) if floor else ""
        rows.append(
            (
                name,
                f"{now:.2f} s (CPU {ops[key]['cpu_seconds']:.2f} s)",
                floor or "—",
                share,
                f"≤ {GOALS[key]} s",
                _yes(now <= GOALS[key]),
            )
        )
    return rows


def report(r: dict[str, Any]) -> None:
    header = (
        "operation",
        "now",
        "floor measured in the same run",
        "now / floor (speed)",
        "goal",
        "met",
    )
    print(
        f"\n{r['records']:,} records, {r['db']}, on {r['machine']} (1-minute load average "
        f"{r['load_before']:.1f} before, {r['load_after']:.1f} after)\n"
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in table_rows(r):
        print("| " + " | ".join(row) + " |")


def scaling_report(results: list[dict[str, Any]]) -> None:
    """Per-record costs at each size: linear work shows the same µs at every N."""
    print("\nper-record costs (µs; a linear cost is flat across N)\n")
    header = (
        "N",
        "import wall / CPU",
        "insert floor",
        "verify --jobs 1 wall / CPU",
        "read+hash floor",
        "intensity (s)",
        "scorecard (s)",
        "import peak RSS (MB)",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in results:
        n, ops, fl, entries = r["records"], r["ops"], r["floors"], r["entries"]
        verify = ops.get("verify1") or next(v for k, v in ops.items() if k.startswith("verify"))
        imp = ops["import"]
        cells = (
            f"{n:,}",
            f"{imp['seconds'] / n * 1e6:.1f} / {imp['cpu_seconds'] / n * 1e6:.1f}",
            f"{fl['insert'] / n * 1e6:.1f}",
            f"{verify['seconds'] / entries * 1e6:.1f} / "
            f"{verify['cpu_seconds'] / entries * 1e6:.1f}",
            f"{fl['read_hash'] / entries * 1e6:.1f}",
            f"{ops['intensity']['seconds']:.2f}",
            f"{ops['scorecard']['seconds']:.2f}",
            f"{imp['peak_rss_mb']:.0f}",
        )
        print("| " + " | ".join(cells) + " |")


def compile_bytecode() -> None:
    """Compile ledger/ and cli/ to bytecode first, as every run after the first has it.

    An editable install leaves the project's modules as source until Python writes their
    ``__pycache__`` on first import, and never when ``PYTHONDONTWRITEBYTECODE`` is set (as
    on some CI machines): every process would then compile ~70 modules again, which is start-up
    the user does not pay. The installed dependencies were compiled by pip already.
    """
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "ledger"), str(REPO / "cli")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, help="N (default 10^6; 10^5 with postgresql)")
    parser.add_argument("--quick", action="store_true", help="10^4 records (CI smoke run)")
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="run 10^4, 10^5 and 10^6 (up to --records) and print per-record costs",
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--jobs", type=int, action="append", help="verify --jobs (default 1 and 2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each short command (median)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    n = 10_000 if args.quick else args.records or (100_000 if args.db == "postgresql" else 10**6)
    sizes = [s for s in SIZES if s <= n] if args.scaling else [n]
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="carbon-ledger-bench-"))
    results = []
    try:
        backends = sqlite_backends if args.db == "sqlite" else postgresql_backends
        with backends(work) as make_backend:
            for size in sizes:
                say(f"{size:,} records on {args.db}")
                size_dir = work / str(size)
                size_dir.mkdir()
                r = bench_once(size, make_backend(size), size_dir, args.jobs or [1, 2], args.repeat)
                r["machine"] = machine
                results.append(r)
                report(r)
                out_dir = BENCH / "out"
                out_dir.mkdir(exist_ok=True)
                (out_dir / f"results-{args.db}-{size}.json").write_text(
                    json.dumps(r, indent=2) + "\n"
                )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.scaling:
        scaling_report(results)


if __name__ == "__main__":
    main()
