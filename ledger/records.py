"""Supplier operations: register products, append or import records, retract records.

Imports stream: rows are read one at a time from CSV or JSONL, validated against the
ledger's products and factors, canonicalized once, and spooled. If any row is bad, every bad
row is reported (``line N: field: what is wrong``) and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, bindparam, text

from ledger.accounting import RowProblems, build_record
from ledger.canonical import canonical_bytes
from ledger.decimals import fmt, parse_decimal
from ledger.errors import ConflictError, InputError, LedgerError, NotFoundError
from ledger.ingest import HEADER_COLUMNS, validate_file
from ledger.outputs import build_output
from ledger.products import check_mass, check_product_id
from ledger.progress import Phases
from ledger.progress import start as start_phase
from ledger.registry import load_factors
from ledger.spool import Spool
from ledger.state import record_values
from ledger.store import db, queries
from ledger.store.outputs import load_output_book
from ledger.submit import SubmissionResult, check_signer, write_submission
from ledger.suggest import did_you_mean
from ledger.vocab import DECLARED_UNITS, STAGES, UNITS, check_token

MAX_REPORTED = 1000


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise InputError(f"{path}: unknown file type {suffix!r}; use .csv or .jsonl")


@dataclass
class _Validator:
    """Row validation against the ledger's registered products and factors."""

    supplier_id: str
    products: set[str]
    factors: dict[tuple[str, int], Any]
    latest: dict[str, int]

    @classmethod
    def load(cls, conn: Connection, supplier_id: str) -> _Validator:
        products = {r[0] for r in conn.execute(text("SELECT product_id FROM products"))}
        factors = load_factors(conn)
        latest: dict[str, int] = {}
        for fid, version in factors:
            latest[fid] = max(version, latest.get(fid, 0))
        return cls(supplier_id, products, factors, latest)

    def factor(self, factor_id: str, version: int | None) -> Any:
        if version is None:
            version = self.latest.get(factor_id)
            if version is None:
                return None
        return self.factors.get((factor_id, version))

    def build(self, row: dict[str, Any]) -> dict[str, Any]:
        if "__extra__" in row:
            raise RowProblems([("row", row["__extra__"])])
        try:
            payload, _factor = build_record(
                row, self.supplier_id, self.products.__contains__, self.factor
            )
        except RowProblems as exc:
            raise RowProblems([(f, m + self._hint(f, m, row)) for f, m in exc.problems]) from None
        return payload

    def _hint(self, field: str, message: str, row: dict[str, Any]) -> str:
        """Did-you-mean for a near-miss unit, stage, factor id or column (error path only)."""
        if message == "unknown column":
            return did_you_mean(field, HEADER_COLUMNS)
        value = row.get(field)
        if not isinstance(value, str) or "did you mean" in message:
            return ""
        if field == "unit" and message.startswith("unknown unit"):
            return did_you_mean(value.strip(), UNITS)
        if field == "stage" and "is not one of" in message:
            return did_you_mean(value.strip(), STAGES)
        if field == "factor_id" and message.endswith("does not exist"):
            return did_you_mean(value.strip(), self.latest)
        return ""


def _status_check(
    conn: Connection, supplier_id: str, targets: list[tuple[int, str, str]]
) -> list[str]:
    """Problems with supersedes/retraction targets: (line, field, record_id)."""
    if not targets:
        return []
    ids = sorted({t[2] for t in targets})
    stmt = text(
        "SELECT record_id, supplier_id, status FROM records WHERE record_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), 500):
        for rid, sup, status in conn.execute(stmt, {"ids": ids[start : start + 500]}):
            found[rid] = (sup, status)
    problems = []
    for line, field, rid in targets:
        if rid not in found:
            problems.append(f"line {line}: {field}: record {rid!r} does not exist")
        elif found[rid][0] != supplier_id:
            problems.append(f"line {line}: {field}: record {rid!r} belongs to {found[rid][0]!r}")
        elif found[rid][1] != "effective":
            problems.append(f"line {line}: {field}: record {rid!r} is already {found[rid][1]}")
    return problems


class DuplicateFileError(ConflictError):
    """A file whose SHA-256 was already imported (and --allow-duplicate was not given)."""


def _precheck(
    supplier_id: str, targets: list[tuple[int, str, str]], source_sha256: str | None
) -> Callable[[Connection], None]:
    def check(conn: Connection) -> None:
        if source_sha256 is not None:
            dup = conn.execute(
                text("SELECT seq FROM submissions WHERE source_sha256 = :h LIMIT 1"),
                {"h": source_sha256},
            ).first()
            if dup is not None:
                raise DuplicateFileError(
                    f"this file (sha256 {source_sha256[:16]}…) was already imported in the "
                    f"submission at seq {dup[0]}; use --allow-duplicate to import it again"
                )
        problems = _status_check(conn, supplier_id, targets)
        if problems:
            raise InputError(f"{len(problems)} bad row(s); nothing was written", problems)

    return check


@dataclass(frozen=True)
class ImportReport:
    rows: int
    source_sha256: str
    result: SubmissionResult | None  # None for a dry run


def import_records(
    engine: Engine,
    path: Path,
    supplier_id: str,
    private_key: Ed25519PrivateKey,
    *,
    dry_run: bool = False,
    allow_duplicate: bool = False,
    progress: Callable[[int], None] | None = None,
    jobs: int | None = None,
    delimiter: str | None = None,
    phases: Phases | None = None,
) -> ImportReport:
    """Validate every row of a CSV/JSONL file, then write it as one signed submission.

    Validation runs in ``jobs`` worker processes (default: the cores, up to 4) for large
    files; see :mod:`ledger.ingest`. ``delimiter`` (``,`` ``;`` or tab) overrides sniffing it
    from the header line. ``phases`` reports "validating" (bytes) and "writing" (records).
    """
    kind = file_format(path)
    with db.reading(engine) as conn:
        check_signer(conn, supplier_id, private_key)
        validator = _Validator.load(conn, supplier_id)
    try:
        raw = path.open("rb")
        size = path.stat().st_size
        if progress is None:
            progress = start_phase(phases, "validating", size, "B")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    with raw:
        checked = validate_file(raw, size, kind == "csv", validator, jobs, progress, delimiter)
    with checked.spool as spool:
        problems, targets = checked.problems, checked.targets
        source_sha256 = checked.source_sha256
        if problems:
            raise InputError(
                f"{len(problems)} problem(s) in {path.name}; nothing was written",
                problems,  # all of them: the CLI shows the first few and can write all to a file
            )
        if spool.count == 0:
            raise InputError(f"{path.name} holds no records; nothing was written")
        check = _precheck(supplier_id, targets, None if allow_duplicate else source_sha256)
        if dry_run:
            with db.reading(engine) as conn:
                check(conn)
            return ImportReport(spool.count, source_sha256, None)
        try:
            result = write_submission(
                engine,
                supplier_id,
                private_key,
                spool,
                source_sha256=source_sha256,
                precheck=check,
                progress=start_phase(phases, "writing", spool.count, "records"),
            )
        except DuplicateFileError:
            raise  # not a record_id clash: keep the message that names --allow-duplicate
        except ConflictError as exc:
            duplicates = _explain_duplicates(engine, spool)
            if duplicates:
                raise InputError(
                    f"{len(duplicates)} duplicate record_id(s); nothing was written", duplicates
                ) from exc
            raise ConflictError(f"{exc}; nothing was written") from exc
        return ImportReport(spool.count, source_sha256, result)


def _explain_duplicates(engine: Engine, spool: Spool) -> list[str]:
    """Slow path after a unique-key conflict: name the lines whose record_id is taken."""
    first_line: dict[str, int] = {}
    problems: list[str] = []
    for line, _kind, _bytes, index in spool:
        rid = index[0]  # record_values() starts with record_id
        if rid in first_line:
            problems.append(f"line {line}: record_id: {rid!r} repeats line {first_line[rid]}")
        else:
            first_line[rid] = line
    stmt = text("SELECT record_id FROM records WHERE record_id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    ids = list(first_line)
    with db.reading(engine) as conn:
        for start in range(0, len(ids), 500):
            for (rid,) in conn.execute(stmt, {"ids": ids[start : start + 500]}):
                problems.append(
                    f"line {first_line[rid]}: record_id: {rid!r} already exists in the ledger"
                )
    return problems[:MAX_REPORTED]


def append_record(
    engine: Engine, supplier_id: str, private_key: Ed25519PrivateKey, row: dict[str, Any]
) -> tuple[dict[str, Any], SubmissionResult]:
    """Append one record as a submission of one."""
    with db.reading(engine) as conn:
        check_signer(conn, supplier_id, private_key)
        validator = _Validator.load(conn, supplier_id)
    try:
        payload = validator.build(row)
    except RowProblems as exc:
        problems = [f"{field}: {msg}" for field, msg in exc.problems]
        if len(problems) == 1:  # say it once: the CLI prints the list under the message
            raise InputError(problems[0]) from None
        raise InputError(f"{len(problems)} problems; nothing was written", problems) from None
    targets = [(1, "supersedes", payload["supersedes"])] if "supersedes" in payload else []
    spool = Spool()
    spool.add(1, "record", canonical_bytes(payload), record_values(payload))
    result = write_submission(
        engine, supplier_id, private_key, spool, precheck=_precheck(supplier_id, targets, None)
    )
    return payload, result


def retract(
    engine: Engine, supplier_id: str, private_key: Ed25519PrivateKey, record_id: str, reason: str
) -> SubmissionResult:
    """Retract one of the supplier's records, or one of its declared outputs, by id."""
    if not reason.strip():
        raise InputError("reason: a retraction needs a reason")
    with db.reading(engine) as conn:
        is_output = record_id in load_output_book(conn).outputs
    column = "output_id" if is_output else "record_id"
    payload = {column: record_id, "supplier_id": supplier_id, "reason": reason.strip()}
    spool = Spool()
    spool.add(1, "retraction", canonical_bytes(payload), payload)

    def check(conn: Connection) -> None:
        if is_output:
            problem = load_output_book(conn).retract(record_id, supplier_id)
            if problem:
                raise ConflictError(problem)
            return
        problems = _status_check(conn, supplier_id, [(1, "record_id", record_id)])
        if problems:
            raise ConflictError(problems[0].split(": ", 2)[-1].replace("record_id: ", ""))

    return write_submission(engine, supplier_id, private_key, spool, precheck=check)


def add_product(
    engine: Engine,
    supplier_id: str,
    private_key: Ed25519PrivateKey,
    product_id: str,
    name: str,
    declared_unit: str,
    mass_kg: str,
    category: str | None = None,
) -> SubmissionResult:
    """Register a product, signed by its owning supplier in a submission of one."""
    check_token(product_id, "product_id")
    if not name.strip():
        raise InputError("name: must not be empty")
    if declared_unit not in DECLARED_UNITS:
        raise InputError(
            f"declared_unit: {declared_unit!r} is not one of {', '.join(DECLARED_UNITS)}"
        )
    check_product_id(product_id)  # exportable as a PACT product URN (ledger.products)
    try:
        mass = fmt(check_mass(parse_decimal(mass_kg, allow_zero=False)))
    except LedgerError as exc:
        message = str(exc)
        prefix = "" if message.startswith("mass_kg") else "mass_kg: "
        raise InputError(prefix + message) from exc
    payload: dict[str, Any] = {
        "product_id": product_id,
        "supplier_id": supplier_id,
        "name": name.strip(),
        "declared_unit": declared_unit,
        "mass_kg": mass,
    }
    if category:
        payload["category"] = check_token(category, "category")
    spool = Spool()
    spool.add(1, "product", canonical_bytes(payload), payload)

    def check(conn: Connection) -> None:
        if conn.execute(
            text("SELECT 1 FROM products WHERE product_id = :p"), {"p": product_id}
        ).first():
            raise ConflictError(f"product {product_id!r} is already registered")

    return write_submission(engine, supplier_id, private_key, spool, precheck=check)


def list_products(engine: Engine, supplier_id: str | None = None) -> list[dict[str, Any]]:
    """Registered products, by product_id; an unknown ``supplier_id`` is an error, not []."""
    with db.reading(engine) as conn:
        if supplier_id is not None and not queries.supplier_exists(conn, supplier_id):
            raise NotFoundError(f"supplier {supplier_id!r} is not registered")
        return queries.products(conn, supplier_id)


def declare_outputs(
    engine: Engine,
    supplier_id: str,
    private_key: Ed25519PrivateKey,
    rows: Iterator[tuple[int, Mapping[str, Any]]],
    source_sha256: str | None = None,
) -> tuple[list[dict[str, Any]], SubmissionResult]:
    """Validate output rows, check them against the ledger and each other, then sign them.

    Every problem is reported as ``line N: field: problem`` and nothing is written.
    """
    with db.reading(engine) as conn:
        check_signer(conn, supplier_id, private_key)
    payloads: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    for line, row in rows:
        if "__extra__" in row:
            problems.append(f"line {line}: row: {row['__extra__']}")
            continue
        try:
            payloads.append((line, build_output(row, supplier_id)))
        except RowProblems as exc:
            problems.extend(f"line {line}: {f}: {m}" for f, m in exc.problems)
    if problems:
        raise _refusal(problems)
    if not payloads:
        raise InputError("no outputs to declare; nothing was written")

    def check(conn: Connection) -> None:
        book = load_output_book(conn)
        found = []
        for line, payload in payloads:
            problem = book.admit(payload)
            if problem is not None:
                found.append(f"line {line}: {problem[0]}: {problem[1]}")
        if found:
            raise _refusal(found)

    spool = Spool()
    for line, payload in payloads:
        spool.add(line, "output", canonical_bytes(payload), payload)
    result = write_submission(
        engine, supplier_id, private_key, spool, source_sha256=source_sha256, precheck=check
    )
    return [p for _l, p in payloads], result


def _refusal(problems: list[str]) -> InputError:
    """One problem is the message; several are listed under a count. Nothing was written."""
    if len(problems) == 1:
        return InputError(f"{problems[0]}; nothing was written")
    return InputError(f"{len(problems)} problems; nothing was written", problems)
