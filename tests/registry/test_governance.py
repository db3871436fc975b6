"""Promotion policies and approvals, through the real registry and a real SQLite store."""

from __future__ import annotations

import pytest

from moorline.auth.models import Role
from moorline.bootstrap import Services
from moorline.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from moorline.registry.governance import Actor
from moorline.registry.models import ApprovalState, RiskLevel
from tests.registry.conftest import make_model

ADMIN = Actor(name="root", role=Role.ADMIN)
ANA = Actor(name="ana", role=Role.EDITOR)  # data scientist: requests
BOB = Actor(name="bob", role=Role.APPROVER)  # reviewer: approves
CAROL = Actor(name="carol", role=Role.APPROVER)
VIC = Actor(name="vic", role=Role.VIEWER)


def _champion(services: Services, name: str) -> int:
    return services.registry.get_version_by_alias(name, "champion").version


def _high_risk(services: Services) -> list[int]:
    versions = make_model(services, "churn", [{"auc": 0.8}, {"auc": 0.85}, {"auc": 0.9}])
    services.registry.set_alias("churn", "champion", versions[0], actor="ana")
    services.governance.set_policy("churn", actor=ADMIN, risk="high")
    return versions


def test_high_risk_champion_needs_an_approval_from_a_second_person(services: Services) -> None:
    v1, v2, v3 = _high_risk(services)
    registry, gov = services.registry, services.governance

    with pytest.raises(PermissionDenied) as no_approval:
        registry.set_alias("churn", "champion", v2, actor="ana", reason="better auc")
    message = no_approval.value.message
    assert "second person" in message
    assert "moorline approvals request churn champion 2" in message
    assert _champion(services, "churn") == v1

    request = gov.request_approval("churn", "champion", v2, actor=ANA, reason="auc 0.85 > 0.80")
    assert request.state == ApprovalState.PENDING
    # Even with the approver role, the requester cannot approve their own request.
    with pytest.raises(PermissionDenied, match="an approver other than the requester"):
        gov.grant(request.approval_id, actor=Actor(name="ana", role=Role.APPROVER))
    with pytest.raises(PermissionDenied) as pending:
        registry.set_alias("churn", "champion", v2, actor="ana")
    assert request.approval_id in pending.value.message  # says which request is waiting
    assert _champion(services, "churn") == v1

    granted = gov.grant(request.approval_id, actor=BOB, reason="checked the eval report")
    assert (granted.state, granted.decided_by) == (ApprovalState.APPROVED, "bob")

    # The approval names (churn, champion, 2): it does not authorise version 3, nor a third person.
    with pytest.raises(PermissionDenied):
        registry.set_alias("churn", "champion", v3, actor="ana")
    with pytest.raises(PermissionDenied):
        registry.set_alias("churn", "champion", v2, actor="carol")
    assert _champion(services, "churn") == v1

    registry.set_alias("churn", "champion", v2, actor="ana", reason="approved")
    assert _champion(services, "churn") == v2
    used = gov.get_approval(request.approval_id)
    assert used.state == ApprovalState.CONSUMED

    # One approval, one move: moving on (or back) needs a new approval.
    with pytest.raises(PermissionDenied, match="second person"):
        registry.set_alias("churn", "champion", v3, actor="ana")
    with pytest.raises(PermissionDenied, match="second person"):
        registry.set_alias("churn", "champion", v1, actor="ana")
    second = gov.request_approval("churn", "champion", v3, actor=ANA, reason="auc 0.9")
    gov.grant(second.approval_id, actor=CAROL)
    # The approver may carry out the move too.
    registry.set_alias("churn", "champion", v3, actor="carol")
    assert _champion(services, "churn") == v3
    assert gov.get_approval(second.approval_id).state == ApprovalState.CONSUMED


def test_refused_moves_are_audited_and_the_move_records_its_approval(services: Services) -> None:
    _v1, v2, _ = _high_risk(services)
    registry, gov = services.registry, services.governance
    with pytest.raises(PermissionDenied):
        registry.set_alias("churn", "champion", v2, actor="ana", reason="try")
    refused = services.audit.list_entries(action="alias.set.refused")
    assert len(refused) == 1
    entry = refused[0]
    assert (entry.actor, entry.target, entry.reason) == ("ana", "models:/churn@champion", "try")
    assert entry.details["version"] == v2
    assert entry.details["error_code"] == "PERMISSION_DENIED"
    assert "second person" in entry.details["error"]

    request = gov.request_approval("churn", "champion", v2, actor=ANA, reason="r")
    gov.grant(request.approval_id, actor=BOB)
    registry.set_alias("churn", "champion", v2, actor="ana")
    actions = [e.action for e in services.audit.list_entries(target_prefix="models:/churn@")]
    assert actions[-4:] == [
        "approval.request",
        "approval.grant",
        # Used up before the move, so two concurrent moves cannot share one approval.
        "approval.consume",
        "alias.set",
    ]
    moved = services.audit.list_entries(action="alias.set", target_prefix="models:/churn@")[-1]
    assert moved.details["approval_id"] == request.approval_id
    assert moved.details["previous_version"] == 1
    assert services.audit.verify().ok


def test_must_beat_refuses_a_worse_candidate_naming_the_metric(services: Services) -> None:
    v1, worse, better, no_run = make_model(
        services,
        "fraud",
        [{"auc": 0.8, "loss": 0.5}, {"auc": 0.75, "loss": 0.4}, {"auc": 0.82, "loss": 0.45}, None],
    )
    gov, registry = services.governance, services.registry
    gov.set_policy("fraud", actor=ADMIN, must_beat={"auc": "higher", "loss": "lower"})
    registry.set_alias("fraud", "champion", v1, actor="ana")  # nothing to beat yet

    with pytest.raises(PermissionDenied) as refused:
        registry.set_alias("fraud", "champion", worse, actor="ana")
    message = refused.value.message
    assert "auc" in message and "0.75" in message and "0.8" in message
    assert "higher is better" in message
    assert _champion(services, "fraud") == v1

    with pytest.raises(PermissionDenied, match="metric is missing for version 4"):
        registry.set_alias("fraud", "champion", no_run, actor="ana")

    registry.set_alias("fraud", "champion", better, actor="ana")
    assert _champion(services, "fraud") == better
    # Lower is better for loss: 0.4 beats 0.45, but auc 0.75 does not beat 0.82.
    with pytest.raises(PermissionDenied, match="auc"):
        registry.set_alias("fraud", "champion", worse, actor="ana")
    gov.set_policy("fraud", actor=ADMIN, must_beat={"loss": "lower"})
    registry.set_alias("fraud", "champion", worse, actor="ana")
    assert _champion(services, "fraud") == worse
    with pytest.raises(PermissionDenied, match=r"loss.*not better"):
        registry.set_alias("fraud", "champion", better, actor="ana")


def test_unprotected_aliases_and_models_without_policy_move_freely(services: Services) -> None:
    versions = _high_risk(services)
    services.registry.set_alias("churn", "staging", versions[2], actor="vic")
    assert services.registry.get_version_by_alias("churn", "staging").version == versions[2]
    make_model(services, "free", [{"auc": 0.1}, {"auc": 0.0}])
    services.registry.set_alias("free", "champion", 2, actor="vic")
    services.registry.set_alias("free", "champion", 1, actor="vic")
    # Re-pointing the champion at the version it already names moves nothing.
    services.registry.set_alias("churn", "champion", versions[0], actor="ana")
    assert services.audit.list_entries(action="alias.set.refused") == []


def test_roles(services: Services) -> None:
    _, v2, _ = _high_risk(services)
    gov = services.governance
    with pytest.raises(PermissionDenied, match="requires the admin role"):
        gov.set_policy("churn", actor=BOB, risk="standard")
    with pytest.raises(PermissionDenied, match="requires the editor role"):
        gov.request_approval("churn", "champion", v2, actor=VIC, reason="r")
    request = gov.request_approval("churn", "champion", v2, actor=ANA, reason="r")
    with pytest.raises(PermissionDenied, match="requires the approver role"):
        gov.grant(request.approval_id, actor=Actor(name="eve", role=Role.EDITOR))
    with pytest.raises(PermissionDenied, match="an approver other than the requester"):
        gov.reject(request.approval_id, actor=Actor(name="ana", role=Role.ADMIN), reason="no")
    # An admin who is not the requester may decide.
    assert gov.grant(request.approval_id, actor=ADMIN).decided_by == "root"
    assert services.governance.get_policy("churn").risk == RiskLevel.HIGH  # type: ignore[union-attr]


def test_reject_and_decide_only_pending(services: Services) -> None:
    _, v2, v3 = _high_risk(services)
    gov = services.governance
    request = gov.request_approval("churn", "champion", v2, actor=ANA, reason="r")
    with pytest.raises(InvalidArgument, match="reason"):
        gov.reject(request.approval_id, actor=BOB, reason=" ")
    rejected = gov.reject(request.approval_id, actor=BOB, reason="eval set leaked")
    assert (rejected.state, rejected.decision_reason) == (ApprovalState.REJECTED, "eval set leaked")
    with pytest.raises(Conflict, match="rejected, not pending"):
        gov.grant(request.approval_id, actor=CAROL)
    with pytest.raises(PermissionDenied):  # a rejected approval authorises nothing
        services.registry.set_alias("churn", "champion", v2, actor="ana")

    other = gov.request_approval("churn", "champion", v3, actor=ANA, reason="r2")
    assert [a.approval_id for a in gov.list_approvals(name="churn")] == [
        other.approval_id,
        request.approval_id,
    ]
    assert [a.approval_id for a in gov.list_approvals(state="pending")] == [other.approval_id]
    with pytest.raises(InvalidArgument, match="Invalid approval state"):
        gov.list_approvals(state="maybe")
    with pytest.raises(NotFound):
        gov.request_approval("churn", "champion", 99, actor=ANA, reason="r")
    with pytest.raises(NotFound):
        gov.grant("0" * 16, actor=BOB)


def test_policy_validation_and_effective_policy(services: Services) -> None:
    make_model(services, "m", [{"auc": 0.5}])
    gov = services.governance
    default = gov.effective_policy("m")
    assert default.protected_aliases == () and gov.get_policy("m") is None
    with pytest.raises(InvalidArgument, match="'higher' or 'lower'"):
        gov.set_policy("m", actor=ADMIN, must_beat={"auc": "bigger"})
    with pytest.raises(InvalidArgument, match="Invalid risk"):
        gov.set_policy("m", actor=ADMIN, risk="extreme")
    with pytest.raises(InvalidArgument, match="reserved"):
        gov.set_policy("m", actor=ADMIN, protected_aliases=["latest"])
    with pytest.raises(NotFound):
        gov.set_policy("missing", actor=ADMIN)
    policy = gov.set_policy(
        "m",
        actor=ADMIN,
        risk="HIGH",
        protected_aliases=["champion", "prod"],
        must_beat={"auc": "Higher"},
        reason="regulated",
    )
    stored = gov.get_policy("m")
    assert stored == policy
    assert stored is not None
    assert (stored.risk, stored.protected_aliases, stored.must_beat, stored.updated_by) == (
        RiskLevel.HIGH,
        ("champion", "prod"),
        {"auc": "higher"},
        "root",
    )
    entry = services.audit.list_entries(action="policy.set")[-1]
    assert (entry.target, entry.reason, entry.details["risk"]) == ("models:/m", "regulated", "high")


@pytest.mark.postgres
def test_two_person_rule_on_postgres(pg_services: Services) -> None:
    services = pg_services
    _v1, v2, _ = _high_risk(services)
    gov = services.governance
    request = gov.request_approval("churn", "champion", v2, actor=ANA, reason="r")
    with pytest.raises(PermissionDenied, match="an approver other than the requester"):
        gov.grant(request.approval_id, actor=Actor(name="ana", role=Role.ADMIN))
    gov.grant(request.approval_id, actor=BOB)
    services.registry.set_alias("churn", "champion", v2, actor="ana")
    assert _champion(services, "churn") == v2
    assert gov.get_approval(request.approval_id).state == ApprovalState.CONSUMED
    with pytest.raises(PermissionDenied, match="second person"):
        services.registry.set_alias("churn", "champion", 3, actor="ana")
    assert len(services.audit.list_entries(action="alias.set.refused")) == 1
    assert services.audit.verify().ok


def test_protected_alias_of_high_risk_model_cannot_be_deleted_or_bypassed_by_stage(
    services: Services,
) -> None:
    v1, _v2, _ = _high_risk(services)
    registry = services.registry
    with pytest.raises(PermissionDenied, match="cannot be deleted"):
        registry.delete_alias("churn", "champion", actor="ana")
    assert _champion(services, "churn") == v1
    with pytest.raises(PermissionDenied, match="deprecated Production stage"):
        registry.transition_stage("churn", v1, "Production", actor="ana")
    refused = {e.action for e in services.audit.list_entries(target_prefix="models:/churn")}
    assert {"alias.delete.refused", "model_version.transition_stage.refused"} <= refused
    # Staging is not a promotion: allowed.
    assert registry.transition_stage("churn", v1, "Staging", actor="ana").current_stage == "Staging"
    assert services.audit.verify().ok
