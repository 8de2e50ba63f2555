"""C2SP signed notes (c2sp.org/signed-note) and tlog checkpoints (c2sp.org/tlog-checkpoint).

Checkpoints are what auditors, witnesses and monitors exchange, so they must be readable by
the existing Go tooling (golang.org/x/mod/sumdb/note, transparency-dev) byte for byte. Only
the Ed25519 signature type (0x01) is implemented: the ledger signs with Ed25519 and ignores
every signature line that is not by the key it was asked to check, as the spec requires.
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


def key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """4-byte key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    _check_name(name)
    material = name.encode("utf-8") + b"\n" + SIG_TYPE_ED25519 + _raw_public(public_key)
    return hashlib.sha256(material).digest()[:KEY_HASH_SIZE]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """Verifier key string ``<name>+<hex key hash>+<base64(0x01 || public key)>``."""
    encoded = base64.b64encode(SIG_TYPE_ED25519 + _raw_public(public_key)).decode("ascii")
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


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
