"""Pipeline runs end to end, in real worker processes: lineage, the gate's verdicts,
failures that leave production alone, time limits, approvals for high-risk models."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from moorline.bootstrap import Services
from moorline.errors import NotFound
from moorline.pipelines.models import (
    CHALLENGER,
    CHAMPION,
    GateRules,
    PipelineRun,
    RemediationStatus,
    RolloutPolicy,
    RunState,
)
from moorline.registry.models import RiskLevel
from moorline.tracking.models import TAG_DATASET_CONTEXT, TAG_GIT_COMMIT, TAG_SOURCE_NAME, RunStatus
from tests.pipelines.conftest import ADMIN, APPROVER, git_head, open_services, pipeline, run_now

pytestmark = pytest.mark.slow


@dataclass
class Loop:
    services: Services
    repo: Path
    weak: PipelineRun
    good: PipelineRun
    worse: PipelineRun


@pytest.fixture(scope="module")
def loop(
    sqlite_template: Path, repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loop]:
    """v1 (one feature) becomes champion; v2 (all features) and v3 (the mean) challenge it."""
    with open_services(sqlite_template, tmp_path_factory.mktemp("runs")) as services:
        svc = services.pipelines
        svc.register(pipeline("weak", "jobs:one_feature", repo))
        svc.register(pipeline("fit", "jobs:ridge", repo, params={"alpha": 0.5}))
        svc.register(
            pipeline(
                "worse",
                "jobs:mean_only",
                repo,
                rollout=RolloutPolicy(gate=GateRules(margin=0.01)),
            )
        )
        weak = run_now(services, "weak")
        services.registry.set_alias("demand", CHAMPION, weak.model_version, actor="ana")
        good = run_now(services, "fit", alpha=0.25)
        worse = run_now(services, "worse")
        yield Loop(services=services, repo=repo, weak=weak, good=good, worse=worse)


def _versions(services: Services, model: str) -> list[int]:
    page = services.registry.search_model_versions(filter_string=f"name = '{model}'")
    return sorted(v.version for v in page.items)


def _aliases(services: Services, model: str) -> dict[str, int]:
    return dict(services.registry.get_registered_model(model).aliases)


def test_a_good_run_registers_a_version_with_full_lineage(loop: Loop) -> None:
    services, run = loop.services, loop.good
    assert run.status is RunState.SUCCEEDED, run.error
    assert run.model_version == 2 and run.attempt == 1
    version = services.registry.get_model_version("demand", 2)
    assert version.run_id == run.tracked_run_id
    assert version.tags["moorline.pipeline"] == "fit"
    assert version.tags["moorline.pipeline.run"] == run.id
    assert version.tags["moorline.validation"] == "accepted"
    tracked = services.tracking.get_run(version.run_id)
    assert tracked.info.status is RunStatus.FINISHED
    assert tracked.params == {"alpha": "0.25"}  # the manual run's override
    assert tracked.tags[TAG_GIT_COMMIT] == git_head(loop.repo)
    assert tracked.tags[TAG_SOURCE_NAME] == "jobs:ridge"
    assert '"sklearn"' in tracked.tags["moorline.python.env"]  # recorded after training
    assert tracked.tags["moorline.remediation"] == run.remediation_id
    assert tracked.metric("train_rows") == 400  # logged by the user's code
    holdout_mae = tracked.metric("holdout_mae")
    assert holdout_mae is not None and holdout_mae < 0.2
    inputs = {i.tags[TAG_DATASET_CONTEXT]: i.dataset for i in tracked.dataset_inputs}
    assert set(inputs) == {"train", "holdout"}
    assert inputs["train"].name == "fit.train"
    assert inputs["train"].digest == run.result["data"]["train"]["digest"]
    assert services.datasets.get_version("fit.train").dataset.digest == inputs["train"].digest
    log = b"".join(
        services.artifacts.open(
            f"{services.artifacts.run_root(run.tracked_run_id)}/logs/stdout.txt"
        )
    )
    assert b"training ridge on 400 rows" in log


def test_the_gate_accepts_a_better_challenger_and_it_becomes_the_challenger(loop: Loop) -> None:
    services, run = loop.services, loop.good
    decision = run.result["decision"]
    assert decision["accepted"]
    beat = decision["reasons"][0]
    assert beat["rule"] == "beat_champion" and beat["metric"] == "mae" and beat["passed"]
    assert beat["challenger"] < beat["champion"]
    assert "better by" in beat["message"]
    quality = next(r for r in decision["reasons"] if r["rule"] == "data_quality")
    assert quality["passed"]  # same training file as the champion's: no issue
    assert run.result["quality"]["reference"].startswith("weak.train@")
    evaluation = run.result["evaluation"]
    assert evaluation["champion_version"] == 1 and evaluation["latency_p95_ms"]["champion"] > 0
    record = services.pipelines.get_remediation(run.remediation_id)
    assert record.status is RemediationStatus.READY
    assert (record.challenger_version, record.champion_version) == (2, 1)
    assert [s.step for s in record.steps] == [
        "trigger",
        "queued",
        "training",
        "data",
        "training",
        "registration",
        "validation",
        "approval",
        "ready",
    ]
    assert record.steps[-2].status.value == "skipped"


def test_a_worse_challenger_is_rejected_names_metric_and_margin_and_gets_no_alias(
    loop: Loop,
) -> None:
    services, run = loop.services, loop.worse
    assert run.status is RunState.SUCCEEDED and run.model_version == 3
    decision = run.result["decision"]
    assert not decision["accepted"]
    (failed,) = [r for r in decision["reasons"] if not r["passed"]]
    assert failed["metric"] == "mae" and failed["threshold"] == 0.01
    assert "mae: challenger" in failed["message"] and "at least 0.01" in failed["message"]
    assert _aliases(services, "demand") == {CHAMPION: 1, CHALLENGER: 2}
    record = services.pipelines.get_remediation(run.remediation_id)
    assert record.status is RemediationStatus.REJECTED
    assert "worse by" in record.steps[-1].reason
    assert services.registry.get_model_version("demand", 3).tags["moorline.validation"] == (
        "rejected"
    )


def test_a_raising_run_fails_with_the_users_traceback_and_production_untouched(
    loop: Loop,
) -> None:
    services = loop.services
    services.pipelines.register(pipeline("broken", "jobs:broken", loop.repo))
    before_versions, before_aliases = _versions(services, "demand"), _aliases(services, "demand")
    run = run_now(services, "broken")
    assert run.status is RunState.FAILED
    assert run.error_code == "USER_CODE_ERROR"
    assert run.error == (
        "training function jobs:broken raised ValueError: column 'temperature' is empty in all "
        "400 rows"
    )
    assert run.traceback is not None
    assert 'jobs.py", line' in run.traceback and "in broken" in run.traceback
    assert run.traceback.rstrip().endswith(
        "ValueError: column 'temperature' is empty in all 400 rows"
    )
    assert run.model_version is None
    assert _versions(services, "demand") == before_versions
    assert _aliases(services, "demand") == before_aliases
    tracked = services.tracking.get_run(run.tracked_run_id)
    assert tracked.info.status is RunStatus.FAILED
    assert "temperature" in tracked.tags["moorline.pipeline.error"]
    root = services.artifacts.run_root(run.tracked_run_id)
    assert b"loading the features" in b"".join(services.artifacts.open(f"{root}/logs/stdout.txt"))
    record = services.pipelines.get_remediation(run.remediation_id)
    assert record.status is RemediationStatus.FAILED
    assert "Traceback" in record.steps[-1].details["traceback"]


def test_a_run_past_its_timeout_is_killed_and_failed(loop: Loop) -> None:
    services = loop.services
    services.pipelines.register(
        pipeline("sleepy", "jobs:sleepy", loop.repo, params={"seconds": 120}, timeout_seconds=3)
    )
    started = time.monotonic()
    run = run_now(services, "sleepy")
    took = time.monotonic() - started
    assert run.status is RunState.FAILED
    assert run.error == "timed out after 3 s (the worker was killed)"
    assert run.error_code == "USER_CODE_ERROR"
    assert took < 60, f"the run took {took:.1f} s: the worker was not killed at its limit"
    assert services.tracking.get_run(run.tracked_run_id).info.status is RunStatus.FAILED


def test_a_high_risk_model_waits_for_approval_before_any_traffic(loop: Loop) -> None:
    services = loop.services
    svc = services.pipelines
    svc.register(pipeline("risky-weak", "jobs:one_feature", loop.repo, model="risky"))
    svc.register(pipeline("risky-fit", "jobs:ridge", loop.repo, model="risky"))
    first = run_now(services, "risky-weak")
    services.registry.set_alias("risky", CHAMPION, first.model_version, actor="ana")
    services.governance.set_policy("risky", actor=ADMIN, risk=RiskLevel.HIGH)
    run = run_now(services, "risky-fit")
    assert run.status is RunState.SUCCEEDED and run.result["decision"]["accepted"]
    record = svc.get_remediation(run.remediation_id)
    assert record.status is RemediationStatus.AWAITING_APPROVAL
    approval = services.governance.get_approval(record.approval_id)
    assert (approval.name, approval.alias, approval.version) == (
        "risky",
        CHAMPION,
        run.model_version,
    )
    assert approval.requested_by == "moorline-pipelines"
    assert _aliases(services, "risky") == {CHAMPION: first.model_version, CHALLENGER: 1}
    assert svc.advance_approvals() == []  # still pending: nothing moves
    services.governance.grant(record.approval_id, actor=APPROVER, reason="looked at the report")
    (moved,) = svc.advance_approvals()
    assert moved.status is RemediationStatus.READY
    assert [s.step for s in moved.steps][-3:] == ["approval", "approval", "ready"]
    assert "approved by bo" in moved.steps[-2].reason
    assert _aliases(services, "risky") == {
        CHAMPION: first.model_version,
        CHALLENGER: run.model_version,
    }
    with pytest.raises(NotFound):
        svc.get_remediation("0" * 32)
