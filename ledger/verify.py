"""Full audit of a ledger from its entry bytes (SPEC §8 ``verify``).

:class:`ChainVerifier` is fed entries in seq order — from the database or from an export
bundle, the checks are the same — and raises :class:`VerificationError` naming the first bad
seq and what is wrong. It re-derives everything: hashes and links, canonical form, operator
and submission signatures with key validity at that seq, ``records_root``, every record's
co2e from its pinned factor, the Merkle root at every checkpoint, and the index tables.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import keys, merkle, note
from ledger.entry import (
    GENESIS_PREV,
    SUBMITTED_KINDS,
    ParsedEntry,
    decode_canonical,
    parse_entry,
)
from ledger.errors import LedgerError, ProofError, VerificationError
from ledger.kinds import RULES, History, changes_for, verify_operator_signature
from ledger.state import RECORD_INDEX_FIELDS, Insert, Update, record_values

_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
#: primary keys of the small index tables verify rebuilds in memory
SMALL_TABLE_KEYS = {
    "suppliers": ("supplier_id",),
    "supplier_keys": ("key_id",),
    "products": ("product_id",),
    "factors": ("factor_id", "version"),
    "submissions": ("seq",),
    "outputs": ("output_id",),
    "footprints": ("seq",),
}


class RootMismatch(VerificationError):
    """The entries are sound one by one but do not hash to a signed root: some entry in
    ``seq``..``size - 1`` was rewritten (and every later hash recomputed)."""

    def __init__(self, message: str, seq: int, size: int) -> None:
        super().__init__(message, seq)
        self.size = size


class StoredColumns(NamedTuple):
    """The derived columns a database row holds next to ``entry_bytes`` (a named tuple:
    one is built per entry, and a tuple is the cheapest frozen value to build)."""

    seq: int
    kind: str
    recorded_at: str
    prev_hash: str
    entry_hash: str
    leaf_hash: bytes
    submission_seq: int | None


@dataclass(frozen=True)
class SeenCheckpoint:
    size: int
    root_hash: bytes
    label: str  # "stored checkpoint #3" or "the checkpoint you saw"


@dataclass
class VerifyReport:
    entries: int = 0
    submissions: int = 0
    records: int = 0
    outputs: int = 0
    footprints: int = 0
    products: int = 0
    suppliers: int = 0
    factors: int = 0
    checkpoints: int = 0
    tree_size: int = 0
    root_hash: str = ""
    checks: list[str] = field(default_factory=list)


@dataclass
class _Submission:
    seq: int
    supplier_id: str
    remaining: int
    records_root: str
    tree: merkle.CompactRange
    streams: dict[int, Any] = field(default_factory=dict)  # digest of its nodes, by level


#: report field -> entry kind it counts
_COUNTED = {
    "submissions": "submission",
    "records": "record",
    "outputs": "output",
    "footprints": "footprint",
    "products": "product",
    "suppliers": "supplier",
    "factors": "factor",
}


class ChainVerifier:
    """Streaming verifier; feed entries in order, then call :meth:`finish`."""

    def __init__(
        self,
        checkpoints: Iterable[SeenCheckpoint] = (),
        footprint_products: set[str] | None = None,
        part: str = "all",
    ) -> None:
        """``footprint_products``: the products footprint statements name, when known ahead
        (the verifier then keeps only their records in memory); None keeps every product.

        ``part`` splits the audit in two halves that two processes can run over the same
        entries (``verify --jobs``): "structure" — the row, canonical form, hashes, links,
        times, the Merkle tree and checkpoint roots — and "semantics" — kinds, signatures,
        keys, co2e, statements and the replay, decoding bytes the other half checks. Each
        half stops at its first failure and says where (:attr:`position`, :attr:`phase`):
        the earlier of the two is the verdict one process ("all") would give.
        """
        if part not in ("all", "structure", "semantics"):
            raise ValueError(f"unknown verifier part {part!r}")
        self.structure, self.semantics = part != "semantics", part != "structure"
        self.position = self.phase = 0
        self.report = VerifyReport()
        self.expected_seq = 0
        self.prev = GENESIS_PREV
        self.last_time = ""
        self.tree = merkle.CompactRange()
        self.history = History(footprint_products)
        self.tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {
            t: {} for t in SMALL_TABLE_KEYS
        }
        self.digests = OrderedDigests()
        self._merkle_streams: dict[int, Any] = {}
        self.submission: _Submission | None = None
        self.pending = sorted(checkpoints, key=lambda c: c.size)
        self.matched_size = 0  # entries below this are covered by a checkpoint root that matched

    # ---- per entry -------------------------------------------------------------------------
    def feed(self, entry_bytes: bytes, stored: StoredColumns | None = None) -> None:
        """Check the next entry (``stored``: its database row's derived columns, if any)."""
        seq = self.expected_seq
        try:
            self._feed(seq, entry_bytes, stored)
        except VerificationError as exc:
            if exc.seq is None:
                exc.seq = seq
            raise
        except LedgerError as exc:
            raise VerificationError(str(exc), seq) from exc

    def feed_audited(self, entry_bytes: bytes) -> None:
        """Take in an entry that this operator key already audited and signed: its hash, its
        leaf in the tree and the state it leaves for later entries (each kind's
        ``remember``), with none of its checks — no canonical form, signature, co2e or
        statement — and no index rows to compare.

        What vouches for these bytes is the signed root at the end of the prefix: a changed
        entry makes :meth:`_check_checkpoints` raise RootMismatch there. Until then a forged
        entry may raise anything; the caller then falls back to the full audit.
        """
        seq = self.expected_seq
        obj = json.loads(entry_bytes)
        kind, payload, history = obj["kind"], obj["payload"], self.history
        covering = None
        if kind == "genesis":
            history.operator = keys.public_from_b64(payload["operator_public_key"])
            history.origin = payload["origin"]
        elif kind == "submission":
            count = payload["count"]
            self.submission = _Submission(
                seq, payload["supplier_id"], count, "", merkle.CompactRange()
            )
        elif kind in SUBMITTED_KINDS:
            sub = self.submission
            if sub is None:
                raise VerificationError(f"{kind} entry is not covered by a submission", seq)
            covering, sub.remaining = sub.seq, sub.remaining - 1
            if sub.remaining == 0:
                self.submission = None
        RULES[kind].remember(history, seq, payload)
        history.count(kind)
        if kind == "record":  # of a record's index rows only the status matters later
            if "supersedes" in payload:
                history.status[payload["supersedes"]] = ("superseded", seq)
        else:
            self._replay(kind, seq, payload, covering)
        self.tree.append(hashlib.sha256(b"\x00" + entry_bytes).digest())
        self.prev = hashlib.sha256(entry_bytes).hexdigest()
        self.last_time = obj["recorded_at"]
        self.expected_seq += 1
        self.report.entries += 1
        self._check_checkpoints()

    def _feed(self, seq: int, data: bytes, stored: StoredColumns | None) -> None:
        # phases, in the order one process checks them: 0 the row and its bytes, 1 the
        # kind's rules and the replay, 2 a checkpoint root (3 and 4 are finish's)
        self.position, self.phase = seq, 0
        if self.structure:
            parsed, entry_hash, leaf = self._check_structure(seq, data, stored)
        else:
            try:
                parsed, entry_hash, leaf = decode_canonical(data), "", b""
            except (ValueError, KeyError, TypeError) as exc:  # the other half names it
                raise VerificationError("entry bytes do not decode", seq) from exc
        if self.semantics:
            self.phase = 1
            try:
                covering = self._check_kind(seq, parsed.kind, parsed.payload, parsed.payload_bytes)
                if stored is not None and stored.submission_seq != covering:
                    raise VerificationError(
                        "submission_seq column does not match the entry bytes", seq
                    )
                self._replay(parsed.kind, seq, parsed.payload, covering)
            except KeyError as exc:  # canonical bytes, but a payload without a field it needs
                raise VerificationError(f"{parsed.kind} entry lacks field {exc}", seq) from exc
            except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
                raise VerificationError(
                    f"{parsed.kind} entry has a field of the wrong type or form ({exc})", seq
                ) from exc
        self.expected_seq += 1
        self.report.entries += 1
        if self.structure:
            completed = self.tree.append(leaf)
            for level, idx, node in completed[1:]:  # [0] is the leaf itself
                self._merkle_stream(level).update(node_bytes(idx, node))
            self.prev, self.last_time = entry_hash, parsed.recorded_at
            self.phase = 2
            self._check_checkpoints()

    def _check_structure(
        self, seq: int, data: bytes, stored: StoredColumns | None
    ) -> tuple[ParsedEntry, str, bytes]:
        """The row, canonical form, links and times of one entry; (parsed, hash, leaf)."""
        if stored is not None and stored.seq != seq:
            raise VerificationError(f"seq gap: expected seq {seq}, found seq {stored.seq}", seq)
        entry_hash = hashlib.sha256(data).hexdigest()
        leaf = hashlib.sha256(b"\x00" + data).digest()
        parsed = parse_entry(data, seq)
        if parsed.seq != seq:
            raise VerificationError(f"entry bytes say seq {parsed.seq}, expected {seq}", seq)
        if stored is not None:  # integrity of the row first: edited bytes say so, not "bad co2e"
            _check_stored(stored, parsed.kind, parsed.recorded_at, parsed.prev, entry_hash, leaf)
        if parsed.prev != self.prev:
            raise VerificationError(
                f"prev link broken: entry says prev {parsed.prev[:16]}…, previous entry hash is "
                f"{self.prev[:16]}…",
                seq,
            )
        if not _TIME_RE.match(parsed.recorded_at):
            raise VerificationError(f"recorded_at {parsed.recorded_at!r} is not RFC 3339 UTC", seq)
        if parsed.recorded_at < self.last_time:
            raise VerificationError(
                f"recorded_at {parsed.recorded_at} is earlier than the previous entry's "
                f"{self.last_time}",
                seq,
            )
        return parsed, entry_hash, leaf

    def _merkle_stream(self, level: int) -> Any:
        """The digest stream of Merkle nodes at ``level`` (cached: two lookups a leaf)."""
        stream = self._merkle_streams.get(level)
        if stream is None:
            stream = self._merkle_streams[level] = self.digests.stream(("merkle_nodes", level))
        return stream

    def _check_kind(
        self, seq: int, kind: str, payload: dict[str, Any], payload_bytes: bytes
    ) -> int | None:
        """Check signatures and semantics; return the covering submission seq."""
        sub = self.submission
        if kind in SUBMITTED_KINDS:
            if sub is None:
                raise VerificationError(f"{kind} entry is not covered by a submission", seq)
            if payload.get("supplier_id") != sub.supplier_id and kind != "record":
                raise VerificationError(
                    f"{kind} entry names supplier {payload.get('supplier_id')!r} but submission "
                    f"{sub.seq} is by {sub.supplier_id!r}",
                    seq,
                )
            if kind == "record" and payload.get("supplier_id") != sub.supplier_id:
                raise VerificationError(
                    f"record supplier {payload.get('supplier_id')!r} is not the submitter "
                    f"{sub.supplier_id!r}",
                    seq,
                )
            for level, idx, node in sub.tree.append(merkle.leaf_hash(payload_bytes))[1:]:
                stream = sub.streams.get(level)
                if stream is None:
                    key = ("submission_nodes", sub.seq, level)
                    stream = sub.streams[level] = self.digests.stream(key)
                stream.update(node_bytes(idx, node))
            sub.remaining -= 1
            self._check_rules(seq, kind, payload)
            if sub.remaining == 0:
                root = sub.tree.root().hex()
                if root != sub.records_root:
                    raise VerificationError(
                        f"records_root of submission {sub.seq} does not match its entries "
                        f"(computed {root[:16]}…, signed {sub.records_root[:16]}…)",
                        sub.seq,
                    )
                self.submission = None
            return sub.seq
        if sub is not None:
            raise VerificationError(
                f"submission {sub.seq} announced {sub.remaining} more entries, found a {kind}",
                seq,
            )
        if (seq == 0 and kind != "genesis") or (seq != 0 and kind == "genesis"):
            raise VerificationError("genesis must be exactly the first entry", seq)
        history = self.history
        if kind == "genesis":
            history.operator = keys.public_from_b64(payload["operator_public_key"])
            history.origin = payload["origin"]
        if RULES[kind].signer == "operator":
            assert history.operator is not None
            verify_operator_signature(history.operator, seq, kind, payload)
        self._check_rules(seq, kind, payload)
        if kind == "submission":
            count, root = payload.get("count"), payload.get("records_root", "")
            if not isinstance(count, int) or count < 1 or not _HEX64.match(str(root)):
                raise VerificationError("submission has a bad count or records_root", seq)
            self.submission = _Submission(
                seq, payload["supplier_id"], count, root, merkle.CompactRange()
            )
        return None

    def _check_rules(self, seq: int, kind: str, payload: dict[str, Any]) -> None:
        """The kind's own rule (ledger.kinds), given the history so far; then count it."""
        RULES[kind].check(self.history, seq, payload)
        self.history.count(kind)

    def _replay(self, kind: str, seq: int, payload: dict[str, Any], covering: int | None) -> None:
        if kind == "record" and covering is not None:
            # the bulk of every ledger: digest the row straight from the payload, with no
            # Insert or row dict on the way (record_key_of(...) == record_key(record_row(...)))
            self.digests.add(("records",), record_key_of(seq, covering, payload))
            if "supersedes" in payload:
                self.history.status[payload["supersedes"]] = ("superseded", seq)
            return
        for change in changes_for(kind, seq, payload, covering):
            if change.table == "records":
                if isinstance(change, Insert):
                    self.digests.add(("records",), record_key(change.row))
                else:
                    self.history.status[change.key] = (
                        str(change.values["status"]),
                        int(change.values["status_seq"]),
                    )
                continue
            table = self.tables[change.table]
            if isinstance(change, Insert):
                pk = tuple(change.row[k] for k in SMALL_TABLE_KEYS[change.table])
                table[pk] = dict(change.row)
            elif isinstance(change, Update):
                table[(change.key,)].update(change.values)

    def _check_checkpoints(self) -> None:
        while self.pending and self.pending[0].size == self.tree.size:
            cp = self.pending.pop(0)
            root = self.tree.root()
            if root != cp.root_hash:
                first = self.matched_size
                raise RootMismatch(
                    f"Merkle root at size {cp.size} is {root.hex()[:16]}… but {cp.label} says "
                    f"{cp.root_hash.hex()[:16]}…: history before it was rewritten, somewhere "
                    f"in seq {first}..{cp.size - 1} (every entry there checks out on its own; "
                    "a root cannot say which one changed)",
                    first,
                    cp.size,
                )
            self.matched_size = cp.size
            self.report.checks.append(f"root at size {cp.size} matches {cp.label}")

    def finish(self) -> VerifyReport:
        self.position, self.phase = self.expected_seq, 3
        if self.semantics and self.submission is not None:
            raise VerificationError(
                f"submission {self.submission.seq} is missing {self.submission.remaining} "
                "entries: the ledger ends inside it",
                self.expected_seq,
            )
        self.phase = 4
        if self.structure and self.pending:
            cp = self.pending[0]
            raise VerificationError(
                f"{cp.label} covers {cp.size} entries but the ledger has only "
                f"{self.tree.size}: entries were cut off",
                self.tree.size,
            )
        counts = self.history.counts
        for name, kind in _COUNTED.items():
            setattr(self.report, name, counts.get(kind, 0))
        self.report.tree_size = self.tree.size
        self.report.root_hash = self.tree.root().hex()
        return self.report


def _check_stored(
    stored: StoredColumns,
    kind: str,
    recorded_at: str,
    prev: str,
    entry_hash: str,
    leaf: bytes,
) -> None:
    seq = stored.seq
    if stored.entry_hash != entry_hash:
        raise VerificationError("entry_hash column does not match the entry bytes", seq)
    for name, want, have in (
        ("kind", kind, stored.kind),
        ("recorded_at", recorded_at, stored.recorded_at),
        ("prev_hash", prev, stored.prev_hash),
        ("leaf_hash", leaf, bytes(stored.leaf_hash)),
    ):
        if want != have:
            raise VerificationError(f"{name} column does not match the entry bytes", seq)


def node_bytes(idx: int, node: bytes) -> bytes:
    return b"%d:" % idx + bytes(node)


#: the derived columns of a records row, in the order they are digested
RECORD_DIGEST_FIELDS = ("seq", "submission_seq", *RECORD_INDEX_FIELDS)


def record_key(row: Mapping[str, Any]) -> bytes:
    """Bytes of a record index row's derived (static) columns, for digest comparison."""
    return repr(tuple(row.get(k) for k in RECORD_DIGEST_FIELDS)).encode("utf-8")


def record_key_of(seq: int, submission_seq: int, payload: dict[str, Any]) -> bytes:
    """:func:`record_key` of the row a record payload indexes to, without building the row:
    ``record_row`` is ``seq``, ``submission_seq`` and ``record_values`` under the names of
    RECORD_DIGEST_FIELDS, in that order."""
    return repr((seq, submission_seq, *record_values(payload))).encode("utf-8")


class OrderedDigests:
    """One running SHA-256 per stream, each stream fed in a fixed order.

    Index tables are compared with the replay by digest, not row by row in memory: records
    stream in seq order, Merkle nodes per level in index order (the order both the replay
    emits them and ``ORDER BY`` returns them). A mismatch names the stream; the slow path
    then locates the first differing row.
    """

    def __init__(self) -> None:
        self._streams: dict[tuple[Any, ...], Any] = {}
        self._taken: dict[tuple[Any, ...], bytes] = {}

    def add(self, key: tuple[Any, ...], data: bytes) -> None:
        self.stream(key).update(data)

    def stream(self, key: tuple[Any, ...]) -> Any:
        """The running SHA-256 of one stream (created empty on first use), to feed directly."""
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = hashlib.sha256()
        return stream

    def results(self) -> dict[tuple[Any, ...], bytes]:
        return {**self._taken, **{k: h.digest() for k, h in self._streams.items()}}

    def take(self, results: Mapping[tuple[Any, ...], bytes]) -> None:
        """Adopt finished streams from another process (the other half of a split audit)."""
        self._taken.update(results)


def open_checkpoint_note(
    text: str, origin: str, operator: Ed25519PublicKey, label: str
) -> SeenCheckpoint:
    """Verify a checkpoint note's signature and origin; return its size and root."""
    try:
        cp = note.open_checkpoint(text, origin, operator)
    except ProofError as exc:
        raise ProofError(f"{label}: {exc}") from exc
    if cp.origin != origin:
        raise ProofError(f"{label} is for origin {cp.origin!r}, not this ledger ({origin!r})")
    return SeenCheckpoint(cp.size, cp.root_hash, label)


# ---- feeding ------------------------------------------------------------------------------

Batch = list[tuple[bytes, StoredColumns | None]]


def feed_all(
    verifier: ChainVerifier,
    batches: Iterable[Batch],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Feed entries in order, batch by batch (a batch is what the store reads at a time).

    Handing decoded entries from worker processes to one replaying process cost more than
    decoding them (``verify --jobs 2`` was 1.4x slower than one that way); ``verify --jobs``
    now runs two halves of the audit side by side instead (``ChainVerifier``'s ``part``,
    :func:`ledger.audit.verify_database`), each feeding its own copy of the entries here.
    """
    for batch in batches:
        for data, stored in batch:
            verifier.feed(data, stored)
        if progress is not None:
            progress(len(batch))
