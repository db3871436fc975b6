"""A real store with real registered models, and ``moorline serve`` started on it.

Models are logged and registered through the SDK (``moorline.log_model``,
so versions carry their manifest digest), deployments are created through
``services.deployments``, and the model server is the real CLI in a
subprocess on a free loopback port.

The models (tiny, trained in milliseconds):

- ``clf`` v1: LogisticRegression on 4 float features (answers 0 or 1);
  ``clf`` v2: the same on labels shifted by 10 (answers 10 or 11), so a
  response tells which version answered by its value too;
- ``frame`` v1: a pipeline over named columns of mixed dtypes (``city``
  string, ``age`` int64, ``income`` float64);
- ``flaky`` v1: a python_function model that raises on the value 666;
- ``slow`` v1: a python_function model that sleeps 0.4 s per predict call.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import moorline
from moorline.bootstrap import Services, Settings, build_services
from moorline.serving.models import DeploymentSettings, TrafficPolicy
from tests.support.live import MOORLINE, free_port

FEATURES = 4
MARKER = 666.0


def training_data(seed: int = 0, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES))
    y = (x[:, 0] - x[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    return x, y


def frame_data(n: int = 120) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "city": rng.choice(["oslo", "lima", "pune"], size=n),
            "age": rng.integers(18, 80, size=n).astype(np.int64),
            "income": rng.normal(50.0, 10.0, size=n),
        }
    )
    y = ((frame["income"] > 50) ^ (frame["city"] == "lima")).astype(np.int64).to_numpy()
    return frame, y


class Flaky:
    """Doubles the first feature; raises on the marker value (a bug in user code)."""

    def predict(self, data: np.ndarray) -> np.ndarray:
        if np.any(np.asarray(data) == MARKER):
            raise ValueError(f"cannot score the marker value {MARKER}")
        return np.asarray(data)[:, 0] * 2.0


class Slow:
    """Sleeps while predicting, so requests stay in flight for a while."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, data: np.ndarray) -> np.ndarray:
        time.sleep(self.seconds)
        return np.asarray(data)[:, 0]


@dataclass
class Store:
    root: Path
    uri: str
    artifacts: str

    def services(self) -> Services:
        return build_services(Settings(store_uri=self.uri, artifacts_uri=self.artifacts))


def make_store(root: Path) -> Store:
    root.mkdir(parents=True, exist_ok=True)
    return Store(
        root=root, uri=f"sqlite:///{root / 'moorline.db'}", artifacts=str(root / "artifacts")
    )


def log_versions(store: Store, versions: Sequence[tuple[str, Any, Any]]) -> None:
    """Log and register each ``(registered name, model, input example)`` through the SDK."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOORLINE_TRACKING_URI", store.uri)
        mp.setenv("MOORLINE_ARTIFACTS_URI", store.artifacts)
        mp.setenv("MOORLINE_USER", "tester")
        mp.delenv("MOORLINE_HOME", raising=False)
        moorline.set_tracking_uri(None)
        try:
            moorline.set_experiment(f"serving-{uuid.uuid4().hex[:8]}")
            for name, model, example in versions:
                with moorline.start_run():
                    moorline.log_model(
                        model, "model", input_example=example, registered_model_name=name
                    )
        finally:
            while moorline.active_run() is not None:
                moorline.end_run()
            moorline.set_tracking_uri(None)


def clf_versions(store: Store) -> None:
    """Only clf v1 (answers 0/1) and clf v2 (answers 10/11)."""
    x, y = training_data()
    log_versions(
        store,
        [
            ("clf", LogisticRegression().fit(x, y), x[:3]),
            ("clf", LogisticRegression().fit(x, y + 10), x[:3]),
        ],
    )


def standard_models(store: Store) -> None:
    """Register clf v1, clf v2, frame v1, flaky v1 and slow v1 (see the module doc)."""
    x, y = training_data()
    frame, fy = frame_data()
    pipeline = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [("city", OneHotEncoder(handle_unknown="ignore"), ["city"])],
                    remainder="passthrough",
                ),
            ),
            ("classify", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame, fy)
    # The user's classes travel inside the pickle, as a user's own module would have
    # to be installed where the model server runs otherwise.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        log_standard(store, x, y, pipeline, frame)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def log_standard(
    store: Store, x: np.ndarray, y: np.ndarray, pipeline: Pipeline, frame: pd.DataFrame
) -> None:
    log_versions(
        store,
        [
            ("clf", LogisticRegression().fit(x, y), x[:3]),
            ("clf", LogisticRegression().fit(x, y + 10), x[:3]),
            ("frame", pipeline, frame.head(3)),
            ("flaky", Flaky(), x[:3]),
            ("slow", Slow(0.4), x[:3]),
        ],
    )


def deploy(
    services: Services,
    name: str,
    model: str,
    policy: TrafficPolicy,
    **settings: Any,
) -> None:
    services.deployments.create(
        name,
        model=model,
        policy=policy,
        settings=DeploymentSettings(**settings) if settings else None,
        actor="tester",
    )


@dataclass
class Serve:
    """A running ``moorline serve``."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_s: float = 0.0
    args: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return int(self.process.returncode)


def start_serve(
    store: Store,
    *args: str,
    host: str = "127.0.0.1",
    wait: bool = True,
    timeout: float = 60.0,
) -> Serve:
    """``moorline serve ARGS`` on a free port; waits until ``/ready`` says 200."""
    port = free_port()
    log_path = store.root / f"serve-{port}.log"
    argv = [
        MOORLINE, "serve", *args, "--host", host, "--port", str(port),
        "--store", store.uri, "--artifacts", store.artifacts,
    ]  # fmt: skip
    env = {**os.environ}
    env.pop("MOORLINE_TRACKING_URI", None)
    started = time.perf_counter()
    with log_path.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    served = Serve(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, args=argv)
    if wait:
        wait_ready(served, timeout)
        served.ready_s = time.perf_counter() - started
    return served


def wait_ready(served: Serve, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(
                f"moorline serve exited {served.process.returncode}:\n{served.log()}"
            )
        try:
            if httpx.get(f"{served.url}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    served.stop()
    raise RuntimeError(f"moorline serve not ready after {timeout} s:\n{served.log()}")
