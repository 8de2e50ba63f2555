"""Tests for ledger.merkle against published RFC 6962 vectors and an independent reference.

The vectors come from transparency-dev/merkle (see the ``source`` key of the JSON file). The
reference implementation below is written straight from the recursive RFC 6962 §2.1
definitions (MTH, PATH, SUBPROOF) and shares no code with the module under test.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.errors import ProofError
from ledger.merkle import (
    CompactRange,
    NodeId,
    assemble,
    consistency_plan,
    consistency_proof,
    consistency_proof_from,
    inclusion_plan,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    node_hash,
    peak_positions,
    plan_nodes,
    root_hash,
    root_hash_from,
    root_plan,
    verify_consistency,
    verify_inclusion,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "rfc6962_vectors.json").read_text(encoding="utf-8")
)
H = bytes.fromhex


# --- Reference implementation: RFC 6962 §2.1, recursive, on leaf hashes ---------------------


def ref_k(n: int) -> int:
    """Largest power of two strictly less than n (n > 1), computed the slow obvious way."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves."""
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = ref_k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]); empty when m == n."""
    return ref_subproof(m, d, True)


def ref_sides(m: int, n: int) -> list[str]:
    """Which side each PATH(m, D[n]) sibling is on, leaf first: the proof's shape."""
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_sides(m, k), "R"]
    return [*ref_sides(m - k, n - k), "L"]


def ref_subproof_shape(m: int, n: int, b: bool) -> list[str]:
    """Shape of SUBPROOF(m, D[n], b): where each element sits, mirroring the recursion."""
    if m == n:
        return [] if b else ["old-subtree"]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof_shape(m, k, b), "R"]
    return [*ref_subproof_shape(m - k, n - k, False), "L"]


# --- Helpers ----------------------------------------------------------------------------------


def random_leaves(n: int, seed: int) -> list[bytes]:
    """Deterministic pseudo-random leaf hashes (real leaf hashes of random data)."""
    rng = random.Random(seed)
    return [leaf_hash(rng.randbytes(rng.randrange(0, 40))) for _ in range(n)]


LEAVES = random_leaves(4100, seed=6962)
VECTOR_LEAVES = [leaf_hash(H(x)) for x in VECTORS["leaves_hex"]]


def _extend(cr: CompactRange, leaves: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
    """Append ``leaves`` one by one; every completed subtree in creation order."""
    return [node for leaf in leaves for node in cr.append(leaf)]


def all_nodes(leaves: Sequence[bytes]) -> dict[NodeId, bytes]:
    """Every complete subtree of the tree, as a store would hold them (via CompactRange)."""
    cr = CompactRange()
    return {(level, index): h for level, index, h in _extend(cr, leaves)}


class CountingStore:
    """A node store that records each query, to check that a proof costs one fetch."""

    def __init__(self, nodes: Mapping[NodeId, bytes]) -> None:
        self.nodes = nodes
        self.queries: list[set[NodeId]] = []

    def __call__(self, wanted: set[NodeId]) -> Mapping[NodeId, bytes]:
        self.queries.append(set(wanted))
        missing = wanted - self.nodes.keys()
        assert not missing, f"plan asked for nodes the store cannot have: {sorted(missing)}"
        return {node: self.nodes[node] for node in wanted}


def flip_bit(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- Published vectors ------------------------------------------------------------------------


def test_vector_file_documents_its_source() -> None:
    assert VECTORS["source"]["repo"] == "github.com/transparency-dev/merkle"
    assert VECTORS["hash"] == "sha256"


@pytest.mark.parametrize("case", VECTORS["hasher_vectors"], ids=lambda c: c["desc"])
def test_hasher_vectors(case: dict[str, str]) -> None:
    if "left_hex" in case:
        got = node_hash(H(case["left_hex"]), H(case["right_hex"]))
    elif "leaf_hex" in case:
        got = leaf_hash(H(case["leaf_hex"]))
    else:
        got = root_hash([])
    assert got.hex() == case["expected"]


def test_vector_leaf_hashes() -> None:
    assert [h.hex() for h in VECTOR_LEAVES] == VECTORS["leaf_hashes"]


@pytest.mark.parametrize("size", sorted(int(s) for s in VECTORS["roots"]))
def test_vector_roots(size: int) -> None:
    expected = VECTORS["roots"][str(size)]
    assert root_hash(VECTOR_LEAVES[:size]).hex() == expected
    cr = CompactRange()
    _extend(cr, VECTOR_LEAVES[:size])
    assert cr.root().hex() == expected
    assert root_hash_from(size, CountingStore(all_nodes(VECTOR_LEAVES))).hex() == expected


def test_vector_node_hashes_are_the_stored_complete_subtrees() -> None:
    expected = {
        (level, index): h
        for level, row in enumerate(VECTORS["node_hashes_by_level"])
        for index, h in enumerate(row)
    }
    got = {node: h.hex() for node, h in all_nodes(VECTOR_LEAVES).items()}
    assert got == expected


def _inclusion_tree(case: dict[str, Any]) -> list[bytes]:
    """The tree a positive inclusion vector was generated from."""
    if case["size"] == 1:
        return [H(case["leaf_hash"])]
    return VECTOR_LEAVES[: case["size"]]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["source_file"])
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    path = [H(p) for p in case["path"]]
    tree = _inclusion_tree(case)
    assert root_hash(tree).hex() == case["root"]
    assert tree[case["index"]].hex() == case["leaf_hash"]
    assert inclusion_proof(case["index"], tree) == path
    assert inclusion_proof_from(case["index"], case["size"], CountingStore(all_nodes(tree))) == path
    verify_inclusion(H(case["leaf_hash"]), case["index"], case["size"], path, H(case["root"]))


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["source_file"])
def test_consistency_vectors(case: dict[str, Any]) -> None:
    size1, size2 = case["size1"], case["size2"]
    proof = [H(p) for p in case["proof"]]
    root1, root2 = H(case["root1"]), H(case["root2"])
    tree = VECTOR_LEAVES[:size2]
    assert consistency_proof(size1, tree) == proof
    assert consistency_proof_from(size1, size2, CountingStore(all_nodes(tree))) == proof
    if len(root1) == 32:  # one upstream vector uses placeholder roots ("don't care")
        assert root_hash(tree[:size1]) == root1
        assert root_hash(tree) == root2
    verify_consistency(size1, size2, root1, root2, proof)


@pytest.mark.parametrize(
    "case", VECTORS["inclusion_negative"], ids=lambda c: f"{c['source_file']}:{c['desc']}"
)
def test_inclusion_negative_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(
            H(case["leaf_hash"]),
            case["index"],
            case["size"],
            [H(p) for p in case["path"]],
            H(case["root"]),
        )


@pytest.mark.parametrize(
    "case", VECTORS["consistency_negative"], ids=lambda c: f"{c['source_file']}:{c['desc']}"
)
def test_consistency_negative_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(ProofError):
        verify_consistency(
            case["size1"],
            case["size2"],
            H(case["root1"]),
            H(case["root2"]),
            [H(p) for p in case["proof"]],
        )


# --- Agreement with the reference implementation ----------------------------------------------


@pytest.mark.parametrize("size", [*range(301), 511, 512, 513, 1000, 1023, 1024, 1025, 4097])
def test_root_matches_reference(size: int) -> None:
    assert root_hash(LEAVES[:size]) == ref_mth(LEAVES[:size])


@pytest.mark.parametrize("size", range(1, 34))
def test_all_proofs_match_reference_small_trees(size: int) -> None:
    tree = LEAVES[:size]
    root = ref_mth(tree)
    for index in range(size):
        proof = inclusion_proof(index, tree)
        assert proof == ref_path(index, tree)
        verify_inclusion(tree[index], index, size, proof, root)
    for old in range(1, size + 1):
        proof = consistency_proof(old, tree)
        assert proof == ref_proof(old, tree)
        verify_consistency(old, size, ref_mth(tree[:old]), root, proof)


SIZES = st.one_of(
    st.integers(min_value=1, max_value=300),
    st.sampled_from([511, 512, 513, 1000, 1023, 1024, 1025, 2048, 4097]),
)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_proofs_match_reference_random(data: st.DataObject) -> None:
    size = data.draw(SIZES, label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old")
    tree = LEAVES[:size]
    root = ref_mth(tree)
    proof = inclusion_proof(index, tree)
    assert proof == ref_path(index, tree)
    verify_inclusion(tree[index], index, size, proof, root)
    cproof = consistency_proof(old, tree)
    assert cproof == ref_proof(old, tree)
    verify_consistency(old, size, ref_mth(tree[:old]), root, cproof)


# --- CompactRange -----------------------------------------------------------------------------


def test_compact_range_matches_reference_after_every_append() -> None:
    cr = CompactRange()
    emitted: set[NodeId] = set()
    for n, leaf in enumerate(LEAVES[:300], start=1):
        created = cr.append(leaf)
        assert created[0] == (0, n - 1, leaf)
        for level, index, h in created:
            assert (level, index) not in emitted
            emitted.add((level, index))
            assert h == ref_mth(LEAVES[index << level : (index + 1) << level])
        assert cr.size == n
        assert cr.root() == ref_mth(LEAVES[:n])
        positions = peak_positions(n)
        assert cr.peaks == tuple(ref_mth(LEAVES[i << lv : (i + 1) << lv]) for lv, i in positions)
        complete = {(lv, i) for lv in range(n.bit_length()) for i in range(n >> lv)}
        assert emitted == complete


def test_compact_range_rebuilt_from_stored_peaks_continues_identically() -> None:
    nodes = all_nodes(LEAVES[:777])
    for size in (0, 1, 5, 64, 100, 777):
        peaks = [nodes[p] for p in peak_positions(size)]
        rebuilt = CompactRange(size, peaks)
        assert rebuilt.root() == root_hash(LEAVES[:size])
        created = _extend(rebuilt, LEAVES[size:1000])
        fresh = CompactRange()
        fresh_created = _extend(fresh, LEAVES[:1000])
        assert rebuilt.root() == fresh.root() == ref_mth(LEAVES[:1000])
        assert set(created) <= set(fresh_created)
        assert {(lv, i) for lv, i, _ in created} == {
            (lv, i) for lv, i, _ in fresh_created if ((i + 1) << lv) > size
        }


def test_compact_range_empty_and_bad_construction() -> None:
    assert CompactRange().root() == hashlib.sha256(b"").digest()
    assert peak_positions(0) == []
    assert peak_positions(13) == [(3, 0), (2, 2), (0, 12)]
    with pytest.raises(ProofError):
        CompactRange(3, [LEAVES[0]])
    with pytest.raises(ProofError):
        CompactRange(1, [b"\x00" * 31])
    with pytest.raises(ProofError):
        CompactRange().append(b"\x00" * 33)


# --- Storage-backed plans ---------------------------------------------------------------------

STORE_LEAVES = LEAVES[:1100]
STORE_NODES = all_nodes(STORE_LEAVES)


def _plan_bound(size: int) -> int:
    """O(log^2 n): at most (log2 n + 1) elements of at most (log2 n + 1) subtrees each."""
    return (size.bit_length() + 1) ** 2


@pytest.mark.parametrize("size", range(70))
def test_plans_match_in_memory_exhaustive(size: int) -> None:
    tree = STORE_LEAVES[:size]
    store = CountingStore(STORE_NODES)
    assert root_hash_from(size, store) == root_hash(tree)
    for index in range(size):
        store = CountingStore(STORE_NODES)
        assert inclusion_proof_from(index, size, store) == inclusion_proof(index, tree)
        assert len(store.queries) == 1
    for old in range(1, size + 1):
        store = CountingStore(STORE_NODES)
        assert consistency_proof_from(old, size, store) == consistency_proof(old, tree)
        assert len(store.queries) == 1


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 1100), data=st.data())
def test_plans_match_in_memory_random(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(1, size), label="old")
    tree = STORE_LEAVES[:size]
    store = CountingStore(STORE_NODES)
    assert inclusion_proof_from(index, size, store) == ref_path(index, tree)
    assert consistency_proof_from(old, size, store) == ref_proof(old, tree)
    assert root_hash_from(size, store) == ref_mth(tree)
    assert len(store.queries) == 3
    assert all(len(q) <= _plan_bound(size) for q in store.queries)


def test_plan_sizes_stay_logarithmic_for_a_million_leaves() -> None:
    size = 1_000_003
    for plan in (
        root_plan(size),
        inclusion_plan(123_457, size),
        inclusion_plan(size - 1, size),
        consistency_plan(999_999, size),
        consistency_plan(1, size),
    ):
        nodes = plan_nodes(plan)
        assert 0 < len(nodes) <= _plan_bound(size)
        assert all(((i + 1) << lv) <= size for lv, i in nodes)


def test_assemble_reports_missing_and_malformed_nodes() -> None:
    plan = inclusion_plan(3, 10)
    nodes = {n: STORE_NODES[n] for n in plan_nodes(plan)}
    assert assemble(plan, nodes) == inclusion_proof(3, STORE_LEAVES[:10])
    victim = min(nodes)
    with pytest.raises(ProofError, match="lacks node"):
        assemble(plan, {n: h for n, h in nodes.items() if n != victim})
    with pytest.raises(ProofError, match="bytes, expected 32"):
        assemble(plan, {**nodes, victim: nodes[victim][:31]})


# --- Adversarial verification -----------------------------------------------------------------


@pytest.mark.parametrize(("size", "index"), [(2, 1), (7, 6), (37, 12), (64, 63), (100, 0)])
def test_inclusion_tampering_is_detected(size: int, index: int) -> None:
    tree = LEAVES[:size]
    root, leaf = root_hash(tree), tree[index]
    proof = inclusion_proof(index, tree)
    verify_inclusion(leaf, index, size, proof, root)
    for i, node in enumerate(proof):
        for bit in range(256):
            bad = [*proof[:i], flip_bit(node, bit), *proof[i + 1 :]]
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, size, bad, root)
    for bit in range(256):
        with pytest.raises(ProofError):
            verify_inclusion(flip_bit(leaf, bit), index, size, proof, root)
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, proof, flip_bit(root, bit))
    for wrong_index in {*range(size + 2), -1} - {index}:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, wrong_index, size, proof, root)
    # A proof only fixes the tree's shape along the path, not its exact size (the signed
    # checkpoint does that): a wrong size must be rejected exactly when the shape differs.
    rejected = 0
    for wrong_size in {0, size - 1, size + 1, 2 * size, size // 2, index + 1} - {size}:
        if wrong_size > index and ref_sides(index, wrong_size) == ref_sides(index, size):
            verify_inclusion(leaf, index, wrong_size, proof, root)
            continue
        rejected += 1
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, wrong_size, proof, root)
    assert rejected >= 3
    for bad in (
        [*proof, proof[0] if proof else root],
        [root, *proof],
        proof[1:],
        proof[:-1],
        [*proof[:-1], proof[-1][:31]] if proof else [b"\x00" * 31],
    ):
        if bad != proof:
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, size, bad, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf[:31], index, size, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root[:31])


@pytest.mark.parametrize(("old", "new"), [(1, 2), (3, 7), (4, 8), (13, 37), (63, 64), (64, 100)])
def test_consistency_tampering_is_detected(old: int, new: int) -> None:
    tree = LEAVES[:new]
    old_root, new_root = root_hash(tree[:old]), root_hash(tree)
    proof = consistency_proof(old, tree)
    verify_consistency(old, new, old_root, new_root, proof)
    for i, node in enumerate(proof):
        for bit in range(256):
            bad = [*proof[:i], flip_bit(node, bit), *proof[i + 1 :]]
            with pytest.raises(ProofError):
                verify_consistency(old, new, old_root, new_root, bad)
    for bit in range(0, 256, 7):
        with pytest.raises(ProofError):
            verify_consistency(old, new, flip_bit(old_root, bit), new_root, proof)
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, flip_bit(new_root, bit), proof)
    # As for inclusion, sizes are bound by the signed roots; the proof fixes only its shape.
    shape = ref_subproof_shape(old, new, True)
    rejected = 0
    for wrong_old, wrong_new in [
        (old - 1, new),
        (old + 1, new),
        (old, new + 1),
        (old, new - 1),
        (old, 2 * new),
        (old ^ 2, new),
    ]:
        if (wrong_old, wrong_new) == (old, new):
            continue
        if 0 < wrong_old < wrong_new and ref_subproof_shape(wrong_old, wrong_new, True) == shape:
            verify_consistency(wrong_old, wrong_new, old_root, new_root, proof)
            continue
        rejected += 1
        with pytest.raises(ProofError):
            verify_consistency(wrong_old, wrong_new, old_root, new_root, proof)
    assert rejected >= 3
    for bad in ([*proof, proof[0]], [old_root, *proof], proof[1:], proof[:-1]):
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, new_root, bad)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, [*proof[:-1], proof[-1][:31]])
    with pytest.raises(ProofError):
        verify_consistency(old, new, new_root, old_root, proof)


def test_consistency_argument_rules() -> None:
    root5 = root_hash(LEAVES[:5])
    verify_consistency(5, 5, root5, root5, [])
    with pytest.raises(ProofError, match="has 1 nodes, expected 0"):
        verify_consistency(5, 5, root5, root5, [root5])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(5, 5, root5, root_hash(LEAVES[:4]), [])
    with pytest.raises(ProofError, match="0 < old size"):
        verify_consistency(0, 5, hashlib.sha256(b"").digest(), root5, [])
    with pytest.raises(ProofError, match="0 < old size"):
        verify_consistency(6, 5, root5, root5, [])
    with pytest.raises(ProofError):
        consistency_proof(0, LEAVES[:5])
    with pytest.raises(ProofError):
        consistency_proof(6, LEAVES[:5])
    assert consistency_proof(5, LEAVES[:5]) == []
    with pytest.raises(ProofError):
        inclusion_proof(5, LEAVES[:5])
    with pytest.raises(ProofError):
        inclusion_proof(0, [])


def test_error_messages_say_what_is_wrong() -> None:
    tree = LEAVES[:16]
    proof = inclusion_proof(5, tree)
    root = root_hash(tree)
    with pytest.raises(ProofError, match=r"^inclusion proof has 3 nodes, expected 4$"):
        verify_inclusion(tree[5], 5, 16, proof[:3], root)
    with pytest.raises(ProofError, match=r"^root mismatch: computed [0-9a-f]{16}\.\. expected "):
        verify_inclusion(tree[6], 5, 16, proof, root)
    with pytest.raises(ProofError, match=r"inclusion proof node 2 is 31 bytes, expected 32"):
        verify_inclusion(tree[5], 5, 16, [*proof[:2], proof[2][:31], proof[3]], root)
    with pytest.raises(ProofError, match=r"leaf index 16 is outside a tree of size 16"):
        verify_inclusion(tree[5], 16, 16, proof, root)


def test_interior_node_does_not_verify_as_a_leaf() -> None:
    """Second preimage: the 0x00/0x01 prefixes keep interior nodes and leaves apart."""
    leaves = LEAVES[:4]
    h01, h23 = node_hash(leaves[0], leaves[1]), node_hash(leaves[2], leaves[3])
    root = root_hash(leaves)
    assert root == node_hash(h01, h23)
    # The concatenated children submitted as leaf *data* hash to something else entirely.
    forged_leaf = leaf_hash(leaves[0] + leaves[1])
    assert forged_leaf != h01
    with pytest.raises(ProofError):
        verify_inclusion(forged_leaf, 0, 2, [h23], root)
    # The interior node itself, claimed as leaf 0 or 1 of the real 4-leaf tree, fails.
    for index in (0, 1):
        with pytest.raises(ProofError):
            verify_inclusion(h01, index, 4, [h23], root)
        with pytest.raises(ProofError):
            verify_inclusion(h01, index, 4, [leaves[1 - index], h23], root)


def test_root_hash_is_iterative_and_matches_compact_range_on_large_tree() -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(200_003)]
    cr = CompactRange()
    _extend(cr, leaves)
    assert root_hash(leaves) == cr.root()


# --- multiproofs ---------------------------------------------------------------------------


def _complete_nodes(leaf_hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree hash of a tree, as a store would hold them."""
    nodes = {(0, i): h for i, h in enumerate(leaf_hashes)}
    level, current = 0, list(leaf_hashes)
    while len(current) > 1:
        level += 1
        current = [
            merkle.node_hash(current[i], current[i + 1]) for i in range(0, len(current) - 1, 2)
        ]
        nodes.update({(level, i): h for i, h in enumerate(current)})
    return nodes


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_multiproof_agrees_with_the_root_for_any_leaf_subset(
    size: int, data: st.DataObject
) -> None:
    leaf_hashes = [merkle.leaf_hash(b"%d" % i) for i in range(size)]
    root = merkle.root_hash(leaf_hashes)
    chosen = data.draw(st.sets(st.integers(min_value=0, max_value=size - 1), max_size=40))
    store = _complete_nodes(leaf_hashes)
    plan = merkle.multiproof_plan(sorted(chosen), size)
    assert not any(lv == 0 and ix in chosen for lv, ix in plan), "a chosen leaf is never supplied"
    nodes = {n: store[n] for n in plan}
    leaves = {i: leaf_hashes[i] for i in chosen}
    merkle.verify_multiproof(leaves, size, nodes, root)
    # differential: each chosen leaf also verifies with its own RFC 9162 inclusion proof
    for i in chosen:
        merkle.verify_inclusion(
            leaf_hashes[i], i, size, merkle.inclusion_proof(i, leaf_hashes), root
        )


def test_multiproof_rejects_a_changed_leaf_or_node_or_a_missing_node() -> None:
    leaf_hashes = [merkle.leaf_hash(b"%d" % i) for i in range(1000)]
    root = merkle.root_hash(leaf_hashes)
    chosen = [3, 4, 5, 500, 999]
    store = _complete_nodes(leaf_hashes)
    nodes = {n: store[n] for n in merkle.multiproof_plan(chosen, 1000)}
    leaves = {i: leaf_hashes[i] for i in chosen}
    merkle.verify_multiproof(leaves, 1000, nodes, root)
    with pytest.raises(ProofError, match="multiproof mismatch"):
        merkle.verify_multiproof({**leaves, 500: merkle.leaf_hash(b"forged")}, 1000, nodes, root)
    some = sorted(nodes)[0]
    flipped = bytes([nodes[some][0] ^ 1]) + nodes[some][1:]
    with pytest.raises(ProofError, match="multiproof mismatch"):
        merkle.verify_multiproof(leaves, 1000, {**nodes, some: flipped}, root)
    with pytest.raises(ProofError, match="lacks node"):
        merkle.verify_multiproof(leaves, 1000, {k: v for k, v in nodes.items() if k != some}, root)
    with pytest.raises(ProofError, match="out of range"):
        merkle.verify_multiproof({1000: leaf_hashes[0]}, 1000, nodes, root)
    # a leaf moved to another index does not verify there
    with pytest.raises(ProofError):
        merkle.verify_multiproof(
            {6: leaf_hashes[5]},
            1000,
            {n: store[n] for n in merkle.multiproof_plan([6], 1000)},
            root,
        )


def test_multiproof_of_clustered_leaves_is_compact() -> None:
    plan = merkle.multiproof_plan(list(range(100_000, 110_000)), 1_000_000)
    assert len(plan) <= 2 * 20 + 2  # two frontier paths, not 10^4 proofs


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_multiproof_of_runs_of_leaves_agrees_with_the_root(size: int, data: st.DataObject) -> None:
    """Label evidence holds runs of consecutive entries; fully given subtrees are hashed in
    one loop, which must give the same root (and still refuse a changed leaf)."""
    leaf_hashes = [merkle.leaf_hash(b"%d" % i) for i in range(size)]
    root = merkle.root_hash(leaf_hashes)
    chosen: set[int] = set()
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        start = data.draw(st.integers(min_value=0, max_value=size - 1))
        chosen.update(range(start, min(size, start + data.draw(st.integers(1, 80)))))
    store = _complete_nodes(leaf_hashes)
    nodes = {n: store[n] for n in merkle.multiproof_plan(sorted(chosen), size)}
    leaves = {i: leaf_hashes[i] for i in chosen}
    assert merkle.root_from_multiproof(leaves, size, nodes) == root
    changed = data.draw(st.sampled_from(sorted(chosen)))
    with pytest.raises(ProofError, match="multiproof mismatch"):
        merkle.verify_multiproof(
            {**leaves, changed: merkle.leaf_hash(b"forged")}, size, nodes, root
        )
