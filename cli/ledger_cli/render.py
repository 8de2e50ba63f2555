"""Rendering DataFrames of exact Decimals: readable tables, exact csv and json."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import pandas as pd

from ledger.decimals import fmt
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


def render_frame(frame: pd.DataFrame, fmt_name: str, short: dict[str, str] | None = None) -> str:
    columns = list(frame.columns)
    records = [dict(zip(columns, row, strict=True)) for row in frame.itertuples(index=False)]
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
    return table(
        [[human(r[c], c) for c in columns] for r in records], [short.get(c, c) for c in columns]
    )
