"""The ``rest`` backend of the contract suite: the ports over HTTP to a live server.

A real uvicorn server runs in a background thread on a free loopback port,
serving the whole moorline application (middleware included) over a fresh
SQLite store, and the ports under test are the REST adapters pointed at
it. Every contract test thus also runs through HTTP, the JSON schemas and
the error mapping, both ways.

Starting uvicorn costs more than building a store, so one server serves a
whole session (:class:`ThreadedServer`); each test gets a fresh application
over a fresh store behind it (:meth:`ThreadedServer.serving`).
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from moorline.bootstrap import Services, Settings, build_services
from moorline.server.app import create_app
from moorline.store.rest.client import RestClient
from moorline.store.rest.tracking import RestArtifactBlobs, RestTokenStore, RestTrackingStore
from moorline.store.sql.migrate import upgrade

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

START_TIMEOUT_S = 20.0


class ThreadedServer:
    """uvicorn in a daemon thread on 127.0.0.1, serving whichever app is current."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self._dispatch,
            interface="asgi3",
            log_config=None,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    async def _dispatch(self, scope: Scope, receive: Any, send: Any) -> None:
        app = self._app
        if app is None:
            raise RuntimeError("ThreadedServer has no application to serve")
        await app(scope, receive, send)

    def start(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()

    @contextlib.contextmanager
    def serving(self, app: ASGIApp) -> Iterator[str]:
        """Serve ``app`` for the duration of the block; yields the server's URL."""
        self._app = app
        try:
            yield self.url
        finally:
            self._app = None


_template_lock = threading.Lock()
_template: list[Path] = []


def _migrated_template() -> Path:
    """A SQLite file at the schema's head, migrated once per test process."""
    with _template_lock:
        if not _template:
            folder = Path(tempfile.mkdtemp(prefix="moorline-template-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            path = folder / "template.db"
            upgrade(f"sqlite:///{path}")
            _template.append(path)
        return _template[0]


def fresh_services(workdir: Path, **settings: Any) -> Services:
    """Services over a new SQLite file and artifact folder under ``workdir``.

    The file is a copy of a template migrated once (SQLite's backup API, so
    the copy is consistent), which saves each test the migrations.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "moorline.db"
    with (
        contextlib.closing(sqlite3.connect(_migrated_template())) as source,
        contextlib.closing(sqlite3.connect(db)) as target,
    ):
        source.backup(target)
    config = Settings(
        store_uri=f"sqlite:///{db}", artifacts_uri=str(workdir / "artifacts"), **settings
    )
    return build_services(config, migrate=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestBackend:
    """The REST adapters pointed at a live server, and the server's own services."""

    url: str
    client: RestClient
    tracking: RestTrackingStore
    tokens: RestTokenStore
    blobs: RestArtifactBlobs
    server_services: Services


@contextlib.contextmanager
def rest_backend(
    server: ThreadedServer, workdir: Path, *, token: str | None = None
) -> Iterator[RestBackend]:
    """A fresh store served by ``server``, with REST adapters pointed at it."""
    services = fresh_services(workdir)
    client = RestClient(server.url, token=token, max_attempts=1)
    try:
        with server.serving(create_app(services, auth_required=False)):
            yield RestBackend(
                url=server.url,
                client=client,
                tracking=RestTrackingStore(client),
                tokens=RestTokenStore(client),
                blobs=RestArtifactBlobs(client),
                server_services=services,
            )
    finally:
        client.close()
        services.close()


@contextlib.contextmanager
def threaded_server() -> Iterator[ThreadedServer]:
    server = ThreadedServer().start()
    try:
        yield server
    finally:
        server.stop()
