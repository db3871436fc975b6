"""Registered models, versions, tags and aliases over SQL: :class:`RegistryStore`.

Every mutation is one write transaction holding the audit head (see
:mod:`moorline.store.sql._changes`): the change, its audit entry and its
events commit together or not at all. Reads load a page of records with a
fixed handful of queries whatever its size (tags, aliases and latest
versions in bulk), never one query per record.

>>> import os, tempfile
>>> from moorline.store.sql import create_engine_for, upgrade
>>> from moorline.registry.models import AuditDraft, ModelName
>>> from moorline.registry.ports import Change
>>> engine = create_engine_for("sqlite:///" + os.path.join(tempfile.mkdtemp(), "r.db"))
>>> upgrade(engine)
>>> store = SqlRegistryStore(engine)
>>> change = Change(audit=AuditDraft(actor="ada", action="create", target="models:/churn"))
>>> store.create_registered_model(name=ModelName("churn"), description="", tags={},
...                               user_id="ada", now=1, change=change).name
'churn'
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    String,
    Table,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects import postgresql

from moorline.core.clock import now_ms
from moorline.core.paging import Page, encode_token, offset_from_token
from moorline.errors import AlreadyExists, InvalidArgument, NotFound
from moorline.registry.models import (
    ModelName,
    ModelVersion,
    RegisteredModel,
    Stage,
    VersionStatus,
)
from moorline.registry.ports import AliasInfo, Change, RegistryStore
from moorline.store.sql import registry_search as rs
from moorline.store.sql import tables as t
from moorline.store.sql._base import chunks, fetch_rows
from moorline.store.sql._changes import ChangeWriter, with_version
from moorline.tracking.search import Clause, OrderKey

_rm = t.registered_models
_rmt = t.registered_model_tags
_mv = t.model_versions
_mvt = t.model_version_tags
_al = t.registered_model_aliases

_MODEL_COLUMNS = (
    _rm.c.name,
    _rm.c.creation_timestamp,
    _rm.c.last_updated_timestamp,
    _rm.c.user_id,
    _rm.c.description,
)
_VERSION_COLUMNS = (
    _mv.c.name,
    _mv.c.version,
    _mv.c.creation_timestamp,
    _mv.c.last_updated_timestamp,
    _mv.c.user_id,
    _mv.c.description,
    _mv.c.source,
    _mv.c.run_id,
    _mv.c.run_link,
    _mv.c.model_id,
    _mv.c.current_stage,
    _mv.c.status,
    _mv.c.status_message,
)

_SELECT_MODEL = select(*_MODEL_COLUMNS).where(_rm.c.name == bindparam("model"))
_MODEL_EXISTS = select(_rm.c.name).where(_rm.c.name == bindparam("model"))
_SELECT_VERSION = select(*_VERSION_COLUMNS).where(
    _mv.c.name == bindparam("model"), _mv.c.version == bindparam("number")
)
_VERSION_EXISTS = select(_mv.c.version).where(
    _mv.c.name == bindparam("model"), _mv.c.version == bindparam("number")
)
_INSERT_MODEL = _rm.insert()
_INSERT_MODEL_TAGS = _rmt.insert()
_INSERT_VERSION = _mv.insert()
_INSERT_VERSION_TAGS = _mvt.insert()
#: Takes the next version number and touches the model in one statement
#: (no row: the model does not exist).
_NEXT_VERSION = (
    _rm.update()
    .where(_rm.c.name == bindparam("model"))
    .values(last_version=_rm.c.last_version + 1, last_updated_timestamp=bindparam("now"))
    .returning(_rm.c.last_version)
)
_TOUCH_MODEL = (
    _rm.update()
    .where(_rm.c.name == bindparam("model"))
    .values(last_updated_timestamp=bindparam("now"))
)
_TOUCH_VERSION = (
    _mv.update()
    .where(_mv.c.name == bindparam("model"), _mv.c.version == bindparam("number"))
    .values(last_updated_timestamp=bindparam("now"))
)
_ALIAS_TARGET = (
    select(*_VERSION_COLUMNS)
    .join_from(_al, _mv, (_mv.c.name == _al.c.name) & (_mv.c.version == _al.c.version))
    .where(_al.c.name == bindparam("model"), _al.c.alias == bindparam("alias"))
)

_STAGES = {s.value: s for s in Stage}
_STATUSES = {s.value: s for s in VersionStatus}
#: The stages whose other holders ``archive_existing`` moves to Archived (as MLflow).
_ACTIVE_STAGES = (Stage.STAGING, Stage.PRODUCTION)
#: (name, version) pairs per ``IN`` list: two bound parameters each.
_PAIR_CHUNK = 2000

VersionKey = tuple[str, int]


def _model_missing(name: str) -> NotFound:
    return NotFound(f"Registered model {name!r} not found")


def _version_missing(name: str, version: int) -> NotFound:
    return NotFound(f"Model version {version} of registered model {name!r} not found")


class SqlRegistryStore(ChangeWriter, RegistryStore):
    """Registered models, versions, tags and aliases in SQLite or PostgreSQL.

    The schema must be at head (see :func:`moorline.store.sql.migrate.upgrade`).
    Thread-safe: every call checks a connection out of the engine's pool.
    """

    # -- registered models ---------------------------------------------------

    def create_registered_model(
        self,
        *,
        name: ModelName,
        description: str,
        tags: dict[str, str],
        user_id: str,
        now: int,
        change: Change,
    ) -> RegisteredModel:
        with self._change_tx() as tx:
            conn = tx.conn
            if conn.execute(_MODEL_EXISTS, {"model": name}).first() is not None:
                raise AlreadyExists(f"Registered model {name!r} already exists")
            conn.execute(
                _INSERT_MODEL,
                {
                    "name": name,
                    "creation_timestamp": now,
                    "last_updated_timestamp": now,
                    "user_id": user_id,
                    "description": description,
                    "last_version": 0,
                },
            )
            if tags:
                conn.execute(
                    _INSERT_MODEL_TAGS,
                    [{"name": name, "key": k, "value": v} for k, v in tags.items()],
                )
            self._record(tx, change, now=now)
        return RegisteredModel(
            name=name,
            creation_timestamp=now,
            last_updated_timestamp=now,
            user_id=user_id,
            description=description,
            tags=dict(tags),
        )

    def get_registered_model(self, name: ModelName) -> RegisteredModel:
        with self._read() as conn:
            return self._model(conn, name)

    def rename_registered_model(
        self, name: ModelName, new_name: ModelName, *, now: int, change: Change
    ) -> RegisteredModel:
        with self._change_tx() as tx:
            conn = tx.conn
            self._require_model(conn, name)
            if (
                new_name != name
                and conn.execute(_MODEL_EXISTS, {"model": new_name}).first() is not None
            ):
                raise AlreadyExists(
                    f"Cannot rename {name!r} to {new_name!r}: registered model {new_name!r} "
                    "already exists"
                )
            # ON UPDATE CASCADE carries versions, tags, aliases, policy and approvals along.
            conn.execute(
                _rm.update()
                .where(_rm.c.name == name)
                .values(name=new_name, last_updated_timestamp=now)
            )
            self._record(tx, change, now=now)
            return self._model(conn, new_name)

    def update_registered_model(
        self, name: ModelName, *, description: str, now: int, change: Change
    ) -> RegisteredModel:
        with self._change_tx() as tx:
            conn = tx.conn
            result = conn.execute(
                _rm.update()
                .where(_rm.c.name == name)
                .values(description=description, last_updated_timestamp=now)
            )
            if result.rowcount == 0:
                raise _model_missing(name)
            self._record(tx, change, now=now)
            return self._model(conn, name)

    def delete_registered_model(self, name: ModelName, *, change: Change) -> None:
        with self._change_tx() as tx:
            # ON DELETE CASCADE takes versions, tags, aliases, policy and approvals.
            result = tx.conn.execute(_rm.delete().where(_rm.c.name == name))
            if result.rowcount == 0:
                raise _model_missing(name)
            self._record(tx, change)

    def search_registered_models(
        self,
        *,
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[RegisteredModel]:
        offset = offset_from_token(page_token)
        query = select(*_MODEL_COLUMNS)
        for clause in filter_clauses:
            query = query.where(rs.registered_model_condition(clause, sqlite=self._sqlite))
        query = (
            query.order_by(*rs.registered_model_ordering(order_by, sqlite=self._sqlite))
            .limit(max_results + 1)
            .offset(offset)
        )
        with self._read() as conn:
            rows = fetch_rows(conn, query)
            more = len(rows) > max_results
            items = self._models(conn, rows[:max_results])
        token = encode_token({"offset": offset + max_results}) if more else None
        return Page(items=tuple(items), next_page_token=token)

    def set_registered_model_tag(
        self, name: ModelName, key: str, value: str, *, now: int, change: Change
    ) -> None:
        with self._change_tx() as tx:
            conn = tx.conn
            self._touch_model(conn, name, now)
            conn.execute(
                self._upsert(_rmt, ("name", "key"), ("value",)),
                {"name": name, "key": key, "value": value},
            )
            self._record(tx, change, now=now)

    def delete_registered_model_tag(
        self, name: ModelName, key: str, *, now: int, change: Change
    ) -> None:
        """Deleting a tag the model does not have changes nothing and succeeds (as MLflow)."""
        with self._change_tx() as tx:
            conn = tx.conn
            self._touch_model(conn, name, now)
            conn.execute(_rmt.delete().where(_rmt.c.name == name, _rmt.c.key == key))
            self._record(tx, change, now=now)

    # -- versions ------------------------------------------------------------

    def create_model_version(
        self,
        *,
        name: ModelName,
        source: str,
        run_id: str | None,
        run_link: str | None,
        model_id: str | None,
        description: str,
        tags: dict[str, str],
        user_id: str,
        now: int,
        change: Change,
    ) -> ModelVersion:
        with self._change_tx() as tx:
            conn = tx.conn
            number = conn.execute(_NEXT_VERSION, {"model": name, "now": now}).scalar()
            if number is None:
                raise _model_missing(name)
            version = int(number)
            conn.execute(
                _INSERT_VERSION,
                {
                    "name": name,
                    "version": version,
                    "creation_timestamp": now,
                    "last_updated_timestamp": now,
                    "user_id": user_id,
                    "description": description,
                    "source": source,
                    "run_id": run_id,
                    "run_link": run_link,
                    "model_id": model_id,
                    "current_stage": Stage.NONE.value,
                    "status": VersionStatus.READY.value,
                    "status_message": None,
                },
            )
            if tags:
                conn.execute(
                    _INSERT_VERSION_TAGS,
                    [
                        {"name": name, "version": version, "key": k, "value": v}
                        for k, v in tags.items()
                    ],
                )
            self._record(tx, with_version(change, version), now=now)
        return ModelVersion(
            name=name,
            version=version,
            creation_timestamp=now,
            last_updated_timestamp=now,
            source=source,
            user_id=user_id,
            description=description,
            run_id=run_id,
            run_link=run_link,
            model_id=model_id,
            tags=dict(tags),
        )

    def get_model_version(self, name: ModelName, version: int) -> ModelVersion:
        with self._read() as conn:
            return self._version(conn, name, version)

    def update_model_version(
        self, name: ModelName, version: int, *, description: str, now: int, change: Change
    ) -> ModelVersion:
        with self._change_tx() as tx:
            conn = tx.conn
            result = conn.execute(
                _mv.update()
                .where(_mv.c.name == name, _mv.c.version == version)
                .values(description=description, last_updated_timestamp=now)
            )
            if result.rowcount == 0:
                raise self._missing_version(conn, name, version)
            self._record(tx, change, now=now)
            return self._version(conn, name, version)

    def transition_stage(
        self,
        name: ModelName,
        version: int,
        *,
        stage: Stage,
        archive_existing: bool,
        now: int,
        change: Change,
    ) -> ModelVersion:
        """Move ``version`` to ``stage``; with ``archive_existing`` (Staging and Production
        only, as MLflow) the other versions in ``stage`` move to Archived, and the
        audit entry lists them under ``archived_versions``."""
        target = Stage(stage)
        if archive_existing and target not in _ACTIVE_STAGES:
            raise InvalidArgument(
                f"Cannot archive existing versions when moving to stage {target.value!r}: "
                "only a move to Staging or Production archives the versions already there"
            )
        with self._change_tx() as tx:
            conn = tx.conn
            result = conn.execute(
                _mv.update()
                .where(_mv.c.name == name, _mv.c.version == version)
                .values(current_stage=target.value, last_updated_timestamp=now)
            )
            if result.rowcount == 0:
                raise self._missing_version(conn, name, version)
            if archive_existing:
                others = _mv.c.name == name, _mv.c.current_stage == target.value
                archived = sorted(
                    int(v)
                    for (v,) in conn.execute(
                        select(_mv.c.version).where(*others, _mv.c.version != version)
                    )
                )
                if archived:
                    conn.execute(
                        _mv.update()
                        .where(*others, _mv.c.version.in_(archived))
                        .values(current_stage=Stage.ARCHIVED.value, last_updated_timestamp=now)
                    )
                details = {**change.audit.details, "archived_versions": archived}
                change = replace(change, audit=replace(change.audit, details=details))
            self._record(tx, change, now=now)
            return self._version(conn, name, version)

    def delete_model_version(self, name: ModelName, version: int, *, change: Change) -> None:
        """Delete one version; its tags and the aliases naming it go too (the audit
        entry lists those aliases under ``dropped_aliases``)."""
        now = now_ms()
        with self._change_tx() as tx:
            conn = tx.conn
            dropped = sorted(
                alias
                for (alias,) in conn.execute(
                    select(_al.c.alias).where(_al.c.name == name, _al.c.version == version)
                )
            )
            result = conn.execute(_mv.delete().where(_mv.c.name == name, _mv.c.version == version))
            if result.rowcount == 0:
                raise self._missing_version(conn, name, version)
            conn.execute(_TOUCH_MODEL, {"model": name, "now": now})
            if dropped:
                details = {**change.audit.details, "dropped_aliases": dropped}
                change = replace(change, audit=replace(change.audit, details=details))
            self._record(tx, change, now=now)

    def search_model_versions(
        self,
        *,
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[ModelVersion]:
        offset = offset_from_token(page_token)
        query = select(*_VERSION_COLUMNS)
        for clause in filter_clauses:
            query = query.where(rs.model_version_condition(clause, sqlite=self._sqlite))
        query = (
            query.order_by(*rs.model_version_ordering(order_by, sqlite=self._sqlite))
            .limit(max_results + 1)
            .offset(offset)
        )
        with self._read() as conn:
            rows = fetch_rows(conn, query)
            more = len(rows) > max_results
            items = self._versions(conn, rows[:max_results])
        token = encode_token({"offset": offset + max_results}) if more else None
        return Page(items=tuple(items), next_page_token=token)

    def set_model_version_tag(
        self, name: ModelName, version: int, key: str, value: str, *, now: int, change: Change
    ) -> None:
        with self._change_tx() as tx:
            conn = tx.conn
            self._touch_version(conn, name, version, now)
            conn.execute(
                self._upsert(_mvt, ("name", "version", "key"), ("value",)),
                {"name": name, "version": version, "key": key, "value": value},
            )
            self._record(tx, change, now=now)

    def delete_model_version_tag(
        self, name: ModelName, version: int, key: str, *, now: int, change: Change
    ) -> None:
        """Deleting a tag the version does not have changes nothing and succeeds (as MLflow)."""
        with self._change_tx() as tx:
            conn = tx.conn
            self._touch_version(conn, name, version, now)
            conn.execute(
                _mvt.delete().where(
                    _mvt.c.name == name, _mvt.c.version == version, _mvt.c.key == key
                )
            )
            self._record(tx, change, now=now)

    # -- aliases -------------------------------------------------------------

    def set_alias(
        self, name: ModelName, alias: str, version: int, *, actor: str, now: int, change: Change
    ) -> None:
        with self._change_tx() as tx:
            conn = tx.conn
            if conn.execute(_VERSION_EXISTS, {"model": name, "number": version}).first() is None:
                raise self._missing_version(conn, name, version)
            conn.execute(
                self._upsert(_al, ("name", "alias"), ("version", "updated_at", "updated_by")),
                {
                    "name": name,
                    "alias": alias,
                    "version": version,
                    "updated_at": now,
                    "updated_by": actor,
                },
            )
            self._record(tx, change, now=now)

    def delete_alias(self, name: ModelName, alias: str, *, change: Change) -> None:
        with self._change_tx() as tx:
            conn = tx.conn
            result = conn.execute(_al.delete().where(_al.c.name == name, _al.c.alias == alias))
            if result.rowcount == 0:
                self._require_model(conn, name)
                raise NotFound(f"Alias {alias!r} of registered model {name!r} not found")
            self._record(tx, change)

    def get_version_by_alias(self, name: ModelName, alias: str) -> ModelVersion:
        with self._read() as conn:
            rows = fetch_rows(conn, _ALIAS_TARGET, {"model": name, "alias": alias})
            if not rows:
                self._require_model(conn, name)
                raise NotFound(f"Alias {alias!r} of registered model {name!r} not found")
            return self._versions(conn, rows)[0]

    def list_aliases(self, name: ModelName) -> list[AliasInfo]:
        """Aliases in name order; NotFound if the model is missing."""
        with self._read() as conn:
            self._require_model(conn, name)
            rows = conn.execute(
                select(_al.c.alias, _al.c.version, _al.c.updated_at, _al.c.updated_by)
                .where(_al.c.name == name)
                .order_by(_al.c.alias)
            ).all()
        return [
            AliasInfo(
                alias=r.alias,
                version=int(r.version),
                updated_at=r.updated_at,
                updated_by=r.updated_by,
            )
            for r in rows
        ]

    # -- helpers -------------------------------------------------------------

    def _require_model(self, conn: Connection, name: str) -> None:
        if conn.execute(_MODEL_EXISTS, {"model": name}).first() is None:
            raise _model_missing(name)

    def _missing_version(self, conn: Connection, name: str, version: int) -> NotFound:
        """The NotFound for a missing version: naming the model when that is what is missing."""
        if conn.execute(_MODEL_EXISTS, {"model": name}).first() is None:
            return _model_missing(name)
        return _version_missing(name, version)

    def _touch_model(self, conn: Connection, name: str, now: int) -> None:
        if conn.execute(_TOUCH_MODEL, {"model": name, "now": now}).rowcount == 0:
            raise _model_missing(name)

    def _touch_version(self, conn: Connection, name: str, version: int, now: int) -> None:
        if conn.execute(_TOUCH_VERSION, {"model": name, "number": version, "now": now}).rowcount:
            return
        raise self._missing_version(conn, name, version)

    def _model(self, conn: Connection, name: str) -> RegisteredModel:
        rows = fetch_rows(conn, _SELECT_MODEL, {"model": name})
        if not rows:
            raise _model_missing(name)
        return self._models(conn, rows)[0]

    def _version(self, conn: Connection, name: str, version: int) -> ModelVersion:
        rows = fetch_rows(conn, _SELECT_VERSION, {"model": name, "number": version})
        if not rows:
            raise self._missing_version(conn, name, version)
        return self._versions(conn, rows)[0]

    def _models(self, conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
        """Registered models (rows in ``_MODEL_COLUMNS`` order) with tags, aliases and
        latest versions: five queries whatever the number of models."""
        if not rows:
            return []
        names = [r[0] for r in rows]
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        aliases: dict[str, dict[str, int]] = defaultdict(dict)
        by_version: dict[VersionKey, list[str]] = defaultdict(list)
        latest: dict[str, list[ModelVersion]] = defaultdict(list)
        for chunk in chunks(names):
            for owner, key, value in fetch_rows(
                conn, select(_rmt.c.name, _rmt.c.key, _rmt.c.value).where(_rmt.c.name.in_(chunk))
            ):
                tags[owner][key] = value
            for owner, alias, number in fetch_rows(
                conn,
                select(_al.c.name, _al.c.alias, _al.c.version)
                .where(_al.c.name.in_(chunk))
                .order_by(_al.c.name, _al.c.alias),
            ):
                aliases[owner][alias] = int(number)
                by_version[(owner, int(number))].append(alias)
            newest = (
                select(_mv.c.name, func.max(_mv.c.version).label("version"))
                .where(_mv.c.name.in_(chunk))
                .group_by(_mv.c.name, _mv.c.current_stage)
                .subquery()
            )
            version_rows = fetch_rows(
                conn,
                select(*_VERSION_COLUMNS).join_from(
                    _mv,
                    newest,
                    (_mv.c.name == newest.c.name) & (_mv.c.version == newest.c.version),
                ),
            )
            for mv in self._versions(conn, version_rows, aliases=by_version):
                latest[mv.name].append(mv)
        order = {stage: n for n, stage in enumerate(Stage)}
        return [
            RegisteredModel(
                name=ModelName(name),
                creation_timestamp=created,
                last_updated_timestamp=updated,
                user_id=user_id,
                description=description,
                tags=tags.get(name, {}),
                aliases=aliases.get(name, {}),
                latest_versions=tuple(
                    sorted(latest.get(name, ()), key=lambda mv: order[mv.current_stage])
                ),
            )
            for name, created, updated, user_id, description in rows
        ]

    def _versions(
        self,
        conn: Connection,
        rows: Sequence[Any],
        *,
        aliases: dict[VersionKey, list[str]] | None = None,
    ) -> list[ModelVersion]:
        """Versions (rows in ``_VERSION_COLUMNS`` order) with their tags and aliases,
        fetched in bulk; ``aliases`` when the caller already has them."""
        if not rows:
            return []
        keys = [(r[0], int(r[1])) for r in rows]
        tags = _version_tags(conn, keys, sqlite=self._sqlite)
        if aliases is None:
            aliases = _version_aliases(conn, keys, sqlite=self._sqlite)
        stages, statuses = _STAGES, _STATUSES
        out = []
        for row, key in zip(rows, keys, strict=True):
            (name, _, created, updated, user_id, description, source, run_id, run_link,
             model_id, stage, status, message) = row  # fmt: skip
            out.append(
                ModelVersion(
                    name=name,
                    version=key[1],
                    creation_timestamp=created,
                    last_updated_timestamp=updated,
                    source=source,
                    user_id=user_id,
                    description=description,
                    run_id=run_id,
                    run_link=run_link,
                    model_id=model_id,
                    current_stage=stages[stage],
                    status=statuses[status],
                    status_message=message,
                    tags=tags.get(key, {}),
                    aliases=tuple(aliases.get(key, ())),
                )
            )
        return out


def _by_version_statement(table: Table, columns: Sequence[Any]) -> Select[Any]:
    """PostgreSQL: ``columns`` of the ``table`` rows of the versions given as two
    arrays, ``names`` and ``numbers`` (two parameters whatever the count)."""
    pairs = (
        func.unnest(
            bindparam("names", type_=postgresql.ARRAY(String())),
            bindparam("numbers", type_=postgresql.ARRAY(BigInteger())),
        )
        .table_valued("name", "version")
        .render_derived()
    )
    return select(*columns).join_from(
        table, pairs, (table.c.name == pairs.c.name) & (table.c.version == pairs.c.version)
    )


_TAG_COLUMNS = (_mvt.c.name, _mvt.c.version, _mvt.c.key, _mvt.c.value)
_ALIAS_COLUMNS = (_al.c.name, _al.c.version, _al.c.alias)
_PG_TAGS = _by_version_statement(_mvt, _TAG_COLUMNS)
_PG_ALIASES = _by_version_statement(_al, _ALIAS_COLUMNS)


def _sqlite_by_version(table: Table, columns: Sequence[str]) -> str:
    cols = ", ".join(f"t.{c}" for c in columns)
    return (
        f"SELECT {cols} FROM {table.name} AS t "
        "JOIN json_each(?) AS p "
        "ON t.name = json_extract(p.value, '$[0]') AND t.version = json_extract(p.value, '$[1]')"
    )


_SQLITE_BY_VERSION = {
    _mvt.name: _sqlite_by_version(_mvt, ("name", "version", "key", "value")),
    _al.name: _sqlite_by_version(_al, ("name", "version", "alias")),
}


def _rows_of_versions(
    conn: Connection,
    table: Table,
    columns: Sequence[Any],
    pg_statement: Select[Any],
    keys: Sequence[VersionKey],
    *,
    sqlite: bool,
) -> list[Any]:
    """Rows of a (name, version)-keyed side table for the versions ``keys``."""
    unique = list(dict.fromkeys(keys))
    if not sqlite:
        names = [name for name, _ in unique]
        numbers = [number for _, number in unique]
        return list(fetch_rows(conn, pg_statement, {"names": names, "numbers": numbers}))
    # One fixed statement with the pairs as a single JSON parameter: no statement
    # built per call and no two bound parameters per version (SQLite's json_each
    # plays the part of PostgreSQL's unnest above).
    pairs = json.dumps([[name, number] for name, number in unique])
    sql = _SQLITE_BY_VERSION[table.name]
    return list(conn.exec_driver_sql(sql, (pairs,)).all())


def _version_tags(
    conn: Connection, keys: Sequence[VersionKey], *, sqlite: bool
) -> dict[VersionKey, dict[str, str]]:
    tags: dict[VersionKey, dict[str, str]] = defaultdict(dict)
    rows = _rows_of_versions(conn, _mvt, _TAG_COLUMNS, _PG_TAGS, keys, sqlite=sqlite)
    for name, version, key, value in rows:
        tags[(name, int(version))][key] = value
    return tags


def _version_aliases(
    conn: Connection, keys: Sequence[VersionKey], *, sqlite: bool
) -> dict[VersionKey, list[str]]:
    aliases: dict[VersionKey, list[str]] = defaultdict(list)
    rows = _rows_of_versions(conn, _al, _ALIAS_COLUMNS, _PG_ALIASES, keys, sqlite=sqlite)
    for name, version, alias in rows:
        aliases[(name, int(version))].append(alias)
    for names in aliases.values():
        names.sort()
    return aliases


__all__ = ["SqlRegistryStore"]
