"""Checkpoints and proofs served from the stored tree (SPEC §4).

The operator signs C2SP tlog-checkpoint notes over the current Merkle root; the ledger keeps
every one it signed and refuses to sign a root that is inconsistent with an earlier one.
Proofs are served from stored complete-subtree hashes: O(log n) reads, never a scan.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle, note, proofs
from ledger.entry import utc_now
from ledger.errors import ConflictError, InputError, NotFoundError, ProofError, VerificationError
from ledger.logstate import LogState, read_log_state, write_log_state
from ledger.proofs import (  # the light read path (no SQLAlchemy): defined there
    StoredCheckpoint,
    latest_checkpoint,
    node_fetcher,
    tree_size,
)
from ledger.registry import ledger_info, require_operator
from ledger.store import Connection, Engine, db, queries

if TYPE_CHECKING:
    from ledger.verify import VerifyReport


# ---- the operator's signing state -------------------------------------------------------


def default_state_path(operator_key_path: Path) -> Path:
    """``K.state.json`` beside the operator key ``K``."""
    return operator_key_path.with_name(operator_key_path.name + ".state.json")


def read_signing_state(path: Path) -> LogState | None:
    """What the operator last signed, from the state file beside its key (None before its
    first checkpoint). Someone who can write the database can delete the ``checkpoints``
    rows and rewrite the entries; this file is how the operator still knows what it signed."""
    try:
        return read_log_state(path)
    except OSError as exc:
        raise InputError(f"cannot read checkpoint state file {path}: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"checkpoint state file {path} is not a carbon-ledger state") from exc


# ---- signing ------------------------------------------------------------------------------


def _check_stored_history(conn: Connection, size: int, root: bytes) -> StoredCheckpoint | None:
    """The stored tree must extend the latest stored checkpoint; return that checkpoint."""
    last = latest_checkpoint(conn)
    if last is None or (last.tree_size == size and last.root_hash == root.hex()):
        return last
    if size < last.tree_size:
        raise ConflictError(
            f"the ledger has {size} entries but checkpoint #{last.id} covers "
            f"{last.tree_size}: entries were cut off; refusing to sign an inconsistent "
            "checkpoint (run `carbon-ledger verify`)"
        )
    fetch = node_fetcher(conn)
    then = merkle.root_hash_from(last.tree_size, fetch)
    if then.hex() != last.root_hash:
        raise ConflictError(
            f"the stored tree at size {last.tree_size} no longer has the root of "
            f"checkpoint #{last.id}; refusing to sign an inconsistent checkpoint "
            "(run `carbon-ledger verify`)"
        )
    try:  # the new root must extend the old one, not merely sit next to its nodes
        proof = merkle.consistency_proof_from(last.tree_size, size, fetch)
        merkle.verify_consistency(last.tree_size, size, then, root, proof)
    except ProofError as exc:
        raise ConflictError(
            f"the stored tree at size {size} does not extend checkpoint #{last.id} "
            f"({exc}); refusing to sign an inconsistent checkpoint "
            "(run `carbon-ledger verify`)"
        ) from exc
    return last


def _pre_sign_audit(
    engine: Engine,
    operator: Ed25519PrivateKey,
    state: LogState | None,
    state_path: Path,
    jobs: int,
) -> VerifyReport:
    """Verify the entries with the project's one verifier before putting a signature on them.

    With a state file, the entries up to the checkpoint this key last signed must hash to
    its root (recomputed from the entries, not read from the database's checkpoints table)
    and only those appended since are checked again in full (hashes, links, submission
    signatures, key validity, co2e, statements, their index rows):
    :func:`ledger.audit.verify_appended`, which falls back to the full audit whenever the
    prefix is not what was signed. Without one, every entry is audited.
    """
    from ledger import audit  # audit imports this module

    label = f"the checkpoint this operator key last signed ({state_path.name})"
    try:
        if state is not None:
            return audit.verify_appended(
                engine, state.checkpoint, operator.public_key(), label, jobs=jobs
            )
        return audit.verify_database(engine, jobs=jobs, operator_pub=operator.public_key())
    except VerificationError as exc:
        raise VerificationError(f"refusing to sign a checkpoint: {exc}", exc.seq) from exc


def _is_signed(stored: StoredCheckpoint, origin: str, operator: Ed25519PrivateKey) -> bool:
    """Is this stored row really this key's checkpoint of its columns' size and root?"""
    try:
        cp = note.open_checkpoint(stored.note, origin, operator.public_key())
    except ProofError:
        return False
    return (cp.origin, cp.size, cp.root_hash.hex()) == (origin, stored.tree_size, stored.root_hash)


def sign_checkpoint(
    engine: Engine, operator: Ed25519PrivateKey, state_path: Path | None = None, jobs: int = 1
) -> StoredCheckpoint:
    """Audit the ledger, then sign and store a checkpoint of it (or return the current one).

    ``state_path`` is the operator's signing state (normally beside its key). With it, a
    history that does not extend what this key last signed is refused even when the
    database's own checkpoints were deleted. Without it, only the stored checkpoints are
    checked; the CLI always passes one. ``jobs`` is the audit's worker processes, as for
    ``verify --jobs``.
    """
    state = read_signing_state(state_path) if state_path is not None else None
    with db.reading(engine) as conn:
        info = require_operator(conn, operator)
        size = tree_size(conn)
        root = merkle.root_hash_from(size, node_fetcher(conn))
        last = _check_stored_history(conn, size, root)
    if state is not None and state.origin != info.origin:
        raise ConflictError(
            f"the checkpoint state file {state_path} is for origin {state.origin!r}, not this "
            f"ledger ({info.origin!r}); give this ledger its own file with --state"
        )
    if last is not None and (last.tree_size, last.root_hash) == (size, root.hex()):
        recorded = state is not None and (state.tree_size, state.root_hash) == (size, root)
        if (state_path is None or recorded) and _is_signed(last, info.origin, operator):
            return last  # nothing new to sign, and the state already says so
    report = _pre_sign_audit(engine, operator, state, state_path or Path("(no state file)"), jobs)
    size, root = report.tree_size, bytes.fromhex(report.root_hash)
    checkpoint = note.Checkpoint(info.origin, size, root)
    with db.writing(engine) as conn:
        stored_root = merkle.root_hash_from(size, node_fetcher(conn))
        if stored_root != root:  # proofs are served from the stored nodes: they must agree
            raise ConflictError(
                f"the stored Merkle nodes give root {stored_root.hex()[:16]}… at size {size} "
                f"but the entries give {root.hex()[:16]}…; refusing to sign "
                "(run `carbon-ledger verify`)"
            )
        same = queries.checkpoint_row(conn, size, root.hex())
        if same is not None and _is_signed(StoredCheckpoint(*same), info.origin, operator):
            stored = StoredCheckpoint(*same)  # already signed: reuse it (and its cosignatures)
        else:
            signed = note.sign_checkpoint(checkpoint, info.origin, operator)
            signed_at = utc_now()
            new_id = queries.insert_checkpoint(conn, size, root.hex(), signed, signed_at)
            stored = StoredCheckpoint(new_id, size, root.hex(), signed, signed_at)
        if state_path is not None:  # before commit: a signature is never out without a record
            write_log_state(state_path, checkpoint, stored.note)
        return stored


def prove(engine: Engine, record_id: str) -> dict[str, Any]:
    """Proof document for a record against the latest checkpoint (SPEC §4)."""
    with db.reading(engine) as conn:
        return proofs.prove(conn, record_id)


CONSISTENCY_FORMAT = "carbon-ledger-consistency/v1"


def prove_consistency(engine: Engine, old_note: str) -> dict[str, Any]:
    """RFC 9162 consistency proof from a checkpoint someone kept to the latest one."""
    with db.reading(engine) as conn:
        info = ledger_info(conn)
        old = note.open_checkpoint(old_note, info.origin, info.operator_public_key)
        latest = latest_checkpoint(conn)
        if latest is None:
            raise NotFoundError(
                "the ledger has no checkpoint yet; the operator must run "
                "`carbon-ledger checkpoint --operator-key K` first"
            )
        if old.size > latest.tree_size:
            raise ConflictError(
                f"the old checkpoint covers {old.size} entries but the latest checkpoint only "
                f"{latest.tree_size}: the ledger was cut off or the old checkpoint is not its own"
            )
        proof = (
            merkle.consistency_proof_from(old.size, latest.tree_size, node_fetcher(conn))
            if old.size
            else []  # the empty tree is consistent with every tree: no proof (RFC 9162)
        )
    return {
        "format": CONSISTENCY_FORMAT,
        "old_size": old.size,
        "new_size": latest.tree_size,
        "old_checkpoint": old_note,
        "new_checkpoint": latest.note,
        "consistency_proof": [h.hex() for h in proof],
    }


def check_consistency_document(
    doc: Mapping[str, Any], operator: note.VerifierKey
) -> tuple[note.Checkpoint, note.Checkpoint]:
    """Verify a consistency proof document offline: both signatures, sizes, the proof."""
    try:
        if doc["format"] != CONSISTENCY_FORMAT:
            raise ProofError(f"not a {CONSISTENCY_FORMAT} document")
        old = note.open_checkpoint_by(doc["old_checkpoint"], operator)
        new = note.open_checkpoint_by(doc["new_checkpoint"], operator)
        proof = [bytes.fromhex(h) for h in doc["consistency_proof"]]
        sizes = (doc["old_size"], doc["new_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"consistency proof document is malformed: {exc!r}") from exc
    if old.origin != new.origin:
        raise ProofError(f"the checkpoints are of two logs ({old.origin!r}, {new.origin!r})")
    if sizes != (old.size, new.size):
        raise ProofError(
            f"old_size/new_size {sizes[0]}/{sizes[1]} are not the checkpoints' "
            f"{old.size}/{new.size}"
        )
    check_consistency(old, new, proof)
    return old, new


def check_consistency(old: note.Checkpoint, new: note.Checkpoint, proof: list[bytes]) -> None:
    """``new`` extends ``old`` (RFC 9162 §2.1.4.2); the empty tree is extended by any tree."""
    if old.size == 0:
        if proof or old.root_hash != merkle.root_hash([]):
            raise ProofError("a proof from the empty tree must be empty, its root SHA-256('')")
        return
    merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)


def check_proof_document(doc: dict[str, Any], origin: str, operator: Any) -> note.Checkpoint:
    """Verify a proof document offline: checkpoint signature, leaf hash and inclusion."""
    cp = note.open_checkpoint(doc["checkpoint"], origin, operator)
    leaf = merkle.leaf_hash(doc["entry_bytes"].encode("utf-8"))
    if leaf.hex() != doc["leaf_hash"]:
        raise ProofError("leaf_hash does not match entry_bytes")
    entry = json.loads(doc["entry_bytes"])
    if entry["seq"] != doc["seq"]:
        raise ProofError("entry_bytes are for a different seq")
    if entry.get("kind") != "record" or entry["payload"].get("record_id") != doc["record_id"]:
        raise ProofError(f"entry_bytes are not the record {doc['record_id']!r}")
    if doc["tree_size"] != cp.size:
        raise ProofError(f"tree_size {doc['tree_size']} is not the checkpoint's size {cp.size}")
    merkle.verify_inclusion(
        leaf, doc["seq"], cp.size, [bytes.fromhex(h) for h in doc["inclusion_proof"]], cp.root_hash
    )
    return cp
