"""Dataset services over each backend: SQLite, PostgreSQL, and a live server over HTTP.

``stack`` yields the services a client uses (remote ones for ``rest``) and
the folder where the blobs really land, so a test can count Parquet objects
and tamper with them, whatever the path to them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from moorline.bootstrap import Services, Settings, build_services
from moorline.server.app import create_app
from moorline.store.sql.engine import create_engine_for
from tests.contracts.rest_backend import ThreadedServer, fresh_services, threaded_server
from tests.contracts.sql_backend import postgres_database, reset_postgres


@dataclass(frozen=True)
class Stack:
    kind: str
    services: Services
    #: Where the artifact store (the server's, for rest) keeps its files.
    artifacts: Path

    def dataset_files(self) -> list[Path]:
        folder = self.artifacts / "datasets"
        return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="module")
def _server() -> Iterator[ThreadedServer]:
    with threaded_server() as server:
        yield server


@pytest.fixture(scope="module")
def _postgres_uri() -> Iterator[str]:
    with postgres_database() as uri:
        yield uri


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("rest", marks=pytest.mark.slow),
    ]
)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    kind: str = request.param
    if kind == "sqlite":
        services = fresh_services(tmp_path / "store")
        try:
            yield Stack(kind, services, tmp_path / "store" / "artifacts")
        finally:
            services.close()
        return
    if kind == "postgres":
        uri: str = request.getfixturevalue("_postgres_uri")
        engine = create_engine_for(uri)
        try:
            reset_postgres(engine)
        finally:
            engine.dispose()
        settings = Settings(store_uri=uri, artifacts_uri=str(tmp_path / "artifacts"))
        services = build_services(settings, migrate=False)
        try:
            yield Stack(kind, services, tmp_path / "artifacts")
        finally:
            services.close()
        return
    server: ThreadedServer = request.getfixturevalue("_server")
    server_services = fresh_services(tmp_path / "server")
    with contextlib.ExitStack() as stack:
        stack.callback(server_services.close)
        url = stack.enter_context(server.serving(create_app(server_services, auth_required=False)))
        client = build_services(Settings(store_uri=url))
        stack.callback(client.close)
        yield Stack(kind, client, tmp_path / "server" / "artifacts")
