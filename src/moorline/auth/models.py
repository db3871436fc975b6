"""Token records. The secret itself is never stored, only its SHA-256."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

TokenId = NewType("TokenId", str)


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    token_id: TokenId
    name: str
    role: Role
    secret_hash: str
    created_at: int
    revoked_at: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    """Returned once at creation: ``secret`` is the full bearer token to hand out."""

    token: ApiToken
    secret: str
