"""The SDK's registry functions, embedded and against a live server, same assertions.

The one expected difference is who the change is recorded as: locally the
``MOORLINE_USER``; on a server, whoever the server authenticated
(``anonymous`` on a loopback server without tokens).
"""

from __future__ import annotations

import uuid

import pytest

import moorline
from moorline.errors import InvalidArgument, NotFound, PermissionDenied
from moorline.registry.models import ModelVersion
from tests.sdk.conftest import Backend


@pytest.fixture
def name() -> str:
    """A model name no other test uses (the server's store is shared by the session)."""
    return f"churn-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def actor(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MOORLINE_USER", "ana")
    return "ana" if backend.kind == "local" else "anonymous"


def _trained(experiment: str, auc: float) -> str:
    moorline.set_experiment(experiment)
    with moorline.start_run() as run:
        moorline.log_metric("auc", auc)
        return run.info.run_id


def test_register_alias_and_look_up(backend: Backend, name: str, actor: str) -> None:
    first = _trained(name, 0.8)
    second = _trained(name, 0.9)
    v1 = moorline.register_model(f"runs:/{first}/model", name)
    v2 = moorline.register_model(
        f"runs:/{second}/model", name, description="bigger", tags={"framework": "xgb"}
    )
    assert isinstance(v1, ModelVersion)
    assert (v1.version, v1.run_id, v1.source) == (1, first, f"runs:/{first}/model")
    assert (v2.version, v2.description, v2.tags) == (2, "bigger", {"framework": "xgb"})
    assert v1.user_id == v2.user_id == actor

    moorline.set_alias(name, "champion", 2, reason="auc 0.9")
    moorline.set_alias(name, "challenger", "1")
    assert moorline.get_model_version(name, "champion").version == 2
    assert moorline.get_model_version(name, 1).aliases == ("challenger",)
    assert moorline.get_model_version(name, "2").run_id == second
    model = moorline.get_registered_model(name)
    assert model.aliases == {"champion": 2, "challenger": 1}
    assert model.user_id == actor

    found = moorline.search_model_versions(f"name = '{name}'")
    assert [v.version for v in found] == [2, 1]
    assert [v.version for v in moorline.search_model_versions(f"name = '{name}'", max_results=1)]
    assert moorline.search_model_versions(f"name = '{name}' and run_id = '{first}'")[0].version == 1

    moorline.delete_alias(name, "challenger", reason="done")
    assert moorline.get_registered_model(name).aliases == {"champion": 2}
    with pytest.raises(NotFound, match="challenger"):
        moorline.get_model_version(name, "challenger")


def test_register_copies_and_other_sources(backend: Backend, name: str, actor: str) -> None:
    run_id = _trained(name, 0.7)
    moorline.register_model(f"runs:/{run_id}/model", name)
    moorline.set_alias(name, "champion", 1)
    copy = moorline.register_model(f"models:/{name}@champion", f"{name}-prod")
    # pinned to the version the alias named, so a later move does not change it
    assert (copy.version, copy.source, copy.run_id) == (1, f"models:/{name}/1", run_id)
    external = moorline.register_model("s3://bucket/models/churn", name)
    assert (external.version, external.source, external.run_id) == (
        2,
        "s3://bucket/models/churn",
        None,
    )


def test_mistakes_change_nothing(backend: Backend, name: str, actor: str) -> None:
    with pytest.raises(NotFound, match="feedbeef"):
        moorline.register_model("runs:/feedbeef/model", name)
    with pytest.raises(NotFound):
        moorline.get_registered_model(name)  # the failed registration created nothing
    with pytest.raises(InvalidArgument, match="non-empty"):
        moorline.register_model("  ", name)
    run_id = _trained(name, 0.5)
    moorline.register_model(f"runs:/{run_id}/m", name)
    with pytest.raises(InvalidArgument, match="reserved"):
        moorline.set_alias(name, "latest", 1)
    with pytest.raises(NotFound):
        moorline.set_alias(name, "champion", 5)
    with pytest.raises(NotFound, match="champion"):
        moorline.get_model_version(name, "champion")


def test_a_protected_alias_is_refused_the_same_way(backend: Backend, name: str, actor: str) -> None:
    from moorline.auth.models import Role
    from moorline.registry.governance import Actor
    from moorline.sdk._session import SESSION

    for auc in (0.8, 0.9):
        moorline.register_model(f"runs:/{_trained(name, auc)}/model", name)
    moorline.set_alias(name, "champion", 1)
    services = SESSION.services()
    services.governance.set_policy(name, actor=Actor(name="root", role=Role.ADMIN), risk="high")
    with pytest.raises(PermissionDenied, match="approval"):
        moorline.set_alias(name, "champion", 2, reason="better")
    assert moorline.get_model_version(name, "champion").version == 1
    (refused,) = services.audit.list_entries(
        action="alias.set.refused", target_prefix=f"models:/{name}@"
    )
    assert (refused.actor, refused.reason, refused.details["version"]) == (actor, "better", 2)
