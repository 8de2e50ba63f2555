"""Maintenance commands: reindex."""

from __future__ import annotations

import click

from ledger_cli.app import Ctx, cli, emit, pass_ctx
from ledger_cli.progress import show_progress


@cli.command()
@pass_ctx
def reindex(obj: Ctx) -> None:
    """Rebuild every index table from the entries; stamp the current schema version.

    The entries are the only source of truth: suppliers, keys, products, factors,
    submissions, records and the Merkle node tables are derived from them. This is how a
    database written by an older carbon-ledger is brought up to date (other commands refuse
    it until then). One transaction: on failure nothing changes.

    \b
    Example:  carbon-ledger --db sqlite:///ledger.db reindex
    """
    from ledger.store.reindex import reindex as rebuild

    def progress(done: int, total: int) -> None:
        if show_progress():
            click.echo(f"\rreindexing: {done}/{total} entries", nl=False, err=True)

    report = rebuild(obj.engine, progress)
    if show_progress():
        click.echo(err=True)
    emit(
        obj,
        {
            "entries": report.entries,
            "tables": list(report.tables),
            "schema_version": report.schema_version,
        },
        f"reindexed {report.entries} entries into {len(report.tables)} index tables "
        f"({', '.join(report.tables)}); schema version {report.schema_version}",
    )
