"""Alembic environment: runs the revisions on the connection ``migrate.upgrade`` passes in.

``migrate.upgrade`` opens the transaction, takes the locks and hands the
connection over in ``config.attributes["connection"]``. Without one (the
``alembic`` command line with ``sqlalchemy.url`` set) a connection is opened
here from that URL. Offline mode (``--sql``) renders the SQL for a DBA.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from moorline.store.sql.engine import create_engine_for
from moorline.store.sql.migrate import VERSION_TABLE
from moorline.store.sql.tables import metadata


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("Set sqlalchemy.url or pass a connection in config.attributes")
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            _configure_and_run(conn)
            conn.commit()
    finally:
        engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
