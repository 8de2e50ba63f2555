"""Building self-verifying labels from the database (SPEC §7).

The exporter reads a logged footprint statement, the entries it commits to, their
submissions, factors and keys, and one multiproof under the latest checkpoint; then it checks
what it built with the offline verifier (:mod:`ledger.labels.offline`) before handing it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger import merkle, statements
from ledger.entry import ParsedEntry, parse_entry
from ledger.errors import NotFoundError, ProofError
from ledger.footprint import ProductFootprint
from ledger.labels.offline import (
    _key,
    footprint_from_evidence,
    label_document,
)
from ledger.progress import Phases, counted
from ledger.progress import start as start_phase
from ledger.proofs import latest_checkpoint
from ledger.registry import ledger_info, load_factors
from ledger.store import Connection, label_reads, queries
from ledger.vocab import Window

#: seq -> (entry bytes, decoded entry): what one export has decoded so far, so that computing
#: the statement and building its label decode the 10^4 entries they share once
Decoded = dict[int, tuple[bytes, ParsedEntry]]


def decode(
    entries: Mapping[int, bytes], decoded: Decoded | None = None, phases: Phases | None = None
) -> dict[int, ParsedEntry]:
    """:func:`parse_entry` of each entry, reusing an earlier decoding of the same bytes."""
    advance = start_phase(phases, "decoding entries", len(entries), "entries")
    out: dict[int, ParsedEntry] = {}
    for seq, data in counted(entries.items(), advance):
        known = decoded.get(seq) if decoded is not None else None
        if known is not None and known[0] == data:
            out[seq] = known[1]
            continue
        out[seq] = parse_entry(data, seq)
        if decoded is not None:
            decoded[seq] = (data, out[seq])
    return out


def payload_slice(entry_bytes: bytes) -> bytes:
    """The canonical payload bytes inside canonical entry bytes (no JSON parse needed)."""
    start = entry_bytes.index(b'"payload":') + len(b'"payload":')
    end = entry_bytes.rindex(b',"prev":"')
    return entry_bytes[start:end]


def _entries(conn: Connection, seqs: list[int]) -> dict[int, bytes]:
    return label_reads.entries_by_seq(conn, seqs)


def _product_seq(conn: Connection, product_id: str, size: int) -> int:
    seq = label_reads.product_seq(conn, product_id, size)
    if seq is None:
        raise NotFoundError(f"product {product_id!r} is not registered (as of size {size})")
    return seq


def contributing_seqs(conn: Connection, product_id: str, window: Window, as_of: int) -> list[int]:
    """Seqs of the product's effective records overlapping the window and its effective
    outputs, as of tree size ``as_of``: the set a footprint statement commits to."""
    return label_reads.contributing_seqs(conn, product_id, window, as_of)


def statement_basis(
    conn: Connection,
    product_id: str,
    window: Window,
    as_of: int,
    decoded: Decoded | None = None,
) -> statements.Basis:
    """What a footprint statement as of ``as_of`` is computed from, read from the entries."""
    seqs = [
        _product_seq(conn, product_id, as_of),
        *contributing_seqs(conn, product_id, window, as_of),
    ]
    parsed = decode(_entries(conn, seqs), decoded)
    return statements.basis_from_entries(parsed, product_id, window, load_factors(conn), as_of)


def build_label(
    conn: Connection,
    product_id: str,
    window: Window,
    statement_seq: int,
    phases: Phases | None = None,
    decoded: Decoded | None = None,
) -> tuple[dict[str, Any], ProductFootprint]:
    """The label of a logged footprint statement, with all its evidence under the latest
    checkpoint (which must cover the statement). ``decoded`` holds entries this export has
    already decoded (computing the statement), reused when their bytes are the same."""
    checkpoint = latest_checkpoint(conn)
    if checkpoint is None or checkpoint.tree_size <= statement_seq:
        raise NotFoundError(
            f"no signed checkpoint covers the footprint statement at seq {statement_seq}; the "
            "operator must run `carbon-ledger checkpoint --operator-key K` first"
        )
    size = checkpoint.tree_size
    statement = parse_entry(_entries(conn, [statement_seq])[statement_seq], statement_seq)
    as_of = int(statement.payload["as_of_size"])
    record_seqs = contributing_seqs(conn, product_id, window, as_of)
    covered = [_product_seq(conn, product_id, as_of), *record_seqs]
    subs = label_reads.covering_submissions(conn, covered)
    entries = _entries(conn, sorted(set(covered) | set(subs.values()) | {statement_seq}))
    parsed = decode(entries, decoded, phases)
    factor_keys = {
        (p.payload["factor_id"], p.payload["factor_version"])
        for p in parsed.values()
        if p.kind == "record" and "factor_id" in p.payload
    }
    key_ids = {p.payload["key_id"] for p in parsed.values() if p.kind == "submission"}
    factor_seqs = [seq for key, seq in label_reads.factor_seqs(conn).items() if key in factor_keys]
    # each signing key's registration and, when it happened before the checkpoint, the entry
    # that revoked or rotated it out, so the offline check sees the key's validity window
    key_seqs = [
        seq
        for kid, added, revoked in queries.key_validity(conn)
        if kid in key_ids
        for seq in (added, revoked)
        if seq is not None and seq < size
    ]
    extra = [0, *factor_seqs, *key_seqs]
    more = _entries(conn, extra)
    parsed.update({s: parse_entry(b, s) for s, b in more.items()})
    entries.update(more)
    nodes = _tree_nodes(conn, sorted(entries), size, entries)
    sub_nodes = _submission_nodes(conn, covered, subs, entries)
    evidence = {
        "origin": ledger_info(conn).origin,
        "checkpoint": checkpoint.note,
        "tree_size": size,
        "entries": {str(s): entries[s].decode("utf-8") for s in sorted(entries)},
        "nodes": nodes,
        "submission_nodes": sub_nodes,
    }
    # check what we just built (proofs, signatures, co2e, figures), reusing the decoded entries
    fp, statement_seq = footprint_from_evidence(evidence, product_id, window, parsed=parsed)
    return label_document(fp, evidence, statement_seq), fp


def _tree_nodes(
    conn: Connection, seqs: list[int], size: int, entries: Mapping[int, bytes]
) -> dict[str, str]:
    """Complementary subtree hashes of one multiproof for every evidence entry."""
    from ledger.store.appender import fetch_nodes

    wanted = merkle.multiproof_plan(seqs, size)
    found = fetch_nodes(conn, wanted) if wanted else {}
    return {_key(lv, ix): h.hex() for (lv, ix), h in sorted(found.items())}


def _submission_nodes(
    conn: Connection, covered: list[int], subs: Mapping[int, int], entries: Mapping[int, bytes]
) -> dict[str, str]:
    """Per submission, the multiproof nodes for its covered evidence entries under
    ``records_root``, keyed "submission_seq:level:idx"."""
    by_submission: dict[int, list[int]] = {}
    for seq in covered:
        by_submission.setdefault(subs[seq], []).append(seq - subs[seq] - 1)
    out: dict[str, str] = {}
    for sub_seq, indices in by_submission.items():
        count = parse_entry(entries[sub_seq], sub_seq).payload["count"]
        nodes = merkle.multiproof_plan(indices, count)
        leaves = [sub_seq + 1 + ix for lv, ix in nodes if lv == 0]
        for seq, data in _entries(conn, leaves).items():
            out[f"{sub_seq}:0:{seq - sub_seq - 1}"] = merkle.leaf_hash(payload_slice(data)).hex()
        by_level: dict[int, list[int]] = {}
        for level, idx in nodes:
            if level > 0:
                by_level.setdefault(level, []).append(idx)
        for level, ids in by_level.items():
            found = label_reads.submission_nodes(conn, sub_seq, level, ids)
            for idx, digest in found.items():
                out[f"{sub_seq}:{level}:{idx}"] = digest.hex()
            if len(found) != len(ids):
                raise ProofError(f"submission {sub_seq} lacks stored nodes at level {level}")
    return dict(sorted(out.items()))
