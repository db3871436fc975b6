"""Experiments over SQL: :class:`moorline.tracking.ports.ExperimentStore`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError

from moorline.core.paging import Page, encode_token, offset_from_token
from moorline.errors import AlreadyExists, InvalidArgument, NotFound
from moorline.store.sql import search
from moorline.store.sql import tables as t
from moorline.store.sql._base import SqlStoreBase, chunks, parse_experiment_id, view_condition
from moorline.tracking.models import (
    Experiment,
    ExperimentId,
    LifecycleStage,
    Tag,
    ViewType,
)
from moorline.tracking.ports import ExperimentStore
from moorline.tracking.search import Clause, OrderKey

_exp = t.experiments
_EXPERIMENT_COLUMNS = (
    _exp.c.experiment_id,
    _exp.c.name,
    _exp.c.artifact_location,
    _exp.c.lifecycle_stage,
    _exp.c.creation_time,
    _exp.c.last_update_time,
)
_SELECT_BY_ID = select(*_EXPERIMENT_COLUMNS).where(_exp.c.experiment_id == bindparam("eid"))
_SELECT_BY_NAME = select(*_EXPERIMENT_COLUMNS).where(_exp.c.name == bindparam("name"))
_SELECT_STAGE = select(_exp.c.lifecycle_stage, _exp.c.deleted_time).where(
    _exp.c.experiment_id == bindparam("eid")
)


class SqlExperimentStore(SqlStoreBase, ExperimentStore):
    def create_experiment(
        self, *, name: str, artifact_location: str | None, tags: Sequence[Tag], now: int
    ) -> ExperimentId:
        with self._write() as conn:
            existing = conn.execute(_SELECT_BY_NAME, {"name": name}).first()
            if existing is not None:
                raise _name_taken(name, existing.lifecycle_stage)
            try:
                result = conn.execute(
                    _exp.insert().values(
                        name=name,
                        artifact_location=artifact_location or "",
                        lifecycle_stage=LifecycleStage.ACTIVE.value,
                        creation_time=now,
                        last_update_time=now,
                    )
                )
            except IntegrityError:
                # A concurrent request took the name between our check and the insert.
                raise AlreadyExists(f"Experiment {name!r} already exists") from None
            eid = int(result.inserted_primary_key[0])  # type: ignore[index]
            if artifact_location is None:
                conn.execute(
                    _exp.update()
                    .where(_exp.c.experiment_id == eid)
                    .values(artifact_location=f"mlflow-artifacts:/{eid}")
                )
            if tags:
                rows = {tag.key: tag.value for tag in tags}
                conn.execute(
                    t.experiment_tags.insert(),
                    [{"experiment_id": eid, "key": k, "value": v} for k, v in rows.items()],
                )
        return ExperimentId(str(eid))

    def get_experiment(self, experiment_id: ExperimentId) -> Experiment:
        eid = parse_experiment_id(experiment_id)
        with self._read() as conn:
            row = None if eid is None else conn.execute(_SELECT_BY_ID, {"eid": eid}).first()
            if row is None:
                raise NotFound(f"No experiment with id {experiment_id!r}")
            return _load(conn, [row])[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            row = conn.execute(_SELECT_BY_NAME, {"name": name}).first()
            return None if row is None else _load(conn, [row])[0]

    def search_experiments(
        self,
        *,
        view_type: ViewType,
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[Experiment]:
        offset = offset_from_token(page_token)
        query = select(*_EXPERIMENT_COLUMNS)
        view = view_condition(_exp.c.lifecycle_stage, view_type)
        if view is not None:
            query = query.where(view)
        for clause in filter_clauses:
            query = query.where(search.experiment_condition(clause, sqlite=self._sqlite))
        query = (
            query.order_by(*search.experiment_ordering(order_by, sqlite=self._sqlite))
            .limit(max_results + 1)
            .offset(offset)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            more = len(rows) > max_results
            items = _load(conn, rows[:max_results])
        token = encode_token({"offset": offset + max_results}) if more else None
        return Page(items=tuple(items), next_page_token=token)

    def rename_experiment(self, experiment_id: ExperimentId, new_name: str, *, now: int) -> None:
        with self._write() as conn:
            eid = self._require_experiment(conn, experiment_id, active=True)
            other = conn.execute(_SELECT_BY_NAME, {"name": new_name}).first()
            if other is not None and other.experiment_id != eid:
                raise _name_taken(new_name, other.lifecycle_stage)
            try:
                conn.execute(
                    _exp.update()
                    .where(_exp.c.experiment_id == eid)
                    .values(name=new_name, last_update_time=now)
                )
            except IntegrityError:
                raise AlreadyExists(f"Experiment {new_name!r} already exists") from None

    def set_experiment_lifecycle(
        self, experiment_id: ExperimentId, stage: LifecycleStage, *, now: int
    ) -> None:
        stage = LifecycleStage(stage)
        with self._write() as conn:
            eid = self._require_experiment(conn, experiment_id)
            current = conn.execute(_SELECT_STAGE, {"eid": eid}).one()
            if current.lifecycle_stage == stage.value:
                return
            runs = t.runs
            if stage == LifecycleStage.DELETED:
                conn.execute(
                    _exp.update()
                    .where(_exp.c.experiment_id == eid)
                    .values(lifecycle_stage=stage.value, deleted_time=now, last_update_time=now)
                )
                # The runs go with their experiment; deleted_time marks which ones.
                conn.execute(
                    runs.update()
                    .where(
                        runs.c.experiment_id == eid,
                        runs.c.lifecycle_stage == LifecycleStage.ACTIVE.value,
                    )
                    .values(lifecycle_stage=LifecycleStage.DELETED.value, deleted_time=now)
                )
            else:
                conn.execute(
                    _exp.update()
                    .where(_exp.c.experiment_id == eid)
                    .values(lifecycle_stage=stage.value, deleted_time=None, last_update_time=now)
                )
                if current.deleted_time is not None:
                    conn.execute(
                        runs.update()
                        .where(
                            runs.c.experiment_id == eid,
                            runs.c.lifecycle_stage == LifecycleStage.DELETED.value,
                            runs.c.deleted_time == current.deleted_time,
                        )
                        .values(lifecycle_stage=LifecycleStage.ACTIVE.value, deleted_time=None)
                    )

    def set_experiment_tag(self, experiment_id: ExperimentId, tag: Tag) -> None:
        with self._write() as conn:
            eid = self._require_experiment(conn, experiment_id, active=True)
            conn.execute(
                self._upsert(t.experiment_tags, ("experiment_id", "key"), ("value",)),
                {"experiment_id": eid, "key": tag.key, "value": tag.value},
            )

    def delete_experiment_tag(self, experiment_id: ExperimentId, key: str) -> None:
        et = t.experiment_tags
        with self._write() as conn:
            eid = self._require_experiment(conn, experiment_id, active=True)
            result = conn.execute(et.delete().where(et.c.experiment_id == eid, et.c.key == key))
            if result.rowcount == 0:
                raise NotFound(f"No tag {key!r} on experiment {experiment_id}")

    def _require_experiment(
        self, conn: Connection, experiment_id: ExperimentId, *, active: bool = False
    ) -> int:
        """The stored id of an existing experiment (NotFound otherwise)."""
        eid = parse_experiment_id(experiment_id)
        row = None if eid is None else conn.execute(_SELECT_STAGE, {"eid": eid}).first()
        if eid is None or row is None:
            raise NotFound(f"No experiment with id {experiment_id!r}")
        if active and row.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidArgument(
                f"Experiment {experiment_id} is deleted; restore it before changing it"
            )
        return eid


def _name_taken(name: str, stage: str) -> AlreadyExists:
    if stage == LifecycleStage.DELETED.value:
        return AlreadyExists(
            f"Experiment {name!r} already exists in deleted state; restore it or "
            "choose another name"
        )
    return AlreadyExists(f"Experiment {name!r} already exists")


def _load(conn: Connection, rows: Sequence[Any]) -> list[Experiment]:
    """Experiments with their tags (one query for the tags of all of them)."""
    if not rows:
        return []
    et = t.experiment_tags
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    ids = [r.experiment_id for r in rows]
    for chunk in chunks(ids):
        for eid, key, value in conn.execute(
            select(et.c.experiment_id, et.c.key, et.c.value).where(et.c.experiment_id.in_(chunk))
        ):
            tags[eid][key] = value
    return [
        Experiment(
            experiment_id=ExperimentId(str(r.experiment_id)),
            name=r.name,
            artifact_location=r.artifact_location,
            lifecycle_stage=LifecycleStage(r.lifecycle_stage),
            creation_time=r.creation_time,
            last_update_time=r.last_update_time,
            tags=tags.get(r.experiment_id, {}),
        )
        for r in rows
    ]
