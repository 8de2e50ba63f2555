"""PCF identity: each distinct figure of a (product, window) is one immutable PACT footprint.

PACT v3 makes a ProductFootprint immutable: a changed figure must be published under a new
``id`` that lists the earlier ones in ``precedingPfIds``, and the earlier one turns
``Deprecated``; an unchanged figure must keep its id (and GetFootprint must return the same
object later). The design:

- the id is derived, not random: ``uuid5(NAMESPACE, product | window | figures digest |
  preceding id)`` where the figures digest is SHA-256 over the RFC 8785 bytes of every
  figure the PACT document states (per-unit total, per-stage values, mass, declared unit,
  primary data share, GWP sets, factor sources). Re-exporting an unchanged figure therefore
  gives the same id on any machine; chaining the preceding id keeps a figure that returns to
  an earlier value (A, B, A) from colliding with its own deprecated ancestor;
- every issued version is kept in the ``pcf_versions`` register (``ledger.store.serving``)
  with the exact JSON text first issued. The latest version per (product, window) is
  ``Active``; the others are served ``Deprecated`` (the only field that ever changes);
  ``precedingPfIds`` of a version is the ids issued before it, oldest first.

Issuing happens where a PACT footprint is exported (``label export --format pact``); the
server only reads the register, and announces new and deprecated ids with PublishedEvent.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

from ledger import canonical
from ledger.footprint import STAGES, ProductFootprint
from ledger.labels import pact
from ledger.store import Engine, db, serving
from ledger.vocab import parse_timestamp, utc_now

if TYPE_CHECKING:
    from ledger.labels.export import Label

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:carbon-ledger:pcf")
EXTENSIONS_PATH = "/schemas/pact-extensions"
EXTENSION_SCHEMA_PATH = (
    f"{EXTENSIONS_PATH}/{pact.EXTENSION_ID}/{pact.EXTENSION_VERSION}/schema.json"
)


def figures_digest(fp: ProductFootprint) -> str:
    """SHA-256 hex over the exact figures a PACT document states (RFC 8785 bytes)."""
    figures = {
        "kgco2e_per_unit": pact.decimal_str(fp.kgco2e_per_unit),
        "by_stage": {
            s: None if fp.by_stage.get(s) is None else pact.decimal_str(fp.by_stage[s])  # type: ignore[arg-type]
            for s in STAGES
        },
        "mass_kg": pact.decimal_str(fp.mass_kg),
        "declared_unit": fp.declared_unit,
        "primary_data_share": pact.decimal_str(fp.primary_data_share),
        "gwp_sets": list(fp.gwp_sets),
        "factor_sources": sorted({f"{f.source}|{f.year}" for f in fp.factors if f.source}),
    }
    return hashlib.sha256(canonical.canonical_bytes(figures)).hexdigest()


def pcf_id(product_id: str, start: str, end: str, digest: str, preceding: str | None) -> str:
    name = f"{product_id}|{start}|{end}|{digest}|{preceding or ''}"
    return str(uuid.uuid5(NAMESPACE, name))


def default_public_base(origin: str) -> str | None:
    """``https://<origin>`` when the log origin starts with a domain name, else None.

    A C2SP log origin SHOULD be the scheme-less URL prefix of the log, so it is the natural
    public origin of the server; an origin such as ``carbon-ledger/<uuid>`` names no host.
    """
    host = origin.split("/", 1)[0].lower()
    if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]+)?", host):
        return f"https://{origin.rstrip('/')}"
    return None


def product_classifications(category: str | None) -> list[str]:
    """The UN CPC category as the v3-recommended ``urn:pact:productclassification:un-cpc:``."""
    if not category or not re.fullmatch(r"[0-9A-Za-z.]+", category):
        return []
    return [f"urn:pact:productclassification:un-cpc:{category}"]


def _document(
    label: Label,
    footprint_id: str,
    preceding: list[str],
    country: str | None,
    extension_base: str | None,
) -> dict[str, Any]:
    from ledger.labels.export import issuer_domain, product_urn

    fp = label.footprint
    domain = issuer_domain(label.origin)
    created = parse_timestamp(label.signed_at)
    doc = pact.to_pact(
        fp,
        footprint_id=footprint_id,
        created=created,
        company_name=fp.owner_supplier_name,
        company_ids=[pact.pact_urn(domain, "supplier-id", fp.owner_supplier_id)],
        product_ids=[product_urn(fp.product_id, domain)],
        evidence_digest=label.digest,
        extensions_base_url=extension_base,
        preceding_pf_ids=preceding,
        geography_country=country,
        product_classifications=product_classifications(fp.category),
    )
    return doc


def issue(engine: Engine, label: Label, extension_base: str | None) -> serving.PcfVersion:
    """The PCF for ``label``: the latest issued version if its figures are unchanged, else a
    new version that deprecates the earlier ones. One write transaction, so two exports at
    once cannot both issue."""
    serving.ensure_pcf_table(engine)
    fp = label.footprint
    start, end = fp.period_start.isoformat(), fp.period_end.isoformat()
    digest = figures_digest(fp)
    with db.writing(engine) as conn:
        versions = serving.pcf_versions_of(conn, fp.product_id, start, end)
        if versions and versions[-1].figures_sha256 == digest:
            return versions[-1]
        preceding = [v.pcf_id for v in versions]
        new_id = pcf_id(fp.product_id, start, end, digest, preceding[-1] if preceding else None)
        country = serving.supplier_country(conn, fp.owner_supplier_id)
        doc = _document(label, new_id, preceding, country, extension_base)
        version = serving.PcfVersion(
            pcf_id=new_id,
            product_id=fp.product_id,
            period_start=start,
            period_end=end,
            version=len(versions) + 1,
            issued_at=utc_now(),
            figures_sha256=digest,
            document=json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
        )
        serving.insert_pcf_version(conn, version)
        return version


def served_document(version: serving.PcfVersion, deprecated: bool) -> dict[str, Any]:
    """The stored document as served: identical, except ``status`` once deprecated."""
    doc: dict[str, Any] = json.loads(version.document)
    if deprecated:
        doc["status"] = "Deprecated"
    return doc
