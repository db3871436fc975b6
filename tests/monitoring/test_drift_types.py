"""Column type inference (spec §2): every row of the table and its edges, and the rule
that the current frame, not the reference, decides the type that is tested."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from moorline.monitoring.base import ColumnKind
from moorline.monitoring.types import ColumnType, infer_column_type

NUM, CAT, TEXT = ColumnType.NUMERICAL, ColumnType.CATEGORICAL, ColumnType.TEXT
DATETIME, LIST, UNKNOWN = ColumnType.DATETIME, ColumnType.LIST, ColumnType.UNKNOWN


def _ints(distinct: int, rows: int = 200) -> pd.Series:
    return pd.Series(np.arange(rows) % distinct, dtype="int64")


CASES = [
    # float: always numerical, even a 0/1 flag or a constant
    ("float 0/1 flag", pd.Series([0.0, 1.0] * 50), NUM),
    ("float constant", pd.Series([3.5] * 10), NUM),
    ("float32", pd.Series([1.5, 2.5], dtype="float32"), NUM),
    ("nullable Float64", pd.Series([1.0, None], dtype="Float64"), NUM),
    ("float all NaN", pd.Series([np.nan] * 5), NUM),
    # int: categorical up to 10 distinct values (inclusive), numerical from 11
    ("int 10 distinct", _ints(10), CAT),
    ("int 11 distinct", _ints(11), NUM),
    ("int 1 distinct", _ints(1), CAT),
    ("int8 11 distinct", _ints(11).astype("int8"), NUM),
    ("uint64 3 distinct", _ints(3).astype("uint64"), CAT),
    ("nullable Int64 10 distinct + NA", pd.Series([*range(10), None], dtype="Int64"), CAT),
    ("nullable Int64 11 distinct", pd.Series([*range(11), None], dtype="Int64"), NUM),
    # strings: text when distinct > 0.5 * non-null count, else categorical
    ("str, half distinct", pd.Series(["a", "b", "a", "b"]), CAT),  # 2 > 2 is false
    ("str, 3 of 4 distinct", pd.Series(["a", "b", "c", "a"]), TEXT),
    ("str, nulls not counted", pd.Series(["a", "b", None, None, None]), TEXT),  # 2 > 1
    ("pyarrow string", pd.Series(["x", "y", "x", "x"], dtype="string[pyarrow]"), CAT),
    ("python string", pd.Series(["x", "y", "z"], dtype="string[python]"), TEXT),
    # object: by the first and last non-null values
    ("object str categorical", pd.Series(["a", "b", "a", "a"], dtype=object), CAT),
    ("object str text", pd.Series(["one", "two", "three"], dtype=object), TEXT),
    (
        "object str with nulls at the ends",
        pd.Series([None, "a", "a", "a", None], dtype=object),
        CAT,
    ),
    ("object first str last int", pd.Series(["a", "b", 3], dtype=object), UNKNOWN),
    ("object ints", pd.Series([1, 2, 3], dtype=object), UNKNOWN),
    ("object lists", pd.Series([[1], [2, 3]], dtype=object), LIST),
    ("object tuples", pd.Series([(1,), None, (2, 3)], dtype=object), LIST),
    ("object all null", pd.Series([None, None, np.nan], dtype=object), UNKNOWN),
    ("object empty", pd.Series([], dtype=object), UNKNOWN),
    # bool and category: categorical
    ("bool", pd.Series([True, False, True]), CAT),
    ("nullable boolean", pd.Series([True, None], dtype="boolean"), CAT),
    ("category of many strings", pd.Series(list("abcdefghijkl"), dtype="category"), CAT),
    ("category of floats", pd.Series([1.5, 2.5], dtype="category"), CAT),
    # datetimes: never tested; anything else: unknown
    ("datetime64", pd.Series(pd.date_range("2024-01-01", periods=3)), DATETIME),
    ("datetime with tz", pd.Series(pd.date_range("2024-01-01", periods=3, tz="UTC")), DATETIME),
    ("timedelta", pd.Series(pd.to_timedelta([1, 2], unit="s")), UNKNOWN),
    ("complex", pd.Series([1 + 2j, 3j]), UNKNOWN),
    ("object dates", pd.Series([dt.date(2024, 1, 1), dt.date(2024, 1, 2)]), UNKNOWN),
]


@pytest.mark.parametrize(("series", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_inference_table(series: pd.Series, expected: ColumnType) -> None:
    assert infer_column_type(series) == expected


def test_only_tested_types_have_a_drift_kind() -> None:
    assert NUM.kind == ColumnKind.NUMERICAL
    assert CAT.kind == ColumnKind.CATEGORICAL
    assert TEXT.kind == ColumnKind.TEXT
    assert {DATETIME.kind, LIST.kind, UNKNOWN.kind} == {None}


ARROW_CASES = [
    # a PyArrow column is typed as its to_pandas() conversion types it
    ("int64 without nulls, 3 distinct", pa.array([1, 2, 3, 1]), CAT),
    ("int64 with nulls becomes float", pa.array([1, None, 3]), NUM),
    ("bool", pa.array([True, False]), CAT),
    ("bool with nulls becomes object", pa.array([True, None, False]), UNKNOWN),
    ("string", pa.array(["a", "b", "a", "a"]), CAT),
    ("dictionary becomes category", pa.array(["a", "b", "c"]).dictionary_encode(), CAT),
    ("timestamp", pa.array([dt.datetime(2024, 1, 1)]), DATETIME),
    # lists convert to NumPy arrays, not list/tuple: unknown, as Evidently would type them
    ("list", pa.array([[1], [2]]), UNKNOWN),
]


@pytest.mark.parametrize(
    ("array", "expected"), [c[1:] for c in ARROW_CASES], ids=[c[0] for c in ARROW_CASES]
)
def test_arrow_columns_are_typed_as_their_pandas_conversion(
    array: pa.Array, expected: ColumnType
) -> None:
    from moorline.monitoring._frames import Frame

    frame = Frame(pa.table({"c": array}), role="current")
    assert infer_column_type(frame.series("c")) == expected


def test_arrow_tables_from_pandas_keep_their_pandas_dtypes_and_index() -> None:
    from moorline.monitoring._frames import Frame

    frame = pd.DataFrame(
        {"n": pd.array([1, None, 2], dtype="Int64"), "f": [0.5, 1.5, 2.5]}, index=[7, 8, 9]
    )
    table = pa.Table.from_pandas(frame)
    assert "__index_level_0__" in table.column_names
    view = Frame(table, role="current")
    assert view.names == ("n", "f")  # the pandas index is not a data column
    assert str(view.series("n").dtype) == "Int64"
    assert infer_column_type(view.series("n")) == CAT  # as pandas typed it, not float
    # without the metadata, integers with nulls are floats
    bare = Frame(table.replace_schema_metadata(None), role="current")
    assert infer_column_type(bare.series("n")) == NUM
