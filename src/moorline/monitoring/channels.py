"""Alert channels: where notifications go, and the exact message each one gets.

A channel is configuration plus one verb, ``build(notification)``: the HTTP
channels return an :class:`HttpRequest` (URL, body bytes, headers), the
email channel an :class:`email.message.EmailMessage`. Building is pure, so
every format is tested byte for byte without a network; sending is the job
of an :class:`AlertTransport` adapter (``moorline.store.alert_delivery``,
over httpx and smtplib), because this domain module imports no network
library.

=============== ===================================================================
channel         what the receiver gets
=============== ===================================================================
webhook         ``{"event": "alert.firing"|"alert.resolved", "alert": {...}}``,
                signed like the registry's webhooks:
                ``X-Moorline-Signature: sha256=<HMAC-SHA256 hex of the body>``
slack           a Slack incoming-webhook message: ``text`` (the fallback shown
                in notifications) and ``blocks``: a header, a section with
                fields, a context line with the links
pagerduty       a PagerDuty Events API v2 event: ``trigger`` when an alert
                fires, ``resolve`` when it clears, on the alert's ``dedup_key``
email           a multipart/alternative message (plain text and HTML); a
                resolved notice replies to its firing (``In-Reply-To``), so
                mail clients thread them
=============== ===================================================================

A channel takes the notifications of severity ``min_severity`` and above,
so one rule set can page PagerDuty on ``critical`` and post everything to
Slack.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, ClassVar, Final, Protocol

from moorline import __version__
from moorline.errors import InvalidArgument
from moorline.monitoring.alerts import (
    AlertSeverity,
    Notification,
    NotificationKind,
    format_value,
    iso_time,
)
from moorline.registry.events import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    sign,
    validate_url,
)

PAGERDUTY_EVENTS_URL: Final = "https://events.pagerduty.com/v2/enqueue"
#: PagerDuty's limits (Events API v2).
PAGERDUTY_MAX_SUMMARY: Final = 1024
PAGERDUTY_MAX_DEDUP_KEY: Final = 255
#: Slack's Block Kit limits.
SLACK_MAX_HEADER: Final = 150
SLACK_MAX_SECTION_TEXT: Final = 3000
SLACK_MAX_FIELDS: Final = 10
SLACK_MAX_FIELD_TEXT: Final = 2000
SLACK_MAX_CONTEXT_ELEMENTS: Final = 10
MIN_SECRET = 16
_USER_AGENT: Final = f"moorline-alerts/{__version__}"
_SPACES = re.compile(r"\s+")


# -- what the channels produce ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """One POST to make: the same bytes on every attempt (the signature covers them)."""

    url: str
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverySettings:
    """How hard an adapter tries.

    Each attempt may take ``timeout`` seconds (to connect, and for each read
    or write); a failed attempt that may succeed later (no connection, a
    timeout, HTTP 408/429/5xx, SMTP 4xx) is retried after
    ``backoff_base * 2**(n-1)`` seconds (at most ``backoff_max``), up to
    ``max_attempts`` attempts, and never past ``deadline`` seconds from the
    first: a dead receiver costs a caller at most ``deadline`` seconds.

    >>> DeliverySettings(backoff_base=0.5).backoff(3)
    2.0
    """

    timeout: float = 5.0
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    deadline: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or self.max_attempts < 1:
            raise InvalidArgument(f"max_attempts must be at least 1, got {self.max_attempts!r}")
        for name in ("timeout", "backoff_base", "backoff_max", "deadline"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise InvalidArgument(f"{name} must be a positive number, got {value!r}")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        return float(min(self.backoff_base * 2.0 ** (attempt - 1), self.backoff_max))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    """What became of one notification on one channel.

    ``ok``: the receiver accepted it. ``attempts``: how many tries it took.
    ``status_code``: the last HTTP status or SMTP reply code (None when no
    answer came). ``error``: why the last attempt failed ("" on success).
    """

    channel: str
    channel_type: str
    notification_id: str
    dedup_key: str
    event: str
    ok: bool
    attempts: int
    status_code: int | None = None
    error: str = ""
    elapsed: float = 0.0


# -- payload builders (pure) --------------------------------------------------------------


def _dumps(document: Any) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def webhook_payload(notification: Notification) -> dict[str, Any]:
    """The generic webhook's document.

    >>> from moorline.monitoring.alerts import AlertRule, evaluate
    >>> rule = AlertRule(name="drift", monitor="churn", condition="drift_share >= 0.5")
    >>> _, (note,) = evaluate(rule, {}, {"drift_share": 0.6}, now=0)
    >>> doc = webhook_payload(note)
    >>> doc["event"], doc["alert"]["status"], doc["alert"]["dedup_key"]
    ('alert.firing', 'firing', 'drift/churn')
    """
    return {"event": notification.event, "alert": notification.to_dict()}


def webhook_request(notification: Notification, *, url: str, secret: str) -> HttpRequest:
    """The signed POST of the generic webhook (headers as the registry's webhooks)."""
    body = _dumps(webhook_payload(notification))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": _USER_AGENT,
        EVENT_HEADER: notification.event,
        DELIVERY_HEADER: notification.id,
        SIGNATURE_HEADER: sign(body, secret),
    }
    return HttpRequest(url=url, body=body, headers=headers)


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fields(notification: Notification) -> list[tuple[str, str]]:
    """The labelled facts every human-facing format shows, in order."""
    details = notification.details
    out = [
        ("Severity", notification.severity.value),
        ("Monitor", notification.monitor),
        ("Rule", notification.rule),
    ]
    if notification.column is not None:
        out.append(("Column", notification.column))
    out += [
        ("Value", format_value(notification.value)),
        ("Condition", notification.condition),
        ("Fired at", str(details.get("fired_at") or "")),
    ]
    if notification.kind == NotificationKind.RESOLVED:
        out.append(("Resolved at", str(details.get("resolved_at") or "")))
    return out


def slack_payload(notification: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook message (Block Kit), within Slack's size limits.

    >>> from moorline.monitoring.alerts import AlertRule, evaluate
    >>> rule = AlertRule(name="drift", monitor="churn", condition="drift_share >= 0.5")
    >>> _, (note,) = evaluate(rule, {}, {"drift_share": 0.6}, now=0)
    >>> [block["type"] for block in slack_payload(note)["blocks"]]
    ['header', 'section', 'context']
    """
    firing = notification.kind == NotificationKind.FIRING
    icon = ":rotating_light:" if firing else ":white_check_mark:"
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{label}*\n{_mrkdwn(value)}", SLACK_MAX_FIELD_TEXT)}
        for label, value in _fields(notification)
    ][:SLACK_MAX_FIELDS]
    context = [
        {"type": "mrkdwn", "text": f"<{link.url}|{_mrkdwn(link.text)}>"}
        for link in notification.links
    ][: SLACK_MAX_CONTEXT_ELEMENTS - 1]
    context.append({"type": "mrkdwn", "text": _mrkdwn(f"moorline · {notification.dedup_key}")})
    return {
        "text": f"{icon} {_mrkdwn(notification.title)}: {_mrkdwn(notification.summary)}",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": _cut(f"{icon} {notification.title}", SLACK_MAX_HEADER),
                    "emoji": True,
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _cut(_mrkdwn(notification.summary), SLACK_MAX_SECTION_TEXT),
                },
                "fields": fields,
            },
            {"type": "context", "elements": context},
        ],
    }


def pagerduty_dedup_key(dedup_key: str) -> str:
    """The alert's key as PagerDuty takes it: itself, or a digest when it is longer
    than PagerDuty's 255 characters.

    >>> pagerduty_dedup_key("drift/churn")
    'drift/churn'
    >>> len(pagerduty_dedup_key("x" * 300))
    73
    """
    if len(dedup_key) <= PAGERDUTY_MAX_DEDUP_KEY:
        return dedup_key
    return "moorline:" + hashlib.sha256(dedup_key.encode()).hexdigest()


def pagerduty_payload(
    notification: Notification,
    *,
    routing_key: str,
    source: str = "moorline",
    client_url: str | None = None,
) -> dict[str, Any]:
    """A PagerDuty Events API v2 event: ``trigger`` for a firing, ``resolve`` for a
    resolved notice, on the same ``dedup_key``, so PagerDuty resolves the alert
    it opened. The severity is the rule's (already one of PagerDuty's four).

    >>> from moorline.monitoring.alerts import AlertRule, evaluate
    >>> rule = AlertRule(name="mae", monitor="prices", condition="performance.mae > 0.3",
    ...                  severity="critical")
    >>> _, (note,) = evaluate(rule, {}, {"performance": {"mae": 0.41}}, now=0)
    >>> event = pagerduty_payload(note, routing_key="R" * 32)
    >>> event["event_action"], event["payload"]["severity"], event["dedup_key"]
    ('trigger', 'critical', 'mae/prices')
    >>> event["payload"]["summary"]
    'FIRING: mae on prices: performance.mae = 0.41 (rule: performance.mae > 0.3)'
    """
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger" if notification.kind == NotificationKind.FIRING else "resolve",
        "dedup_key": pagerduty_dedup_key(notification.dedup_key),
        "client": "moorline",
        "payload": {
            "summary": _cut(f"{notification.title}: {notification.summary}", PAGERDUTY_MAX_SUMMARY),
            "source": source,
            "severity": notification.severity.value,
            "timestamp": iso_time(notification.at),
            "component": notification.monitor,
            "class": notification.rule,
            "custom_details": notification.to_dict()["details"],
        },
    }
    if notification.links:
        event["links"] = [{"href": link.url, "text": link.text} for link in notification.links]
    if client_url:
        event["client_url"] = client_url
    return event


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def email_message(
    notification: Notification,
    *,
    sender: str,
    recipients: tuple[str, ...],
    subject_prefix: str = "[moorline]",
) -> EmailMessage:
    """The email: subject, plain-text and HTML parts, and a stable ``Message-ID``
    (the notification's id), so a resolved notice threads under its firing.

    >>> from moorline.monitoring.alerts import AlertRule, evaluate
    >>> rule = AlertRule(name="drift", monitor="churn", condition="drift_share >= 0.5")
    >>> _, (note,) = evaluate(rule, {}, {"drift_share": 0.6}, now=0)
    >>> msg = email_message(note, sender="alerts@example.com", recipients=("ops@example.com",))
    >>> msg["Subject"], msg.get_content_type()
    ('[moorline] FIRING: drift on churn', 'multipart/alternative')
    """
    domain = sender.rpartition("@")[2] or "moorline.invalid"
    message = EmailMessage()
    message["Subject"] = _one_line(f"{subject_prefix} {notification.title}")
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.fromtimestamp(notification.at / 1000, tz=UTC))
    message["Message-ID"] = f"<{notification.id}@{domain}>"
    if notification.kind == NotificationKind.RESOLVED:
        firing = f"<{notification.firing_id}@{domain}>"
        message["In-Reply-To"] = firing
        message["References"] = firing
    message["X-Moorline-Event"] = notification.event
    message["X-Moorline-Dedup-Key"] = _one_line(notification.dedup_key)
    message.set_content(_email_text(notification))
    message.add_alternative(_email_html(notification), subtype="html")
    return message


def _email_text(notification: Notification) -> str:
    lines = [notification.title, "", notification.summary, ""]
    width = max(len(label) for label, _ in _fields(notification))
    lines += [f"{label + ':':<{width + 1}} {value}" for label, value in _fields(notification)]
    if notification.links:
        lines += ["", "Links:"]
        lines += [f"  {link.text}: {link.url}" for link in notification.links]
    lines += ["", "--", f"Sent by moorline. Deduplication key: {notification.dedup_key}"]
    return "\n".join(lines) + "\n"


def _email_html(notification: Notification) -> str:
    esc = html.escape
    colour = "#b42318" if notification.kind == NotificationKind.FIRING else "#067647"
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{esc(label)}</th>'
        f"<td>{esc(value)}</td></tr>"
        for label, value in _fields(notification)
    )
    links = "".join(
        f'<li><a href="{esc(link.url, quote=True)}">{esc(link.text)}</a></li>'
        for link in notification.links
    )
    return (
        '<!DOCTYPE html>\n<html><body style="font-family:sans-serif">'
        f'<h2 style="color:{colour}">{esc(notification.title)}</h2>'
        f"<p>{esc(notification.summary)}</p>"
        f"<table>{rows}</table>"
        + (f"<ul>{links}</ul>" if links else "")
        + f'<p style="color:#667085;font-size:small">Sent by moorline. Deduplication key: '
        f"{esc(notification.dedup_key)}</p></body></html>\n"
    )


# -- channel configurations -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Channel:
    #: a name for the delivery log ("oncall", "ml-team-slack")
    name: str
    #: the lowest severity this channel takes
    min_severity: AlertSeverity = AlertSeverity.INFO

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidArgument(f"A channel needs a name, got {self.name!r}")
        try:
            object.__setattr__(self, "min_severity", AlertSeverity(self.min_severity))
        except ValueError:
            raise InvalidArgument(
                f"Channel {self.name!r}: unknown min_severity {self.min_severity!r}; use one of "
                + ", ".join(s.value for s in AlertSeverity)
            ) from None

    #: "webhook", "slack", "pagerduty" or "email"
    channel_type: ClassVar[str]

    def wants(self, notification: Notification) -> bool:
        """Whether this channel takes ``notification`` (by its severity)."""
        return notification.severity.rank >= self.min_severity.rank


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookChannel(_Channel):
    """The generic signed JSON webhook. ``secret``: at least 16 characters, the
    HMAC key the receiver verifies ``X-Moorline-Signature`` with."""

    url: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        _Channel.__post_init__(self)
        object.__setattr__(self, "url", validate_url(self.url))
        if not isinstance(self.secret, str) or len(self.secret) < MIN_SECRET:
            raise InvalidArgument(
                f"Channel {self.name!r}: a webhook secret must be at least {MIN_SECRET} "
                "characters long"
            )

    channel_type: ClassVar[str] = "webhook"

    def build(self, notification: Notification) -> HttpRequest:
        return webhook_request(notification, url=self.url, secret=self.secret)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlackChannel(_Channel):
    """A Slack incoming webhook. Its URL is the credential: it is kept out of ``repr``."""

    webhook_url: str = field(repr=False)

    def __post_init__(self) -> None:
        _Channel.__post_init__(self)
        object.__setattr__(self, "webhook_url", validate_url(self.webhook_url))

    channel_type: ClassVar[str] = "slack"

    def build(self, notification: Notification) -> HttpRequest:
        return HttpRequest(
            url=self.webhook_url,
            body=_dumps(slack_payload(notification)),
            headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PagerDutyChannel(_Channel):
    """PagerDuty's Events API v2. ``routing_key``: the 32-character integration
    key of a service or ruleset. ``source``: what PagerDuty shows as the
    affected system. ``url``: the events endpoint (another only for a proxy or a test)."""

    routing_key: str = field(repr=False)
    source: str = "moorline"
    client_url: str | None = None
    url: str = PAGERDUTY_EVENTS_URL

    def __post_init__(self) -> None:
        _Channel.__post_init__(self)
        key = self.routing_key
        if not isinstance(key, str) or len(key) != 32 or not key.isalnum():
            raise InvalidArgument(
                f"Channel {self.name!r}: a PagerDuty routing key is the 32-character "
                "integration key of an Events API v2 integration"
            )
        if not isinstance(self.source, str) or not self.source.strip():
            raise InvalidArgument(f"Channel {self.name!r}: source must be a non-empty string")
        object.__setattr__(self, "url", validate_url(self.url))

    channel_type: ClassVar[str] = "pagerduty"

    def build(self, notification: Notification) -> HttpRequest:
        event = pagerduty_payload(
            notification,
            routing_key=self.routing_key,
            source=self.source,
            client_url=self.client_url,
        )
        return HttpRequest(
            url=self.url,
            body=_dumps(event),
            headers={"Content-Type": "application/json", "User-Agent": _USER_AGENT},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailChannel(_Channel):
    """Email over SMTP. ``starttls``: upgrade the connection before anything else
    is said (verified against the system's CAs, or ``ca_file``); ``username``
    and ``password``: log in (only over STARTTLS unless ``host`` is loopback,
    so a password never crosses a network in clear)."""

    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    subject_prefix: str = "[moorline]"
    #: the name this client gives in EHLO (None: this machine's FQDN)
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        _Channel.__post_init__(self)
        if not isinstance(self.host, str) or not self.host.strip():
            raise InvalidArgument(f"Channel {self.name!r}: an SMTP host is needed")
        if (
            isinstance(self.port, bool)
            or not isinstance(self.port, int)
            or not 0 < self.port < 65536
        ):
            raise InvalidArgument(f"Channel {self.name!r}: invalid SMTP port {self.port!r}")
        recipients = (self.recipients,) if isinstance(self.recipients, str) else self.recipients
        if not recipients:
            raise InvalidArgument(f"Channel {self.name!r}: at least one recipient is needed")
        object.__setattr__(self, "sender", _address(self.name, "sender", self.sender))
        object.__setattr__(
            self, "recipients", tuple(_address(self.name, "recipient", r) for r in recipients)
        )
        if (self.username is None) != (self.password is None):
            raise InvalidArgument(
                f"Channel {self.name!r}: SMTP login needs both a username and a password"
            )
        if self.username is not None and not self.starttls and not _loopback(self.host):
            raise InvalidArgument(
                f"Channel {self.name!r}: logging in to {self.host} without STARTTLS would "
                "send the password in clear; set starttls"
            )

    channel_type: ClassVar[str] = "email"

    def build(self, notification: Notification) -> EmailMessage:
        return email_message(
            notification,
            sender=self.sender,
            recipients=self.recipients,
            subject_prefix=self.subject_prefix,
        )


def _address(channel: str, what: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"Channel {channel!r}: the {what} must be an email address")
    try:
        address = Address(addr_spec=value.strip())
    except (ValueError, IndexError, MessageError) as exc:  # HeaderParseError is no ValueError
        raise InvalidArgument(
            f"Channel {channel!r}: invalid {what} address {value!r}: {exc}"
        ) from None
    if not address.username or not address.domain:
        raise InvalidArgument(
            f"Channel {channel!r}: invalid {what} address {value!r}: expected name@domain"
        )
    return address.addr_spec


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


HttpChannel = WebhookChannel | SlackChannel | PagerDutyChannel
Channel = HttpChannel | EmailChannel


class AlertTransport(Protocol):
    """Sends notifications to channels; an adapter over network libraries.

    ``send`` never raises for a receiver's failure: the result says what
    happened (a channel that fails must not stop the others).
    """

    def send(self, channel: Channel, notification: Notification) -> DeliveryResult: ...

    def close(self) -> None: ...


__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "AlertTransport",
    "Channel",
    "DeliveryResult",
    "DeliverySettings",
    "EmailChannel",
    "HttpChannel",
    "HttpRequest",
    "PagerDutyChannel",
    "SlackChannel",
    "WebhookChannel",
    "email_message",
    "pagerduty_dedup_key",
    "pagerduty_payload",
    "slack_payload",
    "webhook_payload",
    "webhook_request",
]
