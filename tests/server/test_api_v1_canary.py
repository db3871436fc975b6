"""``/api/v1/deployments/{name}/canary``: the canary control plane over real HTTP.

A live uvicorn server that requires tokens, over a store with three
registered versions of ``churn`` and a deployment serving v1. The prediction
log is written as the gateway writes it (answers and feedback labels), so
the analysis endpoint judges real records; the server's own controller
(``services.canaries``, the one its canary loop runs) takes the decisions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.contracts.rest_backend import ThreadedServer, fresh_services, threaded_server
from tests.support.deployments import prediction, register_versions

from moorline.auth.models import Role
from moorline.bootstrap import Services
from moorline.core.clock import now_ms
from moorline.server.app import create_app
from moorline.serving.canaries import CanaryStatus
from moorline.serving.models import RevisionAction, TrafficPolicy
from moorline.serving.rollout import CanaryAction

MODEL, NAME = "churn", "churn-prod"
PEOPLE = {"root": Role.ADMIN, "ana": Role.EDITOR, "vic": Role.VIEWER}
POLICY = {"min_requests": 20, "metric": "mae", "min_labelled": 20, "max_duration_s": 3600}


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with threaded_server() as running:
        yield running


@dataclass
class Api:
    services: Services
    clients: dict[str, httpx.Client]

    def __getitem__(self, who: str) -> httpx.Client:
        return self.clients[who]


@pytest.fixture
def api(server: ThreadedServer, tmp_path: Path) -> Iterator[Api]:
    services = fresh_services(tmp_path)
    register_versions(services, tmp_path / "models", MODEL, [["label"], ["label"], ["label"]])
    services.registry.set_alias(MODEL, "champion", 1, actor="root")
    services.deployments.create(NAME, model=MODEL, policy=TrafficPolicy.single(1), actor="root")
    tokens = {name: services.auth.create_token(name, role).secret for name, role in PEOPLE.items()}
    clients: dict[str, httpx.Client] = {}
    try:
        with server.serving(create_app(services, auth_required=True)) as url:
            for name, secret in tokens.items():
                clients[name] = httpx.Client(
                    base_url=f"{url}/api/v1/deployments",
                    headers={"Authorization": f"Bearer {secret}"},
                    timeout=30,
                )
            yield Api(services=services, clients=clients)
    finally:
        for client in clients.values():
            client.close()
        services.close()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code, body
    return str(body["message"])


def log_traffic(services: Services, *, champion_error: float, challenger_error: float) -> None:
    """60 labelled answers per version (v1 the champion, v3 the challenger): each
    version's answer is off its label by a known amount."""
    t0 = now_ms()
    records, feedback = [], []
    for i in range(120):
        version = 1 if i % 2 else 3
        off = champion_error if version == 1 else challenger_error
        record = prediction(NAME, MODEL, version, t0 + i, inputs=[[float(i % 10)]])
        records.append(record)
        # the gateway's model answers 2 x input; the label is that plus the error
        feedback.append({"prediction_id": record.prediction_id, "label": 2.0 * (i % 10) + off})
    services.deployments.predictions.append_predictions(records)
    assert services.deployments.add_feedback(NAME, feedback) == len(feedback)


def test_start_read_analyse_and_abort_a_canary(api: Api) -> None:
    assert ok(api["vic"].get(f"/{NAME}/canary")) == {
        "deployment": NAME,
        "active": False,
        "canary": None,
    }
    error(api["vic"].post(f"/{NAME}/canary", json={"challenger": 3}), 403, "PERMISSION_DENIED")

    started = ok(
        api["ana"].post(
            f"/{NAME}/canary",
            json={"challenger": 3, "weight": 25, "policy": POLICY, "reason": "retrained on May"},
        ),
        201,
    )
    assert started["active"] is True
    canary = started["canary"]
    assert (canary["champion"], canary["challenger"], canary["weight"]) == (1, 3, 25.0)
    assert canary["status"] == "running" and canary["started_by"] == "ana"
    assert canary["policy"]["min_requests"] == 20 and canary["policy"]["metric"] == "mae"
    assert canary["policy"]["max_metric_regression"] == 0.05  # a default
    assert canary["deadline_at"] == canary["started_at"] + 3_600_000
    deployment = api.services.deployments.get(NAME)
    assert deployment.policy == TrafficPolicy.canary(champion=1, challenger=3, weight=25)
    assert canary["revision"] == deployment.revision == 2
    newest = api.services.deployments.history(NAME, limit=1)[0]
    assert newest.actor == "ana" and canary["id"] in newest.reason
    assert "retrained on May" in newest.reason
    assert ok(api["vic"].get(f"/{NAME}/canary"))["canary"] == canary

    # One canary at a time; the policy is checked before anything is changed.
    error(api["ana"].post(f"/{NAME}/canary", json={"challenger": 2}), 409, "RESOURCE_CONFLICT")
    message = error(
        api["ana"].post(f"/{NAME}/canary", json={"challenger": 2, "policy": {"min_request": 5}}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "min_request" in message

    # The analysis now: too little traffic, every rule with its reason.
    waiting = ok(api["vic"].get(f"/{NAME}/canary/analysis"))
    assert waiting["verdict"] == "wait" and waiting["canary"]["id"] == canary["id"]
    rules = {r["rule"]: r for r in waiting["rules"]}
    assert rules["traffic"]["status"] == "wait" and "too few requests" in rules["traffic"]["reason"]
    assert len(waiting["reasons"]) == len(waiting["rules"]) >= 5

    # A challenger far worse on the labels: the analysis says roll back, but only says.
    log_traffic(api.services, champion_error=0.1, challenger_error=3.0)
    judged = ok(api["vic"].get(f"/{NAME}/canary/analysis"))
    assert judged["verdict"] == "rollback"
    perf = next(r for r in judged["rules"] if r["rule"] == "performance")
    assert perf["status"] == "fail" and "realized mae" in perf["reason"]
    assert perf["details"]["challenger"] == pytest.approx(3.0)
    assert "ROLLBACK" in judged["summary"]
    assert api.services.deployments.get(NAME).revision == 2  # nothing changed

    ended = ok(api["ana"].post(f"/{NAME}/canary/abort", json={"reason": "wrong data window"}))
    assert ended["active"] is False
    assert ended["canary"]["id"] == canary["id"] and ended["canary"]["status"] == "aborted"
    assert ended["canary"]["reason"] == "aborted by ana: wrong data window"
    after = api.services.deployments.get(NAME)
    assert after.policy == TrafficPolicy.single(1) and ended["canary"]["ended_revision"] == 3
    last = api.services.deployments.history(NAME, limit=1)[0]
    assert last.action is RevisionAction.ROLLBACK and last.actor == "ana"
    error(
        api["ana"].post(f"/{NAME}/canary/abort", json={"reason": "again"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(api["vic"].get(f"/{NAME}/canary/analysis"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert ok(api["vic"].get(f"/{NAME}/canary"))["canary"]["status"] == "aborted"


def test_the_servers_controller_rolls_back_what_the_api_started(api: Api) -> None:
    ok(
        api["ana"].post(f"/{NAME}/canary", json={"challenger": 3, "weight": 50, "policy": POLICY}),
        201,
    )
    log_traffic(api.services, champion_error=0.1, challenger_error=3.0)
    (outcome,) = api.services.canaries.tick()  # what the server's canary loop runs
    assert outcome.action is CanaryAction.ROLLED_BACK
    state = ok(api["vic"].get(f"/{NAME}/canary"))
    assert state["active"] is False and state["canary"]["status"] == "rolled_back"
    assert state["canary"]["last_verdict"]["verdict"] == "rollback"
    assert api.services.canaries.latest(NAME).status is CanaryStatus.ROLLED_BACK  # type: ignore[union-attr]
    newest = api.services.deployments.history(NAME, limit=1)[0]
    assert newest.actor == "moorline:rollout" and newest.reason.startswith("rolled back")


def test_requests_that_cannot_start_a_canary(api: Api) -> None:
    ana = api["ana"]
    error(ana.get("/nope/canary"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(ana.post("/nope/canary", json={"challenger": 2}), 404, "RESOURCE_DOES_NOT_EXIST")
    for body in ({"challenger": 2, "weight": 0}, {"challenger": 2, "weight": 100}, {"weight": 5}):
        error(ana.post(f"/{NAME}/canary", json=body), 400, "INVALID_PARAMETER_VALUE")
    message = error(
        ana.post(f"/{NAME}/canary", json={"challenger": 1}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "already the champion" in message
    error(ana.post(f"/{NAME}/canary", json={"challenger": 9}), 404, "RESOURCE_DOES_NOT_EXIST")
    message = error(
        ana.post(f"/{NAME}/canary", json={"challenger": 2, "policy": {"metric": "speed"}}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "unknown metric 'speed'" in message
    error(ana.post(f"/{NAME}/canary/abort", json={"reason": ""}), 400, "INVALID_PARAMETER_VALUE")
    # A deployment already split by hand is not a canary's to take over.
    api.services.deployments.set_traffic(
        NAME, TrafficPolicy.canary(champion=1, challenger=2, weight=10), actor="root"
    )
    message = error(ana.post(f"/{NAME}/canary", json={"challenger": 3}), 409, "RESOURCE_CONFLICT")
    assert "serves canary v1 90% / v2 10%" in message
    state = ok(ana.get(f"/{NAME}/canary"))
    assert state == {"deployment": NAME, "active": False, "canary": None}
    assert api.services.canaries.list_canaries() == []  # nothing left half-way
