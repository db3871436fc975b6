"""``moorline monitor ... --store http://SERVER``: the server runs monitors.

A real ``moorline server`` subprocess on loopback; the CLI and the Python
services talk to it over HTTP (``RestMonitorService``), and the same SQLite
file is opened directly to check what the server stored. A run through the
server and a run through a local service on the same data must agree.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from moorline.bootstrap import Services, Settings, build_services
from moorline.cli.main import cli
from moorline.errors import NotFound, NotImplementedFeature
from moorline.monitoring.channels import WebhookChannel
from moorline.monitoring.monitors import DatasetSource, FileSource, Monitor, MonitorStatus
from moorline.monitoring.service import PLACEHOLDERS
from moorline.store.rest.monitors import RestMonitorService
from tests.support.live import LiveServer, start_server


class Receiver:
    """A webhook receiver on loopback that keeps the bodies it gets."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@dataclass
class Remote:
    server: LiveServer
    local: Services
    remote: Services
    root: Path
    ref: Path
    cur: Path
    digest: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    root = tmp_path_factory.mktemp("monitor-remote")
    rng = np.random.default_rng(11)
    reference = pd.DataFrame(
        {
            "x": rng.normal(size=800),
            "y": rng.normal(size=800),
            "segment": rng.choice(["a", "b", "c"], 800, p=[0.5, 0.3, 0.2]),
        }
    )
    current = pd.DataFrame(
        {
            "x": rng.normal(loc=1.5, size=400),
            "y": rng.normal(size=400),
            "segment": rng.choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2]),
        }
    )
    ref, cur = root / "ref.csv", root / "cur.csv"
    reference.to_csv(ref, index=False)
    current.to_csv(cur, index=False)
    store_uri = f"sqlite:///{root / 'moorline.db'}"
    local = build_services(Settings(store_uri=store_uri, artifacts_uri=str(root / "artifacts")))
    local.registry.create_registered_model("m")
    run = local.tracking.create_run("0", run_name="training")
    digest = local.datasets.log(reference, "train", run_id=run.info.run_id).digest
    server = start_server(root, store_uri=store_uri)
    remote = build_services(Settings(store_uri=server.url))
    try:
        yield Remote(
            server=server, local=local, remote=remote, root=root, ref=ref, cur=cur, digest=digest
        )
    finally:
        remote.close()
        server.stop()
        local.close()


def _cli(site: Remote, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--store", site.server.url, *args], catch_exceptions=False)


def test_the_cli_manages_and_runs_monitors_through_the_server(
    site: Remote, receiver: Receiver
) -> None:
    created = _cli(
        site,
        "monitor",
        "create",
        "remote-cli",
        "--model",
        "m",
        "--reference-dataset",
        "train",
        "--current-file",
        str(site.cur),
        "--alert",
        "x-drift: columns.x.drift_detected == true",
        "--webhook",
        receiver.url,
    )
    assert created.exit_code == 0, created.output
    secret = re.search(r"not shown again\): (\S+)", created.output)
    assert secret is not None
    # The server stored the pinned dataset version and the whole secret.
    stored = site.local.monitors.get("remote-cli")
    assert stored.reference == DatasetSource(name="train", digest=site.digest)
    [hook] = stored.channels
    assert isinstance(hook, WebhookChannel) and hook.secret == secret.group(1)

    listed = _cli(site, "monitor", "list", "--json")
    assert [m["name"] for m in json.loads(listed.output)] == ["remote-cli"]
    shown = json.loads(_cli(site, "monitor", "show", "remote-cli").output)
    assert shown["channels"][0]["secret"] == "***"
    assert secret.group(1) not in listed.output + json.dumps(shown)

    ran = _cli(site, "monitor", "run", "remote-cli")
    assert ran.exit_code == 1, ran.output  # alerting: x drifted
    assert "ALERTING" in ran.output and "(x)" in ran.output
    # The server notified the channel, and the result records the delivery.
    assert "sent alert.firing x-drift/remote-cli ok" in ran.output
    assert [b["alert"]["dedup_key"] for b in receiver.bodies] == ["x-drift/remote-cli"]
    results = json.loads(_cli(site, "monitor", "results", "remote-cli", "--json").output)
    assert [r["status"] for r in results] == ["alerting"]
    one = _cli(site, "monitor", "result", str(results[0]["id"]), "--json")
    assert json.loads(one.output) == results[0]
    text = _cli(site, "monitor", "result", str(results[0]["id"]))
    assert text.output.startswith(f"result {results[0]['id']}\nmonitor remote-cli: ALERTING")
    table = _cli(site, "monitor", "results", "remote-cli")
    assert str(results[0]["id"]) in table.output and "alerting" in table.output

    # An update through the server keeps the secret it never showed.
    updated = _cli(
        site,
        "monitor",
        "update",
        "remote-cli",
        "--schedule",
        "*/10 * * * *",
        "--alert",
        "dataset: dataset.dataset_drift == true",
    )
    assert updated.exit_code == 0, updated.output
    after = site.local.monitors.get("remote-cli")
    assert after.schedule == "*/10 * * * *"
    assert [r.name for r in after.rules] == ["x-drift", "dataset"]
    assert after.channels == stored.channels and after.created_at == stored.created_at

    missing = _cli(site, "monitor", "run", "no-such")
    assert missing.exit_code == 2 and "No monitor named 'no-such'" in missing.output
    gone = _cli(site, "monitor", "result", "999999")
    assert gone.exit_code == 2 and "999999" in gone.output
    assert _cli(site, "monitor", "delete", "remote-cli").exit_code == 0
    with pytest.raises(NotFound):
        site.local.monitors.get("remote-cli")


def _monitor(name: str, site: Remote) -> Monitor:
    return Monitor(
        name=name,
        model="m",
        reference=FileSource(path=str(site.ref)),
        current=FileSource(path=str(site.cur)),
        channels=(WebhookChannel(name="hook", url="http://127.0.0.1:9/h", secret="s" * 20),),
    )


def test_remote_and_local_runs_agree_and_the_service_speaks_the_same_language(
    site: Remote,
) -> None:
    monitors = site.remote.monitors
    assert isinstance(monitors, RestMonitorService)
    with pytest.raises(NotImplementedFeature, match="database"):
        _ = site.remote.local_monitors
    created = monitors.create(_monitor("remote-py", site))
    # What comes back hides the secret behind a placeholder that validates.
    [hook] = created.channels
    assert isinstance(hook, WebhookChannel) and hook.secret == PLACEHOLDERS["secret"]
    assert created.created_at > 0 and monitors.get("remote-py") == created
    # Sent back unchanged, the placeholder keeps the stored secret.
    monitors.update(replace(created, description="through the server"))
    stored = site.local.monitors.get("remote-py")
    assert stored.description == "through the server"
    assert stored.channels == _monitor("remote-py", site).channels

    remote_run = monitors.run("remote-py")
    site.local.monitors.create(replace(_monitor("local-py", site), channels=()))
    local_run = site.local.monitors.run("local-py")
    assert remote_run.status is local_run.status is MonitorStatus.OK
    assert remote_run.drift is not None and remote_run.drift["distributions"]
    assert remote_run.drift == local_run.drift
    assert remote_run.quality == local_run.quality
    assert remote_run.window == local_run.window
    assert remote_run.id is not None
    assert monitors.result(remote_run.id) == remote_run
    assert monitors.result(remote_run.id, monitor="remote-py") == remote_run
    with pytest.raises(NotFound):
        monitors.result(remote_run.id, monitor="local-py")
    page = monitors.results("remote-py", max_results=1)
    assert page.items == (remote_run,) and page.next_page_token is None
    assert monitors.alert_states("remote-py") == {}
    assert [m.name for m in monitors.list_monitors()] == ["local-py", "remote-py"]
    monitors.delete("remote-py")
    site.local.monitors.delete("local-py")
    assert monitors.list_monitors() == []
