"""Supplier submissions: one Ed25519 signature covering ``count`` entries (SPEC §4).

Every supplier write (a product registration, one record, a file of records, a retraction)
goes through :func:`write_submission`: payloads are validated and spooled first, the
supplier signs ``{supplier_id, key_id, count, records_root, source_sha256?, submitted_at}``,
and then the submission entry and the entries it covers are written in one serialized
transaction. A failure anywhere rolls all of it back.

Internal: not part of the library API (the facade is :mod:`ledger`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import keys
from ledger.canonical import canonical_bytes
from ledger.entry import utc_now
from ledger.errors import ConflictError, KeyMaterialError, NotFoundError
from ledger.spool import Spool
from ledger.store import Connection, Engine, queries
from ledger.store.appender import appending


@dataclass(frozen=True)
class SubmissionResult:
    submission_seq: int
    first_seq: int
    last_seq: int
    count: int
    records_root: str
    tree_size: int


def check_signer(conn: Connection, supplier_id: str, private_key: Ed25519PrivateKey) -> str:
    """Return the key_id if this key may sign for this supplier now; else raise."""
    if not queries.supplier_exists(conn, supplier_id):
        raise NotFoundError(f"supplier {supplier_id!r} is not registered")
    kid = keys.key_id(private_key.public_key())
    row = queries.key_owner(conn, kid)
    if row is None or row[0] != supplier_id:
        owner = f" (it belongs to supplier {row[0]!r})" if row is not None else ""
        raise KeyMaterialError(f"key {kid} is not registered for supplier {supplier_id!r}{owner}")
    if row[1] is not None:
        raise KeyMaterialError(
            f"key {kid} of supplier {supplier_id!r} was revoked or rotated out at seq {row[1]}"
        )
    return kid


def submission_payload(
    supplier_id: str,
    private_key: Ed25519PrivateKey,
    count: int,
    records_root: str,
    source_sha256: str | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "supplier_id": supplier_id,
        "key_id": keys.key_id(private_key.public_key()),
        "count": count,
        "records_root": records_root,
        "submitted_at": utc_now(),
    }
    if source_sha256 is not None:
        fields["source_sha256"] = source_sha256
    fields["signature"] = keys.sign(private_key, keys.SUBMISSION_DOMAIN, canonical_bytes(fields))
    return fields


def write_submission(
    engine: Engine,
    supplier_id: str,
    private_key: Ed25519PrivateKey,
    spool: Spool,
    *,
    source_sha256: str | None = None,
    precheck: Callable[[Connection], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SubmissionResult:
    """Sign and write a spooled submission in one serialized transaction."""
    if spool.count == 0:
        raise ConflictError("nothing to submit")
    payload = submission_payload(
        supplier_id, private_key, spool.count, spool.records_root, source_sha256
    )
    with appending(engine) as app:
        check_signer(app.conn, supplier_id, private_key)
        if precheck is not None:
            precheck(app.conn)
        sub = app.append("submission", canonical_bytes(payload), payload)
        done = 0
        for items, nodes in spool.chunks():
            app.add_submission_nodes(sub.seq, nodes)
            for _line, kind, item_bytes, index in items:
                app.append(kind, item_bytes, index)
                done += 1
                if progress is not None and done % 10_000 == 0:
                    progress(10_000)
        app.flush()
        if progress is not None:
            progress(done % 10_000)
        return SubmissionResult(
            submission_seq=sub.seq,
            first_seq=sub.seq + 1,
            last_seq=app.next_seq - 1,
            count=spool.count,
            records_root=spool.records_root,
            tree_size=app.next_seq,
        )
