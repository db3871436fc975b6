"""Canary analysis on seeded synthetic prediction logs: pure functions, no storage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, mean_absolute_error

from moorline.errors import InvalidArgument
from moorline.serving.canary import (
    CanaryAnalysis,
    CanaryPolicy,
    RuleStatus,
    Verdict,
    analyze_canary,
)
from moorline.serving.models import LoggedPrediction, PredictionRecord

START = 1_700_000_000_000
CHAMPION, CHALLENGER = 3, 4


def log(
    version: int,
    n: int,
    *,
    rng: np.random.Generator,
    predict: Callable[[float], Any],
    truth: Callable[[float], Any] | None = None,
    labelled: float = 1.0,
    latency: Callable[[], float] | None = None,
    error_share: float = 0.0,
    start: int = START,
    shadow: bool = False,
) -> list[LoggedPrediction]:
    """``n`` one-row requests to ``version``: x ~ U(0, 1); outputs ``predict(x)``,
    labels ``truth(x)`` on a ``labelled`` share of them."""
    out = []
    for i in range(n):
        x = float(rng.uniform())
        failed = rng.uniform() < error_share
        record = PredictionRecord(
            prediction_id=f"v{version}-{'s' if shadow else ''}{i}",
            deployment="demand",
            model="demand",
            version=version,
            at=start + i * 10,
            inputs=[[x]],
            outputs=[] if failed else [predict(x)],
            latency_ms=latency() if latency else float(rng.uniform(2.0, 4.0)),
            shadow=shadow,
            error_id=f"err-{i}" if failed else None,
        )
        label = None
        if truth is not None and not failed and rng.uniform() < labelled:
            label = [truth(x)]
        out.append(LoggedPrediction(record=record, labels=label))
    return out


def analyze(
    records: list[LoggedPrediction], policy: CanaryPolicy, *, ran_s: float = 600.0
) -> CanaryAnalysis:
    return analyze_canary(
        records,
        champion=CHAMPION,
        challenger=CHALLENGER,
        policy=policy,
        started_at=START,
        now=START + round(ran_s * 1000),
    )


def regression_logs(
    seed: int, *, challenger_noise: float, n_champion: int = 900, n_challenger: int = 150
) -> list[LoggedPrediction]:
    """Truth y = 2x + N(0, 0.1); the champion predicts 2x + N(0, 0.1), the
    challenger 2x + N(0, challenger_noise)."""
    rng = np.random.default_rng(seed)

    def truth(x: float) -> float:
        return 2 * x + float(rng.normal(0, 0.1))

    champion = log(
        CHAMPION, n_champion, rng=rng, predict=lambda x: 2 * x + rng.normal(0, 0.1), truth=truth
    )
    challenger = log(
        CHALLENGER,
        n_challenger,
        rng=rng,
        predict=lambda x: 2 * x + rng.normal(0, challenger_noise),
        truth=truth,
    )
    return champion + challenger


def mae_of(records: list[LoggedPrediction], version: int) -> float:
    pairs = [
        (r.labels[0], r.record.outputs[0])
        for r in records
        if r.record.version == version and r.labels is not None
    ]
    return float(mean_absolute_error([p[0] for p in pairs], [p[1] for p in pairs]))


MAE_POLICY = CanaryPolicy(
    min_requests=100,
    metric="mae",
    max_metric_regression=0.05,
    relative_regression=False,
    min_labelled=50,
)


def test_too_few_requests_waits_and_says_how_many_each_side_has() -> None:
    records = regression_logs(1, challenger_noise=0.1, n_challenger=40)
    analysis = analyze(records, MAE_POLICY)
    assert analysis.verdict is Verdict.WAIT
    traffic = analysis.rule("traffic")
    assert traffic.status is RuleStatus.WAIT
    assert "challenger v4 40" in traffic.reason and "needs 100" in traffic.reason
    assert traffic.details == {"champion": 900, "challenger": 40, "min": 100}
    assert analysis.rule("performance").status is RuleStatus.SKIP
    assert analysis.challenger.requests == 40 and analysis.champion.requests == 900


def test_an_equally_good_challenger_is_promoted_with_its_realized_mae() -> None:
    records = regression_logs(2, challenger_noise=0.1)
    analysis = analyze(records, MAE_POLICY)
    assert analysis.verdict is Verdict.PROMOTE, analysis.reasons
    perf = analysis.rule("performance")
    assert perf.status is RuleStatus.PASS
    assert perf.details["source"] == "realized"
    assert perf.details["champion"] == pytest.approx(mae_of(records, CHAMPION))
    assert perf.details["challenger"] == pytest.approx(mae_of(records, CHALLENGER))
    assert analysis.rule("prediction_drift").status is RuleStatus.PASS
    assert all(r.status is RuleStatus.PASS for r in analysis.rules)


def test_a_worse_challenger_is_rolled_back_naming_the_metric_and_the_margin() -> None:
    records = regression_logs(3, challenger_noise=0.6)
    analysis = analyze(records, MAE_POLICY)
    assert analysis.verdict is Verdict.ROLLBACK
    perf = analysis.rule("performance")
    assert perf.status is RuleStatus.FAIL
    worse = mae_of(records, CHALLENGER) - mae_of(records, CHAMPION)
    assert worse > 0.2
    assert perf.details["worse_by"] == pytest.approx(worse)
    assert "realized mae" in perf.reason and "0.05 allowed" in perf.reason
    assert "performance: " in analysis.summary() and "ROLLBACK" in analysis.summary()


def test_relative_tolerance_is_a_share_of_the_champions_value() -> None:
    records = regression_logs(4, challenger_noise=0.14)
    champion, challenger = mae_of(records, CHAMPION), mae_of(records, CHALLENGER)
    worse = (challenger - champion) / champion
    assert 0.1 < worse < 1.0, (champion, challenger)
    tight = CanaryPolicy(
        min_requests=100, metric="mae", max_metric_regression=worse / 2, relative_regression=True
    )
    loose = CanaryPolicy(
        min_requests=100, metric="mae", max_metric_regression=worse * 2, relative_regression=True
    )
    assert analyze(records, tight).rule("performance").status is RuleStatus.FAIL
    assert analyze(records, loose).rule("performance").status is RuleStatus.PASS


def test_missing_labels_wait_when_the_metric_cannot_be_estimated() -> None:
    rng = np.random.default_rng(5)
    records = log(CHAMPION, 300, rng=rng, predict=lambda x: 2 * x) + log(
        CHALLENGER, 300, rng=rng, predict=lambda x: 2 * x, truth=lambda x: 2 * x, labelled=0.05
    )
    analysis = analyze(records, MAE_POLICY)
    assert analysis.verdict is Verdict.WAIT
    perf = analysis.rule("performance")
    assert perf.status is RuleStatus.WAIT
    assert "needs 50 labelled rows per side (champion 0, challenger" in perf.reason
    assert "cannot be estimated" in perf.reason


def test_a_higher_error_rate_rolls_back_even_when_predictions_are_fine() -> None:
    rng = np.random.default_rng(6)
    records = log(CHAMPION, 500, rng=rng, predict=lambda x: x, error_share=0.002) + log(
        CHALLENGER, 200, rng=rng, predict=lambda x: x, error_share=0.15
    )
    analysis = analyze(records, CanaryPolicy(min_requests=100))
    assert analysis.verdict is Verdict.ROLLBACK
    rule = analysis.rule("error_rate")
    assert rule.status is RuleStatus.FAIL
    expected = analysis.challenger.errors / analysis.challenger.requests
    assert rule.details["challenger"] == pytest.approx(expected) and expected > 0.08
    assert analysis.challenger.rows == analysis.challenger.requests - analysis.challenger.errors


def test_p99_latency_over_the_ratio_rolls_back_but_sub_slack_differences_do_not() -> None:
    rng = np.random.default_rng(7)
    slow = log(CHAMPION, 500, rng=rng, predict=lambda x: x, latency=lambda: rng.uniform(10, 20))
    slow += log(CHALLENGER, 200, rng=rng, predict=lambda x: x, latency=lambda: rng.uniform(40, 90))
    policy = CanaryPolicy(min_requests=100, max_p99_latency_ratio=2.0, min_latency_samples=100)
    analysis = analyze(slow, policy)
    assert analysis.verdict is Verdict.ROLLBACK
    latency = analysis.rule("latency")
    assert latency.status is RuleStatus.FAIL
    assert latency.details["p99"]["ratio"] > 2.0
    assert analysis.challenger.p99_latency_ms == pytest.approx(
        np.percentile([r.record.latency_ms for r in slow if r.record.version == CHALLENGER], 99)
    )
    # 0.3 ms vs 0.9 ms is three times slower, and still noise
    fast = log(CHAMPION, 500, rng=rng, predict=lambda x: x, latency=lambda: 0.3)
    fast += log(CHALLENGER, 200, rng=rng, predict=lambda x: x, latency=lambda: 0.9)
    quick = analyze(fast, policy)
    assert quick.rule("latency").status is RuleStatus.PASS
    assert quick.verdict is Verdict.PROMOTE


def test_with_few_answers_one_slow_request_does_not_decide_latency() -> None:
    rng = np.random.default_rng(8)
    steady = iter([5.0] * 149 + [60.0])  # one pause of a busy machine on the challenger
    records = log(CHAMPION, 150, rng=rng, predict=lambda x: x, latency=lambda: 5.0)
    records += log(CHALLENGER, 150, rng=rng, predict=lambda x: x, latency=lambda: next(steady))
    policy = CanaryPolicy(min_requests=100, max_p99_latency_ratio=2.0)
    analysis = analyze(records, policy)
    latency = analysis.rule("latency")
    assert latency.status is RuleStatus.PASS, latency.reason
    assert "median" in latency.details and "p99" not in latency.details
    assert "applies to the medians" in latency.reason
    # a challenger slow on every request still fails on its median
    slow = log(CHAMPION, 150, rng=rng, predict=lambda x: x, latency=lambda: 5.0)
    slow += log(CHALLENGER, 150, rng=rng, predict=lambda x: x, latency=lambda: 40.0)
    assert analyze(slow, policy).rule("latency").status is RuleStatus.FAIL


def classifier_logs(
    seed: int, *, challenger_sharpness: float, labelled: float
) -> list[LoggedPrediction]:
    """A binary problem where P(y=1 | x) = x; each model outputs
    ``{"prediction", "probability"}``. The champion's probability is x itself
    (calibrated, informative); the challenger's is shrunk toward 0.5."""
    rng = np.random.default_rng(seed)

    def model(sharpness: float) -> Callable[[float], dict[str, Any]]:
        def predict(x: float) -> dict[str, Any]:
            p = 0.5 + sharpness * (x - 0.5)
            return {"prediction": int(p >= 0.5), "probability": p}

        return predict

    def truth(x: float) -> int:
        return int(rng.uniform() < x)

    return log(CHAMPION, 800, rng=rng, predict=model(1.0), truth=truth, labelled=labelled) + log(
        CHALLENGER,
        300,
        rng=rng,
        predict=model(challenger_sharpness),
        truth=truth,
        labelled=labelled,
    )


CLASSIFIER_POLICY = CanaryPolicy(
    min_requests=100,
    metric="roc_auc",
    max_metric_regression=0.05,
    relative_regression=False,
    score_field="probability",
    drift_threshold=None,
)


def test_without_labels_cbpe_estimates_the_classifiers_and_passes_an_equal_one() -> None:
    records = classifier_logs(8, challenger_sharpness=1.0, labelled=0.0)
    analysis = analyze(records, CLASSIFIER_POLICY)
    perf = analysis.rule("performance")
    assert perf.status is RuleStatus.PASS, perf.reason
    assert perf.details["source"] == "estimated"
    assert "estimated by CBPE" in perf.reason
    # with P(y=1|x)=x and x uniform the true ROC AUC is 5/6 for both
    assert perf.details["champion"] == pytest.approx(5 / 6, abs=0.03)
    assert analysis.verdict is Verdict.PROMOTE


def test_cbpe_fitted_on_a_few_labels_catches_an_uninformative_challenger() -> None:
    # The challenger ranks rows at random: its scores carry no information.
    rng = np.random.default_rng(9)

    def champion(x: float) -> dict[str, Any]:
        return {"prediction": int(x >= 0.5), "probability": x}

    def noise(_: float) -> dict[str, Any]:
        p = float(rng.uniform(0.3, 0.7))
        return {"prediction": int(p >= 0.5), "probability": p}

    def truth(x: float) -> int:
        return int(rng.uniform() < x)

    records = log(CHAMPION, 800, rng=rng, predict=champion, truth=truth, labelled=0.04)
    records += log(CHALLENGER, 300, rng=rng, predict=noise, truth=truth, labelled=0.04)
    analysis = analyze(records, CLASSIFIER_POLICY)
    perf = analysis.rule("performance")
    assert perf.details["source"] == "estimated"
    assert perf.details["estimate"]["champion"]["fitted_on"] > 0  # CBPE fitted on the few labels
    assert perf.status is RuleStatus.FAIL, perf.reason
    assert analysis.verdict is Verdict.ROLLBACK


def test_realized_accuracy_is_used_once_labels_arrive() -> None:
    records = classifier_logs(10, challenger_sharpness=1.0, labelled=1.0)
    policy = CanaryPolicy(
        min_requests=100,
        metric="accuracy",
        max_metric_regression=0.08,
        relative_regression=False,
        score_field="probability",
    )
    analysis = analyze(records, policy)
    perf = analysis.rule("performance")
    assert perf.details["source"] == "realized"
    ch = [r for r in records if r.record.version == CHALLENGER]
    expected = accuracy_score(
        [r.labels[0] for r in ch if r.labels],
        [r.record.outputs[0]["prediction"] for r in ch if r.labels],
    )
    assert perf.details["challenger"] == pytest.approx(expected)
    assert analysis.verdict is Verdict.PROMOTE, analysis.reasons


def test_unreadable_outputs_wait_with_the_fields_the_outputs_have() -> None:
    rng = np.random.default_rng(11)
    records = log(CHAMPION, 200, rng=rng, predict=lambda x: {"a": x, "b": x}, truth=lambda x: x)
    records += log(CHALLENGER, 200, rng=rng, predict=lambda x: {"a": x, "b": x}, truth=lambda x: x)
    analysis = analyze(records, MAE_POLICY)
    perf = analysis.rule("performance")
    assert perf.status is RuleStatus.WAIT
    assert "fields ['a', 'b']" in perf.reason and "prediction_field" in perf.reason
    named = CanaryPolicy(min_requests=100, metric="mae", prediction_field="a")
    assert analyze(records, named).rule("performance").status is RuleStatus.PASS


def shifted_logs(seed: int, *, labels: bool) -> list[LoggedPrediction]:
    """The challenger predicts systematically higher than the champion; the
    truth sits with the challenger, so its MAE is better."""
    rng = np.random.default_rng(seed)
    truth = (lambda x: 3 * x + 1) if labels else None
    return log(CHAMPION, 400, rng=rng, predict=lambda x: 3 * x, truth=truth) + log(
        CHALLENGER, 200, rng=rng, predict=lambda x: 3 * x + 1, truth=truth
    )


def test_prediction_drift_holds_without_labels_and_passes_when_labels_show_no_regression() -> None:
    held = analyze(shifted_logs(12, labels=False), CanaryPolicy(min_requests=100))
    drift = held.rule("prediction_drift")
    assert drift.status is RuleStatus.WAIT
    assert drift.details["stattest"] == "ks" and drift.details["score"] < 0.01
    assert held.verdict is Verdict.WAIT
    proven = analyze(shifted_logs(12, labels=True), CanaryPolicy(min_requests=100, metric="mae"))
    assert proven.rule("prediction_drift").status is RuleStatus.PASS
    assert "realized performance shows no regression" in proven.rule("prediction_drift").reason
    assert proven.verdict is Verdict.PROMOTE


def test_on_drift_rollback_and_note() -> None:
    records = shifted_logs(13, labels=False)
    strict = analyze(records, CanaryPolicy(min_requests=100, on_drift="rollback"))
    assert strict.verdict is Verdict.ROLLBACK
    assert strict.rule("prediction_drift").status is RuleStatus.FAIL
    relaxed = analyze(records, CanaryPolicy(min_requests=100, on_drift="note"))
    assert relaxed.verdict is Verdict.PROMOTE
    assert "noted only" in relaxed.rule("prediction_drift").reason


def test_class_predictions_are_tested_with_the_two_sample_chi_square() -> None:
    rng = np.random.default_rng(14)
    records = log(CHAMPION, 600, rng=rng, predict=lambda x: "a" if x < 0.5 else "b")
    records += log(CHALLENGER, 300, rng=rng, predict=lambda x: "a" if x < 0.9 else "b")
    analysis = analyze(records, CanaryPolicy(min_requests=100, on_drift="rollback"))
    drift = analysis.rule("prediction_drift")
    assert drift.details["stattest"] == "chisquare"
    assert drift.status is RuleStatus.FAIL


def test_the_deadline_turns_a_wait_into_the_policys_choice() -> None:
    records = shifted_logs(15, labels=False)  # held by drift forever
    policy = CanaryPolicy(min_requests=100, max_duration_s=600)
    before = analyze(records, policy, ran_s=599)
    assert before.verdict is Verdict.WAIT and before.decided_by == "rules"
    after = analyze(records, policy, ran_s=600)
    assert after.verdict is Verdict.ROLLBACK and after.decided_by == "deadline"
    assert after.rule("deadline").status is RuleStatus.FAIL
    assert "rolls back at the deadline" in after.summary()
    promote = CanaryPolicy(min_requests=100, max_duration_s=600, on_deadline="promote")
    assert analyze(records, promote, ran_s=601).verdict is Verdict.PROMOTE


def test_a_challenger_that_never_got_traffic_is_rolled_back_at_the_deadline_anyway() -> None:
    records = regression_logs(16, challenger_noise=0.1, n_challenger=20)
    policy = CanaryPolicy(min_requests=100, max_duration_s=60, on_deadline="promote")
    analysis = analyze(records, policy, ran_s=120)
    assert analysis.verdict is Verdict.ROLLBACK
    assert "too few requests" in analysis.rule("deadline").reason


def test_min_duration_holds_a_promotion_but_not_a_rollback() -> None:
    policy = CanaryPolicy(
        min_requests=100,
        metric="mae",
        max_metric_regression=0.1,
        relative_regression=False,
        min_duration_s=300,
    )
    good = regression_logs(17, challenger_noise=0.1)
    assert analyze(good, policy, ran_s=100).verdict is Verdict.WAIT
    assert analyze(good, policy, ran_s=100).rule("duration").status is RuleStatus.WAIT
    assert analyze(good, policy, ran_s=300).verdict is Verdict.PROMOTE
    bad = regression_logs(17, challenger_noise=0.8)
    assert analyze(bad, policy, ran_s=100).verdict is Verdict.ROLLBACK


def test_shadow_answers_and_records_before_the_start_are_ignored() -> None:
    rng = np.random.default_rng(18)
    records = regression_logs(19, challenger_noise=0.1)
    # a terrible shadow copy and a terrible earlier challenger run must not count
    records += log(CHALLENGER, 500, rng=rng, predict=lambda x: 50.0, truth=lambda x: x, shadow=True)
    records += log(
        CHALLENGER, 500, rng=rng, predict=lambda x: 50.0, truth=lambda x: x, start=START - 10**7
    )
    analysis = analyze(records, MAE_POLICY)
    assert analysis.challenger.requests == 150
    assert analysis.verdict is Verdict.PROMOTE, analysis.reasons


def test_the_analysis_reads_back_as_plain_json() -> None:
    import json

    analysis = analyze(regression_logs(20, challenger_noise=0.6), MAE_POLICY)
    data = json.loads(json.dumps(analysis.to_dict()))
    assert data["verdict"] == "rollback"
    assert [r["rule"] for r in data["rules"]] == [
        "traffic",
        "error_rate",
        "latency",
        "performance",
        "prediction_drift",
        "duration",
    ]
    assert data["challenger"]["version"] == CHALLENGER


def test_policy_round_trips_and_refuses_bad_values() -> None:
    policy = CanaryPolicy(metric="f1", score_field="proba", on_drift="note", alias=None)
    assert CanaryPolicy.from_dict(policy.to_dict()) == policy
    assert CanaryPolicy.from_dict(None) == CanaryPolicy()
    bad: list[dict[str, Any]] = [
        {"min_requests": 0},
        {"min_requests": True},
        {"max_error_rate_increase": 2},
        {"max_p99_latency_ratio": 0.5},
        {"on_drift": "panic"},
        {"on_deadline": "maybe"},
        {"drift_test": "nope"},
        {"min_duration_s": 100, "max_duration_s": 10},
        {"drift_threshold": float("nan")},
        {"metrics": "mae"},
    ]
    for data in bad:
        with pytest.raises(InvalidArgument, match="anary policy"):
            CanaryPolicy.from_dict(data)


def test_champion_and_challenger_must_differ() -> None:
    with pytest.raises(InvalidArgument, match="both v3"):
        analyze_canary([], champion=3, challenger=3, policy=CanaryPolicy(), started_at=0, now=1)


def test_a_regression_the_data_cannot_yet_tell_from_noise_waits_for_more_labels() -> None:
    # 60 labelled challenger rows, a little worse than the champion
    records = regression_logs(21, challenger_noise=0.13, n_challenger=60)
    policy = CanaryPolicy(
        min_requests=50, metric="mae", max_metric_regression=0.01, relative_regression=False
    )
    waiting = analyze(records, policy)
    perf = waiting.rule("performance")
    low, high = perf.details["worse_bounds"]
    assert perf.details["worse_by"] > 0.01  # beyond the tolerance on its face...
    assert low < 0.01 < high  # ...but not beyond doubt
    assert perf.status is RuleStatus.WAIT and "waiting for more data" in perf.reason
    assert waiting.verdict is Verdict.WAIT
    # comparing the values alone decides at once
    naive = analyze(records, CanaryPolicy.from_dict({**policy.to_dict(), "confidence": None}))
    assert naive.rule("performance").status is RuleStatus.FAIL


def test_the_bounds_come_from_each_sides_standard_error() -> None:
    records = regression_logs(22, challenger_noise=0.1)
    perf = analyze(records, MAE_POLICY).rule("performance")
    errors = []
    for version in (CHAMPION, CHALLENGER):
        e = np.array(
            [
                abs(r.labels[0] - r.record.outputs[0])
                for r in records
                if r.record.version == version and r.labels
            ]
        )
        errors.append(e.std(ddof=1) / np.sqrt(len(e)))
    assert perf.details["standard_errors"] == pytest.approx(errors)
    low, high = perf.details["worse_bounds"]
    half = 1.6448536 * np.hypot(*errors)  # one-sided 95 %
    assert (high - low) / 2 == pytest.approx(half, rel=1e-6)


def test_a_bootstrapped_metric_gets_bounds_too() -> None:
    records = classifier_logs(23, challenger_sharpness=1.0, labelled=1.0)
    policy = CanaryPolicy(
        min_requests=100,
        metric="f1",
        max_metric_regression=0.1,
        relative_regression=False,
        score_field="probability",
    )
    perf = analyze(records, policy).rule("performance")
    se_champion, se_challenger = perf.details["standard_errors"]
    # F1 of ~800 and ~300 rows: a few hundredths, larger on the smaller side
    assert 0.005 < se_champion < se_challenger < 0.1
    assert perf.status is RuleStatus.PASS


@pytest.mark.parametrize("metric", ["roc_auc", "precision", "recall", "f1", "log_loss"])
def test_classification_standard_errors_agree_with_a_bootstrap_of_sklearn(metric: str) -> None:
    from sklearn import metrics as skm

    records = classifier_logs(24, challenger_sharpness=0.8, labelled=1.0)
    policy = CanaryPolicy(
        min_requests=100,
        metric=metric,
        max_metric_regression=0.5,
        relative_regression=False,
        score_field="probability",
    )
    se = analyze(records, policy).rule("performance").details["standard_errors"][1]
    side = [r for r in records if r.record.version == CHALLENGER and r.labels]
    y = np.array([r.labels[0] for r in side])
    p = np.array([r.record.outputs[0]["prediction"] for r in side])
    s = np.array([r.record.outputs[0]["probability"] for r in side])
    rng = np.random.default_rng(0)
    drawn = []
    for _ in range(200):
        rows = rng.integers(0, len(y), len(y))
        if metric == "roc_auc":
            drawn.append(skm.roc_auc_score(y[rows], s[rows]))
        elif metric == "log_loss":
            drawn.append(skm.log_loss(y[rows], s[rows], labels=[0, 1]))
        else:
            score = getattr(skm, f"{metric}_score")
            drawn.append(score(y[rows], p[rows], zero_division=0))
    assert se == pytest.approx(np.std(drawn), rel=0.25)


@pytest.mark.parametrize("metric", ["mae", "rmse", "mape", "r2"])
def test_regression_standard_errors_agree_with_a_bootstrap_of_sklearn(metric: str) -> None:
    from sklearn import metrics as skm

    records = regression_logs(25, challenger_noise=0.3)
    policy = CanaryPolicy(min_requests=100, metric=metric, max_metric_regression=1.0)
    se = analyze(records, policy).rule("performance").details["standard_errors"][1]
    side = [r for r in records if r.record.version == CHALLENGER and r.labels]
    y = np.array([r.labels[0] for r in side])
    p = np.array([r.record.outputs[0] for r in side])
    functions = {
        "mae": skm.mean_absolute_error,
        "rmse": skm.root_mean_squared_error,
        "mape": skm.mean_absolute_percentage_error,
        "r2": skm.r2_score,
    }
    rng = np.random.default_rng(0)
    drawn = []
    for _ in range(200):
        rows = rng.integers(0, len(y), len(y))
        drawn.append(functions[metric](y[rows], p[rows]))
    assert se == pytest.approx(np.std(drawn), rel=0.25)
