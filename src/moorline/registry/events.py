"""Webhooks: registration, signed payloads, and background delivery with retries.

Registry changes write their events into an outbox in the same transaction
as the change (see :mod:`moorline.registry.ports`). A
:class:`WebhookDispatcher` thread polls the outbox and POSTs each event to
every webhook subscribed to it, never in the thread of the registry call, so
a slow or failing receiver never slows or fails a change. Every attempt is
recorded; failures are retried with exponential backoff up to
``max_attempts``; a success ends the deliveries of that event to that
webhook, so a receiver that recovers gets the event exactly once more.

What a receiver gets::

    POST <url>
    Content-Type: application/json
    X-Moorline-Event: model_version.alias_set
    X-Moorline-Delivery: <event id>-<webhook id>   (the same on every retry)
    X-Moorline-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the secret>

    {"id": 42, "type": "model_version.alias_set", "created_at": 1700000000000,
     "data": {...}}

The HTTP client itself is an adapter behind :class:`WebhookTransport`
(``moorline.store.webhooks`` holds the httpx one): this domain module
imports no HTTP library.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from moorline import __version__
from moorline.auth.models import Role
from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument, PermissionDenied
from moorline.registry.governance import Actor
from moorline.registry.models import Delivery, EventDraft, Webhook, WebhookId
from moorline.registry.ports import WebhookStore
from moorline.registry.service import _change

log = logging.getLogger("moorline.webhooks")

SIGNATURE_HEADER = "X-Moorline-Signature"
EVENT_HEADER = "X-Moorline-Event"
DELIVERY_HEADER = "X-Moorline-Delivery"

#: Event types the registry and governance emit (a webhook subscribes to
#: some of them, or to ``*`` for all).
EVENT_TYPES = (
    "registered_model.created",
    "registered_model.renamed",
    "registered_model.deleted",
    "model_version.created",
    "model_version.deleted",
    "model_version.stage_transitioned",
    "model_version.alias_set",
    "model_version.alias_deleted",
    "policy.updated",
    "approval.requested",
    "approval.granted",
    "approval.rejected",
)
MAX_URL = 2000
#: Events whose first-seen time the dispatcher remembers (see ``_claim``).
_FIRST_SEEN_LIMIT = 100_000


# -- signing ----------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """The ``X-Moorline-Signature`` value of ``body``.

    >>> sign(b"{}", "s3cret")[:7]
    'sha256='
    """
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, secret: str, signature: str) -> bool:
    """True when ``signature`` (the header value) signs ``body`` with ``secret``;
    constant-time, for receivers written in Python.

    >>> verify_signature(b"{}", "s3cret", sign(b"{}", "s3cret"))
    True
    """
    return hmac.compare_digest(sign(body, secret), signature.strip())


def event_body(event_id: int, event: EventDraft, *, created_at: int) -> bytes:
    """The JSON body POSTed for one event: the same bytes on every attempt."""
    document = {
        "id": event_id,
        "type": event.event_type,
        "created_at": created_at,
        "data": event.payload,
    }
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def delivery_headers(
    event_id: int, event_type: str, webhook: Webhook, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": f"moorline-webhooks/{__version__}",
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: f"{event_id}-{webhook.webhook_id}",
        SIGNATURE_HEADER: sign(body, webhook.secret),
    }


def subscribed(events: tuple[str, ...], event_type: str) -> bool:
    """Whether a webhook subscribed to ``events`` wants ``event_type``.

    >>> subscribed(("*",), "model_version.alias_set"), subscribed(("approval.granted",), "x")
    (True, False)
    """
    return "*" in events or event_type in events


def validate_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgument("A webhook needs a URL")
    text = url.strip()
    if len(text) > MAX_URL:
        raise InvalidArgument(f"Webhook URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidArgument(f"Invalid webhook URL {text!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidArgument(
            f"Invalid webhook URL {text!r}: the scheme must be http or https, "
            f"not {parts.scheme or 'missing'!r}"
        )
    if not parts.hostname:
        raise InvalidArgument(f"Invalid webhook URL {text!r}: it names no host")
    if parts.username or parts.password:
        raise InvalidArgument(
            f"Invalid webhook URL {text!r}: credentials do not belong in the URL; "
            "receivers authenticate deliveries by their signature"
        )
    return text


def validate_events(events: object) -> tuple[str, ...]:
    if events is None:
        return ("*",)
    if isinstance(events, str):
        events = [e for e in events.split(",") if e.strip()]
    if not isinstance(events, list | tuple) or not events:
        raise InvalidArgument("events must be a non-empty list of event types (or '*')")
    out: list[str] = []
    for raw in events:
        event = str(raw).strip()
        if event != "*" and event not in EVENT_TYPES:
            raise InvalidArgument(
                f"Unknown event type {event!r}: use '*' (every event) or some of "
                f"{', '.join(EVENT_TYPES)}"
            )
        out.append(event)
    return tuple(dict.fromkeys(out))


# -- registration ------------------------------------------------------------


class WebhookService:
    """Register, list and delete webhooks; read the delivery log.

    Adding or deleting a webhook needs the admin role: a webhook sends
    registry changes to a URL outside moorline.
    """

    def __init__(self, store: WebhookStore) -> None:
        self._store = store

    @property
    def store(self) -> WebhookStore:
        return self._store

    def add(
        self,
        url: str,
        *,
        actor: Actor,
        events: list[str] | tuple[str, ...] | str | None = None,
        secret: str | None = None,
    ) -> Webhook:
        """Register ``url`` for ``events`` (default all); a secret is drawn when not given.

        The returned record holds the secret: show it to the user once.
        """
        _require_admin(actor, "Adding a webhook")
        clean_url = validate_url(url)
        patterns = validate_events(events)
        if secret is not None and len(secret) < 16:
            raise InvalidArgument("A webhook secret must be at least 16 characters long")
        webhook = Webhook(
            webhook_id=WebhookId(secrets.token_hex(8)),
            url=clean_url,
            secret=secret if secret is not None else secrets.token_urlsafe(32),
            events=patterns,
            created_at=now_ms(),
        )
        change = _change(
            actor.name,
            "webhook.add",
            f"webhooks:/{webhook.webhook_id}",
            {"url": clean_url, "events": list(patterns)},
        )
        return self._store.add_webhook(webhook, change=change)

    def list_webhooks(self) -> list[Webhook]:
        return self._store.list_webhooks()

    def delete(self, webhook_id: str, *, actor: Actor) -> None:
        _require_admin(actor, "Deleting a webhook")
        wid = WebhookId(webhook_id.strip())
        change = _change(actor.name, "webhook.delete", f"webhooks:/{wid}", {})
        self._store.delete_webhook(wid, change=change)

    def deliveries(self, *, webhook_id: str | None = None, limit: int = 1000) -> list[Delivery]:
        if not 1 <= limit <= 10_000:
            raise InvalidArgument(f"limit must be between 1 and 10000, got {limit}")
        wid = WebhookId(webhook_id.strip()) if webhook_id else None
        return self._store.list_deliveries(webhook_id=wid, limit=limit)


def _require_admin(actor: Actor, what: str) -> None:
    if actor.role != Role.ADMIN:
        raise PermissionDenied(
            f"{what} requires the admin role; {actor.name!r} has the {actor.role.value} role"
        )


# -- delivery ----------------------------------------------------------------


class WebhookTransportError(Exception):
    """The request did not complete (connection refused, timeout, TLS...)."""


class WebhookTransport(Protocol):
    """POSTs one body; an adapter over an HTTP client."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> int:
        """The response's status code; WebhookTransportError when there is none."""

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchSettings:
    """How deliveries are paced.

    After failed attempt ``n`` the next waits ``backoff_base * 2**(n-1)``
    seconds (at most ``backoff_max``); after ``max_attempts`` failures the
    event is given up for that webhook (every attempt stays in the log).
    """

    poll_interval: float = 0.5
    backoff_base: float = 2.0
    backoff_max: float = 3600.0
    max_attempts: int = 8
    timeout: float = 5.0
    workers: int = 4
    batch: int = 100

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.workers < 1 or self.batch < 1:
            raise InvalidArgument("max_attempts, workers and batch must be at least 1")
        if min(self.poll_interval, self.backoff_base, self.timeout) <= 0:
            raise InvalidArgument("poll_interval, backoff_base and timeout must be positive")

    def backoff_ms(self, attempt: int) -> int:
        """Milliseconds to wait after failed attempt number ``attempt`` (1-based).

        >>> DispatchSettings(backoff_base=0.2).backoff_ms(3)
        800
        """
        delay: float = self.backoff_base * 2.0 ** (attempt - 1)
        return round(min(delay, self.backoff_max) * 1000)


class WebhookDispatcher:
    """Delivers due events in the background: one polling thread, a few senders.

    A delivery in flight is never fetched twice, and a slow receiver holds
    one sender for at most ``timeout`` seconds while the others go on.
    Deliveries are at-least-once: a receiver deduplicates on
    ``X-Moorline-Delivery`` if it must.
    """

    def __init__(
        self,
        store: WebhookStore,
        transport: WebhookTransport,
        settings: DispatchSettings | None = None,
        *,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._transport = transport
        self._settings = settings or DispatchSettings()
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[tuple[int, str]] = set()
        self._first_seen: dict[int, int] = {}
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def settings(self) -> DispatchSettings:
        return self._settings

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start polling in a daemon thread (idempotent)."""
        if self.running:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(
            max_workers=self._settings.workers, thread_name_prefix="moorline-webhook"
        )
        self._thread = threading.Thread(
            target=self._loop, name="moorline-webhook-dispatcher", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling and wait for attempts in flight (each ends by its timeout)."""
        self._stop.set()
        self._wake.set()
        thread, pool = self._thread, self._pool
        if thread is not None:
            thread.join(timeout if timeout is not None else self._settings.timeout + 5)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._thread = self._pool = None

    def close(self) -> None:
        """Stop, then release the transport's connections (the dispatcher is done)."""
        self.stop()
        self._transport.close()

    def wake(self) -> None:
        """Poll now rather than at the end of the current interval."""
        self._wake.set()

    def run_once(self) -> int:
        """Attempt every due delivery not already in flight, in this thread; return
        how many attempts were made. For tests and one-shot CLI use."""
        claimed = self._claim()
        for due in claimed:
            self._attempt(*due)
        return len(claimed)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                pool = self._pool
                if pool is None:
                    return
                for due in self._claim():
                    pool.submit(self._attempt, *due)
            except Exception:
                # A database outage must not end delivery for good: log and poll again.
                log.exception("webhook dispatcher: could not fetch due deliveries")
            self._wake.wait(self._settings.poll_interval)
            self._wake.clear()

    def _claim(self) -> list[tuple[int, EventDraft, Webhook, int, int]]:
        """Due deliveries not in flight, marked in flight, with the event's time."""
        now = self._clock()
        due = self._store.due_deliveries(now=now, limit=self._settings.batch)
        claimed: list[tuple[int, EventDraft, Webhook, int, int]] = []
        with self._lock:
            for event_id, event, webhook, attempt in due:
                key = (event_id, webhook.webhook_id)
                if key in self._in_flight:
                    continue
                self._in_flight.add(key)
                # A store that does not say when the event happened: the first time
                # this process saw it stands in, so retries still send the same body.
                created_at = event.created_at or self._first_seen.setdefault(event_id, now)
                claimed.append((event_id, event, webhook, attempt, created_at))
        return claimed

    def _attempt(
        self, event_id: int, event: EventDraft, webhook: Webhook, attempt: int, created_at: int
    ) -> None:
        try:
            body = event_body(event_id, event, created_at=created_at)
            headers = delivery_headers(event_id, event.event_type, webhook, body)
            status: int | None = None
            error = ""
            try:
                status = self._transport.post(
                    webhook.url, body, headers, timeout=self._settings.timeout
                )
            except WebhookTransportError as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.exception("webhook transport failed unexpectedly")
            ok = status is not None and 200 <= status < 300
            if status is not None and not ok:
                error = f"HTTP {status}"
            now = self._clock()
            done = ok or attempt >= self._settings.max_attempts
            next_at = None if done else now + self._settings.backoff_ms(attempt)
            self._store.record_delivery(
                Delivery(
                    event_id=event_id,
                    webhook_id=webhook.webhook_id,
                    attempt=attempt,
                    at=now,
                    ok=ok,
                    status_code=status,
                    error=error[:2000],
                ),
                done=done,
                next_attempt_at=next_at,
            )
        except Exception:
            log.exception(
                "webhook dispatcher: could not record attempt %d of event %d to %s",
                attempt,
                event_id,
                webhook.webhook_id,
            )
        finally:
            with self._lock:
                self._in_flight.discard((event_id, webhook.webhook_id))
                if len(self._first_seen) > _FIRST_SEEN_LIMIT:
                    self._first_seen.clear()
