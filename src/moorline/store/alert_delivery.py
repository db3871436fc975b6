"""Alert delivery: sends what :mod:`moorline.monitoring.channels` builds.

Implements :class:`moorline.monitoring.channels.AlertTransport`: HTTP
channels (webhook, Slack, PagerDuty) are POSTed with httpx, email goes out
with :mod:`smtplib` (optional STARTTLS, optional login). Every attempt is
bounded by :class:`~moorline.monitoring.channels.DeliverySettings`: a
per-attempt timeout, retries with exponential backoff (tenacity) on
failures that may pass (no connection, a timeout, HTTP 408/429/5xx, an SMTP
4xx reply), and an overall deadline, so a dead or hanging receiver costs
the caller a bounded time and never an exception.

Deliveries are at-least-once: an attempt that timed out may still have
arrived, and is sent again. Receivers deduplicate where it matters: the
generic webhook carries the notification's id in ``X-Moorline-Delivery``,
PagerDuty merges events on their ``dedup_key``, and an email keeps its
``Message-ID``.

As in :mod:`moorline.store.webhooks`, redirects are not followed: a signed
alert is not sent wherever a 3xx points.

>>> from moorline.monitoring.channels import DeliverySettings
>>> with AlertSender(DeliverySettings(timeout=1.0)) as sender:
...     sender.settings.max_attempts
4
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from typing import TYPE_CHECKING

from moorline.monitoring.alerts import Notification
from moorline.monitoring.channels import (
    Channel,
    DeliveryResult,
    DeliverySettings,
    EmailChannel,
    HttpRequest,
)

if TYPE_CHECKING:  # imported on the first delivery: most processes never send one
    import httpx

log = logging.getLogger("moorline.alerts")

#: HTTP statuses worth another attempt: the receiver is busy, throttling or broken for now.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_ERROR_BODY_LIMIT = 300


class _Failure(Exception):
    """One failed attempt: why, the status or reply code if any, and whether to retry."""

    def __init__(self, message: str, *, status: int | None = None, retry: bool) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry = retry


class AlertSender:
    """Sends notifications to channels; one httpx connection pool for the HTTP ones.

    Thread-safe: the scheduler may send to several channels at once.
    ``sleep`` waits between attempts (tests pass a recorder).
    """

    def __init__(
        self,
        settings: DeliverySettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings or DeliverySettings()
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    @property
    def settings(self) -> DeliverySettings:
        return self._settings

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(follow_redirects=False, trust_env=False)
            return self._client

    def __enter__(self) -> AlertSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, channel: Channel, notification: Notification) -> DeliveryResult:
        """Deliver ``notification`` on ``channel``, retrying as the settings say.

        The message is built once, so every attempt sends the same bytes. A
        receiver's failure is reported in the result, never raised.
        """
        if isinstance(channel, EmailChannel):
            message = channel.build(notification)
            return self._retrying(
                channel,
                notification,
                lambda timeout: self._smtp_once(channel, message, timeout),
            )
        request = channel.build(notification)
        return self._retrying(
            channel, notification, lambda timeout: self._post_once(request, timeout)
        )

    def deliver(
        self, notifications: Iterable[Notification], channels: Iterable[Channel]
    ) -> list[DeliveryResult]:
        """Send every notification to every channel that wants it (by severity), in
        order; one channel's failure does not stop the others."""
        targets = list(channels)
        return [
            self.send(channel, note)
            for note in notifications
            for channel in targets
            if channel.wants(note)
        ]

    # -- the retry loop ---------------------------------------------------------------

    def _retrying(
        self,
        channel: Channel,
        notification: Notification,
        attempt_once: Callable[[float], int],
    ) -> DeliveryResult:
        import tenacity

        settings = self._settings
        started = time.monotonic()
        attempts = 0

        def attempt() -> int:
            nonlocal attempts
            attempts += 1
            remaining = settings.deadline - (time.monotonic() - started)
            # Each attempt ends by the deadline, whatever the per-attempt timeout.
            return attempt_once(max(min(settings.timeout, remaining), 0.01))

        retrying = tenacity.Retrying(
            stop=(
                tenacity.stop_after_attempt(settings.max_attempts)
                | tenacity.stop_before_delay(settings.deadline)
            ),
            wait=lambda state: settings.backoff(state.attempt_number),
            retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, _Failure) and exc.retry),
            sleep=self._sleep,
            reraise=True,
        )
        status: int | None = None
        error = ""
        try:
            status = retrying(attempt)
        except _Failure as failure:
            status, error = failure.status, failure.message
            log.warning(
                "alert %s to channel %r failed after %d attempt(s): %s",
                notification.event,
                channel.name,
                attempts,
                error,
            )
        return DeliveryResult(
            channel=channel.name,
            channel_type=channel.channel_type,
            notification_id=notification.id,
            dedup_key=notification.dedup_key,
            event=notification.event,
            ok=not error,
            attempts=attempts,
            status_code=status,
            error=error[:2000],
            elapsed=time.monotonic() - started,
        )

    # -- one attempt ------------------------------------------------------------------

    def _post_once(self, request: HttpRequest, timeout: float) -> int:
        import httpx

        try:
            with self._http().stream(
                "POST",
                request.url,
                content=request.body,
                headers=dict(request.headers),
                timeout=httpx.Timeout(timeout),
            ) as response:
                status = response.status_code
                if response.is_success:
                    return status
                answer = _first_bytes(response)
        except httpx.TimeoutException as exc:
            raise _Failure(
                f"no answer within {timeout:.3g} s ({type(exc).__name__})", retry=True
            ) from None
        except httpx.HTTPError as exc:
            raise _Failure(f"{type(exc).__name__}: {exc}", retry=True) from None
        detail = answer.decode("utf-8", "replace").strip()
        message = f"HTTP {status}" + (f": {detail}" if detail else "")
        raise _Failure(message, status=status, retry=status in RETRY_STATUSES)

    def _smtp_once(self, channel: EmailChannel, message: EmailMessage, timeout: float) -> int:
        try:
            with smtplib.SMTP(
                channel.host, channel.port, timeout=timeout, local_hostname=channel.local_hostname
            ) as smtp:
                if channel.starttls:
                    context = ssl.create_default_context(cafile=channel.ca_file)
                    smtp.starttls(context=context)
                if channel.username is not None and channel.password is not None:
                    smtp.login(channel.username, channel.password)
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _Failure(
                "every recipient was refused: "
                + "; ".join(
                    f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items()
                ),
                status=codes[0] if codes else None,
                retry=all(400 <= code < 500 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            # 4xx: the server asks to try again later; 5xx (and a failed login): it will not
            # accept this message, however often it is sent.
            raise _Failure(
                f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}",
                status=exc.smtp_code,
                retry=400 <= exc.smtp_code < 500,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise _Failure(f"the SMTP server does not support it: {exc}", retry=False) from None
        except ssl.SSLCertVerificationError as exc:
            raise _Failure(f"TLS certificate not trusted: {exc}", retry=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            # disconnected, refused, timed out: the server may be back soon
            raise _Failure(f"{type(exc).__name__}: {exc}", retry=True) from None
        if refused:
            log.warning("alert email: some recipients were refused: %s", refused)
        return 250


def _first_bytes(response: httpx.Response) -> bytes:
    """The start of an error answer (Slack and PagerDuty explain themselves there)."""
    out = b""
    for chunk in response.iter_bytes():
        out += chunk
        if len(out) >= _ERROR_BODY_LIMIT:
            break
    return out[:_ERROR_BODY_LIMIT]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


__all__ = ["RETRY_STATUSES", "AlertSender"]
