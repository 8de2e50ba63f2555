"""Entry kinds as objects: every rule about one kind of entry, in one place.

Each kind says who signs it, how an input row becomes its payload (``build``, for the kinds a
supplier appends), what it must satisfy given the entries before it (``check``: the full
``verify``, the checkpoint's pre-signing audit and ``verify --bundle`` all run it), and what
it changes in the index tables (``changes``: the appender, ``reindex`` and ``verify``'s replay
all apply it). :data:`RULES` registers each kind once; a new kind is one class here.

:class:`History` is what the rules of later entries depend on — the keys, factors, products,
records, outputs and footprint statements seen so far — built in seq order.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import keys
from ledger.accounting import RowProblems, build_record, recompute_co2e
from ledger.errors import VerificationError
from ledger.footprint import Factor
from ledger.keyring import Keyring
from ledger.outputs import OutputBook, build_output
from ledger.state import (
    FACTOR_FIELDS,
    OUTPUT_INDEX_FIELDS,
    Change,
    Insert,
    Update,
    key_insert,
    record_row,
)
from ledger.statements import Replay


def factor_of(payload: Mapping[str, Any]) -> Factor:
    return Factor(
        **{k: payload[k] for k in Factor.__dataclass_fields__ if k != "kgco2e_per_unit"},
        kgco2e_per_unit=Decimal(payload["kgco2e_per_unit"]),
    )


@dataclass
class History:
    """The state earlier entries leave for the rules of later ones (a replay in seq order)."""

    footprint_products: set[str] | None = None
    operator: Ed25519PublicKey | None = None
    origin: str = ""
    keyring: Keyring = field(default_factory=Keyring)
    factors: dict[tuple[str, int], Factor] = field(default_factory=dict)
    products: set[str] = field(default_factory=set)
    output_book: OutputBook = field(default_factory=OutputBook)
    records: dict[str, str] = field(default_factory=dict)  # record_id -> supplier_id
    status: dict[str, tuple[str, int]] = field(default_factory=dict)  # record_id -> (status, seq)
    statements: Replay = field(init=False)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.statements = Replay(self.footprint_products)

    def count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def check_target(self, seq: int, rid: str, supplier: str, what: str) -> None:
        """A supersedes or retraction target: an earlier, still effective record of S."""
        if self.records.get(rid) != supplier:
            raise VerificationError(
                f"{what} targets {rid!r}, not an earlier record of {supplier!r}", seq
            )
        if rid in self.status:
            raise VerificationError(f"{what} targets {rid!r}, already {self.status[rid][0]}", seq)


class Kind:
    """One kind of entry. Subclasses set ``name`` and ``signer`` and override what applies."""

    name: str
    #: "operator" (its own operator signature), "supplier" (a submission's own signature) or
    #: "submission" (covered by the supplier signature of the submission before it)
    signer: str
    #: input row -> payload, for kinds a supplier appends (None for the others)
    build: ClassVar[Callable[..., Any] | None] = None

    def check(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        """Raise VerificationError unless the entry is valid after the ones before it."""

    def remember(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        """Leave the state an entry leaves for later ones, without re-checking what an
        earlier audit already checked (the operator's incremental pre-sign audit). By
        default the check itself, which is cheap for every kind that does not override it."""
        self.check(history, seq, payload)

    def changes(
        self, seq: int, payload: dict[str, Any], submission_seq: int | None
    ) -> list[Change]:
        """The index-table rows this entry inserts or updates."""
        return []


class Genesis(Kind):
    name, signer = "genesis", "operator"


class SupplierKey(Kind):
    """``supplier``, ``key_rotate`` and ``key_revoke``: which supplier keys are valid when."""

    signer = "operator"

    def __init__(self, name: str) -> None:
        self.name = self.kind_name = name

    def check(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        history.keyring.register(seq, self.kind_name, payload)

    def changes(
        self, seq: int, payload: dict[str, Any], submission_seq: int | None
    ) -> list[Change]:
        if self.kind_name == "supplier":
            supplier = {k: payload[k] for k in ("supplier_id", "name", "country")}
            return [
                Insert("suppliers", {**supplier, "seq": seq}),
                key_insert(seq, payload, payload.get("created_at", "")),
            ]
        retire = {"revoked_seq": seq, "revoked_at": payload["effective_at"]}
        if self.kind_name == "key_revoke":
            return [Update("supplier_keys", "key_id", payload["key_id"], retire)]
        retired: list[Change] = [
            Update("supplier_keys", "key_id", old, dict(retire))
            for old in payload.get("retires", [])
        ]
        return [*retired, key_insert(seq, payload, payload["effective_at"])]


class FactorKind(Kind):
    name, signer = "factor", "operator"

    def check(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        factor = factor_of(payload)
        key = (factor.factor_id, factor.version)
        if key in history.factors:
            raise VerificationError(f"factor {key[0]} version {key[1]} registered twice", seq)
        history.factors[key] = factor

    def changes(
        self, seq: int, payload: dict[str, Any], submission_seq: int | None
    ) -> list[Change]:
        return [Insert("factors", {**{k: payload[k] for k in FACTOR_FIELDS}, "seq": seq})]


class Submission(Kind):
    """A supplier's signature over the entries that follow it (the chain counts them)."""

    name, signer = "submission", "supplier"

    def check(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        history.keyring.check_submission(seq, payload)

    def remember(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        """A signature check leaves no state."""

    def changes(
        self, seq: int, payload: dict[str, Any], submission_seq: int | None
    ) -> list[Change]:
        row = {k: payload[k] for k in ("supplier_id", "key_id", "count")}
        return [
            Insert(
                "submissions", {"seq": seq, **row, "source_sha256": payload.get("source_sha256")}
            )
        ]


class Product(Kind):
    name, signer = "product", "submission"

    def check(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        if payload["product_id"] in history.products:
            raise VerificationError(f"product {payload['product_id']!r} registered twice", seq)
        history.products.add(payload["product_id"])
        history.output_book.product(payload["product_id"], payload["supplier_id"])
        history.statements.product(payload)

    def changes(
        self, seq: int, payload: dict[str, Any], submission_seq: int | None
    ) -> list[Change]:
        row = {k: payload[k] for k in ("product_id", "supplier_id", "name", "declared_unit")}
        row.update(mass_kg=payload["mass_kg"], category=payload.get("category"), seq=seq)
        return [Insert("products", row)]


class Record(Kind):
    name, signer = "record", "submission"
    build = staticmethod(build_record)

    def check(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        rid = payload["record_id"]
        if rid in history.records:
            raise VerificationError(f"record_id {rid!r} appears twice", seq)
        if payload["product_id"] not in history.products:
            raise VerificationError(
                f"record names unregistered product {payload['product_id']}", seq
            )
        factor = None
        if "factor_id" in payload:
            factor = self._check_co2e(history, seq, payload)
        elif payload.get("data_quality") != "primary" or "evidence_sha256" not in payload:
            raise VerificationError(f"measured record {rid} lacks primary quality or evidence", seq)
        if "supersedes" in payload:
            history.check_target(seq, payload["supersedes"], payload["supplier_id"], "supersedes")
        self._note(history, seq, payload, factor)

    def remember(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        """No co2e recomputation: only the id, and the record itself if a statement needs it."""
        factor = None
        if "factor_id" in payload:
            factor = history.factors[(payload["factor_id"], payload["factor_version"])]
        self._note(history, seq, payload, factor)

    @staticmethod
    def _note(history: History, seq: int, payload: dict[str, Any], factor: Factor | None) -> None:
        history.records[payload["record_id"]] = sys.intern(payload["supplier_id"])
        history.statements.record(seq, payload, factor.gwp if factor is not None else None)

    @staticmethod
    def _check_co2e(history: History, seq: int, payload: dict[str, Any]) -> Factor:
        """The pinned factor exists, fits the record, and amount × factor is its co2e."""
        rid, key = payload["record_id"], (payload["factor_id"], payload["factor_version"])
        factor = history.factors.get(key)
        if factor is None:
            raise VerificationError(
                f"record pins factor {key[0]} v{key[1]}, which does not exist at this point", seq
            )
        if factor.stage != payload["stage"] or factor.activity != payload["activity"]:
            raise VerificationError(
                f"record {rid} is {payload['stage']}/{payload['activity']} but its factor "
                f"is for {factor.stage}/{factor.activity}",
                seq,
            )
        expected = recompute_co2e(payload, factor)
        if expected != payload["co2e_kg"]:
            raise VerificationError(
                f"co2e_kg {payload['co2e_kg']} of record {rid} is not amount × factor = {expected}",
                seq,
            )
        return factor

    def changes(
        self, seq: int, payload: dict[str, Any], submission_seq: int | None
    ) -> list[Change]:
        assert submission_seq is not None
        out: list[Change] = [Insert("records", record_row(seq, submission_seq, payload))]
        if "supersedes" in payload:
            superseded = {"status": "superseded", "status_seq": seq}
            out.append(Update("records", "record_id", payload["supersedes"], superseded))
        return out


class Output(Kind):
    """A declared output (the reference flow): the owner's alone, periods never overlap."""

    name, signer = "output", "submission"
    build = staticmethod(build_output)

    def check(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        try:
            canonical = build_output(payload, payload["supplier_id"])
        except RowProblems as exc:
            name, message = exc.problems[0]
            raise VerificationError(f"output {name}: {message}", seq) from None
        if canonical != payload:
            raise VerificationError("output payload is not in its canonical form", seq)
        refused = history.output_book.admit(payload)
        if refused is not None:
            raise VerificationError(f"output {payload['output_id']!r}: {refused[1]}", seq)
        history.statements.output(seq, payload)

    def changes(
        self, seq: int, payload: dict[str, Any], submission_seq: int | None
    ) -> list[Change]:
        assert submission_seq is not None
        row = {name: payload.get(name) for name in OUTPUT_INDEX_FIELDS}
        row.update(seq=seq, submission_seq=submission_seq, status="effective", status_seq=None)
        out: list[Change] = [Insert("outputs", row)]
        if "supersedes" in payload:
            superseded = {"status": "superseded", "status_seq": seq}
            out.append(Update("outputs", "output_id", payload["supersedes"], superseded))
        return out


class Retraction(Kind):
    """Ends one of the supplier's own effective records or outputs."""

    name, signer = "retraction", "submission"

    def check(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        if ("output_id" in payload) == ("record_id" in payload):
            raise VerificationError("a retraction names exactly one record_id or output_id", seq)
        if "output_id" in payload:
            problem = history.output_book.retract(payload["output_id"], payload["supplier_id"])
            if problem:
                raise VerificationError(problem, seq)
        else:
            history.check_target(seq, payload["record_id"], payload["supplier_id"], "retraction")
        history.statements.retraction(seq, payload)

    def changes(
        self, seq: int, payload: dict[str, Any], submission_seq: int | None
    ) -> list[Change]:
        table, column = (
            ("outputs", "output_id")
            if "output_id" in payload
            else (
                "records",
                "record_id",
            )
        )
        return [Update(table, column, payload[column], {"status": "retracted", "status_seq": seq})]


class Footprint(Kind):
    """A logged footprint statement: re-derived from the replay at its as-of size."""

    name, signer = "footprint", "operator"

    def check(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        history.statements.check(seq, payload)

    def remember(self, history: History, seq: int, payload: dict[str, Any]) -> None:
        """Re-deriving a statement leaves no state."""

    def changes(
        self, seq: int, payload: dict[str, Any], submission_seq: int | None
    ) -> list[Change]:
        row = {
            "seq": seq,
            "product_id": payload["product_id"],
            "window_from": payload["window"]["from"],
            "window_to": payload["window"]["to"],
            "as_of_size": payload["as_of_size"],
            "records_digest": payload["records_digest"],
        }
        return [Insert("footprints", row)]


RULES: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Genesis(),
        SupplierKey("supplier"),
        SupplierKey("key_rotate"),
        SupplierKey("key_revoke"),
        FactorKind(),
        Submission(),
        Product(),
        Record(),
        Output(),
        Retraction(),
        Footprint(),
    )
}


def changes_for(
    kind: str, seq: int, payload: dict[str, Any], submission_seq: int | None
) -> list[Change]:
    """Index changes caused by one entry (the appender, ``reindex`` and ``verify`` apply it)."""
    return RULES[kind].changes(seq, payload, submission_seq)


def verify_operator_signature(
    operator: Ed25519PublicKey, seq: int, kind: str, payload: Mapping[str, Any]
) -> None:
    """The operator's domain-separated signature over the payload without its signature."""
    try:
        keys.verify_signed_payload(operator, keys.OPERATOR_DOMAIN, payload)
    except VerificationError as exc:
        raise VerificationError(f"operator signature on {kind} entry does not verify", seq) from exc
