"""Storage: SQLModel tables, engines for SQLite and PostgreSQL, and the serialized appender.

The ``entries`` table is the only source of truth; every other table is an index derived
from it (see :mod:`ledger.state`) and checked against it by ``verify``.

Internal: not part of the library API (the facade is :mod:`ledger`). Modules outside the
store name its handles as ``ledger.store.Engine`` (a database) and ``ledger.store.Connection``
(one open transaction), so that only the store depends on SQLAlchemy by name.
"""

from sqlalchemy import Connection, Engine

__all__ = ["Connection", "Engine"]
