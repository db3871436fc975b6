"""One view over the frames drift checks accept, handing out one column at a time.

A :class:`Frame` wraps a pandas DataFrame, a PyArrow Table (or RecordBatch), or
a ``pyarrow.parquet.ParquetFile``. The Parquet file is read lazily: one column
when a check asks for it, released once the check is done with it, so a check
never holds more than a column or two of the data next to the reference
profile.

A column comes out as :meth:`Frame.column`: a pandas Series for pandas input,
and for Arrow input an :class:`ArrowColumn` whenever its pandas conversion
(``Table.to_pandas()``, which fixes how a column is typed, see :mod:`.types`)
would give a plain dtype: floats, integers, booleans without nulls, strings,
dictionaries of strings and timezone-naive timestamps. Those are typed,
profiled and cleaned straight from Arrow and NumPy, with results equal to the
pandas path (tested column by column), and without importing pandas. Any
other Arrow column is converted to pandas, as before, with the table's pandas
metadata when it has some (a table made from a DataFrame, a Parquet file
written by pandas), so ``Int64`` comes back as ``Int64``; the pandas index
columns it records are not data columns.

Libraries are looked up in ``sys.modules`` before they are imported: data
cannot be a DataFrame if pandas was never imported, so a check on Arrow data
does not pay for importing pandas.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from moorline.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd
    import pyarrow as pa

#: How an :class:`ArrowColumn` is handled: by the pandas dtype it would convert to.
Group = Literal["float", "int", "bool", "string", "category", "datetime"]

_FLOAT_TYPES: Final = ("halffloat", "float", "double")
_FLOAT_NAMES: Final = {"halffloat": "float16", "float": "float32", "double": "float64"}
_STRING_TYPES: Final = ("string", "large_string")


class UnreadableColumn(InvalidArgument):
    """A column the data could not be read for (a damaged file): it stops the whole
    check, whatever the preset, rather than passing for a column that cannot be tested."""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ArrowColumn:
    """An Arrow column whose pandas conversion has a plain dtype, handled without pandas.

    ``dtype`` is ``str()`` of the dtype ``to_pandas()`` would give (``"float64"``,
    ``"int8"``, ``"bool"``, ``"str"``, ``"category"``, ``"datetime64[us]"``); an
    integer column with nulls converts to ``float64`` and belongs to ``"float"``.
    """

    name: str
    array: pa.ChunkedArray
    dtype: str
    group: Group
    #: :meth:`encoded`, once computed: typing a string column and testing it share it
    _encoded: list[tuple[npt.NDArray[Any], list[Any]]] = field(default_factory=list, repr=False)

    @property
    def rows(self) -> int:
        return len(self.array)

    @property
    def count(self) -> int:
        """Non-null values."""
        return int(len(self.array) - self.array.null_count)

    def numbers(self) -> npt.NDArray[Any]:
        """Groups float, int, bool: the values as NumPy, nulls as NaN (float group only)."""
        import numpy as np

        chunks = [to_numpy(chunk) for chunk in self.array.chunks]
        if not chunks:
            return np.empty(0, dtype=np.float64 if self.group == "float" else self.dtype)
        values = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        return values

    def floats(self) -> npt.NDArray[Any]:
        """The values as float64 with NaN for nulls (``to_numpy(float64, na_value=nan)``)."""
        import numpy as np

        return np.asarray(self.numbers(), dtype=np.float64)

    def encoded(self) -> tuple[npt.NDArray[Any], list[Any]]:
        """Groups string, category: the non-null values as ``(codes, keys)``.

        ``keys`` are the distinct values (Python ``str``) in order of first
        appearance and ``codes`` the index of every non-null value's key, in
        row order, as ``pandas.factorize`` gives them.
        """
        if self._encoded:
            return self._encoded[0]
        import pyarrow as pa
        import pyarrow.compute as pc

        array = self.array
        if pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        present = pc.drop_null(array)
        combined = present.combine_chunks() if present.num_chunks != 1 else present.chunk(0)
        encoded = pc.dictionary_encode(combined)
        self._encoded.append((to_numpy(encoded.indices), encoded.dictionary.to_pylist()))
        return self._encoded[0]

    def objects(self) -> npt.NDArray[Any]:
        """Groups string, category: the non-null values as an object array of ``str``.

        Rows with the same value share one ``str`` object, so the array costs a
        pointer per row, not a string per row.
        """
        import numpy as np

        codes, keys = self.encoded()
        table = np.empty(len(keys), dtype=object)
        table[:] = keys
        values: npt.NDArray[Any] = table[codes]
        return values

    def distinct(self) -> int:
        """Distinct non-null values."""
        if self.group in ("string", "category"):
            return len(self.encoded()[1])  # kept for the test that follows
        import pyarrow.compute as pc

        return int(pc.count_distinct(self.array, mode="only_valid").as_py())


def to_numpy(chunk: pa.Array) -> npt.NDArray[Any]:
    """An Arrow array of numbers as NumPy (a view where the layouts agree), nulls as NaN.

    Not ``Array.to_numpy()``: pyarrow's conversion layer imports pandas on
    first use. Integers with nulls become float64 (each value cast as pandas
    casts it); booleans come without nulls (a boolean column with nulls is not
    plain).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(chunk.type):
        view: npt.NDArray[Any] = np.from_dlpack(pc.cast(chunk, pa.uint8())).view(np.bool_)
        return view
    if not chunk.null_count:
        return np.from_dlpack(chunk)
    if pa.types.is_integer(chunk.type):
        chunk = pc.cast(chunk, pa.float64(), safe=False)
    dtype = np.dtype(_FLOAT_NAMES[str(chunk.type)])
    data = np.frombuffer(
        chunk.buffers()[1], dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize
    )
    values = data.copy()
    values[np.from_dlpack(pc.cast(pc.is_null(chunk), pa.uint8())).view(np.bool_)] = np.nan
    return values


def from_numpy(values: npt.NDArray[Any]) -> pa.Array:
    """A 1-D NumPy array of numbers or booleans as an Arrow array (numbers: no copy).

    Not ``pyarrow.array()``, which imports pandas on first use.
    """
    import numpy as np
    import pyarrow as pa

    if values.dtype == np.bool_:
        bits = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, bits])
    data = pa.py_buffer(np.ascontiguousarray(values))
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, data])


def from_strings(values: list[str]) -> pa.Array:
    """Python strings as an Arrow ``large_string`` array, without ``pyarrow.array()``.

    Raises ``UnicodeEncodeError`` for a string that is not valid Unicode (a lone
    surrogate), which Arrow cannot hold either.
    """
    import numpy as np
    import pyarrow as pa

    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.large_string(), len(encoded), buffers)


class Frame:
    """Column names (as strings, in order), row count, and columns on demand."""

    __slots__ = (
        "_data",
        "_kind",
        "_labels",
        "_pandas_columns",
        "_pandas_metadata",
        "_schema",
        "names",
        "role",
        "rows",
    )

    def __init__(self, data: Any, *, role: str) -> None:
        self.role = role
        arrow = sys.modules.get("pyarrow")
        parquet = sys.modules.get("pyarrow.parquet")
        pandas = sys.modules.get("pandas")
        self._pandas_metadata: dict[str, Any] | None = None
        self._pandas_columns: dict[str, dict[str, Any]] = {}
        self._schema: pa.Schema | None = None
        labels: list[Any]
        if arrow is not None and isinstance(data, arrow.RecordBatch):
            data = arrow.Table.from_batches([data])
        if arrow is not None and isinstance(data, arrow.Table):
            self._kind = "table"
            labels = self._arrow_labels(data.schema)
            self.rows: int = data.num_rows
        elif parquet is not None and isinstance(data, parquet.ParquetFile):
            self._kind = "parquet"
            labels = self._arrow_labels(data.schema_arrow)
            self.rows = data.metadata.num_rows
        elif pandas is not None and isinstance(data, pandas.DataFrame):
            self._kind = "pandas"
            labels = list(data.columns)
            self.rows = len(data)
        else:
            raise InvalidArgument(
                f"The {role} data is a {type(data).__name__}: give a pandas DataFrame, a "
                "pyarrow Table or a pyarrow.parquet.ParquetFile"
                + (" (or a ReferenceProfile)" if role == "reference" else "")
            )
        self._data = data
        names = [str(label) for label in labels]
        if len(set(names)) != len(names):
            dupes = sorted(n for n, k in Counter(names).items() if k > 1)
            raise InvalidArgument(
                f"The {role} data has duplicate column names: {', '.join(map(repr, dupes))}"
            )
        self.names: tuple[str, ...] = tuple(names)
        self._labels = dict(zip(names, labels, strict=True))

    def _arrow_labels(self, schema: pa.Schema) -> list[Any]:
        self._schema = schema
        metadata = schema.pandas_metadata
        if metadata is None:
            return list(schema.names)
        self._pandas_metadata = metadata
        index = {c for c in metadata.get("index_columns", []) if isinstance(c, str)}
        for entry in metadata.get("columns", []):
            field_name = entry.get("field_name")
            if isinstance(field_name, str):
                self._pandas_columns[field_name] = entry
        return [c for c in schema.names if c not in index]

    def __contains__(self, name: object) -> bool:
        return name in self._labels

    @property
    def lazy(self) -> bool:
        """Whether a column is read from storage when asked (a Parquet file)."""
        return self._kind == "parquet"

    def series(self, name: str) -> pd.Series:
        """The column ``name`` as a pandas Series (Arrow columns are converted here)."""
        if self._kind == "pandas":
            return self._data[self._labels[name]]
        return self._to_pandas(self._arrow(name))

    def group(self, name: str) -> Group | None:
        """The :class:`ArrowColumn` group of an Arrow column when its type alone decides
        it (floats, dictionaries of strings, timestamps), read from the schema; else None."""
        if self._kind == "pandas":
            return None
        label = self._labels[name]
        assert self._schema is not None  # read once: a Parquet file converts it on each call
        type_ = self._schema.field(label).type
        found = _classify(type_, None, self.rows, self._pandas_columns.get(label))
        return None if found is None else found[0]

    def column(self, name: str) -> ArrowColumn | pd.Series:
        """The column ``name``: an :class:`ArrowColumn` where Arrow data has a plain
        pandas dtype, else a pandas Series."""
        if self._kind == "pandas":
            return self._data[self._labels[name]]
        table = self._arrow(name)
        column = _plain(name, table.column(0), self._pandas_columns.get(self._labels[name]))
        return column if column is not None else self._to_pandas(table)

    def _arrow(self, name: str) -> pa.Table:
        """One column as a one-column table, with the schema's metadata."""
        label = self._labels[name]
        if self._kind == "table":
            table: pa.Table = self._data.select([label])
            return table
        import pyarrow as pa

        try:
            read: pa.Table = self._data.read(columns=[label], use_threads=False)
        except (pa.ArrowException, OSError) as exc:
            raise UnreadableColumn(
                f"Cannot read column {name!r} of the {self.role} Parquet data: {exc}"
            ) from exc
        return read

    def _to_pandas(self, table: pa.Table) -> pd.Series:
        if self._pandas_metadata is not None:
            return table.to_pandas().iloc[:, 0]
        return table.column(0).to_pandas()


def _plain(name: str, array: pa.ChunkedArray, entry: dict[str, Any] | None) -> ArrowColumn | None:
    """The column as an :class:`ArrowColumn` when its pandas dtype is a plain one."""
    found = _classify(array.type, array.null_count, len(array), entry)
    if found is None:
        return None
    group, dtype = found
    return ArrowColumn(name=name, array=array, dtype=dtype, group=group)


def _classify(
    type_: pa.DataType, nulls: int | None, rows: int, entry: dict[str, Any] | None
) -> tuple[Group, str] | None:
    """``(group, pandas dtype)`` of an Arrow column whose pandas dtype is a plain one.

    ``entry`` is the column's pandas metadata, if any: a column pandas wrote with
    an extension dtype (``Int64``, ``boolean``, ``string``...) converts back to
    it, so only entries naming the plain dtype are taken. ``nulls`` is the null
    count, or None when it is not known yet (only the schema was read): then
    only the types whose group does not depend on it are classified.
    """
    import pyarrow as pa

    if not _pandas_infers_strings():
        return None
    kind = pa.types
    numpy_type = None if entry is None else entry.get("numpy_type")
    found: tuple[Group, str]
    if str(type_) in _FLOAT_TYPES:
        found = ("float", _FLOAT_NAMES[str(type_)])
    elif kind.is_dictionary(type_) and str(type_.value_type) in _STRING_TYPES:
        if entry is not None and entry.get("pandas_type") != "categorical":
            return None
        return ("category", "category")
    elif kind.is_timestamp(type_) and type_.tz is None:
        found = ("datetime", f"datetime64[{type_.unit}]")
    elif nulls is None:
        return None
    elif kind.is_integer(type_):
        found = ("float", "float64") if nulls else ("int", str(type_))
    elif kind.is_boolean(type_) and not nulls:
        found = ("bool", "bool")
    elif str(type_) in _STRING_TYPES and nulls < rows:
        if entry is not None and numpy_type not in ("object", "str"):
            return None
        return ("string", "str")
    else:
        return None
    if entry is not None and numpy_type != found[1]:
        return None
    return found


def _pandas_infers_strings() -> bool:
    """Whether ``to_pandas()`` gives pandas 3's dtypes: ``str`` strings, timestamps in
    their own unit. Earlier pandas (or the option turned off) takes the pandas path."""
    pd = sys.modules.get("pandas")
    if pd is None:  # not imported: its options are the defaults
        return _pandas_major() >= 3
    if int(pd.__version__.split(".")[0]) < 3:
        return False
    with warnings.catch_warnings():  # the option is deprecated in pandas 3, still honoured
        warnings.simplefilter("ignore")
        return bool(pd.get_option("future.infer_string"))


@functools.cache
def _pandas_major() -> int:
    """The installed pandas' major version (read once: the lookup parses metadata files)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return int(version("pandas").split(".")[0])
    except (PackageNotFoundError, ValueError):  # pragma: no cover - pandas is a dependency
        return 0


def non_null(series: pd.Series) -> pd.Series:
    """The series without its nulls (NaN, None, NA, NaT); the same object when it has none."""
    return series.dropna() if series.hasnans else series


def drop_infinite(series: pd.Series) -> pd.Series:
    """The series without ±inf, for dtypes that can hold them beside other values.

    Evidently replaces ±inf with NaN in every column before dropping NaN (spec
    §1), so an infinity in a float category or an object column is dropped too.
    """
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype):
        return series
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories.to_numpy()
        if categories.dtype.kind not in "fO":
            return series
        infinite = categories[_infinite(categories)]
        return series[~series.isin(infinite)] if infinite.size else series
    if dtype.kind not in "fO":
        return series
    values = series.to_numpy()
    mask = _infinite(values)
    return series[~mask] if mask.any() else series


def _infinite(values: Any) -> Any:
    import numpy as np

    return (values == np.inf) | (values == -np.inf)


def release_arrow_memory() -> None:
    """Hand what Arrow's default memory pool freed back to the OS, if PyArrow is loaded.

    The engine reads and converts one column at a time and drops it: without
    this, the default pool (mimalloc) keeps the freed pages of every column
    read from a Parquet file, 13 MiB more peak at 100,000 rows x 20 columns.
    Under a microsecond when there is nothing to give back.
    """
    pyarrow = sys.modules.get("pyarrow")
    if pyarrow is not None:
        pyarrow.default_memory_pool().release_unused()
