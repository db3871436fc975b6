"""What every SQL store shares: transactions, dialect-specific upserts, error mapping."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.sql.dml import Insert

from moorline.errors import InvalidArgument, MoorlineError, StorageError, TemporarilyUnavailable
from moorline.store.sql.engine import is_sqlite, write_transaction
from moorline.tracking.models import LifecycleStage, ViewType

T = TypeVar("T")

#: Ids per ``IN (...)`` list: below SQLite's and PostgreSQL's bound-parameter limits.
IN_CHUNK = 5000


class SqlStoreBase:
    """Holds the engine and opens read and write transactions with uniform error mapping."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = is_sqlite(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection in a read transaction (a snapshot on SQLite), rolled back after."""
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise storage_error(exc, self._engine) from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed when the block ends without error."""
        try:
            with write_transaction(self._engine) as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise storage_error(exc, self._engine) from None

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT construct (it has ``on_conflict_do_*``)."""
        return sqlite.insert(table) if self._sqlite else postgresql.insert(table)

    def _insert_ignore(self, table: Table, *conflict_columns: str) -> Insert:
        stmt = self._insert(table)
        result: Insert = stmt.on_conflict_do_nothing(index_elements=list(conflict_columns))
        return result

    def _upsert(
        self, table: Table, conflict_columns: Sequence[str], update_columns: Sequence[str]
    ) -> Insert:
        stmt = self._insert(table)
        result: Insert = stmt.on_conflict_do_update(
            index_elements=list(conflict_columns),
            set_={c: stmt.excluded[c] for c in update_columns},
        )
        return result


def view_condition(column: Any, view_type: ViewType) -> Any:
    """The lifecycle filter of a view type."""
    if view_type == ViewType.ACTIVE_ONLY:
        return column == LifecycleStage.ACTIVE.value
    if view_type == ViewType.DELETED_ONLY:
        return column == LifecycleStage.DELETED.value
    if view_type == ViewType.ALL:
        return None
    raise InvalidArgument(f"Invalid view type {view_type!r}")


def parse_experiment_id(experiment_id: str) -> int | None:
    """The stored integer id, or None when ``experiment_id`` cannot name any experiment."""
    # Decimal ASCII digits that fit the 32-bit id column; anything else names nothing.
    if (
        isinstance(experiment_id, str)
        and experiment_id.isascii()
        and experiment_id.isdigit()
        and len(experiment_id) < 10
    ):
        return int(experiment_id)
    return None


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def storage_error(exc: SQLAlchemyError, engine: Engine) -> MoorlineError:
    """Map an unexpected database error to a moorline error without leaking credentials.

    The message names the driver's error class and its first line, never the
    statement's parameters or the connection URL's password.
    """
    if isinstance(exc, PoolTimeout):
        return TemporarilyUnavailable(
            "Every database connection stayed busy for 30 s; retry (or raise the pool size)"
        )
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    detail = str(orig if orig is not None else exc).strip().splitlines()
    text = detail[0] if detail else type(exc).__name__
    password = engine.url.password
    if password:
        text = text.replace(str(password), "***")
    name = type(orig).__name__ if orig is not None else type(exc).__name__
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == "22001":
        return InvalidArgument(f"A value is longer than the database column allows: {text}")
    lowered = text.lower()
    if "database is locked" in lowered or "database is busy" in lowered:
        return TemporarilyUnavailable(f"The database stayed locked too long; retry: {text}")
    return StorageError(f"Database error ({name}): {text}")


def fetch_rows(conn: Connection, statement: Executable, params: Any = None) -> Sequence[Any]:
    """All rows of a SELECT as the driver's plain tuples.

    For the big reads (history pages, a page of runs' params and metrics):
    skipping SQLAlchemy's Row objects halves their cost. Only for statements
    whose columns need no result processing (every column of our schema).
    """
    result = conn.execute(statement, params) if params is not None else conn.execute(statement)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    return rows


class BulkInsert:
    """An INSERT of many rows at once, built once per engine, at the driver's best speed.

    ``log_batch`` writes up to a thousand rows per call, so this path avoids
    per-row work in Python: on SQLite the compiled statement goes straight
    to the driver's ``executemany`` with plain tuples; on PostgreSQL the rows
    travel as one array per column and ``unnest`` turns them back into rows,
    one statement and one round trip whatever the count (psycopg's own
    ``executemany`` costs ~30 us of CPU per row); a handful of rows goes as a
    plain INSERT, cheaper than arrays when there is little to send.

    ``on_conflict`` receives the dialect's INSERT and adds an ``ON CONFLICT``
    clause; rows must then not repeat a conflict key (PostgreSQL refuses to
    update one row twice in one statement).
    """

    #: Up to this many rows, PostgreSQL gets a plain INSERT rather than arrays.
    FEW = 8

    def __init__(
        self,
        engine: Engine,
        table: Table,
        columns: Sequence[str],
        *,
        on_conflict: Callable[[Any], Insert] | None = None,
    ) -> None:
        self.columns = tuple(columns)
        self._sqlite = is_sqlite(engine)
        if self._sqlite:
            insert: Any = sqlite.insert(table)
            statement = on_conflict(insert) if on_conflict else insert
            compiled = statement.compile(dialect=engine.dialect, column_keys=list(self.columns))
            if tuple(compiled.positiontup or ()) != self.columns:
                raise ValueError(f"{table.name}: parameters {compiled.positiontup} != {columns}")
            self._sql = compiled.string
        else:
            arrays = [
                bindparam(name, type_=postgresql.ARRAY(table.c[name].type)) for name in columns
            ]
            rows = func.unnest(*arrays).table_valued(*self.columns).render_derived()
            insert = postgresql.insert(table).from_select(
                list(self.columns), select(*[rows.c[name] for name in self.columns])
            )
            self._statement = on_conflict(insert) if on_conflict else insert
            plain: Any = postgresql.insert(table)
            self._plain = on_conflict(plain) if on_conflict else plain

    def execute(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order)."""
        if not rows:
            return
        if self._sqlite:
            conn.exec_driver_sql(self._sql, list(rows))
        elif len(rows) <= self.FEW:
            names = self.columns
            conn.execute(self._plain, [dict(zip(names, row, strict=True)) for row in rows])
        else:
            columns = list(zip(*rows, strict=True))
            conn.execute(
                self._statement, {name: list(columns[i]) for i, name in enumerate(self.columns)}
            )
