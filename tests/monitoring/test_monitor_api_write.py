"""Monitors are created, changed and read by id over ``/api/v1`` on a real server.

A real ``moorline server`` subprocess on loopback (anonymous callers act as
admin there; tokens sent are still checked, so viewer and editor tokens get
their roles). The same SQLite file is opened directly to see what the server
stored: credentials must be kept whole while every answer hides them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from moorline.auth.models import Role
from moorline.bootstrap import Services, Settings, build_services
from moorline.monitoring.channels import PagerDutyChannel, SlackChannel, WebhookChannel
from moorline.monitoring.monitors import SqlSource
from tests.support.live import LiveServer, start_server

SECRET = "api-write-secret-0123456789"
SLACK = "https://hooks.slack.example/services/T000/B000/XXXX"
ROUTING_KEY = "a" * 32
DB_PASSWORD = "hunter2"


@dataclass
class Site:
    server: LiveServer
    services: Services
    api: str
    ref: Path
    cur: Path
    viewer: str
    editor: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("monitor-api-write")
    rng = np.random.default_rng(5)
    ref, cur = root / "ref.csv", root / "cur.csv"
    pd.DataFrame({"x": rng.normal(size=500), "g": rng.choice(["a", "b"], 500)}).to_csv(
        ref, index=False
    )
    pd.DataFrame({"x": rng.normal(loc=2.0, size=300), "g": rng.choice(["a", "b"], 300)}).to_csv(
        cur, index=False
    )
    store_uri = f"sqlite:///{root / 'moorline.db'}"
    services = build_services(Settings(store_uri=store_uri, artifacts_uri=str(root / "artifacts")))
    services.registry.create_registered_model("m")
    run = services.tracking.create_run("0", run_name="training")
    frame = pd.read_csv(ref)
    services.datasets.log(frame, "train", run_id=run.info.run_id)
    services.datasets.log(pd.read_csv(cur), "live", run_id=run.info.run_id)
    viewer = services.auth.create_token("vic", Role.VIEWER).secret
    editor = services.auth.create_token("ana", Role.EDITOR).secret
    server = start_server(root, store_uri=store_uri)
    try:
        yield Site(
            server=server,
            services=services,
            api=f"{server.url}/api/v1",
            ref=ref,
            cur=cur,
            viewer=viewer,
            editor=editor,
        )
    finally:
        server.stop()
        services.close()


def _client(site: Site, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=site.api, timeout=60, headers=headers)


def _body(site: Site, name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "model": "m",
        "description": "drift of x",
        "reference": {"kind": "file", "path": str(site.ref)},
        "current": {"kind": "file", "path": str(site.cur)},
        "schedule": "0 * * * *",
        "drift": {"preset": "default", "drift_share": 0.5},
        "rules": [{"name": "x-drift", "condition": "columns.x.drift_detected == true"}],
        "channels": [
            {"type": "webhook", "name": "hook", "url": "http://127.0.0.1:9/hook", "secret": SECRET},
            {"type": "slack", "name": "team", "webhook_url": SLACK, "min_severity": "warning"},
            {"type": "pagerduty", "name": "oncall", "routing_key": ROUTING_KEY},
        ],
    }
    body.update(changes)
    return body


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error_code"] == code, payload
    return str(payload["message"])


def test_create_shows_no_credential_and_stores_them_whole(site: Site) -> None:
    with _client(site) as client:
        created = client.post("/monitors", json=_body(site, "created"))
        assert created.status_code == 201, created.text
        shown = created.json()
        assert [c["type"] for c in shown["channels"]] == ["webhook", "slack", "pagerduty"]
        assert shown["channels"][0]["secret"] == "***"
        assert shown["channels"][1]["webhook_url"] == "***"
        assert shown["channels"][2]["routing_key"] == "***"
        assert SECRET not in created.text and SLACK not in created.text
        assert shown["schedule"] == "0 * * * *" and shown["created_at"] > 0
        # Omitted checks take their defaults: drift and quality on, performance off.
        assert shown["quality"]["max_duplicate_share"] == 0.01
        assert shown["performance"] is None
        assert client.get("/monitors/created").json() == shown
        listed = client.get("/monitors").json()["items"]
        assert shown in listed and SECRET not in str(listed)
    stored = site.services.monitors.get("created")
    hook, slack, pager = stored.channels
    assert isinstance(hook, WebhookChannel) and hook.secret == SECRET
    assert isinstance(slack, SlackChannel) and slack.webhook_url == SLACK
    assert isinstance(pager, PagerDutyChannel) and pager.routing_key == ROUTING_KEY
    assert [r.name for r in stored.rules] == ["x-drift"]


def test_bad_requests_are_refused_with_stable_codes_and_nothing_written(site: Site) -> None:
    with _client(site) as client:
        assert client.post("/monitors", json=_body(site, "dup")).status_code == 201
        message = _error(
            client.post("/monitors", json=_body(site, "dup")), 400, "RESOURCE_ALREADY_EXISTS"
        )
        assert "dup" in message
        message = _error(
            client.post("/monitors", json=_body(site, "nomodel", model="nope")),
            404,
            "RESOURCE_DOES_NOT_EXIST",
        )
        assert "nope" in message
        message = _error(
            client.post("/monitors", json=_body(site, "cron", schedule="every hour")),
            400,
            "INVALID_PARAMETER_VALUE",
        )
        assert "cron" in message
        typo = _body(site, "typo", schedul="0 * * * *")
        assert "schedul" in _error(
            client.post("/monitors", json=typo), 400, "INVALID_PARAMETER_VALUE"
        )
        kind = _body(site, "kind", current={"kind": "ftp", "path": "x"})
        _error(client.post("/monitors", json=kind), 400, "INVALID_PARAMETER_VALUE")
        sql_reference = _body(site, "sqlref", reference={"kind": "sql", "query": "q", "uri": "x"})
        _error(client.post("/monitors", json=sql_reference), 400, "INVALID_PARAMETER_VALUE")
        rule = _body(site, "rule", rules=[{"name": "r", "condition": "drift_share >>> 1"}])
        _error(client.post("/monitors", json=rule), 400, "INVALID_PARAMETER_VALUE")
        short = _body(site, "short")
        short["channels"][0]["secret"] = "short"
        assert "16" in _error(client.post("/monitors", json=short), 400, "INVALID_PARAMETER_VALUE")
        # "***" stands for a stored secret; a new monitor has none.
        hidden = _body(site, "hidden")
        hidden["channels"][0]["secret"] = "***"
        message = _error(client.post("/monitors", json=hidden), 400, "INVALID_PARAMETER_VALUE")
        assert "stored value" in message
        baseline = _body(
            site,
            "baseline",
            performance={"label": "x", "prediction": "x", "baseline": {"maee": 1.0}},
        )
        message = _error(client.post("/monitors", json=baseline), 400, "INVALID_PARAMETER_VALUE")
        assert "maee" in message and "mae" in message
        nothing = _body(site, "nothing", drift=None, quality=None)
        _error(client.post("/monitors", json=nothing), 400, "INVALID_PARAMETER_VALUE")
        names = {m["name"] for m in client.get("/monitors").json()["items"]}
    assert names.isdisjoint(
        {"nomodel", "cron", "typo", "kind", "sqlref", "rule", "short", "hidden", "baseline"}
    )
    assert "nothing" not in names


def test_update_replaces_the_configuration_and_keeps_redacted_credentials(site: Site) -> None:
    sql = SqlSource(query="SELECT 1", uri=f"postgresql://app:{DB_PASSWORD}@127.0.0.1:1/x")
    with _client(site) as client:
        body = _body(site, "edited", current=sql.to_dict())
        first = client.post("/monitors", json=body).json()
        # Read, change, write back what was read (credentials as "***").
        time.sleep(0.01)
        shown = client.get("/monitors/edited").json()
        assert DB_PASSWORD not in str(shown)
        shown["schedule"] = "*/5 * * * *"
        shown["quality"] = None
        shown["performance"] = {
            "label": "y",
            "prediction": "p",
            "task": "regression",
            "baseline": {"mae": 0.5},
            "tolerance": 0.1,
        }
        changed = client.put("/monitors/edited", json=shown)
        assert changed.status_code == 200, changed.text
        after = changed.json()
        assert after["schedule"] == "*/5 * * * *" and after["quality"] is None
        assert after["performance"]["baseline"] == {"mae": 0.5}
        assert after["created_at"] == first["created_at"]
        assert after["updated_at"] > first["updated_at"]
        assert client.get("/monitors/edited").json() == after
        # The name in the body, if any, must be the path's: no renames.
        other = client.put("/monitors/edited", json={**shown, "name": "renamed"})
        assert "renamed" in _error(other, 400, "INVALID_PARAMETER_VALUE")
        missing = client.put("/monitors/no-such", json={**shown, "name": None})
        _error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
        # A new secret replaces the stored one; a renamed channel cannot inherit one.
        fresh = {**shown, "channels": [dict(shown["channels"][0], secret="b" * 20)]}
        assert client.put("/monitors/edited", json=fresh).status_code == 200
        renamed = {**shown, "channels": [dict(shown["channels"][0], name="other")]}
        message = _error(
            client.put("/monitors/edited", json=renamed), 400, "INVALID_PARAMETER_VALUE"
        )
        assert "other" in message
    stored = site.services.monitors.get("edited")
    assert stored.current == sql  # the password survived the round trip
    [hook] = stored.channels
    assert isinstance(hook, WebhookChannel) and hook.secret == "b" * 20
    assert stored.schedule == "*/5 * * * *" and stored.quality is None
    assert stored.created_at == first["created_at"]


def test_results_by_id_and_alert_states(site: Site) -> None:
    with _client(site) as client:
        assert client.post("/monitors", json=_body(site, "ran", channels=[])).status_code == 201
        assert client.post("/monitors", json=_body(site, "other", channels=[])).status_code == 201
        run = client.post("/monitors/ran/run")
        assert run.status_code == 200, run.text
        result = run.json()
        assert result["status"] == "alerting" and result["id"] >= 1
        by_id = client.get(f"/monitors/ran/results/{result['id']}")
        assert by_id.status_code == 200 and by_id.json() == result
        assert client.get(f"/monitor-results/{result['id']}").json() == result
        assert client.get("/monitors/ran/results").json()["items"][0] == result
        # The id belongs to "ran": asked under another monitor it does not exist.
        wrong = client.get(f"/monitors/other/results/{result['id']}")
        assert "other" in _error(wrong, 404, "RESOURCE_DOES_NOT_EXIST")
        _error(client.get("/monitor-results/999999"), 404, "RESOURCE_DOES_NOT_EXIST")
        _error(client.get("/monitor-results/0"), 400, "INVALID_PARAMETER_VALUE")
        _error(client.get("/monitors/ran/results/abc"), 400, "INVALID_PARAMETER_VALUE")
        states = client.get("/monitors/ran/alerts").json()["items"]
        assert [(s["key"], s["status"]) for s in states] == [("x-drift/ran", "firing")]
        _error(client.get("/monitors/no-such/alerts"), 404, "RESOURCE_DOES_NOT_EXIST")
        assert client.delete("/monitors/ran").status_code == 204
        _error(client.get(f"/monitor-results/{result['id']}"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_viewer_tokens_read_and_editors_may_not_point_at_server_files(site: Site) -> None:
    with _client(site) as admin:
        assert admin.post("/monitors", json=_body(site, "watched", channels=[])).status_code == 201
    with _client(site, site.viewer) as viewer:
        assert viewer.get("/monitors/watched").status_code == 200
        assert viewer.get("/monitors/watched/results").status_code == 200
        for method, path, body in [
            ("POST", "/monitors", _body(site, "by-viewer")),
            ("PUT", "/monitors/watched", _body(site, "watched")),
            ("DELETE", "/monitors/watched", None),
            ("POST", "/monitors/watched/run", None),
        ]:
            response = viewer.request(method, path, json=body)
            assert "viewer" in _error(response, 403, "PERMISSION_DENIED")
    datasets = {
        "reference": {"kind": "dataset", "name": "train"},
        "current": {"kind": "dataset", "name": "live"},
    }
    with _client(site, site.editor) as editor:
        # Files and SQL queries run on the server: admins only.
        refused = editor.post("/monitors", json=_body(site, "by-editor", channels=[]))
        message = _error(refused, 403, "PERMISSION_DENIED")
        assert "admin" in message and "'ana'" in message
        _error(
            editor.put("/monitors/watched", json=_body(site, "watched", channels=[])),
            403,
            "PERMISSION_DENIED",
        )
        # Logged datasets are fine for an editor.
        ok = editor.post("/monitors", json=_body(site, "by-editor", channels=[], **datasets))
        assert ok.status_code == 201, ok.text
        ran = editor.post("/monitors/by-editor/run").json()
        assert ran["status"] == "alerting", ran["error"]
        assert ran["window"]["rows"] == 300
    assert site.services.monitors.get("watched").schedule == "0 * * * *"
