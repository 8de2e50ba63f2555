"""Supplier operations: register products, append or import records, retract records.

Imports stream: rows are read one at a time from CSV or JSONL, validated against the
ledger's products and factors, canonicalized once, and spooled. If any row is bad, every bad
row is reported (``line N: field: what is wrong``) and nothing is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
from ledger.rules import SubmissionRules, row_facts
from ledger.spool import Spool
from ledger.state import record_values
from ledger.store import Connection, Engine, db, queries
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
        products = set(queries.product_ids(conn))
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


class DuplicateFileError(ConflictError):
    """A file whose SHA-256 was already imported (and --allow-duplicate was not given)."""


def _precheck(rules: SubmissionRules, source_sha256: str | None) -> Callable[[Connection], None]:
    """The checks against the ledger, run by the dry run and inside the real write."""

    def check(conn: Connection) -> None:
        if source_sha256 is not None:
            dup = queries.submission_with_source(conn, source_sha256)
            if dup is not None:
                raise DuplicateFileError(
                    f"this file (sha256 {source_sha256[:16]}…) was already imported in the "
                    f"submission at seq {dup}; use --allow-duplicate to import it again"
                )
            same = rules.same_records_in_ledger(conn)
            if same is not None:
                raise DuplicateFileError(
                    f"every record in this file is already in the ledger (line {same[0]} is "
                    f"the record at seq {same[1]}): the duplicate check compares the records' "
                    "product, stage, activity, amount, unit, factor, co2e, units and period, "
                    "not the file's bytes or record ids; use --allow-duplicate to import it "
                    "again"
                )
        problems = rules.problems(conn)
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
        checked = validate_file(
            raw,
            size,
            kind == "csv",
            validator,
            jobs,
            progress,
            supplier_id=supplier_id,
            delimiter=delimiter,
        )
    with checked.spool as spool, contextlib.closing(checked.rules) as rules:
        problems = checked.problems
        source_sha256 = checked.source_sha256
        if problems:
            raise InputError(
                f"{len(problems)} problem(s) in {path.name}; nothing was written",
                problems,  # all of them: the CLI shows the first few and can write all to a file
            )
        if spool.count == 0:
            raise InputError(f"{path.name} holds no records; nothing was written")
        check = _precheck(rules, None if allow_duplicate else source_sha256)
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
        except ConflictError as exc:
            if isinstance(exc, DuplicateFileError):
                raise  # keep the message that names --allow-duplicate
            raise ConflictError(f"{exc}; nothing was written") from exc
        return ImportReport(spool.count, source_sha256, result)


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
    spool = Spool()
    spool.add(1, "record", canonical_bytes(payload), record_values(payload))
    with contextlib.closing(SubmissionRules(supplier_id)) as rules:
        rules.add_records([row_facts(1, record_values(payload))])
        if "supersedes" in payload:
            rules.add_targets([(1, "supersedes", payload["supersedes"])])
        result = write_submission(
            engine, supplier_id, private_key, spool, precheck=_precheck(rules, None)
        )
    return payload, result


def _one_row(check: Callable[[Connection], None]) -> Callable[[Connection], None]:
    """A retraction says its one problem plainly, without a line number."""

    def run(conn: Connection) -> None:
        try:
            check(conn)
        except InputError as exc:
            if len(exc.problems) != 1:
                raise
            raise ConflictError(exc.problems[0].split(": ", 2)[-1]) from None

    return run


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

    def check_output(conn: Connection) -> None:
        problem = load_output_book(conn).retract(record_id, supplier_id)
        if problem:
            raise ConflictError(problem)

    if is_output:
        return write_submission(engine, supplier_id, private_key, spool, precheck=check_output)
    with contextlib.closing(SubmissionRules(supplier_id)) as rules:
        rules.add_targets([(1, "record_id", record_id)])
        return write_submission(
            engine, supplier_id, private_key, spool, precheck=_one_row(_precheck(rules, None))
        )


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
        if queries.product_exists(conn, product_id):
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
