"""The validation gate and the pipeline records: pure functions, no store."""

from __future__ import annotations

import math

import pytest

from moorline.errors import InvalidArgument
from moorline.pipelines.gate import Measurements, decide
from moorline.pipelines.models import (
    AlertTrigger,
    DatasetSource,
    Evaluation,
    FunctionSource,
    GateRules,
    GlobSource,
    Pipeline,
    RolloutPolicy,
    SqlSource,
    source_to_dict,
)


def measured(
    challenger: dict[str, float], champion: dict[str, float] | None, **kw: object
) -> Measurements:
    return Measurements(
        metric="mae", direction="lower", challenger=challenger, champion=champion, **kw
    )


def test_a_worse_challenger_is_rejected_with_the_metric_both_values_and_the_margin() -> None:
    decision = decide(GateRules(margin=0.02), measured({"mae": 0.51}, {"mae": 0.20}))
    assert not decision.accepted
    (reason,) = decision.failed
    assert reason.rule == "beat_champion"
    assert (reason.metric, reason.challenger, reason.champion, reason.threshold) == (
        "mae",
        0.51,
        0.20,
        0.02,
    )
    assert "mae" in reason.message and "0.51" in reason.message and "0.2" in reason.message
    assert "worse by 0.31" in reason.message
    assert "at least 0.02" in reason.message


def test_better_but_not_by_the_margin_is_rejected_and_enough_is_accepted() -> None:
    rules = GateRules(margin=0.05)
    assert not decide(rules, measured({"mae": 0.18}, {"mae": 0.20})).accepted
    ok = decide(rules, measured({"mae": 0.14}, {"mae": 0.20}))
    assert ok.accepted
    assert "better by 0.06" in ok.reasons[0].message


def test_a_tie_is_not_beating_the_champion() -> None:
    decision = decide(GateRules(), measured({"mae": 0.2}, {"mae": 0.2}))
    assert not decision.accepted
    assert "no better" in decision.reasons[0].message


def test_higher_is_better_metrics_compare_the_other_way() -> None:
    m = Measurements(metric="f1", direction="higher", challenger={"f1": 0.9}, champion={"f1": 0.8})
    assert decide(GateRules(margin=0.05), m).accepted
    m = Measurements(metric="f1", direction="higher", challenger={"f1": 0.7}, champion={"f1": 0.8})
    assert not decide(GateRules(), m).accepted


def test_regression_on_another_metric_beyond_its_tolerance_rejects() -> None:
    m = measured({"mae": 0.10, "rmse": 0.40, "r2": 0.80}, {"mae": 0.20, "rmse": 0.30, "r2": 0.85})
    decision = decide(GateRules(tolerances={"rmse": 0.05}, tolerance=0.1), m)
    assert not decision.accepted
    failed = {r.metric: r for r in decision.failed}
    assert set(failed) == {"rmse"}
    assert "rmse" in failed["rmse"].message and "tolerated: 0.05" in failed["rmse"].message
    r2 = next(r for r in decision.reasons if r.metric == "r2")
    assert r2.passed and "worse by 0.05" in r2.message  # within the default tolerance 0.1
    # Metrics without a tolerance are reported by the run, not gated.
    assert decide(GateRules(), m).accepted


def test_data_quality_and_latency_rules() -> None:
    quality = {"max_severity": "critical", "issues": ["[critical] column 'b' is missing"]}
    decision = decide(GateRules(), measured({"mae": 0.1}, {"mae": 0.2}, quality=quality))
    assert not decision.accepted
    assert "column 'b' is missing" in decision.failed[0].message
    tolerant = GateRules(max_quality_severity="critical")
    assert decide(tolerant, measured({"mae": 0.1}, {"mae": 0.2}, quality=quality)).accepted
    slow = measured({"mae": 0.1}, {"mae": 0.2}, latency_p95_ms=12.5)
    decision = decide(GateRules(latency_budget_ms=10), slow)
    assert [r.rule for r in decision.failed] == ["latency"]
    assert (
        "12.500 ms" in decision.failed[0].message and "budget 10 ms" in decision.failed[0].message
    )
    assert decide(GateRules(latency_budget_ms=20), slow).accepted


def test_the_first_version_is_accepted_but_an_unscorable_champion_is_not() -> None:
    first = decide(GateRules(), measured({"mae": 0.3}, None))
    assert first.accepted and first.reasons[0].rule == "first_version"
    broken = decide(
        GateRules(),
        measured({"mae": 0.3}, None, champion_version=4, champion_error="NotFound: gone"),
    )
    assert not broken.accepted and "version 4" in broken.failed[0].message
    nan = decide(GateRules(), measured({"mae": math.nan}, {"mae": 0.2}))
    assert not nan.accepted


def _pipeline(**kw: object) -> Pipeline:
    values: dict[str, object] = {
        "name": "p",
        "entry_point": "jobs:fit",
        "model": "m",
        "data": SqlSource(query="select * from t", uri="postgresql://u:secret@db/x"),
        "evaluation": Evaluation(
            metric="accuracy",
            label="y",
            task="classification",
            holdout=FunctionSource(entry_point="jobs:holdout"),
        ),
        "rollout": RolloutPolicy(gate=GateRules(margin=0.01, tolerances={"f1": 0.02})),
        "on_alerts": (AlertTrigger(monitor="mon", rule="drift"),),
        "on_datasets": ("fresh",),
        "schedule": "0 3 * * *",
    }
    values.update(kw)
    return Pipeline(**values)  # type: ignore[arg-type]


def test_a_pipeline_round_trips_through_json_and_hides_sql_passwords() -> None:
    p = _pipeline()
    assert Pipeline.from_dict(p.to_dict()) == p
    shown = p.to_dict(redact=True)
    assert "secret" not in str(shown) and shown["data"]["uri"] == "postgresql://u:***@db/x"
    assert p.evaluation.direction == "higher"
    assert source_to_dict(GlobSource(pattern="d/*.csv")) == {"kind": "glob", "pattern": "d/*.csv"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"entry_point": "train.py"}, "module:function"),
        ({"name": "../x"}, "Invalid pipeline name"),
        ({"executor": "k8s"}, "Unknown executor"),
        ({"concurrency": 0}, "concurrency"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"on_datasets": ("p.train",), "data": GlobSource(pattern="x")}, "trigger itself"),
    ],
)
def test_bad_pipelines_are_refused_with_a_clear_message(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        _pipeline(**changes)


def test_bad_evaluations_and_rules_are_refused() -> None:
    holdout = DatasetSource(name="h")
    with pytest.raises(InvalidArgument, match="Unknown regression metric 'f1'"):
        Evaluation(metric="f1", label="y", holdout=holdout)
    with pytest.raises(InvalidArgument, match="not the label"):
        Evaluation(metric="mae", label="y", holdout=holdout, features=("y",))
    with pytest.raises(InvalidArgument, match="max_quality_severity"):
        GateRules(max_quality_severity="fatal")
    with pytest.raises(InvalidArgument, match="canary_weight"):
        RolloutPolicy(canary_weight=150)
    with pytest.raises(InvalidArgument, match="Unknown pipeline field"):
        Pipeline.from_dict({**_pipeline().to_dict(), "entrypoint": "x:y"})
