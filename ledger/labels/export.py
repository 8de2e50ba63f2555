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
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from ledger.errors import InputError, LedgerError
from ledger.footprint import ProductFootprint
from ledger.labels import pact, render
from ledger.labels.evidence import build_label
from ledger.labels.formats import DEFAULT_EXTENSION_BASE, FORMATS, SUFFIX
from ledger.progress import Phases, counted
from ledger.progress import start as start_phase
from ledger.query import parse_window
from ledger.store import db


@dataclass(frozen=True)
class LabelOptions:
    qr_url: str | None = None
    pact_extension_base: str | None = DEFAULT_EXTENSION_BASE


@dataclass(frozen=True)
class Label:
    footprint: ProductFootprint
    document: dict[str, Any]
    origin: str
    signed_at: str

    @property
    def digest(self) -> str:
        return str(self.document["evidence_sha256"])


def compute(
    engine: Engine, product_id: str, window: tuple[date, date], phases: Phases | None = None
) -> Label:
    with db.reading(engine) as conn:
        doc, fp = build_label(conn, product_id, window, phases)
        signed_at = conn.execute(
            text("SELECT signed_at FROM checkpoints WHERE tree_size = :n ORDER BY id DESC LIMIT 1"),
            {"n": doc["as_of_tree_size"]},
        ).scalar_one()
    return Label(fp, doc, doc["evidence"]["origin"], signed_at)


def _issuer_domain(origin: str) -> str:
    host = origin.split("/", 1)[0].lower()
    return host if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", host) else "carbon-ledger.invalid"


def _product_urn(product_id: str, domain: str) -> str:
    try:
        return pact.gtin_urn(product_id)
    except InputError:
        if product_id.startswith("urn:"):
            return product_id
        return pact.pact_urn(domain, "product-id", product_id)


def render_label(label: Label, fmt_name: str, options: LabelOptions) -> str:
    fp = label.footprint
    if fmt_name == "json":
        return json.dumps(label.document, indent=2, ensure_ascii=False) + "\n"
    if fmt_name == "pact":
        domain = _issuer_domain(label.origin)
        created = datetime.strptime(label.signed_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=timezone.utc
        )
        doc = pact.to_pact(
            fp,
            footprint_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"carbon-ledger:{label.digest}")),
            created=created,
            company_name=fp.owner_supplier_name,
            company_ids=[pact.pact_urn(domain, "supplier-id", fp.owner_supplier_id)],
            product_ids=[_product_urn(fp.product_id, domain)],
            evidence_digest=label.digest,
            extensions_base_url=options.pact_extension_base,
        )
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    qr = render.qr_payload_for(fp, qr_url_template=options.qr_url, evidence_digest=label.digest)
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
    engine: Engine,
    product_id: str,
    start: str,
    end: str,
    fmt_name: str,
    options: LabelOptions,
    phases: Phases | None = None,
) -> str:
    if fmt_name not in FORMATS:
        raise InputError(f"unknown label format {fmt_name!r}; use one of {', '.join(FORMATS)}")
    label = compute(engine, product_id, parse_window(start, end), phases)
    return render_label(label, fmt_name, options)


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
    phases: Phases | None = None,
) -> tuple[list[Path], list[str]]:
    """One file per product and format (one CSV for all); products without records skipped.

    Each product's label is computed and verified once, then rendered in every format.
    ``phases`` hears "exporting labels" advance by one per product.
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
    pids = product_ids(engine)
    advance = start_phase(phases, "exporting labels", len(pids), "products")
    for pid in counted(pids, advance):
        try:
            label = compute(engine, pid, window)
        except LedgerError as exc:
            skipped.append(f"{pid}: {exc}")
            continue
        labels.append(label)
        for fmt_name in formats:
            if fmt_name != "csv":
                path = out_dir / f"{safe_name(pid)}{SUFFIX[fmt_name]}"
                path.write_text(render_label(label, fmt_name, options), encoding="utf-8")
                written.append(path)
    if "csv" in formats:
        path = out_dir / f"labels-{window[0]}-{window[1]}.csv"
        path.write_text(csv_text(labels), encoding="utf-8")
        written.append(path)
    return written, skipped
