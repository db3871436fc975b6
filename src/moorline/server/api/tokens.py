"""``/tokens``: API tokens, for administrators.

When the request carries a token (always, on a server that requires them),
its role must be ``admin``. A loopback server without authentication lets
anyone on the machine manage tokens, as the CLI there can anyway.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from moorline.auth.models import Role
from moorline.auth.service import AuthService
from moorline.errors import NotFound, PermissionDenied
from moorline.schemas import auth as s
from moorline.schemas.common import INT64_MAX
from moorline.server.api._http import errors, json_response, no_content
from moorline.server.middleware import current_token


async def require_admin() -> None:
    """Refuse a caller whose token is not an admin's (async: runs where the token is set)."""
    token = current_token.get()
    if token is not None and token.role != Role.ADMIN:
        raise PermissionDenied(
            f"Token {token.name!r} has role {token.role.value!r}; managing tokens needs 'admin'"
        )


def router(auth: AuthService) -> APIRouter:
    api = APIRouter(prefix="/tokens", tags=["tokens"], dependencies=[Depends(require_admin)])

    @api.post(
        "",
        status_code=201,
        response_model=s.Token,
        responses=errors(413),
        summary="Store a token issued by the client (only the secret's hash is sent)",
    )
    def add_token(body: s.AddToken) -> Response:
        """A token id or name already taken is a 400 RESOURCE_ALREADY_EXISTS."""
        token = body.to_domain()
        auth.add_token(token)
        return json_response(s.Token.from_domain(token), 201)

    @api.get("", response_model=s.TokenList, responses=errors(), summary="List tokens")
    def list_tokens() -> Response:
        return json_response(
            s.TokenList(items=[s.Token.from_domain(t) for t in auth.list_tokens()])
        )

    @api.get("/{token_id}", response_model=s.Token, responses=errors(404), summary="Get a token")
    def get_token(token_id: str) -> Response:
        token = auth.get_token(token_id)
        if token is None:
            raise NotFound(f"No API token with id {token_id!r}")
        return json_response(s.Token.from_domain(token))

    @api.post(
        "/{token_id}/revoke",
        status_code=204,
        responses=errors(404),
        summary="Revoke a token (it stays listed, with revoked_at set)",
    )
    def revoke_token(
        token_id: str,
        revoked_at: Annotated[
            int | None,
            Query(ge=0, le=INT64_MAX, description="When (ms since the epoch); now when absent."),
        ] = None,
    ) -> Response:
        """Revoking a revoked token keeps the first revocation time."""
        auth.revoke_token(token_id, now=revoked_at)
        return no_content()

    return api
