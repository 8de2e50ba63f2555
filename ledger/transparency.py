"""Checkpoints and proofs served from the stored tree (SPEC §4).

The operator signs C2SP tlog-checkpoint notes over the current Merkle root; the ledger keeps
every one it signed and refuses to sign a root that is inconsistent with an earlier one.
Proofs are served from stored complete-subtree hashes: O(log n) reads, never a scan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, text

from ledger import merkle, note
from ledger.errors import ConflictError, InputError, NotFoundError, ProofError
from ledger.registry import require_operator
from ledger.store import db
from ledger.store.appender import Appender, fetch_nodes


@dataclass(frozen=True)
class StoredCheckpoint:
    id: int
    tree_size: int
    root_hash: str
    note: str
    signed_at: str


def node_fetcher(conn: Connection) -> merkle.NodeFetcher:
    return lambda wanted: fetch_nodes(conn, wanted)


def tree_size(conn: Connection) -> int:
    row = conn.execute(text("SELECT MAX(seq) FROM entries")).first()
    return 0 if row is None or row[0] is None else int(row[0]) + 1


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    row = conn.execute(
        text(
            "SELECT id, tree_size, root_hash, note, signed_at FROM checkpoints "
            "ORDER BY tree_size DESC, id DESC LIMIT 1"
        )
    ).first()
    return StoredCheckpoint(*row) if row is not None else None


def resolve_as_of(conn: Connection, as_of: int | str | None) -> tuple[int, str]:
    """(tree size, how it was chosen) for ``checkpoint`` (the default), ``latest`` or a size.

    ``checkpoint`` falls back to the latest entries, and says so, when nothing is signed yet.
    ``query``, ``query scorecard`` and ``label export`` all resolve ``--as-of`` here.
    """
    size = tree_size(conn)
    if as_of is None or as_of == "checkpoint":
        checkpoint = latest_checkpoint(conn)
        if checkpoint is not None:
            return checkpoint.tree_size, f"latest checkpoint, tree size {checkpoint.tree_size}"
        return size, f"tree size {size} (no checkpoint signed yet)"
    if as_of == "latest":
        return size, f"latest entries, tree size {size}"
    try:
        wanted = int(as_of)
    except (TypeError, ValueError):
        raise InputError(
            f"--as-of must be latest, checkpoint or a tree size, not {as_of!r}"
        ) from None
    if not 0 < wanted <= size:
        raise InputError(f"--as-of {wanted} is not a tree size between 1 and {size}")
    return wanted, f"tree size {wanted}"


def all_checkpoints(conn: Connection) -> list[StoredCheckpoint]:
    rows = conn.execute(
        text("SELECT id, tree_size, root_hash, note, signed_at FROM checkpoints ORDER BY id")
    )
    return [StoredCheckpoint(*row) for row in rows]


def sign_checkpoint(engine: Engine, operator: Ed25519PrivateKey) -> StoredCheckpoint:
    """Sign and store a checkpoint of the current tree (or return the current one)."""
    with db.writing(engine) as conn:
        info = require_operator(conn, operator)
        app = Appender(conn)
        size, root = app.next_seq, app.root
        last = latest_checkpoint(conn)
        if last is not None:
            if last.tree_size == size and last.root_hash == root.hex():
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
        signed = note.sign_checkpoint(
            note.Checkpoint(info.origin, size, root), info.origin, operator
        )
        signed_at = app.recorded_at
        result = conn.execute(
            text(
                "INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) "
                "VALUES (:s, :r, :n, :t) RETURNING id"
            ),
            {"s": size, "r": root.hex(), "n": signed, "t": signed_at},
        ).first()
        assert result is not None
        return StoredCheckpoint(int(result[0]), size, root.hex(), signed, signed_at)


def prove(engine: Engine, record_id: str) -> dict[str, Any]:
    """Proof document for a record against the latest checkpoint (SPEC §4)."""
    with db.reading(engine) as conn:
        row = conn.execute(
            text("SELECT seq FROM records WHERE record_id = :r"), {"r": record_id}
        ).first()
        if row is None:
            raise NotFoundError(f"record {record_id!r} is not in the ledger")
        seq = int(row[0])
        checkpoint = latest_checkpoint(conn)
        if checkpoint is None:
            raise NotFoundError(
                "the ledger has no checkpoint yet; the operator must run "
                "`carbon-ledger checkpoint --operator-key K` first"
            )
        if checkpoint.tree_size <= seq:
            raise NotFoundError(
                f"record {record_id} is at seq {seq}, after the latest checkpoint "
                f"(size {checkpoint.tree_size}); the operator must sign a new checkpoint"
            )
        data = conn.execute(
            text("SELECT entry_bytes, leaf_hash FROM entries WHERE seq = :s"), {"s": seq}
        ).one()
        proof = merkle.inclusion_proof_from(seq, checkpoint.tree_size, node_fetcher(conn))
    return {
        "record_id": record_id,
        "seq": seq,
        "tree_size": checkpoint.tree_size,
        "entry_bytes": bytes(data[0]).decode("utf-8"),
        "leaf_hash": bytes(data[1]).hex(),
        "inclusion_proof": [node.hex() for node in proof],
        "checkpoint": checkpoint.note,
    }


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
