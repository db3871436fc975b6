"""Reference profiles: what each kind of column stores, the bytes round trip
(exact, versioned, checked on load), and the views the tests receive."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from moorline.errors import InvalidArgument
from moorline.monitoring.base import ColumnKind, ReferenceColumn
from moorline.monitoring.profile import PROFILE_FORMAT, ReferenceProfile
from moorline.monitoring.types import ColumnType

NUM, CAT, TEXT = ColumnKind.NUMERICAL, ColumnKind.CATEGORICAL, ColumnKind.TEXT


def mixed_frame(rows: int = 400, seed: int = 7) -> pd.DataFrame:
    """One column of every storage the profile has, with nulls and infinities."""
    rng = np.random.default_rng(seed)
    floats = rng.normal(size=rows)
    floats[rng.random(rows) < 0.1] = np.nan
    floats[:3] = [np.inf, -np.inf, -0.0]
    nullable = pd.array(rng.integers(0, 4, rows), dtype="Int64")
    nullable[rng.random(rows) < 0.2] = pd.NA
    words = rng.choice(["red", "green", "blue", "gray"], rows).astype(object)
    words[rng.random(rows) < 0.1] = None
    return pd.DataFrame(
        {
            "float": floats,
            "float32": rng.normal(size=rows).astype(np.float32),
            "flag": (rng.random(rows) < 0.4).astype(float),
            "int_few": rng.integers(0, 5, rows),
            "int_many": rng.integers(-1000, 1000, rows),
            "uint_big": np.full(rows, 2**63 + 5, dtype=np.uint64)
            - rng.integers(0, 3, rows).astype(np.uint64),
            "nullable_int": nullable,
            "bool": rng.random(rows) < 0.5,
            "words": words,
            "text": pd.Series(
                [f"note {i} {rng.integers(10**6)}" if i % 7 else None for i in range(rows)],
                dtype="str",
            ),
            "category": pd.Categorical(
                rng.choice(["x", "y", "z"], rows), categories=["z", "y", "x", "w"]
            ),
            "float_category": pd.Categorical(rng.choice([1.5, 2.5, np.inf], rows)),
            "when": pd.date_range("2024-01-01", periods=rows, freq="min"),
            "mixed": pd.Series([1, "a"] * (rows // 2), dtype=object),
            "lists": pd.Series([[1, 2]] * rows, dtype=object),
            "all_null": np.full(rows, np.nan),
            "all_null_object": pd.Series([None] * rows, dtype=object),
        }
    )


def same_reference(a: ReferenceColumn, b: ReferenceColumn) -> None:
    """Field by field (ReferenceColumn holds arrays, so == is not defined on it)."""
    assert (a.name, a.kind, a.n, a.null_count) == (b.name, b.kind, b.n, b.null_count)
    for left, right in ((a.sorted_values, b.sorted_values), (a.counts, b.counts)):
        assert (left is None) == (right is None)
        if left is not None and right is not None:
            assert left.dtype == right.dtype
            assert np.array_equal(left, right)
    assert a.keys == b.keys
    assert [type(k) for k in a.keys] == [type(k) for k in b.keys]
    assert a.texts == b.texts


def views(profile: ReferenceProfile, name: str) -> dict[ColumnKind, ReferenceColumn | str]:
    """Every view of a column, or the error message where a view is refused."""
    out: dict[ColumnKind, ReferenceColumn | str] = {}
    for kind in ColumnKind:
        try:
            out[kind] = profile.reference_column(name, kind)
        except InvalidArgument as exc:
            out[kind] = str(exc)
    return out


def test_bytes_round_trip_is_exact_for_every_column_and_view() -> None:
    frame = mixed_frame()
    built = ReferenceProfile.from_frame(frame)
    data = built.to_bytes()
    loaded = ReferenceProfile.from_bytes(data)
    assert loaded.rows == built.rows == len(frame)
    assert list(loaded.columns) == list(frame.columns)
    for name in frame.columns:
        a, b = built.column(name), loaded.column(name)
        assert (a.dtype, a.type, a.n, a.null_count, a.n_distinct, a.storage, a.reason) == (
            b.dtype,
            b.type,
            b.n,
            b.null_count,
            b.n_distinct,
            b.storage,
            b.reason,
        ), name
        left, right = views(built, name), views(loaded, name)
        for kind in ColumnKind:
            if isinstance(left[kind], str):
                assert left[kind] == right[kind]
            else:
                same_reference(left[kind], right[kind])  # type: ignore[arg-type]
    # stable bytes: writing a loaded profile gives the same bytes
    assert loaded.to_bytes() == data


def test_what_each_column_stores() -> None:
    frame = mixed_frame()
    profile = ReferenceProfile.from_frame(frame)
    summary = {
        name: (col.storage, col.type, col.n, col.counts is not None, col.codes is not None)
        for name, col in profile.columns.items()
    }
    finite = np.isfinite(frame["float"]).sum()
    assert summary["float"] == ("numeric", ColumnType.NUMERICAL, finite, False, False)
    assert summary["flag"][:2] == ("numeric", ColumnType.NUMERICAL)
    assert summary["flag"][3:] == (True, True)  # two distinct values: run-length, row order
    assert summary["int_few"] == ("numeric", ColumnType.CATEGORICAL, 400, True, True)
    assert summary["int_many"] == ("numeric", ColumnType.NUMERICAL, 400, False, False)
    assert summary["bool"][:2] == ("numeric", ColumnType.CATEGORICAL)
    assert summary["words"][:2] == ("keys", ColumnType.CATEGORICAL)
    assert summary["words"][4]  # string keys keep row order, for a text test
    assert summary["text"][:2] == ("keys", ColumnType.TEXT)
    assert summary["category"][:2] == ("keys", ColumnType.CATEGORICAL)
    assert summary["float_category"][4]  # row order kept for every keyed column
    assert summary["when"] == ("none", ColumnType.DATETIME, 400, False, False)
    assert summary["mixed"][0] == "none"
    assert profile.column("mixed").reason == "values of mixed types (int, str)"
    assert profile.column("lists").reason == "unhashable values"
    assert summary["all_null"] == ("numeric", ColumnType.NUMERICAL, 0, False, False)
    assert summary["all_null_object"][:3] == ("keys", ColumnType.UNKNOWN, 0)
    for name, col in profile.columns.items():
        assert col.n + col.null_count == 400, name


def test_numerical_view_is_sorted_finite_floats() -> None:
    frame = mixed_frame()
    profile = ReferenceProfile.from_frame(frame)
    values = frame["float"].to_numpy()
    expected = np.sort(values[np.isfinite(values)])
    got = profile.reference_column("float", NUM)
    assert got.sorted_values is not None and np.array_equal(got.sorted_values, expected)
    assert got.null_count == 400 - expected.size
    assert not got.sorted_values.flags.writeable
    ints = profile.reference_column("int_few", NUM).sorted_values
    assert ints is not None and np.array_equal(ints, np.sort(frame["int_few"]).astype(float))
    big = profile.column("uint_big")
    assert big.values is not None and big.values.dtype == np.uint64  # exact, not wrapped


def test_categorical_view_keys_sorted_by_string_with_counts() -> None:
    frame = mixed_frame()
    profile = ReferenceProfile.from_frame(frame)
    words = profile.reference_column("words", CAT)
    counts = frame["words"].value_counts()
    assert words.keys == ("blue", "gray", "green", "red")
    assert words.counts is not None
    assert words.counts.tolist() == [counts[k] for k in words.keys]
    # only the categories that occur, not every declared one
    assert profile.reference_column("category", CAT).keys == ("x", "y", "z")
    # infinity is cleaned out of a float category
    assert profile.reference_column("float_category", CAT).keys == (1.5, 2.5)
    nullable = profile.reference_column("nullable_int", CAT)
    assert nullable.keys == (0, 1, 2, 3) and all(type(k) is int for k in nullable.keys)
    assert profile.reference_column("bool", CAT).keys == (False, True)


def test_text_view_keeps_row_order() -> None:
    frame = mixed_frame()
    profile = ReferenceProfile.from_bytes(ReferenceProfile.from_frame(frame).to_bytes())
    assert profile.reference_column("text", TEXT).texts == tuple(frame["text"].dropna())
    assert profile.reference_column("words", TEXT).texts == tuple(frame["words"].dropna())


def test_keep_texts_false_drops_row_order() -> None:
    frame = mixed_frame()
    small = ReferenceProfile.from_frame(frame, keep_texts=False)
    assert len(small.to_bytes()) < len(ReferenceProfile.from_frame(frame).to_bytes())
    with pytest.raises(InvalidArgument, match=r"'text' is text .* built with keep_texts=False"):
        small.reference_column("text", TEXT)
    assert small.reference_column("text", CAT).n == frame["text"].count()


@pytest.mark.parametrize(
    ("column", "kind", "message"),
    [
        (
            "words",
            NUM,
            "'words' is numerical in the current data but its reference values are not numbers",
        ),
        (
            "float",
            TEXT,
            "'float' is text in the current data but its reference values are not strings",
        ),
        (
            "when",
            CAT,
            "'when' cannot be tested as categorical: its reference holds datetime values",
        ),
    ],
)
def test_views_a_column_cannot_serve(column: str, kind: ColumnKind, message: str) -> None:
    profile = ReferenceProfile.from_frame(mixed_frame())
    with pytest.raises(InvalidArgument, match=message):
        profile.reference_column(column, kind)


def test_run_length_keeps_low_cardinality_columns_small() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"code": rng.integers(0, 5, 100_000), "flag": rng.random(100_000) < 0.5})
    assert len(ReferenceProfile.from_frame(frame, keep_texts=False).to_bytes()) < 5_000
    # the row order costs about its entropy (log2(5) + 1 bits a row), compressed
    assert len(ReferenceProfile.from_frame(frame).to_bytes()) < 0.2 * 200_000 * 4


def test_arrow_table_profiles_like_its_pandas_conversion() -> None:
    frame = mixed_frame().drop(columns=["mixed", "lists", "all_null_object", "uint_big"])
    table = pa.Table.from_pandas(frame, preserve_index=False)
    from_table = ReferenceProfile.from_frame(table)
    from_frame = ReferenceProfile.from_frame(table.to_pandas())
    assert from_table.to_bytes() == from_frame.to_bytes()


def test_selected_columns_only() -> None:
    profile = ReferenceProfile.from_frame(mixed_frame(), columns=["words", "float"])
    assert list(profile.columns) == ["words", "float"]
    with pytest.raises(InvalidArgument, match="'nope': not in the reference data"):
        ReferenceProfile.from_frame(mixed_frame(), columns=["nope"])
    with pytest.raises(InvalidArgument, match="'words' is not in the reference profile"):
        ReferenceProfile.from_frame(mixed_frame(), columns=["float"]).column("words")


# -- loading is checked ------------------------------------------------------------------------


def _rewrite(data: bytes, change: Callable[[dict[str, Any], dict[str, pa.Array]], None]) -> bytes:
    """The same profile bytes with its header and arrays edited by ``change``."""
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    assert table.schema.metadata is not None
    header = json.loads(table.schema.metadata[b"moorline"])
    arrays = {name: table.column(name).combine_chunks().flatten() for name in table.column_names}
    change(header, arrays)
    columns = [
        pa.LargeListArray.from_arrays(pa.array([0, len(a)], type=pa.int64()), a)
        for a in arrays.values()
    ]
    out = pa.table(dict(zip(arrays, columns, strict=True)))
    out = out.replace_schema_metadata({b"moorline": json.dumps(header).encode()})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, out.schema) as writer:
        writer.write_table(out)
    return bytes(sink.getvalue().to_pybytes())


def _profile_bytes() -> bytes:
    frame = pd.DataFrame({"v": [3.0, 1.0, 2.0, 5.0], "c": ["a", "b", "a", None]})
    return ReferenceProfile.from_frame(frame).to_bytes()


def _set(path: str, value: Any) -> Callable[[dict[str, Any], dict[str, pa.Array]], None]:
    def change(header: dict[str, Any], arrays: dict[str, pa.Array]) -> None:
        if path.startswith("array:"):
            arrays[path[6:]] = value
        elif path.startswith("column:"):
            header["columns"][0][path[7:]] = value
        else:
            header[path] = value

    return change


def test_rewritten_but_valid_bytes_load() -> None:
    # the helper itself changes nothing when asked to change nothing
    again = ReferenceProfile.from_bytes(_rewrite(_profile_bytes(), lambda h, a: None))
    assert again.reference_column("v", NUM).sorted_values.tolist() == [1.0, 2.0, 3.0, 5.0]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("format", "moorline.reference-profile/2"), "written by a newer moorline"),
        (_set("format", "something/1"), "format 'something/1' is not supported"),
        (_set("rows", -1), "'rows' is negative"),
        (_set("rows", "4"), "'rows' must be a int"),
        (_set("column:null_count", 2), "n \\+ null_count = 6, but the profile has 4 rows"),
        (_set("column:type", "weird"), "unknown type 'weird'"),
        (_set("column:storage", "pickle"), "unknown storage 'pickle'"),
        (_set("column:arrays", ["values", "keys"]), "cannot have arrays"),
        (_set("column:n_distinct", 3), "n_distinct = 3, but the arrays hold 4"),
        (_set("array:0.values", pa.array([3.0, 1.0, 2.0, 5.0])), "must be sorted"),
        (_set("array:0.values", pa.array([1.0, 2.0, 3.0, np.inf])), "must be finite"),
        (_set("array:0.values", pa.array(["1", "2", "3", "5"])), "not supported"),
        (_set("array:0.values", pa.array([1.0, 2.0, 3.0])), "do not match n"),
        (_set("array:1.counts", pa.array([2, 2], type=pa.int64())), "sum to n = 3"),
        (_set("array:1.codes", pa.array([0, 1, 7], type=pa.int32())), "one index per value"),
        (_set("array:1.codes", pa.array([0, 1, 1], type=pa.int32())), "disagree with counts"),
        (_set("array:1.keys", pa.array(["a", "a"])), "keys must be distinct"),
    ],
)
def test_malformed_profiles_are_refused(
    change: Callable[[dict[str, Any], dict[str, pa.Array]], None], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ReferenceProfile.from_bytes(_rewrite(_profile_bytes(), change))


def test_bytes_that_are_not_a_profile_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="Not a moorline reference profile"):
        ReferenceProfile.from_bytes(b"\x80\x04pickle? no thanks")
    table = pa.table({"a": [1]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    with pytest.raises(InvalidArgument, match="no 'moorline' header"):
        ReferenceProfile.from_bytes(sink.getvalue().to_pybytes())


def test_header_is_documented_json() -> None:
    data = _profile_bytes()
    table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    header = json.loads(table.schema.metadata[b"moorline"])  # type: ignore[index]
    assert header["format"] == PROFILE_FORMAT == "moorline.reference-profile/1"
    assert header["created_by"].startswith("moorline ")
    assert header["rows"] == 4
    assert [set(c) for c in header["columns"]] == [
        {"name", "dtype", "type", "n", "null_count", "n_distinct", "storage", "reason", "arrays"}
    ] * 2
    assert header["columns"][1]["arrays"] == ["keys", "counts", "codes"]
    assert table.column_names == ["0.values", "1.keys", "1.counts", "1.codes"]


def test_datetime_keys_of_a_category_survive_the_round_trip() -> None:
    days = [dt.datetime(2024, 1, d) for d in (1, 2, 1, 3)]
    frame = pd.DataFrame({"day": pd.Categorical(days)})
    built = ReferenceProfile.from_frame(frame)
    loaded = ReferenceProfile.from_bytes(built.to_bytes())
    same_reference(built.reference_column("day", CAT), loaded.reference_column("day", CAT))
    assert loaded.reference_column("day", CAT).counts.tolist() == [2, 1, 1]  # type: ignore[union-attr]
