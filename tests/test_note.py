"""Tests for ledger.note: C2SP signed notes and tlog checkpoints.

Published vectors:
- golang.org/x/mod/sumdb/note note_test.go (TestSign/TestOpen): the PeterNeumann key, its
  signed note, and the EnochRoot signature over the same text.
- sum.golang.org's public key (golang/go cmd/go/internal/modfetch/key.go) and a real
  sum.golang.org checkpoint signed by it, as quoted in google/trillian-examples' gossip
  client test (sumGolangOrgLatest / sumGolangOrgLatestSig).
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import ProofError
from ledger.note import (
    SIG_TYPE_COSIGNATURE,
    Checkpoint,
    VerifierKey,
    cosignature_line,
    key_hash,
    open_checkpoint,
    open_checkpoint_by,
    open_cosignature,
    open_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    signature_lines,
    verifier_key,
)

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
    "dngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwn"
    "WLox33WWd1RvMc+QQ=\n"
)
PETER_NOTE = TEXT + "\n" + PETER_SIG

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n13485\n/ZWur4obeiqK+ASdnPK+/Rmz6LPQMUeSmHh0+UkL54Y=\n\n"
    "\u2014 sum.golang.org Az3grnQReYTvpCrRxT+w50vixbqBlB/aPS8bL8f8KW4HHP+UjLSXOJgCh4f54n8hO6lrES"
    "glzyRXMXnhaWzaeY3zqw8=\n"
)


def public_from_vkey(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """Parse ``name+hash+base64(0x01 || key)`` by hand (the module does not export this)."""
    name, _, encoded = vkey.split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[0] == 1 and len(raw) == 33
    return name, Ed25519PublicKey.from_public_bytes(raw[1:])


def private_from_skey(skey: str) -> tuple[str, Ed25519PrivateKey]:
    """Parse ``PRIVATE+KEY+name+hash+base64(0x01 || seed)``."""
    _, _, name, _, encoded = skey.split("+", 4)
    raw = base64.b64decode(encoded)
    assert raw[0] == 1 and len(raw) == 33
    return name, Ed25519PrivateKey.from_private_bytes(raw[1:])


PETER_NAME, PETER_PRIV = private_from_skey(PETER_SKEY)
_, PETER_PUB = public_from_vkey(PETER_VKEY)
ENOCH_NAME, ENOCH_PUB = public_from_vkey(ENOCH_VKEY)


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- Published vectors ------------------------------------------------------------------------


def test_published_key_hash_and_verifier_key() -> None:
    assert raw_public(PETER_PRIV.public_key()) == raw_public(PETER_PUB)
    assert key_hash("PeterNeumann", PETER_PUB) == bytes.fromhex("c74f20a3")
    assert verifier_key("PeterNeumann", PETER_PUB) == PETER_VKEY
    assert verifier_key("EnochRoot", ENOCH_PUB) == ENOCH_VKEY
    _, sumdb_pub = public_from_vkey(SUMDB_VKEY)
    assert verifier_key("sum.golang.org", sumdb_pub) == SUMDB_VKEY


def test_sign_reproduces_published_note_byte_for_byte() -> None:
    signed = sign_note(TEXT, PETER_NAME, PETER_PRIV)
    assert signed == PETER_NOTE
    assert signed.encode("utf-8") == (TEXT.encode() + b"\n\xe2\x80\x94 " + PETER_SIG[2:].encode())


def test_open_published_note() -> None:
    assert open_note(PETER_NOTE, "PeterNeumann", PETER_PUB) == TEXT


def test_open_with_two_signers_checks_only_the_requested_key() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, "PeterNeumann", PETER_PUB) == TEXT
    assert open_note(note, "EnochRoot", ENOCH_PUB) == TEXT
    with pytest.raises(ProofError, match="no signature by EnochRoot"):
        open_note(PETER_NOTE, "EnochRoot", ENOCH_PUB)


def test_open_published_sum_golang_org_checkpoint() -> None:
    name, pub = public_from_vkey(SUMDB_VKEY)
    cp = open_checkpoint(SUMDB_CHECKPOINT, name, pub)
    assert cp == Checkpoint(
        "go.sum database tree",
        13485,
        base64.b64decode("/ZWur4obeiqK+ASdnPK+/Rmz6LPQMUeSmHh0+UkL54Y="),
    )
    with pytest.raises(ProofError, match="does not verify"):
        open_checkpoint(SUMDB_CHECKPOINT.replace("13485", "13486"), name, pub)


@pytest.mark.parametrize(
    "bad",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        "\udcff" + TEXT + "\n" + PETER_SIG,  # a lone surrogate: not encodable as UTF-8
        TEXT + "\n\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
        "vqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + "\u2014 PeterNeumann \n",
        TEXT + "\n" + "\u2014 PeterNeumann AQID\n",
        TEXT + "\n" + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZ\n",
        TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
        TEXT + "\n" + PETER_SIG * 101,
    ],
    ids=range(12),
)
def test_malformed_notes_are_rejected(bad: str) -> None:
    """The malformed-message table from sumdb/note TestOpen, plus a few of our own."""
    with pytest.raises(ProofError):
        open_note(bad, "PeterNeumann", PETER_PUB)


def test_hundred_signature_lines_are_accepted() -> None:
    assert open_note(TEXT + "\n" + PETER_SIG * 100, "PeterNeumann", PETER_PUB) == TEXT


def test_spliced_signature_does_not_verify() -> None:
    """sumdb/note TestOpen: four base64 characters inserted inside the signature."""
    bad = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(ProofError, match="note signature by PeterNeumann does not verify"):
        open_note(bad, "PeterNeumann", PETER_PUB)


# --- Round trips and tampering ----------------------------------------------------------------


def test_round_trip_with_fresh_key() -> None:
    key = Ed25519PrivateKey.generate()
    text = "carbon-ledger test\n\nblank lines inside the text are allowed\n"
    signed = sign_note(text, "example.com/ledger", key)
    assert open_note(signed, "example.com/ledger", key.public_key()) == text


def test_tampered_text_does_not_verify() -> None:
    tampered = PETER_NOTE.replace("answer", "Answer")
    with pytest.raises(ProofError, match="does not verify"):
        open_note(tampered, "PeterNeumann", PETER_PUB)


def test_same_name_other_key_is_rejected() -> None:
    impostor = Ed25519PrivateKey.generate()
    forged = sign_note(TEXT, "PeterNeumann", impostor)
    with pytest.raises(ProofError, match=r"no signature by PeterNeumann\+c74f20a3"):
        open_note(forged, "PeterNeumann", PETER_PUB)
    # Same name and the real key hash, but the impostor's signature bytes.
    raw = base64.b64decode(forged.rsplit(" ", 1)[1])
    line = "\u2014 PeterNeumann " + base64.b64encode(bytes.fromhex("c74f20a3") + raw[4:]).decode()
    with pytest.raises(ProofError, match="does not verify"):
        open_note(TEXT + "\n" + line + "\n", "PeterNeumann", PETER_PUB)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there", "nbsp\u00a0x"])
def test_invalid_key_names_are_rejected(name: str) -> None:
    with pytest.raises(ProofError, match="invalid key name"):
        sign_note(TEXT, name, PETER_PRIV)
    with pytest.raises(ProofError, match="invalid key name"):
        open_note(PETER_NOTE, name, PETER_PUB)


@pytest.mark.parametrize("text", ["", "no newline", "bell\x07\n", "a\rb\n"])
def test_unsignable_text_is_rejected(text: str) -> None:
    with pytest.raises(ProofError):
        sign_note(text, "PeterNeumann", PETER_PRIV)


# --- Checkpoints ------------------------------------------------------------------------------

ROOT = bytes(range(32))
EXAMPLE = Checkpoint("example.com/carbon-ledger", 20852163, ROOT)
EXAMPLE_TEXT = "example.com/carbon-ledger\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"


def test_checkpoint_text_is_exact() -> None:
    assert EXAMPLE.to_text() == EXAMPLE_TEXT
    assert Checkpoint.parse(EXAMPLE_TEXT) == EXAMPLE


def test_checkpoint_spec_example_round_trips() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse(text)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.root_hash.hex().startswith("0ac5186a91863e8e1d90c8080")
    assert cp.to_text() == text


def test_checkpoint_with_extensions_round_trips() -> None:
    cp = Checkpoint("log", 0, hashlib.sha256(b"").digest(), ("ext one", "ext+two"))
    text = cp.to_text()
    assert text == "log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\next+two\n"
    assert Checkpoint.parse(text) == cp


@pytest.mark.parametrize(
    "text",
    [
        "",
        "example.com/log\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "example.com/log\n20852163\n",
        "\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n020852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n00\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n+1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n 1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n1_000\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n\u0661\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n",
        "example.com/log\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",
        "example.com/log\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n",
        "example.com/log\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n",
        "example.com/log\n1\n AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "example.com/log\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\next\n\n",
    ],
    ids=range(17),
)
def test_checkpoint_parse_is_strict(text: str) -> None:
    with pytest.raises(ProofError):
        Checkpoint.parse(text)


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("two\nlines", 1, ROOT, ()),
        ("bell\x07", 1, ROOT, ()),
        ("log", -1, ROOT, ()),
        ("log", 1, ROOT[:31], ()),
        ("log", 1, ROOT, ("",)),
        ("log", 1, ROOT, ("a\nb",)),
    ],
)
def test_checkpoint_construction_is_validated(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(ProofError):
        Checkpoint(origin, size, root, extensions)


def test_sign_and_open_checkpoint() -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign_checkpoint(EXAMPLE, EXAMPLE.origin, key)
    assert signed.startswith(EXAMPLE_TEXT + "\n\u2014 example.com/carbon-ledger ")
    assert open_checkpoint(signed, EXAMPLE.origin, key.public_key()) == EXAMPLE


def _signed_example() -> tuple[str, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    return sign_checkpoint(EXAMPLE, EXAMPLE.origin, key), key


def test_tampered_checkpoint_size_root_and_signature_are_rejected() -> None:
    signed, key = _signed_example()
    pub = key.public_key()
    other_root = base64.b64encode(bytes(32)).decode()
    tampered = [
        signed.replace("\n20852163\n", "\n20852164\n"),
        signed.replace("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", other_root),
        signed.replace("example.com/carbon-ledger\n", "example.com/carbon-ledgeR\n", 1),
    ]
    for note in tampered:
        with pytest.raises(ProofError, match=r"checkpoint signature by .* does not verify"):
            open_checkpoint(note, EXAMPLE.origin, pub)
    body, sig_b64 = signed.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig_b64))
    for position in (4, 30, 67):
        raw[position] ^= 0x01
        flipped = f"{body} {base64.b64encode(bytes(raw)).decode()}\n"
        raw[position] ^= 0x01
        with pytest.raises(ProofError, match="does not verify"):
            open_checkpoint(flipped, EXAMPLE.origin, pub)


def test_checkpoint_signed_by_another_key_with_same_name_is_rejected() -> None:
    signed, _ = _signed_example()
    stranger = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ProofError, match="checkpoint has no signature by"):
        open_checkpoint(signed, EXAMPLE.origin, stranger)


def independent_verify(note: str, name: str, public_key: Ed25519PublicKey) -> str:
    """A from-scratch C2SP verifier, written from the spec text, sharing nothing with ledger."""
    data = note.encode("utf-8")
    split = data.rindex(b"\n\n")
    text, sig_block = data[: split + 1], data[split + 2 :]
    raw_pub = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    want_id = hashlib.sha256(name.encode() + b"\x0a" + b"\x01" + raw_pub).digest()[:4]
    verified = False
    for line in sig_block.split(b"\n")[:-1]:
        assert line.startswith("\u2014 ".encode())
        sig_name, sig_b64 = line[len("\u2014 ".encode()) :].split(b" ")
        blob = base64.b64decode(sig_b64, validate=True)
        if sig_name.decode() == name and blob[:4] == want_id:
            public_key.verify(blob[4:], text)  # raises InvalidSignature
            verified = True
    assert verified
    return text.decode()


def test_independent_verifier_accepts_sign_checkpoint_output() -> None:
    cp = Checkpoint("example.com/carbon-ledger", 7, hashlib.sha256(b"x").digest(), ("a=b",))
    key = Ed25519PrivateKey.generate()
    signed = sign_checkpoint(cp, "example.com/carbon-ledger", key)
    assert independent_verify(signed, "example.com/carbon-ledger", key.public_key()) == cp.to_text()
    assert independent_verify(PETER_NOTE, "PeterNeumann", PETER_PUB) == TEXT
    with pytest.raises(InvalidSignature):
        independent_verify(signed.replace("\n7\n", "\n8\n"), cp.origin, key.public_key())


# --- verifier keys and cosignatures ---------------------------------------------------------

C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfX"
    "ppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def test_parse_verifier_key_published_examples() -> None:
    """signed-note's own example, and keys whose base64 holds '+' (sum.golang.org)."""
    key = parse_verifier_key(C2SP_VKEY)
    assert (key.name, key.sig_type) == ("example.com/foo", b"\x01")
    assert (
        open_note(C2SP_NOTE, "example.com/foo", key.public_key) == "This is an example message.\n"
    )
    sumdb = parse_verifier_key(SUMDB_VKEY)
    assert verifier_key("sum.golang.org", sumdb.public_key) == SUMDB_VKEY
    cp = open_checkpoint_by(SUMDB_CHECKPOINT, sumdb)  # the key's name, not the origin, signs
    assert (cp.origin, cp.size) == ("go.sum database tree", 13485)
    unnamed = VerifierKey(None, sumdb.public_key)  # a PEM key: the origin is the name
    with pytest.raises(ProofError, match=r"invalid key name 'go\.sum database tree'"):
        open_checkpoint_by(SUMDB_CHECKPOINT, unnamed)


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("example.com/foo+530d903a", "is not <name>+<hex key ID>+<base64 key>"),
        ("example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "8 lowercase"),
        ("example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "type 0x01"),
        ("example.com/foo+530d903a+Aeky!", "is not valid base64"),
        ("ex ample+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "invalid key name"),
    ],
)
def test_parse_verifier_key_rejects(vkey: str, message: str) -> None:
    with pytest.raises(ProofError, match=re.escape(message)):
        parse_verifier_key(vkey)


def test_cosignature_line_is_tlog_cosignature_v1() -> None:
    """The signed message and the line layout of c2sp.org/tlog-cosignature, by hand."""
    witness = Ed25519PrivateKey.generate()
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    line = cosignature_line(text, "witness.example.com/w1", witness, 1679315147)
    assert line.startswith("\u2014 witness.example.com/w1 ") and line.endswith("\n")
    blob = base64.b64decode(line.rstrip("\n").split(" ")[2], validate=True)
    pub = raw_public(witness.public_key())
    kid = hashlib.sha256(b"witness.example.com/w1\n\x04" + pub).digest()[:4]
    assert blob[:4] == kid == key_hash("witness.example.com/w1", witness.public_key(), b"\x04")
    assert blob[4:12] == (1679315147).to_bytes(8, "big") and len(blob) == 76
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    witness.public_key().verify(blob[12:], message)
    assert open_cosignature(text, "w", witness.public_key(), blob[4:]) == 1679315147
    with pytest.raises(ProofError, match="cosignature by w does not verify"):
        open_cosignature(text.replace("20852163", "20852164"), "w", witness.public_key(), blob[4:])
    vkey = verifier_key("witness.example.com/w1", witness.public_key(), SIG_TYPE_COSIGNATURE)
    assert parse_verifier_key(vkey).sig_type == SIG_TYPE_COSIGNATURE
    note = text + "\n" + line
    assert signature_lines(note) == (text, [("witness.example.com/w1", kid, blob[4:])])
