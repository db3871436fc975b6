"""Metadata in SQL: SQLite (embedded default) and PostgreSQL, via SQLAlchemy Core.

>>> import os, tempfile
>>> uri = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "meta.db")
>>> upgrade(uri)
>>> store = SqlTrackingStore(create_engine_for(uri))
>>> store.get_experiment("0").name
'Default'
"""

from moorline.store.sql.auth import SqlTokenStore
from moorline.store.sql.engine import create_engine_for
from moorline.store.sql.migrate import upgrade
from moorline.store.sql.tracking import SqlTrackingStore

__all__ = ["SqlTokenStore", "SqlTrackingStore", "create_engine_for", "upgrade"]
