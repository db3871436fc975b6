"""``/api/v1`` experiments, runs, metrics and logged models, over real HTTP.

These tests speak raw JSON with httpx to a live uvicorn server, so they pin
the wire format itself (paths, status codes, field names, the NaN encoding),
not just what the REST adapter makes of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.contracts.rest_backend import ThreadedServer, fresh_services, threaded_server

from moorline.server.app import create_app


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with threaded_server() as running:
        yield running


@pytest.fixture
def api(server: ThreadedServer, tmp_path: Path) -> Iterator[httpx.Client]:
    """An httpx client on ``/api/v1`` of a server over a fresh store."""
    services = fresh_services(tmp_path)
    try:
        with (
            server.serving(create_app(services, auth_required=False)) as url,
            httpx.Client(base_url=f"{url}/api/v1", timeout=30) as client,
        ):
            yield client
    finally:
        services.close()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, body
    return str(body["message"])


def make_experiment(api: httpx.Client, name: str = "churn") -> str:
    return str(ok(api.post("/experiments", json={"name": name}), 201)["experiment_id"])


def make_run(api: httpx.Client, experiment_id: str, **fields: Any) -> dict[str, Any]:
    body = {"experiment_id": experiment_id, **fields}
    run: dict[str, Any] = ok(api.post("/runs", json=body), 201)
    return run


# -- experiments ------------------------------------------------------------------


def test_experiment_lifecycle(api: httpx.Client) -> None:
    created = ok(
        api.post(
            "/experiments",
            json={"name": "churn", "tags": [{"key": "team", "value": "risk"}]},
        ),
        201,
    )
    eid = created["experiment_id"]
    exp = ok(api.get(f"/experiments/{eid}"))
    assert exp["name"] == "churn"
    assert exp["tags"] == {"team": "risk"}
    assert exp["lifecycle_stage"] == "active"
    assert exp["artifact_location"] == f"mlflow-artifacts:/{eid}"
    assert ok(api.get("/experiments/by-name", params={"name": "churn"}))["experiment_id"] == eid

    ok(api.patch(f"/experiments/{eid}", json={"name": "churn-v2"}), 204)
    error(api.get("/experiments/by-name", params={"name": "churn"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert ok(api.get(f"/experiments/{eid}"))["name"] == "churn-v2"

    # Tag keys with slashes travel as one escaped path segment.
    ok(api.put(f"/experiments/{eid}/tags/owner%2Fteam", json={"value": "ml"}), 204)
    assert ok(api.get(f"/experiments/{eid}"))["tags"]["owner/team"] == "ml"
    ok(api.delete(f"/experiments/{eid}/tags/owner%2Fteam"), 204)
    assert "owner/team" not in ok(api.get(f"/experiments/{eid}"))["tags"]
    error(api.delete(f"/experiments/{eid}/tags/owner%2Fteam"), 404, "RESOURCE_DOES_NOT_EXIST")

    ok(api.delete(f"/experiments/{eid}"), 204)
    assert ok(api.get(f"/experiments/{eid}"))["lifecycle_stage"] == "deleted"
    active = ok(api.get("/experiments"))["items"]
    assert eid not in [e["experiment_id"] for e in active]
    deleted = ok(api.get("/experiments", params={"view_type": "DELETED_ONLY"}))["items"]
    assert [e["experiment_id"] for e in deleted] == [eid]
    ok(api.post(f"/experiments/{eid}/restore"), 204)
    assert ok(api.get(f"/experiments/{eid}"))["lifecycle_stage"] == "active"


def test_change_times_given_by_the_client_are_recorded(api: httpx.Client) -> None:
    """A remote SDK sends the times a local store would record; others get the server's."""
    eid = ok(api.post("/experiments", json={"name": "t", "creation_time": 1234}), 201)[
        "experiment_id"
    ]
    exp = ok(api.get(f"/experiments/{eid}"))
    assert (exp["creation_time"], exp["last_update_time"]) == (1234, 1234)
    ok(api.patch(f"/experiments/{eid}", json={"name": "t2", "last_update_time": 2000}), 204)
    assert ok(api.get(f"/experiments/{eid}"))["last_update_time"] == 2000
    ok(api.delete(f"/experiments/{eid}", params={"last_update_time": 3000}), 204)
    assert ok(api.get(f"/experiments/{eid}"))["last_update_time"] == 3000
    ok(api.post(f"/experiments/{eid}/restore"), 204)
    assert ok(api.get(f"/experiments/{eid}"))["last_update_time"] > 1_600_000_000_000
    message = error(
        api.post("/experiments", json={"name": "u", "creation_time": -1}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "'creation_time'" in message


def test_duplicate_experiment_name_is_400_already_exists(api: httpx.Client) -> None:
    make_experiment(api, "dup")
    message = error(api.post("/experiments", json={"name": "dup"}), 400, "RESOURCE_ALREADY_EXISTS")
    assert "dup" in message


def test_default_experiment_cannot_be_deleted(api: httpx.Client) -> None:
    message = error(api.delete("/experiments/0"), 400, "INVALID_PARAMETER_VALUE")
    assert "Default" in message


def test_search_experiments_filters_orders_and_pages(api: httpx.Client) -> None:
    for name in ("a-1", "a-2", "a-3", "b-1"):
        make_experiment(api, name)
    page1 = ok(
        api.get(
            "/experiments",
            params=[("filter", "name LIKE 'a-%'"), ("order_by", "name DESC"), ("max_results", 2)],
        )
    )
    assert [e["name"] for e in page1["items"]] == ["a-3", "a-2"]
    assert page1["next_page_token"]
    page2 = ok(
        api.get(
            "/experiments",
            params=[
                ("filter", "name LIKE 'a-%'"),
                ("order_by", "name DESC"),
                ("max_results", 2),
                ("page_token", page1["next_page_token"]),
            ],
        )
    )
    assert [e["name"] for e in page2["items"]] == ["a-1"]
    assert page2["next_page_token"] is None
    message = error(
        api.get("/experiments", params={"filter": "name ~ 'x'"}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "filter" in message


# -- runs -------------------------------------------------------------------------


def test_run_create_get_update(api: httpx.Client) -> None:
    eid = make_experiment(api)
    run = make_run(
        api,
        eid,
        user_id="ana",
        run_name="baseline",
        start_time=1_700_000_000_000,
        tags=[{"key": "stage", "value": "dev"}],
    )
    info = run["info"]
    assert info["status"] == "RUNNING"
    assert info["run_name"] == "baseline"
    assert info["user_id"] == "ana"
    assert info["start_time"] == 1_700_000_000_000
    assert info["end_time"] is None
    assert run["tags"]["mlflow.runName"] == "baseline"
    assert run["tags"]["stage"] == "dev"

    rid = info["run_id"]
    updated = ok(
        api.patch(f"/runs/{rid}", json={"status": "FINISHED", "end_time": 1_700_000_000_500})
    )
    assert updated["status"] == "FINISHED"
    assert updated["end_time"] == 1_700_000_000_500
    renamed = ok(api.patch(f"/runs/{rid}", json={"run_name": "final"}))
    assert renamed["run_name"] == "final"
    assert ok(api.get(f"/runs/{rid}"))["tags"]["mlflow.runName"] == "final"

    message = error(
        api.patch(f"/runs/{rid}", json={"status": "DONE"}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "status" in message


def test_run_in_missing_experiment_is_404(api: httpx.Client) -> None:
    error(api.post("/runs", json={"experiment_id": "999"}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_log_batch_round_trips_nan_and_infinity(api: httpx.Client) -> None:
    eid = make_experiment(api)
    rid = make_run(api, eid)["info"]["run_id"]
    batch = {
        "metrics": [
            {"key": "train/loss", "value": "NaN", "timestamp": 10, "step": 0},
            {"key": "train/loss", "value": "Infinity", "timestamp": 11, "step": 1},
            {"key": "train/loss", "value": "-Infinity", "timestamp": 12, "step": 2},
            {"key": "train/loss", "value": 0.25, "timestamp": 13, "step": 3},
        ],
        "params": [{"key": "lr", "value": "0.1"}],
        "tags": [{"key": "phase", "value": "fit"}],
    }
    ok(api.post(f"/runs/{rid}/batch", json=batch), 204)

    # The key holds a slash: it travels %2F-escaped inside one path segment.
    history = ok(api.get(f"/runs/{rid}/metrics/train%2Floss/history"))
    assert [p["value"] for p in history["items"]] == ["NaN", "Infinity", "-Infinity", 0.25]
    assert [p["step"] for p in history["items"]] == [0, 1, 2, 3]
    assert history["next_page_token"] is None

    run = ok(api.get(f"/runs/{rid}"))
    assert run["params"] == {"lr": "0.1"}
    assert run["tags"]["phase"] == "fit"
    assert [(m["key"], m["value"], m["step"]) for m in run["metrics"]] == [("train/loss", 0.25, 3)]

    paged = ok(api.get(f"/runs/{rid}/metrics/train%2Floss/history", params={"max_results": 3}))
    assert len(paged["items"]) == 3
    rest = ok(
        api.get(
            f"/runs/{rid}/metrics/train%2Floss/history",
            params={"max_results": 3, "page_token": paged["next_page_token"]},
        )
    )
    assert [p["step"] for p in rest["items"]] == [3]


def test_log_batch_is_atomic_and_names_the_conflicting_param(api: httpx.Client) -> None:
    eid = make_experiment(api)
    rid = make_run(api, eid)["info"]["run_id"]
    ok(api.post(f"/runs/{rid}/batch", json={"params": [{"key": "lr", "value": "0.1"}]}), 204)
    message = error(
        api.post(
            f"/runs/{rid}/batch",
            json={
                "metrics": [{"key": "m", "value": 1.0, "timestamp": 1}],
                "params": [{"key": "lr", "value": "0.2"}],
            },
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "lr" in message
    assert ok(api.get(f"/runs/{rid}/metrics/m/history"))["items"] == []


def test_search_and_count_runs(api: httpx.Client) -> None:
    eid = make_experiment(api)
    ids = []
    for i, auc in enumerate([0.7, 0.9, 0.8]):
        rid = make_run(api, eid, run_name=f"r{i}", start_time=1000 + i)["info"]["run_id"]
        ok(
            api.post(
                f"/runs/{rid}/batch",
                json={"metrics": [{"key": "auc", "value": auc, "timestamp": 1}]},
            ),
            204,
        )
        ids.append(rid)
    found = ok(
        api.post(
            "/runs/search",
            json={
                "experiment_ids": [eid],
                "filter": "metrics.auc >= 0.8",
                "order_by": ["metrics.auc DESC"],
            },
        )
    )
    assert [r["info"]["run_name"] for r in found["items"]] == ["r1", "r2"]
    count = ok(
        api.post("/runs/count", json={"experiment_ids": [eid], "filter": "metrics.auc > 0.75"})
    )
    assert count == {"count": 2}

    ok(api.delete(f"/runs/{ids[0]}"), 204)
    assert ok(api.get(f"/runs/{ids[0]}"))["info"]["lifecycle_stage"] == "deleted"
    assert ok(api.post("/runs/count", json={"experiment_ids": [eid]}))["count"] == 2
    deleted = ok(
        api.post("/runs/search", json={"experiment_ids": [eid], "view_type": "DELETED_ONLY"})
    )
    assert [r["info"]["run_id"] for r in deleted["items"]] == [ids[0]]
    ok(api.post(f"/runs/{ids[0]}/restore"), 204)
    assert ok(api.post("/runs/count", json={"experiment_ids": [eid]}))["count"] == 3


def test_metric_and_param_keys_and_bulk_history(api: httpx.Client) -> None:
    eid = make_experiment(api)
    rids = [make_run(api, eid)["info"]["run_id"] for _ in range(2)]
    for n, rid in enumerate(rids):
        metrics = [
            {"key": "loss", "value": 1.0 / (s + 1), "timestamp": s, "step": s} for s in range(10)
        ]
        ok(
            api.post(
                f"/runs/{rid}/batch",
                json={"metrics": metrics, "params": [{"key": f"p{n}", "value": "x"}]},
            ),
            204,
        )
    keys = ok(api.get("/metric-keys", params={"experiment_ids": [eid]}))
    assert keys == {"keys": ["loss"]}
    params = ok(api.get("/param-keys", params={"experiment_ids": [eid]}))
    assert sorted(params["keys"]) == ["p0", "p1"]
    bulk = ok(
        api.post("/metrics/history", json={"run_ids": rids, "key": "loss", "max_points_per_run": 4})
    )
    for rid in rids:
        steps = [p["step"] for p in bulk["items"] if p["run_id"] == rid]
        assert len(steps) == 4
        assert steps[0] == 0
        assert steps[-1] == 9


def test_delete_run_tag_and_inputs_outputs(api: httpx.Client) -> None:
    eid = make_experiment(api)
    rid = make_run(api, eid)["info"]["run_id"]
    ok(api.post(f"/runs/{rid}/batch", json={"tags": [{"key": "a/b", "value": "1"}]}), 204)
    ok(api.delete(f"/runs/{rid}/tags/a%2Fb"), 204)
    assert "a/b" not in ok(api.get(f"/runs/{rid}"))["tags"]
    error(api.delete(f"/runs/{rid}/tags/a%2Fb"), 404, "RESOURCE_DOES_NOT_EXIST")

    model = ok(api.post("/logged-models", json={"experiment_id": eid, "name": "m"}), 201)
    dataset = {
        "dataset": {"name": "train", "digest": "abc123", "source_type": "local", "schema": "{}"},
        "tags": {"mlflow.data.context": "training"},
    }
    ok(
        api.post(
            f"/runs/{rid}/inputs",
            json={"datasets": [dataset], "model_ids": [model["model_id"]]},
        ),
        204,
    )
    ok(
        api.post(
            f"/runs/{rid}/outputs", json={"models": [{"model_id": model["model_id"], "step": 3}]}
        ),
        204,
    )
    run = ok(api.get(f"/runs/{rid}"))
    assert run["dataset_inputs"][0]["dataset"]["name"] == "train"
    assert run["dataset_inputs"][0]["dataset"]["schema"] == "{}"
    assert run["dataset_inputs"][0]["tags"] == {"mlflow.data.context": "training"}
    assert run["model_inputs"] == [model["model_id"]]
    assert run["model_outputs"] == [{"model_id": model["model_id"], "step": 3}]


# -- logged models ------------------------------------------------------------------


def test_logged_model_lifecycle(api: httpx.Client) -> None:
    eid = make_experiment(api)
    rid = make_run(api, eid)["info"]["run_id"]
    model = ok(
        api.post(
            "/logged-models",
            json={
                "experiment_id": eid,
                "name": "clf",
                "model_type": "sklearn",
                "source_run_id": rid,
                "params": [{"key": "depth", "value": "6"}],
                "tags": [{"key": "k", "value": "v"}],
            },
        ),
        201,
    )
    mid = model["model_id"]
    assert mid.startswith("m-")
    assert model["status"] == "LOGGED_MODEL_PENDING"
    assert model["artifact_uri"] == f"mlflow-artifacts:/{eid}/models/{mid}/artifacts"
    assert model["params"] == {"depth": "6"}

    ready = ok(api.patch(f"/logged-models/{mid}", json={"status": "LOGGED_MODEL_READY"}))
    assert ready["status"] == "LOGGED_MODEL_READY"
    ok(
        api.post(f"/logged-models/{mid}/params", json={"params": [{"key": "lr", "value": "0.1"}]}),
        204,
    )
    ok(api.patch(f"/logged-models/{mid}/tags", json={"tags": [{"key": "x", "value": "y"}]}), 204)
    got = ok(api.get(f"/logged-models/{mid}"))
    assert got["params"] == {"depth": "6", "lr": "0.1"}
    assert got["tags"] == {"k": "v", "x": "y"}
    ok(api.delete(f"/logged-models/{mid}/tags/x"), 204)
    assert ok(api.get(f"/logged-models/{mid}"))["tags"] == {"k": "v"}

    found = ok(
        api.post(
            "/logged-models/search",
            json={"experiment_ids": [eid], "filter": "name = 'clf'"},
        )
    )
    assert [m["model_id"] for m in found["items"]] == [mid]

    ok(api.delete(f"/logged-models/{mid}"), 204)
    error(api.get(f"/logged-models/{mid}"), 404, "RESOURCE_DOES_NOT_EXIST")
    deleted = ok(api.get(f"/logged-models/{mid}", params={"allow_deleted": "true"}))
    assert deleted["lifecycle_stage"] == "deleted"
