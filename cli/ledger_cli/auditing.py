"""Auditor commands: verify, prove, log, export."""

from __future__ import annotations

import base64
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from ledger.entry import KINDS
from ledger.errors import InputError, NotFoundError
from ledger.suggest import did_you_mean
from ledger_cli.app import (
    Ctx,
    cli,
    emit,
    existing_file,
    is_stdio,
    output_path,
    pass_ctx,
    plural,
    read_text,
    table,
    witness_options,
    witness_quorum,
    write_out,
)
from ledger_cli.progress import progress_bar, show_progress

FILE = click.Path(path_type=Path, dir_okay=False)


@cli.command()
@click.option("--checkpoint", "seen", type=FILE, help="A checkpoint you saw earlier (signed note).")
@click.option(
    "--bundle", type=FILE, help="Verify an `export` file offline instead of the database."
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes: with 2 or more, another one checks rows, canonical form, hashes, links "
    "and Merkle roots while this one replays the entries in order; same verdict.",
)
@click.option(
    "--operator-pub",
    help="The operator public key you trust (PEM file or name+hash+base64 verifier key); "
    "without it the genesis entry's key is used.",
)
@witness_options
@pass_ctx
def verify(
    obj: Ctx,
    seen: Path | None,
    bundle: Path | None,
    jobs: int,
    operator_pub: str | None,
    witness_pub: tuple[str, ...],
    min_witnesses: int | None,
) -> None:
    """Verify the whole ledger; report the first bad seq and why.

    Checks seq contiguity, every entry hash and prev link, time order, canonical bytes, every
    operator and submission signature and key validity, every records_root, every co2e =
    amount × factor, the Merkle root at every checkpoint and their signatures, and that the
    index tables equal a replay of the entries. With --checkpoint it also proves the ledger
    extends that checkpoint, so truncation and rewrites fail; with --witness-pub that
    checkpoint must carry --min-witnesses valid cosignatures by those witnesses.

    \b
    Examples:  carbon-ledger verify
               carbon-ledger verify --checkpoint seen.cp
               carbon-ledger verify --checkpoint seen.cp --witness-pub w1.key.pub \\
                   --witness-pub w2.key.pub --min-witnesses 1
               carbon-ledger verify --jobs 2 --operator-pub operator.key.pub
               carbon-ledger verify --bundle ledger-export.jsonl --checkpoint seen.cp
    """
    from ledger import audit, keys, registry
    from ledger.store import db

    seen_note = read_text(seen) if seen else None
    trusted = keys.load_verifier(operator_pub).public_key if operator_pub is not None else None
    witnesses, quorum = witness_quorum(witness_pub, min_witnesses)
    if witnesses and seen_note is None:
        raise InputError("--witness-pub checks the cosignatures of --checkpoint: give one")
    if trusted is not None:
        key_id, key_source = keys.key_id(trusted), f"--operator-pub {operator_pub}"
    elif bundle is not None:
        key_id, key_source = _bundle_operator_key_id(existing_file(bundle)), "the genesis entry"
    else:
        with db.reading(obj.engine) as conn:
            key_id, key_source = registry.ledger_info(conn).operator_key_id, "the genesis entry"
    if bundle is not None:
        # the bar's length costs a pass over the file: only pay it on a terminal
        with existing_file(bundle).open("rb") as handle:
            lines = sum(1 for _ in handle) if show_progress() else 0
        with progress_bar(lines, "verifying") as update:
            report = audit.verify_bundle(
                bundle, seen_note, update, trusted, jobs, witnesses, quorum
            )
    else:
        with progress_bar(audit.ledger_size(obj.engine), "verifying") as update:
            report = audit.verify_database(
                obj.engine,
                seen_note,
                update,
                jobs,
                trusted,
                witnesses=witnesses,
                min_witnesses=quorum,
            )
    root_b64 = base64.b64encode(bytes.fromhex(report.root_hash)).decode()
    data = {
        **report.__dict__,
        "root_hash_base64": root_b64,
        "operator_key_id": key_id,
        "operator_key_source": key_source,
    }
    counts = ", ".join(
        plural(n, noun)
        for n, noun in (
            (report.submissions, "submission"),
            (report.records, "record"),
            (report.products, "product"),
            (report.suppliers, "supplier"),
            (report.factors, "factor"),
            (report.checkpoints, "checkpoint"),
        )
    )
    emit(
        obj,
        data,
        lambda: click.echo(
            f"OK: {plural(report.entries, 'entry', 'entries')} verified ({counts}); "
            f"tree size {report.tree_size}, root {report.root_hash} (hex), {root_b64} (base64)"
            f"\n  trusted operator key {key_id} (from {key_source})"
            + "".join(f"\n  {c}" for c in report.checks)
        ),
    )


def _bundle_operator_key_id(bundle: Path) -> str:
    """The operator key id in an export's genesis entry (the key verify trusts without a pin)."""
    with bundle.open("rb") as handle:
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                break
            if isinstance(entry, dict) and entry.get("kind") == "genesis":
                return str(entry.get("payload", {}).get("operator_key_id", "unknown"))
            if isinstance(entry, dict) and "kind" in entry:
                break
    return "unknown"


@cli.command()
@click.argument("record_id", required=False)
@click.option(
    "--consistency",
    "old",
    type=FILE,
    help="Instead: an RFC 9162 consistency proof from this older checkpoint to the latest.",
)
@click.option("--out", type=FILE, help="Write the proof document here (default: stdout).")
@pass_ctx
def prove(obj: Ctx, record_id: str | None, old: Path | None, out: Path | None) -> None:
    """Write an inclusion proof of RECORD_ID under the latest checkpoint, or with
    --consistency OLD.cp a consistency proof from OLD.cp to the latest checkpoint.

    \b
    Examples:  carbon-ledger prove 7c9e6679-7425-40de-944b-e07fc1f90ae7 --out proof.json
               carbon-ledger prove --consistency seen.cp --out consistency.json
    """
    if (record_id is None) == (old is None):
        raise click.UsageError("give either RECORD_ID or --consistency OLD.cp")
    if old is not None:
        from ledger import transparency

        doc = transparency.prove_consistency(obj.engine, read_text(old))
        done = f"wrote consistency proof from size {doc['old_size']} to {doc['new_size']} to {out}"
        summary = {"out": str(out), "old_size": doc["old_size"], "new_size": doc["new_size"]}
    else:
        assert record_id is not None
        from ledger import proofs
        from ledger.store import sql  # a SQLite ledger opens without SQLAlchemy

        with sql.reading(obj.db_url) as conn:
            doc = proofs.prove(conn, record_id)
        done = f"wrote proof of seq {doc['seq']} under checkpoint size {doc['tree_size']} to {out}"
        summary = {"out": str(out), "seq": doc["seq"], "tree_size": doc["tree_size"]}
    body = json.dumps(doc, indent=2, ensure_ascii=False)
    if out is None or is_stdio(out):
        click.echo(body)
    else:
        write_out(out, body)
        emit(obj, summary, done)


@cli.command()
@click.option("--supplier", help="Only entries of this supplier.")
@click.option("--product", help="Only records of this product.")
@click.option("--kind", help="Only entries of this kind (record, submission, factor, ...).")
@click.option("--limit", type=int, default=20, show_default=True, help="Newest N entries.")
@pass_ctx
def log(obj: Ctx, supplier: str | None, product: str | None, kind: str | None, limit: int) -> None:
    """Show the newest ledger entries, optionally filtered.

    Records show their record_id and status: effective, superseded or retracted (with the
    seq of the entry that did it).

    \b
    Example:  carbon-ledger log --supplier sup-logi --kind record --limit 5
    """
    from ledger.store import audit_reads, db, queries

    if kind and kind not in KINDS:
        raise InputError(
            f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}{did_you_mean(kind, KINDS)}"
        )
    with db.reading(obj.engine) as conn:
        if supplier and not queries.supplier_exists(conn, supplier):
            raise NotFoundError(f"supplier {supplier!r} is not registered")
        if product and not queries.product_exists(conn, product):
            raise NotFoundError(f"product {product!r} is not registered")
        rows = audit_reads.entry_log(
            conn, kind=kind, product=product, supplier=supplier, limit=limit
        )
    entries = [
        {
            "seq": r[0],
            "kind": r[1],
            "recorded_at": r[2],
            "payload": json.loads(bytes(r[3]))["payload"],
            **({"record_id": r[4], "status": r[5], "status_seq": r[6]} if r[4] else {}),
        }
        for r in rows
    ]
    emit(
        obj,
        entries,
        lambda: click.echo(
            table(
                [
                    (
                        e["seq"],
                        e["kind"],
                        e.get("record_id", ""),
                        _status(e),
                        e["recorded_at"],
                        _summary(e["kind"], e["payload"]),
                    )
                    for e in entries
                ],
                ["seq", "kind", "record_id", "status", "recorded_at", "summary"],
            )
        ),
    )


def _status(entry: dict[str, Any]) -> str:
    status = entry.get("status")
    if status is None:
        return ""
    return status if status == "effective" else f"{status} (seq {entry['status_seq']})"


def _summary(kind: str, p: dict[str, Any]) -> str:
    if kind == "record":
        return (
            f"{p['supplier_id']} {p['product_id']} {p['stage']}/{p['activity']} "
            f"{p['amount']} {p['unit']} = {p['co2e_kg']} kgCO2e"
        )
    if kind == "submission":
        return f"{p['supplier_id']} signed {p['count']} entries with key {p['key_id']}"
    if kind == "factor":
        return f"{p['factor_id']} v{p['version']} {p['kgco2e_per_unit']} kgCO2e/{p['unit']}"
    if kind == "retraction":
        return f"{p['supplier_id']} retracted {p['record_id']}: {p['reason']}"
    if kind in ("supplier", "key_rotate", "key_revoke"):
        return f"{p['supplier_id']} key {p['key_id']}"
    if kind == "product":
        return f"{p['product_id']} {p['name']} ({p['mass_kg']} kg/{p['declared_unit']})"
    return f"ledger {p.get('ledger_id')} origin {p.get('origin')}"


@cli.command()
@click.option("--out", required=True, type=FILE, help="Output JSONL file.")
@pass_ctx
def export(obj: Ctx, out: Path) -> None:
    """Export the whole ledger and its checkpoints for offline audit (`verify --bundle`).

    \b
    Example:  carbon-ledger export --out ledger-export.jsonl
    """
    from ledger import audit

    if is_stdio(out):
        with tempfile.TemporaryDirectory(prefix="carbon-ledger-export-") as tmp:
            spooled = Path(tmp) / "export.jsonl"
            audit.export_bundle(obj.engine, spooled)
            with spooled.open("rb") as handle:
                sys.stdout.flush()
                shutil.copyfileobj(handle, sys.stdout.buffer)
                sys.stdout.buffer.flush()
        return
    output_path(out)
    with progress_bar(audit.ledger_size(obj.engine), "exporting") as update:
        header = audit.export_bundle(obj.engine, out, progress=update)
    emit(
        obj,
        header,
        f"exported {plural(header['tree_size'], 'entry', 'entries')} and "
        f"{plural(header['checkpoints'], 'checkpoint')} to {out}",
    )
