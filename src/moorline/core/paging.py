"""Opaque page tokens and typed pages.

A page token is URL-safe base64 of a small JSON object. Clients must treat it
as opaque; stores choose what they put inside (an offset, or a keyset cursor).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from moorline.errors import InvalidArgument

T = TypeVar("T")

MAX_RESULTS_LIMIT = 50_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    """One page of results and the token for the next one (None on the last page)."""

    items: tuple[T, ...]
    next_page_token: str | None = None


def encode_token(payload: dict[str, Any]) -> str:
    """Encode a cursor as an opaque token.

    >>> decode_token(encode_token({"offset": 5}))
    {'offset': 5}
    """
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str | None) -> dict[str, Any]:
    """Decode a token made by :func:`encode_token`; empty or None means the first page."""
    if not token:
        return {}
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"Invalid page token {token!r}") from exc
    if not isinstance(value, dict):
        raise InvalidArgument(f"Invalid page token {token!r}")
    return value


def offset_from_token(token: str | None) -> int:
    """The offset stored in an offset-style token (0 for the first page)."""
    offset = decode_token(token).get("offset", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidArgument(f"Invalid page token {token!r}")
    return offset


def check_max_results(
    max_results: int | None, *, default: int, limit: int = MAX_RESULTS_LIMIT
) -> int:
    """Validate a requested page size, applying ``default`` when absent."""
    if max_results is None:
        return default
    if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
        raise InvalidArgument(f"max_results must be a positive integer, got {max_results!r}")
    if max_results > limit:
        raise InvalidArgument(f"max_results must be at most {limit}, got {max_results}")
    return max_results
