"""Column type inference, as Evidently 0.7 does it (spec ``drift-evidently.md`` §2).

A drift check types every column of the **current** frame with the rules
below and tests it as that type; the reference frame's own type does not
matter (a stored :class:`~moorline.monitoring.profile.ReferenceProfile`
records it, for information). The rules look only at the pandas dtype and, for
integers and strings, at the number of distinct values:

======================  ====================================================
pandas dtype            inferred type
======================  ====================================================
float*                  numerical (always, even a 0/1 flag)
int* (also ``Int64``)   categorical when ``nunique() <= 10``, else numerical
``string`` / ``str``    text when ``nunique() > 0.5 * count()``, else
                        categorical (``count`` = non-null values)
object                  all null: unknown. First and last non-null values
                        both ``str``: the string rule. Both list or tuple:
                        list. Anything else: unknown
bool, category          categorical
datetime*               datetime (never drift-tested)
anything else           unknown (never drift-tested)
======================  ====================================================

A PyArrow column is typed as ``pyarrow.Table.to_pandas()`` makes it. With
the pandas metadata of a table made from a DataFrame (or of a Parquet file
written by pandas), pandas dtypes such as ``Int64`` come back as they were.
Without it, an integer column with nulls becomes float (numerical), a
boolean column with nulls becomes object (unknown), strings become ``str``,
dictionaries ``category``. Columns with such a plain dtype are typed from
Arrow directly (an :class:`~moorline.monitoring._frames.ArrowColumn`:
distinct values counted by Arrow, no conversion), with the same result.

>>> import pandas as pd
>>> infer_column_type(pd.Series(range(11))).value
'numerical'
>>> infer_column_type(pd.Series([0, 1] * 50)).value
'categorical'
>>> infer_column_type(pd.Series([0.0, 1.0] * 50)).value
'numerical'
>>> infer_column_type(pd.Series(["a", "b", "a", "a"])).value
'categorical'
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Final

from moorline.monitoring._frames import ArrowColumn
from moorline.monitoring.base import ColumnKind

if TYPE_CHECKING:
    import pandas as pd

#: An integer column with at most this many distinct values is categorical.
INT_CATEGORICAL_MAX_DISTINCT: Final = 10
#: A string column is text when its distinct values exceed this share of its non-null values.
TEXT_DISTINCT_SHARE: Final = 0.5


class ColumnType(StrEnum):
    """The inferred type of a column; only the first three are drift-tested."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    TEXT = "text"
    DATETIME = "datetime"
    LIST = "list"
    UNKNOWN = "unknown"

    @property
    def kind(self) -> ColumnKind | None:
        """The drift kind of a tested type (``num``, ``cat``, ``text``), else ``None``."""
        return _KINDS.get(self)


_KINDS: Final = {
    ColumnType.NUMERICAL: ColumnKind.NUMERICAL,
    ColumnType.CATEGORICAL: ColumnKind.CATEGORICAL,
    ColumnType.TEXT: ColumnKind.TEXT,
}

#: The type a user names in a column mapping, by drift kind.
TYPE_OF_KIND: Final = {kind: type_ for type_, kind in _KINDS.items()}


def infer_column_type(series: pd.Series | ArrowColumn) -> ColumnType:
    """The type of one column, by the table in this module's docstring."""
    if isinstance(series, ArrowColumn):
        return _arrow_type(series)
    import pandas as pd
    from pandas.api import types as pdt

    dtype = series.dtype
    if pdt.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return ColumnType.CATEGORICAL
    if pdt.is_float_dtype(dtype):
        return ColumnType.NUMERICAL
    if pdt.is_integer_dtype(dtype):
        if series.nunique() <= INT_CATEGORICAL_MAX_DISTINCT:
            return ColumnType.CATEGORICAL
        return ColumnType.NUMERICAL
    if isinstance(dtype, pd.StringDtype):
        return _string_rule(series)
    if pdt.is_datetime64_any_dtype(dtype):
        return ColumnType.DATETIME
    if pdt.is_object_dtype(dtype):
        return _object_rule(series)
    return ColumnType.UNKNOWN


def _arrow_type(column: ArrowColumn) -> ColumnType:
    """The same rules on an Arrow column, by the pandas dtype it converts to."""
    group = column.group
    if group == "float":
        return ColumnType.NUMERICAL
    if group == "int":
        if column.distinct() <= INT_CATEGORICAL_MAX_DISTINCT:
            return ColumnType.CATEGORICAL
        return ColumnType.NUMERICAL
    if group == "string":
        return text_or_categorical(column.distinct(), column.count)
    if group == "datetime":
        return ColumnType.DATETIME
    return ColumnType.CATEGORICAL  # bool, category


def type_of_group(group: str | None) -> ColumnType | None:
    """The type of an Arrow column from its group alone, where the group decides it
    (floats, categories, timestamps); None where the values must be looked at."""
    return _GROUP_TYPES.get(group or "")


_GROUP_TYPES: Final = {
    "float": ColumnType.NUMERICAL,
    "category": ColumnType.CATEGORICAL,
    "datetime": ColumnType.DATETIME,
}


def text_or_categorical(distinct: int, count: int) -> ColumnType:
    """The string rule: text when distinct values exceed half the non-null ones."""
    if distinct > TEXT_DISTINCT_SHARE * count:
        return ColumnType.TEXT
    return ColumnType.CATEGORICAL


def _string_rule(series: pd.Series) -> ColumnType:
    return text_or_categorical(series.nunique(), int(series.count()))


def _object_rule(series: pd.Series) -> ColumnType:
    present = series.notna().to_numpy()
    if not present.any():
        return ColumnType.UNKNOWN
    values = series.to_numpy()
    first = values[present.argmax()]
    last = values[len(present) - 1 - present[::-1].argmax()]
    if isinstance(first, str) and isinstance(last, str):
        return _string_rule(series)
    if isinstance(first, list | tuple) and isinstance(last, list | tuple):
        return ColumnType.LIST
    return ColumnType.UNKNOWN
