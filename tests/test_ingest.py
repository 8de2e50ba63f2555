"""ledger.ingest: record-boundary chunking, parallel validation, spool clean-up."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

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
    before = set(Path(tempfile.gettempdir()).glob("carbon-ledger-import-*"))
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
    after = set(Path(tempfile.gettempdir()).glob("carbon-ledger-import-*"))
    assert after == before - {orphan}, "the import removed its own spool directory"
    live.rmdir()
