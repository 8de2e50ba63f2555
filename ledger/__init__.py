"""carbon-ledger: a verifiable, append-only ledger of product carbon footprints.

The library holds all logic; ``ledger_cli`` is a thin click adapter over it. This module is
the public facade: the names in ``__all__`` are the supported library API, each a function of
the module that owns it, imported on first use so that ``import ledger`` stays cheap (it loads
neither SQLAlchemy nor pandas). Every other module is internal unless its docstring says
otherwise. A session::

    import ledger
    from ledger import keys

    engine = ledger.open_ledger("sqlite:///ledger.db")
    ledger.import_records(engine, Path("records.csv"), "sup-bev", keys.load_private(k))
    ledger.sign_checkpoint(engine, operator_key)
    report = ledger.verify_database(engine)
    frame = ledger.intensity(engine, by="supplier", window=("2025-01-01", "2026-01-01"))
    proof = ledger.prove(engine, "record-id")
    svg = ledger.export_label(engine, "6923451000013", "2025-01-01", "2026-01-01", "svg", options)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
SPEC_VERSION = 1

if TYPE_CHECKING:
    from ledger.audit import verify_database
    from ledger.bundle import verify_bundle
    from ledger.errors import LedgerError
    from ledger.labels.export import LabelOptions
    from ledger.labels.export import export_one as export_label
    from ledger.labels.offline import verify_label
    from ledger.query import intensity, scorecard
    from ledger.records import append_record, import_records
    from ledger.registry import init_ledger
    from ledger.store import Engine
    from ledger.store.reindex import reindex
    from ledger.transparency import prove, sign_checkpoint

__all__ = [
    "LabelOptions",
    "LedgerError",
    "append_record",
    "export_label",
    "import_records",
    "init_ledger",
    "intensity",
    "open_ledger",
    "prove",
    "reindex",
    "scorecard",
    "sign_checkpoint",
    "verify_bundle",
    "verify_database",
    "verify_label",
]

#: facade name -> (owning module, name there); resolved on first attribute access
_LAZY: dict[str, tuple[str, str]] = {
    "LabelOptions": ("ledger.labels.export", "LabelOptions"),
    "LedgerError": ("ledger.errors", "LedgerError"),
    "append_record": ("ledger.records", "append_record"),
    "export_label": ("ledger.labels.export", "export_one"),
    "import_records": ("ledger.records", "import_records"),
    "init_ledger": ("ledger.registry", "init_ledger"),
    "intensity": ("ledger.query", "intensity"),
    "prove": ("ledger.transparency", "prove"),
    "reindex": ("ledger.store.reindex", "reindex"),
    "scorecard": ("ledger.query", "scorecard"),
    "sign_checkpoint": ("ledger.transparency", "sign_checkpoint"),
    "verify_bundle": ("ledger.bundle", "verify_bundle"),
    "verify_database": ("ledger.audit", "verify_database"),
    "verify_label": ("ledger.labels.offline", "verify_label"),
}


def open_ledger(url: str | None = None) -> Engine:
    """Open the ledger database at ``url`` (``sqlite:///PATH`` or
    ``postgresql+psycopg://...``; default ``sqlite:///carbon-ledger.db`` in the working
    directory, as the CLI); the engine is what every other function takes.

    Nothing is read yet: a missing or foreign database is reported by the first call that
    uses it. Create a new ledger with :func:`init_ledger`.
    """
    from ledger.store.db import DEFAULT_URL, make_engine

    return make_engine(url or DEFAULT_URL)


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'ledger' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
