"""Platform commands: label export, label verify."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ledger.errors import InputError
from ledger.labels.formats import FORMATS
from ledger_cli.app import (
    Ctx,
    cli,
    emit,
    is_stdio,
    load_key,
    pass_ctx,
    read_text,
    witness_options,
    witness_quorum,
    write_out,
)
from ledger_cli.progress import phases


@cli.group()
def label() -> None:
    """Per-product carbon labels: PACT v3, self-verifying JSON, SVG/HTML with QR, CSV."""


@label.command("export")
@click.argument("product_id", required=False)
@click.option(
    "--all", "all_products", is_flag=True, help="Every product, one file each in --out DIR."
)
@click.option("--from", "start", required=True, help="Window start YYYY-MM-DD (inclusive).")
@click.option("--to", "end", required=True, help="Window end YYYY-MM-DD (exclusive).")
@click.option(
    "--format",
    "fmt_name",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="Output file (a directory with --all)."
)
@click.option(
    "--qr-url",
    help="QR URL template with {product_id} {from} {to} {label_id}; default the /verify page "
    "at https://<log origin> when the origin names a host, else a compact string.",
)
@click.option(
    "--operator-key",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Log the footprint statement now (needed when none is logged yet) and sign.",
)
@click.option(
    "--as-of",
    default="checkpoint",
    show_default=True,
    help="Tree size of the figures: checkpoint (latest signed), latest, or a number.",
)
@click.option(
    "--pact-extension-base",
    default=None,
    help="Public base URL of the PACT extension schema "
    "[default: https://<log origin>/schemas/pact-extensions].",
)
@pass_ctx
def label_export_cmd(
    obj: Ctx,
    product_id: str | None,
    all_products: bool,
    start: str,
    end: str,
    fmt_name: str,
    out: Path | None,
    qr_url: str | None,
    operator_key: Path | None,
    as_of: str,
    pact_extension_base: str | None,
) -> None:
    """Export the carbon label of PRODUCT_ID (or --all products) from a logged statement.

    A label shows only figures the operator has logged as a footprint statement under a
    signed checkpoint. With --operator-key the statement is computed (as of --as-of),
    logged unless an identical one is, and a checkpoint covering it is signed; without it,
    the newest logged statement for the product and window is used.

    \b
    Examples:  carbon-ledger label export 6923451000013 --from 2025-01-01 --to 2026-01-01 \\
                 --format json --out water.label.json --operator-key operator.key
               carbon-ledger label export --all --from 2025-01-01 --to 2026-01-01 \\
                 --format svg --out labels/
    """
    from ledger.labels import export as label_export  # pandas only when needed
    from ledger.transparency import default_state_path
    from ledger.vocab import parse_window

    options = label_export.LabelOptions(qr_url, pact_extension_base)
    operator = load_key(operator_key) if operator_key is not None else None
    state = default_state_path(operator_key) if operator_key is not None else None
    if all_products == (product_id is not None):
        raise InputError("give a PRODUCT_ID or --all (not both)")
    if all_products:
        if out is None:
            raise InputError("--all needs --out DIR")
        with phases() as tracker:
            written, skipped = label_export.export_all(
                obj.engine, start, end, fmt_name, out, options, operator, as_of, tracker, state
            )
        emit(
            obj,
            {"written": [str(p) for p in written], "skipped": skipped},
            lambda: click.echo(
                "\n".join([f"wrote {p}" for p in written] + [f"skipped {s}" for s in skipped])
            ),
        )
        return
    assert product_id is not None
    with phases() as tracker:
        body = label_export.export_one(
            obj.engine, product_id, start, end, fmt_name, options, operator, as_of, tracker, state
        )
    if out is None or is_stdio(out):
        click.echo(body, nl=False)
    else:
        write_out(out, body)
        summary = label_export.statement_summary(obj.engine, product_id, parse_window(start, end))
        emit(
            obj,
            {"out": str(out), "statement": summary},
            f"wrote {fmt_name} label of {product_id} to {out} ({summary})",
        )


@label.command("verify")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--operator-pub",
    required=True,
    help="The ledger operator's public key you trust (PEM file or name+hash+base64).",
)
@witness_options
@pass_ctx
def label_verify_cmd(
    obj: Ctx,
    file: Path,
    operator_pub: str,
    witness_pub: tuple[str, ...],
    min_witnesses: int | None,
) -> None:
    """Verify a carbon-label/v2 JSON file offline: no database needed.

    Checks the checkpoint signature (and, with --witness-pub, its witness cosignatures),
    every inclusion and in-submission proof, every operator and supplier signature, that
    the evidence holds exactly the record set of the logged footprint statement, recomputes
    every co2e and the footprint, and compares them with the statement and the label's
    figures.

    \b
    Examples:  carbon-ledger label verify water.label.json --operator-pub operator.key.pub
               carbon-ledger label verify water.label.json --operator-pub operator.key.pub \\
                   --witness-pub w1.key.pub --witness-pub w2.key.pub --min-witnesses 1
    """
    from ledger.labels.witnessed import verify_witnessed_label

    try:
        doc = json.loads(read_text(file))
    except ValueError as exc:
        raise InputError(f"{file} is not JSON: {exc}") from exc
    witnesses, quorum = witness_quorum(witness_pub, min_witnesses)
    from ledger import keys

    with phases() as tracker:
        fp, seen = verify_witnessed_label(
            doc, keys.load_verifier(operator_pub), witnesses, quorum, tracker
        )
    cosigners = [f"{w.name}+{w.key_hash} at {w.time}" for w in seen.witnesses]
    emit(
        obj,
        {
            "ok": True,
            "product_id": fp.product_id,
            "kgco2e_per_unit": str(fp.kgco2e_per_unit),
            "origin": seen.checkpoint.origin,
            "tree_size": seen.checkpoint.size,
            "signed_by": seen.operator,
            "witnesses": [w.__dict__ for w in seen.witnesses],
        },
        f"OK: label of {fp.product_id} verified offline: {fp.kgco2e_per_unit} kgCO2e per "
        f"{fp.declared_unit}, {fp.record_count} records; footprint statement at seq "
        f"{doc['statement']['seq']} (as of size {doc['statement']['as_of_size']}); "
        f"origin {seen.checkpoint.origin}, checkpoint size {seen.checkpoint.size} signed "
        f"by the operator {seen.operator}" + "".join(f"; witnessed by {c}" for c in cosigners),
    )
