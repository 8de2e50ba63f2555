"""Reads behind label export (SPEC §7): the entries a footprint statement commits to.

Kept in the store so that building a label, like every other read, is one interface a new
backend implements.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, text

from ledger.vocab import Window

#: effective records overlapping the window and effective outputs, as of tree size :n
_CONTRIBUTING_SQL = """
SELECT seq FROM records
WHERE product_id = :p AND period_start < :end AND period_end > :start AND seq < :n
  AND (status = 'effective' OR status_seq >= :n)
UNION ALL
SELECT seq FROM outputs
WHERE product_id = :p AND seq < :n AND (status = 'effective' OR status_seq >= :n)
ORDER BY seq
"""
_CHUNK = 900  # bound parameters per statement, under SQLite's limit


def contributing_seqs(conn: Connection, product_id: str, window: Window, as_of: int) -> list[int]:
    """Seqs of the product's effective records overlapping the window and its effective
    outputs, as of tree size ``as_of``: the set a footprint statement commits to."""
    params = {
        "p": product_id,
        "start": window[0].isoformat(),
        "end": window[1].isoformat(),
        "n": as_of,
    }
    return [int(r[0]) for r in conn.execute(text(_CONTRIBUTING_SQL), params)]


def entries_by_seq(conn: Connection, seqs: list[int]) -> dict[int, bytes]:
    stmt = text("SELECT seq, entry_bytes FROM entries WHERE seq IN :s").bindparams(
        bindparam("s", expanding=True)
    )
    out: dict[int, bytes] = {}
    for start in range(0, len(seqs), _CHUNK):
        rows = conn.execute(stmt, {"s": seqs[start : start + _CHUNK]})
        out.update({s: bytes(b) for s, b in rows})
    return out


def covering_submissions(conn: Connection, seqs: list[int]) -> dict[int, int]:
    """seq -> the seq of the submission covering it (entries a submission covers only)."""
    stmt = text(
        "SELECT seq, submission_seq FROM entries WHERE seq IN :s AND submission_seq IS NOT NULL"
    ).bindparams(bindparam("s", expanding=True))
    out: dict[int, int] = {}
    for start in range(0, len(seqs), _CHUNK):
        rows = conn.execute(stmt, {"s": seqs[start : start + _CHUNK]})
        out.update({int(seq): int(sub) for seq, sub in rows})
    return out


def product_seq(conn: Connection, product_id: str, size: int) -> int | None:
    row = conn.execute(
        text("SELECT seq FROM products WHERE product_id = :p AND seq < :n"),
        {"p": product_id, "n": size},
    ).first()
    return None if row is None else int(row[0])


def factor_seqs(conn: Connection) -> dict[tuple[str, int], int]:
    """(factor_id, version) -> seq of the factor entry."""
    rows = conn.execute(text("SELECT factor_id, version, seq FROM factors"))
    return {(fid, int(version)): int(seq) for fid, version, seq in rows}


def submission_nodes(
    conn: Connection, submission_seq: int, level: int, ids: list[int]
) -> dict[int, bytes]:
    """Stored records_root subtree hashes of one submission at one level, by index."""
    stmt = text(
        "SELECT idx, hash FROM submission_nodes WHERE submission_seq = :s "
        "AND level = :lv AND idx IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    out: dict[int, bytes] = {}
    for start in range(0, len(ids), _CHUNK):
        params = {"s": submission_seq, "lv": level, "ids": ids[start : start + _CHUNK]}
        out.update({int(idx): bytes(digest) for idx, digest in conn.execute(stmt, params)})
    return out
