"""C2SP signed notes (c2sp.org/signed-note) and tlog checkpoints (c2sp.org/tlog-checkpoint).

Checkpoints are what auditors, witnesses and monitors exchange, so they must be readable by
the existing Go tooling (golang.org/x/mod/sumdb/note, transparency-dev) byte for byte. Two
signature types are implemented: Ed25519 note signatures (0x01), which the operator signs
checkpoints with, and timestamped Ed25519 cosignatures (0x04, c2sp.org/tlog-cosignature),
which witnesses add. Every signature line that is not by a key the caller trusts is ignored,
as the spec requires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import ProofError

SIG_TYPE_ED25519 = b"\x01"
SIG_TYPE_COSIGNATURE = b"\x04"  # timestamped Ed25519 checkpoint cosignature
COSIGNATURE_HEADER = "cosignature/v1\n"
TIMESTAMP_SIZE = 8
ED25519_SIGNATURE_SIZE = 64
MAX_TIMESTAMP = 2**63 - 1
KEY_HASH_SIZE = 4
ROOT_HASH_SIZE = 32
MAX_SIGNATURES = 100  # the spec requires accepting 16; Go's sumdb/note stops at 100
SIG_PREFIX = "\u2014 "  # em dash, space
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    """The 32-byte RFC 8032 encoding that the key hash and verifier key are built from."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_name(name: str) -> None:
    """Key names must be non-empty without spaces or '+', or signature lines are ambiguous."""
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise ProofError(f"invalid key name {name!r}: must be non-empty, no spaces or '+'")


def _check_chars(what: str, text: str) -> None:
    """Notes must be valid UTF-8 with no control characters other than newline."""
    for ch in text:
        if ch < " " and ch != "\n":
            raise ProofError(f"{what} contains control character U+{ord(ch):04X}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProofError(f"{what} is not valid UTF-8: {exc.reason}") from exc


def _b64decode(what: str, text: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4): reject stray characters and bad padding."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ProofError(f"{what} is not valid base64") from exc


def key_hash(name: str, public_key: Ed25519PublicKey, sig_type: bytes = SIG_TYPE_ED25519) -> bytes:
    """4-byte key ID: SHA-256(name || 0x0A || type || public key)[:4].

    The type byte is 0x01 for note signatures and 0x04 for cosignatures, so one key and name
    used for both would still get two different IDs (c2sp.org/signed-note)."""
    _check_name(name)
    material = name.encode("utf-8") + b"\n" + sig_type + _raw_public(public_key)
    return hashlib.sha256(material).digest()[:KEY_HASH_SIZE]


def verifier_key(
    name: str, public_key: Ed25519PublicKey, sig_type: bytes = SIG_TYPE_ED25519
) -> str:
    """Verifier key string ``<name>+<hex key hash>+<base64(type || public key)>``."""
    encoded = base64.b64encode(sig_type + _raw_public(public_key)).decode("ascii")
    return f"{name}+{key_hash(name, public_key, sig_type).hex()}+{encoded}"


@dataclass(frozen=True)
class VerifierKey:
    """A trusted public key for notes: from a verifier-key string or from a PEM file.

    A PEM file carries neither a name nor a signature type, so ``name`` and ``sig_type`` are
    None and the key matches a signature line under any name whose key ID, computed with
    that name, is this key's. A verifier-key string pins both, as the spec intends.
    """

    name: str | None
    public_key: Ed25519PublicKey
    sig_type: bytes | None = None

    def matches(self, line_name: str, line_hash: bytes, sig_type: bytes) -> bool:
        """Does the signature line ``— line_name <line_hash…>`` claim to be by this key?"""
        if self.sig_type not in (None, sig_type):
            return False
        if self.name is not None and line_name != self.name:
            return False
        return line_hash == key_hash(line_name, self.public_key, sig_type)

    def describe(self, name: str, sig_type: bytes = SIG_TYPE_ED25519) -> str:
        """``name+hash`` as people compare keys (the first two parts of the vkey string)."""
        return f"{name}+{key_hash(name, self.public_key, sig_type).hex()}"


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse ``<name>+<hex key ID>+<base64(type || key)>`` strictly (types 0x01 and 0x04).

    The key ID must be the one the spec's formula gives for that name and key: a string
    whose parts were edited apart is refused rather than silently trusted."""
    parts = text.strip().split("+", 2)  # base64 may hold "+"; name and hex cannot
    if len(parts) != 3:
        raise ProofError(
            f"verifier key {text[:40]!r} is not <name>+<hex key ID>+<base64 key> "
            "(and not a PEM file)"
        )
    name, hex_id, encoded = parts
    _check_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise ProofError(f"verifier key {name}: key ID {hex_id!r} is not 8 lowercase hex digits")
    raw = _b64decode(f"verifier key {name}", encoded)
    sig_type, material = raw[:1], raw[1:]
    if sig_type not in (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE) or len(material) != 32:
        raise ProofError(
            f"verifier key {name} is not an Ed25519 note key (type 0x01) or cosignature key "
            f"(type 0x04) of 32 bytes"
        )
    public_key = Ed25519PublicKey.from_public_bytes(material)
    if key_hash(name, public_key, sig_type).hex() != hex_id:
        raise ProofError(f"verifier key {name}: key ID {hex_id} does not match its name and key")
    return VerifierKey(name, public_key, sig_type)


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``text`` and return the note: text, blank line, one signature line."""
    _check_name(name)
    if not text.endswith("\n"):
        raise ProofError("note text must be non-empty and end with a newline")
    _check_chars("note text", text)
    kid = key_hash(name, private_key.public_key())
    signature = private_key.sign(text.encode("utf-8"))
    encoded = base64.b64encode(kid + signature).decode("ascii")
    return f"{text}\n{SIG_PREFIX}{name} {encoded}\n"


def _split_note(note: str) -> tuple[str, list[str]]:
    """Split a note into its text and signature lines; the last blank line separates them."""
    _check_chars("note", note)
    split = note.rfind("\n\n")
    if split < 0:
        raise ProofError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise ProofError("malformed note: signature block is empty or lacks a final newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ProofError(f"malformed note: {len(lines)} signatures, at most {MAX_SIGNATURES}")
    return text, lines


def signature_lines(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """The note text and every signature line as (name, key hash, signature bytes)."""
    text, lines = _split_note(note)
    return text, [_parse_signature_line(line) for line in lines]


def add_signature(note: str, line: str, name: str, kid: bytes) -> str:
    """``note`` with signature ``line`` appended, dropping an older line by (name, kid)."""
    text, lines = _split_note(note)
    kept = [raw for raw in lines if _parse_signature_line(raw)[:2] != (name, kid)]
    return text + "\n" + "".join(raw + "\n" for raw in kept) + line


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    """Parse ``— <name> <base64>`` into (name, key hash, signature bytes)."""
    if not line.startswith(SIG_PREFIX):
        raise ProofError(f"malformed note: signature line {line[:40]!r} lacks the em dash")
    name, _, encoded = line[len(SIG_PREFIX) :].partition(" ")
    _check_name(name)
    raw = _b64decode(f"signature by {name}", encoded)
    if len(raw) <= KEY_HASH_SIZE:
        raise ProofError(f"malformed note: signature by {name} is too short")
    return name, raw[:KEY_HASH_SIZE], raw[KEY_HASH_SIZE:]


def _open(note: str, name: str, public_key: Ed25519PublicKey, what: str) -> str:
    """Verify every signature line by (name, key hash); ignore lines by other keys."""
    want = key_hash(name, public_key)
    text, lines = _split_note(note)
    found = False
    for line in lines:
        sig_name, sig_hash, signature = _parse_signature_line(line)
        if sig_name != name or sig_hash != want:
            continue
        try:
            public_key.verify(signature, text.encode("utf-8"))
        except InvalidSignature as exc:
            raise ProofError(f"{what} signature by {name} does not verify") from exc
        found = True
    if not found:
        raise ProofError(f"{what} has no signature by {name}+{want.hex()}")
    return text


def open_note(note: str, name: str, public_key: Ed25519PublicKey) -> str:
    """Verify ``note`` against one trusted key and return its text (ProofError otherwise)."""
    return _open(note, name, public_key, "note")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed tree head: origin, tree size and RFC 6962 root (c2sp.org/tlog-checkpoint).

    Fields are validated on construction so that ``to_text`` can only produce text that
    ``parse`` accepts back unchanged.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise ProofError("checkpoint origin must be a non-empty single line")
        _check_chars("checkpoint origin", self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ProofError(f"checkpoint size {self.size!r} is not a non-negative integer")
        if len(self.root_hash) != ROOT_HASH_SIZE:
            raise ProofError(
                f"checkpoint root hash is {len(self.root_hash)} bytes, expected {ROOT_HASH_SIZE}"
            )
        for line in self.extensions:
            if not line or "\n" in line:
                raise ProofError("checkpoint extension lines must be non-empty single lines")
            _check_chars("checkpoint extension", line)

    def to_text(self) -> str:
        """The note text: origin, decimal size, base64 root, extension lines, each + newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        lines = [self.origin, str(self.size), root, *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint text strictly; ProofError on anything ``to_text`` cannot produce."""
        if not text.endswith("\n"):
            raise ProofError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ProofError(f"checkpoint has {len(lines)} lines, expected at least 3")
        origin, size_line, root_line, *extensions = lines
        if not _SIZE_RE.fullmatch(size_line):
            raise ProofError(f"checkpoint size {size_line!r} is not a canonical decimal")
        root = _b64decode("checkpoint root hash", root_line)
        if base64.b64encode(root).decode("ascii") != root_line:
            raise ProofError("checkpoint root hash is not canonical base64")
        return cls(origin, int(size_line), root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign a checkpoint as a note; ``name`` should normally equal the origin."""
    return sign_note(checkpoint.to_text(), name, private_key)


def open_checkpoint(note: str, name: str, public_key: Ed25519PublicKey) -> Checkpoint:
    """Verify a signed checkpoint against one trusted key and parse its text."""
    return Checkpoint.parse(_open(note, name, public_key, "checkpoint"))


def open_checkpoint_by(note: str, key: VerifierKey) -> Checkpoint:
    """Verify a checkpoint's note signature by ``key`` (0x01); a PEM key signs as the origin.

    The ledger's operator signs under its origin name, so a key without a name (PEM) is
    checked under the origin the note states; a verifier-key string names itself."""
    if key.sig_type == SIG_TYPE_COSIGNATURE:
        raise ProofError("a cosignature (type 0x04) key cannot verify a log's checkpoint signature")
    text, _ = _split_note(note)
    name = key.name if key.name is not None else Checkpoint.parse(text).origin
    return open_checkpoint(note, name, key.public_key)


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a tlog-cosignature/v1 Ed25519 cosigner signs: header, time line, note text."""
    return f"{COSIGNATURE_HEADER}time {timestamp}\n{text}".encode()


def cosignature_line(text: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """``— <name> base64(key ID || u64 BE timestamp || Ed25519 signature)`` plus newline."""
    _check_name(name)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ProofError(f"cosignature timestamp {timestamp} is out of range")
    kid = key_hash(name, private_key.public_key(), SIG_TYPE_COSIGNATURE)
    signature = private_key.sign(cosignature_message(text, timestamp))
    blob = kid + timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature
    return f"{SIG_PREFIX}{name} {base64.b64encode(blob).decode('ascii')}\n"


def open_cosignature(text: str, name: str, public_key: Ed25519PublicKey, signature: bytes) -> int:
    """Verify one cosignature's bytes (after the key ID) over ``text``; return its timestamp."""
    if len(signature) != TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
        raise ProofError(f"cosignature by {name} is {len(signature)} bytes, expected 72")
    timestamp = int.from_bytes(signature[:TIMESTAMP_SIZE], "big")
    if timestamp > MAX_TIMESTAMP:
        raise ProofError(f"cosignature by {name} has a timestamp beyond 2^63 - 1")
    try:
        public_key.verify(signature[TIMESTAMP_SIZE:], cosignature_message(text, timestamp))
    except InvalidSignature as exc:
        raise ProofError(f"cosignature by {name} does not verify") from exc
    return timestamp
