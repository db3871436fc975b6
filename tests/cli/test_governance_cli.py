"""``moorline policy|approvals|audit|webhooks`` on a real SQLite store, in-process.

The local CLI acts as admin under ``MOORLINE_USER`` (see cli/_governance.py),
so two people are played by two values of that variable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from moorline.bootstrap import Services, Settings, build_services, build_webhook_dispatcher
from moorline.cli.main import cli
from moorline.errors import PermissionDenied
from moorline.store.sql import create_engine_for
from tests.registry.conftest import make_model
from tests.registry.receiver import receiver


@dataclass
class World:
    uri: str
    artifacts: str
    services: Services

    def run(self, *args: str, user: str = "ana") -> Result:
        return CliRunner().invoke(
            cli,
            ["--store", self.uri, "--artifacts", self.artifacts, *args],
            env={"MOORLINE_USER": user, "COLUMNS": "200"},
            catch_exceptions=False,
        )

    def json(self, *args: str, user: str = "ana") -> object:
        result = self.run(*args, "--json", user=user)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    uri = f"sqlite:///{tmp_path / 'moorline.db'}"
    artifacts = str(tmp_path / "artifacts")
    services = build_services(Settings(store_uri=uri, artifacts_uri=artifacts))
    make_model(services, "churn", [{"auc": 0.8}, {"auc": 0.7}, {"auc": 0.9}])
    services.registry.set_alias("churn", "champion", 1, actor="ana")
    try:
        yield World(uri=uri, artifacts=artifacts, services=services)
    finally:
        services.close()


def test_policy_and_approval_flow(world: World) -> None:
    result = world.run(
        "policy",
        "set",
        "churn",
        "--risk",
        "high",
        "--must-beat",
        "auc:higher",
        "--reason",
        "credit decisions",
    )
    assert result.exit_code == 0, result.output
    shown = world.json("policy", "show", "churn")
    assert shown == {
        "model": "churn",
        "risk": "high",
        "protected_aliases": ["champion"],
        "must_beat": {"auc": "higher"},
        "updated_at": shown["updated_at"],  # type: ignore[index]
        "updated_by": "ana",
    }
    text_show = world.run("policy", "show", "churn")
    assert "auc (higher is better)" in text_show.stdout and "second person" in text_show.stdout

    bad = world.run("policy", "set", "churn", "--must-beat", "auc")
    assert bad.exit_code == 2 and "METRIC:higher" in bad.stderr

    requested = world.json("approvals", "request", "churn", "champion", "3", "--reason", "auc 0.9")
    approval_id = requested["id"]  # type: ignore[index]
    assert requested["state"] == "pending"  # type: ignore[index]

    own = world.run("approvals", "grant", approval_id)  # ana again
    assert own.exit_code == 3
    assert "an approver other than the requester" in own.stderr

    pending = world.json("approvals", "list", "--state", "pending")
    assert [a["id"] for a in pending] == [approval_id]  # type: ignore[union-attr]
    granted = world.run("approvals", "grant", approval_id, "--reason", "ok", user="bob")
    assert granted.exit_code == 0, granted.output
    assert "granted" in granted.stdout
    assert world.json("approvals", "list", "--state", "pending") == []
    shown_approval = world.run("approvals", "show", approval_id)
    assert "by bob" in shown_approval.stdout

    # The move itself goes through the registry (other commands); here via the service.
    world.services.registry.set_alias("churn", "champion", 3, actor="ana")
    consumed = world.json("approvals", "list", "--state", "consumed")
    assert [a["id"] for a in consumed] == [approval_id]  # type: ignore[union-attr]
    with pytest.raises(PermissionDenied):
        world.services.registry.set_alias("churn", "champion", 2, actor="ana")

    rejected_req = world.json("approvals", "request", "churn", "champion", "2", "--reason", "r")
    rid = rejected_req["id"]  # type: ignore[index]
    missing_reason = world.run("approvals", "reject", rid, user="bob")
    assert missing_reason.exit_code == 2 and "--reason" in missing_reason.output
    rejected = world.run("approvals", "reject", rid, "--reason", "worse auc", user="bob")
    assert rejected.exit_code == 0, rejected.output
    again = world.run("approvals", "grant", rid, user="carol")
    assert again.exit_code == 2 and "not pending" in again.stderr


def test_audit_list_and_filters(world: World) -> None:
    assert world.run("policy", "set", "churn", "--risk", "high").exit_code == 0
    with pytest.raises(PermissionDenied):
        world.services.registry.set_alias("churn", "champion", 3, actor="mallory", reason="yolo")

    refused = world.json("audit", "list", "--action", "alias.set.refused")
    assert len(refused) == 1  # type: ignore[arg-type]
    entry = refused[0]  # type: ignore[index]
    assert (entry["actor"], entry["target"], entry["reason"]) == (
        "mallory",
        "models:/churn@champion",
        "yolo",
    )
    assert "second person" in entry["details"]["error"]
    by_ana = world.json("audit", "list", "--actor", "ana")
    assert {e["actor"] for e in by_ana} == {"ana"}  # type: ignore[union-attr]
    versions = world.json("audit", "list", "--target", "models:/churn/")
    assert [e["target"] for e in versions] == [  # type: ignore[union-attr]
        "models:/churn/1",
        "models:/churn/2",
        "models:/churn/3",
    ]
    assert world.json("audit", "list", "--since", "2999-01-01") == []
    table = world.run("audit", "list", "--action", "policy.set")
    assert table.exit_code == 0 and "policy.set" in table.stdout and "models:/churn" in table.stdout
    bad_time = world.run("audit", "list", "--since", "yesterday")
    assert bad_time.exit_code == 2 and "is not a time" in bad_time.stderr


@pytest.mark.parametrize(
    ("tamper", "broken"),
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 3", 3),
        ("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)", 5),
    ],
    ids=["edited", "deleted", "newest-deleted"],
)
def test_audit_verify_exit_codes(world: World, tamper: str, broken: int) -> None:
    ok = world.run("audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "5 entries verified" in ok.stdout
    engine = create_engine_for(world.uri)
    try:
        with engine.begin() as conn:
            conn.execute(text(tamper))
    finally:
        engine.dispose()
    result = world.run("audit", "verify")
    assert result.exit_code == 1
    assert f"at entry {broken}:" in result.stderr
    as_json = world.run("audit", "verify", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["first_broken_seq"] == broken


def test_webhooks_commands(world: World) -> None:
    added = world.json(
        "webhooks", "add", "http://127.0.0.1:9/hook", "--events", "model_version.alias_set"
    )
    assert added["url"] == "http://127.0.0.1:9/hook"  # type: ignore[index]
    assert len(added["secret"]) >= 32  # type: ignore[index]
    listed = world.json("webhooks", "list")
    assert listed == [  # type: ignore[comparison-overlap]
        {k: v for k, v in added.items() if k != "secret"}  # type: ignore[union-attr]
    ]
    text_add = world.run(
        "webhooks",
        "add",
        "https://localhost:9/h",
        "--secret",
        "x" * 20,
        "--events",
        "approval.granted",
    )
    assert text_add.exit_code == 0 and "x" * 20 in text_add.stdout
    bad = world.run("webhooks", "add", "ftp://localhost/h")
    assert bad.exit_code == 2 and "http or https" in bad.stderr
    table = world.run("webhooks", "list")
    assert "https://localhost:9/h" in table.stdout and "x" * 20 not in table.stdout
    assert world.json("webhooks", "deliveries") == []
    deleted = world.run("webhooks", "delete", added["id"])  # type: ignore[index]
    assert deleted.exit_code == 0
    assert [h["url"] for h in world.json("webhooks", "list")] == [  # type: ignore[union-attr]
        "https://localhost:9/h"
    ]
    with receiver() as rx:
        hook = world.json("webhooks", "add", rx.url, "--events", "model_version.alias_set")
        world.services.registry.set_alias("churn", "challenger", 2, actor="ana")
        dispatcher = build_webhook_dispatcher(world.services)
        assert dispatcher is not None
        try:
            assert dispatcher.run_once() == 1  # port 9 was deleted: only the receiver
        finally:
            dispatcher.close()
        rx.wait_for(1, timeout=5)
    log = world.json("webhooks", "deliveries", "--webhook", hook["id"])  # type: ignore[index]
    assert [(d["attempt"], d["ok"], d["status_code"]) for d in log] == [  # type: ignore[union-attr]
        (1, True, 200)
    ]
    assert "200" in world.run("webhooks", "deliveries").stdout
