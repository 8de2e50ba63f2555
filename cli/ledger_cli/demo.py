"""`carbon-ledger demo`: the sample world end to end."""

from __future__ import annotations

from pathlib import Path

import click

from ledger_cli.app import Ctx, cli, pass_ctx
from ledger_cli.querying import SHORT


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("carbon-ledger-demo"),
    show_default=True,
    help="Fresh directory for the demo ledger, keys, export and labels.",
)
@click.option(
    "--samples",
    type=click.Path(path_type=Path, file_okay=False),
    help="The samples/ directory (found automatically in a checkout).",
)
@pass_ctx
def demo(obj: Ctx, directory: Path, samples: Path | None) -> None:
    """Build a ledger from samples/, verify it, print the supplier table, write labels.

    \b
    Example:  carbon-ledger demo --dir /tmp/carbon-demo
    """
    from ledger import demo as demo_lib
    from ledger.store import db
    from ledger.tables import intensity_table
    from ledger_cli.render import render_table, terminal_width

    result = demo_lib.build(directory, samples, say=click.echo)
    r = result.report
    click.echo(
        f"verify: OK, {r.entries} entries, {r.submissions} submissions, {r.records} "
        f"records; root {r.root_hash[:16]}… matches the signed checkpoint"
    )
    click.echo(
        f"verify --bundle {result.bundle_path.name}: OK offline, "
        f"{result.bundle_report.entries} entries"
    )
    with db.reading(result.engine) as conn:
        rows = intensity_table(
            conn, "supplier", ("2025-01-01", "2026-01-01"), ("2024-01-01", "2025-01-01")
        )
    click.echo("\nSupplier carbon intensity 2025 vs 2024 baseline (kgCO2e per kg of product):")
    click.echo(render_table(rows, "table", SHORT, terminal_width()))
    click.echo(
        f"\nlabels: {len(result.labels)} files in {result.label_dir} — check one offline with:\n"
        f"  carbon-ledger label verify {result.label_dir}/6923451000013.label.json "
        f"--operator-pub {result.directory}/keys/operator.key.pub"
    )
    click.echo(
        f"\nledger: {result.db_url}\nTry:  carbon-ledger --db {result.db_url} "
        f"query intensity --by product --from 2025-01-01 --to 2026-01-01"
    )
