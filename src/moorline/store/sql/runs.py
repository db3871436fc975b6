"""Runs over SQL: :class:`moorline.tracking.ports.RunStore`.

Written for speed: Core statements built once, ``executemany`` for batches,
and a page of runs loaded with a fixed handful of queries whatever its size
(params, tags, latest metrics, dataset inputs, model inputs/outputs), never
one query per run.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import BindParameter

from moorline.core.clock import now_ms
from moorline.core.ids import new_hex_id
from moorline.core.paging import Page, decode_token, encode_token, offset_from_token
from moorline.errors import InvalidArgument, NotFound
from moorline.store.sql import search
from moorline.store.sql import tables as t
from moorline.store.sql._base import (
    BulkInsert,
    SqlStoreBase,
    chunks,
    fetch_rows,
    parse_experiment_id,
    view_condition,
)
from moorline.store.sql._records import new_metric
from moorline.tracking.models import (
    TAG_RUN_NAME,
    Dataset,
    DatasetInput,
    ExperimentId,
    LifecycleStage,
    LoggedModelId,
    Metric,
    ModelOutput,
    Param,
    Run,
    RunId,
    RunInfo,
    RunStatus,
    Tag,
    ViewType,
)
from moorline.tracking.ports import RunStore
from moorline.tracking.search import Clause, OrderKey

_runs = t.runs
_RUN_COLUMNS = (
    _runs.c.run_uuid,
    _runs.c.experiment_id,
    _runs.c.name,
    _runs.c.user_id,
    _runs.c.status,
    _runs.c.start_time,
    _runs.c.end_time,
    _runs.c.artifact_uri,
    _runs.c.lifecycle_stage,
)
_SELECT_RUN = select(*_RUN_COLUMNS).where(_runs.c.run_uuid == bindparam("rid"))
_SELECT_STAGE = select(_runs.c.lifecycle_stage).where(_runs.c.run_uuid == bindparam("rid"))

_m = t.metrics
_lm = t.latest_metrics
_HISTORY_COLUMNS = (
    _m.c.value,
    _m.c.timestamp,
    _m.c.step,
    _m.c.dataset_name,
    _m.c.dataset_digest,
    _m.c.model_id,
    _m.c.id,
)
_HISTORY = (
    select(*_HISTORY_COLUMNS)
    .where(_m.c.run_uuid == bindparam("rid"), _m.c.key == bindparam("key"))
    .order_by(_m.c.step, _m.c.timestamp, _m.c.id)
)
_HISTORY_PAGE = _HISTORY.limit(bindparam("limit", type_=Integer))
_HISTORY_PAGE_AFTER = _HISTORY.where(
    tuple_(_m.c.step, _m.c.timestamp, _m.c.id)
    > tuple_(bindparam("a_step"), bindparam("a_ts"), bindparam("a_id"))
).limit(bindparam("limit", type_=Integer))

_METRIC_COLUMNS = (
    "run_uuid",
    "key",
    "value",
    "timestamp",
    "step",
    "dataset_name",
    "dataset_digest",
    "model_id",
)
_STATUS = {s.value: s for s in RunStatus}
_STAGE = {s.value: s for s in LifecycleStage}
_NAN = math.nan


def _keep_latest(insert: Any) -> Insert:
    """ON CONFLICT clause of the latest-metric upsert: replace the stored point only
    by a greater one in (step, timestamp, value) order, NaN (NULL) above every number."""
    new = insert.excluded
    newer = or_(
        new.step > _lm.c.step,
        and_(
            new.step == _lm.c.step,
            or_(
                new.timestamp > _lm.c.timestamp,
                and_(
                    new.timestamp == _lm.c.timestamp,
                    _lm.c.value.is_not(None),
                    or_(new.value.is_(None), new.value > _lm.c.value),
                ),
            ),
        ),
    )
    updated = ("value", "timestamp", "step", "dataset_name", "dataset_digest", "model_id")
    result: Insert = insert.on_conflict_do_update(
        index_elements=["run_uuid", "key"], set_={c: new[c] for c in updated}, where=newer
    )
    return result


class SqlRunStore(SqlStoreBase, RunStore):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._select_stage_locked = (
            _SELECT_STAGE if self._sqlite else _SELECT_STAGE.with_for_update()
        )
        self._insert_metrics = BulkInsert(self._engine, _m, _METRIC_COLUMNS)
        self._upsert_latest = BulkInsert(
            self._engine, _lm, _METRIC_COLUMNS, on_conflict=_keep_latest
        )
        self._upsert_tags = self._upsert(t.tags, ("run_uuid", "key"), ("value",))
        self._insert_params = t.params.insert()
        self._select_params = select(t.params.c.key, t.params.c.value).where(
            t.params.c.run_uuid == bindparam("rid"),
            t.params.c.key.in_(bindparam("keys", expanding=True)),
        )

    # -- create / read / update ---------------------------------------------------

    def create_run(
        self,
        *,
        experiment_id: ExperimentId,
        user_id: str,
        run_name: str,
        start_time: int,
        tags: Sequence[Tag],
    ) -> Run:
        exp = t.experiments
        eid = parse_experiment_id(experiment_id)
        run_id = RunId(new_hex_id())
        tag_values = {tag.key: tag.value for tag in tags}
        if run_name:
            tag_values[TAG_RUN_NAME] = run_name
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
                raise InvalidArgument(
                    f"Experiment {experiment_id} is deleted; restore it before creating runs in it"
                )
            artifact_uri = f"{row.artifact_location.rstrip('/')}/{run_id}/artifacts"
            conn.execute(
                _runs.insert().values(
                    run_uuid=run_id,
                    experiment_id=eid,
                    name=run_name,
                    user_id=user_id,
                    status=RunStatus.RUNNING.value,
                    start_time=start_time,
                    end_time=None,
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                    artifact_uri=artifact_uri,
                )
            )
            if tag_values:
                conn.execute(
                    t.tags.insert(),
                    [{"run_uuid": run_id, "key": k, "value": v} for k, v in tag_values.items()],
                )
        info = RunInfo(
            run_id=run_id,
            experiment_id=ExperimentId(str(eid)),
            run_name=run_name,
            user_id=user_id,
            status=RunStatus.RUNNING,
            start_time=start_time,
            end_time=None,
            artifact_uri=artifact_uri,
            lifecycle_stage=LifecycleStage.ACTIVE,
        )
        return Run(info=info, tags=tag_values)

    def get_run(self, run_id: RunId) -> Run:
        with self._read() as conn:
            rows = fetch_rows(conn, _SELECT_RUN, {"rid": run_id})
            if not rows:
                raise NotFound(f"Run {run_id!r} not found")
            return load_runs(conn, rows)[0]

    def get_run_info(self, run_id: RunId) -> RunInfo:
        with self._read() as conn:
            row = conn.execute(_SELECT_RUN, {"rid": run_id}).first()
        if row is None:
            raise NotFound(f"Run {run_id!r} not found")
        return _run_info(tuple(row))

    def update_run_info(
        self,
        run_id: RunId,
        *,
        status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = RunStatus(status).value
        if end_time is not None:
            values["end_time"] = end_time
        if run_name is not None:
            values["name"] = run_name
        with self._write() as conn:
            self._require_active(conn, run_id)
            if values:
                conn.execute(_runs.update().where(_runs.c.run_uuid == run_id).values(**values))
            if run_name is not None:
                conn.execute(
                    self._upsert_tags, {"run_uuid": run_id, "key": TAG_RUN_NAME, "value": run_name}
                )
            row = conn.execute(_SELECT_RUN, {"rid": run_id}).one()
        return _run_info(tuple(row))

    def set_run_lifecycle(self, run_id: RunId, stage: LifecycleStage) -> None:
        stage = LifecycleStage(stage)
        deleted_time = now_ms() if stage == LifecycleStage.DELETED else None
        with self._write() as conn:
            current = conn.execute(self._select_stage_locked, {"rid": run_id}).first()
            if current is None:
                raise NotFound(f"Run {run_id!r} not found")
            if current.lifecycle_stage == stage.value:
                return
            conn.execute(
                _runs.update()
                .where(_runs.c.run_uuid == run_id)
                .values(lifecycle_stage=stage.value, deleted_time=deleted_time)
            )

    # -- logging ---------------------------------------------------------------------

    def log_batch(
        self,
        run_id: RunId,
        *,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[Tag],
    ) -> None:
        param_values: dict[str, str] = {}
        for p in params:
            seen = param_values.setdefault(p.key, p.value)
            if seen != p.value:
                raise InvalidArgument(
                    f"Param {p.key!r} appears twice in one batch with different values "
                    f"({seen!r} and {p.value!r})"
                )
        with self._write() as conn:
            self._require_active(conn, run_id)
            if param_values:
                self._insert_new_params(conn, run_id, param_values)
            if metrics:
                self._log_metrics(conn, run_id, metrics)
            if tags:
                tag_values = {tag.key: tag.value for tag in tags}
                conn.execute(
                    self._upsert_tags,
                    [{"run_uuid": run_id, "key": k, "value": v} for k, v in tag_values.items()],
                )
                if TAG_RUN_NAME in tag_values:
                    conn.execute(
                        _runs.update()
                        .where(_runs.c.run_uuid == run_id)
                        .values(name=tag_values[TAG_RUN_NAME])
                    )

    def _insert_new_params(self, conn: Connection, run_id: RunId, values: dict[str, str]) -> None:
        """Insert params not logged yet; refuse any that was logged with another value."""
        existing = dict(
            conn.execute(self._select_params, {"rid": run_id, "keys": list(values)}).all()
        )
        new_rows = []
        for key, value in values.items():
            old = existing.get(key)
            if old is None:
                new_rows.append({"run_uuid": run_id, "key": key, "value": value})
            elif old != value:
                raise InvalidArgument(
                    f"Param {key!r} of run {run_id} was already logged with value {old!r}; "
                    f"params are immutable, so the new value {value!r} is refused"
                )
        if new_rows:
            conn.execute(self._insert_params, new_rows)

    def _log_metrics(self, conn: Connection, run_id: RunId, metrics: Sequence[Metric]) -> None:
        rows = []
        latest: dict[str, tuple[tuple[int, int, int, float], tuple[Any, ...]]] = {}
        isnan = math.isnan
        for m in metrics:
            value = m.value
            nan = isnan(value)
            row = (
                run_id,
                m.key,
                None if nan else value,
                m.timestamp,
                m.step,
                m.dataset_name,
                m.dataset_digest,
                m.model_id,
            )
            rows.append(row)
            # "Latest" is the greatest (step, timestamp, value), NaN above every number.
            order = (m.step, m.timestamp, 1, 0.0) if nan else (m.step, m.timestamp, 0, value)
            best = latest.get(m.key)
            if best is None or order > best[0]:
                latest[m.key] = (order, row)
        self._insert_metrics.execute(conn, rows)
        self._upsert_latest.execute(conn, [row for _, row in latest.values()])

    def delete_tag(self, run_id: RunId, key: str) -> None:
        with self._write() as conn:
            self._require_active(conn, run_id)
            result = conn.execute(
                t.tags.delete().where(t.tags.c.run_uuid == run_id, t.tags.c.key == key)
            )
            if result.rowcount == 0:
                raise NotFound(f"No tag {key!r} on run {run_id}")

    def log_inputs(
        self,
        run_id: RunId,
        *,
        datasets: Sequence[DatasetInput],
        model_ids: Sequence[LoggedModelId],
    ) -> None:
        with self._write() as conn:
            self._require_active(conn, run_id)
            if datasets:
                self._log_dataset_inputs(conn, run_id, datasets)
            if model_ids:
                conn.execute(
                    self._insert_ignore(t.model_inputs, "run_uuid", "model_id"),
                    [{"run_uuid": run_id, "model_id": m} for m in dict.fromkeys(model_ids)],
                )

    def _log_dataset_inputs(
        self, conn: Connection, run_id: RunId, inputs: Sequence[DatasetInput]
    ) -> None:
        ds, di, dt = t.datasets, t.dataset_inputs, t.dataset_input_tags
        unique: dict[tuple[str, str], DatasetInput] = {}
        for item in inputs:
            unique.setdefault((item.dataset.name, item.dataset.digest), item)
        conn.execute(
            self._insert_ignore(ds, "name", "digest"),
            [
                {
                    "name": d.dataset.name,
                    "digest": d.dataset.digest,
                    "source_type": d.dataset.source_type,
                    "source": d.dataset.source,
                    "schema": d.dataset.schema,
                    "profile": d.dataset.profile,
                }
                for d in unique.values()
            ],
        )
        ids: dict[tuple[str, str], int] = {}
        for chunk in chunks(list(unique)):
            for dataset_id, name, digest in conn.execute(
                select(ds.c.dataset_id, ds.c.name, ds.c.digest).where(
                    tuple_(ds.c.name, ds.c.digest).in_(chunk)
                )
            ):
                ids[(name, digest)] = dataset_id
        linked = set(
            conn.execute(select(di.c.dataset_id).where(di.c.run_uuid == run_id)).scalars().all()
        )
        for pair, item in unique.items():
            dataset_id = ids[pair]
            if dataset_id in linked:
                continue  # an input links once per run; its first tags stay
            input_id = conn.execute(
                di.insert().values(run_uuid=run_id, dataset_id=dataset_id)
            ).inserted_primary_key[0]  # type: ignore[index]
            if item.tags:
                conn.execute(
                    dt.insert(),
                    [{"input_id": input_id, "key": k, "value": v} for k, v in item.tags.items()],
                )

    def log_outputs(self, run_id: RunId, *, models: Sequence[ModelOutput]) -> None:
        with self._write() as conn:
            self._require_active(conn, run_id)
            if models:
                conn.execute(
                    self._insert_ignore(t.model_outputs, "run_uuid", "model_id", "step"),
                    [{"run_uuid": run_id, "model_id": m.model_id, "step": m.step} for m in models],
                )

    def _require_active(self, conn: Connection, run_id: RunId) -> None:
        """NotFound for a missing run, InvalidArgument for a deleted one. On PostgreSQL
        the run's row stays locked until commit, so writes to one run are serialized."""
        row = conn.execute(self._select_stage_locked, {"rid": run_id}).first()
        if row is None:
            raise NotFound(f"Run {run_id!r} not found")
        if row.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidArgument(f"Run {run_id} is deleted; restore it before changing it")

    # -- search ---------------------------------------------------------------------

    def _where(
        self,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        view_type: ViewType,
    ) -> list[ColumnElement[bool]] | None:
        ids = search.experiment_int_ids(experiment_ids)
        if not ids:
            return None
        where: list[ColumnElement[bool]] = [
            _runs.c.experiment_id.in_(ids) if len(ids) > 1 else _runs.c.experiment_id == ids[0]
        ]
        view = view_condition(_runs.c.lifecycle_stage, view_type)
        if view is not None:
            where.append(view)
        where.extend(search.run_condition(c, sqlite=self._sqlite) for c in filter_clauses)
        return where

    def search_runs(
        self,
        *,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        view_type: ViewType,
        max_results: int,
        page_token: str | None,
    ) -> Page[Run]:
        offset = offset_from_token(page_token)
        where = self._where(experiment_ids, filter_clauses, view_type)
        ordering = search.run_ordering(order_by, sqlite=self._sqlite)
        if where is None:
            return Page(items=())
        query = (
            select(*_RUN_COLUMNS)
            .select_from(ordering.from_clause)
            .where(*where)
            .order_by(*ordering.terms)
            .limit(max_results + 1)
            .offset(offset)
        )
        with self._read() as conn:
            rows = fetch_rows(conn, query)
            more = len(rows) > max_results
            items = load_runs(conn, rows[:max_results])
        token = encode_token({"offset": offset + max_results}) if more else None
        return Page(items=tuple(items), next_page_token=token)

    def count_runs(
        self,
        *,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        view_type: ViewType,
    ) -> int:
        where = self._where(experiment_ids, filter_clauses, view_type)
        if where is None:
            return 0
        with self._read() as conn:
            return int(
                conn.execute(select(func.count()).select_from(_runs).where(*where)).scalar_one()
            )

    # -- metric history ---------------------------------------------------------------

    def get_metric_history(
        self, run_id: RunId, key: str, *, max_results: int | None, page_token: str | None
    ) -> Page[Metric]:
        after = _history_cursor(page_token)
        params: dict[str, Any] = {"rid": run_id, "key": key}
        if max_results is None:
            stmt = _HISTORY if after is None else _HISTORY_PAGE_AFTER
            params["limit"] = -1 if self._sqlite else None
        else:
            stmt = _HISTORY_PAGE if after is None else _HISTORY_PAGE_AFTER
            params["limit"] = max_results + 1
        if after is not None:
            params.update(a_step=after[0], a_ts=after[1], a_id=after[2])
        with self._read() as conn:
            rows = fetch_rows(conn, stmt, params)
            if not rows and conn.execute(_SELECT_STAGE, {"rid": run_id}).first() is None:
                raise NotFound(f"Run {run_id!r} not found")
        token = None
        if max_results is not None and len(rows) > max_results:
            rows = rows[:max_results]
            _, last_ts, last_step, _, _, _, last_id = rows[-1]
            token = encode_token({"after": [last_step, last_ts, last_id]})
        nan = _NAN
        build = new_metric
        items = tuple(
            [
                build(
                    key, nan if value is None else value, ts, step, dname, ddigest, model_id, run_id
                )
                for value, ts, step, dname, ddigest, model_id, _ in rows
            ]
        )
        return Page(items=items, next_page_token=token)

    def get_metric_history_bulk(
        self, run_ids: Sequence[RunId], key: str, *, max_points_per_run: int
    ) -> list[Metric]:
        if not run_ids:
            return []
        if max_points_per_run < 1:
            raise InvalidArgument(f"max_points_per_run must be positive, got {max_points_per_run}")
        limit = max_points_per_run
        ranked = select(
            _m.c.run_uuid,
            _m.c.value,
            _m.c.timestamp,
            _m.c.step,
            _m.c.dataset_name,
            _m.c.dataset_digest,
            _m.c.model_id,
            (
                func.row_number().over(
                    partition_by=_m.c.run_uuid, order_by=(_m.c.step, _m.c.timestamp, _m.c.id)
                )
                - 1
            ).label("rn"),
            func.count().over(partition_by=_m.c.run_uuid).label("n"),
        ).where(_m.c.run_uuid.in_(list(dict.fromkeys(run_ids))), _m.c.key == key)
        sub = ranked.subquery()
        rn, n = sub.c.rn, sub.c.n
        if limit == 1:
            keep: ColumnElement[bool] = rn == n - 1
        else:
            # Row rn is kept when it is floor(i * (n-1) / (limit-1)) for some i: evenly
            # spaced picks that always include the first and the last point.
            span = func.nullif(n - 1, 0)
            i = (rn * (limit - 1) + n - 2) // span
            keep = or_(n <= limit, (i * (n - 1)) // (limit - 1) == rn)
        query = (
            select(
                sub.c.run_uuid,
                sub.c.value,
                sub.c.timestamp,
                sub.c.step,
                sub.c.dataset_name,
                sub.c.dataset_digest,
                sub.c.model_id,
            )
            .where(keep)
            .order_by(sub.c.run_uuid, rn)
        )
        with self._read() as conn:
            rows = fetch_rows(conn, query)
        by_run: dict[str, list[Metric]] = defaultdict(list)
        nan = _NAN
        for rid, value, ts, step, dname, ddigest, model_id in rows:
            by_run[rid].append(
                new_metric(
                    key, nan if value is None else value, ts, step, dname, ddigest, model_id, rid
                )
            )
        out: list[Metric] = []
        for rid in dict.fromkeys(run_ids):
            out.extend(by_run.get(rid, ()))
        return out

    def metric_keys(self, experiment_ids: Sequence[ExperimentId]) -> list[str]:
        return self._distinct_keys(_lm, experiment_ids)

    def param_keys(self, experiment_ids: Sequence[ExperimentId]) -> list[str]:
        return self._distinct_keys(t.params, experiment_ids)

    def _distinct_keys(self, table: Table, experiment_ids: Sequence[ExperimentId]) -> list[str]:
        ids = search.experiment_int_ids(experiment_ids)
        if not ids:
            return []
        query = (
            select(table.c.key)
            .distinct()
            .join(_runs, _runs.c.run_uuid == table.c.run_uuid)
            .where(_runs.c.experiment_id.in_(ids))
        )
        with self._read() as conn:
            return sorted(conn.execute(query).scalars().all())


def _history_cursor(page_token: str | None) -> tuple[int, int, int] | None:
    payload = decode_token(page_token)
    if not payload:
        return None
    after = payload.get("after")
    if (
        not isinstance(after, list)
        or len(after) != 3
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in after)
    ):
        raise InvalidArgument(f"Invalid page token {page_token!r}")
    return (after[0], after[1], after[2])


def _run_info(row: Sequence[Any]) -> RunInfo:
    """RunInfo from a row of the run columns (see ``_RUN_COLUMNS``)."""
    run_uuid, experiment_id, name, user_id, status, start, end, artifact_uri, stage = row
    return RunInfo(
        run_id=run_uuid,
        experiment_id=ExperimentId(str(experiment_id)),
        run_name=name,
        user_id=user_id,
        status=_STATUS[status],
        start_time=start,
        end_time=end,
        artifact_uri=artifact_uri,
        lifecycle_stage=_STAGE[stage],
    )


_PARAMS_OF = select(t.params.c.run_uuid, t.params.c.key, t.params.c.value).where(
    t.params.c.run_uuid.in_(bindparam("ids", expanding=True))
)
_TAGS_OF = select(t.tags.c.run_uuid, t.tags.c.key, t.tags.c.value).where(
    t.tags.c.run_uuid.in_(bindparam("ids", expanding=True))
)
_LATEST_OF = select(
    _lm.c.run_uuid,
    _lm.c.key,
    _lm.c.value,
    _lm.c.timestamp,
    _lm.c.step,
    _lm.c.dataset_name,
    _lm.c.dataset_digest,
    _lm.c.model_id,
).where(_lm.c.run_uuid.in_(bindparam("ids", expanding=True)))


_di, _ds, _dt = t.dataset_inputs, t.datasets, t.dataset_input_tags
_INPUTS_OF = (
    select(
        _di.c.run_uuid,
        _di.c.input_id,
        _ds.c.name,
        _ds.c.digest,
        _ds.c.source_type,
        _ds.c.source,
        _ds.c.schema,
        _ds.c.profile,
        _dt.c.key,
        _dt.c.value,
    )
    .select_from(
        _di.join(_ds, _ds.c.dataset_id == _di.c.dataset_id).outerjoin(
            _dt, _dt.c.input_id == _di.c.input_id
        )
    )
    .where(_di.c.run_uuid.in_(bindparam("ids", expanding=True)))
    .order_by(_di.c.input_id)
)


def _models_of() -> Select[Any]:
    """Model inputs (kind 0) and outputs (kind 1) of a list of runs, in logging order."""
    mi, mo = t.model_inputs, t.model_outputs
    ids: BindParameter[list[str]] = bindparam("ids", expanding=True)
    both = union_all(
        select(
            mi.c.run_uuid, mi.c.model_id, null().label("step"), literal(0).label("kind"), mi.c.id
        ).where(mi.c.run_uuid.in_(ids)),
        select(mo.c.run_uuid, mo.c.model_id, mo.c.step, literal(1).label("kind"), mo.c.id).where(
            mo.c.run_uuid.in_(ids)
        ),
    ).subquery()
    return select(both).order_by(both.c.kind, both.c.id)


_MODELS_OF = _models_of()


def load_runs(conn: Connection, rows: Sequence[Sequence[Any]]) -> list[Run]:
    """Full runs for ``rows`` (tuples of the run columns), in the same order.

    Five queries per chunk of runs, however many runs: params, tags, latest
    metrics, dataset inputs with their tags, model inputs and outputs.
    """
    if not rows:
        return []
    params: dict[str, dict[str, str]] = defaultdict(dict)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    metrics: dict[str, list[Metric]] = defaultdict(list)
    inputs: dict[str, list[DatasetInput]] = defaultdict(list)
    model_inputs: dict[str, list[LoggedModelId]] = defaultdict(list)
    model_outputs: dict[str, list[ModelOutput]] = defaultdict(list)
    ids = [r[0] for r in rows]
    nan = _NAN
    build = new_metric
    for chunk in chunks(ids):
        bind = {"ids": list(chunk)}
        for rid, key, value in fetch_rows(conn, _PARAMS_OF, bind):
            params[rid][key] = value
        for rid, key, value in fetch_rows(conn, _TAGS_OF, bind):
            tags[rid][key] = value
        for rid, key, value, ts, step, dname, ddigest, model_id in fetch_rows(
            conn, _LATEST_OF, bind
        ):
            metrics[rid].append(
                build(key, nan if value is None else value, ts, step, dname, ddigest, model_id, rid)
            )
        _load_dataset_inputs(conn, chunk, inputs)
        _load_models(conn, chunk, model_inputs, model_outputs)
    by_key = attrgetter("key")
    no_metrics: list[Metric] = []
    out = []
    for r in rows:
        rid = r[0]
        run_metrics = metrics.get(rid, no_metrics)
        run_metrics.sort(key=by_key)
        out.append(
            Run(
                info=_run_info(r),
                metrics=tuple(run_metrics),
                params=params.get(rid, {}),
                tags=tags.get(rid, {}),
                dataset_inputs=tuple(inputs.get(rid, ())),
                model_inputs=tuple(model_inputs.get(rid, ())),
                model_outputs=tuple(model_outputs.get(rid, ())),
            )
        )
    return out


def _load_dataset_inputs(
    conn: Connection, run_ids: Sequence[str], out: dict[str, list[DatasetInput]]
) -> None:
    current: dict[int, tuple[str, Dataset, dict[str, str]]] = {}
    for (
        rid,
        input_id,
        name,
        digest,
        source_type,
        source,
        schema,
        profile,
        key,
        value,
    ) in fetch_rows(conn, _INPUTS_OF, {"ids": list(run_ids)}):
        entry = current.get(input_id)
        if entry is None:
            dataset = Dataset(
                name=name,
                digest=digest,
                source_type=source_type,
                source=source,
                schema=schema,
                profile=profile,
            )
            entry = current[input_id] = (rid, dataset, {})
        if key is not None:
            entry[2][key] = value
    for rid, dataset, input_tags in current.values():
        out[rid].append(DatasetInput(dataset=dataset, tags=input_tags))


def _load_models(
    conn: Connection,
    run_ids: Sequence[str],
    inputs: dict[str, list[LoggedModelId]],
    outputs: dict[str, list[ModelOutput]],
) -> None:
    for rid, model_id, step, kind, _ in fetch_rows(conn, _MODELS_OF, {"ids": list(run_ids)}):
        if kind == 0:
            inputs[rid].append(LoggedModelId(model_id))
        else:
            outputs[rid].append(ModelOutput(model_id=LoggedModelId(model_id), step=step))
