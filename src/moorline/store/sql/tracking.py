"""The SQL tracking store: the three tracking ports over one engine.

>>> from moorline.store.sql import create_engine_for, upgrade
>>> import os, tempfile
>>> engine = create_engine_for("sqlite:///" + os.path.join(tempfile.mkdtemp(), "t.db"))
>>> upgrade(engine)
>>> store = SqlTrackingStore(engine)
>>> store.get_experiment_by_name("Default").experiment_id
'0'
"""

from __future__ import annotations

from sqlalchemy import Engine

from moorline.store.sql.experiments import SqlExperimentStore
from moorline.store.sql.logged_models import SqlLoggedModelStore
from moorline.store.sql.runs import SqlRunStore
from moorline.tracking.ports import TrackingStore


class SqlTrackingStore(SqlExperimentStore, SqlRunStore, SqlLoggedModelStore, TrackingStore):
    """Experiments, runs and logged models in SQLite or PostgreSQL.

    The schema must be at head (see :func:`moorline.store.sql.migrate.upgrade`).
    Thread-safe: every call checks a connection out of the engine's pool.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
