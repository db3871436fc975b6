"""The pipeline port over SQL: pipelines, triggers, runs, cursors, remediation records.

What must happen once is one conditional write: a trigger is inserted with
``ON CONFLICT DO NOTHING`` on (pipeline, key); a pending trigger becomes a
run by an update that requires it still pending, in the transaction that
inserts the run; a queued run is claimed by an update that requires it
still queued. Decisions that read first (the concurrency limit, the
deduplication of a trigger against its group's runs) lock the pipeline's
row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises writers), so
two replicas cannot both decide yes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from moorline.errors import AlreadyExists, Conflict, ErrorCode, InvalidArgument, NotFound
from moorline.pipelines.models import (
    Pipeline,
    PipelineRun,
    Remediation,
    RemediationStatus,
    RunState,
    Step,
    StepStatus,
    Trigger,
    TriggerKind,
    TriggerStatus,
)
from moorline.pipelines.ports import PipelineStore, StartDecision
from moorline.store.sql import tables as t
from moorline.store.sql._base import SqlStoreBase

_p, _tr, _r, _c = t.pipelines, t.pipeline_triggers, t.pipeline_runs, t.pipeline_cursors
_rem, _st = t.remediations, t.remediation_steps
_ACTIVE = (RunState.QUEUED.value, RunState.RUNNING.value)
#: Run fields a runner may change while it holds the run.
_RUN_FIELDS = frozenset(
    {"tracked_run_id", "model_version", "error", "error_code", "traceback", "result"}
)
_REMEDIATION_FIELDS = frozenset({"challenger_version", "champion_version", "approval_id"})


def _dumps(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), default=str)


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else {}


def _run_values(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - _RUN_FIELDS)
    if unknown:
        raise InvalidArgument(f"Unknown pipeline run field(s): {', '.join(unknown)}")
    values = dict(changes)
    if "result" in values:
        values["result"] = _dumps(values["result"] or {})
    return values


class SqlPipelineStore(SqlStoreBase, PipelineStore):
    """Implements :class:`moorline.pipelines.ports.PipelineStore`."""

    # -- pipelines --------------------------------------------------------------------

    def create_pipeline(self, pipeline: Pipeline) -> Pipeline:
        with self._write() as conn:
            exists = conn.execute(select(_p.c.name).where(_p.c.name == pipeline.name)).first()
            if exists is not None:
                raise AlreadyExists(f"A pipeline named {pipeline.name!r} already exists")
            conn.execute(_p.insert().values(**self._row(pipeline)))
        return pipeline

    def update_pipeline(self, pipeline: Pipeline) -> Pipeline:
        row = self._row(pipeline)
        del row["created_at"]
        with self._write() as conn:
            done = conn.execute(update(_p).where(_p.c.name == pipeline.name).values(**row))
            if done.rowcount == 0:
                raise NotFound(f"No pipeline named {pipeline.name!r}")
        return pipeline

    @staticmethod
    def _row(pipeline: Pipeline) -> dict[str, Any]:
        return {
            "name": pipeline.name,
            "model": pipeline.model,
            "schedule": pipeline.schedule,
            "config": _dumps(pipeline.to_dict()),
            "created_at": pipeline.created_at,
            "updated_at": pipeline.updated_at,
        }

    def get_pipeline(self, name: str) -> Pipeline:
        with self._read() as conn:
            config = conn.execute(select(_p.c.config).where(_p.c.name == name)).scalar()
        if config is None:
            raise NotFound(f"No pipeline named {name!r}")
        return Pipeline.from_dict(json.loads(config))

    def list_pipelines(self) -> list[Pipeline]:
        with self._read() as conn:
            rows = conn.execute(select(_p.c.config).order_by(_p.c.name)).scalars().all()
        return [Pipeline.from_dict(json.loads(row)) for row in rows]

    def delete_pipeline(self, name: str) -> None:
        with self._write() as conn:
            self._lock(conn, name)
            active = conn.execute(
                select(func.count())
                .select_from(_r)
                .where(_r.c.pipeline == name, _r.c.status.in_(_ACTIVE))
            ).scalar_one()
            if active:
                raise Conflict(
                    f"Pipeline {name!r} has {active} queued or running run(s); "
                    "wait for them to end before deleting it"
                )
            for table in (_tr, _r, _c):
                conn.execute(delete(table).where(table.c.pipeline == name))
            done = conn.execute(delete(_p).where(_p.c.name == name))
            if done.rowcount == 0:
                raise NotFound(f"No pipeline named {name!r}")

    def _lock(self, conn: Connection, name: str) -> str | None:
        """Lock the pipeline's row for this transaction; its config, or None."""
        config: str | None = conn.execute(
            select(_p.c.config).where(_p.c.name == name).with_for_update()
        ).scalar()
        return config

    # -- triggers ---------------------------------------------------------------------

    def record_trigger(self, trigger: Trigger) -> tuple[Trigger, bool]:
        stmt = self._insert_ignore(_tr, "pipeline", "key").values(
            pipeline=trigger.pipeline,
            key=trigger.key,
            kind=trigger.kind.value,
            dedup_group=trigger.group,
            status=trigger.status.value,
            reason=trigger.reason,
            details=_dumps(dict(trigger.details)),
            run_id=trigger.run_id,
            created_at=trigger.created_at,
        )
        with self._write() as conn:
            created = conn.execute(stmt.returning(_tr.c.id)).first() is not None
            row = conn.execute(
                select(_tr).where(_tr.c.pipeline == trigger.pipeline, _tr.c.key == trigger.key)
            ).one()
        return _trigger(row), created

    def get_trigger(self, trigger_id: int) -> Trigger:
        with self._read() as conn:
            row = conn.execute(select(_tr).where(_tr.c.id == trigger_id)).first()
        if row is None:
            raise NotFound(f"No pipeline trigger with id {trigger_id}")
        return _trigger(row)

    def list_triggers(
        self, pipeline: str, *, pending_only: bool = False, limit: int = 100
    ) -> list[Trigger]:
        query = select(_tr).where(_tr.c.pipeline == pipeline)
        if pending_only:
            query = query.where(_tr.c.status == TriggerStatus.PENDING.value).order_by(_tr.c.id)
        else:
            query = query.order_by(_tr.c.id.desc())
        with self._read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [_trigger(row) for row in rows]

    def start_trigger(
        self,
        trigger_id: int,
        *,
        run: PipelineRun,
        remediation: Remediation,
        cooldown_since: int | None,
        now: int,
        dedup_step: Callable[[PipelineRun], Step],
    ) -> StartDecision:
        with self._write() as conn:
            if self._lock(conn, run.pipeline) is None:
                raise NotFound(f"No pipeline named {run.pipeline!r}")
            row = conn.execute(select(_tr).where(_tr.c.id == trigger_id)).first()
            if row is None or row.status != TriggerStatus.PENDING.value:
                return StartDecision(run=None)
            if row.dedup_group is not None:
                blocking = _blocking_run(conn, run.pipeline, row.dedup_group, cooldown_since)
                if blocking is not None:
                    into = _run(blocking)
                    step = dedup_step(into)
                    conn.execute(
                        update(_tr)
                        .where(_tr.c.id == trigger_id)
                        .values(
                            status=TriggerStatus.DEDUPLICATED.value,
                            reason=step.reason,
                            run_id=into.id,
                        )
                    )
                    self._add_step(conn, into.remediation_id, step, now=now, status=None)
                    return StartDecision(run=None, deduplicated_into=into, reason=step.reason)
            conn.execute(_r.insert().values(**_run_row(run)))
            conn.execute(_rem.insert().values(**_remediation_row(remediation)))
            for step in remediation.steps:
                conn.execute(_st.insert().values(**_step_row(remediation.id, step)))
            conn.execute(
                update(_tr)
                .where(_tr.c.id == trigger_id)
                .values(status=TriggerStatus.STARTED.value, run_id=run.id)
            )
        return StartDecision(run=run)

    # -- cursors ----------------------------------------------------------------------

    def get_cursor(self, pipeline: str, source: str) -> tuple[int, str] | None:
        with self._read() as conn:
            row = conn.execute(
                select(_c.c.position, _c.c.value).where(
                    _c.c.pipeline == pipeline, _c.c.source == source
                )
            ).first()
        return None if row is None else (int(row.position), str(row.value))

    def advance_cursor(self, pipeline: str, source: str, position: int, value: str) -> None:
        stmt = self._insert(_c).values(
            pipeline=pipeline, source=source, position=position, value=value
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["pipeline", "source"],
            set_={"position": stmt.excluded.position, "value": stmt.excluded.value},
            where=_c.c.position <= stmt.excluded.position,
        )
        with self._write() as conn:
            conn.execute(stmt)

    # -- runs -------------------------------------------------------------------------

    def get_run(self, run_id: str) -> PipelineRun:
        with self._read() as conn:
            row = conn.execute(select(_r).where(_r.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"No pipeline run with id {run_id!r}")
        return _run(row)

    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        states: tuple[RunState, ...] | None = None,
        limit: int = 100,
    ) -> list[PipelineRun]:
        query = select(_r)
        if pipeline is not None:
            query = query.where(_r.c.pipeline == pipeline)
        if states is not None:
            query = query.where(_r.c.status.in_([s.value for s in states]))
        query = query.order_by(_r.c.created_at.desc(), _r.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_run(row) for row in rows]

    def claim_next(
        self, pipeline: str, *, holder: str, ttl_ms: int, now: int, run_id: str | None = None
    ) -> PipelineRun | None:
        with self._write() as conn:
            config = self._lock(conn, pipeline)
            if config is None:
                return None
            limit = int(json.loads(config).get("concurrency", 1))
            running = conn.execute(
                select(func.count())
                .select_from(_r)
                .where(_r.c.pipeline == pipeline, _r.c.status == RunState.RUNNING.value)
            ).scalar_one()
            if running >= limit:
                return None
            query = select(_r.c.id).where(
                _r.c.pipeline == pipeline, _r.c.status == RunState.QUEUED.value
            )
            if run_id is not None:
                query = query.where(_r.c.id == run_id)
            found = conn.execute(query.order_by(_r.c.created_at, _r.c.id).limit(1)).scalar()
            if found is None:
                return None
            done = conn.execute(
                update(_r)
                .where(_r.c.id == found, _r.c.status == RunState.QUEUED.value)
                .values(
                    status=RunState.RUNNING.value,
                    holder=holder,
                    lease_expires_at=now + ttl_ms,
                    started_at=now,
                    attempt=_r.c.attempt + 1,
                )
            )
            if done.rowcount != 1:  # pragma: no cover - the row lock makes this impossible
                return None
            row = conn.execute(select(_r).where(_r.c.id == found)).one()
        return _run(row)

    def _held(self, run_id: str, holder: str) -> Any:
        return and_(_r.c.id == run_id, _r.c.holder == holder, _r.c.status == RunState.RUNNING.value)

    def renew_lease(self, run_id: str, *, holder: str, ttl_ms: int, now: int) -> bool:
        with self._write() as conn:
            done = conn.execute(
                update(_r).where(self._held(run_id, holder)).values(lease_expires_at=now + ttl_ms)
            )
        return bool(done.rowcount == 1)

    def update_run(self, run_id: str, *, holder: str, **changes: Any) -> bool:
        values = _run_values(changes)
        if not values:
            return True
        with self._write() as conn:
            done = conn.execute(update(_r).where(self._held(run_id, holder)).values(**values))
        return bool(done.rowcount == 1)

    def finish_run(
        self, run_id: str, *, holder: str, state: RunState, now: int, **changes: Any
    ) -> bool:
        if not state.is_terminal:
            raise InvalidArgument(f"A run finishes succeeded or failed, not {state.value}")
        values = _run_values(changes)
        with self._write() as conn:
            done = conn.execute(
                update(_r)
                .where(self._held(run_id, holder))
                .values(status=state.value, finished_at=now, lease_expires_at=None, **values)
            )
        return bool(done.rowcount == 1)

    def expired_runs(self, now: int) -> list[PipelineRun]:
        with self._read() as conn:
            rows = conn.execute(
                select(_r).where(_r.c.status == RunState.RUNNING.value, _r.c.lease_expires_at < now)
            ).all()
        return [_run(row) for row in rows]

    def recover_run(
        self, run_id: str, *, now: int, requeue: bool, error: str | None = None
    ) -> PipelineRun | None:
        if requeue:
            values: dict[str, Any] = {
                "status": RunState.QUEUED.value,
                "holder": None,
                "lease_expires_at": None,
            }
        else:
            values = {
                "status": RunState.FAILED.value,
                "lease_expires_at": None,
                "finished_at": now,
                "error": error or "the runner stopped",
                "error_code": ErrorCode.INTERNAL_ERROR.value,
            }
        with self._write() as conn:
            done = conn.execute(
                update(_r)
                .where(
                    _r.c.id == run_id,
                    _r.c.status == RunState.RUNNING.value,
                    _r.c.lease_expires_at < now,
                )
                .values(**values)
            )
            if done.rowcount != 1:
                return None
            row = conn.execute(select(_r).where(_r.c.id == run_id)).one()
        return _run(row)

    # -- remediation records ----------------------------------------------------------

    def get_remediation(self, remediation_id: str) -> Remediation:
        with self._read() as conn:
            return self._remediation(conn, remediation_id)

    def _remediation(self, conn: Connection, remediation_id: str) -> Remediation:
        row = conn.execute(select(_rem).where(_rem.c.id == remediation_id)).first()
        if row is None:
            raise NotFound(f"No remediation with id {remediation_id!r}")
        steps = conn.execute(
            select(_st).where(_st.c.remediation_id == remediation_id).order_by(_st.c.id)
        ).all()
        return _remediation(row, tuple(_step(s) for s in steps))

    def list_remediations(
        self,
        *,
        pipeline: str | None = None,
        model: str | None = None,
        status: RemediationStatus | None = None,
        alert_key: str | None = None,
        limit: int = 100,
    ) -> list[Remediation]:
        query = select(_rem)
        if pipeline is not None:
            query = query.where(_rem.c.pipeline == pipeline)
        if model is not None:
            query = query.where(_rem.c.model == model)
        if status is not None:
            query = query.where(_rem.c.status == status.value)
        if alert_key is not None:
            query = query.where(_rem.c.alert_key == alert_key)
        query = query.order_by(_rem.c.created_at.desc(), _rem.c.id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_remediation(row, ()) for row in rows]

    def append_step(
        self,
        remediation_id: str,
        step: Step,
        *,
        status: RemediationStatus | None = None,
        now: int,
        **changes: Any,
    ) -> Remediation:
        unknown = sorted(set(changes) - _REMEDIATION_FIELDS)
        if unknown:
            raise InvalidArgument(f"Unknown remediation field(s): {', '.join(unknown)}")
        with self._write() as conn:
            self._add_step(conn, remediation_id, step, now=now, status=status, **changes)
            return self._remediation(conn, remediation_id)

    def _add_step(
        self,
        conn: Connection,
        remediation_id: str,
        step: Step,
        *,
        now: int,
        status: RemediationStatus | None,
        **changes: Any,
    ) -> None:
        values: dict[str, Any] = {"updated_at": now, **changes}
        if status is not None:
            values["status"] = status.value
        done = conn.execute(update(_rem).where(_rem.c.id == remediation_id).values(**values))
        if done.rowcount == 0:
            raise NotFound(f"No remediation with id {remediation_id!r}")
        conn.execute(_st.insert().values(**_step_row(remediation_id, step)))


def _blocking_run(conn: Connection, pipeline: str, group: str, cooldown_since: int | None) -> Any:
    active = _r.c.status.in_(_ACTIVE)
    condition = (
        active if cooldown_since is None else or_(active, _r.c.finished_at >= cooldown_since)
    )
    return conn.execute(
        select(_r)
        .where(_r.c.pipeline == pipeline, _r.c.dedup_group == group, condition)
        .order_by(_r.c.created_at.desc(), _r.c.id.desc())
        .limit(1)
    ).first()


def _trigger(row: Any) -> Trigger:
    return Trigger(
        id=int(row.id),
        pipeline=row.pipeline,
        kind=TriggerKind(row.kind),
        key=row.key,
        group=row.dedup_group,
        status=TriggerStatus(row.status),
        reason=row.reason,
        details=_loads(row.details),
        run_id=row.run_id,
        created_at=int(row.created_at),
    )


def _run_row(run: PipelineRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "pipeline": run.pipeline,
        "status": run.status.value,
        "trigger_id": run.trigger_id,
        "trigger_kind": run.trigger_kind.value,
        "dedup_group": run.group,
        "remediation_id": run.remediation_id,
        "attempt": run.attempt,
        "params": _dumps(dict(run.params)),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "holder": run.holder,
        "lease_expires_at": run.lease_expires_at,
        "tracked_run_id": run.tracked_run_id,
        "model_version": run.model_version,
        "error": run.error,
        "error_code": run.error_code,
        "traceback": run.traceback,
        "result": _dumps(dict(run.result)),
    }


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _run(row: Any) -> PipelineRun:
    return PipelineRun(
        id=row.id,
        pipeline=row.pipeline,
        status=RunState(row.status),
        trigger_id=_opt_int(row.trigger_id),
        trigger_kind=TriggerKind(row.trigger_kind),
        group=row.dedup_group,
        remediation_id=row.remediation_id,
        attempt=int(row.attempt),
        params=_loads(row.params),
        created_at=int(row.created_at),
        started_at=_opt_int(row.started_at),
        finished_at=_opt_int(row.finished_at),
        holder=row.holder,
        lease_expires_at=_opt_int(row.lease_expires_at),
        tracked_run_id=row.tracked_run_id,
        model_version=_opt_int(row.model_version),
        error=row.error,
        error_code=row.error_code,
        traceback=row.traceback,
        result=_loads(row.result),
    )


def _remediation_row(record: Remediation) -> dict[str, Any]:
    return {
        "id": record.id,
        "pipeline": record.pipeline,
        "model": record.model,
        "status": record.status.value,
        "pipeline_run_id": record.pipeline_run_id,
        "trigger_kind": record.trigger_kind.value,
        "alert_key": record.alert_key,
        "challenger_version": record.challenger_version,
        "champion_version": record.champion_version,
        "approval_id": record.approval_id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _remediation(row: Any, steps: tuple[Step, ...]) -> Remediation:
    return Remediation(
        id=row.id,
        pipeline=row.pipeline,
        model=row.model,
        status=RemediationStatus(row.status),
        pipeline_run_id=row.pipeline_run_id,
        trigger_kind=TriggerKind(row.trigger_kind),
        alert_key=row.alert_key,
        challenger_version=_opt_int(row.challenger_version),
        champion_version=_opt_int(row.champion_version),
        approval_id=row.approval_id,
        created_at=int(row.created_at),
        updated_at=int(row.updated_at),
        steps=steps,
    )


def _step_row(remediation_id: str, step: Step) -> dict[str, Any]:
    return {
        "remediation_id": remediation_id,
        "step": step.step,
        "status": step.status.value,
        "at": step.at,
        "reason": step.reason,
        "details": _dumps(dict(step.details)),
    }


def _step(row: Any) -> Step:
    return Step(
        seq=int(row.id),
        step=row.step,
        status=StepStatus(row.status),
        at=int(row.at),
        reason=row.reason,
        details=_loads(row.details),
    )


__all__ = ["SqlPipelineStore"]
