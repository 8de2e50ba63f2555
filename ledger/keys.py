"""Ed25519 key files and domain-separated signatures.

Private keys are PKCS#8 PEM files with mode 0600, optionally encrypted with the passphrase in
``CARBON_LEDGER_PASSPHRASE``; they never enter the database. Public keys travel in payloads as
base64 of the 32 raw bytes, and ``key_id`` is the first 16 hex chars of SHA-256 of those bytes.

Every signature is over ``domain + message`` so that a signature made for one purpose (say a
submission) can never be replayed as another (an operator entry or a checkpoint).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.canonical import canonical_bytes
from ledger.errors import KeyMaterialError, ProofError, VerificationError
from ledger.note import VerifierKey, parse_verifier_key

PASSPHRASE_ENV = "CARBON_LEDGER_PASSPHRASE"
SUBMISSION_DOMAIN = b"carbon-ledger/submission/v1\n"
OPERATOR_DOMAIN = b"carbon-ledger/operator/v1\n"


def raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex chars of SHA-256 of the raw public key (SPEC §4)."""
    return hashlib.sha256(raw_public(public_key)).hexdigest()[:16]


def public_to_b64(public_key: Ed25519PublicKey) -> str:
    return base64.b64encode(raw_public(public_key)).decode("ascii")


def public_from_b64(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise KeyMaterialError(f"not a base64 Ed25519 public key: {text[:20]}...") from exc


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def write_keypair(private_key: Ed25519PrivateKey, path: Path, *, overwrite: bool = False) -> Path:
    """Write ``path`` (private, 0600) and ``path.pub``; return the public key path."""
    pub_path = path.with_name(path.name + ".pub")
    if not overwrite and (path.exists() or pub_path.exists()):
        raise KeyMaterialError(f"{path} already exists; refusing to overwrite a key")
    passphrase = _passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if overwrite else os.O_EXCL)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, a directory we may not write
        raise KeyMaterialError(f"cannot write key file {path}: {exc.strerror}") from exc
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:  # another keygen won the race since the check above
        raise KeyMaterialError(f"{path} already exists; refusing to overwrite a key") from exc
    except OSError as exc:
        raise KeyMaterialError(f"cannot write key file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(path, 0o600)
    pub_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub_path.write_bytes(pub_pem)
    return pub_path


def load_private(path: Path, prompt: Callable[[str], str] | None = None) -> Ed25519PrivateKey:
    """Load a private key file, refusing one that group or others can read.

    An encrypted key is unlocked with ``CARBON_LEDGER_PASSPHRASE``, or when that is unset with
    ``prompt(question)`` (the CLI passes a hidden terminal prompt when one is attached).
    """
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"cannot read key file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyMaterialError(
            f"key file {path} has mode {stat.S_IMODE(mode):04o}; private keys must be 0600 "
            f"(run: chmod 600 {path})"
        )
    passphrase = _passphrase()
    if passphrase is None and prompt is not None and b"ENCRYPTED" in data:
        passphrase = prompt(f"Passphrase for {path}").encode()
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:
        if passphrase is not None:  # cryptography: "Password was given but ... not encrypted"
            raise KeyMaterialError(
                f"key file {path} is not encrypted, but {PASSPHRASE_ENV} is set; "
                "unset it to use this key"
            ) from exc
        raise KeyMaterialError(
            f"key file {path} is encrypted; set {PASSPHRASE_ENV} to its passphrase"
        ) from exc
    except ValueError as exc:
        raise KeyMaterialError(
            f"key file {path} is not a PEM private key, or the passphrase is wrong"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMaterialError(f"key file {path} holds a {type(key).__name__}, not Ed25519")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"cannot read public key file {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyMaterialError(f"{path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyMaterialError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_verifier(spec: str) -> VerifierKey:
    """A trusted public key given on the command line: a PEM file, a file holding one
    verifier-key string, or the string itself (``name+hash+base64``, c2sp.org/signed-note).

    Every ``--operator-pub`` and ``--witness-pub`` goes through here, so all accept the same
    forms. A PEM key has no name; it matches signature lines by key ID (see VerifierKey)."""
    path = Path(spec)
    try:
        is_file = path.is_file()
    except OSError:  # a vkey string too long to be a path, say
        is_file = False
    if is_file:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyMaterialError(f"cannot read public key file {path}: {exc.strerror}") from exc
        if b"-----BEGIN" in data:
            return VerifierKey(None, load_public(path))
        spec = data.decode("utf-8", errors="replace").strip()
    elif "+" not in spec:
        raise KeyMaterialError(f"{spec}: no such file, and not a name+hash+base64 verifier key")
    try:
        return parse_verifier_key(spec)
    except ProofError as exc:
        raise KeyMaterialError(str(exc)) from exc


def sign(private_key: Ed25519PrivateKey, domain: bytes, message: bytes) -> str:
    """Base64 Ed25519 signature over ``domain + message``."""
    return base64.b64encode(private_key.sign(domain + message)).decode("ascii")


def verify_signed_payload(
    public_key: Ed25519PublicKey, domain: bytes, payload: Mapping[str, Any]
) -> None:
    """Raise VerificationError unless ``payload["signature"]`` signs the rest of the payload
    (its JCS bytes, domain-separated): the one check of every signed entry payload."""
    fields = {k: v for k, v in payload.items() if k != "signature"}
    verify(public_key, domain, canonical_bytes(fields), str(payload.get("signature", "")))


def verify(public_key: Ed25519PublicKey, domain: bytes, message: bytes, signature: str) -> None:
    """Raise VerificationError unless ``signature`` is valid for ``domain + message``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, domain + message)
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError("signature does not verify") from exc
