"""Error codes to exit codes: the one table for the CLI.

0 success; 1 a negative answer the command reports (e.g. drift found);
2 the user's mistake (bad input, not found, conflict); 3 authentication or
permission; 4 the platform or a backend failed; 5 user code raised; 6 an
integrity check failed (stored bytes differ from their recorded digest).
"""

from __future__ import annotations

from moorline.errors import ErrorCode

EXIT_USAGE = 2

EXIT_CODES: dict[ErrorCode, int] = {
    ErrorCode.INVALID_PARAMETER_VALUE: 2,
    ErrorCode.BAD_REQUEST: 2,
    ErrorCode.PAYLOAD_TOO_LARGE: 2,
    ErrorCode.RESOURCE_DOES_NOT_EXIST: 2,
    ErrorCode.ENDPOINT_NOT_FOUND: 2,
    ErrorCode.RESOURCE_ALREADY_EXISTS: 2,
    ErrorCode.RESOURCE_CONFLICT: 2,
    ErrorCode.UNAUTHENTICATED: 3,
    ErrorCode.PERMISSION_DENIED: 3,
    ErrorCode.NOT_IMPLEMENTED: 4,
    ErrorCode.INTERNAL_ERROR: 4,
    ErrorCode.TEMPORARILY_UNAVAILABLE: 4,
    ErrorCode.USER_CODE_ERROR: 5,
    ErrorCode.INTEGRITY_ERROR: 6,
}
