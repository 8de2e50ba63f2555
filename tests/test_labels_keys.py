"""`label verify` checks every supplier signature and key validity, as the full `verify` does.

A database writer forges a submission the appender would refuse (signed by a key other than
the one it names, or by a key revoked before it), the operator signs a checkpoint over it
without auditing, and a forger's exporter builds a label around it. Both the offline label
check and the full audit must fail at that submission's seq, for the same reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from ledger import audit, keys, note, query, records, registry, submit, transparency
from ledger.canonical import canonical_bytes
from ledger.errors import VerificationError
from ledger.keyring import Keyring
from ledger.labels.export import compute, statement_seqs
from ledger.labels.offline import verify_label
from ledger.outputs import read_rows as read_output_rows
from ledger.store import db
from ledger.store.appender import Appender
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WATER = "6923451000013"
WINDOW = query.parse_window("2025-01-01", "2026-01-01")
ROW = {
    "record_id": "forged-1",
    "product_id": WATER,
    "stage": "production",
    "activity": "electricity",
    "amount": "1200.5",
    "unit": "kWh",
    "factor_id": "cn-grid-electricity",
    "units_covered": "10000",
    "period_start": "2025-03-01",
    "period_end": "2025-04-01",
    "data_quality": "secondary",
}


def sign_checkpoint_unaudited(engine: Engine, operator: Ed25519PrivateKey) -> None:
    """Store an operator-signed checkpoint of the current tree without any pre-sign audit."""
    with db.writing(engine) as conn:
        app = Appender(conn)
        origin = registry.ledger_info(conn).origin
        signed = note.sign_checkpoint(
            note.Checkpoint(origin, app.next_seq, app.root), origin, operator
        )
        conn.execute(
            text(
                "INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) "
                "VALUES (:s, :r, :n, :t)"
            ),
            {"s": app.next_seq, "r": app.root.hex(), "n": signed, "t": app.recorded_at},
        )


def forged_label(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Log the water statement, checkpoint it without auditing, and export the label with the
    key check switched off (a forger's exporter)."""
    sign_checkpoint_unaudited(world["engine"], world["operator"])
    with monkeypatch.context() as m:
        m.setattr(
            transparency,
            "sign_checkpoint",
            lambda engine, operator, *_state: sign_checkpoint_unaudited(engine, operator),
        )
        m.setattr(Keyring, "check_submission", lambda self, seq, payload: payload["supplier_id"])
        seqs, _skipped = statement_seqs(
            world["engine"], [WATER], WINDOW, world["operator"], "checkpoint"
        )
        doc = compute(world["engine"], WATER, WINDOW, seqs[WATER]).document
    world["statement_seq"] = seqs[WATER]
    return dict(json.loads(json.dumps(doc)))


def foreign_signature(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """sup-bev's submission names its registered key_id but a stranger's key signed it."""
    stranger = Ed25519PrivateKey.generate()
    honest = submit.submission_payload

    def forged(supplier_id: str, private_key: Any, *args: Any) -> dict[str, Any]:
        fields = honest(supplier_id, private_key, *args)
        del fields["signature"]
        fields["signature"] = keys.sign(stranger, keys.SUBMISSION_DOMAIN, canonical_bytes(fields))
        return fields

    with monkeypatch.context() as m:
        m.setattr(submit, "submission_payload", forged)
        records.append_record(world["engine"], "sup-bev", world["keys"]["sup-bev"], ROW)
    kid = keys.key_id(world["keys"]["sup-bev"].public_key())
    return f"submission signature by key {kid} does not verify"


def rotated_key(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """sup-bev's key is rotated out; the old key then signs."""
    registry.rotate_key(
        world["engine"], "sup-bev", Ed25519PrivateKey.generate().public_key(), world["operator"]
    )
    return signed_with_retired_key(world, monkeypatch)


def revoked_key(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """sup-bev's key is revoked; it then signs anyway."""
    kid = keys.key_id(world["keys"]["sup-bev"].public_key())
    registry.revoke_key(world["engine"], "sup-bev", kid, world["operator"], "laptop stolen")
    return signed_with_retired_key(world, monkeypatch)


def signed_with_retired_key(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    engine, old = world["engine"], world["keys"]["sup-bev"]
    kid = keys.key_id(old.public_key())
    with db.reading(engine) as conn:
        retired_at = conn.execute(
            text("SELECT revoked_seq FROM supplier_keys WHERE key_id = :k"), {"k": kid}
        ).scalar_one()
    with monkeypatch.context() as m:  # a writer who skips the appender's own key check
        m.setattr(submit, "check_signer", lambda conn, supplier_id, key: kid)
        m.setattr(records, "check_signer", lambda conn, supplier_id, key: kid)
        records.append_record(engine, "sup-bev", old, ROW)
    return f"submission signed with key {kid}, revoked at seq {retired_at}"


def submission_seq(engine: Engine) -> int:
    with db.reading(engine) as conn:
        return int(
            conn.execute(
                text("SELECT submission_seq FROM records WHERE record_id = 'forged-1'")
            ).scalar_one()
        )


@pytest.mark.parametrize(
    "forge", [foreign_signature, rotated_key, revoked_key], ids=["foreign", "rotated", "revoked"]
)
def test_label_verify_checks_supplier_signatures_and_key_validity(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, forge: Any
) -> None:
    records.declare_outputs(
        world["engine"],
        "sup-bev",
        world["keys"]["sup-bev"],
        read_output_rows(SAMPLES / "outputs" / "sup-bev-2025.csv"),
    )
    reason = forge(world, monkeypatch)
    seq = submission_seq(world["engine"])
    doc = forged_label(world, monkeypatch)
    assert str(seq) in doc["evidence"]["entries"]  # the forged submission is in the evidence
    operator_pub = world["operator"].public_key()
    with pytest.raises(VerificationError) as caught:
        verify_label(doc, operator_pub)
    assert (caught.value.seq, str(caught.value)) == (seq, reason)
    # the honest exporter refuses to build it at all (it checks what it built)
    with pytest.raises(VerificationError, match=reason.replace("(", r"\(")):
        compute(world["engine"], WATER, WINDOW, world["statement_seq"])
    # the full audit fails at the same seq for the same reason: one rule, one home
    with pytest.raises(VerificationError) as full:
        audit.verify_database(world["engine"])
    assert (full.value.seq, str(full.value)) == (seq, reason)
    path = tmp_path / "forged.label.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    pub = world["key_dir"] / "operator.key.pub"
    result = CliRunner().invoke(cli, ["label", "verify", str(path), "--operator-pub", str(pub)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: verification failed at seq {seq}: {reason}\n"
