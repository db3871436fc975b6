"""Reference profiles: the reference side of every drift test, computed once and stored.

A monitor compares many current windows against one reference (usually the
training data). :class:`ReferenceProfile` holds, per column, the cleaned
reference values in the form the tests need, so each window pays only for
its own data, and the profile can be stored as bytes next to the dataset
version it came from. A drift check run with a profile gives results *equal*
to one run with the raw reference frame: the raw path builds the same profile
in memory first, so there is one code path, not two that might disagree.

What a column keeps
-------------------

The current window decides a column's type (spec §2), so the profile keeps
what any type could need, in the smallest exact form:

- **numeric storage** (integer, float and boolean dtypes): the finite values,
  sorted, in their own dtype (``int64``, ``uint64``, ``float64``, ``bool``),
  run-length encoded (distinct values + ``counts``) when that is at most half
  the size, and then with ``codes``: the index of every value's distinct
  value, in row order. This serves a numerical test (sorted ``float64``
  values) and a categorical one (distinct values as keys, with counts and row
  order), which matters for integers with few distinct values: categorical if
  the current window has at most 10 distinct values, numerical otherwise.
- **keys storage** (strings, ``category``, object): the distinct values
  (``keys``, sorted by their string form) with ``counts`` and ``codes``: the
  key index of every non-null value in row order. The codes rebuild the texts
  a text test needs (their order matters to its train/test split) and the row
  order ``TVD`` needs to reproduce Evidently's p-value exactly
  (``ReferenceColumn.row_codes``).

``keep_texts=False`` drops the codes: a smaller profile that cannot serve a
column the current window types as text, and whose ``TVD`` p-values are an
equally valid permutation test with a different random draw.
- **no storage** (datetimes, lists, values of mixed types): the counts only;
  such a column cannot be drift-tested against this profile.

Every column also keeps its pandas ``dtype`` and its type inferred on the
reference (for information: the current window's type is the one tested),
``n`` (values left after cleaning: null, NaN and ±inf dropped) and
``null_count`` (values dropped).

The bytes (format ``moorline.reference-profile/1``)
----------------------------------------------------

One Arrow IPC stream (zstd-compressed where PyArrow has zstd) holding one
record batch of one row. Its schema metadata key ``moorline`` holds a JSON
header: ``{"format", "created_by", "rows", "columns": [{"name", "dtype",
"type", "n", "null_count", "n_distinct", "storage", "reason", "arrays"}]}``.
Column ``i``'s arrays are the fields ``"{i}.values"``, ``"{i}.counts"``,
``"{i}.keys"``, ``"{i}.codes"`` (those listed in its ``arrays``), each a
``large_list`` holding the whole array in its one row. No pickle: loading
parses JSON and Arrow only, and checks every invariant (sorted finite values,
counts summing to ``n``, codes in range) before it trusts the arrays.

>>> import pandas as pd
>>> frame = pd.DataFrame({"age": [31, 45, 27, 45], "plan": ["a", "b", "a", None]})
>>> profile = ReferenceProfile.from_frame(frame)
>>> profile.column("plan").n, profile.column("plan").null_count
(3, 1)
>>> again = ReferenceProfile.from_bytes(profile.to_bytes())
>>> again.reference_column("age", ColumnKind.NUMERICAL).sorted_values.tolist()
[27.0, 31.0, 45.0, 45.0]
>>> again.reference_column("age", ColumnKind.CATEGORICAL).keys
(27, 31, 45)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt

from moorline.errors import InvalidArgument
from moorline.monitoring._frames import (
    ArrowColumn,
    Frame,
    drop_infinite,
    from_numpy,
    from_strings,
    non_null,
    release_arrow_memory,
    to_numpy,
)
from moorline.monitoring.base import ColumnKind, ReferenceColumn
from moorline.monitoring.types import ColumnType, infer_column_type, text_or_categorical

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

PROFILE_FORMAT: Final = "moorline.reference-profile/1"
_FORMAT_PREFIX: Final = "moorline.reference-profile/"
_METADATA_KEY: Final = b"moorline"

Storage = Literal["numeric", "keys", "none"]
_ARRAY_LABELS: Final = {
    "numeric": ({"values"}, {"counts", "codes"}),  # (required, optional)
    "keys": ({"keys", "counts"}, {"codes"}),
    "none": (set(), set()),
}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ProfileColumn:
    """The stored reference side of one column; see the module docstring.

    :meth:`reference` turns it into the :class:`ReferenceColumn` a test of a
    given kind receives (built once per kind, then reused).
    """

    name: str
    #: the pandas dtype of the reference column, e.g. ``"int64"``, ``"str"``, ``"category"``
    dtype: str
    #: the type inferred on the reference (§2); the current window's type is the one tested
    type: ColumnType
    n: int
    null_count: int
    n_distinct: int
    storage: Storage
    #: numeric storage: sorted values, or the distinct values when ``counts`` is set
    values: npt.NDArray[Any] | None = None
    #: numeric storage: run-length counts (or None); keys storage: count of each key
    counts: npt.NDArray[np.int64] | None = None
    #: keys storage: distinct values, sorted by their string form
    keys: tuple[Any, ...] = ()
    #: the index of every value in ``keys`` (keys storage) or in the distinct
    #: ``values`` (run-length numeric storage), in row order
    codes: npt.NDArray[np.int32] | None = None
    #: why a column has no storage (e.g. "datetime values")
    reason: str = ""
    _views: dict[ColumnKind, ReferenceColumn] = field(init=False, default_factory=dict, repr=False)

    def reference(self, kind: ColumnKind) -> ReferenceColumn:
        """The reference side for a test of ``kind``.

        Raises :class:`InvalidArgument` when the stored values cannot serve that
        kind (text for a text test, numbers for a numerical one).
        """
        view = self._views.get(kind)
        if view is None:
            view = self._build(kind)
            self._views[kind] = view
        return view

    def _build(self, kind: ColumnKind) -> ReferenceColumn:
        if self.storage == "none":
            raise InvalidArgument(
                f"Column {self.name!r} cannot be tested as {_KIND_NAMES[kind]}: its reference "
                f"holds {self.reason} (dtype {self.dtype})"
            )
        if kind == ColumnKind.NUMERICAL:
            if self.storage != "numeric" or self.values is None:
                raise InvalidArgument(
                    f"Column {self.name!r} is numerical in the current data but its reference "
                    f"values are not numbers (dtype {self.dtype})"
                )
            values = self.values.astype(np.float64, copy=False)
            if self.counts is not None:
                values = np.repeat(values, self.counts)
            return self._column(kind, sorted_values=_frozen(values))
        if kind == ColumnKind.CATEGORICAL:
            keys, counts, row_codes = self._keys_counts_and_rows()
            return self._column(kind, keys=keys, counts=counts, row_codes=row_codes)
        if self.storage != "keys" or not _all_str(self.keys):
            raise InvalidArgument(
                f"Column {self.name!r} is text in the current data but its reference "
                f"values are not strings (dtype {self.dtype})"
            )
        if self.codes is None:
            raise InvalidArgument(
                f"Column {self.name!r} is text in the current data but its reference "
                "profile was built with keep_texts=False"
            )
        texts = np.asarray(self.keys, dtype=object)[self.codes]
        return self._column(kind, texts=tuple(texts.tolist()))

    def _column(self, kind: ColumnKind, **data: Any) -> ReferenceColumn:
        return ReferenceColumn(
            name=self.name, kind=kind, n=self.n, null_count=self.null_count, **data
        )

    def _keys_counts_and_rows(
        self,
    ) -> tuple[tuple[Any, ...], npt.NDArray[np.int64], npt.NDArray[np.intp] | None]:
        """Keys sorted by string form, their counts, and each row's key index."""
        if self.storage == "keys":
            assert self.counts is not None
            rows = None if self.codes is None else _frozen(self.codes.astype(np.intp))
            return self.keys, self.counts, rows
        assert self.values is not None
        if self.counts is not None:
            distinct, counts = self.values, self.counts
        else:
            distinct, counts = _run_lengths(self.values)
        keys = distinct.tolist()
        order = np.asarray(sorted(range(len(keys)), key=lambda i: str(keys[i])), dtype=np.intp)
        rows = None
        if self.codes is not None:
            rank = np.empty(len(keys), dtype=np.intp)
            rank[order] = np.arange(len(keys))
            rows = _frozen(rank[self.codes])
        return tuple(keys[i] for i in order), _frozen(counts[order]), rows

    def arrays(self) -> Iterator[tuple[str, pa.Array]]:
        """(label, Arrow array) of what this column stores, for ``ReferenceProfile.to_bytes``."""
        import pyarrow as pa

        if self.values is not None:
            yield "values", from_numpy(self.values)
        if self.keys or self.storage == "keys":
            keys = list(self.keys)
            yield "keys", from_strings(keys) if _all_str(keys) else pa.array(keys)
        if self.counts is not None:
            yield "counts", from_numpy(self.counts.astype(np.int64, copy=False))
        if self.codes is not None:
            yield "codes", from_numpy(self.codes.astype(np.int32, copy=False))


_KIND_NAMES: Final = {
    ColumnKind.NUMERICAL: "numerical",
    ColumnKind.CATEGORICAL: "categorical",
    ColumnKind.TEXT: "text",
}


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ReferenceProfile:
    """A stored reference: row count and one :class:`ProfileColumn` per column, in order."""

    rows: int
    columns: Mapping[str, ProfileColumn]

    @classmethod
    def from_frame(
        cls, data: Any, *, columns: Sequence[str] | None = None, keep_texts: bool = True
    ) -> ReferenceProfile:
        """Profile a pandas DataFrame or PyArrow Table (every column, or ``columns``).

        ``keep_texts=False`` stores no row order (see the module docstring):
        smaller, but no text test, and ``TVD`` draws differently.
        """
        frame = data if isinstance(data, Frame) else Frame(data, role="reference")
        if columns is None:
            names: Sequence[str] = frame.names
        else:
            missing = [c for c in columns if c not in frame]
            if missing:
                raise InvalidArgument(
                    f"Cannot profile columns {', '.join(map(repr, missing))}: "
                    "not in the reference data"
                )
            names = list(dict.fromkeys(columns))
        # One column at a time: a lazy frame (a Parquet file) reads each column
        # here and lets it go once its profile is built.
        profiled = {}
        for name in names:
            profiled[name] = build_column(name, frame.column(name), keep_texts=keep_texts)
            release_arrow_memory()
        return cls(rows=frame.rows, columns=profiled)

    def column(self, name: str) -> ProfileColumn:
        """The stored column ``name``; :class:`InvalidArgument` when the profile lacks it."""
        try:
            return self.columns[name]
        except KeyError:
            raise InvalidArgument(f"Column {name!r} is not in the reference profile") from None

    def reference_column(self, name: str, kind: ColumnKind) -> ReferenceColumn:
        """The reference side of column ``name`` for a test of ``kind``."""
        return self.column(name).reference(kind)

    # -- bytes -------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The profile in format ``moorline.reference-profile/1`` (see the module docstring)."""
        import pyarrow as pa

        fields: list[pa.Field] = []
        arrays: list[pa.Array] = []
        entries: list[dict[str, Any]] = []
        for i, col in enumerate(self.columns.values()):
            labels: list[str] = []
            for label, array in col.arrays():
                offsets = from_numpy(np.array([0, len(array)], dtype=np.int64))
                arrays.append(pa.LargeListArray.from_arrays(offsets, array))
                fields.append(pa.field(f"{i}.{label}", arrays[-1].type))
                labels.append(label)
            entries.append(
                {
                    "name": col.name,
                    "dtype": col.dtype,
                    "type": col.type.value,
                    "n": col.n,
                    "null_count": col.null_count,
                    "n_distinct": col.n_distinct,
                    "storage": col.storage,
                    "reason": col.reason,
                    "arrays": labels,
                }
            )
        header = {
            "format": PROFILE_FORMAT,
            "created_by": f"moorline {_version()}",
            "rows": self.rows,
            "columns": entries,
        }
        schema = pa.schema(fields, metadata={_METADATA_KEY: json.dumps(header).encode()})
        batch = pa.record_batch(arrays, schema=schema) if arrays else None
        codec = next((c for c in ("zstd", "lz4") if pa.Codec.is_available(c)), None)
        sink = pa.BufferOutputStream()
        options = pa.ipc.IpcWriteOptions(compression=codec)
        with pa.ipc.new_stream(sink, schema, options=options) as writer:
            if batch is not None:
                writer.write_batch(batch)
        return bytes(sink.getvalue().to_pybytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """Read :meth:`to_bytes` output back, checking it before trusting it.

        Raises :class:`InvalidArgument` on anything that is not a well-formed
        profile of a format this version reads.
        """
        import pyarrow as pa

        try:
            # The system allocator, not the default pool (mimalloc): the decoded
            # arrays live as long as the profile, and mimalloc would keep the
            # decompression's scratch besides them (12 MiB for a 100,000-row profile).
            stream = pa.ipc.open_stream(pa.py_buffer(data), memory_pool=pa.system_memory_pool())
            table = stream.read_all()
            table.validate(full=True)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InvalidArgument(f"Not a moorline reference profile: {exc}") from None
        metadata = table.schema.metadata or {}
        raw = metadata.get(_METADATA_KEY)
        if raw is None:
            raise InvalidArgument("Not a moorline reference profile: no 'moorline' header")
        try:
            header = json.loads(raw)
        except ValueError as exc:
            raise InvalidArgument(f"Reference profile header is not JSON: {exc}") from None
        fmt = _field(header, "format", str, "profile")
        if fmt != PROFILE_FORMAT:
            hint = (
                " (written by a newer moorline)"
                if fmt.startswith(_FORMAT_PREFIX) and fmt > PROFILE_FORMAT
                else ""
            )
            raise InvalidArgument(
                f"Reference profile format {fmt!r} is not supported{hint}: "
                f"this version reads {PROFILE_FORMAT!r}"
            )
        if table.num_columns and table.num_rows != 1:
            raise InvalidArgument(f"Reference profile has {table.num_rows} rows, expected 1")
        rows = _count(header, "rows", "profile")
        entries = _field(header, "columns", list, "profile")
        columns: dict[str, ProfileColumn] = {}
        used: set[str] = set()
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise InvalidArgument(f"Reference profile column #{i} is not an object")
            col = _read_column(i, entry, table, used)
            if col.name in columns:
                raise InvalidArgument(f"Reference profile repeats column {col.name!r}")
            if col.n + col.null_count != rows:
                raise InvalidArgument(
                    f"Reference profile column {col.name!r}: n + null_count = "
                    f"{col.n + col.null_count}, but the profile has {rows} rows"
                )
            columns[col.name] = col
        extra = set(table.column_names) - used
        if extra:
            raise InvalidArgument(
                f"Reference profile has arrays no column lists: {', '.join(sorted(extra))}"
            )
        return cls(rows=rows, columns=columns)


# -- building a column ------------------------------------------------------------------


def build_column(
    name: str, series: pd.Series | ArrowColumn, *, keep_texts: bool = True
) -> ProfileColumn:
    """Profile one reference column (a pandas Series or an Arrow column with a plain
    pandas dtype, which gives the same profile); see the module docstring."""
    if isinstance(series, ArrowColumn):
        return _build_arrow(name, series, keep_texts=keep_texts)
    import pandas as pd
    from pandas.api import types as pdt

    rows = len(series)
    dtype = series.dtype
    common = {"name": name, "dtype": str(dtype)}
    if pdt.is_bool_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        values = non_null(series).to_numpy(dtype=np.bool_)
        return _numeric(common, rows, values, ColumnType.CATEGORICAL, keep_texts=keep_texts)
    if pdt.is_integer_dtype(dtype):
        integers = _integers(np.asarray(non_null(series).to_numpy()))
        return _numeric(common, rows, integers, None, keep_texts=keep_texts)
    if pdt.is_float_dtype(dtype):
        floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return _numeric(common, rows, _finite(floats), ColumnType.NUMERICAL, keep_texts=keep_texts)
    if pdt.is_datetime64_any_dtype(dtype):
        return _none(common, rows, int(series.count()), ColumnType.DATETIME, "datetime values")
    if isinstance(dtype, pd.CategoricalDtype | pd.StringDtype) or pdt.is_object_dtype(dtype):
        return _keyed(common, rows, series, keep_texts=keep_texts)
    reason = f"values of dtype {dtype}"
    return _none(common, rows, int(series.count()), ColumnType.UNKNOWN, reason)


def _build_arrow(name: str, column: ArrowColumn, *, keep_texts: bool) -> ProfileColumn:
    """:func:`build_column` on Arrow data: the same steps on the same values, without pandas."""
    rows = column.rows
    common = {"name": name, "dtype": column.dtype}
    group = column.group
    if group == "bool":
        values = column.numbers()
        return _numeric(common, rows, values, ColumnType.CATEGORICAL, keep_texts=keep_texts)
    if group == "int":
        return _numeric(common, rows, _integers(column.numbers()), None, keep_texts=keep_texts)
    if group == "float":
        finite = _finite(column.floats())
        return _numeric(common, rows, finite, ColumnType.NUMERICAL, keep_texts=keep_texts)
    if group == "datetime":
        return _none(common, rows, column.count, ColumnType.DATETIME, "datetime values")
    codes, keys = column.encoded()
    type_ = (
        text_or_categorical(len(keys), len(codes)) if group == "string" else ColumnType.CATEGORICAL
    )
    return _from_codes(common, rows, codes, keys, type_, keep_texts=keep_texts)


def _finite(floats: npt.NDArray[Any]) -> npt.NDArray[Any]:
    finite = np.isfinite(floats)
    return floats if finite.all() else floats[finite]


def _integers(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Integers as int64, or uint64 when they do not fit (exact either way)."""
    if values.dtype.kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
        return values.astype(np.uint64)
    return values.astype(np.int64, copy=False)


def _numeric(
    common: dict[str, Any],
    rows: int,
    values: npt.NDArray[Any],
    type_: ColumnType | None,
    *,
    keep_texts: bool,
) -> ProfileColumn:
    ordered = np.sort(values)
    n = int(ordered.size)
    distinct, counts = _run_lengths(ordered)
    n_distinct = int(distinct.size)
    if type_ is None:  # integers: the §2 rule, on the distinct count already at hand
        type_ = ColumnType.CATEGORICAL if n_distinct <= 10 else ColumnType.NUMERICAL
    run_length = n > 0 and 2 * n_distinct <= n
    codes = None
    if run_length and keep_texts:
        codes = _frozen(np.searchsorted(distinct, values).astype(np.int32))
    return ProfileColumn(
        **common,
        type=type_,
        n=n,
        null_count=rows - n,
        n_distinct=n_distinct,
        storage="numeric",
        values=_frozen(distinct if run_length else ordered),
        counts=_frozen(counts) if run_length else None,
        codes=codes,
    )


def _keyed(
    common: dict[str, Any], rows: int, series: pd.Series, *, keep_texts: bool
) -> ProfileColumn:
    import pandas as pd

    values = drop_infinite(non_null(series))
    try:
        codes, uniques = pd.factorize(values, sort=False)
    except TypeError:  # unhashable values: lists, dicts
        n = int(series.count())
        return _none(common, rows, n, infer_column_type(series), "unhashable values")
    keys = _normalized_keys(uniques.tolist())
    if keys is None:
        types = sorted({type(k).__name__ for k in uniques.tolist()})
        reason = f"values of mixed types ({', '.join(types)})"
        return _none(common, rows, int(series.count()), infer_column_type(series), reason)
    if isinstance(series.dtype, pd.StringDtype):
        type_ = text_or_categorical(len(keys), len(values))
    else:
        type_ = infer_column_type(series)
    return _from_codes(common, rows, codes, keys, type_, keep_texts=keep_texts)


def _from_codes(
    common: dict[str, Any],
    rows: int,
    codes: npt.NDArray[Any],
    keys: list[Any],
    type_: ColumnType,
    *,
    keep_texts: bool,
) -> ProfileColumn:
    """Keys storage from the non-null values factorized: a key index per value, in row order."""
    n = len(codes)
    order = _order_by_string(keys)
    rank = np.empty(len(keys), dtype=np.intp)
    rank[order] = np.arange(len(keys))
    counts = np.bincount(codes, minlength=len(keys)).astype(np.int64)[order]
    return ProfileColumn(
        **common,
        type=type_,
        n=n,
        null_count=rows - n,
        n_distinct=len(keys),
        storage="keys",
        keys=tuple(keys[i] for i in order),
        counts=_frozen(counts),
        codes=_frozen(rank[codes].astype(np.int32)) if keep_texts else None,
    )


def _none(
    common: dict[str, Any], rows: int, n: int, type_: ColumnType, reason: str
) -> ProfileColumn:
    return ProfileColumn(
        **common,
        type=type_,
        n=n,
        null_count=rows - n,
        n_distinct=0,
        storage="none",
        reason=reason,
    )


def _normalized_keys(keys: list[Any]) -> list[Any] | None:
    """Keys as the Python values a stored profile gives back, or None if not storable.

    Strings, ints, floats and bools (each alone) are kept as they are; anything
    else goes through Arrow, so the raw reference and a loaded profile hold
    the very same keys.
    """
    import pyarrow as pa

    kinds = {type(k) for k in keys}
    if len(kinds) <= 1 and kinds <= {str, int, float, bool}:
        if kinds == {int} and not all(-(2**63) <= k < 2**63 for k in keys):
            return None
        return keys
    try:
        normalized: list[Any] = pa.array(keys).to_pylist()
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return None
    if len(set(normalized)) != len(keys) or any(k is None for k in normalized):
        return None
    return normalized


def _order_by_string(keys: list[Any]) -> npt.NDArray[np.intp]:
    """Indices sorting ``keys`` by their string form (code point order, stable)."""
    if _all_str(keys) and len(keys) > 64:
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            sorted_idx = pc.array_sort_indices(from_strings(keys))
            return to_numpy(sorted_idx).astype(np.intp)
        except (pa.ArrowException, UnicodeEncodeError):  # not valid Unicode: Python sorts
            pass
    return np.asarray(sorted(range(len(keys)), key=lambda i: str(keys[i])), dtype=np.intp)


def _run_lengths(ordered: npt.NDArray[Any]) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """Distinct values of a sorted array and how often each occurs."""
    if ordered.size == 0:
        return ordered[:0], np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, ordered.size)).astype(np.int64)
    return ordered[starts], counts


def _all_str(keys: Sequence[Any]) -> bool:
    return all(type(k) is str for k in keys)


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if array.flags.writeable and array.base is None:
        array.flags.writeable = False
    elif array.flags.writeable:
        array = array.copy()
        array.flags.writeable = False
    return array


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("moorline")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


# -- reading a column back ----------------------------------------------------------------


def _field(obj: Mapping[str, Any], key: str, kind: type[Any], where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidArgument(
            f"Reference profile {where}: {key!r} must be a {kind.__name__}, got {value!r}"
        )
    return value


def _count(obj: Mapping[str, Any], key: str, where: str) -> int:
    value: int = _field(obj, key, int, where)
    if value < 0:
        raise InvalidArgument(f"Reference profile {where}: {key!r} is negative ({value})")
    return value


def _read_column(
    i: int, entry: Mapping[str, Any], table: pa.Table, used: set[str]
) -> ProfileColumn:
    where = f"column #{i}"
    name = _field(entry, "name", str, where)
    where = f"column {name!r}"
    try:
        type_ = ColumnType(_field(entry, "type", str, where))
    except ValueError:
        raise InvalidArgument(
            f"Reference profile {where}: unknown type {entry['type']!r}"
        ) from None
    storage = _field(entry, "storage", str, where)
    if storage not in _ARRAY_LABELS:
        raise InvalidArgument(f"Reference profile {where}: unknown storage {storage!r}")
    n = _count(entry, "n", where)
    labels = _field(entry, "arrays", list, where)
    required, optional = _ARRAY_LABELS[storage]
    if not required <= set(labels) <= required | optional:
        raise InvalidArgument(
            f"Reference profile {where}: storage {storage!r} cannot have arrays {labels}"
        )
    arrays: dict[str, pa.Array] = {}
    for label in labels:
        key = f"{i}.{label}"
        if key not in table.column_names:
            raise InvalidArgument(f"Reference profile {where}: array {key!r} is missing")
        used.add(key)
        column = table.column(key)
        # One row, one chunk: taken as it is (combining would copy every array).
        array = (column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()).flatten()
        if array.null_count:
            raise InvalidArgument(f"Reference profile {where}: array {key!r} holds nulls")
        arrays[label] = array
    found, distinct = _read_arrays(storage, arrays, n, where)
    n_distinct = _count(entry, "n_distinct", where)
    if n_distinct != distinct:
        raise InvalidArgument(
            f"Reference profile {where}: n_distinct = {n_distinct}, but the arrays hold {distinct}"
        )
    return ProfileColumn(
        name=name,
        dtype=_field(entry, "dtype", str, where),
        type=type_,
        n=n,
        null_count=_count(entry, "null_count", where),
        n_distinct=n_distinct,
        storage=storage,
        reason=_field(entry, "reason", str, where),
        **found,
    )


def _read_arrays(
    storage: str, arrays: Mapping[str, pa.Array], n: int, where: str
) -> tuple[dict[str, Any], int]:
    """The arrays of one column as NumPy/Python values, and its distinct count, checked."""
    import pyarrow as pa

    def bad(what: str) -> InvalidArgument:
        return InvalidArgument(f"Reference profile {where}: {what}")

    counts = None
    if "counts" in arrays:
        if arrays["counts"].type != pa.int64():
            raise bad("counts must be int64")
        counts = to_numpy(arrays["counts"])
        if counts.size and (counts.min() <= 0 or int(counts.sum()) != n):
            raise bad(f"counts must be positive and sum to n = {n}")
        if not counts.size and n:
            raise bad(f"counts are empty but n = {n}")
    if storage == "numeric":
        values_array = arrays["values"]
        if values_array.type not in (pa.int64(), pa.uint64(), pa.float64(), pa.bool_()):
            raise bad(f"numeric values of type {values_array.type} are not supported")
        values = to_numpy(values_array)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise bad("numeric values must be finite")
        steps = values[1:] > values[:-1] if counts is not None else values[1:] >= values[:-1]
        if not steps.all():
            raise bad(
                "numeric values must be sorted" + (" and distinct" if counts is not None else "")
            )
        if (counts is None and values.size != n) or (
            counts is not None and counts.size != values.size
        ):
            raise bad("numeric values and counts do not match n")
        codes = None
        if "codes" in arrays:
            if counts is None:
                raise bad("codes need run-length counts")
            codes = _read_codes(arrays["codes"], counts, n, bad)
        distinct = values.size if counts is not None else _run_lengths(values)[0].size
        stored = None if counts is None else _frozen(counts)
        return {"values": _frozen(values), "counts": stored, "codes": codes}, distinct
    if storage == "keys":
        keys = arrays["keys"].to_pylist()
        assert counts is not None
        if len(keys) != counts.size or len(set(keys)) != len(keys):
            raise bad("keys must be distinct, one per count")
        codes = None
        if "codes" in arrays:
            codes = _read_codes(arrays["codes"], counts, n, bad)
        return {"keys": tuple(keys), "counts": _frozen(counts), "codes": codes}, len(keys)
    return {}, 0


def _read_codes(
    array: pa.Array,
    counts: npt.NDArray[np.int64],
    n: int,
    bad: Callable[[str], InvalidArgument],
) -> npt.NDArray[np.int32]:
    import pyarrow as pa

    if array.type != pa.int32():
        raise bad("codes must be int32")
    codes = to_numpy(array)
    if codes.size != n or (n and (codes.min() < 0 or codes.max() >= counts.size)):
        raise bad("codes must be one index per value, within the distinct values")
    if not np.array_equal(np.bincount(codes, minlength=counts.size), counts):
        raise bad("codes disagree with counts")
    return _frozen(codes)
