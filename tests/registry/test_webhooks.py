"""Webhook delivery through real stores to real HTTP receivers on loopback."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from moorline.auth.models import Role
from moorline.bootstrap import Services, build_webhook_dispatcher
from moorline.errors import InvalidArgument, PermissionDenied
from moorline.registry.events import DispatchSettings, WebhookDispatcher, verify_signature
from moorline.registry.governance import Actor
from moorline.registry.models import Delivery, Webhook
from tests.registry.conftest import make_model
from tests.registry.receiver import receiver
from tests.support.live import free_port

ADMIN = Actor(name="root", role=Role.ADMIN)
FAST = DispatchSettings(poll_interval=0.02, backoff_base=0.2, max_attempts=8, timeout=5.0)


@contextmanager
def dispatching(
    services: Services, settings: DispatchSettings = FAST
) -> Iterator[WebhookDispatcher]:
    dispatcher = build_webhook_dispatcher(services, settings)
    assert dispatcher is not None
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        dispatcher.close()


def wait_until(what: str, check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def deliveries(services: Services, hook: Webhook) -> list[Delivery]:
    return sorted(
        services.webhooks.deliveries(webhook_id=hook.webhook_id),
        key=lambda d: (d.event_id, d.attempt),
    )


def pending(services: Services) -> list[int]:
    """Events still scheduled for any attempt, however far in the future."""
    due = services.webhooks.store.due_deliveries(now=2**62, limit=1000)
    return [item[0] for item in due]


def test_payload_is_signed_with_the_secret(services: Services) -> None:
    make_model(services, "churn", [{"auc": 0.8}])
    with receiver() as rx:
        hook = services.webhooks.add(rx.url, actor=ADMIN, events=["model_version.alias_set"])
        assert len(hook.secret) >= 32  # drawn for us
        with dispatching(services):
            services.registry.set_alias("churn", "champion", 1, actor="ana", reason="first")
            (request,) = rx.wait_for(1, timeout=10)
        wait_until("the delivery is logged", lambda: len(deliveries(services, hook)) == 1)

    body = request.body
    expected = "sha256=" + hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
    assert request.headers["X-Moorline-Signature"] == expected
    assert verify_signature(body, hook.secret, request.headers["X-Moorline-Signature"])
    assert not verify_signature(body, hook.secret + "x", request.headers["X-Moorline-Signature"])
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Moorline-Event"] == "model_version.alias_set"
    document = json.loads(body)
    assert set(document) == {"id", "type", "created_at", "data"}
    assert document["type"] == "model_version.alias_set"
    assert request.headers["X-Moorline-Delivery"] == f"{document['id']}-{hook.webhook_id}"
    assert isinstance(document["created_at"], int) and document["created_at"] > 1_600_000_000_000
    data = document["data"]
    assert (data["target"], data["actor"], data["version"]) == ("models:/churn@champion", "ana", 1)
    (logged,) = deliveries(services, hook)
    assert (logged.ok, logged.status_code, logged.attempt) == (True, 200, 1)
    # The filter held: the model and version creations were not sent.
    assert pending(services) == []


def test_a_receiver_failing_three_times_then_recovering_gets_the_event_once_more(
    services: Services,
) -> None:
    make_model(services, "churn", [{"auc": 0.8}])
    with receiver(lambda n: (500 if n < 3 else 200, 0.0)) as rx:
        hook = services.webhooks.add(rx.url, actor=ADMIN, events=["model_version.alias_set"])
        with dispatching(services):
            services.registry.set_alias("churn", "champion", 1, actor="ana")
            rx.wait_for(4, timeout=15)
            wait_until(
                "the success is logged", lambda: any(d.ok for d in deliveries(services, hook))
            )
            assert pending(services) == []  # nothing scheduled any more, ever
            time.sleep(0.5)  # several poll intervals: nothing else arrives
        received = list(rx.requests)

    log = deliveries(services, hook)
    assert [(d.attempt, d.ok, d.status_code) for d in log] == [
        (1, False, 500),
        (2, False, 500),
        (3, False, 500),
        (4, True, 200),
    ]
    assert [d.error for d in log[:3]] == ["HTTP 500"] * 3
    assert len(received) == 4
    assert len({r.body for r in received}) == 1  # the same event, byte for byte
    assert len({r.headers["X-Moorline-Delivery"] for r in received}) == 1
    # Exponential backoff: 0.2 s, 0.4 s, 0.8 s at least between attempts.
    gaps = [b.at - a.at for a, b in itertools.pairwise(received)]
    assert all(g >= w - 0.01 for g, w in zip(gaps, [0.2, 0.4, 0.8], strict=True)), gaps


def test_a_receiver_that_never_recovers_is_given_up_after_max_attempts(services: Services) -> None:
    make_model(services, "churn", [{"auc": 0.8}])
    settings = DispatchSettings(poll_interval=0.02, backoff_base=0.05, max_attempts=3)
    with receiver(lambda n: (503, 0.0)) as rx:
        hook = services.webhooks.add(rx.url, actor=ADMIN)
        with dispatching(services, settings):
            services.registry.set_alias("churn", "champion", 1, actor="ana")
            wait_until("every event is given up", lambda: not pending(services))
            time.sleep(0.3)
        events = {json.loads(r.body)["id"] for r in rx.requests}
    log = deliveries(services, hook)
    # Only the alias move happened after the webhook was added: three attempts, none ok.
    assert len(events) == 1
    assert [(d.attempt, d.ok, d.status_code) for d in log] == [(n, False, 503) for n in (1, 2, 3)]
    assert len(rx.requests) == 3


def test_a_hanging_receiver_does_not_slow_the_registry(services: Services) -> None:
    make_model(services, "churn", [{"auc": 0.8}, {"auc": 0.9}])
    with receiver(lambda n: (200, 3.0)) as rx:
        hook = services.webhooks.add(rx.url, actor=ADMIN, events=["model_version.alias_set"])
        with dispatching(services):
            started = time.perf_counter()
            services.registry.set_alias("churn", "champion", 1, actor="ana")
            first = time.perf_counter() - started
            rx.wait_for(1, timeout=5)  # the receiver now sleeps 3 s on that delivery
            started = time.perf_counter()
            services.registry.set_alias("churn", "challenger", 2, actor="ana")
            second = time.perf_counter() - started
            hung_at = time.monotonic()
            rx.wait_for(2, timeout=5)
            wait_until(
                "both deliveries succeed",
                lambda: sum(d.ok for d in deliveries(services, hook)) == 2,
            )
            done_at = time.monotonic()
    assert first < 0.2, f"set_alias took {first:.3f} s"
    assert second < 0.2, f"set_alias took {second:.3f} s while the receiver hung"
    assert done_at - hung_at > 2.0  # the receiver really did hang


def test_connection_failures_are_logged(services: Services) -> None:
    make_model(services, "churn", [{"auc": 0.8}])
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    hook = services.webhooks.add(url, actor=ADMIN, events=["model_version.alias_set"])
    settings = DispatchSettings(poll_interval=0.02, backoff_base=0.05, max_attempts=2)
    with dispatching(services, settings):
        services.registry.set_alias("churn", "champion", 1, actor="ana")
        wait_until("the event is given up", lambda: not pending(services))
    log = deliveries(services, hook)
    assert [(d.attempt, d.ok, d.status_code) for d in log] == [(1, False, None), (2, False, None)]
    assert "ConnectError" in log[0].error


def test_event_filters(services: Services) -> None:
    make_model(services, "churn", [{"auc": 0.8}])
    services.governance.set_policy("churn", actor=ADMIN, risk="high")
    with receiver() as only_approvals, receiver() as everything:
        a = services.webhooks.add(
            only_approvals.url, actor=ADMIN, events="approval.requested,approval.granted"
        )
        services.webhooks.add(everything.url, actor=ADMIN)
        with dispatching(services):
            request = services.governance.request_approval(
                "churn", "champion", 1, actor=Actor(name="ana", role=Role.EDITOR), reason="r"
            )
            services.governance.grant(request.approval_id, actor=ADMIN)
            services.registry.set_alias("churn", "champion", 1, actor="ana")
            only_approvals.wait_for(2, timeout=10)
            everything.wait_for(3, timeout=10)
            wait_until("all deliveries", lambda: not pending(services))
        types = [r.headers["X-Moorline-Event"] for r in only_approvals.requests]
        every = sorted(r.headers["X-Moorline-Event"] for r in everything.requests)
    assert a.events == ("approval.requested", "approval.granted")
    assert sorted(types) == ["approval.granted", "approval.requested"]
    # Subscriptions start at registration: the earlier policy change is not sent.
    assert every == ["approval.granted", "approval.requested", "model_version.alias_set"]


def test_registration_rules(services: Services) -> None:
    hooks = services.webhooks
    for url, problem in [
        ("ftp://127.0.0.1:9/x", "scheme must be http or https"),
        ("http:///nohost", "names no host"),
        ("https://user:pw@127.0.0.1:9/", "credentials"),
        ("", "needs a URL"),
    ]:
        with pytest.raises(InvalidArgument, match=problem):
            hooks.add(url, actor=ADMIN)
    with pytest.raises(InvalidArgument, match="Unknown event type"):
        hooks.add("https://127.0.0.1:9/", actor=ADMIN, events=["model.promoted"])
    with pytest.raises(InvalidArgument, match="at least 16"):
        hooks.add("https://127.0.0.1:9/", actor=ADMIN, secret="short")
    with pytest.raises(PermissionDenied, match="admin"):
        hooks.add("https://127.0.0.1:9/", actor=Actor(name="ana", role=Role.APPROVER))
    hook = hooks.add("https://127.0.0.1:9/h", actor=ADMIN, secret="s" * 20)
    assert hook.secret == "s" * 20 and hook.events == ("*",)
    assert [h.webhook_id for h in hooks.list_webhooks()] == [hook.webhook_id]
    assert services.audit.list_entries(action="webhook.add")[0].details["url"] == hook.url
    hooks.delete(hook.webhook_id, actor=ADMIN)
    assert hooks.list_webhooks() == []


@pytest.mark.postgres
def test_retry_then_success_on_postgres(pg_services: Services) -> None:
    services = pg_services
    make_model(services, "churn", [{"auc": 0.8}])
    with receiver(lambda n: (500 if n == 0 else 204, 0.0)) as rx:
        hook = services.webhooks.add(rx.url, actor=ADMIN, events=["model_version.alias_set"])
        with dispatching(services):
            services.registry.set_alias("churn", "champion", 1, actor="ana")
            rx.wait_for(2, timeout=10)
            wait_until(
                "the success is logged", lambda: any(d.ok for d in deliveries(services, hook))
            )
        first, second = rx.requests
    assert first.body == second.body
    assert verify_signature(second.body, hook.secret, second.headers["X-Moorline-Signature"])
    log = deliveries(services, hook)
    assert [(d.attempt, d.ok, d.status_code) for d in log] == [(1, False, 500), (2, True, 204)]
    assert pending(services) == []
