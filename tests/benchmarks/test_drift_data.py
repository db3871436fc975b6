"""The drift benchmark's data: deterministic to the byte, and holding the edge cases it claims.

Both contestants read these Parquet files, so the benchmark's verdict check is only as good
as what the files contain: nulls (as Parquet nulls and as NaN), ±inf with and without NaN,
low-cardinality columns, sparse references that force Evidently's small-sample branch, and
categories that appear or vanish. The column types are checked against Evidently's
inference rules (spec section 2), written out here independently of moorline's code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import _drift_data
from _drift_data import (
    BLOCK,
    SPARSE_REFERENCE_VALUES,
    column_names,
    drift_intended,
    frame,
    write_dataset,
)

ROWS = 4_000


def digests(directory: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.glob("*.parquet"))
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> _drift_data.DatasetFiles:
    return write_dataset(tmp_path_factory.mktemp("drift-data"), ROWS, 20, seed=11, windows=3)


@pytest.fixture(scope="module")
def reference(dataset: _drift_data.DatasetFiles) -> pa.Table:
    return pq.read_table(dataset.reference)


@pytest.fixture(scope="module")
def current(dataset: _drift_data.DatasetFiles) -> pa.Table:
    return pq.read_table(dataset.windows[0])


def evidently_type(column: pa.ChunkedArray) -> str:
    """Evidently 0.7's inference (spec section 2) on the dtype pandas gives this column."""
    if pa.types.is_floating(column.type):
        return "num"
    if pa.types.is_integer(column.type):
        if column.null_count:
            return "num"  # pandas reads an int column with nulls as float
        return "cat" if len(pc.unique(column)) <= 10 else "num"
    if pa.types.is_boolean(column.type):
        return "unknown" if column.null_count else "cat"  # with nulls: object of bools
    if pa.types.is_string(column.type):
        distinct = len(pc.unique(column.drop_null()))
        return "text" if distinct > 0.5 * (len(column) - column.null_count) else "cat"
    return "unknown"


def values(column: pa.ChunkedArray) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False)


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    write_dataset(tmp_path / "a", ROWS, 40, seed=5, windows=2)
    write_dataset(tmp_path / "b", ROWS, 40, seed=5, windows=2)
    write_dataset(tmp_path / "c", ROWS, 40, seed=6, windows=2)
    first, second, other = (digests(tmp_path / name) for name in "abc")
    assert len(first) == 3  # the reference and two windows
    assert first == second
    # Another seed: file names differ by their seed, and so does every file's content.
    assert set(first.values()).isdisjoint(other.values())


def test_a_column_depends_only_on_seed_block_column_and_frame() -> None:
    """Generating fewer rows of other columns, or another frame first, changes nothing."""
    wide = frame(ROWS, 40, seed=3, window=1)
    narrow = frame(ROWS, 20, seed=3, window=1)
    assert wide.column("b0_num_shift").equals(narrow.column("num_shift"))
    assert not wide.column("b0_num_shift").equals(wide.column("b1_num_shift"))


def test_every_column_has_the_type_evidently_will_infer(
    reference: pa.Table, current: pa.Table
) -> None:
    assert reference.column_names == current.column_names == column_names(20)
    for spec in BLOCK:
        # The current frame decides the type (spec section 1); the reference must agree,
        # or the benchmark would test something other than what it claims.
        assert evidently_type(current.column(spec.name)) == spec.kind, spec.name
        assert evidently_type(reference.column(spec.name)) == spec.kind, spec.name
    kinds = [spec.kind for spec in BLOCK]
    assert (kinds.count("num"), kinds.count("cat")) == (15, 5)


def test_no_column_is_entirely_missing_on_either_side(
    reference: pa.Table, current: pa.Table
) -> None:
    """Evidently aborts the whole report on a column with nothing left after cleaning."""
    for table in (reference, current):
        for name in table.column_names:
            column = table.column(name)
            if pa.types.is_floating(column.type):
                finite = np.isfinite(values(column.drop_null()).astype(float))
                assert finite.sum() > 0, name
            else:
                assert column.null_count < len(column), name


def test_nulls_at_different_rates_as_parquet_nulls_and_as_nan(
    reference: pa.Table, current: pa.Table
) -> None:
    assert reference.column("num_uniform_nulls").null_count == round(0.05 * ROWS)
    assert current.column("num_uniform_nulls").null_count == round(0.12 * ROWS)
    assert reference.column("cat_new_vanished").null_count == round(0.02 * ROWS)
    assert current.column("cat_new_vanished").null_count == round(0.04 * ROWS)
    # num_nan_inf holds NaN *values* (no Parquet nulls) beside +inf.
    for table in (reference, current):
        column = table.column("num_nan_inf")
        assert column.null_count == 0
        data = values(column)
        assert np.isnan(data).sum() > 0
        assert np.isposinf(data).sum() > 0


def test_infinities_in_a_column_without_nan(reference: pa.Table, current: pa.Table) -> None:
    """The case where Evidently's dataset count and ValueDrift disagree (spec section 1)."""
    for table in (reference, current):
        column = table.column("num_inf_no_nan")
        data = values(column)
        assert column.null_count == 0
        assert not np.isnan(data).any()
        assert np.isposinf(data).sum() > 0
        assert np.isneginf(data).sum() > 0


def test_sparse_references_fall_under_the_small_sample_boundary(
    reference: pa.Table, current: pa.Table
) -> None:
    """Below 1,000 non-null reference values Evidently picks K-S, Z and chi-square."""
    sparse = ("num_sparse_ref", "num_flag_sparse_ref", "cat_five_sparse_ref")
    for name in sparse:
        present = len(reference) - reference.column(name).null_count
        assert present == SPARSE_REFERENCE_VALUES < 1000, name
        assert len(current) - current.column(name).null_count == ROWS // 2, name
    for name in column_names(20):
        if name not in sparse:
            assert len(reference) - reference.column(name).null_count > 1000, name


def test_low_cardinality_columns(reference: pa.Table, current: pa.Table) -> None:
    for table in (reference, current):
        distinct = {
            name: set(values(table.column(name).drop_null()).tolist())
            for name in (
                "num_flag2",
                "num_flag_sparse_ref",
                "num_four_values",
                "cat_bool",
                "cat_int_codes",
            )
        }
        assert distinct["num_flag2"] == {0.0, 1.0}
        assert distinct["num_flag_sparse_ref"] == {0.0, 1.0}
        assert distinct["num_four_values"] == {0.5, 1.5, 2.5, 3.5}
        assert distinct["cat_bool"] == {False, True}
        assert distinct["cat_int_codes"] == set(range(8))
        assert table.column("num_flag2").type == pa.float64()
        assert table.column("cat_int_codes").type == pa.int64()
        # Many distinct integers: numerical by Evidently's rule.
        assert len(pc.unique(table.column("num_int_counts"))) > 10
        assert len(pc.unique(table.column("cat_zipf40"))) == 40


def test_new_and_vanished_categories(reference: pa.Table, current: pa.Table) -> None:
    before = set(values(reference.column("cat_new_vanished").drop_null()).tolist())
    after = set(values(current.column("cat_new_vanished").drop_null()).tolist())
    assert after - before == {"purple"}
    assert before - after == {"gray"}


def test_windows_share_the_schema_and_the_drift_but_not_the_draws(
    dataset: _drift_data.DatasetFiles, current: pa.Table
) -> None:
    later = pq.read_table(dataset.windows[1])
    assert later.schema == current.schema
    assert not later.column("num_normal").equals(current.column("num_normal"))
    # Same drifted distribution: the shifted column's mean moved by ~0.3 in both windows.
    for table in (current, later):
        assert 0.2 < pc.mean(table.column("num_shift")).as_py() < 0.4


def test_two_hundred_columns_are_ten_blocks() -> None:
    names = column_names(200)
    assert len(names) == len(set(names)) == 200
    assert names[0] == "b0_num_normal" and names[-1] == "b9_cat_int_codes"
    assert len(drift_intended(200)) == 10 * len(drift_intended(20))
    assert set(drift_intended(20)) <= {spec.name for spec in BLOCK}


@pytest.mark.parametrize(
    ("rows", "columns"), [(ROWS, 30), (ROWS, 0), (1_000, 20)], ids=["cols30", "cols0", "rows"]
)
def test_sizes_it_cannot_generate_are_refused(rows: int, columns: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        frame(rows, columns, seed=1, window=None)
