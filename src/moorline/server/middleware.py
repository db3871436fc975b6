"""Pure ASGI middleware: authentication and request-size limits.

Written as raw ASGI (not BaseHTTPMiddleware) because they sit on the hot
path of every tracking call.
"""

from __future__ import annotations

import base64
import contextvars
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from moorline.auth.models import ApiToken, Role
from moorline.auth.service import AuthService
from moorline.errors import ErrorCode, MoorlineError, PayloadTooLarge
from moorline.server.errors import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The authenticated token of the current request, if any.
current_token: contextvars.ContextVar[ApiToken | None] = contextvars.ContextVar(
    "moorline_current_token", default=None
)

PUBLIC_PATHS = ("/health", "/version", "/ui/static/", "/ui/login", "/static/")
COOKIE_NAME = "moorline_token"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _credential(scope: Scope) -> str | None:
    auth = _header(scope, b"authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return value.strip()
        if scheme == "basic":
            # MLFLOW_TRACKING_USERNAME/PASSWORD: the password carries the token.
            try:
                decoded = base64.b64decode(value.strip()).decode()
            except (ValueError, UnicodeDecodeError):
                return ""
            return decoded.partition(":")[2]
        return ""
    cookie = _header(scope, b"cookie")
    if cookie:
        for part in cookie.split(";"):
            name, _, val = part.strip().partition("=")
            if name == COOKIE_NAME:
                return val
    return None


class AuthMiddleware:
    """Check bearer tokens (or Basic with the token as password).

    When ``required`` is False (a loopback-only server) requests without a
    credential pass, but a credential that is present must still be valid.
    """

    def __init__(self, app: ASGIApp, *, auth: AuthService, required: bool) -> None:
        self.app = app
        self.auth = auth
        self.required = required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        credential = _credential(scope)
        if credential is None:
            if self.required and not path.startswith(PUBLIC_PATHS):
                if path.startswith("/ui") or path == "/":
                    await _redirect_to_login(scope, send)
                    return
                response = error_response(
                    ErrorCode.UNAUTHENTICATED,
                    "This server requires an API token: send 'Authorization: Bearer <token>' "
                    "(MLFLOW_TRACKING_TOKEN or MOORLINE_TOKEN); create one with "
                    "'moorline token create NAME'",
                )
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        try:
            token = self.auth.authenticate(credential)
        except MoorlineError as exc:
            if path.startswith(PUBLIC_PATHS):
                await self.app(scope, receive, send)
                return
            if (path.startswith("/ui") or path == "/") and _header(scope, b"authorization") is None:
                # A stale or revoked cookie: sign in again rather than a JSON error.
                await _redirect_to_login(scope, send, clear_cookie=True)
                return
            await error_response(exc.code, exc.message)(scope, receive, send)
            return
        if token.role == Role.VIEWER and not _is_read(scope):
            response = error_response(
                ErrorCode.PERMISSION_DENIED,
                f"Token {token.name!r} has the viewer role, which can only read; "
                f"{scope.get('method')} {path} changes data",
            )
            await response(scope, receive, send)
            return
        reset = current_token.set(token)
        try:
            await self.app(scope, receive, send)
        finally:
            current_token.reset(reset)


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_SUFFIXES = ("/search", "/search-datasets", "/get-latest-versions", "/ui/login", "/ui/logout")


def _is_read(scope: Scope) -> bool:
    """True for requests that change nothing: safe methods, and the POST searches."""
    if scope.get("method") in _READ_METHODS:
        return True
    return str(scope.get("path", "")).rstrip("/").endswith(_READ_SUFFIXES)


async def _redirect_to_login(scope: Scope, send: Send, *, clear_cookie: bool = False) -> None:
    headers = [(b"location", b"/ui/login"), (b"content-length", b"0")]
    if clear_cookie:
        headers.append(
            (
                b"set-cookie",
                f"{COOKIE_NAME}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict".encode(),
            )
        )
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


class BodyLimitMiddleware:
    """Refuse request bodies above a limit with 413 before reading them whole.

    Artifact uploads (``streaming_prefixes``) have their own, larger limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        streaming_prefixes: tuple[str, ...] = (),
        streaming_max_bytes: int = 0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streaming_prefixes = streaming_prefixes
        self.streaming_max_bytes = streaming_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = (
            self.streaming_max_bytes
            if self.streaming_prefixes and path.startswith(self.streaming_prefixes)
            else self.max_bytes
        )
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await _too_large(limit)(scope, receive, send)
                return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except PayloadTooLarge:
            # Reached only when no exception handler inside answered already.
            if not response_started:
                await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> Any:
    return error_response(
        ErrorCode.PAYLOAD_TOO_LARGE, f"Request body is larger than the limit of {limit} bytes"
    )
