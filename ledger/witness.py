"""Witnesses: cosign only checkpoints consistent with what was cosigned before (SPEC §4).

A witness (a lender, a regulator, a second platform) keeps its own state, one file per log
origin in a directory it owns, holding the last tree size and root it cosigned. Given a new
checkpoint signed by the operator it trusts, it checks an RFC 9162 consistency proof from
that state to the checkpoint and only then adds a C2SP ``tlog-cosignature/v1`` line
(c2sp.org/tlog-cosignature, the semantics of c2sp.org/tlog-witness ``add-checkpoint``). An
operator that shows one history to some people and another to others cannot get both
cosigned by the same witness, so a verifier that requires k cosignatures from n witnesses
it trusts catches the split view.

The proof is computed here from a copy of the log (the database or an export bundle) rather
than received over HTTP; a wrong proof is just as refused, since it is checked against the
witness's own state.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from base64 import b64encode
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import merkle, note
from ledger.entry import utc_now
from ledger.errors import ConflictError, InputError, NotFoundError, ProofError
from ledger.logstate import LogState, read_log_state, write_log_state
from ledger.proofs import StoredCheckpoint, node_fetcher, tree_size
from ledger.registry import ledger_info
from ledger.store import Engine, db, queries
from ledger.transparency import check_consistency

ProofSource = Callable[[int, int], list[bytes]]  # (old size, new size) -> consistency proof


# ---- the witness's side ------------------------------------------------------------------


def _state_path(state_dir: Path, origin: str) -> Path:
    """One file per log: the hex SHA-256 of the origin, as tlog-witness names logs."""
    return state_dir / f"{hashlib.sha256(origin.encode('utf-8')).hexdigest()}.json"


def read_state(state_dir: Path, origin: str) -> LogState | None:
    """What this witness last cosigned of the log ``origin``, if anything."""
    path = _state_path(state_dir, origin)
    try:
        state = read_log_state(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"witness state file {path} is unreadable or not a witness state") from exc
    if state is not None and state.origin != origin:
        raise InputError(f"witness state file {path} is for {state.origin!r}, not {origin!r}")
    return state


@contextmanager
def _locked(state_dir: Path, origin: str) -> Iterator[None]:
    """Check-then-update must be atomic, or two cosign runs could roll the state back."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = _state_path(state_dir, origin).with_suffix(".lock")
    with lock.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def db_proof_source(engine: Engine) -> ProofSource:
    """Consistency proofs served from the database's stored subtree hashes."""

    def prove(old_size: int, new_size: int) -> list[bytes]:
        with db.reading(engine) as conn:
            have = tree_size(conn)
            if have < new_size:
                raise ConflictError(
                    f"the database holds {have} entries, fewer than the checkpoint's {new_size}"
                )
            return merkle.consistency_proof_from(old_size, new_size, node_fetcher(conn))

    return prove


def bundle_proof_source(path: Path) -> ProofSource:
    """Consistency proofs computed from an export bundle's entry bytes (no database)."""
    from ledger.bundle import BUNDLE_FORMAT  # imports much more than a witness needs

    def prove(old_size: int, new_size: int) -> list[bytes]:
        leaves: list[bytes] = []
        try:
            with path.open("rb") as handle:
                header = json.loads(handle.readline())
                if not isinstance(header, dict) or header.get("format") != BUNDLE_FORMAT:
                    raise InputError(f"{path} is not a {BUNDLE_FORMAT} file")
                for _ in range(int(header.get("checkpoints", 0))):
                    handle.readline()
                for line in handle:
                    if len(leaves) == new_size:
                        break
                    leaves.append(merkle.leaf_hash(line.rstrip(b"\n")))
        except OSError as exc:
            raise InputError(f"cannot read bundle {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise InputError(f"{path} is not a carbon-ledger export") from exc
        if len(leaves) < new_size:
            raise ConflictError(
                f"the bundle holds {len(leaves)} entries, fewer than the checkpoint's {new_size}"
            )
        return merkle.consistency_proof(old_size, leaves)

    return prove


def _refuse(checkpoint: note.Checkpoint, why: str) -> ConflictError:
    return ConflictError(
        f"refusing to cosign the checkpoint of {checkpoint.origin} at size {checkpoint.size}: {why}"
    )


def cosign(
    signed: str,
    operator: note.VerifierKey,
    witness_key: Ed25519PrivateKey,
    name: str,
    state_dir: Path,
    proofs: ProofSource,
    now: int | None = None,
) -> str:
    """Cosign ``signed`` if it extends what this witness cosigned before; return the note
    with the cosignature line added (replacing an older line by this same key).

    The state is updated before the cosignature is returned, under a lock, as
    tlog-witness requires."""
    checkpoint = note.open_checkpoint_by(signed, operator)
    if checkpoint.size == 0 and checkpoint.root_hash != merkle.root_hash([]):
        raise _refuse(checkpoint, "a tree of size 0 must have the empty tree's root")
    with _locked(state_dir, checkpoint.origin):
        state = read_state(state_dir, checkpoint.origin)
        if state is not None:
            old = note.Checkpoint(state.origin, state.tree_size, state.root_hash)
            if checkpoint.size < old.size:
                raise _refuse(
                    checkpoint,
                    f"this witness already cosigned size {old.size}: the log was rolled back",
                )
            proof = proofs(old.size, checkpoint.size) if old.size < checkpoint.size else []
            try:
                check_consistency(old, checkpoint, proof)
            except ProofError as exc:
                raise _refuse(
                    checkpoint,
                    f"it is not consistent with the checkpoint at size {old.size} this "
                    f"witness cosigned before: the log shows a split view ({exc})",
                ) from exc
        timestamp = int(time.time()) if now is None else now
        text = checkpoint.to_text()
        own = note.key_hash(name, witness_key.public_key(), note.SIG_TYPE_COSIGNATURE)
        line = note.cosignature_line(text, name, witness_key, timestamp)
        cosigned = note.add_signature(signed, line, name, own)
        write_log_state(_state_path(state_dir, checkpoint.origin), checkpoint, cosigned)
    return cosigned


def attach(engine: Engine, cosigned: Sequence[str]) -> StoredCheckpoint:
    """Store a checkpoint with the cosignature lines collected from witnesses.

    The checkpoints table is append-only, so the cosigned note is a new row for the same
    size and root; it becomes the latest checkpoint, which labels and proofs then carry.
    Each note must be the operator's own signed checkpoint; which cosignatures count is for
    the verifier to decide (``--witness-pub``), so none is judged here.
    """
    if not cosigned:
        raise InputError("no cosigned checkpoint given")
    with db.writing(engine) as conn:
        info = ledger_info(conn)
        operator = note.VerifierKey(info.origin, info.operator_public_key, note.SIG_TYPE_ED25519)
        first = note.open_checkpoint_by(cosigned[0], operator)
        row = queries.checkpoint_row(conn, first.size, first.root_hash.hex())
        if row is None:
            raise NotFoundError(
                f"the ledger has no checkpoint at size {first.size} with that root to attach "
                "cosignatures to"
            )
        merged = str(row[3])
        operator_id = (info.origin, note.key_hash(info.origin, info.operator_public_key))
        for signed in cosigned:
            if note.open_checkpoint_by(signed, operator) != first:
                raise InputError("the cosigned notes are not all of the same checkpoint")
            for name, kid, signature in note.signature_lines(signed)[1]:
                if (name, kid) != operator_id:
                    line = f"{note.SIG_PREFIX}{name} {b64encode(kid + signature).decode()}\n"
                    merged = note.add_signature(merged, line, name, kid)
        if merged == row[3]:
            return StoredCheckpoint(*row)
        signed_at = utc_now()
        new_id = queries.insert_checkpoint(
            conn, first.size, first.root_hash.hex(), merged, signed_at
        )
        return StoredCheckpoint(int(new_id), first.size, first.root_hash.hex(), merged, signed_at)
