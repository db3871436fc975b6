"""API tokens over SQL: :class:`moorline.auth.ports.TokenStore`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, or_, select
from sqlalchemy.exc import IntegrityError

from moorline.auth.models import ApiToken, Role, TokenId
from moorline.auth.ports import TokenStore
from moorline.errors import AlreadyExists, NotFound
from moorline.store.sql import tables as t
from moorline.store.sql._base import SqlStoreBase

_tok = t.api_tokens
_SELECT_TOKEN = select(*_tok.c).where(_tok.c.token_id == bindparam("tid"))


class SqlTokenStore(SqlStoreBase, TokenStore):
    """Token records (only the SHA-256 of each secret) in SQLite or PostgreSQL."""

    def add_token(self, token: ApiToken) -> None:
        with self._write() as conn:
            clash = conn.execute(
                select(_tok.c.token_id, _tok.c.name).where(
                    or_(_tok.c.token_id == token.token_id, _tok.c.name == token.name)
                )
            ).first()
            if clash is not None:
                raise _taken(token, clash.token_id)
            try:
                conn.execute(
                    _tok.insert().values(
                        token_id=token.token_id,
                        name=token.name,
                        role=Role(token.role).value,
                        secret_hash=token.secret_hash,
                        created_at=token.created_at,
                        revoked_at=token.revoked_at,
                    )
                )
            except IntegrityError:
                raise AlreadyExists(
                    f"A token with id {token.token_id!r} or name {token.name!r} already exists"
                ) from None

    def get_token(self, token_id: TokenId) -> ApiToken | None:
        with self._read() as conn:
            row = conn.execute(_SELECT_TOKEN, {"tid": token_id}).first()
        return None if row is None else _token(row)

    def list_tokens(self) -> list[ApiToken]:
        with self._read() as conn:
            rows = conn.execute(select(*_tok.c).order_by(_tok.c.created_at, _tok.c.token_id)).all()
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: TokenId, *, now: int) -> None:
        with self._write() as conn:
            row = conn.execute(_SELECT_TOKEN, {"tid": token_id}).first()
            if row is None:
                raise NotFound(f"No API token with id {token_id!r}")
            if row.revoked_at is None:
                conn.execute(
                    _tok.update().where(_tok.c.token_id == token_id).values(revoked_at=now)
                )


def _taken(token: ApiToken, clash_id: str) -> AlreadyExists:
    if clash_id == token.token_id:
        return AlreadyExists(f"A token with id {token.token_id!r} already exists")
    return AlreadyExists(f"A token named {token.name!r} already exists")


def _token(row: Row[Any]) -> ApiToken:
    return ApiToken(
        token_id=TokenId(row.token_id),
        name=row.name,
        role=Role(row.role),
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
