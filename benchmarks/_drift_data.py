"""Seeded synthetic data for the drift benchmark: one reference frame, several current windows.

Both contestants must see the same bytes, and they run in different environments (Evidently
needs pandas < 3, moorline runs with pandas 3). So the frames are generated once, here, with
NumPy and PyArrow only, and written to Parquet files that each side reads with its own
reader; neither side ever sees the generator.

Columns come in blocks of 20 (15 numerical, 5 categorical); 200 columns are ten blocks, each
with its own random streams. The block covers the edge cases of ``specs/drift-evidently.md``
section 7 so that the verdict check exercises them at benchmark sizes, not only in unit
tests:

* nulls on both sides at different rates, as Parquet nulls (``num_uniform_nulls``,
  ``cat_new_vanished``) and as NaN values (``num_nan_inf``);
* ±inf in a column without NaN (``num_inf_no_nan``) and beside NaN (``num_nan_inf``);
* references with fewer than 1,000 non-null values in a large frame, so Evidently's
  small-sample branch runs at every size: K-S (``num_sparse_ref``), the Z-test on a float
  0/1 flag (``num_flag_sparse_ref``) and the goodness-of-fit chi-square, anti-conservative
  when the current sample is much larger than the reference (``cat_five_sparse_ref``);
* low cardinality: a float 0/1 flag, a float with four values, a bool, an int column with
  at most 10 values (categorical by Evidently's inference) and one with many (numerical);
* a category that appears only in the current window and one that vanished from it
  (``cat_new_vanished``), and a 40-category Zipf column;
* a reference standard deviation below Wasserstein's 0.001 floor (``num_tiny_scale``) and a
  large offset (``num_large_offset``);
* drifted and undrifted columns side by side (``DRIFT_INTENDED`` lists the drifted ones;
  the verdicts that count are Evidently's own, not this list).

Every column draws from its own generator, seeded by ``(seed, block, column, frame)``, so a
frame's bytes depend only on those, never on the order of generation or the frame size of
other columns. Same seed, same files, byte for byte (pyarrow's Parquet writer is
deterministic for a given pyarrow version). No column is entirely null on either side:
Evidently aborts the whole report on one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

BLOCK_COLUMNS = 20
BLOCK_NUMERICAL = 15
#: non-null values in ``num_sparse_ref``'s reference: below Evidently's 1,000 boundary
SPARSE_REFERENCE_VALUES = 800
DEFAULT_SEED = 20261129

Rng = np.random.Generator
# (rng, rows, current) -> one Arrow column. ``current`` is False for the reference frame.
Make = Callable[[Rng, int, bool], pa.Array]


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnSpec:
    """One column of a block: its name, its intended Evidently type, and how to draw it."""

    name: str
    kind: str  # "num" or "cat", the type Evidently infers from the Parquet dtype
    drift: bool  # whether the current windows are drawn from a shifted distribution
    make: Make


def _mask(rng: Rng, rows: int, rate: float) -> npt.NDArray[np.bool_]:
    """A null mask with exactly ``round(rate * rows)`` nulls at random positions."""
    mask = np.zeros(rows, dtype=bool)
    mask[rng.choice(rows, size=round(rate * rows), replace=False)] = True
    return mask


def _strings(
    rng: Rng,
    rows: int,
    categories: Sequence[str],
    probabilities: Sequence[float],
    null_rate: float = 0.0,
) -> pa.Array:
    """Categorical strings drawn with ``probabilities``, as a plain Arrow string column."""
    codes = rng.choice(len(categories), size=rows, p=np.asarray(probabilities, dtype=float))
    mask = _mask(rng, rows, null_rate) if null_rate else None
    indices = pa.array(codes.astype(np.int32), mask=mask)
    dictionary = pa.array(list(categories), type=pa.string())
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def _zipf(k: int, exponent: float) -> npt.NDArray[np.float64]:
    weights = 1.0 / np.arange(1, k + 1) ** exponent
    result: npt.NDArray[np.float64] = weights / weights.sum()
    return result


def _num_normal(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array(rng.normal(0.0, 1.0, rows))


def _num_shift(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array(rng.normal(0.3 if current else 0.0, 1.0, rows))


def _num_lognormal_scale(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array(rng.lognormal(0.1 if current else 0.0, 0.65 if current else 0.5, rows))


def _num_uniform_nulls(rng: Rng, rows: int, current: bool) -> pa.Array:
    values = rng.uniform(0.0, 1.0, rows)
    return pa.array(values, mask=_mask(rng, rows, 0.12 if current else 0.05))


def _num_inf_no_nan(rng: Rng, rows: int, current: bool) -> pa.Array:
    values = rng.normal(0.05 if current else 0.0, 1.0, rows)
    where = rng.choice(rows, size=max(2, rows // 500), replace=False)
    values[where[: where.size // 2]] = np.inf
    values[where[where.size // 2 :]] = -np.inf
    return pa.array(values)


def _num_nan_inf(rng: Rng, rows: int, current: bool) -> pa.Array:
    values = rng.gamma(2.0, 2.6 if current else 2.0, rows)
    values[_mask(rng, rows, 0.02)] = np.nan  # NaN values, not Parquet nulls
    values[_mask(rng, rows, 0.005)] = np.inf
    return pa.array(values, from_pandas=False)


def _num_flag2(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array((rng.random(rows) < (0.45 if current else 0.3)).astype(np.float64))


def _num_four_values(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array(rng.choice([0.5, 1.5, 2.5, 3.5], size=rows, p=[0.4, 0.3, 0.2, 0.1]))


def _num_int_counts(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array(rng.poisson(32.0 if current else 30.0, rows).astype(np.int64))


def _sparse_mask(rng: Rng, rows: int, current: bool) -> npt.NDArray[np.bool_]:
    """Half the current window null; all but ``SPARSE_REFERENCE_VALUES`` of the reference."""
    if current:
        return _mask(rng, rows, 0.5)
    mask = np.ones(rows, dtype=bool)
    mask[rng.choice(rows, size=SPARSE_REFERENCE_VALUES, replace=False)] = False
    return mask


def _num_sparse_ref(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array(rng.normal(0.0, 1.0, rows), mask=_sparse_mask(rng, rows, current))


def _num_flag_sparse_ref(rng: Rng, rows: int, current: bool) -> pa.Array:
    values = (rng.random(rows) < (0.3 if current else 0.2)).astype(np.float64)
    return pa.array(values, mask=_sparse_mask(rng, rows, current))


def _num_student_t(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array(rng.standard_t(3.0, rows) * (1.3 if current else 1.0))


def _num_bimodal(rng: Rng, rows: int, current: bool) -> pa.Array:
    upper = rng.random(rows) < (0.6 if current else 0.5)
    return pa.array(np.where(upper, 2.0, -2.0) + rng.normal(0.0, 1.0, rows))


def _num_large_offset(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array(1e6 + 10.0 * rng.normal(0.0, 1.0, rows))


def _num_tiny_scale(rng: Rng, rows: int, current: bool) -> pa.Array:
    # A real shift of one reference std, scored tiny: the reference std (1e-6) is below
    # Wasserstein's 0.001 normalisation floor.
    return pa.array(1e-6 * rng.normal(1.0 if current else 0.0, 1.0, rows))


_FIVE = ("a", "b", "c", "d", "e")
_ZIPF40 = tuple(f"k{i:02d}" for i in range(40))
_ZIPF40_REFERENCE = _zipf(40, 1.1)
# The current window swaps the shares of the 2nd/5th and 3rd/9th most frequent keys.
_ZIPF40_CURRENT = _ZIPF40_REFERENCE[[0, 4, 8, 3, 1, 5, 6, 7, 2, *range(9, 40)]]
_COLOURS = ("red", "green", "blue", "gray", "purple")


def _cat_five_sparse_ref(rng: Rng, rows: int, current: bool) -> pa.Array:
    codes = rng.choice(len(_FIVE), size=rows)
    indices = pa.array(codes.astype(np.int32), mask=_sparse_mask(rng, rows, current))
    dictionary = pa.array(_FIVE, type=pa.string())
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def _cat_zipf40(rng: Rng, rows: int, current: bool) -> pa.Array:
    return _strings(rng, rows, _ZIPF40, _ZIPF40_CURRENT if current else _ZIPF40_REFERENCE)


def _cat_new_vanished(rng: Rng, rows: int, current: bool) -> pa.Array:
    # "gray" only in the reference, "purple" (new) only in the current window.
    shares = [0.4, 0.3, 0.2, 0.0, 0.1] if current else [0.4, 0.3, 0.2, 0.1, 0.0]
    return _strings(rng, rows, _COLOURS, shares, null_rate=0.04 if current else 0.02)


def _cat_bool(rng: Rng, rows: int, current: bool) -> pa.Array:
    return pa.array(rng.random(rows) < 0.5)


def _cat_int_codes(rng: Rng, rows: int, current: bool) -> pa.Array:
    probabilities = [0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04]
    return pa.array(rng.choice(8, size=rows, p=probabilities).astype(np.int64))


BLOCK: tuple[ColumnSpec, ...] = (
    ColumnSpec(name="num_normal", kind="num", drift=False, make=_num_normal),
    ColumnSpec(name="num_shift", kind="num", drift=True, make=_num_shift),
    ColumnSpec(name="num_lognormal_scale", kind="num", drift=True, make=_num_lognormal_scale),
    ColumnSpec(name="num_uniform_nulls", kind="num", drift=False, make=_num_uniform_nulls),
    ColumnSpec(name="num_inf_no_nan", kind="num", drift=False, make=_num_inf_no_nan),
    ColumnSpec(name="num_nan_inf", kind="num", drift=True, make=_num_nan_inf),
    ColumnSpec(name="num_flag2", kind="num", drift=True, make=_num_flag2),
    ColumnSpec(name="num_four_values", kind="num", drift=False, make=_num_four_values),
    ColumnSpec(name="num_int_counts", kind="num", drift=True, make=_num_int_counts),
    ColumnSpec(name="num_sparse_ref", kind="num", drift=False, make=_num_sparse_ref),
    ColumnSpec(name="num_student_t", kind="num", drift=True, make=_num_student_t),
    ColumnSpec(name="num_flag_sparse_ref", kind="num", drift=True, make=_num_flag_sparse_ref),
    ColumnSpec(name="num_bimodal", kind="num", drift=True, make=_num_bimodal),
    ColumnSpec(name="num_large_offset", kind="num", drift=False, make=_num_large_offset),
    ColumnSpec(name="num_tiny_scale", kind="num", drift=True, make=_num_tiny_scale),
    ColumnSpec(name="cat_five_sparse_ref", kind="cat", drift=False, make=_cat_five_sparse_ref),
    ColumnSpec(name="cat_zipf40", kind="cat", drift=True, make=_cat_zipf40),
    ColumnSpec(name="cat_new_vanished", kind="cat", drift=True, make=_cat_new_vanished),
    ColumnSpec(name="cat_bool", kind="cat", drift=False, make=_cat_bool),
    ColumnSpec(name="cat_int_codes", kind="cat", drift=False, make=_cat_int_codes),
)
assert len(BLOCK) == BLOCK_COLUMNS
assert sum(spec.kind == "num" for spec in BLOCK) == BLOCK_NUMERICAL


def column_names(columns: int) -> list[str]:
    """Names of a frame with ``columns`` columns: the block's names, prefixed ``bK_`` when
    there is more than one block."""
    blocks = _blocks(columns)
    if blocks == 1:
        return [spec.name for spec in BLOCK]
    return [f"b{block}_{spec.name}" for block in range(blocks) for spec in BLOCK]


def drift_intended(columns: int) -> list[str]:
    """Columns whose current windows are drawn from a shifted distribution."""
    drifted = [spec.drift for spec in BLOCK] * _blocks(columns)
    return [name for name, flag in zip(column_names(columns), drifted, strict=True) if flag]


def _blocks(columns: int) -> int:
    if columns < BLOCK_COLUMNS or columns % BLOCK_COLUMNS:
        raise ValueError(f"columns must be a positive multiple of {BLOCK_COLUMNS}, got {columns}")
    return columns // BLOCK_COLUMNS


def frame(rows: int, columns: int, *, seed: int, window: int | None) -> pa.Table:
    """The reference frame (``window=None``) or current window ``window`` (0, 1, ...).

    Windows share the reference's schema and the drifted distributions; they differ only
    in their random draws.
    """
    if rows < 2 * SPARSE_REFERENCE_VALUES:
        raise ValueError(f"rows must be at least {2 * SPARSE_REFERENCE_VALUES}, got {rows}")
    current = window is not None
    frame_id = 0 if window is None else 1 + window
    arrays = []
    for block in range(_blocks(columns)):
        for index, spec in enumerate(BLOCK):
            rng = np.random.default_rng([seed, block, index, frame_id])
            arrays.append(spec.make(rng, rows, current))
    return pa.Table.from_arrays(arrays, names=column_names(columns))


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetFiles:
    """Where one size's frames were written."""

    rows: int
    columns: int
    seed: int
    reference: Path
    windows: tuple[Path, ...]


def write_dataset(
    directory: Path, rows: int, columns: int, *, seed: int = DEFAULT_SEED, windows: int = 1
) -> DatasetFiles:
    """Write the reference and ``windows`` current windows as Parquet under ``directory``.

    Window 0 is the current frame both contestants compare against the reference; the
    others feed moorline's warm per-window timing. One frame is in memory at a time.
    """
    if windows < 1:
        raise ValueError(f"windows must be at least 1, got {windows}")
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{rows}x{columns}-s{seed}"
    reference = directory / f"{stem}-reference.parquet"
    pq.write_table(frame(rows, columns, seed=seed, window=None), reference)
    paths = []
    for window in range(windows):
        path = directory / f"{stem}-current{window}.parquet"
        pq.write_table(frame(rows, columns, seed=seed, window=window), path)
        paths.append(path)
    return DatasetFiles(
        rows=rows, columns=columns, seed=seed, reference=reference, windows=tuple(paths)
    )


def main(argv: Sequence[str]) -> int:
    """``python _drift_data.py DIRECTORY ROWS COLUMNS SEED WINDOWS``: write one size's files
    and print their paths as JSON (``{"reference": ..., "windows": [...]}``).

    ``drift.py`` writes the data in this child process, never in its own: the kernel carries
    a process's high-water mark of resident memory into the children it starts (across
    ``exec``), so a benchmark process that held the frames would put a floor under every
    worker's measured peak.
    """
    import json

    directory, rows, columns, seed, windows = argv
    files = write_dataset(
        Path(directory), int(rows), int(columns), seed=int(seed), windows=int(windows)
    )
    print(json.dumps({"reference": str(files.reference), "windows": list(map(str, files.windows))}))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
