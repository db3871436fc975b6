"""Rendering helpers shared by the route modules, and the documented error answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel
from starlette.responses import Response

from moorline.schemas.common import INT64_MAX, ErrorBody
from moorline.schemas.tracking import CHANGE_TIME

JSON = "application/json"

#: The optional time of a change, for operations without a body (see ``CHANGE_TIME``).
ChangeTime = Annotated[int | None, Query(ge=0, le=INT64_MAX, description=CHANGE_TIME)]

_ERROR_TEXT: dict[int, str] = {
    400: "Invalid request (INVALID_PARAMETER_VALUE, BAD_REQUEST) or a name already taken "
    "(RESOURCE_ALREADY_EXISTS)",
    401: "Missing or invalid API token (UNAUTHENTICATED)",
    403: "The token's role does not allow this (PERMISSION_DENIED)",
    404: "No such resource (RESOURCE_DOES_NOT_EXIST)",
    409: "The resource's state forbids the change (RESOURCE_CONFLICT)",
    413: "The request body exceeds the server's limit (PAYLOAD_TOO_LARGE)",
    500: "The server or one of its backends failed (INTERNAL_ERROR); the message has an error id",
    503: "The server is temporarily unavailable (TEMPORARILY_UNAVAILABLE); retry later",
}
_ALWAYS = (400, 401, 403, 500, 503)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer with.

    Every route can fail validation (400), authentication (401/403) and the
    server (500/503); ``statuses`` adds the route's own (404, 409, 413).
    """
    return {
        status: {"model": ErrorBody, "description": _ERROR_TEXT[status]}
        for status in sorted({*_ALWAYS, *statuses})
    }


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """Render a schema as JSON (non-finite floats as strings, see ``moorline.schemas``).

    Handlers return a ready response rather than the model: FastAPI would
    validate the model a second time on the way out.
    """
    return Response(
        model.__pydantic_serializer__.to_json(model), status_code=status_code, media_type=JSON
    )


def no_content() -> Response:
    return Response(status_code=204)
