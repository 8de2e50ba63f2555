"""A self-contained HTML scorecard report: inline CSS and SVG, no script, no network.

Lenders would rather look than read: each supplier gets a chart of its intensity now against
its baseline with the target line drawn in, whether the two periods are comparable, and
which life-cycle stages are missing. Under the charts the whole scorecard is a table with
every column the query returned, exact, so the report works with whatever columns a later
query version adds. Pixel geometry uses floats; every figure printed is the exact Decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape
from typing import Any

import pandas as pd

from ledger.decimals import fmt
from ledger.footprint import STAGES

PINNED_COLUMNS = ("tree_size", "root_hash")
CHART_WIDTH = 560
BAR_LEFT = 90  # room for the row labels
BAR_RIGHT = 70  # room for the value after the bar
CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;
margin:24px auto;max-width:1200px;padding:0 16px;background:#fff}
h1{font-size:22px;margin:0 0 4px}
.meta{color:#52606d;margin:0 0 20px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:16px}
.card{border:1px solid #d9e2ec;border-radius:8px;padding:12px 14px}
.card h2{font-size:16px;margin:0}
.card .id{color:#52606d;font-size:12px;margin-bottom:6px}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;margin-right:6px}
.ok{background:#e3f9e5;color:#14532d}.bad{background:#ffe3e3;color:#7f1d1d}
.warn{background:#fff3c4;color:#713f12}
.stages{margin-top:6px;font-size:12px}
.stage{display:inline-block;border:1px solid #9fb3c8;border-radius:4px;padding:0 6px;
margin-right:4px}
.stage.missing{border-style:dashed;color:#9aa5b1;text-decoration:line-through}
.scroll{overflow-x:auto;margin-top:24px}
table{border-collapse:collapse;font-size:12px;width:100%}
th{font-weight:600;min-width:5em}
th,td{border-bottom:1px solid #e4e7eb;padding:4px 6px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
footer{margin-top:16px;color:#52606d;font-size:12px;word-break:break-all}
"""


def _decimal(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _short(value: Decimal) -> str:
    """Four significant digits for a chart label (the table below holds the exact value)."""
    if value == 0:
        return "0"
    return f"{value:.4g}" if Decimal("0.001") <= abs(value) < Decimal(10**6) else f"{value:.3e}"


def _exact(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "–"
    return str(value.item() if hasattr(value, "item") else value)


def _bar(y: int, label: str, value: Decimal | None, scale: float, colour: str) -> str:
    if value is None:
        return (
            f'<text x="{BAR_LEFT}" y="{y + 15}" class="v" fill="#9aa5b1">no data</text>'
            f'<text x="4" y="{y + 15}">{escape(label)}</text>'
        )
    length = max(1.0, float(value) * scale)
    return (
        f'<text x="4" y="{y + 15}">{escape(label)}</text>'
        f'<rect x="{BAR_LEFT}" y="{y}" width="{length:.1f}" height="20" rx="3" fill="{colour}"/>'
        f'<text x="{BAR_LEFT + length + 6:.1f}" y="{y + 15}" class="v">{_short(value)}</text>'
    )


def supplier_chart(
    now: Decimal | None, baseline: Decimal | None, target_reduction_pct: Decimal, meets: Any
) -> str:
    """Two bars (baseline, now) and the target line at baseline × (1 − target%)."""
    target = baseline * (1 - target_reduction_pct / 100) if baseline is not None else None
    top = max([v for v in (now, baseline, target) if v is not None] or [Decimal(1)])
    usable = CHART_WIDTH - BAR_LEFT - BAR_RIGHT
    scale = usable / float(top) if top > 0 else 0.0
    now_colour = "#2f855a" if meets is True else "#c53030" if meets is False else "#627d98"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="92" '
        f'viewBox="0 0 {CHART_WIDTH} 92" role="img" font-size="12" font-family="sans-serif">',
        # value labels keep a white halo, so the dashed target line never hides a figure
        "<style>.v{paint-order:stroke;stroke:#fff;stroke-width:4px}</style>",
    ]
    if target is not None:
        x = BAR_LEFT + float(target) * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="64" stroke="#1f2933" '
            'stroke-width="2" stroke-dasharray="4 3"/>'
            f'<text x="{x:.1f}" y="80" text-anchor="middle">target −{_exact(target_reduction_pct)}%'
            f" = {_short(target)}</text>"
        )
    parts += [
        _bar(8, "baseline", baseline, scale, "#9fb3c8"),
        _bar(38, "now", now, scale, now_colour),
    ]
    parts.append("</svg>")
    return "".join(parts)


def _badges(row: dict[str, Any], target_reduction_pct: Decimal) -> str:
    out = []
    comparable = row.get("comparable")
    if comparable is not None:
        out.append(
            '<span class="badge ok">comparable</span>'
            if comparable
            else '<span class="badge warn">not comparable</span>'
        )
    meets = row.get("meets_target")
    if meets is not None:
        goal = f"−{_exact(target_reduction_pct)}%"
        out.append(
            f'<span class="badge ok">meets {goal}</span>'
            if meets
            else f'<span class="badge bad">misses {goal}</span>'
        )
    change = _decimal(row.get("change_pct"))
    if change is not None:
        out.append(f'<span class="badge">change {change:+.1f}%</span>')
    return "".join(out)


def _stages(missing: Any) -> str:
    gone = set(missing or [])
    chips = "".join(
        f'<span class="stage{" missing" if s in gone else ""}" '
        f'title="{escape(s)}{" missing" if s in gone else " reported"}">{escape(s)}</span>'
        for s in STAGES
    )
    missing = [s for s in STAGES if s in gone]
    note = f" missing: {escape(', '.join(missing))}" if gone else " all stages reported"
    return f'<div class="stages">{chips}{note}</div>'


def scorecard_html(
    table: pd.DataFrame,
    target_reduction_pct: Decimal,
    window: Sequence[str],
    baseline: Sequence[str],
    tree_size: int,
    root_hash: str | None,
    title: str = "Supplier carbon scorecard",
) -> str:
    """The report as one HTML string. Needs ``supplier_id``; other columns are optional."""
    rows = [dict(zip(table.columns, r, strict=True)) for r in table.itertuples(index=False)]
    columns = [c for c in table.columns if c not in PINNED_COLUMNS]  # said once, in the footer
    cards = []
    for row in rows:
        name = row.get("supplier_name") or row.get("name")
        heading = escape(str(name or row["supplier_id"]))
        chart = supplier_chart(
            _decimal(row.get("intensity_kgco2e_per_kg")),
            _decimal(row.get("baseline_intensity_kgco2e_per_kg")),
            target_reduction_pct,
            row.get("meets_target"),
        )
        cards.append(
            f'<section class="card"><h2>{heading}</h2>'
            f'<div class="id">{escape(str(row["supplier_id"]))} · kgCO2e per kg of product</div>'
            f"{_badges(row, target_reduction_pct)}{chart}{_stages(row.get('missing_stages'))}"
            "</section>"
        )
    # long snake_case headings may break after an underscore instead of widening the page
    head = "".join(f"<th>{escape(c).replace('_', '_<wbr>')}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(_exact(r[c]))}</td>'
            if isinstance(r[c], (Decimal, int)) and not isinstance(r[c], bool)
            else f"<td>{escape(_exact(r[c]))}</td>"
            for c in columns
        )
        + "</tr>"
        for r in rows
    )
    pinned = (
        f"checkpoint tree size {tree_size}, root {escape(root_hash)}"
        if root_hash
        else f"tree size {tree_size} (no checkpoint signed yet)"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">{escape(window[0])} to {escape(window[1])} against baseline '
        f"{escape(baseline[0])} to {escape(baseline[1])}; target: intensity at least "
        f"{escape(_exact(target_reduction_pct))}% below baseline. Dashed line: the target; "
        "a crossed-out stage was not reported.</p>"
        f'<div class="grid">{"".join(cards)}</div>'
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
        "</table></div>"
        f"<footer>Figures as of {pinned}. Recompute them from the ledger export and that "
        "checkpoint.</footer></body></html>\n"
    )
