"""The drift engine around the tests: column selection, cleaning, option precedence,
the presets' handling of untestable columns, column mapping, and the dataset rule.

The tests here plug in their own small StatTests (and callables), so what they
check is the engine: which test ran, on which data, with which threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pytest

from moorline.errors import InvalidArgument, UserCodeError
from moorline.monitoring.base import (
    ColumnKind,
    ReferenceColumn,
    ScoreKind,
    StatScore,
    StatTest,
)
from moorline.monitoring.drift import compute_drift
from moorline.monitoring.profile import ReferenceProfile

ALL_KINDS = frozenset(ColumnKind)


class Recording(StatTest):
    """Returns a fixed score and remembers what it was given."""

    display_name = "Recording distance"
    kinds = ALL_KINDS
    default_threshold = 0.5
    score_kind = ScoreKind.DISTANCE
    rule = "d>=t"

    def __init__(self, name: str = "recording", score: float = 0.0) -> None:
        self.name = name
        self.score = score
        self.calls: dict[str, tuple[ReferenceColumn, npt.NDArray[Any], float]] = {}

    def compute(
        self, reference: ReferenceColumn, current: npt.NDArray[Any], threshold: float
    ) -> StatScore:
        self.calls[reference.name] = (reference, current, threshold)
        return StatScore(
            stattest=self.name,
            score=self.score,
            threshold=threshold,
            drift_detected=self.drifted(self.score, threshold),
            score_kind=self.score_kind,
        )


class MeanShift(StatTest):
    """|mean(current) - mean(reference)| in reference standard deviations; numerical only."""

    name = "mean_shift"
    display_name = "Mean shift (std)"
    kinds = frozenset({ColumnKind.NUMERICAL})
    default_threshold = 0.1
    score_kind = ScoreKind.DISTANCE
    rule = "d>=t"

    def compute(
        self, reference: ReferenceColumn, current: npt.NDArray[Any], threshold: float
    ) -> StatScore:
        assert reference.sorted_values is not None
        ref = reference.sorted_values
        score = abs(float(current.mean()) - float(ref.mean())) / max(float(ref.std()), 1e-3)
        return StatScore(
            stattest=self.name,
            score=score,
            threshold=threshold,
            drift_detected=self.drifted(score, threshold),
            score_kind=self.score_kind,
        )


def frames(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "when": pd.date_range("2024-01-01", periods=rows, freq="h"),
                "plan": rng.choice(["a", "b", "c"], rows),
                "x": rng.normal(shift, 1.0, rows),
                "note": [f"free text {i} {rng.integers(1_000_000)}" for i in range(rows)],
                "flag": rng.random(rows) < 0.3,
                "y": rng.normal(0.0, 1.0, rows),
                "tags": [["t"]] * rows,
            }
        )

    return one(0.0), one(2.0)


# -- selection ------------------------------------------------------------------------------


def test_default_columns_numerical_then_categorical_then_text_skipping_the_rest() -> None:
    reference, current = frames()
    test = Recording()
    report = compute_drift(reference, current, method=test)
    assert [(c.column, c.type) for c in report.columns] == [
        ("x", ColumnKind.NUMERICAL),
        ("y", ColumnKind.NUMERICAL),
        ("plan", ColumnKind.CATEGORICAL),
        ("flag", ColumnKind.CATEGORICAL),
        ("note", ColumnKind.TEXT),
    ]
    assert set(test.calls) == {"x", "y", "plan", "flag", "note"}


def test_explicit_columns_replace_the_default_list_in_their_order() -> None:
    reference, current = frames()
    report = compute_drift(reference, current, columns=["plan", "x"], method=Recording())
    assert [c.column for c in report.columns] == ["plan", "x"]


def test_explicit_column_missing_from_current_is_refused() -> None:
    reference, current = frames()
    with pytest.raises(InvalidArgument, match="'nope'"):
        compute_drift(reference, current, columns=["x", "nope"], method=Recording())


@pytest.mark.parametrize("preset", ["default", "evidently"])
def test_explicit_datetime_column_cannot_be_tested(preset: str) -> None:
    reference, current = frames()
    if preset == "evidently":
        with pytest.raises(InvalidArgument, match="'when' is datetime"):
            compute_drift(reference, current, preset=preset, columns=["when"], method=Recording())
        return
    report = compute_drift(
        reference, current, preset=preset, columns=["when", "x"], method=Recording()
    )
    assert report.column("when").type is None
    assert "datetime" in (report.column("when").error or "")
    assert report.column("x").error is None


def test_the_current_frame_decides_the_type() -> None:
    # 11 distinct integers in the reference (numerical there), 10 in the current:
    # categorical, so the reference is handed over as integer keys with counts.
    reference = pd.DataFrame({"n": np.arange(220) % 11})
    current = pd.DataFrame({"n": np.arange(200) % 10})
    test = Recording()
    report = compute_drift(reference, current, method=test)
    assert report.column("n").type == ColumnKind.CATEGORICAL
    ref, cur, _ = test.calls["n"]
    assert ref.kind == ColumnKind.CATEGORICAL
    assert ref.keys == (0, 1, 10, 2, 3, 4, 5, 6, 7, 8, 9)  # sorted by string form
    assert ref.counts is not None and ref.counts.tolist() == [20] * 11
    assert cur.dtype == np.int64 and cur.size == 200
    # and the other way round: numerical when the current has 11
    report = compute_drift(current, reference, method=Recording())
    assert report.column("n").type == ColumnKind.NUMERICAL


def test_column_mapping_sets_types_and_sets_roles_aside() -> None:
    reference, current = frames()
    for frame in (reference, current):
        frame["id"] = np.arange(len(frame))
        frame["target"] = (frame["x"] > 0).astype(int)
        frame["prediction"] = frame["x"] * 0.9
    test = Recording()
    report = compute_drift(
        reference,
        current,
        method=test,
        column_mapping={
            "target": "target",
            "prediction": "prediction",
            "id": "id",
            "ignored": ["y"],
            "categorical": ["x"],
            "numerical": ["flag"],
        },
    )
    assert [(c.column, c.type) for c in report.columns] == [
        ("flag", ColumnKind.NUMERICAL),
        ("plan", ColumnKind.CATEGORICAL),  # frame order within a type
        ("x", ColumnKind.CATEGORICAL),
        ("note", ColumnKind.TEXT),
    ]
    assert report.prediction_drift is not None
    assert report.prediction_drift.column == "prediction"
    assert report.prediction_drift.type == ColumnKind.NUMERICAL
    assert report.target_drift is not None and report.target_drift.type == ColumnKind.CATEGORICAL
    assert "id" not in test.calls and "y" not in test.calls
    assert report.to_dict()["column_mapping"]["ignored"] == ["y"]


def test_prediction_drift_does_not_count_toward_dataset_drift() -> None:
    reference, current = frames()
    reference["prediction"] = 0.0
    current["prediction"] = 1.0
    report = compute_drift(
        reference,
        current,
        columns=["x"],
        column_mapping={"prediction": "prediction"},
        per_column_method={"x": Recording(score=0.0), "prediction": Recording(score=1.0)},
    )
    assert report.prediction_drift is not None and report.prediction_drift.drift_detected
    assert report.number_of_columns == 1 and report.number_of_drifted_columns == 0
    assert not report.dataset_drift


def test_target_missing_from_current_is_skipped_but_prediction_is_required() -> None:
    reference, current = frames()
    reference["label"] = 1
    report = compute_drift(
        reference, current, method=Recording(), column_mapping={"target": "label"}
    )
    assert report.target_drift is None
    with pytest.raises(InvalidArgument, match="prediction column 'score'"):
        compute_drift(
            reference, current, method=Recording(), column_mapping={"prediction": "score"}
        )


def test_column_mapping_is_validated() -> None:
    reference, current = frames()
    with pytest.raises(InvalidArgument, match="Unknown column_mapping keys: 'targets'"):
        compute_drift(reference, current, column_mapping={"targets": "x"})
    with pytest.raises(InvalidArgument, match="more than one type to 'x'"):
        compute_drift(reference, current, column_mapping={"numerical": ["x"], "text": ["x"]})
    with pytest.raises(InvalidArgument, match="'ghost'"):
        compute_drift(reference, current, column_mapping={"categorical": ["ghost"]})


# -- cleaning -------------------------------------------------------------------------------


def test_each_side_is_cleaned_on_its_own() -> None:
    reference = pd.DataFrame({"v": [1.0, np.nan, np.inf, 2.0, -np.inf, 3.0]})
    current = pd.DataFrame({"v": [np.inf, 5.0, 4.0, np.nan]})  # ±inf with and without NaN
    test = Recording()
    compute_drift(reference, current, method=test)
    ref, cur, _ = test.calls["v"]
    assert ref.sorted_values is not None
    assert ref.sorted_values.tolist() == [1.0, 2.0, 3.0]
    assert (ref.n, ref.null_count) == (3, 3)
    assert cur.tolist() == [5.0, 4.0]  # row order kept, nothing else touched


def test_infinities_are_dropped_without_any_nan_in_the_column() -> None:
    # the spec's ValueDrift semantics: clean on every path, not only when NaN is present
    reference = pd.DataFrame({"v": [1.0, 2.0, np.inf]})
    current = pd.DataFrame({"v": [-np.inf, 1.5, 2.5]})
    test = Recording()
    compute_drift(reference, current, method=test)
    ref, cur, _ = test.calls["v"]
    assert ref.sorted_values is not None and ref.sorted_values.tolist() == [1.0, 2.0]
    assert cur.tolist() == [1.5, 2.5]


def test_categorical_sides_drop_nulls_and_infinities() -> None:
    reference = pd.DataFrame({"c": pd.Series(["a", None, "b", "a", np.inf], dtype=object)})
    current = pd.DataFrame({"c": pd.Series(["b", np.nan, "b", -np.inf, "c"], dtype=object)})
    test = Recording()
    compute_drift(reference, current, method=test, column_mapping={"categorical": ["c"]})
    ref, cur, _ = test.calls["c"]
    assert ref.keys == ("a", "b")
    assert ref.counts is not None and ref.counts.tolist() == [2, 1]
    assert (ref.n, ref.null_count) == (3, 2)
    assert cur.tolist() == ["b", "b", "c"]


@pytest.mark.parametrize("side", ["reference", "current"])
def test_all_null_column_aborts_the_evidently_preset(side: str) -> None:
    reference, current = frames()
    (reference if side == "reference" else current)["y"] = np.nan
    with pytest.raises(InvalidArgument, match=f"Column 'y' has no values left in the {side}"):
        compute_drift(reference, current, preset="evidently", method=Recording())


@pytest.mark.parametrize("side", ["reference", "current"])
def test_all_null_column_is_an_error_on_that_column_in_the_default_preset(side: str) -> None:
    reference, current = frames()
    (reference if side == "reference" else current)["y"] = np.inf  # nothing finite left
    drifting = Recording(score=1.0)
    report = compute_drift(reference, current, method=drifting)
    failed = report.column("y")
    assert failed.error is not None and f"no values left in the {side}" in failed.error
    assert not failed.drift_detected and np.isnan(failed.score)
    assert failed.stattest == "recording" and failed.type == ColumnKind.NUMERICAL
    others = [c for c in report.columns if c.column != "y"]
    assert len(others) == 4 and all(c.error is None and c.drift_detected for c in others)
    # the failed column is not in the denominator: 4 of 4 tested columns drifted
    assert (report.number_of_columns, report.number_of_errors) == (4, 1)
    assert report.share == 1.0 and report.dataset_drift
    assert report.errors == {"y": failed.error}


@pytest.mark.parametrize("preset", ["default", "evidently"])
def test_column_missing_from_the_reference(preset: str) -> None:
    reference, current = frames()
    reference = reference.drop(columns=["y"])
    if preset == "evidently":
        with pytest.raises(InvalidArgument, match="'y' is not in the reference data"):
            compute_drift(reference, current, preset=preset, method=Recording())
        return
    report = compute_drift(reference, current, preset=preset, method=Recording())
    assert report.column("y").error == "Column 'y' is not in the reference data"


def test_a_numerical_current_against_a_string_reference_is_an_error() -> None:
    reference = pd.DataFrame({"v": ["1", "2", "3"]})
    current = pd.DataFrame({"v": [1.0, 2.0, 3.0]})
    report = compute_drift(reference, current, method=Recording())
    assert "reference values are not numbers" in (report.column("v").error or "")


# -- option precedence -----------------------------------------------------------------------


def test_method_precedence_per_column_then_per_type_then_global() -> None:
    reference, current = frames()
    column, per_type, global_ = Recording("col"), Recording("type"), Recording("global")
    report = compute_drift(
        reference,
        current,
        method=global_,
        per_type_method={"num": per_type},
        per_column_method={"x": column},
    )
    used = {c.column: c.stattest for c in report.columns}
    assert used == {
        "x": "col",
        "y": "type",
        "plan": "global",
        "flag": "global",
        "note": "global",
    }
    assert set(column.calls) == {"x"} and set(per_type.calls) == {"y"}


def test_threshold_precedence_per_column_then_per_type_then_global_then_default() -> None:
    reference, current = frames()
    report = compute_drift(
        reference,
        current,
        method=Recording(),
        threshold=0.3,
        per_type_threshold={"categorical": 0.2},  # the long type name works too
        per_column_threshold={"plan": 0.1},
    )
    thresholds = {c.column: c.threshold for c in report.columns}
    assert thresholds == {"x": 0.3, "y": 0.3, "plan": 0.1, "flag": 0.2, "note": 0.3}
    report = compute_drift(reference, current, method=Recording(), columns=["x"])
    assert report.column("x").threshold == Recording.default_threshold


def test_threshold_reaches_the_test_and_decides_the_verdict() -> None:
    reference, current = frames()
    test = Recording(score=0.4)
    report = compute_drift(
        reference,
        current,
        columns=["x", "y"],
        method=test,
        per_column_threshold={"x": 0.4},  # d >= t: drift exactly at the threshold
    )
    assert test.calls["x"][2] == 0.4 and test.calls["y"][2] == 0.5
    assert report.column("x").drift_detected and not report.column("y").drift_detected


def test_a_numerical_only_test_on_a_categorical_column() -> None:
    reference, current = frames()
    report = compute_drift(reference, current, columns=["x", "plan"], method=MeanShift())
    assert report.column("x").drift_detected  # the current is shifted by 2 std
    assert report.column("x").score > 1.5
    error = report.column("plan").error
    assert error == "Column 'plan' is cat, and test 'mean_shift' applies to num columns only"
    with pytest.raises(InvalidArgument, match="'plan' is cat"):
        compute_drift(reference, current, preset="evidently", columns=["plan"], method=MeanShift())


def test_a_callable_method_gets_values_kind_and_threshold() -> None:
    reference, current = frames()
    seen: dict[str, tuple[Any, ...]] = {}

    def share_shift(ref: Any, cur: Any, kind: str, threshold: float) -> tuple[float, bool]:
        seen[kind] = (ref, cur, threshold)
        return 0.25, True

    report = compute_drift(
        reference, current, columns=["x", "plan"], method=share_shift, threshold=0.01
    )
    col = report.column("plan")
    assert (col.stattest, col.stattest_display_name, col.score, col.threshold) == (
        "share_shift",
        "share_shift",
        0.25,
        0.01,
    )
    assert col.drift_detected
    ref_num, _, _ = seen["num"]
    assert np.array_equal(ref_num, np.sort(reference["x"].to_numpy()))
    ref_cat, cur_cat, _ = seen["cat"]
    assert sorted(ref_cat.tolist()) == sorted(reference["plan"].tolist())
    assert cur_cat.tolist() == current["plan"].tolist()


def test_a_callable_that_raises_is_user_code() -> None:
    reference, current = frames()

    def broken(ref: Any, cur: Any, kind: str, threshold: float) -> tuple[float, bool]:
        raise ZeroDivisionError("oops")

    report = compute_drift(
        reference, current, columns=["x", "y"], method=Recording(), per_column_method={"x": broken}
    )
    assert report.column("x").error == (
        "Column 'x': Custom drift test 'broken' raised ZeroDivisionError: oops"
    )
    assert report.column("y").error is None
    with pytest.raises(UserCodeError, match="Column 'x'") as info:
        compute_drift(
            reference, current, preset="evidently", columns=["x"], per_column_method={"x": broken}
        )
    assert "ZeroDivisionError" in info.value.user_traceback


def test_a_test_that_raises_value_error_fails_only_its_column() -> None:
    class Fragile(Recording):
        def compute(
            self, reference: ReferenceColumn, current: npt.NDArray[Any], threshold: float
        ) -> StatScore:
            if reference.name == "x":
                raise ValueError("IQR of the pooled sample is 0")
            return super().compute(reference, current, threshold)

    reference, current = frames()
    report = compute_drift(reference, current, method=Fragile("fragile"))
    assert report.column("x").error == (
        "Column 'x': test 'fragile' failed: ValueError: IQR of the pooled sample is 0"
    )
    assert report.number_of_columns == 4
    with pytest.raises(InvalidArgument, match="IQR"):
        compute_drift(reference, current, preset="evidently", method=Fragile("fragile"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "evidentli"}, "Unknown drift preset 'evidentli'"),
        ({"drift_share": 0}, "drift_share must be a number in"),
        ({"drift_share": 1.5}, "drift_share must be a number in"),
        ({"threshold": float("nan")}, "threshold must be a finite number"),
        ({"threshold": "0.1"}, "threshold must be a finite number"),
        ({"per_type_method": {"numeric": Recording()}}, "Unknown column type 'numeric'"),
        ({"per_type_threshold": {"txt": 0.1}}, "Unknown column type 'txt'"),
        ({"per_column_method": {"ghost": Recording()}}, "not in the current data: 'ghost'"),
        ({"per_column_threshold": {"ghost": 0.1}}, "not in the current data: 'ghost'"),
        ({"method": 42}, "method must be a test name, a StatTest or a callable, not int"),
        ({"columns": "x"}, "columns must be a list of column names"),
    ],
)
def test_bad_options_are_refused_before_any_work(options: dict[str, Any], message: str) -> None:
    reference, current = frames()
    with pytest.raises(InvalidArgument, match=message):
        compute_drift(reference, current, **options)


def test_bad_inputs_are_refused() -> None:
    reference, current = frames()
    with pytest.raises(InvalidArgument, match="The current data is a dict"):
        compute_drift(reference, {"x": [1.0]})
    with pytest.raises(InvalidArgument, match="or a ReferenceProfile"):
        compute_drift([1, 2], current)
    duplicated = pd.concat([current[["x"]], current[["x"]]], axis=1)
    with pytest.raises(InvalidArgument, match="duplicate column names: 'x'"):
        compute_drift(reference, duplicated)


# -- dataset drift --------------------------------------------------------------------------


def _verdicts(drifted: int, total: int) -> dict[str, StatTest]:
    return {f"c{i}": Recording(score=1.0 if i < drifted else 0.0) for i in range(total)}


@pytest.mark.parametrize(
    ("drifted", "total", "drift_share", "expected"),
    [
        (2, 4, 0.5, True),  # exactly half counts
        (1, 4, 0.5, False),
        (3, 6, 0.5, True),
        (2, 5, 0.5, False),
        (3, 4, 0.75, True),
        (2, 4, 0.75, False),
        (0, 4, 0.5, False),
    ],
)
def test_dataset_drift_when_share_reaches_drift_share(
    drifted: int, total: int, drift_share: float, expected: bool
) -> None:
    data = pd.DataFrame({f"c{i}": np.linspace(0, 1, 20) for i in range(total)})
    report = compute_drift(
        data, data, per_column_method=_verdicts(drifted, total), drift_share=drift_share
    )
    assert report.number_of_drifted_columns == drifted
    assert report.share == drifted / total
    assert report.dataset_drift is expected
    assert report.to_dict()["dataset"]["dataset_drift"] is expected


def test_no_testable_column_is_no_dataset_drift() -> None:
    reference = pd.DataFrame({"v": [np.nan, np.nan]})
    report = compute_drift(reference, pd.DataFrame({"v": [1.0, 2.0]}), method=Recording())
    assert (report.number_of_columns, report.share, report.dataset_drift) == (0, 0.0, False)


# -- inputs ---------------------------------------------------------------------------------


def test_arrow_tables_and_profiles_give_the_pandas_result() -> None:
    reference, current = frames()
    reference, current = reference.drop(columns=["tags"]), current.drop(columns=["tags"])
    expected = compute_drift(
        reference,
        current,
        method=MeanShift(),
        per_type_method={"cat": Recording(score=0.7), "text": Recording(score=0.2)},
    )
    ref_table = pa.Table.from_pandas(reference, preserve_index=False)
    cur_table = pa.Table.from_pandas(current, preserve_index=False)
    profile = ReferenceProfile.from_bytes(ReferenceProfile.from_frame(ref_table).to_bytes())
    for ref, cur in ((ref_table, cur_table), (profile, current), (profile, cur_table)):
        got = compute_drift(
            ref,
            cur,
            method=MeanShift(),
            per_type_method={"cat": Recording(score=0.7), "text": Recording(score=0.2)},
        )
        assert got == expected


def test_non_string_column_names_are_reported_as_strings() -> None:
    reference = pd.DataFrame({0: np.linspace(0, 1, 30), 1: ["a", "b", "c"] * 10})
    report = compute_drift(reference, reference, method=Recording())
    assert [c.column for c in report.columns] == ["0", "1"]


def test_progress_is_reported_per_column() -> None:
    reference, current = frames()
    reference["p"] = current["p"] = 0.5
    calls: list[tuple[int, int]] = []
    compute_drift(
        reference,
        current,
        method=Recording(),
        column_mapping={"prediction": "p"},
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(i, 6) for i in range(1, 7)]


@pytest.mark.parametrize("preset", ["default", "evidently"])
def test_an_all_null_object_column_is_unknown_and_skipped(preset: str) -> None:
    # Evidently types an all-null object column as unknown, so it is never selected:
    # no error and no abort, unlike an all-NaN float column (numerical, then empty)
    reference, current = frames()
    current["y"] = pd.Series([None] * len(current), dtype=object)
    report = compute_drift(reference, current, preset=preset, method=Recording())  # type: ignore[arg-type]
    assert "y" not in [c.column for c in report.columns]
    assert report.number_of_errors == 0


@pytest.mark.parametrize("preset", ["default", "evidently"])
def test_column_missing_from_a_stored_profile(preset: str) -> None:
    reference, current = frames()
    profile = ReferenceProfile.from_frame(reference, columns=["x", "plan"])
    if preset == "evidently":
        with pytest.raises(InvalidArgument, match="'y' is not in the reference profile"):
            compute_drift(profile, current, preset=preset, method=Recording())
        return
    report = compute_drift(profile, current, preset=preset, method=Recording())  # type: ignore[arg-type]
    assert report.errors == {
        name: f"Column {name!r} is not in the reference profile" for name in ("y", "flag", "note")
    }
    assert report.reference_rows == len(reference)
