"""Contract of WebhookStore (subscriptions, the outbox of due deliveries, the delivery
log): every registry backend must pass these."""

from __future__ import annotations

import pytest

from moorline.errors import AlreadyExists, NotFound
from moorline.registry.models import (
    AuditDraft,
    Delivery,
    EventDraft,
    ModelName,
    Webhook,
    WebhookId,
)
from moorline.registry.ports import Change, RegistryStore, WebhookStore
from tests.contracts.backends import RegistryStores
from tests.contracts.registry_support import change, due, new_model, new_version


def hook(
    webhooks: WebhookStore,
    webhook_id: str,
    events: tuple[str, ...] = ("*",),
    *,
    active: bool = True,
    created_at: int = 1,
) -> Webhook:
    return webhooks.add_webhook(
        Webhook(
            webhook_id=WebhookId(webhook_id),
            url=f"https://example.test/{webhook_id}",
            secret=f"secret-{webhook_id}",
            events=events,
            active=active,
            created_at=created_at,
        ),
        change=change("webhook.add", f"webhooks:/{webhook_id}"),
    )


def attempt(
    event_id: int, webhook_id: str, number: int, *, at: int, ok: bool, status: int | None = 500
) -> Delivery:
    return Delivery(
        event_id=event_id,
        webhook_id=WebhookId(webhook_id),
        attempt=number,
        at=at,
        ok=ok,
        status_code=status,
        error="" if ok else f"HTTP {status}",
    )


def test_add_list_delete(webhooks: WebhookStore) -> None:
    second = hook(webhooks, "b", ("model_version.created", "approval.requested"), created_at=2)
    first = hook(webhooks, "a", active=False, created_at=1)
    assert webhooks.list_webhooks() == [first, second]
    assert second.events == ("model_version.created", "approval.requested")
    with pytest.raises(AlreadyExists, match="'a'"):
        hook(webhooks, "a")
    webhooks.delete_webhook(WebhookId("a"), change=change("webhook.delete", "webhooks:/a"))
    assert webhooks.list_webhooks() == [second]
    with pytest.raises(NotFound, match="'a'"):
        webhooks.delete_webhook(WebhookId("a"), change=change("webhook.delete", "webhooks:/a"))


def test_events_fan_out_to_active_subscribers(
    registry: RegistryStore, webhooks: WebhookStore
) -> None:
    hook(webhooks, "all")
    hook(webhooks, "versions", ("model_version.created",))
    hook(webhooks, "approvals", ("approval.requested",))
    hook(webhooks, "off", active=False)
    new_model(registry, "churn", now=1000)
    mv = new_version(registry, "churn", now=2000)
    pending = webhooks.due_deliveries(now=2000)
    assert [(e.event_type, w.webhook_id, n) for _, e, w, n in pending] == [
        ("registered_model.created", "all", 1),
        ("model_version.created", "all", 1),
        ("model_version.created", "versions", 1),
    ]
    event_ids = [event_id for event_id, _, _, _ in pending]
    assert event_ids[0] < event_ids[1] == event_ids[2]
    _, event, target, _ = pending[2]
    assert event.created_at == 2000 and pending[0][1].created_at == 1000
    assert event.payload["version"] == mv.version == 1
    assert event.payload["target"] == "models:/churn/1"
    assert target == webhooks.list_webhooks()[-1] and target.secret == "secret-versions"
    # Nothing is due before its event happened.
    assert [e.event_type for _, e, _, _ in webhooks.due_deliveries(now=1999)] == [
        "registered_model.created"
    ]


def test_one_change_may_carry_several_events(
    registry: RegistryStore, webhooks: WebhookStore
) -> None:
    hook(webhooks, "all")
    new_model(registry, "churn")
    two = Change(
        audit=AuditDraft(actor="ada", action="tag", target="models:/churn"),
        events=(
            EventDraft(event_type="first", payload={"n": 1}),
            EventDraft(event_type="second", payload={"n": 2, "nested": {"ok": True}}),
        ),
    )
    registry.set_registered_model_tag(ModelName("churn"), "k", "v", now=5_000, change=two)
    events = [(e.event_type, e.payload) for _, e, _, _ in webhooks.due_deliveries(now=5_000)]
    assert events[-2:] == [("first", {"n": 1}), ("second", {"n": 2, "nested": {"ok": True}})]


def test_due_is_ordered_and_limited(registry: RegistryStore, webhooks: WebhookStore) -> None:
    hook(webhooks, "all")
    for n in range(5):
        new_model(registry, f"m{n}", now=100 - n)
    pending = webhooks.due_deliveries(now=1000, limit=3)
    assert [e.payload["target"] for _, e, _, _ in pending] == [
        "models:/m4",
        "models:/m3",
        "models:/m2",
    ]


def test_retry_schedule_and_done(registry: RegistryStore, webhooks: WebhookStore) -> None:
    hook(webhooks, "flaky")
    hook(webhooks, "steady")
    new_model(registry, "churn", now=1_000)
    [(event_id, _, _, first), (_, _, _, _)] = webhooks.due_deliveries(now=1_000)
    assert first == 1
    webhooks.record_delivery(
        attempt(event_id, "steady", 1, at=1_010, ok=True, status=200),
        done=True,
        next_attempt_at=None,
    )
    webhooks.record_delivery(
        attempt(event_id, "flaky", 1, at=1_010, ok=False), done=False, next_attempt_at=2_000
    )
    assert due(webhooks, now=1_999) == []
    assert due(webhooks, now=2_000) == [(event_id, "registered_model.created", "flaky", 2)]
    webhooks.record_delivery(
        attempt(event_id, "flaky", 2, at=2_001, ok=False, status=None),
        done=False,
        next_attempt_at=4_000,
    )
    assert due(webhooks, now=3_999) == []
    assert due(webhooks, now=4_000) == [(event_id, "registered_model.created", "flaky", 3)]
    webhooks.record_delivery(
        attempt(event_id, "flaky", 3, at=4_001, ok=True, status=204),
        done=True,
        next_attempt_at=None,
    )
    assert due(webhooks) == []
    log = webhooks.list_deliveries(webhook_id=WebhookId("flaky"))
    assert [(d.attempt, d.ok, d.status_code, d.at) for d in log] == [
        (1, False, 500, 1_010),
        (2, False, None, 2_001),
        (3, True, 204, 4_001),
    ]
    assert log[0].error == "HTTP 500" and log[2].error == ""
    everything = webhooks.list_deliveries()
    assert len(everything) == 4 and everything[0].webhook_id == "steady"
    # The newest attempts, oldest first.
    assert [
        d.attempt for d in webhooks.list_deliveries(webhook_id=WebhookId("flaky"), limit=2)
    ] == [2, 3]


def test_not_done_without_a_time_is_due_again_at_once(
    registry: RegistryStore, webhooks: WebhookStore
) -> None:
    hook(webhooks, "all")
    new_model(registry, "churn", now=1_000)
    [(event_id, _, _, _)] = webhooks.due_deliveries(now=1_000)
    webhooks.record_delivery(
        attempt(event_id, "all", 1, at=1_500, ok=False), done=False, next_attempt_at=None
    )
    assert due(webhooks, now=1_499) == []
    assert due(webhooks, now=1_500) == [(event_id, "registered_model.created", "all", 2)]


def test_record_delivery_of_unknown_pairs(
    registry_backend: RegistryStores, webhooks: WebhookStore
) -> None:
    hook(webhooks, "all")
    new_model(registry_backend.registry, "churn", now=1_000)
    [(event_id, _, _, _)] = webhooks.due_deliveries(now=1_000)
    with pytest.raises(NotFound, match="never scheduled"):
        webhooks.record_delivery(
            attempt(event_id + 100, "all", 1, at=1, ok=True), done=True, next_attempt_at=None
        )
    # A webhook deleted while its delivery was in flight: the attempt is dropped.
    webhooks.delete_webhook(WebhookId("all"), change=change("webhook.delete", "webhooks:/all"))
    webhooks.record_delivery(
        attempt(event_id, "all", 1, at=1, ok=True), done=True, next_attempt_at=None
    )
    assert webhooks.list_deliveries() == []


def test_deleting_a_webhook_drops_its_deliveries(
    registry: RegistryStore, webhooks: WebhookStore
) -> None:
    hook(webhooks, "gone")
    hook(webhooks, "kept")
    new_model(registry, "churn", now=1_000)
    [(event_id, _, _, _), _] = webhooks.due_deliveries(now=1_000)
    webhooks.record_delivery(
        attempt(event_id, "gone", 1, at=1_001, ok=False), done=False, next_attempt_at=1_002
    )
    webhooks.delete_webhook(WebhookId("gone"), change=change("webhook.delete", "webhooks:/gone"))
    assert [h for _, _, h, _ in due(webhooks)] == ["kept"]
    assert webhooks.list_deliveries(webhook_id=WebhookId("gone")) == []


def test_inactive_webhook_gets_nothing(registry: RegistryStore, webhooks: WebhookStore) -> None:
    hook(webhooks, "off", active=False)
    new_model(registry, "churn")
    new_version(registry, "churn")
    assert due(webhooks) == []
