"""Supplier commands: product add, append, import, retract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ledger import vocab
from ledger.errors import InputError
from ledger_cli.app import Ctx, cli, emit, input_file, load_key, pass_ctx, plural, table, write_out
from ledger_cli.progress import phases

KEY = click.Path(path_type=Path, dir_okay=False)


def _supplier_options(fn: Any) -> Any:
    fn = click.option(
        "--key", "key_path", required=True, type=KEY, help="The supplier's private key."
    )(fn)
    return click.option("--supplier", required=True, help="Your supplier id.")(fn)


@cli.group()
def product() -> None:
    """Products (registered by their owning supplier)."""


@product.command("add")
@click.argument("product_id")
@_supplier_options
@click.option("--name", required=True)
@click.option("--declared-unit", required=True, type=click.Choice(tuple(vocab.DECLARED_UNITS)))
@click.option("--mass-kg", required=True, help="Mass of one declared unit in kg (> 0).")
@click.option("--category", help="UN CPC code (optional).")
@pass_ctx
def product_add(
    obj: Ctx,
    product_id: str,
    supplier: str,
    key_path: Path,
    name: str,
    declared_unit: str,
    mass_kg: str,
    category: str | None,
) -> None:
    """Register PRODUCT_ID (a GTIN or URN), signed by the owning supplier.

    \b
    Example:  carbon-ledger product add 6901234567892 --supplier sup-bev --key sup-bev.key \\
                --name "Green tea 550 ml" --declared-unit piece --mass-kg 0.58
    """
    from ledger import records  # imported here: the CLI starts without the database

    result = records.add_product(
        obj.engine,
        supplier,
        load_key(key_path),
        product_id,
        name,
        declared_unit,
        mass_kg,
        category,
    )
    emit(
        obj,
        {"seq": result.first_seq, "submission_seq": result.submission_seq},
        f"registered product {product_id} at seq {result.first_seq}",
    )


@product.command("list")
@click.option("--supplier", help="Only products owned by this supplier.")
@pass_ctx
def product_list(obj: Ctx, supplier: str | None) -> None:
    """List registered products with their owner, declared unit and mass per unit.

    \b
    Example:  carbon-ledger product list --supplier sup-bev
    """
    from ledger import records  # imported here: the CLI starts without the database

    rows = records.list_products(obj.engine, supplier)
    emit(
        obj,
        rows,
        lambda: click.echo(
            table(
                [
                    (
                        r["product_id"],
                        r["supplier_id"],
                        r["name"],
                        r["declared_unit"],
                        r["mass_kg"],
                        r["category"] or "",
                    )
                    for r in rows
                ],
                ["product_id", "supplier_id", "name", "unit", "kg/unit", "category"],
            )
        ),
    )


@cli.command()
@_supplier_options
@click.option("--product", "product_id", required=True)
@click.option(
    "--stage",
    required=True,
    type=click.Choice(["production", "warehousing", "transport", "packaging"]),
)
@click.option("--activity", required=True, help="e.g. electricity, road_freight, corrugated_box")
@click.option("--amount", help="Activity amount as a decimal, e.g. 1200.5")
@click.option("--unit", help="kWh, MWh, GJ, MJ, g, kg, t, L, m3, tkm, pallet_day, m3_day, piece")
@click.option(
    "--factor", "factor_id", help="Emission factor id (latest version unless --factor-version)."
)
@click.option("--factor-version", type=int)
@click.option("--co2e-kg", help="Measured kgCO2e (with --evidence-sha256, no factor).")
@click.option("--evidence-sha256", help="SHA-256 of the supporting document.")
@click.option("--units-covered", required=True, help="Declared units of the product covered.")
@click.option("--period-start", required=True, help="YYYY-MM-DD (inclusive)")
@click.option("--period-end", required=True, help="YYYY-MM-DD (exclusive)")
@click.option(
    "--data-quality",
    type=click.Choice(["primary", "secondary"]),
    default="secondary",
    show_default=True,
)
@click.option("--reuse-cycles", help="Packaging only: expected uses of a reusable item.")
@click.option("--distance-km", help="Transport only: with --mass-kg instead of --amount.")
@click.option("--mass-kg", help="Transport only: shipped mass in kg.")
@click.option("--record-id", help="Your record id (default: a new UUID).")
@click.option("--supersedes", help="record_id this record corrects.")
@click.option("--note")
@pass_ctx
def append(obj: Ctx, /, supplier: str, key_path: Path, **fields: Any) -> None:
    """Append one emission record, signed as a submission of one.

    \b
    Example:  carbon-ledger append --supplier sup-bev --key sup-bev.key \\
                --product 6901234567892 --stage production --activity electricity \\
                --amount 1200.5 --unit kWh --factor cn-grid-electricity \\
                --units-covered 10000 --period-start 2025-01-01 --period-end 2025-02-01
    """
    row = {k: (str(v) if v is not None else None) for k, v in fields.items()}
    from ledger import records  # imported here: the CLI starts without the database

    payload, result = records.append_record(obj.engine, supplier, load_key(key_path), row)
    emit(
        obj,
        {"record": payload, "seq": result.first_seq, "submission_seq": result.submission_seq},
        f"appended record {payload['record_id']} at seq {result.first_seq}: "
        f"{payload['co2e_kg']} kgCO2e",
    )


@cli.command("import")
@click.argument(
    "file", type=click.Path(path_type=Path, exists=True, allow_dash=True, dir_okay=False)
)
@_supplier_options
@click.option("--dry-run", is_flag=True, help="Validate every row and write nothing.")
@click.option(
    "--allow-duplicate", is_flag=True, help="Import a file whose SHA-256 was imported before."
)
@click.option(
    "--delimiter",
    type=click.Choice([",", ";", "tab"]),
    help="CSV field separator (default: sniffed from the header line).",
)
@click.option(
    "--errors",
    "errors_file",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="Write every problem (one per line) here when the file is refused.",
)
@pass_ctx
def import_(
    obj: Ctx,
    file: Path,
    supplier: str,
    key_path: Path,
    dry_run: bool,
    allow_duplicate: bool,
    delimiter: str | None,
    errors_file: Path | None,
) -> None:
    """Import a CSV or JSONL file (or - for stdin) of records as one signed submission.

    Every row is validated first; if any is bad, each bad row is listed as
    `line N: field: problem` and nothing is written. Header problems are reported once,
    with the closest valid column name.

    \b
    Example:  carbon-ledger import records-2025.csv --supplier sup-bev --key sup-bev.key
              carbon-ledger import - --supplier sup-bev --key sup-bev.key < records.jsonl
    """
    from ledger import records  # imported here: the CLI starts without the database

    private = load_key(key_path)
    with input_file(file) as path, phases() as tracker:
        try:
            report = records.import_records(
                obj.engine,
                path,
                supplier,
                private,
                dry_run=dry_run,
                allow_duplicate=allow_duplicate,
                delimiter="\t" if delimiter == "tab" else delimiter,
                phases=tracker,
            )
        except InputError as exc:
            if errors_file is not None:
                write_out(errors_file, "\n".join(exc.problems or [str(exc)]))
            raise
    name = "stdin" if str(file) == "-" else file.name
    data: dict[str, Any] = {
        "rows": report.rows,
        "source_sha256": report.source_sha256,
        "dry_run": dry_run,
    }
    if report.result is not None:
        data.update(
            first_seq=report.result.first_seq,
            last_seq=report.result.last_seq,
            submission_seq=report.result.submission_seq,
            records_root=report.result.records_root,
        )
        message = (
            f"imported {plural(report.rows, 'record')} from {name} as submission "
            f"{report.result.submission_seq} "
            f"(seq {report.result.first_seq}-{report.result.last_seq})"
        )
    else:
        message = (
            f"dry run: all {plural(report.rows, 'row')} of {name} are valid; nothing was written"
        )
    emit(obj, data, message)


@cli.command()
@click.argument("record_id")
@_supplier_options
@click.option("--reason", required=True)
@pass_ctx
def retract(obj: Ctx, record_id: str, supplier: str, key_path: Path, reason: str) -> None:
    """Retract one of your records; it stops counting and stays in history.

    \b
    Example:  carbon-ledger retract 7c9e... --supplier sup-bev --key sup-bev.key \\
                --reason "double counted"
    """
    from ledger import records  # imported here: the CLI starts without the database

    result = records.retract(obj.engine, supplier, load_key(key_path), record_id, reason)
    emit(obj, {"seq": result.first_seq}, f"retracted {record_id} at seq {result.first_seq}")
