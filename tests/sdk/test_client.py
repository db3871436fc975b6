"""``moorline.Client``: typed queries over experiments and runs."""

from __future__ import annotations

import pytest

import moorline
from moorline import Experiment, Run, ViewType
from tests.sdk.conftest import Backend


def _runs(experiment_name: str, accs: list[float]) -> list[str]:
    moorline.set_experiment(experiment_name)
    ids = []
    for i, acc in enumerate(accs):
        with moorline.start_run(run_name=f"r{i}") as run:
            moorline.log_params({"model": "xgb" if i % 2 == 0 else "rf", "i": i})
            moorline.log_metric("acc", acc)
        ids.append(run.run_id)
    return ids


def test_search_runs_filters_and_orders(backend: Backend, experiment_name: str) -> None:
    ids = _runs(experiment_name, [0.7, 0.95, 0.8, 0.6, 0.9])
    client = moorline.Client()
    experiment = client.get_experiment_by_name(experiment_name)
    assert isinstance(experiment, Experiment)

    runs = client.search_runs(
        experiment.experiment_id, "metrics.acc > 0.75", order_by=["metrics.acc DESC"]
    )
    assert all(isinstance(r, Run) for r in runs)
    assert [r.metric("acc") for r in runs] == [0.95, 0.9, 0.8]
    assert [r.run_id for r in runs] == [ids[1], ids[4], ids[2]]

    xgb = client.search_runs([experiment.experiment_id], "params.model = 'xgb'")
    assert {r.run_id for r in xgb} == {ids[0], ids[2], ids[4]}
    newest_first = client.search_runs(experiment.experiment_id)
    assert [r.info.run_name for r in newest_first] == ["r4", "r3", "r2", "r1", "r0"]
    assert len(client.search_runs(experiment.experiment_id, max_results=2)) == 2

    with pytest.raises(moorline.InvalidArgument, match="acc"):
        client.search_runs(experiment.experiment_id, "metrics.acc >> 1")


def test_experiment_queries(backend: Backend, experiment_name: str) -> None:
    client = moorline.Client()
    created = client.create_experiment(f"{experiment_name}-a", tags={"team": "ads"})
    client.create_experiment(f"{experiment_name}-b")
    with pytest.raises(moorline.AlreadyExists):
        client.create_experiment(f"{experiment_name}-a")
    assert client.get_experiment(created.experiment_id) == created
    assert created.tags == {"team": "ads"}
    assert client.get_experiment_by_name(f"{experiment_name}-missing") is None
    found = client.search_experiments(f"name LIKE '{experiment_name}-%'", order_by=["name"])
    assert [e.name for e in found] == [f"{experiment_name}-a", f"{experiment_name}-b"]
    assert len(client.search_experiments(f"name LIKE '{experiment_name}-%'", max_results=1)) == 1
    deleted = client.search_experiments(
        f"name LIKE '{experiment_name}-%'", view_type=ViewType.DELETED_ONLY
    )
    assert deleted == []
    with pytest.raises(moorline.NotFound):
        client.get_experiment("987654321")


def test_missing_runs_are_not_found(backend: Backend) -> None:
    client = moorline.Client()
    with pytest.raises(moorline.NotFound):
        client.get_run("0" * 32)
    with pytest.raises(moorline.InvalidArgument, match="at least one experiment"):
        client.search_runs([])
