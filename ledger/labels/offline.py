"""Offline verification of self-verifying labels (``carbon-label/v2``): no database.

A label carries the footprint *and* the evidence for it: the operator-signed checkpoint, the
footprint statement, the bytes of every contributing entry (records, outputs, their
submissions, the product registration, the factors and the supplier key registrations) with
one multiproof under that checkpoint, and for every covered entry an in-submission proof
under the supplier-signed ``records_root``. :func:`verify_label` checks all of it and
recomputes the figures with :mod:`ledger.statements` / :mod:`ledger.figures`, the code the
query module and ``verify`` use.

Every submission in the evidence is checked with :class:`ledger.keyring.Keyring`, the same
rule the full ``verify`` applies: the supplier's signature, by a key registered to that
supplier and not revoked or rotated out before the submission.

This module imports neither SQLAlchemy nor pandas, so a consumer's ``label verify`` starts in
a fraction of a second; :mod:`ledger.labels.evidence` builds labels from the database.

What a label cannot show: that no *later* entry retracted or superseded a record, or that
the evidence holds every revocation of a key (absence is not provable with inclusion
proofs); that its statement names every record is re-derived by the full ``verify``.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import keys, merkle, note, statements
from ledger.accounting import recompute_co2e
from ledger.canonical import canonical_bytes
from ledger.decimals import fmt
from ledger.entry import OPERATOR_KINDS, ParsedEntry, parse_entry
from ledger.errors import ProofError, VerificationError
from ledger.footprint import STAGES, Factor, ProductFootprint
from ledger.keyring import KEY_KINDS, Keyring
from ledger.labels.formats import LABEL_FORMAT
from ledger.progress import Phases, counted
from ledger.progress import start as start_phase
from ledger.vocab import Window

METHOD = {
    "standards": ["ISO 14067:2018", "GHG Protocol Product Standard"],
    "boundary": "cradle-to-gate plus distribution: production, warehousing, transport, packaging",
    "allocation": (
        "per declared unit: stage emissions divided by the reference flow N(p, W), the units "
        "the owner declared in output entries, pro rata to the days of each output in the window"
    ),
    "window": (
        "half-open [from, to); a record straddling it counts by its share: production inputs "
        "by the share of the record period's declared output in the window, others by days"
    ),
}


def _key(level: int, idx: int) -> str:
    return f"{level}:{idx}"


def _node_id(key: str) -> tuple[int, int]:
    level, idx = key.split(":")
    return int(level), int(idx)


def evidence_digest(evidence: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(dict(evidence))).hexdigest()


def label_document(
    fp: ProductFootprint,
    evidence: Mapping[str, Any],
    statement_seq: int,
    digest: str | None = None,
) -> dict[str, Any]:
    """The carbon-label/v2 JSON: exact figures, people's figures, method, the logged
    statement they come from, and the evidence. ``digest`` is :func:`evidence_digest` of
    ``evidence`` when the caller has already computed it (it canonicalizes megabytes)."""
    statement = json.loads(evidence["entries"][str(statement_seq)])["payload"]
    return {
        "format": LABEL_FORMAT,
        "product": {
            "product_id": fp.product_id,
            "name": fp.product_name,
            "supplier_id": fp.owner_supplier_id,
            "declared_unit": fp.declared_unit,
            "mass_kg": fmt(fp.mass_kg),
            "category": fp.category,
        },
        "window": {"from": fp.period_start.isoformat(), "to": fp.period_end.isoformat()},
        "footprint": {
            "kgco2e_per_unit": fmt(fp.kgco2e_per_unit),
            "kgco2e_per_kg": fmt(fp.kgco2e_per_kg),
            "by_stage": {s: (None if v is None else fmt(v)) for s, v in fp.by_stage.items()},
            "missing_stages": list(fp.missing_stages),
            "coverage": {s: (None if v is None else fmt(v)) for s, v in fp.coverage.items()},
            "reference_units": fmt(fp.reference_units),
            "reference_flow": fp.reference_flow,
            "display_kgco2e_per_unit": f"{fp.kgco2e_per_unit:.3f}",
        },
        "primary_data_share": fmt(fp.primary_data_share),
        "record_count": fp.record_count,
        "suppliers": list(fp.suppliers),
        "factors": [
            {
                "factor_id": f.factor_id,
                "version": f.version,
                "kgco2e_per_unit": fmt(f.kgco2e_per_unit),
                "unit": f.unit,
                "gwp": f.gwp,
                "source": f.source,
                "year": f.year,
                "region": f.region,
            }
            for f in fp.factors
        ],
        "method": {**METHOD, "gwp": list(fp.gwp_sets)},
        "statement": {
            "seq": statement_seq,
            "as_of_size": statement["as_of_size"],
            "records_digest": statement["records_digest"],
        },
        "as_of_tree_size": evidence["tree_size"],
        "evidence_sha256": evidence_digest(evidence) if digest is None else digest,
        "evidence": evidence,
    }


# ---- offline verification ------------------------------------------------------------


def _open_evidence(
    evidence: Mapping[str, Any],
    operator: Ed25519PublicKey | None,
    decoded: Mapping[int, ParsedEntry] | None = None,
    phases: Phases | None = None,
) -> tuple[dict[int, Any], int]:
    """Check checkpoint, inclusion proofs, operator and submission signatures, in-submission
    proofs. Returns parsed entries by seq and the tree size. ``decoded`` lets the exporter
    pass the entries it has just decoded from these very bytes instead of decoding twice."""
    origin = evidence["origin"]
    entries_text: dict[str, str] = evidence["entries"]
    entries = {int(s): t.encode("utf-8") for s, t in entries_text.items()}
    if decoded is not None and decoded.keys() == entries.keys():
        parsed = dict(decoded)
    else:
        advance = start_phase(phases, "decoding entries", len(entries), "entries")
        parsed = {s: parse_entry(b, s) for s, b in counted(entries.items(), advance)}
    genesis = parsed.get(0)
    if genesis is None or genesis.kind != "genesis":
        raise VerificationError("label evidence lacks the genesis entry")
    ledger_key = keys.public_from_b64(genesis.payload["operator_public_key"])
    if operator is not None and keys.key_id(operator) != keys.key_id(ledger_key):
        raise VerificationError(
            "the ledger's operator key is not the --operator-pub key you trust", 0
        )
    cp = note.open_checkpoint(evidence["checkpoint"], origin, operator or ledger_key)
    if cp.size != evidence["tree_size"]:
        raise ProofError("evidence tree_size does not match its checkpoint")
    nodes = {_node_id(k): bytes.fromhex(v) for k, v in evidence["nodes"].items()}
    for seq in entries:
        if parsed[seq].seq != seq:
            raise ProofError(f"evidence entry {seq} holds bytes of seq {parsed[seq].seq}")
        if seq >= cp.size:
            raise ProofError(f"evidence entry {seq} is beyond the checkpoint (size {cp.size})")
    leaves = {s: merkle.leaf_hash(b) for s, b in entries.items()}
    try:
        merkle.verify_multiproof(leaves, cp.size, nodes, cp.root_hash)
    except ProofError as exc:
        raise ProofError(
            f"the evidence entries and proof nodes do not reproduce the signed checkpoint root "
            f"(size {cp.size}): an entry or a node was altered ({exc})"
        ) from exc
    keyring = Keyring()
    for seq, p in sorted(parsed.items()):
        if p.kind in OPERATOR_KINDS:
            try:
                keys.verify_signed_payload(ledger_key, keys.OPERATOR_DOMAIN, p.payload)
            except VerificationError as exc:
                raise VerificationError(f"operator signature on entry {seq} fails", seq) from exc
            if p.kind in KEY_KINDS:
                keyring.register(seq, p.kind, p.payload)
        elif p.kind == "submission":
            # the same rule as the full verify: the supplier's signature, by a key registered
            # to that supplier and not revoked or rotated out before this seq
            keyring.check_submission(seq, p.payload)
    sub_nodes: dict[int, dict[tuple[int, int], bytes]] = {}
    for k, v in evidence["submission_nodes"].items():
        sub_seq, level, idx = (int(x) for x in k.split(":"))
        sub_nodes.setdefault(sub_seq, {})[(level, idx)] = bytes.fromhex(v)
    submissions = sorted(s for s, p in parsed.items() if p.kind == "submission")
    covered: dict[int, dict[int, bytes]] = {}
    for seq, p in sorted(parsed.items()):
        if p.kind not in ("record", "product", "output"):
            continue
        sub = _covering_submission(parsed, submissions, seq)
        if p.payload["supplier_id"] != sub.payload["supplier_id"]:
            raise VerificationError(f"entry {seq} is not by its submission's supplier", seq)
        covered.setdefault(sub.seq, {})[seq - sub.seq - 1] = merkle.leaf_hash(p.payload_bytes)
    for sub_seq, sub_leaves in covered.items():
        payload = parsed[sub_seq].payload
        try:
            merkle.verify_multiproof(
                sub_leaves,
                payload["count"],
                sub_nodes.get(sub_seq, {}),
                bytes.fromhex(payload["records_root"]),
            )
        except ProofError as exc:
            raise ProofError(
                f"entries covered by submission {sub_seq} do not reproduce the records_root "
                f"its supplier signed ({exc})"
            ) from exc
    return parsed, cp.size


def _covering_submission(parsed: Mapping[int, Any], submissions: list[int], seq: int) -> Any:
    """The submission entry covering ``seq``: the nearest one before it, if it reaches."""
    at = bisect.bisect_left(submissions, seq) - 1
    if at >= 0 and seq <= submissions[at] + parsed[submissions[at]].payload["count"]:
        return parsed[submissions[at]]
    raise VerificationError(f"evidence lacks the submission covering entry {seq}", seq)


def footprint_from_evidence(
    evidence: Mapping[str, Any],
    product_id: str,
    window: Window,
    operator: Ed25519PublicKey | None = None,
    parsed: Mapping[int, ParsedEntry] | None = None,
    phases: Phases | None = None,
) -> tuple[ProductFootprint, int]:
    """Verify the evidence, check it holds exactly the record set of its logged footprint
    statement, recompute the figures from it, and return them with the statement's seq."""
    parsed, _size = _open_evidence(evidence, operator, parsed, phases)
    names = {
        p.payload["supplier_id"]: p.payload["name"] for p in parsed.values() if p.kind == "supplier"
    }
    found = [(s, p) for s, p in parsed.items() if p.kind == "footprint"]
    if len(found) != 1:
        raise VerificationError(
            "label evidence must hold exactly one footprint statement (the logged figures)"
        )
    statement_seq, statement = found[0]
    claim = statement.payload
    if claim.get("product_id") != product_id:
        raise VerificationError(
            f"the footprint statement is for {claim.get('product_id')!r}, not {product_id}",
            statement_seq,
        )
    if statements.statement_window(claim) != window:
        raise VerificationError(
            f"the footprint statement is for {claim['window']['from']}..{claim['window']['to']}, "
            f"not the label's window {window[0]}..{window[1]}",
            statement_seq,
        )
    factors: dict[tuple[str, int], Factor] = {}
    for p in parsed.values():
        if p.kind == "factor":
            f = p.payload
            factors[(f["factor_id"], f["version"])] = Factor(
                f["factor_id"],
                f["version"],
                f["activity"],
                f["stage"],
                f["unit"],
                Decimal(f["kgco2e_per_unit"]),
                f["gwp"],
                f["source"],
                f["year"],
                f["region"],
            )
    contributing = {s: p for s, p in parsed.items() if p.kind in ("product", "record", "output")}
    basis = statements.basis_from_entries(
        contributing, product_id, window, factors, claim.get("as_of_size")
    )
    used: dict[tuple[str, int], Factor] = {}
    for seq in basis.records:
        r = parsed[seq].payload
        if "factor_id" in r:
            factor = factors[(r["factor_id"], r["factor_version"])]
            used[(factor.factor_id, factor.version)] = factor
            if recompute_co2e(r, factor) != r["co2e_kg"]:
                raise VerificationError(f"co2e of record at seq {seq} is not amount × factor", seq)
    statements.check_statement(claim, basis, statement_seq)
    product = contributing[min(s for s, p in contributing.items() if p.kind == "product")].payload
    fig = claim["figures"]
    by_stage = {
        s: None if fig["by_stage"][s] is None else Decimal(fig["by_stage"][s]) for s in STAGES
    }
    fp = ProductFootprint(
        product_id=product_id,
        product_name=product["name"],
        owner_supplier_id=product["supplier_id"],
        owner_supplier_name=names.get(product["supplier_id"], product["supplier_id"]),
        declared_unit=product["declared_unit"],
        mass_kg=Decimal(product["mass_kg"]),
        category=product.get("category"),
        period_start=window[0],
        period_end=window[1],
        kgco2e_per_unit=Decimal(fig["kgco2e_per_unit"]),
        kgco2e_per_kg=Decimal(fig["kgco2e_per_kg"]),
        by_stage=by_stage,
        primary_data_share=Decimal(fig["primary_data_share"]),
        record_count=fig["record_count"],
        suppliers=tuple(fig["suppliers"]),
        factors=tuple(f for _k, f in sorted(used.items())),
        reference_units=Decimal(fig["reference_units"]),
        reference_flow="declared",
        coverage={
            s: None if fig["coverage"][s] is None else Decimal(fig["coverage"][s]) for s in STAGES
        },
    )
    return fp, statement_seq


_SHAPES: dict[str, tuple[type, str]] = {
    "origin": (str, "a string"),
    "checkpoint": (str, "a signed note"),
    "tree_size": (int, "an integer"),
    "entries": (dict, "an object of seq -> entry text"),
    "nodes": (dict, "an object of 'level:index' -> hex hash"),
    "submission_nodes": (dict, "an object of 'submission:level:index' -> hex hash"),
}
_NODE_KEY = {"nodes": 2, "submission_nodes": 3}


def check_evidence_shape(evidence: Any) -> None:
    """Refuse evidence whose structure is not the one :func:`build_label` writes, naming the
    field, before any of it is hashed, decoded or trusted."""
    if not isinstance(evidence, dict):
        raise VerificationError("label evidence must be an object")
    for name, (kind, what) in _SHAPES.items():
        value = evidence.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise VerificationError(f"label evidence field {name!r} must be {what}")
    for seq, entry in evidence["entries"].items():
        if not seq.isdigit() or not isinstance(entry, str):
            raise VerificationError(f"label evidence entry {seq!r} is not seq -> entry text")
    for name, parts in _NODE_KEY.items():
        for key, digest in evidence[name].items():
            fields = key.split(":")
            if len(fields) != parts or not all(f.isdigit() for f in fields):
                raise VerificationError(f"label evidence {name} key {key!r} is malformed")
            if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
                raise VerificationError(f"label evidence {name}[{key!r}] is not a hex hash")


_HEX64 = re.compile(r"[0-9a-f]{64}")


def verify_label(
    doc: Mapping[str, Any], operator: Ed25519PublicKey, phases: Phases | None = None
) -> ProductFootprint:
    """Offline check of a carbon-label/v2 document; raises naming what failed."""
    if not isinstance(doc, Mapping) or doc.get("format") != LABEL_FORMAT:
        raise VerificationError(f"not a {LABEL_FORMAT} document")
    try:
        evidence = doc["evidence"]
        window = (
            date.fromisoformat(doc["window"]["from"]),
            date.fromisoformat(doc["window"]["to"]),
        )
        product_id = doc["product"]["product_id"]
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"label is missing or garbles a field: {exc}") from exc
    check_evidence_shape(evidence)
    digest = evidence_digest(evidence)
    if digest != doc.get("evidence_sha256"):
        raise VerificationError("evidence_sha256 does not match the evidence")
    try:
        fp, statement_seq = footprint_from_evidence(
            evidence, product_id, window, operator, phases=phases
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError) as exc:
        raise VerificationError(f"label evidence is malformed: {exc!r}") from exc
    expected = label_document(fp, evidence, statement_seq, digest)
    for field in (
        "product",
        "window",
        "footprint",
        "primary_data_share",
        "record_count",
        "suppliers",
        "factors",
        "method",
        "statement",
        "as_of_tree_size",
    ):
        if doc.get(field) != expected[field]:
            raise VerificationError(
                f"label field {field!r} does not match the figures recomputed from its evidence "
                f"(label {doc.get(field)!r}, recomputed {expected[field]!r})"
            )
    return fp
