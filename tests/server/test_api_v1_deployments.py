"""``/api/v1`` deployments and consumers, over real HTTP on loopback.

Raw JSON with httpx against a live uvicorn server that requires tokens: the
wire format (paths, status codes, error shapes), who the audit log says
acted (always the token, never a name the client sent), the consumer-field
guard on real MLmodel signatures, and the read-only views of the prediction
log. The last tests run :class:`RestDeploymentService` (the SDK's and CLI's
remote mode) against the same server.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.contracts.rest_backend import ThreadedServer, fresh_services, threaded_server
from tests.support.deployments import prediction, register_versions

from moorline.auth.models import Role
from moorline.bootstrap import Services, Settings, build_services
from moorline.core.clock import now_ms
from moorline.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PermissionDenied
from moorline.server.app import create_app
from moorline.serving.models import DeploymentSettings, RevisionAction, TrafficPolicy
from moorline.serving.service import DeploymentService
from moorline.store.rest.client import RestClient
from moorline.store.rest.serving import RestDeploymentService

#: v1 and v3 output label and score; v2 outputs label only.
OUTPUTS = [["label", "score"], ["label"], ["label", "score"]]
PEOPLE = {"root": Role.ADMIN, "ana": Role.EDITOR, "vic": Role.VIEWER}


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with threaded_server() as running:
        yield running


@dataclass
class Api:
    url: str
    services: Services
    tokens: dict[str, str]
    clients: dict[str, httpx.Client]

    def __getitem__(self, who: str) -> httpx.Client:
        return self.clients[who]


@pytest.fixture
def api(server: ThreadedServer, tmp_path: Path) -> Iterator[Api]:
    services = fresh_services(tmp_path)
    register_versions(services, tmp_path / "models", "churn", OUTPUTS)
    tokens = {name: services.auth.create_token(name, role).secret for name, role in PEOPLE.items()}
    clients: dict[str, httpx.Client] = {}
    try:
        with server.serving(create_app(services, auth_required=True)) as url:
            for name, secret in tokens.items():
                clients[name] = httpx.Client(
                    base_url=f"{url}/api/v1",
                    headers={"Authorization": f"Bearer {secret}"},
                    timeout=30,
                )
            clients["nobody"] = httpx.Client(base_url=f"{url}/api/v1", timeout=30)
            yield Api(url=url, services=services, tokens=tokens, clients=clients)
    finally:
        for client in clients.values():
            client.close()
        services.close()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, body
    return str(body["message"])


def single(version: int) -> dict[str, Any]:
    return {"kind": "single", "routes": [{"version": version, "weight": 100}]}


def canary(champion: int, challenger: int, weight: float) -> dict[str, Any]:
    return {
        "kind": "canary",
        "routes": [
            {"version": champion, "weight": 100 - weight},
            {"version": challenger, "weight": weight},
        ],
    }


def create(api: Api, name: str = "churn-prod", who: str = "ana", **extra: Any) -> Any:
    body = {"name": name, "model": "churn", "policy": single(1), **extra}
    return ok(api[who].post("/deployments", json=body), 201)


def audit(api: Api, target: str) -> list[dict[str, Any]]:
    items = ok(api["vic"].get("/audit", params={"target_prefix": target}))["items"]
    return [e for e in items if e["target"] == target]


# -- deployments over the wire -----------------------------------------------------------


def test_create_shift_rollback_and_history_are_audited_as_the_token(api: Api) -> None:
    created = create(api, description="churn scores for billing", reason="first release")
    assert created["name"] == "churn-prod" and created["model"] == "churn"
    assert created["revision"] == 1 and created["updated_by"] == "ana"
    assert created["policy"]["text"] == "single v1"
    assert created["settings"] == DeploymentSettings().to_dict()

    shifted = ok(
        api["ana"].post(
            "/deployments/churn-prod/traffic",
            json={"policy": canary(1, 3, 10), "reason": "canary v3", "expected_revision": 1},
        )
    )
    assert shifted["revision"] == 2
    assert shifted["policy"]["kind"] == "canary"
    assert shifted["policy"]["text"] == "canary v1 90% / v3 10%"
    assert ok(api["vic"].get("/deployments/churn-prod")) == shifted

    back = ok(api["root"].post("/deployments/churn-prod/rollback", json={"reason": "v3 slower"}))
    assert back["revision"] == 3 and back["policy"]["text"] == "single v1"
    assert back["updated_by"] == "root"

    history = ok(api["vic"].get("/deployments/churn-prod/history"))["items"]
    assert [(h["revision"], h["action"], h["actor"]) for h in history] == [
        (3, "rollback", "root"),
        (2, "traffic", "ana"),
        (1, "deploy", "ana"),
    ]
    assert history[0]["restored_revision"] == 1 and history[0]["reason"] == "v3 slower"
    assert (
        ok(api["vic"].get("/deployments/churn-prod/history", params={"limit": 1}))["items"]
        == history[:1]
    )

    listed = ok(api["vic"].get("/deployments"))["items"]
    assert [d["name"] for d in listed] == ["churn-prod"]
    assert ok(api["vic"].get("/deployments", params={"model": "other"}))["items"] == []
    assert ok(api["vic"].get("/deployment-revisions")) == {"revisions": {"churn-prod": 3}}

    entries = audit(api, "churn-prod")
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("deployment.create", "ana"),
        ("deployment.traffic", "ana"),
        ("deployment.rollback", "root"),
    ]
    assert entries[1]["reason"] == "canary v3"
    assert entries[1]["details"]["to"] == canary(1, 3, 10) | {"shadows": []}

    ok(api["root"].delete("/deployments/churn-prod", params={"reason": "retired"}), 204)
    error(api["vic"].get("/deployments/churn-prod"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert audit(api, "churn-prod")[-1]["action"] == "deployment.delete"
    assert audit(api, "churn-prod")[-1]["reason"] == "retired"


def test_a_client_cannot_name_the_actor(api: Api) -> None:
    body = {"name": "d", "model": "churn", "policy": single(1), "actor": "mallory"}
    message = error(api["ana"].post("/deployments", json=body), 400, "INVALID_PARAMETER_VALUE")
    assert "actor" in message
    error(api["vic"].get("/deployments/d"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_viewers_read_and_cannot_change(api: Api) -> None:
    create(api)
    assert ok(api["vic"].get("/deployments/churn-prod"))["revision"] == 1
    attempts = [
        api["vic"].post("/deployments", json={"name": "x", "model": "churn", "policy": single(1)}),
        api["vic"].post("/deployments/churn-prod/traffic", json={"policy": single(2)}),
        api["vic"].post("/deployments/churn-prod/rollback", json={}),
        api["vic"].patch("/deployments/churn-prod/settings", json={"timeout_s": 5}),
        api["vic"].delete("/deployments/churn-prod"),
        api["vic"].post("/models/churn/consumers", json={"name": "b", "owner": "o"}),
        api["vic"].delete("/models/churn/consumers/b"),
    ]
    for response in attempts:
        assert "viewer role" in error(response, 403, "PERMISSION_DENIED")
    assert ok(api["vic"].get("/deployments/churn-prod"))["revision"] == 1
    assert ok(api["vic"].get("/models/churn/consumers"))["items"] == []
    error(api["nobody"].get("/deployments"), 401, "UNAUTHENTICATED")


def test_bad_requests_name_the_problem_with_stable_codes(api: Api) -> None:
    create(api)
    ana = api["ana"]
    error(ana.get("/deployments/nope"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(
        ana.post("/deployments/nope/traffic", json={"policy": single(1)}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert "already" in error(
        ana.post(
            "/deployments", json={"name": "churn-prod", "model": "churn", "policy": single(1)}
        ),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    short = {
        "kind": "canary",
        "routes": [{"version": 1, "weight": 60}, {"version": 2, "weight": 30}],
    }
    message = error(
        ana.post("/deployments/churn-prod/traffic", json={"policy": short}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "sum to 100" in message
    message = error(
        ana.post("/deployments/churn-prod/traffic", json={"policy": single(9)}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert "version 9" in message
    message = error(
        ana.post("/deployments", json={"name": "../x", "model": "churn", "policy": single(1)}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Invalid deployment name" in message
    message = error(
        ana.post(
            "/deployments/churn-prod/traffic",
            json={"policy": single(2), "expected_revision": 7},
        ),
        409,
        "RESOURCE_CONFLICT",
    )
    assert "revision 1, not 7" in message
    assert "no earlier revision" in error(
        ana.post("/deployments/churn-prod/rollback", json={}), 409, "RESOURCE_CONFLICT"
    )
    assert "no revision 5" in error(
        ana.post("/deployments/churn-prod/rollback", json={"to_revision": 5}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert "max_batch_size" in error(
        ana.patch("/deployments/churn-prod/settings", json={"max_batch_size": 0}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "limit" in error(
        ana.get("/deployments/churn-prod/predictions", params={"limit": 10_001}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    # Nothing of the refused requests was written.
    assert ok(ana.get("/deployments/churn-prod"))["revision"] == 1
    assert len(ok(ana.get("/deployments/churn-prod/history"))["items"]) == 1


def test_settings_patch_changes_only_what_it_names(api: Api) -> None:
    create(api, settings={"max_batch_size": 16, "timeout_s": 10})
    patched = ok(
        api["ana"].patch(
            "/deployments/churn-prod/settings", json={"log_sample": 0.25, "reason": "volume"}
        )
    )
    assert patched["revision"] == 2
    assert patched["settings"] == {
        "max_batch_size": 16,
        "max_wait_ms": 2.0,
        "timeout_s": 10.0,
        "log_sample": 0.25,
        "require_consumer": False,
    }
    assert patched["policy"]["text"] == "single v1"
    history = ok(api["ana"].get("/deployments/churn-prod/history"))["items"]
    assert history[0]["action"] == "settings" and history[0]["reason"] == "volume"
    error(
        api["ana"].patch(
            "/deployments/churn-prod/settings", json={"timeout_s": 1, "expected_revision": 1}
        ),
        409,
        "RESOURCE_CONFLICT",
    )


# -- consumers and the field guard -------------------------------------------------------


def test_declared_fields_guard_traffic_until_overridden_with_a_reason(api: Api) -> None:
    create(api)
    issued = ok(
        api["ana"].post(
            "/models/churn/consumers",
            json={"name": "billing", "owner": "team-billing", "fields": ["label", "score"]},
        ),
        201,
    )
    assert issued["api_key"].startswith("mlc_" + issued["consumer"]["key_id"] + "_")
    assert issued["consumer"]["fields"] == ["label", "score"]
    listed = ok(api["vic"].get("/models/churn/consumers"))["items"]
    assert listed == [issued["consumer"]]
    assert "api_key" not in listed[0] and "key_hash" not in listed[0]
    assert ok(api["vic"].get("/consumers"))["items"] == listed
    assert "already" in error(
        api["ana"].post("/models/churn/consumers", json={"name": "billing", "owner": "x"}),
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    error(
        api["ana"].post("/models/nope/consumers", json={"name": "b", "owner": "x"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )

    # v2 has no 'score': refused, and the message says who relies on it.
    message = error(
        api["ana"].post("/deployments/churn-prod/traffic", json={"policy": canary(1, 2, 10)}),
        403,
        "PERMISSION_DENIED",
    )
    assert "'score'" in message and "billing" in message and "team-billing" in message
    assert "reason" in error(
        api["ana"].post(
            "/deployments/churn-prod/traffic", json={"policy": canary(1, 2, 10), "override": True}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    # v3 keeps both fields: no override needed.
    ok(api["ana"].post("/deployments/churn-prod/traffic", json={"policy": canary(1, 3, 10)}))
    forced = ok(
        api["ana"].post(
            "/deployments/churn-prod/traffic",
            json={"policy": single(2), "override": True, "reason": "billing agreed, ticket 42"},
        )
    )
    assert forced["policy"]["text"] == "single v2" and forced["revision"] == 3
    entry = audit(api, "churn-prod")[-1]
    assert entry["details"]["override"] is True
    assert entry["details"]["missing_fields"] == {"billing": ["score"]}
    assert entry["reason"] == "billing agreed, ticket 42"

    ok(api["ana"].delete("/models/churn/consumers/billing", params={"reason": "retired"}), 204)
    assert ok(api["vic"].get("/models/churn/consumers"))["items"] == []
    error(api["ana"].delete("/models/churn/consumers/billing"), 404, "RESOURCE_DOES_NOT_EXIST")
    actions = [e["action"] for e in audit(api, "churn/billing")]
    assert actions == ["consumer.declare", "consumer.revoke"]
    # With the consumer gone, nothing guards v2 any more.
    ok(api["ana"].post("/deployments/churn-prod/traffic", json={"policy": canary(2, 1, 50)}))


# -- the prediction log, read-only -------------------------------------------------------


def test_traffic_predictions_and_undeclared_callers_are_read_from_the_log(api: Api) -> None:
    create(api)
    ok(api["ana"].post("/deployments/churn-prod/traffic", json={"policy": canary(1, 3, 50)}))
    t0 = now_ms() - 60_000
    d = "churn-prod"
    records = [
        *(
            prediction(d, "churn", 1, t0 + i, latency_ms=10.0, caller="10.0.0.1 curl")
            for i in range(6)
        ),
        *(
            prediction(d, "churn", 3, t0 + 100 + i, latency_ms=30.0, consumer="billing")
            for i in range(3)
        ),
        prediction(d, "churn", 3, t0 + 200, error=True, caller="10.0.0.2 python"),
        # the shadow copy of the first request (same prediction id)
        prediction(d, "churn", 3, t0, shadow=True, pid=f"{d}-1-{t0}-0"),
        prediction("other", "churn", 1, t0, caller="elsewhere"),
        prediction(d, "churn", 1, t0 - 48 * 3_600_000, caller="long ago"),
    ]
    api.services.deployments.predictions.append_predictions(records)

    traffic = ok(api["vic"].get("/deployments/churn-prod/traffic"))
    assert traffic["deployment"] == "churn-prod" and traffic["until"] is None
    assert now_ms() - 24 * 3_600_000 - 60_000 <= traffic["since"] <= now_ms()
    by_version = {t["version"]: t for t in traffic["items"]}
    assert by_version[1]["requests"] == 6 and by_version[1]["errors"] == 0
    assert by_version[1]["mean_latency_ms"] == pytest.approx(10.0)
    assert by_version[3]["requests"] == 4 and by_version[3]["errors"] == 1
    assert by_version[3]["shadow_requests"] == 1
    everything = ok(api["vic"].get("/deployments/churn-prod/traffic", params={"since": 0}))
    assert {t["version"]: t["requests"] for t in everything["items"]}[1] == 7

    page = ok(api["vic"].get("/deployments/churn-prod/predictions", params={"limit": 4}))
    assert len(page["items"]) == 4 and page["truncated"] is True
    assert [p["at"] for p in page["items"]] == sorted(p["at"] for p in page["items"])
    assert all(p["shadow"] is False for p in page["items"])
    recent = ok(
        api["vic"].get("/deployments/churn-prod/predictions", params={"since": t0, "version": 3})
    )
    assert recent["truncated"] is False
    assert [p["version"] for p in recent["items"]] == [3, 3, 3, 3]
    failed = [p for p in recent["items"] if p["error_id"]]
    assert len(failed) == 1 and failed[0]["outputs"] == []
    shadows = ok(api["vic"].get("/deployments/churn-prod/predictions", params={"shadow": "true"}))[
        "items"
    ]
    assert [(p["version"], p["shadow"]) for p in shadows] == [(3, True)]
    both = ok(
        api["vic"].get("/deployments/churn-prod/predictions", params={"shadow": "any", "since": t0})
    )["items"]
    assert len(both) == 11

    undeclared = ok(api["vic"].get("/deployments/churn-prod/undeclared"))
    assert [(c["caller"], c["requests"]) for c in undeclared["items"]] == [
        ("10.0.0.1 curl", 6),
        ("10.0.0.2 python", 1),
    ]
    error(api["vic"].get("/deployments/nope/traffic"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(api["vic"].get("/deployments/nope/predictions"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_openapi_describes_the_deployment_routes(api: Api) -> None:
    spec = ok(api["vic"].get("/openapi.json"))
    paths = spec["paths"]
    assert set(paths["/deployments/{name}/traffic"]) == {"get", "post"}
    for path in (
        "/deployments",
        "/deployments/{name}",
        "/deployments/{name}/rollback",
        "/deployments/{name}/settings",
        "/deployments/{name}/history",
        "/deployments/{name}/predictions",
        "/deployments/{name}/undeclared",
        "/models/{model}/consumers",
        "/models/{model}/consumers/{consumer}",
    ):
        assert path in paths, path
    assert "409" in paths["/deployments/{name}/traffic"]["post"]["responses"]


# -- the remote service (SDK and CLI against a server URL) ----------------------------------


def test_remote_service_has_every_public_method_of_the_local_one() -> None:
    public = {
        name
        for name, value in inspect.getmembers(DeploymentService)
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }
    own = {name for name in vars(RestDeploymentService) if not name.startswith("_")}
    assert public <= own, sorted(public - own)
    for name in public:
        local, remote = getattr(DeploymentService, name), getattr(RestDeploymentService, name)
        if callable(local):
            assert inspect.signature(local) == inspect.signature(remote), name


def test_remote_service_runs_on_the_server_as_the_token(api: Api) -> None:
    client = RestClient(api.url, token=api.tokens["ana"], max_attempts=1)
    remote = RestDeploymentService(client)
    try:
        created = remote.create(
            "churn-prod",
            model="churn",
            policy=TrafficPolicy.single(1),
            settings=DeploymentSettings(max_batch_size=8),
            actor="mallory",
            reason="first",
        )
        assert created.updated_by == "ana" and created.settings.max_batch_size == 8
        assert remote.get("churn-prod") == api.services.deployments.get("churn-prod")
        moved = remote.set_traffic(
            "churn-prod",
            TrafficPolicy.canary(champion=1, challenger=3, weight=20),
            actor="mallory",
            expected_revision=1,
        )
        assert moved.revision == 2 and moved.policy.describe() == "canary v1 80% / v3 20%"
        settled = remote.update_settings(
            "churn-prod", DeploymentSettings(max_batch_size=8, timeout_s=3.0), actor="mallory"
        )
        assert settled.settings.timeout_s == 3.0 and settled.revision == 3
        back = remote.rollback("churn-prod", actor="mallory", to_revision=1, reason="undo")
        assert back.policy == TrafficPolicy.single(1) and back.revision == 4
        assert back.settings == DeploymentSettings(max_batch_size=8)
        history = remote.history("churn-prod")
        assert history == api.services.deployments.history("churn-prod")
        assert {r.actor for r in history} == {"ana"}
        assert history[0].action is RevisionAction.ROLLBACK and history[0].restored_revision == 1
        assert remote.list_deployments(model="churn") == [back]
        assert remote.revisions() == {"churn-prod": 4}

        issued = remote.declare_consumer(
            model="churn", name="billing", owner="team", fields=["score"], actor="mallory"
        )
        assert api.services.deployments.authenticate_consumer(issued.api_key).name == "billing"
        assert [c.name for c in remote.list_consumers()] == ["billing"]
        assert remote.list_consumers(model="churn")[0].key_id == issued.consumer.key_id

        with pytest.raises(PermissionDenied, match="score"):
            remote.set_traffic("churn-prod", TrafficPolicy.single(2), actor="x")
        with pytest.raises(Conflict, match="revision 4, not 1"):
            remote.set_traffic(
                "churn-prod", TrafficPolicy.single(3), actor="x", expected_revision=1
            )
        with pytest.raises(NotFound):
            remote.get("nope")
        with pytest.raises(AlreadyExists):
            remote.create("churn-prod", model="churn", policy=TrafficPolicy.single(1), actor="x")
        with pytest.raises(InvalidArgument, match="Invalid deployment name"):
            remote.get("../etc")
        remote.revoke_consumer("churn", "billing", actor="x", reason="gone")
        assert remote.list_consumers() == []

        api.services.deployments.predictions.append_predictions(
            [prediction("churn-prod", "churn", 1, now_ms() - 1000, caller="c")]
        )
        counts = remote.predictions.traffic("churn-prod", since=0)
        assert [(t.version, t.requests) for t in counts] == [(1, 1)]
        logged = remote.predictions.read_predictions("churn-prod")
        assert logged == api.services.deployments.predictions.read_predictions("churn-prod")
        assert remote.predictions.undeclared_callers("churn-prod", since=0) == {"c": 1}

        remote.delete("churn-prod", actor="x", reason="done")
        assert remote.list_deployments() == []
        actors = {
            e.actor
            for e in api.services.audit.list_entries(limit=1000)
            if e.action.startswith(("deployment.", "consumer."))
        }
        assert actors == {"ana"}
    finally:
        client.close()


def test_services_built_for_a_server_url_reach_its_deployments(api: Api) -> None:
    create(api)
    services = build_services(Settings(store_uri=api.url, token=api.tokens["vic"]))
    try:
        assert isinstance(services.deployments, RestDeploymentService)
        assert services.deployments.get("churn-prod").policy.describe() == "single v1"
    finally:
        services.close()
