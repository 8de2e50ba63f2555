"""Auditor entry points: verify a database, export a bundle, verify a bundle offline.

Both verifications feed the same :class:`ledger.verify.ChainVerifier`; the database path also
compares every index table and the stored Merkle nodes with what the entries replay to.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import keys, merkle
from ledger.cosignatures import verify_witnessed
from ledger.errors import InputError, LedgerError, ProofError, VerificationError
from ledger.note import SIG_TYPE_ED25519, VerifierKey
from ledger.proofs import all_checkpoints, node_fetcher, tree_size
from ledger.registry import LedgerInfo, ledger_info, ledger_info_from
from ledger.state import record_row
from ledger.store import Connection, Engine, audit_reads, db, queries, sums
from ledger.verify import (
    RECORD_DIGEST_FIELDS,
    SMALL_TABLE_KEYS,
    Batch,
    ChainVerifier,
    OrderedDigests,
    RootMismatch,
    SeenCheckpoint,
    StoredColumns,
    VerifyReport,
    feed_all,
    node_bytes,
    open_checkpoint_note,
    record_key,
)

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult, Pool

BUNDLE_FORMAT = "carbon-ledger-export/v1"
Progress = Callable[[int], None] | None


def _stored_checkpoints(conn: Connection, origin: str, operator: Any) -> list[SeenCheckpoint]:
    seen = []
    for cp in all_checkpoints(conn):
        label = f"stored checkpoint #{cp.id}"
        opened = open_checkpoint_note(cp.note, origin, operator, label)
        if opened.size != cp.tree_size or opened.root_hash.hex() != cp.root_hash:
            raise VerificationError(f"{label}: its columns do not match its signed note", None)
        seen.append(opened)
    return seen


def ledger_size(engine: Engine) -> int:
    with db.reading(engine) as conn:
        return tree_size(conn)


def _pin(info: LedgerInfo, operator_pub: Ed25519PublicKey | None) -> None:
    """With a trusted operator key, a re-keyed (wholly rewritten) ledger fails at genesis."""
    if operator_pub is not None and keys.key_id(operator_pub) != info.operator_key_id:
        raise VerificationError(
            f"the ledger's operator key {info.operator_key_id} is not the operator key you "
            f"trust ({keys.key_id(operator_pub)})",
            0,
        )


def verify_database(
    engine: Engine,
    seen_note: str | None = None,
    progress: Progress = None,
    jobs: int = 1,
    operator_pub: Ed25519PublicKey | None = None,
    seen_label: str = "the checkpoint you saw",
    witnesses: Sequence[VerifierKey] = (),
    min_witnesses: int = 0,
) -> VerifyReport:
    """Verify everything in the database; ``seen_note`` is a checkpoint the auditor kept and
    ``operator_pub`` the operator key they trust (else the genesis entry's key is used).
    ``seen_label`` names that checkpoint in messages (the operator's pre-sign audit passes
    its state file's). With ``witnesses``, ``seen_note`` must carry at least
    ``min_witnesses`` valid cosignatures by them.

    With ``jobs`` of 2 or more the audit runs in two halves over the same entries (see
    :class:`ledger.verify.ChainVerifier`'s ``part``): another process checks the rows,
    canonical form, hashes, links and Merkle roots, after SQLite's integrity check, while
    this one decodes and replays. Each half stops at its first failure; the earlier one in
    the order one process checks them is the verdict, so it is the same seq and message."""
    check = partial(
        _verify_in,
        seen_note=seen_note,
        progress=progress,
        operator_pub=operator_pub,
        seen_label=seen_label,
        witnesses=witnesses,
        min_witnesses=min_witnesses,
    )
    if jobs <= 1:
        with db.reading(engine) as conn:
            _refuse_damage(db.integrity_problems(conn))
            return check(conn, None)
    url = engine.url.render_as_string(hide_password=False)
    # two helpers at most: the integrity check and the structure half (forked before this
    # process opens its own connection)
    with multiprocessing.get_context("fork").Pool(min(jobs - 1, 2)) as pool:
        helper = _Helper(pool, url, pool.apply_async(_integrity_of, (url,)))
        with db.reading(engine) as conn:
            try:
                return check(conn, helper)
            except LedgerError:
                _refuse_damage(helper.integrity.get())  # as in one process, damage comes first
                raise


def _refuse_damage(damage: list[str]) -> None:
    if damage:
        raise VerificationError(
            f"the SQLite file is damaged ({db.INTEGRITY_CHECK}: "
            f"{'; '.join(damage)}): queries and labels read through its indexes and "
            "would silently miss rows; restore it from a backup, or run REINDEX and "
            "verify again",
            None,
        )


@dataclass(frozen=True)
class _Helper:
    """The worker processes of ``verify --jobs`` and the integrity check they run."""

    pool: Pool
    url: str
    integrity: AsyncResult[list[str]]


@dataclass(frozen=True)
class _StructureHalf:
    """What the structure half found: its first failure as (position, phase, seq, message),
    the tree it recomputed, its checkpoint lines and its Merkle node digests."""

    failure: tuple[int, int, int | None, str] | None
    tree_size: int
    root_hash: str
    checks: list[str]
    digests: dict[tuple[Any, ...], bytes]


def _integrity_of(url: str) -> list[str]:
    engine = db.make_engine(url)
    try:
        with db.reading(engine) as conn:
            return db.integrity_problems(conn)
    finally:
        engine.dispose()


def _structure_of(url: str, size: int, checkpoints: list[SeenCheckpoint]) -> _StructureHalf:
    """In a helper process: its own engine and transaction; entries below ``size`` are
    append-only, so it reads the same ones the other half does."""
    engine = db.make_engine(url)
    try:
        with db.reading(engine) as conn:
            verifier = ChainVerifier(checkpoints, set(), part="structure")
            failure = None
            try:
                _feed_rows(conn, verifier, size, None)
                verifier.finish()
            except VerificationError as exc:
                failure = (verifier.position, verifier.phase, exc.seq, str(exc))
            return _StructureHalf(
                failure,
                verifier.tree.size,
                verifier.tree.root().hex(),
                verifier.report.checks,
                verifier.digests.results(),
            )
    finally:
        engine.dispose()


def _split_audit(
    conn: Connection,
    helper: _Helper,
    checkpoints: list[SeenCheckpoint],
    products: set[str],
    size: int,
    progress: Progress,
) -> tuple[ChainVerifier, VerifyReport]:
    """Both halves of the entries' audit; this process runs the semantics half."""
    structure = helper.pool.apply_async(_structure_of, (helper.url, size, checkpoints))
    verifier = ChainVerifier(checkpoints, products, part="semantics")
    failures: list[tuple[int, int, int, VerificationError]] = []
    report = None
    try:
        _feed_rows(conn, verifier, size, progress)
        report = verifier.finish()
    except VerificationError as exc:
        failures.append((verifier.position, verifier.phase, 1, exc))
    _refuse_damage(helper.integrity.get())
    half = structure.get()
    if half.failure is not None:
        position, phase, seq, message = half.failure
        failures.append((position, phase, 0, VerificationError(message, seq)))
    if failures:  # the one a single process meets first; at a tie, the structure half's
        raise min(failures, key=lambda f: f[:3])[3]
    assert report is not None
    report.tree_size, report.root_hash = half.tree_size, half.root_hash
    report.checks[:0] = half.checks
    verifier.digests.take(half.digests)
    return verifier, report


def _verify_in(
    conn: Connection,
    helper: _Helper | None,
    *,
    seen_note: str | None,
    progress: Progress,
    operator_pub: Ed25519PublicKey | None,
    seen_label: str,
    witnesses: Sequence[VerifierKey],
    min_witnesses: int,
) -> VerifyReport:
    """The audit of :func:`verify_database` in one read transaction, with ``helper``'s
    processes if there are any."""
    info = ledger_info(conn)
    _pin(info, operator_pub)
    checkpoints = _stored_checkpoints(conn, info.origin, info.operator_public_key)
    size = tree_size(conn)
    extra: list[str] = []
    if seen_note is not None:
        seen = open_checkpoint_note(seen_note, info.origin, info.operator_public_key, seen_label)
        extra.extend(_check_witnessed(seen_note, info, witnesses, min_witnesses))
        _check_consistency(conn, seen, size)
        extra.append(f"consistency proof from your checkpoint (size {seen.size}) verified")
        checkpoints.append(seen)
    if helper is None:
        verifier = ChainVerifier(checkpoints, _footprint_products(conn))
        _feed_rows(conn, verifier, size, progress)
        report = verifier.finish()
    else:
        products = _footprint_products(conn)
        verifier, report = _split_audit(conn, helper, checkpoints, products, size, progress)
    _check_index_tables(conn, verifier, size)
    report.checkpoints = len(checkpoints) - (seen_note is not None)
    report.checks.extend(extra)
    return report


def _feed_rows(
    conn: Connection,
    verifier: ChainVerifier,
    size: int,
    progress: Progress,
    start: int = 0,
) -> None:
    """Fully check the stored entries from ``start`` (the verifier's next seq) to ``size``."""
    stored = audit_reads.entry_row_batches(conn, size, start)
    batches: Iterator[Batch] = ([_stored_row(row) for row in batch] for batch in stored)
    try:
        feed_all(verifier, batches, progress)
    except RootMismatch as exc:
        located = _locate_rewrite(conn, exc.seq or 0, exc.size)
        if located is None:
            raise
        raise VerificationError(
            f"{str(exc).split(': history', 1)[0]}: history before it was rewritten; the "
            f"stored Merkle nodes of the signed tree no longer match the bytes of seq "
            f"{located} or {located + 1}, the first entries that differ",
            located,
        ) from exc


def verify_appended(
    engine: Engine,
    signed_note: str,
    operator_pub: Ed25519PublicKey,
    seen_label: str,
    jobs: int = 1,
    progress: Progress = None,
) -> VerifyReport:
    """The operator's pre-sign audit (SPEC §4): fully check what was appended since the
    checkpoint this key last signed (``signed_note``, from the state file beside the key),
    and prove that everything before it is exactly what was signed.

    The prefix is only hashed and replayed for state (each kind's ``remember``): the root
    recomputed from its entry bytes must equal the signed root, so a rewritten old entry
    is refused; its signatures, co2e and statements were audited before this key signed
    it and are not checked again. The entries after it get every check of the full audit,
    and the index rows they created are compared with the replay. The prefix's derived
    columns and index rows, and the SQLite integrity check, are the full ``verify``'s job.

    Whenever the prefix cannot be taken as audited — its bytes do not hash to the signed
    root, a prefix entry does not decode, the signed size splits a submission — this runs
    the full audit instead, which names the first bad seq exactly as ``verify`` does.
    """
    with db.reading(engine) as conn:
        info = ledger_info(conn)
        _pin(info, operator_pub)
        checkpoints = _stored_checkpoints(conn, info.origin, info.operator_public_key)
        size = tree_size(conn)
        seen = open_checkpoint_note(signed_note, info.origin, info.operator_public_key, seen_label)
        _check_consistency(conn, seen, size)
        verifier = ChainVerifier([*checkpoints, seen], _footprint_products(conn))
        if _take_audited_prefix(conn, verifier, seen.size):
            _feed_rows(conn, verifier, size, progress, seen.size)
            report = verifier.finish()
            _check_index_tables(conn, verifier, size, since=seen.size)
            report.checkpoints = len(checkpoints)
            report.checks.append(
                f"entries 0..{seen.size - 1} hash to the root {seen_label} signed; "
                f"entries {seen.size}..{size - 1} fully checked"
            )
            return report
    return verify_database(engine, signed_note, progress, jobs, operator_pub, seen_label)


def _take_audited_prefix(conn: Connection, verifier: ChainVerifier, size: int) -> bool:
    """Feed entries 0..size-1 as already audited; True when they hash to the signed root
    at ``size`` (the last checkpoint the verifier was given) and end outside a submission."""
    try:
        for data in audit_reads.entry_bytes_stream(conn, size):
            verifier.feed_audited(bytes(data))
    except (LedgerError, KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
        return False  # RootMismatch is a VerificationError, so a LedgerError
    return (
        verifier.expected_seq == size
        and verifier.matched_size == size
        and verifier.submission is None
    )


def _check_witnessed(
    seen_note: str, info: LedgerInfo, witnesses: Sequence[VerifierKey], min_witnesses: int
) -> list[str]:
    """Require the auditor's quorum of witness cosignatures on the checkpoint they saw."""
    if not witnesses and not min_witnesses:
        return []
    operator = VerifierKey(info.origin, info.operator_public_key, SIG_TYPE_ED25519)
    seen = verify_witnessed(seen_note, operator, witnesses, min_witnesses)
    names = ", ".join(w.name for w in seen.witnesses) or "none"
    return [f"checkpoint you saw is cosigned by {len(seen.witnesses)} trusted witness(es): {names}"]


def _stored_row(row: Any) -> tuple[bytes, StoredColumns]:
    """One entries row as (entry_bytes, derived columns); a column of the wrong type (TEXT
    where the appender writes bytes) is itself a sign the row was written by hand."""
    seq = row[0]
    for name, value in (("entry_bytes", row[7]), ("leaf_hash", row[5])):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise VerificationError(
                f"{name} column is {type(value).__name__}, not bytes: the row was not written "
                "by the appender",
                seq,
            )
    return bytes(row[7]), StoredColumns(
        row[0], row[1], row[2], row[3], row[4], bytes(row[5]), row[6]
    )


def _locate_rewrite(conn: Connection, first: int, size: int) -> int | None:
    """Where a rewritten ledger departs from its signed tree, if the stored subtree hashes
    of that tree are still in place (a forger who recomputed the entries' hashes but not
    ``merkle_nodes``): descend into the leftmost stored subtree that the entry bytes no
    longer hash to. Returns the first seq of the differing pair of leaves, or None.

    The stored nodes are not signed, so this only *points*; the failure itself stands on the
    signed root either way.
    """

    def recomputed(level: int, idx: int) -> bytes:
        datas = queries.entry_bytes_range(conn, idx << level, (idx + 1) << level)
        return merkle.root_hash([merkle.leaf_hash(data) for data in datas])

    stored = partial(queries.merkle_node, conn)
    for level, idx in merkle.peak_positions(size):
        if level == 0 or (idx + 1) << level <= first:
            continue
        node = stored(level, idx)
        if node is None or node == recomputed(level, idx):
            continue
        while level > 1:
            level, idx = level - 1, 2 * idx
            node = stored(level, idx)
            if node is None:
                return None
            if node == recomputed(level, idx):
                idx += 1  # the left half still matches: the change is in the right half
        return 2 * idx
    return None


def _footprint_products(conn: Connection) -> set[str]:
    """Products named by footprint statements, so the replay keeps only their records.

    Read through the kind column; if that column lies, the replay's row check fails first.
    """
    out: set[str] = set()
    for data in audit_reads.footprint_entry_bytes(conn):
        try:
            out.add(str(json.loads(bytes(data))["payload"]["product_id"]))
        except (ValueError, KeyError, TypeError):
            continue  # the replay names this entry's fault
    return out


def _check_consistency(conn: Connection, seen: SeenCheckpoint, size: int) -> None:
    """Prove the current tree extends the auditor's checkpoint (RFC 9162 §2.1.4)."""
    if seen.size > size:
        raise VerificationError(
            f"{seen.label} covers {seen.size} entries but the ledger now has only "
            f"{size}: entries were cut off or rolled back",
            size,
        )
    if seen.size == 0:
        return
    fetch = node_fetcher(conn)
    current_root = merkle.root_hash_from(size, fetch)
    proof = merkle.consistency_proof_from(seen.size, size, fetch)
    try:
        merkle.verify_consistency(seen.size, size, seen.root_hash, current_root, proof)
    except ProofError as exc:
        raise VerificationError(
            f"the ledger is not an extension of {seen.label} (size {seen.size}): "
            f"history was rewritten or forked ({exc})",
            seen.size - 1,
        ) from exc


@dataclass(frozen=True)
class DatabaseSide:
    """What the index-table check reads from the database, digested where large: it needs
    no replay, so ``verify --jobs`` reads it in another process while the entries replay."""

    size: int  # the tree size it saw: a concurrent append makes the parent read it again
    tables: dict[str, list[dict[str, Any]]]
    digests: dict[tuple[Any, ...], bytes]  # records, merkle_nodes, submission_nodes streams
    statuses: dict[str, tuple[str, int | None]]


def read_database_side(conn: Connection, since: int = 0) -> DatabaseSide:
    """Every small index table, and the digests of the large ones (from seq ``since`` on)."""
    digests = OrderedDigests()
    records = digests.stream(("records",))
    # every row, not only seq < size: a row no entry creates must fail (queries would count it)
    for batch in audit_reads.record_column_batches(conn, RECORD_DIGEST_FIELDS, since):
        records.update("".join(map(repr, batch)).encode("utf-8"))  # = a row at a time
    for level, idx, node in audit_reads.merkle_node_rows(conn, since):
        digests.add(("merkle_nodes", level), node_bytes(idx, node))
    for sub_seq, level, idx, node in audit_reads.submission_node_rows(conn, since):
        digests.add(("submission_nodes", sub_seq, level), node_bytes(idx, node))
    return DatabaseSide(
        tree_size(conn),
        {table: audit_reads.table_rows(conn, table) for table in SMALL_TABLE_KEYS},
        digests.results(),
        audit_reads.record_statuses(conn),
    )


def _check_index_tables(
    conn: Connection,
    verifier: ChainVerifier,
    size: int,
    since: int = 0,
    side: DatabaseSide | None = None,
) -> None:
    """Every index table must equal what the entries replay to. With ``since`` (the
    incremental pre-sign audit), of the large tables — records, Merkle and submission
    nodes — only the rows that entries from seq ``since`` on create are compared, and
    ``record_sums`` (whose groups mix old and new records) is not. ``side`` is the
    database's half if it was read already (in another process)."""
    if side is None:
        side = read_database_side(conn, since)
    for table, pk in SMALL_TABLE_KEYS.items():
        expected = verifier.tables[table]
        actual = {tuple(r[k] for k in pk): r for r in side.tables[table]}
        for key in sorted(set(expected) | set(actual), key=repr):
            want, have = expected.get(key), actual.get(key)
            if want != have:
                seq = (want or have or {}).get("seq") or (want or have or {}).get("added_seq")
                column = _first_difference(want, have)
                raise VerificationError(
                    f"index table {table} row {key[0] if len(key) == 1 else key} is out of step "
                    f"with the entries ({column})",
                    seq,
                )
    verifier.digests.stream(("records",))  # both sides hold the stream, if empty
    replayed = verifier.digests.results()
    if side.digests[("records",)] != replayed[("records",)]:
        seq, column = _locate_record_mismatch(conn, size, since)
        raise VerificationError(
            f"index table records is out of step with the entries ({column})", seq
        )
    statuses = side.statuses
    if statuses != verifier.history.status:
        bad = min(rid for rid, _ in set(statuses.items()) ^ set(verifier.history.status.items()))
        raise VerificationError(
            f"index table records has the wrong status for {bad!r}",
            audit_reads.record_seq(conn, bad),
        )
    if since == 0:  # its groups mix old records and new: the full verify's job
        _check_record_sums(conn)
    mismatch = _first_stream_difference(side.digests, replayed, "merkle_nodes")
    if mismatch is not None:
        raise VerificationError(
            f"merkle_nodes table differs from the tree recomputed from the entries "
            f"(level {mismatch[1]})",
            None,
        )
    mismatch = _first_stream_difference(side.digests, replayed, "submission_nodes")
    if mismatch is not None:
        raise VerificationError(
            "submission_nodes table differs from the records_root tree of the submission",
            mismatch[1],
        )


def _check_record_sums(conn: Connection) -> None:
    """``record_sums`` (kept by the appender) must equal the groups recomputed from ``records``
    (proven equal to the entries just before): queries read their figures from it."""
    mismatch = sums.first_mismatch(conn)
    if mismatch is not None:
        key, want, have = mismatch
        if want is None:
            what = "row exists in the table but no effective record is in that group"
        elif have is None:
            what = "row is missing from the table"
        else:
            column = next(c for c in sums.SUM_COLUMNS if getattr(want, c) != getattr(have, c))
            what = (
                f"column {column}: table has {getattr(have, column)}, "
                f"the records give {getattr(want, column)}"
            )
        raise VerificationError(
            f"index table record_sums is out of step with the records for group "
            f"{'/'.join(map(str, key[:5]))} {key[7]}..{key[8]} ({what})",
            sums.first_seq_of(conn, key),
        )


def _first_stream_difference(
    have: Mapping[tuple[Any, ...], bytes], want: Mapping[tuple[Any, ...], bytes], kind: str
) -> tuple[Any, ...] | None:
    keys = {k for k in (*have, *want) if k[0] == kind}
    diff = sorted(k for k in keys if have.get(k) != want.get(k))
    return diff[0] if diff else None


def _first_difference(want: dict[str, Any] | None, have: dict[str, Any] | None) -> str:
    if want is None:
        return "row exists in the table but no entry creates it"
    if have is None:
        return "row is missing from the table"
    for column in want:
        if want[column] != have.get(column):
            return f"column {column}: table has {have.get(column)!r}, entries say {want[column]!r}"
    return "extra columns differ"


def _locate_record_mismatch(conn: Connection, size: int, since: int = 0) -> tuple[int | None, str]:
    """Slow path: walk record entries and record rows in seq order to name the first diff
    (among those from seq ``since`` on, the ones that were compared)."""
    entries = audit_reads.record_entries(conn, size)
    rows = audit_reads.record_rows_by_seq(conn)
    rows = {seq: row for seq, row in rows.items() if not isinstance(seq, int) or seq >= since}
    for seq, sub_seq, data in entries:
        if seq < since:
            continue
        want = record_row(seq, sub_seq, json.loads(bytes(data))["payload"])
        have = rows.pop(seq, None)
        if have is None or record_key(have) != record_key(want):
            return seq, _first_difference(
                {k: want[k] for k in want if k not in ("status", "status_seq")},
                {k: have[k] for k in have if k not in ("status", "status_seq")} if have else None,
            )
    if rows:
        seq = min(rows)
        return seq, "row exists in the table but no entry creates it"
    return None, "digest differs"


# ---- export bundles ----------------------------------------------------------------------


def export_bundle(engine: Engine, out: Path, progress: Progress = None) -> dict[str, Any]:
    """Write the whole ledger as JSONL: header, checkpoints, then entry bytes verbatim."""
    with db.reading(engine) as conn, out.open("wb") as handle:
        info = ledger_info(conn)
        size = tree_size(conn)
        checkpoints = all_checkpoints(conn)
        header = {
            "format": BUNDLE_FORMAT,
            "origin": info.origin,
            "ledger_id": info.ledger_id,
            "tree_size": size,
            "checkpoints": len(checkpoints),
        }
        handle.write(json.dumps(header, sort_keys=True).encode() + b"\n")
        for cp in checkpoints:
            line = {"checkpoint": cp.note, "tree_size": cp.tree_size, "signed_at": cp.signed_at}
            handle.write(json.dumps(line, sort_keys=True, ensure_ascii=False).encode() + b"\n")
        for n, data in enumerate(audit_reads.entry_bytes_stream(conn, size), start=1):
            handle.write(bytes(data) + b"\n")
            if progress is not None and n % 10_000 == 0:
                progress(10_000)
    return header


def _bundle_footprint_products(path: Path) -> set[str]:
    """Products named by the bundle's footprint statements (entry bytes are JCS, so "kind"
    leads each entry line); a line that lies about its kind fails the replay itself."""
    out: set[str] = set()
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b'{"kind":"footprint"'):
                try:
                    out.add(str(json.loads(line)["payload"]["product_id"]))
                except (ValueError, KeyError, TypeError):
                    continue
    return out


def _bundle_lines(handle: IO[bytes]) -> Iterator[bytes]:
    for line in handle:
        yield line.rstrip(b"\n")


def verify_bundle(
    path: Path,
    seen_note: str | None = None,
    progress: Progress = None,
    operator_pub: Ed25519PublicKey | None = None,
    jobs: int = 1,
    witnesses: Sequence[VerifierKey] = (),
    min_witnesses: int = 0,
) -> VerifyReport:
    """Verify an export file with no database (offline audit); ``witnesses`` as for
    :func:`verify_database`. ``jobs`` is accepted and unused: a bundle is one stream, read
    and audited in one process."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read bundle {path}: {exc.strerror}") from exc
    with handle:
        lines = _bundle_lines(handle)
        try:
            header = json.loads(next(lines))
        except (StopIteration, ValueError) as exc:
            raise InputError(f"{path} is not a carbon-ledger export") from exc
        if not isinstance(header, dict) or header.get("format") != BUNDLE_FORMAT:
            raise InputError(f"{path} is not a {BUNDLE_FORMAT} file")
        for field in ("tree_size", "checkpoints"):
            value = header.get(field)
            if type(value) is not int or value < 0:
                raise VerificationError(
                    f"the bundle header's {field} is {value!r}, not a count of entries or "
                    "checkpoints",
                    None,
                )
        notes: list[str] = []
        for i in range(header["checkpoints"]):
            try:
                note_text = json.loads(next(lines))["checkpoint"]
            except (StopIteration, ValueError, KeyError, TypeError) as exc:
                raise VerificationError(
                    f"bundle line {i + 2} is not checkpoint #{i + 1} of the "
                    f"{header['checkpoints']} its header announces",
                    None,
                ) from exc
            notes.append(str(note_text))
        first = next(lines, None)
        if first is None:
            raise VerificationError("the bundle holds no entries", 0)
        try:
            genesis = json.loads(first)
            info = ledger_info_from(genesis["payload"])
        except (ValueError, KeyError, TypeError, LedgerError) as exc:
            raise VerificationError("the bundle's first entry is not a genesis entry", 0) from exc
        _pin(info, operator_pub)
        extra = _check_witnessed(seen_note, info, witnesses, min_witnesses) if seen_note else []
        labelled = [(text_, f"bundled checkpoint #{i + 1}") for i, text_ in enumerate(notes)]
        if seen_note is not None:
            labelled.append((seen_note, "the checkpoint you saw"))
        checkpoints = [
            open_checkpoint_note(t, info.origin, info.operator_public_key, label)
            for t, label in labelled
        ]
        verifier = ChainVerifier(checkpoints, _bundle_footprint_products(path))
        verifier.feed(first)
        feed_all(verifier, _batches(lines), progress)
        report = verifier.finish()
        if report.tree_size != header["tree_size"]:
            raise VerificationError(
                f"bundle header says {header['tree_size']} entries, it holds {report.tree_size}",
                report.tree_size,
            )
        report.checkpoints = len(notes)
        report.checks.extend(extra)
    return report


def _batches(lines: Iterator[bytes], size: int = 5000) -> Iterator[Batch]:
    batch: Batch = []
    for line in lines:
        batch.append((line, None))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
