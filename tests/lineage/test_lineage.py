"""``moorline lineage`` and ``GET /api/v1/lineage`` on a model trained from a logged dataset."""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from moorline.cli.main import cli
from moorline.server.app import create_app
from tests.contracts.rest_backend import threaded_server
from tests.lineage.conftest import Project


def lineage_json(project: Project, uri: str) -> dict[str, Any]:
    result = project.invoke("lineage", uri, "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="module")
def api(project: Project) -> Iterator[str]:
    """A live server (uvicorn over loopback) on the project's store."""
    services = project.services()
    try:
        with threaded_server() as server, server.serving(create_app(services, auth_required=False)):
            yield server.url
    finally:
        services.close()


def test_the_cli_json_shows_every_link(project: Project) -> None:
    doc = lineage_json(project, "models:/churn@champion")
    assert doc["uri"] == "models:/churn@champion"
    version = doc["version"]
    assert (version["name"], version["version"]) == ("churn", 1)
    assert version["run_id"] == project.run_id
    assert version["created_by"] == "ana"
    assert version["status"] == "READY"

    (alias,) = doc["aliases"]
    assert (alias["alias"], alias["updated_by"]) == ("champion", "bob")
    actions = [(h["action"], h["actor"]) for h in doc["history"]]
    assert actions[0] == ("model_version.create", "ana")
    assert ("alias.set", "bob") in actions
    moved = next(h for h in doc["history"] if h["action"] == "alias.set")
    assert moved["target"] == "models:/churn@champion"
    assert moved["reason"] == "first model worth serving"
    assert moved["details"]["version"] == 1
    assert alias["updated_at"] == moved["at"] or abs(alias["updated_at"] - moved["at"]) < 5_000

    run = doc["run"]
    assert run["run_id"] == project.run_id and run["status"] == "FINISHED"
    assert run["git_commit"] == project.commit
    assert run["git_dirty"] is False
    assert run["entry_point"] == str((project.repo / "train.py").resolve())
    assert run["python_env"]["python"] == platform.python_version()
    assert {"sklearn", "numpy", "moorline"} <= set(run["python_env"]["packages"])
    assert run["params"] == {"C": "0.5", "seed": "0"}
    assert set(run["metrics"]) == {"accuracy", "log_loss"}
    assert 0.5 < run["metrics"]["accuracy"] <= 1.0
    assert run["reproduction_of"] is None
    assert run["tags"]["mlflow.source.git.commit"] == project.commit

    (dataset,) = doc["datasets"]
    assert dataset["name"] == "churn-train"
    assert dataset["digest"] == project.train_v1.digest != project.train_v2.digest
    assert dataset["context"] == "train"
    assert dataset["rows"] == 400
    assert dataset["columns"] == [
        {"name": "tenure", "type": "int64", "nullable": False},
        {"name": "monthly", "type": "double", "nullable": False},
        {"name": "churned", "type": "bool", "nullable": False},
    ]
    assert doc["deployments"] == []


def test_the_api_answers_with_the_same_document(project: Project, api: str) -> None:
    for uri in ("models:/churn@champion", "models:/churn/1", "models:/churn-dirty/1"):
        response = httpx.get(f"{api}/api/v1/lineage", params={"uri": uri})
        assert response.status_code == 200, response.text
        assert response.json() == lineage_json(project, uri)
    # The CLI pointed at the server (registry, audit and runs over HTTP) agrees too.
    remote = CliRunner().invoke(
        cli, ["--store", api, "lineage", "models:/churn@champion", "--json"]
    )
    assert remote.exit_code == 0, remote.output
    assert json.loads(remote.stdout) == lineage_json(project, "models:/churn@champion")


def test_a_version_number_and_its_alias_give_the_same_lineage(project: Project) -> None:
    by_alias = lineage_json(project, "models:/churn@champion")
    by_number = lineage_json(project, "models:/churn/1")
    assert by_number.pop("uri") == "models:/churn/1"
    by_alias.pop("uri")
    assert by_number == by_alias


def test_a_dirty_tree_is_recorded(project: Project) -> None:
    doc = lineage_json(project, "models:/churn-dirty/1")
    assert doc["run"]["run_id"] == project.dirty_run_id
    assert doc["run"]["git_dirty"] is True
    assert doc["run"]["git_commit"] == project.commit
    assert doc["aliases"] == []
    # It loaded the latest churn-train, which by then was v2.
    assert [d["digest"] for d in doc["datasets"]] == [project.train_v2.digest]


def test_the_tree_shows_the_links_to_people(project: Project) -> None:
    result = project.invoke("lineage", "models:/churn@champion")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for fragment in (
        "churn version 1",
        "@champion",
        "by bob",
        project.commit,
        "(clean tree)",
        str(Path("train.py")),
        "C = 0.5",
        "accuracy = ",
        f"churn-train @ {project.train_v1.digest[:12]}",
        "400 rows",
        "tenure: int64",
        "deployments (none)",
    ):
        assert fragment in text, fragment


def test_unknown_models_are_named(project: Project, api: str) -> None:
    result = project.invoke("lineage", "models:/nope@champion")
    assert result.exit_code == 2
    assert "nope" in result.stderr
    response = httpx.get(f"{api}/api/v1/lineage", params={"uri": "models:/nope/1"})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    bad = httpx.get(f"{api}/api/v1/lineage", params={"uri": "runs:/abc"})
    assert bad.status_code == 400 and "models:/" in bad.json()["message"]
