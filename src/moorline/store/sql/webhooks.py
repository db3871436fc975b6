"""Webhooks and their delivery outbox over SQL: :class:`WebhookStore`.

Events are stored by the registry stores in the transaction of the change
that caused them, together with one ``webhook_delivery_state`` row per
active webhook subscribed to the event's type (:mod:`moorline.store.sql._changes`).
The dispatcher asks :meth:`SqlWebhookStore.due_deliveries` for the rows whose
``next_attempt_at`` has come (an index scan on ``(done, next_attempt_at)``),
tries them, and reports each attempt with :meth:`SqlWebhookStore.record_delivery`,
which logs it and schedules the next one or marks the pair done.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Integer, bindparam, select

from moorline.errors import AlreadyExists, NotFound
from moorline.registry.models import Delivery, EventDraft, Webhook, WebhookId
from moorline.registry.ports import Change, WebhookStore
from moorline.store.sql import tables as t
from moorline.store.sql._changes import ChangeWriter, dumps

_wh = t.webhooks
_ev = t.registry_events
_ds = t.webhook_delivery_state
_dl = t.webhook_deliveries

_WEBHOOK_COLUMNS = (
    _wh.c.webhook_id,
    _wh.c.url,
    _wh.c.secret,
    _wh.c.events,
    _wh.c.active,
    _wh.c.created_at,
)
_SELECT_WEBHOOK = select(_wh.c.webhook_id).where(_wh.c.webhook_id == bindparam("wid"))
#: Taken before the pair's state row, in the same order as a webhook delete
#: (webhook, then its rows), so the two never deadlock on PostgreSQL.
_LOCK_WEBHOOK = _SELECT_WEBHOOK.with_for_update(key_share=True)
_DUE = (
    select(
        _ds.c.event_id,
        _ev.c.type,
        _ev.c.payload,
        _ev.c.at,
        *_WEBHOOK_COLUMNS,
        _ds.c.attempts,
    )
    .join_from(_ds, _ev, _ev.c.id == _ds.c.event_id)
    .join(_wh, _wh.c.webhook_id == _ds.c.webhook_id)
    .where(
        _ds.c.done.is_(False),
        _ds.c.next_attempt_at <= bindparam("now"),
        _wh.c.active.is_(True),
    )
    .order_by(_ds.c.next_attempt_at, _ds.c.event_id, _ds.c.webhook_id)
    .limit(bindparam("limit", type_=Integer))
)
_UPDATE_STATE = (
    _ds.update()
    .where(_ds.c.webhook_id == bindparam("wid"), _ds.c.event_id == bindparam("eid"))
    .values(
        attempts=bindparam("attempt_no"),
        done=bindparam("is_done"),
        next_attempt_at=bindparam("next_at"),
    )
)


class SqlWebhookStore(ChangeWriter, WebhookStore):
    """Webhook subscriptions, pending deliveries and the delivery log."""

    def add_webhook(self, webhook: Webhook, *, change: Change) -> Webhook:
        """AlreadyExists on a reused id. It receives events from the next change on
        (its own creation's event included)."""
        with self._change_tx() as tx:
            conn = tx.conn
            if conn.execute(_SELECT_WEBHOOK, {"wid": webhook.webhook_id}).first() is not None:
                raise AlreadyExists(f"Webhook {webhook.webhook_id!r} already exists")
            conn.execute(
                _wh.insert(),
                {
                    "webhook_id": webhook.webhook_id,
                    "url": webhook.url,
                    "secret": webhook.secret,
                    "events": dumps(list(webhook.events)),
                    "active": webhook.active,
                    "created_at": webhook.created_at,
                },
            )
            self._record(tx, change, now=webhook.created_at or None)
        return webhook

    def list_webhooks(self) -> list[Webhook]:
        with self._read() as conn:
            rows = conn.execute(
                select(*_WEBHOOK_COLUMNS).order_by(_wh.c.created_at, _wh.c.webhook_id)
            ).all()
        return [_webhook(tuple(r)) for r in rows]

    def delete_webhook(self, webhook_id: WebhookId, *, change: Change) -> None:
        """NotFound if missing. Its pending deliveries and its delivery log go with it."""
        with self._change_tx() as tx:
            result = tx.conn.execute(_wh.delete().where(_wh.c.webhook_id == webhook_id))
            if result.rowcount == 0:
                raise NotFound(f"Webhook {webhook_id!r} not found")
            self._record(tx, change)

    def due_deliveries(
        self, *, now: int, limit: int = 100
    ) -> list[tuple[int, EventDraft, Webhook, int]]:
        """Pairs due at ``now``, soonest first; the attempt number is attempts so far + 1
        and the event's ``created_at`` is when its change was written, the same on
        every attempt. Deliveries to an inactive webhook wait until it is active again."""
        with self._read() as conn:
            rows = conn.execute(_DUE, {"now": now, "limit": limit}).all()
        out = []
        for row in rows:
            event_id, event_type, payload, at, *webhook, attempts = tuple(row)
            event = EventDraft(event_type=event_type, payload=json.loads(payload), created_at=at)
            out.append((int(event_id), event, _webhook(tuple(webhook)), int(attempts) + 1))
        return out

    def record_delivery(
        self, delivery: Delivery, *, done: bool, next_attempt_at: int | None
    ) -> None:
        """Log one attempt and schedule the next (at ``next_attempt_at``, or at once
        when None) unless ``done``.

        NotFound if the event was never scheduled for the webhook; an attempt
        for a webhook deleted meanwhile is dropped (its log went with it).
        """
        with self._write() as conn:
            if conn.execute(_LOCK_WEBHOOK, {"wid": delivery.webhook_id}).first() is None:
                return
            result = conn.execute(
                _UPDATE_STATE,
                {
                    "wid": delivery.webhook_id,
                    "eid": delivery.event_id,
                    "attempt_no": delivery.attempt,
                    "is_done": done,
                    "next_at": delivery.at if next_attempt_at is None else next_attempt_at,
                },
            )
            if result.rowcount == 0:
                raise NotFound(
                    f"Event {delivery.event_id} was never scheduled for webhook "
                    f"{delivery.webhook_id!r}"
                )
            conn.execute(
                _dl.insert(),
                {
                    "webhook_id": delivery.webhook_id,
                    "event_id": delivery.event_id,
                    "attempt": delivery.attempt,
                    "at": delivery.at,
                    "ok": delivery.ok,
                    "status_code": delivery.status_code,
                    "error": delivery.error,
                },
            )

    def list_deliveries(
        self, *, webhook_id: WebhookId | None = None, limit: int = 1000
    ) -> list[Delivery]:
        """The newest ``limit`` attempts (of one webhook, or of all), oldest first."""
        query = select(
            _dl.c.event_id,
            _dl.c.webhook_id,
            _dl.c.attempt,
            _dl.c.at,
            _dl.c.ok,
            _dl.c.status_code,
            _dl.c.error,
        )
        if webhook_id is not None:
            query = query.where(_dl.c.webhook_id == webhook_id)
        query = query.order_by(_dl.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            Delivery(
                event_id=int(r.event_id),
                webhook_id=WebhookId(r.webhook_id),
                attempt=r.attempt,
                at=r.at,
                ok=bool(r.ok),
                status_code=r.status_code,
                error=r.error,
            )
            for r in reversed(rows)
        ]


def _webhook(row: tuple[Any, ...]) -> Webhook:
    webhook_id, url, secret, events, active, created_at = row
    return Webhook(
        webhook_id=WebhookId(webhook_id),
        url=url,
        secret=secret,
        events=tuple(json.loads(events)),
        active=bool(active),
        created_at=created_at,
    )


__all__ = ["SqlWebhookStore"]
