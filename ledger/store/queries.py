"""Read queries on the index tables, for the modules outside the store. Internal.

Only ``ledger/store/`` writes SQL (``tests/test_layering.py``): a module that needs a fact
from the database calls a function here with the connection of its read or write
transaction, and gets plain Python values back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, text

from ledger.state import FACTOR_FIELDS, RECORD_INDEX_FIELDS


def genesis_bytes(conn: Connection) -> bytes | None:
    """The entry bytes of seq 0, or None for a database without a ledger."""
    row = conn.execute(text("SELECT entry_bytes FROM entries WHERE seq = 0")).first()
    return None if row is None else bytes(row[0])


def supplier_exists(conn: Connection, supplier_id: str) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM suppliers WHERE supplier_id = :s"), {"s": supplier_id}
    ).first()
    return found is not None


def key_owner(conn: Connection, key_id: str) -> tuple[str, int | None] | None:
    """(supplier_id, revoked_seq) of a registered key, or None for an unknown key."""
    row = conn.execute(
        text("SELECT supplier_id, revoked_seq FROM supplier_keys WHERE key_id = :k"), {"k": key_id}
    ).first()
    return None if row is None else (str(row[0]), row[1])


def supplier_keys(conn: Connection) -> list[tuple[str, str, str, str, int | None]]:
    """(supplier_id, name, country, key_id, revoked_seq) of every key, by supplier then age."""
    rows = conn.execute(
        text(
            "SELECT s.supplier_id, s.name, s.country, k.key_id, k.revoked_seq "
            "FROM suppliers s JOIN supplier_keys k ON k.supplier_id = s.supplier_id "
            "ORDER BY s.supplier_id, k.added_seq"
        )
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def active_key_ids(conn: Connection, supplier_id: str) -> list[str]:
    """The supplier's keys that may sign new submissions, sorted."""
    rows = conn.execute(
        text("SELECT key_id FROM supplier_keys WHERE supplier_id = :s AND revoked_seq IS NULL"),
        {"s": supplier_id},
    )
    return sorted(r[0] for r in rows)


def factor_rows(conn: Connection) -> list[Any]:
    """Every factor version, as rows with the attributes of :data:`ledger.state.FACTOR_FIELDS`."""
    return list(conn.execute(text(f"SELECT {', '.join(FACTOR_FIELDS)} FROM factors")))


def product_ids(conn: Connection) -> list[str]:
    rows = conn.execute(text("SELECT product_id FROM products ORDER BY product_id"))
    return [r[0] for r in rows]


def checkpoint_signed_at(conn: Connection, tree_size: int) -> str:
    """When the latest checkpoint of ``tree_size`` was signed."""
    return str(
        conn.execute(
            text("SELECT signed_at FROM checkpoints WHERE tree_size = :n ORDER BY id DESC LIMIT 1"),
            {"n": tree_size},
        ).scalar_one()
    )


def checkpoint_row(conn: Connection, tree_size: int, root_hex: str) -> tuple[Any, ...] | None:
    """(id, tree_size, root_hash, note, signed_at) of the newest checkpoint row with exactly
    this size and root (a cosigned copy is a newer row), or None."""
    row = conn.execute(
        text(
            "SELECT id, tree_size, root_hash, note, signed_at FROM checkpoints "
            "WHERE tree_size = :s AND root_hash = :r ORDER BY id DESC LIMIT 1"
        ),
        {"s": tree_size, "r": root_hex},
    ).first()
    return tuple(row) if row is not None else None


def insert_checkpoint(
    conn: Connection, tree_size: int, root_hex: str, note: str, signed_at: str
) -> int:
    """Store a signed checkpoint note (the table is append-only); return its id."""
    return int(
        conn.execute(
            text(
                "INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) "
                "VALUES (:s, :r, :n, :t) RETURNING id"
            ),
            {"s": tree_size, "r": root_hex, "n": note, "t": signed_at},
        ).scalar_one()
    )


def entry_bytes(conn: Connection, seq: int) -> bytes:
    """The stored bytes of entry ``seq`` (which must exist)."""
    data = conn.execute(
        text("SELECT entry_bytes FROM entries WHERE seq = :s"), {"s": seq}
    ).scalar_one()
    return bytes(data)


def footprint_seqs(
    conn: Connection, product_id: str, window_from: str, window_to: str
) -> list[int]:
    """Seqs of the footprint statements logged for a product and window, newest first."""
    rows = conn.execute(
        text(
            "SELECT seq FROM footprints WHERE product_id = :p AND window_from = :a "
            "AND window_to = :b ORDER BY seq DESC"
        ),
        {"p": product_id, "a": window_from, "b": window_to},
    )
    return [int(r[0]) for r in rows]


def entry_kind(conn: Connection, seq: int) -> str | None:
    """The kind of the entry at ``seq`` (None past the end)."""
    found = conn.execute(text("SELECT kind FROM entries WHERE seq = :s"), {"s": seq}).first()
    return None if found is None else str(found[0])


def product_exists(conn: Connection, product_id: str) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM products WHERE product_id = :p"), {"p": product_id}
    ).first()
    return found is not None


PRODUCT_COLUMNS = ("product_id", "supplier_id", "name", "declared_unit", "mass_kg", "category")


def products(conn: Connection, supplier_id: str | None = None) -> list[dict[str, Any]]:
    """Registered products (all, or one supplier's), by product_id."""
    rows = conn.execute(
        text(
            f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products "
            "WHERE :s IS NULL OR supplier_id = :s ORDER BY product_id"
        ),
        {"s": supplier_id},
    ).all()
    return [dict(zip(PRODUCT_COLUMNS, row, strict=True)) for row in rows]


def taken_record_ids(conn: Connection, record_ids: list[str]) -> set[str]:
    """Which of these record ids the ledger already holds (in batches of 500)."""
    stmt = text("SELECT record_id FROM records WHERE record_id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    found: set[str] = set()
    for start in range(0, len(record_ids), 500):
        found.update(r[0] for r in conn.execute(stmt, {"ids": record_ids[start : start + 500]}))
    return found


def record_owner_status(conn: Connection, record_ids: list[str]) -> dict[str, tuple[str, str]]:
    """record_id -> (supplier_id, status) for the ids the ledger holds."""
    stmt = text(
        "SELECT record_id, supplier_id, status FROM records WHERE record_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(record_ids), 500):
        for rid, supplier, status in conn.execute(stmt, {"ids": record_ids[start : start + 500]}):
            found[rid] = (supplier, status)
    return found


def effective_record_values(
    conn: Connection, supplier_id: str, product_id: str, period_start: str
) -> list[tuple[int, tuple[Any, ...]]]:
    """``(seq, index values without record_id)`` of a supplier's effective records of one
    product and period_start, in RECORD_INDEX_FIELDS order."""
    rows = conn.execute(
        text(
            f"SELECT seq, {', '.join(RECORD_INDEX_FIELDS[1:])} FROM records "
            "WHERE product_id = :p AND period_start = :s AND supplier_id = :sup "
            "AND status = 'effective' ORDER BY seq"
        ),
        {"p": product_id, "s": period_start, "sup": supplier_id},
    )
    return [(int(seq), tuple(values)) for seq, *values in rows]


def key_validity(conn: Connection) -> list[tuple[str, int, int | None]]:
    """(key_id, added_seq, revoked_seq) of every supplier key."""
    rows = conn.execute(text("SELECT key_id, added_seq, revoked_seq FROM supplier_keys"))
    return [(str(r[0]), int(r[1]), r[2]) for r in rows]


def merkle_node(conn: Connection, level: int, idx: int) -> bytes | None:
    """The stored hash of one complete subtree (level >= 1), or None."""
    row = conn.execute(
        text("SELECT hash FROM merkle_nodes WHERE level = :l AND idx = :i"),
        {"l": level, "i": idx},
    ).first()
    return None if row is None else bytes(row[0])


def entry_bytes_range(conn: Connection, start: int, end: int) -> list[bytes]:
    """The entry bytes of seqs [start, end), in order."""
    rows = conn.execute(
        text("SELECT entry_bytes FROM entries WHERE seq >= :a AND seq < :b ORDER BY seq"),
        {"a": start, "b": end},
    )
    return [bytes(r[0]) for r in rows]


def submission_with_source(conn: Connection, source_sha256: str) -> int | None:
    """The seq of a submission that imported a file with this SHA-256, if any."""
    row = conn.execute(
        text("SELECT seq FROM submissions WHERE source_sha256 = :h LIMIT 1"), {"h": source_sha256}
    ).first()
    return None if row is None else int(row[0])
