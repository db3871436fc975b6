"""Logged models over SQL: :class:`moorline.tracking.ports.LoggedModelStore`.

A model's ``metrics`` are not stored twice: they are the latest points of the
run metrics logged with its ``model_id`` (see :func:`search.latest_model_metrics`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select

from moorline.core.ids import new_hex_id
from moorline.core.paging import Page, encode_token, offset_from_token
from moorline.errors import InvalidArgument, NotFound
from moorline.store.sql import search
from moorline.store.sql import tables as t
from moorline.store.sql._base import SqlStoreBase, chunks, parse_experiment_id
from moorline.tracking.models import (
    ExperimentId,
    LifecycleStage,
    LoggedModel,
    LoggedModelId,
    LoggedModelStatus,
    Metric,
    Param,
    RunId,
    Tag,
)
from moorline.tracking.ports import LoggedModelStore
from moorline.tracking.search import Clause, OrderKey

_lm = t.logged_models
_MODEL_COLUMNS = tuple(_lm.c)
_SELECT_MODEL = select(*_MODEL_COLUMNS).where(_lm.c.model_id == bindparam("mid"))
_SELECT_STAGE = select(_lm.c.lifecycle_stage).where(_lm.c.model_id == bindparam("mid"))


class SqlLoggedModelStore(SqlStoreBase, LoggedModelStore):
    def create_logged_model(
        self,
        *,
        experiment_id: ExperimentId,
        name: str,
        model_type: str | None,
        source_run_id: RunId | None,
        params: Sequence[Param],
        tags: Sequence[Tag],
        creator_id: str | None,
        now: int,
    ) -> LoggedModel:
        exp = t.experiments
        eid = parse_experiment_id(experiment_id)
        model_id = LoggedModelId(f"m-{new_hex_id()}")
        param_values = _unique_params(params)
        tag_values = {tag.key: tag.value for tag in tags}
        with self._write() as conn:
            row = (
                None
                if eid is None
                else conn.execute(
                    select(exp.c.artifact_location, exp.c.lifecycle_stage).where(
                        exp.c.experiment_id == eid
                    )
                ).first()
            )
            if eid is None or row is None:
                raise NotFound(f"No experiment with id {experiment_id!r}")
            if row.lifecycle_stage != LifecycleStage.ACTIVE.value:
                raise InvalidArgument(f"Experiment {experiment_id} is deleted; restore it first")
            artifact_uri = f"{row.artifact_location.rstrip('/')}/models/{model_id}/artifacts"
            conn.execute(
                _lm.insert().values(
                    model_id=model_id,
                    experiment_id=eid,
                    name=name,
                    artifact_uri=artifact_uri,
                    status=LoggedModelStatus.PENDING.value,
                    status_message=None,
                    creation_timestamp_ms=now,
                    last_updated_timestamp_ms=now,
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                    model_type=model_type,
                    source_run_id=source_run_id,
                    creator_id=creator_id,
                )
            )
            if param_values:
                conn.execute(
                    t.logged_model_params.insert(),
                    [{"model_id": model_id, "key": k, "value": v} for k, v in param_values.items()],
                )
            if tag_values:
                conn.execute(
                    t.logged_model_tags.insert(),
                    [{"model_id": model_id, "key": k, "value": v} for k, v in tag_values.items()],
                )
        return LoggedModel(
            model_id=model_id,
            experiment_id=ExperimentId(str(eid)),
            name=name,
            artifact_uri=artifact_uri,
            status=LoggedModelStatus.PENDING,
            creation_timestamp_ms=now,
            last_updated_timestamp_ms=now,
            model_type=model_type,
            source_run_id=source_run_id,
            creator_id=creator_id,
            tags=tag_values,
            params=param_values,
        )

    def get_logged_model(
        self, model_id: LoggedModelId, *, allow_deleted: bool = False
    ) -> LoggedModel:
        with self._read() as conn:
            row = conn.execute(_SELECT_MODEL, {"mid": model_id}).first()
            if row is None or (
                row.lifecycle_stage != LifecycleStage.ACTIVE.value and not allow_deleted
            ):
                raise NotFound(f"Logged model {model_id!r} not found")
            return _load(conn, [row])[0]

    def update_logged_model(
        self,
        model_id: LoggedModelId,
        *,
        status: LoggedModelStatus,
        status_message: str | None,
        now: int,
    ) -> LoggedModel:
        with self._write() as conn:
            self._require_model(conn, model_id)
            conn.execute(
                _lm.update()
                .where(_lm.c.model_id == model_id)
                .values(
                    status=LoggedModelStatus(status).value,
                    status_message=status_message,
                    last_updated_timestamp_ms=now,
                )
            )
            row = conn.execute(_SELECT_MODEL, {"mid": model_id}).one()
            return _load(conn, [row])[0]

    def log_logged_model_params(self, model_id: LoggedModelId, params: Sequence[Param]) -> None:
        values = _unique_params(params)
        if not values:
            with self._read() as conn:
                self._require_model(conn, model_id)
            return
        mp = t.logged_model_params
        with self._write() as conn:
            self._require_model(conn, model_id)
            existing = dict(
                conn.execute(
                    select(mp.c.key, mp.c.value).where(
                        mp.c.model_id == model_id, mp.c.key.in_(list(values))
                    )
                ).all()
            )
            for key, value in values.items():
                old = existing.get(key)
                if old is not None and old != value:
                    raise InvalidArgument(
                        f"Param {key!r} of logged model {model_id} was already logged with value "
                        f"{old!r}; params are immutable, so the new value {value!r} is refused"
                    )
            new_rows = [
                {"model_id": model_id, "key": k, "value": v}
                for k, v in values.items()
                if k not in existing
            ]
            if new_rows:
                conn.execute(mp.insert(), new_rows)

    def set_logged_model_tags(
        self, model_id: LoggedModelId, tags: Sequence[Tag], *, now: int
    ) -> None:
        with self._write() as conn:
            self._require_model(conn, model_id)
            if not tags:
                return
            values = {tag.key: tag.value for tag in tags}
            conn.execute(
                self._upsert(t.logged_model_tags, ("model_id", "key"), ("value",)),
                [{"model_id": model_id, "key": k, "value": v} for k, v in values.items()],
            )
            conn.execute(
                _lm.update().where(_lm.c.model_id == model_id).values(last_updated_timestamp_ms=now)
            )

    def delete_logged_model_tag(self, model_id: LoggedModelId, key: str) -> None:
        mt = t.logged_model_tags
        with self._write() as conn:
            self._require_model(conn, model_id)
            result = conn.execute(mt.delete().where(mt.c.model_id == model_id, mt.c.key == key))
            if result.rowcount == 0:
                raise NotFound(f"No tag {key!r} on logged model {model_id}")

    def delete_logged_model(self, model_id: LoggedModelId, *, now: int) -> None:
        with self._write() as conn:
            self._require_model(conn, model_id)
            conn.execute(
                _lm.update()
                .where(_lm.c.model_id == model_id)
                .values(lifecycle_stage=LifecycleStage.DELETED.value, last_updated_timestamp_ms=now)
            )

    def search_logged_models(
        self,
        *,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[LoggedModel]:
        offset = offset_from_token(page_token)
        ids = search.experiment_int_ids(experiment_ids)
        ordering = search.logged_model_ordering(order_by, sqlite=self._sqlite)
        conditions = [search.logged_model_condition(c, sqlite=self._sqlite) for c in filter_clauses]
        if not ids:
            return Page(items=())
        query = (
            select(*_MODEL_COLUMNS)
            .select_from(ordering.from_clause)
            .where(
                _lm.c.experiment_id.in_(ids),
                _lm.c.lifecycle_stage == LifecycleStage.ACTIVE.value,
                *conditions,
            )
            .order_by(*ordering.terms)
            .limit(max_results + 1)
            .offset(offset)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            more = len(rows) > max_results
            items = _load(conn, rows[:max_results])
        token = encode_token({"offset": offset + max_results}) if more else None
        return Page(items=tuple(items), next_page_token=token)

    def _require_model(self, conn: Connection, model_id: LoggedModelId) -> None:
        row = conn.execute(_SELECT_STAGE, {"mid": model_id}).first()
        if row is None or row.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise NotFound(f"Logged model {model_id!r} not found")


def _unique_params(params: Sequence[Param]) -> dict[str, str]:
    values: dict[str, str] = {}
    for p in params:
        seen = values.setdefault(p.key, p.value)
        if seen != p.value:
            raise InvalidArgument(
                f"Param {p.key!r} appears twice with different values ({seen!r} and {p.value!r})"
            )
    return values


def _load(conn: Connection, rows: Sequence[Any]) -> list[LoggedModel]:
    """Models with params, tags and latest metrics: three queries per chunk."""
    if not rows:
        return []
    params: dict[str, dict[str, str]] = defaultdict(dict)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    metrics: dict[str, list[Metric]] = defaultdict(list)
    mp, mt = t.logged_model_params, t.logged_model_tags
    for chunk in chunks([r.model_id for r in rows]):
        for mid, key, value in conn.execute(
            select(mp.c.model_id, mp.c.key, mp.c.value).where(mp.c.model_id.in_(chunk))
        ):
            params[mid][key] = value
        for mid, key, value in conn.execute(
            select(mt.c.model_id, mt.c.key, mt.c.value).where(mt.c.model_id.in_(chunk))
        ):
            tags[mid][key] = value
        for mid, key, value, ts, step, dname, ddigest, run_id in conn.execute(
            search.latest_model_metrics(model_ids=chunk)
        ):
            metrics[mid].append(
                Metric(
                    key=key,
                    value=float("nan") if value is None else value,
                    timestamp=ts,
                    step=step,
                    dataset_name=dname,
                    dataset_digest=ddigest,
                    model_id=LoggedModelId(mid),
                    run_id=RunId(run_id),
                )
            )
    return [
        LoggedModel(
            model_id=LoggedModelId(r.model_id),
            experiment_id=ExperimentId(str(r.experiment_id)),
            name=r.name,
            artifact_uri=r.artifact_uri,
            status=LoggedModelStatus(r.status),
            creation_timestamp_ms=r.creation_timestamp_ms,
            last_updated_timestamp_ms=r.last_updated_timestamp_ms,
            lifecycle_stage=LifecycleStage(r.lifecycle_stage),
            model_type=r.model_type,
            source_run_id=RunId(r.source_run_id) if r.source_run_id else None,
            creator_id=r.creator_id,
            status_message=r.status_message,
            tags=tags.get(r.model_id, {}),
            params=params.get(r.model_id, {}),
            metrics=tuple(sorted(metrics.get(r.model_id, ()), key=lambda m: m.key)),
        )
        for r in rows
    ]
