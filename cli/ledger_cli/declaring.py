"""Owner commands: output add, output import (the reference flow, SPEC §5)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ledger_cli.app import Ctx, cli, emit, load_key, pass_ctx
from ledger_cli.supply import _supplier_options

if TYPE_CHECKING:
    from ledger.submit import SubmissionResult


@cli.group("output")
def output_group() -> None:
    """Declared outputs: how many declared units a product's owner produced in a period."""


def _report(obj: Ctx, payloads: list[dict[str, Any]], result: SubmissionResult) -> None:
    noun = "output" if len(payloads) == 1 else "outputs"
    emit(
        obj,
        {
            "outputs": payloads,
            "submission_seq": result.submission_seq,
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
        },
        f"declared {len(payloads)} {noun} as submission {result.submission_seq} "
        f"(seq {result.first_seq}-{result.last_seq})",
    )


@output_group.command("add")
@click.argument("product_id")
@_supplier_options
@click.option("--units", required=True, help="Declared units produced in the period (> 0).")
@click.option("--period-start", required=True, help="YYYY-MM-DD (inclusive)")
@click.option("--period-end", required=True, help="YYYY-MM-DD (exclusive)")
@click.option("--output-id", help="Your id for this declaration (default: a new UUID).")
@click.option("--supersedes", help="output_id this declaration corrects.")
@click.option("--evidence-sha256", help="SHA-256 of the production report.")
@click.option("--note")
@pass_ctx
def output_add(obj: Ctx, /, product_id: str, supplier: str, key_path: Path, **fields: Any) -> None:
    """Declare PRODUCT_ID's output for a period; only the product's owner may.

    Every per-unit figure divides by these declared units (the reference flow), pro rata to
    the days of each declaration that fall in the window asked for.

    \b
    Example:  carbon-ledger output add 6923451000013 --supplier sup-bev --key sup-bev.key \\
                --units 120000 --period-start 2025-01-01 --period-end 2025-02-01
    """
    row = {k: v for k, v in fields.items() if v is not None}
    row["product_id"] = product_id
    from ledger import records  # imported here: the CLI starts without the database

    payloads, result = records.declare_outputs(
        obj.engine, supplier, load_key(key_path), iter([(1, row)])
    )
    _report(obj, payloads, result)


@output_group.command("import")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@_supplier_options
@pass_ctx
def output_import(obj: Ctx, file: Path, supplier: str, key_path: Path) -> None:
    """Declare the outputs in a CSV or JSONL file as one signed submission.

    Columns: output_id, product_id, units, period_start, period_end, evidence_sha256,
    supersedes, note. Every row is checked against the ledger and against the file's other
    rows (overlapping periods, supersedes); if any is bad, nothing is written.

    \b
    Example:  carbon-ledger output import outputs-2025.csv --supplier sup-bev --key sup-bev.key
    """
    sha = hashlib.sha256(file.read_bytes()).hexdigest()
    from ledger import outputs, records  # imported here: the CLI starts without the database

    payloads, result = records.declare_outputs(
        obj.engine, supplier, load_key(key_path), outputs.read_rows(file), sha
    )
    _report(obj, payloads, result)
