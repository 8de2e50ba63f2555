"""PACT v3 rendering: schema-valid, exact decimal strings, and a schema check that can fail."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ledger.errors import InputError
from ledger.footprint import Factor, ProductFootprint
from ledger.labels.pact import decimal_str, gtin_urn, pact_urn, to_pact
from ledger.vocab import DECLARED_UNITS

SCHEMA_PATH = Path(__file__).parent / "data" / "pact-v3-productfootprint.schema.json"
DIGEST = "3f" * 32
FOOTPRINT_ID = "6a1b3c5d-7e8f-4a0b-9c1d-2e3f4a5b6c7d"
PRODUCT_URN = "urn:pact:ledger.example.com:supplier-id:P-100"
COMPANY_URN = "urn:pact:ledger.example.com:company-id:S1"


@pytest.fixture
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _factor(factor_id: str, stage: str, gwp: str, source: str, year: int) -> Factor:
    return Factor(factor_id, 1, "activity", stage, "kWh", Decimal("0.2"), gwp, source, year, "GB")


@pytest.fixture
def footprint() -> ProductFootprint:
    return ProductFootprint(
        product_id="P-100",
        product_name="Oat drink 1 L",
        owner_supplier_id="S1",
        owner_supplier_name="Oat Farms Ltd",
        declared_unit="piece",
        mass_kg=Decimal("1.05"),
        category="2399",
        period_start=date(2025, 1, 1),
        period_end=date(2026, 1, 1),
        kgco2e_per_unit=Decimal("0.734567800001"),
        kgco2e_per_kg=Decimal("0.699588380953"),
        by_stage={
            "production": Decimal("0.5123"),
            "warehousing": Decimal("0.022267800001"),
            "transport": None,
            "packaging": Decimal("0.2000"),
        },
        primary_data_share=Decimal("62.55"),
        record_count=42,
        suppliers=("S1", "S2"),
        factors=(
            _factor("F1", "production", "AR6", "DEFRA", 2024),
            _factor("F2", "packaging", "AR5", "ecoinvent", 2023),
        ),
    )


def render(fp: ProductFootprint, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "footprint_id": FOOTPRINT_ID,
        "created": datetime(2025, 6, 30, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        "company_name": "Oat Farms Ltd",
        "company_ids": [COMPANY_URN],
        "product_ids": [PRODUCT_URN, "urn:gtin:4712345060507"],
        "evidence_digest": DIGEST,
        "extensions_base_url": "https://ledger.example.com/extensions",
    }
    options.update(overrides)
    return to_pact(fp, **options)


def test_valid_against_v3_schema(
    footprint: ProductFootprint, validator: Draft202012Validator
) -> None:
    doc = render(footprint)
    validator.validate(doc)
    assert json.loads(json.dumps(doc)) == doc


def test_exact_values(footprint: ProductFootprint) -> None:
    doc = render(footprint)
    pcf = doc["pcf"]
    assert doc["specVersion"] == "3.0.0"
    assert doc["status"] == "Active"
    assert doc["id"] == FOOTPRINT_ID
    assert doc["created"] == "2025-06-30T12:00:00Z"
    assert doc["companyIds"] == [COMPANY_URN]
    assert doc["productIds"] == [PRODUCT_URN, "urn:gtin:4712345060507"]
    assert doc["productNameCompany"] == "Oat drink 1 L"
    assert pcf["pcfExcludingBiogenicUptake"] == str(footprint.kgco2e_per_unit)
    assert pcf["pcfIncludingBiogenicUptake"] == "0.734567800001"
    assert pcf["fossilGhgEmissions"] == "0.734567800001"
    assert pcf["packagingEmissionsIncluded"] is True
    assert pcf["packagingGhgEmissions"] == "0.2000"
    assert pcf["primaryDataShare"] == "62.55"
    assert pcf["declaredUnitOfMeasurement"] == "piece"
    assert pcf["declaredUnitAmount"] == "1"
    assert pcf["productMassPerDeclaredUnit"] == "1.05"
    assert pcf["referencePeriodStart"] == "2025-01-01T00:00:00Z"
    assert pcf["referencePeriodEnd"] == "2026-01-01T00:00:00Z"
    assert pcf["ipccCharacterizationFactors"] == ["AR5", "AR6"]
    assert pcf["crossSectoralStandards"] == ["GHGP-Product", "ISO14067"]
    assert pcf["exemptedEmissionsPercent"] == "0"
    assert "transport" in pcf["exemptedEmissionsDescription"]
    assert pcf["secondaryEmissionFactorSources"] == [
        {"name": "DEFRA", "version": "2024"},
        {"name": "ecoinvent", "version": "2023"},
    ]
    assert "biogenicCO2Uptake" not in pcf and "geographyCountry" not in pcf
    assert DIGEST in doc["comment"]
    assert pcf["fossilCarbonContent"] == "0" and "not assessed" in doc["comment"]
    known = render(footprint, fossil_carbon_content=Decimal("0.12"))
    assert known["pcf"]["fossilCarbonContent"] == "0.12"
    assert "not assessed" not in known["comment"]


def test_stage_extension(footprint: ProductFootprint) -> None:
    (ext,) = render(footprint)["extensions"]
    assert ext["specVersion"] == "2.0.0"
    assert ext["dataSchema"] == (
        "https://ledger.example.com/extensions/carbon-ledger-stages/1.0.0/schema.json"
    )
    assert ext["data"] == {
        "label_format": "carbon-label/v2",
        "declared_unit": "piece",
        "by_stage": {
            "production": "0.5123",
            "warehousing": "0.022267800001",
            "transport": None,
            "packaging": "0.2000",
        },
        "missing_stages": ["transport"],
        "evidence_sha256": DIGEST,
        "record_count": 42,
    }


def test_no_extension_without_base_url(
    footprint: ProductFootprint, validator: Draft202012Validator
) -> None:
    doc = render(footprint, extensions_base_url=None)
    assert "extensions" not in doc
    validator.validate(doc)


@pytest.mark.parametrize(
    ("ours", "pact"),
    sorted(DECLARED_UNITS.items()),  # every unit `product add` accepts exports as PACT
)
def test_declared_unit_mapping(
    footprint: ProductFootprint, validator: Draft202012Validator, ours: str, pact: str
) -> None:
    doc = render(replace(footprint, declared_unit=ours))
    assert doc["pcf"]["declaredUnitOfMeasurement"] == pact
    validator.validate(doc)


def test_missing_packaging_is_not_included(
    footprint: ProductFootprint, validator: Draft202012Validator
) -> None:
    fp = replace(footprint, by_stage={**footprint.by_stage, "packaging": None})
    pcf = render(fp)["pcf"]
    assert pcf["packagingEmissionsIncluded"] is False
    assert "packagingGhgEmissions" not in pcf
    validator.validate(render(fp))


def test_all_primary_data_lists_no_secondary_sources(footprint: ProductFootprint) -> None:
    pcf = render(replace(footprint, primary_data_share=Decimal("100.0")))["pcf"]
    assert "secondaryEmissionFactorSources" not in pcf
    assert pcf["primaryDataShare"] == "100.0"


def test_exponent_decimals_are_written_plainly(
    footprint: ProductFootprint, validator: Draft202012Validator
) -> None:
    fp = replace(footprint, kgco2e_per_unit=Decimal("1E-7"), mass_kg=Decimal("2E+1"))
    doc = render(fp)
    assert doc["pcf"]["pcfExcludingBiogenicUptake"] == "0.0000001"
    assert doc["pcf"]["productMassPerDeclaredUnit"] == "20"
    validator.validate(doc)
    assert decimal_str(Decimal("-0.00")) == "0.00"


@settings(max_examples=60, deadline=None)
@given(
    total=st.decimals(min_value=0, max_value=10**9, places=12, allow_nan=False),
    share=st.decimals(min_value=0, max_value=100, places=4, allow_nan=False),
)
def test_any_exact_decimal_round_trips(total: Decimal, share: Decimal) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    fp = ProductFootprint(
        product_id="P-1",
        product_name="P",
        owner_supplier_id="S1",
        owner_supplier_name="S",
        declared_unit="kilogram",
        mass_kg=Decimal(1),
        category=None,
        period_start=date(2024, 1, 1),
        period_end=date(2024, 2, 1),
        kgco2e_per_unit=total,
        kgco2e_per_kg=total,
        by_stage={"production": total, "warehousing": None, "transport": None, "packaging": None},
        primary_data_share=share,
        record_count=1,
        suppliers=("S1",),
        factors=(_factor("F", "production", "AR6", "X", 2024),),
    )
    doc = render(fp)
    Draft202012Validator(schema).validate(doc)
    assert Decimal(doc["pcf"]["pcfExcludingBiogenicUptake"]) == total
    assert Decimal(doc["pcf"]["primaryDataShare"]) == share


def test_spec_example_1_is_accepted(validator: Draft202012Validator) -> None:
    """spec/v3/examples/example-1.json; texts shortened, stray pcf.otherOperatorName dropped."""
    example = {
        "id": "12345678-9abc-def0-1234-567812345678",
        "specVersion": "3.0.0",
        "created": "2025-04-30T00:00:00Z",
        "status": "Active",
        "validityPeriodStart": "2024-12-31T00:00:00Z",
        "validityPeriodEnd": "2027-12-31T00:00:00Z",
        "companyName": "Company 1",
        "companyIds": ["urn:company:example:company1"],
        "productDescription": "Bioethanol 98%, sugar beet feedstock, bulk - no packaging",
        "productIds": ["urn:gtin:5695872369587"],
        "productClassifications": ["urn:pact:productclassification:cas:1456"],
        "productNameCompany": "Product 1",
        "comment": "Use of Cool Farm Tool for emissions of sugar beet cultivation",
        "pcf": {
            "declaredUnitOfMeasurement": "kilogram",
            "declaredUnitAmount": "1",
            "productMassPerDeclaredUnit": "1",
            "referencePeriodStart": "2024-01-01T00:00:00Z",
            "referencePeriodEnd": "2024-12-31T00:00:00Z",
            "geographyRegionOrSubregion": "Northern America",
            "geographyCountry": "US",
            "geographyCountrySubdivision": "US-TX",
            "boundaryProcessesDescription": "1) Material acquisition and preprocessing",
            "pcfExcludingBiogenicUptake": "0.384",
            "pcfIncludingBiogenicUptake": "-1.23",
            "fossilCarbonContent": "0",
            "biogenicCarbonContent": "0.44",
            "recycledCarbonContent": "0",
            "fossilGhgEmissions": "0.35",
            "landUseChangeGhgEmissions": "0",
            "landCarbonLeakage": "0",
            "landManagementFossilGhgEmissions": "0.03",
            "landManagementBiogenicCO2Emissions": "0.004",
            "landManagementBiogenicCO2Removals": "0",
            "biogenicCO2Uptake": "-1.61",
            "biogenicNonCO2Emissions": "0.002",
            "landAreaOccupation": "0.41",
            "aircraftGhgEmissions": "0",
            "packagingEmissionsIncluded": True,
            "ipccCharacterizationFactors": ["AR6"],
            "crossSectoralStandards": ["GHGP-Product", "PACT-3.0"],
            "productOrSectorSpecificRules": [{"operator": "Other", "ruleNames": ["TfS v3"]}],
            "exemptedEmissionsPercent": "0",
            "allocationRulesDescription": "Mass allocation",
            "secondaryEmissionFactorSources": [{"name": "Ecoinvent", "version": "3.1"}],
            "primaryDataShare": "12.9",
            "dqi": {"technologicalDQR": "1.5", "geographicalDQR": "3.2", "temporalDQR": "2.4"},
        },
    }
    validator.validate(example)


TOP_REQUIRED = [
    "id",
    "specVersion",
    "created",
    "status",
    "companyName",
    "companyIds",
    "productDescription",
    "productIds",
    "productNameCompany",
    "pcf",
]
PCF_REQUIRED = [
    "declaredUnitOfMeasurement",
    "declaredUnitAmount",
    "productMassPerDeclaredUnit",
    "referencePeriodStart",
    "referencePeriodEnd",
    "pcfExcludingBiogenicUptake",
    "pcfIncludingBiogenicUptake",
    "fossilGhgEmissions",
    "fossilCarbonContent",
    "ipccCharacterizationFactors",
    "crossSectoralStandards",
    "exemptedEmissionsPercent",
]


@pytest.mark.parametrize("field", TOP_REQUIRED + [f"pcf.{f}" for f in PCF_REQUIRED])
def test_schema_rejects_missing_required(
    footprint: ProductFootprint, validator: Draft202012Validator, field: str
) -> None:
    doc = render(footprint)
    target = doc["pcf"] if field.startswith("pcf.") else doc
    del target[field.removeprefix("pcf.")]
    assert not validator.is_valid(doc)


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ("pcf.pcfExcludingBiogenicUptake", 0.7345678),
        ("pcf.primaryDataShare", 62.55),
        ("pcf.fossilGhgEmissions", "-1"),
        ("pcf.pcfExcludingBiogenicUptake", "7.3E-1"),
        ("pcf.declaredUnitAmount", "0"),
        ("pcf.declaredUnitOfMeasurement", "pieces"),
        ("pcf.referencePeriodStart", "2025-01-01"),
        ("pcf.crossSectoralStandards", ["ISO 14067"]),
        ("pcf.ipccCharacterizationFactors", []),
        ("pcf.pcfExcludingBiogenicUptakeX", "1"),
        ("productIds", ["P-100"]),
        ("companyIds", []),
        ("id", "not-a-uuid"),
        ("status", "active"),
    ],
)
def test_schema_rejects_wrong_values(
    footprint: ProductFootprint, validator: Draft202012Validator, path: str, bad: object
) -> None:
    doc = render(footprint)
    target = doc["pcf"] if path.startswith("pcf.") else doc
    target[path.removeprefix("pcf.")] = bad
    assert not validator.is_valid(doc)


def test_schema_rejects_packaging_value_when_not_included(
    footprint: ProductFootprint, validator: Draft202012Validator
) -> None:
    doc = render(footprint)
    doc["pcf"]["packagingEmissionsIncluded"] = False
    assert not validator.is_valid(doc)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"created": datetime(2025, 6, 30, 12, 0)}, "timezone"),
        ({"footprint_id": "P-100"}, "UUID"),
        ({"company_ids": []}, "company_ids"),
        ({"company_ids": "urn:x:y"}, "company_ids"),
        ({"product_ids": ["P-100"]}, "not a URN"),
        ({"product_ids": [PRODUCT_URN, PRODUCT_URN]}, "twice"),
        ({"evidence_digest": "ABC"}, "evidence_digest"),
        ({"company_name": " "}, "company_name"),
        ({"cross_sectoral_standards": ["ISO 14067"]}, "cross-sectoral"),
        ({"extensions_base_url": "ftp://x"}, "http"),
        ({"spec_version": "2.3.0"}, "3.x"),
        ({"geography_country": "Germany"}, "3166"),
        ({"preceding_pf_ids": [FOOTPRINT_ID]}, "preceding"),
        ({"fossil_carbon_content": Decimal(-1)}, "negative"),
    ],
)
def test_bad_options_raise_input_error(
    footprint: ProductFootprint, override: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        render(footprint, **override)


def test_footprint_pact_cannot_carry_raises(footprint: ProductFootprint) -> None:
    with pytest.raises(InputError, match="declaredUnitOfMeasurement"):
        render(replace(footprint, declared_unit="pallet"))
    with pytest.raises(InputError, match="ipccCharacterizationFactors"):
        render(replace(footprint, factors=()))
    with pytest.raises(InputError, match="negative"):
        render(replace(footprint, kgco2e_per_unit=Decimal("-0.1")))


def test_urn_helpers() -> None:
    assert pact_urn("Ledger.Example.com", "supplier-id", "P-100") == PRODUCT_URN
    assert gtin_urn("4712345060507") == "urn:gtin:4712345060507"
    with pytest.raises(InputError, match="check digit"):
        gtin_urn("4712345060508")
    with pytest.raises(InputError, match="domain"):
        pact_urn("localhost", "supplier-id", "P-100")
    with pytest.raises(InputError, match="without ':'"):
        pact_urn("ledger.example.com", "supplier-id", "a:b")
