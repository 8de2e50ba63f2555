"""Key files (SPEC §4 Keys): permissions, passphrases, key types, key ids, signature domains."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import keys
from ledger.canonical import canonical_bytes
from ledger.errors import KeyMaterialError, VerificationError

SAMPLE_KEY_IDS = {
    "operator": "5795522a340c8c39",
    "sup-bev": "b1aed0e774ad4ce3",
    "sup-elec": "0309d6a1ad6cc722",
    "sup-logi": "9e200c11c17e6f30",
    "sup-pack": "f5a023ff92d30db4",
}


@pytest.fixture(autouse=True)
def no_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(keys.PASSPHRASE_ENV, raising=False)


def _write_private(path: Path, pem: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(pem)
    path.chmod(mode)
    return path


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    private = keys.generate()
    path = tmp_path / "sub" / "k.key"
    pub_path = keys.write_keypair(private, path)
    assert pub_path == tmp_path / "sub" / "k.key.pub"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert pub_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    loaded = keys.load_private(path)
    assert keys.raw_public(loaded.public_key()) == keys.raw_public(private.public_key())
    assert keys.key_id(keys.load_public(pub_path)) == keys.key_id(private.public_key())


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    keys.write_keypair(keys.generate(), path)
    before = path.read_bytes()
    with pytest.raises(KeyMaterialError) as info:
        keys.write_keypair(keys.generate(), path)
    assert str(info.value) == f"{path} already exists; refusing to overwrite a key"
    assert path.read_bytes() == before
    # a stray .pub alone is enough to refuse: the pair must stay a pair
    lonely = tmp_path / "other.key"
    (tmp_path / "other.key.pub").write_text("x")
    with pytest.raises(KeyMaterialError):
        keys.write_keypair(keys.generate(), lonely)
    assert not lonely.exists()
    keys.write_keypair(keys.generate(), path, overwrite=True)
    assert path.read_bytes() != before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_key_id_is_16_hex_of_sha256_of_raw_public_key(key_dir: Path) -> None:
    for name, expected in SAMPLE_KEY_IDS.items():
        public = keys.load_public(key_dir / f"{name}.key.pub")
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert len(raw) == 32
        assert keys.key_id(public) == hashlib.sha256(raw).hexdigest()[:16] == expected
        assert keys.key_id(keys.load_private(key_dir / f"{name}.key").public_key()) == expected
        assert keys.public_to_b64(public) == base64.b64encode(raw).decode()
        assert keys.key_id(keys.public_from_b64(keys.public_to_b64(public))) == expected


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700 | 0o007])
def test_group_or_world_readable_private_key_is_refused(key_dir: Path, mode: int) -> None:
    path = key_dir / "sup-bev.key"
    path.chmod(mode)
    with pytest.raises(KeyMaterialError) as info:
        keys.load_private(path)
    assert str(info.value) == (
        f"key file {path} has mode {mode:04o}; private keys must be 0600 (run: chmod 600 {path})"
    )


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_private_key_is_accepted(key_dir: Path, mode: int) -> None:
    path = key_dir / "sup-bev.key"
    path.chmod(mode)
    assert keys.key_id(keys.load_private(path).public_key()) == SAMPLE_KEY_IDS["sup-bev"]


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage\n", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
     b"\x00\xff" * 40],
)
def test_garbage_private_key_is_refused(tmp_path: Path, content: bytes) -> None:
    path = _write_private(tmp_path / "bad.key", content)
    with pytest.raises(KeyMaterialError) as info:
        keys.load_private(path)
    assert str(info.value) == (
        f"key file {path} is not a PEM private key, or the passphrase is wrong"
    )


def test_missing_private_key(tmp_path: Path) -> None:
    path = tmp_path / "none.key"
    with pytest.raises(KeyMaterialError) as info:
        keys.load_private(path)
    assert str(info.value) == f"cannot read key file {path}: No such file or directory"


def test_passphrase_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keys.PASSPHRASE_ENV, "correct horse battery staple")
    private = keys.generate()
    path = tmp_path / "enc.key"
    keys.write_keypair(private, path)
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.key_id(keys.load_private(path).public_key()) == keys.key_id(private.public_key())

    monkeypatch.setenv(keys.PASSPHRASE_ENV, "wrong horse")
    with pytest.raises(KeyMaterialError) as info:
        keys.load_private(path)
    assert str(info.value) == (
        f"key file {path} is not a PEM private key, or the passphrase is wrong"
    )

    monkeypatch.delenv(keys.PASSPHRASE_ENV)
    with pytest.raises(KeyMaterialError) as info:
        keys.load_private(path)
    assert str(info.value) == (
        f"key file {path} is encrypted; set CARBON_LEDGER_PASSPHRASE to its passphrase"
    )
    monkeypatch.setenv(keys.PASSPHRASE_ENV, "")  # empty means "no passphrase"
    with pytest.raises(KeyMaterialError):
        keys.load_private(path)


def test_passphrase_set_for_an_unencrypted_key(
    key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(keys.PASSPHRASE_ENV, "secret")
    path = key_dir / "sup-bev.key"
    with pytest.raises(KeyMaterialError) as info:
        keys.load_private(path)
    assert str(info.value) == (
        f"key file {path} is not encrypted, but CARBON_LEDGER_PASSPHRASE is set; "
        "unset it to use this key"
    )


def test_rsa_and_ec_private_keys_are_not_ed25519(tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path = _write_private(tmp_path / "rsa.key", pem)
    with pytest.raises(KeyMaterialError) as info:
        keys.load_private(path)
    assert str(info.value).endswith(", not Ed25519")
    assert str(info.value).startswith(f"key file {path} holds a ")
    assert "RSAPrivateKey" in str(info.value)

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_path = _write_private(tmp_path / "ec.key", ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    with pytest.raises(KeyMaterialError) as info:
        keys.load_private(ec_path)
    assert str(info.value).endswith(", not Ed25519")

    pub_path = tmp_path / "rsa.pub"
    pub_path.write_bytes(rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(KeyMaterialError) as info:
        keys.load_public(pub_path)
    assert str(info.value).startswith(f"{pub_path} holds a ")
    assert str(info.value).endswith(", not an Ed25519 key")


def test_bad_public_keys(tmp_path: Path, key_dir: Path) -> None:
    path = tmp_path / "x.pub"
    path.write_text("not a key")
    with pytest.raises(KeyMaterialError) as info:
        keys.load_public(path)
    assert str(info.value) == f"{path} is not a PEM public key"
    # a private key file is not a public key file
    with pytest.raises(KeyMaterialError):
        keys.load_public(key_dir / "sup-bev.key")
    with pytest.raises(KeyMaterialError) as info:
        keys.public_from_b64("AAAA")  # 3 bytes, not 32
    assert str(info.value) == "not a base64 Ed25519 public key: AAAA..."
    with pytest.raises(KeyMaterialError):
        keys.public_from_b64("not base64!")


def test_signature_domain_separation(key_dir: Path) -> None:
    private = keys.load_private(key_dir / "sup-bev.key")
    public = private.public_key()
    message = canonical_bytes({"supplier_id": "sup-bev", "count": 1, "records_root": "00" * 32})
    signature = keys.sign(private, keys.SUBMISSION_DOMAIN, message)
    assert keys.SUBMISSION_DOMAIN == b"carbon-ledger/submission/v1\n"
    keys.verify(public, keys.SUBMISSION_DOMAIN, message, signature)
    # the raw signature is over domain + message, exactly
    public.verify(base64.b64decode(signature), keys.SUBMISSION_DOMAIN + message)

    with pytest.raises(VerificationError) as info:
        keys.verify(public, keys.OPERATOR_DOMAIN, message, signature)
    assert str(info.value) == "signature does not verify"
    with pytest.raises(VerificationError):
        keys.verify(public, b"", message, signature)
    operator_signature = keys.sign(private, keys.OPERATOR_DOMAIN, message)
    with pytest.raises(VerificationError):
        keys.verify(public, keys.SUBMISSION_DOMAIN, message, operator_signature)
    # a signature over the bare message (no domain) is not accepted under any domain
    bare = base64.b64encode(private.sign(message)).decode()
    for domain in (keys.SUBMISSION_DOMAIN, keys.OPERATOR_DOMAIN):
        with pytest.raises(VerificationError):
            keys.verify(public, domain, message, bare)
    # wrong key, changed message, malformed base64
    other: Ed25519PrivateKey = keys.load_private(key_dir / "sup-elec.key")
    with pytest.raises(VerificationError):
        keys.verify(other.public_key(), keys.SUBMISSION_DOMAIN, message, signature)
    with pytest.raises(VerificationError):
        keys.verify(public, keys.SUBMISSION_DOMAIN, message + b" ", signature)
    with pytest.raises(VerificationError):
        keys.verify(public, keys.SUBMISSION_DOMAIN, message, "%%%")
