"""The webhook transport over httpx: POSTs a signed body, reports the status.

Implements :class:`moorline.registry.events.WebhookTransport`. Redirects are
not followed (a receiver that moved must be re-registered: following would
send signed registry events wherever a 3xx points), and any answer outside
2xx counts as a failed attempt.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from moorline.registry.events import WebhookTransportError


class HttpxWebhookTransport:
    """One connection pool shared by the dispatcher's sender threads."""

    def __init__(self, *, max_connections: int = 16) -> None:
        self._client = httpx.Client(
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections),
            trust_env=False,
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> int:
        try:
            response = self._client.post(
                url, content=body, headers=dict(headers), timeout=httpx.Timeout(timeout)
            )
        except httpx.TimeoutException as exc:
            raise WebhookTransportError(
                f"no answer within {timeout:g} s ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise WebhookTransportError(f"{type(exc).__name__}: {exc}") from None
        # Only the status matters; reading the rest of a large answer is skipped.
        response.close()
        return response.status_code

    def close(self) -> None:
        self._client.close()
