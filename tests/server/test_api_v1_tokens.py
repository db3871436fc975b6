"""Tokens issued through the REST adapter work on the server that stored them.

The client draws the secret and sends only its hash; the server must then
accept the secret it never saw, and refuse it once revoked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.contracts.rest_backend import ThreadedServer, fresh_services, threaded_server

from moorline.auth.models import ApiToken, Role, TokenId
from moorline.auth.service import AuthService
from moorline.bootstrap import Services
from moorline.errors import InvalidArgument, PermissionDenied
from moorline.server.app import create_app
from moorline.store.rest.client import RestClient
from moorline.store.rest.tracking import RestTokenStore


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with threaded_server() as running:
        yield running


@pytest.fixture
def secured(server: ThreadedServer, tmp_path: Path) -> Iterator[tuple[str, Services]]:
    services = fresh_services(tmp_path)
    try:
        with server.serving(create_app(services, auth_required=True)) as url:
            yield url, services
    finally:
        services.close()


def test_remote_issue_authenticate_and_revoke(secured: tuple[str, Services]) -> None:
    url, services = secured
    admin = services.auth.create_token("root", Role.ADMIN).secret
    with RestClient(url, token=admin, max_attempts=1) as client:
        remote = AuthService(RestTokenStore(client))
        issued = remote.create_token("ci-bot", Role.EDITOR)
        stored = services.auth.get_token(issued.token.token_id)
        assert stored == issued.token
        assert issued.secret.split("_")[-1] not in stored.secret_hash

        as_bot = {"Authorization": f"Bearer {issued.secret}"}
        assert httpx.get(f"{url}/api/v1/experiments", headers=as_bot).status_code == 200
        assert sorted(t.name for t in remote.list_tokens()) == ["ci-bot", "root"]

        remote.revoke_token(issued.token.token_id)
        assert httpx.get(f"{url}/api/v1/experiments", headers=as_bot).status_code == 401
        revoked = remote.list_tokens()
        assert [t.active for t in revoked if t.name == "ci-bot"] == [False]


def test_server_checks_what_a_remote_client_sends(secured: tuple[str, Services]) -> None:
    url, services = secured
    admin = services.auth.create_token("root", Role.ADMIN).secret
    body = {
        "token_id": "0123456789abcdef",
        "name": "bad name!",
        "role": "viewer",
        "secret_hash": "0" * 64,
        "created_at": 1,
    }
    response = httpx.post(
        f"{url}/api/v1/tokens", json=body, headers={"Authorization": f"Bearer {admin}"}
    )
    assert response.status_code == 400
    assert "bad name!" in response.json()["message"]
    short = {**body, "name": "ok", "secret_hash": "abc"}
    response = httpx.post(
        f"{url}/api/v1/tokens", json=short, headers={"Authorization": f"Bearer {admin}"}
    )
    assert response.status_code == 400
    assert "'secret_hash'" in response.json()["message"]


def test_a_non_admin_cannot_issue_tokens_remotely(secured: tuple[str, Services]) -> None:
    url, services = secured
    editor = services.auth.create_token("dev", Role.EDITOR).secret
    with RestClient(url, token=editor, max_attempts=1) as client:
        with pytest.raises(PermissionDenied, match="admin"):
            AuthService(RestTokenStore(client)).create_token("sneaky", Role.ADMIN)
    assert [t.name for t in services.auth.list_tokens()] == ["dev"]
    with pytest.raises(InvalidArgument, match="16 hex digits"):
        services.auth.add_token(
            ApiToken(
                token_id=TokenId("not-hex-at-all!!"),
                name="x",
                role=Role.VIEWER,
                secret_hash="0" * 64,
                created_at=1,
            )
        )
