"""Reading cosigned checkpoints: the operator's signature and a quorum of witnesses.

``label verify`` and ``verify --checkpoint`` require the same of a checkpoint, so both call
:func:`verify_witnessed`. It needs no database (a consumer's offline ``label verify`` loads
neither SQLAlchemy nor pandas); the witness's own side is :mod:`ledger.witness`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ledger import note
from ledger.errors import InputError, ProofError


@dataclass(frozen=True)
class Cosignature:
    name: str
    key_hash: str  # hex of the 4-byte key ID
    timestamp: int  # POSIX seconds

    @property
    def time(self) -> str:
        """The timestamp as RFC 3339 UTC, for people."""
        moment = datetime.fromtimestamp(self.timestamp, timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Witnessed:
    """A checkpoint whose operator signature and quorum of cosignatures verified."""

    checkpoint: note.Checkpoint
    operator: str  # name+hash of the operator key that signed
    witnesses: tuple[Cosignature, ...]


def verify_witnessed(
    signed: str,
    operator: note.VerifierKey,
    witnesses: Sequence[note.VerifierKey] = (),
    min_witnesses: int = 0,
) -> Witnessed:
    """The operator's signature and at least ``min_witnesses`` valid cosignatures from
    distinct keys among ``witnesses``; lines by other keys are ignored (signed-note), a line
    by a trusted key that fails to verify fails the whole note."""
    if min_witnesses > len(witnesses):
        raise InputError(
            f"--min-witnesses {min_witnesses} is more than the {len(witnesses)} witness "
            "key(s) given"
        )
    for key in witnesses:
        if key.sig_type == note.SIG_TYPE_ED25519 and key.name is not None:
            raise ProofError(
                f"witness key {key.describe(key.name)} is a note signing key (type 0x01), "
                "not a cosignature key (type 0x04)"
            )
    checkpoint = note.open_checkpoint_by(signed, operator)
    operator_name = operator.name or checkpoint.origin
    text, lines = note.signature_lines(signed)
    found: dict[int, Cosignature] = {}
    for name, kid, signature in lines:
        for index, key in enumerate(witnesses):
            if not key.matches(name, kid, note.SIG_TYPE_COSIGNATURE):
                continue
            timestamp = note.open_cosignature(text, name, key.public_key, signature)
            found.setdefault(index, Cosignature(name, kid.hex(), timestamp))
    if len(found) < min_witnesses:
        raise ProofError(
            f"checkpoint of {checkpoint.origin} at size {checkpoint.size} has {len(found)} valid "
            f"cosignature(s) from the {len(witnesses)} witness key(s) you trust; "
            f"{min_witnesses} required"
        )
    return Witnessed(
        checkpoint,
        operator.describe(operator_name),
        tuple(found[i] for i in sorted(found)),
    )
