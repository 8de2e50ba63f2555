"""Supplier key validity: the one rule for "may this key sign this submission at this seq".

Both the full audit (:class:`ledger.verify.ChainVerifier`) and the offline label check
(:mod:`ledger.labels.evidence`) feed the operator's key entries into a :class:`Keyring` in seq
order and ask it to check each submission. Keeping the rule here, once, is what stops one
path from quietly dropping it (a performance change once removed it from ``label verify``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import keys
from ledger.errors import LedgerError, VerificationError

#: operator entry kinds that change which supplier keys are valid
KEY_KINDS = ("supplier", "key_rotate", "key_revoke")


@dataclass
class Keyring:
    """Supplier keys by key_id and the seq at which each stopped being valid."""

    keys: dict[str, tuple[str, Ed25519PublicKey]] = field(default_factory=dict)
    retired: dict[str, int] = field(default_factory=dict)

    def register(self, seq: int, kind: str, payload: Mapping[str, Any]) -> None:
        """Apply an (already signature-checked) operator key entry at ``seq``."""
        if kind in ("supplier", "key_rotate"):
            try:
                key = keys.public_from_b64(str(payload.get("public_key", "")))
            except LedgerError as exc:
                raise VerificationError(f"{kind} entry has a bad public key", seq) from exc
            kid = payload.get("key_id")
            if keys.key_id(key) != kid or kid in self.keys:
                raise VerificationError(f"{kind} entry has a bad or reused key_id", seq)
            self.keys[kid] = (str(payload.get("supplier_id")), key)
            retires = payload.get("retires", [])
            if not isinstance(retires, list):
                raise VerificationError(f"{kind} entry has a malformed retires list", seq)
            for old in retires:
                self.retired.setdefault(str(old), seq)
        elif kind == "key_revoke":
            kid = payload.get("key_id")
            if kid not in self.keys:
                raise VerificationError(f"key_revoke names unknown key {kid}", seq)
            self.retired.setdefault(str(kid), seq)

    def check_submission(self, seq: int, payload: Mapping[str, Any]) -> str:
        """Raise unless the submission at ``seq`` is signed by a key its supplier held then.

        Returns the supplier the key belongs to. The signature is over the submission domain
        and the canonical payload without its signature (SPEC §4).
        """
        kid = payload.get("key_id", "")
        if not isinstance(kid, str) or kid not in self.keys:
            raise VerificationError(f"submission signed with unknown key {kid}", seq)
        supplier, key = self.keys[kid]
        if supplier != payload.get("supplier_id"):
            raise VerificationError(f"key {kid} belongs to {supplier!r}, not the submitter", seq)
        if kid in self.retired and self.retired[kid] < seq:
            raise VerificationError(
                f"submission signed with key {kid}, revoked at seq {self.retired[kid]}", seq
            )
        try:
            keys.verify_signed_payload(key, keys.SUBMISSION_DOMAIN, payload)
        except (VerificationError, LedgerError) as exc:
            raise VerificationError(
                f"submission signature by key {kid} does not verify", seq
            ) from exc
        return supplier
