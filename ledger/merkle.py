"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and strict proof verification.

The ledger is only as trustworthy as the proofs a third party can check with an independent
implementation, so every hash here is byte-for-byte the CT/transparency-dev construction:
leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), empty = SHA-256("").

Proofs are described first as lists of leaf ranges ``[start, end)`` (one per proof element,
straight from the RFC definitions) and only then hashed. The in-memory functions hash the
ranges from a list of leaf hashes; the plan functions map the same ranges onto the stored
complete subtrees, so a database can serve any proof from one query without rehashing leaves.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias

from ledger.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range: TypeAlias = tuple[int, int]
# A stored complete subtree (level, index): the hash of leaves [index << level, (index+1) << level).
NodeId: TypeAlias = tuple[int, int]
Plan: TypeAlias = list[list[NodeId]]  # per output hash, the complete subtrees to fold
NodeFetcher: TypeAlias = Callable[[set[NodeId]], Mapping[NodeId, bytes]]


def leaf_hash(data: bytes) -> bytes:
    """Hash a leaf with the 0x00 prefix so a leaf can never pass for an interior node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children with the 0x01 prefix (domain separation from leaves)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash of ``leaf_hashes``, bottom-up level by level.

    Carrying an unpaired last node up to the next level unchanged yields exactly the RFC
    6962 tree (left subtree = largest power of two), without recursion or slice copies, which
    matters for trees of millions of leaves.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [
            sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def split_point(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``): RFC 6962's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Leaf ranges of the RFC 9162 §2.1.3.1 PATH(index, D[size]) elements, leaf to root.

    Raises ProofError unless ``0 <= index < size``.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + split_point(end - start)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start = mid
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """Leaf ranges of the RFC 9162 §2.1.4.1 PROOF(old_size, D[new_size]) elements.

    Equal sizes give no elements. Raises ProofError unless ``0 < old_size <= new_size``:
    a proof from the empty tree proves nothing, so the ledger refuses to pretend it does.
    """
    if not 0 < old_size <= new_size:
        raise ProofError(
            f"no consistency proof from size {old_size} to size {new_size}: "
            "need 0 < old size <= new size"
        )
    ranges: list[Range] = []
    start, end, whole_old_subtree = 0, new_size, True
    while end != old_size:
        mid = start + split_point(end - start)
        if old_size <= mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((start, mid))
            start, whole_old_subtree = mid, False
    if not whole_old_subtree:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof for leaf ``index`` in the tree of ``leaf_hashes``."""
    return [root_hash(leaf_hashes[a:b]) for a, b in inclusion_ranges(index, len(leaf_hashes))]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.4.1 proof that the ``old_size`` prefix is a prefix of ``leaf_hashes``."""
    ranges = consistency_ranges(old_size, len(leaf_hashes))
    return [root_hash(leaf_hashes[a:b]) for a, b in ranges]


def _short(digest: bytes) -> str:
    """Abbreviated hex for error messages: enough to tell hashes apart, short enough to read."""
    text = digest.hex()
    return text if len(text) <= 16 else text[:16] + ".."


def _check_hash(what: str, digest: bytes) -> None:
    """Reject anything that is not a 32-byte SHA-256 value before it reaches the hashing."""
    if len(digest) != HASH_SIZE:
        raise ProofError(f"{what} is {len(digest)} bytes, expected {HASH_SIZE}")


def _check_proof(kind: str, proof: Sequence[bytes], expected: int) -> None:
    """Enforce the exact proof length and element size that the sizes imply."""
    if len(proof) != expected:
        raise ProofError(f"{kind} proof has {len(proof)} nodes, expected {expected}")
    for i, element in enumerate(proof):
        _check_hash(f"{kind} proof node {i}", element)


def _check_root(what: str, computed: bytes, expected: bytes) -> None:
    """Compare a recomputed root with the trusted one and say both when they differ."""
    if computed != expected:
        raise ProofError(
            f"{what} mismatch: computed {_short(computed)} expected {_short(expected)}"
        )


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift both counters until ``fn`` is odd or zero (RFC 9162 verification step)."""
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def _shift_odd(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift both counters while ``fn`` is odd (RFC 9162 §2.1.4.2 step 4)."""
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof with the RFC 9162 §2.1.3.2 algorithm; raise ProofError."""
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root hash", root)
    _check_proof("inclusion", proof, len(inclusion_ranges(index, size)))
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_while_even(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is high")
    _check_root("root", r, root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof with the RFC 9162 §2.1.4.2 algorithm; raise ProofError.

    Equal sizes need an empty proof and identical roots (compared as given, as the RFC and
    the upstream test vectors do). Otherwise both roots must be 32-byte hashes.
    """
    expected = len(consistency_ranges(old_size, new_size))
    if old_size == new_size:
        _check_proof("consistency", proof, 0)
        if old_root != new_root:
            raise ProofError(
                f"trees of equal size {old_size} have different roots: "
                f"{_short(old_root)} and {_short(new_root)}"
            )
        return
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_proof("consistency", proof, expected)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = _shift_odd(old_size - 1, new_size - 1)
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the tree is high")
    _check_root("old root", fr, old_root)
    _check_root("new root", sr, new_root)


# --- Storage-backed trees: compact ranges and proof plans -----------------------------------


def peak_positions(size: int) -> list[NodeId]:
    """(level, index) of the complete subtrees that make up a tree of ``size``, largest first.

    A store keeps only complete subtrees, so this is what it must load to rebuild a
    :class:`CompactRange` (or a root) at any size.
    """
    if size < 0:
        raise ProofError(f"tree size {size} is negative")
    return _decompose(0, size)


def _decompose(start: int, end: int) -> list[NodeId]:
    """Split a tree node's range ``[start, end)`` into complete subtrees, left to right.

    One subtree per set bit of the length, largest first. Every range an RFC 6962 tree
    contains starts at a multiple of its largest such subtree, so these are stored nodes, and
    their right-to-left ``node_hash`` fold is exactly that node's hash.
    """
    length = end - start
    nodes: list[NodeId] = []
    for level in range(length.bit_length() - 1, -1, -1):
        if length >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Right-to-left fold of subtree hashes: the hash of the (possibly ragged) range."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


class CompactRange:
    """The right frontier of a tree: one hash per set bit of ``size``, largest subtree first.

    Appending needs only these peaks, and each append reports every complete subtree it
    finishes, so a store can persist all (level, index) nodes incrementally and serve proofs.
    """

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ProofError(f"tree size {size} is negative")
        if len(peaks) != size.bit_count():
            raise ProofError(f"size {size} needs {size.bit_count()} peaks, got {len(peaks)}")
        for i, peak in enumerate(peaks):
            _check_hash(f"peak {i}", peak)
        self._size = size
        self._peaks = list(peaks)

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def peaks(self) -> tuple[bytes, ...]:
        """Hashes of the complete subtrees at :func:`peak_positions` of :attr:`size`."""
        return tuple(self._peaks)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; return the (level, index, hash) of every subtree it completed."""
        _check_hash("leaf hash", leaf_hash)
        index, level, acc = self._size, 0, leaf_hash
        completed = [(0, index, leaf_hash)]
        while index & 1:
            acc = node_hash(self._peaks.pop(), acc)
            index, level = index >> 1, level + 1
            completed.append((level, index, acc))
        self._peaks.append(acc)
        self._size += 1
        return completed

    def root(self) -> bytes:
        """Root hash of the tree so far (SHA-256 of nothing when empty)."""
        return _fold(self._peaks)


def root_plan(size: int) -> Plan:
    """Plan for the root hash of a tree of ``size`` (one element; empty list if size is 0)."""
    return [peak_positions(size)]


def inclusion_plan(index: int, size: int) -> Plan:
    """Plan for the inclusion proof of leaf ``index`` in a tree of ``size``."""
    return [_decompose(a, b) for a, b in inclusion_ranges(index, size)]


def consistency_plan(old_size: int, new_size: int) -> Plan:
    """Plan for the consistency proof from ``old_size`` to ``new_size``."""
    return [_decompose(a, b) for a, b in consistency_ranges(old_size, new_size)]


def plan_nodes(plan: Plan) -> set[NodeId]:
    """Every stored node a plan needs: what one database query must fetch."""
    return {node for element in plan for node in element}


def assemble(plan: Plan, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Fold fetched subtree hashes into the plan's output hashes, in plan order."""
    out: list[bytes] = []
    for element in plan:
        hashes: list[bytes] = []
        for level, index in element:
            digest = nodes.get((level, index))
            if digest is None:
                raise ProofError(f"stored tree lacks node (level {level}, index {index})")
            _check_hash(f"stored node (level {level}, index {index})", digest)
            hashes.append(digest)
        out.append(_fold(hashes))
    return out


def _run(plan: Plan, get_nodes: NodeFetcher) -> list[bytes]:
    """Fetch a plan's nodes in one call and assemble them."""
    return assemble(plan, get_nodes(plan_nodes(plan)))


def root_hash_from(size: int, get_nodes: NodeFetcher) -> bytes:
    """Root hash of a stored tree of ``size`` from its complete subtrees."""
    return _run(root_plan(size), get_nodes)[0]


def inclusion_proof_from(index: int, size: int, get_nodes: NodeFetcher) -> list[bytes]:
    """Inclusion proof for leaf ``index`` of a stored tree of ``size``."""
    return _run(inclusion_plan(index, size), get_nodes)


def consistency_proof_from(old_size: int, new_size: int, get_nodes: NodeFetcher) -> list[bytes]:
    """Consistency proof from ``old_size`` to ``new_size`` of a stored tree."""
    return _run(consistency_plan(old_size, new_size), get_nodes)


# --- Multiproofs: many leaves against one root ------------------------------------------------


def _holds(indices: Sequence[int], start: int, end: int) -> bool:
    """Whether sorted ``indices`` has a member in ``[start, end)``."""
    at = bisect.bisect_left(indices, start)
    return at < len(indices) and indices[at] < end


def multiproof_plan(indices: Sequence[int], size: int) -> set[NodeId]:
    """The complete subtrees that, with the leaves at ``indices``, determine the root.

    Walking the RFC 6962 tree from the root, a range holding none of the leaves is supplied
    as its complete-subtree decomposition; a range holding some is split further. For k
    leaves this is at most k·log2(n) nodes and far fewer when the leaves cluster, which is
    why a label proving 10^4 entries stays compact.
    """
    leaves = sorted(set(indices))
    if leaves and (leaves[0] < 0 or leaves[-1] >= size):
        raise ProofError(f"leaf index out of range for tree size {size}")
    out: set[NodeId] = set()

    def walk(start: int, end: int) -> None:
        if not _holds(leaves, start, end):
            out.update(_decompose(start, end))
        elif bisect.bisect_left(leaves, end) - bisect.bisect_left(leaves, start) == end - start:
            return  # every leaf of the range is given: it needs no node (runs of records)
        elif end - start > 1:
            mid = start + split_point(end - start)
            walk(start, mid)
            walk(mid, end)

    if size:
        walk(0, size)
    return out


def root_from_multiproof(
    leaves: Mapping[int, bytes], size: int, nodes: Mapping[NodeId, bytes]
) -> bytes:
    """Root hash computed from the given leaves and complementary subtree hashes.

    Every given leaf is used (ranges holding a leaf are always split down to it, never taken
    from ``nodes``), so a root match proves each leaf sits at its index in that tree.
    """
    indices = sorted(leaves)
    if indices and (indices[0] < 0 or indices[-1] >= size):
        raise ProofError(f"leaf index out of range for tree size {size}")
    for index in indices:
        _check_hash(f"leaf hash {index}", leaves[index])

    def walk(start: int, end: int) -> bytes:
        if not _holds(indices, start, end):
            hashes = []
            for level, index in _decompose(start, end):
                digest = nodes.get((level, index))
                if digest is None:
                    raise ProofError(f"multiproof lacks node (level {level}, index {index})")
                _check_hash(f"node (level {level}, index {index})", digest)
                hashes.append(digest)
            return _fold(hashes)
        if end - start == 1:
            return leaves[start]
        if bisect.bisect_left(indices, end) - bisect.bisect_left(indices, start) == end - start:
            # every leaf of the range is given (a label's records sit in runs): the same
            # RFC 6962 subtree, hashed in one tight loop instead of 2·(end - start) calls
            return root_hash([leaves[i] for i in range(start, end)])
        mid = start + split_point(end - start)
        return node_hash(walk(start, mid), walk(mid, end))

    return walk(0, size) if size else EMPTY_ROOT


def verify_multiproof(
    leaves: Mapping[int, bytes], size: int, nodes: Mapping[NodeId, bytes], root: bytes
) -> None:
    """Raise ProofError unless the leaves and nodes reproduce ``root``."""
    _check_hash("root", root)
    computed = root_from_multiproof(leaves, size, nodes)
    _check_root("multiproof", computed, root)
