"""CBPE: on synthetic data whose true P(y | x) is known, the estimate made
without labels lands within its sampling error of the realized metric, also
when the inputs shift (covariate shift, P(y | x) unchanged)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit
from sklearn import metrics as skm

from moorline.errors import InvalidArgument
from moorline.monitoring.cbpe import (
    CBPE,
    SUPPORTED_METRICS,
    expected_calibration_error,
    expected_roc_auc,
)

Sample = tuple[np.ndarray, np.ndarray]


def sample(n: int, seed: int, *, spread: float = 1.0, distort: float = 1.0) -> Sample:
    """Scores and labels of a model whose score is the true P(y=1 | x) (``distort=1``)
    or a monotone distortion of it (``p ** distort``: same ranking, miscalibrated).
    ``spread`` scales the inputs: a narrower spread puts more rows near the decision
    boundary (covariate shift; P(y | x) itself never changes)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, spread, n)
    p = expit(2.5 * x + 0.3)
    y = rng.random(n) < p
    return p**distort, y


def realized_by_sklearn(
    scores: np.ndarray, y: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    pred = scores >= threshold
    return {
        "roc_auc": skm.roc_auc_score(y, scores),
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
    }


@pytest.fixture(scope="module")
def fitted() -> CBPE:
    scores, labels = sample(20_000, seed=1)
    return CBPE(chunk_size=2000).fit(scores, labels)


def test_on_calibrated_data_the_estimate_is_within_sampling_error(fitted: CBPE) -> None:
    """40 windows of 2000 rows: every metric's realized value is within 3 sampling
    errors of the estimate, and the errors behave like standard deviations
    (the standardised gaps have a spread near 1 and a mean near 0)."""
    gaps: dict[str, list[float]] = {m: [] for m in SUPPORTED_METRICS}
    for k in range(40):
        scores, labels = sample(2000, seed=100 + k)
        estimate = fitted.estimate(scores, y_true=labels)
        for m in estimate.metrics:
            assert m.value is not None and m.sampling_error is not None and m.realized is not None
            gaps[m.metric].append((m.realized - m.value) / m.sampling_error)
    for metric, z in gaps.items():
        z_arr = np.array(z)
        assert np.abs(z_arr).max() < 3.0, metric
        assert abs(z_arr.mean()) < 0.5, (metric, z_arr.mean())
        assert 0.7 < z_arr.std() < 1.4, (metric, z_arr.std())


def test_realized_values_beside_the_estimate_equal_sklearn(fitted: CBPE) -> None:
    scores, labels = sample(3000, seed=5)
    estimate = fitted.estimate(scores, y_true=labels)
    realized = {m.metric: m.realized for m in estimate.metrics}
    assert realized == pytest.approx(realized_by_sklearn(scores, labels), rel=1e-12)


def test_the_sampling_error_of_accuracy_matches_its_closed_form(fitted: CBPE) -> None:
    """Accuracy is a mean of independent Bernoulli(c_i) correctness indicators, so its
    standard deviation is sqrt(sum c(1-c)) / n: the Monte Carlo figure agrees."""
    scores, _ = sample(5000, seed=6)
    p = fitted.calibrate(scores)
    correct = np.where(scores >= 0.5, p, 1 - p)
    closed_form = np.sqrt(np.sum(correct * (1 - correct))) / len(p)
    estimate = fitted.estimate(scores)
    assert estimate["accuracy"].sampling_error == pytest.approx(closed_form, rel=0.15)
    assert estimate["accuracy"].value == pytest.approx(correct.mean(), rel=1e-12)
    low, high = estimate["accuracy"].lower_confidence, estimate["accuracy"].upper_confidence
    assert high - low == pytest.approx(6 * estimate["accuracy"].sampling_error)  # type: ignore[operator]


def test_under_covariate_shift_the_estimate_tracks_the_performance_drop(fitted: CBPE) -> None:
    """Inputs crowd the decision boundary: accuracy and AUC fall for real, and the
    estimate, made without labels, falls with them and raises the alert."""
    scores, labels = sample(5000, seed=7)
    before = fitted.estimate(scores, y_true=labels)
    scores, labels = sample(5000, seed=8, spread=0.3)
    after = fitted.estimate(scores, y_true=labels)
    assert before.alerts == ()
    assert set(after.alerts) >= {"roc_auc", "accuracy"}
    for metric in ("roc_auc", "accuracy", "f1"):
        b, a = before[metric], after[metric]
        assert a.realized < b.realized - 0.08  # type: ignore[operator]  # a real drop
        assert abs(a.realized - a.value) <= 3 * a.sampling_error  # type: ignore[operator]
        estimated_drop = b.value - a.value  # type: ignore[operator]
        realized_drop = b.realized - a.realized  # type: ignore[operator]
        assert estimated_drop == pytest.approx(realized_drop, abs=0.03), metric
        assert a.value < a.lower_alert  # type: ignore[operator]


def test_miscalibrated_scores_are_calibrated_when_it_helps() -> None:
    """Scores ``p**3`` rank like the truth but are far too low: the isotonic
    calibrator fixes the estimate; without it the estimate is badly off."""
    scores, labels = sample(20_000, seed=11, distort=3.0)
    auto = CBPE(chunk_size=2000).fit(scores, labels)
    assert auto.calibrated_ is True
    assert auto.ece_["calibrated"] < auto.ece_["uncalibrated"] / 3
    raw = CBPE(chunk_size=2000, calibration="never").fit(scores, labels)
    assert raw.calibrated_ is False
    window, truth = sample(5000, seed=12, distort=3.0)
    good, bad = auto.estimate(window, y_true=truth), raw.estimate(window, y_true=truth)
    for metric in ("accuracy", "recall", "roc_auc"):
        g, b = good[metric], bad[metric]
        assert abs(g.realized - g.value) <= 3 * g.sampling_error  # type: ignore[operator]
        assert abs(b.realized - b.value) > 8 * b.sampling_error  # type: ignore[operator]


def test_calibrated_scores_are_left_alone(fitted: CBPE) -> None:
    assert fitted.calibrated_ is False  # isotonic steps would not lower the ECE
    scores, _ = sample(100, seed=13)
    assert np.array_equal(fitted.calibrate(scores), scores)
    hard = np.array([0.0, 1.0] * 50)
    labels = np.array([0, 1] * 45 + [1, 0] * 5)
    assert CBPE(calibration="always").fit(hard, labels).calibrated_ is False


def test_expected_roc_auc_is_the_expected_share_of_ordered_pairs() -> None:
    """Against a brute-force sum over every pair of distinct rows, with ties."""
    rng = np.random.default_rng(14)
    scores = rng.integers(0, 8, 60) / 8  # many ties
    p = rng.uniform(0, 1, 60)
    num = den = 0.0
    for i in range(60):
        for j in range(60):
            if i != j:
                weight = p[i] * (1 - p[j])
                den += weight
                num += weight * (
                    1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
                )
    assert expected_roc_auc(scores, p) == pytest.approx(num / den, rel=1e-12)


def test_expected_roc_auc_agrees_with_nannymls_expected_roc_curve() -> None:
    """NannyML's form: every row a positive with weight p and a negative with
    weight 1-p, AUC of that weighted set. It differs only by the self-pairs."""
    scores, _ = sample(4000, seed=15)
    n = len(scores)
    doubled = skm.roc_auc_score(
        np.r_[np.ones(n), np.zeros(n)],
        np.r_[scores, scores],
        sample_weight=np.r_[scores, 1 - scores],
    )
    assert expected_roc_auc(scores, scores) == pytest.approx(doubled, abs=1e-3)


def test_alert_bands_come_from_the_reference_chunks() -> None:
    scores, labels = sample(10_000, seed=16)
    cbpe = CBPE(metrics=["accuracy", "roc_auc"], chunk_size=1000, alert_std=2.0).fit(scores, labels)
    for metric in ("accuracy", "roc_auc"):
        per_chunk = [
            realized_by_sklearn(scores[k : k + 1000], labels[k : k + 1000])[metric]
            for k in range(0, 10_000, 1000)
        ]
        band = cbpe.bands_[metric]
        assert band is not None and band.chunks == 10
        assert band.mean == pytest.approx(np.mean(per_chunk), rel=1e-12)
        assert band.lower == pytest.approx(np.mean(per_chunk) - 2 * np.std(per_chunk), rel=1e-12)
        assert band.upper == pytest.approx(np.mean(per_chunk) + 2 * np.std(per_chunk), rel=1e-12)


def test_estimates_have_a_stable_json_form(fitted: CBPE) -> None:
    scores, labels = sample(1000, seed=17)
    body = fitted.estimate(scores, y_true=labels).to_dict()
    assert json.loads(json.dumps(body, allow_nan=False)) == body
    assert [m["metric"] for m in body["metrics"]] == list(SUPPORTED_METRICS)
    assert list(body["metrics"][0]) == [
        "metric",
        "value",
        "sampling_error",
        "lower_confidence",
        "upper_confidence",
        "lower_alert",
        "upper_alert",
        "alert",
        "realized",
    ]
    assert fitted.estimate(scores).to_dict()["metrics"][0]["realized"] is None
    again = fitted.estimate(scores, y_true=labels).to_dict()
    assert again == body  # seeded: the same window gives the same figures


def test_precision_is_undefined_when_nothing_is_predicted_positive(fitted: CBPE) -> None:
    low = np.full(50, 0.1)
    estimate = fitted.estimate(low)
    assert estimate["precision"].value is None and estimate["precision"].sampling_error is None
    assert estimate["accuracy"].value == pytest.approx(0.9)


def test_ece_of_perfectly_calibrated_bins_is_zero() -> None:
    p = np.repeat([0.25, 0.75], 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(p, y, bins=2) == 0.0


def test_bad_use_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="CBPE estimates"):
        CBPE(metrics=["mae"])
    with pytest.raises(InvalidArgument, match="not fitted"):
        CBPE().estimate([0.5])
    with pytest.raises(InvalidArgument, match=r"probabilities in \[0, 1\]"):
        CBPE().fit([0.2, 1.7], [0, 1])
    with pytest.raises(InvalidArgument, match="must hold both classes"):
        CBPE().fit([0.2, 0.7], [1, 1])
    with pytest.raises(InvalidArgument, match="binary classifiers"):
        CBPE().fit([0.2, 0.7, 0.5], [0, 1, 2])
    with pytest.raises(InvalidArgument, match="NaN or infinite"):
        CBPE().fit([0.2, np.nan], [0, 1])
    with pytest.raises(InvalidArgument, match="one score per row"):
        CBPE().fit([[0.2, 0.8]], [0])


def test_string_labels_with_a_positive_class() -> None:
    scores, labels = sample(4000, seed=18)
    names = np.where(labels, "fraud", "ok")
    cbpe = CBPE(metrics=["recall"]).fit(scores, names, pos_label="fraud")
    window, truth = sample(2000, seed=19)
    estimate = cbpe.estimate(window, y_true=np.where(truth, "fraud", "ok"))
    assert estimate["recall"].realized == pytest.approx(skm.recall_score(truth, window >= 0.5))
