"""The drift engine: which columns, which test, which threshold, and the verdicts.

:func:`compute_drift` compares a current window with a reference (a frame,
or a stored :class:`~moorline.monitoring.profile.ReferenceProfile`) column by
column, then calls the dataset drifted when the share of drifted columns
reaches ``drift_share``. Two presets (see ``docs/monitoring.md``):

- ``evidently`` reproduces Evidently 0.7's data drift exactly, quirks included
  (spec ``drift-evidently.md``): same test, same score, same verdict. A
  column that cannot be tested (nothing left after cleaning, say) aborts the
  whole check with :class:`~moorline.errors.InvalidArgument`, as Evidently's
  ``ValueError`` aborts its report.
- ``default`` makes the same choices, with the tests corrected where the spec
  shows Evidently wrong (two-sample chi-square, two-sided Mann-Whitney), and
  a column that cannot be tested gets an ``error`` while the rest completes.

Per column, in one pass: the type is inferred on the **current** data
(:mod:`.types`; a column mapping can set it), both sides are cleaned (±inf
and nulls dropped, each side on its own), the test comes from the options or,
failing those, from :func:`choose_stattest`, and the threshold from the
options or the test's default.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> reference = pd.DataFrame({"x": rng.normal(size=500), "plan": rng.choice(["a", "b"], 500)})
>>> current = pd.DataFrame({"x": rng.normal(1.0, size=500), "plan": rng.choice(["a", "b"], 500)})
>>> report = compute_drift(reference, current)
>>> [(c.column, c.stattest, c.drift_detected) for c in report.columns]
[('x', 'ks', True), ('plan', 'z', False)]
>>> report.share, report.dataset_drift
(0.5, True)
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from moorline.errors import InvalidArgument, MoorlineError, UserCodeError
from moorline.monitoring._frames import (
    ArrowColumn,
    Frame,
    UnreadableColumn,
    drop_infinite,
    non_null,
    release_arrow_memory,
)
from moorline.monitoring.base import ColumnKind, ReferenceColumn, ScoreKind, StatScore, StatTest
from moorline.monitoring.profile import ProfileColumn, ReferenceProfile, build_column
from moorline.monitoring.report import ColumnDrift, ColumnMapping, DriftReport
from moorline.monitoring.types import TYPE_OF_KIND, ColumnType, infer_column_type, type_of_group

if TYPE_CHECKING:
    import pandas as pd

Preset = Literal["default", "evidently"]
PRESETS: Final = ("default", "evidently")
#: A reference with at most this many values (after cleaning) gets the small-sample tests.
SMALL_SAMPLE_MAX: Final = 1000
DEFAULT_DRIFT_SHARE: Final = 0.5
#: Threshold of a custom callable test when none is given.
CUSTOM_TEST_THRESHOLD: Final = 0.05
#: Columns a lazy frame read to type them are kept for their test up to this many bytes
#: (re-read beyond): reading a column once instead of twice, for a bounded memory cost.
HOLD_BYTES: Final = 32 * 2**20

#: ``(reference, current, kind, threshold) -> (score, drifted)``; kind is "num", "cat" or "text"
CustomTest: TypeAlias = Callable[
    [npt.NDArray[Any], npt.NDArray[Any], str, float], tuple[float, bool]
]
#: A registered test name, a :class:`StatTest`, or a :data:`CustomTest` callable.
Method: TypeAlias = str | StatTest | CustomTest
Progress: TypeAlias = Callable[[int, int], None]

_TESTED_ORDER: Final = (ColumnKind.NUMERICAL, ColumnKind.CATEGORICAL, ColumnKind.TEXT)


def choose_stattest(kind: ColumnKind, *, n_ref: int, n_values: int) -> str:
    """The test Evidently picks by default (spec §3), by registry name.

    ``n_ref``: reference values left after cleaning (not the row count, not
    the current size). ``n_values``: distinct values in the union of both
    cleaned sides. At most :data:`SMALL_SAMPLE_MAX` reference values (the
    boundary is inclusive) selects the small-sample tests.

    >>> choose_stattest(ColumnKind.NUMERICAL, n_ref=1000, n_values=50)
    'ks'
    >>> choose_stattest(ColumnKind.NUMERICAL, n_ref=1001, n_values=50)
    'wasserstein'
    >>> choose_stattest(ColumnKind.NUMERICAL, n_ref=200, n_values=4)
    'chisquare'
    """
    small = n_ref <= SMALL_SAMPLE_MAX
    if kind == ColumnKind.TEXT:
        return "perc_text_content_drift" if small else "abs_text_content_drift"
    if not small:
        if kind == ColumnKind.NUMERICAL and n_values > 5:
            return "wasserstein"
        return "jensenshannon"
    if n_values <= 2:
        return "z"
    if kind == ColumnKind.CATEGORICAL or n_values <= 5:
        return "chisquare"
    return "ks"


def compute_drift(
    reference: Any,
    current: Any,
    *,
    preset: Preset = "default",
    columns: Sequence[str] | None = None,
    column_mapping: ColumnMapping | Mapping[str, Any] | None = None,
    method: Method | None = None,
    threshold: float | None = None,
    per_type_method: Mapping[str, Method] | None = None,
    per_type_threshold: Mapping[str, float] | None = None,
    per_column_method: Mapping[str, Method] | None = None,
    per_column_threshold: Mapping[str, float] | None = None,
    drift_share: float = DEFAULT_DRIFT_SHARE,
    progress: Progress | None = None,
    low_memory: bool = False,
) -> DriftReport:
    """Drift of ``current`` against ``reference``, per column and for the dataset.

    ``reference``: a pandas DataFrame, a PyArrow Table, a
    ``pyarrow.parquet.ParquetFile``, or a :class:`ReferenceProfile` (results
    equal those of the frame it was built from). ``current``: a DataFrame, a
    Table or a ParquetFile. A Parquet file is read one column at a time, each
    released once tested, so a check on files holds little more than the
    column at hand; the results are those of the file read whole.

    - ``columns``: the columns to test, in this order; by default every
      numerical, then categorical, then text column of ``current`` (each
      group in frame order) that the column mapping does not set aside.
    - ``method`` / ``threshold``: the test and threshold of every column,
      overridden per type (``per_type_*``, keyed ``"num"``, ``"cat"``,
      ``"text"``), overridden per column (``per_column_*``). Without any,
      :func:`choose_stattest` picks the test and the test's own default
      threshold applies. A method is a registered name (``"ks"``, ``"psi"``,
      ...), a :class:`StatTest`, or a callable
      ``(reference, current, kind, threshold) -> (score, drifted)``.
    - ``drift_share``: the dataset drifts when drifted / tested columns is at
      least this (exactly half counts at 0.5).
    - ``progress``: called ``(done, total)`` after each column.
    - ``low_memory``: trade time for peak memory on Parquet input: a column read
      to type it is read again for its test instead of being kept (up to 32 MiB),
      and Arrow's default pool hands what it freed back to the system after every
      column. At 100,000 x 20 from files: about 15% less peak memory for about
      30% more CPU. ``moorline drift`` (one run, then exit) sets it; a monitor,
      which checks window after window, does not. Either way, what Arrow's pool
      freed during the run is handed back once at its end.

    Raises :class:`InvalidArgument` for bad options or missing columns, and,
    with ``preset="evidently"``, for the first column that cannot be tested.
    """
    if preset not in PRESETS:
        raise InvalidArgument(f"Unknown drift preset {preset!r}: use one of {', '.join(PRESETS)}")
    if not _is_number(drift_share) or not 0 < drift_share <= 1:
        raise InvalidArgument(f"drift_share must be a number in (0, 1], got {drift_share!r}")
    mapping = ColumnMapping.of(column_mapping)
    cur = Frame(current, role="current")
    ref: ReferenceProfile | Frame = (
        reference if isinstance(reference, ReferenceProfile) else Frame(reference, role="reference")
    )
    options = _Options.parse(
        preset=preset,
        method=method,
        threshold=threshold,
        per_type_method=per_type_method,
        per_type_threshold=per_type_threshold,
        per_column_method=per_column_method,
        per_column_threshold=per_column_threshold,
        names=cur.names,
    )
    engine = _Engine(ref=ref, cur=cur, mapping=mapping, options=options, low_memory=low_memory)
    selected = engine.select(columns)
    extra = [c for c in (mapping.prediction, mapping.target) if c is not None]
    if mapping.prediction is not None and mapping.prediction not in cur:
        raise InvalidArgument(
            f"The prediction column {mapping.prediction!r} is not in the current data"
        )
    extra = [c for c in extra if c in cur]
    total = len(selected) + len(extra)
    results: list[ColumnDrift] = []
    for name, type_ in selected:
        results.append(engine.column(name, type_))
        if low_memory:
            release_arrow_memory()
        if progress is not None:
            progress(len(results), total)
    role_results: dict[str, ColumnDrift] = {}
    for name in extra:
        role_results[name] = engine.column(name, engine.type_of(name))
        if progress is not None:
            progress(len(results) + len(role_results), total)
    report = DriftReport(
        preset=preset,
        reference_rows=ref.rows,
        current_rows=cur.rows,
        columns=tuple(results),
        drift_share=float(drift_share),
        column_mapping=mapping,
        prediction_drift=role_results.get(mapping.prediction or ""),
        target_drift=role_results.get(mapping.target or ""),
    )
    # A monitor checks window after window in one process: what Arrow's pool
    # freed in this run goes back to the OS now, so the next window starts from
    # the same footprint (without it, a second 100k x 20 window peaked 17 MB
    # above the first; about 5% of a window's CPU, faulting the pages in again)
    del engine, cur
    release_arrow_memory()
    return report


# -- options ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Options:
    """The validated options, and the precedence rules of spec §3."""

    preset: Preset
    tests: _Tests
    method: StatTest | None
    threshold: float | None
    per_type_method: Mapping[ColumnKind, StatTest]
    per_type_threshold: Mapping[ColumnKind, float]
    per_column_method: Mapping[str, StatTest]
    per_column_threshold: Mapping[str, float]

    @classmethod
    def parse(
        cls,
        *,
        preset: Preset,
        method: Method | None,
        threshold: float | None,
        per_type_method: Mapping[str, Method] | None,
        per_type_threshold: Mapping[str, float] | None,
        per_column_method: Mapping[str, Method] | None,
        per_column_threshold: Mapping[str, float] | None,
        names: Iterable[str],
    ) -> _Options:
        known = set(names)
        for option, per_column in (
            ("per_column_method", per_column_method),
            ("per_column_threshold", per_column_threshold),
        ):
            unknown = sorted(set(per_column or {}) - known)
            if unknown:
                raise InvalidArgument(
                    f"{option} names columns that are not in the current data: "
                    + ", ".join(map(repr, unknown))
                )
        tests = _Tests(preset)
        return cls(
            preset=preset,
            tests=tests,
            method=None if method is None else tests.resolve(method, "method"),
            threshold=None if threshold is None else _threshold(threshold, "threshold"),
            per_type_method={
                _kind_key(k): tests.resolve(m, f"per_type_method[{k!r}]")
                for k, m in (per_type_method or {}).items()
            },
            per_type_threshold={
                _kind_key(k): _threshold(t, f"per_type_threshold[{k!r}]")
                for k, t in (per_type_threshold or {}).items()
            },
            per_column_method={
                c: tests.resolve(m, f"per_column_method[{c!r}]")
                for c, m in (per_column_method or {}).items()
            },
            per_column_threshold={
                c: _threshold(t, f"per_column_threshold[{c!r}]")
                for c, t in (per_column_threshold or {}).items()
            },
        )

    def method_for(self, column: str, kind: ColumnKind) -> StatTest | None:
        """per column > per type > global > None (the chooser decides)."""
        found = self.per_column_method.get(column) or self.per_type_method.get(kind)
        return found or self.method

    def threshold_for(self, column: str, kind: ColumnKind) -> float | None:
        """per column > per type > global > None (the test's default)."""
        for value in (
            self.per_column_threshold.get(column),
            self.per_type_threshold.get(kind),
            self.threshold,
        ):
            if value is not None:
                return value
        return None


def _kind_key(key: object) -> ColumnKind:
    if isinstance(key, str):
        for kind in ColumnKind:
            if key in (kind.value, TYPE_OF_KIND[kind].value):
                return kind
    raise InvalidArgument(
        f"Unknown column type {key!r} in a per-type option: use 'num', 'cat' or 'text'"
    )


def _threshold(value: object, option: str) -> float:
    if not _is_number(value) or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise InvalidArgument(f"{option} must be a finite number, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


class _Tests:
    """Resolves methods to :class:`StatTest` objects, from the preset's registry."""

    def __init__(self, preset: Preset) -> None:
        self.preset = preset
        self._by_name: dict[str, StatTest] = {}

    def resolve(self, method: object, option: str) -> StatTest:
        if isinstance(method, StatTest):
            return method
        if isinstance(method, str):
            return self.named(method)
        if callable(method):
            return _CallableTest(method)
        raise InvalidArgument(
            f"{option} must be a test name, a StatTest or a callable, not {type(method).__name__}"
        )

    def named(self, name: str) -> StatTest:
        test = self._by_name.get(name)
        if test is None:
            from moorline.monitoring.stattests import get_stattest

            # An unknown name raises InvalidArgument listing the available tests.
            test = get_stattest(name, preset=self.preset)
            self._by_name[name] = test
        return test


class _CallableTest(StatTest):
    """A user's callable as a test: ``(reference, current, kind, threshold) -> (score, drifted)``.

    The reference is handed over as values: sorted for numerical columns,
    grouped by key for categorical ones (a stored profile keeps no row order
    there), in row order for text.
    """

    kinds = frozenset(ColumnKind)
    default_threshold = CUSTOM_TEST_THRESHOLD
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def __init__(self, function: CustomTest) -> None:
        self.function = function
        self.name = str(getattr(function, "__name__", type(function).__name__))
        self.display_name = self.name

    def compute(
        self, reference: ReferenceColumn, current: npt.NDArray[Any], threshold: float
    ) -> StatScore:
        values = _reference_values(reference)
        try:
            score, drifted = self.function(values, current, reference.kind.value, threshold)
            score = float(score)
        except Exception as exc:
            raise UserCodeError(
                f"Custom drift test {self.name!r} raised {type(exc).__name__}: {exc}",
                user_traceback=traceback.format_exc(),
            ) from exc
        return StatScore(
            stattest=self.name,
            score=score,
            threshold=threshold,
            drift_detected=bool(drifted),
            score_kind=self.score_kind,
        )


def _reference_values(reference: ReferenceColumn) -> npt.NDArray[Any]:
    if reference.sorted_values is not None:
        return reference.sorted_values
    if reference.kind == ColumnKind.TEXT:
        return np.asarray(reference.texts, dtype=object)
    keys = np.empty(len(reference.keys), dtype=object)
    keys[:] = reference.keys
    counts = reference.counts if reference.counts is not None else np.zeros(0, np.int64)
    return np.repeat(keys, counts)


# -- the engine ---------------------------------------------------------------------------


class _Untestable(Exception):
    """A column that cannot be tested; the preset decides what that means."""


class _Engine:
    """One drift check: the frames, the column types, and the per-column work."""

    def __init__(
        self,
        *,
        ref: ReferenceProfile | Frame,
        cur: Frame,
        mapping: ColumnMapping,
        options: _Options,
        low_memory: bool = False,
    ) -> None:
        self.ref = ref
        self.cur = cur
        self.mapping = mapping
        self.options = options
        self.low_memory = low_memory
        self._types: dict[str, ColumnType] = {}
        # Columns of a lazy frame read to type them, kept (up to HOLD_BYTES, none with
        # low_memory) until they are tested, so they are not read twice; every other
        # column is read when tested.
        self._held: dict[str, ArrowColumn] = {}
        self._held_bytes = 0
        self._hold_limit = 0 if low_memory else HOLD_BYTES
        typed = (
            (ColumnType.NUMERICAL, mapping.numerical),
            (ColumnType.CATEGORICAL, mapping.categorical),
            (ColumnType.TEXT, mapping.text),
        )
        self._set_types = {name: type_ for type_, names in typed for name in names}
        missing = sorted(set(self._set_types) - set(cur.names))
        if missing:
            raise InvalidArgument(
                "column_mapping types columns that are not in the current data: "
                + ", ".join(map(repr, missing))
            )

    def data(self, name: str) -> ArrowColumn | pd.Series:
        """The current column ``name`` (a lazy frame reads it now, unless it is held)."""
        held = self._held.get(name)
        return held if held is not None else self.cur.column(name)

    def current(self, name: str, kind: ColumnKind) -> npt.NDArray[Any]:
        """The current side of a column, cleaned (nulls and ±inf dropped), as a NumPy array."""
        data = self.data(name)
        if isinstance(data, ArrowColumn):
            values = _arrow_current_values(name, data, kind)
            if values is not None:
                return values
            data = self.cur.series(name)  # what Arrow does not cover: pandas decides
        return _current_values(name, data, kind)

    def type_of(self, name: str) -> ColumnType:
        """The column's type: set by the column mapping, else inferred on the current data."""
        type_ = self._types.get(name)
        if type_ is None:
            type_ = self._set_types.get(name) or type_of_group(self.cur.group(name))
            if type_ is None:  # the schema does not tell: look at the values
                data = self.data(name)
                type_ = infer_column_type(data)
                self._hold(name, data, type_)
                if self.low_memory:
                    del data
                    release_arrow_memory()
            self._types[name] = type_
        return type_

    def _hold(self, name: str, data: ArrowColumn | pd.Series, type_: ColumnType) -> None:
        """Keep a column a lazy frame just read, to be tested, if the budget allows."""
        if not (self.cur.lazy and isinstance(data, ArrowColumn) and type_.kind is not None):
            return
        size = data.array.nbytes
        if self._held_bytes + size <= self._hold_limit:
            self._held[name] = data
            self._held_bytes += size

    def select(self, columns: Sequence[str] | None) -> list[tuple[str, ColumnType]]:
        if columns is not None:
            if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
                raise InvalidArgument("columns must be a list of column names")
            missing = [c for c in columns if c not in self.cur]
            if missing:
                raise InvalidArgument(
                    f"Cannot test columns {', '.join(map(repr, missing))}: not in the current data"
                )
            names = list(dict.fromkeys(columns))
            return [(name, self.type_of(name)) for name in names]
        skipped = self.mapping.skipped
        groups: dict[ColumnKind, list[tuple[str, ColumnType]]] = {k: [] for k in _TESTED_ORDER}
        for name in self.cur.names:
            if name in skipped:
                continue
            type_ = self.type_of(name)
            if type_.kind is not None:
                groups[type_.kind].append((name, type_))
        return [item for kind in _TESTED_ORDER for item in groups[kind]]

    def reference(self, name: str) -> ProfileColumn:
        if isinstance(self.ref, ReferenceProfile):
            if name not in self.ref.columns:
                raise _Untestable(f"Column {name!r} is not in the reference profile")
            return self.ref.columns[name]
        if name not in self.ref:
            raise _Untestable(f"Column {name!r} is not in the reference data")
        return build_column(name, self.ref.column(name))

    def column(self, name: str, type_: ColumnType) -> ColumnDrift:
        """Test one column; an untestable column aborts (evidently) or reports an error."""
        try:
            return self._column(name, type_)
        finally:
            released = self._held.pop(name, None)
            if released is not None:
                self._held_bytes -= released.array.nbytes

    def _column(self, name: str, type_: ColumnType) -> ColumnDrift:
        kind = type_.kind
        test = None if kind is None else self.options.method_for(name, kind)
        threshold: float | None = None
        try:
            if kind is None:
                raise _Untestable(
                    f"Column {name!r} is {type_.value} in the current data: only numerical, "
                    "categorical and text columns can be drift-tested (a column mapping can "
                    "set its type)"
                )
            reference = self.reference(name).reference(kind)
            current = self.current(name, kind)
            if reference.n == 0 or current.size == 0:
                side = "reference" if reference.n == 0 else "current data"
                raise _Untestable(
                    f"Column {name!r} has no values left in the {side} after dropping "
                    "nulls and infinities"
                )
            if test is None:
                n_values = _n_values_at_least(reference, current)
                test = self.options.tests.named(
                    choose_stattest(kind, n_ref=reference.n, n_values=n_values)
                )
            elif kind not in test.kinds:
                allowed = ", ".join(sorted(k.value for k in test.kinds))
                raise _Untestable(
                    f"Column {name!r} is {kind.value}, and test {test.name!r} applies to "
                    f"{allowed} columns only"
                )
            threshold = self.options.threshold_for(name, kind)
            if threshold is None:
                threshold = test.default_threshold
            score = test.compute(reference, current, threshold)
        except UserCodeError as exc:
            if self.options.preset == "evidently":
                raise UserCodeError(
                    f"Column {name!r}: {exc.message}", user_traceback=exc.user_traceback
                ) from exc
            return self._failed(name, kind, test, threshold, f"Column {name!r}: {exc.message}")
        except UnreadableColumn:
            raise
        except (_Untestable, MoorlineError, ValueError, ArithmeticError) as exc:
            message = (
                str(exc)
                if isinstance(exc, _Untestable | MoorlineError)
                else (
                    f"Column {name!r}: test {getattr(test, 'name', '?')!r} failed: "
                    f"{type(exc).__name__}: {exc}"
                )
            )
            if repr(name) not in message:
                message = f"Column {name!r}: {message}"
            if self.options.preset == "evidently":
                raise InvalidArgument(message) from exc
            return self._failed(name, kind, test, threshold, message)
        return ColumnDrift(
            column=name,
            type=kind,
            stattest=test.name,
            stattest_display_name=test.display_name,
            score=float(score.score),
            threshold=threshold,
            drift_detected=bool(score.drift_detected),
        )

    @staticmethod
    def _failed(
        name: str,
        kind: ColumnKind | None,
        test: StatTest | None,
        threshold: float | None,
        message: str,
    ) -> ColumnDrift:
        return ColumnDrift(
            column=name,
            type=kind,
            stattest=None if test is None else test.name,
            stattest_display_name=None if test is None else test.display_name,
            score=math.nan,
            threshold=threshold,
            drift_detected=False,
            error=message,
        )


def _current_values(name: str, series: pd.Series, kind: ColumnKind) -> npt.NDArray[Any]:
    """The current side of a column, cleaned (nulls and ±inf dropped), as a NumPy array."""
    import pandas as pd
    from pandas.api import types as pdt

    if kind == ColumnKind.NUMERICAL:
        dtype = series.dtype
        if not pdt.is_numeric_dtype(dtype) or pdt.is_complex_dtype(dtype):
            raise _Untestable(
                f"Column {name!r} is numerical but its current values are not numbers "
                f"(dtype {dtype})"
            )
        values: npt.NDArray[Any] = np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
        finite = np.isfinite(values)
        return values if finite.all() else values[finite]
    cleaned = drop_infinite(non_null(series))
    if kind == ColumnKind.TEXT or isinstance(cleaned.dtype, pd.StringDtype):
        return np.asarray(cleaned.to_numpy(dtype=object))
    return np.asarray(cleaned.to_numpy())


def _arrow_current_values(
    name: str, column: ArrowColumn, kind: ColumnKind
) -> npt.NDArray[Any] | None:
    """:func:`_current_values` on an Arrow column, the same values without pandas;
    None where it leaves the work to pandas (datetimes as categories or texts)."""
    group = column.group
    if kind == ColumnKind.NUMERICAL:
        if group not in ("float", "int", "bool"):
            raise _Untestable(
                f"Column {name!r} is numerical but its current values are not numbers "
                f"(dtype {column.dtype})"
            )
        values: npt.NDArray[Any] = column.floats()
        finite = np.isfinite(values)
        return values if finite.all() else values[finite]
    if group in ("string", "category"):
        return column.objects()
    if group == "datetime":
        return None
    values = column.numbers()
    if group == "float":
        finite = np.isfinite(values)
        values = values if finite.all() else values[finite]
    return np.asarray(values, dtype=object) if kind == ColumnKind.TEXT else values


def _n_values_at_least(reference: ReferenceColumn, current: npt.NDArray[Any]) -> int:
    """Distinct values in the union of both sides, exact as far as the chooser looks.

    The chooser only asks "at most 2, at most 5, or more" (numerical) and "at
    most 2 or more" (categorical), so a reference already past the last
    boundary needs no look at the current side: its own count is returned.
    """
    if reference.sorted_values is not None:
        ordered = reference.sorted_values
        ref_distinct = reference.n_distinct
        if ref_distinct > 5:
            return ref_distinct
        keys = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
        extra = current[~np.isin(current, keys)]
        return int(keys.size + np.unique(extra).size)
    if len(reference.keys) > 2:
        return len(reference.keys)
    union = set(reference.keys)
    union.update(current.tolist() if current.dtype.kind == "O" else np.unique(current).tolist())
    return len(union)
