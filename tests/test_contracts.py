"""The JSON Schemas in schemas/ are generated from ledger.contracts and match real data."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ledger import contracts, records, transparency
from ledger.labels.export import compute, statement_seqs
from ledger.outputs import read_rows
from ledger.query import parse_window

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def load(name: str) -> dict[str, object]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_schema_files_do_not_drift() -> None:
    generated = contracts.schemas()
    on_disk = {p.name for p in SCHEMAS.glob("*.schema.json")}
    assert on_disk == set(generated), "run: python -m ledger.contracts"
    for name, schema in generated.items():
        assert (SCHEMAS / name).read_text(encoding="utf-8") == contracts.render(schema), (
            f"schemas/{name} is stale; run: python -m ledger.contracts"
        )


@pytest.fixture
def filled(world: dict[str, object], tmp_path: Path) -> dict[str, object]:
    engine = world["engine"]
    keys = world["keys"]
    path = SCHEMAS.parent / "samples/records/sup-bev-2025.csv"
    outputs = SCHEMAS.parent / "samples/outputs/sup-bev-2025.csv"
    records.declare_outputs(engine, "sup-bev", keys["sup-bev"], read_rows(outputs))  # type: ignore[arg-type,index]
    records.import_records(engine, path, "sup-bev", keys["sup-bev"])  # type: ignore[arg-type,index]
    transparency.sign_checkpoint(engine, world["operator"])  # type: ignore[arg-type]
    return world


def test_every_entry_matches_its_schema(filled: dict[str, object]) -> None:
    from sqlalchemy import text

    from ledger.store import db

    entry_schema = load("entry.schema.json")
    payload_schemas = {k: load(f"payload-{k}.schema.json") for k in contracts.PAYLOADS}
    seen = set()
    with db.reading(filled["engine"]) as conn:  # type: ignore[arg-type]
        for (data,) in conn.execute(text("SELECT entry_bytes FROM entries ORDER BY seq")):
            entry = json.loads(bytes(data))
            jsonschema.validate(entry, entry_schema)
            jsonschema.validate(entry["payload"], payload_schemas[entry["kind"]])
            seen.add(entry["kind"])
    assert {"genesis", "supplier", "factor", "product", "submission", "record"} <= seen


def test_a_wrong_payload_is_rejected_by_the_schema() -> None:
    schema = load("payload-record.schema.json")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"record_id": "x", "amount": 1.5}, schema)


def test_proof_and_label_match_their_schemas(filled: dict[str, object]) -> None:
    from sqlalchemy import text

    from ledger.store import db

    engine = filled["engine"]
    with db.reading(engine) as conn:  # type: ignore[arg-type]
        record_id = conn.execute(text("SELECT record_id FROM records LIMIT 1")).scalar_one()
    jsonschema.validate(transparency.prove(engine, record_id), load("proof.schema.json"))  # type: ignore[arg-type]
    window = parse_window("2025-01-01", "2026-01-01")
    seqs, _ = statement_seqs(engine, ["6923451000013"], window, filled["operator"], None)  # type: ignore[arg-type]
    label = compute(engine, "6923451000013", window, seqs["6923451000013"])  # type: ignore[arg-type]
    jsonschema.validate(label.document, load("carbon-label-v2.schema.json"))


def test_entry_kinds_in_the_contract_are_the_ledger_kinds() -> None:
    from typing import get_args

    from ledger.entry import KINDS

    assert get_args(contracts.Entry.model_fields["kind"].annotation) == KINDS
    assert set(contracts.PAYLOADS) == set(KINDS)
