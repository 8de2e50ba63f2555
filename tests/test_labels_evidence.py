"""carbon-label/v2: offline verification, and every kind of tampering refused by name."""

from __future__ import annotations

import copy
import itertools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import keys, merkle, note, query, records, transparency
from ledger.errors import LedgerError, ProofError
from ledger.labels.export import compute, statement_seqs
from ledger.labels.offline import evidence_digest, verify_label
from ledger.outputs import read_rows as read_output_rows
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WATER = "6923451000013"
WINDOW = ("2025-01-01", "2026-01-01")


@pytest.fixture
def labelled(world: dict[str, Any]) -> dict[str, Any]:
    """Sample world + sup-bev and sup-logi 2025 records + a checkpoint + the water label."""
    engine, bev_keys = world["engine"], world["keys"]
    records.declare_outputs(
        engine,
        "sup-bev",
        bev_keys["sup-bev"],
        read_output_rows(SAMPLES / "outputs" / "sup-bev-2025.csv"),
    )
    for supplier, name in (("sup-bev", "sup-bev-2025.csv"), ("sup-logi", "sup-logi-2025.csv")):
        records.import_records(engine, SAMPLES / "records" / name, supplier, bev_keys[supplier])
    transparency.sign_checkpoint(engine, world["operator"])
    window = query.parse_window(*WINDOW)
    seqs, _skipped = statement_seqs(engine, [WATER], window, world["operator"], "checkpoint")
    label = compute(engine, WATER, window, seqs[WATER])
    return {**world, "doc": label.document, "fp": label.footprint}


def operator_pub(world: dict[str, Any]) -> Any:
    return world["operator"].public_key()


def resealed(doc: dict[str, Any]) -> dict[str, Any]:
    """A forger who also recomputes the evidence digest (so only deeper checks can catch it)."""
    doc["evidence_sha256"] = evidence_digest(doc["evidence"])
    return doc


def test_label_verifies_offline_and_matches_the_query_module(labelled: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(labelled["doc"]))  # exactly what a file round trip gives
    fp = verify_label(doc, operator_pub(labelled))
    assert fp.record_count == labelled["fp"].record_count == 84  # water-pack rows, 2025
    assert set(fp.suppliers) == {"sup-bev", "sup-logi"}
    size = doc["as_of_tree_size"]
    product = query.intensity(labelled["engine"], "product", WINDOW, as_of=size)
    row = product[product["product_id"] == WATER].iloc[0]
    assert Decimal(doc["footprint"]["kgco2e_per_unit"]) == row["footprint_kgco2e_per_unit"]
    assert Decimal(doc["footprint"]["by_stage"]["transport"]) == row["transport"]
    # one multiproof: never more nodes than the union of per-entry inclusion proofs
    seqs = sorted(int(s) for s in doc["evidence"]["entries"])
    union = set().union(*(merkle.plan_nodes(merkle.inclusion_plan(s, size)) for s in seqs))
    union -= {(0, s) for s in seqs}
    assert 0 < len(doc["evidence"]["nodes"]) <= len(union)


def tamper_figure(doc: dict[str, Any]) -> dict[str, Any]:
    value = doc["footprint"]["kgco2e_per_unit"]
    doc["footprint"]["kgco2e_per_unit"] = value[:-1] + ("1" if value[-1] != "1" else "2")
    return doc


def tamper_entry(doc: dict[str, Any]) -> dict[str, Any]:
    entries = doc["evidence"]["entries"]
    seq = next(s for s, text in entries.items() if '"kind":"record"' in text)
    entries[seq] = entries[seq].replace('"units_covered":"', '"units_covered":"1', 1)
    return resealed(doc)


def tamper_node(doc: dict[str, Any]) -> dict[str, Any]:
    nodes = doc["evidence"]["nodes"]
    key = sorted(nodes)[0]
    nodes[key] = ("0" if nodes[key][0] != "0" else "1") + nodes[key][1:]
    return resealed(doc)


def tamper_submission_node(doc: dict[str, Any]) -> dict[str, Any]:
    nodes = doc["evidence"]["submission_nodes"]
    key = sorted(nodes)[0]
    nodes[key] = ("0" if nodes[key][0] != "0" else "1") + nodes[key][1:]
    return resealed(doc)


def drop_a_record(doc: dict[str, Any]) -> dict[str, Any]:
    entries = doc["evidence"]["entries"]
    seq = next(s for s, text in entries.items() if '"kind":"record"' in text)
    del entries[seq]
    return resealed(doc)


def reseal_checkpoint_with_another_key(doc: dict[str, Any]) -> dict[str, Any]:
    evidence = doc["evidence"]
    cp = note.Checkpoint.parse(evidence["checkpoint"].split("\n\n")[0] + "\n")
    evidence["checkpoint"] = note.sign_checkpoint(
        cp, evidence["origin"], Ed25519PrivateKey.generate()
    )
    return resealed(doc)


def evidence_digest_left_stale(doc: dict[str, Any]) -> dict[str, Any]:
    doc["evidence"]["tree_size"] += 0  # untouched structure ...
    doc["evidence"]["origin"] = doc["evidence"]["origin"] + "x"  # ... but a changed byte
    return doc


#: the deterministic tamperings (another key's checkpoint differs from run to run)
TAMPERS = [
    tamper_figure,
    tamper_entry,
    tamper_node,
    tamper_submission_node,
    drop_a_record,
    evidence_digest_left_stale,
]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (tamper_figure, "label field 'footprint' does not match the figures recomputed"),
        (tamper_entry, "do not reproduce the signed checkpoint root"),
        (tamper_node, "do not reproduce the signed checkpoint root"),
        (tamper_submission_node, "do not reproduce the records_root its supplier signed"),
        (drop_a_record, "multiproof lacks node (level 0"),
        (reseal_checkpoint_with_another_key, "checkpoint"),
        (evidence_digest_left_stale, "evidence_sha256 does not match the evidence"),
    ],
    ids=[
        "figure",
        "entry",
        "proof-node",
        "submission-node",
        "dropped-record",
        "checkpoint-other-key",
        "stale-digest",
    ],
)
def test_every_tampering_is_refused_by_name(
    labelled: dict[str, Any], tamper: Any, reason: str, tmp_path: Path
) -> None:
    doc = tamper(copy.deepcopy(labelled["doc"]))
    with pytest.raises(LedgerError) as caught:
        verify_label(doc, operator_pub(labelled))
    assert reason in str(caught.value)
    # the same through the CLI, offline: only the file and the operator's public key
    path = tmp_path / "tampered.label.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    pub = labelled["key_dir"] / "operator.key.pub"
    result = CliRunner().invoke(cli, ["label", "verify", str(path), "--operator-pub", str(pub)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and reason in result.stderr


def test_a_label_from_another_operator_is_refused(labelled: dict[str, Any], tmp_path: Path) -> None:
    stranger = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(LedgerError, match="not the --operator-pub key you trust"):
        verify_label(copy.deepcopy(labelled["doc"]), stranger)


def test_cli_exports_every_format_and_verifies_the_json(
    labelled: dict[str, Any], tmp_path: Path
) -> None:
    url, pub = labelled["url"], labelled["key_dir"] / "operator.key.pub"
    runner = CliRunner()
    out = tmp_path / "labels"
    for fmt in ("json", "pact", "svg", "html", "csv"):
        result = runner.invoke(
            cli,
            [
                "--db",
                url,
                "label",
                "export",
                "--all",
                "--from",
                WINDOW[0],
                "--to",
                WINDOW[1],
                "--format",
                fmt,
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {
        f"{WATER}.label.json",
        f"{WATER}.pact.json",
        f"{WATER}.svg",
        f"{WATER}.html",
        "labels-2025-01-01-2026-01-01.csv",
    } <= names
    ok = runner.invoke(
        cli, ["label", "verify", str(out / f"{WATER}.label.json"), "--operator-pub", str(pub)]
    )
    assert ok.exit_code == 0 and f"OK: label of {WATER} verified offline" in ok.output
    pact_doc = json.loads((out / f"{WATER}.pact.json").read_text(encoding="utf-8"))
    label_doc = json.loads((out / f"{WATER}.label.json").read_text(encoding="utf-8"))
    assert (
        pact_doc["pcf"]["pcfExcludingBiogenicUptake"] == label_doc["footprint"]["kgco2e_per_unit"]
    )
    csv_lines = (out / "labels-2025-01-01-2026-01-01.csv").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith(WATER + ",") for line in csv_lines[1:])
    assert keys.key_id(operator_pub(labelled))  # the pinned key is the ledger's operator key


def test_the_offline_verifier_imports_no_database_or_pandas() -> None:
    """A consumer's label verify (the CLI and the witnessed check) loads neither SQLAlchemy,
    SQLModel nor pandas."""
    import subprocess
    import sys

    code = (
        "import sys, ledger.labels.offline, ledger.labels.witnessed, ledger_cli.main; "
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _reference_plan(indices: list[int], size: int) -> set[tuple[int, int]]:
    """``merkle.multiproof_plan`` as it was before the shortcut for runs: walked down to
    every given leaf."""
    leaves = sorted(set(indices))
    out: set[tuple[int, int]] = set()

    def walk(start: int, end: int) -> None:
        if not merkle._holds(leaves, start, end):
            out.update(merkle._decompose(start, end))
        elif end - start > 1:
            mid = start + merkle.split_point(end - start)
            walk(start, mid)
            walk(mid, end)

    if size:
        walk(0, size)
    return out


def _reference_root(leaves: dict[int, bytes], size: int, nodes: dict[Any, bytes]) -> bytes:
    """``merkle.root_from_multiproof`` as it was before the shortcut for runs: node by node."""
    indices = sorted(leaves)
    if indices and (indices[0] < 0 or indices[-1] >= size):
        raise ProofError(f"leaf index out of range for tree size {size}")
    for index in indices:
        merkle._check_hash(f"leaf hash {index}", leaves[index])

    def walk(start: int, end: int) -> bytes:
        if not merkle._holds(indices, start, end):
            hashes = []
            for level, index in merkle._decompose(start, end):
                digest = nodes.get((level, index))
                if digest is None:
                    raise ProofError(f"multiproof lacks node (level {level}, index {index})")
                merkle._check_hash(f"node (level {level}, index {index})", digest)
                hashes.append(digest)
            return merkle._fold(hashes)
        if end - start == 1:
            return leaves[start]
        mid = start + merkle.split_point(end - start)
        return merkle.node_hash(walk(start, mid), walk(mid, end))

    return walk(0, size) if size else merkle.EMPTY_ROOT


def test_the_fast_paths_give_the_bytes_and_verdicts_of_the_simple_path(
    labelled: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Label export and label verify with runs of records hashed in one loop and records
    summed per key before the rational maths, against the same with the simple reference
    of each (node by node; one contribution per record): the same JSON bytes, the same
    figures, the same refusal of every tampering."""
    from ledger import figures
    from ledger.labels.export import LabelOptions, render_label

    engine, window = labelled["engine"], query.parse_window(*WINDOW)
    seq = labelled["doc"]["statement"]["seq"]
    entries = sorted(int(s) for s in labelled["doc"]["evidence"]["entries"])
    assert any(b == a + 1 for a, b in itertools.pairwise(entries)), "a run: the fast path"

    def bytes_and_verdicts() -> tuple[str, Any, list[str]]:
        label = compute(engine, WATER, window, seq)
        text = render_label(label, "json", LabelOptions())
        fp = verify_label(json.loads(text), operator_pub(labelled))
        refusals = []
        for tamper in TAMPERS:
            with pytest.raises(LedgerError) as caught:
                verify_label(tamper(json.loads(text)), operator_pub(labelled))
            refusals.append(str(caught.value))
        return text, fp, refusals

    fast = bytes_and_verdicts()
    monkeypatch.setattr(merkle, "multiproof_plan", _reference_plan)
    monkeypatch.setattr(merkle, "root_from_multiproof", _reference_root)
    monkeypatch.setattr(
        figures,
        "record_contributions",
        lambda records: [figures.record_contribution(p, gwp) for p, gwp in records],
    )
    simple = bytes_and_verdicts()
    assert simple == fast
    assert json.loads(fast[0]) == labelled["doc"]


def test_an_export_decodes_each_entry_once_and_only_reuses_the_same_bytes(
    labelled: dict[str, Any],
) -> None:
    """Computing the statement and building its label share their decoded entries; an
    entry is reused only when its bytes are the very bytes that were decoded."""
    from ledger.labels.evidence import Decoded, decode
    from ledger.store import db, label_reads

    seqs = sorted(int(s) for s in labelled["doc"]["evidence"]["entries"])[:3]
    with db.reading(labelled["engine"]) as conn:
        entries = label_reads.entries_by_seq(conn, seqs)
    decoded: Decoded = {}
    first = decode(entries, decoded)
    assert sorted(decoded) == seqs
    assert all(decode(entries, decoded)[s] is first[s] for s in seqs)
    # other bytes under a known seq are decoded afresh (and refused when not canonical)
    with pytest.raises(LedgerError, match="not in canonical"):
        decode({seqs[0]: entries[seqs[0]].replace(b'"kind"', b' "kind"', 1)}, decoded)


def test_the_exporter_loads_the_qr_and_pact_code_only_for_the_formats_that_need_them() -> None:
    """``label export --format json`` imports neither the SVG/HTML renderer (and segno) nor
    the PACT module: a command imports what it uses."""
    import subprocess
    import sys

    code = (
        "import sys, ledger.labels.export, ledger_cli.main; print(sorted(m for m in "
        "('segno', 'ledger.labels.render', 'ledger.labels.pact') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
