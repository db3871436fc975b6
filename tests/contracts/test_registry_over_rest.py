"""The registry over the REST adapter behaves like the registry over a local store.

Why this is not one more entry in ``conftest.REGISTRY_BACKENDS``: the
registry ports' contract has the STORE write the change the client drafted
(its actor, its times, its ids, audit entries appended on their own,
outbox deliveries). Over HTTP the server must refuse exactly that -- a
client could sign the audit log in anyone's name -- so the REST adapter
sends the operation and its reason, and the server re-runs it through its
own services with the caller it authenticated (see
``moorline.store.rest.registry``).

What must hold instead is that the SERVICES behave the same: one scenario
(models, versions, tags, stages, aliases, a policy refusal, a two-person
approval, webhooks, renames and deletes) runs through the services over a
local SQLite store and over the REST adapters against a live server whose
tokens carry the same names as the local actors; the final state and the
audit log must come out identical, ids and clock readings aside.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from moorline.auth.models import Role
from moorline.bootstrap import Services, Settings, build_services
from moorline.errors import AlreadyExists, Conflict, NotFound, PermissionDenied
from moorline.registry.governance import Actor
from moorline.server.app import create_app
from tests.contracts.rest_backend import fresh_services, threaded_server

PEOPLE = {"root": Role.ADMIN, "ana": Role.EDITOR, "bea": Role.APPROVER}
#: Who does each step: the local actor name, or the token of that name on the server.
Act = Callable[[str], Services]
_ID = re.compile(r"[0-9a-f]{16}")


def _actor(who: str) -> Actor:
    return Actor(name=who, role=PEOPLE[who])


def scenario(act: Act) -> dict[str, Any]:
    """Everything a user does with the registry, then what can be observed of it."""
    ana, bea, root = act("ana"), act("bea"), act("root")
    r = ana.registry
    r.create_registered_model(
        "churn", description="predicts churn", tags={"team": "ml"}, actor="ana"
    )
    with pytest.raises(AlreadyExists, match="churn"):
        r.create_registered_model("churn", actor="ana")
    r.create_model_version("churn", "s3://b/1", run_id=None, tags={"k": "v"}, actor="ana")
    r.create_model_version("churn", "s3://b/2", description="second", actor="ana")
    r.set_alias("churn", "champion", 1, actor="ana", reason="first")
    r.set_alias("churn", "challenger", "2", actor="ana")
    r.set_registered_model_tag("churn", "owner", "ml-team", actor="ana")
    r.delete_registered_model_tag("churn", "team", actor="ana")
    r.set_model_version_tag("churn", 2, "framework", "xgb", actor="ana")
    r.delete_model_version_tag("churn", 1, "k", actor="ana")
    r.update_model_version("churn", 2, description="second, retrained", actor="ana")
    r.update_registered_model("churn", description="predicts churn weekly", actor="ana")
    r.transition_stage("churn", 1, "staging", actor="ana")
    r.transition_stage(
        "churn", 2, "Staging", archive_existing_versions=True, actor="ana", reason="canary"
    )
    r.delete_alias("churn", "challenger", actor="ana", reason="done")
    with pytest.raises(NotFound, match="challenger"):
        r.delete_alias("churn", "challenger", actor="ana")

    root.governance.set_policy(
        "churn", actor=_actor("root"), risk="high", protected_aliases=["champion"], reason="money"
    )
    with pytest.raises(PermissionDenied, match="approval"):
        r.set_alias("churn", "champion", 2, actor="ana", reason="better auc")
    request = ana.governance.request_approval(
        "churn", "champion", 2, actor=_actor("ana"), reason="better auc"
    )
    with pytest.raises(PermissionDenied, match="approver"):
        ana.governance.grant(request.approval_id, actor=_actor("ana"))
    bea.governance.grant(request.approval_id, actor=_actor("bea"), reason="checked")
    with pytest.raises(Conflict, match="not pending"):
        bea.governance.reject(request.approval_id, actor=_actor("bea"), reason="late")
    r.set_alias("churn", "champion", 2, actor="ana", reason="approved")

    hook = root.webhooks.add(
        "http://127.0.0.1:9/hook", actor=_actor("root"), events=["model_version.alias_set"]
    )
    root.webhooks.add("http://127.0.0.1:9/gone", actor=_actor("root"), secret="x" * 20)
    gone = next(w for w in root.webhooks.list_webhooks() if w.url.endswith("/gone"))
    root.webhooks.delete(gone.webhook_id, actor=_actor("root"))

    r.rename_registered_model("churn", "churn-v2", actor="ana")
    r.create_registered_model("scratch", actor="ana")
    r.delete_registered_model("scratch", actor="ana", reason="typo")
    r.create_model_version("churn-v2", "s3://b/3", actor="ana")
    r.delete_model_version("churn-v2", 3, actor="ana", reason="bad upload")
    r.create_model_version("churn-v2", "s3://b/4", actor="ana")

    reader = act("bea")
    model = reader.registry.get_registered_model("churn-v2")
    versions = reader.registry.search_model_versions(filter_string="name = 'churn-v2'").items
    policy = reader.governance.get_policy("churn-v2")
    assert policy is not None
    approvals = reader.governance.list_approvals(name="churn-v2")
    ids = {a.approval_id: f"approval-{n}" for n, a in enumerate(approvals)}
    ids[hook.webhook_id] = "hook"
    ids[gone.webhook_id] = "gone"
    audit = root.audit.list_entries()
    return {
        "model": _timeless(asdict(model)),
        "versions": [_timeless(asdict(v)) for v in versions],
        "by_alias": reader.registry.resolve("models:/churn-v2@champion").version,
        "latest": reader.registry.resolve("models:/churn-v2/latest").version,
        "staged": reader.registry.resolve("models:/churn-v2/Staging").version,
        "aliases": [
            (a.alias, a.version, a.updated_by) for a in reader.registry.list_aliases("churn-v2")
        ],
        "search": [
            m.name
            for m in reader.registry.search_registered_models(
                filter_string="name LIKE 'churn%'", order_by=["name DESC"]
            ).items
        ],
        "policy": (policy.risk.value, policy.protected_aliases, policy.updated_by),
        "approvals": [
            (ids[a.approval_id], a.state.value, a.requested_by, a.decided_by, a.decision_reason)
            for a in approvals
        ],
        "webhooks": [(w.url, w.events, w.active) for w in root.webhooks.list_webhooks()],
        "audit": [
            (e.seq, e.actor, e.action, _ids(e.target, ids), _ids(e.details, ids), e.reason)
            for e in audit
        ],
        "verified": root.audit.verify().ok,
    }


def _timeless(record: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in record.items():
        if key.endswith("timestamp"):
            continue
        if key == "latest_versions":
            value = [_timeless(v) for v in value]
        out[key] = value
    return out


def _ids(value: Any, ids: dict[str, str]) -> Any:
    """Ids the two stores draw differently, replaced by stable names."""
    if isinstance(value, str):
        return _ID.sub(lambda m: ids.get(m.group(0), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _ids(v, ids) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_ids(v, ids) for v in value]
    return value


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Services]:
    services = fresh_services(tmp_path / "local")
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[dict[str, Services]]:
    """Remote services per person, each with a token of that name on a server requiring them."""
    server_side = fresh_services(tmp_path / "server")
    clients: dict[str, Services] = {}
    try:
        with (
            threaded_server() as server,
            server.serving(create_app(server_side, auth_required=True)) as url,
        ):
            for name, role in PEOPLE.items():
                secret = server_side.auth.create_token(name, role).secret
                clients[name] = build_services(Settings(store_uri=url, token=secret))
            yield clients
    finally:
        for services in clients.values():
            services.close()
        server_side.close()


def test_the_registry_over_rest_behaves_like_a_local_store(
    local: Services, remote: dict[str, Services]
) -> None:
    here = scenario(lambda who: local)
    there = scenario(lambda who: remote[who])
    assert there == here
    # ...and both are what they should be, not merely equal.
    assert here["verified"] is True
    assert here["aliases"] == [("champion", 2, "ana")]
    assert (here["by_alias"], here["latest"], here["staged"]) == (2, 4, 2)
    assert here["search"] == ["churn-v2"]
    assert here["approvals"] == [("approval-0", "consumed", "ana", "bea", "checked")]
    assert here["webhooks"] == [("http://127.0.0.1:9/hook", ("model_version.alias_set",), True)]
    assert here["model"]["tags"] == {"owner": "ml-team"}
    assert [v["version"] for v in here["versions"]] == [4, 2, 1]
    assert [v["current_stage"] for v in here["versions"]] == ["None", "Staging", "Archived"]
    actions = [(actor, action) for _, actor, action, *_ in here["audit"]]
    assert ("ana", "alias.set.refused") in actions
    assert actions.count(("ana", "alias.set")) == 3
    assert ("bea", "approval.grant") in actions and ("root", "policy.set") in actions
    assert ("root", "webhook.add") in actions and ("root", "webhook.delete") in actions
