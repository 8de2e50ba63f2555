"""Storage: SQLModel tables, engines for SQLite and PostgreSQL, and the serialized appender.

The ``entries`` table is the only source of truth; every other table is an index derived
from it (see :mod:`ledger.state`) and checked against it by ``verify``.

Internal: not part of the library API (the facade is :mod:`ledger`). Modules outside the
store name its handles as ``ledger.store.Engine`` (a database) and ``ledger.store.Connection``
(one open transaction), so that only the store depends on SQLAlchemy by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = ["Connection", "Engine"]


def __getattr__(name: str) -> Any:
    """``Connection`` and ``Engine`` load SQLAlchemy on first use, not on ``import
    ledger.store``: the light read path (:mod:`ledger.store.sql`) runs without it."""
    if name in __all__:
        import sqlalchemy

        return getattr(sqlalchemy, name)
    raise AttributeError(f"module 'ledger.store' has no attribute {name!r}")
