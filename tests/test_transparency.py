"""Checkpoints, proofs and the auditor's view (SPEC §4 checkpoints and proof documents, §8
``verify --checkpoint`` / ``--bundle`` / ``checkpoint`` / ``prove``).

The checkpoint note, the Merkle root and the inclusion proofs are checked with a small
verifier written here from the C2SP and RFC 6962 texts (hashlib + cryptography only), so the
ledger is judged by an implementation that shares no code with it. The auditor scenarios run
on real SQLite files and on real PostgreSQL; tampering goes around the library with raw
``sqlite3`` (dropping the triggers) or raw ``psycopg`` (``DISABLE TRIGGER USER``).
"""

from __future__ import annotations

import base64
import copy
import csv
import gc
import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from rawdb import cut_tail, tampering
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from ledger import audit, bundle, keys, records, transparency
from ledger.errors import ConflictError, NotFoundError, ProofError, VerificationError
from ledger.store import db
from ledger.store.db import make_engine
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ORIGIN = "test.example/ledger"
SIZE = 152  # world (30) + sup-bev-2024 (1 + 84) + sup-elec-2024 (1 + 36)
CUT = 115  # first entry of the sup-elec submission
EM_DASH = "\u2014"


# ---- an independent verifier ----------------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def split(n: int) -> int:
    """Largest power of two strictly below n (RFC 6962 §2.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 Merkle Tree Hash over leaf hashes, by the recursive definition."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node(mth(leaves[:k]), mth(leaves[k:]))


def root_from_inclusion(leaf_hash: bytes, m: int, n: int, path: Sequence[bytes]) -> bytes | None:
    """Root implied by PATH(m, D[n]) (listed leaf first), or None if its shape is wrong."""
    if not 0 <= m < n:
        return None
    if n == 1:
        return leaf_hash if not path else None
    if not path:
        return None
    k, rest, sibling = split(n), path[:-1], path[-1]
    if m < k:
        sub = root_from_inclusion(leaf_hash, m, k, rest)
        return None if sub is None else node(sub, sibling)
    sub = root_from_inclusion(leaf_hash, m - k, n - k, rest)
    return None if sub is None else node(sibling, sub)


def key_hash(name: str, raw_public: bytes) -> bytes:
    return sha256(name.encode() + b"\n" + b"\x01" + raw_public)[:4]


def open_checkpoint(note: str, name: str, raw_public: bytes) -> tuple[str, int, bytes]:
    """C2SP signed note + tlog-checkpoint: (origin, size, root); raises on anything wrong."""
    assert note.endswith("\n")
    body, _, signatures = note.rpartition("\n\n")
    signed_text = body + "\n"
    verified = False
    for line in signatures[:-1].split("\n"):
        assert line.startswith(EM_DASH + " "), line
        signer, encoded = line[2:].split(" ")
        blob = base64.b64decode(encoded, validate=True)
        if signer == name and blob[:4] == key_hash(name, raw_public):
            public = Ed25519PublicKey.from_public_bytes(raw_public)
            public.verify(blob[4:], signed_text.encode())  # InvalidSignature if forged
            verified = True
    if not verified:
        raise InvalidSignature(f"no signature by {name}")
    origin, size, root_b64, *_extensions = body.split("\n")
    assert size == str(int(size))
    root = base64.b64decode(root_b64, validate=True)
    assert len(root) == 32
    return origin, int(size), root


def accepts(note: str, raw_public: bytes) -> bool:
    try:
        open_checkpoint(note, ORIGIN, raw_public)
    except (InvalidSignature, AssertionError, ValueError):
        return False
    return True


def hand_signed_note(size: int, root: bytes, key: Ed25519PrivateKey, claimed: bytes) -> str:
    """A checkpoint note built by hand; ``claimed`` is the key hash written on the line."""
    body = f"{ORIGIN}\n{size}\n{base64.b64encode(root).decode()}\n"
    blob = claimed + key.sign(body.encode())
    return f"{body}\n{EM_DASH} {ORIGIN} {base64.b64encode(blob).decode()}\n"


def raw_key(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


# ---- the ledger under audit -----------------------------------------------------------------


@dataclass
class Audited:
    url: str
    engine: Engine
    world: dict[str, Any]
    seen: Path  # the checkpoint the auditor kept
    note: str
    operator_raw: bytes
    tmp: Path

    def leaves(self, engine: Engine | None = None) -> list[bytes]:
        with db.reading(engine or self.engine) as conn:
            rows = conn.execute(text("SELECT entry_bytes FROM entries ORDER BY seq"))
            return [leaf(bytes(r[0])) for r in rows]

    def record_id(self, seq: int) -> str:
        with db.reading(self.engine) as conn:
            return str(
                conn.execute(
                    text("SELECT record_id FROM records WHERE seq = :s"), {"s": seq}
                ).scalar_one()
            )


def run_cli(url: str, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--db", url, *args])
    gc.collect()  # the CLI's engine (and its PostgreSQL connections) go away now
    return result


def build_template(world: dict[str, Any]) -> None:
    engine: Engine = world["engine"]
    for supplier, name in (("sup-bev", "sup-bev-2024.csv"), ("sup-elec", "sup-elec-2024.csv")):
        records.import_records(
            engine, SAMPLES / "records" / name, supplier, world["keys"][supplier]
        )
    assert transparency.sign_checkpoint(engine, world["operator"]).tree_size == SIZE
    engine.dispose()


def clone(url: str, tmp_path: Path) -> str:
    """A private copy of the template ledger: sqlite3 backup, or CREATE DATABASE TEMPLATE."""
    if url.startswith("sqlite"):
        path = tmp_path / "audited.db"
        with (
            closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as a,
            closing(sqlite3.connect(path)) as b,
        ):
            a.backup(b)
        return f"sqlite:///{path}"
    u = make_url(url)
    name = f"{u.database}_{tmp_path.name}".replace("-", "_")[-60:]
    with psycopg.connect(
        host=str(u.query["host"]),
        port=int(str(u.query["port"])),
        user=u.username,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{u.database}"')  # type: ignore[arg-type]
    return u.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def templates() -> dict[str, str]:
    """Per backend, the URL of a ledger built once from ``world`` and never touched again."""
    return {}


@pytest.fixture
def audited(
    request: pytest.FixtureRequest,
    db_url: str,
    key_dir: Path,
    tmp_path: Path,
    templates: dict[str, str],
) -> Iterator[Audited]:
    """world + sup-bev-2024 + sup-elec-2024 (152 entries) + one checkpoint, which the auditor
    saved as seen.cp. Each test gets its own copy of one template per backend."""
    backend = db_url.split(":", 1)[0]
    if backend not in templates:
        world: dict[str, Any] = request.getfixturevalue("world")
        build_template(world)
        templates[backend] = world["url"]
    url = clone(templates[backend], tmp_path)
    engine = make_engine(url)
    suppliers = ("sup-bev", "sup-elec", "sup-logi", "sup-pack")
    actors = {
        "operator": keys.load_private(key_dir / "operator.key"),
        "keys": {s: keys.load_private(key_dir / f"{s}.key") for s in suppliers},
        "key_dir": key_dir,
    }
    with db.reading(engine) as conn:
        note = str(conn.execute(text("SELECT note FROM checkpoints WHERE id = 1")).scalar_one())
    seen = tmp_path / "seen.cp"
    seen.write_text(note, encoding="utf-8")
    public = load_pem_public_key((key_dir / "operator.key.pub").read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    yield Audited(url, engine, actors, seen, note, raw_key(public), tmp_path)
    engine.dispose()


def fork(audited: Audited) -> tuple[str, Engine]:
    """Rewrite history from CUT on with other, validly signed records (same keys).

    On SQLite the forger works on a copy of the file, so the honest ledger stays next to it;
    on PostgreSQL the database is forked in place.
    """
    url = audited.url
    if url.startswith("sqlite"):
        path = audited.tmp / "forked.db"
        src = url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(src)) as a, closing(sqlite3.connect(path)) as b:
            a.backup(b)
        url = f"sqlite:///{path}"
    engine = make_engine(url)
    cut_tail(engine, url, CUT, keep_checkpoints=False)
    pack = records.import_records(
        engine,
        SAMPLES / "records" / "sup-pack-2024.csv",
        "sup-pack",
        audited.world["keys"]["sup-pack"],
    ).result
    assert pack is not None and (pack.submission_seq, pack.tree_size) == (CUT, CUT + 121)
    # the operator colludes and signs the forked tree
    assert transparency.sign_checkpoint(engine, audited.world["operator"]).tree_size == CUT + 121
    return url, engine


def expect_failure(result: Result, seq: int | None, exc: VerificationError, fragment: str) -> None:
    assert exc.seq == seq, str(exc)
    assert fragment in str(exc)
    assert result.exit_code == 1
    prefix = "Error: " if seq is None else f"Error: verification failed at seq {seq}: "
    assert result.stderr == f"{prefix}{exc}\n"


# ---- checkpoints ----------------------------------------------------------------------------


def test_checkpoint_is_a_c2sp_signed_note_over_the_entries(audited: Audited) -> None:
    key = str(audited.world["key_dir"] / "operator.key")
    out = audited.tmp / "cli.cp"
    result = run_cli(audited.url, "checkpoint", "--operator-key", key, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    note = out.read_text(encoding="utf-8")
    assert note == audited.note  # nothing new to sign
    # stdout: the note, then its root in both spellings (hex as `verify` prints it)
    root_b64 = note.split("\n")[2]
    assert result.stdout == (
        f"{note}tree size {SIZE}, root {base64.b64decode(root_b64).hex()} (hex), "
        f"{root_b64} (base64)\n"
    )
    lines = note.split("\n")
    assert len(lines) == 6 and lines[3] == "" and lines[5] == ""
    assert lines[:2] == [ORIGIN, str(SIZE)]
    assert lines[4].startswith(f"{EM_DASH} {ORIGIN} ")
    blob = base64.b64decode(lines[4].split(" ")[2], validate=True)
    assert len(blob) == 4 + 64
    assert blob[:4] == key_hash(ORIGIN, audited.operator_raw)

    origin, size, root = open_checkpoint(note, ORIGIN, audited.operator_raw)
    leaves = audited.leaves()
    assert (origin, size, root) == (ORIGIN, SIZE, mth(leaves))
    assert len(leaves) == SIZE

    other = raw_key(Ed25519PrivateKey.generate().public_key())
    assert not accepts(note, other)
    assert not accepts(note.replace(f"\n{SIZE}\n", f"\n{SIZE - 1}\n"), audited.operator_raw)

    # nothing appended: the same checkpoint again, not a second row
    stored = transparency.sign_checkpoint(audited.engine, audited.world["operator"])
    assert (stored.id, stored.note) == (1, note)
    with db.reading(audited.engine) as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM checkpoints")).scalar_one() == 1


def test_a_later_checkpoint_extends_the_earlier_one(audited: Audited) -> None:
    row = next(csv.DictReader((SAMPLES / "records" / "sup-bev-2025.csv").open(newline="")))
    records.append_record(audited.engine, "sup-bev", audited.world["keys"]["sup-bev"], row)
    key = str(audited.world["key_dir"] / "operator.key")
    result = run_cli(audited.url, "checkpoint", "--operator-key", key)
    assert result.exit_code == 0
    _, size, root = open_checkpoint(result.stdout, ORIGIN, audited.operator_raw)
    leaves = audited.leaves()
    assert (size, root) == (SIZE + 2, mth(leaves))
    _, old_size, old_root = open_checkpoint(audited.note, ORIGIN, audited.operator_raw)
    assert old_root == mth(leaves[:old_size])  # consistency, recomputed from scratch

    report = audit.verify_database(audited.engine, audited.note)
    assert report.checkpoints == 2
    assert f"consistency proof from your checkpoint (size {SIZE}) verified" in report.checks
    ok = run_cli(audited.url, "verify", "--checkpoint", str(audited.seen))
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.startswith(f"OK: {SIZE + 2} entries verified")


def test_sign_checkpoint_refuses_when_the_stored_tree_lost_the_last_root(audited: Audited) -> None:
    # merkle_nodes is an index table (writable); (7, 0) is a peak of the tree of size 152
    with tampering(audited.url) as raw:
        assert (
            raw.execute(
                "UPDATE merkle_nodes SET hash = ? WHERE level = 7 AND idx = 0", (bytes(32),)
            ).rowcount
            == 1
        )
    with pytest.raises(ConflictError, match=f"stored tree at size {SIZE} no longer has the root"):
        transparency.sign_checkpoint(audited.engine, audited.world["operator"])


def test_sign_checkpoint_refuses_a_root_that_does_not_extend_the_last(audited: Audited) -> None:
    records.import_records(
        audited.engine,
        SAMPLES / "records" / "sup-pack-2024.csv",
        "sup-pack",
        audited.world["keys"]["sup-pack"],
    )
    # size 273 = 256 + 16 + 1: (8, 0) is a peak now, but no part of the size-152 root
    with tampering(audited.url) as raw:
        assert (
            raw.execute(
                "UPDATE merkle_nodes SET hash = ? WHERE level = 8 AND idx = 0", (bytes(32),)
            ).rowcount
            == 1
        )
    with pytest.raises(
        ConflictError, match="stored tree at size 273 does not extend checkpoint #1"
    ):
        transparency.sign_checkpoint(audited.engine, audited.world["operator"])
    with db.reading(audited.engine) as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM checkpoints")).scalar_one() == 1


# ---- proofs ---------------------------------------------------------------------------------


def test_proof_documents_verify_independently(audited: Audited) -> None:
    for seq in (31, 40, 64, SIZE - 1):  # first record, middle, a power-of-two edge, last
        check_proof_document(audited, seq)


def check_proof_document(audited: Audited, seq: int) -> None:
    rid = audited.record_id(seq)
    doc = transparency.prove(audited.engine, rid)
    assert set(doc) == {
        "record_id",
        "seq",
        "tree_size",
        "entry_bytes",
        "leaf_hash",
        "inclusion_proof",
        "checkpoint",
    }
    assert (doc["record_id"], doc["seq"], doc["tree_size"]) == (rid, seq, SIZE)
    operator = keys.public_from_b64(base64.b64encode(audited.operator_raw).decode())
    assert transparency.check_proof_document(doc, ORIGIN, operator).size == SIZE

    # independently: checkpoint signature, leaf hash, inclusion path
    _, size, root = open_checkpoint(doc["checkpoint"], ORIGIN, audited.operator_raw)
    entry = doc["entry_bytes"].encode("utf-8")
    assert json.loads(entry)["payload"]["record_id"] == rid
    assert doc["leaf_hash"] == leaf(entry).hex()
    path = [bytes.fromhex(h) for h in doc["inclusion_proof"]]
    assert root_from_inclusion(leaf(entry), seq, size, path) == root

    cli_doc = run_cli(audited.url, "prove", rid)
    assert cli_doc.exit_code == 0 and json.loads(cli_doc.stdout) == doc

    # every proof node matters
    for i in range(len(path)):
        bad = copy.deepcopy(doc)
        flipped = bytearray(path[i])
        flipped[0] ^= 0x80
        bad["inclusion_proof"][i] = flipped.hex()
        with pytest.raises(ProofError, match="root mismatch"):
            transparency.check_proof_document(bad, ORIGIN, operator)
        bad_path = [bytes.fromhex(h) for h in bad["inclusion_proof"]]
        assert root_from_inclusion(leaf(entry), seq, size, bad_path) != root

    # a doctored entry (leaf hash recomputed to match) does not hash to the root
    bad = copy.deepcopy(doc)
    bad["entry_bytes"] = doc["entry_bytes"].replace('"units_covered":"', '"units_covered":"1')
    bad["leaf_hash"] = leaf(bad["entry_bytes"].encode()).hex()
    with pytest.raises(ProofError, match="root mismatch"):
        transparency.check_proof_document(bad, ORIGIN, operator)

    # the document must prove the record it names, under the size it states
    other = audited.record_id(seq - 1 if seq > 31 else seq + 1)
    with pytest.raises(ProofError, match="are not the record"):
        transparency.check_proof_document({**doc, "record_id": other}, ORIGIN, operator)
    with pytest.raises(ProofError, match="tree_size"):
        transparency.check_proof_document({**doc, "tree_size": SIZE + 1}, ORIGIN, operator)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_prove_needs_a_checkpoint_covering_the_record(world: dict[str, Any]) -> None:
    engine: Engine = world["engine"]
    row = next(csv.DictReader((SAMPLES / "records" / "sup-bev-2024.csv").open(newline="")))
    records.append_record(engine, "sup-bev", world["keys"]["sup-bev"], row)
    with pytest.raises(NotFoundError, match="the ledger has no checkpoint yet"):
        transparency.prove(engine, row["record_id"])
    transparency.sign_checkpoint(engine, world["operator"])
    assert transparency.prove(engine, row["record_id"])["seq"] == 31
    second = next(
        r
        for i, r in enumerate(
            csv.DictReader((SAMPLES / "records" / "sup-bev-2024.csv").open(newline=""))
        )
        if i == 1
    )
    records.append_record(engine, "sup-bev", world["keys"]["sup-bev"], second)
    with pytest.raises(NotFoundError, match="after the latest checkpoint"):
        transparency.prove(engine, second["record_id"])


# ---- the auditor's scenarios ---------------------------------------------------------------


def test_tail_cut_below_the_auditors_checkpoint(audited: Audited) -> None:
    """The attacker removes the last submission and every stored checkpoint: the ledger is
    internally consistent, only the auditor's saved checkpoint knows."""
    cut_tail(audited.engine, audited.url, CUT, keep_checkpoints=False)
    report = audit.verify_database(audited.engine)
    assert (report.tree_size, report.checkpoints) == (CUT, 0)

    with pytest.raises(VerificationError) as caught:
        audit.verify_database(audited.engine, audited.note)
    result = run_cli(audited.url, "verify", "--checkpoint", str(audited.seen))
    expect_failure(
        result,
        CUT,
        caught.value,
        f"the checkpoint you saw covers {SIZE} entries but the ledger now has only {CUT}: "
        "entries were cut off",
    )


def test_tail_cut_below_a_stored_checkpoint(audited: Audited) -> None:
    cut_tail(audited.engine, audited.url, CUT, keep_checkpoints=True)
    with pytest.raises(VerificationError) as caught:
        audit.verify_database(audited.engine)
    expect_failure(
        run_cli(audited.url, "verify"),
        CUT,
        caught.value,
        f"stored checkpoint #1 covers {SIZE} entries but the ledger has only {CUT}: "
        "entries were cut off",
    )
    # and the operator's tool will not sign the shorter tree
    with pytest.raises(ConflictError, match="entries were cut off"):
        transparency.sign_checkpoint(audited.engine, audited.world["operator"])


def test_forked_history_is_not_an_extension_of_the_auditors_checkpoint(audited: Audited) -> None:
    url, engine = fork(audited)
    report = audit.verify_database(engine)  # internally the fork is flawless
    assert (report.tree_size, report.checkpoints) == (CUT + 121, 1)

    with pytest.raises(VerificationError) as caught:
        audit.verify_database(engine, audited.note)
    expect_failure(
        run_cli(url, "verify", "--checkpoint", str(audited.seen)),
        SIZE - 1,
        caught.value,
        f"the ledger is not an extension of the checkpoint you saw (size {SIZE}): "
        "history was rewritten or forked",
    )
    # independently: the fork's first SIZE leaves do not have the seen root
    _, _, seen_root = open_checkpoint(audited.note, ORIGIN, audited.operator_raw)
    assert mth(audited.leaves(engine)[:SIZE]) != seen_root

    # offline, the same fork exported as a bundle fails on the seen root
    bundle_path = audited.tmp / "forked.jsonl"
    bundle.export_bundle(engine, bundle_path)
    with pytest.raises(VerificationError) as offline:
        bundle.verify_bundle(bundle_path, audited.note)
    # a root alone cannot say which entry changed: the range since the last matching root
    assert offline.value.seq == 0
    assert f"but the checkpoint you saw says {seen_root.hex()[:16]}" in str(offline.value)
    assert f"history before it was rewritten, somewhere in seq 0..{SIZE - 1}" in str(offline.value)

    if audited.url.startswith("sqlite"):  # the honest original, next to the forked copy
        honest = audit.verify_database(audited.engine, audited.note)
        assert honest.tree_size == SIZE


def test_fork_with_stored_nodes_doctored_to_pass_the_consistency_proof(audited: Audited) -> None:
    """The forger also rewrites merkle_nodes as the tree over the OLD first 152 leaves plus
    the new ones, so the consistency proof served from storage checks out. Recomputing the
    root from the entries must still catch it."""
    honest = audited.leaves()
    url, engine = fork(audited)
    forged = audited.leaves(engine)
    hybrid = honest[:SIZE] + forged[SIZE:]
    nodes: list[tuple[int, int, bytes]] = []
    level, row = 0, hybrid
    while len(row) > 1:
        row = [node(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        level += 1
        nodes.extend((level, i, h) for i, h in enumerate(row))
    engine.dispose()
    with tampering(url) as raw:
        raw.execute("DELETE FROM merkle_nodes")
        for item in nodes:
            raw.execute("INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)", item)

    _, _, seen_root = open_checkpoint(audited.note, ORIGIN, audited.operator_raw)
    with pytest.raises(VerificationError) as caught:
        audit.verify_database(engine, audited.note)
    # the doctored nodes are the signed tree's own, so they point at the rewrite: CUT = 115
    # pairs with 114 under one level-1 node
    expect_failure(
        run_cli(url, "verify", "--checkpoint", str(audited.seen)),
        CUT - 1,
        caught.value,
        f"Merkle root at size {SIZE} is {mth(forged[:SIZE]).hex()[:16]}… but the checkpoint "
        f"you saw says {seen_root.hex()[:16]}…: history before it was rewritten; the stored "
        f"Merkle nodes of the signed tree no longer match the bytes of seq {CUT - 1} or {CUT}",
    )


def test_forged_checkpoints_are_refused(audited: Audited) -> None:
    _, _, root = open_checkpoint(audited.note, ORIGIN, audited.operator_raw)
    other = Ed25519PrivateKey.generate()
    other_hash = key_hash(ORIGIN, raw_key(other.public_key()))
    operator_hash = key_hash(ORIGIN, audited.operator_raw)
    operator: Ed25519PrivateKey = audited.world["operator"]
    cases: list[tuple[str, int | None, str]] = [
        (  # another key, same origin name
            hand_signed_note(SIZE, root, other, other_hash),
            None,
            f"the checkpoint you saw: checkpoint has no signature by {ORIGIN}+"
            f"{operator_hash.hex()}",
        ),
        (  # another key passing itself off as the operator's
            hand_signed_note(SIZE, root, other, operator_hash),
            None,
            f"the checkpoint you saw: checkpoint signature by {ORIGIN} does not verify",
        ),
        (  # the genuine note with its size edited
            audited.note.replace(f"\n{SIZE}\n", f"\n{SIZE - 1}\n"),
            None,
            f"the checkpoint you saw: checkpoint signature by {ORIGIN} does not verify",
        ),
        (  # really signed by the operator, but over another history: equivocation
            hand_signed_note(100, sha256(b"another history"), operator, operator_hash),
            99,
            "the ledger is not an extension of the checkpoint you saw (size 100)",
        ),
    ]
    for i, (note, seq, fragment) in enumerate(cases):
        assert accepts(note, audited.operator_raw) == (seq is not None)
        path = audited.tmp / f"forged-{i}.cp"
        path.write_text(note, encoding="utf-8")
        with pytest.raises(VerificationError) as caught:
            audit.verify_database(audited.engine, note)
        if seq is None:
            assert isinstance(caught.value, ProofError)
        expect_failure(
            run_cli(audited.url, "verify", "--checkpoint", str(path)), seq, caught.value, fragment
        )


def test_a_forged_stored_checkpoint_is_refused(audited: Audited) -> None:
    _, _, root = open_checkpoint(audited.note, ORIGIN, audited.operator_raw)
    other = Ed25519PrivateKey.generate()
    forged = hand_signed_note(SIZE, root, other, key_hash(ORIGIN, raw_key(other.public_key())))
    with tampering(audited.url) as raw:  # an INSERT: the append-only triggers allow it anyway
        raw.execute(
            "INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) VALUES (?, ?, ?, ?)",
            (SIZE, root.hex(), forged, "2030-01-01T00:00:00.000000Z"),
        )
    with pytest.raises(ProofError) as caught:
        audit.verify_database(audited.engine)
    expect_failure(
        run_cli(audited.url, "verify"),
        None,
        caught.value,
        "stored checkpoint #2: checkpoint has no signature by",
    )


# ---- offline bundles ------------------------------------------------------------------------


def test_offline_bundle_with_the_auditors_checkpoint(audited: Audited) -> None:
    exported_to = audited.tmp / "export.jsonl"
    exported = run_cli(audited.url, "export", "--out", str(exported_to))
    assert exported.exit_code == 0, exported.stderr
    ok = run_cli(
        audited.url, "verify", "--bundle", str(exported_to), "--checkpoint", str(audited.seen)
    )
    assert ok.exit_code == 0, ok.stderr
    assert ok.stdout.startswith(f"OK: {SIZE} entries verified")
    assert f"root at size {SIZE} matches the checkpoint you saw" in ok.stdout

    lines = exported_to.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 1 + 1 + SIZE + 1  # header, checkpoint, entries
    first_entry = 2
    rid = audited.record_id(40)

    def entry_line(seq: int) -> int:
        return first_entry + seq

    def edited(seq: int, old: bytes, new: bytes) -> list[bytes]:
        out = list(lines)
        assert out[entry_line(seq)].count(old) == 1
        out[entry_line(seq)] = out[entry_line(seq)].replace(old, new)
        return out

    header = json.loads(lines[0])
    short_header = json.dumps({**header, "tree_size": CUT, "checkpoints": 0}, sort_keys=True)
    lying_header = json.dumps({**header, "tree_size": SIZE + 1}, sort_keys=True)
    variants: list[tuple[str, list[bytes], int | None, str]] = [
        (
            "entry-line-removed",
            lines[: entry_line(40)] + lines[entry_line(41) :],
            40,
            "entry bytes say seq 41, expected 40",
        ),
        (
            "amount-digit",
            edited(40, b'"amount":"13727.7"', b'"amount":"13727.8"'),
            40,
            f"co2e_kg 7366.28382 of record {rid} is not amount × factor = 7366.33748",
        ),
        (
            "note-digit",
            edited(40, b'"note":"line-3 hot-fill', b'"note":"line-4 hot-fill'),
            41,
            "prev link broken",
        ),
        (
            "checkpoint-line-removed",
            lines[:1] + lines[2:],
            None,
            "bundle line 2 is not checkpoint #1 of the 1 its header announces",
        ),
        (
            "genesis-line-removed",
            lines[:first_entry] + lines[first_entry + 1 :],
            0,
            "the bundle's first entry is not a genesis entry",
        ),
        (
            "last-line-removed",
            [*lines[:-2], b""],
            SIZE - 1,
            "submission 115 is missing 1 entries: the ledger ends inside it",
        ),
        (
            "truncated-with-header-fixed",
            [short_header.encode(), *lines[first_entry : entry_line(CUT)], b""],
            CUT,
            f"the checkpoint you saw covers {SIZE} entries but the ledger has only {CUT}: "
            "entries were cut off",
        ),
        (
            "header-lies-about-size",
            [lying_header.encode(), *lines[1:]],
            SIZE,
            f"bundle header says {SIZE + 1} entries, it holds {SIZE}",
        ),
    ]
    for name, content, seq, fragment in variants:
        path = audited.tmp / f"{name}.jsonl"
        path.write_bytes(b"\n".join(content))
        with pytest.raises(VerificationError) as caught:
            bundle.verify_bundle(path, audited.note)
        result = run_cli(
            audited.url, "verify", "--bundle", str(path), "--checkpoint", str(audited.seen)
        )
        expect_failure(result, seq, caught.value, fragment)
