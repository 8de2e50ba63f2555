"""Point reads behind proofs and ``--as-of``: tree size, checkpoints, a record's seq, nodes.

They run on either driver (:mod:`ledger.store.sql`), so ``prove`` and ``query`` open a SQLite
ledger without importing SQLAlchemy, and the appender, the audit and label export call the
same functions on their SQLAlchemy connections.
"""

from __future__ import annotations

from typing import Any

from ledger.errors import ConflictError
from ledger.store.sql import Reader, first, in_list, rows

_CHECKPOINT_COLUMNS = "id, tree_size, root_hash, note, signed_at"


def tree_size(conn: Reader) -> int:
    """How many entries the ledger holds (one past the highest seq; 0 when empty)."""
    row = first(conn, "SELECT MAX(seq) FROM entries")
    return 0 if row is None or row[0] is None else int(row[0]) + 1


def latest_checkpoint_row(conn: Reader) -> tuple[Any, ...] | None:
    """(id, tree_size, root_hash, note, signed_at) of the checkpoint over the largest tree
    (the newest row among equals), or None before the first checkpoint."""
    row = first(
        conn,
        f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY tree_size DESC, id DESC LIMIT 1",
    )
    return tuple(row) if row is not None else None


def checkpoint_rows(conn: Reader) -> list[tuple[Any, ...]]:
    """Every stored checkpoint as (id, tree_size, root_hash, note, signed_at), oldest first."""
    found = rows(conn, f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY id")
    return [tuple(row) for row in found]


def record_seq(conn: Reader, record_id: str) -> Any:
    """The seq column (as stored) of a record's row, or None for an unknown record_id."""
    row = first(conn, "SELECT seq FROM records WHERE record_id = :r", {"r": record_id})
    return None if row is None else row[0]


def entry_and_leaf(conn: Reader, seq: int) -> tuple[Any, Any]:
    """(entry_bytes, leaf_hash) as stored for entry ``seq`` (which must exist)."""
    row = first(conn, "SELECT entry_bytes, leaf_hash FROM entries WHERE seq = :s", {"s": seq})
    if row is None:
        raise ConflictError(f"entry {seq} is missing from the entries table")
    return row[0], row[1]


def load_nodes(conn: Reader, positions: list[tuple[int, int]]) -> list[bytes]:
    """Hashes of complete subtrees at ``positions`` (level 0 = leaf hashes from entries)."""
    found = fetch_nodes(conn, set(positions))
    return [found[pos] for pos in positions]


def fetch_nodes(conn: Reader, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """One query per level, 900 ids at a time: leaves from ``entries``, inner nodes from
    ``merkle_nodes``."""
    out: dict[tuple[int, int], bytes] = {}
    by_level: dict[int, list[int]] = {}
    for level, idx in wanted:
        by_level.setdefault(level, []).append(idx)
    for level, ids in by_level.items():
        ids.sort()
        for start in range(0, len(ids), 900):
            placeholders, params = in_list("i", ids[start : start + 900])
            if level == 0:
                sql = f"SELECT seq, leaf_hash FROM entries WHERE seq IN {placeholders}"
            else:
                sql = (
                    "SELECT idx, hash FROM merkle_nodes "
                    f"WHERE level = :lv AND idx IN {placeholders}"
                )
                params["lv"] = level
            out.update({(level, ix): bytes(h) for ix, h in rows(conn, sql, params)})
    missing = wanted - set(out)
    if missing:
        raise ConflictError(f"the Merkle node store is missing nodes {sorted(missing)[:3]}")
    return out
