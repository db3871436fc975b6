"""The canonical form and the digest: what is one version and what is another.

Everything here is pure (no store): ``moorline.tracking.datasets`` on pandas
and PyArrow objects.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from moorline.errors import InvalidArgument
from moorline.tracking.datasets import (
    IPC_BATCH_ROWS,
    canonical_table,
    dataset_digest,
    dataset_schema,
    prepare,
)

#: The digest of ``frame()``. If a dependency upgrade changes it, every dataset
#: would silently become a new version: this test is the alarm (see the module docs).
GOLDEN = "4adfc48db99d702e19619c78eab9dc0bef688c871e672beffca0486aa7f019dc"

FRAME_CODE = """
import numpy as np, pandas as pd
def frame(n=1000):
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(5e4, 1e4, n)),
        "city": pd.Series(rng.choice(["paris", "lyon", "nice", None], n), dtype="str"),
        "churned": rng.random(n) < 0.3,
        "plan": pd.Categorical(rng.choice(["basic", "pro"], n)),
        "signup": pd.to_datetime(rng.integers(1.5e9, 1.7e9, n), unit="s", utc=True),
    })
"""
namespace: dict[str, object] = {}
exec(FRAME_CODE, namespace)  # one definition, shared with the subprocess below
frame = namespace["frame"]


def digest_of(data: object) -> str:
    return dataset_digest(canonical_table(data))


def arrow_of(df: pd.DataFrame) -> pa.Table:
    """``pa.Table.from_pandas(df)``, with tz-aware columns passed as UTC values: PyArrow's
    own path for them trips a pandas 3.1 deprecation warning (an error under pytest)."""
    zoned = {
        c: df[c].dt.tz_convert(None)
        for c in df.columns
        if df[c].dtype.kind == "M" and getattr(df[c].dtype, "tz", None) is not None
    }
    table = pa.Table.from_pandas(df.assign(**zoned))
    for name in zoned:
        i = table.column_names.index(name)
        unit = table.schema.field(i).type.unit
        table = table.set_column(i, name, table.column(i).cast(pa.timestamp(unit, tz="UTC")))
    return table


def test_the_same_data_has_the_same_digest_across_calls_and_processes(tmp_path: Path) -> None:
    first = digest_of(frame())
    assert digest_of(frame()) == first
    script = FRAME_CODE + textwrap.dedent(
        """
        from moorline.tracking.datasets import canonical_table, dataset_digest
        print(dataset_digest(canonical_table(frame())))
        """
    )
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
        )
        assert out.stdout.strip() == first
    assert len(first) == 64 and set(first) <= set("0123456789abcdef")


def test_the_digest_is_pinned() -> None:
    assert digest_of(frame()) == GOLDEN


def test_one_changed_cell_is_another_version() -> None:
    base = frame()
    original = digest_of(base)
    for column, value in [("age", 99), ("income", 1.5), ("city", "brest"), ("churned", True)]:
        changed = base.copy()
        row = 17 if changed.loc[17, column] != value else 18
        changed.loc[row, column] = value
        assert digest_of(changed) != original, column
    assert digest_of(base.iloc[:-1]) != original  # a row fewer
    assert digest_of(base[list(reversed(base.columns))]) != original  # column order is data
    assert digest_of(base.rename(columns={"age": "years"})) != original


def test_a_dataframe_and_the_equivalent_arrow_table_have_one_digest() -> None:
    df = frame()
    expected = digest_of(df)
    assert digest_of(arrow_of(df)) == expected
    assert arrow_of(df).schema.field("signup").type.tz == "UTC"
    # Built by hand with other widths, a dictionary column, naive timestamps in us,
    # NaN instead of null, and in small chunks: the same data all the same.
    by_hand = pa.table(
        {
            "age": pa.array(df["age"].to_numpy(), pa.int16()),
            "income": pa.array(df["income"].to_numpy(), pa.float64(), from_pandas=False),
            "city": pa.array([None if pd.isna(c) else c for c in df["city"]], pa.string()),
            "churned": pa.array(df["churned"].to_numpy()),
            "plan": pa.array(df["plan"].astype(str).tolist()).dictionary_encode(),
            "signup": pa.array(
                df["signup"].dt.tz_localize(None).to_numpy().astype("datetime64[us]")
            ),
        }
    )
    assert pa.types.is_floating(by_hand["income"].type)
    assert np.isnan(by_hand["income"].to_numpy()).any()  # NaN, not null
    chunked = pa.Table.from_batches(by_hand.to_batches(max_chunksize=99))
    assert chunked.column(0).num_chunks > 1
    assert digest_of(by_hand) == expected
    assert digest_of(chunked) == expected


def test_bytes_arrow_leaves_unspecified_do_not_change_the_digest() -> None:
    """Values under nulls, bitmap padding, oversized buffers and slice offsets are not data."""
    clean = pa.table(
        {
            "x": pa.array([1, None, 3], pa.int64()),
            "s": pa.array(["a", None, "c"], pa.large_string()),
        }
    )
    garbage_under_null = pa.Array.from_buffers(
        pa.int64(),
        3,
        [
            pa.py_buffer(bytes([0b11111101])),  # valid, null, valid + set padding bits
            pa.py_buffer(np.array([1, 424242, 3, 77], dtype=np.int64).tobytes()),
        ],
        null_count=1,
    )
    sliced_strings = pa.array(["zz", "a", None, "c", "yy"], pa.large_string()).slice(1, 3)
    messy = pa.table({"x": garbage_under_null, "s": sliced_strings})
    assert messy.equals(clean)
    assert digest_of(messy) == digest_of(clean)
    bools = pa.array([True, False, True, True, False]).slice(1, 3)
    assert digest_of(pa.table({"b": bools})) == digest_of(pa.table({"b": [False, True, True]}))


def test_the_index_counts_only_when_it_is_named() -> None:
    df = frame().iloc[:50]
    filtered = df[df["age"] > 40]  # an unnamed, non-range index: not data
    assert digest_of(filtered) == digest_of(filtered.reset_index(drop=True))
    named = df.set_index("city")
    table = canonical_table(named)
    assert table.column_names == ["city", "age", "income", "churned", "plan", "signup"]
    assert digest_of(named) == digest_of(named.reset_index())
    both = df.set_index(["plan", "city"])
    assert canonical_table(both).column_names[:2] == ["plan", "city"]


def test_types_are_normalised() -> None:
    df = pd.DataFrame(
        {
            "i8": pd.array([1, 2], dtype="int8"),
            "u32": pd.array([1, 2], dtype="uint32"),
            "nullable": pd.array([1, None], dtype="Int64"),
            "f32": pd.array([0.5, 1.5], dtype="float32"),
            "s": ["a", "b"],
            "obj": pd.Series(["a", "b"], dtype=object),
            "cat": pd.Categorical(["a", "b"]),
            "naive": pd.to_datetime(["2024-01-01", "2024-06-01"]),
            "paris": pd.to_datetime(["2024-01-01", "2024-06-01"]).tz_localize("Europe/Paris"),
            "d": pd.to_timedelta([1, 2], unit="s"),
        }
    )
    types = {c.name: c.type for c in dataset_schema(canonical_table(df))}
    assert types == {
        "i8": "int64",
        "u32": "int64",
        "nullable": "int64",
        "f32": "double",
        "s": "large_string",
        "obj": "large_string",
        "cat": "large_string",
        "naive": "timestamp[ns, tz=UTC]",
        "paris": "timestamp[ns, tz=UTC]",
        "d": "duration[ns]",
    }
    nullable = {c.name: c.nullable for c in dataset_schema(canonical_table(df))}
    assert nullable["nullable"] and not nullable["i8"]
    # The same instant in another zone is the same data; a naive time is read as UTC.
    utc = pd.DataFrame({"t": pd.to_datetime(["2024-01-01 10:00"], utc=True)})
    assert digest_of(utc) == digest_of(pd.DataFrame({"t": pd.to_datetime(["2024-01-01 10:00"])}))
    assert digest_of(utc) == digest_of(utc.assign(t=utc["t"].dt.tz_convert("Asia/Tokyo")))
    assert digest_of(pd.DataFrame({"x": [1, 2]})) == digest_of(
        pd.DataFrame({"x": pd.array([1, 2], dtype="int32")})
    )


def test_a_csv_path_digests_as_pandas_read_csv(tmp_path: Path) -> None:
    df = frame()
    path = tmp_path / "churn.csv"
    df.to_csv(path, index=False)
    assert digest_of(path) == digest_of(pd.read_csv(path))
    # Round trip: every column but the timestamp (it comes back as a string) is equal.
    plain = df.drop(columns=["signup"])
    plain.to_csv(tmp_path / "plain.csv", index=False)
    assert digest_of(tmp_path / "plain.csv") == digest_of(plain)
    assert digest_of(path) != digest_of(df)
    assert prepare(path).source.source_type == "local"
    assert (tmp_path / "plain.csv").resolve().as_uri() in prepare(
        tmp_path / "plain.csv"
    ).source.source


def test_a_parquet_path_digests_as_its_table(tmp_path: Path) -> None:
    table = arrow_of(frame())
    pq.write_table(table, tmp_path / "churn.parquet", row_group_size=100)
    assert digest_of(str(tmp_path / "churn.parquet")) == digest_of(table)


def test_batches_of_the_stream_do_not_depend_on_input_chunks() -> None:
    n = IPC_BATCH_ROWS + 10
    values = np.arange(n)
    one = pa.table({"x": values})
    many = pa.Table.from_batches(pa.table({"x": values}).to_batches(max_chunksize=1000))
    assert digest_of(one) == digest_of(many)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "Column name 'a' appears twice"),
        (pa.table({"u": pa.array([2**63], pa.uint64())}), "Column 'u' (uint64) does not fit int64"),
        ([1, 2, 3], "Cannot log a list as a dataset"),
        ("no/such/file.csv", "no such file"),
        (pd.DataFrame({"m": pd.Series([1, "x"], dtype=object)}), "Cannot convert the DataFrame"),
    ],
)
def test_what_cannot_be_a_dataset_is_refused_clearly(data: object, fragment: str) -> None:
    with pytest.raises(InvalidArgument, match=_escaped(fragment)):
        canonical_table(data)


def test_unsupported_file_types_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("{}")
    with pytest.raises(InvalidArgument, match=r"only \.csv and \.parquet"):
        canonical_table(path)


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


def test_nested_columns_are_normalised_too() -> None:
    df = pd.DataFrame({"tags": [[1, 2], None, [3]], "point": [{"x": 1}, None, {"x": 2}]})
    arrow = pa.table(
        {
            "tags": pa.array([[1, 2], None, [3]], pa.list_(pa.int32())),
            "point": pa.array([{"x": 1}, None, {"x": 2}], pa.struct([("x", pa.int16())])),
        }
    )
    assert digest_of(df) == digest_of(arrow)
    assert [c.type for c in dataset_schema(canonical_table(arrow))] == [
        "large_list<item: int64>",
        "struct<x: int64>",
    ]
    assert digest_of(df.assign(tags=[[1, 2], None, [4]])) != digest_of(df)
