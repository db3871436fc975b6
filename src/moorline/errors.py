"""The one error hierarchy of moorline.

Every error a user can see carries a stable :class:`ErrorCode`. Shells map
codes once: to HTTP statuses in ``moorline.server.errors`` and to process
exit codes in ``moorline.cli.errors``. The codes reuse MLflow's names where
MLflow has one, so the unmodified ``mlflow`` client reacts to them correctly.

::

    MoorlineError
     ├── InvalidArgument        INVALID_PARAMETER_VALUE   bad input, changes nothing
     │    └── PayloadTooLarge   REQUEST_LIMIT_EXCEEDED... (413)
     ├── NotFound               RESOURCE_DOES_NOT_EXIST
     ├── AlreadyExists          RESOURCE_ALREADY_EXISTS
     ├── Conflict               RESOURCE_CONFLICT          state forbids the change
     ├── Unauthenticated        UNAUTHENTICATED
     ├── PermissionDenied       PERMISSION_DENIED
     ├── StorageError           INTERNAL_ERROR             a backend failed
     ├── IntegrityError         INTEGRITY_ERROR            stored bytes differ from their digest
     └── UserCodeError          USER_CODE_ERROR            user code raised; traceback kept
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
    BAD_REQUEST = "BAD_REQUEST"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
    ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
    RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
    RESOURCE_CONFLICT = "RESOURCE_CONFLICT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_IMPLEMENTED = "NOT_IMPLEMENTED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
    USER_CODE_ERROR = "USER_CODE_ERROR"
    INTEGRITY_ERROR = "INTEGRITY_ERROR"


class MoorlineError(Exception):
    """Root of every error moorline raises on purpose."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidArgument(MoorlineError):
    """The request is malformed or violates a rule; nothing was changed."""

    code = ErrorCode.INVALID_PARAMETER_VALUE


class PayloadTooLarge(InvalidArgument):
    """The request or one of its parts exceeds a size limit."""

    code = ErrorCode.PAYLOAD_TOO_LARGE


class NotFound(MoorlineError):
    code = ErrorCode.RESOURCE_DOES_NOT_EXIST


class EndpointNotFound(NotFound):
    code = ErrorCode.ENDPOINT_NOT_FOUND


class AlreadyExists(MoorlineError):
    code = ErrorCode.RESOURCE_ALREADY_EXISTS


class Conflict(MoorlineError):
    code = ErrorCode.RESOURCE_CONFLICT


class Unauthenticated(MoorlineError):
    code = ErrorCode.UNAUTHENTICATED


class PermissionDenied(MoorlineError):
    code = ErrorCode.PERMISSION_DENIED


class NotImplementedFeature(MoorlineError):
    code = ErrorCode.NOT_IMPLEMENTED


class StorageError(MoorlineError):
    """A storage backend failed in a way the caller did not cause."""

    code = ErrorCode.INTERNAL_ERROR


class IntegrityError(MoorlineError):
    """Stored bytes are not the ones recorded: a file's SHA-256 differs from its
    manifest, or a file is missing or unexpected. Nothing was deserialised."""

    code = ErrorCode.INTEGRITY_ERROR


class TemporarilyUnavailable(MoorlineError):
    code = ErrorCode.TEMPORARILY_UNAVAILABLE


class UserCodeError(MoorlineError):
    """Code the user wrote (a model, a training step) raised.

    Kept apart so it is never reported as a moorline bug; ``user_traceback``
    holds the formatted traceback of the original exception.
    """

    code = ErrorCode.USER_CODE_ERROR

    def __init__(self, message: str, *, user_traceback: str = "") -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


__all__ = [
    "AlreadyExists",
    "Conflict",
    "EndpointNotFound",
    "ErrorCode",
    "IntegrityError",
    "InvalidArgument",
    "MoorlineError",
    "NotFound",
    "NotImplementedFeature",
    "PayloadTooLarge",
    "PermissionDenied",
    "StorageError",
    "TemporarilyUnavailable",
    "Unauthenticated",
    "UserCodeError",
]
