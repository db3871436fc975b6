"""Realized performance: metric values equal scikit-learn's on the same rows,
late labels are joined by id and counted per window, baselines compare by direction."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from moorline.errors import InvalidArgument
from moorline.monitoring.performance import (
    PerformanceResult,
    compare_with_baseline,
    join_labels,
    performance,
    windowed_performance,
)

# -- metrics against scikit-learn ------------------------------------------------------


def binary_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 1, n)
    truth = (rng.random(n) < score).astype(int)
    return truth, (score >= 0.5).astype(int), score


def test_binary_metrics_equal_sklearn() -> None:
    truth, pred, score = binary_data(3000, seed=1)
    result = performance(truth, pred, y_score=score)
    expected = {
        "accuracy": skm.accuracy_score(truth, pred),
        "precision": skm.precision_score(truth, pred),
        "recall": skm.recall_score(truth, pred),
        "f1": skm.f1_score(truth, pred),
        "roc_auc": skm.roc_auc_score(truth, score),
        "log_loss": skm.log_loss(truth, score),
    }
    assert result.metrics == pytest.approx(expected, rel=1e-12)
    assert (result.n, result.n_labelled) == (3000, 3000)
    assert result.details == {"classes": [0, 1], "average": "binary", "pos_label": 1}


def test_positive_class_is_configurable() -> None:
    truth, pred, score = binary_data(2000, seed=2)
    names = np.array(["ham", "spam"])
    t, p = names[truth], names[pred]
    # Scores as a two-column matrix in class order: P(ham), P(spam).
    matrix = np.column_stack([1 - score, score])
    spam = performance(t, p, y_score=matrix, pos_label="spam")
    assert spam.metrics["precision"] == pytest.approx(skm.precision_score(t, p, pos_label="spam"))
    assert spam.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(t == "spam", score))
    assert spam.metrics["log_loss"] == pytest.approx(
        skm.log_loss(t, matrix, labels=["ham", "spam"])
    )
    ham = performance(t, p, y_score=1 - score, pos_label="ham")
    assert ham.metrics["recall"] == pytest.approx(skm.recall_score(t, p, pos_label="ham"))
    assert ham.metrics["roc_auc"] == pytest.approx(spam.metrics["roc_auc"])
    assert ham.metrics["log_loss"] == pytest.approx(spam.metrics["log_loss"])
    with pytest.raises(InvalidArgument, match="pos_label 1 is not one of the classes"):
        performance(t, p)


def test_multiclass_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(3)
    n, classes = 3000, ["a", "b", "c"]
    logits = rng.normal(size=(n, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(classes, p=row) for row in proba])
    pred = np.array(classes)[proba.argmax(axis=1)]
    result = performance(truth, pred, y_score=proba)
    assert result.details["average"] == "macro"
    assert result.metrics == pytest.approx(
        {
            "accuracy": skm.accuracy_score(truth, pred),
            "precision": skm.precision_score(truth, pred, average="macro"),
            "recall": skm.recall_score(truth, pred, average="macro"),
            "f1": skm.f1_score(truth, pred, average="macro"),
            "roc_auc": skm.roc_auc_score(truth, proba, multi_class="ovr"),
            "log_loss": skm.log_loss(truth, proba),
        },
        rel=1e-12,
    )
    with pytest.raises(InvalidArgument, match=r"\(n, 3\) probability matrix"):
        performance(truth, pred, y_score=proba[:, 0])


def test_regression_metrics_equal_sklearn_and_mape_skips_zeros() -> None:
    rng = np.random.default_rng(4)
    truth = rng.gamma(2.0, 10.0, 1000)
    truth[:7] = 0.0
    pred = truth + rng.normal(0, 3, 1000)
    result = performance(truth, pred, task="regression")
    nonzero = truth != 0
    assert result.metrics == pytest.approx(
        {
            "mae": skm.mean_absolute_error(truth, pred),
            "rmse": skm.root_mean_squared_error(truth, pred),
            "mape": skm.mean_absolute_percentage_error(truth[nonzero], pred[nonzero]),
            "r2": skm.r2_score(truth, pred),
        },
        rel=1e-12,
    )
    assert result.details["mape_zero_targets_skipped"] == 7
    assert "mape skips 7 row(s) whose true value is 0" in result.notes
    # scikit-learn's own MAPE divides by epsilon at the zeros: a meaningless figure.
    assert skm.mean_absolute_percentage_error(truth, pred) > 1e6 * result.metrics["mape"]


def test_unlabelled_rows_are_left_out_and_counted() -> None:
    truth, pred, score = binary_data(500, seed=5)
    partial = truth.astype(float)
    partial[::4] = np.nan
    result = performance(partial, pred, y_score=score)
    kept = ~np.isnan(partial)
    assert (result.n, result.n_labelled) == (500, int(kept.sum()))
    assert result.metrics["f1"] == pytest.approx(skm.f1_score(truth[kept], pred[kept]))
    assert result.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(truth[kept], score[kept]))
    assert result.details["classes"] == [0, 1]  # integers again, though NaN made them floats


def test_undefined_metrics_are_none_with_a_reason() -> None:
    one_class = performance([1, 1, 1], [1, 0, 1], y_score=[0.9, 0.4, 0.8])
    assert one_class.metrics["roc_auc"] is None
    assert "only one class is present" in " ".join(one_class.notes)
    assert one_class.metrics["recall"] == pytest.approx(2 / 3)
    assert one_class.metrics["log_loss"] == pytest.approx(
        skm.log_loss([1, 1, 1], [0.9, 0.4, 0.8], labels=[0, 1])
    )
    margins = performance([0, 1, 1, 0], [0, 1, 1, 1], y_score=[-2.0, 3.0, 0.5, 0.2])
    assert margins.metrics["roc_auc"] == 1.0 and margins.metrics["log_loss"] is None
    single = performance([3.0], [2.5], task="regression")
    assert single.metrics["r2"] is None and single.metrics["mae"] == 0.5
    nothing = performance([np.nan, np.nan], [0, 1])
    assert nothing.n_labelled == 0 and set(nothing.metrics.values()) == {None}
    assert json.loads(json.dumps(nothing.to_dict()))["notes"] == ["no labelled rows"]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="y_true has 3 rows but y_pred has 2"):
        performance([0, 1, 0], [0, 1])
    with pytest.raises(InvalidArgument, match="task must be"):
        performance([0], [0], task="ranking")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="y_pred has missing values"):
        performance([0, 1], [0, None])
    with pytest.raises(InvalidArgument, match=r"Values \['7'\] are not among labels"):
        performance([0, 1, 7], [0, 1, 1], labels=[0, 1])


# -- late labels and windows -----------------------------------------------------------


def test_join_keeps_every_prediction_and_marks_the_labelled_ones() -> None:
    predictions = pd.DataFrame(
        {"prediction_id": ["a", "b", "c", "d"], "prediction": [1, 0, 1, 1], "label": [9, 9, 9, 9]}
    )
    labels = pd.DataFrame({"prediction_id": ["c", "a", "zz"], "label": [1, 0, 1]})
    joined = join_labels(predictions, labels)
    assert joined["prediction_id"].tolist() == ["a", "b", "c", "d"]
    assert joined["labelled"].tolist() == [True, False, True, False]
    assert joined["label"].tolist() == [9, 9, 9, 9]  # the predictions' own column is untouched
    assert joined["label_label"].tolist()[::2] == [0, 1]
    assert joined["label_label"].isna().tolist() == [False, True, False, True]


def test_join_refuses_ambiguous_ids_unless_told_which_label_wins() -> None:
    predictions = pd.DataFrame({"prediction_id": [1, 2], "prediction": [1, 0]})
    labels = pd.DataFrame({"prediction_id": [1, 1, 2], "label": [0, 1, 0]})
    with pytest.raises(InvalidArgument, match=r"have more than one label, e\.g\. 1;"):
        join_labels(predictions, labels)
    assert join_labels(predictions, labels, duplicates="last")["label"].tolist() == [1, 0]
    assert join_labels(predictions, labels, duplicates="first")["label"].tolist() == [0, 0]
    twice = pd.concat([predictions, predictions])
    with pytest.raises(InvalidArgument, match="appear more than once in the predictions"):
        join_labels(twice, labels)
    with pytest.raises(InvalidArgument, match="no 'request_id' column"):
        join_labels(predictions, labels, on="request_id")


@pytest.fixture(scope="module")
def served() -> pd.DataFrame:
    """Three days of predictions; each label arrives 0-3 days after its prediction,
    and the model gets worse each day."""
    rng = np.random.default_rng(7)
    n = 3000
    ts = pd.Timestamp("2025-03-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.uniform(0, 3 * 86_400, n)), unit="s"
    )
    day = (ts - ts[0].normalize()).days.to_numpy()
    score = rng.uniform(0, 1, n)
    noise = np.array([0.0, 0.3, 0.6])[day]  # day 0 calibrated, later days noisier
    truth = np.where(rng.random(n) < noise, rng.random(n) < 0.5, rng.random(n) < score).astype(int)
    predictions = pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(n)],
            "ts": ts,
            "prediction": (score >= 0.5).astype(int),
            "score": score,
        }
    )
    arrived = rng.random(n) < 0.8  # 20 % never get a label
    labels = pd.DataFrame(
        {
            "prediction_id": predictions["prediction_id"][arrived],
            "label": truth[arrived],
            "label_ts": ts[arrived]
            + pd.to_timedelta(rng.uniform(0, 3 * 86_400, arrived.sum()), "s"),
        }
    )
    return join_labels(predictions, labels.sample(frac=1.0, random_state=1))


def test_daily_windows_count_labelled_rows_and_match_sklearn(served: pd.DataFrame) -> None:
    windows = windowed_performance(served, "ts", freq="1D", y_score="score")
    assert [w.start.isoformat() for w in windows] == [
        "2025-03-01T00:00:00+00:00",
        "2025-03-02T00:00:00+00:00",
        "2025-03-03T00:00:00+00:00",
    ]
    assert all(w.end - w.start == pd.Timedelta("1D") for w in windows)
    for w in windows:
        rows = served[(served["ts"] >= w.start) & (served["ts"] < w.end)]
        labelled = rows[rows["labelled"]]
        assert (w.n, w.n_labelled) == (len(rows), len(labelled))
        y = labelled["label"].astype(int)
        assert w.result.metrics["accuracy"] == pytest.approx(
            skm.accuracy_score(y, labelled["prediction"])
        )
        assert w.result.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, labelled["score"]))
    accuracy = [w.result.metrics["accuracy"] for w in windows]
    assert accuracy[0] > accuracy[1] > accuracy[2]  # the drop is visible per day
    assert sum(w.n for w in windows) == len(served)
    assert 0.75 < windows[0].label_coverage < 0.85


def test_as_of_replays_what_was_labelled_at_the_time(served: pd.DataFrame) -> None:
    as_of = pd.Timestamp("2025-03-03T12:00", tz="UTC")
    windows = windowed_performance(
        served, "ts", freq="1D", y_score="score", label_time_column="label_ts", as_of=as_of
    )
    known = served["labelled"] & (served["label_ts"] <= as_of)
    for w in windows:
        in_window = (served["ts"] >= w.start) & (served["ts"] < w.end)
        assert w.n_labelled == int((known & in_window).sum())
    # Late labels: the most recent day is the least labelled at that moment.
    coverage = [w.label_coverage for w in windows]
    assert coverage[0] > coverage[1] > coverage[2]
    full = windowed_performance(served, "ts", freq="1D", y_score="score")
    assert all(a.n_labelled <= b.n_labelled for a, b in zip(windows, full, strict=True))


def test_row_count_and_calendar_windows(served: pd.DataFrame) -> None:
    windows = windowed_performance(served.sample(frac=1.0, random_state=2), "ts", size=1000)
    assert [w.n for w in windows] == [1000, 1000, 1000]
    assert windows[0].start == served["ts"].iloc[0] and windows[-1].end == served["ts"].iloc[-1]
    uneven = windowed_performance(served, "ts", size=1300)
    assert [w.n for w in uneven] == [1300, 1300, 400]
    weekly = windowed_performance(served, "ts", freq="W")
    assert sum(w.n for w in weekly) == len(served)
    assert weekly[0].start == pd.Timestamp("2025-02-24", tz="UTC")  # the Monday of that week
    hours = windowed_performance(served, "ts", freq="6h")
    assert len(hours) == 12 and all(w.end - w.start == pd.Timedelta("6h") for w in hours)
    body = json.loads(json.dumps([w.to_dict() for w in hours]))
    assert body[0]["start"] == "2025-03-01T00:00:00+00:00" and "metrics" in body[0]


def test_window_arguments_are_checked(served: pd.DataFrame) -> None:
    with pytest.raises(InvalidArgument, match="exactly one of freq"):
        windowed_performance(served, "ts")
    with pytest.raises(InvalidArgument, match="no column"):
        windowed_performance(served, "when", freq="1D")
    with pytest.raises(InvalidArgument, match="need a datetime time column"):
        windowed_performance(served, "score", freq="1D")
    with pytest.raises(InvalidArgument, match="as_of needs label_time_column"):
        windowed_performance(served, "ts", freq="1D", as_of=pd.Timestamp("2025-03-02"))


def test_a_window_without_labels_is_reported_with_no_metrics(served: pd.DataFrame) -> None:
    early = pd.Timestamp("2025-03-01T00:00:01", tz="UTC")
    windows = windowed_performance(
        served, "ts", freq="1D", label_time_column="label_ts", as_of=early
    )
    assert [w.n_labelled for w in windows] == [0, 0, 0]
    assert all(w.result.metrics["accuracy"] is None for w in windows)


# -- baseline --------------------------------------------------------------------------


def test_compare_with_baseline_by_direction_and_tolerance() -> None:
    result = PerformanceResult(
        task="classification",
        n=100,
        n_labelled=100,
        metrics={"accuracy": 0.84, "f1": 0.70, "log_loss": 0.52, "roc_auc": None},
    )
    baseline = {"accuracy": 0.86, "f1": 0.80, "log_loss": 0.45, "roc_auc": 0.9}
    comparison = compare_with_baseline(result, baseline, tolerance=0.03)
    assert comparison["accuracy"].status == "ok"  # 0.02 worse, within 0.03
    assert comparison["f1"].status == "degraded"
    assert comparison["f1"].delta == pytest.approx(-0.10)
    assert comparison["log_loss"].status == "degraded"  # lower is better: 0.07 worse
    assert comparison["log_loss"].direction == "lower"
    assert comparison["roc_auc"].status == "unavailable"
    assert comparison.degraded
    per_metric = compare_with_baseline(result, baseline, {"f1": 0.2, "log_loss": 0.1})
    assert per_metric["f1"].status == "ok" and per_metric["accuracy"].status == "degraded"
    relative = compare_with_baseline(result, baseline, 0.2, relative=True)
    assert not relative.degraded  # every metric within 20 % of its baseline
    better = compare_with_baseline({"rmse": 1.0}, {"rmse": 2.0})
    assert better["rmse"].status == "ok" and better["rmse"].delta == -1.0
    assert json.loads(json.dumps(comparison.to_dict()))["degraded"] is True


def test_compare_needs_the_direction_of_unknown_metrics() -> None:
    with pytest.raises(InvalidArgument, match="Unknown metric 'val_auc'"):
        compare_with_baseline({"val_auc": 0.7}, {"val_auc": 0.8})
    custom = compare_with_baseline(
        {"val_auc": 0.7}, {"val_auc": 0.8}, directions={"val_auc": "higher"}
    )
    assert custom.degraded


def test_ids_of_different_types_cannot_be_joined() -> None:
    predictions = pd.DataFrame({"prediction_id": ["1", "2"], "prediction": [1, 0]})
    labels = pd.DataFrame({"prediction_id": [1, 2], "label": [0, 1]})
    with pytest.raises(InvalidArgument, match="Cannot join predictions and labels"):
        join_labels(predictions, labels)


def test_rows_without_a_time_are_refused(served: pd.DataFrame) -> None:
    untimed = served.assign(ts=served["ts"].where(served.index != 5))
    with pytest.raises(InvalidArgument, match="1 row\\(s\\) have no 'ts'"):
        windowed_performance(untimed, "ts", size=100)
