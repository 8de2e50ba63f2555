"""Operator entries: genesis, suppliers and their keys, emission factors.

Each operator entry carries its own Ed25519 signature over the domain-separated canonical
payload, so an auditor holding only the operator's public key can check who vouched for a
supplier key or a factor value.
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger import SPEC_VERSION, keys
from ledger.canonical import canonical_bytes
from ledger.decimals import fmt, parse_decimal
from ledger.errors import (
    ConflictError,
    InputError,
    KeyMaterialError,
    LedgerError,
    NotFoundError,
    VerificationError,
)
from ledger.footprint import Factor
from ledger.state import FACTOR_FIELDS
from ledger.store import Connection, Engine, db, queries
from ledger.store.appender import Appender, appending
from ledger.units import dimension
from ledger.vocab import GWP_SETS, STAGES, check_token

FACTOR_COLUMNS = FACTOR_FIELDS  # the CSV columns are the payload fields
_COUNTRY_RE = re.compile(r"[A-Z]{2}\Z")


@dataclass(frozen=True)
class LedgerInfo:
    ledger_id: str
    origin: str
    operator_public_key: Ed25519PublicKey
    operator_key_id: str
    created_at: str


def signed_operator_payload(fields: dict[str, Any], operator: Ed25519PrivateKey) -> dict[str, Any]:
    payload = dict(fields)
    payload["signature"] = keys.sign(operator, keys.OPERATOR_DOMAIN, canonical_bytes(fields))
    return payload


def _append_signed(app: Appender, kind: str, fields: dict[str, Any], key: Ed25519PrivateKey) -> int:
    payload = signed_operator_payload(fields, key)
    return app.append(kind, canonical_bytes(payload), payload).seq


def init_ledger(
    engine: Engine, operator: Ed25519PrivateKey, origin: str | None = None
) -> LedgerInfo:
    """Create the schema and the genesis entry; refuse a database that already has a ledger."""
    db.create_schema(engine)
    ledger_id = str(uuid.uuid4())
    origin = origin or f"carbon-ledger/{ledger_id}"
    if not origin or any(ch.isspace() for ch in origin) or "+" in origin:
        raise InputError(f"origin {origin!r} must be non-empty with no spaces or '+'")
    with appending(engine) as app:
        if app.next_seq != 0:
            raise ConflictError("this database already holds a ledger; init refuses to reset it")
        created = app.recorded_at
        fields = {
            "ledger_id": ledger_id,
            "origin": origin,
            "operator_public_key": keys.public_to_b64(operator.public_key()),
            "operator_key_id": keys.key_id(operator.public_key()),
            "created_at": created,
            "spec_version": SPEC_VERSION,
        }
        _append_signed(app, "genesis", fields, operator)
    return ledger_info_from(fields)


def ledger_info_from(payload: dict[str, Any]) -> LedgerInfo:
    """The ledger's identity from its genesis payload; text fields must be text."""
    for name in ("ledger_id", "origin", "operator_key_id", "created_at"):
        if not isinstance(payload[name], str):
            raise TypeError(f"genesis {name} is not text")
    return LedgerInfo(
        ledger_id=payload["ledger_id"],
        origin=payload["origin"],
        operator_public_key=keys.public_from_b64(payload["operator_public_key"]),
        operator_key_id=payload["operator_key_id"],
        created_at=payload["created_at"],
    )


def ledger_info(conn: Connection) -> LedgerInfo:
    genesis = queries.genesis_bytes(conn)
    if genesis is None:
        raise NotFoundError("the ledger has no genesis entry; run `carbon-ledger init`")
    try:
        return ledger_info_from(json.loads(genesis)["payload"])
    except (ValueError, KeyError, TypeError, LedgerError) as exc:
        raise VerificationError(
            "the genesis entry is not a valid genesis entry: the ledger cannot be read", 0
        ) from exc


def require_operator(conn: Connection, operator: Ed25519PrivateKey) -> LedgerInfo:
    info = ledger_info(conn)
    if keys.key_id(operator.public_key()) != info.operator_key_id:
        raise KeyMaterialError(
            f"this key ({keys.key_id(operator.public_key())}) is not the ledger operator's key "
            f"({info.operator_key_id})"
        )
    return info


def add_supplier(
    engine: Engine,
    supplier_id: str,
    name: str,
    country: str,
    public_key: Ed25519PublicKey,
    operator: Ed25519PrivateKey,
) -> int:
    check_token(supplier_id, "supplier_id")
    if not name.strip():
        raise InputError("supplier name must not be empty")
    if not _COUNTRY_RE.match(country):
        raise InputError(f"country {country!r} must be an ISO 3166-1 alpha-2 code like CN")
    kid = keys.key_id(public_key)
    with appending(engine) as app:
        require_operator(app.conn, operator)
        if queries.supplier_exists(app.conn, supplier_id):
            raise ConflictError(f"supplier {supplier_id!r} is already registered")
        if queries.key_owner(app.conn, kid) is not None:
            raise ConflictError(f"key {kid} is already registered")
        fields = {
            "supplier_id": supplier_id,
            "name": name.strip(),
            "country": country,
            "public_key": keys.public_to_b64(public_key),
            "key_id": kid,
            "created_at": app.recorded_at,
        }
        return _append_signed(app, "supplier", fields, operator)


def log_statements(
    engine: Engine, operator: Ed25519PrivateKey, statements: list[dict[str, Any]]
) -> list[int]:
    """Append operator-signed ``footprint`` entries (SPEC §7), in one transaction."""
    with appending(engine) as app:
        require_operator(app.conn, operator)
        return [
            _append_signed(app, "footprint", {**fields, "issued_at": app.recorded_at}, operator)
            for fields in statements
        ]


def rotate_key(
    engine: Engine,
    supplier_id: str,
    public_key: Ed25519PublicKey,
    operator: Ed25519PrivateKey,
    reason: str = "rotation",
) -> int:
    """Register a new key for a supplier and retire its current ones from new submissions."""
    kid = keys.key_id(public_key)
    with appending(engine) as app:
        require_operator(app.conn, operator)
        if not queries.supplier_exists(app.conn, supplier_id):
            raise NotFoundError(f"supplier {supplier_id!r} is not registered")
        if queries.key_owner(app.conn, kid) is not None:
            raise ConflictError(f"key {kid} is already registered")
        fields = {
            "supplier_id": supplier_id,
            "key_id": kid,
            "public_key": keys.public_to_b64(public_key),
            "retires": queries.active_key_ids(app.conn, supplier_id),
            "effective_at": app.recorded_at,
            "reason": reason,
        }
        return _append_signed(app, "key_rotate", fields, operator)


def revoke_key(
    engine: Engine, supplier_id: str, key_id: str, operator: Ed25519PrivateKey, reason: str
) -> int:
    with appending(engine) as app:
        require_operator(app.conn, operator)
        row = queries.key_owner(app.conn, key_id)
        if row is None or row[0] != supplier_id:
            raise NotFoundError(f"key {key_id} is not registered for supplier {supplier_id!r}")
        if row[1] is not None:
            raise ConflictError(f"key {key_id} was already retired at seq {row[1]}")
        fields = {
            "supplier_id": supplier_id,
            "key_id": key_id,
            "effective_at": app.recorded_at,
            "reason": reason,
        }
        return _append_signed(app, "key_revoke", fields, operator)


def parse_factor_row(row: dict[str, str | None]) -> dict[str, Any]:
    """Validate one factor CSV row into a payload (without signature)."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    for name in FACTOR_COLUMNS:
        value = (row.get(name) or "").strip()
        if not value:
            problems.append(f"{name}: is required")
            continue
        try:
            if name in ("factor_id", "activity"):
                out[name] = check_token(value, name)
            elif name == "version" or name == "year":
                if not (value.isascii() and value.isdigit()) or len(value) > 9 or int(value) < 1:
                    raise InputError(f"{value!r} is not a positive whole number")
                out[name] = int(value)
            elif name == "stage":
                if value not in STAGES:
                    raise InputError(f"{value!r} is not one of {', '.join(STAGES)}")
                out[name] = value
            elif name == "unit":
                dimension(value)
                out[name] = value
            elif name == "kgco2e_per_unit":
                out[name] = fmt(parse_decimal(value))
            elif name == "gwp":
                if value not in GWP_SETS:
                    raise InputError(f"{value!r} is not one of {', '.join(GWP_SETS)}")
                out[name] = value
            else:
                out[name] = value
        except InputError as exc:
            problems.append(f"{name}: {exc}")
    extra = sorted(set(row) - set(FACTOR_COLUMNS) - {None})  # type: ignore[arg-type]
    problems.extend(f"{name}: unknown column" for name in extra)
    if problems:
        raise InputError("; ".join(problems), problems)
    return out


def import_factors(engine: Engine, path: Path, operator: Ed25519PrivateKey) -> list[int]:
    """Validate every factor row, then append them all in one transaction."""
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: set[tuple[str, int]] = set()
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                try:
                    parsed = parse_factor_row(row)
                except InputError as exc:
                    problems.extend(f"line {reader.line_num}: {p}" for p in exc.problems)
                    continue
                key = (parsed["factor_id"], parsed["version"])
                if key in seen:
                    problems.append(f"line {reader.line_num}: version: {key[0]} v{key[1]} twice")
                seen.add(key)
                rows.append(parsed)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read factor file {path}: {exc}") from exc
    if problems:
        raise InputError(f"{len(problems)} problem(s) in {path}; nothing was written", problems)
    with appending(engine) as app:
        require_operator(app.conn, operator)
        for parsed in rows:
            if queries.factor_exists(app.conn, parsed["factor_id"], parsed["version"]):
                raise ConflictError(
                    f"factor {parsed['factor_id']} version {parsed['version']} already exists; "
                    "factors are immutable: add a new version"
                )
        return [_append_signed(app, "factor", parsed, operator) for parsed in rows]


def factor_from_row(row: Any) -> Factor:
    return Factor(
        factor_id=row.factor_id,
        version=int(row.version),
        activity=row.activity,
        stage=row.stage,
        unit=row.unit,
        kgco2e_per_unit=Decimal(row.kgco2e_per_unit),
        gwp=row.gwp,
        source=row.source,
        year=int(row.year),
        region=row.region,
    )


def load_factors(conn: Connection) -> dict[tuple[str, int], Factor]:
    return {(r.factor_id, int(r.version)): factor_from_row(r) for r in queries.factor_rows(conn)}
