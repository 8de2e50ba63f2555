"""Self-verifying product labels (``carbon-label/v2``) and their offline verification.

A label carries the footprint *and* the evidence for it: the operator-signed checkpoint, the
bytes of every contributing entry (records, their submissions, the product registration, the
factors and the supplier key registrations) with inclusion proofs under that checkpoint, and
for every covered entry an in-submission proof under the supplier-signed ``records_root``.
Proof nodes are stored once in shared maps, so proofs for 10^4 records share their upper
levels. :func:`verify_label` recomputes the footprint from the evidence with the same code
the query module uses, with no database.

Every submission in the evidence is checked with :class:`ledger.keyring.Keyring`, the same
rule the full ``verify`` applies: the supplier's signature, by a key registered to that
supplier and not revoked or rotated out before the submission. The exporter includes the
entry that retired each signing key when there is one before the checkpoint.

What a label cannot show: that no *later* entry retracted or superseded a record, or that
the evidence holds every revocation of a key (absence is not provable with inclusion
proofs); the figures are "as of" the checkpoint's tree size, and ``carbon-ledger verify``
against the full ledger is the complete audit.
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
from sqlalchemy import Connection, bindparam, text

from ledger import keys, merkle, note, statements
from ledger.accounting import recompute_co2e
from ledger.canonical import canonical_bytes
from ledger.decimals import fmt
from ledger.entry import OPERATOR_KINDS, ParsedEntry, parse_entry
from ledger.errors import NotFoundError, ProofError, VerificationError
from ledger.footprint import STAGES, Factor, ProductFootprint
from ledger.keyring import KEY_KINDS, Keyring
from ledger.labels.formats import LABEL_FORMAT
from ledger.progress import Phases, counted
from ledger.progress import start as start_phase
from ledger.registry import ledger_info, load_factors
from ledger.store import queries
from ledger.transparency import latest_checkpoint
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


def payload_slice(entry_bytes: bytes) -> bytes:
    """The canonical payload bytes inside canonical entry bytes (no JSON parse needed)."""
    start = entry_bytes.index(b'"payload":') + len(b'"payload":')
    end = entry_bytes.rindex(b',"prev":"')
    return entry_bytes[start:end]


_LABEL_RECORDS_SQL = """
SELECT seq FROM records
WHERE product_id = :p AND period_start < :end AND period_end > :start AND seq < :n
  AND (status = 'effective' OR status_seq >= :n)
UNION ALL
SELECT seq FROM outputs
WHERE product_id = :p AND seq < :n AND (status = 'effective' OR status_seq >= :n)
ORDER BY seq
"""


def _entries(conn: Connection, seqs: list[int]) -> dict[int, bytes]:
    stmt = text("SELECT seq, entry_bytes FROM entries WHERE seq IN :s").bindparams(
        bindparam("s", expanding=True)
    )
    out: dict[int, bytes] = {}
    for start in range(0, len(seqs), 900):
        out.update({s: bytes(b) for s, b in conn.execute(stmt, {"s": seqs[start : start + 900]})})
    return out


def _product_seq(conn: Connection, product_id: str, size: int) -> int:
    product = conn.execute(
        text("SELECT seq FROM products WHERE product_id = :p AND seq < :n"),
        {"p": product_id, "n": size},
    ).first()
    if product is None:
        raise NotFoundError(f"product {product_id!r} is not registered (as of size {size})")
    return int(product[0])


def contributing_seqs(conn: Connection, product_id: str, window: Window, as_of: int) -> list[int]:
    """Seqs of the product's effective records overlapping the window and its effective
    outputs, as of tree size ``as_of``: the set a footprint statement commits to."""
    params = {
        "p": product_id,
        "start": window[0].isoformat(),
        "end": window[1].isoformat(),
        "n": as_of,
    }
    return [int(r[0]) for r in conn.execute(text(_LABEL_RECORDS_SQL), params)]


def statement_basis(
    conn: Connection, product_id: str, window: Window, as_of: int
) -> statements.Basis:
    """What a footprint statement as of ``as_of`` is computed from, read from the entries."""
    seqs = [
        _product_seq(conn, product_id, as_of),
        *contributing_seqs(conn, product_id, window, as_of),
    ]
    parsed = {s: parse_entry(b, s) for s, b in _entries(conn, seqs).items()}
    return statements.basis_from_entries(parsed, product_id, window, load_factors(conn), as_of)


def build_label(
    conn: Connection,
    product_id: str,
    window: Window,
    statement_seq: int,
    phases: Phases | None = None,
) -> tuple[dict[str, Any], ProductFootprint]:
    """The label of a logged footprint statement, with all its evidence under the latest
    checkpoint (which must cover the statement)."""
    checkpoint = latest_checkpoint(conn)
    if checkpoint is None or checkpoint.tree_size <= statement_seq:
        raise NotFoundError(
            f"no signed checkpoint covers the footprint statement at seq {statement_seq}; the "
            "operator must run `carbon-ledger checkpoint --operator-key K` first"
        )
    size = checkpoint.tree_size
    statement = parse_entry(_entries(conn, [statement_seq])[statement_seq], statement_seq)
    as_of = int(statement.payload["as_of_size"])
    record_seqs = contributing_seqs(conn, product_id, window, as_of)
    covered = [_product_seq(conn, product_id, as_of), *record_seqs]
    subs: dict[int, int] = dict(
        conn.execute(
            text("SELECT seq, submission_seq FROM entries WHERE seq IN :s").bindparams(
                bindparam("s", expanding=True)
            ),
            {"s": covered},
        ).all()
    )
    entries = _entries(conn, sorted(set(covered) | set(subs.values()) | {statement_seq}))
    advance = start_phase(phases, "decoding entries", len(entries), "entries")
    parsed = {s: parse_entry(b, s) for s, b in counted(entries.items(), advance)}
    factor_keys = {
        (p.payload["factor_id"], p.payload["factor_version"])
        for p in parsed.values()
        if p.kind == "record" and "factor_id" in p.payload
    }
    key_ids = {p.payload["key_id"] for p in parsed.values() if p.kind == "submission"}
    factor_seqs = [
        seq
        for fid, version, seq in conn.execute(text("SELECT factor_id, version, seq FROM factors"))
        if (fid, version) in factor_keys
    ]
    # each signing key's registration and, when it happened before the checkpoint, the entry
    # that revoked or rotated it out, so the offline check sees the key's validity window
    key_seqs = [
        seq
        for kid, added, revoked in queries.key_validity(conn)
        if kid in key_ids
        for seq in (added, revoked)
        if seq is not None and seq < size
    ]
    extra = [0, *factor_seqs, *key_seqs]
    more = _entries(conn, extra)
    parsed.update({s: parse_entry(b, s) for s, b in more.items()})
    entries.update(more)
    nodes = _tree_nodes(conn, sorted(entries), size, entries)
    sub_nodes = _submission_nodes(conn, covered, subs, entries)
    evidence = {
        "origin": ledger_info(conn).origin,
        "checkpoint": checkpoint.note,
        "tree_size": size,
        "entries": {str(s): entries[s].decode("utf-8") for s in sorted(entries)},
        "nodes": nodes,
        "submission_nodes": sub_nodes,
    }
    # check what we just built (proofs, signatures, co2e, figures), reusing the decoded entries
    fp, statement_seq = footprint_from_evidence(evidence, product_id, window, parsed=parsed)
    return label_document(fp, evidence, statement_seq), fp


def _tree_nodes(
    conn: Connection, seqs: list[int], size: int, entries: Mapping[int, bytes]
) -> dict[str, str]:
    """Complementary subtree hashes of one multiproof for every evidence entry."""
    from ledger.store.appender import fetch_nodes

    wanted = merkle.multiproof_plan(seqs, size)
    found = fetch_nodes(conn, wanted) if wanted else {}
    return {_key(lv, ix): h.hex() for (lv, ix), h in sorted(found.items())}


def _submission_nodes(
    conn: Connection, covered: list[int], subs: Mapping[int, int], entries: Mapping[int, bytes]
) -> dict[str, str]:
    """Per submission, the multiproof nodes for its covered evidence entries under
    ``records_root``, keyed "submission_seq:level:idx"."""
    by_submission: dict[int, list[int]] = {}
    for seq in covered:
        by_submission.setdefault(subs[seq], []).append(seq - subs[seq] - 1)
    out: dict[str, str] = {}
    for sub_seq, indices in by_submission.items():
        count = parse_entry(entries[sub_seq], sub_seq).payload["count"]
        nodes = merkle.multiproof_plan(indices, count)
        leaves = [sub_seq + 1 + ix for lv, ix in nodes if lv == 0]
        for seq, data in _entries(conn, leaves).items():
            out[f"{sub_seq}:0:{seq - sub_seq - 1}"] = merkle.leaf_hash(payload_slice(data)).hex()
        by_level: dict[int, list[int]] = {}
        for level, idx in nodes:
            if level > 0:
                by_level.setdefault(level, []).append(idx)
        stmt = text(
            "SELECT idx, hash FROM submission_nodes WHERE submission_seq = :s "
            "AND level = :lv AND idx IN :ids"
        ).bindparams(bindparam("ids", expanding=True))
        for level, ids in by_level.items():
            found = 0
            for start in range(0, len(ids), 900):
                params = {"s": sub_seq, "lv": level, "ids": ids[start : start + 900]}
                for idx, digest in conn.execute(stmt, params):
                    out[f"{sub_seq}:{level}:{idx}"] = bytes(digest).hex()
                    found += 1
            if found != len(ids):
                raise ProofError(f"submission {sub_seq} lacks stored nodes at level {level}")
    return dict(sorted(out.items()))


def evidence_digest(evidence: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(dict(evidence))).hexdigest()


def label_document(
    fp: ProductFootprint, evidence: Mapping[str, Any], statement_seq: int
) -> dict[str, Any]:
    """The carbon-label/v2 JSON: exact figures, people's figures, method, the logged
    statement they come from, and the evidence."""
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
        "evidence_sha256": evidence_digest(evidence),
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
            fields = {k: v for k, v in p.payload.items() if k != "signature"}
            try:
                keys.verify(
                    ledger_key,
                    keys.OPERATOR_DOMAIN,
                    canonical_bytes(fields),
                    p.payload.get("signature", ""),
                )
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


def _decimals(per_stage: Mapping[str, str | None]) -> dict[str, Decimal | None]:
    return {s: None if (v := per_stage[s]) is None else Decimal(v) for s in STAGES}


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
    if evidence_digest(evidence) != doc.get("evidence_sha256"):
        raise VerificationError("evidence_sha256 does not match the evidence")
    try:
        fp, statement_seq = footprint_from_evidence(
            evidence, product_id, window, operator, phases=phases
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError) as exc:
        raise VerificationError(f"label evidence is malformed: {exc!r}") from exc
    expected = label_document(fp, evidence, statement_seq)
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
