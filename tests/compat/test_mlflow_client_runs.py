"""Runs through the unmodified mlflow client: lifecycle, params, metrics, tags, search, history."""

from __future__ import annotations

import math
import random
import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.compat


def _now() -> int:
    return int(time.time() * 1000)


def test_start_run_context_logs_and_finishes(experiment_id: str) -> None:
    with mlflow.start_run(run_name="ctx-run") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "optimizer": "adam"})
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_metrics({"loss": 0.25, "acc": 0.9}, step=2)
        mlflow.set_tag("team", "search")
        mlflow.set_tags({"stage": "dev", "temp": "x"})
        MlflowClient().delete_tag(run.info.run_id, "temp")
    fetched = MlflowClient().get_run(run.info.run_id)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.end_time is not None
    assert fetched.info.end_time >= fetched.info.start_time
    assert fetched.info.run_name == "ctx-run"
    assert fetched.info.experiment_id == experiment_id
    assert fetched.info.artifact_uri == (
        f"mlflow-artifacts:/{experiment_id}/{run.info.run_id}/artifacts"
    )
    assert fetched.data.params == {"lr": "0.01", "layers": "3", "optimizer": "adam"}
    assert fetched.data.metrics == {"loss": 0.25, "acc": 0.9}
    tags = fetched.data.tags
    assert tags["team"] == "search"
    assert tags["stage"] == "dev"
    assert "temp" not in tags
    assert tags["mlflow.runName"] == "ctx-run"
    assert tags["mlflow.source.type"] == "LOCAL"
    assert "mlflow.user" in tags


def test_exception_in_context_marks_run_failed(experiment_id: str) -> None:
    with pytest.raises(RuntimeError), mlflow.start_run() as run:
        raise RuntimeError("training blew up")
    assert MlflowClient().get_run(run.info.run_id).info.status == "FAILED"


def test_param_overwrite_is_refused_and_keeps_the_value(experiment_id: str) -> None:
    client = MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "alpha", "1")
    client.log_param(run_id, "alpha", "1")  # the same value again is fine
    with pytest.raises(MlflowException) as info:
        client.log_param(run_id, "alpha", "2")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "alpha" in info.value.message
    assert client.get_run(run_id).data.params == {"alpha": "1"}


def test_rename_run(experiment_id: str) -> None:
    client = MlflowClient()
    run_id = client.create_run(experiment_id, run_name="before").info.run_id
    client.update_run(run_id, name="after")
    run = client.get_run(run_id)
    assert run.info.run_name == "after"
    assert run.data.tags["mlflow.runName"] == "after"


def test_log_batch_of_ten_thousand_metrics(experiment_id: str) -> None:
    client = MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    now = _now()
    rng = random.Random(7)
    expected = {f"k{k}": [(step, rng.random()) for step in range(1000)] for k in range(10)}
    metrics = [
        Metric(key, value, now + step, step)
        for key, points in expected.items()
        for step, value in points
    ]
    assert len(metrics) == 10_000
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param("batch", "big")],
        tags=[RunTag("kind", "bulk")],
    )
    run = client.get_run(run_id)
    assert run.data.params == {"batch": "big"}
    assert run.data.tags["kind"] == "bulk"
    for key, points in expected.items():
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        assert history == points
        assert run.data.metrics[key] == points[-1][1]


def test_nan_and_infinity_round_trip(experiment_id: str) -> None:
    client = MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    client.log_metric(run_id, "nan", float("nan"))
    client.log_metric(run_id, "pos", float("inf"))
    client.log_metric(run_id, "neg", float("-inf"))
    mlflow.log_metrics({"b_nan": float("nan"), "b_pos": float("inf")}, run_id=run_id)
    metrics = client.get_run(run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert math.isnan(metrics["b_nan"])
    assert metrics["pos"] == math.inf
    assert metrics["b_pos"] == math.inf
    assert metrics["neg"] == -math.inf
    assert math.isnan(client.get_metric_history(run_id, "nan")[0].value)
    assert client.get_metric_history(run_id, "neg")[0].value == -math.inf


def test_delete_and_restore_run(experiment_id: str) -> None:
    client = MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []
    deleted = client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_id for r in deleted] == [run_id]
    with pytest.raises(MlflowException) as info:
        client.log_metric(run_id, "m", 1.0)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"

    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run_id]
    client.log_metric(run_id, "m", 1.0)


def test_missing_run_is_not_found() -> None:
    with pytest.raises(MlflowException) as info:
        MlflowClient().get_run("0" * 32)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


@pytest.fixture
def search_runs(experiment_id: str) -> dict[str, dict[str, object]]:
    """Twelve finished runs with known params, metrics and tags; one lacks ``acc``."""
    client = MlflowClient()
    runs: dict[str, dict[str, object]] = {}
    base = _now() - 100_000
    for i in range(12):
        run = client.create_run(experiment_id, run_name=f"r-{i:02d}", start_time=base + i * 1000)
        run_id = run.info.run_id
        values: dict[str, object] = {
            "name": f"r-{i:02d}",
            "opt": "adam" if i % 2 == 0 else "sgd",
            "team": "a" if i < 6 else "b",
            "acc": i / 12 if i != 5 else None,
            "loss": 1 - i / 12,
        }
        metrics = [Metric("loss", float(values["loss"]), base, 0)]  # type: ignore[arg-type]
        if values["acc"] is not None:
            metrics.append(Metric("acc", float(values["acc"]), base, 0))  # type: ignore[arg-type]
        client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param("opt", str(values["opt"])), Param("i", str(i))],
            tags=[RunTag("team", str(values["team"]))],
        )
        if i != 11:
            client.set_terminated(run_id)
        runs[run_id] = values
    return runs


def test_search_runs_filters(experiment_id: str, search_runs: dict[str, dict[str, object]]) -> None:
    client = MlflowClient()

    def ids(filter_string: str) -> set[str]:
        return {r.info.run_id for r in client.search_runs([experiment_id], filter_string)}

    def expect(pred: object) -> set[str]:
        return {rid for rid, v in search_runs.items() if pred(v)}  # type: ignore[operator]

    assert ids("metrics.acc > 0.5") == expect(lambda v: v["acc"] is not None and v["acc"] > 0.5)
    assert ids("metrics.loss <= 0.5") == expect(lambda v: v["loss"] <= 0.5)
    assert ids("params.opt = 'adam'") == expect(lambda v: v["opt"] == "adam")
    assert ids("tags.team = 'b'") == expect(lambda v: v["team"] == "b")
    assert ids("attributes.run_name LIKE 'r-0%'") == expect(lambda v: str(v["name"]) < "r-10")
    assert ids("attributes.status = 'RUNNING'") == expect(lambda v: v["name"] == "r-11")
    assert ids("params.opt = 'sgd' and metrics.acc >= 0.5 and tags.team = 'b'") == expect(
        lambda v: (
            v["opt"] == "sgd" and v["acc"] is not None and v["acc"] >= 0.5 and v["team"] == "b"
        )
    )
    assert ids("params.missing = 'x'") == set()


def test_search_runs_order_and_paging(
    experiment_id: str, search_runs: dict[str, dict[str, object]]
) -> None:
    client = MlflowClient()
    by_acc = client.search_runs([experiment_id], order_by=["metrics.acc DESC"])
    names = [r.info.run_name for r in by_acc]
    with_acc = sorted(
        (v for v in search_runs.values() if v["acc"] is not None),
        key=lambda v: -float(v["acc"]),  # type: ignore[arg-type]
    )
    # Runs without the order key come last, in both directions.
    assert names == [v["name"] for v in with_acc] + ["r-05"]
    ascending = client.search_runs([experiment_id], order_by=["metrics.acc ASC"])
    assert ascending[-1].info.run_name == "r-05"

    default = [r.info.run_name for r in client.search_runs([experiment_id])]
    assert default == [f"r-{i:02d}" for i in reversed(range(12))]  # start_time DESC

    everything = [
        r.info.run_id for r in client.search_runs([experiment_id], order_by=["params.i ASC"])
    ]
    paged: list[str] = []
    token = None
    pages = 0
    while True:
        page = client.search_runs(
            [experiment_id], order_by=["params.i ASC"], max_results=5, page_token=token
        )
        pages += 1
        paged.extend(r.info.run_id for r in page)
        token = page.token
        if not token:
            break
    assert pages == 3
    assert paged == everything
    assert len(set(paged)) == 12


def test_search_runs_bad_filter_is_invalid(experiment_id: str) -> None:
    with pytest.raises(MlflowException) as info:
        MlflowClient().search_runs([experiment_id], "metrics.acc > '0.5'")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_metric_history_of_100k_points(experiment_id: str) -> None:
    client = MlflowClient()
    run_id = client.create_run(experiment_id).info.run_id
    now = _now()
    rng = random.Random(11)
    points = [(step, rng.uniform(-1e6, 1e6)) for step in range(100_000)]
    client.log_batch(run_id, metrics=[Metric("loss", v, now + s // 100, s) for s, v in points])
    history = client.get_metric_history(run_id, "loss")
    assert len(history) == 100_000
    assert sorted((m.step, m.value) for m in history) == points
    assert all(m.key == "loss" for m in history)
