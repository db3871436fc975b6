"""Contract of AuditStore, and of the audit entries and events every registry mutation
writes in its own transaction: exactly one entry per successful mutation, nothing
at all for a failed one, a chain that verifies, and one that never forks under
concurrent writers. The tamper tests edit the database with raw SQL, so they run
on the SQL backends only (their own fixture, at the end)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

from moorline.errors import AlreadyExists, Conflict, InvalidArgument, MoorlineError, NotFound
from moorline.registry.audit import GENESIS, entry_hash
from moorline.registry.models import (
    Approval,
    ApprovalId,
    ApprovalState,
    AuditDraft,
    ModelName,
    PromotionPolicy,
    Stage,
    Webhook,
    WebhookId,
)
from moorline.registry.ports import AuditStore, Change
from tests.contracts.backends import BackendProvider, RegistryStores
from tests.contracts.registry_support import (
    catch_all,
    change,
    due,
    entries,
    new_model,
    new_version,
    set_alias,
    verify,
)
from tests.contracts.sql_backend import SqlStores, open_postgres, open_sqlite

CHURN = ModelName("churn")


def draft(
    n: int, *, actor: str = "ada", action: str = "note", target: str = "models:/m"
) -> AuditDraft:
    return AuditDraft(actor=actor, action=action, target=target, details={"n": n}, reason=f"r{n}")


# -- the log itself ---------------------------------------------------------------------


def test_empty_log(audit: AuditStore) -> None:
    assert audit.audit_head() is None
    assert entries(audit) == []
    assert audit.list_audit() == []
    result = verify(audit)
    assert result.ok and result.checked == 0


def test_append_links_entries(audit: AuditStore) -> None:
    first = audit.append_audit(
        AuditDraft(
            actor="ada",
            action="alias.set.refused",
            target="models:/churn@champion",
            details={"version": 3, "aliases": ("a", "b"), "nested": {"x": None}},
            reason="why not",
        ),
        now=111,
    )
    second = audit.append_audit(draft(2), now=222)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS and second.prev_hash == first.entry_hash
    # Details are stored as JSON: the entry holds what reads back (a tuple becomes a list).
    assert first.details == {"version": 3, "aliases": ["a", "b"], "nested": {"x": None}}
    assert first.entry_hash == entry_hash(
        seq=1,
        at=111,
        actor="ada",
        action="alias.set.refused",
        target="models:/churn@champion",
        details=first.details,
        reason="why not",
        prev_hash=GENESIS,
    )
    assert entries(audit) == [first, second]
    assert audit.list_audit() == [first, second]
    assert audit.audit_head() == (2, second.entry_hash)
    assert verify(audit).ok


def test_details_that_are_not_json_are_refused(audit: AuditStore) -> None:
    with pytest.raises(InvalidArgument, match="JSON"):
        audit.append_audit(
            AuditDraft(actor="a", action="x", target="t", details={"v": float("nan")}), now=1
        )
    assert entries(audit) == [] and audit.audit_head() is None


def test_list_filters_and_paging(audit: AuditStore) -> None:
    audit.append_audit(
        draft(1, actor="ada", action="alias.set", target="models:/churn@champion"), now=1
    )
    audit.append_audit(draft(2, actor="bo", action="alias.set", target="models:/churn_2@x"), now=2)
    audit.append_audit(draft(3, actor="ada", action="policy.set", target="models:/Churn"), now=3)
    audit.append_audit(draft(4, actor="ada", action="alias.set", target="models:/churn/4"), now=4)
    audit.append_audit(draft(5, actor="ada", action="alias.set", target="models:/c%rn"), now=5)

    def seqs(**kw: object) -> list[int]:
        return [e.seq for e in audit.list_audit(**kw)]

    assert seqs(actor="ada") == [1, 3, 4, 5]
    assert seqs(action="alias.set") == [1, 2, 4, 5]
    assert seqs(actor="ada", action="alias.set") == [1, 4, 5]
    # A prefix is literal and case-sensitive: no wildcards, "Churn" is another model.
    assert seqs(target_prefix="models:/churn") == [1, 2, 4]
    assert seqs(target_prefix="models:/churn@") == [1]
    assert seqs(target_prefix="models:/c%") == [5]
    assert seqs(target_prefix="models:/c_urn") == []
    assert seqs(after_seq=2) == [3, 4, 5]
    assert seqs(after_seq=1, limit=2) == [2, 3]
    assert seqs(actor="nobody") == []


def test_iter_reads_every_entry_in_batches(audit: AuditStore) -> None:
    written = [audit.append_audit(draft(n), now=n) for n in range(1, 12)]
    assert list(audit.iter_audit(batch=3)) == written
    assert list(audit.iter_audit(batch=11)) == written
    assert list(audit.iter_audit(batch=1000)) == written


# -- every mutation: one entry, its events, in one transaction ----------------------------


@pytest.fixture
def world(registry_backend: RegistryStores) -> RegistryStores:
    """churn (versions 1, 2; champion -> 1), other (no versions), a catch-all webhook,
    approval "pending-1" (pending) and "approved-1" (approved)."""
    s = registry_backend
    catch_all(s.webhooks)
    new_model(s.registry, "churn", tags={"team": "ml"})
    new_version(s.registry, "churn", tags={"k": "v"})
    new_version(s.registry, "churn")
    set_alias(s.registry, "churn", "champion", 1)
    new_model(s.registry, "other")
    for approval_id in ("pending-1", "approved-1"):
        s.governance.create_approval(
            Approval(
                approval_id=ApprovalId(approval_id),
                name=CHURN,
                alias="champion",
                version=2,
                requested_by="ada",
                requested_at=10,
            ),
            change=change("approval.request", "models:/churn@champion"),
        )
    approve(s, "approved-1")
    return s


def approve(
    s: RegistryStores, approval_id: str, state: ApprovalState = ApprovalState.APPROVED
) -> None:
    s.governance.decide_approval(
        ApprovalId(approval_id),
        state=state,
        decided_by="cy",
        at=20,
        reason="ok",
        change=change("approval.decide", "models:/churn@champion", event="approval.decided"),
    )


def ev(action: str, target: str = "models:/churn") -> Change:
    """The Change of a mutation under test: one audit entry and one event."""
    return change(action, target, event=f"{action}.happened")


Mutation = Callable[[RegistryStores], object]

MUTATIONS: dict[str, Mutation] = {
    "create_registered_model": lambda s: new_model(s.registry, "fresh"),
    "rename_registered_model": lambda s: s.registry.rename_registered_model(
        CHURN, ModelName("churn2"), now=5, change=ev("rename")
    ),
    "update_registered_model": lambda s: s.registry.update_registered_model(
        CHURN, description="d", now=5, change=ev("update")
    ),
    "delete_registered_model": lambda s: s.registry.delete_registered_model(
        CHURN, change=ev("delete")
    ),
    "set_registered_model_tag": lambda s: s.registry.set_registered_model_tag(
        CHURN, "k", "v", now=5, change=ev("tag")
    ),
    "delete_registered_model_tag": lambda s: s.registry.delete_registered_model_tag(
        CHURN, "team", now=5, change=ev("untag")
    ),
    "create_model_version": lambda s: new_version(s.registry, "churn"),
    "update_model_version": lambda s: s.registry.update_model_version(
        CHURN, 1, description="d", now=5, change=ev("update_version")
    ),
    "transition_stage": lambda s: s.registry.transition_stage(
        CHURN, 2, stage=Stage.PRODUCTION, archive_existing=True, now=5, change=ev("stage")
    ),
    "delete_model_version": lambda s: s.registry.delete_model_version(
        CHURN, 1, change=ev("delete_version")
    ),
    "set_model_version_tag": lambda s: s.registry.set_model_version_tag(
        CHURN, 1, "k", "w", now=5, change=ev("version_tag")
    ),
    "delete_model_version_tag": lambda s: s.registry.delete_model_version_tag(
        CHURN, 1, "k", now=5, change=ev("version_untag")
    ),
    "set_alias": lambda s: set_alias(s.registry, "churn", "champion", 2),
    "delete_alias": lambda s: s.registry.delete_alias(CHURN, "champion", change=ev("alias.delete")),
    "set_policy": lambda s: s.governance.set_policy(
        PromotionPolicy(name=CHURN, updated_at=5, updated_by="root"), change=ev("policy")
    ),
    "create_approval": lambda s: s.governance.create_approval(
        Approval(
            approval_id=ApprovalId("new-1"),
            name=CHURN,
            alias="champion",
            version=1,
            requested_by="ada",
            requested_at=30,
        ),
        change=ev("approval.request"),
    ),
    "decide_approval": lambda s: approve(s, "pending-1", ApprovalState.REJECTED),
    "consume_approval": lambda s: approve(s, "approved-1", ApprovalState.CONSUMED),
    "add_webhook": lambda s: s.webhooks.add_webhook(
        Webhook(webhook_id=WebhookId("second"), url="http://127.0.0.1:9/", secret="s"),
        change=ev("hook.add"),
    ),
    "delete_webhook": lambda s: s.webhooks.delete_webhook(WebhookId("all"), change=ev("hook")),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_every_mutation_writes_one_entry_and_its_event(
    world: RegistryStores, mutation: str
) -> None:
    before = entries(world.audit)
    events_before = due(world.webhooks)
    MUTATIONS[mutation](world)
    after = entries(world.audit)
    assert after[: len(before)] == before
    assert len(after) == len(before) + 1
    assert verify(world.audit).ok
    added = sorted(set(due(world.webhooks)) - set(events_before))
    if mutation == "delete_webhook":  # the only subscriber is gone, with its deliveries
        assert added == []
    elif mutation == "add_webhook":  # the new hook hears of its own creation, and the old too
        assert [hook for _, _, hook, _ in added] == ["all", "second"]
    else:
        assert [(hook, attempt) for _, _, hook, attempt in added] == [("all", 1)]


def test_standalone_append_has_no_event(world: RegistryStores) -> None:
    events_before = due(world.webhooks)
    world.audit.append_audit(draft(1), now=5)
    assert due(world.webhooks) == events_before
    assert verify(world.audit).ok


def test_new_version_number_goes_into_target_and_payload(world: RegistryStores) -> None:
    world.webhooks.delete_webhook(WebhookId("all"), change=change("hook.delete", "webhooks:/all"))
    catch_all(world.webhooks, "only-versions", events=("model_version.created",))
    mv = new_version(world.registry, "churn")
    entry = entries(world.audit)[-1]
    assert mv.version == 3 and entry.target == "models:/churn/3"
    [(_, event, hook, attempt)] = world.webhooks.due_deliveries(now=10**15)
    assert attempt == 1
    assert event.event_type == "model_version.created" and hook.webhook_id == "only-versions"
    assert event.payload == {
        "target": "models:/churn/3",
        "actor": "ada",
        "source": "s3://bucket/model",
        "version": 3,
    }


FAILURES: dict[str, tuple[type[MoorlineError], Mutation]] = {
    "create existing model": (AlreadyExists, lambda s: new_model(s.registry, "churn")),
    "rename missing": (
        NotFound,
        lambda s: s.registry.rename_registered_model(
            ModelName("ghost"), ModelName("x"), now=1, change=ev("r")
        ),
    ),
    "rename onto existing": (
        AlreadyExists,
        lambda s: s.registry.rename_registered_model(
            CHURN, ModelName("other"), now=1, change=ev("r")
        ),
    ),
    "update missing model": (
        NotFound,
        lambda s: s.registry.update_registered_model(
            ModelName("ghost"), description="", now=1, change=ev("u")
        ),
    ),
    "delete missing model": (
        NotFound,
        lambda s: s.registry.delete_registered_model(ModelName("ghost"), change=ev("d")),
    ),
    "tag missing model": (
        NotFound,
        lambda s: s.registry.set_registered_model_tag(
            ModelName("ghost"), "k", "v", now=1, change=ev("t")
        ),
    ),
    "version of missing model": (NotFound, lambda s: new_version(s.registry, "ghost")),
    "update missing version": (
        NotFound,
        lambda s: s.registry.update_model_version(CHURN, 9, description="", now=1, change=ev("u")),
    ),
    "stage of missing version": (
        NotFound,
        lambda s: s.registry.transition_stage(
            CHURN, 9, stage=Stage.STAGING, archive_existing=False, now=1, change=ev("s")
        ),
    ),
    "archive into None": (
        InvalidArgument,
        lambda s: s.registry.transition_stage(
            CHURN, 1, stage=Stage.NONE, archive_existing=True, now=1, change=ev("s")
        ),
    ),
    "delete missing version": (
        NotFound,
        lambda s: s.registry.delete_model_version(CHURN, 9, change=ev("d")),
    ),
    "tag missing version": (
        NotFound,
        lambda s: s.registry.set_model_version_tag(CHURN, 9, "k", "v", now=1, change=ev("t")),
    ),
    "alias to missing version": (NotFound, lambda s: set_alias(s.registry, "churn", "champion", 9)),
    "delete missing alias": (
        NotFound,
        lambda s: s.registry.delete_alias(CHURN, "nope", change=ev("a")),
    ),
    "policy of missing model": (
        NotFound,
        lambda s: s.governance.set_policy(PromotionPolicy(name=ModelName("ghost")), change=ev("p")),
    ),
    "approval for missing version": (
        NotFound,
        lambda s: s.governance.create_approval(
            Approval(
                approval_id=ApprovalId("x"),
                name=CHURN,
                alias="c",
                version=9,
                requested_by="a",
                requested_at=1,
            ),
            change=ev("a"),
        ),
    ),
    "approval id reused": (
        AlreadyExists,
        lambda s: s.governance.create_approval(
            Approval(
                approval_id=ApprovalId("pending-1"),
                name=CHURN,
                alias="c",
                version=1,
                requested_by="a",
                requested_at=1,
            ),
            change=ev("a"),
        ),
    ),
    "decide missing approval": (NotFound, lambda s: approve(s, "nope")),
    "decide twice": (Conflict, lambda s: approve(s, "approved-1", ApprovalState.REJECTED)),
    "consume a pending approval": (
        Conflict,
        lambda s: approve(s, "pending-1", ApprovalState.CONSUMED),
    ),
    "add existing webhook": (AlreadyExists, lambda s: catch_all(s.webhooks, "all")),
    "delete missing webhook": (
        NotFound,
        lambda s: s.webhooks.delete_webhook(WebhookId("nope"), change=ev("w")),
    ),
    "details not JSON": (
        InvalidArgument,
        lambda s: s.registry.set_registered_model_tag(
            CHURN, "k", "v", now=1, change=change("t", "m", details={"x": float("inf")})
        ),
    ),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_failed_mutation_writes_no_entry_and_no_event(
    world: RegistryStores, failure: str
) -> None:
    error, mutation = FAILURES[failure]
    before = entries(world.audit)
    head = world.audit.audit_head()
    events_before = due(world.webhooks)
    tags_before = world.registry.get_registered_model(CHURN).tags
    with pytest.raises(error):
        mutation(world)
    assert entries(world.audit) == before
    assert world.audit.audit_head() == head
    assert due(world.webhooks) == events_before
    # The change itself was rolled back too (the last case had already set the tag).
    assert world.registry.get_registered_model(CHURN).tags == tags_before


def test_concurrent_writers_never_fork_the_chain(registry_backend: RegistryStores) -> None:
    s = registry_backend
    new_model(s.registry, "churn")
    new_version(s.registry, "churn")
    workers, per_worker = 4, 12
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(per_worker):
                if i % 3 == 0:
                    set_alias(s.registry, "churn", f"w{n}", 1, actor=f"w{n}")
                elif i % 3 == 1:
                    new_version(s.registry, "churn", user=f"w{n}")
                else:
                    s.audit.append_audit(draft(i, actor=f"w{n}"), now=i)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    log = entries(s.audit)
    assert [e.seq for e in log] == list(range(1, 2 + workers * per_worker + 1))
    result = verify(s.audit)
    assert result.ok and result.checked == len(log)
    versions = [e.target for e in log if e.action == "model_version.create"]
    assert len(versions) == len(set(versions)) == 1 + workers * per_worker // 3


# -- tampering: raw SQL edits to the log are detected (SQL backends) ----------------------


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(open_sqlite, id="sqlite"),
        pytest.param(open_postgres, id="postgres", marks=pytest.mark.postgres),
    ],
)
def sql_provider(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackendProvider]:
    with request.param(tmp_path_factory) as provider:
        yield provider


@pytest.fixture
def logged(sql_provider: BackendProvider) -> Iterator[SqlStores]:
    """SQL stores whose log holds 5 entries."""
    with sql_provider.fresh() as stores:
        assert isinstance(stores, SqlStores)
        for n in range(1, 6):
            stores.audit.append_audit(draft(n), now=n)
        assert verify(stores.audit).ok
        yield stores


def tamper(stores: SqlStores, statement: str) -> None:
    with stores.engine.begin() as conn:
        conn.exec_driver_sql(statement)


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3",
        "UPDATE audit_log SET details = '{\"n\":30}' WHERE seq = 3",
        "UPDATE audit_log SET reason = '' WHERE seq = 3",
        "UPDATE audit_log SET at = at + 1 WHERE seq = 3",
    ],
)
def test_an_edited_entry_is_named(logged: SqlStores, edit: str) -> None:
    tamper(logged, edit)
    result = verify(logged.audit)
    assert not result.ok and result.first_broken_seq == 3
    assert "entry 3" in result.problem


def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link(logged: SqlStores) -> None:
    entry = entries(logged.audit)[2]
    forged = entry_hash(
        seq=3, at=entry.at, actor="mallory", action=entry.action, target=entry.target,
        details=entry.details, reason=entry.reason, prev_hash=entry.prev_hash,
    )  # fmt: skip
    tamper(logged, f"UPDATE audit_log SET actor = 'mallory', entry_hash = '{forged}' WHERE seq = 3")
    result = verify(logged.audit)
    assert not result.ok and result.first_broken_seq == 4


@pytest.mark.parametrize(("seq", "first_broken"), [(1, 1), (3, 3), (5, 5)])
def test_a_deleted_entry_is_named(logged: SqlStores, seq: int, first_broken: int) -> None:
    tamper(logged, f"DELETE FROM audit_log WHERE seq = {seq}")
    result = verify(logged.audit)
    assert not result.ok and result.first_broken_seq == first_broken


def test_deleting_the_newest_entries_and_rewinding_the_head_row(logged: SqlStores) -> None:
    tamper(logged, "DELETE FROM audit_log WHERE seq >= 4")
    assert verify(logged.audit).first_broken_seq == 4
    tamper(logged, "DELETE FROM audit_head")
    result = verify(logged.audit)
    assert not result.ok and "head" in result.problem
    # A tampered log refuses further registry writes instead of restarting the chain.
    with pytest.raises(MoorlineError, match="audit_head"):
        logged.audit.append_audit(draft(9), now=9)


def test_the_head_row_is_written_with_every_append(logged: SqlStores) -> None:
    with logged.engine.connect() as conn:
        row = conn.execute(text("SELECT seq, entry_hash FROM audit_head")).one()
    assert (row.seq, row.entry_hash) == (5, entries(logged.audit)[-1].entry_hash)
