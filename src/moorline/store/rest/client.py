"""The HTTP client under the REST adapters: one keep-alive connection pool per server.

:class:`RestClient` speaks to ``<server>/api/v1``. It turns every error
answer back into the :mod:`moorline.errors` class its ``error_code`` names,
so code using a remote store sees exactly the exceptions a local store
raises. Failures are retried with exponential backoff (and jitter, honouring
``Retry-After``) only where a retry cannot do a thing twice::

    failure                               retried for
    ────────────────────────────────────  ───────────────────────────────────
    connection refused / connect timeout  every call (nothing reached the server)
    429 Too Many Requests, 503            idempotent calls
    read/write error, read timeout        idempotent calls
    anything else                         never

A call is idempotent when its method is (GET, HEAD, PUT, DELETE) unless the
caller says otherwise, as the read-only ``POST .../search`` calls do. A body
that is a one-shot stream is never re-sent.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

import httpx
import tenacity
from pydantic import BaseModel, ValidationError

from moorline.errors import (
    AlreadyExists,
    Conflict,
    EndpointNotFound,
    ErrorCode,
    IntegrityError,
    InvalidArgument,
    MoorlineError,
    NotFound,
    NotImplementedFeature,
    PayloadTooLarge,
    PermissionDenied,
    StorageError,
    TemporarilyUnavailable,
    Unauthenticated,
    UserCodeError,
)
from moorline.schemas.common import ErrorBody

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DEFAULT_ATTEMPTS = 4
#: First backoff delay in seconds; it doubles on each attempt, with jitter.
DEFAULT_BACKOFF = 0.25
MAX_BACKOFF = 8.0
#: A server asking for a longer pause than this is not waited for that long.
MAX_RETRY_AFTER = 30.0
RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

#: Each error code back to the class that carries it.
ERROR_CLASSES: Mapping[ErrorCode, type[MoorlineError]] = {
    ErrorCode.INVALID_PARAMETER_VALUE: InvalidArgument,
    ErrorCode.BAD_REQUEST: InvalidArgument,
    ErrorCode.PAYLOAD_TOO_LARGE: PayloadTooLarge,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: NotFound,
    ErrorCode.ENDPOINT_NOT_FOUND: EndpointNotFound,
    ErrorCode.RESOURCE_ALREADY_EXISTS: AlreadyExists,
    ErrorCode.RESOURCE_CONFLICT: Conflict,
    ErrorCode.UNAUTHENTICATED: Unauthenticated,
    ErrorCode.PERMISSION_DENIED: PermissionDenied,
    ErrorCode.NOT_IMPLEMENTED: NotImplementedFeature,
    ErrorCode.INTERNAL_ERROR: StorageError,
    ErrorCode.TEMPORARILY_UNAVAILABLE: TemporarilyUnavailable,
    ErrorCode.USER_CODE_ERROR: UserCodeError,
    ErrorCode.INTEGRITY_ERROR: IntegrityError,
}

#: For answers without our error body (a proxy, or not a moorline server).
_STATUS_CODES: Mapping[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.ENDPOINT_NOT_FOUND,
    405: ErrorCode.ENDPOINT_NOT_FOUND,
    409: ErrorCode.RESOURCE_CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.TEMPORARILY_UNAVAILABLE,
    501: ErrorCode.NOT_IMPLEMENTED,
    502: ErrorCode.TEMPORARILY_UNAVAILABLE,
    503: ErrorCode.TEMPORARILY_UNAVAILABLE,
    504: ErrorCode.TEMPORARILY_UNAVAILABLE,
}
_SHOWN_BODY = 200

M = TypeVar("M", bound=BaseModel)


def make_error(code: ErrorCode | str, message: str) -> MoorlineError:
    """The exception a server's ``{"error_code", "message"}`` stands for.

    >>> type(make_error("RESOURCE_DOES_NOT_EXIST", "No run with id 'x'")).__name__
    'NotFound'
    """
    try:
        known = ErrorCode(code)
    except ValueError:
        return StorageError(f"{message} (unknown error code {code!r})")
    exc = ERROR_CLASSES[known](message)
    exc.code = known
    return exc


def error_from_response(response: httpx.Response) -> MoorlineError:
    """Map an error answer to its exception; the body must already be read."""
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        code = _STATUS_CODES.get(
            response.status_code,
            ErrorCode.INTERNAL_ERROR if response.status_code >= 500 else ErrorCode.BAD_REQUEST,
        )
        text = response.content[:_SHOWN_BODY].decode("utf-8", "replace").strip()
        hint = " (is this a moorline server?)" if code == ErrorCode.ENDPOINT_NOT_FOUND else ""
        return make_error(
            code,
            f"{response.request.method} {response.request.url} answered HTTP "
            f"{response.status_code}{hint}" + (f": {text}" if text else ""),
        )
    return make_error(body.error_code, body.message)


def quote_segment(value: str) -> str:
    """``value`` as ONE path segment: '/' and every other reserved character escaped.

    A segment that is exactly '.' or '..' is escaped too, so that no URL
    normalisation can drop it.

    >>> quote_segment("train/loss")
    'train%2Floss'
    >>> quote_segment("..")
    '%2E%2E'
    """
    quoted = urllib.parse.quote(value, safe="")
    if quoted in (".", ".."):
        return quoted.replace(".", "%2E")
    return quoted


def quote_path(key: str) -> str:
    """A slash-separated key as a URL path, each segment quoted by :func:`quote_segment`."""
    return "/".join(quote_segment(part) for part in key.split("/"))


class _RetryableStatus(Exception):
    """A 429/503 answer to an idempotent call, raised so the retry loop sees it."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class RestClient:
    """A keep-alive HTTP client for ``<base_url>/api/v1``.

    ``base_url`` is the server's root (``http://host:5000``); a URL that
    already ends in ``/api/v1`` is taken as it is. ``token`` is sent as
    ``Authorization: Bearer <token>``. ``transport`` replaces the network
    (tests, or an in-process ASGI app).

    >>> client = RestClient("http://127.0.0.1:5000/")
    >>> client.api_url
    'http://127.0.0.1:5000/api/v1'
    >>> client.close()
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        from moorline import __version__

        parsed = urllib.parse.urlsplit(base_url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidArgument(
                f"Invalid server URL {base_url!r}: expected http(s)://host[:port]"
            )
        root = base_url.strip().rstrip("/")
        if root.endswith(API_PREFIX):
            root = root[: -len(API_PREFIX)]
        if max_attempts < 1:
            raise InvalidArgument(f"max_attempts must be at least 1, got {max_attempts}")
        self.server_url = root
        self.api_url = root + API_PREFIX
        self._max_attempts = max_attempts
        self._backoff_wait = tenacity.wait_exponential_jitter(
            multiplier=backoff, max=MAX_BACKOFF, jitter=backoff
        )
        headers = {"User-Agent": f"moorline/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.api_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        params: Mapping[str, str | int | bool | Sequence[str]] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one JSON call; return the (read) success response or raise the mapped error."""
        content = body.__pydantic_serializer__.to_json(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None

        def build() -> httpx.Request:
            return self._http.build_request(
                method, path, content=content, params=_query(params), headers=headers
            )

        response = self._send(build, idempotent=_idempotent(method, idempotent))
        try:
            response.read()
        finally:
            response.close()
        return response

    def call_json(
        self,
        method: str,
        path: str,
        response_model: type[M],
        *,
        body: BaseModel | None = None,
        params: Mapping[str, str | int | bool | Sequence[str]] | None = None,
        idempotent: bool | None = None,
    ) -> M:
        """:meth:`call`, then parse the answer as ``response_model``."""
        response = self.call(method, path, body=body, params=params, idempotent=idempotent)
        try:
            return response_model.model_validate_json(response.content)
        except ValidationError as exc:
            raise StorageError(
                f"{method} {response.request.url} answered with an unexpected body "
                f"(expected {response_model.__name__}): {exc.errors()[0]['msg']}"
            ) from exc

    def upload(
        self,
        path: str,
        chunks: Callable[[], Iterable[bytes]],
        *,
        replayable: bool,
    ) -> httpx.Response:
        """PUT a streamed body. ``chunks`` makes the body; it is called again for a
        retry only when ``replayable`` (a file that can be rewound)."""

        def build() -> httpx.Request:
            return self._http.build_request(
                "PUT",
                path,
                content=iter(chunks()),
                headers={"Content-Type": "application/octet-stream"},
            )

        response = self._send(build, idempotent=replayable, replayable=replayable)
        try:
            response.read()
        finally:
            response.close()
        return response

    def download(self, path: str, chunk_size: int) -> Iterator[bytes]:
        """GET a streamed body. Errors are raised before the first chunk is yielded."""
        response = self._send(
            lambda: self._http.build_request("GET", path, headers={"Accept": "*/*"}),
            idempotent=True,
        )
        return _stream(response, chunk_size)

    def head(self, path: str) -> httpx.Response | None:
        """HEAD ``path``: the response, or None on 404. HEAD answers carry no body,
        so other errors are mapped by status alone."""

        def build() -> httpx.Request:
            return self._http.build_request("HEAD", path)

        try:
            response = self._send(build, idempotent=True)
        except (NotFound, EndpointNotFound):
            return None
        response.close()
        return response

    # -- the retry loop --------------------------------------------------------

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds before the next attempt: the server's Retry-After, else our backoff."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _RetryableStatus):
            after = _retry_after(exc.response)
            if after is not None:
                return min(after, MAX_RETRY_AFTER)
        return float(self._backoff_wait(state))

    def _send(
        self,
        build: Callable[[], httpx.Request],
        *,
        idempotent: bool,
        replayable: bool = True,
    ) -> httpx.Response:
        """Send with retries; return a streaming success response (caller closes it)."""

        def should_retry(exc: BaseException) -> bool:
            if not replayable:
                return False
            if isinstance(exc, (_RetryableStatus, *_NOTHING_SENT)):
                return True
            return idempotent and isinstance(exc, httpx.TransportError)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(should_retry),
            reraise=True,
        )
        request: httpx.Request | None = None
        try:
            for attempt in retrying:
                with attempt:
                    request = build()
                    response = self._http.send(request, stream=True)
                    if response.is_success:
                        return response
                    response.read()
                    response.close()
                    if idempotent and response.status_code in RETRY_STATUSES:
                        raise _RetryableStatus(response)
                    raise error_from_response(response)
        except _RetryableStatus as exc:
            raise error_from_response(exc.response) from None
        except httpx.TimeoutException as exc:
            raise TemporarilyUnavailable(
                f"{_describe(request)} timed out ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise TemporarilyUnavailable(
                f"Cannot reach the moorline server at {self.server_url} "
                f"({_describe(request)}): {exc or type(exc).__name__}"
            ) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


def _describe(request: httpx.Request | None) -> str:
    return f"{request.method} {request.url}" if request is not None else "the request"


def _idempotent(method: str, explicit: bool | None) -> bool:
    return explicit if explicit is not None else method.upper() in IDEMPOTENT_METHODS


def _query(
    params: Mapping[str, str | int | bool | Sequence[str]] | None,
) -> list[tuple[str, str | int | float | bool | None]] | None:
    if params is None:
        return None
    out: list[tuple[str, str | int | float | bool | None]] = []
    for name, value in params.items():
        if isinstance(value, bool):
            out.append((name, "true" if value else "false"))
        elif isinstance(value, str | int):
            out.append((name, str(value)))
        else:
            out.extend((name, str(v)) for v in value)
    return out


def _stream(response: httpx.Response, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from response.iter_bytes(chunk_size)
    except httpx.TransportError as exc:
        raise StorageError(
            f"Download of {response.request.url} was cut short: {exc or type(exc).__name__}"
        ) from exc
    finally:
        response.close()


__all__ = ["RestClient", "error_from_response", "make_error", "quote_path", "quote_segment"]
