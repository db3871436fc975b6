"""Contract of TokenStore: every backend must pass these."""

from __future__ import annotations

import pytest

from moorline.auth.models import ApiToken, Role, TokenId
from moorline.auth.ports import TokenStore
from moorline.errors import AlreadyExists, NotFound


def token(token_id: str, name: str, *, created_at: int = 10, role: Role = Role.EDITOR) -> ApiToken:
    return ApiToken(
        token_id=TokenId(token_id),
        name=name,
        role=role,
        secret_hash=(token_id * 8)[:64],
        created_at=created_at,
    )


def test_add_get_list(tokens: TokenStore) -> None:
    first = token("0123456789abcdef", "ci", created_at=5, role=Role.ADMIN)
    second = token("fedcba9876543210", "laptop", created_at=7, role=Role.VIEWER)
    tokens.add_token(second)
    tokens.add_token(first)
    assert tokens.get_token(first.token_id) == first
    assert tokens.get_token(TokenId("0000000000000000")) is None
    assert tokens.list_tokens() == [first, second]


def test_ids_and_names_are_unique(tokens: TokenStore) -> None:
    tokens.add_token(token("0123456789abcdef", "ci"))
    with pytest.raises(AlreadyExists):
        tokens.add_token(token("0123456789abcdef", "other"))
    with pytest.raises(AlreadyExists, match="ci"):
        tokens.add_token(token("1111111111111111", "ci"))
    assert len(tokens.list_tokens()) == 1


def test_revoke(tokens: TokenStore) -> None:
    original = token("0123456789abcdef", "ci")
    tokens.add_token(original)
    tokens.revoke_token(original.token_id, now=99)
    revoked = tokens.get_token(original.token_id)
    assert revoked is not None and revoked.revoked_at == 99 and not revoked.active
    tokens.revoke_token(original.token_id, now=500)  # revoking again keeps the first time
    again = tokens.get_token(original.token_id)
    assert again is not None and again.revoked_at == 99
    with pytest.raises(NotFound):
        tokens.revoke_token(TokenId("9999999999999999"), now=1)
