"""``moorline models ...`` against a real SQLite store, and once against a live server.

Locally the acting user is ``MOORLINE_USER``; against a server it is whoever
the server authenticated (``anonymous`` on a loopback server without
tokens), whatever ``MOORLINE_USER`` says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from moorline.auth.models import Role
from moorline.bootstrap import Services, Settings, build_services
from moorline.cli.main import cli
from moorline.registry.governance import Actor
from moorline.tracking.models import Metric
from tests.support.live import LiveServer, start_server

VERSION_KEYS = {
    "name",
    "version",
    "aliases",
    "source",
    "run_id",
    "model_id",
    "description",
    "tags",
    "stage",
    "status",
    "user_id",
    "creation_timestamp",
    "last_updated_timestamp",
}
MODEL_KEYS = {
    "name",
    "description",
    "tags",
    "latest_version",
    "aliases",
    "user_id",
    "creation_timestamp",
    "last_updated_timestamp",
}


@dataclass
class World:
    services: Services
    store_args: list[str]
    run_ids: list[str]

    def run(self, *args: str, user: str = "ana") -> Result:
        return CliRunner().invoke(
            cli,
            [*self.store_args, *args],
            env={"MOORLINE_USER": user, "COLUMNS": "200"},
            catch_exceptions=False,
        )

    def json(self, *args: str, user: str = "ana") -> Any:
        result = self.run(*args, "--json", user=user)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


def _runs(services: Services, aucs: list[float]) -> list[str]:
    tracking = services.tracking
    experiment = tracking.create_experiment(f"train-{len(aucs)}-{id(services)}")
    out = []
    for auc in aucs:
        run = tracking.create_run(experiment, user_id="ana")
        tracking.log_batch(run.run_id, metrics=[Metric(key="auc", value=auc, timestamp=1)])
        out.append(run.run_id)
    return out


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    uri = f"sqlite:///{tmp_path / 'moorline.db'}"
    artifacts = str(tmp_path / "artifacts")
    services = build_services(Settings(store_uri=uri, artifacts_uri=artifacts))
    try:
        yield World(
            services=services,
            store_args=["--store", uri, "--artifacts", artifacts],
            run_ids=_runs(services, [0.8, 0.9]),
        )
    finally:
        services.close()


def test_register_alias_promote_and_list(world: World) -> None:
    first, second = world.run_ids
    result = world.run("models", "register", f"runs:/{first}/model", "churn")
    assert result.exit_code == 0, result.output
    assert "registered churn version 1" in result.stdout
    v2 = world.json(
        *("models", "register", f"runs:/{second}/model", "churn"),
        *("--description", "bigger", "--tag", "framework=xgb"),
    )
    assert set(v2) == VERSION_KEYS
    assert (v2["version"], v2["run_id"], v2["source"]) == (2, second, f"runs:/{second}/model")
    assert (v2["description"], v2["tags"], v2["user_id"]) == ("bigger", {"framework": "xgb"}, "ana")

    assert world.run("models", "alias", "churn", "challenger", "1", user="bea").exit_code == 0
    promoted = world.run("models", "promote", "churn", "1", "--reason", "first")
    assert promoted.exit_code == 0, promoted.output
    assert "champion moved to version 1" in promoted.stdout
    moved = world.json("models", "promote", "churn", "2", "--reason", "auc 0.9 > 0.8")
    assert moved == {"name": "churn", "alias": "champion", "version": 2, "previous_version": 1}

    (listed,) = world.json("models", "list")
    assert set(listed) == MODEL_KEYS
    assert listed["latest_version"] == 2
    aliases = listed["aliases"]
    assert {a: (i["version"], i["updated_by"]) for a, i in aliases.items()} == {
        "champion": (2, "ana"),
        "challenger": (1, "bea"),
    }
    assert aliases["champion"]["updated_at"] >= aliases["challenger"]["updated_at"] > 0
    table = world.run("models", "list")
    assert table.exit_code == 0
    assert "champion → 2" in table.stdout and "(ana," in table.stdout and "(bea," in table.stdout

    moves = world.services.audit.list_entries(action="alias.set")
    assert [(e.actor, e.target, e.details["version"], e.reason) for e in moves] == [
        ("bea", "models:/churn@challenger", 1, ""),
        ("ana", "models:/churn@champion", 1, "first"),
        ("ana", "models:/churn@champion", 2, "auc 0.9 > 0.8"),
    ]
    assert world.json("models", "list", "--filter", "name LIKE 'nope%'") == []


def test_show_versions_and_the_json_shapes(world: World) -> None:
    for run_id in world.run_ids:
        world.run("models", "register", f"runs:/{run_id}/model", "churn")
    world.services.registry.update_registered_model(
        "churn", description="Predicts churn.\nSecond line.", actor="ana"
    )
    world.run("models", "promote", "churn", "1")
    shown = world.json("models", "show", "churn")
    assert set(shown) == MODEL_KEYS | {"latest_versions", "policy"}
    assert shown["policy"] is None and shown["description"].startswith("Predicts churn.")
    assert [v["version"] for v in shown["latest_versions"]] == [2]
    text = world.run("models", "show", "churn")
    assert text.exit_code == 0
    for expected in ("churn", "Predicts churn.", "champion", "latest version"):
        assert expected in text.stdout, expected

    versions = world.json("models", "versions", "churn")
    assert [(v["version"], v["aliases"]) for v in versions] == [(2, []), (1, ["champion"])]
    assert all(set(v) == VERSION_KEYS for v in versions)
    assert [v["version"] for v in world.json("models", "versions", "churn", "--max", "1")] == [2]
    table = world.run("models", "versions", "churn")
    assert world.run_ids[0] in table.stdout and "champion" in table.stdout
    listed = world.run("models", "list")
    assert "Predicts churn." in listed.stdout and "Second line" not in listed.stdout


def test_alias_delete_and_mistakes(world: World) -> None:
    world.run("models", "register", f"runs:/{world.run_ids[0]}/model", "churn")
    assert world.run("models", "alias", "churn", "prod", "1").exit_code == 0
    gone = world.run("models", "alias", "churn", "prod", "--delete", "--reason", "rollback")
    assert gone.exit_code == 0, gone.output
    assert world.json("models", "show", "churn")["aliases"] == {}
    (deleted,) = world.services.audit.list_entries(action="alias.delete")
    assert (deleted.actor, deleted.reason) == ("ana", "rollback")

    cases = [
        (("models", "show", "nope"), "RESOURCE_DOES_NOT_EXIST", "nope"),
        (("models", "versions", "nope"), "RESOURCE_DOES_NOT_EXIST", "nope"),
        (("models", "promote", "churn", "7"), "RESOURCE_DOES_NOT_EXIST", "7"),
        (("models", "promote", "nope", "1"), "RESOURCE_DOES_NOT_EXIST", "nope"),
        (("models", "alias", "churn", "latest", "1"), "INVALID_PARAMETER_VALUE", "reserved"),
        (("models", "alias", "churn", "prod", "--delete"), "RESOURCE_DOES_NOT_EXIST", "prod"),
        (("models", "register", "runs:/feedbeef/model", "x"), "RESOURCE_DOES_NOT_EXIST", "feed"),
        (("models", "register", "runs:/r/m", "churn", "--tag", "novalue"), "INVALID", "KEY=VALUE"),
    ]
    for args, code, word in cases:
        result = world.run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert code in result.stderr and word in result.stderr, (args, result.stderr)
    usage = world.run("models", "alias", "churn", "prod")
    assert usage.exit_code == 2 and "VERSION" in usage.output
    assert world.run("models", "alias", "churn", "prod", "1", "--delete").exit_code == 2
    assert world.json("models", "list")[0]["latest_version"] == 1  # nothing half-done


def test_a_refused_promotion_prints_why_and_exits_3(world: World) -> None:
    for run_id in world.run_ids:
        world.run("models", "register", f"runs:/{run_id}/model", "churn")
    world.run("models", "promote", "churn", "1")
    admin = Actor(name="root", role=Role.ADMIN)
    world.services.governance.set_policy("churn", actor=admin, risk="high")

    refused = world.run("models", "promote", "churn", "2", "--reason", "better")
    assert refused.exit_code == 3, refused.output
    assert "PERMISSION_DENIED" in refused.stderr and "approval" in refused.stderr
    assert world.services.registry.get_version_by_alias("churn", "champion").version == 1

    governance = world.services.governance
    request = governance.request_approval(
        "churn", "champion", 2, actor=Actor(name="ana", role=Role.EDITOR), reason="auc up"
    )
    governance.grant(request.approval_id, actor=Actor(name="bea", role=Role.APPROVER))
    done = world.run("models", "promote", "churn", "2", "--reason", "approved")
    assert done.exit_code == 0, done.output
    assert world.services.registry.get_version_by_alias("churn", "champion").version == 2
    actions = [(e.actor, e.action) for e in world.services.audit.list_entries()]
    assert ("ana", "alias.set.refused") in actions
    assert actions[-2:] == [("ana", "approval.consume"), ("ana", "alias.set")]


def test_delete_asks_unless_told(world: World) -> None:
    for run_id in world.run_ids:
        world.run("models", "register", f"runs:/{run_id}/model", "churn")
    aborted = world.run("models", "delete", "churn")  # no input: the prompt aborts
    assert aborted.exit_code == 1
    assert world.json("models", "list")[0]["latest_version"] == 2
    assert world.run("models", "delete", "churn", "2", "--yes").exit_code == 0
    assert [v["version"] for v in world.json("models", "versions", "churn")] == [1]
    assert world.run("models", "delete", "churn", "-y", "--reason", "retired").exit_code == 0
    assert world.json("models", "list") == []
    (entry,) = world.services.audit.list_entries(action="registered_model.delete")
    assert (entry.actor, entry.reason) == ("ana", "retired")


def test_every_command_explains_itself(world: World) -> None:
    for command in ("", "list", "show", "versions", "alias", "promote", "register", "delete"):
        result = world.run("models", *([command] if command else []), "--help")
        assert result.exit_code == 0, command
        assert "Usage:" in result.stdout
        if command in ("list", "show", "versions", "register", "promote"):
            assert "--json" in result.stdout, command


# -- against a live server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("models-cli-server"))
    yield server
    server.stop()


def test_the_same_commands_against_a_server(live: LiveServer, tmp_path: Path) -> None:
    remote = build_services(Settings(store_uri=live.url))
    try:
        world = World(services=remote, store_args=[], run_ids=_runs(remote, [0.8, 0.9]))
        runner = CliRunner()

        def run(*args: str) -> Result:
            return runner.invoke(
                cli,
                list(args),
                env={"MOORLINE_TRACKING_URI": live.url, "MOORLINE_USER": "ana", "COLUMNS": "200"},
                catch_exceptions=False,
            )

        for run_id in world.run_ids:
            assert run("models", "register", f"runs:/{run_id}/model", "churn").exit_code == 0
        assert run("models", "promote", "churn", "1", "--reason", "first").exit_code == 0
        listed = json.loads(run("models", "list", "--json").stdout)
        (churn,) = [m for m in listed if m["name"] == "churn"]
        # The server records who it authenticated, not what MOORLINE_USER claims.
        assert churn["aliases"]["champion"]["updated_by"] == "anonymous"
        assert churn["latest_version"] == 2 and churn["user_id"] == "anonymous"

        remote.governance.set_policy("churn", actor=Actor(name="x", role=Role.ADMIN), risk="high")
        refused = run("models", "promote", "churn", "2")
        assert refused.exit_code == 3, refused.output
        assert "approval" in refused.stderr
        versions = json.loads(run("models", "versions", "churn", "--json").stdout)
        assert [(v["version"], v["aliases"]) for v in versions] == [(2, []), (1, ["champion"])]
        entries = remote.audit.list_entries(target_prefix="models:/churn@")
        assert [(e.actor, e.action) for e in entries] == [
            ("anonymous", "alias.set"),
            ("anonymous", "alias.set.refused"),
        ]
        assert remote.audit.verify().ok
    finally:
        remote.close()
