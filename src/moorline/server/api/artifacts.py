"""``/artifacts``: artifact bytes by key, streamed both ways.

Keys are relative to the server's artifact root, as in the ``mlflow-artifacts:``
URIs of runs and logged models (``<experiment>/<run>/artifacts/model.pkl``).
Bodies are never held whole in memory: an upload is handed to the blob store
chunk by chunk as it arrives, a download is sent as it is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from moorline.errors import NotFound
from moorline.schemas.artifacts import ArtifactEntry, ArtifactListing, ArtifactWritten
from moorline.server.api._http import errors, json_response, no_content
from moorline.tracking.artifacts import ArtifactService

OCTET_STREAM = "application/octet-stream"
_BINARY = {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}}


def _sync_chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body as a blocking iterator, for a blob store running in a worker thread."""

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while True:
        chunk = anyio.from_thread.run(next_chunk)
        if chunk is None:
            return
        if chunk:
            yield chunk


def router(artifacts: ArtifactService) -> APIRouter:
    api = APIRouter(prefix="/artifacts", tags=["artifacts"])

    @api.get(
        "",
        response_model=ArtifactListing,
        responses=errors(),
        summary="List the direct children of a directory",
    )
    def list_artifacts(
        path: Annotated[str, Query(description="Directory key; empty for the root.")] = "",
    ) -> Response:
        """Sorted by path. Empty for a file or a path that does not exist."""
        entries = artifacts.list(path)
        return json_response(ArtifactListing(items=[ArtifactEntry.from_domain(e) for e in entries]))

    @api.put(
        "/{key:path}",
        status_code=201,
        response_model=ArtifactWritten,
        responses=errors(413),
        summary="Upload an artifact (streamed)",
        openapi_extra={"requestBody": {"required": True, "content": _BINARY}},
    )
    async def put_artifact(key: str, request: Request) -> Response:
        """Replaces any artifact at ``key``. The write is all-or-nothing."""
        chunks = _sync_chunks(request.stream().__aiter__())
        size = await anyio.to_thread.run_sync(artifacts.put, key, chunks)
        return json_response(ArtifactWritten(path=key, size=size), 201)

    @api.head(
        "/{key:path}",
        response_class=Response,
        responses={
            200: {
                "content": {OCTET_STREAM: {}},
                "description": "The artifact exists; Content-Length is its size",
                "headers": {"Content-Length": {"schema": {"type": "integer"}}},
            },
            **errors(404),
        },
        summary="Size of an artifact",
    )
    def artifact_size(key: str) -> Response:
        """The headers a GET would answer with, and no body (404 for a directory)."""
        size = artifacts.size(key)
        if size is None:
            raise NotFound(f"No artifact at {key!r}")
        return Response(
            status_code=200, media_type=OCTET_STREAM, headers={"content-length": str(size)}
        )

    @api.get(
        "/{key:path}",
        response_class=StreamingResponse,
        responses={
            200: {"content": _BINARY, "description": "The artifact's bytes"},
            **errors(404),
        },
        summary="Download an artifact (streamed)",
    )
    def get_artifact(key: str) -> Response:
        return StreamingResponse(artifacts.open(key), media_type=OCTET_STREAM)

    @api.delete(
        "/{key:path}",
        status_code=204,
        responses=errors(),
        summary="Delete an artifact, or a directory with everything below it",
    )
    def delete_artifact(key: str) -> Response:
        """Deleting a missing key succeeds."""
        artifacts.delete(key)
        return no_content()

    return api
