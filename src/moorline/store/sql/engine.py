"""Engines for the metadata database: SQLite (embedded) and PostgreSQL (scale-out).

SQLite allows one writer at a time. Every connection is put in WAL mode (readers
never block the writer), with ``synchronous=NORMAL`` (durable at checkpoints,
safe against corruption), a 30 s ``busy_timeout`` (other *processes* wait
instead of failing) and foreign keys on. Inside one process, write transactions
are serialized by a lock (see :func:`write_lock`) and open with
``BEGIN IMMEDIATE``, so a transaction never has to upgrade a read lock to a
write lock halfway through: that upgrade is the one case where SQLite answers
"database is locked" without waiting.

PostgreSQL goes through psycopg 3; ``postgresql://`` URIs are rewritten to
``postgresql+psycopg://``.

>>> engine = create_engine_for("sqlite:///:memory:")
>>> engine.dialect.name
'sqlite'
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from moorline.errors import InvalidArgument

BUSY_TIMEOUT_MS = 30_000

#: Execution option that makes the next ``BEGIN`` on a SQLite connection a
#: ``BEGIN IMMEDIATE`` (take the write lock now rather than at the first write).
WRITE_OPTION = "moorline_write"

_LOCKS_GUARD = threading.Lock()
_WRITE_LOCKS: dict[str, threading.RLock] = {}


def normalize_uri(uri: str) -> URL:
    """Parse ``uri`` and pick our drivers: psycopg 3 for PostgreSQL, sqlite3 for SQLite."""
    try:
        url = make_url(uri)
    except ArgumentError as exc:
        raise InvalidArgument(
            "Invalid database URI: expected sqlite:///<path> or postgresql://user@host:port/db"
        ) from exc
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
            url = url.set(drivername="postgresql+psycopg")
        return url
    if backend == "sqlite":
        if url.drivername != "sqlite":
            raise InvalidArgument(
                f"Unsupported SQLite driver {url.drivername!r}; use sqlite:///<path>"
            )
        return url
    raise InvalidArgument(
        f"Unsupported database URI scheme {url.drivername!r}: use sqlite:///<path> or "
        "postgresql://user@host:port/db"
    )


def create_engine_for(uri: str, *, echo: bool = False) -> Engine:
    """Create the engine for ``uri`` with moorline's connection settings.

    For a SQLite file the parent folder is created when missing.
    """
    url = normalize_uri(uri)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    return create_engine(
        url,
        echo=echo,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_timeout=30,
    )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def write_lock(engine: Engine) -> contextlib.AbstractContextManager[Any]:
    """The in-process lock that serializes write transactions on one SQLite file.

    Shared by every engine of the process that points at the same file. For
    PostgreSQL it is a no-op: the server handles concurrent writers itself.
    """
    if not is_sqlite(engine):
        return contextlib.nullcontext()
    database = engine.url.database or ""
    # An in-memory database belongs to its engine alone; a file to every engine on it.
    key = f"memory#{id(engine)}" if _is_memory(database) else os.path.realpath(database)
    with _LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
    return lock


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection inside one write transaction, committed on success.

    On SQLite the process-wide write lock is held throughout and the
    transaction starts with ``BEGIN IMMEDIATE``.
    """
    with write_lock(engine), engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def _is_memory(database: str) -> bool:
    return database in ("", ":memory:") or database.startswith("file::memory:")


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database or ""
    memory = _is_memory(database)
    if not memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        "echo": echo,
        "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    }
    if memory:
        # One shared connection, or every checkout would see a different empty database.
        kwargs["poolclass"] = StaticPool
    else:
        # SQLite connections are cheap; leave room for a server's whole thread pool.
        kwargs.update(pool_size=8, max_overflow=32, pool_timeout=30)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
    # Take transaction control away from the sqlite3 module: SQLAlchemy's "begin"
    # event emits BEGIN itself (see _on_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
    dbapi_connection.create_function("moorline_lower", 1, _lower, deterministic=True)


def _on_sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _lower(value: object) -> str | None:
    """Unicode-aware ``lower()`` for ILIKE on SQLite (its own lower() is ASCII-only)."""
    return value.lower() if isinstance(value, str) else None


def redact_url(url: URL) -> str:
    """``url`` as text with its password masked, for messages and logs."""
    return url.render_as_string(hide_password=True)
