"""Apply the schema migrations shipped inside the package.

No ``alembic.ini`` is needed: the configuration is built in code and points
at ``migrations/`` next to this file, so it works from an installed wheel.
:func:`upgrade` is idempotent and safe to call from several processes at
once: on PostgreSQL it holds a transaction-level advisory lock, on SQLite a
``BEGIN IMMEDIATE`` write lock (plus the in-process write lock), so one
process migrates and the others then find the schema at head.

>>> import tempfile, os
>>> uri = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "m.db")
>>> upgrade(uri)
>>> current_revision(uri) == head_revision()
True
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from moorline.errors import StorageError
from moorline.store.sql.engine import (
    WRITE_OPTION,
    create_engine_for,
    is_sqlite,
    redact_url,
    write_lock,
)

VERSION_TABLE = "moorline_alembic_version"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Key of the PostgreSQL advisory lock held while migrating ("moorline" in ASCII, as an int64).
ADVISORY_LOCK_KEY = 0x6D6F6F726C696E65


def alembic_config() -> Config:
    """An Alembic configuration for the packaged migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of moorline."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise StorageError("No schema migrations are packaged")
    return head


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Bring the database at ``target`` (a URI or an engine) up to ``revision``."""
    engine = create_engine_for(target) if isinstance(target, str) else target
    try:
        _upgrade(engine, revision)
    except SQLAlchemyError as exc:
        raise StorageError(
            f"Migrating {redact_url(engine.url)} failed: {_first_line(exc)}"
        ) from None
    finally:
        if isinstance(target, str):
            engine.dispose()


def current_revision(target: str | Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    engine = create_engine_for(target) if isinstance(target, str) else target
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    finally:
        if isinstance(target, str):
            engine.dispose()


def _upgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with write_lock(engine), engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if not is_sqlite(engine):
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            config.attributes["connection"] = conn
            command.upgrade(config, revision)


def _first_line(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__
