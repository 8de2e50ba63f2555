"""The library facade: ``import ledger`` is cheap and every public name is documented and typed."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ledger

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_import_ledger_loads_no_database_or_dataframe_library() -> None:
    code = (
        "import sys, ledger; "
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'pandas', 'pydantic') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


@pytest.mark.parametrize("name", ledger.__all__)
def test_public_name_has_a_docstring_and_type_hints(name: str) -> None:
    obj = getattr(ledger, name)
    assert inspect.getdoc(obj), f"ledger.{name} has no docstring"
    if inspect.isclass(obj):
        return
    signature = inspect.signature(obj)
    untyped = [p for p in signature.parameters.values() if p.annotation is inspect.Parameter.empty]
    assert untyped == [], f"ledger.{name}: parameters without a type: {untyped}"
    assert signature.return_annotation is not inspect.Signature.empty, (
        f"ledger.{name}: no return type"
    )


def test_every_lazy_name_is_public_and_resolves() -> None:
    assert sorted(ledger.__all__) == ledger.__all__
    assert set(ledger.__all__) == {*ledger._LAZY, "open_ledger"}
    assert ledger.export_label.__module__ == "ledger.labels.export"
    assert {"intensity", "verify_database"} <= set(dir(ledger))
    with pytest.raises(AttributeError, match="module 'ledger' has no attribute 'nope'"):
        ledger.nope  # noqa: B018


def test_the_facade_runs_a_ledger(
    make_world: Callable[[str], dict[str, Any]], sqlite_url: str
) -> None:
    world = make_world(sqlite_url)
    engine = ledger.open_ledger(sqlite_url)
    report = ledger.import_records(
        engine,
        SAMPLES / "records" / "sup-elec-2025.csv",
        "sup-elec",
        world["keys"]["sup-elec"],
    )
    assert report.rows == 36  # the file's 37 lines less the header
    ledger.sign_checkpoint(engine, world["operator"])
    assert ledger.verify_database(engine).records == 36
    frame = ledger.intensity(engine, by="supplier", window=("2025-01-01", "2026-01-01"))
    assert list(frame["supplier_id"]) == ["sup-elec"]
