"""The real ``mlflow`` client against a live ``moorline server`` on a loopback port.

One server (a subprocess, as a user starts it: CLI, migrations, uvicorn) with
a temporary SQLite store and artifact folder serves the whole session. The
client is pointed at it through the environment, with retries off so a
server bug fails a test at once instead of backing off for minutes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.support.live import LiveServer, start_server

CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


@pytest.fixture(scope="session")
def moorline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("compat-server"))
    try:
        yield server
    finally:
        server.stop()
        log = server.log()
        assert "Traceback" not in log, f"the server logged an error:\n{log}"


@pytest.fixture(scope="session", autouse=True)
def tracking_uri(moorline_server: LiveServer) -> Iterator[str]:
    import mlflow

    with pytest.MonkeyPatch.context() as mp:
        for name, value in CLIENT_ENV.items():
            mp.setenv(name, value)
        mp.setenv("MLFLOW_TRACKING_URI", moorline_server.url)
        mlflow.set_tracking_uri(moorline_server.url)
        yield moorline_server.url
        mlflow.set_tracking_uri(None)


@pytest.fixture(autouse=True)
def _no_leaked_run() -> Iterator[None]:
    import mlflow

    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def experiment_id() -> str:
    """A fresh experiment, also made the active one for fluent calls."""
    import mlflow

    return str(mlflow.set_experiment(f"compat-{uuid.uuid4().hex[:10]}").experiment_id)
