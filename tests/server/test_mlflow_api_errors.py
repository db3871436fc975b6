"""MLflow's REST API refuses bad input with a stable 4xx, changes nothing, and keeps serving.

Raw HTTP against a live ``moorline server``: the mlflow client never sends
most of these requests, but other clients and attackers do. Every refusal
must be a 4xx with a stable ``error_code`` and a message naming the problem
(the client retries 5xx for minutes, so a 500 for a client mistake is a bug).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.live import LiveServer, start_server

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("mlflow-errors"))
    try:
        yield live
    finally:
        live.stop()
        assert "Traceback" not in live.log(), live.log()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def experiment_id(client: httpx.Client) -> str:
    r = client.post(f"{API}/experiments/create", json={"name": "errors"})
    assert r.status_code == 200, r.text
    return str(r.json()["experiment_id"])


@pytest.fixture
def run_id(client: httpx.Client, experiment_id: str) -> str:
    r = client.post(f"{API}/runs/create", json={"experiment_id": experiment_id, "start_time": 1})
    assert r.status_code == 200, r.text
    return str(r.json()["run"]["info"]["run_id"])


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error_code"] == code, body
    message = body["message"]
    assert isinstance(message, str)
    assert message
    return message


def _get_run(client: httpx.Client, run_id: str) -> dict[str, Any]:
    r = client.get(f"{API}/runs/get", params={"run_id": run_id})
    assert r.status_code == 200, r.text
    run: dict[str, Any] = r.json()["run"]
    return run


def _history(client: httpx.Client, run_id: str, key: str) -> list[dict[str, Any]]:
    r = client.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": key})
    assert r.status_code == 200, r.text
    return list(r.json().get("metrics", []))


# -- malformed requests --------------------------------------------------------------


def test_malformed_json(client: httpx.Client) -> None:
    r = client.post(
        f"{API}/experiments/create",
        content=b'{"name": "x",',
        headers={"content-type": "application/json"},
    )
    assert "JSON" in _error(r, 400, "BAD_REQUEST")


def test_body_must_be_an_object(client: httpx.Client) -> None:
    r = client.post(f"{API}/experiments/create", json=["name"])
    assert "object" in _error(r, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("experiments/create", {"name": ["a", "b"]}, "'name'"),
        ("experiments/create", {"name": 5}, "'name'"),
        ("runs/log-metric", {"key": "m", "value": "abc", "timestamp": 1}, "'value'"),
        ("runs/log-metric", {"key": "m", "value": [1.0], "timestamp": 1}, "'value'"),
        ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": 1.5}, "'timestamp'"),
        ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": "soon"}, "'timestamp'"),
        ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": 2**64}, "'timestamp'"),
        ("runs/log-metric", {"key": {"a": 1}, "value": 1.0, "timestamp": 1}, "'key'"),
        (
            "runs/log-batch",
            {"metrics": [{"key": "a", "value": 1, "timestamp": 1}, {"key": "b", "value": "x"}]},
            "'metrics[1].value'",
        ),
        ("runs/log-batch", {"metrics": {"key": "a"}}, "'metrics'"),
        ("runs/log-batch", {"params": [{"key": "a", "value": 3}]}, "'params[0].value'"),
        ("runs/update", {"status": "DONE"}, "'status'"),
        ("runs/search", {"experiment_ids": "0"}, "'experiment_ids'"),
        ("runs/search", {"experiment_ids": ["0"], "max_results": "ten"}, "'max_results'"),
        ("runs/search", {"experiment_ids": ["0"], "max_results": 2**40}, "'max_results'"),
    ],
)
def test_wrong_types_name_the_field(
    client: httpx.Client, run_id: str, path: str, body: dict[str, Any], named: str
) -> None:
    r = client.post(f"{API}/{path}", json={"run_id": run_id, **body})
    assert named in _error(r, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("experiments/create", {}, "'name'"),
        ("experiments/create", {"name": ""}, "'name'"),
        ("runs/log-metric", {"run_id": "RUN", "value": 1.0, "timestamp": 1}, "'key'"),
        ("runs/log-metric", {"run_id": "RUN", "key": "m", "timestamp": 1}, "'value'"),
        ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": 1}, "'run_id'"),
        ("runs/log-batch", {"run_id": "RUN", "metrics": [{"key": "m"}]}, "'metrics[0].value'"),
        ("runs/create", {}, "'experiment_id'"),
    ],
)
def test_missing_required_fields(
    client: httpx.Client, run_id: str, path: str, body: dict[str, Any], named: str
) -> None:
    body = {k: (run_id if v == "RUN" else v) for k, v in body.items()}
    message = _error(client.post(f"{API}/{path}", json=body), 400, "INVALID_PARAMETER_VALUE")
    assert "Missing" in message
    assert named in message


def test_both_spellings_of_a_field(client: httpx.Client, run_id: str) -> None:
    r = client.post(
        f"{API}/runs/set-tag",
        json={"run_id": run_id, "runId": "0" * 32, "key": "k", "value": "v"},
    )
    message = _error(r, 400, "INVALID_PARAMETER_VALUE")
    assert "run_id" in message
    assert "runId" in message
    assert "k" not in _get_run(client, run_id)["data"].get("tags", [])


def test_post_needs_a_json_content_type(client: httpx.Client) -> None:
    body = json.dumps({"name": "ctype-1"}).encode()
    missing = client.post(f"{API}/experiments/create", content=body, headers={"content-type": ""})
    assert "Content-Type" in _error(missing, 400, "INVALID_PARAMETER_VALUE")
    text = client.post(
        f"{API}/experiments/create", content=body, headers={"content-type": "text/plain"}
    )
    assert "text/plain" in _error(text, 400, "INVALID_PARAMETER_VALUE")
    ok = client.post(
        f"{API}/experiments/create",
        content=body,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["experiment_id"]


# -- unknown things -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "runs/get", {"run_id": "f" * 32}),
        ("GET", "experiments/get", {"experiment_id": "987654"}),
        ("GET", "experiments/get-by-name", {"experiment_name": "no such experiment"}),
        ("GET", "metrics/get-history", {"run_id": "f" * 32, "metric_key": "m"}),
        ("GET", "logged-models/m-" + "0" * 32, {}),
    ],
)
def test_unknown_ids_are_not_found(
    client: httpx.Client, method: str, path: str, params: dict[str, str]
) -> None:
    r = client.request(method, f"{API}/{path}", params=params)
    _error(r, 404, "RESOURCE_DOES_NOT_EXIST")


def test_unknown_run_on_write_is_not_found(client: httpx.Client) -> None:
    r = client.post(
        f"{API}/runs/log-metric",
        json={"run_id": "f" * 32, "key": "m", "value": 1, "timestamp": 1},
    )
    _error(r, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    "path",
    [f"{API}/no/such/endpoint", f"{API}/webhooks/create", "/api/3.0/mlflow/traces"],
)
def test_unknown_endpoints(client: httpx.Client, path: str) -> None:
    _error(client.post(path, json={}), 404, "ENDPOINT_NOT_FOUND")


def test_wrong_method(client: httpx.Client) -> None:
    r = client.post(f"{API}/runs/get", json={})
    assert "GET" in _error(r, 405, "ENDPOINT_NOT_FOUND")
    assert r.headers["allow"] == "GET"


# -- rules that must leave the store unchanged ---------------------------------------


def test_param_overwrite_is_refused(client: httpx.Client, run_id: str) -> None:
    first = client.post(
        f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.1"}
    )
    assert first.status_code == 200, first.text
    r = client.post(
        f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "lr", "value": "0.2"}
    )
    assert "lr" in _error(r, 400, "INVALID_PARAMETER_VALUE")
    assert _get_run(client, run_id)["data"]["params"] == [{"key": "lr", "value": "0.1"}]


def test_conflicting_batch_writes_nothing(client: httpx.Client, run_id: str) -> None:
    client.post(f"{API}/runs/log-parameter", json={"run_id": run_id, "key": "depth", "value": "3"})
    r = client.post(
        f"{API}/runs/log-batch",
        json={
            "run_id": run_id,
            "metrics": [
                {"key": "acc", "value": 0.5 + i / 100, "timestamp": 1, "step": i} for i in range(20)
            ],
            "params": [{"key": "width", "value": "8"}, {"key": "depth", "value": "4"}],
            "tags": [{"key": "note", "value": "should not land"}],
        },
    )
    assert "depth" in _error(r, 400, "INVALID_PARAMETER_VALUE")
    data = _get_run(client, run_id)["data"]
    assert data["params"] == [{"key": "depth", "value": "3"}]
    assert data.get("metrics", []) == []
    assert "note" not in {t["key"] for t in data.get("tags", [])}
    assert _history(client, run_id, "acc") == []


def test_duplicate_param_in_one_batch_with_other_values(client: httpx.Client, run_id: str) -> None:
    r = client.post(
        f"{API}/runs/log-batch",
        json={
            "run_id": run_id,
            "metrics": [{"key": "m", "value": 1, "timestamp": 1}],
            "params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}],
        },
    )
    _error(r, 400, "INVALID_PARAMETER_VALUE")
    assert _history(client, run_id, "m") == []


def test_batch_over_the_limits(client: httpx.Client, run_id: str) -> None:
    metrics = [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(1001)]
    r = client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
    assert "1000" in _error(r, 400, "INVALID_PARAMETER_VALUE")
    assert _history(client, run_id, "m") == []


def test_oversized_payload(client: httpx.Client, run_id: str) -> None:
    big = json.dumps({"run_id": run_id, "key": "k", "value": "x" * (17 * 1024 * 1024)}).encode()
    declared = client.post(
        f"{API}/runs/set-tag", content=big, headers={"content-type": "application/json"}
    )
    _error(declared, 413, "PAYLOAD_TOO_LARGE")

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    streamed = client.post(
        f"{API}/runs/set-tag", content=chunks(), headers={"content-type": "application/json"}
    )
    _error(streamed, 413, "PAYLOAD_TOO_LARGE")
    tags = {t["key"] for t in _get_run(client, run_id)["data"].get("tags", [])}
    assert "k" not in tags


@pytest.mark.parametrize(
    "filter_string",
    [
        "metrics.acc > 0.5 OR metrics.acc < 0.1",
        "(metrics.acc > 0.5)",
        "metrics.acc > '0.5'",
        "params.lr > 0.1",
        "nonsense.key = 'x'",
        "metrics.acc >",
        "attributes.run_name = 'x' and",
        "tags.t IN ('a')",
    ],
)
def test_invalid_filters(client: httpx.Client, experiment_id: str, filter_string: str) -> None:
    r = client.post(
        f"{API}/runs/search", json={"experiment_ids": [experiment_id], "filter": filter_string}
    )
    _error(r, 400, "INVALID_PARAMETER_VALUE")


def test_invalid_order_by(client: httpx.Client, experiment_id: str) -> None:
    r = client.post(
        f"{API}/runs/search",
        json={"experiment_ids": [experiment_id], "order_by": ["metrics.a", "metrics.a DESC"]},
    )
    _error(r, 400, "INVALID_PARAMETER_VALUE")


# -- artifact paths that try to leave the root ----------------------------------------


def _raw(
    server: LiveServer, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[str, Any]]:
    """A request whose path is sent byte for byte (httpx would normalise ``..`` away)."""
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/octet-stream"})
        response = conn.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if payload else {}
    finally:
        conn.close()


ESCAPES = [
    "../escape.txt",
    "1/../../escape.txt",
    "%2e%2e/escape.txt",
    "1/%2E%2E/%2e%2e/escape.txt",
    "%252e%252e/escape.txt",
    "..%2fescape.txt",
    "/etc/escape.txt",
    "1%5c..%5c..%5cescape.txt",
    "C:/escape.txt",
]


@pytest.mark.parametrize("key", ESCAPES)
def test_artifact_path_escapes_are_refused(server: LiveServer, key: str) -> None:
    for method in ("PUT", "GET", "DELETE"):
        status, body = _raw(
            server, method, f"{ARTIFACTS}/{key}", b"pwned" if method == "PUT" else b""
        )
        assert status == 400, (method, key, body)
        assert body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "path" in body["message"].lower()
    workdir = Path(server.artifacts).parent
    assert not [p for p in workdir.rglob("escape.txt")]
    assert not Path("/etc/escape.txt").exists()


@pytest.mark.parametrize("path", ["..", "../..", "%2e%2e", "/etc"])
def test_artifact_listing_escapes_are_refused(server: LiveServer, path: str) -> None:
    status, body = _raw(server, "GET", f"{ARTIFACTS}?path={path}")
    assert status == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"


def test_artifact_round_trip_and_missing(client: httpx.Client) -> None:
    put = client.put(f"{ARTIFACTS}/0/manual/data.csv", content=b"a,b\n1,2\n")
    assert put.status_code == 200, put.text
    got = client.get(f"{ARTIFACTS}/0/manual/data.csv")
    assert got.content == b"a,b\n1,2\n"
    assert got.headers["content-length"] == "8"
    assert got.headers["content-type"].startswith("text/csv")
    listing = client.get(ARTIFACTS, params={"path": "0/manual"}).json()
    assert listing == {"files": [{"path": "data.csv", "is_dir": False, "file_size": 8}]}
    assert client.get(ARTIFACTS, params={"path": "0/manual/data.csv"}).json() == {}
    assert client.get(ARTIFACTS, params={"path": "0/nothing"}).json() == {}
    _error(client.get(f"{ARTIFACTS}/0/manual/missing.csv"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert client.delete(f"{ARTIFACTS}/0/manual/data.csv").status_code == 200
    _error(client.get(f"{ARTIFACTS}/0/manual/data.csv"), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.post("/api/2.0/mlflow-artifacts/mpu/create/x", json={}), 501, "NOT_IMPLEMENTED")


# -- accepted spellings ----------------------------------------------------------------


def test_wire_variants_are_accepted(client: httpx.Client, run_id: str) -> None:
    ok = client.post(
        f"{API}/runs/log-batch",
        content=(
            '{"runId": "RUN", "metrics": ['
            '{"key": "a", "value": "NaN", "timestamp": "17", "step": "3"},'
            '{"key": "b", "value": "-Infinity", "timestamp": 17},'
            '{"key": "c", "value": NaN, "timestamp": 17},'
            '{"key": "d", "value": 2, "timestamp": 17, '
            '"datasetName": "train", "datasetDigest": "ab"}'
            "]}"
        )
        .replace("RUN", run_id)
        .encode(),
        headers={"content-type": "application/json"},
    )
    assert ok.status_code == 200, ok.text
    metrics = {m["key"]: m for m in _get_run(client, run_id)["data"]["metrics"]}
    assert metrics["a"]["value"] == "NaN"
    assert metrics["a"]["step"] == 3
    assert metrics["a"]["timestamp"] == 17
    assert metrics["b"]["value"] == "-Infinity"
    assert metrics["c"]["value"] == "NaN"
    assert metrics["d"]["value"] == 2.0
    assert _history(client, run_id, "d")[0]["dataset_name"] == "train"

    finished = client.post(
        f"{API}/runs/update", json={"run_id": run_id, "status": 3, "end_time": "99"}
    )
    assert finished.status_code == 200, finished.text
    assert finished.json()["run_info"]["status"] == "FINISHED"
    assert finished.json()["run_info"]["end_time"] == 99

    bulk = client.get(
        f"{API}/metrics/get-history-bulk-interval",
        params=[("run_ids", run_id), ("run_ids", run_id), ("metric_key", "d")],
    )
    assert bulk.status_code == 200, bulk.text
    assert {m["run_id"] for m in bulk.json()["metrics"]} == {run_id}

    same = client.get("/ajax-api/2.0/mlflow/runs/get", params={"run_uuid": run_id})
    assert same.status_code == 200
    assert same.json()["run"]["info"]["run_id"] == run_id


def test_empty_body_is_an_empty_message(client: httpx.Client) -> None:
    r = client.post(
        f"{API}/experiments/search", content=b"", headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
    assert "Default" in {e["name"] for e in r.json()["experiments"]}


def test_server_still_serves(client: httpx.Client, server: LiveServer) -> None:
    assert client.get("/health").text == "OK"
    r = client.post(f"{API}/experiments/create", json={"name": "after-the-storm"})
    assert r.status_code == 200, r.text
    assert server.process.poll() is None
