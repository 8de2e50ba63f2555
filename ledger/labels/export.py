"""Label export in every format from one computed, evidenced footprint (SPEC §7).

Every format is rendered from the same :class:`ProductFootprint` recomputed from the label's
own evidence, so the PACT file, the SVG and the CSV row can never disagree with the
verifiable JSON label.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, text

from ledger.errors import InputError, LedgerError
from ledger.footprint import ProductFootprint
from ledger.labels import pact, render
from ledger.labels.evidence import build_label
from ledger.labels.formats import FORMATS, SUFFIX
from ledger.query import parse_window
from ledger.store import db, serving


@dataclass(frozen=True)
class LabelOptions:
    """``None`` means: derived from the log origin when it names a host (``https://ORIGIN``),
    which is where ``carbon-ledger serve --base-url`` publishes the same paths."""

    qr_url: str | None = None
    pact_extension_base: str | None = None


@dataclass(frozen=True)
class Label:
    footprint: ProductFootprint
    document: dict[str, Any]
    origin: str
    signed_at: str

    @property
    def digest(self) -> str:
        return str(self.document["evidence_sha256"])


def compute(engine: Engine, product_id: str, window: tuple[date, date]) -> Label:
    with db.reading(engine) as conn:
        doc, fp = build_label(conn, product_id, window)
        signed_at = serving.checkpoint_signed_at(conn, doc["as_of_tree_size"])
    return Label(fp, doc, doc["evidence"]["origin"], signed_at)


def issuer_domain(origin: str) -> str:
    host = origin.split("/", 1)[0].lower()
    return host if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", host) else "carbon-ledger.invalid"


def product_urn(product_id: str, domain: str) -> str:
    try:
        return pact.gtin_urn(product_id)
    except InputError:
        if product_id.startswith("urn:"):
            return product_id
        return pact.pact_urn(domain, "product-id", product_id)


def default_qr_template(public_base: str) -> str:
    """The verification page URL with the label JSON URL in ``label=`` (SPEC §7, §10)."""
    inner = quote(f"{public_base}/labels/", safe="")
    return (
        f"{public_base}/verify?label={inner}{{product_id}}{quote('.json?from=', safe='')}"
        f"{{from}}{quote('&to=', safe='')}{{to}}"
    )


def render_label(
    label: Label, fmt_name: str, options: LabelOptions, engine: Engine | None = None
) -> str:
    """Render one format; ``pact`` issues (or reuses) the PCF version, so it needs ``engine``."""
    from ledger.labels import publish

    fp = label.footprint
    public_base = publish.default_public_base(label.origin)
    if fmt_name == "json":
        return json.dumps(label.document, indent=2, ensure_ascii=False) + "\n"
    if fmt_name == "pact":
        if engine is None:
            raise InputError("a PACT export issues a PCF version and needs the ledger database")
        base = options.pact_extension_base
        if base is None and public_base is not None:
            base = public_base + publish.EXTENSIONS_PATH
        return publish.issue(engine, label, base).document
    template = options.qr_url
    if template is None and public_base is not None:
        template = default_qr_template(public_base)
    qr = render.qr_payload_for(fp, qr_url_template=template, evidence_digest=label.digest)
    if fmt_name == "svg":
        return render.to_svg(fp, qr_payload=qr)
    if fmt_name == "html":
        return render.to_html(fp, qr_payload=qr, evidence_digest=label.digest)
    if fmt_name == "csv":
        return csv_text([label])
    raise InputError(f"unknown label format {fmt_name!r}; use one of {', '.join(FORMATS)}")


def csv_text(labels: list[Label]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(render.csv_header())
    for label in labels:
        writer.writerow(render.csv_row(label.footprint, evidence_digest=label.digest))
    return out.getvalue()


def export_one(
    engine: Engine, product_id: str, start: str, end: str, fmt_name: str, options: LabelOptions
) -> str:
    if fmt_name not in FORMATS:
        raise InputError(f"unknown label format {fmt_name!r}; use one of {', '.join(FORMATS)}")
    label = compute(engine, product_id, parse_window(start, end))
    return render_label(label, fmt_name, options, engine)


def product_ids(engine: Engine) -> list[str]:
    with db.reading(engine) as conn:
        return [
            r[0] for r in conn.execute(text("SELECT product_id FROM products ORDER BY product_id"))
        ]


def safe_name(product_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", product_id)


def export_all(
    engine: Engine,
    start: str,
    end: str,
    formats: str | tuple[str, ...],
    out_dir: Path,
    options: LabelOptions,
) -> tuple[list[Path], list[str]]:
    """One file per product and format (one CSV for all); products without records skipped.

    Each product's label is computed and verified once, then rendered in every format.
    """
    formats = (formats,) if isinstance(formats, str) else formats
    for fmt_name in formats:
        if fmt_name not in FORMATS:
            raise InputError(f"unknown label format {fmt_name!r}; use one of {', '.join(FORMATS)}")
    window = parse_window(start, end)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    skipped: list[str] = []
    labels: list[Label] = []
    for pid in product_ids(engine):
        try:
            label = compute(engine, pid, window)
        except LedgerError as exc:
            skipped.append(f"{pid}: {exc}")
            continue
        labels.append(label)
        for fmt_name in formats:
            if fmt_name != "csv":
                path = out_dir / f"{safe_name(pid)}{SUFFIX[fmt_name]}"
                path.write_text(render_label(label, fmt_name, options, engine), encoding="utf-8")
                written.append(path)
    if "csv" in formats:
        path = out_dir / f"labels-{window[0]}-{window[1]}.csv"
        path.write_text(csv_text(labels), encoding="utf-8")
        written.append(path)
    return written, skipped
