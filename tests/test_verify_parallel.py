"""verify --jobs N: the parallel path reports exactly what the serial path reports."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ledger import audit, ingest, records
from ledger.errors import VerificationError

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture
def big(world: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ledger large enough for several verify batches, imported through the parallel
    validation path (the threshold is lowered so a small file takes it)."""
    if not str(world["url"]).startswith("sqlite"):
        pytest.skip("tampering below uses sqlite3 directly")
    monkeypatch.setattr(ingest, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(ingest, "CHUNK_BYTES", 16_384)
    keys = world["keys"]
    for name in ("sup-bev-2024.csv", "sup-bev-2025.csv"):
        records.import_records(
            world["engine"],
            SAMPLES / "records" / name,
            "sup-bev",  # type: ignore[arg-type]
            keys["sup-bev"],
            jobs=2,
        )  # type: ignore[index]
    records.import_records(
        world["engine"],
        SAMPLES / "records" / "sup-logi-2024.csv",  # type: ignore[arg-type]
        "sup-logi",
        keys["sup-logi"],
        jobs=2,
    )  # type: ignore[index]
    return Path(str(world["url"]).removeprefix("sqlite:///"))


def test_parallel_validation_imports_the_same_entries_as_serial(
    big: Path, world: dict[str, object]
) -> None:
    with sqlite3.connect(big) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        lines = conn.execute("SELECT COUNT(*) FROM entries WHERE kind = 'record'").fetchone()[0]
    assert rows == lines == 84 + 84 + 374


def test_parallel_verify_matches_serial(
    big: Path, world: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = audit.verify_database(world["engine"], jobs=1)  # type: ignore[arg-type]
    parallel = audit.verify_database(world["engine"], jobs=2)  # type: ignore[arg-type]
    assert parallel.entries == serial.entries and parallel.root_hash == serial.root_hash
    assert parallel.records == serial.records == 84 + 84 + 374


def test_parallel_verify_names_the_same_bad_seq(big: Path, world: dict[str, object]) -> None:
    with sqlite3.connect(big) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
        seq, data = conn.execute(
            "SELECT seq, entry_bytes FROM entries WHERE kind = 'record' "
            "ORDER BY seq LIMIT 1 OFFSET 300"
        ).fetchone()
        forged = bytes(data).replace(b'"co2e_kg":"', b'"co2e_kg":"1', 1)
        conn.execute("UPDATE entries SET entry_bytes = ? WHERE seq = ?", (forged, seq))
    reasons = []
    for jobs in (1, 2):
        with pytest.raises(VerificationError) as caught:
            audit.verify_database(world["engine"], jobs=jobs)  # type: ignore[arg-type]
        assert caught.value.seq == seq
        reasons.append(str(caught.value))
    assert reasons[0] == reasons[1]


def test_split_audit_matches_serial_on_every_backend(
    world: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify --jobs 2 opens its own connection in a helper process (PostgreSQL too) and
    reports what one process reports; so does the pre-sign audit from a state file."""
    from ledger import transparency

    keys = world["keys"]
    records.import_records(
        world["engine"],  # type: ignore[arg-type]
        SAMPLES / "records" / "sup-bev-2024.csv",
        "sup-bev",
        keys["sup-bev"],  # type: ignore[index]
    )
    serial = audit.verify_database(world["engine"], jobs=1)  # type: ignore[arg-type]
    split = audit.verify_database(world["engine"], jobs=2)  # type: ignore[arg-type]
    assert split == serial and serial.records == 84  # sup-bev-2024.csv: 84 rows
    state = Path(str(world["key_dir"])) / "operator.key.state.json"
    operator = world["operator"]
    first = transparency.sign_checkpoint(world["engine"], operator, state)  # type: ignore[arg-type]
    records.import_records(
        world["engine"],  # type: ignore[arg-type]
        SAMPLES / "records" / "sup-bev-2025.csv",
        "sup-bev",
        keys["sup-bev"],  # type: ignore[index]
    )
    with monkeypatch.context() as m:  # the incremental audit decides alone: no full audit
        m.setattr(audit, "verify_database", None)
        second = transparency.sign_checkpoint(world["engine"], operator, state)  # type: ignore[arg-type]
        assert second.tree_size == first.tree_size + 1 + 84  # one submission of 84 records
    assert audit.verify_database(world["engine"], jobs=2).tree_size == second.tree_size  # type: ignore[arg-type]
