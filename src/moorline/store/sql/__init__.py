"""Metadata in SQL: SQLite (embedded default) and PostgreSQL, via SQLAlchemy Core.

The names below are imported on first use: a process that only reads and
writes (the model server) never imports Alembic, which only :func:`upgrade`
needs.

>>> import os, tempfile
>>> from moorline.store.sql import SqlTrackingStore, create_engine_for, upgrade
>>> uri = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "meta.db")
>>> upgrade(uri)
>>> store = SqlTrackingStore(create_engine_for(uri))
>>> store.get_experiment("0").name
'Default'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moorline.store.sql.auth import SqlTokenStore
    from moorline.store.sql.engine import create_engine_for
    from moorline.store.sql.migrate import upgrade
    from moorline.store.sql.tracking import SqlTrackingStore

_LAZY = {
    "SqlTokenStore": "moorline.store.sql.auth",
    "SqlTrackingStore": "moorline.store.sql.tracking",
    "create_engine_for": "moorline.store.sql.engine",
    "upgrade": "moorline.store.sql.migrate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["SqlTokenStore", "SqlTrackingStore", "create_engine_for", "upgrade"]
