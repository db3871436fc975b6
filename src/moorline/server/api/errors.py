"""FastAPI's own failures rendered in moorline's error shape.

moorline errors go through ``moorline.server.errors`` (the one code-to-status
table). What FastAPI and Starlette raise themselves is translated here: a
request that fails validation is a 400 ``INVALID_PARAMETER_VALUE`` whose
message names the offending field (never FastAPI's bare 422), an unknown
path is a 404 ``ENDPOINT_NOT_FOUND``, a wrong method a 405 ``BAD_REQUEST``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from moorline.errors import ErrorCode, MoorlineError
from moorline.server.errors import error_response, moorline_error_handler

_SHOWN_ERRORS = 5
_SHOWN_INPUT = 80

_WHERE = {"body": "field", "query": "query parameter", "path": "path parameter", "header": "header"}


def _field_path(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_INPUT else text[:_SHOWN_INPUT] + "..."


def describe_error(error: dict[str, Any]) -> str:
    """One pydantic/FastAPI validation error as a sentence naming the field.

    >>> describe_error({"loc": ("query", "max_results"), "msg": "Input should be a valid integer",
    ...                 "type": "int_parsing", "input": "x"})
    "query parameter 'max_results': Input should be a valid integer, got 'x'"
    """
    loc = tuple(error.get("loc", ()))
    kind = error.get("type", "")
    msg = str(error.get("msg", "invalid value"))
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", msg)
        position = f" at position {loc[1]}" if len(loc) > 1 else ""
        return f"request body is not valid JSON: {detail}{position}"
    source = str(loc[0]) if loc else "body"
    rest = loc[1:] if loc and loc[0] in _WHERE else loc
    if not rest:
        text = f"request {source}: {msg}"
    else:
        text = f"{_WHERE.get(source, source)} {_field_path(rest)!r}: {msg}"
    if kind != "missing" and "input" in error and not isinstance(error["input"], dict | list):
        text += f", got {_shown(error['input'])}"
    return text


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    parts = [describe_error(e) for e in errors[:_SHOWN_ERRORS]]
    if len(errors) > _SHOWN_ERRORS:
        parts.append(f"and {len(errors) - _SHOWN_ERRORS} more")
    return error_response(
        ErrorCode.INVALID_PARAMETER_VALUE, "Invalid request: " + "; ".join(parts), 400
    )


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    # FastAPI turns any failure while reading a body into a 400 "error parsing the
    # body"; when the cause is ours (the body-size limit), answer with it instead.
    cause = exc.__cause__
    if isinstance(cause, MoorlineError):
        return await moorline_error_handler(request, cause)
    if exc.status_code == 404:
        response = error_response(
            ErrorCode.ENDPOINT_NOT_FOUND,
            f"No endpoint {request.method} {request.url.path}; see /api/v1/docs",
            404,
        )
    elif exc.status_code == 405:
        response = error_response(
            ErrorCode.BAD_REQUEST,
            f"Method {request.method} is not allowed on {request.url.path}",
            405,
        )
    else:
        code = (
            ErrorCode.INVALID_PARAMETER_VALUE if exc.status_code < 500 else ErrorCode.INTERNAL_ERROR
        )
        response = error_response(code, str(exc.detail), exc.status_code)
    if exc.headers:
        for name, value in exc.headers.items():
            response.headers[name] = value
    return response
