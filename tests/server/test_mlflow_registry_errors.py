"""MLflow's registry API over raw HTTP: refusals are stable 4xx that change nothing.

Against a live ``moorline server``: unknown models, versions and aliases are
404 ``RESOURCE_DOES_NOT_EXIST``; a duplicate name is 400
``RESOURCE_ALREADY_EXISTS`` (the client's ``log_model(registered_model_name=)``
relies on it); malformed versions, reserved or malformed aliases, bad stages
and bad filters are 400 with a message that names the problem, and each
leaves the registry as it was. Also pinned here: who a change is recorded
as (the token's name, else ``anonymous``) and where ``get-download-uri``
points for each kind of source.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.live import MOORLINE, LiveServer, start_server

from moorline.auth.models import Role
from moorline.bootstrap import Services, Settings, build_services
from moorline.registry.governance import Actor

API = "/api/2.0/mlflow"
RM = f"{API}/registered-models"
MV = f"{API}/model-versions"
SOURCE = "mlflow-artifacts:/0/somewhere/model"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-registry-errors")


@pytest.fixture(scope="module")
def token(workdir: Path) -> str:
    """An API token named ``release-bot``, issued before the server starts."""
    created = subprocess.run(
        [MOORLINE, "--store", f"sqlite:///{workdir / 'moorline.db'}", "token", "create",
         "release-bot", "--role", "editor", "--json"],
        capture_output=True, text=True, timeout=60, env={**os.environ}, check=True,
    )  # fmt: skip
    return str(json.loads(created.stdout)["token"])


@pytest.fixture(scope="module")
def server(workdir: Path, token: str) -> Iterator[LiveServer]:
    live = start_server(workdir)
    try:
        yield live
    finally:
        live.stop()
        assert "Traceback" not in live.log(), live.log()


@pytest.fixture(scope="module")
def local(server: LiveServer) -> Iterator[Services]:
    """The server's own store, opened directly (as the local CLI does) to set policies."""
    services = build_services(
        Settings(store_uri=server.store_uri, artifacts_uri=server.artifacts), migrate=False
    )
    try:
        yield services
    finally:
        services.close()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code, body
    message = body["message"]
    assert isinstance(message, str)
    assert message
    return message


def _new_model(client: httpx.Client, versions: int = 0, **fields: Any) -> str:
    name = fields.pop("name", None) or f"m-{uuid.uuid4().hex[:10]}"
    _ok(client.post(f"{RM}/create", json={"name": name, **fields}))
    for _ in range(versions):
        _ok(client.post(f"{MV}/create", json={"name": name, "source": SOURCE}))
    return name


def _model(client: httpx.Client, name: str) -> dict[str, Any]:
    model: dict[str, Any] = _ok(client.get(f"{RM}/get", params={"name": name}))["registered_model"]
    return model


def _versions(client: httpx.Client, name: str) -> list[str]:
    body = _ok(client.get(f"{MV}/search", params={"filter": f"name = '{name}'"}))
    return [mv["version"] for mv in body.get("model_versions", [])]


# -- not found ------------------------------------------------------------------------


def test_unknown_model_is_not_found_everywhere(client: httpx.Client) -> None:
    ghost = "no-such-model"
    calls = [
        client.get(f"{RM}/get", params={"name": ghost}),
        client.post(f"{RM}/rename", json={"name": ghost, "new_name": "other"}),
        client.patch(f"{RM}/update", json={"name": ghost, "description": "x"}),
        client.request("DELETE", f"{RM}/delete", json={"name": ghost}),
        client.post(f"{RM}/set-tag", json={"name": ghost, "key": "k", "value": "v"}),
        client.post(f"{RM}/get-latest-versions", json={"name": ghost}),
        client.post(f"{MV}/create", json={"name": ghost, "source": SOURCE}),
        client.get(f"{MV}/get", params={"name": ghost, "version": "1"}),
        client.get(f"{RM}/alias", params={"name": ghost, "alias": "champion"}),
    ]
    for response in calls:
        assert ghost in _error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.get(f"{RM}/get", params={"name": "other"}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_unknown_version_and_alias_are_not_found(client: httpx.Client) -> None:
    name = _new_model(client, versions=1)
    for response in (
        client.get(f"{MV}/get", params={"name": name, "version": "7"}),
        client.patch(f"{MV}/update", json={"name": name, "version": "7", "description": "x"}),
        client.request("DELETE", f"{MV}/delete", json={"name": name, "version": "7"}),
        client.get(f"{MV}/get-download-uri", params={"name": name, "version": "7"}),
        client.post(
            f"{MV}/transition-stage", json={"name": name, "version": "7", "stage": "Staging"}
        ),
        client.post(f"{RM}/alias", json={"name": name, "alias": "champion", "version": "7"}),
    ):
        assert "7" in _error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    missing = client.get(f"{RM}/alias", params={"name": name, "alias": "champion"})
    assert "champion" in _error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    delete = client.request("DELETE", f"{RM}/alias", json={"name": name, "alias": "champion"})
    assert "champion" in _error(delete, 404, "RESOURCE_DOES_NOT_EXIST")
    assert _model(client, name)["aliases"] == []
    assert _versions(client, name) == ["1"]


def test_unknown_logged_model_source_creates_no_version(client: httpx.Client) -> None:
    name = _new_model(client)
    ghost = "m-" + "0" * 32
    r = client.post(
        f"{MV}/create", json={"name": name, "source": f"models:/{ghost}", "model_id": ghost}
    )
    assert ghost in _error(r, 404, "RESOURCE_DOES_NOT_EXIST")
    copy = client.post(f"{MV}/create", json={"name": name, "source": f"models:/{name}/3"})
    _error(copy, 404, "RESOURCE_DOES_NOT_EXIST")
    assert _versions(client, name) == []


# -- duplicates and invalid input --------------------------------------------------------


def test_duplicate_name_is_already_exists_and_keeps_the_original(client: httpx.Client) -> None:
    name = _new_model(client, description="the original")
    r = client.post(f"{RM}/create", json={"name": name, "description": "an impostor"})
    assert name in _error(r, 400, "RESOURCE_ALREADY_EXISTS")
    assert _model(client, name)["description"] == "the original"

    other = _new_model(client)
    taken = client.post(f"{RM}/rename", json={"name": other, "new_name": name})
    assert name in _error(taken, 400, "RESOURCE_ALREADY_EXISTS")
    assert _model(client, other)["name"] == other


@pytest.mark.parametrize("version", ["abc", "0", "-1", "1.5", "1e3", " ", "99999999999999999999"])
def test_bad_version_strings_are_refused(client: httpx.Client, version: str) -> None:
    name = _new_model(client, versions=1)
    for response in (
        client.get(f"{MV}/get", params={"name": name, "version": version}),
        client.post(f"{RM}/alias", json={"name": name, "alias": "prod", "version": version}),
        client.post(
            f"{MV}/set-tag", json={"name": name, "version": version, "key": "k", "value": "v"}
        ),
        client.request("DELETE", f"{MV}/delete", json={"name": name, "version": version}),
    ):
        message = _error(response, 400, "INVALID_PARAMETER_VALUE")
        assert "version" in message.lower()
    assert _versions(client, name) == ["1"]
    assert _model(client, name)["aliases"] == []


def test_version_must_be_a_string_on_the_wire(client: httpx.Client) -> None:
    name = _new_model(client, versions=1)
    r = client.post(f"{RM}/alias", json={"name": name, "alias": "prod", "version": 1})
    assert "'version'" in _error(r, 400, "INVALID_PARAMETER_VALUE")
    missing = client.get(f"{MV}/get", params={"name": name})
    assert "'version'" in _error(missing, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("latest", "reserved"),
        ("LATEST", "reserved"),
        ("v1", "reserved"),
        ("V12", "reserved"),
        ("a b", "letters, digits"),
        ("a/b", "letters, digits"),
        ("x" * 256, "1-255"),
    ],
)
def test_bad_alias_names_are_refused_and_nothing_is_written(
    client: httpx.Client, alias: str, expected: str
) -> None:
    name = _new_model(client, versions=1)
    r = client.post(f"{RM}/alias", json={"name": name, "alias": alias, "version": "1"})
    message = _error(r, 400, "INVALID_PARAMETER_VALUE")
    assert expected in message
    assert repr(alias)[:40] in message
    assert _model(client, name)["aliases"] == []
    mv = _ok(client.get(f"{MV}/get", params={"name": name, "version": "1"}))["model_version"]
    assert mv.get("aliases", []) == []  # empty repeated fields are omitted


def test_bad_names_stages_filters_and_limits(client: httpx.Client) -> None:
    r = client.post(f"{RM}/create", json={"name": "a/b"})
    assert "'/'" in _error(r, 400, "INVALID_PARAMETER_VALUE")
    _error(client.get(f"{RM}/get", params={"name": "a/b"}), 400, "INVALID_PARAMETER_VALUE")
    missing = client.post(f"{RM}/create", json={})
    assert "'name'" in _error(missing, 400, "INVALID_PARAMETER_VALUE")

    name = _new_model(client, versions=1)
    stage = client.post(
        f"{MV}/transition-stage", json={"name": name, "version": "1", "stage": "Live"}
    )
    assert "Live" in _error(stage, 400, "INVALID_PARAMETER_VALUE")
    mv = _ok(client.get(f"{MV}/get", params={"name": name, "version": "1"}))["model_version"]
    assert mv["current_stage"] == "None"
    latest = client.post(f"{RM}/get-latest-versions", json={"name": name, "stages": ["Live"]})
    assert "Live" in _error(latest, 400, "INVALID_PARAMETER_VALUE")
    no_source = client.post(f"{MV}/create", json={"name": name})
    assert "'source'" in _error(no_source, 400, "INVALID_PARAMETER_VALUE")
    assert _versions(client, name) == ["1"]

    bad_filter = client.get(f"{RM}/search", params={"filter": "metrics.acc > 1"})
    assert "metrics" in _error(bad_filter, 400, "INVALID_PARAMETER_VALUE")
    bad_version_filter = client.get(f"{MV}/search", params={"filter": "version_number = 'x'"})
    _error(bad_version_filter, 400, "INVALID_PARAMETER_VALUE")
    too_many = client.get(f"{RM}/search", params={"max_results": "1001"})
    assert "1000" in _error(too_many, 400, "INVALID_PARAMETER_VALUE")
    bad_order = client.get(f"{RM}/search", params={"order_by": "version_number"})
    _error(bad_order, 400, "INVALID_PARAMETER_VALUE")
    bad_token = client.get(f"{MV}/search", params={"page_token": "not a token"})
    _error(bad_token, 400, "INVALID_PARAMETER_VALUE")


# -- what the registry records ---------------------------------------------------------------


def test_changes_are_recorded_as_the_token_name_or_anonymous(
    client: httpx.Client, token: str
) -> None:
    anonymous = _new_model(client)
    assert _model(client, anonymous)["user_id"] == "anonymous"

    as_bot = {"Authorization": f"Bearer {token}"}
    name = f"bot-{uuid.uuid4().hex[:8]}"
    created = _ok(client.post(f"{RM}/create", json={"name": name}, headers=as_bot))
    assert created["registered_model"]["user_id"] == "release-bot"
    mv = _ok(client.post(f"{MV}/create", json={"name": name, "source": SOURCE}, headers=as_bot))[
        "model_version"
    ]
    assert (mv["version"], mv["user_id"], mv["status"]) == ("1", "release-bot", "READY")


def test_download_uri_for_each_kind_of_source(client: httpx.Client) -> None:
    run = _ok(client.post(f"{API}/runs/create", json={"experiment_id": "0", "start_time": 1}))
    run_info = run["run"]["info"]
    logged = _ok(
        client.post(
            f"{API}/logged-models",
            json={"experiment_id": "0", "name": "model", "source_run_id": run_info["run_id"]},
        )
    )["model"]["info"]
    name = _new_model(client)
    sources = [
        f"runs:/{run_info['run_id']}/model/sub",
        f"runs:/{run_info['run_id']}",
        "s3://bucket/models/churn",
        f"models:/{name}/1",
        f"models:/{logged['model_id']}",
        f"models:/{name}/5",
    ]
    created = []
    for source in sources:
        body = _ok(client.post(f"{MV}/create", json={"name": name, "source": source}))
        created.append(body["model_version"])
    assert [mv.get("run_id") for mv in created] == [run_info["run_id"]] * 2 + [None] + [
        run_info["run_id"]
    ] * 3
    assert [mv.get("model_id") for mv in created] == [None] * 4 + [logged["model_id"]] * 2

    def download_uri(version: str) -> str:
        params = {"name": name, "version": version}
        return str(_ok(client.get(f"{MV}/get-download-uri", params=params))["artifact_uri"])

    root = run_info["artifact_uri"]
    assert download_uri("1") == f"{root}/model/sub"
    assert download_uri("2") == root
    assert download_uri("3") == "s3://bucket/models/churn"
    assert download_uri("4") == f"{root}/model/sub"
    assert download_uri("5") == download_uri("6") == logged["artifact_uri"]
    assert logged["artifact_uri"].endswith(f"/models/{logged['model_id']}/artifacts")

    ghost_run = client.post(f"{MV}/create", json={"name": name, "source": f"runs:/{'f' * 32}/m"})
    _error(ghost_run, 404, "RESOURCE_DOES_NOT_EXIST")
    assert len(_versions(client, name)) == 6


def test_deleting_a_version_drops_its_aliases(client: httpx.Client) -> None:
    name = _new_model(client, versions=2)
    _ok(client.post(f"{RM}/alias", json={"name": name, "alias": "champion", "version": "2"}))
    _ok(client.post(f"{RM}/alias", json={"name": name, "alias": "champion", "version": "1"}))
    _ok(client.post(f"{RM}/alias", json={"name": name, "alias": "shadow", "version": "2"}))
    assert {a["alias"]: a["version"] for a in _model(client, name)["aliases"]} == {
        "champion": "1",
        "shadow": "2",
    }
    _ok(client.request("DELETE", f"{MV}/delete", json={"name": name, "version": "2"}))
    assert _model(client, name)["aliases"] == [{"alias": "champion", "version": "1"}]
    gone = client.get(f"{RM}/alias", params={"name": name, "alias": "shadow"})
    _error(gone, 404, "RESOURCE_DOES_NOT_EXIST")


def test_tag_filters_match_present_tags_except_the_prompt_marker(client: httpx.Client) -> None:
    """As MLflow's stores: ``tags.k != v`` needs tag ``k``, but a model without the
    prompt marker is a plain model, so it satisfies ``!= 'true'`` (the clause
    MLflow's client appends to every search) and ``= 'false'``; prompts never do."""
    prefix = f"tagged-{uuid.uuid4().hex[:8]}"
    plain = _new_model(client, name=f"{prefix}-plain")
    team = _new_model(client, name=f"{prefix}-team", tags=[{"key": "team", "value": "a"}])
    prompt = _new_model(
        client,
        name=f"{prefix}-prompt",
        tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}],
    )

    def found(filter_string: str) -> list[str]:
        body = _ok(client.get(f"{RM}/search", params={"filter": filter_string}))
        return [m["name"] for m in body.get("registered_models", [])]

    like = f"name LIKE '{prefix}-%'"
    assert found(f"{like} AND tags.team != 'b'") == [team]
    assert found(f"{like} AND tag.`mlflow.prompt.is_prompt` != 'true'") == [plain, team]
    assert found(f"{like} AND tags.`mlflow.prompt.is_prompt` = 'false'") == [plain, team]
    assert found(f"{like} AND tags.`mlflow.prompt.is_prompt` = 'true'") == [prompt]
    assert found(f"{like} AND tags.`mlflow.prompt.is_prompt` != 'false'") == [prompt]


def test_a_refused_alias_move_is_403_with_the_reason_and_moves_nothing(
    client: httpx.Client, local: Services
) -> None:
    name = _new_model(client, versions=2)
    admin = Actor(name="ops-admin", role=Role.ADMIN)
    local.governance.set_policy(name, actor=admin, risk="high", protected_aliases=["champion"])

    refused = client.post(f"{RM}/alias", json={"name": name, "alias": "champion", "version": "2"})
    message = _error(refused, 403, "PERMISSION_DENIED")
    assert "approval" in message
    assert _model(client, name)["aliases"] == []
    audited = local.audit.list_entries(action="alias.set.refused", target_prefix=f"models:/{name}")
    assert [(e.actor, e.details["version"]) for e in audited] == [("anonymous", 2)]

    free = client.post(f"{RM}/alias", json={"name": name, "alias": "shadow", "version": "1"})
    _ok(free)

    # Requested by the caller the server knows as "anonymous", granted by someone else:
    # the same MLflow call now moves the alias, and uses the approval up.
    approval = local.governance.request_approval(
        name, "champion", 2, actor=Actor(name="anonymous", role=Role.EDITOR), reason="beats v1"
    )
    local.governance.grant(approval.approval_id, actor=Actor(name="ana", role=Role.APPROVER))
    _ok(client.post(f"{RM}/alias", json={"name": name, "alias": "champion", "version": "2"}))
    assert {a["alias"]: a["version"] for a in _model(client, name)["aliases"]} == {
        "champion": "2",
        "shadow": "1",
    }
    assert local.governance.get_approval(approval.approval_id).state.value == "consumed"
    moves = local.audit.list_entries(action="alias.set", target_prefix=f"models:/{name}@champion")
    assert [(e.actor, e.details["approval_id"]) for e in moves] == [
        ("anonymous", approval.approval_id)
    ]
