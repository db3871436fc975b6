"""Parquet files read one column at a time, and Arrow columns handled without pandas, give
the very results of the eager path: the same JSON report, the same profile bytes.

The eager path is the one every other test pins: the files read whole (pandas or Arrow),
every column converted to pandas. The lazy path reads a column when the check asks for
it; columns whose pandas dtype is a plain one (floats, integers, booleans, strings,
dictionaries of strings, timestamps) never meet pandas. Both are compared on frames
holding the spec's edge cases, with and without the pandas metadata a DataFrame leaves in
its Parquet file, in one row group and in many (a column then comes in chunks).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from moorline.monitoring._frames import ArrowColumn, Frame
from moorline.monitoring.drift import compute_drift
from moorline.monitoring.profile import ReferenceProfile, build_column
from moorline.monitoring.types import infer_column_type


def edge_frame(rows: int, *, current: bool, seed: int) -> pd.DataFrame:
    """Every plain dtype, with nulls, ±inf, few and many values, text and categories."""
    rng = np.random.default_rng(seed)
    shift = 0.4 if current else 0.0
    x = rng.normal(shift, 1.0, rows)
    x[rng.random(rows) < 0.1] = np.nan
    x[:3] = [np.inf, -np.inf, np.inf]
    plan = rng.choice(["red", "green", "blue"] + (["new"] if current else ["gone"]), rows)
    plan = plan.astype(object)
    plan[rng.random(rows) < 0.05] = None
    counts = rng.poisson(30 + 3 * shift, rows).astype(float)
    counts[rng.random(rows) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "x": x,
            "x32": rng.normal(shift, 2.0, rows).astype(np.float32),
            "flag": (rng.random(rows) < 0.3 + shift / 4).astype(float),
            "ints": rng.integers(0, 40, rows),
            "few": rng.integers(0, 3 if current else 4, rows).astype(np.int8),
            "big": rng.integers(0, 2**40, rows).astype(np.uint64) + np.uint64(2**63),
            "counts_with_nulls": pd.array(counts, dtype="Int64").astype("float64"),
            "bool": rng.random(rows) < 0.5 + shift / 4,
            "plan": plan,
            "zipf": pd.Series(np.minimum(rng.zipf(1.6, rows), 30).astype(str), dtype="str"),
            "size": pd.Categorical(rng.choice(["s", "m", "l"], rows)),
            "text": [f"note {rng.integers(10**6)} about {p}" for p in plan],
            "when": pd.date_range("2024-01-01", periods=rows, freq="min"),
            "nullable": pd.array(rng.integers(0, 5, rows), dtype="Int64"),
            "empty": np.full(rows, np.nan),
        }
    )


def write(frame: pd.DataFrame, path: Path, *, metadata: bool, row_group_size: int) -> Path:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if not metadata:
        table = table.replace_schema_metadata(None)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture(scope="module", params=["pandas metadata", "bare Arrow"])
def files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    metadata = request.param == "pandas metadata"
    root = tmp_path_factory.mktemp("lazy")
    out = {}
    for name, rows, current, seed, group in (
        ("ref", 3000, False, 1, 3000),
        ("cur", 2400, True, 2, 700),  # four row groups: chunked columns
        ("small", 600, True, 3, 250),  # the small-sample tests
    ):
        frame = edge_frame(rows, current=current, seed=seed)
        out[name] = write(frame, root / f"{name}.parquet", metadata=metadata, row_group_size=group)
    return out


def report_json(reference: Any, current: Any, preset: str) -> Any:
    report = compute_drift(reference, current, preset=preset)  # type: ignore[arg-type]
    return json.loads(report.to_json())


@pytest.mark.parametrize("preset", ["default", "evidently"])
@pytest.mark.parametrize("current", ["cur", "small"])
def test_lazy_parquet_gives_the_eager_report(
    files: dict[str, Path], preset: str, current: str
) -> None:
    ref, cur = files["ref"], files[current]
    eager = report_json(pq.read_table(ref).to_pandas(), pq.read_table(cur).to_pandas(), "default")
    if preset == "evidently":
        # the all-null and datetime columns stop Evidently's report: test the rest
        columns = [c["column"] for c in eager["columns"] if c.get("error") is None]
        eager = json.loads(
            compute_drift(
                pq.read_table(ref).to_pandas(),
                pq.read_table(cur).to_pandas(),
                preset="evidently",
                columns=columns,
            ).to_json()
        )
        lazy = json.loads(
            compute_drift(
                pq.ParquetFile(ref), pq.ParquetFile(cur), preset="evidently", columns=columns
            ).to_json()
        )
    else:
        lazy = report_json(pq.ParquetFile(ref), pq.ParquetFile(cur), "default")
    assert lazy == eager
    # the Arrow tables in memory take the same path as the lazy files
    assert report_json(pq.read_table(ref), pq.read_table(cur), "default") == report_json(
        pq.read_table(ref).to_pandas(), pq.read_table(cur).to_pandas(), "default"
    )
    tested = {c["column"]: c for c in lazy["columns"]}
    assert {"x", "x32", "ints", "few", "plan", "zipf", "size", "text"} <= set(tested)
    assert {c["type"] for c in lazy["columns"]} == {"num", "cat", "text"}


@pytest.mark.parametrize("current", ["cur", "small"])
def test_low_memory_gives_the_same_report(files: dict[str, Path], current: str) -> None:
    """``low_memory`` re-reads columns instead of keeping them: the same report."""
    ref, cur = files["ref"], files[current]
    fast = compute_drift(pq.ParquetFile(ref), pq.ParquetFile(cur), preset="default")
    lean = compute_drift(
        pq.ParquetFile(ref), pq.ParquetFile(cur), preset="default", low_memory=True
    )
    assert json.loads(lean.to_json()) == json.loads(fast.to_json())
    assert any(c.type == "cat" for c in lean.columns)  # columns typed from their values


def test_profile_of_a_lazy_file_is_the_eager_profile_byte_for_byte(
    files: dict[str, Path],
) -> None:
    eager = ReferenceProfile.from_frame(pq.read_table(files["ref"]).to_pandas()).to_bytes()
    lazy = ReferenceProfile.from_frame(pq.ParquetFile(files["ref"])).to_bytes()
    assert lazy == eager
    assert ReferenceProfile.from_frame(pq.read_table(files["cur"])).to_bytes() == (
        ReferenceProfile.from_frame(pq.read_table(files["cur"]).to_pandas()).to_bytes()
    )
    subset = ReferenceProfile.from_frame(pq.ParquetFile(files["ref"]), columns=["text", "x"])
    assert list(subset.columns) == ["text", "x"]


ARROW_COLUMNS = [
    ("float64 with nulls and inf", pa.array([1.5, None, float("inf"), -0.0, 2.5] * 40)),
    ("float32", pa.array(np.linspace(0, 1, 200, dtype=np.float32))),
    ("float16 with nulls", pa.array([1.0, None, 2.0, 2.0] * 50, pa.float16())),
    ("int8 few", pa.array(np.arange(200) % 4, pa.int8())),
    ("int64 many", pa.array(np.arange(200) * 7 - 300)),
    ("int64 with nulls", pa.array([1, None, 3, 2**53 + 1] * 50)),
    ("uint64 beyond int64", pa.array(np.arange(200, dtype=np.uint64) + np.uint64(2**63))),
    ("uint8", pa.array(np.arange(200) % 11, pa.uint8())),
    ("bool", pa.array([True, False, False] * 70)),
    ("string categorical", pa.array(["a", "b", None, "a", "ü"] * 40)),
    ("large_string text", pa.array([f"t{i}" for i in range(199)] + [None], pa.large_string())),
    ("dictionary", pa.array(["s", "m", None, "l"] * 50).dictionary_encode()),
    ("timestamp", pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(hours=i) for i in range(200)])),
    ("timestamp ns", pa.array(np.arange(200), pa.timestamp("ns"))),
]


@pytest.mark.parametrize("array", [c[1] for c in ARROW_COLUMNS], ids=[c[0] for c in ARROW_COLUMNS])
def test_each_plain_arrow_column_is_typed_and_profiled_as_its_pandas_conversion(
    array: pa.Array,
) -> None:
    chunked = pa.chunked_array([array.slice(0, 70), array.slice(70, 1), array.slice(71)])
    frame = Frame(pa.table({"c": chunked}), role="reference")
    column = frame.column("c")
    assert isinstance(column, ArrowColumn)  # handled without pandas
    series = frame.series("c")
    assert column.dtype == str(series.dtype)
    assert infer_column_type(column) == infer_column_type(series)
    native = ReferenceProfile(rows=200, columns={"c": build_column("c", column)})
    converted = ReferenceProfile(rows=200, columns={"c": build_column("c", series)})
    assert native.to_bytes() == converted.to_bytes()


NOT_PLAIN = [
    ("bool with nulls", pa.array([True, None, False])),
    ("all-null strings", pa.array([None, None], pa.string())),
    ("timestamp with a time zone", pa.array([1, 2], pa.timestamp("us", tz="UTC"))),
    ("list", pa.array([[1], [2, 3]])),
    ("date", pa.array([dt.date(2024, 1, 1)])),
]


@pytest.mark.parametrize("array", [c[1] for c in NOT_PLAIN], ids=[c[0] for c in NOT_PLAIN])
def test_other_arrow_columns_are_converted_to_pandas(array: pa.Array) -> None:
    frame = Frame(pa.table({"c": array}), role="current")
    assert isinstance(frame.column("c"), pd.Series)


def test_a_pandas_extension_dtype_in_the_metadata_takes_the_pandas_path() -> None:
    data = pd.DataFrame({"n": pd.array([1, None, 2], dtype="Int64"), "f": [0.5, 1.5, 2.5]})
    frame = Frame(pa.Table.from_pandas(data), role="current")
    assert isinstance(frame.column("n"), pd.Series)
    assert str(frame.column("n").dtype) == "Int64"
    assert isinstance(frame.column("f"), ArrowColumn)


def test_a_corrupt_column_is_an_invalid_argument_naming_it(tmp_path: Path) -> None:
    from moorline.errors import InvalidArgument

    path = tmp_path / "ok.parquet"
    pq.write_table(pa.table({"a": np.arange(100.0), "b": np.arange(100.0)}), path)
    parquet = pq.ParquetFile(path)
    data = bytearray(path.read_bytes())
    data[4:200] = b"\xff" * 196  # the column chunks, after the magic bytes
    path.write_bytes(bytes(data))  # the footer (schema) still reads
    with pytest.raises(InvalidArgument, match="Cannot read column 'a' of the current"):
        compute_drift(pd.DataFrame({"a": [1.0], "b": [1.0]}), parquet)


def run_python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout


def test_a_check_on_parquet_files_never_imports_pandas(files: dict[str, Path]) -> None:
    out = run_python(
        """
        import sys
        import pyarrow.parquet as pq
        from moorline.monitoring.drift import compute_drift
        from moorline.monitoring.profile import ReferenceProfile

        ref, cur = pq.ParquetFile(sys.argv[1]), pq.ParquetFile(sys.argv[2])
        # "nullable" is pandas' Int64 where the file says so: pandas converts it;
        # scikit-learn, which the text tests use, imports pandas itself
        skip = ("nullable", "empty", "when", "text")
        plain = [n for n in ref.schema_arrow.names if n not in skip]
        report = compute_drift(ref, cur, columns=plain)
        stored = ReferenceProfile.from_frame(ref, columns=[*plain, "empty", "when", "text"])
        stored = stored.to_bytes()
        profile = ReferenceProfile.from_bytes(stored)
        compute_drift(profile, cur, columns=plain)
        print(len(report.columns), "pandas" in sys.modules)
        """,
        str(files["ref"]),
        str(files["cur"]),
    )
    assert out.split() == ["11", "False"]


@pytest.mark.slow
def test_lazy_files_hold_a_fraction_of_what_eager_frames_hold(tmp_path: Path) -> None:
    """Peak memory of a whole process, eager against lazy, on 2 x 64 MB of floats."""
    rows, columns = 400_000, 20
    rng = np.random.default_rng(7)
    for name, shift in (("ref", 0.0), ("cur", 0.1)):
        table = pa.table({f"c{i}": rng.normal(shift, 1.0, rows) for i in range(columns)})
        pq.write_table(table, tmp_path / f"{name}.parquet")
    # VmHWM, not ru_maxrss: the latter starts from the forked copy of this (pytest) process
    code = """
        import sys
        import pyarrow.parquet as pq, scipy.stats
        from moorline.monitoring.drift import compute_drift
        ref, cur = sys.argv[1], sys.argv[2]
        if sys.argv[3] == "eager":
            ref, cur = pq.read_table(ref), pq.read_table(cur)
        else:
            ref, cur = pq.ParquetFile(ref), pq.ParquetFile(cur)
        report = compute_drift(ref, cur)
        status = open("/proc/self/status").read().splitlines()
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
        print(report.number_of_columns, peak)
        """
    peaks = {}
    for mode in ("eager", "lazy"):
        tested, peak_kib = run_python(
            code, str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), mode
        ).split()
        assert int(tested) == columns
        peaks[mode] = int(peak_kib) / 1024
    data_mb = 2 * rows * columns * 8 / 2**20  # 122 MB of floats in the two files
    assert peaks["eager"] - peaks["lazy"] > data_mb / 2, peaks


@pytest.mark.slow
def test_a_monitor_checking_window_after_window_keeps_the_footprint_of_one(
    tmp_path: Path,
) -> None:
    """What Arrow's pool freed in a run goes back to the OS at its end: a long-lived
    process holds after each window little more than before the first (measured:
    +8 MB of the C heap's own retention; +22 MB without the release), and the peak
    does not creep up window after window."""
    rows, columns = 200_000, 24
    rng = np.random.default_rng(8)
    for name, shift in (("ref", 0.0), ("cur", 0.1)):
        data = {f"c{i}": rng.normal(shift, 1.0, rows) for i in range(columns - 2)}
        data["nulls"] = np.where(rng.random(rows) < 0.1, np.nan, rng.normal(size=rows))
        data["kind"] = rng.choice(["a", "b", "c", "d"], rows)
        pq.write_table(pa.table(data), tmp_path / f"{name}.parquet")
    code = """
        import sys
        import pyarrow.parquet as pq
        from moorline.monitoring.drift import compute_drift
        from moorline.monitoring.profile import ReferenceProfile

        def status(key):
            lines = open("/proc/self/status").read().splitlines()
            return int(next(l.split()[1] for l in lines if l.startswith(key + ":"))) / 1024

        profile = ReferenceProfile.from_frame(pq.ParquetFile(sys.argv[1]))
        figures = [(status("VmHWM"), status("RssAnon"))]
        for _ in range(4):
            report = compute_drift(profile, pq.ParquetFile(sys.argv[2]), preset="evidently")
            assert report.number_of_columns == 24
            figures.append((status("VmHWM"), status("RssAnon")))
        print(" ".join(f"{peak:.1f},{anon:.1f}" for peak, anon in figures))
        """
    out = run_python(code, str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"))
    figures = [tuple(map(float, pair.split(","))) for pair in out.split()]
    window_mb = rows * columns * 8 / 2**20  # 37 MB of floats per window
    (_, before_anon), (first_peak, _), *_ = figures
    for peak, anon in figures[1:]:
        assert anon - before_anon < window_mb / 3, figures
        assert peak - first_peak < window_mb / 4, figures
