"""``moorline serve`` as a user runs it: a subprocess on loopback, real HTTP.

One server for the module serves every deployment of a store holding real
registered models (see ``serving_support``); each test talks to it over
HTTP and checks answers against the same models fitted here.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

from moorline.bootstrap import Services
from moorline.serving.models import TrafficPolicy
from tests.serving.serving_support import (
    MARKER,
    Serve,
    Store,
    deploy,
    frame_data,
    make_store,
    standard_models,
    start_serve,
    training_data,
)


@dataclass
class Live:
    serve: Serve
    store: Store
    services: Services
    client: httpx.Client
    consumer_key: str

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.post(f"{self.serve.url}{path}", **kw)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(f"{self.serve.url}{path}")

    def logged(self, deployment: str, *, shadow: bool | None, want: int) -> list[Any]:
        deadline = time.monotonic() + 10
        found: list[Any] = []
        while time.monotonic() < deadline:
            found = self.services.deployments.predictions.read_predictions(
                deployment, shadow=shadow
            )
            if len(found) >= want:
                break
            time.sleep(0.05)
        return found


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    store = make_store(tmp_path_factory.mktemp("serve-http"))
    standard_models(store)
    services = store.services()
    deploy(services, "clf", "clf", TrafficPolicy.single(1))
    deploy(services, "canary", "clf", TrafficPolicy.canary(champion=1, challenger=2, weight=10))
    deploy(services, "ab", "clf", TrafficPolicy.ab({1: 50, 2: 50}))
    deploy(services, "shadow", "clf", TrafficPolicy.shadow(primary=1, shadows=[2]))
    deploy(services, "frame", "frame", TrafficPolicy.single(1))
    deploy(services, "flaky", "flaky", TrafficPolicy.single(1))
    deploy(services, "slow", "slow", TrafficPolicy.single(1), timeout_s=0.1)
    deploy(services, "private", "clf", TrafficPolicy.single(1), require_consumer=True)
    issued = services.deployments.declare_consumer(
        model="clf", name="billing", owner="team-pay", actor="tester"
    )
    serve = start_serve(store, "--default-deployment", "clf")
    print(f"moorline serve: ready {serve.ready_s:.2f} s after start (8 deployments, 5 models)")
    client = httpx.Client(timeout=30)
    try:
        yield Live(serve, store, services, client, issued.api_key)
    finally:
        client.close()
        code = serve.stop()
        services.close()
        assert code == 0, serve.log()


@pytest.fixture(scope="module")
def clf() -> LogisticRegression:
    x, y = training_data()
    return LogisticRegression().fit(x, y)


ROWS = np.random.default_rng(42).normal(size=(5, 4))


def test_ready_and_health(live: Live) -> None:
    assert live.serve.ready_s < 30.0  # 8 deployments; loose because the machine is shared
    assert live.get("/health").text == "OK"
    ready = live.get("/ready").json()
    assert ready["ready"] is True and ready["failures"] == {}
    assert set(ready["deployments"]) == {
        "clf", "canary", "ab", "shadow", "frame", "flaky", "slow", "private"
    }  # fmt: skip
    log = live.serve.log()
    assert "loaded clf v1 (sklearn, digests verified)" in log
    assert re.search(r"ready in \d+ ms", log)


# -- the three protocols ------------------------------------------------------------------


def test_oip_metadata_health_and_infer(live: Live, clf: LogisticRegression) -> None:
    assert live.get("/v2").json()["name"] == "moorline"
    assert live.get("/v2/health/live").json() == {"live": True}
    assert live.get("/v2/health/ready").json() == {"ready": True}
    meta = live.get("/v2/models/clf").json()
    assert meta["name"] == "clf" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert live.get("/v2/models/canary/versions/2").json()["version"] == "2"
    assert live.get("/v2/models/clf/ready").json() == {"name": "clf", "ready": True}
    assert live.get("/v2/models/clf/versions/9/ready").status_code == 404
    request = {
        "id": "req-1",
        "inputs": [
            {"name": "x", "shape": [5, 4], "datatype": "FP64", "data": ROWS.ravel().tolist()}
        ],
    }
    response = live.post("/v2/models/clf/infer", json=request)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["model_name"] == "clf" and doc["model_version"] == "1" and doc["id"] == "req-1"
    (output,) = doc["outputs"]
    assert output["shape"] == [5, 1] and output["datatype"] == "INT64"
    assert output["data"] == clf.predict(ROWS).tolist()


def test_oip_explicit_version_must_be_served(live: Live) -> None:
    request = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0] * 4}]}
    doc = live.post("/v2/models/canary/versions/2/infer", json=request).json()
    assert doc["model_version"] == "2" and doc["outputs"][0]["data"][0] in (10, 11)
    missing = live.post("/v2/models/canary/versions/3/infer", json=request)
    assert missing.status_code == 404
    assert "does not serve version 3" in missing.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": ROWS.tolist()},
        {"instances": ROWS.tolist()},
        {"dataframe_split": {"data": ROWS.tolist()}},
        {"inputs": ROWS.tolist(), "params": {"temperature": 0}},
    ],
)
def test_mlflow_invocations_on_the_default_deployment(
    live: Live, clf: LogisticRegression, body: dict[str, Any]
) -> None:
    response = live.post("/invocations", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": clf.predict(ROWS).tolist()}
    assert live.get("/ping").status_code == 200
    assert live.get("/version").status_code == 200


def test_deployment_predict_over_named_columns_and_csv(live: Live) -> None:
    frame, _ = frame_data()
    rows = frame.head(4)
    records = rows.to_dict(orient="records")
    from moorline.sdk.models import load_model_from

    model = load_model_from(lambda: live.services, "models:/frame/1")
    expected = model.predict(rows).tolist()
    doc = live.post("/v1/deployments/frame/predict", json={"dataframe_records": records}).json()
    assert doc["deployment"] == "frame" and doc["model_version"] == 1
    assert re.fullmatch(r"[0-9a-f]{32}", doc["prediction_id"])
    assert doc["predictions"] == expected
    csv = rows[["income", "age", "city"]].to_csv(index=False).encode()
    response = live.post(
        "/v1/deployments/frame/predict", content=csv, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected


# -- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "message"),
    [
        (
            "/v1/deployments/clf/predict",
            {"content": b'{"inputs": [[1, 2', "headers": {"Content-Type": "application/json"}},
            400,
            "Malformed JSON",
        ),
        (
            "/v1/deployments/clf/predict",
            {"json": {"inputs": [["a", "b", "c", "d"]]}},
            400,
            "string values",
        ),
        ("/v1/deployments/clf/predict", {"json": {"inputs": [[1, 2, 3]]}}, 400, "shape"),
        (
            "/v1/deployments/frame/predict",
            {"json": {"dataframe_records": [{"city": "oslo", "age": 30}]}},
            400,
            "'income'",
        ),
        (
            "/v1/deployments/frame/predict",
            {"json": {"dataframe_records": [{"city": "oslo", "age": "x", "income": 1.0}]}},
            400,
            "'age'",
        ),
        (
            "/v1/deployments/clf/predict",
            {
                "content": b"inputs=1",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            415,
            "Unsupported content type",
        ),
        ("/v1/deployments/nope/predict", {"json": {"inputs": [[1]]}}, 404, "No deployment 'nope'"),
        ("/v1/deployments/clf/nothing", {"json": {}}, 404, "No endpoint"),
        (
            "/v2/models/clf/infer",
            {"json": {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1]}]}},
            400,
            "4 values",
        ),
    ],
)
def test_bad_requests_get_4xx_naming_the_problem(
    live: Live, path: str, kwargs: dict[str, Any], status: int, message: str
) -> None:
    response = live.post(path, **kwargs)
    assert response.status_code == status, response.text
    doc = response.json()
    assert message in doc["message"]
    assert doc["error_code"] in (
        "INVALID_PARAMETER_VALUE", "BAD_REQUEST", "RESOURCE_DOES_NOT_EXIST", "ENDPOINT_NOT_FOUND"
    )  # fmt: skip
    if path.startswith("/v2"):
        assert doc["error"] == doc["message"]


def test_an_oversized_body_is_refused_before_it_is_read(live: Live) -> None:
    big = b'{"inputs": [[' + b"1.0," * 4_500_000 + b"1.0]]}"  # about 18 MB
    response = live.post(
        "/v1/deployments/clf/predict", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert live.post("/v1/deployments/clf/predict", json={"inputs": [[0] * 4]}).status_code == 200


def test_a_model_that_raises_gets_500_with_an_error_id_and_the_server_keeps_serving(
    live: Live,
) -> None:
    response = live.post("/v1/deployments/flaky/predict", json={"inputs": [[MARKER, 0, 0, 0]]})
    assert response.status_code == 500
    doc = response.json()
    assert doc["error_code"] == "USER_CODE_ERROR"
    assert re.fullmatch(r"[0-9a-f]{12}", doc["error_id"])
    assert "cannot score the marker value" in doc["message"]
    after = live.post("/v1/deployments/flaky/predict", json={"inputs": [[2.5, 0, 0, 0]]})
    assert after.status_code == 200 and after.json()["predictions"] == [5.0]
    deadline = time.monotonic() + 5
    while doc["error_id"] not in live.serve.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = live.serve.log()
    assert f"model error {doc['error_id']}" in log and "Traceback" in log
    failed = [p for p in live.logged("flaky", shadow=False, want=2) if p.record.error_id]
    assert [p.record.error_id for p in failed] == [doc["error_id"]]


def test_a_request_past_the_deployment_timeout_gets_504(live: Live) -> None:
    response = live.post("/v1/deployments/slow/predict", json={"inputs": [[1, 2, 3, 4]]})
    assert response.status_code == 504
    assert "timeout_s" in response.json()["message"]


# -- traffic --------------------------------------------------------------------------


def test_canary_split_live(live: Live) -> None:
    versions = Counter(
        live.post("/v1/deployments/canary/predict", json={"inputs": [[0.5] * 4]}).json()[
            "model_version"
        ]
        for _ in range(400)
    )
    assert set(versions) <= {1, 2}
    assert 0.04 <= versions[2] / 400 <= 0.18, versions  # 10 % give or take chance


def test_ab_same_key_same_version(live: Live) -> None:
    seen: dict[str, set[int]] = {}
    for i in range(12):
        key = f"customer-{i}"
        for _ in range(5):
            doc = live.post(
                "/v1/deployments/ab/predict", json={"inputs": [[0.1] * 4], "key": key}
            ).json()
            seen.setdefault(key, set()).add(doc["model_version"])
        header = live.post(
            "/v1/deployments/ab/predict",
            json={"inputs": [[0.1] * 4]},
            headers={"X-Moorline-Key": key},
        ).json()
        seen[key].add(header["model_version"])
    assert all(len(v) == 1 for v in seen.values()), seen
    assert {next(iter(v)) for v in seen.values()} == {1, 2}  # keys spread over both


def test_shadow_caller_sees_only_the_primary_and_both_are_logged(live: Live) -> None:
    ids = []
    for i in range(15):
        doc = live.post("/v1/deployments/shadow/predict", json={"inputs": [[i, 0, 0, 0]]}).json()
        assert doc["model_version"] == 1 and doc["predictions"][0] in (0, 1)
        ids.append(doc["prediction_id"])
    shadows = live.logged("shadow", shadow=True, want=15)
    primary = live.logged("shadow", shadow=False, want=15)
    assert {p.record.prediction_id for p in shadows} == set(ids)
    assert {p.record.prediction_id for p in primary} == set(ids)
    assert all(p.record.version == 2 and p.record.outputs[0] in (10, 11) for p in shadows)


# -- consumers, feedback, metrics -----------------------------------------------------


def test_consumer_keys_and_undeclared_callers(live: Live) -> None:
    body = {"inputs": [[0.0] * 4]}
    refused = live.post("/v1/deployments/private/predict", json=body)
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "UNAUTHENTICATED"
    bearer = {"Authorization": f"Bearer {live.consumer_key}"}
    assert (
        live.post("/v1/deployments/private/predict", json=body, headers=bearer).status_code == 200
    )
    header = {"X-Moorline-Consumer-Key": live.consumer_key}
    assert (
        live.post("/v1/deployments/private/predict", json=body, headers=header).status_code == 200
    )
    wrong = {"X-Moorline-Consumer-Key": live.consumer_key[:-2] + "xx"}
    assert live.post("/v1/deployments/private/predict", json=body, headers=wrong).status_code == 401
    logged = live.logged("private", shadow=False, want=2)
    assert {p.record.consumer for p in logged} == {"billing"}
    live.post("/v1/deployments/clf/predict", json=body, headers={"User-Agent": "batch-job/2"})
    deadline = time.monotonic() + 10
    callers: dict[str, int] = {}
    while time.monotonic() < deadline:  # the log is written in the background
        callers = live.services.deployments.predictions.undeclared_callers("clf", since=0)
        if any("batch-job/2" in c for c in callers):
            break
        time.sleep(0.05)
    assert callers.get("127.0.0.1 batch-job/2") == 1, callers


def test_feedback_attaches_labels_to_logged_predictions(live: Live) -> None:
    doc = live.post("/v1/deployments/clf/predict", json={"inputs": [[0.3] * 4, [0.1] * 4]}).json()
    pid = doc["prediction_id"]
    live.logged("clf", shadow=False, want=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [
            p for p in live.services.deployments.predictions.read_predictions("clf")
            if p.record.prediction_id == pid
        ]  # fmt: skip
        if found:
            break
        time.sleep(0.05)
    answer = live.post(
        "/v1/deployments/clf/feedback", json=[{"prediction_id": pid, "labels": [1, 0]}]
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 1, "matched": 1}
    labelled = [
        p for p in live.services.deployments.predictions.read_predictions("clf")
        if p.record.prediction_id == pid
    ]  # fmt: skip
    assert labelled[0].labels == [1, 0]
    bad = live.post("/v1/deployments/clf/feedback", json=[{"prediction_id": pid}])
    assert bad.status_code == 400


def test_metrics_expose_the_families(live: Live) -> None:
    live.post("/v1/deployments/clf/predict", json={"inputs": [[0.0] * 4]})
    text = live.get("/metrics").text
    for family in (
        "moorline_serving_requests_total",
        "moorline_serving_request_duration_seconds_bucket",
        "moorline_serving_model_errors_total",
        "moorline_serving_batch_rows_bucket",
        "moorline_serving_queue_wait_seconds_bucket",
        "moorline_serving_predict_duration_seconds_bucket",
        "moorline_serving_prediction_log_queued",
        "moorline_serving_prediction_log_dropped_total",
        "moorline_serving_prediction_log_written_total",
        "moorline_serving_deployment_revision",
        "moorline_serving_ready 1.0",
    ):
        assert family in text, family
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    ok = ("deployment", "clf"), ("status", "2xx"), ("version", "1")
    assert samples[("moorline_serving_requests_total", ok)] >= 1
    errors = ("deployment", "flaky"), ("shadow", "false"), ("version", "1")
    assert samples[("moorline_serving_model_errors_total", errors)] >= 1
