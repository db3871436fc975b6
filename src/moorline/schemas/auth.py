"""Wire schemas of API tokens.

A remote client issues a token the same way a local one does: it draws the
secret itself and sends only its SHA-256, so the secret never crosses the
network. Reads return the hash too (to administrators only): a SHA-256 of
256 random bits reveals nothing usable, and the token port needs it whole.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from moorline.auth import models as m
from moorline.schemas.common import Int64, RequestModel, ResponseModel

_HASH = Field(pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the token's secret part.")


class Token(ResponseModel):
    token_id: str
    name: str
    role: m.Role
    secret_hash: Annotated[str, Field(description="Hex SHA-256 of the token's secret part.")]
    created_at: int
    revoked_at: int | None = None

    @classmethod
    def from_domain(cls, token: m.ApiToken) -> Token:
        return cls(
            token_id=token.token_id,
            name=token.name,
            role=token.role,
            secret_hash=token.secret_hash,
            created_at=token.created_at,
            revoked_at=token.revoked_at,
        )

    def to_domain(self) -> m.ApiToken:
        return m.ApiToken(
            token_id=m.TokenId(self.token_id),
            name=self.name,
            role=self.role,
            secret_hash=self.secret_hash,
            created_at=self.created_at,
            revoked_at=self.revoked_at,
        )


class AddToken(RequestModel):
    """A token drawn by the client: only the hash of its secret is sent."""

    token_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    name: str
    role: m.Role
    secret_hash: Annotated[str, _HASH]
    created_at: Int64

    @classmethod
    def from_domain(cls, token: m.ApiToken) -> AddToken:
        return cls(
            token_id=token.token_id,
            name=token.name,
            role=token.role,
            secret_hash=token.secret_hash,
            created_at=token.created_at,
        )

    def to_domain(self) -> m.ApiToken:
        return m.ApiToken(
            token_id=m.TokenId(self.token_id),
            name=self.name,
            role=self.role,
            secret_hash=self.secret_hash,
            created_at=self.created_at,
        )


class TokenList(ResponseModel):
    items: list[Token]
