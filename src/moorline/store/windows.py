"""Reading a monitor's data: files, logged dataset versions, SQL queries.

Implements :class:`moorline.monitoring.monitors.WindowSource`. Files and
datasets go through :mod:`moorline.tracking.datasets` (the canonical form and
digest of logged datasets, so a file's digest equals the digest it would get
if logged); a SQL query is run with SQLAlchemy on an engine per URI, kept for
the life of the reader.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from moorline.errors import InvalidArgument, StorageError
from moorline.monitoring.monitors import DatasetSource, FileSource, Source, SqlSource, Window
from moorline.tracking.datasets import DatasetService, canonical_table, dataset_digest, read_data


class DataWindowSource:
    """Reads sources; ``datasets`` resolves and loads logged dataset versions."""

    def __init__(self, datasets: DatasetService) -> None:
        self._datasets = datasets
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def read(self, source: Source) -> Window:
        if isinstance(source, DatasetSource):
            version = self._datasets.get_version(source.name, source.digest)
            table = self._datasets.load(version)
            digest = version.dataset.digest
            return Window(table=table, source=f"dataset:{source.name}@{digest}", digest=digest)
        if isinstance(source, FileSource):
            raw, _ = read_data(source.path)
            table = canonical_table(raw)
            return Window(table=table, source=source.describe(), digest=dataset_digest(table))
        if isinstance(source, SqlSource):
            table = canonical_table(self._query(source))
            return Window(table=table, source=source.describe(), digest=dataset_digest(table))
        raise InvalidArgument(f"Unknown source {source!r}")  # pragma: no cover

    def _query(self, source: SqlSource) -> Any:
        import pandas as pd

        engine = self._engine(source.uri)
        try:
            with engine.connect() as conn:
                return pd.read_sql_query(text(source.query), conn)
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StorageError(
                f"The current-window query failed: {detail[0] if detail else type(exc).__name__}"
            ) from None

    def _engine(self, uri: str) -> Engine:
        with self._lock:
            engine = self._engines.get(uri)
            if engine is None:
                try:
                    engine = create_engine(uri, pool_pre_ping=True)
                except (SQLAlchemyError, ValueError, ImportError) as exc:
                    raise InvalidArgument(f"Invalid connection URI for the query: {exc}") from None
                self._engines[uri] = engine
            return engine

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
