"""Every failure of ``/api/v1`` has moorline's shape and the right status.

``{"error_code", "message"}`` always; validation failures are 400
INVALID_PARAMETER_VALUE naming the field (never FastAPI's bare 422); client
mistakes are never 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.contracts.rest_backend import ThreadedServer, fresh_services, threaded_server

from moorline.auth.models import Role
from moorline.bootstrap import Services
from moorline.server.app import create_app

BODY_LIMIT = 4096


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with threaded_server() as running:
        yield running


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = fresh_services(tmp_path, max_request_bytes=BODY_LIMIT)
    yield services
    services.close()


@pytest.fixture
def api(server: ThreadedServer, services: Services) -> Iterator[httpx.Client]:
    with (
        server.serving(create_app(services, auth_required=False)) as url,
        httpx.Client(base_url=f"{url}/api/v1", timeout=30) as client,
    ):
        yield client


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, body
    assert body["message"]
    return str(body["message"])


def test_unknown_endpoint_is_404_endpoint_not_found(api: httpx.Client) -> None:
    message = error(api.get("/no-such-thing"), 404, "ENDPOINT_NOT_FOUND")
    assert "/api/v1/no-such-thing" in message


def test_wrong_method_is_405_with_allow_header(api: httpx.Client) -> None:
    response = api.put("/runs/search", json={})
    message = error(response, 405, "BAD_REQUEST")
    assert "PUT" in message
    assert "POST" in response.headers["allow"]


def test_malformed_json_is_400(api: httpx.Client) -> None:
    response = api.post(
        "/experiments", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert "not valid JSON" in error(response, 400, "INVALID_PARAMETER_VALUE")


def test_missing_field_is_named(api: httpx.Client) -> None:
    message = error(api.post("/experiments", json={}), 400, "INVALID_PARAMETER_VALUE")
    assert "'name'" in message
    assert "Field required" in message


def test_unknown_field_is_refused_and_named(api: httpx.Client) -> None:
    response = api.post("/experiments", json={"name": "x", "nmae": "typo"})
    message = error(response, 400, "INVALID_PARAMETER_VALUE")
    assert "'nmae'" in message


def test_nested_field_is_named_with_its_position(api: httpx.Client) -> None:
    eid = api.post("/experiments", json={"name": "e"}).json()["experiment_id"]
    rid = api.post("/runs", json={"experiment_id": eid}).json()["info"]["run_id"]
    bad = {
        "metrics": [
            {"key": "a", "value": 1, "timestamp": 1},
            {"key": "b", "value": "lots", "timestamp": 1},
        ]
    }
    message = error(api.post(f"/runs/{rid}/batch", json=bad), 400, "INVALID_PARAMETER_VALUE")
    assert "'metrics[1].value'" in message
    assert "'lots'" in message


def test_bad_query_parameter_is_named(api: httpx.Client) -> None:
    message = error(
        api.get("/experiments", params={"max_results": "many"}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "query parameter 'max_results'" in message
    message = error(
        api.get("/experiments", params={"view_type": "SOME"}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "'view_type'" in message


def test_body_of_wrong_type_is_400(api: httpx.Client) -> None:
    message = error(api.post("/experiments", json=[1, 2]), 400, "INVALID_PARAMETER_VALUE")
    assert "request body" in message


def test_out_of_range_int64_is_400_not_500(api: httpx.Client) -> None:
    eid = api.post("/experiments", json={"name": "e"}).json()["experiment_id"]
    response = api.post("/runs", json={"experiment_id": eid, "start_time": 2**70})
    assert "'start_time'" in error(response, 400, "INVALID_PARAMETER_VALUE")


def test_missing_resources_are_404(api: httpx.Client) -> None:
    error(api.get("/experiments/12345"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(api.get("/experiments/not-a-number"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(api.get("/runs/0123456789abcdef0123456789abcdef"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(api.get("/logged-models/m-0000"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(api.get("/tokens/0000000000000000"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_declared_body_over_the_limit_is_413(api: httpx.Client) -> None:
    big = {"name": "x" * (BODY_LIMIT + 1)}
    error(api.post("/experiments", json=big), 413, "PAYLOAD_TOO_LARGE")


def test_chunked_body_over_the_limit_is_413(api: httpx.Client) -> None:
    """Without Content-Length the limit trips while FastAPI reads the body."""

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(4):
            yield b"x" * BODY_LIMIT
        yield b'"}'

    response = api.post(
        "/experiments", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "transfer-encoding" in {k.lower() for k in response.request.headers}
    error(response, 413, "PAYLOAD_TOO_LARGE")


# -- authentication and roles -----------------------------------------------------------


@pytest.fixture
def secured(server: ThreadedServer, services: Services) -> Iterator[str]:
    with server.serving(create_app(services, auth_required=True)) as url:
        yield f"{url}/api/v1"


def test_no_token_is_401_when_required(secured: str) -> None:
    response = httpx.get(f"{secured}/experiments")
    error(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_bad_token_is_401(secured: str) -> None:
    response = httpx.get(f"{secured}/experiments", headers={"Authorization": "Bearer mlt_nope"})
    error(response, 401, "UNAUTHENTICATED")


def test_tokens_need_the_admin_role(secured: str, services: Services) -> None:
    viewer = services.auth.create_token("viewer-1", Role.VIEWER).secret
    admin = services.auth.create_token("admin-1", Role.ADMIN).secret

    as_viewer = {"Authorization": f"Bearer {viewer}"}
    assert httpx.get(f"{secured}/experiments", headers=as_viewer).status_code == 200
    message = error(httpx.get(f"{secured}/tokens", headers=as_viewer), 403, "PERMISSION_DENIED")
    assert "admin" in message
    error(
        httpx.post(f"{secured}/tokens/0000000000000000/revoke", headers=as_viewer),
        403,
        "PERMISSION_DENIED",
    )

    as_admin = {"Authorization": f"Bearer {admin}"}
    listed = httpx.get(f"{secured}/tokens", headers=as_admin)
    assert listed.status_code == 200, listed.text
    assert sorted(t["name"] for t in listed.json()["items"]) == ["admin-1", "viewer-1"]
