from __future__ import annotations

from abc import ABC, abstractmethod

from moorline.auth.models import ApiToken, TokenId


class TokenStore(ABC):
    @abstractmethod
    def add_token(self, token: ApiToken) -> None:
        """AlreadyExists if the id or the name is taken."""

    @abstractmethod
    def get_token(self, token_id: TokenId) -> ApiToken | None: ...

    @abstractmethod
    def list_tokens(self) -> list[ApiToken]: ...

    @abstractmethod
    def revoke_token(self, token_id: TokenId, *, now: int) -> None:
        """NotFound if missing."""
