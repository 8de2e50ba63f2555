"""Declared outputs: the reference flow of SPEC §5/§6, and the one rule book they obey.

A product's owning supplier declares how many declared units it produced over a period
(``output`` entries). Every figure per declared unit divides by these, so they are guarded:

* only the product's owner may declare, supersede or retract its output, so no other
  supplier can move its per-unit footprint;
* the periods of one product's effective outputs never overlap (a superseding output takes the
  place of the one it corrects).

:class:`OutputBook` holds that rule once. ``append``/``output import`` load it from the
index tables and admit the submission's rows one after another (so two rows of one file are
checked against each other exactly as against the ledger); ``verify`` keeps one in memory and
admits every ``output`` entry in seq order. Both raise the same message.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ledger.accounting import RowProblems, evidence_problems, note_problems, period_problems
from ledger.decimals import canonical_text, parse_decimal
from ledger.errors import InputError
from ledger.vocab import check_token

OUTPUT_COLUMNS = (
    "output_id",
    "product_id",
    "units",
    "period_start",
    "period_end",
    "evidence_sha256",
    "supersedes",
    "note",
)


def build_output(row: Mapping[str, Any], supplier_id: str) -> dict[str, Any]:
    """Validate one input row into a canonical ``output`` payload; RowProblems lists all."""
    problems: list[tuple[str, str]] = []
    values: dict[str, str | None] = {}
    for name, value in row.items():
        if name == "supplier_id":
            if value not in (None, "", supplier_id):
                problems.append((name, f"{value!r} is not {supplier_id!r}"))
            continue
        if name not in OUTPUT_COLUMNS:
            problems.append((name, "unknown column"))
            continue
        if value is not None and not isinstance(value, (str, int)):
            problems.append((name, f"expected text, got {type(value).__name__}"))
            continue
        text = str(value).strip() if value is not None else ""
        values[name] = text or None

    def attempt(name: str, fn: Any) -> Any:
        try:
            return fn()
        except InputError as exc:
            problems.append((name, str(exc)))
            return None

    payload: dict[str, Any] = {"supplier_id": supplier_id}
    output_id = values.get("output_id") or str(uuid.uuid4())
    payload["output_id"] = attempt("output_id", lambda: check_token(output_id, "output_id"))
    for name in ("product_id", "units", "period_start", "period_end"):
        if values.get(name) is None:
            problems.append((name, "is required"))
    product_id = values.get("product_id")
    if product_id is not None:
        payload["product_id"] = attempt("product_id", lambda: check_token(product_id, "product_id"))
    units_text = values.get("units")
    if units_text is not None:
        units = attempt("units", lambda: parse_decimal(units_text, allow_zero=False))
        if units is not None:
            payload["units"] = canonical_text(units_text, units)
    start_text, end_text = values.get("period_start"), values.get("period_end")
    problems.extend(period_problems(start_text, end_text))
    payload["period_start"], payload["period_end"] = start_text, end_text
    evidence = values.get("evidence_sha256")
    if evidence is not None:
        problems.extend(evidence_problems(evidence))
        payload["evidence_sha256"] = evidence
    supersedes = values.get("supersedes")
    if supersedes is not None:
        payload["supersedes"] = attempt("supersedes", lambda: check_token(supersedes, "supersedes"))
    note = values.get("note")
    if note is not None:
        problems.extend(note_problems(note))
        payload["note"] = note
    if problems:
        raise RowProblems(problems)
    return {k: v for k, v in payload.items() if v is not None}


@dataclass
class _Declared:
    product_id: str
    supplier_id: str
    start: date
    end: date
    status: str = "effective"


@dataclass
class OutputBook:
    """Who owns each product and which outputs are effective: the output rules' one home."""

    owners: dict[str, str] = field(default_factory=dict)  # product_id -> owning supplier
    outputs: dict[str, _Declared] = field(default_factory=dict)  # output_id -> declaration

    def product(self, product_id: str, owner: str) -> None:
        self.owners[product_id] = owner

    def load(self, output_id: str, payload: Mapping[str, Any], status: str) -> None:
        """Take an output as the ledger already holds it (no checks: it was checked then)."""
        self.outputs[output_id] = _Declared(
            payload["product_id"],
            payload["supplier_id"],
            date.fromisoformat(payload["period_start"]),
            date.fromisoformat(payload["period_end"]),
            status,
        )

    def admit(self, payload: Mapping[str, Any]) -> tuple[str, str] | None:
        """Check one new output against the book and record it; return (field, refusal)."""
        product_id, supplier = payload["product_id"], payload["supplier_id"]
        owner = self.owners.get(product_id)
        if owner is None:
            return "product_id", f"product {product_id!r} is not registered"
        if owner != supplier:
            return "product_id", (
                f"only {owner!r}, the owner of product {product_id!r}, may declare its output "
                f"(not {supplier!r})"
            )
        output_id = payload["output_id"]
        if output_id in self.outputs:
            return "output_id", f"output_id {output_id!r} already exists"
        replaced = payload.get("supersedes")
        if replaced is not None:
            problem = self._target(replaced, supplier, "supersedes")
            if problem:
                return "supersedes", problem
            if self.outputs[replaced].product_id != product_id:
                return "supersedes", f"supersedes {replaced!r}, an output of another product"
        start = date.fromisoformat(payload["period_start"])
        end = date.fromisoformat(payload["period_end"])
        for other_id, other in self.outputs.items():
            if (
                other.product_id == product_id
                and other.status == "effective"
                and other_id != replaced
                and other.start < end
                and start < other.end
            ):
                return "period_start", (
                    f"period {start}..{end} overlaps output {other_id!r} ({other.start}.."
                    f"{other.end}) of product {product_id!r}; supersede or retract it first"
                )
        if replaced is not None:
            self.outputs[replaced].status = "superseded"
        self.outputs[output_id] = _Declared(product_id, supplier, start, end)
        return None

    def retract(self, output_id: str, supplier: str) -> str:
        problem = self._target(output_id, supplier, "retraction")
        if not problem:
            self.outputs[output_id].status = "retracted"
        return problem

    def _target(self, output_id: str, supplier: str, what: str) -> str:
        found = self.outputs.get(output_id)
        if found is None or found.supplier_id != supplier:
            return f"{what} targets {output_id!r}, not an earlier output of {supplier!r}"
        if found.status != "effective":
            return f"{what} targets {output_id!r}, already {found.status}"
        return ""


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, row) of a CSV or JSONL output file; outputs are few, so this reads simply."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for row in reader:
            if None in row:
                yield reader.line_num, {"__extra__": "row has more fields than the header"}
            else:
                yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "")}
        return
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise InputError(f"{path}: unknown file type {path.suffix!r}; use .csv or .jsonl")
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            yield line, {"__extra__": "not valid JSON"}
            continue
        yield line, obj if isinstance(obj, dict) else {"__extra__": "not a JSON object"}
