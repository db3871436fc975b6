"""The fluent API end to end: experiments, runs, params, metrics, tags, run status."""

from __future__ import annotations

import json
import math
import platform
import threading
from pathlib import Path

import pytest

import moorline
from moorline import RunStatus
from moorline.bootstrap import Settings, build_services
from moorline.tracking.models import (
    TAG_PYTHON_ENV,
    TAG_SOURCE_NAME,
    TAG_SOURCE_TYPE,
    TAG_USER,
)
from tests.sdk.conftest import Backend


def test_a_run_logs_everything_and_finishes(backend: Backend, experiment_name: str) -> None:
    experiment = moorline.set_experiment(experiment_name)
    assert experiment.name == experiment_name
    assert moorline.set_experiment(experiment_name).experiment_id == experiment.experiment_id

    with moorline.start_run(run_name="baseline", tags={"team": "ads"}) as run:
        assert moorline.active_run() is run
        assert run.experiment_id == experiment.experiment_id
        assert run.run_name == "baseline"
        moorline.log_param("optimizer", "adam")
        moorline.log_params({"lr": 0.1, "depth": 6})
        moorline.log_metric("loss", 0.5, step=0)
        moorline.log_metric("loss", 0.25, step=1, timestamp=1_700_000_000_000)
        moorline.log_metrics({"acc": 0.9, "f1": 0.8}, step=1)
        moorline.set_tag("stage", "dev")
        moorline.set_tags({"owner": "ana", "attempt": 2})
    assert moorline.active_run() is None

    got = moorline.Client().get_run(run.run_id)
    assert got.info.status == RunStatus.FINISHED
    assert got.info.end_time is not None and got.info.end_time >= got.info.start_time
    assert got.info.experiment_id == experiment.experiment_id
    assert got.params == {"optimizer": "adam", "lr": "0.1", "depth": "6"}
    assert {m.key: m.value for m in got.metrics} == {"loss": 0.25, "acc": 0.9, "f1": 0.8}
    assert {m.key: m.step for m in got.metrics} == {"loss": 1, "acc": 1, "f1": 1}
    assert got.tags["team"] == "ads"
    assert got.tags["stage"] == "dev"
    assert got.tags["owner"] == "ana" and got.tags["attempt"] == "2"
    # Context every run records by itself.
    assert got.tags[TAG_USER] and got.info.user_id == got.tags[TAG_USER]
    assert got.tags[TAG_SOURCE_TYPE] == "LOCAL"
    assert got.tags[TAG_SOURCE_NAME]
    env = json.loads(got.tags[TAG_PYTHON_ENV])
    assert env["python"] == platform.python_version()
    assert env["packages"]["pytest"] == pytest.__version__
    assert "json" not in env["packages"]  # the standard library is not a package


def test_history_keeps_every_point_in_step_order(backend: Backend, experiment_name: str) -> None:
    moorline.set_experiment(experiment_name)
    with moorline.start_run() as run:
        for step in (2, 0, 1):
            moorline.log_metric("loss", 1.0 / (step + 1), step=step)
        moorline.log_metric("weird", math.nan)
        moorline.log_metric("huge", math.inf)
    client = moorline.Client()
    history = client.get_metric_history(run.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]
    got = client.get_run(run.run_id)
    assert math.isnan(got.metric("weird") or 0.0)
    assert got.metric("huge") == math.inf


def test_a_generated_name_and_the_default_experiment(backend: Backend) -> None:
    with moorline.start_run() as run:
        pass
    assert run.run_name.count("-") == 2  # e.g. brisk-heron-417
    assert run.experiment_id == "0"


def test_start_run_by_experiment_name_creates_it_without_changing_the_active_one(
    backend: Backend, experiment_name: str
) -> None:
    active = moorline.set_experiment(experiment_name)
    with moorline.start_run(experiment=f"{experiment_name}-other") as run:
        pass
    other = moorline.Client().get_experiment_by_name(f"{experiment_name}-other")
    assert other is not None and run.experiment_id == other.experiment_id
    with moorline.start_run() as second:
        pass
    assert second.experiment_id == active.experiment_id
    with moorline.start_run(experiment=other) as third:
        pass
    assert third.experiment_id == other.experiment_id


def test_an_exception_ends_the_run_failed_and_propagates(
    backend: Backend, experiment_name: str
) -> None:
    moorline.set_experiment(experiment_name)
    with pytest.raises(ZeroDivisionError), moorline.start_run() as run:
        moorline.log_metric("before", 1.0)
        _ = 1 / 0
    assert moorline.active_run() is None
    got = moorline.Client().get_run(run.run_id)
    assert got.info.status == RunStatus.FAILED
    assert got.info.end_time is not None
    assert got.metric("before") == 1.0


def test_keyboard_interrupt_ends_the_run_killed(backend: Backend, experiment_name: str) -> None:
    moorline.set_experiment(experiment_name)
    with pytest.raises(KeyboardInterrupt), moorline.start_run() as run:
        raise KeyboardInterrupt
    assert moorline.Client().get_run(run.run_id).info.status == RunStatus.KILLED


def test_nested_runs_need_consent_and_record_their_parent(
    backend: Backend, experiment_name: str
) -> None:
    moorline.set_experiment(experiment_name)
    with moorline.start_run(run_name="outer") as outer:
        with pytest.raises(moorline.InvalidArgument, match="nested=True"):
            moorline.start_run()
        with moorline.start_run(run_name="inner", nested=True) as inner:
            assert moorline.active_run() is inner
            moorline.log_metric("inner_only", 1.0)
        assert moorline.active_run() is outer
        moorline.log_metric("outer_only", 2.0)
    client = moorline.Client()
    got_inner = client.get_run(inner.run_id)
    got_outer = client.get_run(outer.run_id)
    assert got_inner.tags["mlflow.parentRunId"] == outer.run_id
    assert "mlflow.parentRunId" not in got_outer.tags
    assert [m.key for m in got_inner.metrics] == ["inner_only"]
    assert [m.key for m in got_outer.metrics] == ["outer_only"]
    assert got_inner.info.status == got_outer.info.status == RunStatus.FINISHED


def test_start_and_end_without_a_with_block(backend: Backend, experiment_name: str) -> None:
    moorline.set_experiment(experiment_name)
    moorline.end_run()  # nothing active: a no-op
    run = moorline.start_run()
    moorline.log_param("p", 1)
    assert moorline.active_run() is run
    moorline.end_run(status="KILLED")
    assert moorline.active_run() is None
    assert moorline.Client().get_run(run.run_id).info.status == RunStatus.KILLED
    with pytest.raises(moorline.InvalidArgument, match="No active run"):
        moorline.log_param("p", 2)
    with pytest.raises(moorline.InvalidArgument, match="FINISHED, FAILED or KILLED"):
        moorline.start_run().end("RUNNING")
    moorline.end_run()


def test_a_param_cannot_change_once_logged(backend: Backend, experiment_name: str) -> None:
    moorline.set_experiment(experiment_name)
    with moorline.start_run() as run:
        moorline.log_param("lr", 0.1)
        moorline.log_param("lr", "0.1")  # the same value again is fine
        with pytest.raises(moorline.InvalidArgument, match="lr"):
            moorline.log_param("lr", 0.2)
        with pytest.raises(moorline.InvalidArgument, match="must be a number"):
            moorline.log_metric("acc", "0.9")  # type: ignore[arg-type]
    assert moorline.Client().get_run(run.run_id).params == {"lr": "0.1"}


def test_large_batches_are_split_and_all_land(backend: Backend, experiment_name: str) -> None:
    moorline.set_experiment(experiment_name)
    metrics = {f"m{i:04d}": float(i) for i in range(2500)}
    params = {f"p{i:03d}": i for i in range(250)}
    tags = {f"t{i:03d}": "x" for i in range(150)}
    with moorline.start_run() as run:
        moorline.log_metrics(metrics, step=3)
        moorline.log_params(params)
        moorline.set_tags(tags)
    got = moorline.Client().get_run(run.run_id)
    assert {m.key: m.value for m in got.metrics} == metrics
    assert {m.step for m in got.metrics} == {3}
    assert got.params == {k: str(v) for k, v in params.items()}
    assert all(got.tags[k] == "x" for k in tags)


def test_each_thread_has_its_own_active_run(backend: Backend, experiment_name: str) -> None:
    moorline.set_experiment(experiment_name)
    seen: dict[str, object] = {}

    def worker(main_run: moorline.ActiveRun) -> None:
        seen["active_at_start"] = moorline.active_run()
        with moorline.start_run(run_name="worker") as own:  # no nested=True needed
            moorline.log_metric("worker_metric", 1.0)
            main_run.log_metric("from_worker", 2.0)  # explicit: into the main run
            seen["own"] = own

    with moorline.start_run(run_name="main") as main:
        thread = threading.Thread(target=worker, args=(main,))
        thread.start()
        thread.join()
        assert moorline.active_run() is main
    assert seen["active_at_start"] is None
    own = seen["own"]
    assert isinstance(own, moorline.ActiveRun)
    client = moorline.Client()
    assert {m.key for m in client.get_run(main.run_id).metrics} == {"from_worker"}
    assert {m.key for m in client.get_run(own.run_id).metrics} == {"worker_metric"}
    assert client.get_run(own.run_id).info.status == RunStatus.FINISHED


def test_set_tracking_uri_switches_stores(
    backend: Backend, experiment_name: str, tmp_path: Path
) -> None:
    moorline.set_experiment(experiment_name)
    first = moorline.start_run()
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with pytest.raises(moorline.Conflict, match="end it"):
        moorline.set_tracking_uri(other)
    first.end()

    moorline.set_tracking_uri(other)
    assert moorline.get_tracking_uri() == other
    with moorline.start_run() as run:
        moorline.log_metric("here", 1.0)
    with moorline.Client(other) as direct:
        assert direct.get_run(run.run_id).metric("here") == 1.0
    with moorline.Client(backend.tracking_uri) as original, pytest.raises(moorline.NotFound):
        original.get_run(run.run_id)

    moorline.set_tracking_uri(None)  # back to MOORLINE_TRACKING_URI
    assert moorline.get_tracking_uri() == backend.tracking_uri
    assert moorline.Client().get_run(first.run_id).info.status == RunStatus.FINISHED


def test_a_deleted_experiment_is_not_reused_silently(
    backend: Backend, experiment_name: str
) -> None:
    experiment = moorline.set_experiment(experiment_name)
    services = build_services(Settings.from_env())  # deleting is not part of the SDK
    try:
        services.tracking.delete_experiment(experiment.experiment_id)
    finally:
        services.close()
    with pytest.raises(moorline.InvalidArgument, match="deleted"):
        moorline.set_experiment(experiment_name)
