"""One view over the frames drift checks accept: a pandas DataFrame or a PyArrow Table.

Columns are handed out one at a time as pandas Series, so a PyArrow table is
converted only for the columns a check uses, each as ``Table.to_pandas()``
would convert it (which fixes how it is typed, see :mod:`.types`): with the
table's pandas metadata when it has some (a table made from a DataFrame, a
Parquet file written by pandas), so ``Int64`` comes back as ``Int64``, and the
pandas index columns it records are not data columns.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from moorline.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd


class Frame:
    """Column names (as strings, in order), row count, and columns on demand."""

    __slots__ = ("_data", "_is_arrow", "_labels", "_pandas_metadata", "names", "rows")

    def __init__(self, data: Any, *, role: str) -> None:
        import pandas as pd
        import pyarrow as pa

        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        self._pandas_metadata = False
        if isinstance(data, pa.Table):
            metadata = data.schema.pandas_metadata
            index = {c for c in (metadata or {}).get("index_columns", []) if isinstance(c, str)}
            labels: list[Any] = [c for c in data.column_names if c not in index]
            self._pandas_metadata = metadata is not None
            self._is_arrow = True
            self.rows: int = data.num_rows
        elif isinstance(data, pd.DataFrame):
            labels = list(data.columns)
            self._is_arrow = False
            self.rows = len(data)
        else:
            raise InvalidArgument(
                f"The {role} data is a {type(data).__name__}: give a pandas DataFrame or a "
                "pyarrow Table" + (" (or a ReferenceProfile)" if role == "reference" else "")
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

    def __contains__(self, name: object) -> bool:
        return name in self._labels

    def series(self, name: str) -> pd.Series:
        """The column ``name`` as a pandas Series (PyArrow columns are converted here)."""
        label = self._labels[name]
        if self._is_arrow:
            if self._pandas_metadata:
                return self._data.select([label]).to_pandas().iloc[:, 0]
            return self._data.column(label).to_pandas()
        return self._data[label]


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
