"""Analyst commands: query intensity, query scorecard."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ledger.errors import InputError
from ledger_cli.app import Ctx, cli, pass_ctx, plural, write_out

if TYPE_CHECKING:
    from ledger.tables import Table

FORMAT = click.Choice(["table", "csv", "json"])
SHORT = {
    "intensity_kgco2e_per_kg": "kgCO2e/kg",
    "baseline_intensity_kgco2e_per_kg": "baseline",
    "primary_data_share": "primary",
    "footprint_kgco2e_per_unit": "kgCO2e/unit",
    "footprint_kgco2e_per_kg": "kgCO2e/kg",
    "baseline_footprint_kgco2e_per_unit": "baseline",
    "missing_stages": "missing",
    "baseline_missing_stages": "baseline missing",
    "total_kgco2e": "total kgCO2e",
    "reference_units": "units",
    "change_pct": "change",
    "product_name": "name",
    "supplier_name": "name",
}


AS_OF = click.option(
    "--as-of",
    default="checkpoint",
    show_default=True,
    help="Tree size to compute at: checkpoint (the latest signed), latest, or a number.",
)


@cli.group("query")
def query_group() -> None:
    """Footprint intensity and supplier scorecards (pandas)."""


def _baseline(start: str | None, end: str | None) -> tuple[str, str] | None:
    if (start is None) != (end is None):
        raise InputError("give both --baseline-from and --baseline-to, or neither")
    return (start, end) if start is not None and end is not None else None


def _output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--sort/--desc/--out, shared by every query command."""
    fn = click.option(
        "--out",
        type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
        help="Write the output here (- or none: stdout).",
    )(fn)
    fn = click.option("--desc", is_flag=True, help="Sort descending.")(fn)
    return click.option(
        "--sort", "sort_by", metavar="COLUMN", help="Sort rows by this column (name or heading)."
    )(fn)


def show(
    obj: Ctx,
    table_: Table,
    fmt_name: str,
    short: dict[str, str],
    sort_by: str | None,
    desc: bool,
    out: Path | None,
) -> None:
    """Sort and render a query table; tables fit the terminal on stdout."""
    from ledger_cli.render import render_table, sort_rows, terminal_width

    if obj.as_json:
        fmt_name = "json"
    table_ = sort_rows(table_, sort_by, desc, short)
    to_terminal = out is None or str(out) == "-"
    width = terminal_width() if fmt_name == "table" and to_terminal else None
    write_out(out, render_table(table_, fmt_name, short, width))


@query_group.command("intensity")
@click.option(
    "--by",
    type=click.Choice(["supplier", "product", "stage"]),
    default="supplier",
    show_default=True,
)
@click.option("--from", "start", required=True, help="Window start YYYY-MM-DD (inclusive).")
@click.option("--to", "end", required=True, help="Window end YYYY-MM-DD (exclusive).")
@click.option("--baseline-from")
@click.option("--baseline-to")
@click.option("--format", "fmt_name", type=FORMAT, default="table", show_default=True)
@AS_OF
@_output_options
@pass_ctx
def intensity(
    obj: Ctx,
    by: str,
    start: str,
    end: str,
    baseline_from: str | None,
    baseline_to: str | None,
    fmt_name: str,
    as_of: str,
    sort_by: str | None,
    desc: bool,
    out: Path | None,
) -> None:
    """Carbon intensity per supplier (kgCO2e/kg), product (kgCO2e/unit) or stage.

    Tables fit the terminal: long names are abbreviated and, if still too wide, the least
    important columns are hidden (csv and json always hold every column).

    \b
    Example:  carbon-ledger query intensity --by supplier --from 2025-01-01 --to 2026-01-01 \\
                --baseline-from 2024-01-01 --baseline-to 2025-01-01 --sort change_pct
    """
    from ledger.store import sql  # neither pandas nor SQLAlchemy: a SQLite query starts fast
    from ledger.tables import intensity_table

    with sql.reading(obj.db_url) as conn:
        rows = intensity_table(
            conn, by, (start, end), _baseline(baseline_from, baseline_to), as_of=as_of
        )
        show(obj, rows, fmt_name, SHORT, sort_by, desc, out)
    _say_as_of(rows.attrs["as_of"], "json" if obj.as_json else fmt_name)


def _say_as_of(described: str, fmt_name: str) -> None:
    """Which tree size the figures are from: under a table, on stderr beside csv/json."""
    from ledger_cli.render import terminal_width

    line = f"figures as of {described}"
    width = terminal_width()
    if fmt_name == "table":
        click.echo("\n" + (textwrap.fill(line, width) if width else line))
    else:
        click.echo(line, err=True)


@query_group.command("scorecard")
@click.option("--from", "start", required=True)
@click.option("--to", "end", required=True)
@click.option("--baseline-from", required=True)
@click.option("--baseline-to", required=True)
@click.option(
    "--target-reduction", default="12", show_default=True, help="Required reduction in %."
)
@click.option(
    "--format",
    "fmt_name",
    type=click.Choice(["table", "csv", "json", "html"]),
    default="table",
    show_default=True,
    help="html: a self-contained report with a chart per supplier (use with --out).",
)
@AS_OF
@_output_options
@pass_ctx
def scorecard(
    obj: Ctx,
    start: str,
    end: str,
    baseline_from: str,
    baseline_to: str,
    target_reduction: str,
    fmt_name: str,
    as_of: str,
    sort_by: str | None,
    desc: bool,
    out: Path | None,
) -> None:
    """Supplier scorecard for green finance, pinned to the latest checkpoint.

    \b
    Examples:  carbon-ledger query scorecard --from 2025-01-01 --to 2026-01-01 \\
                 --baseline-from 2024-01-01 --baseline-to 2025-01-01 --target-reduction 12
               carbon-ledger query scorecard --from 2025-01-01 --to 2026-01-01 \\
                 --baseline-from 2024-01-01 --baseline-to 2025-01-01 --format html \\
                 --out report.html
    """
    try:
        target = Decimal(target_reduction)
    except InvalidOperation as exc:
        raise InputError(f"--target-reduction {target_reduction!r} is not a number") from exc
    if not target.is_finite():
        raise InputError(f"--target-reduction {target_reduction!r} is not a number")
    from ledger.store import sql
    from ledger.tables import Table, scorecard_table

    short = {**SHORT, "meets_target": f"meets -{target}%"}
    with sql.reading(obj.db_url) as conn:
        card = scorecard_table(conn, (start, end), (baseline_from, baseline_to), target, as_of)
        if fmt_name == "html" and not obj.as_json:
            from ledger import report
            from ledger.query import to_frame
            from ledger_cli.render import sort_rows

            rows = sort_rows(card.table, sort_by, desc, short)
            html = report.scorecard_html(
                to_frame(rows),
                target,
                (start, end),
                (baseline_from, baseline_to),
                card.tree_size,
                card.root_hash,
            )
            write_out(out, html)
            if out is not None and str(out) != "-":
                click.echo(
                    f"wrote scorecard report for {plural(len(rows.rows), 'supplier')} to {out}"
                )
            return
        rows = card.table
        if fmt_name == "table" and not obj.as_json:
            kept = [c for c in rows.columns if c not in ("tree_size", "root_hash")]
            rows = Table(kept, rows.rows, rows.attrs)
        show(obj, rows, fmt_name, short, sort_by, desc, out)
    root = f", root {card.root_hash}" if card.root_hash else ""
    _say_as_of(f"{card.as_of}{root}", "json" if obj.as_json else fmt_name)
