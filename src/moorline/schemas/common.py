"""Building blocks of every wire schema: base models, the error body, number types."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from moorline.errors import ErrorCode

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: A signed 64-bit integer: what every store can hold (steps).
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
#: Milliseconds since the epoch.
Timestamp = Annotated[int, Field(ge=0, le=INT64_MAX)]

_NON_FINITE: dict[str, float] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _decode_float(value: object) -> object:
    """Accept a JSON number, or one of the three strings that stand for non-finite values."""
    if isinstance(value, str):
        try:
            return _NON_FINITE[value]
        except KeyError:
            raise ValueError(
                f"expected a number or one of 'NaN', 'Infinity', '-Infinity', got {value!r}"
            ) from None
    return value


def _encode_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


#: A float that may be NaN or +/-infinity. JSON has no literal for those, so on
#: the wire they are the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``;
#: finite values are plain JSON numbers.
FloatValue = Annotated[
    float,
    BeforeValidator(_decode_float),
    PlainSerializer(_encode_float, return_type=float | str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "enum": list(_NON_FINITE)},
            ],
            "description": (
                "A number; NaN and infinities travel as the strings "
                "'NaN', 'Infinity' and '-Infinity'."
            ),
        }
    ),
]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ResponseModel(BaseModel):
    """A response body: unknown fields are ignored so a newer server stays readable."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ErrorBody(ResponseModel):
    """What every error response carries, whatever the status."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        json_schema_extra={
            "example": {
                "error_code": "RESOURCE_DOES_NOT_EXIST",
                "message": "No experiment with id '42'",
            }
        },
    )

    error_code: Annotated[
        str,
        Field(
            description="A stable code; one of: " + ", ".join(c.value for c in ErrorCode),
            json_schema_extra={"enum": [c.value for c in ErrorCode]},
        ),
    ]
    message: Annotated[str, Field(description="What is wrong, for a person to read.")]
