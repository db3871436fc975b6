"""Secure by default: loopback unless told; beyond loopback needs tokens or --insecure."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
from tests.support.live import MOORLINE, free_port, start_server


def _moorline(*args: str, store: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MOORLINE, "--store", store, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ},
    )


def test_default_binds_loopback_only(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=False).stdout
        port = server.url.rsplit(":", 1)[1]
        listening = [line for line in out.splitlines() if f":{port} " in line]
        assert listening, out
        assert all("127.0.0.1:" in line for line in listening)
        assert (
            httpx.get(
                f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}
            ).status_code
            == 200
        )
    finally:
        server.stop()


def test_beyond_loopback_without_tokens_refuses_to_start(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'm.db'}"
    result = _moorline(
        "server",
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
        "--artifacts",
        str(tmp_path / "a"),
        store=store,
    )
    assert result.returncode == 2
    assert "moorline token create" in result.stderr
    assert "--insecure" in result.stderr


def test_insecure_flag_warns_and_serves(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--insecure", host="0.0.0.0")
    try:
        assert (
            httpx.get(
                f"{server.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}
            ).status_code
            == 200
        )
        assert "WITHOUT authentication" in server.log()
    finally:
        server.stop()


def test_tokens_are_required_beyond_loopback(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'moorline.db'}"
    created = _moorline("token", "create", "ci-bot", "--json", store=store)
    assert created.returncode == 0, created.stderr
    import json

    secret = json.loads(created.stdout)["token"]
    assert secret.startswith("mlt_")
    # Only the hash is stored.
    import sqlite3

    dump = "\n".join(sqlite3.connect(tmp_path / "moorline.db").iterdump())
    assert secret.split("_", 2)[2] not in dump

    server = start_server(tmp_path, host="0.0.0.0", store_uri=store)
    try:
        path = f"{server.url}/api/2.0/mlflow/experiments/get"
        anonymous = httpx.get(path, params={"experiment_id": "0"})
        assert anonymous.status_code == 401
        assert anonymous.json()["error_code"] == "UNAUTHENTICATED"
        wrong = httpx.get(
            path,
            params={"experiment_id": "0"},
            headers={"Authorization": "Bearer mlt_0123456789abcdef_" + "x" * 43},
        )
        assert wrong.status_code == 401
        good = httpx.get(
            path, params={"experiment_id": "0"}, headers={"Authorization": f"Bearer {secret}"}
        )
        assert good.status_code == 200
        assert httpx.get(f"{server.url}/health").status_code == 200

        revoke_id = secret.split("_")[1]
        assert _moorline("token", "revoke", revoke_id, store=store).returncode == 0
        again = httpx.get(
            path, params={"experiment_id": "0"}, headers={"Authorization": f"Bearer {secret}"}
        )
        assert again.status_code == 401
    finally:
        server.stop()


def test_mlflow_client_authenticates_with_tracking_token(tmp_path: Path) -> None:
    import json
    import sys

    store = f"sqlite:///{tmp_path / 'moorline.db'}"
    secret = json.loads(_moorline("token", "create", "trainer", "--json", store=store).stdout)[
        "token"
    ]
    server = start_server(tmp_path, host="0.0.0.0", store_uri=store)
    script = (
        "import mlflow\n"
        "mlflow.set_experiment('secured')\n"
        "with mlflow.start_run() as r:\n"
        "    mlflow.log_metric('m', 1.5)\n"
        "print(mlflow.get_run(r.info.run_id).data.metrics['m'])\n"
    )
    base_env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": server.url,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    try:
        ok = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env={**base_env, "MLFLOW_TRACKING_TOKEN": secret},
        )
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.strip().endswith("1.5")
        denied = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env=base_env,
        )
        assert denied.returncode != 0
        assert "UNAUTHENTICATED" in denied.stderr or "401" in denied.stderr
    finally:
        server.stop()


def test_viewer_tokens_read_but_do_not_write(tmp_path: Path) -> None:
    import json

    store = f"sqlite:///{tmp_path / 'moorline.db'}"
    viewer = json.loads(
        _moorline("token", "create", "dashboard", "--role", "viewer", "--json", store=store).stdout
    )["token"]
    server = start_server(tmp_path, host="0.0.0.0", store_uri=store)
    headers = {"Authorization": f"Bearer {viewer}"}
    try:
        read = httpx.get(
            f"{server.url}/api/2.0/mlflow/experiments/get",
            params={"experiment_id": "0"},
            headers=headers,
        )
        assert read.status_code == 200
        search = httpx.post(
            f"{server.url}/api/2.0/mlflow/runs/search",
            json={"experiment_ids": ["0"]},
            headers=headers,
        )
        assert search.status_code == 200
        write = httpx.post(
            f"{server.url}/api/2.0/mlflow/experiments/create",
            json={"name": "nope"},
            headers=headers,
        )
        assert write.status_code == 403
        assert write.json()["error_code"] == "PERMISSION_DENIED"
        assert "viewer" in write.json()["message"]
        # Nothing was written.
        miss = httpx.get(
            f"{server.url}/api/2.0/mlflow/experiments/get-by-name",
            params={"experiment_name": "nope"},
            headers=headers,
        )
        assert miss.status_code == 404
    finally:
        server.stop()


def test_unknown_paths_answer_json(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        r = httpx.get(f"{server.url}/no/such/page")
        assert r.status_code == 404
        assert r.json()["error_code"] == "ENDPOINT_NOT_FOUND"
        r = httpx.get(f"{server.url}/api/v1/%0Anewline")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/json")
    finally:
        server.stop()
