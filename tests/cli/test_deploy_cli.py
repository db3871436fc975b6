"""``moorline deploy|traffic|rollback|deployments|consumers`` on a real SQLite store.

The CLI runs in-process (Click's runner) over a store whose model versions
carry real MLmodel signatures (v1 and v3 output label and score, v2 only
label), so the consumer-field check sees real files. The last test runs the
same commands against a live server by URL, where the token names the actor.
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
from moorline.core.clock import now_ms
from moorline.server.app import create_app
from tests.contracts.rest_backend import fresh_services, threaded_server
from tests.support.deployments import prediction, register_versions

OUTPUTS = [["label", "score"], ["label"], ["label", "score"]]


@dataclass
class World:
    store: str
    artifacts: str
    services: Services

    def run(self, *args: str, user: str = "ana", env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(
            cli,
            ["--store", self.store, "--artifacts", self.artifacts, *args],
            env={"MOORLINE_USER": user, "COLUMNS": "200", **(env or {})},
            catch_exceptions=False,
        )

    def ok(self, *args: str, user: str = "ana") -> Result:
        result = self.run(*args, user=user)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str, user: str = "ana") -> Any:
        return json.loads(self.ok(*args, "--json", user=user).stdout)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = f"sqlite:///{tmp_path / 'moorline.db'}"
    artifacts = str(tmp_path / "artifacts")
    services = build_services(Settings(store_uri=store, artifacts_uri=artifacts))
    register_versions(services, tmp_path / "models", "churn", OUTPUTS)
    register_versions(services, tmp_path / "models", "fraud", [["label"]])
    services.registry.set_alias("churn", "champion", 1, actor="ana")
    try:
        yield World(store=store, artifacts=artifacts, services=services)
    finally:
        services.close()


def test_deploy_creates_then_moves_all_traffic_and_is_idempotent(world: World) -> None:
    created = world.json(
        "deploy",
        "churn-prod",
        "--model",
        "churn",
        "--alias",
        "champion",
        "--max-batch-size",
        "16",
        "--reason",
        "first release",
    )
    assert created["policy_text"] == "single v1" and created["revision"] == 1
    assert created["settings"]["max_batch_size"] == 16 and created["updated_by"] == "ana"

    again = world.ok("deploy", "churn-prod", "--model", "churn", "--version", "1")
    assert "unchanged churn-prod: single v1 (revision 1)" in again.stdout

    moved = world.ok("deploy", "churn-prod", "--model", "churn", "--version", "3", user="bob")
    assert "deployed churn-prod: single v3 (revision 2)" in moved.stdout
    tuned = world.json(
        "deploy",
        "churn-prod",
        "--model",
        "churn",
        "--version",
        "3",
        "--timeout",
        "5",
        "--require-consumer",
    )
    assert tuned["revision"] == 3 and tuned["settings"]["timeout_s"] == 5
    assert tuned["settings"]["require_consumer"] is True
    assert tuned["settings"]["max_batch_size"] == 16  # kept

    wrong = world.run("deploy", "churn-prod", "--model", "fraud", "--version", "1")
    assert wrong.exit_code == 2
    assert "serves model 'churn', not 'fraud'" in wrong.stderr
    both = world.run("deploy", "x", "--model", "churn", "--version", "1", "--alias", "champion")
    assert both.exit_code == 2 and "exactly one of --version or --alias" in both.output
    missing = world.run("deploy", "x", "--model", "churn", "--version", "9")
    assert missing.exit_code == 2 and "RESOURCE_DOES_NOT_EXIST" in missing.stderr
    bad = world.run("deploy", "x", "--model", "churn", "--version", "1", "--log-sample", "2")
    assert bad.exit_code == 2 and "log_sample" in bad.stderr
    shown = world.json("deployments", "show", "churn-prod")
    assert shown == {**tuned, "traffic": []}
    assert world.json("deployments", "list") == [tuned]


def test_traffic_modes_build_the_policy_they_name(world: World) -> None:
    world.ok("deploy", "churn-prod", "--model", "churn", "--version", "1")
    steps = [
        (["--canary", "3=10"], "canary v1 90% / v3 10%"),
        (["--split", "1=50,3=50", "--sticky"], "ab v1 50% / v3 50%"),
        (["--shadow", "3", "--primary", "1"], "shadow v1 (copies to v3)"),
        (["--split", "3=70,1=30"], "canary v3 70% / v1 30%"),
        (["--canary", "1=5", "--sticky"], "ab v3 95% / v1 5%"),
        (["--single", "3"], "single v3"),
    ]
    for revision, (args, text) in enumerate(steps, start=2):
        shown = world.json("traffic", "churn-prod", *args, "--reason", f"step {revision}")
        assert shown["policy_text"] == text, args
        assert shown["revision"] == revision

    refused = {
        ("--canary", "1=10", "--single", "1"): "exactly one of",
        ("--sticky", "--single", "1"): "--sticky goes with",
        ("--primary", "1", "--single", "1"): "--primary goes with",
        ("--split", "1=60,3=30"): "sum to 100",
        ("--split", "1=x"): "use VERSION=PERCENT",
        ("--canary", "3=10"): "already takes most of the traffic",
        ("--canary", "1=100"): "leave some traffic",
        ("--single", "9"): "version 9",
        ("--single", "1", "--expected-revision", "2"): "changed since it was read",
    }
    for args, message in refused.items():
        result = world.run("traffic", "churn-prod", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert world.json("deployments", "show", "churn-prod")["revision"] == 7


def test_consumer_field_refusal_exits_3_until_overridden(world: World) -> None:
    world.ok("deploy", "churn-prod", "--model", "churn", "--version", "1")
    declared = world.json(
        "consumers",
        "declare",
        "churn",
        "billing",
        "--owner",
        "team-billing",
        "--field",
        "label",
        "--field",
        "score",
        "--reason",
        "invoices",
    )
    assert declared["consumer"]["fields"] == ["label", "score"]
    assert declared["api_key"].startswith(f"mlc_{declared['consumer']['key_id']}_")
    assert world.services.deployments.authenticate_consumer(declared["api_key"]).name == "billing"

    refused = world.run("traffic", "churn-prod", "--canary", "2=10")
    assert refused.exit_code == 3, refused.output
    assert "[PERMISSION_DENIED]" in refused.stderr
    assert "'score'" in refused.stderr and "billing" in refused.stderr
    assert world.run("deploy", "churn-prod", "--model", "churn", "--version", "2").exit_code == 3
    no_reason = world.run("traffic", "churn-prod", "--single", "2", "--override")
    assert no_reason.exit_code == 2 and "needs a reason" in no_reason.stderr
    forced = world.json(
        "traffic", "churn-prod", "--single", "2", "--override", "--reason", "billing agreed"
    )
    assert forced["policy_text"] == "single v2"
    # Rolling back to v1 keeps every field: no override needed.
    assert world.json("rollback", "churn-prod")["policy_text"] == "single v1"

    listed = world.json("consumers", "list")
    assert [(c["model"], c["name"], c["owner"]) for c in listed] == [
        ("churn", "billing", "team-billing")
    ]
    assert "api_key" not in listed[0]
    table = world.ok("consumers", "list", "churn").stdout
    assert "billing" in table and "label, score" in table
    dup = world.run("consumers", "declare", "churn", "billing", "--owner", "x")
    assert dup.exit_code == 2 and "RESOURCE_ALREADY_EXISTS" in dup.stderr
    world.ok("consumers", "revoke", "churn", "billing", "--reason", "retired")
    assert world.json("consumers", "list", "churn") == []
    gone = world.run("consumers", "revoke", "churn", "billing")
    assert gone.exit_code == 2 and "RESOURCE_DOES_NOT_EXIST" in gone.stderr
    assert world.run("traffic", "churn-prod", "--canary", "2=10").exit_code == 0


def test_rollback_history_show_list_and_delete(world: World) -> None:
    world.ok("deploy", "churn-prod", "--model", "churn", "--version", "1", "--reason", "go")
    world.ok("traffic", "churn-prod", "--canary", "3=20", "--reason", "try v3", user="bob")
    world.ok("traffic", "churn-prod", "--single", "3", "--reason", "v3 wins", user="bob")
    nothing = world.run("rollback", "nope")
    assert nothing.exit_code == 2 and "RESOURCE_DOES_NOT_EXIST" in nothing.stderr
    back = world.ok("rollback", "churn-prod", "--to", "1", "--reason", "v3 errors", user="cy")
    assert "rolled back churn-prod: single v1 (revision 4)" in back.stdout

    history = world.json("deployments", "history", "churn-prod")
    assert [(h["revision"], h["action"], h["actor"], h["reason"]) for h in history] == [
        (4, "rollback", "cy", "v3 errors"),
        (3, "traffic", "bob", "v3 wins"),
        (2, "traffic", "bob", "try v3"),
        (1, "deploy", "ana", "go"),
    ]
    assert history[0]["restored_revision"] == 1
    assert len(world.json("deployments", "history", "churn-prod", "--limit", "2")) == 2
    table = world.ok("deployments", "history", "churn-prod").stdout
    assert "rollback to 1" in table and "canary v1 80% / v3 20%" in table

    t0 = now_ms() - 10_000
    world.services.deployments.predictions.append_predictions(
        [prediction("churn-prod", "churn", 1, t0 + i, latency_ms=4.0 + i) for i in range(5)]
        + [prediction("churn-prod", "churn", 3, t0 + 10, error=True)]
    )
    shown = world.json("deployments", "show", "churn-prod")
    assert shown["policy_text"] == "single v1" and shown["revision"] == 4
    traffic = {t["version"]: t for t in shown["traffic"]}
    assert traffic[1]["requests"] == 5 and traffic[1]["errors"] == 0
    assert traffic[1]["mean_latency_ms"] == pytest.approx(6.0)
    assert traffic[3]["requests"] == 1 and traffic[3]["errors"] == 1
    text = world.ok("deployments", "show", "churn-prod").stdout
    assert "single v1" in text and "4, " in text and "v3" in text and "last 24 h" in text

    world.ok("deploy", "fraud", "--model", "churn", "--version", "3")
    listed = world.json("deployments", "list")
    assert [(d["name"], d["policy_text"]) for d in listed] == [
        ("churn-prod", "single v1"),
        ("fraud", "single v3"),
    ]
    assert world.json("deployments", "list", "--model", "nope") == []
    table = world.ok("deployments", "list").stdout
    assert "churn-prod" in table and "fraud" in table and "single v3" in table

    world.ok("deployments", "delete", "fraud", "--yes", "--reason", "test over")
    assert [d["name"] for d in world.json("deployments", "list")] == ["churn-prod"]
    entries = world.services.audit.list_entries(target_prefix="fraud")
    assert [e.action for e in entries] == ["deployment.create", "deployment.delete"]
    assert entries[-1].actor == "ana" and entries[-1].reason == "test over"


def test_the_commands_work_against_a_server_url_as_the_token(tmp_path: Path) -> None:
    services = fresh_services(tmp_path / "server")
    register_versions(services, tmp_path / "models", "churn", OUTPUTS)
    token = services.auth.create_token("deployer", Role.EDITOR).secret
    viewer = services.auth.create_token("watcher", Role.VIEWER).secret
    try:
        with (
            threaded_server() as server,
            server.serving(create_app(services, auth_required=True)) as url,
        ):
            world = World(store=url, artifacts=str(tmp_path / "unused"), services=services)

            def remote(*args: str, secret: str = token) -> Result:
                return world.run(*args, user="mallory", env={"MOORLINE_TOKEN": secret})

            made = remote("deploy", "churn-prod", "--model", "churn", "--version", "1", "--json")
            assert made.exit_code == 0, made.output
            assert json.loads(made.stdout)["updated_by"] == "deployer"
            assert remote("traffic", "churn-prod", "--canary", "3=25").exit_code == 0
            result = remote(
                "consumers", "declare", "churn", "billing", "--owner", "t", "--field", "score"
            )
            assert result.exit_code == 0, result.output
            refused = remote("traffic", "churn-prod", "--single", "2")
            assert refused.exit_code == 3 and "billing" in refused.stderr
            assert remote("rollback", "churn-prod").exit_code == 0
            history = remote("deployments", "history", "churn-prod", "--json", secret=viewer)
            assert [h["actor"] for h in json.loads(history.stdout)] == ["deployer"] * 3
            denied = remote("traffic", "churn-prod", "--single", "3", secret=viewer)
            assert denied.exit_code == 3 and "PERMISSION_DENIED" in denied.stderr
            shown = remote("deployments", "show", "churn-prod", "--json", secret=viewer)
            assert json.loads(shown.stdout)["policy_text"] == "single v1"
    finally:
        services.close()


def test_an_error_is_one_line_at_any_width_and_its_brackets_are_shown_as_typed(
    world: World,
) -> None:
    narrow = world.run(
        "deploy", "[bold]x[/]", "--model", "churn", "--version", "1", env={"COLUMNS": "40"}
    )
    assert narrow.exit_code == 2
    lines = narrow.stderr.splitlines()
    assert len(lines) == 1, narrow.stderr
    assert lines[0].startswith(
        "error [INVALID_PARAMETER_VALUE] Invalid deployment name '[bold]x[/]'"
    )
