"""Datasets as content-addressed versions: canonical form, digest, schema and profile.

A dataset version is identified by the SHA-256 of its *canonical form*, so
the same data logged twice, from any process or machine, is one version, and
one changed cell is another. Everything above :class:`DatasetService` is a
pure function on PyArrow tables, usable in a notebook with no store at all.
pandas and PyArrow are optional dependencies (``pip install moorline[data]``):
they are imported on first use, never by ``import moorline``.

The canonical form (format ``moorline.dataset/1``)
---------------------------------------------------

Input is a pandas DataFrame, a PyArrow Table, or the path of a ``.csv`` or
``.parquet`` file. It becomes one Arrow table:

- **Columns** keep their order and names (non-string names become their
  ``str()``); duplicate names are refused.
- **pandas index**: an unnamed index (the usual ``RangeIndex``, or what is
  left after filtering) is not data and is dropped; a *named* index (any named
  level of a MultiIndex) becomes leading column(s), as ``reset_index()`` makes.
- **Types** are normalised: every integer type -> ``int64`` (a ``uint64``
  above 2**63-1 is refused); every float -> ``float64``; every string ->
  ``large_string``; every binary -> ``large_binary``; timestamps ->
  ``timestamp[ns, tz=UTC]`` (naive timestamps are taken as UTC); dates ->
  ``date32``; times -> ``time64[ns]``; durations -> ``duration[ns]``;
  categoricals (Arrow dictionaries) -> their values, normalised;
  decimals and booleans are kept; lists -> ``large_list`` and structs
  field by field, recursively.
- **Missing values**: a float NaN is a missing value (pandas cannot tell them
  apart, so neither do we): it becomes null.
- Schema and field metadata (pandas' included) are dropped; every field is
  nullable.

The digest is the SHA-256 (hex) of the table written as an Arrow IPC stream
(metadata V5, no compression) in record batches of :data:`IPC_BATCH_ROWS`
rows, after every array has been rebuilt into fresh, exactly sized buffers
(values under nulls zeroed, bitmaps' trailing bits zeroed, offsets starting
at 0): Arrow leaves those bytes unspecified, and two equal tables must not
hash differently because of them. A test pins the digest of a fixed table,
so a library upgrade that changed these bytes would fail CI rather than
silently fork every dataset into new versions.

What is equal, as a consequence:

- a DataFrame and ``pyarrow.Table.from_pandas`` of it: equal digests;
- an ``int32`` column and the same values as ``int64``, a categorical and its
  values as strings, a naive timestamp and the same instant in UTC: equal;
- a CSV path is read with ``pandas.read_csv`` defaults, so it digests as
  ``pandas.read_csv(path)``. ``df.to_csv(path, index=False)`` round-trips to
  the same digest for integer, float, string (without empty strings),
  boolean and categorical columns; timestamps come back as strings and
  nullable integers with gaps as floats, so those differ (as the data does);
- a Parquet path digests as ``pyarrow.parquet.read_table(path)``, and the
  Parquet file moorline stores for a version reads back to the same digest.

The schema (format ``moorline.schema/1``)
-----------------------------------------

JSON ``{"format": "moorline.schema/1", "columns": [{"name", "type",
"nullable"}, ...]}`` in column order; ``type`` is the canonical Arrow type
(``int64``, ``double``, ``large_string``, ``bool``, ``timestamp[ns, tz=UTC]``
...); ``nullable`` says whether this version holds at least one null there.

The profile (format ``moorline.profile/1``)
-------------------------------------------

JSON ``{"format": "moorline.profile/1", "rows": N, "columns": [...]}``; one
object per column, in column order, with ``name``, ``type``, ``kind``,
``count`` (non-null values) and ``null_count``, and by ``kind``:

- ``numeric`` (integers, floats, decimals): ``min``, ``max`` (integers stay
  exact), ``mean``, ``std`` (sample, ddof=1; null below two values),
  ``quantiles`` (``{"0": .., "0.01": .., "0.05": .., "0.25": .., "0.5": ..,
  "0.75": .., "0.95": .., "0.99": .., "1": ..}``, linear interpolation as
  ``numpy.quantile``) and ``histogram`` (``{"edges": [21 numbers],
  "counts": [20 integers]}``: equal-width bins over the finite values, as
  ``numpy.histogram(values, bins=20)``; the last bin includes its right edge;
  one bin when the range is too narrow for 20 distinct float edges).
  With no value, these are null.
- ``categorical`` (strings, booleans): ``distinct`` (number of distinct
  values) and ``top``: up to 20 ``{"value", "count"}``, most frequent first,
  ties by value; string values longer than 200 characters are cut there.
- ``temporal`` (timestamps, dates, times, durations): ``min`` and ``max`` as
  ISO 8601 strings (durations in nanoseconds).
- ``other`` (binary, nested, null): the counts only.

Non-finite numbers appear as the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"`` (JSON has no literal for them). Monitoring reads this profile
as the reference of a drift check; the format string says which rules made it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from moorline.core.blobs import CHUNK_SIZE
from moorline.core.paging import Page, check_max_results
from moorline.errors import InvalidArgument, NotFound, StorageError
from moorline.tracking import validation as v
from moorline.tracking.models import (
    TAG_DATASET_CONTEXT,
    Dataset,
    DatasetInput,
    DatasetSummary,
    DatasetVersion,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from moorline.tracking.artifacts import ArtifactService
    from moorline.tracking.ports import DatasetStore
    from moorline.tracking.service import TrackingService

DATASET_FORMAT: Final = "moorline.dataset/1"
SCHEMA_FORMAT: Final = "moorline.schema/1"
PROFILE_FORMAT: Final = "moorline.profile/1"
#: Rows per record batch of the hashed IPC stream (part of the canonical form).
IPC_BATCH_ROWS: Final = 65_536
QUANTILES: Final = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
HISTOGRAM_BINS: Final = 20
TOP_CATEGORIES: Final = 20
MAX_CATEGORY_CHARS: Final = 200
#: Where a version's data lives in the artifact store.
BLOB_PREFIX: Final = "datasets"
SOURCE_TYPE_LOCAL: Final = "local"
SOURCE_TYPE_CODE: Final = "code"
DEFAULT_CONTEXT: Final = "train"
LIST_DEFAULT: Final = 100
LIST_LIMIT: Final = 1000
_SHA256_HEX = frozenset("0123456789abcdef")


def _arrow() -> Any:
    """PyArrow, or an error that says how to install it."""
    try:
        import pyarrow
    except ImportError as exc:  # pragma: no cover - the data extra is installed in CI
        raise InvalidArgument(
            "Datasets need pyarrow and pandas: pip install 'moorline[data]'"
        ) from exc
    return pyarrow


# -- reading what the user gives -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where a dataset came from, as recorded with the run input."""

    source_type: str
    source: str


def read_data(data: object) -> tuple[pa.Table, Source]:
    """The Arrow table behind ``data`` (not yet canonical) and where it came from.

    ``data``: a pandas DataFrame, a PyArrow Table or RecordBatch, or the path of
    a ``.csv`` (read by ``pandas.read_csv``) or ``.parquet``/``.pq`` file.
    """
    pa = _arrow()
    if isinstance(data, str | os.PathLike):
        return _read_path(Path(data))
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return data, Source(source_type=SOURCE_TYPE_CODE, source=_source_json("pyarrow.Table"))
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return _from_pandas(data), Source(
            source_type=SOURCE_TYPE_CODE, source=_source_json("pandas.DataFrame")
        )
    raise InvalidArgument(
        f"Cannot log a {type(data).__name__} as a dataset: give a pandas DataFrame, "
        "a pyarrow Table or the path of a .csv or .parquet file"
    )


def _source_json(kind: str, uri: str | None = None) -> str:
    body: dict[str, str] = {"type": kind}
    if uri is not None:
        body["uri"] = uri
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _read_path(path: Path) -> tuple[pa.Table, Source]:
    if not path.is_file():
        raise InvalidArgument(f"Cannot log dataset {str(path)!r}: no such file")
    suffix = path.suffix.lower()
    source = Source(
        source_type=SOURCE_TYPE_LOCAL,
        source=_source_json(suffix.lstrip(".") or "file", path.resolve().as_uri()),
    )
    if suffix == ".csv":
        import pandas as pd

        try:
            frame = pd.read_csv(path)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"Cannot read {str(path)!r} as CSV: {exc}") from exc
        return _from_pandas(frame), source
    if suffix in (".parquet", ".pq"):
        pq = _parquet()
        pa = _arrow()
        try:
            return pq.read_table(path), source
        except (pa.ArrowException, OSError) as exc:
            raise InvalidArgument(f"Cannot read {str(path)!r} as Parquet: {exc}") from exc
    raise InvalidArgument(
        f"Cannot log dataset {str(path)!r}: only .csv and .parquet (or .pq) files are read"
    )


def _parquet() -> Any:
    _arrow()
    import pyarrow.parquet as pq

    return pq


def _from_pandas(frame: Any) -> pa.Table:
    """A DataFrame as Arrow: a named index becomes column(s), an unnamed one is dropped."""
    pa = _arrow()
    if any(name is not None for name in frame.index.names):
        try:
            frame = frame.reset_index()
        except ValueError as exc:
            raise InvalidArgument(
                f"The DataFrame's named index cannot become a column: {exc}"
            ) from exc
    names = [str(c) for c in frame.columns]
    _check_unique(names)
    import pandas as pd

    zoned = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    if zoned:
        # The canonical form is UTC anyway; handing Arrow naive UTC values also avoids
        # the pandas deprecation warning its tz-aware conversion path raises.
        frame = frame.copy(deep=False)
        for column in zoned:
            frame[column] = frame[column].dt.tz_convert(None)
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidArgument(f"Cannot convert the DataFrame to a dataset: {exc}") from exc


def _check_unique(names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidArgument(f"Column name {name!r} appears twice; dataset columns are unique")
        seen.add(name)


# -- the canonical form ----------------------------------------------------------


def canonical_table(data: object) -> pa.Table:
    """The canonical form of ``data`` (see the module docs): the table that is hashed.

    >>> import pyarrow as pa
    >>> canonical_table(pa.table({"n": pa.array([1, 2], pa.int8())})).schema.types
    [DataType(int64)]
    """
    pa = _arrow()
    table = data if isinstance(data, pa.Table) else read_data(data)[0]
    return _canonical(table)


def _canonical(table: pa.Table) -> pa.Table:
    pa = _arrow()
    names = [str(n) for n in table.column_names]
    _check_unique(names)
    columns = []
    fields = []
    for name, column in zip(names, table.columns, strict=True):
        array = _canonical_array(column, name)
        columns.append(array)
        fields.append(pa.field(name, array.type, nullable=True))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def canonical_type(data_type: Any, column: str = "") -> Any:
    """The type a column of ``data_type`` has in the canonical form."""
    pa = _arrow()
    t = pa.types
    if t.is_dictionary(data_type):
        return canonical_type(data_type.value_type, column)
    if t.is_integer(data_type):
        return pa.int64()
    if t.is_floating(data_type):
        return pa.float64()
    if t.is_boolean(data_type) or t.is_null(data_type) or t.is_decimal(data_type):
        return data_type
    if t.is_string(data_type) or t.is_large_string(data_type) or t.is_string_view(data_type):
        return pa.large_string()
    if (
        t.is_binary(data_type)
        or t.is_large_binary(data_type)
        or t.is_binary_view(data_type)
        or t.is_fixed_size_binary(data_type)
    ):
        return pa.large_binary()
    if t.is_timestamp(data_type):
        return pa.timestamp("ns", tz="UTC")
    if t.is_date(data_type):
        return pa.date32()
    if t.is_time(data_type):
        return pa.time64("ns")
    if t.is_duration(data_type):
        return pa.duration("ns")
    if (
        t.is_list(data_type)
        or t.is_large_list(data_type)
        or t.is_fixed_size_list(data_type)
        or t.is_list_view(data_type)
        or t.is_large_list_view(data_type)
    ):
        return pa.large_list(canonical_type(data_type.value_type, column))
    if t.is_struct(data_type):
        return pa.struct(
            [
                pa.field(f.name, canonical_type(f.type, column), nullable=True)
                for f in data_type.fields
            ]
        )
    if t.is_map(data_type):
        return pa.map_(
            canonical_type(data_type.key_type, column),
            canonical_type(data_type.item_type, column),
        )
    raise InvalidArgument(f"Column {column!r} has type {data_type}, which datasets do not support")


def _is_nested(data_type: Any) -> bool:
    t = _arrow().types
    return bool(t.is_large_list(data_type) or t.is_struct(data_type) or t.is_map(data_type))


def _canonical_array(column: Any, name: str) -> Any:
    """One column in canonical type, rebuilt into fresh, exactly sized buffers."""
    pa = _arrow()
    import pyarrow.compute as pc

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    target = canonical_type(array.type, name)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if _is_nested(target):
        # Rare in tabular data: rebuilt through Python, which also casts the children.
        try:
            return pa.array(array.to_pylist(), type=target)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise InvalidArgument(f"Column {name!r} cannot be normalised: {exc}") from exc
    if array.type != target:
        try:
            array = pc.cast(array, target, safe=True)
        except pa.ArrowException as exc:
            raise InvalidArgument(
                f"Column {name!r} ({array.type}) does not fit {target}: {exc}"
            ) from exc
    if pa.types.is_floating(target) and len(array) and pc.any(pc.is_nan(array)).as_py():
        array = pc.if_else(pc.is_nan(array), pa.scalar(None, target), array)
    return _fresh(array)


def _bitmap(mask: Any) -> Any:
    """A validity or boolean bitmap of a NumPy bool array, with trailing bits zeroed."""
    import numpy as np

    pa = _arrow()
    return pa.py_buffer(np.packbits(mask, bitorder="little").tobytes())


def _fresh(array: Any) -> Any:
    """``array`` (flat, canonical type) rebuilt with offset 0 and exactly sized buffers."""
    import numpy as np
    import pyarrow.compute as pc

    pa = _arrow()
    types = pa.types
    n = len(array)
    t = array.type
    if types.is_null(t):
        return pa.nulls(n)
    nulls = array.null_count
    valid = pc.is_valid(array).to_numpy(zero_copy_only=False) if nulls else None
    validity = _bitmap(valid) if valid is not None else None
    if types.is_boolean(t):
        values = pc.fill_null(array, False) if nulls else array
        data = _bitmap(values.to_numpy(zero_copy_only=False))
        return pa.Array.from_buffers(t, n, [validity, data], null_count=nulls)
    if types.is_large_string(t) or types.is_large_binary(t):
        base = pc.fill_null(array, "" if types.is_large_string(t) else b"") if nulls else array
        buffers = base.buffers()
        offsets = np.frombuffer(buffers[1], dtype="<i8")[base.offset : base.offset + n + 1]
        start, end = (int(offsets[0]), int(offsets[-1])) if n else (0, 0)
        raw = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else None
        payload = raw[start:end].tobytes() if raw is not None else b""
        return pa.Array.from_buffers(
            t,
            n,
            [
                validity,
                pa.py_buffer((offsets - start).astype("<i8").tobytes()),
                pa.py_buffer(payload),
            ],
            null_count=nulls,
        )
    width = t.bit_width // 8
    data_buffer = array.buffers()[1]
    raw = np.frombuffer(data_buffer, dtype=np.uint8)[
        array.offset * width : (array.offset + n) * width
    ]
    values = raw.reshape(n, width).copy() if n else np.zeros((0, width), dtype=np.uint8)
    if valid is not None:
        values[~valid] = 0
    return pa.Array.from_buffers(t, n, [validity, pa.py_buffer(values.tobytes())], null_count=nulls)


# -- the digest ------------------------------------------------------------------


class _HashingSink:
    """A write-only file object feeding SHA-256: the IPC stream is hashed as it is written."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.hash.update(view)
        return view.nbytes

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def dataset_digest(table: pa.Table) -> str:
    """SHA-256 (hex) of a canonical table's IPC stream (see the module docs).

    ``table`` must come from :func:`canonical_table`; the stream is hashed as
    it is written, never held in memory.
    """
    pa = _arrow()
    from pyarrow import ipc

    sink = _HashingSink()
    options = ipc.IpcWriteOptions(
        metadata_version=ipc.MetadataVersion.V5, compression=None, use_threads=False
    )
    with ipc.new_stream(pa.PythonFile(sink, mode="w"), table.schema, options=options) as writer:
        for batch in table.combine_chunks().to_batches(max_chunksize=IPC_BATCH_ROWS):
            writer.write_batch(batch)
    return sink.hash.hexdigest()


def check_digest(digest: object) -> str:
    """A dataset digest as moorline makes them: 64 lowercase hex digits."""
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _SHA256_HEX:
        raise InvalidArgument(
            f"Invalid dataset digest {digest!r}: expected 64 lowercase hex digits (SHA-256)"
        )
    return digest


# -- schema ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSchema:
    name: str
    type: str
    nullable: bool


def dataset_schema(table: pa.Table) -> tuple[ColumnSchema, ...]:
    """Name, canonical type and observed nullability of every column, in order."""
    return tuple(
        ColumnSchema(name=f.name, type=str(f.type), nullable=table.column(i).null_count > 0)
        for i, f in enumerate(table.schema)
    )


def schema_json(columns: Sequence[ColumnSchema]) -> str:
    """The schema as stored with the run input (format ``moorline.schema/1``)."""
    body = {
        "format": SCHEMA_FORMAT,
        "columns": [{"name": c.name, "type": c.type, "nullable": c.nullable} for c in columns],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def parse_schema(text: str | None) -> tuple[ColumnSchema, ...]:
    """Columns of a stored schema; empty when it is missing or not moorline's format
    (a dataset logged by another client, e.g. MLflow's own schema JSON)."""
    if not text:
        return ()
    try:
        body = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(body, dict) or body.get("format") != SCHEMA_FORMAT:
        return ()
    out = []
    for c in body.get("columns", []):
        if isinstance(c, dict):
            out.append(
                ColumnSchema(
                    name=str(c.get("name", "")),
                    type=str(c.get("type", "")),
                    nullable=bool(c.get("nullable", True)),
                )
            )
    return tuple(out)


# -- profile ---------------------------------------------------------------------


def _json_float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _number(value: Any) -> int | float | str | None:
    """A profile number: ints stay exact, floats are finite or one of three strings."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return _json_float(float(value))


def profile_table(table: pa.Table) -> dict[str, Any]:
    """The per-column profile of a canonical table (format ``moorline.profile/1``).

    >>> import pyarrow as pa
    >>> p = profile_table(canonical_table(pa.table({"x": [1, 2, 3, None]})))
    >>> p["columns"][0]["count"], p["columns"][0]["null_count"], p["columns"][0]["mean"]
    (3, 1, 2.0)
    """
    columns = [
        _profile_column(field.name, table.column(i).combine_chunks())
        for i, field in enumerate(table.schema)
    ]
    return {"format": PROFILE_FORMAT, "rows": table.num_rows, "columns": columns}


def profile_json(profile: dict[str, Any]) -> str:
    return json.dumps(profile, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _profile_column(name: str, array: Any) -> dict[str, Any]:
    pa = _arrow()
    types = pa.types
    t = array.type
    nulls = array.null_count
    entry: dict[str, Any] = {
        "name": name,
        "type": str(t),
        "count": len(array) - nulls,
        "null_count": nulls,
    }
    if types.is_integer(t) or types.is_floating(t) or types.is_decimal(t):
        entry["kind"] = "numeric"
        entry.update(_numeric_stats(array))
    elif types.is_large_string(t) or types.is_boolean(t):
        entry["kind"] = "categorical"
        entry.update(_categorical_stats(array))
    elif types.is_temporal(t):
        entry["kind"] = "temporal"
        entry.update(_temporal_stats(array))
    else:
        entry["kind"] = "other"
    return entry


def _numeric_stats(array: Any) -> dict[str, Any]:
    import numpy as np
    import pyarrow.compute as pc

    pa = _arrow()
    present = array.drop_null()
    empty: dict[str, Any] = {
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "quantiles": None,
        "histogram": None,
    }
    if len(present) == 0:
        return empty
    if pa.types.is_decimal(present.type):
        present = pc.cast(present, pa.float64())
    bounds = pc.min_max(present)
    values = np.asarray(present.to_numpy(zero_copy_only=False), dtype=np.float64)
    with np.errstate(all="ignore"):
        mean = float(np.mean(values))
        std = float(np.std(values, ddof=1)) if len(values) > 1 else None
        quantiles = np.quantile(values, QUANTILES)
    finite = values[np.isfinite(values)]
    histogram = None
    if len(finite):
        try:
            counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
        except ValueError:
            # A range too narrow for 20 distinct float edges (huge, nearly equal values).
            counts = np.array([len(finite)])
            edges = np.array([finite.min(), finite.max()])
        histogram = {
            "edges": [_number(e) for e in edges.tolist()],
            "counts": [int(c) for c in counts.tolist()],
        }
    return {
        "min": _number(bounds["min"].as_py()),
        "max": _number(bounds["max"].as_py()),
        "mean": _number(mean),
        "std": _number(std),
        "quantiles": {
            _quantile_key(q): _number(float(x)) for q, x in zip(QUANTILES, quantiles, strict=True)
        },
        "histogram": histogram,
    }


def _quantile_key(q: float) -> str:
    """``0.0`` -> "0", ``0.05`` -> "0.05", ``1.0`` -> "1"."""
    return f"{q:g}"


def _categorical_stats(array: Any) -> dict[str, Any]:
    import numpy as np
    import pyarrow.compute as pc

    counted = pc.value_counts(array.drop_null())
    values = counted.field("values")
    counts = counted.field("counts").to_numpy(zero_copy_only=False)
    distinct = len(counts)
    if distinct > TOP_CATEGORIES:
        threshold = np.partition(counts, distinct - TOP_CATEGORIES)[distinct - TOP_CATEGORIES]
        above = np.flatnonzero(counts > threshold)
        tied = np.flatnonzero(counts == threshold)
        need = TOP_CATEGORIES - len(above)
        if len(tied) > need:
            # Ties at the cut are broken by value: the smallest values win.
            tied_values = values.take(tied)
            order = pc.bottom_k_unstable(tied_values, k=need)
            tied = tied[order.to_numpy(zero_copy_only=False)]
        keep = np.concatenate([above, tied])
    else:
        keep = np.arange(distinct)
    pairs = list(zip(values.take(keep).to_pylist(), counts[keep].tolist(), strict=True))
    pairs.sort(key=lambda p: (-p[1], p[0]))
    top = [{"value": _category(value), "count": int(count)} for value, count in pairs]
    return {"distinct": distinct, "top": top}


def _category(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_CATEGORY_CHARS:
        return value[:MAX_CATEGORY_CHARS]
    return value


def _temporal_stats(array: Any) -> dict[str, Any]:
    import pyarrow.compute as pc

    if array.null_count == len(array):
        return {"min": None, "max": None}
    bounds = pc.min_max(array)
    return {"min": _iso(bounds["min"]), "max": _iso(bounds["max"])}


def _iso(scalar: Any) -> str | None:
    pa = _arrow()
    if not scalar.is_valid:
        return None
    if pa.types.is_timestamp(scalar.type):
        ns = scalar.cast(pa.int64()).as_py()
        seconds, rest = divmod(ns, 1_000_000_000)
        moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:09d}Z"
    if pa.types.is_duration(scalar.type):
        return f"{scalar.cast(pa.int64()).as_py()}ns"
    value = scalar.as_py()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# -- a logged version ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedDataset:
    """A dataset ready to log: canonical table, digest, schema and profile (JSON)."""

    table: pa.Table
    digest: str
    source: Source
    schema: str
    profile: str


def prepare(data: object) -> PreparedDataset:
    """Read ``data``, bring it to canonical form, and compute digest, schema and profile."""
    raw, source = read_data(data)
    table = _canonical(raw)
    return PreparedDataset(
        table=table,
        digest=dataset_digest(table),
        source=source,
        schema=schema_json(dataset_schema(table)),
        profile=profile_json(profile_table(table)),
    )


def blob_key(digest: str) -> str:
    """The artifact-store key of a version's Parquet file."""
    return f"{BLOB_PREFIX}/{check_digest(digest)}.parquet"


def validate_dataset_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument("A dataset needs a non-empty name")
    if len(name) > v.MAX_DATASET_NAME_LENGTH:
        raise InvalidArgument(
            f"Dataset name is {len(name)} characters long; the limit is {v.MAX_DATASET_NAME_LENGTH}"
        )
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedDataset:
    """What :meth:`DatasetService.log` did: the version, and whether bytes were uploaded."""

    name: str
    digest: str
    rows: int
    context: str
    run_id: str
    uploaded: bool


class DatasetService:
    """Log, list and load dataset versions.

    The data of a version is stored once, as Parquet, at
    ``datasets/<digest>.parquet`` in the artifact store (shared by every name
    that has these contents); its metadata is a run input (name, digest,
    source, schema, profile) with the tag ``mlflow.data.context``.
    """

    def __init__(
        self, tracking: TrackingService, artifacts: ArtifactService, store: DatasetStore
    ) -> None:
        self._tracking = tracking
        self._artifacts = artifacts
        self._store = store

    @property
    def store(self) -> DatasetStore:
        return self._store

    def log(
        self, data: object, name: str, *, run_id: str, context: str | None = DEFAULT_CONTEXT
    ) -> LoggedDataset:
        """Record ``data`` as dataset ``name``, an input of run ``run_id``.

        The bytes are uploaded only when the artifact store does not hold this
        digest yet; logging the same data again only links the run to it.
        """
        validate_dataset_name(name)
        if context is not None:
            v.validate_tag_value(context)
        self._tracking.get_run(run_id)  # fail before the work if the run is missing
        raw, source = read_data(data)
        table = _canonical(raw)
        digest = dataset_digest(table)
        uploaded = self._store_blob(table, digest)
        try:
            # A known version keeps its first schema and profile: no need to compute them.
            known = self._store.get_dataset_version(name, digest).dataset
            schema, profile = known.schema, known.profile
        except NotFound:
            schema = schema_json(dataset_schema(table))
            profile = profile_json(profile_table(table))
        tags = {TAG_DATASET_CONTEXT: context} if context else {}
        dataset = Dataset(
            name=name,
            digest=digest,
            source_type=source.source_type,
            source=source.source,
            schema=schema,
            profile=profile,
        )
        self._tracking.log_inputs(run_id, datasets=[DatasetInput(dataset=dataset, tags=tags)])
        return LoggedDataset(
            name=name,
            digest=digest,
            rows=table.num_rows,
            context=context or "",
            run_id=run_id,
            uploaded=uploaded,
        )

    def link(self, version: DatasetVersion, *, run_id: str, context: str | None) -> None:
        """Record an existing version as an input of ``run_id`` (e.g. after loading it)."""
        tags = {TAG_DATASET_CONTEXT: context} if context else {}
        self._tracking.log_inputs(
            run_id, datasets=[DatasetInput(dataset=version.dataset, tags=tags)]
        )

    def _store_blob(self, table: pa.Table, digest: str) -> bool:
        key = blob_key(digest)
        if self._artifacts.size(key) is not None:
            return False
        pq = _parquet()
        with tempfile.TemporaryDirectory(prefix="moorline-dataset-") as folder:
            path = Path(folder) / "data.parquet"
            pq.write_table(table, path, compression="zstd")
            with path.open("rb") as fh:
                self._artifacts.put(key, _file_chunks(fh))
        return True

    def get_version(self, name: str, digest: str | None = None) -> DatasetVersion:
        """Version ``digest`` of ``name``, or its latest version (the newest registered)."""
        validate_dataset_name(name)
        if digest is not None:
            if not isinstance(digest, str) or not digest or len(digest) > 64:
                raise InvalidArgument(f"Invalid dataset digest {digest!r}")
            return self._store.get_dataset_version(name, digest)
        page = self._store.list_dataset_versions(name, max_results=1, page_token=None)
        if not page.items:
            raise NotFound(f"No dataset named {name!r} has been logged")
        return page.items[0]

    def list_versions(
        self, name: str, *, max_results: int | None = None, page_token: str | None = None
    ) -> Page[DatasetVersion]:
        """Versions of ``name``, newest first."""
        validate_dataset_name(name)
        return self._store.list_dataset_versions(
            name,
            max_results=check_max_results(max_results, default=LIST_DEFAULT, limit=LIST_LIMIT),
            page_token=page_token,
        )

    def list_datasets(
        self, *, max_results: int | None = None, page_token: str | None = None
    ) -> Page[DatasetSummary]:
        """Every dataset name with its number of versions, by name."""
        return self._store.list_datasets(
            max_results=check_max_results(max_results, default=LIST_DEFAULT, limit=LIST_LIMIT),
            page_token=page_token,
        )

    def load(self, version: DatasetVersion) -> pa.Table:
        """The data of ``version``, checked against its digest (a mismatch refuses to load)."""
        pq = _parquet()
        digest = version.dataset.digest
        key = blob_key(digest)
        with tempfile.TemporaryDirectory(prefix="moorline-dataset-") as folder:
            path = Path(folder) / "data.parquet"
            try:
                chunks = self._artifacts.open(key)
            except NotFound as exc:
                raise NotFound(
                    f"Dataset {version.dataset.name!r} version {digest} has no stored data "
                    f"(no {key} in the artifact store): it was logged by another client"
                ) from exc
            with path.open("wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            table = pq.read_table(path)
        found = dataset_digest(_canonical(table))
        if found != digest:
            raise StorageError(
                f"The stored data of dataset {version.dataset.name!r} does not match its digest "
                f"(expected {digest}, found {found}): {key} was modified; refusing to load it"
            )
        return table


def _file_chunks(fh: Any) -> Iterator[bytes]:
    while chunk := fh.read(CHUNK_SIZE):
        yield chunk


__all__ = [
    "DATASET_FORMAT",
    "PROFILE_FORMAT",
    "SCHEMA_FORMAT",
    "ColumnSchema",
    "DatasetService",
    "LoggedDataset",
    "PreparedDataset",
    "Source",
    "blob_key",
    "canonical_table",
    "canonical_type",
    "check_digest",
    "dataset_digest",
    "dataset_schema",
    "parse_schema",
    "prepare",
    "profile_json",
    "profile_table",
    "read_data",
    "schema_json",
]
