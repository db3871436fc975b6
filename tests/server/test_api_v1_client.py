"""The REST client: retries, backoff, error mapping, and filters written back as text.

Retries are checked against a real HTTP server on loopback that fails on
purpose a set number of times, counting what actually reached it.
"""

from __future__ import annotations

import io
import math
import socket
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from tests.contracts.rest_backend import ThreadedServer, threaded_server

from moorline.errors import (
    EndpointNotFound,
    ErrorCode,
    InvalidArgument,
    MoorlineError,
    NotFound,
    StorageError,
    TemporarilyUnavailable,
)
from moorline.schemas.common import ResponseModel
from moorline.store.rest._search import format_filter, format_order_by
from moorline.store.rest.client import ERROR_CLASSES, RestClient, make_error, quote_segment
from moorline.store.rest.tracking import RestArtifactBlobs
from moorline.tracking._grammar import parse_filter, parse_order_by
from moorline.tracking.search import (
    DATASET_ATTRIBUTES,
    RUN_NUMERIC_ATTRIBUTES,
    RUN_ORDER_ATTRIBUTES,
    RUN_STRING_ATTRIBUTES,
    Clause,
    OrderKey,
)


class Echo(ResponseModel):
    hits: int
    authorization: str | None = None
    body_size: int = 0


class FlakyServer:
    """Fails each path ``times`` times with ``status``, then answers; counts every hit.

    Paths: ``/api/v1/fail/<status>/<times>/<name>``; ``name`` keeps tests apart.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.app = Starlette(
            routes=[
                Route(
                    "/api/v1/fail/{status:int}/{times:int}/{name}",
                    self.fail,
                    methods=["GET", "POST", "PUT"],
                ),
                Route("/api/v1/html/{status:int}", self.html, methods=["GET"]),
                Route("/api/v1/artifacts/{key:path}", self.artifact, methods=["PUT"]),
            ]
        )

    async def fail(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        self.hits[path] += 1
        status = request.path_params["status"]
        if self.hits[path] <= request.path_params["times"]:
            return JSONResponse(
                {
                    "error_code": "INTERNAL_ERROR" if status == 500 else "TEMPORARILY_UNAVAILABLE",
                    "message": "busy, try again",
                },
                status_code=status,
                headers={"Retry-After": "0"},
            )
        return JSONResponse(
            {
                "hits": self.hits[path],
                "authorization": request.headers.get("authorization"),
                "body_size": len(body),
            },
            status_code=201 if request.method == "PUT" else 200,
        )

    async def artifact(self, request: Request) -> Response:
        """Like the real upload endpoint, but busy twice for every key."""
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        self.hits[request.url.path] += 1
        if self.hits[request.url.path] <= 2:
            return JSONResponse(
                {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}, status_code=503
            )
        return JSONResponse({"path": request.path_params["key"], "size": size}, status_code=201)

    async def html(self, request: Request) -> Response:
        return PlainTextResponse("<html>gateway trouble</html>", request.path_params["status"])


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with threaded_server() as running:
        yield running


@pytest.fixture
def flaky(server: ThreadedServer) -> Iterator[tuple[FlakyServer, RestClient]]:
    fake = FlakyServer()
    with (
        server.serving(fake.app) as url,
        RestClient(url, token="mlt_secret", max_attempts=3, backoff=0.01) as client,
    ):
        yield fake, client


def test_idempotent_call_is_retried_until_it_succeeds(
    flaky: tuple[FlakyServer, RestClient],
) -> None:
    _, client = flaky
    echo = client.call_json("GET", "/fail/503/2/get", Echo)
    assert echo.hits == 3
    assert echo.authorization == "Bearer mlt_secret"


def test_429_is_retried_for_an_explicitly_idempotent_post(
    flaky: tuple[FlakyServer, RestClient],
) -> None:
    _, client = flaky
    echo = client.call_json("POST", "/fail/429/1/search", Echo, idempotent=True)
    assert echo.hits == 2


def test_post_is_not_retried(flaky: tuple[FlakyServer, RestClient]) -> None:
    fake, client = flaky
    with pytest.raises(TemporarilyUnavailable, match="busy, try again"):
        client.call("POST", "/fail/503/1/create")
    assert fake.hits["/api/v1/fail/503/1/create"] == 1


def test_retries_stop_after_max_attempts(flaky: tuple[FlakyServer, RestClient]) -> None:
    fake, client = flaky
    with pytest.raises(TemporarilyUnavailable):
        client.call("GET", "/fail/503/10/exhaust")
    assert fake.hits["/api/v1/fail/503/10/exhaust"] == 3


def test_other_errors_are_not_retried(flaky: tuple[FlakyServer, RestClient]) -> None:
    fake, client = flaky
    with pytest.raises(StorageError):
        client.call("GET", "/fail/500/1/boom")
    assert fake.hits["/api/v1/fail/500/1/boom"] == 1


def test_seekable_upload_is_replayed_whole_but_a_stream_is_not(
    flaky: tuple[FlakyServer, RestClient],
) -> None:
    fake, client = flaky
    blobs = RestArtifactBlobs(client)
    payload = b"x" * 300_000
    # put_file rewinds the file to where it stood before each attempt.
    source = io.BytesIO(b"head" + payload)
    source.seek(4)
    assert blobs.put_file("file.bin", source) == len(payload)
    assert fake.hits["/api/v1/artifacts/file.bin"] == 3

    # A one-shot stream cannot be sent twice: the first 503 is final.
    with pytest.raises(TemporarilyUnavailable):
        blobs.put_stream("stream.bin", iter([payload]))
    assert fake.hits["/api/v1/artifacts/stream.bin"] == 1


def test_connection_refused_is_temporarily_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now.
    started = time.monotonic()
    with (
        RestClient(f"http://127.0.0.1:{port}", max_attempts=3, backoff=0.01) as client,
        pytest.raises(TemporarilyUnavailable, match=f"127.0.0.1:{port}"),
    ):
        client.call("POST", "/runs")
    assert time.monotonic() - started < 5


def test_answers_without_our_error_body_are_mapped_by_status(
    flaky: tuple[FlakyServer, RestClient],
) -> None:
    _, client = flaky
    with pytest.raises(TemporarilyUnavailable, match=r"HTTP 502.*gateway trouble"):
        client.call("GET", "/html/502")
    with pytest.raises(EndpointNotFound, match="is this a moorline server"):
        client.call("GET", "/not/here")


def test_every_error_code_maps_back_to_its_class() -> None:
    assert set(ERROR_CLASSES) == set(ErrorCode)
    for code in ErrorCode:
        exc = make_error(code.value, "what went wrong")
        assert isinstance(exc, ERROR_CLASSES[code])
        assert exc.code == code
        assert exc.message == "what went wrong"
    assert type(make_error("RESOURCE_DOES_NOT_EXIST", "m")) is NotFound
    assert isinstance(make_error("BAD_REQUEST", "m"), InvalidArgument)
    unknown = make_error("SOMETHING_NEW", "m")
    assert isinstance(unknown, MoorlineError)
    assert "SOMETHING_NEW" in unknown.message


def test_client_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(InvalidArgument, match="http"):
        RestClient("sqlite:///x.db")


def test_api_url_is_not_doubled() -> None:
    with RestClient("http://127.0.0.1:1/api/v1/") as client:
        assert client.api_url == "http://127.0.0.1:1/api/v1"


def test_quote_segment_keeps_a_key_in_one_segment() -> None:
    assert quote_segment("a/b c?d#e%f") == "a%2Fb%20c%3Fd%23e%25f"
    assert quote_segment(".") == "%2E"
    assert httpx.URL(f"http://h/x/{quote_segment('..')}/y").path == "/x/../y"
    assert httpx.URL(f"http://h/x/{quote_segment('..')}/y").raw_path == b"/x/%2E%2E/y"


# -- filters written back as text --------------------------------------------------------

_text = st.text(min_size=0, max_size=12)
_key = st.text(min_size=1, max_size=12)
_floats = st.floats(allow_nan=False)  # the grammar has no NaN literal; +/-inf it has
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def run_clause(draw: st.DrawFn) -> Clause:
    entity = draw(st.sampled_from(["metric", "param", "tag", "attribute", "dataset"]))
    if entity == "metric":
        op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<="]))
        return Clause(entity="metric", key=draw(_key), op=op, value=draw(_floats))
    if entity in ("param", "tag"):
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"]))
        value = None if op.startswith("IS") else draw(_text)
        return Clause(entity=entity, key=draw(_key), op=op, value=value)
    if entity == "dataset":
        key = draw(st.sampled_from(DATASET_ATTRIBUTES))
        op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"]))
        if op.endswith("IN"):
            return Clause(
                entity="dataset",
                key=key,
                op=op,
                value=tuple(draw(st.lists(_text, min_size=1, max_size=3))),
            )
        return Clause(entity="dataset", key=key, op=op, value=draw(_text))
    if draw(st.booleans()):
        key = draw(st.sampled_from(RUN_NUMERIC_ATTRIBUTES))
        op = draw(st.sampled_from(["=", "!=", ">", ">=", "<", "<="]))
        number = draw(st.one_of(_int64, _floats.filter(lambda x: not x.is_integer())))
        return Clause(entity="attribute", key=key, op=op, value=number)
    key = draw(st.sampled_from(RUN_STRING_ATTRIBUTES))
    if key == "run_id" and draw(st.booleans()):
        op = draw(st.sampled_from(["IN", "NOT IN"]))
        return Clause(
            entity="attribute",
            key=key,
            op=op,
            value=tuple(draw(st.lists(_text, min_size=1, max_size=3))),
        )
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE"]))
    return Clause(entity="attribute", key=key, op=op, value=draw(_text))


def _same(a: tuple[Clause, ...], b: tuple[Clause, ...]) -> bool:
    def norm(c: Clause) -> tuple[object, ...]:
        value = c.value
        if isinstance(value, float) and math.isinf(value):
            value = ("inf", value > 0)
        return (c.entity, c.key, c.op, value, type(c.value))

    return [norm(c) for c in a] == [norm(c) for c in b]


@settings(max_examples=300, deadline=None)
@given(st.lists(run_clause(), min_size=1, max_size=4))
def test_format_filter_is_the_inverse_of_the_parser(clauses: list[Clause]) -> None:
    text = format_filter(clauses)
    assert text is not None
    assert _same(parse_filter(text, kind="run"), tuple(clauses)), text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.builds(
                OrderKey,
                entity=st.sampled_from(["metric", "param", "tag"]),
                key=_key,
                ascending=st.booleans(),
            ),
            st.builds(
                OrderKey,
                entity=st.just("attribute"),
                key=st.sampled_from(RUN_ORDER_ATTRIBUTES),
                ascending=st.booleans(),
            ),
        ),
        max_size=4,
        unique_by=lambda k: (k.entity, k.key),
    )
)
def test_format_order_by_is_the_inverse_of_the_parser(keys: list[OrderKey]) -> None:
    assert parse_order_by(format_order_by(keys), kind="run") == tuple(keys)


def test_no_clauses_is_no_filter() -> None:
    assert format_filter([]) is None
