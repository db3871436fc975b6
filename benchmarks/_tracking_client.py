"""Client side of benchmarks/tracking.py: the MLflow client workload, one operation per request.

Runs under the MLflow virtualenv's python (``benchmarks/.envs/mlflow``), never moorline's,
so both servers are driven by the same unmodified ``mlflow`` client. The server is chosen by
``MLFLOW_TRACKING_URI``. The benchmark sends one JSON request per line on stdin and reads
one JSON reply per line on stdout; between the two it reads the server's CPU time, so each
operation here does exactly the work being measured and times only that (``wall_s``).

Every operation also reports what it got back (runs matched, points read), so the benchmark
can refuse to compare a server that answers fast but wrong.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

SEARCH_EXPERIMENT = "bench-search"
HISTORY_EXPERIMENT = "bench-history"
WRITE_EXPERIMENT = "bench-write"
HISTORY_KEY = "loss"
LOG_BATCH_KEYS = 10


def _now_ms() -> int:
    return int(time.time() * 1000)


def _experiment_id(client: MlflowClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(name))


def search_dataset(runs: int, params: int, metrics: int, seed: int) -> list[dict[str, Any]]:
    """The runs of the search benchmark, the same for every server (seeded).

    ``p1`` is ``'a'`` or ``'b'`` with equal odds and every metric is uniform in [0, 1), so
    ``metrics.m0 > T and params.p1 = 'a'`` matches about ``runs * (1 - T) / 2`` runs.
    """
    rng = random.Random(seed)
    dataset = []
    for i in range(runs):
        values = {f"p{k}": f"v{rng.randrange(100)}" for k in range(params)}
        values["p1"] = rng.choice("ab")
        dataset.append(
            {
                "name": f"search-{i:05d}",
                "params": values,
                "metrics": {f"m{k}": rng.random() for k in range(metrics)},
            }
        )
    return dataset


def op_hello(client: MlflowClient, _: dict[str, Any]) -> dict[str, Any]:
    """Warm the connection and report the client version."""
    client.search_experiments(max_results=1)
    return {"mlflow_version": mlflow.__version__}


def op_setup_search(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """Create the search experiment's runs: one create_run + one log_batch per run."""
    experiment_id = _experiment_id(client, SEARCH_EXPERIMENT)
    dataset = search_dataset(req["runs"], req["params"], req["metrics"], req["seed"])
    threshold = req["threshold"]
    started = time.perf_counter()
    for row in dataset:
        run = client.create_run(experiment_id, run_name=row["name"])
        timestamp = _now_ms()
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, timestamp, 0) for k, v in row["metrics"].items()],
            params=[Param(k, v) for k, v in row["params"].items()],
        )
    expected = sum(
        1 for row in dataset if row["metrics"]["m0"] > threshold and row["params"]["p1"] == "a"
    )
    return {
        "experiment_id": experiment_id,
        "expected_matches": expected,
        "wall_s": time.perf_counter() - started,
    }


def op_setup_history(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """Log one metric with ``points`` steps, in batches of 1,000 (the server's limit)."""
    experiment_id = _experiment_id(client, HISTORY_EXPERIMENT)
    run_id = client.create_run(experiment_id, run_name="history").info.run_id
    points = req["points"]
    started = time.perf_counter()
    timestamp = _now_ms()
    for first in range(0, points, 1000):
        client.log_batch(
            run_id,
            metrics=[
                Metric(HISTORY_KEY, 1.0 / (step + 1), timestamp + step, step)
                for step in range(first, min(first + 1000, points))
            ],
        )
    return {"run_id": run_id, "wall_s": time.perf_counter() - started}


def op_new_run(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """A fresh run for a write benchmark, so every round writes into the same shape."""
    experiment_id = _experiment_id(client, WRITE_EXPERIMENT)
    return {"run_id": client.create_run(experiment_id, run_name=req["name"]).info.run_id}


def op_log_metric(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """``calls`` single ``log_metric`` calls, one HTTP request each."""
    run_id, calls = req["run_id"], req["calls"]
    started = time.perf_counter()
    for step in range(calls):
        client.log_metric(run_id, "single", step * 0.5, timestamp=_now_ms(), step=step)
    return {"wall_s": time.perf_counter() - started}


def op_log_batch(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """``batches`` log_batch calls of ``points`` metric points (10 keys x points/10 steps)."""
    run_id, batches, points = req["run_id"], req["batches"], req["points"]
    steps_per_batch = points // LOG_BATCH_KEYS
    payloads = []
    for batch in range(batches):
        timestamp = _now_ms()
        payloads.append(
            [
                Metric(f"b{key}", step * 0.001 + key, timestamp, batch * steps_per_batch + step)
                for key in range(LOG_BATCH_KEYS)
                for step in range(steps_per_batch)
            ]
        )
    started = time.perf_counter()
    for metrics in payloads:
        client.log_batch(run_id, metrics=metrics)
    return {"wall_s": time.perf_counter() - started}


def op_search(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """One filtered ``search_runs`` (a single page: max_results covers every match)."""
    started = time.perf_counter()
    runs = client.search_runs(
        [req["experiment_id"]], filter_string=req["filter"], max_results=req["max_results"]
    )
    wall = time.perf_counter() - started
    complete = all(len(r.data.params) == req["params"] for r in runs) and all(
        len(r.data.metrics) == req["metrics"] for r in runs
    )
    return {"wall_s": wall, "count": len(runs), "complete": complete}


def op_history(client: MlflowClient, req: dict[str, Any]) -> dict[str, Any]:
    """Read a whole metric history (the client pages it 25,000 points at a time)."""
    started = time.perf_counter()
    history = client.get_metric_history(req["run_id"], HISTORY_KEY)
    wall = time.perf_counter() - started
    steps_in_order = all(m.step == i for i, m in enumerate(sorted(history, key=lambda m: m.step)))
    return {"wall_s": wall, "count": len(history), "complete": steps_in_order}


OPERATIONS: dict[str, Callable[[MlflowClient, dict[str, Any]], dict[str, Any]]] = {
    "hello": op_hello,
    "setup_search": op_setup_search,
    "setup_history": op_setup_history,
    "new_run": op_new_run,
    "log_metric": op_log_metric,
    "log_batch": op_log_batch,
    "search": op_search,
    "history": op_history,
}


def main() -> int:
    client = MlflowClient()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"ok": True, **OPERATIONS[request["op"]](client, request)}
        except Exception as exc:  # reported to the benchmark, which stops with it
            detail = traceback.format_exc(limit=3)
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}\n{detail}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
