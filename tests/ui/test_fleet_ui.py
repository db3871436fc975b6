"""The fleet overview and the remediation timeline in a real headless Chromium.

The store holds one loop run for real, as the server would run it: a
pipeline trains v1 of ``demand`` (one feature) in a worker process; v1
becomes the champion and serves deployment ``demand-prod``; requests with
shifted inputs are answered by the registered model and labelled; a
monitor on the prediction log finds drift and its alert fires; the alert
triggers the retraining pipeline, whose worker trains v2 on all features;
the gate accepts it, the canary controller puts it on half the traffic,
the canary is judged on live feedback and v2 is promoted. Someone then
asks for an approval to move the champion back. A second model, ``legacy``,
has a champion alias and no deployment.

A separate store holds 50 models with deployments, histories, monitors,
pipeline runs, approvals and canaries: the fleet page must answer fast.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import moorline
from moorline.auth.models import Role
from moorline.bootstrap import Services, Settings, build_services
from moorline.core.clock import now_ms
from moorline.monitoring.alerts import AlertRule
from moorline.monitoring.monitors import (
    DriftCheck,
    FileSource,
    Monitor,
    MonitorStatus,
    PerformanceCheck,
    PredictionsSource,
)
from moorline.pipelines.models import AlertTrigger, RolloutPolicy, RunState
from moorline.pipelines.scheduler import run_inline
from moorline.registry.governance import Actor
from moorline.server.ui.fleet_pages import iso_week
from moorline.serving.canary import CanaryPolicy
from moorline.serving.models import PredictionRecord, TrafficPolicy, UsageRecord, hour_of
from moorline.serving.rollout import CanaryAction, PipelineRollout
from moorline.serving.routing import Router
from tests.pipelines.conftest import ADMIN, make_repo, pipeline, run_now
from tests.support.deployments import prediction, register_versions
from tests.support.live import LiveServer, start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODEL, DEPLOYMENT, MONITOR = "demand", "demand-prod", "demand-drift"
FEATURES = ["a", "b", "c"]
ALERT_KEY = f"drift/{MONITOR}"


@dataclass
class LoopSite:
    url: str
    server: LiveServer
    services: Services
    remediation_id: str
    steps: list[str]
    approval_id: str
    cpu_this_week: float
    serving_cpu_this_week: float
    #: answered requests, from the prediction log
    logged_requests: int

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30)


def _truth(x: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """The training code's relation (see tests/pipelines/conftest.py)."""
    y = x.to_numpy() @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=len(x))
    return np.asarray(y)


def _serve(services: Services, models: dict[int, Any], rng: np.random.Generator, n: int) -> None:
    """``n`` one-row requests with shifted inputs, routed by the deployment's current
    policy, answered by the registered models, logged and labelled; their usage
    (requests and the CPU time of each predict call) recorded as a model server
    inside ``moorline server`` records it."""
    deployment = services.deployments.get(DEPLOYMENT)
    router = Router(DEPLOYMENT, deployment.policy)
    x = pd.DataFrame(rng.normal(size=(n, 3)) + 2.5, columns=FEATURES)
    y = _truth(x, rng)
    records, feedback = [], []
    usage: dict[int, list[float]] = {}
    now = now_ms()
    for i in range(n):
        version = router.pick(float(rng.random()))
        row = x.iloc[[i]]
        started = time.thread_time()
        answer = float(np.asarray(models[version].predict(row)).ravel()[0])
        spent = usage.setdefault(version, [0, 0.0])
        spent[0] += 1
        spent[1] += time.thread_time() - started
        pid = uuid.uuid4().hex
        records.append(
            PredictionRecord(
                prediction_id=pid,
                deployment=DEPLOYMENT,
                model=MODEL,
                version=version,
                at=now - n + i,
                inputs=row.to_numpy().tolist(),
                outputs=[answer],
                latency_ms=1.0 + float(rng.random()),
                columns=tuple(FEATURES),
            )
        )
        feedback.append({"prediction_id": pid, "label": float(y[i])})
    services.deployments.predictions.append_predictions(records)
    assert services.deployments.add_feedback(DEPLOYMENT, feedback) == n
    services.deployments.predictions.record_usage(
        [
            UsageRecord(
                deployment=DEPLOYMENT,
                model=MODEL,
                version=version,
                hour=hour_of(now),
                requests=int(count),
                rows=int(count),
                cpu_s=cpu,
                predict_cpu_s=cpu,
            )
            for version, (count, cpu) in usage.items()
        ]
    )


def _seed_loop(services: Services, root: Path) -> tuple[str, str]:
    """The loop, run for real (see the module docs): (remediation id, approval id)."""
    repo = make_repo(root / "repo")
    svc = services.pipelines
    svc.register(pipeline("demand-weak", "jobs:one_feature", repo))
    weak = run_now(services, "demand-weak")
    assert weak.status is RunState.SUCCEEDED, weak.error
    services.registry.set_alias(MODEL, "champion", weak.model_version, actor="ana")
    services.deployments.create(
        DEPLOYMENT, model=MODEL, policy=TrafficPolicy.single(1), actor="ana", reason="v1 goes out"
    )
    reference = root / "reference.csv"
    pd.read_csv(repo / "train.csv")[FEATURES].to_csv(reference, index=False)
    services.monitors.create(
        Monitor(
            name=MONITOR,
            model=MODEL,
            reference=FileSource(path=str(reference)),
            current=PredictionsSource(deployment=DEPLOYMENT, window_seconds=7 * 86400),
            drift=DriftCheck(columns=tuple(FEATURES)),
            quality=None,
            performance=PerformanceCheck(
                label="label", prediction="prediction", baseline={"mae": 0.5}, tolerance=0.1
            ),
            rules=(
                AlertRule(
                    name="drift",
                    monitor=MONITOR,
                    condition="dataset.dataset_drift == true",
                    cooldown_seconds=0,
                ),
            ),
        )
    )
    retrain = svc.register(
        pipeline(
            "demand-retrain",
            "jobs:ridge",
            repo,
            on_alerts=(AlertTrigger(monitor=MONITOR),),
            rollout=RolloutPolicy(canary_weight=50.0),
        )
    )
    models = {1: moorline.load_model(f"models:/{MODEL}/1")}
    rng = np.random.default_rng(3)
    _serve(services, models, rng, 200)
    fired = services.monitors.run(MONITOR)
    assert fired.status is MonitorStatus.ALERTING, fired.error

    # The alert starts the retraining; the accepted challenger goes out as a canary.
    svc.set_rollout(
        PipelineRollout(
            services.canaries,
            pipelines=svc,
            policy=CanaryPolicy(min_requests=40, min_labelled=30, max_metric_regression=0.1),
        )
    )
    (_trigger,) = svc.collect(retrain)
    (started,) = svc.start_pending(retrain)
    assert started.run is not None
    done = run_inline(svc, started.run)
    assert done is not None and done.status is RunState.SUCCEEDED, done and done.error
    assert services.deployments.get(DEPLOYMENT).policy == TrafficPolicy.canary(
        champion=1, challenger=2, weight=50
    )
    models[2] = moorline.load_model(f"models:/{MODEL}/2")
    for _ in range(10):
        _serve(services, models, rng, 200)
        outcome = services.canaries.evaluate(DEPLOYMENT)
        if outcome.action is not CanaryAction.WAITING:
            break
    assert outcome.action is CanaryAction.PROMOTED, "\n".join(outcome.analysis.reasons)

    register_versions(services, root / "legacy", "legacy", [["prediction"]])
    services.registry.set_alias("legacy", "champion", 1, actor="ana")
    approval = services.governance.request_approval(
        MODEL,
        "champion",
        1,
        actor=Actor(name="bo", role=Role.EDITOR),
        reason="compare the old champion on the audit sample",
    )
    return done.remediation_id, approval.approval_id


@pytest.fixture(scope="module")
def loop_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopSite]:
    root = tmp_path_factory.mktemp("ui-fleet")
    store_uri = f"sqlite:///{root / 'moorline.db'}"
    services = build_services(Settings(store_uri=store_uri, artifacts_uri=str(root / "artifacts")))
    mp = pytest.MonkeyPatch()
    mp.setenv("MOORLINE_TRACKING_URI", store_uri)
    mp.setenv("MOORLINE_ARTIFACTS_URI", str(root / "artifacts"))
    moorline.set_tracking_uri(None)
    try:
        remediation_id, approval_id = _seed_loop(services, root)
        record = services.pipelines.get_remediation(remediation_id)
        runs = services.pipelines.list_runs()
        week = iso_week(now_ms())
        cpu = sum(
            r.result["execution"]["cpu_seconds"]
            for r in runs
            if iso_week(r.finished_at or 0) == week
        )
        serving_cpu = sum(
            u.cpu_s for u in services.deployments.predictions.usage() if iso_week(u.hour) == week
        )
        server = start_server(root, store_uri=store_uri)
        try:
            yield LoopSite(
                url=server.url,
                server=server,
                services=services,
                remediation_id=remediation_id,
                steps=[s.step for s in record.steps],
                approval_id=approval_id,
                cpu_this_week=cpu,
                serving_cpu_this_week=serving_cpu,
                logged_requests=sum(
                    v.requests
                    for v in services.deployments.predictions.traffic(DEPLOYMENT, since=0)
                ),
            )
        finally:
            server.stop()
    finally:
        services.close()
        moorline.set_tracking_uri(None)
        mp.undo()


def cells(row: Any) -> dict[str, str]:
    out = {}
    for cell in row.locator(":scope > td").all():
        for cls in (cell.get_attribute("class") or "").split():
            out[cls] = cell.inner_text().strip()
    return out


def test_the_fleet_shows_production_split_drift_alert_retraining_approval_and_cost(
    page: Any, loop_site: LoopSite, screenshots: Path
) -> None:
    page.goto(loop_site.url + "/")
    page.wait_for_url("**/ui/fleet")
    assert page.locator("header nav a.active").inner_text() == "Fleet"
    assert page.locator("header nav a", has_text="Experiments").get_attribute("href") == "/ui/"
    rows = page.locator("#fleet-table > tbody > tr")
    assert [rows.nth(i).get_attribute("data-model") for i in range(rows.count())] == [
        MODEL,
        "legacy",
    ]
    row = page.locator(f'#fleet-table tr[data-model="{MODEL}"]')
    text = cells(row)
    assert "champion v2" in text["name"]
    # In production: v2, on demand-prod, since its canary started (it has answered
    # callers without a break since then; all of them since the promotion).
    assert DEPLOYMENT in text["production"] and "v2 since" in text["production"]
    promoted, started = loop_site.services.deployments.history(DEPLOYMENT, limit=2)
    assert promoted.policy == TrafficPolicy.single(2) and started.policy.kind.value == "canary"
    assert row.locator(".production time").get_attribute("data-ms") == str(started.at)
    # The split bar: v2 takes everything.
    segments = row.locator("td.production figure.fleet-split svg g.segment")
    assert segments.count() == 1 and segments.nth(0).get_attribute("data-label") == "v2"
    assert row.locator("figure.fleet-split figcaption").inner_text() == "single v2"
    # Realized performance from the labels against the monitor's baseline.
    assert "mae" in text["performance"] and "vs 0.5" in text["performance"]
    assert "realized on 200 labelled rows" in text["performance"]
    # Drift, and the alert that still fires.
    assert row.locator("td.drift .drift-status").inner_text() == "drift"
    assert "1 alert firing" in row.locator("td.drift .alerts").inner_text()
    assert row.locator(f'td.drift .alert[data-key="{ALERT_KEY}"]').count() == 1
    # The last retraining: the alert's run, succeeded, with v2.
    assert row.locator("td.retraining .status").inner_text() == "succeeded"
    assert "demand-retrain" in text["retraining"] and "v2" in text["retraining"]
    # The pending approval.
    assert "1 pending" in text["approvals"]
    assert row.locator(f'td.approvals [data-approval="{loop_site.approval_id}"]').count() == 1
    # Training CPU of this week's runs (measured by the worker), and serving CPU (the
    # predict calls' CPU time, recorded per version and hour).
    week = iso_week(now_ms())
    shown = float(row.locator(f'td.training-cpu[data-week="{week}"]').inner_text())
    assert loop_site.cpu_this_week > 0.5  # two real training runs
    assert shown == pytest.approx(loop_site.cpu_this_week, abs=0.051)
    serving = row.locator(f'td.serving-cpu[data-week="{week}"]')
    assert loop_site.serving_cpu_this_week > 0
    assert float(serving.inner_text()) == pytest.approx(loop_site.serving_cpu_this_week, abs=0.051)
    assert serving.get_attribute("title") == f"{loop_site.logged_requests} requests"
    legacy_row = page.locator('#fleet-table tr[data-model="legacy"]')
    assert legacy_row.locator(f'td.serving-cpu[data-week="{week}"]').inner_text() == "0.0"
    legacy = cells(page.locator('#fleet-table tr[data-model="legacy"]'))
    assert "no deployment" in legacy["production"] and "champion v1" in legacy["name"]
    assert legacy["retraining"] == "never" and legacy["performance"] == "n/a"
    shot(page, screenshots, "70-fleet")

    # Through to the remediation that the alert started.
    row.locator("td.retraining a.remediation-link").first.click()
    page.wait_for_url(f"**/ui/remediations/{loop_site.remediation_id}")
    assert page.locator("#remediation-status").inner_text() == "promoted"
    shown_steps = page.locator("#timeline > li").evaluate_all(
        "items => items.map(i => i.dataset.step)"
    )
    assert shown_steps == loop_site.steps
    # alert -> data window -> pipeline run -> validation -> approval -> canary -> promotion
    order = [
        "alert",
        "training",
        "data",
        "registration",
        "validation",
        "approval",
        "ready",
        "canary",
        "canary_analysis",
        "promotion",
    ]
    positions = [shown_steps.index(step) for step in order]
    assert positions == sorted(positions), shown_steps
    phases = page.locator("#phases > li").evaluate_all(
        "items => items.map(i => [i.dataset.phase, i.dataset.status])"
    )
    assert phases == [
        ["trigger", "ok"],
        ["data", "ok"],
        ["run", "ok"],
        ["validation", "ok"],
        ["approval", "ok"],
        ["canary", "ok"],
        ["outcome", "ok"],
    ]
    alert = page.locator('#timeline > li[data-step="alert"]')
    assert ALERT_KEY in alert.inner_text()
    assert alert.locator("a.link-monitor").get_attribute("href") == f"/ui/monitors/{MONITOR}"
    assert "alert window" in alert.inner_text() and "200 rows" in alert.inner_text()
    validation = page.locator('#timeline > li[data-step="validation"]')
    assert validation.locator("li.reason-pass").count() >= 1
    assert "beat_champion" in validation.inner_text()
    registration = page.locator('#timeline > li[data-step="registration"]')
    assert registration.locator("a.link-version").get_attribute("href") == (
        f"/ui/models/{MODEL}/versions/2"
    )
    trained = page.locator('#timeline > li[data-step="training"][data-status="ok"]')
    assert trained.locator("a.link-run").get_attribute("href").startswith("/ui/runs/")
    promotion = page.locator('#timeline > li[data-step="promotion"]')
    assert "v2 takes all traffic" in promotion.inner_text()
    assert promotion.locator('li.reason[data-rule="performance"]').get_attribute("class") == (
        "reason reason-pass"
    )
    shot(page, screenshots, "71-remediation")

    # And on to the deployment, whose page shows the canary and its last verdict.
    promotion.locator("a.link-deployment").click()
    page.wait_for_url(f"**/ui/deployments/{DEPLOYMENT}#canary")
    canary = page.locator("#canary")
    assert canary.get_attribute("data-status") == "promoted"
    assert canary.locator(".canary-verdict").inner_text() == "promote"
    assert canary.locator('li.rule[data-rule="performance"] .status').inner_text() == "pass"
    assert canary.locator("a.remediation-link").get_attribute("href") == (
        f"/ui/remediations/{loop_site.remediation_id}"
    )
    shot(page, screenshots, "72-deployment-canary")


def test_the_fleet_and_remediation_pages_answer_json(loop_site: LoopSite) -> None:
    fleet = loop_site.get("/ui/fleet.json").json()
    (demand,) = [m for m in fleet["models"] if m["model"] == MODEL]
    (prod,) = demand["deployments"]
    assert prod["policy_text"] == "single v2" and prod["canary"] is None
    assert [v["version"] for v in prod["versions"]] == [2]
    assert demand["drift_status"] == "drift"
    assert [a["key"] for a in demand["alerts"]] == [ALERT_KEY]
    assert demand["last_retraining"]["remediation_id"] == loop_site.remediation_id
    week = iso_week(now_ms())
    serving = demand["compute"]["serving_cpu_seconds"]
    assert list(serving) == fleet["weeks"] == list(demand["compute"]["training_cpu_seconds"])
    assert serving[week] == pytest.approx(loop_site.serving_cpu_this_week, abs=0.001)
    assert demand["compute"]["serving_requests"][week] == loop_site.logged_requests >= 400
    assert "predict calls" in fleet["notes"]["serving_cpu"]
    # The training runs' CPU time: measured on the worker process, kept on the pipeline
    # run and as the tracked run's metric.
    for run in loop_site.services.pipelines.list_runs():
        execution = run.result["execution"]
        assert 0.2 < execution["cpu_seconds"] < execution["seconds"] * (os.cpu_count() or 1)
        tracked = loop_site.services.tracking.get_run(str(run.tracked_run_id))
        assert tracked.metric("moorline.cpu_seconds") == execution["cpu_seconds"]
    listing = loop_site.get("/ui/remediations.json?model=demand").json()
    ids = [r["id"] for r in listing["remediations"]]
    assert loop_site.remediation_id in ids and len(ids) == 2  # the first run's too
    page = loop_site.get("/ui/remediations?model=demand&status=promoted")
    assert page.status_code == 200
    assert page.text.count('<tr data-remediation="') == 1
    assert f'data-remediation="{loop_site.remediation_id}"' in page.text
    assert loop_site.get("/ui/remediations?status=bogus").status_code == 400
    timeline = loop_site.get(f"/ui/remediations/{loop_site.remediation_id}.json").json()
    assert [s["step"] for s in timeline["steps"]] == loop_site.steps
    assert timeline["remediation"]["status"] == "promoted"
    missing = loop_site.get("/ui/remediations/" + "0" * 32)
    assert missing.status_code == 404
    assert loop_site.get("/ui/remediations/not-an-id.json").status_code == 400


# -- 50 models -------------------------------------------------------------------------

FLEET = 50


def _seed_fleet(services: Services, root: Path) -> None:
    """50 models, each with two versions, a deployment (half of them with a history
    of splits), a monitor run on its prediction log, a pipeline with finished runs,
    and some approvals and running canaries."""
    rng = np.random.default_rng(9)
    reference = root / "reference.csv"
    pd.DataFrame({"input_0": rng.normal(size=300)}).to_csv(reference, index=False)
    now = now_ms()
    for i in range(FLEET):
        model = f"model-{i:02d}"
        register_versions(services, root / "models", model, [["prediction"], ["prediction"]])
        services.registry.set_alias(model, "champion", 1, actor="ana")
        name = f"{model}-prod"
        services.deployments.create(name, model=model, policy=TrafficPolicy.single(1), actor="ana")
        if i % 2:
            services.deployments.set_traffic(
                name, TrafficPolicy.canary(champion=1, challenger=2, weight=20), actor="bo"
            )
            services.deployments.set_traffic(name, TrafficPolicy.single(2), actor="bo")
        version = 2 if i % 2 else 1
        records = [
            prediction(
                name, model, version, now - 60_000 + j, inputs=[[float(rng.normal(i % 3, 1))]]
            )
            for j in range(100)
        ]
        services.deployments.predictions.append_predictions(records)
        services.deployments.add_feedback(
            name,
            [{"prediction_id": r.prediction_id, "label": float(j)} for j, r in enumerate(records)],
        )
        monitor = f"{model}-watch"
        services.monitors.create(
            Monitor(
                name=monitor,
                model=model,
                reference=FileSource(path=str(reference)),
                current=PredictionsSource(deployment=name),
                drift=DriftCheck(columns=("input_0",)),
                quality=None,
                performance=PerformanceCheck(
                    label="label", prediction="prediction", baseline={"mae": 30.0}
                ),
                rules=(
                    AlertRule(
                        name="drift", monitor=monitor, condition="dataset.dataset_drift == true"
                    ),
                ),
            )
        )
        services.monitors.run(monitor)
        services.pipelines.register(pipeline(f"{model}-retrain", "jobs:ridge", root, model=model))
        for _ in range(2):
            # What a runner records when it finishes a run (no worker needed here).
            run = services.pipelines.trigger(f"{model}-retrain", actor=ADMIN)
            store = services.pipelines.store
            claimed = store.claim_next(run.pipeline, holder="seed", ttl_ms=60_000, now=now)
            assert claimed is not None
            store.finish_run(
                claimed.id,
                holder="seed",
                state=RunState.SUCCEEDED,
                now=now,
                result={"execution": {"cpu_seconds": 1.5 + i}},
            )
        if i % 5 == 0:
            services.governance.request_approval(
                model, "champion", 2, actor=ADMIN, reason="ready for review"
            )
        if i % 10 == 2:
            services.canaries.start_canary(
                name, 2, 10, CanaryPolicy(min_requests=10_000, max_duration_s=86_400)
            )


@pytest.fixture(scope="module")
def fleet_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui-fleet-50")
    store_uri = f"sqlite:///{root / 'moorline.db'}"
    services = build_services(Settings(store_uri=store_uri, artifacts_uri=str(root / "artifacts")))
    try:
        _seed_fleet(services, root)
    finally:
        services.close()
    server = start_server(root, store_uri=store_uri)
    try:
        yield server.url
    finally:
        server.stop()


def test_the_fleet_page_renders_fast_for_fifty_models(fleet_site: str) -> None:
    with httpx.Client(base_url=fleet_site, timeout=30) as client:
        data = client.get("/ui/fleet.json").json()
        assert len(data["models"]) == FLEET
        by_name = {m["model"]: m for m in data["models"]}
        odd = by_name["model-01"]
        # v2 alone now; it has served since the split that first gave it traffic
        (prod,) = odd["deployments"]
        assert [(v["version"], v["since_complete"]) for v in prod["versions"]] == [(2, True)]
        assert prod["revision"] == 3 and prod["versions"][0]["since"] < prod["created_at"] + 60_000
        assert odd["last_retraining"]["status"] == "succeeded"
        week = data["weeks"][0]
        assert odd["compute"]["training_cpu_seconds"][week] == pytest.approx(2 * 2.5)
        assert len(by_name["model-00"]["pending_approvals"]) == 1
        assert by_name["model-02"]["deployments"][0]["canary"]["challenger"] == 2
        assert all(m["performance"] for m in data["models"])
        assert all(m["drift"] and m["drift"][0]["verdict"] != "not run" for m in data["models"])
        timings = []
        for _ in range(7):
            began = time.perf_counter()
            response = client.get("/ui/fleet")
            timings.append(time.perf_counter() - began)
            assert response.status_code == 200
            assert response.text.count('<tr data-model="') == FLEET
    median = statistics.median(timings)
    best = min(timings)
    print(f"fleet page, {FLEET} models: median {median * 1000:.0f} ms, best {best * 1000:.0f} ms")
    # The target is 300 ms; this shared machine is noisy, so the bound is generous.
    assert median < 1.5, f"the fleet page took {median:.2f} s for {FLEET} models"


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
