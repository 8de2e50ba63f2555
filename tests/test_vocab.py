"""ledger.vocab is the one home of the shared vocabulary; the rest of the code agrees with it."""

from __future__ import annotations

import json
import typing
from datetime import date, datetime, timezone
from typing import Any

import pytest
from click.testing import CliRunner

from ledger import contracts, query, records, vocab
from ledger.errors import InputError
from ledger.labels import pact
from ledger.labels.export import LabelOptions, export_all
from ledger_cli.main import cli


def _literal(model: type[Any], field: str) -> set[str]:
    annotation = model.model_fields[field].annotation
    args = typing.get_args(annotation)
    if type(None) in args:  # Optional[Literal[...]]
        (annotation,) = (a for a in args if a is not type(None))
        args = typing.get_args(annotation)
    return set(args)


def test_the_json_schema_contracts_spell_the_same_sets() -> None:
    assert _literal(contracts.RecordPayload, "stage") == set(vocab.STAGES)
    assert _literal(contracts.FactorPayload, "stage") == set(vocab.STAGES)
    assert _literal(contracts.RecordPayload, "unit") == set(vocab.UNITS)
    assert _literal(contracts.RecordPayload, "data_quality") == set(vocab.DATA_QUALITY)
    assert _literal(contracts.FactorPayload, "gwp") == set(vocab.GWP_SETS)
    assert _literal(contracts.ProductPayload, "declared_unit") == set(vocab.DECLARED_UNITS)
    assert _literal(contracts.Entry, "kind") == set(vocab.KINDS)


def test_every_declared_unit_has_a_pact_name() -> None:
    assert set(vocab.DECLARED_UNITS.values()) <= set(vocab.PACT_DECLARED_UNITS)
    assert vocab.DECLARED_UNITS["cubic_meter"] == "cubic meter"  # the unit that used to fail
    assert pact.DECLARED_UNITS is vocab.DECLARED_UNITS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025W011", "'2025W011' is not a date YYYY-MM-DD"),
        ("20250101", "'20250101' is not a date YYYY-MM-DD"),
        ("2025-1-01", "'2025-1-01' is not a date YYYY-MM-DD"),
        ("2025-02-29", "'2025-02-29' is not a valid calendar date"),
    ],
)
def test_one_strict_date_parser_for_records_and_query_windows(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        vocab.parse_date(text)
    assert str(info.value) == message
    with pytest.raises(InputError) as info:
        query.parse_window(text, "2030-01-01")
    assert str(info.value) == message


def test_query_window_accepts_dates() -> None:
    assert query.parse_window("2024-02-29", date(2025, 1, 1)) == (
        date(2024, 2, 29),
        date(2025, 1, 1),
    )


def test_query_command_refuses_an_iso_week_date(world: dict[str, Any]) -> None:
    url = world["url"]
    result = CliRunner().invoke(
        cli, ["--db", url, "query", "intensity", "--from", "2025W011", "--to", "2026-01-01"]
    )
    assert result.exit_code == 1
    assert result.stderr == "Error: '2025W011' is not a date YYYY-MM-DD\n"


def test_product_add_accepts_only_declared_units(world: dict[str, Any]) -> None:
    engine, key = world["engine"], world["keys"]["sup-bev"]
    with pytest.raises(InputError) as info:
        records.add_product(
            engine, "sup-bev", key, "urn:pact:example.com:product-id:p1", "P", "m3", "1"
        )
    assert str(info.value) == (
        "declared_unit: 'm3' is not one of "
        "piece, kilogram, liter, cubic_meter, kilowatt_hour, megajoule"
    )
    records.add_product(
        engine, "sup-bev", key, "urn:pact:example.com:product-id:p2", "Bulk water", "cubic_meter",
        "1000"
    )  # a URN the PACT exporter can export (ledger.products)


def test_timestamps_round_trip() -> None:
    now = vocab.utc_now()
    assert len(now) == len("2025-01-01T00:00:00.000000Z") and now.endswith("Z")
    parsed = vocab.parse_timestamp(now)
    assert parsed.tzinfo is timezone.utc
    assert parsed.strftime(vocab.TIMESTAMP_FORMAT) == now
    assert vocab.parse_timestamp("2025-03-01T12:00:00.000001Z") == datetime(
        2025, 3, 1, 12, 0, 0, 1, tzinfo=timezone.utc
    )
    with pytest.raises(InputError, match="is not a timestamp"):
        vocab.parse_timestamp("2025-03-01T12:00:00Z")


def test_tokens() -> None:
    assert vocab.check_token("sup-bev", "supplier_id") == "sup-bev"
    with pytest.raises(InputError, match="supplier_id 'a b' must be 1-128 characters"):
        vocab.check_token("a b", "supplier_id")


def test_label_export_all_maps_every_declared_unit(world: dict[str, Any], tmp_path: Any) -> None:
    """A product in each declared unit, with one record and one output: `label export --all
    --format pact` writes every label (a cubic_meter product used to stop it half-way)."""
    engine, key, operator = world["engine"], world["keys"]["sup-bev"], world["operator"]
    for n, unit in enumerate(vocab.DECLARED_UNITS):
        product_id = f"urn:example:unit-{n}"
        records.add_product(engine, "sup-bev", key, product_id, f"Bulk {unit}", unit, "2")
        records.append_record(
            engine,
            "sup-bev",
            key,
            {
                "product_id": product_id,
                "stage": "production",
                "activity": "electricity",
                "amount": "100",
                "unit": "kWh",
                "factor_id": "cn-grid-electricity",
                "units_covered": "10",
                "period_start": "2025-01-01",
                "period_end": "2025-02-01",
                "data_quality": "secondary",
            },
        )
        output = {"product_id": product_id, "units": "10"}
        output |= {"period_start": "2025-01-01", "period_end": "2025-02-01"}
        records.declare_outputs(engine, "sup-bev", key, iter([(1, output)]))
    written, skipped = export_all(
        engine, "2025-01-01", "2025-02-01", "pact", tmp_path, LabelOptions(), operator
    )
    assert [s for s in skipped if s.startswith("urn:example")] == []  # sample products: no data
    assert len(written) == len(vocab.DECLARED_UNITS) == 6
    units = {
        json.loads(path.read_text(encoding="utf-8"))["pcf"]["declaredUnitOfMeasurement"]
        for path in written
    }
    assert units == set(vocab.DECLARED_UNITS.values())
