"""Labels that cannot lie: every label rests on a logged footprint statement (SPEC §4, §7).

Two attackers. A dishonest platform edits a label file (drops records, swaps a correction for
the record it superseded, adds a retracted record, relabels a month as the year) and re-proves
what it kept with real proof nodes: ``label verify`` must fail, naming what failed. A
dishonest operator logs a statement whose record set or figures are not what the ledger holds:
the label verifies (it matches the logged lie) but the full ``verify`` names the statement.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from ledger import audit, bundle, records, registry, statements, transparency
from ledger.errors import NotFoundError, VerificationError
from ledger.labels import evidence
from ledger.labels.export import LabelOptions, compute, export_one, statement_seqs
from ledger.labels.offline import evidence_digest, verify_label
from ledger.outputs import read_rows
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WATER = "6923451000013"
YEAR = (date(2025, 1, 1), date(2026, 1, 1))
JAN = (date(2025, 1, 1), date(2025, 2, 1))


@pytest.fixture
def ledger(world: dict[str, Any]) -> dict[str, Any]:
    """Sample world + water outputs and the 2025 records of sup-bev (with its correction)
    and sup-logi, and a checkpoint."""
    engine, skeys = world["engine"], world["keys"]
    records.declare_outputs(
        engine, "sup-bev", skeys["sup-bev"], read_rows(SAMPLES / "outputs" / "sup-bev-2025.csv")
    )
    for supplier, name in (
        ("sup-bev", "sup-bev-2025.csv"),
        ("sup-logi", "sup-logi-2025.csv"),
        ("sup-bev", "sup-bev-2025-correction.csv"),
    ):
        records.import_records(engine, SAMPLES / "records" / name, supplier, skeys[supplier])
    transparency.sign_checkpoint(engine, world["operator"])
    return world


def label_of(world: dict[str, Any], window: tuple[date, date] = YEAR) -> dict[str, Any]:
    seqs, _ = statement_seqs(world["engine"], [WATER], window, world["operator"], "checkpoint")
    return compute(world["engine"], WATER, window, seqs[WATER]).document


def payloads(doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(s): json.loads(t) for s, t in doc["evidence"]["entries"].items()}


def reproven(world: dict[str, Any], keep: Callable[[list[int]], list[int]]) -> dict[str, Any]:
    """The honest statement's label, rebuilt around another record set with real proofs:
    what a platform with database access can forge."""
    honest = evidence.contributing_seqs
    seqs, _ = statement_seqs(world["engine"], [WATER], YEAR, world["operator"], "checkpoint")

    def forged(*args: Any) -> list[int]:
        return keep(honest(*args))

    evidence.contributing_seqs = forged  # type: ignore[assignment]
    try:
        with pytest.raises(VerificationError):  # the exporter checks what it built
            compute(world["engine"], WATER, YEAR, seqs[WATER])
        from ledger.store import db

        with db.reading(world["engine"]) as conn:
            doc = _unchecked_label(conn, seqs[WATER])
    finally:
        evidence.contributing_seqs = honest  # type: ignore[assignment]
    return doc


def _unchecked_label(conn: Any, statement_seq: int) -> dict[str, Any]:
    """build_label with its own final check switched off, keeping the forged evidence."""
    captured: dict[str, Any] = {}
    real = evidence.footprint_from_evidence

    def capture(ev: Any, *args: Any, **kwargs: Any) -> Any:
        captured["evidence"] = ev
        raise VerificationError("captured")

    evidence.footprint_from_evidence = capture  # type: ignore[assignment]
    try:
        with pytest.raises(VerificationError, match="captured"):
            evidence.build_label(conn, WATER, YEAR, statement_seq)
    finally:
        evidence.footprint_from_evidence = real  # type: ignore[assignment]
    honest = label_of_doc_shape(captured["evidence"])
    return honest


def label_of_doc_shape(ev: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "carbon-label/v2",
        "product": {"product_id": WATER},
        "window": {"from": YEAR[0].isoformat(), "to": YEAR[1].isoformat()},
        "evidence": ev,
        "evidence_sha256": evidence_digest(ev),
    }


def kind_seqs(world: dict[str, Any], seqs: list[int], **match: str) -> list[int]:
    from ledger.entry import parse_entry
    from ledger.store import db

    with db.reading(world["engine"]) as conn:
        found = evidence._entries(conn, seqs)
    out = []
    for seq, data in found.items():
        p = parse_entry(data, seq).payload
        if all(p.get(k) == v for k, v in match.items()):
            out.append(seq)
    return out


DIGEST = "commits to a different record set than the ledger holds as of size"


def test_dropping_every_resin_record_is_caught(ledger: dict[str, Any]) -> None:
    # without packaging records here the honest label says 0.943 kgCO2e per pack
    honest = label_of(ledger)
    assert honest["footprint"]["display_kgco2e_per_unit"] == "0.943"
    doc = reproven(
        ledger,
        lambda seqs: [s for s in seqs if s not in kind_seqs(ledger, seqs, activity="pet_resin")],
    )
    with pytest.raises(VerificationError, match=DIGEST):
        verify_label(doc, ledger["operator"].public_key())


def test_keeping_the_lowest_record_of_each_activity_is_caught(ledger: dict[str, Any]) -> None:
    def lowest(seqs: list[int]) -> list[int]:
        outputs: list[int] = []
        keep: dict[str, int] = {}
        from ledger.entry import parse_entry
        from ledger.store import db

        with db.reading(ledger["engine"]) as conn:
            found = evidence._entries(conn, seqs)
        best: dict[str, float] = {}
        for seq, data in found.items():
            p = parse_entry(data, seq)
            if p.kind != "record":
                outputs.append(seq)
                continue
            value = float(p.payload["co2e_kg"])
            if value < best.get(p.payload["activity"], float("inf")):
                best[p.payload["activity"]] = value
                keep[p.payload["activity"]] = seq
        return sorted([*keep.values(), *outputs])

    doc = reproven(ledger, lowest)
    with pytest.raises(VerificationError, match=DIGEST):
        verify_label(doc, ledger["operator"].public_key())


def test_a_superseded_record_in_place_of_its_correction_is_caught(
    ledger: dict[str, Any],
) -> None:
    import csv

    with (SAMPLES / "records" / "sup-bev-2025-correction.csv").open(newline="") as handle:
        correction = next(csv.DictReader(handle))["record_id"]
    from ledger.store import db

    with db.reading(ledger["engine"]) as conn:
        fixed, old = (
            conn.execute(
                text("SELECT seq FROM records WHERE record_id = :r"), {"r": rid}
            ).scalar_one()
            for rid in (correction, _superseded(conn, correction))
        )
    doc = reproven(ledger, lambda seqs: sorted([old if s == fixed else s for s in seqs]))
    with pytest.raises(VerificationError, match=DIGEST):
        verify_label(doc, ledger["operator"].public_key())


def _superseded(conn: Any, record_id: str) -> str:
    return str(
        conn.execute(
            text("SELECT supersedes FROM records WHERE record_id = :r"), {"r": record_id}
        ).scalar_one()
    )


def test_a_record_retracted_before_the_checkpoint_is_caught(ledger: dict[str, Any]) -> None:
    engine, skeys = ledger["engine"], ledger["keys"]
    from ledger.store import db

    with db.reading(engine) as conn:
        rid, seq = conn.execute(
            text(
                "SELECT record_id, seq FROM records WHERE product_id = :p AND supplier_id = "
                "'sup-logi' ORDER BY seq LIMIT 1"
            ),
            {"p": WATER},
        ).one()
    records.retract(engine, "sup-logi", skeys["sup-logi"], rid, "double counted")
    transparency.sign_checkpoint(engine, ledger["operator"])
    doc = reproven(ledger, lambda seqs: sorted({*seqs, seq}))
    with pytest.raises(VerificationError, match=DIGEST):
        verify_label(doc, ledger["operator"].public_key())


def test_the_best_month_relabelled_as_the_year_is_caught(ledger: dict[str, Any]) -> None:
    january = label_of(ledger, JAN)
    assert verify_label(copy.deepcopy(january), ledger["operator"].public_key())
    doc = copy.deepcopy(january)
    doc["window"] = {"from": "2025-01-01", "to": "2026-01-01"}
    with pytest.raises(VerificationError) as err:
        verify_label(doc, ledger["operator"].public_key())
    assert (
        "the footprint statement is for 2025-01-01..2025-02-01, not the label's window "
        "2025-01-01..2026-01-01" in str(err.value)
    )


def test_without_the_operator_key_a_logged_statement_is_needed(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    url = ledger["url"]
    args = [
        "--db",
        url,
        "label",
        "export",
        WATER,
        "--from",
        "2025-01-01",
        "--to",
        "2026-01-01",
        "--out",
        str(tmp_path / "w.json"),
    ]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1
    assert (
        "no footprint statement for 6923451000013 from 2025-01-01 to 2026-01-01 is logged "
        "under the latest checkpoint"
        in refused.stderr
        and "--operator-key" in refused.stderr
    )
    key = str(ledger["key_dir"] / "operator.key")
    assert CliRunner().invoke(cli, [*args, "--operator-key", key]).exit_code == 0
    with ledger["engine"].connect() as conn:
        size = transparency.tree_size(conn)
    # a second export reuses the logged statement: nothing is appended, no key needed
    assert CliRunner().invoke(cli, [*args, "--operator-key", key]).exit_code == 0
    assert CliRunner().invoke(cli, args).exit_code == 0
    with ledger["engine"].connect() as conn:
        assert transparency.tree_size(conn) == size
    pub = str(ledger["key_dir"] / "operator.key.pub")
    ok = CliRunner().invoke(
        cli, ["label", "verify", str(tmp_path / "w.json"), "--operator-pub", pub]
    )
    assert ok.exit_code == 0 and "footprint statement at seq" in ok.stdout


def test_a_product_without_declared_output_gets_no_label(world: dict[str, Any]) -> None:
    engine, skeys = world["engine"], world["keys"]
    records.import_records(
        engine, SAMPLES / "records" / "sup-elec-2025.csv", "sup-elec", skeys["sup-elec"]
    )
    seqs, skipped = statement_seqs(engine, ["6970123000017"], YEAR, world["operator"], "latest")
    assert seqs == {}
    assert skipped == [
        "6970123000017: product 6970123000017 has no declared output from 2025-01-01 to "
        "2026-01-01: a label needs the reference flow; its owner declares it with "
        "`carbon-ledger output add`"
    ]
    with pytest.raises(NotFoundError):
        export_one(
            engine,
            "6970123000017",
            "2025-01-01",
            "2026-01-01",
            "json",
            LabelOptions(),
            world["operator"],
            "latest",
        )


# ---- a dishonest operator: the label matches its logged lie; the full audit does not ----


def _log_and_sign(world: dict[str, Any], fields: dict[str, Any]) -> int:
    from ledger import merkle, note
    from ledger.store import db

    seq = registry.log_statements(world["engine"], world["operator"], [fields])[0]
    # the operator's own tool audits before it signs, and refuses naming the statement ...
    with pytest.raises(VerificationError) as refused:
        transparency.sign_checkpoint(world["engine"], world["operator"])
    assert refused.value.seq == seq
    # ... so this operator signs around it: a checkpoint of the stored tree, by hand
    with db.writing(world["engine"]) as conn:
        size = transparency.tree_size(conn)
        root = merkle.root_hash_from(size, transparency.node_fetcher(conn))
        origin = registry.ledger_info(conn).origin
        checkpoint = note.Checkpoint(origin, size, root)
        signed = note.sign_checkpoint(checkpoint, origin, world["operator"])
        conn.execute(
            text(
                "INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) "
                "VALUES (:s, :r, :n, '2026-01-01T00:00:00.000000Z')"
            ),
            {"s": size, "r": root.hex(), "n": signed},
        )
    return seq


def test_a_logged_cherry_picked_statement_fails_the_full_audit(ledger: dict[str, Any]) -> None:
    from ledger.store import db

    with db.reading(ledger["engine"]) as conn:
        size = transparency.tree_size(conn)
        basis = evidence.statement_basis(conn, WATER, YEAR, size)
    resin = kind_seqs(ledger, list(basis.records), activity="pet_resin")
    for seq in resin:
        del basis.records[seq]
    seq = _log_and_sign(ledger, statements.statement_fields(basis, size))
    with pytest.raises(VerificationError) as err:
        audit.verify_database(ledger["engine"])
    assert err.value.seq == seq
    assert str(err.value) == (
        f"footprint statement for {WATER} commits to a different record set than the ledger "
        f"holds as of size {size} (records_digest differs)"
    )
    result = CliRunner().invoke(cli, ["--db", ledger["url"], "verify"])
    assert result.exit_code == 1
    assert f"Error: verification failed at seq {seq}: footprint statement for {WATER}" in (
        result.stderr
    )


def test_a_logged_statement_with_a_changed_figure_fails_both_checks(
    ledger: dict[str, Any],
) -> None:
    from ledger.store import db

    with db.reading(ledger["engine"]) as conn:
        size = transparency.tree_size(conn)
        fields = statements.statement_fields(
            evidence.statement_basis(conn, WATER, YEAR, size), size
        )
    honest = fields["figures"]["kgco2e_per_unit"]
    fields["figures"]["kgco2e_per_unit"] = "0.539"
    seq = _log_and_sign(ledger, fields)
    reason = (
        f"footprint statement for {WATER} states kgco2e_per_unit '0.539' but the "
        f"entries give '{honest}'"
    )
    with pytest.raises(VerificationError) as err:
        audit.verify_database(ledger["engine"])
    assert (err.value.seq, str(err.value)) == (seq, reason)
    with pytest.raises(VerificationError, match=reason):
        compute(ledger["engine"], WATER, YEAR, seq)


def test_the_offline_bundle_audit_re_derives_statements_too(
    ledger: dict[str, Any], tmp_path: Path
) -> None:
    from ledger.store import db

    with db.reading(ledger["engine"]) as conn:
        size = transparency.tree_size(conn)
        fields = statements.statement_fields(evidence.statement_basis(conn, WATER, JAN, size), size)
    fields["window"] = {"from": "2025-01-01", "to": "2026-01-01"}  # January's figures, as the year
    seq = _log_and_sign(ledger, fields)
    bundle_path = tmp_path / "ledger.jsonl"
    bundle.export_bundle(ledger["engine"], bundle_path)
    with pytest.raises(VerificationError) as err:
        bundle.verify_bundle(bundle_path)
    assert err.value.seq == seq and DIGEST in str(err.value)
