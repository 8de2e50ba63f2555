"""Checkpoints as stored, ``--as-of`` and inclusion proofs: the reads short commands need.

Nothing here imports SQLAlchemy: ``carbon-ledger prove`` and ``query`` open a SQLite ledger
with the stdlib driver (:mod:`ledger.store.sql`) and start in a fraction of the time.
:mod:`ledger.transparency` (signing, consistency, the operator's state) re-exports these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger import merkle
from ledger.errors import InputError, NotFoundError
from ledger.store import lookups
from ledger.store.sql import Reader


@dataclass(frozen=True)
class StoredCheckpoint:
    id: int
    tree_size: int
    root_hash: str
    note: str
    signed_at: str


def node_fetcher(conn: Reader) -> merkle.NodeFetcher:
    return lambda wanted: lookups.fetch_nodes(conn, wanted)


def tree_size(conn: Reader) -> int:
    return lookups.tree_size(conn)


def latest_checkpoint(conn: Reader) -> StoredCheckpoint | None:
    row = lookups.latest_checkpoint_row(conn)
    return StoredCheckpoint(*row) if row is not None else None


def resolve_as_of(conn: Reader, as_of: int | str | None) -> tuple[int, str]:
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


def all_checkpoints(conn: Reader) -> list[StoredCheckpoint]:
    return [StoredCheckpoint(*row) for row in lookups.checkpoint_rows(conn)]


def prove(conn: Reader, record_id: str) -> dict[str, Any]:
    """Proof document for a record against the latest checkpoint (SPEC §4).

    ``conn`` is an open read snapshot (``ledger.store.sql.reading``): the same proof from a
    SQLAlchemy connection or from the stdlib driver.
    """
    found = lookups.record_seq(conn, record_id)
    if found is None:
        raise NotFoundError(f"record {record_id!r} is not in the ledger")
    seq = int(found)
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
    data = lookups.entry_and_leaf(conn, seq)
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
