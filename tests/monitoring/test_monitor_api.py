"""``moorline server`` runs due monitors and serves them at ``/api/v1/monitors``.

A real server subprocess on loopback: its scheduler runs a due cron monitor
at start, and the API lists, shows (credentials hidden), runs and deletes
monitors and pages through their results.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from moorline.bootstrap import Settings, build_services
from moorline.monitoring.alerts import AlertRule
from moorline.monitoring.channels import WebhookChannel
from moorline.monitoring.monitors import FileSource, Monitor, SqlSource

MOORLINE = str(Path(sys.executable).parent / "moorline")
SECRET = "api-test-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    settings = Settings(
        store_uri=f"sqlite:///{tmp_path / 'moorline.db'}", artifacts_uri=str(tmp_path / "art")
    )
    rng = np.random.default_rng(3)
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    pd.DataFrame({"x": rng.normal(size=400)}).to_csv(ref, index=False)
    pd.DataFrame({"x": rng.normal(loc=3.0, size=200)}).to_csv(cur, index=False)
    services = build_services(settings)
    try:
        services.registry.create_registered_model("m")
        # Created long ago with a per-minute schedule: due as soon as the server starts.
        services.monitors.store.create_monitor(
            Monitor(
                name="every-minute",
                model="m",
                reference=FileSource(path=str(ref)),
                current=FileSource(path=str(cur)),
                schedule="* * * * *",
                rules=(
                    AlertRule(
                        name="x",
                        monitor="every-minute",
                        condition="columns.x.drift_detected == true",
                    ),
                ),
                channels=(
                    WebhookChannel(name="hook", url="http://127.0.0.1:9/hook", secret=SECRET),
                ),
                created_at=1,
                updated_at=1,
            )
        )
        services.monitors.create(
            Monitor(
                name="on-demand",
                model="m",
                reference=FileSource(path=str(ref)),
                current=SqlSource(
                    query="SELECT 1", uri="postgresql://postgres:hunter2@127.0.0.1:1/x"
                ),
            )
        )
    finally:
        services.close()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MOORLINE_TRACKING_URI"}
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [MOORLINE, "server", "--port", str(port), "--store", settings.store_uri,
         "--artifacts", settings.artifacts_uri],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield f"{url}/api/v1", settings
    finally:
        process.terminate()
        process.wait(15)
        log.close()


def test_server_runs_due_monitors_and_serves_them(server: tuple[str, Settings]) -> None:
    api, _ = server
    with httpx.Client(base_url=api, timeout=30) as client:
        deadline = time.monotonic() + 20
        results: list[dict[str, object]] = []
        while time.monotonic() < deadline and not results:
            results = client.get("/monitors/every-minute/results").json()["items"]
            time.sleep(0.1)
        # The scheduler ran the due monitor once; the webhook receiver is down,
        # which the result records without failing the run.
        assert [r["status"] for r in results] == ["alerting"]
        assert results[0]["notifications"][0]["ok"] is False  # type: ignore[index]

        names = [m["name"] for m in client.get("/monitors").json()["items"]]
        assert names == ["every-minute", "on-demand"]
        shown = client.get("/monitors/on-demand").json()
        assert "hunter2" not in str(shown) and shown["current"]["uri"].endswith("***@127.0.0.1:1/x")
        hook = client.get("/monitors/every-minute").json()["channels"][0]
        assert hook["secret"] == "***"

        run = client.post("/monitors/on-demand/run")
        assert run.status_code == 200
        assert run.json()["status"] == "error" and run.json()["error"]

        page = client.get("/monitors/every-minute/results", params={"max_results": 1}).json()
        assert len(page["items"]) == 1
        assert client.get("/monitors/nope").status_code == 404
        assert client.get("/monitors/every-minute/results?page_token=abc").status_code == 400
        assert client.delete("/monitors/on-demand").status_code == 204
        assert client.get("/monitors/on-demand").status_code == 404
