"""Export bundles: the whole ledger as one JSONL file, and its offline audit (SPEC §8).

A bundle is a header, the stored checkpoints, then every entry's bytes verbatim; verifying it
feeds the same :class:`ledger.verify.ChainVerifier` as ``verify`` on a database does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.audit import Progress, check_witnessed, pin_operator
from ledger.errors import InputError, LedgerError, VerificationError
from ledger.note import VerifierKey
from ledger.proofs import all_checkpoints, tree_size
from ledger.registry import ledger_info, ledger_info_from
from ledger.store import Engine, audit_reads, db
from ledger.verify import Batch, ChainVerifier, VerifyReport, feed_all, open_checkpoint_note

BUNDLE_FORMAT = "carbon-ledger-export/v1"


def export_bundle(engine: Engine, out: Path, progress: Progress = None) -> dict[str, Any]:
    """Write the whole ledger as JSONL: header, checkpoints, then entry bytes verbatim."""
    with db.reading(engine) as conn, out.open("wb") as handle:
        info = ledger_info(conn)
        size = tree_size(conn)
        checkpoints = all_checkpoints(conn)
        header = {
            "format": BUNDLE_FORMAT,
            "origin": info.origin,
            "ledger_id": info.ledger_id,
            "tree_size": size,
            "checkpoints": len(checkpoints),
        }
        handle.write(json.dumps(header, sort_keys=True).encode() + b"\n")
        for cp in checkpoints:
            line = {"checkpoint": cp.note, "tree_size": cp.tree_size, "signed_at": cp.signed_at}
            handle.write(json.dumps(line, sort_keys=True, ensure_ascii=False).encode() + b"\n")
        for n, data in enumerate(audit_reads.entry_bytes_stream(conn, size), start=1):
            handle.write(bytes(data) + b"\n")
            if progress is not None and n % 10_000 == 0:
                progress(10_000)
    return header


def _bundle_footprint_products(path: Path) -> set[str]:
    """Products named by the bundle's footprint statements (entry bytes are JCS, so "kind"
    leads each entry line); a line that lies about its kind fails the replay itself."""
    out: set[str] = set()
    with path.open("rb") as handle:
        for line in handle:
            if line.startswith(b'{"kind":"footprint"'):
                try:
                    out.add(str(json.loads(line)["payload"]["product_id"]))
                except (ValueError, KeyError, TypeError):
                    continue
    return out


def _bundle_lines(handle: IO[bytes]) -> Iterator[bytes]:
    for line in handle:
        yield line.rstrip(b"\n")


def verify_bundle(
    path: Path,
    seen_note: str | None = None,
    progress: Progress = None,
    operator_pub: Ed25519PublicKey | None = None,
    jobs: int = 1,
    witnesses: Sequence[VerifierKey] = (),
    min_witnesses: int = 0,
) -> VerifyReport:
    """Verify an export file with no database (offline audit); ``witnesses`` as for
    :func:`verify_database`. ``jobs`` is accepted and unused: a bundle is one stream, read
    and audited in one process."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read bundle {path}: {exc.strerror}") from exc
    with handle:
        lines = _bundle_lines(handle)
        try:
            header = json.loads(next(lines))
        except (StopIteration, ValueError) as exc:
            raise InputError(f"{path} is not a carbon-ledger export") from exc
        if not isinstance(header, dict) or header.get("format") != BUNDLE_FORMAT:
            raise InputError(f"{path} is not a {BUNDLE_FORMAT} file")
        for field in ("tree_size", "checkpoints"):
            value = header.get(field)
            if type(value) is not int or value < 0:
                raise VerificationError(
                    f"the bundle header's {field} is {value!r}, not a count of entries or "
                    "checkpoints",
                    None,
                )
        notes: list[str] = []
        for i in range(header["checkpoints"]):
            try:
                note_text = json.loads(next(lines))["checkpoint"]
            except (StopIteration, ValueError, KeyError, TypeError) as exc:
                raise VerificationError(
                    f"bundle line {i + 2} is not checkpoint #{i + 1} of the "
                    f"{header['checkpoints']} its header announces",
                    None,
                ) from exc
            notes.append(str(note_text))
        first = next(lines, None)
        if first is None:
            raise VerificationError("the bundle holds no entries", 0)
        try:
            genesis = json.loads(first)
            info = ledger_info_from(genesis["payload"])
        except (ValueError, KeyError, TypeError, LedgerError) as exc:
            raise VerificationError("the bundle's first entry is not a genesis entry", 0) from exc
        pin_operator(info, operator_pub)
        extra = check_witnessed(seen_note, info, witnesses, min_witnesses) if seen_note else []
        labelled = [(text_, f"bundled checkpoint #{i + 1}") for i, text_ in enumerate(notes)]
        if seen_note is not None:
            labelled.append((seen_note, "the checkpoint you saw"))
        checkpoints = [
            open_checkpoint_note(t, info.origin, info.operator_public_key, label)
            for t, label in labelled
        ]
        verifier = ChainVerifier(checkpoints, _bundle_footprint_products(path))
        verifier.feed(first)
        feed_all(verifier, _batches(lines), progress)
        report = verifier.finish()
        if report.tree_size != header["tree_size"]:
            raise VerificationError(
                f"bundle header says {header['tree_size']} entries, it holds {report.tree_size}",
                report.tree_size,
            )
        report.checkpoints = len(notes)
        report.checks.extend(extra)
    return report


def _batches(lines: Iterator[bytes], size: int = 5000) -> Iterator[Batch]:
    batch: Batch = []
    for line in lines:
        batch.append((line, None))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
