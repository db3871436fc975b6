"""The SDK's deployment functions, embedded and against a live server, same assertions.

Model versions are folders with a real MLmodel signature (v1 and v3 output
label and score, v2 label only), registered by path; the live server runs on
this machine, so its catalog reads the same files.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import moorline
from moorline.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from moorline.serving.models import PolicyKind, TrafficPolicy
from tests.sdk.conftest import Backend
from tests.support.deployments import model_folder

OUTPUTS = [["label", "score"], ["label"], ["label", "score"]]


@pytest.fixture
def model(backend: Backend, tmp_path: Path) -> str:
    """A model no other test uses, with three versions and champion on v1."""
    name = f"churn-{uuid.uuid4().hex[:10]}"
    for i, cols in enumerate(OUTPUTS, start=1):
        moorline.register_model(str(model_folder(tmp_path / f"v{i}", cols)), name)
    moorline.set_alias(name, "champion", 1)
    return name


@pytest.fixture
def actor(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MOORLINE_USER", "ana")
    return "ana" if backend.kind == "local" else "anonymous"


def test_deploy_split_guard_and_roll_back(backend: Backend, model: str, actor: str) -> None:
    name = f"{model}-prod"
    created = moorline.deploy(
        name, model, alias="champion", settings={"max_batch_size": 8}, reason="first"
    )
    assert created.policy == TrafficPolicy.single(1) and created.revision == 1
    assert created.settings.max_batch_size == 8 and created.updated_by == actor
    assert moorline.deploy(name, model, version=1).revision == 1  # nothing to change

    canary = moorline.set_traffic(name, {1: 90, 3: 10}, reason="canary v3")
    assert canary.policy.kind is PolicyKind.CANARY and canary.revision == 2
    ab = moorline.set_traffic(name, {1: 50, 3: 50}, sticky=True, expected_revision=2)
    assert ab.policy.kind is PolicyKind.AB
    shadow = moorline.set_traffic(name, {1: 100}, shadows=[3])
    assert shadow.policy.describe() == "shadow v1 (copies to v3)"
    assert moorline.get_deployment(name) == shadow
    with pytest.raises(Conflict, match="revision 4, not 2"):
        moorline.set_traffic(name, TrafficPolicy.single(3), expected_revision=2)

    issued = moorline.declare_consumer(model, "billing", owner="team-billing", fields=["score"])
    assert issued.api_key.startswith(f"mlc_{issued.consumer.key_id}_")
    assert issued.consumer.fields == ("score",)
    with pytest.raises(PermissionDenied, match=r"'score'.*billing"):
        moorline.deploy(name, model, version=2)
    forced = moorline.deploy(name, model, version=2, override=True, reason="billing agreed")
    assert forced.policy == TrafficPolicy.single(2) and forced.revision == 5

    back = moorline.rollback(name, reason="v2 lost the score")
    assert back.policy == shadow.policy and back.revision == 6
    first = moorline.rollback(name, to_revision=1)
    assert first.policy == TrafficPolicy.single(1) and first.settings.max_batch_size == 8

    with pytest.raises(NotFound):
        moorline.get_deployment(f"{model}-nope")
    with pytest.raises(NotFound):
        moorline.deploy(f"{model}-x", model, alias="nope")


def test_weights_are_checked_before_anything_is_sent(backend: Backend, model: str) -> None:
    moorline.deploy(f"{model}-prod", model, version=1)
    with pytest.raises(InvalidArgument, match="sum to 50"):
        moorline.set_traffic(f"{model}-prod", {1: 50})
    with pytest.raises(InvalidArgument, match="exactly one primary"):
        moorline.set_traffic(f"{model}-prod", {1: 50, 3: 50}, shadows=[2])
    with pytest.raises(InvalidArgument, match="exactly one of version or alias"):
        moorline.deploy(f"{model}-prod", model)
    assert moorline.get_deployment(f"{model}-prod").revision == 1


def test_the_functions_are_exported_lazily() -> None:
    from moorline.sdk import serving

    for name in ("deploy", "set_traffic", "rollback", "get_deployment", "declare_consumer"):
        assert getattr(moorline, name) is getattr(serving, name)
        assert name in moorline.__all__ and name in dir(moorline)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        moorline.nope  # noqa: B018
