"""Triggers: monitor alerts (deduplicated while their run is active or cooling down,
linked to the window that fired), cron, new dataset versions, the concurrency
limit, a run left behind by a dead runner, and "remediation failed" on the
alert's channels."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from moorline.bootstrap import Services
from moorline.monitoring.alerts import AlertRule
from moorline.monitoring.channels import WebhookChannel
from moorline.monitoring.monitors import DriftCheck, FileSource, Monitor, MonitorStatus
from moorline.pipelines.models import (
    AlertTrigger,
    RemediationStatus,
    RunState,
    StepStatus,
    TriggerKind,
    TriggerStatus,
)
from moorline.pipelines.scheduler import PipelineScheduler, PipelineSchedulerSettings
from moorline.tracking.models import RunStatus
from tests.pipelines.conftest import ADMIN, pipeline

HOUR = 3_600_000
T0 = 1_900_000_000_000  # a fixed "now" (2030), far after the pipelines' registration


class Receiver:
    """A webhook receiver on loopback that records the JSON it gets."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _window(path: Path, *, shift: float) -> None:
    rng = np.random.default_rng(int(shift * 10) + 5)
    x = rng.normal(size=(300, 3)) + shift
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}).to_csv(path, index=False)


def _monitor(
    services: Services, repo: Path, tmp: Path, name: str, *, url: str | None = None
) -> Path:
    """A drift monitor on the repository's training data; the current window is a file."""
    current = tmp / f"{name}-current.csv"
    _window(current, shift=0.0)
    reference = tmp / "reference.csv"
    pd.read_csv(repo / "train.csv")[["a", "b", "c"]].to_csv(reference, index=False)
    channels = ()
    if url is not None:
        channels = (WebhookChannel(name="hook", url=url, secret="s" * 20),)
    services.monitors.create(
        Monitor(
            name=name,
            model="demand",
            reference=FileSource(path=str(reference)),
            current=FileSource(path=str(current)),
            drift=DriftCheck(),
            quality=None,
            rules=(
                AlertRule(
                    name="drift",
                    monitor=name,
                    condition="dataset.dataset_drift == true",
                    cooldown_seconds=0,
                ),
            ),
            channels=channels,
        )
    )
    return current


@pytest.mark.slow
def test_an_alert_that_keeps_firing_starts_one_run_linked_to_its_window(
    services: Services, repo: Path, tmp_path: Path
) -> None:
    services.registry.create_registered_model("demand")
    current = _monitor(services, repo, tmp_path, "mon")
    svc = services.pipelines
    registered = svc.register(
        pipeline(
            "retrain", "jobs:ridge", repo, on_alerts=(AlertTrigger(monitor="mon", rule="drift"),)
        )
    )
    monitors = services.monitors

    assert monitors.run("mon", now=T0).status is MonitorStatus.OK
    assert svc.collect(registered, T0) == []
    _window(current, shift=3.0)
    fired = monitors.run("mon", now=T0 + 1000)
    assert fired.status is MonitorStatus.ALERTING
    (trigger,) = svc.collect(registered, T0 + 2000)
    assert trigger.kind is TriggerKind.ALERT and trigger.group == "alert:drift/mon"
    assert trigger.details["monitor_result_id"] == fired.id
    assert trigger.details["window"]["rows"] == 300
    assert svc.collect(registered, T0 + 2000) == []  # seen already
    (started,) = svc.start_pending(registered, T0 + 2000)
    run = started.run
    assert run is not None and run.status is RunState.QUEUED

    # Still drifting: the alert stays firing, no new notification, no new trigger.
    assert monitors.run("mon", now=T0 + 3000).status is MonitorStatus.ALERTING
    assert svc.collect(registered, T0 + 3000) == []
    # It resolves and fires again while the run is queued: one run still.
    _window(current, shift=0.0)
    monitors.run("mon", now=T0 + 4000)
    _window(current, shift=3.0)
    monitors.run("mon", now=T0 + 5000)
    (again,) = svc.collect(registered, T0 + 5000)
    (merged,) = svc.start_pending(registered, T0 + 5000)
    assert merged.run is None and merged.deduplicated_into.id == run.id
    assert svc.list_runs(pipeline="retrain") == [svc.get_run(run.id)]
    triggers = {t.id: t for t in svc.store.list_triggers("retrain")}
    assert triggers[again.id].status is TriggerStatus.DEDUPLICATED
    assert triggers[again.id].run_id == run.id

    # The run, executed by a scheduler: the tracked run carries the alert.
    scheduler = PipelineScheduler(svc, PipelineSchedulerSettings(workers=1), holder="s1")
    try:
        assert [r.id for r in scheduler.tick(T0 + 6000)] == [run.id]
        scheduler.drain()
    finally:
        scheduler.close()
    done = svc.get_run(run.id)
    assert done.status is RunState.SUCCEEDED, done.error
    tracked = services.tracking.get_run(done.tracked_run_id)
    assert tracked.tags["moorline.alert"] == "drift/mon"
    assert tracked.tags["moorline.monitor.result"] == str(fired.id)
    record = svc.get_remediation(done.remediation_id)
    assert record.alert_key == "drift/mon"
    assert [s.step for s in record.steps][:3] == ["alert", "queued", "deduplicated"]
    assert record.steps[0].details["monitor_result_id"] == fired.id
    assert "fired again; no new run" in record.steps[2].reason

    # Finished, but within the pipeline's cooldown (an hour): firing again starts nothing.
    _window(current, shift=0.0)
    monitors.run("mon", now=T0 + 7000)
    _window(current, shift=3.0)
    monitors.run("mon", now=T0 + 8000)
    svc.collect(registered, T0 + 8000)
    (cooled,) = svc.start_pending(registered, done.finished_at + 1000)
    assert cooled.run is None and "cooldown" in cooled.reason
    assert len(svc.list_runs(pipeline="retrain")) == 1


@pytest.mark.slow
def test_a_failed_remediation_is_announced_on_the_alerts_channels(
    services: Services, repo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    services.registry.create_registered_model("demand")
    current = _monitor(services, repo, tmp_path, "noisy", url=receiver.url)
    svc = services.pipelines
    svc.register(pipeline("fix", "jobs:broken", repo, on_alerts=(AlertTrigger(monitor="noisy"),)))
    _window(current, shift=3.0)
    services.monitors.run("noisy")
    assert [r["event"] for r in receiver.received] == ["alert.firing"]
    scheduler = PipelineScheduler(svc, PipelineSchedulerSettings(workers=1), holder="s1")
    try:
        (run,) = scheduler.tick()
        scheduler.drain()
    finally:
        scheduler.close()
    failed = svc.get_run(run.id)
    assert failed.status is RunState.FAILED and failed.error_code == "USER_CODE_ERROR"
    notice = receiver.received[-1]
    assert len(receiver.received) == 2
    assert notice["alert"]["dedup_key"] == "drift/noisy"
    assert notice["alert"]["title"] == "REMEDIATION FAILED: drift on noisy"
    assert "column 'temperature' is empty" in notice["alert"]["summary"]
    assert notice["alert"]["details"]["remediation"]["pipeline_run_id"] == run.id
    record = svc.get_remediation(run.remediation_id)
    assert record.status is RemediationStatus.FAILED
    assert [s.step for s in record.steps][-2:] == ["training", "notify"]
    assert record.steps[-1].status is StepStatus.OK
    assert record.steps[-1].details["deliveries"][0]["ok"] is True
    assert [r.id for r in svc.list_remediations(alert_key="drift/noisy")] == [record.id]


def test_cron_and_new_dataset_versions_trigger_once(services: Services, repo: Path) -> None:
    svc = services.pipelines
    writer = services.tracking.create_run("0", run_name="ingest").info.run_id
    frame = pd.read_csv(repo / "train.csv")
    services.datasets.log(frame, "fresh", run_id=writer)
    registered = svc.register(
        pipeline("nightly", "jobs:ridge", repo, schedule="0 3 * * *", on_datasets=("fresh",))
    )
    later = registered.created_at + 48 * 24 * HOUR
    found = svc.collect(registered, later)
    assert [t.kind for t in found] == [TriggerKind.SCHEDULE]  # the known version is no news
    assert svc.collect(registered, later + 1000) == []  # the same cron time
    services.datasets.log(frame.head(300), "fresh", run_id=writer)
    (new,) = svc.collect(registered, later + 2000)
    assert new.kind is TriggerKind.DATASET
    assert new.details["digest"] == services.datasets.get_version("fresh").dataset.digest
    assert svc.collect(registered, later + 3000) == []
    decisions = svc.start_pending(registered, later + 3000)
    assert [d.run is not None for d in decisions] == [True, True]  # different groups
    kinds = sorted(r.trigger_kind.value for r in svc.list_runs(pipeline="nightly"))
    assert kinds == ["dataset", "schedule"]


@pytest.mark.slow
def test_the_concurrency_limit_queues_runs_behind_the_running_one(
    services: Services, repo: Path
) -> None:
    svc = services.pipelines
    svc.register(pipeline("one-at-a-time", "jobs:sleepy", repo, params={"seconds": 1}))
    first = svc.trigger("one-at-a-time", actor=ADMIN)
    second = svc.trigger("one-at-a-time", actor=ADMIN)
    scheduler = PipelineScheduler(svc, PipelineSchedulerSettings(workers=2), holder="s1")
    try:
        assert [r.id for r in scheduler.tick()] == [first.id]  # two free slots, limit 1
        assert svc.get_run(second.id).status is RunState.QUEUED
        scheduler.drain()
        assert [r.id for r in scheduler.tick()] == [second.id]
        scheduler.drain()
    finally:
        scheduler.close()
    a, b = svc.get_run(first.id), svc.get_run(second.id)
    assert (a.status, b.status) == (RunState.SUCCEEDED, RunState.SUCCEEDED)
    assert a.finished_at is not None and b.started_at is not None
    assert b.started_at >= a.finished_at


def test_a_run_whose_runner_died_is_failed_once_attempts_are_spent(
    services: Services, repo: Path
) -> None:
    """The runner's lease lapses (it stopped renewing): the next look fails the run with
    the reason, ends its tracked run FAILED and records it; it never stays running."""
    svc = services.pipelines
    svc.register(pipeline("fragile", "jobs:ridge", repo, max_attempts=1))
    queued = svc.trigger("fragile", actor=ADMIN)
    now = svc.now()
    claimed = svc.store.claim_next("fragile", holder="ghost", ttl_ms=1000, now=now)
    assert claimed is not None
    tracked = services.tracking.create_run("0", run_name="attempt-1").info.run_id
    assert svc.store.update_run(queued.id, holder="ghost", tracked_run_id=tracked)
    assert svc.recover(now + 500) == []  # the lease still holds
    (failed,) = svc.recover(now + 1500)
    assert failed.status is RunState.FAILED
    assert "left running by ghost" in failed.error and "gave up after 1 attempt" in failed.error
    assert services.tracking.get_run(tracked).info.status is RunStatus.FAILED
    record = svc.get_remediation(queued.remediation_id)
    assert record.status is RemediationStatus.FAILED
    assert svc.recover(now + 5000) == []
