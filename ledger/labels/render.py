"""Human-facing labels (SVG, HTML) and the catalogue CSV row for one ProductFootprint.

People read rounded figures; machines read exact ones. The SVG and HTML round for people
(:func:`human_number`), while the HTML table and the CSV also carry the exact decimal strings,
so a reader can always check the rounded figure against the ledger. Output is deterministic
(no timestamps, no random ids) so the same footprint renders to the same bytes.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

import segno

from ledger.errors import InputError
from ledger.footprint import STAGES, ProductFootprint
from ledger.labels.pact import check_digest, decimal_str

WIDTH, HEIGHT = 400, 560
FONT = "'DejaVu Sans', 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INK, MUTED, ACCENT, TRACK = "#1f2328", "#57606a", "#166534", "#e5e9ee"
STAGE_COLOURS = {
    "production": "#166534",
    "warehousing": "#0e7490",
    "transport": "#b45309",
    "packaging": "#7c3aed",
}
CSV_COLUMNS = (
    "product_id",
    "product_name",
    "owner_supplier_id",
    "declared_unit",
    "mass_kg",
    "period_start",
    "period_end",
    "kgco2e_per_unit",
    "kgco2e_per_kg",
    *STAGES,
    "primary_data_share",
    "record_count",
    "gwp",
    "evidence_sha256",
)
_UNIT_WORDS = {"piece": "piece", "kilogram": "kg", "liter": "liter"}
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_THOUSAND = Decimal(1000)


def esc(text: str) -> str:
    """Escape for XML/HTML text and double-quoted attributes; drop XML-illegal controls."""
    text = _XML_INVALID.sub("\ufffd", text)
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def human_number(value: Decimal) -> str:
    """Round for people: 3 decimal places below 1000, whole numbers with "," separators above.

    Half-up rounding, because readers expect 0.0005 -> 0.001. A value that rounds to 1000
    switches to the whole-number form so "1,000" is never shown as "1000.000".
    """
    rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    if abs(rounded) < _THOUSAND:
        return format(abs(rounded) if rounded.is_zero() else rounded, "f")
    return format(value.quantize(Decimal(1), rounding=ROUND_HALF_UP), ",")


def unit_phrase(declared_unit: str) -> str:
    """ "kg CO₂e per piece": the declared unit as a reader says it."""
    return f"kg CO\u2082e per {_UNIT_WORDS.get(declared_unit, declared_unit)}"


def period_text(fp: ProductFootprint) -> str:
    """The half-open window, shown with its last day: [2025-01-01, 2026-01-01) -> … 2025-12-31."""
    last_day = fp.period_end - timedelta(days=1)
    return f"{fp.period_start.isoformat()} \u2013 {last_day.isoformat()}"


def _share_text(share: Decimal) -> str:
    return f"{share.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} %"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def qr_payload_for(
    fp: ProductFootprint, *, qr_url_template: str | None, evidence_digest: str
) -> str:
    """What the QR code carries: a URL from the template, or a compact verification string.

    The template may use ``{product_id}``, ``{from}``, ``{to}`` (the half-open window) and
    ``{label_id}`` (the label's evidence SHA-256), each percent-encoded so any product id
    yields a valid URL; a typical one opens the verification page served by
    ``carbon-ledger serve``: ``https://HOST/verify?label=https%3A%2F%2FHOST%2Flabels%2F
    {product_id}.json%3Ffrom%3D{from}%26to%3D{to}``. Attribute or index lookups
    (``{product_id.__class__}``) are refused because ``str.format`` would evaluate them.
    Without a template the payload is ``CL1:<product_id>:<period_start>:<period_end>:
    <kgco2e_per_unit>:<digest[:16]>`` with the exact per-unit figure and the half-open period,
    enough to match a label to the ledger.
    """
    digest = check_digest(evidence_digest)
    if qr_url_template is None:
        return ":".join(
            (
                "CL1",
                fp.product_id,
                fp.period_start.isoformat(),
                fp.period_end.isoformat(),
                decimal_str(fp.kgco2e_per_unit),
                digest[:16],
            )
        )
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(qr_url_template)]
    except ValueError as exc:
        raise InputError(f"QR URL template {qr_url_template!r} is malformed: {exc}") from None
    values = {
        "product_id": quote(fp.product_id, safe=""),
        "from": fp.period_start.isoformat(),
        "to": fp.period_end.isoformat(),
        "label_id": digest,
    }
    for name in fields:
        if name is not None and name not in values:
            raise InputError(
                f"QR URL template uses {{{name}}}; only {{product_id}}, {{from}}, {{to}} and "
                "{label_id} are available"
            )
    if "product_id" not in fields and "label_id" not in fields:
        raise InputError("QR URL template must contain {product_id} or {label_id}")
    return qr_url_template.format(**values)


def _qr_group(payload: str, x: int, y: int, size: int) -> str:
    """The QR code as one SVG path of horizontal runs (no raster image, no gaps)."""
    qr = segno.make(payload, error="m", micro=False)
    matrix = qr.matrix
    count = len(matrix)
    border = 4
    runs: list[str] = []
    for row, cells in enumerate(matrix):
        col = 0
        while col < count:
            if cells[col] & 1:
                start = col
                while col < count and cells[col] & 1:
                    col += 1
                runs.append(f"M{start} {row}h{col - start}v1h-{col - start}z")
            else:
                col += 1
    scale = size / (count + 2 * border)
    return (
        f'<g id="qr" transform="translate({x} {y}) scale({scale:.6f})" '
        f'data-modules="{count}" shape-rendering="crispEdges">'
        f'<rect width="{count + 2 * border}" height="{count + 2 * border}" fill="#ffffff"/>'
        f'<path id="qr-modules" transform="translate({border} {border})" fill="#000000" '
        f'd="{"".join(runs)}"/></g>'
    )


_SVG_CSS = (
    f"text{{font-family:{FONT};fill:{INK};font-size:13px}}"
    ".title{fill:#fff;font-size:22px;font-weight:bold}.fact{font-size:14px}"
    f".name{{font-size:18px;font-weight:bold}}.muted{{fill:{MUTED}}}.small{{font-size:12px}}"
    f".big{{fill:{ACCENT};font-size:50px;font-weight:bold}}.unit{{font-size:15px}}"
    f".cap{{fill:{MUTED};font-size:10px;letter-spacing:1.2px;font-weight:bold}}"
    ".end{text-anchor:end}.value{font-weight:bold}.nodata{font-style:italic}"
)


def _text(x: float, y: float, body: str, classes: str = "") -> str:
    """One ``<text>``; ``body`` must already be escaped. Styling lives in the SVG's CSS."""
    cls = f' class="{classes}"' if classes else ""
    return f'<text x="{x}" y="{y}"{cls}>{body}</text>'


def _stage_rows(fp: ProductFootprint, top: int) -> list[str]:
    present = [v for v in fp.by_stage.values() if v is not None and v > 0]
    scale_max = max(present, default=Decimal(0))
    track = WIDTH - 48
    parts: list[str] = []
    for index, stage in enumerate(STAGES):
        y = top + index * 36
        value = fp.by_stage.get(stage)
        parts.append(f'<g class="stage" data-stage="{stage}">')
        parts.append(_text(24, y + 12, stage.capitalize()))
        parts.append(
            f'<rect class="track" x="24" y="{y + 19}" width="{track}" height="10" rx="5" '
            f'fill="{TRACK}"/>'
        )
        if value is None:
            parts.append(_text(WIDTH - 24, y + 12, "no data", "muted nodata end"))
        else:
            share = value / scale_max if scale_max > 0 and value > 0 else Decimal(0)
            width = (share * track).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            parts.append(
                f'<rect class="bar" x="24" y="{y + 19}" width="{width}" height="10" rx="5" '
                f'fill="{STAGE_COLOURS[stage]}"><title>{esc(decimal_str(value))} '
                f"{esc(unit_phrase(fp.declared_unit))}</title></rect>"
            )
            parts.append(_text(WIDTH - 24, y + 12, f"{human_number(value)} kg", "value end"))
        parts.append("</g>")
    return parts


def to_svg(fp: ProductFootprint, *, qr_payload: str) -> str:
    """A 400×560 label for people: headline figure, a bar per stage, period, data, QR code.

    Bars are scaled to the largest stage so the dominant stage is obvious at a glance; a
    stage with no records shows an empty track and "no data" rather than a misleading 0.
    """
    if not qr_payload:
        raise InputError("qr_payload must not be empty")
    unit = esc(unit_phrase(fp.declared_unit))
    headline = esc(human_number(fp.kgco2e_per_unit))
    per_kg = esc(human_number(fp.kgco2e_per_kg))
    svg_open = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="cl-title cl-desc">'
    )
    parts = [
        svg_open,
        f'<title id="cl-title">Carbon footprint of {esc(fp.product_name)}</title>',
        f'<desc id="cl-desc">{headline} {unit}, period {esc(period_text(fp))}</desc>',
        f"<style>{_SVG_CSS}</style>",
        f'<clipPath id="cl-card"><rect width="{WIDTH}" height="{HEIGHT}" rx="18"/></clipPath>',
        '<g clip-path="url(#cl-card)">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<rect width="{WIDTH}" height="60" fill="{ACCENT}"/>',
        _text(24, 39, "Carbon footprint", "title"),
        _text(24, 92, esc(_clip(fp.product_name, 34)), "name"),
        _text(24, 112, esc(_clip(f"ID {fp.product_id}", 56)), "muted small"),
        _text(22, 170, headline, "big"),
        _text(24, 196, unit, "unit"),
        _text(24, 220, f"{per_kg} kg CO\u2082e per kg of product", "muted"),
        f'<line x1="24" y1="238" x2="{WIDTH - 24}" y2="238" stroke="{TRACK}"/>',
        _text(24, 262, "BY STAGE", "cap"),
        *_stage_rows(fp, 272),
        f'<line x1="24" y1="422" x2="{WIDTH - 24}" y2="422" stroke="{TRACK}"/>',
    ]
    gwp = ", ".join(f"IPCC {g}" for g in fp.gwp_sets) or "n/a"
    facts = [
        (24, 446, "PERIOD", period_text(fp)),
        (24, 484, "PRIMARY DATA", _share_text(fp.primary_data_share)),
        (142, 484, "RECORDS", str(fp.record_count)),
        (24, 522, "GWP", gwp),
    ]
    for x, y, label, value in facts:
        parts.append(_text(x, y, label, "cap"))
        parts.append(_text(x, y + 17, esc(_clip(value, 30)), "fact"))
    parts.append(_qr_group(qr_payload, WIDTH - 18 - 112, 432, 112))
    parts.append(
        f'</g><rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{HEIGHT - 1}" rx="18" '
        'fill="none" stroke="#d0d7de"/></svg>'
    )
    return "\n".join(parts) + "\n"


_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f5f7;color:#1f2328;font:15px/1.45 'DejaVu Sans','Segoe UI',Roboto,
Helvetica,Arial,sans-serif}
main{max-width:780px;margin:0 auto;padding:24px 16px}
h1{font-size:22px;margin:0 0 16px}
.layout{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}
.label{margin:0;flex:0 0 auto;filter:drop-shadow(0 1px 3px rgba(0,0,0,.12))}
.label svg{display:block;max-width:100%;height:auto}
.figures{flex:1 1 300px;min-width:0;background:#fff;border:1px solid #d0d7de;border-radius:12px;
padding:12px 14px}
table{border-collapse:collapse;width:100%;font-size:13px;table-layout:fixed}
.c1{width:39%}.c2{width:28%}
caption{text-align:left;font-weight:bold;font-size:15px;padding-bottom:8px}
th,td{text-align:left;padding:5px 6px;border-bottom:1px solid #e5e9ee;vertical-align:top}
td{overflow-wrap:anywhere}
thead th{color:#57606a;font-size:11px;text-transform:uppercase;letter-spacing:.06em}
tbody th{font-weight:normal}
td.exact{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12px;
word-break:break-all}
.note{color:#57606a;font-size:12px;margin:10px 0 0}
"""


def _table_rows(fp: ProductFootprint, evidence_digest: str | None) -> list[tuple[str, str, str]]:
    """(figure, rounded for people, exact ledger value) for the accessible HTML table."""
    unit = unit_phrase(fp.declared_unit)
    total, per_kg, share = fp.kgco2e_per_unit, fp.kgco2e_per_kg, fp.primary_data_share
    rows = [
        (f"Footprint, {unit}", human_number(total), decimal_str(total)),
        ("Footprint, kg CO\u2082e per kg", human_number(per_kg), decimal_str(per_kg)),
    ]
    for stage in STAGES:
        value = fp.by_stage.get(stage)
        figures = (
            ("no data", "missing") if value is None else (human_number(value), decimal_str(value))
        )
        rows.append((f"{stage.capitalize()}, {unit}", *figures))
    rows += [
        ("Mass per declared unit, kg", human_number(fp.mass_kg), decimal_str(fp.mass_kg)),
        (
            "Period (end exclusive in the ledger)",
            period_text(fp),
            f"[{fp.period_start.isoformat()}, {fp.period_end.isoformat()})",
        ),
        ("Primary data share, %", _share_text(share)[:-2], decimal_str(share)),
        ("Records", str(fp.record_count), str(fp.record_count)),
        ("GWP characterisation", ", ".join(fp.gwp_sets) or "n/a", ";".join(fp.gwp_sets)),
        ("Supplier", fp.owner_supplier_name, fp.owner_supplier_id),
    ]
    if evidence_digest is not None:
        rows.append(("Evidence SHA-256", evidence_digest[:8] + "\u2026", evidence_digest))
    return rows


def to_html(
    fp: ProductFootprint,
    *,
    qr_payload: str,
    title: str | None = None,
    evidence_digest: str | None = None,
) -> str:
    """A standalone HTML5 page: the SVG label inline plus an accessible table of the figures.

    Everything is inline (CSS, SVG) and a Content-Security-Policy forbids loading anything,
    so the page renders the same offline and cannot leak a reader's IP to a third party.
    The table carries the rounded figure and the exact ledger value side by side.
    """
    if evidence_digest is not None:
        check_digest(evidence_digest)
    page_title = title if title is not None else f"Carbon footprint \u2013 {fp.product_name}"
    body_rows = "\n".join(
        f'<tr><th scope="row">{esc(name)}</th><td>{esc(shown)}</td>'
        f'<td class="exact">{esc(exact)}</td></tr>'
        for name, shown, exact in _table_rows(fp, evidence_digest)
    )
    svg = to_svg(fp, qr_payload=qr_payload).strip()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{esc(page_title)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{esc(page_title)}</h1>
<div class="layout">
<figure class="label">
{svg}
</figure>
<section class="figures" aria-label="Figures">
<table>
<caption>Figures for {esc(fp.product_name)} ({esc(fp.product_id)})</caption>
<colgroup><col class="c1"><col class="c2"><col class="c3"></colgroup>
<thead><tr><th scope="col">Figure</th><th scope="col">Rounded</th>\
<th scope="col">Exact</th></tr></thead>
<tbody>
{body_rows}
</tbody>
</table>
<p class="note">Rounded for reading: 3 decimal places below 1,000, whole numbers above.
Exact: the ledger's decimal figures, per declared unit unless stated.</p>
</section>
</div>
</main>
</body>
</html>
"""


def csv_header() -> list[str]:
    """Column names of :func:`csv_row`, in order."""
    return list(CSV_COLUMNS)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (OWASP CSV injection): a leading
    ``= + - @``, tab or carriage return gets a ``'`` in front. Numeric cells are left alone."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_row(fp: ProductFootprint, *, evidence_digest: str | None) -> list[str]:
    """One catalogue-feed row with exact decimal strings; a missing stage is an empty cell.

    ``period_end`` is the ledger's exclusive end (half-open window), like every machine
    format here; only the human labels show the inclusive last day.
    """
    if evidence_digest is not None:
        check_digest(evidence_digest)
    stages = [fp.by_stage.get(stage) for stage in STAGES]
    return [
        text_cell(fp.product_id),
        text_cell(fp.product_name),
        text_cell(fp.owner_supplier_id),
        text_cell(fp.declared_unit),
        decimal_str(fp.mass_kg),
        fp.period_start.isoformat(),
        fp.period_end.isoformat(),
        decimal_str(fp.kgco2e_per_unit),
        decimal_str(fp.kgco2e_per_kg),
        *("" if value is None else decimal_str(value) for value in stages),
        decimal_str(fp.primary_data_share),
        str(fp.record_count),
        text_cell(";".join(fp.gwp_sets)),
        evidence_digest or "",
    ]
