"""Rendering tables of exact Decimals: readable tables, exact csv and json.

They take :class:`ledger.tables.Table` rows, not DataFrames: ``query`` renders without pandas.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import textwrap
from decimal import Decimal
from typing import Any

from ledger.decimals import fmt
from ledger.errors import InputError
from ledger.suggest import did_you_mean
from ledger.tables import Table
from ledger_cli.app import table


def exact(value: Any) -> Any:
    """Exact JSON value: Decimals as canonical strings, lists kept, NaN/None as null."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "item"):
        return value.item()
    return value


def human(value: Any, column: str) -> str:
    """Rounded for people: 4 significant digits under 1, 3 decimals under 1000."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, (list, tuple)):
        return ",".join(value) or "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        if column == "change_pct":
            return f"{value:+.1f}%"
        if column.endswith("share"):
            return f"{value:.1f}%"
        if abs(value) >= 1000:
            return f"{value:,.1f}"
        if abs(value) >= 1 or value == 0:
            return f"{value:.3f}"
        return f"{value:.4g}" if abs(value) >= Decimal("1e-4") else f"{value:.3e}"
    return str(value)


#: columns that carry the answer: kept as long as anything fits
KEEP = (
    "supplier_id",
    "product_id",
    "stage",
    "name",
    "product_name",
    "intensity_kgco2e_per_kg",
    "footprint_kgco2e_per_unit",
    "change_pct",
    "comparable",
    "meets_target",
    "missing_stages",
)
#: dropped first when a table is too wide (then any other column, right to left)
DROP_FIRST = (
    "baseline_missing_stages",
    "records",
    "primary_data_share",
    "production",
    "warehousing",
    "transport",
    "packaging",
    "reference_units",
    "total_kgco2e",
)
MIN_TEXT = 12  # a name column is abbreviated down to this many characters, no further


def sort_rows(table_: Table, column: str | None, desc: bool, short: dict[str, str]) -> Table:
    """Rows ordered by ``column`` (its name or its table heading); missing values last."""
    if column is None:
        return table_
    by_heading = {heading: name for name, heading in short.items() if name in table_.columns}
    name = column if column in table_.columns else by_heading.get(column)
    if name is None:
        choices = list(table_.columns)
        raise InputError(
            f"--sort: no column {column!r}; columns are {', '.join(choices)}"
            f"{did_you_mean(column, choices)}"
        )
    present = [r for r in table_.rows if r[name] is not None]
    absent = [r for r in table_.rows if r[name] is None]
    present.sort(key=lambda r: _sort_key(r[name]), reverse=desc)
    return Table(table_.columns, present + absent, table_.attrs)


def _sort_key(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return (len(value), ",".join(map(str, value)))
    return value


def _cells(records: list[dict[str, Any]], columns: list[str]) -> list[list[str]]:
    return [[human(r[c], c) for c in columns] for r in records]


def _width(cells: list[list[str]], headers: list[str], column: int) -> int:
    return max([len(headers[column])] + [len(row[column]) for row in cells])


def _abbreviate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


#: stage names shortened in lists (missing_stages) when a table is too wide
STAGE_ABBREVIATIONS = {
    "production": "prod",
    "warehousing": "wareh",
    "transport": "transp",
    "packaging": "pack",
}


def _compact(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [STAGE_ABBREVIATIONS.get(v, v) for v in value]
    return value


def fit_columns(
    records: list[dict[str, Any]], columns: list[str], short: dict[str, str], width: int
) -> tuple[list[str], list[list[str]], list[str]]:
    """Headings, cells and the dropped columns of a table at most ``width`` characters wide.

    Steps, each only while the table is still too wide: abbreviate long text (names) with
    "…" to 24 characters; shorten stage names in lists; hide the :data:`DROP_FIRST` columns;
    abbreviate text to :data:`MIN_TEXT`; hide any other column not in :data:`KEEP`, from the
    right. Works on whatever columns the query returns.
    """
    columns = list(columns)
    dropped: list[str] = []
    steps: list[tuple[str, int]] = [
        ("compact", 0),
        ("abbreviate", 24),
        ("drop", 0),
        ("abbreviate", MIN_TEXT),
        ("drop-any", 0),
    ]
    step = 0
    while True:
        headers = [short.get(c, c) for c in columns]
        cells = _cells(records, columns)
        widths = [_width(cells, headers, i) for i in range(len(columns))]
        excess = sum(widths) + 2 * (len(columns) - 1) - width
        if excess <= 0 or step == len(steps):
            return headers, cells, dropped
        action, limit = steps[step]
        textual = [
            i
            for i, c in enumerate(columns)
            if c not in ("supplier_id", "product_id")
            and not any(_numeric_cell(row[i]) for row in cells)
        ]
        if action == "abbreviate":
            wide = [i for i in textual if widths[i] > max(limit, len(headers[i]))]
            if not wide:
                step += 1
                continue
            i = max(wide, key=widths.__getitem__)
            target = max(limit, len(headers[i]), widths[i] - excess)
            for record in records:
                record[columns[i]] = _abbreviate(human(record[columns[i]], columns[i]), target)
        elif action == "compact":
            for record in records:
                for c in columns:
                    record[c] = _compact(record[c])
            step += 1
        else:
            victims = [c for c in DROP_FIRST if c in columns]
            if action == "drop-any":
                victims = [c for c in reversed(columns) if c not in KEEP]
            if not victims:
                step += 1
                continue
            columns.remove(victims[0])
            dropped.append(victims[0])


def _numeric_cell(text: str) -> bool:
    stripped = text.replace(",", "").replace("%", "").lstrip("+-")
    return stripped.replace(".", "", 1).isdigit() or ("e" in stripped and stripped[0].isdigit())


def render_table(
    table_: Table,
    fmt_name: str,
    short: dict[str, str] | None = None,
    width: int | None = None,
) -> str:
    """The rows as csv/json (exact, every column) or a table (rounded, fitted to ``width``)."""
    columns = list(table_.columns)
    records = [{c: r.get(c) for c in columns} for r in table_.rows]
    if fmt_name == "json":
        data = [{k: exact(v) for k, v in r.items()} for r in records]
        return json.dumps(data, indent=2, ensure_ascii=False)
    if fmt_name == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for r in records:
            cells = [exact(r[c]) for c in columns]
            writer.writerow(
                [";".join(v) if isinstance(v, list) else "" if v is None else v for v in cells]
            )
        return out.getvalue().rstrip("\n")
    short = short or {}
    if width is None:
        return table(_cells(records, columns), [short.get(c, c) for c in columns])
    headers, cells, dropped = fit_columns(records, columns, short, width)
    body = table(cells, headers)
    if dropped:
        hidden = ", ".join(short.get(c, c) for c in dropped)
        noun = "column" if len(dropped) == 1 else "columns"
        note = (
            f"({len(dropped)} {noun} hidden to fit {width} columns: {hidden}; "
            "widen the terminal or use --format csv)"
        )
        body += "\n" + textwrap.fill(note, width)
    return body


def terminal_width() -> int | None:
    """Width to fit tables to: ``COLUMNS`` if set, else the terminal's; None when stdout is
    not a terminal (a file or a pipe gets the whole table)."""
    if os.environ.get("COLUMNS", "").isdigit():
        return int(os.environ["COLUMNS"])
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((120, 24)).columns
