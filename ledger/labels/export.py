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
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import statements
from ledger.entry import parse_entry
from ledger.errors import InputError, LedgerError, NotFoundError
from ledger.footprint import ProductFootprint
from ledger.labels.evidence import Decoded, build_label, statement_basis
from ledger.labels.formats import FORMATS, SUFFIX
from ledger.progress import Phases, counted
from ledger.progress import start as start_phase
from ledger.proofs import latest_checkpoint
from ledger.store import Connection, Engine, db, queries
from ledger.vocab import Window, parse_window


@dataclass(frozen=True)
class LabelOptions:
    """Rendering choices: the QR URL template of SVG/HTML labels and the base URL of the
    PACT extension schema. ``None`` means derived from the log origin when it names a host
    (``https://ORIGIN``, where ``carbon-ledger serve`` publishes the same paths), else none."""

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


def _logged(conn: Connection, product_id: str, window: Window) -> list[int]:
    """Seqs of the footprint statements logged for this product and window, newest first."""
    return queries.footprint_seqs(conn, product_id, window[0].isoformat(), window[1].isoformat())


def log_statements(
    engine: Engine,
    product_ids: list[str],
    window: Window,
    operator: Ed25519PrivateKey,
    as_of: int | str | None = "checkpoint",
    state_path: Path | None = None,
    decoded: Decoded | None = None,
) -> tuple[dict[str, int], list[str]]:
    """Make sure each product's footprint statement for the window is logged and covered by
    a signed checkpoint: reuse an identical logged statement, else append one and sign.

    Returns the statement seq per product, and ``product: reason`` for those that cannot
    have a label (no records, no declared output). ``decoded`` keeps the entries decoded
    here for the label built next (see :func:`ledger.labels.evidence.decode`).
    """
    from ledger.proofs import resolve_as_of
    from ledger.registry import log_statements as append_statements
    from ledger.transparency import sign_checkpoint

    chosen: dict[str, int] = {}
    new: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    with db.reading(engine) as conn:
        size, _described = resolve_as_of(conn, as_of)
        for pid in product_ids:
            try:
                basis = statement_basis(conn, pid, window, size, decoded)
                fields = statements.statement_fields(basis, size)
            except LedgerError as exc:
                skipped.append(f"{pid}: {exc}")
                continue
            for seq in _logged(conn, pid, window):
                # the same record set and figures logged at an earlier size: nothing that
                # counts has changed since, so that statement still holds
                payload = _payload(conn, seq)
                if all(
                    payload.get(k) == fields[k]
                    for k in statements.STATEMENT_FIELDS
                    if k != "as_of_size"
                ):
                    chosen[pid] = seq
                    break
            else:
                new[pid] = fields
        covered = latest_checkpoint(conn)
    if new:
        for pid, seq in zip(
            new, append_statements(engine, operator, list(new.values())), strict=True
        ):
            chosen[pid] = seq
    if chosen and (covered is None or covered.tree_size <= max(chosen.values())):
        sign_checkpoint(engine, operator, state_path)
    return chosen, skipped


def _payload(conn: Connection, seq: int) -> dict[str, Any]:
    return dict(parse_entry(queries.entry_bytes(conn, seq), seq).payload)


def logged_statement(engine: Engine, product_id: str, window: Window) -> int:
    """The newest statement for the product and window that the latest checkpoint covers."""
    with db.reading(engine) as conn:
        checkpoint = latest_checkpoint(conn)
        for seq in _logged(conn, product_id, window):
            if checkpoint is not None and seq < checkpoint.tree_size:
                return seq
    raise NotFoundError(
        f"no footprint statement for {product_id} from {window[0]} to {window[1]} is logged "
        "under the latest checkpoint; the operator logs one with `label export ... "
        "--operator-key K`"
    )


def statement_summary(engine: Engine, product_id: str, window: Window) -> str:
    """Which logged statement a label of this product and window rests on, and its size."""
    seq = logged_statement(engine, product_id, window)
    with db.reading(engine) as conn:
        as_of = _payload(conn, seq)["as_of_size"]
    return f"footprint statement at seq {seq}; figures as of tree size {as_of}"


def compute(
    engine: Engine,
    product_id: str,
    window: Window,
    statement_seq: int,
    phases: Phases | None = None,
    decoded: Decoded | None = None,
) -> Label:
    """The label of the logged statement at ``statement_seq``, with its evidence."""
    with db.reading(engine) as conn:
        doc, fp = build_label(conn, product_id, window, statement_seq, phases, decoded)
        signed_at = queries.checkpoint_signed_at(conn, doc["as_of_tree_size"])
    return Label(fp, doc, doc["evidence"]["origin"], signed_at)


def statement_seqs(
    engine: Engine,
    product_ids: list[str],
    window: Window,
    operator: Ed25519PrivateKey | None,
    as_of: int | str | None,
    state_path: Path | None = None,
    decoded: Decoded | None = None,
) -> tuple[dict[str, int], list[str]]:
    """The statement each label rests on: logged now with the operator key, else found.

    ``state_path`` is the operator's signing state (beside its key), so the checkpoint that
    covers new statements is audited against what this key signed before."""
    if operator is not None:
        return log_statements(engine, product_ids, window, operator, as_of, state_path, decoded)
    chosen: dict[str, int] = {}
    skipped: list[str] = []
    for pid in product_ids:
        try:
            chosen[pid] = logged_statement(engine, pid, window)
        except LedgerError as exc:
            if len(product_ids) == 1:
                raise
            skipped.append(f"{pid}: {exc}")
    return chosen, skipped


def issuer_domain(origin: str) -> str:
    host = origin.split("/", 1)[0].lower()
    return host if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", host) else "carbon-ledger.invalid"


def product_urn(product_id: str, domain: str) -> str:
    from ledger.labels import pact

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
    from ledger.labels import render  # and its QR library: not for a JSON or PACT export

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
    from ledger.labels import render

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
    operator: Ed25519PrivateKey | None = None,
    as_of: int | str | None = "checkpoint",
    phases: Phases | None = None,
    state_path: Path | None = None,
) -> str:
    """One product's label over ``[start, end)`` in format ``fmt_name`` (json, pact, svg,
    html or csv), logging its footprint statement first with ``operator``."""
    if fmt_name not in FORMATS:
        raise InputError(f"unknown label format {fmt_name!r}; use one of {', '.join(FORMATS)}")
    window = parse_window(start, end)
    decoded: Decoded = {}  # one product: the statement and its label share their entries
    chosen, skipped = statement_seqs(
        engine, [product_id], window, operator, as_of, state_path, decoded
    )
    if skipped:
        raise NotFoundError(skipped[0].split(": ", 1)[1])
    label = compute(engine, product_id, window, chosen[product_id], phases, decoded)
    return render_label(label, fmt_name, options, engine)


def product_ids(engine: Engine) -> list[str]:
    with db.reading(engine) as conn:
        return queries.product_ids(conn)


def safe_name(product_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", product_id)


def export_all(
    engine: Engine,
    start: str,
    end: str,
    formats: str | tuple[str, ...],
    out_dir: Path,
    options: LabelOptions,
    operator: Ed25519PrivateKey | None = None,
    as_of: int | str | None = "checkpoint",
    phases: Phases | None = None,
    state_path: Path | None = None,
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
    labels: list[Label] = []
    chosen, skipped = statement_seqs(
        engine, product_ids(engine), window, operator, as_of, state_path
    )
    advance = start_phase(phases, "exporting labels", len(chosen), "products")
    for pid, seq in counted(sorted(chosen.items()), advance):
        label = compute(engine, pid, window, seq)
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
