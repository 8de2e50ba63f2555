"""PACT Technical Specifications v3.0 ``ProductFootprint`` for one computed footprint.

Source of truth: WBCSD ``data-exchange-protocol``, ``spec/v3/openapi.yaml`` (info.version
3.0.0), components ``ProductFootprint``, ``CarbonFootprint``, ``DataModelExtension`` and
``EmissionFactorSource``. PACT v3 carries every fractional number as a decimal *string*, so
nothing here ever goes through ``float``: the exact ``Decimal`` of the footprint is written out
digit for digit.

The ledger knows less than PACT asks for (no biogenic split, no carbon content, no geography).
Required fields it cannot know are filled in the way the spec allows and the choice is stated
in the footprint's ``comment`` so a data recipient can read it; see :func:`to_pact`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from ledger.errors import InputError
from ledger.footprint import STAGES, ProductFootprint
from ledger.labels.formats import LABEL_FORMAT
from ledger.vocab import DECLARED_UNITS

PACT_SPEC_VERSION = "3.0.0"
#: Version of the Data Model Extensions spec our extension follows (openapi.yaml example).
EXTENSION_SPEC_VERSION = "2.0.0"
EXTENSION_ID = "carbon-ledger-stages"
EXTENSION_VERSION = "1.0.0"

#: ``CarbonFootprint.crossSectoralStandards`` item enum.
CROSS_SECTORAL_STANDARDS = (
    "ISO14067",
    "ISO14083",
    "ISO14040-44",
    "GHGP-Product",
    "PEF",
    "PACT-1.0",
    "PACT-2.0",
    "PACT-3.0",
)
DEFAULT_STANDARDS = ("GHGP-Product", "ISO14067")

_SPEC_VERSION_RE = re.compile(r"3\.[0-9]+\.[0-9]+(-[0-9]{8})?\Z")
_URN_RE = re.compile(r"[uU][rR][nN]:[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]:\S+\Z")
_HEX64_RE = re.compile(r"[0-9a-f]{64}\Z")
_GWP_RE = re.compile(r"AR[0-9]+\Z")
_COUNTRY_RE = re.compile(r"[A-Z]{2}\Z")
_DOMAIN_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9-]{1,63})*\Z")
_NSS_PART_RE = re.compile(r"[^\s:]+\Z")


def decimal_str(value: Decimal) -> str:
    """Exact decimal string without exponent (``Decimal("1E+2")`` -> ``"100"``).

    ``str(Decimal)`` switches to scientific notation for very small or large values, which the
    PACT ``Decimal`` pattern (and our CSV consumers) reject; ``format(..., "f")`` keeps every
    digit and equals ``str`` whenever ``str`` has no exponent. Negative zero becomes zero.
    """
    if not value.is_finite():
        raise InputError(f"{value} is not a finite decimal")
    if value.is_zero():
        value = abs(value)
    return format(value, "f")


def check_digest(evidence_digest: str) -> str:
    """The evidence digest is SHA-256 hex, lowercase as everywhere else in the ledger."""
    if not isinstance(evidence_digest, str) or not _HEX64_RE.match(evidence_digest):
        raise InputError("evidence_digest must be 64 lowercase hex characters (SHA-256)")
    return evidence_digest


def pact_urn(domain: str, identifier_type: str, value: str) -> str:
    """Build ``urn:pact:$domain-of-issuer$:$identifier-type$:$id$`` (spec v3 §Product IDs).

    v3 recommends this form when no registered or widely used namespace (``urn:gtin:``,
    ``urn:isbn:``, ``urn:uuid:``) applies, e.g. ``pact_urn("ledger.example.com", "supplier-id",
    "P-100")``. v3 documents no company-id form beyond "a URN", so the same shape with a
    type such as ``company-id`` is a reasonable choice for ``company_ids``.
    """
    if not _DOMAIN_RE.match(domain) or "." not in domain:
        raise InputError(f"{domain!r} is not a fully qualified domain name")
    for part, what in ((identifier_type, "identifier type"), (value, "id")):
        if not _NSS_PART_RE.match(part):
            raise InputError(f"URN {what} {part!r} must be non-empty without ':' or spaces")
    return f"urn:pact:{domain.lower()}:{identifier_type}:{value}"


def gtin_urn(gtin: str) -> str:
    """``urn:gtin:<digits>`` as in the v3 product-id examples, with the GS1 check digit checked."""
    if not re.fullmatch(r"[0-9]{8}|[0-9]{12,14}", gtin):
        raise InputError(f"{gtin!r} is not a GTIN-8/12/13/14")
    body = [int(c) for c in gtin[:-1]]
    weighted = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - weighted % 10) % 10 != int(gtin[-1]):
        raise InputError(f"{gtin!r} has a wrong GTIN check digit")
    return f"urn:gtin:{gtin}"


def _urns(values: Sequence[str], what: str) -> list[str]:
    if isinstance(values, str) or not values:
        raise InputError(f"{what} must be a non-empty list of URNs")
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not _URN_RE.match(value):
            raise InputError(f"{what}: {value!r} is not a URN (urn:<nid>:<nss>)")
        if value in out:
            raise InputError(f"{what}: {value!r} is listed twice")
        out.append(value)
    return out


def _uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InputError(f"{what} {value!r} is not a UUID") from None


def _rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC with ``Z``; a naive datetime is ambiguous, so it is refused."""
    offset = moment.utcoffset()
    if offset is None:
        raise InputError("created must be timezone-aware")
    return (moment.replace(tzinfo=None) - offset).isoformat() + "Z"


def _non_negative(value: Decimal, what: str) -> str:
    if value < 0:
        raise InputError(f"{what} is negative ({value}); PACT requires >= 0 here")
    return decimal_str(value)


def _extensions_schema_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise InputError(f"extensions_base_url {base_url!r} must be an http(s) URL")
    return f"{base_url.rstrip('/')}/{EXTENSION_ID}/{EXTENSION_VERSION}/schema.json"


def _stage_extension(fp: ProductFootprint, evidence_digest: str, base_url: str) -> dict[str, Any]:
    """Our stage breakdown as a DataModelExtension: PACT has no per-stage fields."""
    by_stage: dict[str, str | None] = {}
    for stage in STAGES:
        value = fp.by_stage.get(stage)
        by_stage[stage] = None if value is None else decimal_str(value)
    return {
        "specVersion": EXTENSION_SPEC_VERSION,
        "dataSchema": _extensions_schema_url(base_url),
        "data": {
            "label_format": LABEL_FORMAT,
            "declared_unit": fp.declared_unit,
            "by_stage": by_stage,
            "missing_stages": list(fp.missing_stages),
            "evidence_sha256": evidence_digest,
            "record_count": fp.record_count,
        },
    }


def _comment(fp: ProductFootprint, evidence_digest: str, carbon_content_known: bool) -> str:
    missing = ", ".join(fp.missing_stages) or "none"
    return (
        f"Computed by carbon-ledger from {fp.record_count} signed ledger records over stages "
        f"{', '.join(STAGES)}; {LABEL_FORMAT} evidence SHA-256 {evidence_digest}. "
        "The ledger does not track biogenic CO2 uptake, land use or product carbon content: "
        "pcfIncludingBiogenicUptake equals pcfExcludingBiogenicUptake, all emissions are "
        "reported as fossilGhgEmissions and biogenic fields are left undefined (unknown). "
        + ("" if carbon_content_known else "fossilCarbonContent is not assessed; reported as 0. ")
        + f"Stages without records in the reference period (counted as 0): {missing}."
    )


def _coverage_note(fp: ProductFootprint) -> str:
    """Stages whose records cover fewer (or more) units than the declared output: a data gap
    the ledger knows of, stated rather than hidden (SPEC §6 coverage)."""
    gaps = [
        f"{stage} {decimal_str(value * 100)} %"
        for stage, value in sorted(fp.coverage.items(), key=lambda kv: STAGES.index(kv[0]))
        if value is not None and value != 1
    ]
    if not gaps:
        return ""
    return (
        " Records cover a share of the declared units other than 100 % in: "
        + ", ".join(gaps)
        + "; the stage figures are per declared unit as recorded, not extrapolated."
    )


def _factor_sources(fp: ProductFootprint) -> list[dict[str, str]]:
    pairs = sorted({(f.source, str(f.year)) for f in fp.factors if f.source})
    return [{"name": name, "version": year} for name, year in pairs]


def _carbon_footprint(
    fp: ProductFootprint,
    *,
    standards: Sequence[str],
    geography_country: str | None,
    fossil_carbon_content: str,
) -> dict[str, Any]:
    try:
        unit = DECLARED_UNITS[fp.declared_unit]
    except KeyError:
        raise InputError(
            f"declared unit {fp.declared_unit!r} has no PACT v3 declaredUnitOfMeasurement"
        ) from None
    if fp.period_end <= fp.period_start:
        raise InputError("period_end must be after period_start")
    gwp = list(fp.gwp_sets)
    if not gwp or not all(_GWP_RE.match(g) for g in gwp):
        raise InputError(f"GWP sets {gwp} cannot be ipccCharacterizationFactors (need AR<n>)")
    if isinstance(standards, str) or not standards:
        raise InputError("cross_sectoral_standards must be a non-empty list")
    for standard in standards:
        if standard not in CROSS_SECTORAL_STANDARDS:
            raise InputError(f"{standard!r} is not a PACT v3 cross-sectoral standard")
    if len(set(standards)) != len(standards):
        raise InputError("cross_sectoral_standards lists a standard twice")
    if not Decimal(0) <= fp.primary_data_share <= Decimal(100):
        raise InputError(f"primary data share {fp.primary_data_share} is not within 0..100")
    if fp.mass_kg <= 0:
        raise InputError(f"mass_kg {fp.mass_kg} must be > 0")
    total = _non_negative(fp.kgco2e_per_unit, "kgco2e_per_unit")
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": unit,
        "declaredUnitAmount": "1",
        "productMassPerDeclaredUnit": decimal_str(fp.mass_kg),
        "referencePeriodStart": f"{fp.period_start.isoformat()}T00:00:00Z",
        "referencePeriodEnd": f"{fp.period_end.isoformat()}T00:00:00Z",
    }
    if geography_country is not None:
        if not _COUNTRY_RE.match(geography_country):
            raise InputError(f"{geography_country!r} is not an ISO 3166-1 alpha-2 code")
        pcf["geographyCountry"] = geography_country
    missing = ", ".join(fp.missing_stages)
    pcf.update(
        {
            "boundaryProcessesDescription": (
                f"Stages {', '.join(STAGES)} as recorded in the carbon-ledger"
                + (f"; no records for: {missing}" if missing else "")
                + "."
            ),
            "pcfExcludingBiogenicUptake": total,
            "pcfIncludingBiogenicUptake": total,
            "fossilGhgEmissions": total,
            "fossilCarbonContent": fossil_carbon_content,
        }
    )
    packaging = fp.by_stage.get("packaging")
    pcf["packagingEmissionsIncluded"] = packaging is not None
    if packaging is not None:
        pcf["packagingGhgEmissions"] = _non_negative(packaging, "packaging emissions")
    pcf["ipccCharacterizationFactors"] = gwp
    pcf["crossSectoralStandards"] = list(standards)
    pcf["exemptedEmissionsPercent"] = "0"
    pcf["exemptedEmissionsDescription"] = (
        "No emissions were exempted."
        if not missing
        else f"No emissions were exempted; stages without records ({missing}) are not "
        "quantified and not included in exemptedEmissionsPercent."
    ) + _coverage_note(fp)
    sources = _factor_sources(fp)
    if sources and fp.primary_data_share < 100:  # v3: MUST be undefined without secondary data
        pcf["secondaryEmissionFactorSources"] = sources
    pcf["primaryDataShare"] = decimal_str(fp.primary_data_share)
    return pcf


def to_pact(
    fp: ProductFootprint,
    *,
    footprint_id: str,
    created: datetime,
    company_name: str,
    company_ids: Sequence[str],
    product_ids: Sequence[str],
    evidence_digest: str,
    extensions_base_url: str | None = None,
    spec_version: str = PACT_SPEC_VERSION,
    preceding_pf_ids: Sequence[str] = (),
    cross_sectoral_standards: Sequence[str] = DEFAULT_STANDARDS,
    geography_country: str | None = None,
    fossil_carbon_content: Decimal | None = None,
    product_classifications: Sequence[str] = (),
) -> dict[str, Any]:
    """Render ``fp`` as a PACT v3.0 ``ProductFootprint`` (a JSON-ready dict, numbers as strings).

    Our figure is per one declared unit, so ``declaredUnitAmount`` is ``"1"`` and
    ``productMassPerDeclaredUnit`` is ``mass_kg``. The half-open window maps directly onto
    ``referencePeriodStart`` (inclusive) and ``referencePeriodEnd`` (exclusive) at 00:00 UTC.

    Where the ledger cannot know a required value, these choices hold (and are repeated in
    ``comment``):

    - biogenic uptake is not tracked, so ``pcfIncludingBiogenicUptake`` equals
      ``pcfExcludingBiogenicUptake`` and every optional biogenic / land field is left
      undefined, which v3 (x-rule ``BIO``) defines as "unknown or unavailable";
    - the ledger has no fossil/biogenic split, so the whole figure is reported as
      ``fossilGhgEmissions`` (an upper bound, never an understatement);
    - ``fossilCarbonContent`` is required but the ledger does not assess it: pass
      ``fossil_carbon_content`` when known, otherwise ``"0"`` is written and ``comment`` says so;
    - a missing stage is reported as missing, not as exempted: ``exemptedEmissionsPercent``
      is ``"0"`` and ``exemptedEmissionsDescription`` names the stages, and any stage whose
      coverage of the declared units is not 100 %;
    - geography is left undefined (v3 "Global" granularity) unless ``geography_country``
      is given (the exporter passes the owning supplier's registered country);
    - ``productClassifications`` is written only when ``product_classifications`` is given
      (the exporter passes the product's UN CPC category when it is registered);
    - without ``extensions_base_url`` no extension is emitted, because a DataModelExtension's
      ``dataSchema`` MUST be a publicly accessible URL and we will not invent one; the
      evidence digest still appears in ``comment``.

    Bad options raise :class:`~ledger.errors.InputError`.
    """
    if not isinstance(company_name, str) or not company_name.strip():
        raise InputError("company_name must not be empty")
    if not fp.product_name.strip():
        raise InputError("product name must not be empty (productNameCompany)")
    if not _SPEC_VERSION_RE.match(spec_version):
        raise InputError(f"spec_version {spec_version!r} is not a PACT 3.x version")
    digest = check_digest(evidence_digest)
    carbon_content = Decimal(0) if fossil_carbon_content is None else fossil_carbon_content
    fossil_content = _non_negative(carbon_content, "fossil_carbon_content")
    footprint: dict[str, Any] = {
        "id": _uuid(footprint_id, "footprint_id"),
        "specVersion": spec_version,
    }
    if isinstance(preceding_pf_ids, str):
        raise InputError("preceding_pf_ids must be a list of UUIDs")
    preceding = [_uuid(p, "preceding_pf_ids item") for p in preceding_pf_ids]
    if len(set(preceding)) != len(preceding) or footprint["id"] in preceding:
        raise InputError("preceding_pf_ids must be unique and must not contain footprint_id")
    if preceding:
        footprint["precedingPfIds"] = preceding
    details = [f"declared unit 1 {fp.declared_unit} of {decimal_str(fp.mass_kg)} kg"]
    if fp.category:
        details.append(f"category {fp.category}")
    description = f"{fp.product_name} ({'; '.join(details)})"
    footprint.update(
        {
            "created": _rfc3339(created),
            "status": "Active",
            "companyName": company_name,
            "companyIds": _urns(company_ids, "company_ids"),
            "productDescription": description,
            "productIds": _urns(product_ids, "product_ids"),
            "productNameCompany": fp.product_name,
            **(
                {"productClassifications": _urns(product_classifications, "classifications")}
                if product_classifications
                else {}
            ),
            "comment": _comment(fp, digest, fossil_carbon_content is not None),
            "pcf": _carbon_footprint(
                fp,
                standards=cross_sectoral_standards,
                geography_country=geography_country,
                fossil_carbon_content=fossil_content,
            ),
        }
    )
    if extensions_base_url is not None:
        footprint["extensions"] = [_stage_extension(fp, digest, extensions_base_url)]
    return footprint
