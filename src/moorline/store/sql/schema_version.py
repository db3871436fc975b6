"""Is a database's schema at the revision this moorline ships? Answered without Alembic.

A process that only reads and writes (the model server) checks this at
start instead of running the migrations: reading the packaged revisions'
ids from their files and the stored one from the version table costs a few
milliseconds, against some 100 ms and 9 MB for importing Alembic. Only a
database that is behind (or new) is handed to :func:`~.migrate.upgrade`.

>>> import os, tempfile
>>> uri = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "s.db")
>>> schema_is_current(uri)
False
>>> ensure_schema(uri)
>>> schema_is_current(uri)
True
"""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from moorline.store.sql.engine import create_engine_for

#: Alembic's version table for moorline's schema (``migrate.VERSION_TABLE``).
VERSION_TABLE = "moorline_alembic_version"
VERSIONS_DIR = Path(__file__).with_name("migrations") / "versions"


def packaged_head() -> str | None:
    """The newest packaged revision id, from the ``revision`` and ``down_revision``
    assignments of the migration files; None when they do not form one chain with
    one head (then only Alembic can tell).

    >>> packaged_head() is not None
    True
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for file in VERSIONS_DIR.glob("*.py"):
        if file.name == "__init__.py":
            continue
        found = _assignments(file)
        revision = found.get("revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        down = found.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple):
            parents.update(d for d in down if isinstance(d, str))
        elif down is not None:
            return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def stored_revisions(target: str | Engine) -> frozenset[str]:
    """The revisions recorded in the database's version table (empty: never migrated)."""
    engine = create_engine_for(target) if isinstance(target, str) else target
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        return frozenset(str(row[0]) for row in rows)
    except SQLAlchemyError:  # no version table yet
        return frozenset()
    finally:
        if isinstance(target, str):
            engine.dispose()


def schema_is_current(target: str | Engine) -> bool:
    """True when the database is at the packaged head revision."""
    head = packaged_head()
    return head is not None and stored_revisions(target) == {head}


def ensure_schema(target: str | Engine) -> None:
    """Migrate the database unless it is already at the packaged head (Alembic is
    imported only then)."""
    if schema_is_current(target):
        return
    from moorline.store.sql.migrate import upgrade

    upgrade(target)


def _assignments(file: Path) -> dict[str, object]:
    """Module-level ``name = literal`` assignments of a Python file."""
    values: dict[str, object] = {}
    for node in ast.parse(file.read_bytes(), filename=str(file)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                values[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError):
                continue
    return values
