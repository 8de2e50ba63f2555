"""ledger.ingest: record-boundary chunking, parallel validation, spool clean-up."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import ingest, records

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_chunks_never_split_a_quoted_newline() -> None:
    header = b"product_id,stage,activity,note\n"
    rows = [b'P,production,electricity,"line one\nline two, with ""quotes"""\n'] * 5000
    data = header + b"".join(rows)
    sha = hashlib.sha256()
    chunks = list(ingest.read_chunks(io.BytesIO(data), True, sha, size=4099))
    assert len(chunks) > 10
    assert b"".join(c.data for c in chunks) == data[len(header) :]
    assert sha.hexdigest() == hashlib.sha256(data).hexdigest()
    for chunk in chunks:  # each chunk holds whole records: an even number of quotes
        assert chunk.data.count(b'"') % 2 == 0 and chunk.data.endswith(b"\n")
    # physical line numbers carry across chunks: every record takes two lines
    assert [c.first_line for c in chunks[:3]] == [
        2,
        2 + chunks[0].data.count(b"\n"),
        2 + b"".join(c.data for c in chunks[:2]).count(b"\n"),
    ]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_an_import_sweeps_spools_of_killed_imports_and_removes_its_own(
    world: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)  # take the worker path
    monkeypatch.setattr(ingest, "CHUNK_BYTES", 4096)
    orphan = Path(tempfile.mkdtemp(prefix=f"carbon-ledger-import-{_dead_pid()}-"))
    (orphan / "carbon-ledger-chunk-x").write_bytes(b"left by a SIGKILLed import")
    live = Path(tempfile.mkdtemp(prefix=f"carbon-ledger-import-{os.getpid()}-"))
    mine = f"carbon-ledger-import-{os.getpid()}-*"  # /tmp is shared with other runs
    before = set(Path(tempfile.gettempdir()).glob(mine))
    report = records.import_records(
        world["engine"],
        SAMPLES / "records" / "sup-bev-2024.csv",  # type: ignore[arg-type]
        "sup-bev",
        world["keys"]["sup-bev"],
        jobs=2,
    )  # type: ignore[index]
    assert report.rows == 84
    assert not orphan.exists(), "a dead import's spool is swept"
    assert live.exists(), "a live process's spool is left alone"
    after = set(Path(tempfile.gettempdir()).glob(mine))
    assert after == before == {live}, "the import removed its own spool directory"
    live.rmdir()


# ---- differential: the chunker against Python's csv, whatever the chunking (issue 13.2) ----

HEADER_LINE = "product_id,stage,activity,note\n"
# the importer reads the header with one 64 KiB block; a first row longer than that makes the
# chunk size, not that block, decide where the rest of the file is cut
PADDING = "P,production,electricity," + "x" * 70_000 + "\n"


class _Recorder:
    """A row builder that keeps every row the chunks hand it, in order."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []

    def build(self, row: dict[str, object]) -> dict[str, object]:
        self.rows.append(dict(row))
        payload = {"record_id": str(len(self.rows)), "activity": "a"}  # index values need these
        return {**payload, **{k: str(v) for k, v in row.items()}}


def chunked_rows(data: bytes, size: int) -> list[dict[str, object]]:
    """Every row the importer's chunks yield, through the real validate_chunk path."""
    recorder = _Recorder()
    for chunk in ingest.read_chunks(io.BytesIO(data), True, hashlib.sha256(), size=size):
        result = ingest.validate_chunk(chunk, recorder, to_file=False)
        assert not [p for p in result.problems if "malformed CSV" in p]
    return recorder.rows


def csv_rows(data: bytes) -> list[dict[str, object]]:
    """The reference: Python's csv over the whole file, mapped as the importer maps a row."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader)
    out: list[dict[str, object]] = []
    for fields in reader:
        if not fields:
            continue
        if len(fields) > len(header):
            out.append({"__extra__": "row has more fields than the header"})
        else:
            out.append({k: v for k, v in zip(header, fields, strict=False) if v != ""})
    return out


@settings(max_examples=300, deadline=None)
@given(body=st.text(alphabet='a,"\r\n 4x', max_size=120), size=st.integers(1, 40))
def test_chunking_reads_what_csv_reads(body: str, size: int) -> None:
    data = (HEADER_LINE + PADDING + body).encode("utf-8")
    assert chunked_rows(data, size) == csv_rows(data)


def test_an_inch_mark_then_a_quoted_multiline_note_is_not_split() -> None:
    # issue 13.2: the quote count before the note is odd, so quote parity cut inside it
    smuggled = "P,production,electricity,530000"
    lines = [HEADER_LINE + PADDING.rstrip("\n")]
    lines += ['P,packaging,pallet,48x40" pallets'] * 3
    lines += ['P,production,electricity,"a note\n' + smuggled + '\nend of note"']
    lines += ["P,transport,road_freight,plain"] * 3
    data = ("\n".join(lines) + "\n").encode("utf-8")
    reference = csv_rows(data)
    assert len(reference) == 8 and all(r.get("note") != "530000" for r in reference)
    for size in range(1, len(data) - len(PADDING) + 2):
        assert chunked_rows(data, size) == reference, size


def test_a_large_adversarial_import_signs_exactly_what_csv_reads(
    world: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end through the worker pool with tiny chunks: the ledger's records are
    csv.DictReader's rows, one for one; the note that hides a record stays a note."""
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest, "CHUNK_BYTES", 512)
    columns = "record_id,product_id,stage,activity,amount,unit,factor_id,units_covered,"
    columns += "period_start,period_end,data_quality,note"

    def row(rid: str, note: str) -> str:
        return (
            f"{rid},6923451000013,packaging,corrugated_box,120.5,kg,desnz-corrugated-board,1000,"
            f"2025-03-01,2025-04-01,secondary,{note}"
        )

    hidden = row("smuggled", "x").replace("120.5", "530000")
    body = [row(f"pal-{i}", '48x40" pallets') for i in range(401)]  # > 64 KiB, odd quotes
    body += [row("noted", f'"shipment note:\n{hidden}\nend"')]
    body += [row(f"after-{i}", "plain") for i in range(40)]
    path = tmp_path / "adversarial.csv"
    path.write_text("\n".join([columns, *body]) + "\n", encoding="utf-8")
    with path.open(newline="", encoding="utf-8") as handle:
        expected = {r["record_id"]: r["note"] for r in csv.DictReader(handle)}
    assert len(expected) == 442 and "smuggled" not in expected  # 401 + 1 + 40
    report = records.import_records(
        world["engine"],
        path,
        "sup-bev",
        world["keys"]["sup-bev"],
        jobs=2,  # type: ignore[arg-type]
    )
    assert report.rows == 442
    from sqlalchemy import text

    from ledger.store import db

    with db.reading(world["engine"]) as conn:  # type: ignore[arg-type]
        seqs = [r[0] for r in conn.execute(text("SELECT seq FROM records ORDER BY seq"))]
        notes = {
            p["record_id"]: p.get("note")
            for p in (
                json.loads(bytes(b))["payload"]
                for (b,) in conn.execute(
                    text("SELECT entry_bytes FROM entries WHERE kind = 'record' ORDER BY seq")
                )
            )
        }
    assert len(seqs) == 442
    assert notes == expected
