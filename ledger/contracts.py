"""Data contracts: the JSON shapes outside tools depend on, as pydantic models.

``schemas/*.json`` are generated from these models (``python -m ledger.contracts``) and a test
fails when they drift; another test validates real entries, proofs and labels against the
generated files, so the contract and the code cannot silently diverge. The hot paths do not
use these models (they build canonical dicts directly); they are the documentation that
machines can check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Decimal = Annotated[
    str,
    Field(
        pattern=r"^(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$",
        description="exact non-negative decimal string, no exponent",
    ),
]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
KeyId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
Timestamp = Annotated[
    str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$")
]
Day = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
Token = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,127}$")]
Signature = Annotated[
    str, Field(description="base64 Ed25519 signature over domain + JCS(payload without signature)")
]
Stage = Literal["production", "warehousing", "transport", "packaging"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenesisPayload(_Strict):
    ledger_id: str
    origin: str
    operator_public_key: str = Field(description="base64 of the raw 32-byte Ed25519 key")
    operator_key_id: KeyId
    created_at: Timestamp
    spec_version: int
    signature: Signature


class SupplierPayload(_Strict):
    supplier_id: Token
    name: str
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    public_key: str
    key_id: KeyId
    created_at: Timestamp
    signature: Signature


class KeyRotatePayload(_Strict):
    supplier_id: Token
    key_id: KeyId
    public_key: str
    retires: list[KeyId]
    effective_at: Timestamp
    reason: str
    signature: Signature


class KeyRevokePayload(_Strict):
    supplier_id: Token
    key_id: KeyId
    effective_at: Timestamp
    reason: str
    signature: Signature


class FactorPayload(_Strict):
    factor_id: Token
    version: int = Field(ge=1)
    activity: Token
    stage: Stage
    unit: str
    kgco2e_per_unit: Decimal
    gwp: Literal["AR4", "AR5", "AR6"]
    source: str
    year: int
    region: str
    signature: Signature


class ProductPayload(_Strict):
    product_id: Token
    supplier_id: Token
    name: str
    declared_unit: Literal[
        "piece", "kilogram", "liter", "cubic_meter", "kilowatt_hour", "megajoule"
    ]
    mass_kg: Decimal
    category: Token | None = None


class SubmissionPayload(_Strict):
    supplier_id: Token
    key_id: KeyId
    count: int = Field(ge=1)
    records_root: Hex64 = Field(description="RFC 6962 root over the covered payloads' JCS bytes")
    source_sha256: Hex64 | None = None
    submitted_at: Timestamp
    signature: Signature


class RecordPayload(_Strict):
    record_id: Token
    supplier_id: Token
    product_id: Token
    stage: Stage
    activity: Token
    amount: Decimal
    unit: Literal[
        "kWh", "MWh", "GJ", "MJ", "g", "kg", "t", "L", "m3", "tkm", "pallet_day", "m3_day", "piece"
    ]
    factor_id: Token | None = None
    factor_version: int | None = None
    co2e_kg: Decimal
    units_covered: Decimal
    period_start: Day
    period_end: Day
    data_quality: Literal["primary", "secondary"]
    reuse_cycles: Decimal | None = None
    distance_km: Decimal | None = None
    mass_kg: Decimal | None = None
    evidence_sha256: Hex64 | None = None
    supersedes: Token | None = None
    allocation_group: Token | None = None
    note: str | None = None


class RetractionPayload(_Strict):
    """Retracts one record (``record_id``) or one declared output (``output_id``)."""

    record_id: Token | None = None
    output_id: Token | None = None
    supplier_id: Token
    reason: str


class OutputPayload(_Strict):
    """A declared output: the reference flow of a product over a period (SPEC §5)."""

    output_id: Token
    product_id: Token
    supplier_id: Token
    units: Decimal
    period_start: Day
    period_end: Day
    evidence_sha256: Hex64 | None = None
    supersedes: Token | None = None
    note: str | None = None


class Entry(_Strict):
    """entry_bytes = JCS of this object; entry_hash = SHA-256(entry_bytes)."""

    v: Literal[1]
    seq: int = Field(ge=0)
    kind: Literal[
        "genesis",
        "supplier",
        "key_rotate",
        "key_revoke",
        "product",
        "factor",
        "submission",
        "record",
        "retraction",
        "output",
        "footprint",
    ]
    recorded_at: Timestamp
    prev: Hex64
    payload: dict[str, Any]


class ProofDocument(_Strict):
    record_id: str
    seq: int
    tree_size: int
    entry_bytes: str = Field(description="the canonical entry JSON text")
    leaf_hash: Hex64
    inclusion_proof: list[Hex64]
    checkpoint: str = Field(description="C2SP tlog-checkpoint signed note")


class LabelFootprint(_Strict):
    kgco2e_per_unit: Decimal
    kgco2e_per_kg: Decimal
    by_stage: dict[Stage, Decimal | None]
    missing_stages: list[Stage]
    coverage: dict[Stage, Decimal | None]
    reference_units: Decimal
    reference_flow: Literal["declared"]
    display_kgco2e_per_unit: str


class LabelEvidence(_Strict):
    origin: str
    checkpoint: str
    tree_size: int
    entries: dict[str, str] = Field(description="seq -> canonical entry JSON text")
    nodes: dict[str, Hex64] = Field(description='"level:index" -> complete subtree hash')
    submission_nodes: dict[str, Hex64] = Field(
        description='"submission_seq:level:index" -> records_root subtree hash'
    )


class LabelStatement(_Strict):
    """Where the label's figures are logged: the footprint entry and what it commits to."""

    seq: int = Field(ge=0)
    as_of_size: int = Field(ge=1)
    records_digest: Hex64


class LabelDocument(_Strict):
    format: Literal["carbon-label/v2"]
    product: dict[str, Any]
    window: dict[Literal["from", "to"], Day]
    footprint: LabelFootprint
    primary_data_share: Decimal
    record_count: int
    suppliers: list[str]
    factors: list[dict[str, Any]]
    method: dict[str, Any]
    statement: LabelStatement
    as_of_tree_size: int
    evidence_sha256: Hex64
    evidence: LabelEvidence


class FootprintPayload(_Strict):
    """An operator-signed footprint statement (SPEC §7): what a label may show, logged."""

    product_id: Token
    window: dict[Literal["from", "to"], Day]
    as_of_size: int = Field(ge=1)
    figures: dict[str, Any]
    method: str
    records_digest: Hex64 = Field(
        description="SHA-256 of the JCS list of the sorted seqs of the contributing entries"
    )
    issued_at: Timestamp
    signature: str


PAYLOADS: dict[str, type[BaseModel]] = {
    "genesis": GenesisPayload,
    "supplier": SupplierPayload,
    "key_rotate": KeyRotatePayload,
    "key_revoke": KeyRevokePayload,
    "factor": FactorPayload,
    "product": ProductPayload,
    "submission": SubmissionPayload,
    "record": RecordPayload,
    "retraction": RetractionPayload,
    "output": OutputPayload,
    "footprint": FootprintPayload,
}
DOCUMENTS: dict[str, type[BaseModel]] = {
    "entry": Entry,
    "proof": ProofDocument,
    "carbon-label-v2": LabelDocument,
}


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for every contract."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in {**{f"payload-{k}": v for k, v in PAYLOADS.items()}, **DOCUMENTS}.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"carbon-ledger/{name}.schema.json"
        out[f"{name}.schema.json"] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # python -m ledger.contracts [DIR]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent.parent / "schemas"
    for path in write_schemas(target):
        print(path)
