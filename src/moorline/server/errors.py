"""Error codes to HTTP statuses: the one table, used by every route family."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import orjson

from moorline.errors import ErrorCode, MoorlineError

if TYPE_CHECKING:  # imported where used: the model server reads HTTP_STATUS alone
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger("moorline.server")

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_PARAMETER_VALUE: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: 404,
    ErrorCode.ENDPOINT_NOT_FOUND: 404,
    # MLflow's client relies on 400 for a duplicate (spec section 1).
    ErrorCode.RESOURCE_ALREADY_EXISTS: 400,
    ErrorCode.RESOURCE_CONFLICT: 409,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_IMPLEMENTED: 501,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.TEMPORARILY_UNAVAILABLE: 503,
    ErrorCode.USER_CODE_ERROR: 500,
    ErrorCode.INTEGRITY_ERROR: 409,
}


def error_response(code: ErrorCode | str, message: str, status: int | None = None) -> Response:
    from starlette.responses import Response

    code_str = code.value if isinstance(code, ErrorCode) else code
    if status is None:
        status = (
            HTTP_STATUS.get(ErrorCode(code_str), 500) if code_str in ErrorCode.__members__ else 500
        )
    body = orjson.dumps({"error_code": code_str, "message": message})
    headers = {"WWW-Authenticate": 'Bearer realm="moorline"'} if status == 401 else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def moorline_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MoorlineError)
    status = HTTP_STATUS.get(exc.code, 500)
    if status >= 500:
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "error %s on %s %s: %s", error_id, request.method, request.url.path, exc, exc_info=exc
        )
        return error_response(exc.code, f"{exc.message} (error id {error_id})", status)
    return error_response(exc.code, exc.message, status)


_STATUS_CODES = {
    404: ErrorCode.ENDPOINT_NOT_FOUND,
    405: ErrorCode.ENDPOINT_NOT_FOUND,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.PERMISSION_DENIED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTP errors (no route, wrong method) in our JSON shape."""
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    code = _STATUS_CODES.get(exc.status_code, ErrorCode.BAD_REQUEST)
    if exc.status_code == 404:
        message = f"No endpoint at {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    response = error_response(code, message, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    error_id = uuid.uuid4().hex[:12]
    log.error(
        "unexpected error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc
    )
    return error_response(
        ErrorCode.INTERNAL_ERROR, f"Internal error (error id {error_id}); see the server log", 500
    )
