"""The ``sqlite`` and ``postgres`` backends of the contract suites.

- sqlite: a file per test, copied from a template migrated once per module.
- postgres: a uniquely named database per module (127.0.0.1:5432, user
  postgres), emptied before each test and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import pytest
from sqlalchemy import Engine, create_engine, text

from moorline.store.sql import SqlTokenStore, SqlTrackingStore, create_engine_for, upgrade
from moorline.store.sql import tables as t
from moorline.store.sql.audit import SqlAuditStore
from moorline.store.sql.governance import SqlGovernanceStore
from moorline.store.sql.registry import SqlRegistryStore
from moorline.store.sql.webhooks import SqlWebhookStore
from tests.contracts.backends import BackendProvider, FreshProvider, Stores

POSTGRES_ADMIN_URI = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlStores:
    """The stores, plus the engine and URI for tests of SQL-only guarantees."""

    tracking: SqlTrackingStore
    tokens: SqlTokenStore
    engine: Engine
    uri: str
    # the registry ports (see conftest.REGISTRY_BACKENDS)
    registry: SqlRegistryStore
    governance: SqlGovernanceStore
    audit: SqlAuditStore
    webhooks: SqlWebhookStore


def _stores(engine: Engine, uri: str) -> SqlStores:
    return SqlStores(
        tracking=SqlTrackingStore(engine),
        tokens=SqlTokenStore(engine),
        engine=engine,
        uri=uri,
        registry=SqlRegistryStore(engine),
        governance=SqlGovernanceStore(engine),
        audit=SqlAuditStore(engine),
        webhooks=SqlWebhookStore(engine),
    )


@contextlib.contextmanager
def open_sqlite(factory: pytest.TempPathFactory) -> Iterator[BackendProvider]:
    folder = factory.mktemp("sqlite")
    template = folder / "template.db"
    upgrade(f"sqlite:///{template}")  # disposes its engine, which checkpoints the WAL away
    numbers = count()

    @contextlib.contextmanager
    def fresh() -> Iterator[Stores]:
        path = folder / f"store-{next(numbers)}.db"
        shutil.copyfile(template, path)
        uri = f"sqlite:///{path}"
        engine = create_engine_for(uri)
        try:
            yield _stores(engine, uri)
        finally:
            engine.dispose()

    yield FreshProvider(fresh)


@contextlib.contextmanager
def postgres_database(*, migrate: bool = True) -> Iterator[str]:
    """A new, uniquely named PostgreSQL database (migrated unless told), dropped afterwards."""
    name = f"moorline_contract_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URI, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        uri = f"postgresql://postgres@127.0.0.1:5432/{name}"
        try:
            if migrate:
                upgrade(uri)
            yield uri
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def reset_postgres(engine: Engine) -> None:
    """Empty every table and recreate the Default experiment, as a fresh migration leaves it.

    DELETE rather than TRUNCATE: the tables of one test hold a few rows, and
    TRUNCATE replaces every table's and index's files (about 0.5 s for the
    whole schema, per test), where DELETE takes milliseconds. Sequences
    restart as TRUNCATE's RESTART IDENTITY would.
    """
    with engine.begin() as conn:
        for table in reversed(t.metadata.sorted_tables):
            conn.execute(table.delete())
        sequences = (
            conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
            )
            .scalars()
            .all()
        )
        for sequence in sequences:
            conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
        conn.execute(
            t.experiments.insert().values(
                experiment_id=0,
                name="Default",
                artifact_location="mlflow-artifacts:/0",
                lifecycle_stage="active",
                creation_time=0,
                last_update_time=0,
            )
        )


@contextlib.contextmanager
def open_postgres(factory: pytest.TempPathFactory) -> Iterator[BackendProvider]:
    with postgres_database() as uri:
        engine = create_engine_for(uri)

        @contextlib.contextmanager
        def fresh() -> Iterator[Stores]:
            reset_postgres(engine)
            yield _stores(engine, uri)

        try:
            yield FreshProvider(fresh)
        finally:
            engine.dispose()
