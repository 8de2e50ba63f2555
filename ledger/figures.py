"""The figure maths of SPEC §6 (v2), once, in exact rationals and without pandas.

``ledger.query`` (the pandas tables), ``label export``/``label verify`` (a product's footprint
from its evidence) and the full ``verify`` all call these functions, so the figures a lender
reads and the figures an auditor re-derives cannot drift apart.

Inputs are plain facts: :class:`Contribution` (one effective record, or several records that lie
wholly inside the window and share every key, so their share of it is 1) and
:class:`OutputFact` (one effective ``output`` entry: the reference flow). Everything is a
``Fraction`` until :func:`rounded` turns a finished figure into a ``Decimal`` rounded half-even
to :data:`RATIO_PLACES` places, once, at the end.

Notation as in SPEC §6: a window ``W = [from, to)``; ``N(p, W)`` the declared units of p in
W; ``φ(r, W)`` a record's share of W; ``C_g`` a supplier's units covered per allocation group;
``H = max_g C_g`` the units a supplier handled in a stage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Any

from ledger.decimals import EXACT
from ledger.footprint import STAGES
from ledger.state import allocation_group
from ledger.vocab import Window

RATIO_PLACES = 12
_Q = Decimal(1).scaleb(-RATIO_PLACES)
_CTX = Context(prec=80, rounding=ROUND_HALF_EVEN)
#: sums of record quantities: exact (an inexact sum raises), and text that is not a number
#: raises too, as ``Decimal(text)`` does in the default context
_EXACT_SUM = EXACT.copy()
_EXACT_SUM.traps[InvalidOperation] = True
_DECIMAL_ZERO = Decimal(0)
ZERO = Fraction(0)
ONE = Fraction(1)


def rounded(value: Fraction | None) -> Decimal | None:
    """A finished figure as a Decimal rounded half-even to 12 places (None stays None)."""
    if value is None:
        return None
    with localcontext(_CTX):
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        return exact.quantize(_Q)


@dataclass(frozen=True)
class OutputFact:
    """An effective ``output`` entry: ``units`` declared units of a product over a period."""

    product_id: str
    units: Fraction
    start: date
    end: date


@dataclass(frozen=True)
class Contribution:
    """Effective record(s) with the facts the figures need.

    ``period`` is the record's ``[period_start, period_end)``; ``None`` means a group of
    records that lie wholly inside the window (share 1), summed in the database.
    ``tkm`` is the transport work stated in tkm (or distance × mass), else ``None``.
    """

    supplier_id: str
    product_id: str
    stage: str
    group: str  # allocation_group (default: the activity)
    data_quality: str
    gwp: str | None  # the factor's GWP set; None for a measured record
    co2e: Fraction
    units_covered: Fraction
    period: Window | None = None
    tkm: Fraction | None = None
    records: int = 1


@dataclass(frozen=True)
class ProductInfo:
    product_id: str
    owner: str
    mass_kg: Fraction


def record_contribution(payload: Mapping[str, Any], gwp: str | None) -> Contribution:
    """One record payload as a contribution: the simple reference of
    :func:`record_contributions`, which labels and ``verify`` use (the tests compare them)."""
    is_tkm = payload["unit"] == "tkm" and payload["stage"] == "transport"
    tkm = Fraction(Decimal(payload["amount"])) if is_tkm else None
    return Contribution(
        supplier_id=payload["supplier_id"],
        product_id=payload["product_id"],
        stage=payload["stage"],
        group=allocation_group(payload),
        data_quality=payload["data_quality"],
        gwp=gwp,
        co2e=Fraction(Decimal(payload["co2e_kg"])),
        units_covered=Fraction(Decimal(payload["units_covered"])),
        period=(
            date.fromisoformat(payload["period_start"]),
            date.fromisoformat(payload["period_end"]),
        ),
        tkm=tkm,
    )


#: a record payload with its factor's GWP set (None for a measured record)
RecordInput = tuple[Mapping[str, Any], str | None]


def record_contributions(records: Iterable[RecordInput]) -> list[Contribution]:
    """The contributions of many record payloads, records that share every key summed first.

    What :func:`weigh` does with a contribution depends only on its supplier, product, stage,
    allocation group, data quality, GWP set, period and whether it is stated in tkm; every
    weight is linear (``Σ x·φ = (Σ x)·φ``). So records sharing all of those are summed here
    as exact decimals (in C, with an Inexact trap) and turned into one ``Fraction`` each:
    a label of 10^4 records costs a few hundred Fraction operations, not 10^4 of them, and
    the figures are the same exact rationals as feeding :func:`record_contribution` of each
    record to :func:`weigh` (``tests/test_figures.py`` cross-checks both).
    """
    groups: dict[tuple[Any, ...], list[Any]] = {}
    with localcontext(_EXACT_SUM):
        for payload, gwp in records:
            stage = payload["stage"]
            is_tkm = payload["unit"] == "tkm" and stage == "transport"
            key = (
                payload["supplier_id"],
                payload["product_id"],
                stage,
                allocation_group(payload),
                payload["data_quality"],
                gwp,
                payload["period_start"],
                payload["period_end"],
                is_tkm,
            )
            co2e = Decimal(payload["co2e_kg"])
            units = Decimal(payload["units_covered"])
            tkm = Decimal(payload["amount"]) if is_tkm else _DECIMAL_ZERO
            sums = groups.get(key)
            if sums is None:
                groups[key] = [co2e, units, tkm, 1]
            else:
                sums[0] += co2e
                sums[1] += units
                sums[2] += tkm
                sums[3] += 1
    return [
        Contribution(
            supplier_id=supplier,
            product_id=product,
            stage=stage,
            group=group,
            data_quality=quality,
            gwp=gwp,
            co2e=Fraction(co2e),
            units_covered=Fraction(units),
            period=(date.fromisoformat(start), date.fromisoformat(end)),
            tkm=Fraction(tkm) if is_tkm else None,
            records=count,
        )
        for (supplier, product, stage, group, quality, gwp, start, end, is_tkm), (
            co2e,
            units,
            tkm,
            count,
        ) in groups.items()
    ]


def days(start: date, end: date) -> int:
    return (end - start).days


def overlap_share(start: date, end: date, window: Window) -> Fraction:
    """|P ∩ W| / |P| in days, for a half-open period P = [start, end)."""
    inside = days(max(start, window[0]), min(end, window[1]))
    if inside <= 0:
        return ZERO
    return Fraction(inside, days(start, end))


def reference_flow(outputs: Iterable[OutputFact], window: Window) -> Fraction:
    """``N(p, W) = Σ_o units(o) · |P_o ∩ W| / |P_o|``."""
    return sum((o.units * overlap_share(o.start, o.end, window) for o in outputs), ZERO)


def share(c: Contribution, window: Window, outputs: Sequence[OutputFact]) -> Fraction:
    """``φ(r, W)``: by output for a production record that overlaps declared output, else time.

    A production input follows what it produced: an annual resin purchase counts in each
    quarter by that quarter's share of the year's declared output, not wholly in the first.
    """
    if c.period is None:
        return ONE
    start, end = c.period
    if c.stage == "production":
        produced = reference_flow(outputs, (start, end))
        if produced > 0:
            inside = (max(start, window[0]), min(end, window[1]))
            if inside[1] <= inside[0]:
                return ZERO
            return reference_flow(outputs, inside) / produced
    return overlap_share(start, end, window)


@dataclass
class _Sums:
    """φ-weighted sums of one key's contributions."""

    co2e: Fraction = ZERO
    primary: Fraction = ZERO
    records: int = 0
    tkm: Fraction = ZERO
    tkm_co2e: Fraction = ZERO
    gwp: set[str] = field(default_factory=set)

    def add(self, c: Contribution, phi: Fraction) -> None:
        weighted = c.co2e * phi
        self.co2e += weighted
        if c.data_quality == "primary":
            self.primary += weighted
        self.records += c.records
        if c.tkm is not None:
            self.tkm += c.tkm * phi
            self.tkm_co2e += weighted
        if c.gwp is not None:
            self.gwp.add(c.gwp)


@dataclass
class WindowFacts:
    """Every contribution of one window, weighted once: the input of every view."""

    window: Window
    products: Mapping[str, ProductInfo]
    outputs: Mapping[str, Sequence[OutputFact]]
    #: (supplier, product, stage) -> φ-weighted sums
    sums: dict[tuple[str, str, str], _Sums] = field(default_factory=dict)
    #: (supplier, product, stage) -> group -> Σ units_covered · φ  (C_g)
    covered: dict[tuple[str, str, str], dict[str, Fraction]] = field(default_factory=dict)

    def handled(self, key: tuple[str, str, str]) -> Fraction:
        """``H(S, p, s, W) = max_g C_g``."""
        groups = self.covered.get(key)
        return max(groups.values()) if groups else ZERO

    def declared(self, product_id: str) -> Fraction:
        return reference_flow(self.outputs.get(product_id, ()), self.window)


def weigh(
    contributions: Iterable[Contribution],
    window: Window,
    products: Mapping[str, ProductInfo],
    outputs: Mapping[str, Sequence[OutputFact]],
) -> WindowFacts:
    """Apply φ to every contribution and sum per (supplier, product, stage) and group."""
    facts = WindowFacts(window, products, outputs)
    shares: dict[tuple[str, str, Window | None], Fraction] = {}
    for c in contributions:
        # φ depends only on the product, whether it is production, and the period: records
        # share a handful of periods, so each share is computed once, not once per record
        period_key = (c.product_id, "production" if c.stage == "production" else "", c.period)
        phi = shares.get(period_key)
        if phi is None:
            phi = shares[period_key] = share(c, window, outputs.get(c.product_id, ()))
        key = (c.supplier_id, c.product_id, c.stage)
        facts.sums.setdefault(key, _Sums()).add(c, phi)
        groups = facts.covered.setdefault(key, {})
        groups[c.group] = groups.get(c.group, ZERO) + c.units_covered * phi
    return facts


@dataclass(frozen=True)
class ProductFigures:
    """A product's footprint in one window (exact; round with :func:`rounded`)."""

    product_id: str
    records: int
    total_kgco2e: Fraction
    reference_units: Fraction
    reference_flow: str  # "declared" | "inferred"
    by_stage: dict[str, Fraction | None]
    coverage: dict[str, Fraction | None]
    footprint: Fraction
    footprint_per_kg: Fraction
    primary_data_share: Fraction | None
    gwp_sets: tuple[str, ...]
    suppliers: tuple[str, ...]

    @property
    def missing_stages(self) -> tuple[str, ...]:
        return tuple(s for s in STAGES if self.by_stage[s] is None)


def _inferred_units(facts: WindowFacts, product: ProductInfo) -> Fraction:
    """No declared output: the owner's production units handled, else the largest handled.

    Only the owner's production counts first, so another supplier's row cannot set the
    reference flow of a product it does not own. Such figures are never ``comparable``.
    """
    own = facts.handled((product.owner, product.product_id, "production"))
    if own > 0:
        return own
    return max(
        (facts.handled(k) for k in facts.covered if k[1] == product.product_id), default=ZERO
    )


def product_figures(facts: WindowFacts) -> dict[str, ProductFigures]:
    by_product: dict[str, list[tuple[tuple[str, str, str], _Sums]]] = defaultdict(list)
    for key, sums in facts.sums.items():
        by_product[key[1]].append((key, sums))
    out: dict[str, ProductFigures] = {}
    for product_id in sorted(by_product):
        items = by_product[product_id]
        product = facts.products[product_id]
        units = facts.declared(product_id)
        flow = "declared"
        if units == 0:
            units, flow = _inferred_units(facts, product), "inferred"
        stage_co2e: dict[str, Fraction] = {}
        stage_handled: dict[str, Fraction] = {}
        total = primary = ZERO
        gwp: set[str] = set()
        for key, sums in items:
            stage_co2e[key[2]] = stage_co2e.get(key[2], ZERO) + sums.co2e
            stage_handled[key[2]] = stage_handled.get(key[2], ZERO) + facts.handled(key)
            total += sums.co2e
            primary += sums.primary
            gwp |= sums.gwp
        if units == 0:
            continue  # every record has a zero share of this window
        by_stage = {s: stage_co2e[s] / units if s in stage_co2e else None for s in STAGES}
        coverage = {s: stage_handled[s] / units if s in stage_handled else None for s in STAGES}
        footprint = sum((v for v in by_stage.values() if v is not None), ZERO)
        out[product_id] = ProductFigures(
            product_id=product_id,
            records=sum(s.records for _k, s in items),
            total_kgco2e=total,
            reference_units=units,
            reference_flow=flow,
            by_stage=by_stage,
            coverage=coverage,
            footprint=footprint,
            footprint_per_kg=footprint / product.mass_kg,
            primary_data_share=primary * 100 / total if total else None,
            gwp_sets=tuple(sorted(gwp)),
            suppliers=tuple(sorted({k[0] for k, _s in items})),
        )
    return out


@dataclass(frozen=True)
class IntensityFigures:
    """A supplier's (or a stage's) intensity per kg of product handled, in one window."""

    key: str
    records: int
    total_kgco2e: Fraction
    by_stage: dict[str, Fraction | None]
    intensity: Fraction | None
    transport_per_tkm: Fraction | None
    primary_data_share: Fraction | None
    gwp_sets: tuple[str, ...]
    reference_flows_declared: bool

    @property
    def missing_stages(self) -> tuple[str, ...]:
        return tuple(s for s in STAGES if self.by_stage[s] is None)


def _kg_handled(facts: WindowFacts, key: tuple[str, str, str]) -> Fraction:
    """``H(S, p, s) · mass_kg(p)``; the owner's own production counts its declared output."""
    supplier, product_id, stage = key
    product = facts.products[product_id]
    units = facts.handled(key)
    if stage == "production" and supplier == product.owner:
        declared = facts.declared(product_id)
        if declared > 0:
            units = declared
    return units * product.mass_kg


def _intensity(
    facts: WindowFacts, name: str, keys: Sequence[tuple[str, str, str]]
) -> IntensityFigures:
    co2e: dict[str, Fraction] = {}
    kg: dict[str, Fraction] = {}
    total = primary = tkm = tkm_co2e = ZERO
    records = 0
    gwp: set[str] = set()
    declared = True
    for key in keys:
        sums = facts.sums[key]
        stage = key[2]
        co2e[stage] = co2e.get(stage, ZERO) + sums.co2e
        kg[stage] = kg.get(stage, ZERO) + _kg_handled(facts, key)
        total += sums.co2e
        primary += sums.primary
        tkm += sums.tkm
        tkm_co2e += sums.tkm_co2e
        records += sums.records
        gwp |= sums.gwp
        owner = facts.products[key[1]].owner
        if stage == "production" and key[0] == owner and facts.declared(key[1]) == 0:
            declared = False
    by_stage = {s: co2e[s] / kg[s] if kg.get(s) else None for s in STAGES}
    present = [v for v in by_stage.values() if v is not None]
    return IntensityFigures(
        key=name,
        records=records,
        total_kgco2e=total,
        by_stage=by_stage,
        intensity=sum(present, ZERO) if present else None,
        transport_per_tkm=tkm_co2e / tkm if tkm else None,
        primary_data_share=primary * 100 / total if total else None,
        gwp_sets=tuple(sorted(gwp)),
        reference_flows_declared=declared,
    )


def supplier_figures(facts: WindowFacts) -> dict[str, IntensityFigures]:
    """``I(S, s) = Σ co2e(S, s) · φ / Σ_p H(S, p, s) · mass_kg(p)``; ``I(S) = Σ_s I(S, s)``."""
    keys: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key in facts.sums:
        keys[key[0]].append(key)
    return {s: _intensity(facts, s, keys[s]) for s in sorted(keys)}


def stage_figures(facts: WindowFacts) -> dict[str, IntensityFigures]:
    """The same ratio over every supplier of one stage."""
    keys: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key in facts.sums:
        keys[key[2]].append(key)
    return {s: _intensity(facts, s, keys[s]) for s in STAGES if s in keys}


def change_pct(now: Fraction | None, base: Fraction | None) -> Fraction | None:
    """``(now − base) / base × 100``; None when either side is missing or base is 0."""
    if now is None or base is None or base == 0:
        return None
    return (now - base) * 100 / base


def comparable(
    now_missing: Sequence[str],
    base_missing: Sequence[str] | None,
    now_gwp: Sequence[str],
    base_gwp: Sequence[str] | None,
    declared: bool,
) -> bool:
    """Same stages, declared reference flows in both windows, one GWP set across both."""
    if base_missing is None or base_gwp is None or not declared:
        return False
    return tuple(now_missing) == tuple(base_missing) and len({*now_gwp, *base_gwp}) <= 1
