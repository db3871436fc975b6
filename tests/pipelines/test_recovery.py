"""Runners die and replicas race: a run left behind by a runner killed with SIGKILL
is resumed by the next one (its worker dies with it), and two schedulers on one
PostgreSQL database run a firing alert's pipeline exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from moorline.bootstrap import Settings, build_services
from moorline.pipelines.models import AlertTrigger, RemediationStatus, RunState
from moorline.pipelines.scheduler import PipelineScheduler, PipelineSchedulerSettings
from moorline.tracking.models import RunStatus
from tests.contracts.sql_backend import postgres_database
from tests.pipelines.conftest import ADMIN, open_services, pipeline
from tests.pipelines.test_triggers import _monitor, _window

pytestmark = pytest.mark.slow

#: A runner process: the pipeline scheduler alone, with a 3-second lease.
RUNNER = """
import sys, time
from moorline.bootstrap import Settings, build_services
from moorline.pipelines.scheduler import PipelineScheduler, PipelineSchedulerSettings
services = build_services(Settings(store_uri=sys.argv[1], artifacts_uri=sys.argv[2]), migrate=False)
settings = PipelineSchedulerSettings(interval=0.5, lease_seconds=3, workers=1)
PipelineScheduler(services.pipelines, settings, holder="doomed").start()
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; its parent (init here) just has not reaped it yet.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_a_runner_killed_mid_run_leaves_it_to_the_next_runner(
    sqlite_template: Path, repo: Path, tmp_path: Path
) -> None:
    with open_services(sqlite_template, tmp_path / "store") as services:
        svc = services.pipelines
        marker = repo / f"marker-{uuid.uuid4().hex}"
        svc.register(
            pipeline(
                "resilient",
                "jobs:slow_once",
                repo,
                params={"marker": marker.name},
                timeout_seconds=600,
            )
        )
        queued = svc.trigger("resilient", actor=ADMIN)
        settings = services.settings
        runner = subprocess.Popen(
            [sys.executable, "-c", RUNNER, settings.store_uri, settings.artifacts_uri],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait(marker.exists, 120, "the first attempt to start training")
            worker = int(marker.read_text())
            assert svc.get_run(queued.id).holder == "doomed"
            runner.send_signal(signal.SIGKILL)
            runner.wait(30)
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.wait(30)
        _wait(lambda: not _alive(worker), 20, "the worker to die with its runner")
        left = svc.get_run(queued.id)
        assert left.status is RunState.RUNNING and left.attempt == 1  # until the lease lapses
        first_tracked = left.tracked_run_id

        heir = PipelineScheduler(
            svc, PipelineSchedulerSettings(lease_seconds=30, workers=1), holder="heir"
        )
        try:
            _wait(lambda: bool(heir.tick()), 30, "the next runner to take the run over")
            heir.drain()
        finally:
            heir.close()
        done = svc.get_run(queued.id)
        assert done.status is RunState.SUCCEEDED, done.error
        assert (done.attempt, done.holder) == (2, "heir")
        assert done.tracked_run_id != first_tracked
        abandoned = services.tracking.get_run(first_tracked)
        assert abandoned.info.status is RunStatus.FAILED
        assert "left running by doomed" in abandoned.tags["moorline.pipeline.error"]
        record = svc.get_remediation(done.remediation_id)
        assert record.status is RemediationStatus.READY
        steps = [(s.step, s.status.value) for s in record.steps]
        assert steps[2:5] == [
            ("training", "started"),
            ("training", "failed"),
            ("training", "started"),
        ]
        assert "queued again for attempt 2 of 2" in record.steps[3].reason


def test_a_scheduler_that_stops_hands_its_runs_back_at_once(
    sqlite_template: Path, repo: Path, tmp_path: Path
) -> None:
    with open_services(sqlite_template, tmp_path / "store") as services:
        svc = services.pipelines
        svc.register(pipeline("long", "jobs:sleepy", repo, params={"seconds": 300}))
        queued = svc.trigger("long", actor=ADMIN)
        leaving = PipelineScheduler(svc, PipelineSchedulerSettings(lease_seconds=600), holder="old")
        assert [r.id for r in leaving.tick()] == [queued.id]
        _wait(lambda: svc.get_run(queued.id).tracked_run_id is not None, 60, "the run to start")
        started = time.monotonic()
        leaving.close()
        assert time.monotonic() - started < 30  # its job was killed, not waited for
        handed = svc.get_run(queued.id)
        assert handed.status is RunState.RUNNING and handed.lease_expires_at is not None
        assert handed.lease_expires_at < svc.now()  # resumable now, not in ten minutes
        (resumed,) = svc.recover()
        assert resumed.status is RunState.QUEUED and resumed.attempt == 1
        tracked = services.tracking.get_run(handed.tracked_run_id)
        assert tracked.info.status is RunStatus.FAILED


@pytest.mark.postgres
def test_two_schedulers_on_one_postgres_run_a_firing_alert_once(repo: Path, tmp_path: Path) -> None:
    with postgres_database() as uri:
        settings = Settings(store_uri=uri, artifacts_uri=str(tmp_path / "artifacts"))
        a, b = build_services(settings), build_services(settings, migrate=False)
        try:
            a.registry.create_registered_model("demand")
            current = _monitor(a, repo, tmp_path, "mon")
            a.pipelines.register(
                pipeline("retrain", "jobs:ridge", repo, on_alerts=(AlertTrigger(monitor="mon"),))
            )
            _window(current, shift=3.0)
            a.monitors.run("mon")
            schedulers = [
                PipelineScheduler(s.pipelines, PipelineSchedulerSettings(workers=2), holder=h)
                for s, h in ((a, "replica-a"), (b, "replica-b"))
            ]
            barrier = threading.Barrier(2)
            started: list[str] = []
            now = a.pipelines.now()

            def tick(scheduler: PipelineScheduler) -> None:
                barrier.wait()
                runs = scheduler.tick(now)
                started.extend(f"{scheduler.holder}:{r.id}" for r in runs)

            threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            for s in schedulers:
                s.drain()
                s.close()
            assert len(started) == 1, started
            (run,) = a.pipelines.list_runs(pipeline="retrain")
            assert run.status is RunState.SUCCEEDED, run.error
            assert len(a.pipelines.store.list_triggers("retrain")) == 1
            # Later looks find nothing new on either replica.
            assert a.pipelines.collect(a.pipelines.get("retrain")) == []
            assert b.pipelines.collect(b.pipelines.get("retrain")) == []
        finally:
            a.close()
            b.close()
