"""Contract of GovernanceStore (promotion policies, approvals): every registry backend
must pass these."""

from __future__ import annotations

import pytest

from moorline.errors import Conflict, InvalidArgument, NotFound
from moorline.registry.models import (
    Approval,
    ApprovalId,
    ApprovalState,
    ModelName,
    PromotionPolicy,
    RiskLevel,
)
from moorline.registry.ports import GovernanceStore, RegistryStore
from tests.contracts.backends import RegistryStores
from tests.contracts.registry_support import change, entries, new_model, new_version

CHURN = ModelName("churn")


def request(
    governance: GovernanceStore,
    approval_id: str,
    *,
    name: str = "churn",
    version: int = 1,
    at: int = 100,
    by: str = "ada",
) -> Approval:
    return governance.create_approval(
        Approval(
            approval_id=ApprovalId(approval_id),
            name=ModelName(name),
            alias="champion",
            version=version,
            requested_by=by,
            requested_at=at,
            reason="better auc",
        ),
        change=change("approval.request", f"models:/{name}@champion", actor=by),
    )


def decide(
    governance: GovernanceStore,
    approval_id: str,
    state: ApprovalState,
    *,
    by: str = "cy",
    at: int = 200,
) -> Approval:
    return governance.decide_approval(
        ApprovalId(approval_id),
        state=state,
        decided_by=by,
        at=at,
        reason=f"{state.value} by {by}",
        change=change("approval.decide", "models:/churn@champion", actor=by),
    )


@pytest.fixture
def churn(registry: RegistryStore) -> RegistryStore:
    new_model(registry, "churn")
    new_version(registry, "churn")
    new_version(registry, "churn")
    return registry


# -- policies -----------------------------------------------------------------------------


def test_policy_roundtrip_and_replace(churn: RegistryStore, governance: GovernanceStore) -> None:
    assert governance.get_policy(CHURN) is None
    policy = PromotionPolicy(
        name=CHURN,
        risk=RiskLevel.HIGH,
        protected_aliases=("champion", "prod-eu"),
        must_beat={"auc": "higher", "log_loss": "lower"},
        updated_at=42,
        updated_by="root",
    )
    governance.set_policy(policy, change=change("policy.set", "models:/churn"))
    assert governance.get_policy(CHURN) == policy
    relaxed = PromotionPolicy(name=CHURN, protected_aliases=(), updated_at=43, updated_by="bo")
    governance.set_policy(relaxed, change=change("policy.set", "models:/churn"))
    assert governance.get_policy(CHURN) == relaxed


def test_policy_needs_the_model(registry: RegistryStore, governance: GovernanceStore) -> None:
    with pytest.raises(NotFound, match="'ghost'"):
        governance.set_policy(
            PromotionPolicy(name=ModelName("ghost")), change=change("policy.set", "models:/ghost")
        )
    assert governance.get_policy(ModelName("ghost")) is None


# -- approvals ----------------------------------------------------------------------------


def test_request_and_get(churn: RegistryStore, governance: GovernanceStore) -> None:
    created = request(governance, "ap-1", version=2)
    assert created.state == ApprovalState.PENDING
    assert governance.get_approval(ApprovalId("ap-1")) == created
    with pytest.raises(NotFound, match="'nope'"):
        governance.get_approval(ApprovalId("nope"))


def test_request_needs_model_and_version(churn: RegistryStore, governance: GovernanceStore) -> None:
    with pytest.raises(NotFound, match="'ghost'"):
        request(governance, "ap-1", name="ghost")
    with pytest.raises(NotFound, match="version 7"):
        request(governance, "ap-1", version=7)


def test_grant_then_consume(churn: RegistryStore, governance: GovernanceStore) -> None:
    request(governance, "ap-1")
    granted = decide(governance, "ap-1", ApprovalState.APPROVED, by="cy", at=200)
    assert granted.state == ApprovalState.APPROVED
    assert (granted.decided_by, granted.decided_at, granted.decision_reason) == (
        "cy",
        200,
        "approved by cy",
    )
    assert governance.get_approval(ApprovalId("ap-1")) == granted
    consumed = decide(governance, "ap-1", ApprovalState.CONSUMED, by="ada", at=300)
    assert consumed.state == ApprovalState.CONSUMED
    # Consuming keeps the decision: who approved, when and why.
    assert (consumed.decided_by, consumed.decided_at, consumed.decision_reason) == (
        "cy",
        200,
        "approved by cy",
    )
    with pytest.raises(Conflict, match="consumed"):
        decide(governance, "ap-1", ApprovalState.CONSUMED)


def test_deciding_twice_is_a_conflict(
    churn: RegistryStore, governance: GovernanceStore, registry_backend: RegistryStores
) -> None:
    request(governance, "ap-1")
    request(governance, "ap-2")
    decide(governance, "ap-1", ApprovalState.REJECTED)
    decide(governance, "ap-2", ApprovalState.APPROVED)
    before = len(entries(registry_backend.audit))
    for approval_id in ("ap-1", "ap-2"):
        for state in (ApprovalState.APPROVED, ApprovalState.REJECTED):
            with pytest.raises(Conflict, match=approval_id):
                decide(governance, approval_id, state, by="dee")
    with pytest.raises(Conflict, match="rejected"):
        decide(governance, "ap-1", ApprovalState.CONSUMED)
    request(governance, "ap-3")
    with pytest.raises(Conflict, match="pending"):
        decide(governance, "ap-3", ApprovalState.CONSUMED)
    with pytest.raises(InvalidArgument, match="pending"):
        decide(governance, "ap-3", ApprovalState.PENDING)
    with pytest.raises(NotFound, match="'nope'"):
        decide(governance, "nope", ApprovalState.APPROVED)
    assert len(entries(registry_backend.audit)) == before + 1  # only ap-3's request
    assert governance.get_approval(ApprovalId("ap-1")).state == ApprovalState.REJECTED
    assert governance.get_approval(ApprovalId("ap-2")).decided_by == "cy"


def test_list_newest_first_with_filters(churn: RegistryStore, governance: GovernanceStore) -> None:
    new_model(churn, "fraud")
    new_version(churn, "fraud")
    request(governance, "a", at=1)
    request(governance, "b", at=3, name="fraud")
    request(governance, "c", at=2)
    request(governance, "d", at=4)
    decide(governance, "c", ApprovalState.APPROVED)

    def ids(**kw: object) -> list[str]:
        return [a.approval_id for a in governance.list_approvals(**kw)]  # type: ignore[arg-type]

    assert ids() == ["d", "b", "c", "a"]
    assert ids(state=ApprovalState.PENDING) == ["d", "b", "a"]
    assert ids(state=ApprovalState.APPROVED) == ["c"]
    assert ids(name=CHURN) == ["d", "c", "a"]
    assert ids(name=CHURN, state=ApprovalState.PENDING) == ["d", "a"]
    assert ids(limit=2) == ["d", "b"]
    assert ids(state=ApprovalState.CONSUMED) == []


def test_approvals_follow_a_rename_and_go_with_the_model(
    churn: RegistryStore, governance: GovernanceStore
) -> None:
    request(governance, "ap-1")
    churn.rename_registered_model(
        CHURN, ModelName("churn2"), now=5, change=change("rename", "models:/churn")
    )
    assert governance.get_approval(ApprovalId("ap-1")).name == "churn2"
    assert [a.approval_id for a in governance.list_approvals(name=ModelName("churn2"))] == ["ap-1"]
    churn.delete_registered_model(ModelName("churn2"), change=change("delete", "models:/churn2"))
    with pytest.raises(NotFound):
        governance.get_approval(ApprovalId("ap-1"))
    # A new model with the old name inherits no approval.
    new_model(churn, "churn2")
    assert governance.list_approvals(name=ModelName("churn2")) == []
