"""The request loop of MLflow's JSON API: find the endpoint, read, call, write.

One :class:`JsonApi` serves one URL prefix (``/api/2.0/mlflow``,
``/ajax-api/2.0/mlflow``, ...) from an explicit table of :class:`Endpoint`.
It is mounted as a plain ASGI app rather than as one Starlette ``Route`` per
endpoint because it runs on every tracking call: a dict lookup replaces a
linear scan of ~60 path regexes, and it answers the two cases MLflow's client
depends on itself: an unknown path is a JSON 404 ``ENDPOINT_NOT_FOUND`` (the
registry client falls back to the next endpoint variant on it) and a known
path with the wrong method a JSON 405.

Endpoint handlers are plain synchronous functions ``fields -> dict``: they call
one service method and render its result. Where they run is decided here,
once, by the endpoint's :class:`Work` (see its docstring for the measurements
behind the choice).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import anyio
import anyio.to_thread
import orjson
from starlette.requests import Request

from moorline.errors import ErrorCode, InvalidArgument, MoorlineError
from moorline.server.errors import error_response, moorline_error_handler
from moorline.server.mlflow.wire import JsonDict, Message

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]

Handler = Callable[[JsonDict], JsonDict | None]

#: At most this many data-sized requests (searches, history reads) run at once;
#: the rest queue. Point calls never wait behind them for a worker thread.
HEAVY_CONCURRENCY = 4

_JSON_HEADERS = [(b"content-type", b"application/json")]
_EMPTY_OBJECT = b"{}"


class Work(Enum):
    """How much an endpoint may cost, which decides where it runs.

    ``PURE``: no I/O, runs on the event loop. ``POINT``: one bounded store call
    (log a metric, get a run); runs on AnyIO's worker threads. ``HEAVY``: cost
    grows with the data (searches, metric histories); runs on the same worker
    threads but behind a separate limiter of :data:`HEAVY_CONCURRENCY`, so a
    burst of long searches can hold at most that many threads and never starve
    point calls of a worker.

    Why point calls leave the event loop although it costs CPU: measured
    in-process, the hop to a worker thread and back adds ~0.1 ms of CPU to a
    ``log-metric`` (0.30 ms instead of 0.20 ms; ~0.5 ms per call over loopback
    either way, against MLflow's ~7 ms). Running store calls on the loop would
    stall every other connection for their whole duration: for each network
    round trip to PostgreSQL, and for up to SQLite's 30 s busy timeout when
    another process holds the write lock. Safety under contention wins over
    that 0.1 ms -- except with the embedded SQLite store (``inline_point``):
    there every write is serialised by one lock anyway, point calls take well
    under a millisecond, and over loopback the hop measured 0.17 ms of server
    CPU per ``log-metric`` (0.47 ms instead of 0.30 ms). Heavy calls still run
    on worker threads.
    """

    PURE = "pure"
    POINT = "point"
    HEAVY = "heavy"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One method + path of the API and the function that serves it.

    ``path`` is relative to the API prefix and may hold ``{name}`` segments
    (one path segment) or a trailing ``{name:path}`` (the rest of the path);
    their values are added to the request's fields.
    """

    method: str
    path: str
    request: Message
    handle: Handler
    work: Work = Work.POINT


class _Disconnected(Exception):
    """The client went away before sending its whole request."""


class JsonApi:
    """An ASGI app serving a table of JSON endpoints under one prefix."""

    def __init__(self, endpoints: Sequence[Endpoint], *, inline_point: bool = False) -> None:
        self._inline_point = inline_point
        self._static: dict[str, dict[str, Endpoint]] = {}
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Endpoint]]] = []
        dynamic_index: dict[str, dict[str, Endpoint]] = {}
        for ep in endpoints:
            if "{" in ep.path:
                by_method = dynamic_index.get(ep.path)
                if by_method is None:
                    by_method = dynamic_index[ep.path] = {}
                    self._dynamic.append((_compile(ep.path), by_method))
            else:
                by_method = self._static.setdefault(ep.path, {})
            if ep.method in by_method:
                raise ValueError(f"Two endpoints for {ep.method} {ep.path}")
            by_method[ep.method] = ep
        self._heavy: anyio.CapacityLimiter | None = None

    def _find(self, path: str) -> tuple[dict[str, Endpoint] | None, dict[str, str]]:
        by_method = self._static.get(path)
        if by_method is not None:
            return by_method, {}
        for pattern, candidates in self._dynamic:
            match = pattern.fullmatch(path)
            if match is not None:
                return candidates, match.groupdict()
        return None, {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        full_path: str = scope["path"]
        method: str = scope["method"]
        by_method, path_params = self._find(route_path(scope))
        try:
            if by_method is None:
                await error_response(
                    ErrorCode.ENDPOINT_NOT_FOUND,
                    f"No MLflow API endpoint at {method} {full_path}",
                    404,
                )(scope, receive, send)
                return
            endpoint = by_method.get(method)
            if endpoint is None:
                response = error_response(
                    ErrorCode.ENDPOINT_NOT_FOUND,
                    f"Method {method} is not allowed on {full_path}; "
                    f"allowed: {', '.join(sorted(by_method))}",
                    405,
                )
                response.headers["Allow"] = ", ".join(sorted(by_method))
                await response(scope, receive, send)
                return
            fields = await _read_fields(endpoint.request, scope, receive)
            if path_params:
                fields.update(path_params)
            result = await self._run(endpoint, fields)
        except MoorlineError as exc:
            await (await moorline_error_handler(Request(scope), exc))(scope, receive, send)
            return
        except _Disconnected:
            return
        body = _EMPTY_OBJECT if not result else orjson.dumps(result)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _run(self, endpoint: Endpoint, fields: JsonDict) -> JsonDict | None:
        work = endpoint.work
        if work is Work.POINT:
            if self._inline_point:
                return endpoint.handle(fields)
            return await anyio.to_thread.run_sync(endpoint.handle, fields)
        if work is Work.HEAVY:
            if self._heavy is None:
                self._heavy = anyio.CapacityLimiter(HEAVY_CONCURRENCY)
            return await anyio.to_thread.run_sync(endpoint.handle, fields, limiter=self._heavy)
        return endpoint.handle(fields)


def route_path(scope: Scope) -> str:
    """The request path below the mount point, without a leading slash."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path[1:] if path.startswith("/") else path


def _compile(template: str) -> re.Pattern[str]:
    out = []
    for part in re.split(r"(\{[a-z_]+(?::path)?\})", template):
        if part.startswith("{"):
            name, _, kind = part[1:-1].partition(":")
            out.append(f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lower-case bytes), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(receive: Receive) -> bytes:
    """The whole request body (its size is bounded by BodyLimitMiddleware)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _Disconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def query_pairs(scope: Scope) -> list[tuple[str, str]]:
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return []
    return urllib.parse.parse_qsl(raw.decode("latin-1"), keep_blank_values=True)


async def _read_fields(message: Message, scope: Scope, receive: Receive) -> JsonDict:
    method = scope["method"]
    if method == "GET":
        return message.read_query(query_pairs(scope))
    if method == "POST":
        _check_json_content_type(scope)
    body = await read_body(receive)
    return message.read(decode_json(body))


def _check_json_content_type(scope: Scope) -> None:
    content_type = header(scope, b"content-type")
    if content_type is None:
        raise InvalidArgument(
            "The request has no Content-Type header; send 'Content-Type: application/json'"
        )
    if content_type.partition(";")[0].strip().lower() != "application/json":
        raise InvalidArgument(
            f"Content-Type {content_type!r} is not supported; send 'Content-Type: application/json'"
        )


def decode_json(body: bytes) -> object:
    """Decode a request body; empty means ``{}``, a JSON string holding JSON is unwrapped.

    orjson first; the standard library only as a fallback for bodies orjson
    refuses but Python clients produce (bare ``NaN`` / ``Infinity`` tokens).
    """
    if not body or body.isspace():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            value = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgument(
                f"The request body is not valid JSON: {exc}", code=ErrorCode.BAD_REQUEST
            ) from None
    if isinstance(value, str):
        # Old MLflow clients double-encode the body as a JSON string.
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise InvalidArgument(
                "The request body is a JSON string, not an object", code=ErrorCode.BAD_REQUEST
            ) from None
    return value
