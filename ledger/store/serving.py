"""Read (and publication) queries for ``carbon-ledger serve``: tiles, entries, PCF versions.

All SQL of the server lives here so the web layer never writes a query of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text


@dataclass(frozen=True)
class PcfVersion:
    pcf_id: str
    product_id: str
    period_start: str
    period_end: str
    version: int
    issued_at: str
    figures_sha256: str
    document: str


_PCF_COLUMNS = (
    "pcf_id, product_id, period_start, period_end, version, issued_at, figures_sha256, document"
)


def ensure_pcf_table(engine: Engine) -> None:
    """Create ``pcf_versions`` in a ledger made before the table existed (idempotent)."""
    from ledger.store.schema import PcfVersionRow

    PcfVersionRow.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]


def pcf_versions_of(conn: Connection, product_id: str, start: str, end: str) -> list[PcfVersion]:
    rows = conn.execute(
        text(
            f"SELECT {_PCF_COLUMNS} FROM pcf_versions WHERE product_id = :p "
            "AND period_start = :s AND period_end = :e ORDER BY version"
        ),
        {"p": product_id, "s": start, "e": end},
    )
    return [PcfVersion(*row) for row in rows]


def all_pcf_versions(conn: Connection) -> list[PcfVersion]:
    """Every issued PCF, oldest first (issue order is the listing order partners page by)."""
    rows = conn.execute(
        text(f"SELECT {_PCF_COLUMNS} FROM pcf_versions ORDER BY issued_at, product_id, version")
    )
    return [PcfVersion(*row) for row in rows]


def insert_pcf_version(conn: Connection, version: PcfVersion) -> None:
    conn.execute(
        text(
            f"INSERT INTO pcf_versions ({_PCF_COLUMNS}) VALUES "
            "(:pcf_id, :product_id, :period_start, :period_end, :version, :issued_at, "
            ":figures_sha256, :document)"
        ),
        version.__dict__,
    )


def supplier_country(conn: Connection, supplier_id: str) -> str | None:
    row = conn.execute(
        text("SELECT country FROM suppliers WHERE supplier_id = :s"), {"s": supplier_id}
    ).first()
    return None if row is None else str(row[0])


def leaf_hashes(conn: Connection, start: int, end: int) -> list[bytes]:
    """Leaf hashes of entries ``[start, end)`` in seq order."""
    rows = conn.execute(
        text("SELECT leaf_hash FROM entries WHERE seq >= :a AND seq < :b ORDER BY seq"),
        {"a": start, "b": end},
    )
    return [bytes(row[0]) for row in rows]


def entry_bytes_range(conn: Connection, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        text("SELECT entry_bytes FROM entries WHERE seq >= :a AND seq < :b ORDER BY seq"),
        {"a": start, "b": end},
    )
    return [bytes(row[0]) for row in rows]


def subtree_hashes(conn: Connection, level: int, start: int, end: int) -> list[bytes]:
    """Stored complete-subtree hashes at ``level`` (>= 1), indices ``[start, end)``."""
    rows = conn.execute(
        text(
            "SELECT hash FROM merkle_nodes WHERE level = :lv AND idx >= :a AND idx < :b "
            "ORDER BY idx"
        ),
        {"lv": level, "a": start, "b": end},
    )
    return [bytes(row[0]) for row in rows]
