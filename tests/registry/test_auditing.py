"""The audit log's use cases over real stores: filters, and verification that
detects edited and deleted entries (raw SQL behind the stores' back)."""

from __future__ import annotations

import pytest

from moorline.auth.models import Role
from moorline.bootstrap import Services
from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument
from moorline.registry.governance import Actor
from tests.registry.conftest import make_model, raw_engine

ADMIN = Actor(name="root", role=Role.ADMIN)


def _history(services: Services) -> None:
    """Six entries: 2 model creations, 3 versions, 1 alias move (by two actors)."""
    make_model(services, "churn", [{"auc": 0.8}, {"auc": 0.9}], actor="ana")
    make_model(services, "fraud", [{"auc": 0.7}], actor="bob")
    services.registry.set_alias("churn", "champion", 2, actor="bob", reason="best auc")


def _sql(services: Services, statement: str) -> None:
    engine = raw_engine(services)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def test_list_filters(services: Services) -> None:
    before = now_ms()
    _history(services)
    audit = services.audit
    every = audit.list_entries()
    assert [e.seq for e in every] == list(range(1, len(every) + 1))
    assert [e.action for e in every] == [
        "registered_model.create",
        "model_version.create",
        "model_version.create",
        "registered_model.create",
        "model_version.create",
        "alias.set",
    ]
    assert {e.actor for e in audit.list_entries(actor="bob")} == {"bob"}
    assert len(audit.list_entries(actor="bob")) == 3
    assert [e.target for e in audit.list_entries(action="model_version.create")] == [
        "models:/churn/1",
        "models:/churn/2",
        "models:/fraud/1",
    ]
    assert [e.seq for e in audit.list_entries(target_prefix="models:/fraud")] == [4, 5]
    moved = audit.list_entries(target_prefix="models:/churn@champion")
    assert [(e.actor, e.reason, e.details["version"]) for e in moved] == [("bob", "best auc", 2)]
    # Paging and limits.
    assert [e.seq for e in audit.list_entries(after_seq=4, limit=1)] == [5]
    # Time range: everything is at or after ``before``; nothing is in the future.
    assert len(audit.list_entries(since=before)) == 6
    assert audit.list_entries(since=now_ms() + 60_000) == []
    assert audit.list_entries(until=before - 1) == []
    last = every[-1]
    assert audit.list_entries(since=last.at, until=last.at, action="alias.set") == [last]
    with pytest.raises(InvalidArgument, match="range is empty"):
        audit.list_entries(since=2, until=1)
    with pytest.raises(InvalidArgument, match="limit"):
        audit.list_entries(limit=0)


def test_verify_intact_log(services: Services) -> None:
    assert services.audit.verify().ok  # an empty log is intact
    _history(services)
    result = services.audit.verify()
    assert (result.ok, result.checked, result.first_broken_seq) == (True, 6, None)


@pytest.mark.parametrize(
    ("tamper", "broken", "problem"),
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", 3, "modified"),
        ("UPDATE audit_log SET details = '{\"version\":1}' WHERE seq = 6", 6, "modified"),
        ("DELETE FROM audit_log WHERE seq = 2", 2, "missing"),
        ("DELETE FROM audit_log WHERE seq = 6", 6, "deleted"),
        ("DELETE FROM audit_head", 1, "head"),
    ],
    ids=["edit-actor", "edit-details", "delete-middle", "delete-newest", "delete-head"],
)
def test_verify_names_the_first_broken_entry(
    services: Services, tamper: str, broken: int, problem: str
) -> None:
    _history(services)
    _sql(services, tamper)
    result = services.audit.verify()
    assert not result.ok
    assert result.first_broken_seq == broken
    assert problem in result.problem


def test_rehashing_an_edited_entry_still_breaks_the_next_link(services: Services) -> None:
    """An editor who recomputes the edited entry's own hash breaks its successor's link."""
    from moorline.registry.audit import entry_hash

    _history(services)
    entry = services.audit.list_entries(after_seq=2, limit=1)[0]
    forged = entry_hash(
        seq=entry.seq,
        at=entry.at,
        actor="mallory",
        action=entry.action,
        target=entry.target,
        details=entry.details,
        reason=entry.reason,
        prev_hash=entry.prev_hash,
    )
    _sql(
        services,
        f"UPDATE audit_log SET actor = 'mallory', entry_hash = '{forged}' WHERE seq = 3",
    )
    result = services.audit.verify()
    assert (result.ok, result.first_broken_seq) == (False, 4)
    assert "does not link" in result.problem


@pytest.mark.postgres
def test_verify_on_postgres(pg_services: Services) -> None:
    services = pg_services
    _history(services)
    services.governance.set_policy("churn", actor=ADMIN, risk="high")
    assert services.audit.verify().ok
    assert services.audit.list_entries(action="policy.set")[0].target == "models:/churn"
    _sql(services, "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 6")
    result = services.audit.verify()
    assert (result.ok, result.first_broken_seq) == (False, 6)
