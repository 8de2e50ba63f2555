"""End-to-end benchmark: every operation as a whole `carbon-ledger` process.

    python bench/run_bench.py                 # 10^6 records (about 10-20 minutes here)
    python bench/run_bench.py --records 100000
    python bench/run_bench.py --quick         # 10^4 records: the CI smoke run

It builds the sample world with `carbon-ledger demo`, generates a realistic CSV of N records
for the logistics supplier (all four stages) plus 10^4 records of one dedicated product, then
times import, verify --jobs N, query intensity, checkpoint, prove and label export, each as a
separate process with its peak RSS (from wait4). Two reference figures measured in the same
run (raw SHA-256 leaf hashing of the same entry bytes; raw Ed25519 verification) let results
be compared across noisy machines. Results go to stdout and to bench/out/results-N.json.
Nothing here asserts a time: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
LABEL_PRODUCT = "urn:bench:label-product"
LABEL_RECORDS = 10_000


def _gen_records() -> Any:
    spec = importlib.util.spec_from_file_location("gen_records", BENCH / "gen_records.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(args: list[str], db_url: str, cwd: Path) -> dict[str, Any]:
    """Run one carbon-ledger command; return wall seconds, peak RSS (MB) and output."""
    cmd = [sys.executable, "-c", "from ledger_cli.main import main; main()", "--db", db_url, *args]
    env = {**os.environ, "CI": "1"}  # no progress bars in the measurement
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{err}")
    return {"seconds": seconds, "stdout": out, "stderr": err}


def run_measured(args: list[str], db_url: str, cwd: Path) -> dict[str, Any]:
    """Like :func:`run` but with the peak RSS of the process tree (wait4 ru_maxrss)."""
    cmd = [sys.executable, "-c", "from ledger_cli.main import main; main()", "--db", db_url, *args]
    env = {**os.environ, "CI": "1"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{stderr}")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "stdout": stdout}


def reference_figures(db_path: Path, sample: int = 200_000) -> dict[str, float]:
    """Raw SHA-256 leaf hashing of real entry bytes and raw Ed25519 verification rates."""
    with sqlite3.connect(db_path) as conn:
        rows = [r[0] for r in conn.execute("SELECT entry_bytes FROM entries LIMIT ?", (sample,))]
    start = time.perf_counter()
    for data in rows:
        hashlib.sha256(b"\x00" + data).digest()
    sha_rate = len(rows) / (time.perf_counter() - start)
    key = Ed25519PrivateKey.generate()
    message = rows[-1]
    signature = key.sign(message)
    public = key.public_key()
    n = 5000
    start = time.perf_counter()
    for _ in range(n):
        public.verify(signature, message)
    return {
        "sha256_leaf_hashes_per_s": sha_rate,
        "ed25519_verifies_per_s": n / (time.perf_counter() - start),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="10^4 records (CI smoke run)")
    parser.add_argument("--jobs", type=int, default=2, help="verify --jobs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    n = 10_000 if args.quick else args.records
    label_n = min(LABEL_RECORDS, n)
    work = Path(tempfile.mkdtemp(prefix="carbon-ledger-bench-"))
    results: dict[str, Any] = {
        "records": n,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    try:
        demo = work / "demo"
        subprocess.run(
            [sys.executable, "-c", "from ledger_cli.main import main; main()", "demo",
             "--dir", str(demo)], check=True, capture_output=True,
        )  # fmt: skip
        db_url = f"sqlite:///{demo / 'ledger.db'}"
        keys = demo / "keys"
        gen = _gen_records()
        main_csv = work / "records.csv"
        label_csv = work / "label-records.csv"
        start = time.perf_counter()
        products = ["6923451000013", "6923451000020", "6923451000037", "6970123000017",
                    "6970123000024", "6970123000031"]  # fmt: skip
        gen.write_records(main_csv, n, "sup-logi", products, seed=7)
        gen.write_records(label_csv, label_n, "sup-bev", [LABEL_PRODUCT], seed=8)
        print(f"generated {n:,} + {label_n:,} records in {time.perf_counter() - start:.1f} s "
              f"({main_csv.stat().st_size / 1e6:.0f} MB CSV)")  # fmt: skip
        run(["product", "add", LABEL_PRODUCT, "--supplier", "sup-bev", "--key",
             str(keys / "sup-bev.key"), "--name", "Bench label product", "--declared-unit",
             "piece", "--mass-kg", "0.5"], db_url, work)  # fmt: skip
        run(["import", str(label_csv), "--supplier", "sup-bev", "--key",
             str(keys / "sup-bev.key")], db_url, work)  # fmt: skip

        imp = run_measured(["import", str(main_csv), "--supplier", "sup-logi", "--key",
                            str(keys / "sup-logi.key")], db_url, work)  # fmt: skip
        results["import"] = {"seconds": imp["seconds"], "records_per_s": n / imp["seconds"],
                             "peak_rss_mb": imp["peak_rss_mb"]}  # fmt: skip

        run(["checkpoint", "--operator-key", str(keys / "operator.key"), "--out",
             str(work / "seen.cp")], db_url, work)  # fmt: skip
        with sqlite3.connect(demo / "ledger.db") as conn:
            entries = conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
            record_id = conn.execute(
                "SELECT record_id FROM records WHERE supplier_id = 'sup-logi' "
                "ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (n // 2,),
            ).fetchone()[0]

        ver = run_measured(["verify", "--jobs", str(args.jobs), "--checkpoint",
                            str(work / "seen.cp")], db_url, work)  # fmt: skip
        results["verify"] = {"seconds": ver["seconds"], "entries": entries,
                             "entries_per_s": entries / ver["seconds"], "jobs": args.jobs,
                             "peak_rss_mb": ver["peak_rss_mb"]}  # fmt: skip
        q = run_measured(["query", "intensity", "--by", "supplier", "--from", "2023-01-01",
                          "--to", "2026-01-01", "--format", "csv"], db_url, work)  # fmt: skip
        results["query_intensity_supplier"] = {"seconds": q["seconds"],
                                               "peak_rss_mb": q["peak_rss_mb"]}  # fmt: skip
        p = run_measured(["prove", record_id, "--out", str(work / "proof.json")], db_url, work)
        results["prove"] = {"seconds": p["seconds"]}
        lab = run_measured(["label", "export", LABEL_PRODUCT, "--from", "2023-01-01", "--to",
                            "2026-01-01", "--format", "json", "--out",
                            str(work / "label.json")], db_url, work)  # fmt: skip
        results["label_export"] = {"seconds": lab["seconds"], "records": label_n,
                                   "bytes": (work / "label.json").stat().st_size}  # fmt: skip
        startup = run_measured(["--help"], db_url, work)
        results["cli_startup_seconds"] = startup["seconds"]
        results["reference"] = reference_figures(demo / "ledger.db")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(results)
    out_dir = BENCH / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"results-{n}.json").write_text(json.dumps(results, indent=2) + "\n")


def report(r: dict[str, Any]) -> None:
    ref = r["reference"]
    rows = [
        ("import (validate, compute, canonicalize, hash, Merkle, insert)",
         f"{r['import']['records_per_s']:,.0f} records/s", f"{r['import']['seconds']:.1f} s",
         f"peak RSS {r['import']['peak_rss_mb']:.0f} MB"),
        (f"verify --jobs {r['verify']['jobs']} --checkpoint (full audit)",
         f"{r['verify']['entries_per_s']:,.0f} entries/s", f"{r['verify']['seconds']:.1f} s",
         f"peak RSS {r['verify']['peak_rss_mb']:.0f} MB"),
        ("query intensity --by supplier", "", f"{r['query_intensity_supplier']['seconds']:.2f} s",
         f"peak RSS {r['query_intensity_supplier']['peak_rss_mb']:.0f} MB"),
        ("prove one record (whole process)", "", f"{r['prove']['seconds']:.2f} s", ""),
        (f"label export, {r['label_export']['records']:,} records", "",
         f"{r['label_export']['seconds']:.2f} s", f"{r['label_export']['bytes'] / 1e6:.1f} MB"),
        ("CLI start-up (--help)", "", f"{r['cli_startup_seconds']:.2f} s", ""),
        ("reference: raw SHA-256 leaf hashing",
         f"{ref['sha256_leaf_hashes_per_s']:,.0f} /s", "", ""),
        ("reference: raw Ed25519 verify", f"{ref['ed25519_verifies_per_s']:,.0f} /s", "", ""),
    ]  # fmt: skip
    print(f"\n{r['records']:,} records on {r['machine']}")
    width = max(len(x[0]) for x in rows)
    for name, rate, secs, extra in rows:
        print(f"  {name:<{width}}  {rate:>20}  {secs:>8}  {extra}")


if __name__ == "__main__":
    main()
