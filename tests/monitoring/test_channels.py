"""Alert channels: each payload against its documented format, then delivery to
real receivers on loopback (HTTP servers, an aiosmtpd SMTP server), with retries,
permanent failures and a receiver that hangs."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from moorline.errors import InvalidArgument
from moorline.monitoring.alerts import (
    AlertRule,
    AlertSeverity,
    AlertState,
    Link,
    Notification,
    evaluate,
)
from moorline.monitoring.channels import (
    PAGERDUTY_EVENTS_URL,
    DeliverySettings,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
    email_message,
    pagerduty_payload,
    slack_payload,
)
from moorline.registry.events import verify_signature
from moorline.store.alert_delivery import AlertSender
from tests.registry.receiver import receiver

T0 = 1_700_000_000_000
SECRET = "an-hmac-secret-of-some-length"
ROUTING_KEY = "R0123456789abcdef0123456789abcde"  # 32 characters, as PagerDuty's
FAST = DeliverySettings(
    timeout=2.0, max_attempts=4, backoff_base=0.01, backoff_max=0.05, deadline=5.0
)


def notifications(
    *,
    severity: AlertSeverity = AlertSeverity.CRITICAL,
    name: str = "high-drift",
    description: str = "",
    links: tuple[Link, ...] = (
        Link(text="Monitor", url="https://moorline.example.com/monitors/churn"),
    ),
) -> tuple[Notification, Notification]:
    """A firing and the resolved notice that follows it, from the real state machine."""
    rule = AlertRule(
        name=name,
        monitor="churn",
        condition="drift_share >= 0.5",
        severity=severity,
        cooldown_seconds=0,
        description=description,
    )
    states: dict[str, AlertState] = {}
    states, (firing,) = evaluate(rule, states, {"drift_share": 0.625}, T0, links=links)
    _, (resolved,) = evaluate(rule, states, {"drift_share": 0.125}, T0 + 754_000, links=links)
    return firing, resolved


# -- generic webhook ----------------------------------------------------------------------


def test_webhook_payload_and_signature() -> None:
    firing, resolved = notifications()
    channel = WebhookChannel(name="hooks", url="https://hooks.example.com/alerts", secret=SECRET)
    request = channel.build(firing)
    assert request.url == "https://hooks.example.com/alerts"
    document = json.loads(request.body)
    assert set(document) == {"event", "alert"}
    assert document["event"] == "alert.firing"
    alert = document["alert"]
    assert alert["status"] == "firing"
    assert alert["dedup_key"] == "high-drift/churn"
    assert alert["severity"] == "critical"
    assert alert["value"] == 0.625
    assert alert["title"] == "FIRING: high-drift on churn"
    assert alert["links"] == [
        {"text": "Monitor", "url": "https://moorline.example.com/monitors/churn"}
    ]
    assert alert["id"] == firing.id
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Moorline-Event"] == "alert.firing"
    assert headers["X-Moorline-Delivery"] == firing.id
    assert headers["X-Moorline-Signature"].startswith("sha256=")
    assert verify_signature(request.body, SECRET, headers["X-Moorline-Signature"])
    assert not verify_signature(request.body, SECRET + "x", headers["X-Moorline-Signature"])
    assert not verify_signature(request.body + b" ", SECRET, headers["X-Moorline-Signature"])
    assert channel.build(firing) == request  # the same bytes every time: retries verify too

    resolved_doc = channel.build(resolved).json()
    assert resolved_doc["event"] == "alert.resolved"
    assert resolved_doc["alert"]["status"] == "resolved"
    assert resolved_doc["alert"]["fired_at"] == T0
    assert resolved_doc["alert"]["at"] == T0 + 754_000


# -- Slack --------------------------------------------------------------------------------


def test_slack_message_structure() -> None:
    firing, resolved = notifications(description="Check the <upstream> feed & the join")
    message = slack_payload(firing)
    assert set(message) == {"text", "blocks"}
    assert message["text"].startswith(":rotating_light: FIRING: high-drift on churn: ")
    header, section, context = message["blocks"]

    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": ":rotating_light: FIRING: high-drift on churn",
            "emoji": True,
        },
    }
    assert section["type"] == "section"
    assert section["text"]["type"] == "mrkdwn"
    # mrkdwn control characters are escaped, so user text cannot forge links or mentions
    assert "&lt;upstream&gt; feed &amp; the join" in section["text"]["text"]
    assert "<upstream>" not in json.dumps(message)
    labels = [f["text"].split("\n")[0] for f in section["fields"]]
    assert labels == ["*Severity*", "*Monitor*", "*Rule*", "*Value*", "*Condition*", "*Fired at*"]
    assert all(f["type"] == "mrkdwn" for f in section["fields"])
    assert "*Condition*\ndrift_share &gt;= 0.5" in [f["text"] for f in section["fields"]]
    assert context["type"] == "context"
    assert context["elements"][0] == {
        "type": "mrkdwn",
        "text": "<https://moorline.example.com/monitors/churn|Monitor>",
    }
    assert context["elements"][-1]["text"] == "moorline · high-drift/churn"

    resolved_message = slack_payload(resolved)
    assert resolved_message["blocks"][0]["text"]["text"].startswith(":white_check_mark: RESOLVED:")
    assert [f["text"].split("\n")[0] for f in resolved_message["blocks"][1]["fields"]][
        -1
    ] == "*Resolved at*"

    channel = SlackChannel(name="ml-team", webhook_url="https://hooks.slack.com/services/T0/B0/XYZ")
    request = channel.build(firing)
    assert request.url == "https://hooks.slack.com/services/T0/B0/XYZ"
    assert request.json() == message


def test_slack_limits_are_respected() -> None:
    long_name = "r" * 199
    links = tuple(Link(text=f"link {i}", url=f"https://example.com/{i}") for i in range(15))
    firing, _ = notifications(name=long_name, description="d" * 5000, links=links)
    header, section, context = slack_payload(firing)["blocks"]
    assert len(header["text"]["text"]) <= 150
    assert header["text"]["text"].endswith("…")
    assert len(section["text"]["text"]) <= 3000
    assert len(section["fields"]) <= 10
    assert all(len(f["text"]) <= 2000 for f in section["fields"])
    assert len(context["elements"]) <= 10


# -- PagerDuty -----------------------------------------------------------------------------


@pytest.mark.parametrize("severity", list(AlertSeverity))
def test_pagerduty_event_fields(severity: AlertSeverity) -> None:
    firing, resolved = notifications(severity=severity)
    trigger = pagerduty_payload(
        firing, routing_key=ROUTING_KEY, source="ml-prod", client_url="https://ml.example.com"
    )
    resolve = pagerduty_payload(resolved, routing_key=ROUTING_KEY, source="ml-prod")
    for event in (trigger, resolve):
        # required by the Events API v2
        assert event["routing_key"] == ROUTING_KEY
        assert event["event_action"] in {"trigger", "acknowledge", "resolve"}
        assert isinstance(event["dedup_key"], str) and 0 < len(event["dedup_key"]) <= 255
        payload = event["payload"]
        assert isinstance(payload["summary"], str) and 0 < len(payload["summary"]) <= 1024
        assert payload["source"] == "ml-prod"
        assert payload["severity"] in {"critical", "error", "warning", "info"}
        assert payload["severity"] == severity.value
        assert isinstance(payload["custom_details"], dict)
        stamp = dt.datetime.fromisoformat(payload["timestamp"])
        assert stamp.tzinfo is not None
        assert event["links"] == [
            {"href": "https://moorline.example.com/monitors/churn", "text": "Monitor"}
        ]
        json.dumps(event, allow_nan=False)  # plain JSON
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert (
        trigger["dedup_key"] == resolve["dedup_key"] == "high-drift/churn"
    )  # the resolve closes the trigger
    assert dt.datetime.fromisoformat(trigger["payload"]["timestamp"]).timestamp() * 1000 == T0
    assert (
        dt.datetime.fromisoformat(resolve["payload"]["timestamp"]).timestamp() * 1000
        == T0 + 754_000
    )
    assert (
        trigger["payload"]["component"] == "churn" and trigger["payload"]["class"] == "high-drift"
    )
    assert trigger["payload"]["custom_details"]["observed"] == 0.625
    assert trigger["client"] == "moorline" and trigger["client_url"] == "https://ml.example.com"


def test_pagerduty_long_keys_and_summaries_fit() -> None:
    firing, _ = notifications(name="n" * 199, description="x" * 3000)
    rule = AlertRule(
        name="n" * 199, monitor="m" * 199, condition="columns.*.drift_detected == true"
    )
    _, (wide,) = evaluate(
        rule, {}, {"columns": [{"column": "c" * 100, "drift_detected": True}]}, T0
    )
    event = pagerduty_payload(wide, routing_key=ROUTING_KEY)
    assert len(wide.dedup_key) > 255
    assert len(event["dedup_key"]) <= 255 and event["dedup_key"].startswith("moorline:")
    assert len(pagerduty_payload(firing, routing_key=ROUTING_KEY)["payload"]["summary"]) == 1024


def test_pagerduty_channel_validation() -> None:
    channel = PagerDutyChannel(name="oncall", routing_key=ROUTING_KEY)
    assert channel.url == PAGERDUTY_EVENTS_URL
    with pytest.raises(InvalidArgument, match="32-character integration key"):
        PagerDutyChannel(name="oncall", routing_key="too-short")
    with pytest.raises(InvalidArgument, match="scheme must be http or https"):
        PagerDutyChannel(name="oncall", routing_key=ROUTING_KEY, url="ftp://events.example.com")


# -- email ---------------------------------------------------------------------------------


def _parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}  # type: ignore[attr-defined]


def test_email_headers_and_parts() -> None:
    firing, resolved = notifications(description="<script>alert(1)</script> & more")
    message = email_message(
        firing, sender="alerts@ml.example.com", recipients=("ops@example.com", "ml@example.com")
    )
    assert message["Subject"] == "[moorline] FIRING: high-drift on churn"
    assert message["From"] == "alerts@ml.example.com"
    assert message["To"] == "ops@example.com, ml@example.com"
    assert parsedate_to_datetime(message["Date"]).timestamp() * 1000 == T0
    assert message["Message-ID"] == f"<{firing.id}@ml.example.com>"
    assert message["X-Moorline-Event"] == "alert.firing"
    assert message["X-Moorline-Dedup-Key"] == "high-drift/churn"
    assert message.get_content_type() == "multipart/alternative"
    parts = _parts(message)
    assert set(parts) == {"text/plain", "text/html"}
    assert "drift_share = 0.625 (rule: drift_share >= 0.5)" in parts["text/plain"]
    assert "Monitor: https://moorline.example.com/monitors/churn" in parts["text/plain"]
    html = parts["text/html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<a href="https://moorline.example.com/monitors/churn">Monitor</a>' in html

    # the bytes parse back to the same message
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == message["Subject"]
    assert _parts(parsed) == parts  # type: ignore[arg-type]

    reply = email_message(resolved, sender="alerts@ml.example.com", recipients=("ops@example.com",))
    assert reply["Subject"] == "[moorline] RESOLVED: high-drift on churn"
    assert (
        reply["In-Reply-To"] == reply["References"] == message["Message-ID"]
    )  # threads with the firing
    assert reply["Message-ID"] != message["Message-ID"]
    assert "Resolved at:" in _parts(reply)["text/plain"]


def test_channel_configuration_is_checked_and_secrets_stay_out_of_repr() -> None:
    with pytest.raises(InvalidArgument, match="at least 16 characters"):
        WebhookChannel(name="h", url="https://h.example.com", secret="short")
    with pytest.raises(InvalidArgument, match="credentials do not belong in the URL"):
        WebhookChannel(name="h", url="https://user:pw@h.example.com", secret=SECRET)
    with pytest.raises(InvalidArgument, match="A channel needs a name"):
        SlackChannel(name="", webhook_url="https://hooks.slack.com/x")
    with pytest.raises(InvalidArgument, match="invalid recipient address 'not an address'"):
        EmailChannel(
            name="e",
            host="smtp.example.com",
            sender="a@example.com",
            recipients=("not an address",),
        )
    # malformed in ways the email parser reports with HeaderParseError (not a ValueError)
    for bad in ("@", "a@@b", "a@b@c", "(@"):
        with pytest.raises(InvalidArgument, match="invalid sender address"):
            EmailChannel(name="e", host="smtp.example.com", sender=bad, recipients=("a@b.org",))
    with pytest.raises(InvalidArgument, match="at least one recipient"):
        EmailChannel(name="e", host="smtp.example.com", sender="a@example.com", recipients=())
    with pytest.raises(InvalidArgument, match="password in clear; set starttls"):
        EmailChannel(
            name="e",
            host="smtp.example.com",
            sender="a@example.com",
            recipients=("b@example.com",),
            username="u",
            password="p",
        )
    with pytest.raises(InvalidArgument, match="both a username and a password"):
        EmailChannel(
            name="e",
            host="127.0.0.1",
            sender="a@example.com",
            recipients=("b@example.com",),
            username="u",
        )
    with pytest.raises(InvalidArgument, match="unknown min_severity 'high'"):
        SlackChannel(name="s", webhook_url="https://hooks.slack.com/x", min_severity="high")  # type: ignore[arg-type]

    hidden = [
        repr(WebhookChannel(name="h", url="https://h.example.com", secret=SECRET)),
        repr(
            SlackChannel(name="s", webhook_url="https://hooks.slack.com/services/T0/B0/SECRETPATH")
        ),
        repr(PagerDutyChannel(name="p", routing_key=ROUTING_KEY)),
        repr(
            EmailChannel(
                name="e",
                host="smtp.example.com",
                sender="a@example.com",
                recipients=("b@example.com",),
                starttls=True,
                username="u",
                password="hunter2-password",
            )
        ),
    ]
    for text in hidden:
        for secret in (SECRET, "SECRETPATH", ROUTING_KEY, "hunter2-password"):
            assert secret not in text


def test_min_severity_routes_notifications() -> None:
    pager = PagerDutyChannel(name="p", routing_key=ROUTING_KEY, min_severity="critical")  # type: ignore[arg-type]
    critical, _ = notifications(severity=AlertSeverity.CRITICAL)
    warning, _ = notifications(severity=AlertSeverity.WARNING)
    assert pager.wants(critical) and not pager.wants(warning)
    assert SlackChannel(name="s", webhook_url="https://hooks.slack.com/x").wants(warning)


def test_delivery_settings_validation() -> None:
    with pytest.raises(InvalidArgument, match="max_attempts must be at least 1"):
        DeliverySettings(max_attempts=0)
    with pytest.raises(InvalidArgument, match="timeout must be a positive number"):
        DeliverySettings(timeout=0)
    assert [DeliverySettings(backoff_base=1, backoff_max=5).backoff(n) for n in (1, 2, 3, 4)] == [
        1,
        2,
        4,
        5,
    ]


# -- delivery over HTTP to real receivers ----------------------------------------------------


def test_delivery_to_http_receivers_in_each_format() -> None:
    firing, resolved = notifications()
    with (
        receiver() as generic,
        receiver() as slack,
        receiver() as pager,
        AlertSender(FAST) as sender,
    ):
        channels = [
            WebhookChannel(name="hooks", url=generic.url, secret=SECRET),
            SlackChannel(name="slack", webhook_url=slack.url),
            PagerDutyChannel(name="pd", routing_key=ROUTING_KEY, url=pager.url),
        ]
        results = sender.deliver([firing, resolved], channels)
        assert [(r.channel, r.event, r.ok, r.attempts, r.status_code) for r in results] == [
            ("hooks", "alert.firing", True, 1, 200),
            ("slack", "alert.firing", True, 1, 200),
            ("pd", "alert.firing", True, 1, 200),
            ("hooks", "alert.resolved", True, 1, 200),
            ("slack", "alert.resolved", True, 1, 200),
            ("pd", "alert.resolved", True, 1, 200),
        ]
        got_generic = generic.wait_for(2, timeout=5)
        got_slack = slack.wait_for(2, timeout=5)
        got_pager = pager.wait_for(2, timeout=5)

    for request, note in zip(got_generic, (firing, resolved), strict=True):
        # what a receiver does: verify the signature over the raw body with the shared secret
        assert verify_signature(request.body, SECRET, request.headers["X-Moorline-Signature"])
        assert request.headers["X-Moorline-Event"] == note.event
        assert request.headers["X-Moorline-Delivery"] == note.id
        assert json.loads(request.body)["alert"]["status"] == note.kind.value
    assert [json.loads(r.body) for r in got_slack] == [
        slack_payload(firing),
        slack_payload(resolved),
    ]
    assert [json.loads(r.body)["event_action"] for r in got_pager] == ["trigger", "resolve"]
    assert json.loads(got_pager[0].body) == pagerduty_payload(firing, routing_key=ROUTING_KEY)
    assert all(r.headers["Content-Type"] == "application/json" for r in got_slack + got_pager)


def test_deliver_skips_channels_below_their_min_severity() -> None:
    critical, _ = notifications(severity=AlertSeverity.CRITICAL)
    warning, _ = notifications(severity=AlertSeverity.WARNING, name="minor")
    with receiver() as pager, receiver() as slack, AlertSender(FAST) as sender:
        results = sender.deliver(
            [critical, warning],
            [
                PagerDutyChannel(
                    name="pd",
                    routing_key=ROUTING_KEY,
                    url=pager.url,
                    min_severity=AlertSeverity.CRITICAL,
                ),
                SlackChannel(name="slack", webhook_url=slack.url),
            ],
        )
        assert [(r.channel, r.dedup_key) for r in results] == [
            ("pd", "high-drift/churn"),
            ("slack", "high-drift/churn"),
            ("slack", "minor/churn"),
        ]
        slack.wait_for(2, timeout=5)
        assert len(pager.requests) == 1


def test_a_failing_receiver_is_retried_until_it_succeeds() -> None:
    firing, _ = notifications()
    waits: list[float] = []
    with receiver(lambda n: (503 if n < 2 else 202, 0.0)) as rx:
        with AlertSender(FAST, sleep=waits.append) as sender:
            result = sender.send(WebhookChannel(name="hooks", url=rx.url, secret=SECRET), firing)
        requests = rx.wait_for(3, timeout=5)
    assert result.ok and result.attempts == 3 and result.status_code == 202 and result.error == ""
    assert waits == [FAST.backoff(1), FAST.backoff(2)]  # exponential backoff between attempts
    assert len(requests) == 3
    # every attempt carries the same body, delivery id and a valid signature
    assert len({r.body for r in requests}) == 1
    assert {r.headers["X-Moorline-Delivery"] for r in requests} == {firing.id}
    assert all(
        verify_signature(r.body, SECRET, r.headers["X-Moorline-Signature"]) for r in requests
    )


def test_a_receiver_that_never_recovers_is_given_up_after_max_attempts() -> None:
    firing, _ = notifications()
    with receiver(lambda n: (500, 0.0)) as rx, AlertSender(FAST) as sender:
        result = sender.send(SlackChannel(name="slack", webhook_url=rx.url), firing)
        assert len(rx.wait_for(4, timeout=5)) == 4
    assert not result.ok and result.attempts == FAST.max_attempts and result.status_code == 500
    assert result.error == "HTTP 500: ok"  # the receiver's answer is kept for the log


def test_a_client_error_is_not_retried() -> None:
    firing, _ = notifications()
    with receiver(lambda n: (400, 0.0)) as rx, AlertSender(FAST) as sender:
        result = sender.send(
            PagerDutyChannel(name="pd", routing_key=ROUTING_KEY, url=rx.url), firing
        )
        time.sleep(0.1)
        assert len(rx.requests) == 1
    assert not result.ok and result.attempts == 1 and result.status_code == 400
    assert result.error.startswith("HTTP 400")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_receiver_at_all_is_retried_then_reported() -> None:
    firing, _ = notifications()
    url = f"http://127.0.0.1:{_closed_port()}/hook"
    with AlertSender(FAST) as sender:
        result = sender.send(WebhookChannel(name="hooks", url=url, secret=SECRET), firing)
    assert not result.ok and result.attempts == FAST.max_attempts
    assert result.status_code is None and "ConnectError" in result.error


@pytest.fixture
def hanging_url() -> Iterator[str]:
    """A receiver that accepts connections and never answers: a listening socket whose
    backlog takes the request and nobody reads it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"


def test_a_hanging_receiver_blocks_no_longer_than_the_timeout(hanging_url: str) -> None:
    firing, _ = notifications()
    settings = DeliverySettings(timeout=0.3, max_attempts=1, deadline=5.0)
    started = time.monotonic()
    with AlertSender(settings) as sender:
        result = sender.send(SlackChannel(name="slack", webhook_url=hanging_url), firing)
    elapsed = time.monotonic() - started
    assert not result.ok and result.attempts == 1
    assert "no answer within 0.3 s" in result.error
    assert 0.25 <= elapsed < 0.3 + 0.5, elapsed


def test_retries_of_a_hanging_receiver_stop_at_the_deadline(hanging_url: str) -> None:
    firing, _ = notifications()
    settings = DeliverySettings(timeout=0.4, max_attempts=10, backoff_base=0.05, deadline=1.0)
    started = time.monotonic()
    with AlertSender(settings) as sender:
        result = sender.send(WebhookChannel(name="hooks", url=hanging_url, secret=SECRET), firing)
    elapsed = time.monotonic() - started
    assert not result.ok and 2 <= result.attempts < 10
    assert elapsed < 1.0 + 0.5, elapsed
    assert result.elapsed <= elapsed


# -- delivery over SMTP to a real server --------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server received; ``refuse`` answers the first N DATA commands with 451."""

    refuse: int = 0
    envelopes: list[Envelope] = field(default_factory=list)
    attempts: int = 0

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        if self.attempts <= self.refuse:
            return "451 4.3.0 Try again later"
        self.envelopes.append(envelope)
        return "250 OK"

    def message(self, index: int = 0) -> EmailMessage:
        content = self.envelopes[index].content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class LoopbackController(Controller):
    """aiosmtpd's threaded controller on a free port of 127.0.0.1."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def smtp_server(mailbox: Mailbox, **smtp_options: Any) -> LoopbackController:
    controller = LoopbackController(mailbox, hostname="127.0.0.1", port=0, **smtp_options)
    controller.start()
    return controller


def test_email_is_delivered_to_a_real_smtp_server() -> None:
    firing, resolved = notifications()
    mailbox = Mailbox()
    server = smtp_server(mailbox)
    try:
        channel = EmailChannel(
            name="mail",
            host="127.0.0.1",
            port=server.port,
            sender="alerts@ml.example.com",
            recipients=("ops@example.com", "ml@example.com"),
            local_hostname="moorline.test",
        )
        with AlertSender(FAST) as sender:
            results = sender.deliver([firing, resolved], [channel])
    finally:
        server.stop()
    assert [(r.ok, r.attempts, r.status_code, r.channel_type) for r in results] == [
        (True, 1, 250, "email")
    ] * 2
    assert len(mailbox.envelopes) == 2
    envelope = mailbox.envelopes[0]
    assert envelope.mail_from == "alerts@ml.example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "ml@example.com"]
    message = mailbox.message(0)
    assert message["Subject"] == "[moorline] FIRING: high-drift on churn"
    assert message["Message-ID"] == f"<{firing.id}@ml.example.com>"
    parts = _parts(message)
    assert "drift_share = 0.625 (rule: drift_share >= 0.5)" in parts["text/plain"]
    assert "<h2" in parts["text/html"] and "FIRING: high-drift on churn" in parts["text/html"]
    reply = mailbox.message(1)
    assert reply["Subject"] == "[moorline] RESOLVED: high-drift on churn"
    assert reply["In-Reply-To"] == message["Message-ID"]


def test_an_smtp_server_asking_to_try_later_gets_the_mail_on_a_retry() -> None:
    firing, _ = notifications()
    mailbox = Mailbox(refuse=2)
    server = smtp_server(mailbox)
    waits: list[float] = []
    try:
        channel = EmailChannel(
            name="mail",
            host="127.0.0.1",
            port=server.port,
            sender="alerts@example.com",
            recipients=("ops@example.com",),
            local_hostname="moorline.test",
        )
        with AlertSender(FAST, sleep=waits.append) as sender:
            result = sender.send(channel, firing)
    finally:
        server.stop()
    assert result.ok and result.attempts == 3 and mailbox.attempts == 3
    assert waits == [FAST.backoff(1), FAST.backoff(2)]
    assert len(mailbox.envelopes) == 1


def test_no_smtp_server_is_retried_then_reported() -> None:
    firing, _ = notifications()
    channel = EmailChannel(
        name="mail",
        host="127.0.0.1",
        port=_closed_port(),
        sender="alerts@example.com",
        recipients=("ops@example.com",),
        local_hostname="moorline.test",
    )
    with AlertSender(FAST) as sender:
        result = sender.send(channel, firing)
    assert not result.ok and result.attempts == FAST.max_attempts
    assert "ConnectionRefusedError" in result.error


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moorline test SMTP")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_starttls_and_login(tls_files: tuple[Path, Path]) -> None:
    cert_file, key_file = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        # handled=False: aiosmtpd answers a refusal itself (535)
        return AuthResult(success=auth_data.password == b"right-password", handled=False)

    mailbox = Mailbox()
    server = smtp_server(
        mailbox,
        tls_context=context,
        require_starttls=True,  # the server refuses anything before STARTTLS
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    firing, _ = notifications()

    def channel(password: str, *, starttls: bool = True) -> EmailChannel:
        return EmailChannel(
            name="mail",
            host="127.0.0.1",
            port=server.port,
            sender="alerts@example.com",
            recipients=("ops@example.com",),
            starttls=starttls,
            username="moorline",
            password=password,
            ca_file=str(cert_file),
            local_hostname="moorline.test",
        )

    try:
        with AlertSender(FAST) as sender:
            good = sender.send(channel("right-password"), firing)
            wrong = sender.send(channel("wrong-password"), firing)
            plain = sender.send(channel("right-password", starttls=False), firing)
    finally:
        server.stop()
    assert good.ok and good.attempts == 1
    assert mailbox.message(0)["Subject"] == "[moorline] FIRING: high-drift on churn"
    # a refused login is final: retrying the same password cannot help
    assert not wrong.ok and wrong.attempts == 1 and wrong.status_code == 535
    # without STARTTLS the server will not even offer a login: also final
    assert not plain.ok and plain.attempts == 1
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN) before giving up
    assert logins[0] == (b"moorline", b"right-password")
    assert set(logins[1:]) == {(b"moorline", b"wrong-password")}
    assert len(mailbox.envelopes) == 1


def test_an_untrusted_certificate_is_refused(tls_files: tuple[Path, Path]) -> None:
    cert_file, key_file = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    mailbox = Mailbox()
    server = smtp_server(mailbox, tls_context=context, require_starttls=True)
    firing, _ = notifications()
    try:
        channel = EmailChannel(
            name="mail",
            host="127.0.0.1",
            port=server.port,
            sender="alerts@example.com",
            recipients=("ops@example.com",),
            starttls=True,  # verified against the system's CAs: our test CA is not one of them
            local_hostname="moorline.test",
        )
        with AlertSender(FAST) as sender:
            result = sender.send(channel, firing)
    finally:
        server.stop()
    assert not result.ok and result.attempts == 1
    assert "certificate" in result.error.lower()
    assert mailbox.envelopes == []
