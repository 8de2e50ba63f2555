"""Concurrent writers and readers on a real database (SQLite WAL and PostgreSQL), SPEC §9.

Appends are serialized (SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory lock), so concurrent
importers never fork the chain and never interleave their submissions; readers work on a
snapshot, so they neither block writers nor see half a submission.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from ledger import audit, records
from ledger.store import db
from ledger.submit import SubmissionResult

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
ROWS_PER_IMPORTER = 2000
SUPPLIERS = ("sup-bev", "sup-elec", "sup-logi", "sup-pack")

# Runs verify_database in a loop (with a short pause) until the stop file exists, then once
# more, and prints one JSON line per pass. A failed verification is an uncaught exception, so
# the reader exits non-zero.
READER = """
import json, os, sys, time
from ledger import audit
from ledger.store.db import make_engine
engine = make_engine(sys.argv[1])
while True:
    last = os.path.exists(sys.argv[2])
    started = time.monotonic()
    report = audit.verify_database(engine)
    print(json.dumps({"size": report.tree_size, "records": report.records,
                      "secs": round(time.monotonic() - started, 3)}), flush=True)
    if last:
        break
    time.sleep(0.2)  # leave the two cores to the writers between passes
"""




def _products(engine: Engine) -> list[str]:
    with db.reading(engine) as conn:
        return [r[0] for r in conn.execute(text("SELECT product_id FROM products ORDER BY 1"))]


def _scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with db.reading(engine) as conn:
        return conn.execute(text(sql), params).scalar_one()


def _submission_spans(engine: Engine) -> list[tuple[int, str, int, int | None, int | None, int]]:
    """(submission seq, supplier, count, first covered seq, last covered seq, covered entries)."""
    with db.reading(engine) as conn:
        return [
            tuple(r)  # type: ignore[misc]
            for r in conn.execute(
                text(
                    "SELECT s.seq, s.supplier_id, s.count, MIN(e.seq), MAX(e.seq), COUNT(e.seq) "
                    "FROM submissions s LEFT JOIN entries e ON e.submission_seq = s.seq "
                    "GROUP BY s.seq, s.supplier_id, s.count ORDER BY s.seq"
                )
            )
        ]


def _record_ids_in_entries(engine: Engine) -> Counter[str]:
    with db.reading(engine) as conn:
        rows = conn.execute(text("SELECT entry_bytes FROM entries WHERE kind = 'record'"))
        return Counter(json.loads(bytes(r[0]))["payload"]["record_id"] for r in rows)


def _assert_no_fork(engine: Engine) -> None:
    """Seqs are 0..n-1 with no gap and every entry has its own predecessor."""
    with db.reading(engine) as conn:
        count, low, high = conn.execute(
            text("SELECT COUNT(*), MIN(seq), MAX(seq) FROM entries")
        ).one()
        shared = conn.execute(
            text("SELECT prev_hash, COUNT(*) FROM entries GROUP BY prev_hash HAVING COUNT(*) > 1")
        ).all()
    assert (low, high) == (0, count - 1), f"seq gap: {count} entries span {low}..{high}"
    assert shared == [], f"chain forked: entries share a prev_hash {shared}"


def test_concurrent_importer_processes_with_a_verifying_reader(
    world: dict[str, Any], tmp_path: Path, gen_records: ModuleType, cli_env: dict[str, str]
) -> None:
    engine: Engine = world["engine"]
    url: str = world["url"]
    key_dir: Path = world["key_dir"]
    products = _products(engine)
    world_size = _scalar(engine, "SELECT COUNT(*) FROM entries")
    files: dict[str, Path] = {}
    expected_ids: set[str] = set()
    for n, sid in enumerate(SUPPLIERS):
        files[sid] = gen_records.write_records(
            tmp_path / f"{sid}.csv", ROWS_PER_IMPORTER, sid, products, seed=n
        )
        with files[sid].open(newline="") as handle:
            ids = {row["record_id"] for row in csv.DictReader(handle)}
        assert len(ids) == ROWS_PER_IMPORTER
        expected_ids |= ids
    assert len(expected_ids) == ROWS_PER_IMPORTER * len(SUPPLIERS)

    stop = tmp_path / "stop-reader"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, url, str(stop)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env,
    )  # fmt: skip
    importers: dict[str, subprocess.Popen[str]] = {}
    try:
        assert reader.stdout is not None
        first = reader.stdout.readline()  # the reader is verifying before any importer starts
        assert first, f"reader died before its first pass: {reader.communicate()[1]}"
        started = time.monotonic()
        for sid in SUPPLIERS:
            importers[sid] = subprocess.Popen(
                [*CLI, "--db", url, "import", str(files[sid]), "--supplier", sid,
                 "--key", str(key_dir / f"{sid}.key")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env,
            )  # fmt: skip
        outcomes = {sid: p.communicate(timeout=120) for sid, p in importers.items()}
        writers_secs = time.monotonic() - started
        stop.touch()
        rest, reader_err = reader.communicate(timeout=120)
    finally:
        for proc in [reader, *importers.values()]:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    for sid, (out, err) in outcomes.items():
        assert importers[sid].returncode == 0, f"{sid} import failed: {err}"
        assert f"imported {ROWS_PER_IMPORTER} records" in out, out
        assert "Traceback" not in err
    # Readers never block writers for long: four serialized imports of 2,000 records finish
    # well inside SQLite's 60 s busy timeout while verify runs in a loop beside them.
    assert writers_secs < 60, f"importers took {writers_secs:.1f}s next to a verifying reader"

    assert reader.returncode == 0, f"a concurrent verify failed:\n{reader_err}"
    passes = [json.loads(line) for line in [first, *rest.splitlines()] if line.strip()]
    assert len(passes) >= 2
    print(f"\n{len(passes)} verify passes, sizes {[p['size'] for p in passes]}, "
          f"importers done in {writers_secs:.1f}s")  # fmt: skip

    total = world_size + len(SUPPLIERS) * (ROWS_PER_IMPORTER + 1)
    verify = subprocess.run(
        [*CLI, "--db", url, "--json", "verify"],
        capture_output=True, text=True, env=cli_env, timeout=120,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads(verify.stdout)
    assert report["tree_size"] == total
    assert report["records"] == ROWS_PER_IMPORTER * len(SUPPLIERS)

    count, high = (
        _scalar(engine, "SELECT COUNT(*) FROM entries"),
        _scalar(engine, "SELECT MAX(seq) FROM entries"),
    )
    assert (count, high) == (total, total - 1)
    _assert_no_fork(engine)

    seen = _record_ids_in_entries(engine)
    assert set(seen) == expected_ids
    assert [rid for rid, n in seen.items() if n != 1] == []
    assert _scalar(engine, "SELECT COUNT(DISTINCT record_id) FROM records") == len(expected_ids)

    # Each submission's entries are contiguous: exactly seq+1 .. seq+count, nothing between.
    spans = _submission_spans(engine)
    imports = [s for s in spans if s[2] == ROWS_PER_IMPORTER]
    assert sorted(s[1] for s in imports) == sorted(SUPPLIERS)
    for seq, sid, n, low, high_seq, covered in spans:
        assert (low, high_seq, covered) == (seq + 1, seq + n, n), f"submission {seq} of {sid}"
    with db.reading(engine) as conn:
        mixed = conn.execute(
            text(
                "SELECT COUNT(*) FROM records r JOIN submissions s ON r.submission_seq = s.seq "
                "WHERE r.supplier_id <> s.supplier_id"
            )
        ).scalar_one()
    assert mixed == 0

    # Every pass saw a prefix that ends on a submission boundary (never half an import).
    boundaries = {world_size} | {seq + n + 1 for seq, _sid, n, *_ in imports}
    sizes = [p["size"] for p in passes]
    assert sizes == sorted(sizes), "a later verify saw a shorter ledger"
    assert set(sizes) <= boundaries, f"a reader saw a partial submission: {sizes}"
    assert sizes[0] == world_size and sizes[-1] == total


def _append(
    engine: Engine, supplier: str, key: Ed25519PrivateKey, product: str, note: str
) -> SubmissionResult:
    row = {
        "product_id": product, "stage": "production", "activity": "electricity",
        "amount": "1200.5", "unit": "kWh", "factor_id": "cn-grid-electricity",
        "units_covered": "1000", "period_start": "2025-01-01", "period_end": "2025-02-01",
        "note": note,
    }  # fmt: skip
    return records.append_record(engine, supplier, key, row)[1]


def test_simultaneous_single_appends_are_serialized(world: dict[str, Any]) -> None:
    url: str = world["url"]
    supplier_keys: dict[str, Ed25519PrivateKey] = world["keys"]
    product = _products(world["engine"])[0]
    before = _scalar(world["engine"], "SELECT COUNT(*) FROM entries")
    threads_per_round, rounds = 6, 3
    results: list[SubmissionResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads_per_round)
    engines = [db.make_engine(url) for _ in range(threads_per_round)]  # one pool per "client"

    def worker(n: int, r: int) -> None:
        sid = SUPPLIERS[n % len(SUPPLIERS)]
        try:
            barrier.wait(timeout=30)
            result = _append(engines[n], sid, supplier_keys[sid], product, f"round {r} thread {n}")
        except BaseException as exc:  # report every failure, not only the first
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(result)

    try:
        for r in range(rounds):
            threads = [
                threading.Thread(target=worker, args=(n, r)) for n in range(threads_per_round)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert not any(t.is_alive() for t in threads)
    finally:
        for engine in engines:
            engine.dispose()

    assert errors == [], f"concurrent appends failed: {errors!r}"
    assert len(results) == threads_per_round * rounds
    seqs = sorted(s for res in results for s in (res.submission_seq, res.first_seq))
    assert seqs == list(range(before, before + 2 * len(results))), "appends overlapped"
    _assert_no_fork(world["engine"])
    report = audit.verify_database(world["engine"])
    assert report.tree_size == before + 2 * len(results)


def test_second_writer_waits_for_the_first(world: dict[str, Any]) -> None:
    """While one write transaction is open, another append blocks, then lands after it."""
    engine: Engine = world["engine"]
    other = db.make_engine(world["url"])
    key = world["keys"]["sup-elec"]
    product = _products(engine)[0]
    outcome: list[SubmissionResult | BaseException] = []

    def append() -> None:
        try:
            outcome.append(_append(other, "sup-elec", key, product, "waited"))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=append)
    try:
        with db.writing(engine) as conn:
            head = conn.execute(text("SELECT MAX(seq) FROM entries")).scalar_one()
            thread.start()
            time.sleep(1.5)
            assert thread.is_alive() and outcome == [], f"second writer did not wait: {outcome}"
        thread.join(timeout=60)
    finally:
        other.dispose()
    assert len(outcome) == 1 and isinstance(outcome[0], SubmissionResult), outcome
    assert outcome[0].submission_seq == head + 1
    _assert_no_fork(engine)


def test_open_reader_keeps_its_snapshot_and_does_not_block_a_writer(
    world: dict[str, Any],
) -> None:
    engine: Engine = world["engine"]
    writer = db.make_engine(world["url"])
    key = world["keys"]["sup-bev"]
    product = _products(engine)[0]
    try:
        with db.reading(engine) as conn:
            before = conn.execute(text("SELECT COUNT(*) FROM entries")).scalar_one()
            started = time.monotonic()
            result = _append(writer, "sup-bev", key, product, "while a reader is open")
            took = time.monotonic() - started
            assert took < 10, f"an open read transaction held the writer for {took:.1f}s"
            assert result.submission_seq == before
            # the reader's snapshot does not move under it
            assert conn.execute(text("SELECT COUNT(*) FROM entries")).scalar_one() == before
            assert (
                conn.execute(
                    text("SELECT COUNT(*) FROM records WHERE seq >= :s"), {"s": before}
                ).scalar_one()
                == 0
            )
    finally:
        writer.dispose()
    assert _scalar(engine, "SELECT COUNT(*) FROM entries") == before + 2
