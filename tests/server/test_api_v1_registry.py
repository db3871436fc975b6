"""``/api/v1`` model registry and governance, over real HTTP on loopback.

Raw JSON with httpx against a live uvicorn server that requires tokens, so
these tests pin the wire format (paths, status codes, error shapes) and,
above all, who the audit log says acted: always the token the server
authenticated, never a name the client put in a request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.contracts.rest_backend import ThreadedServer, fresh_services, threaded_server

from moorline.auth.models import Role
from moorline.bootstrap import Services
from moorline.errors import NotFound, NotImplementedFeature, PermissionDenied
from moorline.registry.models import ApprovalId, ApprovalState, AuditDraft, ModelName
from moorline.registry.ports import Change
from moorline.registry.service import RegistryService
from moorline.server.app import create_app
from moorline.store.rest.client import RestClient
from moorline.store.rest.registry import (
    RestAuditStore,
    RestGovernanceStore,
    RestRegistryStore,
    RestWebhookStore,
)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with threaded_server() as running:
        yield running


@dataclass
class Api:
    """A server requiring tokens, one httpx client per role, and the server's services."""

    url: str
    services: Services
    tokens: dict[str, str]
    clients: dict[str, httpx.Client]

    def __getitem__(self, who: str) -> httpx.Client:
        return self.clients[who]


#: token name -> role; the names are what the audit log must show.
PEOPLE = {"root": Role.ADMIN, "ana": Role.EDITOR, "bea": Role.APPROVER, "vic": Role.VIEWER}


@pytest.fixture
def api(server: ThreadedServer, tmp_path: Path) -> Iterator[Api]:
    services = fresh_services(tmp_path)
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
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, body
    return str(body["message"])


def register(api: Api, name: str = "churn", versions: int = 2, who: str = "ana") -> None:
    ok(api[who].post("/registered-models", json={"name": name, "description": "d"}), 201)
    for i in range(versions):
        ok(
            api[who].post(f"/registered-models/{name}/versions", json={"source": f"s3://m/{i}"}),
            201,
        )


def audit(api: Api, **params: Any) -> list[dict[str, Any]]:
    return list(ok(api["vic"].get("/audit", params=params))["items"])


# -- the registry over the wire ------------------------------------------------------------


def test_models_versions_and_aliases_round_trip(api: Api) -> None:
    created = ok(
        api["ana"].post(
            "/registered-models",
            json={"name": "churn", "description": "predicts churn", "tags": {"team": "ads"}},
        ),
        201,
    )
    assert created["name"] == "churn" and created["user_id"] == "ana"
    assert created["tags"] == {"team": "ads"} and created["aliases"] == {}
    first = ok(
        api["ana"].post(
            "/registered-models/churn/versions",
            json={"source": "s3://b/m1", "description": "v1", "tags": {"k": "v"}},
        ),
        201,
    )
    assert (first["version"], first["source"], first["tags"]) == (1, "s3://b/m1", {"k": "v"})
    second = ok(api["ana"].post("/registered-models/churn/versions", json={"source": "x"}), 201)
    assert second["version"] == 2 and second["current_stage"] == "None"

    ok(api["ana"].put("/registered-models/churn/aliases/champion", json={"version": 2}), 204)
    held = ok(api["vic"].get("/registered-models/churn/aliases/champion"))
    assert held["version"] == 2 and held["aliases"] == ["champion"]
    model = ok(api["vic"].get("/registered-models/churn"))
    assert model["aliases"] == {"champion": 2}
    assert [v["version"] for v in model["latest_versions"]] == [2]
    (info,) = ok(api["vic"].get("/registered-models/churn/aliases"))["items"]
    assert (info["alias"], info["version"], info["updated_by"]) == ("champion", 2, "ana")
    assert info["updated_at"] > 0

    versions = ok(api["vic"].get("/model-versions", params={"filter": "name = 'churn'"}))
    assert [v["version"] for v in versions["items"]] == [2, 1]  # newest first by default
    page = ok(api["vic"].get("/model-versions", params={"max_results": 1}))
    assert len(page["items"]) == 1 and page["next_page_token"]
    rest = ok(
        api["vic"].get(
            "/model-versions", params={"max_results": 1, "page_token": page["next_page_token"]}
        )
    )
    assert [v["version"] for v in rest["items"]] == [1] and rest["next_page_token"] is None
    found = ok(api["vic"].get("/registered-models", params={"filter": "tags.team = 'ads'"}))
    assert [m["name"] for m in found["items"]] == ["churn"]


def test_updates_tags_stages_renames_and_deletes(api: Api) -> None:
    register(api)
    ana = api["ana"]
    ok(ana.patch("/registered-models/churn", json={"description": "new"}))
    ok(ana.put("/registered-models/churn/tags/a/b", json={"value": "1"}), 204)
    ok(ana.put("/registered-models/churn/versions/1/tags/k", json={"value": "2"}), 204)
    staged = ok(
        ana.post(
            "/registered-models/churn/versions/1/stage",
            json={"stage": "production", "reason": "go"},
        )
    )
    assert staged["current_stage"] == "Production"
    assert ok(ana.get("/registered-models/churn"))["tags"] == {"a/b": "1"}
    ok(ana.delete("/registered-models/churn/tags/a/b"), 204)
    renamed = ok(ana.post("/registered-models/churn/rename", json={"new_name": "churn2"}))
    assert renamed["name"] == "churn2" and renamed["description"] == "new"
    version = ok(ana.get("/registered-models/churn2/versions/1"))
    assert version["tags"] == {"k": "2"} and version["current_stage"] == "Production"
    ok(ana.delete("/registered-models/churn2/versions/2", params={"reason": "bad"}), 204)
    ok(ana.delete("/registered-models/churn2", params={"reason": "retired"}), 204)
    error(ana.get("/registered-models/churn2"), 404, "RESOURCE_DOES_NOT_EXIST")
    deleted = audit(api, action="registered_model.delete")
    assert [(e["target"], e["reason"], e["actor"]) for e in deleted] == [
        ("models:/churn2", "retired", "ana")
    ]
    staged_entry = audit(api, action="model_version.transition_stage")[0]
    assert (staged_entry["reason"], staged_entry["details"]["stage"]) == ("go", "Production")


def test_error_shapes(api: Api) -> None:
    register(api, versions=1)
    ana = api["ana"]
    assert "nope" in error(ana.get("/registered-models/nope"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(ana.get("/registered-models/churn/versions/9"), 404, "RESOURCE_DOES_NOT_EXIST")
    message = error(
        ana.get("/registered-models/churn/aliases/champion"), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert "champion" in message
    missing = ana.put("/registered-models/churn/aliases/champion", json={"version": 9})
    error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    assert "positive integer" in error(
        ana.get("/registered-models/churn/versions/x"), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "reserved" in error(
        ana.put("/registered-models/churn/aliases/v3", json={"version": 1}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(ana.post("/registered-models", json={"name": "churn"}), 400, "RESOURCE_ALREADY_EXISTS")
    assert "'name'" in error(
        ana.post("/registered-models", json={}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "'version'" in error(
        ana.put("/registered-models/churn/aliases/champion", json={"version": 0}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert (
        "filter"
        in error(
            ana.get("/registered-models", params={"filter": "metrics.x > 1"}),
            400,
            "INVALID_PARAMETER_VALUE",
        ).lower()
    )
    # A viewer reads but cannot change; without a token nothing passes.
    ok(api["vic"].get("/registered-models/churn"))
    assert "viewer" in error(
        api["vic"].post("/registered-models", json={"name": "x"}), 403, "PERMISSION_DENIED"
    )
    error(api["nobody"].get("/registered-models"), 401, "UNAUTHENTICATED")


def test_the_audit_actor_is_the_token_never_the_clients_claim(api: Api) -> None:
    register(api, versions=2)
    # A request cannot even carry an actor: unknown fields are refused.
    assert "actor" in error(
        api["ana"].put(
            "/registered-models/churn/aliases/champion", json={"version": 1, "actor": "root"}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    # The REST adapter is handed a drafted change naming someone else; the server
    # builds its own change with the authenticated token's name.
    with RestClient(api.url, token=api.tokens["ana"], max_attempts=1) as client:
        store = RestRegistryStore(client)
        forged = Change(
            audit=AuditDraft(actor="root", action="alias.set", target="x", reason="forged?")
        )
        store.set_alias(ModelName("churn"), "champion", 2, actor="root", now=1, change=forged)
        # The service path over REST records the same token, whatever actor it is given.
        remote = RegistryService(store, RestAuditStore(client))
        remote.set_alias("churn", "challenger", 1, actor="mallory", reason="shadow")
        infos = {i.alias: i for i in remote.list_aliases("churn")}
    assert infos["champion"].updated_by == "ana" and infos["challenger"].updated_by == "ana"
    moves = audit(api, action="alias.set")
    assert [(e["actor"], e["target"], e["reason"]) for e in moves] == [
        ("ana", "models:/churn@champion", "forged?"),
        ("ana", "models:/churn@challenger", "shadow"),
    ]
    assert {e["actor"] for e in audit(api)} == {"ana"}
    assert ok(api["vic"].get("/audit/verify")) == {
        "ok": True,
        "checked": len(audit(api)),
        "first_broken_seq": None,
        "problem": "",
    }


def test_clients_cannot_write_the_audit_log_or_consume_approvals() -> None:
    client = RestClient("http://127.0.0.1:9", max_attempts=1)  # nothing is sent
    try:
        with pytest.raises(PermissionDenied, match="only the server writes"):
            RestAuditStore(client).append_audit(
                AuditDraft(actor="x", action="alias.set", target="t"), now=1
            )
        with pytest.raises(PermissionDenied, match="consumes"):
            RestGovernanceStore(client).decide_approval(
                ApprovalId("a"),
                state=ApprovalState.CONSUMED,
                decided_by="x",
                at=1,
                reason="",
                change=Change(audit=AuditDraft(actor="x", action="a", target="t")),
            )
        with pytest.raises(NotImplementedFeature, match="dispatcher"):
            RestWebhookStore(client).due_deliveries(now=1)
        with pytest.raises(NotFound):
            RestRegistryStore(client).get_registered_model(ModelName(""))
    finally:
        client.close()


# -- governance over the wire ------------------------------------------------------------


def test_a_high_risk_promotion_needs_a_second_persons_approval(api: Api) -> None:
    register(api, versions=2)
    ok(api["ana"].put("/registered-models/churn/aliases/champion", json={"version": 1}), 204)
    assert "admin" in error(
        api["ana"].put("/registered-models/churn/policy", json={"risk": "high"}),
        403,
        "PERMISSION_DENIED",
    )
    policy = ok(
        api["root"].put(
            "/registered-models/churn/policy", json={"risk": "high", "reason": "revenue model"}
        )
    )
    assert (policy["risk"], policy["protected_aliases"], policy["updated_by"]) == (
        "high",
        ["champion"],
        "root",
    )
    assert ok(api["vic"].get("/registered-models/churn/policy"))["policy"]["risk"] == "high"

    refused = error(
        api["ana"].put("/registered-models/churn/aliases/champion", json={"version": 2}),
        403,
        "PERMISSION_DENIED",
    )
    assert "approval" in refused
    (attempt,) = audit(api, action="alias.set.refused")
    assert (attempt["actor"], attempt["details"]["version"]) == ("ana", 2)

    approval = ok(
        api["ana"].post("/approvals", json={"name": "churn", "version": 2, "reason": "better AUC"}),
        201,
    )
    assert (approval["requested_by"], approval["state"], approval["alias"]) == (
        "ana",
        "pending",
        "champion",
    )
    path = f"/approvals/{approval['approval_id']}"
    # the requester cannot approve herself, an editor cannot approve at all
    error(api["ana"].post(f"{path}/grant", json={}), 403, "PERMISSION_DENIED")
    error(api["vic"].post(f"{path}/grant", json={}), 403, "PERMISSION_DENIED")
    granted = ok(api["bea"].post(f"{path}/grant", json={"reason": "checked"}))
    assert (granted["state"], granted["decided_by"]) == ("approved", "bea")
    error(api["bea"].post(f"{path}/reject", json={"reason": "late"}), 409, "RESOURCE_CONFLICT")

    ok(api["ana"].put("/registered-models/churn/aliases/champion", json={"version": 2}), 204)
    assert ok(api["vic"].get(path))["state"] == "consumed"
    pending = ok(api["vic"].get("/approvals", params={"state": "pending"}))
    assert pending["items"] == []
    error(api["vic"].get("/approvals/nope"), 404, "RESOURCE_DOES_NOT_EXIST")
    actions = [(e["actor"], e["action"]) for e in audit(api, target_prefix="models:/churn@")]
    assert actions == [
        ("ana", "alias.set"),
        ("ana", "alias.set.refused"),
        ("ana", "approval.request"),
        ("bea", "approval.grant"),
        ("ana", "approval.consume"),  # used up before the move, so no two moves share it
        ("ana", "alias.set"),
    ]


def test_audit_verify_names_the_first_edited_entry(api: Api) -> None:
    register(api, versions=3)
    entries = audit(api)
    assert len(entries) == 4
    head = ok(api["vic"].get("/audit/head"))
    assert (head["seq"], head["entry_hash"]) == (4, entries[-1]["entry_hash"])
    path = api.services.settings.store_uri.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2")
    result = ok(api["vic"].get("/audit/verify"))
    assert (result["ok"], result["first_broken_seq"], result["checked"]) == (False, 2, 1)
    assert "entry 2" in result["problem"]


def test_webhooks_are_for_admins_and_keep_their_secret(api: Api) -> None:
    for who in ("vic", "ana", "bea"):
        error(api[who].get("/webhooks"), 403, "PERMISSION_DENIED")
    secret = "s" * 24
    hook = ok(
        api["root"].post(
            "/webhooks",
            json={
                "url": "http://127.0.0.1:9/hook",
                "secret": secret,
                "events": ["approval.granted"],
            },
        ),
        201,
    )
    assert (hook["secret"], hook["events"], hook["active"]) == (secret, ["approval.granted"], True)
    (listed,) = ok(api["root"].get("/webhooks"))["items"]
    assert listed == hook
    assert ok(api["root"].get("/webhooks/deliveries"))["items"] == []
    assert "scheme" in error(
        api["root"].post("/webhooks", json={"url": "ftp://x"}), 400, "INVALID_PARAMETER_VALUE"
    )
    ok(api["root"].delete(f"/webhooks/{hook['webhook_id']}"), 204)
    error(api["root"].delete(f"/webhooks/{hook['webhook_id']}"), 404, "RESOURCE_DOES_NOT_EXIST")
    added = audit(api, action="webhook.add")
    assert [(e["actor"], e["details"]["url"]) for e in added] == [
        ("root", "http://127.0.0.1:9/hook")
    ]
    # the remote adapter sees the server's record, id and secret included
    with RestClient(api.url, token=api.tokens["root"], max_attempts=1) as client:
        assert RestWebhookStore(client).list_webhooks() == []


def test_the_openapi_description_lists_the_registry(api: Api) -> None:
    spec = ok(api["vic"].get("/openapi.json"))
    paths = spec["paths"]
    for path in (
        "/registered-models",
        "/registered-models/{name}/aliases/{alias}",
        "/model-versions",
        "/approvals/{approval_id}/grant",
        "/audit/verify",
        "/webhooks",
    ):
        assert path in paths, path
    assert paths["/registered-models/{name}/aliases/{alias}"]["put"]["operationId"] == "set_alias"
