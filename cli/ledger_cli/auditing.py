"""Auditor commands: verify, prove, log, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy import text

from ledger import audit, keys, transparency
from ledger.store import db
from ledger_cli.app import (
    Ctx,
    cli,
    emit,
    existing_file,
    output_path,
    pass_ctx,
    progress_bar,
    read_text,
    show_progress,
    table,
)

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
    help="Processes: workers decode, hash and recompute while one process replays in order.",
)
@click.option(
    "--operator-pub",
    type=FILE,
    help="The operator public key you trust; without it the genesis entry's key is used.",
)
@pass_ctx
def verify(
    obj: Ctx, seen: Path | None, bundle: Path | None, jobs: int, operator_pub: Path | None
) -> None:
    """Verify the whole ledger; report the first bad seq and why.

    Checks seq contiguity, every entry hash and prev link, time order, canonical bytes, every
    operator and submission signature and key validity, every records_root, every co2e =
    amount × factor, the Merkle root at every checkpoint and their signatures, and that the
    index tables equal a replay of the entries. With --checkpoint it also proves the ledger
    extends that checkpoint, so truncation and rewrites fail.

    \b
    Examples:  carbon-ledger verify
               carbon-ledger verify --checkpoint seen.cp
               carbon-ledger verify --jobs 2 --operator-pub operator.key.pub
               carbon-ledger verify --bundle ledger-export.jsonl --checkpoint seen.cp
    """
    seen_note = read_text(seen) if seen else None
    trusted = keys.load_public(operator_pub) if operator_pub is not None else None
    if bundle is not None:
        # the bar's length costs a pass over the file: only pay it on a terminal
        with existing_file(bundle).open("rb") as handle:
            lines = sum(1 for _ in handle) if show_progress() else 0
        with progress_bar(lines, "verifying") as update:
            report = audit.verify_bundle(bundle, seen_note, update, trusted, jobs)
    else:
        with progress_bar(audit.ledger_size(obj.engine), "verifying") as update:
            report = audit.verify_database(obj.engine, seen_note, update, jobs, trusted)
    data = report.__dict__
    emit(
        obj,
        data,
        lambda: click.echo(
            f"OK: {report.entries} entries verified ({report.submissions} submissions, "
            f"{report.records} records, {report.products} products, {report.suppliers} suppliers, "
            f"{report.factors} factors, {report.checkpoints} checkpoints); "
            f"tree size {report.tree_size}, root {report.root_hash}"
            + "".join(f"\n  {c}" for c in report.checks)
        ),
    )


@cli.command()
@click.argument("record_id")
@click.option("--out", type=FILE, help="Write the proof document here (default: stdout).")
@pass_ctx
def prove(obj: Ctx, record_id: str, out: Path | None) -> None:
    """Write an inclusion proof of RECORD_ID under the latest checkpoint.

    \b
    Example:  carbon-ledger prove 7c9e6679-7425-40de-944b-e07fc1f90ae7 --out proof.json
    """
    doc = transparency.prove(obj.engine, record_id)
    body = json.dumps(doc, indent=2, ensure_ascii=False)
    if out is None:
        click.echo(body)
    else:
        out.write_text(body + "\n", encoding="utf-8")
        emit(
            obj,
            {"out": str(out), "seq": doc["seq"], "tree_size": doc["tree_size"]},
            f"wrote proof of seq {doc['seq']} under checkpoint size {doc['tree_size']} to {out}",
        )


@cli.command()
@click.option("--supplier", help="Only entries of this supplier.")
@click.option("--product", help="Only records of this product.")
@click.option("--kind", help="Only entries of this kind (record, submission, factor, ...).")
@click.option("--limit", type=int, default=20, show_default=True, help="Newest N entries.")
@pass_ctx
def log(obj: Ctx, supplier: str | None, product: str | None, kind: str | None, limit: int) -> None:
    """Show the newest ledger entries, optionally filtered.

    \b
    Example:  carbon-ledger log --supplier sup-logi --kind record --limit 5
    """
    clauses: list[str] = []
    params: dict[str, object] = {"limit": limit}
    if kind:
        clauses.append("e.kind = :kind")
        params["kind"] = kind
    if product:
        clauses.append("r.product_id = :product")
        params["product"] = product
    if supplier:
        # from the index tables, not a LIKE on entry_bytes (a BLOB never matches a text
        # pattern in SQLite): submissions and the entries they cover, plus the operator's
        # supplier, key_rotate and key_revoke entries for this supplier
        clauses.append(
            "(s.supplier_id = :supplier OR cs.supplier_id = :supplier "
            "OR e.seq IN (SELECT seq FROM suppliers WHERE supplier_id = :supplier) "
            "OR e.seq IN (SELECT added_seq FROM supplier_keys WHERE supplier_id = :supplier) "
            "OR e.seq IN (SELECT revoked_seq FROM supplier_keys WHERE supplier_id = :supplier))"
        )
        params["supplier"] = supplier
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = text(
        "SELECT e.seq, e.kind, e.recorded_at, e.entry_bytes FROM entries e "
        "LEFT JOIN records r ON r.seq = e.seq LEFT JOIN submissions s ON s.seq = e.seq "
        "LEFT JOIN submissions cs ON cs.seq = e.submission_seq "
        f"{where} ORDER BY e.seq DESC LIMIT :limit"
    )
    with db.reading(obj.engine) as conn:
        rows = conn.execute(sql, params).all()
    entries = [
        {
            "seq": r[0],
            "kind": r[1],
            "recorded_at": r[2],
            "payload": json.loads(bytes(r[3]))["payload"],
        }
        for r in rows
    ]
    emit(
        obj,
        entries,
        lambda: click.echo(
            table(
                [
                    (e["seq"], e["kind"], e["recorded_at"], _summary(e["kind"], e["payload"]))
                    for e in entries
                ],
                ["seq", "kind", "recorded_at", "summary"],
            )
        ),
    )


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
    output_path(out)
    with progress_bar(audit.ledger_size(obj.engine), "exporting") as update:
        header = audit.export_bundle(obj.engine, out, progress=update)
    emit(
        obj,
        header,
        f"exported {header['tree_size']} entries and {header['checkpoints']} checkpoints to {out}",
    )
