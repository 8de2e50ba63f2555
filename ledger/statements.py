"""Footprint statements: a label's figures, logged and signed before any label shows them.

A label alone proves that its records exist, not that they are all the records. So a label
is only issued for a ``footprint`` entry in the log (Certificate Transparency's rule: a
certificate counts once it is logged and monitors re-derive what was logged). The entry
names the product, the window, the tree size the figures are as of, the figures, and
``records_digest`` — SHA-256 over the JCS list of the sorted seqs of every contributing
record and output entry. Then:

* ``label verify`` checks that the label's evidence holds exactly that set and recomputes the
  figures from it; a dropped, added, swapped or re-windowed record fails;
* the full ``verify`` re-derives every footprint entry from the replay at its ``as_of_size``,
  so an operator that logs a cherry-picked, stale or re-windowed statement is caught by
  anyone who audits.

:class:`Basis` (what a statement is computed from) and :func:`figures_of` exist once; the
exporter, ``verify`` and ``label verify`` all call them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ledger import figures
from ledger.canonical import canonical_bytes
from ledger.decimals import fmt
from ledger.entry import ParsedEntry
from ledger.errors import NotFoundError, VerificationError
from ledger.figures import OutputFact, ProductInfo, RecordInput, rounded
from ledger.footprint import STAGES, Factor
from ledger.vocab import Window

METHOD = "carbon-ledger SPEC §6 v2 (declared reference flow, allocation groups, window shares)"
STATEMENT_FIELDS = ("product_id", "window", "as_of_size", "figures", "method", "records_digest")


def records_digest(seqs: Iterable[int]) -> str:
    """SHA-256 (hex) of the JCS list of the sorted seqs of the contributing entries."""
    return hashlib.sha256(canonical_bytes(sorted(seqs))).hexdigest()


def window_text(window: Window) -> dict[str, str]:
    return {"from": window[0].isoformat(), "to": window[1].isoformat()}


def _text(value: Any) -> str | None:
    figure = rounded(value)
    return None if figure is None else fmt(figure)


@dataclass
class Basis:
    """The contributing entries of one product's footprint in one window, by seq.

    Records are kept as their payloads (with the factor's GWP set): the figures sum records
    that share every key before any rational arithmetic (:func:`figures.record_contributions`).
    """

    product: ProductInfo
    window: Window
    records: dict[int, RecordInput] = field(default_factory=dict)
    outputs: dict[int, OutputFact] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return records_digest([*self.records, *self.outputs])


def figures_of(basis: Basis) -> dict[str, Any]:
    """The statement's figures as exact decimal strings (rounded half-even to 12 places).

    Refuses an inferred reference flow: a label is a claim per declared unit, so the owner
    must have declared the units (``output add``).
    """
    product_id = basis.product.product_id
    facts = figures.weigh(
        figures.record_contributions(basis.records.values()),
        basis.window,
        {product_id: basis.product},
        {product_id: list(basis.outputs.values())},
    )
    fig = figures.product_figures(facts).get(product_id)
    start, end = basis.window
    if fig is None:
        raise NotFoundError(f"product {product_id} has no records from {start} to {end}")
    if fig.reference_flow != "declared":
        raise NotFoundError(
            f"product {product_id} has no declared output from {start} to {end}: a label "
            "needs the reference flow; its owner declares it with `carbon-ledger output add`"
        )
    return {
        "kgco2e_per_unit": _text(fig.footprint),
        "kgco2e_per_kg": _text(fig.footprint_per_kg),
        "by_stage": {s: _text(fig.by_stage[s]) for s in STAGES},
        "coverage": {s: _text(fig.coverage[s]) for s in STAGES},
        "reference_units": _text(fig.reference_units),
        "primary_data_share": _text(fig.primary_data_share) or "0",
        "record_count": fig.records,
        "gwp_sets": list(fig.gwp_sets),
        "suppliers": list(fig.suppliers),
    }


def statement_fields(basis: Basis, as_of_size: int) -> dict[str, Any]:
    """The unsigned payload of a ``footprint`` entry for this basis."""
    return {
        "product_id": basis.product.product_id,
        "window": window_text(basis.window),
        "as_of_size": as_of_size,
        "figures": figures_of(basis),
        "method": METHOD,
        "records_digest": basis.digest,
    }


def statement_window(payload: Mapping[str, Any]) -> Window:
    try:
        return (
            date.fromisoformat(payload["window"]["from"]),
            date.fromisoformat(payload["window"]["to"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise VerificationError(f"footprint statement has a malformed window: {exc}") from exc


def check_statement(payload: Mapping[str, Any], basis: Basis, seq: int | None = None) -> None:
    """Fail, naming what differs, unless ``payload`` is exactly what ``basis`` gives."""
    product = basis.product.product_id
    if basis.digest != payload.get("records_digest"):
        raise VerificationError(
            f"footprint statement for {product} commits to a different record set than the "
            f"ledger holds as of size {payload.get('as_of_size')} (records_digest differs)",
            seq,
        )
    try:
        expected = figures_of(basis)
    except NotFoundError as exc:
        raise VerificationError(f"footprint statement for {product}: {exc}", seq) from exc
    stated = payload.get("figures")
    if not isinstance(stated, Mapping):
        raise VerificationError(f"footprint statement for {product} has no figures", seq)
    for name, value in expected.items():
        if stated.get(name) != value:
            raise VerificationError(
                f"footprint statement for {product} states {name} {stated.get(name)!r} but "
                f"the entries give {value!r}",
                seq,
            )
    if set(stated) != set(expected) or payload.get("method") != METHOD:
        raise VerificationError(f"footprint statement for {product} has unknown fields", seq)


def applies_to(window: Window) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a record contributes to ``window``: its period overlaps it. The window's
    bounds are formatted once, not once for each of 10^4 records."""
    start, end = window[0].isoformat(), window[1].isoformat()

    def applies(payload: Mapping[str, Any]) -> bool:
        return bool(payload["period_start"] < end and payload["period_end"] > start)

    return applies


@dataclass
class Replay:
    """Keeps, during a replay in seq order, what the footprint statements of some products
    need, and re-derives each statement when its entry arrives (the full ``verify``)."""

    products: set[str] | None = None  # None: every product (memory grows with the ledger)
    _records: dict[str, dict[int, tuple[str, dict[str, Any], str | None]]] = field(
        default_factory=dict
    )
    _outputs: dict[str, dict[int, tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    _ended: dict[str, int] = field(default_factory=dict)  # id -> seq that ended it
    _info: dict[str, ProductInfo] = field(default_factory=dict)

    def product(self, payload: Mapping[str, Any]) -> None:
        pid = payload["product_id"]
        if self._wanted(pid):
            self._info[pid] = ProductInfo(
                pid, payload["supplier_id"], _fraction(payload["mass_kg"])
            )

    def record(self, seq: int, payload: Mapping[str, Any], gwp: str | None) -> None:
        self._end(seq, payload.get("supersedes"))
        if self._wanted(payload["product_id"]):
            self._records.setdefault(payload["product_id"], {})[seq] = (
                payload["record_id"],
                dict(payload),
                gwp,
            )

    def output(self, seq: int, payload: Mapping[str, Any]) -> None:
        self._end(seq, payload.get("supersedes"))
        if self._wanted(payload["product_id"]):
            self._outputs.setdefault(payload["product_id"], {})[seq] = (
                payload["output_id"],
                dict(payload),
            )

    def retraction(self, seq: int, payload: Mapping[str, Any]) -> None:
        self._end(seq, payload.get("record_id") or payload.get("output_id"))

    def _wanted(self, product_id: str) -> bool:
        return self.products is None or product_id in self.products

    def _end(self, seq: int, target: str | None) -> None:
        if target is not None:
            self._ended.setdefault(target, seq)

    def _effective(self, ident: str, as_of: int) -> bool:
        ended = self._ended.get(ident)
        return ended is None or ended >= as_of

    def basis(self, product_id: str, window: Window, as_of: int) -> Basis:
        info = self._info.get(product_id)
        if info is None:
            raise VerificationError(
                f"footprint statement names product {product_id!r}, which is not registered "
                "(or was not announced to the audit: a kind column was altered)"
            )
        basis = Basis(info, window)
        applies = applies_to(window)
        for seq, (rid, payload, gwp) in self._records.get(product_id, {}).items():
            if seq < as_of and self._effective(rid, as_of) and applies(payload):
                basis.records[seq] = (payload, gwp)
        for seq, (oid, payload) in self._outputs.get(product_id, {}).items():
            if seq < as_of and self._effective(oid, as_of):
                basis.outputs[seq] = output_fact(payload)
        return basis

    def check(self, seq: int, payload: Mapping[str, Any]) -> None:
        as_of = payload.get("as_of_size")
        if type(as_of) is not int or not 0 < as_of <= seq:
            raise VerificationError("footprint statement's as_of_size is not an earlier size", seq)
        basis = self.basis(str(payload.get("product_id")), statement_window(payload), as_of)
        check_statement(payload, basis, seq)


def output_fact(payload: Mapping[str, Any]) -> OutputFact:
    return OutputFact(
        payload["product_id"],
        _fraction(payload["units"]),
        date.fromisoformat(payload["period_start"]),
        date.fromisoformat(payload["period_end"]),
    )


def _fraction(text: str) -> Fraction:
    return Fraction(Decimal(text))


def basis_from_entries(
    parsed: Mapping[int, ParsedEntry],
    product_id: str,
    window: Window,
    factors: Mapping[tuple[str, int], Factor],
    as_of: int | None = None,
) -> Basis:
    """The basis held by a set of decoded entries: one product registration, its records
    that overlap the window and its outputs (a label's evidence, or the exporter's read).

    Every record and output must be the product's, before ``as_of``, and every record must
    overlap the window; anything else is a foreign entry slipped into the set.
    """
    products = [p for p in parsed.values() if p.kind == "product"]
    if len(products) != 1 or products[0].payload["product_id"] != product_id:
        raise VerificationError(f"evidence must hold exactly the registration of {product_id}")
    product = products[0].payload
    basis = Basis(
        ProductInfo(product_id, product["supplier_id"], _fraction(product["mass_kg"])), window
    )
    applies = applies_to(window)
    for seq, p in sorted(parsed.items()):
        if p.kind not in ("record", "output"):
            continue
        payload = p.payload
        if payload["product_id"] != product_id:
            raise VerificationError(f"{p.kind} at seq {seq} is for another product", seq)
        if as_of is not None and seq >= as_of:
            raise VerificationError(
                f"{p.kind} at seq {seq} comes after the statement's size {as_of}", seq
            )
        if p.kind == "output":
            basis.outputs[seq] = output_fact(payload)
            continue
        if not applies(payload):
            raise VerificationError(f"record at seq {seq} is outside the label window", seq)
        factor = None
        if "factor_id" in payload:
            factor = factors.get((payload["factor_id"], payload["factor_version"]))
            if factor is None:
                raise VerificationError(
                    f"record at seq {seq} pins a factor the evidence lacks", seq
                )
        basis.records[seq] = (payload, factor.gwp if factor else None)
    return basis
