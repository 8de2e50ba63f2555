"""A label's checkpoint, checked for witness cosignatures as well as the operator's signature.

``label verify`` and ``verify --checkpoint`` require the same thing of a checkpoint, so both
go through :func:`ledger.cosignatures.verify_witnessed`; this module only puts it next to the
label's own offline check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ledger.cosignatures import Witnessed, verify_witnessed
from ledger.errors import VerificationError
from ledger.footprint import ProductFootprint
from ledger.labels.offline import verify_label
from ledger.note import VerifierKey
from ledger.progress import Phases


def verify_witnessed_label(
    doc: Mapping[str, Any],
    operator: VerifierKey,
    witnesses: Sequence[VerifierKey] = (),
    min_witnesses: int = 0,
    phases: Phases | None = None,
) -> tuple[ProductFootprint, Witnessed]:
    """Verify a label offline and the quorum of cosignatures on its checkpoint."""
    try:
        signed = doc["evidence"]["checkpoint"]
    except (KeyError, TypeError) as exc:
        raise VerificationError("label evidence carries no checkpoint") from exc
    if not isinstance(signed, str):
        raise VerificationError("label evidence checkpoint is not a signed note")
    witnessed = verify_witnessed(signed, operator, witnesses, min_witnesses)
    return verify_label(doc, operator.public_key, phases), witnessed
