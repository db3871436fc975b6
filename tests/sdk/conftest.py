"""The SDK against both of its paths: an embedded SQLite store and a live server.

``backend`` is parametrized, so every test that uses it runs twice with the
same assertions: what the SDK does must not depend on where the store is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import moorline
from tests.support.live import LiveServer, start_server


@dataclass(frozen=True)
class Backend:
    kind: str
    tracking_uri: str


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("sdk-server"))
    yield server
    server.stop()


def _reset_sdk() -> None:
    while moorline.active_run() is not None:
        moorline.end_run()
    moorline.set_tracking_uri(None)


@pytest.fixture(params=["local", "server"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Backend]:
    """Point the SDK at a fresh SQLite store, or at the shared live server."""
    if request.param == "local":
        uri = f"sqlite:///{tmp_path / 'store' / 'moorline.db'}"
        monkeypatch.setenv("MOORLINE_ARTIFACTS_URI", str(tmp_path / "store" / "artifacts"))
    else:
        server: LiveServer = request.getfixturevalue("live_server")
        uri = server.url
    monkeypatch.setenv("MOORLINE_TRACKING_URI", uri)
    monkeypatch.delenv("MOORLINE_HOME", raising=False)
    _reset_sdk()
    yield Backend(kind=request.param, tracking_uri=uri)
    _reset_sdk()


@pytest.fixture
def experiment_name() -> str:
    """A name no other test uses (the server's store is shared by the session)."""
    return f"exp-{uuid.uuid4().hex[:12]}"
