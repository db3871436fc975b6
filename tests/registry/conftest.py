"""Real stores for the governance, audit and webhook tests.

``services``: every service wired by ``bootstrap`` over a fresh SQLite file
(copied from a template migrated once per session, so a test does not pay
for the migration). ``pg_services``: the same over a PostgreSQL database
created once per session and emptied before each test. Models are made
with :func:`make_model`: each version is produced by a real tracking run
carrying the given metrics.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from moorline.bootstrap import Services, Settings, build_services
from moorline.store.sql import create_engine_for, upgrade
from moorline.tracking.models import Metric
from tests.contracts.sql_backend import postgres_database, reset_postgres


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registry-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def store_uri(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "moorline.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def services(store_uri: str, tmp_path: Path) -> Iterator[Services]:
    built = build_services(
        Settings(store_uri=store_uri, artifacts_uri=str(tmp_path / "artifacts")), migrate=False
    )
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(scope="session")
def pg_uri() -> Iterator[str]:
    """One migrated PostgreSQL database for the session (dropped at the end)."""
    with postgres_database() as uri:
        yield uri


@pytest.fixture
def pg_services(pg_uri: str, tmp_path: Path) -> Iterator[Services]:
    """Every service over the session's PostgreSQL database, emptied first."""
    engine = create_engine_for(pg_uri)
    try:
        reset_postgres(engine)
    finally:
        engine.dispose()
    built = build_services(
        Settings(store_uri=pg_uri, artifacts_uri=str(tmp_path / "artifacts")), migrate=False
    )
    try:
        yield built
    finally:
        built.close()


def raw_engine(services: Services) -> Engine:
    """A separate engine on the same database, for edits behind the stores' back."""
    return create_engine_for(services.settings.store_uri)


def make_model(
    services: Services,
    name: str,
    metrics: list[dict[str, float] | None],
    *,
    actor: str = "ana",
) -> list[int]:
    """Register ``name`` with one version per entry of ``metrics``; each version
    comes from a tracking run that logged those metrics (None: a version with no run)."""
    tracking = services.tracking
    experiment = tracking.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else tracking.create_experiment(name)
    services.registry.create_registered_model(name, actor=actor)
    numbers = []
    for values in metrics:
        run_id = None
        if values is not None:
            run = tracking.create_run(experiment_id, user_id=actor)
            run_id = run.run_id
            tracking.log_batch(
                run_id,
                metrics=[
                    Metric(key=k, value=v, timestamp=1_700_000_000_000, step=0)
                    for k, v in values.items()
                ],
            )
        version = services.registry.create_model_version(
            name, f"models:/{name}/src", run_id=run_id, actor=actor
        )
        numbers.append(version.version)
    return numbers
