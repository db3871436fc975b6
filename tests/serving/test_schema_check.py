"""``moorline serve`` checks the schema revision instead of migrating (without Alembic),
and still migrates a store that is new or behind."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from moorline.store.sql.migrate import alembic_config, current_revision, head_revision, upgrade
from moorline.store.sql.schema_version import (
    ensure_schema,
    packaged_head,
    schema_is_current,
    stored_revisions,
)
from tests.contracts.sql_backend import postgres_database
from tests.serving.serving_support import Serve, wait_ready
from tests.support.live import MOORLINE, free_port


@contextlib.contextmanager
def new_database(backend: str, folder: Path) -> Iterator[str]:
    """The URI of an empty database (never migrated)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'new.db'}"
    else:
        with postgres_database(migrate=False) as uri:
            yield uri


def test_the_packaged_head_is_read_as_alembic_reads_it() -> None:
    assert packaged_head() == head_revision()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_new_or_older_store_is_migrated_and_one_at_head_is_left_alone(
    backend: str, tmp_path: Path
) -> None:
    head = head_revision()
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    with new_database(backend, tmp_path) as uri:
        assert stored_revisions(uri) == frozenset()
        assert not schema_is_current(uri)
        upgrade(uri, previous)
        assert stored_revisions(uri) == {previous}
        assert not schema_is_current(uri)  # behind: migrated by ensure_schema
        ensure_schema(uri)
        assert current_revision(uri) == head
        assert schema_is_current(uri)
        ensure_schema(uri)  # at head: nothing to do
        assert current_revision(uri) == head


def test_moorline_serve_migrates_a_new_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'fresh' / 'moorline.db'}"
    port = free_port()
    log_path = tmp_path / "serve.log"
    argv = [MOORLINE, "serve", "--port", str(port), "--store", uri, "--artifacts", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != "MOORLINE_TRACKING_URI"}
    with log_path.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Serve(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        wait_ready(server, timeout=60.0)
        assert "no deployment exists yet" in server.log()
        assert current_revision(uri) == head_revision()
    finally:
        assert server.stop() == 0
