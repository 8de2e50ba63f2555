"""Analyst commands: query intensity, query scorecard."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import click

from ledger.errors import InputError
from ledger_cli.app import Ctx, cli, pass_ctx

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
) -> None:
    """Carbon intensity per supplier (kgCO2e/kg), product (kgCO2e/unit) or stage.

    \b
    Example:  carbon-ledger query intensity --by supplier --from 2025-01-01 --to 2026-01-01 \\
                --baseline-from 2024-01-01 --baseline-to 2025-01-01
    """
    from ledger import query  # pandas is imported only by the commands that need it
    from ledger_cli.render import render_frame

    frame = query.intensity(
        obj.engine, by, (start, end), _baseline(baseline_from, baseline_to), as_of=as_of
    )
    if obj.as_json:
        fmt_name = "json"
    if fmt_name == "table":
        frame = frame.drop(columns=[c for c in ("product_name",) if c in frame.columns])
    click.echo(render_frame(frame, fmt_name, SHORT))
    _say_as_of(frame.attrs["as_of"], fmt_name)


def _say_as_of(described: str, fmt_name: str) -> None:
    """Which tree size the figures are from: under a table, on stderr beside csv/json."""
    click.echo(
        f"\nfigures as of {described}" if fmt_name == "table" else f"figures as of {described}",
        err=fmt_name != "table",
    )


@query_group.command("scorecard")
@click.option("--from", "start", required=True)
@click.option("--to", "end", required=True)
@click.option("--baseline-from", required=True)
@click.option("--baseline-to", required=True)
@click.option(
    "--target-reduction", default="12", show_default=True, help="Required reduction in %."
)
@click.option("--format", "fmt_name", type=FORMAT, default="table", show_default=True)
@AS_OF
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
) -> None:
    """Supplier scorecard for green finance, pinned to the latest checkpoint.

    \b
    Example:  carbon-ledger query scorecard --from 2025-01-01 --to 2026-01-01 \\
                --baseline-from 2024-01-01 --baseline-to 2025-01-01 --target-reduction 12
    """
    try:
        target = Decimal(target_reduction)
    except InvalidOperation as exc:
        raise InputError(f"--target-reduction {target_reduction!r} is not a number") from exc
    if not target.is_finite():
        raise InputError(f"--target-reduction {target_reduction!r} is not a number")
    from ledger import query
    from ledger_cli.render import render_frame

    card = query.scorecard(
        obj.engine, (start, end), (baseline_from, baseline_to), target, as_of=as_of
    )
    if obj.as_json:
        fmt_name = "json"
    frame = card.table
    if fmt_name == "table":
        frame = frame.drop(columns=["tree_size", "root_hash"])
    click.echo(render_frame(frame, fmt_name, {**SHORT, "meets_target": f"meets -{target}%"}))
    root = f", root {card.root_hash}" if card.root_hash else ""
    _say_as_of(f"{card.as_of}{root}", fmt_name)
