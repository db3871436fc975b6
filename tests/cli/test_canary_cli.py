"""``moorline canary start|status|abort|list`` on a real SQLite store.

The CLI runs in-process (Click's runner) over a store with three registered
versions of ``churn`` and a deployment serving v1; the prediction log is
written as the gateway writes it, so ``status`` shows a real analysis. A
started canary is judged by the same controller the server's loop runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from moorline.bootstrap import Services, Settings, build_services
from moorline.cli.main import cli
from moorline.core.clock import now_ms
from moorline.serving.models import RevisionAction, TrafficPolicy
from moorline.serving.rollout import CanaryAction
from tests.support.deployments import prediction, register_versions

MODEL, NAME = "churn", "churn-prod"


@dataclass
class World:
    store: str
    artifacts: str
    services: Services
    root: Path

    def run(self, *args: str, user: str = "ana") -> Result:
        return CliRunner().invoke(
            cli,
            ["--store", self.store, "--artifacts", self.artifacts, *args],
            env={"MOORLINE_USER": user, "COLUMNS": "200"},
            catch_exceptions=False,
        )

    def ok(self, *args: str, user: str = "ana") -> Result:
        result = self.run(*args, user=user)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str, user: str = "ana") -> Any:
        return json.loads(self.ok(*args, "--json", user=user).stdout)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = f"sqlite:///{tmp_path / 'moorline.db'}"
    artifacts = str(tmp_path / "artifacts")
    services = build_services(Settings(store_uri=store, artifacts_uri=artifacts))
    register_versions(services, tmp_path / "models", MODEL, [["label"], ["label"], ["label"]])
    services.registry.set_alias(MODEL, "champion", 1, actor="ana")
    services.deployments.create(NAME, model=MODEL, policy=TrafficPolicy.single(1), actor="ana")
    try:
        yield World(store=store, artifacts=artifacts, services=services, root=tmp_path)
    finally:
        services.close()


def log_traffic(services: Services, challenger: int, *, challenger_error: float) -> None:
    """50 labelled answers per side; the challenger's are off by ``challenger_error``."""
    t0 = now_ms()
    records, feedback = [], []
    for i in range(100):
        version = 1 if i % 2 else challenger
        off = 0.1 if version == 1 else challenger_error
        record = prediction(NAME, MODEL, version, t0 + i, inputs=[[float(i % 7)]])
        records.append(record)
        feedback.append({"prediction_id": record.prediction_id, "label": 2.0 * (i % 7) + off})
    services.deployments.predictions.append_predictions(records)
    services.deployments.add_feedback(NAME, feedback)


def test_start_status_and_abort(world: World) -> None:
    assert "has had no canary" in world.ok("canary", "status", NAME).stdout
    started = world.json(
        "canary",
        "start",
        NAME,
        "--challenger",
        "2",
        "--weight",
        "20",
        "--min-requests",
        "30",
        "--metric",
        "mae",
        "--min-labelled",
        "30",
        "--max-duration",
        "900",
        "--no-alias",
        "--reason",
        "retrained on May",
    )
    assert (started["champion"], started["challenger"], started["weight"]) == (1, 2, 20.0)
    assert started["status"] == "running" and started["started_by"] == "ana"
    policy = started["policy"]
    assert (policy["min_requests"], policy["metric"], policy["alias"]) == (30, "mae", None)
    assert policy["max_duration_s"] == 900 and policy["on_deadline"] == "rollback"
    deployment = world.services.deployments.get(NAME)
    assert deployment.policy == TrafficPolicy.canary(champion=1, challenger=2, weight=20)
    assert deployment.updated_by == "ana"

    status = world.json("canary", "status", NAME)
    assert status["active"] is True and status["canary"]["id"] == started["id"]
    assert status["analysis"]["verdict"] == "wait"

    log_traffic(world.services, 2, challenger_error=2.5)
    shown = world.ok("canary", "status", NAME).stdout
    assert f"canary {started['id']}" in shown and "RUNNING" in shown
    assert "verdict now: ROLLBACK" in shown
    assert "realized mae" in shown and "performance" in shown and "traffic" in shown

    listed = world.json("canary", "list")
    assert [c["id"] for c in listed] == [started["id"]]

    aborted = world.json("canary", "abort", NAME, "--reason", "wrong data window", user="bo")
    assert aborted["status"] == "aborted"
    assert aborted["reason"] == "aborted by bo: wrong data window"
    assert world.services.deployments.get(NAME).policy == TrafficPolicy.single(1)
    newest = world.services.deployments.history(NAME, limit=1)[0]
    assert newest.action is RevisionAction.ROLLBACK and newest.actor == "bo"
    again = world.run("canary", "abort", NAME, "--reason", "again")
    assert again.exit_code == 2 and "runs no canary" in again.output
    shown = world.ok("canary", "status", NAME).stdout
    assert "ABORTED" in shown and "aborted by bo" in shown
    # status computed analyses without storing them, and nobody judged it: no verdict
    assert "verdict" not in shown
    assert world.json("canary", "list", "--status", "running") == []


def test_a_canary_started_by_the_cli_is_promoted_by_the_controller(world: World) -> None:
    (world.root / "policy.json").write_text(json.dumps({"confidence": None, "on_drift": "note"}))
    started = world.json(
        "canary",
        "start",
        NAME,
        "--challenger",
        "3",
        "--weight",
        "50",
        "--min-requests",
        "30",
        "--metric",
        "mae",
        "--min-labelled",
        "30",
        "--policy",
        f"@{world.root / 'policy.json'}",
    )
    assert started["policy"]["confidence"] is None and started["policy"]["on_drift"] == "note"
    log_traffic(world.services, 3, challenger_error=0.1)
    (outcome,) = world.services.canaries.tick()  # the server's canary loop
    assert outcome.action is CanaryAction.PROMOTED, "\n".join(outcome.analysis.reasons)
    assert world.services.registry.get_version_by_alias(MODEL, "champion").version == 3
    shown = world.ok("canary", "status", NAME).stdout
    assert "PROMOTED" in shown and "v3 takes all traffic" in shown


def test_mistakes_are_refused_with_clear_messages(world: World) -> None:
    bad = world.run("canary", "start", NAME, "--challenger", "2", "--policy", '{"min_request": 5}')
    assert bad.exit_code == 2 and "min_request" in bad.output
    bad = world.run("canary", "start", NAME, "--challenger", "2", "--policy", "[1]")
    assert bad.exit_code == 2 and "JSON object" in bad.output
    bad = world.run("canary", "start", NAME, "--challenger", "2", "--weight", "100")
    assert bad.exit_code == 2 and "percentage" in bad.output
    bad = world.run("canary", "start", NAME, "--challenger", "1")
    assert bad.exit_code == 2 and "already the champion" in bad.output
    bad = world.run("canary", "start", NAME, "--challenger", "2", "--alias", "x", "--no-alias")
    assert bad.exit_code == 2 and "not both" in bad.output
    bad = world.run("canary", "start", "nope", "--challenger", "2")
    assert bad.exit_code == 2 and "not found" in bad.output
    assert world.services.canaries.list_canaries() == []
    assert world.services.deployments.get(NAME).revision == 1
    remote = CliRunner().invoke(
        cli, ["--store", "http://127.0.0.1:9", "canary", "status", NAME], catch_exceptions=False
    )
    assert remote.exit_code == 4 and "/api/v1/deployments/{name}/canary" in remote.output
