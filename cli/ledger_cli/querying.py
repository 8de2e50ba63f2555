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
    import pandas as pd

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


def with_supplier_names(obj: Ctx, frame: pd.DataFrame) -> pd.DataFrame:
    """A ``supplier_name`` column right after ``supplier_id`` (people read names, not ids)."""
    if "supplier_id" not in frame.columns or "supplier_name" in frame.columns:
        return frame
    from ledger.store import db, queries  # imported here: the CLI starts without the database

    with db.reading(obj.engine) as conn:
        names = queries.supplier_names(conn)
    frame = frame.copy()
    frame.insert(
        list(frame.columns).index("supplier_id") + 1,
        "supplier_name",
        [names.get(s) for s in frame["supplier_id"]],
    )
    return frame


def show(
    obj: Ctx,
    frame: pd.DataFrame,
    fmt_name: str,
    short: dict[str, str],
    sort_by: str | None,
    desc: bool,
    out: Path | None,
) -> None:
    """Sort and render a query frame; tables get names and fit the terminal on stdout."""
    from ledger_cli.render import render_frame, sort_frame, terminal_width

    if obj.as_json:
        fmt_name = "json"
    if fmt_name == "table":  # csv and json keep exactly the columns of SPEC §6
        frame = with_supplier_names(obj, frame)
    frame = sort_frame(frame, sort_by, desc, short)
    to_terminal = out is None or str(out) == "-"
    width = terminal_width() if fmt_name == "table" and to_terminal else None
    write_out(out, render_frame(frame, fmt_name, short, width))


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
    from ledger import query  # pandas is imported only by the commands that need it

    frame = query.intensity(
        obj.engine, by, (start, end), _baseline(baseline_from, baseline_to), as_of=as_of
    )
    show(obj, frame, fmt_name, SHORT, sort_by, desc, out)
    _say_as_of(frame.attrs["as_of"], "json" if obj.as_json else fmt_name)


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
    from ledger import query

    card = query.scorecard(
        obj.engine, (start, end), (baseline_from, baseline_to), target, as_of=as_of
    )
    short = {**SHORT, "meets_target": f"meets -{target}%"}
    if fmt_name == "html" and not obj.as_json:
        from ledger import report
        from ledger_cli.render import sort_frame

        table = sort_frame(with_supplier_names(obj, card.table), sort_by, desc, short)
        html = report.scorecard_html(
            table,
            target,
            (start, end),
            (baseline_from, baseline_to),
            card.tree_size,
            card.root_hash,
        )
        write_out(out, html)
        if out is not None and str(out) != "-":
            click.echo(f"wrote scorecard report for {plural(len(table), 'supplier')} to {out}")
        return
    frame = card.table
    if fmt_name == "table" and not obj.as_json:
        frame = frame.drop(columns=[c for c in ("tree_size", "root_hash") if c in frame.columns])
    show(obj, frame, fmt_name, short, sort_by, desc, out)
    root = f", root {card.root_hash}" if card.root_hash else ""
    _say_as_of(f"{card.as_of}{root}", "json" if obj.as_json else fmt_name)
