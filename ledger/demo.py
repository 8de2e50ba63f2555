"""The sample world end to end: what `carbon-ledger demo` runs (the README's first command).

It plays every role in turn on a fresh SQLite ledger: the operator registers suppliers and
factors, suppliers register products and import two years of records (plus a correction and
a retraction), the operator signs a checkpoint, and an auditor verifies the database and an
offline export against that checkpoint.

Internal: not part of the library API (the facade is :mod:`ledger`).
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ledger import audit, bundle, keys, records, registry, transparency
from ledger.errors import InputError
from ledger.labels import export as label_export
from ledger.labels.formats import FORMATS
from ledger.outputs import read_rows as read_output_rows
from ledger.store import Engine
from ledger.store.db import make_engine
from ledger.verify import VerifyReport

MARKER = ".carbon-ledger-demo"
Say = Callable[[str], None]


def find_samples(explicit: Path | None = None) -> Path:
    """The sample world: shipped in the wheel as ``ledger/_samples`` (pyproject maps the
    top-level samples/ there), else samples/ of a checkout or editable install, or the cwd."""
    here = Path(__file__).resolve().parent
    candidates = [explicit] if explicit else []
    candidates += [here / "_samples", here.parent / "samples", Path.cwd() / "samples"]
    for candidate in candidates:
        if candidate is not None and (candidate / "factors.csv").is_file():
            return candidate
    raise InputError("cannot find the samples/ directory; pass --samples PATH")


def prepare_dir(directory: Path) -> None:
    """Use a fresh directory; re-running over an earlier demo replaces it."""
    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise InputError(
                f"{directory} exists and is not an earlier demo directory; choose another --dir"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("created by carbon-ledger demo\n", encoding="utf-8")


@dataclass
class DemoResult:
    directory: Path
    db_url: str
    engine: Engine
    report: VerifyReport
    bundle_report: VerifyReport
    checkpoint_path: Path
    bundle_path: Path
    products: list[str] = field(default_factory=list)
    imported: int = 0
    label_dir: Path | None = None
    labels: list[Path] = field(default_factory=list)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def build(directory: Path, samples: Path | None = None, say: Say = lambda _m: None) -> DemoResult:
    samples = find_samples(samples)
    prepare_dir(directory)
    key_dir = directory / "keys"
    shutil.copytree(samples / "keys", key_dir)
    for key_file in key_dir.glob("*.key"):
        key_file.chmod(0o600)  # git does not keep modes; private keys must be 0600
    db_url = f"sqlite:///{directory / 'ledger.db'}"
    engine = make_engine(db_url)
    operator = keys.load_private(key_dir / "operator.key")

    say("operator: creating the ledger, registering suppliers and factors")
    registry.init_ledger(engine, operator, "carbon-ledger.example/qingliu-demo")
    suppliers = _rows(samples / "suppliers.csv")
    for s in suppliers:
        pub = keys.load_public(key_dir / Path(s["key_file"]).name.replace(".key", ".key.pub"))
        registry.add_supplier(engine, s["supplier_id"], s["name"], s["country"], pub, operator)
    registry.import_factors(engine, samples / "factors.csv", operator)

    supplier_keys = {
        s["supplier_id"]: keys.load_private(key_dir / Path(s["key_file"]).name) for s in suppliers
    }
    products = _rows(samples / "products.csv")
    say(f"suppliers: registering {len(products)} products")
    for p in products:
        records.add_product(
            engine,
            p["supplier_id"],
            supplier_keys[p["supplier_id"]],
            p["product_id"],
            p["name"],
            p["declared_unit"],
            p["mass_kg"],
            p.get("category") or None,
        )
    for path in sorted((samples / "outputs").glob("*.csv")):
        supplier_id = next(s for s in supplier_keys if path.name.startswith(s + "-"))
        declared, _result = records.declare_outputs(
            engine, supplier_id, supplier_keys[supplier_id], read_output_rows(path)
        )
        say(f"  {supplier_id} declared {len(declared):4d} outputs from {path.name}")
    imported = 0
    paths = sorted(
        (samples / "records").glob("*.csv"), key=lambda p: ("correction" in p.name, p.name)
    )
    for path in paths:
        supplier_id = next(s for s in supplier_keys if path.name.startswith(s + "-"))
        imp = records.import_records(engine, path, supplier_id, supplier_keys[supplier_id])
        imported += imp.rows
        say(f"  {supplier_id} imported {imp.rows:4d} records from {path.name}")
    say("operator: signing a checkpoint; auditor keeps it as seen.cp")
    cp = transparency.sign_checkpoint(engine, operator)
    checkpoint_path = directory / "seen.cp"
    checkpoint_path.write_text(cp.note, encoding="utf-8")
    say("auditor: verifying the database and an offline export against seen.cp")
    report = audit.verify_database(engine, cp.note)
    bundle_path = directory / "ledger-export.jsonl"
    bundle.export_bundle(engine, bundle_path)
    bundle_report = bundle.verify_bundle(bundle_path, cp.note)
    say("platform: exporting 2025 labels (json, pact, svg, html, csv) for every product")
    label_dir = directory / "labels"
    written, _skipped = label_export.export_all(
        engine,
        "2025-01-01",
        "2026-01-01",
        FORMATS,
        label_dir,
        label_export.LabelOptions(),
        operator,
    )
    return DemoResult(
        directory,
        db_url,
        engine,
        report,
        bundle_report,
        checkpoint_path,
        bundle_path,
        [p["product_id"] for p in products],
        imported,
        label_dir,
        written,
    )
