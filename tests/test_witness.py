"""Witnessed checkpoints and the operator's pre-sign audit (SPEC §4 "Signing the checkpoint
is an audit step", "Witnesses", keys; §8 `checkpoint`, `witness cosign`, `prove
--consistency`).

Checkpoints, verifier keys and cosignatures are checked here with a small verifier written
from the C2SP texts (signed-note, tlog-checkpoint, tlog-cosignature) using `cryptography`
primitives and hashlib only; it does not import ledger.note or ledger.keys, so the ledger is
judged by code that shares nothing with it.
"""

from __future__ import annotations

import base64
import csv
import gc
import hashlib
import json
import shutil
import sqlite3
import stat
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from rawdb import cut_tail, tampering
from sqlalchemy import Engine, text

from ledger import audit, cosignatures, records, submit, transparency, witness
from ledger.errors import ConflictError, ProofError, VerificationError
from ledger.outputs import read_rows as read_output_rows
from ledger.store import db
from ledger_cli.main import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ORIGIN = "test.example/ledger"
WORLD = 30  # genesis, 4 suppliers, 13 factors, 6 product submissions of 2 entries
SIGNED = WORLD + 85  # + sup-bev-2024: one submission covering 84 records
EM_DASH = "\u2014"
WATER = "6923451000013"


# ---- an independent verifier, from the C2SP texts -------------------------------------------


def b64(text_: str) -> bytes:
    return base64.b64decode(text_.encode("ascii"), validate=True)  # RFC 4648 §4, strict


def c2sp_key_id(name: str, sig_type: int, raw_public: bytes) -> bytes:
    """signed-note: SHA-256(key name || 0x0A || signature type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + raw_public).digest()[:4]


def parse_vkey(vkey: str) -> tuple[str, int, bytes]:
    """signed-note "Verifier keys": <name>+hex(key ID)+base64(type || key) -> (name, type, key)."""
    name, hex_id, encoded = vkey.split("+", 2)  # a name has no "+", base64 may
    blob = b64(encoded)
    assert len(blob) == 33 and blob[0] in (0x01, 0x04)
    assert bytes.fromhex(hex_id) == c2sp_key_id(name, blob[0], blob[1:]), "key ID mismatch"
    return name, blob[0], blob[1:]


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Text (with its final newline) and the signature lines as (key name, decoded bytes)."""
    assert note.endswith("\n")
    body, _, block = note.rpartition("\n\n")
    lines = []
    for line in block[:-1].split("\n"):
        assert line.startswith(EM_DASH + " "), line
        name, encoded = line[2:].split(" ")
        lines.append((name, b64(encoded)))
    return body + "\n", lines


def c2sp_checkpoint(note: str, name: str, raw_public: bytes) -> tuple[str, int, bytes]:
    """tlog-checkpoint signed with Ed25519 (type 0x01) by (name, key): (origin, size, root)."""
    signed_text, lines = split_note(note)
    kid = c2sp_key_id(name, 0x01, raw_public)
    ours = [blob for n, blob in lines if n == name and blob[:4] == kid]
    if not ours:
        raise InvalidSignature(f"no signature by {name}")
    for blob in ours:
        Ed25519PublicKey.from_public_bytes(raw_public).verify(blob[4:], signed_text.encode())
    origin, size, root, *_ = signed_text[:-1].split("\n")
    assert size == str(int(size)) and len(b64(root)) == 32
    return origin, int(size), b64(root)


def c2sp_cosignature(note: str, name: str, raw_public: bytes) -> int:
    """tlog-cosignature/v1 (type 0x04): verify and return the timestamp."""
    signed_text, lines = split_note(note)
    kid = c2sp_key_id(name, 0x04, raw_public)
    ours = [blob for n, blob in lines if n == name and blob[:4] == kid]
    if len(ours) != 1:
        raise InvalidSignature(f"{len(ours)} cosignatures by {name}")
    blob = ours[0]
    assert len(blob) == 4 + 8 + 64
    timestamp = int.from_bytes(blob[4:12], "big")
    message = f"cosignature/v1\ntime {timestamp}\n{signed_text}".encode()
    Ed25519PublicKey.from_public_bytes(raw_public).verify(blob[12:], message)
    return timestamp


def raw_pem(path: Path) -> bytes:
    public = load_pem_public_key(path.read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle Tree Hash over leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[n], b), by the recursive definition."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


# ---- ledgers --------------------------------------------------------------------------------


def run(url: str, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--db", url, *args], prog_name="carbon-ledger")
    gc.collect()  # the CLI's engine (and its PostgreSQL connections) go away now
    return result


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    assert result.stderr == ""
    return result.stdout


def refused(result: Result, message: str) -> None:
    """Exit 1 and exactly this one line on stderr."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"


def leaves_of(engine: Engine) -> list[bytes]:
    with db.reading(engine) as conn:
        rows = conn.execute(text("SELECT entry_bytes FROM entries ORDER BY seq"))
        return [hashlib.sha256(b"\x00" + bytes(r[0])).digest() for r in rows]


def import_rows(world: dict[str, Any], supplier: str, name: str, rows: int, tmp: Path) -> None:
    """Import the first ``rows`` records of a sample file as one submission (1 + rows)."""
    with (SAMPLES / "records" / name).open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames is not None
        subset = [row for _, row in zip(range(rows), reader, strict=False)]
        fields = list(reader.fieldnames)
    path = tmp / f"{supplier}-{rows}.csv"
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fields)
        writer.writeheader()
        writer.writerows(subset)
    records.import_records(world["engine"], path, supplier, world["keys"][supplier])


@pytest.fixture
def signed(world: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The sample world + sup-bev-2024, checkpointed once through the CLI (state beside key)."""
    records.import_records(
        world["engine"],
        SAMPLES / "records" / "sup-bev-2024.csv",
        "sup-bev",
        world["keys"]["sup-bev"],
    )
    key = world["key_dir"] / "operator.key"
    cp0 = tmp_path / "cp0.cp"
    ok(run(world["url"], "checkpoint", "--operator-key", str(key), "--out", str(cp0)))
    return {**world, "operator_key": key, "cp0": cp0, "tmp": tmp_path}


def rewrite_from(world: dict[str, Any], start: int) -> None:
    """A database writer without keys: deletes the checkpoints and every entry from
    ``start`` on (with the index rows they made), so that appends rebuild a valid chain."""
    cut_tail(world["engine"], world["url"], start, keep_checkpoints=False)


# ---- keys -----------------------------------------------------------------------------------


def test_keygen_prints_a_c2sp_verifier_key(tmp_path: Path) -> None:
    out = ok(run("sqlite:///unused.db", "keygen", "--out", str(tmp_path / "op.key")))
    vkey = out.splitlines()[1].removeprefix("verifier key: ")
    name, sig_type, raw = parse_vkey(vkey)
    assert (name, sig_type, raw) == ("op", 0x01, raw_pem(tmp_path / "op.key.pub"))

    out = ok(
        run(
            "sqlite:///unused.db",
            "keygen",
            "--out",
            str(tmp_path / "w1.key"),
            "--name",
            "witness.example/w1",
            "--witness",
        )
    )
    vkey = out.splitlines()[1].removeprefix("verifier key: ")
    assert parse_vkey(vkey) == ("witness.example/w1", 0x04, raw_pem(tmp_path / "w1.key.pub"))

    refused(
        run("sqlite:///unused.db", "keygen", "--out", str(tmp_path / "x.key"), "--name", "a+b"),
        "invalid key name 'a+b': must be non-empty, no spaces or '+'",
    )
    assert not (tmp_path / "x.key").exists()


def test_init_prints_the_operator_verifier_key_named_after_the_origin(
    sqlite_url: str, key_dir: Path
) -> None:
    key = key_dir / "operator.key"
    out = ok(run(sqlite_url, "init", "--operator-key", str(key), "--origin", ORIGIN))
    vkey = out.splitlines()[1].removeprefix("operator verifier key: ")
    assert parse_vkey(vkey) == (ORIGIN, 0x01, raw_pem(key_dir / "operator.key.pub"))


def test_operator_pub_takes_a_verifier_key_string_or_pem(signed: dict[str, Any]) -> None:
    url, cp0 = signed["url"], str(signed["cp0"])
    pem = str(signed["key_dir"] / "operator.key.pub")
    raw = raw_pem(Path(pem))
    vkey = f"{ORIGIN}+{c2sp_key_id(ORIGIN, 1, raw).hex()}+" + base64.b64encode(
        b"\x01" + raw
    ).decode("ascii")
    for trusted in (pem, vkey):
        out = ok(run(url, "verify", "--checkpoint", cp0, "--operator-pub", trusted))
        assert out.startswith(f"OK: {SIGNED} entries verified")
    in_file = signed["tmp"] / "operator.vkey"
    in_file.write_text(vkey + "\n", encoding="utf-8")
    out = ok(run(url, "verify", "--checkpoint", cp0, "--operator-pub", str(in_file)))
    assert out.startswith(f"OK: {SIGNED} entries verified")
    refused(
        run(url, "verify", "--witness-pub", vkey),
        "--witness-pub checks the cosignatures of --checkpoint: give one",
    )
    bad_id = vkey.replace(vkey.split("+")[1], "00000000")
    refused(
        run(url, "verify", "--operator-pub", bad_id),
        f"verifier key {ORIGIN}: key ID 00000000 does not match its name and key",
    )
    refused(
        run(url, "verify", "--operator-pub", "no-such-file.pub"),
        "no-such-file.pub: no such file, and not a name+hash+base64 verifier key",
    )


# ---- the operator's state file and pre-sign audit ----------------------------------------------


def test_checkpoint_keeps_its_state_beside_the_key_0600(signed: dict[str, Any]) -> None:
    state = signed["key_dir"] / "operator.key.state.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    data = json.loads(state.read_text(encoding="utf-8"))
    note = signed["cp0"].read_text(encoding="utf-8")
    origin, size, root = c2sp_checkpoint(
        note, ORIGIN, raw_pem(signed["key_dir"] / "operator.key.pub")
    )
    assert data == {
        "origin": origin,
        "tree_size": size,
        "root_hash": root.hex(),
        "checkpoint": note,
    }
    assert (origin, size, root) == (ORIGIN, SIGNED, mth(leaves_of(signed["engine"])))
    assert [p.name for p in signed["key_dir"].glob(".operator.key.state.json.*")] == []

    elsewhere = signed["tmp"] / "states" / "ledger-a.json"
    import_rows(signed, "sup-elec", "sup-elec-2024.csv", 3, signed["tmp"])  # + 1 + 3 entries
    key = str(signed["operator_key"])
    ok(run(signed["url"], "checkpoint", "--operator-key", key, "--state", str(elsewhere),
           "--out", str(signed["tmp"] / "cp-elsewhere.cp")))  # fmt: skip
    assert json.loads(elsewhere.read_text())["tree_size"] == SIGNED + 4
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o600
    assert json.loads(state.read_text())["tree_size"] == SIGNED  # the default one is untouched


def test_checkpoint_refuses_a_forged_submission_naming_its_seq(
    signed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database writer with no keys appends a "correction" under sup-bev's key id: the rows
    are written by the ledger's own appender (so every hash, link, node and index row is
    consistent), only the supplier's signature cannot be made."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger import keys

    bev_kid = keys.key_id(signed["keys"]["sup-bev"].public_key())
    forger = Ed25519PrivateKey.generate()
    real_payload = submit.submission_payload

    def forged_payload(*args: Any, **kwargs: Any) -> dict[str, Any]:
        payload = real_payload(*args, **kwargs)
        payload["key_id"] = bev_kid  # the signature stays the forger's
        return payload

    monkeypatch.setattr(submit, "check_signer", lambda *_a, **_k: bev_kid)
    monkeypatch.setattr(records, "check_signer", lambda *_a, **_k: bev_kid)
    monkeypatch.setattr(submit, "submission_payload", forged_payload)
    row = next(csv.DictReader((SAMPLES / "records" / "sup-bev-2025.csv").open(newline="")))
    records.append_record(signed["engine"], "sup-bev", forger, row)  # seq 115 (+ record 116)
    monkeypatch.undo()

    state = signed["key_dir"] / "operator.key.state.json"
    before = state.read_text()
    message = (
        f"refusing to sign a checkpoint: submission signature by key {bev_kid} does not verify"
    )
    with pytest.raises(VerificationError) as caught:
        transparency.sign_checkpoint(signed["engine"], signed["operator"], state)
    assert (caught.value.seq, str(caught.value)) == (SIGNED, message)
    refused(
        run(signed["url"], "checkpoint", "--operator-key", str(signed["operator_key"])),
        f"verification failed at seq {SIGNED}: {message}",
    )
    assert state.read_text() == before
    with db.reading(signed["engine"]) as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM checkpoints")).scalar_one() == 1


def test_checkpoint_refuses_a_second_root_for_the_same_size(signed: dict[str, Any]) -> None:
    """Delete the checkpoints rows, rewrite history from seq 30 with validly signed records
    of the same total size: the database alone cannot tell, the state file beside the key can."""
    note0 = signed["cp0"].read_text(encoding="utf-8")
    rewrite_from(signed, WORLD)
    # 30 + (1 + 36) + (1 + 47) = 115 entries again, other records
    import_rows(signed, "sup-elec", "sup-elec-2024.csv", 36, signed["tmp"])
    import_rows(signed, "sup-pack", "sup-pack-2024.csv", 47, signed["tmp"])
    forged = leaves_of(signed["engine"])
    assert len(forged) == SIGNED
    _, _, root0 = c2sp_checkpoint(note0, ORIGIN, raw_pem(signed["key_dir"] / "operator.key.pub"))
    assert mth(forged) != root0
    assert audit.verify_database(signed["engine"]).tree_size == SIGNED  # internally flawless

    state = signed["key_dir"] / "operator.key.state.json"
    label = "the checkpoint this operator key last signed (operator.key.state.json)"
    with pytest.raises(VerificationError) as caught:
        transparency.sign_checkpoint(signed["engine"], signed["operator"], state)
    assert caught.value.seq == SIGNED - 1
    assert str(caught.value) == (
        f"refusing to sign a checkpoint: the ledger is not an extension of {label} "
        f"(size {SIGNED}): history was rewritten or forked (trees of equal size {SIGNED} "
        f"have different roots: {root0.hex()[:16]}.. and {mth(forged).hex()[:16]}..)"
    )
    refused(
        run(signed["url"], "checkpoint", "--operator-key", str(signed["operator_key"])),
        f"verification failed at seq {SIGNED - 1}: {caught.value}",
    )
    with db.reading(signed["engine"]) as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM checkpoints")).scalar_one() == 0


def test_checkpoint_refuses_a_ledger_cut_below_its_state(signed: dict[str, Any]) -> None:
    rewrite_from(signed, WORLD)  # back to 30 entries, no checkpoints left to say otherwise
    label = "the checkpoint this operator key last signed (operator.key.state.json)"
    refused(
        run(signed["url"], "checkpoint", "--operator-key", str(signed["operator_key"])),
        f"verification failed at seq {WORLD}: refusing to sign a checkpoint: {label} covers "
        f"{SIGNED} entries but the ledger now has only {WORLD}: entries were cut off or "
        "rolled back",
    )


def test_checkpoint_does_not_hand_out_a_forged_stored_note(signed: dict[str, Any]) -> None:
    """A database writer adds a checkpoints row for the current size and root with a note
    signed by another key: `checkpoint` must neither return it nor sign over it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    note0 = signed["cp0"].read_text(encoding="utf-8")
    body = note0[: note0.index("\n\n") + 1]
    other = Ed25519PrivateKey.generate()
    raw = other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    blob = c2sp_key_id(ORIGIN, 1, raw) + other.sign(body.encode())
    forged = f"{body}\n{EM_DASH} {ORIGIN} {base64.b64encode(blob).decode()}\n"
    _, size, root = c2sp_checkpoint(note0, ORIGIN, raw_pem(signed["key_dir"] / "operator.key.pub"))
    signed["engine"].dispose()
    with tampering(signed["url"]) as raw_db:
        raw_db.execute(
            "INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) VALUES (?, ?, ?, ?)",
            (size, root.hex(), forged, "2030-01-01T00:00:00.000000Z"),
        )
    op_hash = c2sp_key_id(ORIGIN, 1, raw_pem(signed["key_dir"] / "operator.key.pub")).hex()
    refused(
        run(signed["url"], "checkpoint", "--operator-key", str(signed["operator_key"])),
        "refusing to sign a checkpoint: stored checkpoint #2: checkpoint has no signature by "
        f"{ORIGIN}+{op_hash}",
    )


def test_checkpoint_refuses_a_state_file_of_another_ledger(
    signed: dict[str, Any], make_world: Any, tmp_path: Path
) -> None:
    other = make_world(f"sqlite:///{tmp_path / 'other.db'}", "other.example/ledger")
    state = signed["key_dir"] / "operator.key.state.json"
    with pytest.raises(ConflictError) as caught:
        transparency.sign_checkpoint(other["engine"], other["operator"], state)
    assert str(caught.value) == (
        f"the checkpoint state file {state} is for origin '{ORIGIN}', not this ledger "
        "('other.example/ledger'); give this ledger its own file with --state"
    )


# ---- witnesses and split views --------------------------------------------------------------


@pytest.fixture
def witnesses(tmp_path: Path) -> dict[str, Any]:
    """Two witnesses, each with its own key and state directory; w1 is known by its verifier
    key string, w2 by its PEM file."""
    found: dict[str, Any] = {}
    for name in ("w1", "w2"):
        key = tmp_path / f"{name}.key"
        out = ok(run("sqlite:///unused.db", "keygen", "--out", str(key), "--witness"))
        found[name] = {
            "key": key,
            "vkey": out.splitlines()[1].removeprefix("verifier key: "),
            "pem": key.with_name(f"{name}.key.pub"),
            "state": tmp_path / f"{name}-state",
            "raw": raw_pem(key.with_name(f"{name}.key.pub")),
        }
    found["trust"] = [found["w1"]["vkey"], str(found["w2"]["pem"])]
    return found


def cosign(url: str, w: dict[str, Any], cp: Path, operator: Path, *extra: str) -> Result:
    return run(
        url, "witness", "cosign", str(cp), "--witness-key", str(w["key"]),
        "--state", str(w["state"]), "--operator-pub", str(operator), *extra,
    )  # fmt: skip


def test_split_view_two_witnesses_refuse_the_second_root(
    sqlite_url: str, make_world: Any, witnesses: dict[str, Any], tmp_path: Path
) -> None:
    world = make_world(sqlite_url)
    PUB = world["key_dir"] / "operator.key.pub"
    operator_raw = raw_pem(PUB)
    key = str(world["key_dir"] / "operator.key")
    records.import_records(
        world["engine"],
        SAMPLES / "records" / "sup-bev-2024.csv",
        "sup-bev",
        world["keys"]["sup-bev"],
    )
    cp0 = tmp_path / "cp0.cp"
    ok(run(sqlite_url, "checkpoint", "--operator-key", key, "--out", str(cp0)))
    for name in ("w1", "w2"):
        ok(cosign(sqlite_url, witnesses[name], cp0, PUB, "--out", str(tmp_path / f"cp0.{name}.cp")))

    # the operator forks its ledger: same start, two different continuations of equal size
    world["engine"].dispose()
    fork_url = f"sqlite:///{tmp_path / 'fork.db'}"
    with (
        closing(sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))) as a,
        closing(sqlite3.connect(fork_url.removeprefix("sqlite:///"))) as b,
    ):
        a.backup(b)
    import_rows(world, "sup-elec", "sup-elec-2024.csv", 36, tmp_path)  # 115 + 37 = 152
    fork = {**world, "engine": db.make_engine(fork_url)}
    import_rows(fork, "sup-pack", "sup-pack-2024.csv", 36, tmp_path)  # 115 + 37 = 152
    cp_a, cp_b = tmp_path / "a.cp", tmp_path / "b.cp"
    ok(run(sqlite_url, "checkpoint", "--operator-key", key, "--out", str(cp_a)))
    # the dishonest operator keeps a second state file for its second story
    ok(run(fork_url, "checkpoint", "--operator-key", key, "--state", str(tmp_path / "b.state"),
           "--out", str(cp_b)))  # fmt: skip
    _, size_a, root_a = c2sp_checkpoint(cp_a.read_text(), ORIGIN, operator_raw)
    _, size_b, root_b = c2sp_checkpoint(cp_b.read_text(), ORIGIN, operator_raw)
    assert size_a == size_b == SIGNED + 37 and root_a != root_b  # a split view

    for name in ("w1", "w2"):
        ok(cosign(sqlite_url, witnesses[name], cp_a, PUB, "--out", str(tmp_path / f"a.{name}.cp")))
    for name in ("w1", "w2"):
        for source in (("--db", fork_url), ("--bundle", str(export(fork_url, tmp_path)))):
            result = run(
                sqlite_url,  # the global --db is the honest ledger: the options below win
                "witness", "cosign", str(cp_b), "--witness-key", str(witnesses[name]["key"]),
                "--state", str(witnesses[name]["state"]), "--operator-pub", str(PUB),
                *source,
            )  # fmt: skip
            refused(
                result,
                f"refusing to cosign the checkpoint of {ORIGIN} at size {size_b}: it is not "
                f"consistent with the checkpoint at size {size_a} this witness cosigned before: "
                f"the log shows a split view (trees of equal size {size_a} have different "
                f"roots: {root_a.hex()[:16]}.. and {root_b.hex()[:16]}..)",
            )
    # a longer tree on the fork is no better: the consistency proof from root_a fails
    import_rows(fork, "sup-logi", "sup-logi-2025.csv", 2, tmp_path)  # + 3
    cp_b2 = tmp_path / "b2.cp"
    ok(run(fork_url, "checkpoint", "--operator-key", key, "--state", str(tmp_path / "b.state"),
           "--out", str(cp_b2)))  # fmt: skip
    result = cosign(fork_url, witnesses["w1"], cp_b2, PUB, "--out", str(tmp_path / "b2.w1.cp"))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: refusing to cosign the checkpoint of {ORIGIN} at size {size_b + 3}: it is not "
        f"consistent with the checkpoint at size {size_a} this witness cosigned before: the "
        "log shows a split view ("
    )
    # and a rollback to the older checkpoint is refused too
    refused(
        cosign(sqlite_url, witnesses["w1"], cp0, PUB, "--out", str(tmp_path / "again.cp")),
        f"refusing to cosign the checkpoint of {ORIGIN} at size {SIGNED}: this witness already "
        f"cosigned size {size_a}: the log was rolled back",
    )

    # the cosigned checkpoint of A verifies independently: operator + both witnesses
    a_w1 = (tmp_path / "a.w1.cp").read_text()
    both = ok(run(sqlite_url, "witness", "attach", str(tmp_path / "a.w1.cp"),
                  str(tmp_path / "a.w2.cp")))  # fmt: skip
    assert c2sp_checkpoint(both, ORIGIN, operator_raw) == (ORIGIN, size_a, root_a)
    stamps = [c2sp_cosignature(both, n, witnesses[n]["raw"]) for n in ("w1", "w2")]
    assert all(s > 1_700_000_000 for s in stamps)
    assert c2sp_cosignature(a_w1, "w1", witnesses["w1"]["raw"]) == stamps[0]
    assert a_w1.startswith(cp_a.read_text().rstrip("\n") + "\n")  # the operator line is kept
    # the witness's state: what it cosigned last
    state_file = witnesses["w1"]["state"] / (hashlib.sha256(ORIGIN.encode()).hexdigest() + ".json")
    state = json.loads(state_file.read_text())
    assert (state["tree_size"], state["root_hash"]) == (size_a, root_a.hex())
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    # the operator cannot attach cosignatures of its other story to this ledger
    refused(
        run(sqlite_url, "witness", "attach", str(cp_b)),
        f"the ledger has no checkpoint at size {size_b} with that root to attach cosignatures to",
    )

    # auditors can require the witnesses
    seen = tmp_path / "seen.cp"
    seen.write_text(both, encoding="utf-8")
    trust = [arg for pub in witnesses["trust"] for arg in ("--witness-pub", pub)]
    out = ok(run(sqlite_url, "verify", "--checkpoint", str(seen), *trust, "--min-witnesses", "2"))
    assert "checkpoint you saw is cosigned by 2 trusted witness(es): w1, w2" in out
    refused(
        run(fork_url, "verify", "--checkpoint", str(cp_b), *trust, "--min-witnesses", "1"),
        f"checkpoint of {ORIGIN} at size {size_b} has 0 valid cosignature(s) from the 2 witness "
        "key(s) you trust; 1 required",
    )
    # a cosignature edited after the fact fails the whole note
    line = next(li for li in both.splitlines() if li.startswith(f"{EM_DASH} w2 "))
    blob = bytearray(b64(line.split(" ")[2]))
    blob[11] ^= 1  # the timestamp's last byte
    edited = both.replace(line, f"{EM_DASH} w2 {base64.b64encode(bytes(blob)).decode()}")
    seen.write_text(edited, encoding="utf-8")
    refused(
        run(sqlite_url, "verify", "--checkpoint", str(seen), *trust, "--min-witnesses", "1"),
        "cosignature by w2 does not verify",
    )


def export(url: str, tmp_path: Path) -> Path:
    out = tmp_path / f"export-{hashlib.sha256(url.encode()).hexdigest()[:8]}.jsonl"
    ok(run(url, "export", "--out", str(out)))
    return out


def test_label_verify_requires_and_names_the_witnesses(
    signed: dict[str, Any], witnesses: dict[str, Any]
) -> None:
    url, tmp = signed["url"], signed["tmp"]
    PUB = signed["key_dir"] / "operator.key.pub"
    # a label needs the water pack's declared output: 36 output rows, one submission
    records.declare_outputs(
        signed["engine"],
        "sup-bev",
        signed["keys"]["sup-bev"],
        read_output_rows(SAMPLES / "outputs" / "sup-bev-2024.csv"),
    )
    key = str(signed["operator_key"])
    window = ("--from", "2024-01-01", "--to", "2025-01-01", "--format", "json")
    # the operator logs the footprint statement (+1 entry) and signs a checkpoint over it
    ok(run(url, "label", "export", WATER, *window, "--operator-key", key, "--as-of", "latest",
           "--out", str(tmp / "first.json")))  # fmt: skip
    size = SIGNED + (1 + 36) + 1  # outputs submission, then the statement
    cp1 = tmp / "cp1.cp"
    ok(run(url, "checkpoint", "--operator-key", key, "--out", str(cp1)))  # the same checkpoint
    assert c2sp_checkpoint(cp1.read_text(), ORIGIN, raw_pem(PUB))[1] == size
    bundle = export(url, tmp)
    ok(cosign(url, witnesses["w1"], cp1, PUB, "--out", str(tmp / "w1.cp"),
              "--bundle", str(bundle)))  # fmt: skip
    ok(cosign(url, witnesses["w2"], cp1, PUB, "--out", str(tmp / "w2.cp")))
    ok(run(url, "witness", "attach", str(tmp / "w1.cp"), str(tmp / "w2.cp")))
    label = tmp / "water.label.json"
    ok(run(url, "label", "export", WATER, *window, "--out", str(label)))  # the logged statement
    doc = json.loads(label.read_text())
    stamps = {n: c2sp_cosignature(doc["evidence"]["checkpoint"], n, witnesses[n]["raw"])
              for n in ("w1", "w2")}  # fmt: skip

    trust = [arg for pub in witnesses["trust"] for arg in ("--witness-pub", pub)]
    vkey_w1 = "+".join(witnesses["w1"]["vkey"].split("+", 2)[:2])
    vkey_w2 = "w2+" + c2sp_key_id("w2", 4, witnesses["w2"]["raw"]).hex()
    operator = f"{ORIGIN}+" + c2sp_key_id(ORIGIN, 1, raw_pem(PUB)).hex()
    out = ok(run(url, "label", "verify", str(label), "--operator-pub", str(PUB),
                 *trust, "--min-witnesses", "2"))  # fmt: skip
    lines = out.splitlines()
    assert lines[0].startswith(f"OK: label of {WATER} verified offline: ")
    from datetime import datetime, timezone

    def when(ts: int) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert lines == [lines[0]]
    assert lines[0].endswith(
        f"origin {ORIGIN}, checkpoint size {size} signed by the operator {operator}; "
        f"witnessed by {vkey_w1} at {when(stamps['w1'])}; "
        f"witnessed by {vkey_w2} at {when(stamps['w2'])}"
    )
    # a witness that did not cosign: the quorum fails, naming the count
    stranger = tmp / "w3.key"
    w3 = ok(run(url, "keygen", "--out", str(stranger), "--witness")).splitlines()[1][14:]
    refused(
        run(url, "label", "verify", str(label), "--operator-pub", str(PUB), "--witness-pub", w3),
        f"checkpoint of {ORIGIN} at size {size} has 0 valid cosignature(s) from the 1 "
        "witness key(s) you trust; 1 required",
    )
    refused(
        run(
            url,
            "label",
            "verify",
            str(label),
            "--operator-pub",
            str(PUB),
            "--witness-pub",
            w3,
            "--min-witnesses",
            "2",
        ),
        "--min-witnesses 2 is more than the 1 --witness-pub key(s) given",
    )
    # a note signing key (type 0x01) is not a witness key
    refused(
        run(
            url,
            "label",
            "verify",
            str(label),
            "--operator-pub",
            str(PUB),
            "--witness-pub",
            operator + "+" + base64.b64encode(b"\x01" + raw_pem(PUB)).decode(),
        ),
        f"witness key {operator} is a note signing key (type 0x01), not a cosignature key "
        "(type 0x04)",
    )


# ---- consistency proof documents ----------------------------------------------------------


def test_prove_consistency_document_verifies_independently(signed: dict[str, Any]) -> None:
    url, tmp = signed["url"], signed["tmp"]
    import_rows(signed, "sup-elec", "sup-elec-2024.csv", 36, tmp)  # 115 + 37 = 152
    key = str(signed["operator_key"])
    ok(run(url, "checkpoint", "--operator-key", key, "--out", str(tmp / "cp1.cp")))
    out = tmp / "consistency.json"
    said = ok(run(url, "prove", "--consistency", str(signed["cp0"]), "--out", str(out)))
    assert said == f"wrote consistency proof from size {SIGNED} to {SIGNED + 37} to {out}\n"
    doc = json.loads(out.read_text())
    assert set(doc) == {"format", "old_size", "new_size", "old_checkpoint", "new_checkpoint",
                        "consistency_proof"}  # fmt: skip
    operator_raw = raw_pem(signed["key_dir"] / "operator.key.pub")
    _, old_size, old_root = c2sp_checkpoint(doc["old_checkpoint"], ORIGIN, operator_raw)
    _, new_size, new_root = c2sp_checkpoint(doc["new_checkpoint"], ORIGIN, operator_raw)
    leaves = leaves_of(signed["engine"])
    assert (old_size, new_size) == (doc["old_size"], doc["new_size"]) == (SIGNED, len(leaves))
    assert (old_root, new_root) == (mth(leaves[:SIGNED]), mth(leaves))
    assert [bytes.fromhex(h) for h in doc["consistency_proof"]] == subproof(SIGNED, leaves, True)

    from ledger.keys import load_verifier  # the library's own check of the same document

    key = load_verifier(str(signed["key_dir"] / "operator.key.pub"))
    old, new = transparency.check_consistency_document(doc, key)
    assert (old.size, new.size) == (SIGNED, SIGNED + 37)
    doc["consistency_proof"][0] = "00" * 32
    with pytest.raises(ProofError):
        transparency.check_consistency_document(doc, key)
    usage = run(url, "prove")  # a usage error: exit 2, click's own format
    assert usage.exit_code == 2
    assert usage.stderr.endswith("\nError: give either RECORD_ID or --consistency OLD.cp\n")


def test_witness_library_checks_quorum_and_ignores_unknown_lines(
    signed: dict[str, Any], tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger import note

    w1, w2 = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    operator = note.VerifierKey(None, signed["operator"].public_key())
    cp0 = signed["cp0"].read_text()
    proofs = witness.db_proof_source(signed["engine"])
    one = witness.cosign(
        cp0, operator, w1, "w1.example", tmp_path / "s1", proofs, now=1_700_000_000
    )
    two = witness.cosign(
        one, operator, w2, "w2.example", tmp_path / "s2", proofs, now=1_700_000_001
    )
    assert c2sp_cosignature(two, "w1.example", w1.public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)) == 1_700_000_000  # fmt: skip
    trusted = [note.VerifierKey(None, w2.public_key()), note.VerifierKey(None, w1.public_key())]
    seen = cosignatures.verify_witnessed(two, operator, trusted, 2)
    assert [(w.name, w.timestamp) for w in seen.witnesses] == [
        ("w2.example", 1_700_000_001),
        ("w1.example", 1_700_000_000),
    ]
    # cosigning again replaces this witness's own line instead of adding a second
    again = witness.cosign(
        two, operator, w1, "w1.example", tmp_path / "s1", proofs, now=1_700_000_002
    )
    assert again.count(f"{EM_DASH} w1.example ") == 1
    assert cosignatures.verify_witnessed(again, operator, trusted, 2).witnesses[1].timestamp == (
        1_700_000_002
    )
    shutil.rmtree(tmp_path / "s1")  # a fresh witness accepts any checkpoint signed by the log
    with pytest.raises(ProofError, match="checkpoint has no signature by"):
        witness.cosign(two, note.VerifierKey(None, w1.public_key()), w1, "w1.example",
                       tmp_path / "s1", proofs)  # fmt: skip
