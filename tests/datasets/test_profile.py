"""The schema and the profile (format ``moorline.profile/1``) against NumPy's own numbers."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from moorline.tracking.datasets import (
    HISTOGRAM_BINS,
    PROFILE_FORMAT,
    QUANTILES,
    canonical_table,
    parse_schema,
    prepare,
    profile_json,
    profile_table,
)


def columns_of(data: object) -> dict[str, dict[str, object]]:
    profile = profile_table(canonical_table(data))
    assert profile["format"] == PROFILE_FORMAT
    return {c["name"]: c for c in profile["columns"]}


def test_numeric_statistics_match_numpy() -> None:
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, 3.0, 5000)
    values[rng.random(5000) < 0.05] = np.nan
    ints = rng.integers(-1000, 1000, 5000)
    col = columns_of(pd.DataFrame({"x": values, "n": ints}))
    present = values[~np.isnan(values)]
    x = col["x"]
    assert x["kind"] == "numeric" and x["type"] == "double"
    assert x["count"] == len(present) and x["null_count"] == 5000 - len(present)
    assert x["min"] == present.min() and x["max"] == present.max()
    assert x["mean"] == pytest.approx(present.mean(), rel=1e-12)
    assert x["std"] == pytest.approx(present.std(ddof=1), rel=1e-12)
    expected_q = np.quantile(present, QUANTILES)
    assert list(x["quantiles"]) == ["0", "0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99", "1"]
    assert list(x["quantiles"].values()) == pytest.approx(expected_q.tolist(), rel=1e-12)
    counts, edges = np.histogram(present, bins=HISTOGRAM_BINS)
    assert x["histogram"]["counts"] == counts.tolist()
    assert x["histogram"]["edges"] == pytest.approx(edges.tolist(), rel=1e-12)
    assert sum(x["histogram"]["counts"]) == x["count"]
    n = col["n"]
    assert n["type"] == "int64" and n["null_count"] == 0
    assert n["min"] == int(ints.min()) and isinstance(n["min"], int)
    assert n["max"] == int(ints.max()) and isinstance(n["max"], int)
    assert n["quantiles"]["0.5"] == pytest.approx(float(np.median(ints)))


def test_integers_beyond_float_precision_stay_exact() -> None:
    big = 2**62 + 1
    col = columns_of(pd.DataFrame({"id": [big, big + 2]}))["id"]
    assert col["min"] == big and col["max"] == big + 2
    assert col["histogram"] == {"edges": [float(big), float(big + 2)], "counts": [2]}


def test_categorical_statistics_count_and_rank_values() -> None:
    # 25 values: "v00" x 25 down to "v24" x 1, plus a tie at the cut and nulls.
    cities = [f"v{i:02d}" for i in range(25) for _ in range(25 - i)]
    cities += ["w-tie"] * 6 + [None] * 4  # ties with v19 (6 each) at rank 20
    col = columns_of(pd.DataFrame({"c": pd.Series(cities, dtype="str")}))["c"]
    assert col["kind"] == "categorical" and col["null_count"] == 4
    assert col["count"] == len(cities) - 4
    assert col["distinct"] == 26
    top = col["top"]
    assert len(top) == 20
    assert top[0] == {"value": "v00", "count": 25}
    assert [t["count"] for t in top] == sorted((t["count"] for t in top), reverse=True)
    assert top[-2:] == [
        {"value": "v18", "count": 7},
        {"value": "v19", "count": 6},
    ]  # "v19" < "w-tie"
    booleans = columns_of(pd.DataFrame({"b": [True, True, False]}))["b"]
    assert booleans["kind"] == "categorical"
    assert booleans["top"] == [{"value": True, "count": 2}, {"value": False, "count": 1}]


def test_long_category_values_are_cut_in_the_profile() -> None:
    col = columns_of(pd.DataFrame({"t": ["x" * 1000]}))["t"]
    assert col["top"] == [{"value": "x" * 200, "count": 1}]


def test_temporal_and_empty_columns() -> None:
    df = pd.DataFrame(
        {
            "t": pd.to_datetime(
                ["2024-03-01 12:00:00.5", None, "2023-01-01"], utc=True, format="ISO8601"
            ),
            "empty": pd.array([None, None, None], dtype="Float64"),
            "blob": [b"a", b"b", None],
        }
    )
    col = columns_of(df)
    assert col["t"]["kind"] == "temporal"
    assert col["t"]["min"] == "2023-01-01T00:00:00.000000000Z"
    assert col["t"]["max"] == "2024-03-01T12:00:00.500000000Z"
    assert col["empty"]["count"] == 0 and col["empty"]["mean"] is None
    assert col["empty"]["histogram"] is None
    assert col["blob"]["kind"] == "other" and col["blob"]["null_count"] == 1


def test_infinities_are_kept_and_the_profile_is_strict_json() -> None:
    df = pd.DataFrame({"x": [1.0, np.inf, -np.inf, 2.0]})
    profile = profile_table(canonical_table(df))
    x = profile["columns"][0]
    assert x["min"] == "-Infinity" and x["max"] == "Infinity"
    assert x["histogram"]["counts"] and sum(x["histogram"]["counts"]) == 2  # finite values only
    text = profile_json(profile)
    assert json.loads(text) == profile  # no bare NaN/Infinity in the JSON


def test_schema_json_round_trips() -> None:
    prepared = prepare(pd.DataFrame({"a": [1, None], "b": ["x", "y"]}))
    columns = parse_schema(prepared.schema)
    assert [(c.name, c.type, c.nullable) for c in columns] == [
        ("a", "double", True),
        ("b", "large_string", False),
    ]
    assert parse_schema('{"mlflow_colspec": []}') == ()  # another client's schema: no summary


def test_a_million_rows_by_twenty_columns_take_a_couple_of_seconds() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    data = {f"f{i}": rng.normal(size=n) for i in range(14)}
    data |= {f"i{i}": rng.integers(0, 10_000, n) for i in range(4)}
    data["plan"] = rng.choice(["basic", "pro", "team", "enterprise"], n)
    data["country"] = rng.choice([f"c{i}" for i in range(200)], n)
    table = pa.table(data)
    started = time.perf_counter()
    prepared = prepare(table)
    elapsed = time.perf_counter() - started
    print(f"prepare 1M x 20: {elapsed:.2f} s")
    assert json.loads(prepared.profile)["rows"] == n
    # About 1.5 s on one idle core; the bound leaves room for a busy CI machine.
    assert elapsed < 8.0, f"canonical form, digest, schema and profile took {elapsed:.1f} s"
