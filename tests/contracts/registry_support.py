"""Small builders shared by the registry contract suites.

The stores are called the way :class:`moorline.registry.service.RegistryService`
calls them: every mutation carries a :class:`Change` (its audit entry and events).
"""

from __future__ import annotations

from typing import Any

from moorline.registry.audit import VerifyResult, verify_chain
from moorline.registry.models import (
    AuditDraft,
    AuditEntry,
    EventDraft,
    ModelName,
    ModelVersion,
    RegisteredModel,
    Webhook,
    WebhookId,
)
from moorline.registry.ports import AuditStore, Change, RegistryStore, WebhookStore


def change(
    action: str,
    target: str,
    *,
    actor: str = "ada",
    details: dict[str, Any] | None = None,
    reason: str = "",
    event: str | None = None,
) -> Change:
    """A Change as the services build it: the event payload repeats target, actor, details."""
    details = details or {}
    events: tuple[EventDraft, ...] = ()
    if event is not None:
        payload = {"target": target, "actor": actor, **details}
        events = (EventDraft(event_type=event, payload=payload),)
    return Change(
        audit=AuditDraft(actor=actor, action=action, target=target, details=details, reason=reason),
        events=events,
    )


def new_model(
    registry: RegistryStore,
    name: str,
    *,
    now: int = 1_000,
    tags: dict[str, str] | None = None,
    description: str = "",
    user: str = "ada",
) -> RegisteredModel:
    return registry.create_registered_model(
        name=ModelName(name),
        description=description,
        tags=tags or {},
        user_id=user,
        now=now,
        change=change(
            "registered_model.create",
            f"models:/{name}",
            actor=user,
            event="registered_model.created",
        ),
    )


def new_version(
    registry: RegistryStore,
    name: str,
    *,
    now: int = 2_000,
    source: str = "s3://bucket/model",
    run_id: str | None = None,
    model_id: str | None = None,
    tags: dict[str, str] | None = None,
    description: str = "",
    user: str = "ada",
) -> ModelVersion:
    return registry.create_model_version(
        name=ModelName(name),
        source=source,
        run_id=run_id,
        run_link=None,
        model_id=model_id,
        description=description,
        tags=tags or {},
        user_id=user,
        now=now,
        change=change(
            "model_version.create",
            f"models:/{name}/{{version}}",
            actor=user,
            details={"source": source},
            event="model_version.created",
        ),
    )


def set_alias(
    registry: RegistryStore,
    name: str,
    alias: str,
    version: int,
    *,
    actor: str = "ada",
    now: int = 3_000,
) -> None:
    registry.set_alias(
        ModelName(name),
        alias,
        version,
        actor=actor,
        now=now,
        change=change(
            "alias.set",
            f"models:/{name}@{alias}",
            actor=actor,
            details={"version": version},
            event="model_version.alias_set",
        ),
    )


def catch_all(
    webhooks: WebhookStore, webhook_id: str = "all", *, events: tuple[str, ...] = ("*",)
) -> Webhook:
    """Subscribe a webhook (to every event by default), so stored events become visible
    through ``due_deliveries``."""
    return webhooks.add_webhook(
        Webhook(
            webhook_id=WebhookId(webhook_id),
            url=f"http://127.0.0.1:9/{webhook_id}",
            secret="s3cret",
            events=events,
            created_at=500,
        ),
        change=change("webhook.add", f"webhooks:/{webhook_id}"),
    )


def due(webhooks: WebhookStore, *, now: int = 10**15) -> list[tuple[int, str, str, int]]:
    """(event id, event type, webhook id, attempt) of every due delivery."""
    return [
        (event_id, event.event_type, hook.webhook_id, attempt)
        for event_id, event, hook, attempt in webhooks.due_deliveries(now=now, limit=10_000)
    ]


def entries(audit: AuditStore) -> list[AuditEntry]:
    return list(audit.iter_audit())


def verify(audit: AuditStore) -> VerifyResult:
    head = audit.audit_head()
    return verify_chain(audit.iter_audit(), head=head)
