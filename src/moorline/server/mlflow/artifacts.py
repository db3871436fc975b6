"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/...``) and run artifact listing.

The client turns ``mlflow-artifacts:/<key>`` into
``<tracking URI>/api/2.0/mlflow-artifacts/artifacts/<key>``: PUT one file,
GET one file, GET ``artifacts?path=<dir>`` to list, DELETE. Bytes stream in
both directions: an upload goes chunk by chunk from the socket into the blob
store on a worker thread, and a download is read chunk by chunk, so a model
file of any size never sits whole in memory. Keys are validated by the
artifact service (no ``..``, no absolute paths, also URL-encoded) before any
byte is written.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from moorline.core.blobs import BlobInfo, clean_key
from moorline.errors import ErrorCode, MoorlineError, NotFound
from moorline.server.errors import error_response, moorline_error_handler
from moorline.server.mlflow.dispatch import (
    Endpoint,
    Receive,
    Scope,
    Send,
    Work,
    query_pairs,
    route_path,
)
from moorline.server.mlflow.wire import JsonDict, Message, run_id_of, string
from moorline.tracking.artifacts import PROXY_SCHEME, ArtifactService
from moorline.tracking.service import TrackingService

LIST_RUN_ARTIFACTS = Message(
    "ListArtifacts", string("run_id"), string("run_uuid"), string("path"), string("page_token")
)

ARTIFACTS_PREFIX = "artifacts"

#: Uploads in flight at once. Each holds a worker thread while its client
#: sends (slowly, perhaps), so they get their own limit and can never occupy
#: the threads that serve the tracking calls.
UPLOAD_CONCURRENCY = 8


def file_info_json(info: BlobInfo, prefix: str = "") -> JsonDict:
    out: JsonDict = {
        "path": posixpath.join(prefix, info.path) if prefix else info.path,
        "is_dir": info.is_dir,
    }
    if not info.is_dir and info.size is not None:
        out["file_size"] = info.size
    return out


def guess_content_type(key: str) -> str:
    return mimetypes.guess_type(key, strict=False)[0] or "application/octet-stream"


def run_artifact_endpoints(tracking: TrackingService, artifacts: ArtifactService) -> list[Endpoint]:
    """``GET /mlflow/artifacts/list``: a run's artifacts, for the UI and non-proxy clients."""

    def list_artifacts(f: JsonDict) -> JsonDict:
        run_id = run_id_of(f)
        path = f.get("path", "")
        infos = artifacts.list_run_artifacts(run_id, path)
        prefix = clean_key(path, allow_root=True)
        return {
            "root_uri": f"{PROXY_SCHEME}/{artifacts.run_root(run_id)}",
            "files": [file_info_json(i, prefix) for i in infos],
        }

    return [Endpoint("GET", "artifacts/list", LIST_RUN_ARTIFACTS, list_artifacts, Work.HEAVY)]


class ArtifactProxy:
    """ASGI app for ``/api/2.0/mlflow-artifacts``: streamed upload, download, list, delete."""

    def __init__(self, artifacts: ArtifactService) -> None:
        self._artifacts = artifacts
        self._uploads: anyio.CapacityLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._handle(scope, receive)
        except MoorlineError as exc:
            response = await moorline_error_handler(Request(scope), exc)
        except ClientDisconnect:
            return  # the upload was abandoned; nothing was stored and nobody listens
        # Outside the try: once a download has started, a failure can only cut it short.
        await response(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive) -> Response:
        path = route_path(scope)
        method: str = scope["method"]
        head, slash, key = path.partition("/")
        if head == ARTIFACTS_PREFIX and not slash:
            if method == "GET":
                return await self._list(scope)
            return _not_allowed(method, scope["path"], "GET")
        if head == ARTIFACTS_PREFIX:
            if method == "PUT":
                return await self._put(scope, receive, key)
            if method == "GET":
                return await self._get(key)
            if method == "DELETE":
                await anyio.to_thread.run_sync(self._artifacts.delete, key)
                return _json({})
            return _not_allowed(method, scope["path"], "DELETE, GET, PUT")
        if head == "mpu":
            return error_response(
                ErrorCode.NOT_IMPLEMENTED,
                "Multipart uploads are not supported by this server; upload with one PUT",
                501,
            )
        return error_response(
            ErrorCode.ENDPOINT_NOT_FOUND,
            f"No MLflow artifact API endpoint at {method} {scope['path']}",
            404,
        )

    async def _list(self, scope: Scope) -> Response:
        path = ""
        for name, value in query_pairs(scope):
            if name == "path":
                path = value
                break
        infos = await anyio.to_thread.run_sync(self._artifacts.list, path)
        # Listing a file or a missing path is an empty object, as MLflow answers.
        return _json({"files": [file_info_json(i) for i in infos]} if infos else {})

    async def _put(self, scope: Scope, receive: Receive, key: str) -> Response:
        stream = Request(scope, receive).stream()

        def chunks() -> Iterator[bytes]:
            # Runs on the worker thread: each chunk is pulled from the event loop.
            while (chunk := anyio.from_thread.run(_next_chunk, stream)) is not None:
                if chunk:
                    yield chunk

        if self._uploads is None:
            self._uploads = anyio.CapacityLimiter(UPLOAD_CONCURRENCY)
        await anyio.to_thread.run_sync(self._artifacts.put, key, chunks(), limiter=self._uploads)
        return _json({})

    async def _get(self, key: str) -> Response:
        size = await anyio.to_thread.run_sync(self._artifacts.size, key)
        if size is None:
            raise NotFound(f"No artifact at {key!r}")
        body = await anyio.to_thread.run_sync(self._artifacts.open, key)
        return StreamingResponse(
            body, media_type=guess_content_type(key), headers={"content-length": str(size)}
        )


async def _next_chunk(stream: AsyncIterator[bytes]) -> bytes | None:
    """The next chunk of a request body, or None at its end."""
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


def _json(payload: dict[str, Any]) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


def _not_allowed(method: str, path: str, allowed: str) -> Response:
    response = error_response(
        ErrorCode.ENDPOINT_NOT_FOUND,
        f"Method {method} is not allowed on {path}; allowed: {allowed}",
        405,
    )
    response.headers["Allow"] = allowed
    return response
