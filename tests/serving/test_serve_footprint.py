"""What a ``moorline serve`` worker costs (issue #5): resident memory and imports.

The two models of the serving benchmark are served together: a scaled logistic
regression and a 100-tree random forest on scikit-learn's breast-cancer data (30
features), logged with the SDK and deployed. Memory is the worker's resident set
(``VmRSS`` of ``/proc/PID/status``) once both models have answered: a bound on
memory, which does not depend on how busy the machine is. Imports are read from
CPython's own ``-X importtime`` report (``PYTHONPROFILEIMPORTTIME``), which lists
every module the process imported, at start or later; the server needs no debug
hook for it.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from moorline.serving.models import TrafficPolicy
from tests.serving.serving_support import Serve, Store, deploy, log_versions, make_store, wait_ready
from tests.support.live import MOORLINE, free_port

#: The issue #5 budget per worker, in MiB (``VmRSS`` is in KiB).
MAX_RSS_MIB = 250.0
#: Modules a model server has no use for: the S3 client (local artifacts here), the
#: schema migrations, the API and UI stack, the HTTP client, WebSockets.
NOT_IMPORTED = (
    "boto3",
    "botocore",
    "alembic",
    "mako",
    "fastapi",
    "pydantic",
    "starlette",
    "jinja2",
    "httpx",
    "httpcore",
    "websockets",
)
SEED = 20261129
ROWS = 8

#: What each deployment answers for the rows checked.
Answers = dict[str, list[int]]
#: The store, the rows checked, and each model's answers in this process.
Served = tuple[Store, np.ndarray, Answers]


def vm_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A store with ``lr`` and ``forest`` deployed; held-out rows and what each model
    answers for them in this process."""
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.25, random_state=SEED)
    models = {
        "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
            x_train, y_train
        ),
        "forest": RandomForestClassifier(n_estimators=100, random_state=SEED, n_jobs=1).fit(
            x_train, y_train
        ),
    }
    store = make_store(tmp_path_factory.mktemp("serve-footprint"))
    log_versions(store, [(name, model, x_train[:3]) for name, model in models.items()])
    services = store.services()
    try:
        for name in models:
            deploy(services, name, name, TrafficPolicy.single(1))
    finally:
        services.close()
    rows = x_test[:ROWS]
    expected = {name: [int(v) for v in model.predict(rows)] for name, model in models.items()}
    assert set(expected["lr"]) == {0, 1}  # both classes among the rows checked
    yield store, rows, expected


def start(store: Store, *args: str, env: dict[str, str] | None = None) -> Serve:
    """``moorline serve ARGS`` over every deployment of ``store``, ready."""
    port = free_port()
    log_path = store.root / f"serve-{port}.log"
    argv = [
        MOORLINE, "serve", *args, "--port", str(port),
        "--store", store.uri, "--artifacts", store.artifacts,
    ]  # fmt: skip
    child_env = {k: v for k, v in os.environ.items() if k != "MOORLINE_TRACKING_URI"}
    child_env.update(env or {})
    started = time.perf_counter()
    with log_path.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=child_env)
    server = Serve(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, args=argv)
    wait_ready(server, timeout=120.0)
    server.ready_s = time.perf_counter() - started
    return server


def check_answers(server: Serve, rows: np.ndarray, expected: Answers, times: int = 1) -> None:
    """Each deployment answers each row as the model did in this process (a new
    connection per call, so that every worker of several gets some)."""
    for _ in range(times):
        for name, answers in expected.items():
            reply = httpx.post(
                f"{server.url}/v1/deployments/{name}/predict",
                json={"inputs": rows.tolist()},
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["predictions"] == answers


def workers_of(supervisor: int) -> list[int]:
    """Worker processes of a ``moorline serve --workers N`` supervisor."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == supervisor and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def test_one_worker_serving_both_models_stays_within_250_mib(
    served: Served,
) -> None:
    store, rows, expected = served
    server = start(store)
    try:
        check_answers(server, rows, expected, times=25)  # warm: log writer, batchers, pools
        time.sleep(0.5)
        rss = vm_rss_mib(server.process.pid)
        print(
            f"moorline serve, lr + forest, one worker: VmRSS {rss:.1f} MiB; "
            f"/ready answered 200 {server.ready_s:.2f} s after start"
        )
        assert rss <= MAX_RSS_MIB, server.log()
    finally:
        assert server.stop() == 0


def test_each_of_two_workers_stays_within_250_mib(
    served: Served,
) -> None:
    store, rows, expected = served
    server = start(store, "--workers", "2")
    try:
        pids = workers_of(server.process.pid)
        assert len(pids) == 2, server.log()
        deadline = time.monotonic() + 120
        # /ready answers once one worker listens: wait for the other one too.
        while server.log().count(": ready in ") < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        check_answers(server, rows, expected, times=25)
        time.sleep(0.5)
        sizes = [vm_rss_mib(pid) for pid in pids]
        shown = ", ".join(f"{size:.1f}" for size in sizes)
        print(f"moorline serve --workers 2, lr + forest: VmRSS {shown} MiB")
        assert max(sizes) <= MAX_RSS_MIB, server.log()
    finally:
        assert server.stop() == 0


def test_serving_never_imports_the_s3_client_migrations_or_the_web_stack(
    served: Served,
) -> None:
    store, rows, expected = served
    server = start(store, env={"PYTHONPROFILEIMPORTTIME": "1"})
    try:
        check_answers(server, rows, expected)
        for path in ("/metrics", "/ready", "/v2/models/forest", "/nope"):
            httpx.get(f"{server.url}{path}", timeout=10)
    finally:
        assert server.stop() == 0
    report = server.log()
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+([\w.]+)$", report, re.M))
    # the report is read right: what serving needs is there
    assert {"sklearn.ensemble._forest", "skops.io", "sqlalchemy", "uvicorn"} <= imported
    tops = {name.split(".", 1)[0] for name in imported}
    assert sorted(tops & set(NOT_IMPORTED)) == []
