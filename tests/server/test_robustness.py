"""Nothing is lost under concurrency, and a batch is atomic across a kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from tests.support.live import start_server

WRITER = textwrap.dedent(
    """
    import sys, time
    import httpx

    url, run_id, worker = sys.argv[1], sys.argv[2], int(sys.argv[3])
    errors = 0
    with httpx.Client(base_url=url, timeout=60) as c:
        # 500 single log-metric calls, then 9,500 points in batches of 100.
        for i in range(500):
            r = c.post("/api/2.0/mlflow/runs/log-metric", json={
                "run_id": run_id, "key": "single", "value": float(i),
                "timestamp": 1_700_000_000_000 + i, "step": i})
            if r.status_code != 200:
                errors += 1
                print(r.status_code, r.text, file=sys.stderr)
        for b in range(95):
            metrics = [{"key": "batched", "value": float(b * 100 + j),
                        "timestamp": 1_700_000_000_000 + b, "step": b * 100 + j}
                       for j in range(100)]
            body = {"run_id": run_id, "metrics": metrics}
            r = c.post("/api/2.0/mlflow/runs/log-batch", json=body)
            if r.status_code != 200:
                errors += 1
                print(r.status_code, r.text, file=sys.stderr)
    sys.exit(1 if errors else 0)
    """
)


def _create_run(client: httpx.Client, exp_id: str) -> str:
    r = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": exp_id, "start_time": 1})
    assert r.status_code == 200, r.text
    return str(r.json()["run"]["info"]["run_id"])


def _history(client: httpx.Client, run_id: str, key: str) -> list[dict[str, object]]:
    r = client.get(
        "/api/2.0/mlflow/metrics/get-history", params={"run_id": run_id, "metric_key": key}
    )
    assert r.status_code == 200, r.text
    return list(r.json().get("metrics", []))


@pytest.mark.slow
def test_eight_processes_lose_nothing(tmp_path: Path) -> None:
    server = start_server(tmp_path / "srv")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            exp = client.post("/api/2.0/mlflow/experiments/create", json={"name": "concurrency"})
            exp_id = exp.json()["experiment_id"]
            run_ids = [_create_run(client, exp_id) for _ in range(8)]
            procs = [
                subprocess.Popen(
                    [sys.executable, str(script), server.url, run_id, str(i)],
                    stderr=subprocess.PIPE,
                )
                for i, run_id in enumerate(run_ids)
            ]
            for p in procs:
                _, err = p.communicate(timeout=240)
                assert p.returncode == 0, err.decode()
            for run_id in run_ids:
                single = _history(client, run_id, "single")
                batched = _history(client, run_id, "batched")
                assert len(single) == 500
                assert len(batched) == 9_500
                assert sorted(int(m["step"]) for m in batched) == list(range(9_500))  # type: ignore[call-overload]
        assert "database is locked" not in server.log()
    finally:
        server.stop()


@pytest.mark.slow
def test_log_batch_is_atomic_across_kill_9(tmp_path: Path) -> None:
    server = start_server(tmp_path / "srv")
    store_uri = server.store_uri
    with httpx.Client(base_url=server.url, timeout=30) as client:
        run_id = _create_run(client, "0")
    streamer = tmp_path / "stream.py"
    streamer.write_text(
        textwrap.dedent(
            """
            import sys, httpx
            url, run_id = sys.argv[1], sys.argv[2]
            with httpx.Client(base_url=url, timeout=30) as c:
                b = 0
                while True:
                    # 999 metrics + 1 param: MLflow's limit of 1,000 entities per batch.
                    metrics = [{"key": "k", "value": float(j), "timestamp": 1 + b, "step": b}
                               for j in range(999)]
                    params = [{"key": f"p{b}", "value": str(b)}]
                    try:
                        c.post("/api/2.0/mlflow/runs/log-batch",
                               json={"run_id": run_id, "metrics": metrics, "params": params})
                    except httpx.HTTPError:
                        break
                    b += 1
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(streamer), server.url, run_id])
    try:
        time.sleep(2.5)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    restarted = start_server(tmp_path / "srv", store_uri=store_uri)
    try:
        with httpx.Client(base_url=restarted.url, timeout=60) as client:
            points = _history(client, run_id, "k")
            run = client.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()["run"]
        params = {p["key"] for p in run["data"].get("params", [])}
        per_batch: dict[int, int] = {}
        for m in points:
            per_batch[int(m["step"])] = per_batch.get(int(m["step"]), 0) + 1  # type: ignore[call-overload]
        assert per_batch, "the stream wrote nothing before the kill; the test proves nothing"
        partial = {b: n for b, n in per_batch.items() if n != 999}
        assert not partial, f"batches partially written: {partial}"
        assert params == {f"p{b}" for b in per_batch}, (
            "params and metrics of a batch must land together"
        )
    finally:
        restarted.stop()
