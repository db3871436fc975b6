"""Reading a monitor's data: files, logged dataset versions, SQL queries, logged predictions.

Implements :class:`moorline.monitoring.monitors.WindowSource`. Files and
datasets go through :mod:`moorline.tracking.datasets` (the canonical form and
digest of logged datasets, so a file's digest equals the digest it would get
if logged); a SQL query is run with SQLAlchemy on an engine per URI, kept for
the life of the reader. Logged predictions are read from serving's
prediction log and expanded into one row per predicted row
(:func:`predictions_table`), built as a PyArrow table directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument, NotImplementedFeature, StorageError
from moorline.monitoring.monitors import (
    DatasetSource,
    FileSource,
    PredictionsSource,
    Source,
    SqlSource,
    Window,
)
from moorline.serving.models import LoggedPrediction
from moorline.serving.ports import PredictionStore
from moorline.tracking.datasets import DatasetService, canonical_table, dataset_digest, read_data

#: Most logged requests one window reads (the oldest of the window first).
MAX_WINDOW_REQUESTS: Final = 100_000
#: Most predicted rows one window holds.
MAX_WINDOW_ROWS: Final = 1_000_000


class DataWindowSource:
    """Reads sources; ``datasets`` resolves and loads logged dataset versions,
    ``predictions`` is serving's prediction log (None: predictions sources
    cannot be read here), ``clock`` gives now in ms (the end of a predictions
    window)."""

    def __init__(
        self,
        datasets: DatasetService,
        predictions: PredictionStore | None = None,
        *,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._datasets = datasets
        self._predictions = predictions
        self._clock = clock
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
        if isinstance(source, PredictionsSource):
            return self._logged(source)
        raise InvalidArgument(f"Unknown source {source!r}")  # pragma: no cover

    def _logged(self, source: PredictionsSource) -> Window:
        if self._predictions is None:
            raise NotImplementedFeature(
                "Logged predictions cannot be read here: this reader has no prediction log "
                "(run the monitor where the serving store is configured)"
            )
        since = self._clock() - source.window_seconds * 1000
        logged = self._predictions.read_predictions(
            source.deployment,
            since=since,
            version=source.version,
            shadow=False,
            limit=MAX_WINDOW_REQUESTS,
        )
        table, truncated = predictions_table(logged, source)
        if table.num_rows == 0:
            raise InvalidArgument(
                f"No answered requests of deployment {source.deployment!r}"
                + ("" if source.version is None else f" v{source.version}")
                + f" in the last {source.window_seconds} s of the prediction log"
            )
        table = canonical_table(table)
        described = source.describe()
        if truncated or len(logged) >= MAX_WINDOW_REQUESTS:
            described += f" (first {table.num_rows} rows of the window)"
        return Window(table=table, source=described, digest=dataset_digest(table))

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


def predictions_table(
    logged: Sequence[LoggedPrediction], source: PredictionsSource
) -> tuple[Any, bool]:
    """The rows of the logged requests, as a PyArrow table, and whether
    :data:`MAX_WINDOW_ROWS` cut it short.

    Shadow answers and failed requests are skipped. Inputs: a record row gives
    its own column names; a list row takes the request's ``columns``, else
    ``source.columns``, else ``input_0..``. Outputs: a scalar goes to
    ``source.prediction``, a record to one column per field, a list to
    ``<prediction>_0..``. Labels come from the feedback, one per row.
    """
    import pyarrow as pa

    rows: list[dict[str, Any]] = []
    meta: dict[str, list[Any]] = {
        source.label: [],
        "model_version": [],
        "prediction_id": [],
        "timestamp": [],
    }
    truncated = False
    for item in logged:
        record = item.record
        if record.shadow or record.error_id is not None:
            continue
        names = record.columns or source.columns or ()
        labels = item.labels or []
        for i, row in enumerate(record.inputs):
            if len(rows) >= MAX_WINDOW_ROWS:
                truncated = True
                break
            out: dict[str, Any] = {}
            _put_inputs(out, row, names)
            _put_output(out, record.outputs[i] if i < len(record.outputs) else None, source)
            rows.append(out)
            meta[source.label].append(labels[i] if i < len(labels) else None)
            meta["model_version"].append(record.version)
            meta["prediction_id"].append(record.prediction_id)
            meta["timestamp"].append(record.at)
        if truncated:
            break
    order: dict[str, None] = {}
    for out in rows:
        for name in out:
            if name not in meta:
                order.setdefault(name, None)
    arrays: dict[str, Any] = {name: _array([r.get(name) for r in rows]) for name in order}
    arrays[source.label] = _array(meta[source.label])
    arrays["model_version"] = pa.array(meta["model_version"], type=pa.int64())
    arrays["prediction_id"] = pa.array(meta["prediction_id"], type=pa.large_string())
    arrays["timestamp"] = pa.array(meta["timestamp"], type=pa.timestamp("ms", tz="UTC"))
    return pa.table(arrays), truncated


def _put_inputs(out: dict[str, Any], row: Any, names: Sequence[str]) -> None:
    if isinstance(row, Mapping):
        for key, value in row.items():
            out[str(key)] = value
        return
    values = row if isinstance(row, list | tuple) else [row]
    for j, value in enumerate(values):
        out[names[j] if j < len(names) else f"input_{j}"] = value


def _put_output(out: dict[str, Any], value: Any, source: PredictionsSource) -> None:
    if isinstance(value, Mapping):
        for key, field_value in value.items():
            out[str(key)] = field_value
    elif isinstance(value, list | tuple):
        for j, field_value in enumerate(value):
            out[f"{source.prediction}_{j}"] = field_value
    else:
        out[source.prediction] = value


def _array(values: list[Any]) -> Any:
    """``values`` as an Arrow array of the type they share; as strings when they
    share none (a column that is a number in one request and text in another)."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.large_string())
