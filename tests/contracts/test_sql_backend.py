"""Guarantees of the SQL backends beyond the ports: migrations, SQLite settings,
concurrency without "database is locked", and error mapping."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select

from moorline.errors import InvalidArgument, StorageError
from moorline.store.sql import SqlTrackingStore, create_engine_for, upgrade
from moorline.store.sql import tables as t
from moorline.store.sql._records import FAST_METRICS, new_metric
from moorline.store.sql.engine import normalize_uri
from moorline.store.sql.migrate import VERSION_TABLE, current_revision, head_revision
from moorline.store.sql.search import like_to_glob
from moorline.tracking.models import ExperimentId, Metric, Param, Tag, ViewType
from tests.contracts.backends import BackendProvider
from tests.contracts.sql_backend import SqlStores, open_postgres, open_sqlite, postgres_database
from tests.contracts.support import log, new_experiment, new_run, point

DEFAULT = ExperimentId("0")


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(open_sqlite, id="sqlite"),
        pytest.param(open_postgres, id="postgres", marks=pytest.mark.postgres),
    ],
)
def sql_provider(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackendProvider]:
    with request.param(tmp_path_factory) as provider:
        yield provider


@pytest.fixture
def sql_stores(sql_provider: BackendProvider) -> Iterator[SqlStores]:
    with sql_provider.fresh() as stores:
        assert isinstance(stores, SqlStores)
        yield stores


# -- migrations ----------------------------------------------------------------------------


def test_migrating_twice_is_a_no_op(sql_stores: SqlStores) -> None:
    tracking = sql_stores.tracking
    eid = new_experiment(tracking, "survives")
    upgrade(sql_stores.uri)
    upgrade(sql_stores.engine)
    assert current_revision(sql_stores.uri) == head_revision()
    assert tracking.get_experiment(eid).name == "survives"
    with sql_stores.engine.connect() as conn:
        defaults = conn.execute(
            select(func.count()).select_from(t.experiments).where(t.experiments.c.name == "Default")
        ).scalar_one()
    assert defaults == 1


def test_migrated_schema_matches_the_tables(sql_stores: SqlStores) -> None:
    with sql_stores.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        diff = compare_metadata(context, t.metadata)
    assert diff == []


_MIGRATE = "from moorline.store.sql import upgrade; import sys; upgrade(sys.argv[1])"


def _migrate_concurrently(uri: str, processes: int = 3) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(processes)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert current_revision(uri) == head_revision()
    engine = create_engine_for(uri)
    try:
        store = SqlTrackingStore(engine)
        page = store.search_experiments(
            view_type=ViewType.ALL, filter_clauses=[], order_by=[], max_results=10, page_token=None
        )
        assert [e.name for e in page.items] == ["Default"]
    finally:
        engine.dispose()


def test_concurrent_migrations_sqlite(tmp_path: Path) -> None:
    _migrate_concurrently(f"sqlite:///{tmp_path / 'new' / 'm.db'}")


@pytest.mark.postgres
def test_concurrent_migrations_postgres() -> None:
    with postgres_database(migrate=False) as uri:
        _migrate_concurrently(uri)


# -- engine settings -------------------------------------------------------------------------


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "er" / "m.db"
    engine = create_engine_for(f"sqlite:///{db}")
    try:
        assert db.parent.is_dir()  # created for us
        with engine.connect() as conn:

            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 1  # NORMAL
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 30_000
    finally:
        engine.dispose()


def test_uri_normalisation() -> None:
    assert normalize_uri("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalize_uri("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_uri("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_uri("sqlite:////tmp/x.db").drivername == "sqlite"
    with pytest.raises(InvalidArgument, match="mysql"):
        normalize_uri("mysql://u@h/db")
    with pytest.raises(InvalidArgument) as excinfo:
        normalize_uri("mysql://u:hunter2@h/db")
    assert "hunter2" not in str(excinfo.value)


def test_like_to_glob_keeps_glob_specials_literal() -> None:
    assert like_to_glob("a%b_c") == "a*b?c"
    assert like_to_glob("*?[]") == "[*][?][[]]"


def test_fast_metric_records_equal_constructed_ones() -> None:
    assert FAST_METRICS, "Metric's fields changed: update store/sql/_records.py"
    args = ("k", math.inf, 5, 6, "ds", "dg", "m-1", "r")
    assert new_metric(*args) == Metric(
        key="k",
        value=math.inf,
        timestamp=5,
        step=6,
        dataset_name="ds",
        dataset_digest="dg",
        model_id="m-1",  # type: ignore[arg-type]
        run_id="r",  # type: ignore[arg-type]
    )


# -- concurrency on SQLite -----------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys
    from moorline.store.sql import SqlTrackingStore, create_engine_for
    from moorline.tracking.models import Metric
    store = SqlTrackingStore(create_engine_for(sys.argv[1]))
    for step in range(int(sys.argv[3])):
        store.log_batch(
            sys.argv[2],
            metrics=[Metric(key="proc", value=float(step), timestamp=step, step=step)],
            params=[],
            tags=[],
        )
    """
)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[SqlTrackingStore, str]]:
    uri = f"sqlite:///{tmp_path / 'busy.db'}"
    upgrade(uri)
    engine = create_engine_for(uri)
    try:
        yield SqlTrackingStore(engine), uri
    finally:
        engine.dispose()


def test_threads_and_a_process_write_sqlite_at_once(
    sqlite_store: tuple[SqlTrackingStore, str],
) -> None:
    store, uri = sqlite_store
    threads_n, steps = 6, 120
    own = [new_run(store, DEFAULT, name=f"t{i}") for i in range(threads_n)]
    shared = new_run(store, DEFAULT, name="shared")
    other_process_run = new_run(store, DEFAULT, name="proc")
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n)

    def worker(i: int) -> None:
        try:
            start.wait()
            for step in range(steps):
                log(store, own[i], metrics=[point("m", float(step), step=step)])
                store.log_batch(
                    shared,
                    metrics=[point(f"w{i}", float(step), step=step)],
                    params=[Param(key=f"p{i}_{step}", value="v")],
                    tags=[Tag(key=f"last{i}", value=str(step))],
                )
                if step % 20 == 0:  # readers in between must not disturb the writers
                    store.get_run(shared)
                    store.search_runs(
                        experiment_ids=[DEFAULT],
                        filter_clauses=[],
                        order_by=[],
                        view_type=ViewType.ALL,
                        max_results=50,
                        page_token=None,
                    )
        except BaseException as exc:
            errors.append(exc)

    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, uri, other_process_run, "200"],
        stderr=subprocess.PIPE,
    )
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    _, err = proc.communicate(timeout=120)

    assert errors == []
    assert proc.returncode == 0, err.decode()
    for i in range(threads_n):
        page = store.get_metric_history(own[i], "m", max_results=None, page_token=None)
        assert [m.step for m in page.items] == list(range(steps))
    run = store.get_run(shared)
    assert len(run.params) == threads_n * steps
    assert {m.key: m.value for m in run.metrics} == {
        f"w{i}": float(steps - 1) for i in range(threads_n)
    }
    assert all(run.tags[f"last{i}"] == str(steps - 1) for i in range(threads_n))
    proc_history = store.get_metric_history(
        other_process_run, "proc", max_results=None, page_token=None
    )
    assert len(proc_history.items) == 200


# -- error mapping ----------------------------------------------------------------------------


def test_unmigrated_database_gives_a_storage_error(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(StorageError, match="no such table"):
            SqlTrackingStore(engine).get_experiment(DEFAULT)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_storage_errors_do_not_leak_the_password() -> None:
    engine = create_engine_for(
        "postgresql://postgres:hunter2secret@127.0.0.1:5432/moorline_no_such_database"
    )
    try:
        with pytest.raises(StorageError) as excinfo:
            SqlTrackingStore(engine).get_experiment(DEFAULT)
    finally:
        engine.dispose()
    assert "moorline_no_such_database" in str(excinfo.value)
    assert "hunter2secret" not in str(excinfo.value)
    with pytest.raises(StorageError) as migrate_error:
        upgrade("postgresql://postgres:hunter2secret@127.0.0.1:5432/moorline_no_such_database")
    assert "hunter2secret" not in str(migrate_error.value)


def test_corrupt_file_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    engine = create_engine_for(f"sqlite:///{path}")
    try:
        with pytest.raises(StorageError):
            SqlTrackingStore(engine).get_run("a" * 32)  # type: ignore[arg-type]
    finally:
        engine.dispose()
