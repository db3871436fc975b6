"""Pipeline use cases: registration, triggers, the run queue, approvals, the record.

Triggers are recorded before anything runs (:meth:`PipelineService.collect`
and :meth:`PipelineService.trigger` write a row per event, keyed so the
same event is one row whatever the number of replicas), then turned into
queued runs (:meth:`PipelineService.start_pending`), deduplicated inside the
store's transaction: an alert that keeps firing while its run is queued or
running, or within the pipeline's cooldown after it, adds a step to that
run's record instead of a second run. Running a queued run is
:class:`~moorline.pipelines.runner.PipelineRunner`'s job; recovering runs
whose runner died is :meth:`PipelineService.recover`'s.

Finding triggers is the job of :mod:`moorline.pipelines.triggers`; the notice an
alert's channels get when its remediation fails is
built by :mod:`moorline.pipelines.notify`.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from moorline.auth.models import Role
from moorline.errors import InvalidArgument, MoorlineError, NotFound, PermissionDenied
from moorline.monitoring.monitors import (
    AlertSenderPort,
    DatasetSource,
    FileSource,
    SqlSource,
    WindowSource,
)
from moorline.monitoring.service import validate_schedule
from moorline.pipelines.models import (
    CHALLENGER,
    CHAMPION,
    DataSource,
    FunctionSource,
    Pipeline,
    PipelineRun,
    Remediation,
    RemediationStatus,
    RunState,
    Step,
    StepStatus,
    Trigger,
    TriggerKind,
    validate_pipeline_name,
)
from moorline.pipelines.ports import Executor, PipelineStore, Rollout, StartDecision
from moorline.pipelines.triggers import TriggerCollector, dedup_step, trigger_step
from moorline.registry.governance import Actor, GovernanceService
from moorline.registry.models import ApprovalState, RiskLevel
from moorline.registry.service import RegistryService
from moorline.tracking.artifacts import ArtifactService
from moorline.tracking.datasets import DatasetService
from moorline.tracking.service import TrackingService

if TYPE_CHECKING:
    from moorline.monitoring.service import MonitorService
    from moorline.pipelines.gate import Decision

log = logging.getLogger("moorline.pipelines")

#: The name pipelines act under in the registry and the audit log.
PIPELINE_ACTOR: Final = "moorline-pipelines"
LIST_LIMIT: Final = 1000
#: Tags of the tracked runs and model versions pipelines make.
TAG_PIPELINE: Final = "moorline.pipeline"
TAG_PIPELINE_RUN: Final = "moorline.pipeline.run"
TAG_ATTEMPT: Final = "moorline.pipeline.attempt"
TAG_TRIGGER: Final = "moorline.pipeline.trigger"
TAG_REMEDIATION: Final = "moorline.remediation"
TAG_ALERT: Final = "moorline.alert"
TAG_MONITOR_RESULT: Final = "moorline.monitor.result"
TAG_ERROR: Final = "moorline.pipeline.error"
TAG_VALIDATION: Final = "moorline.validation"


def new_id() -> str:
    return uuid.uuid4().hex


def absolute_store_uri(uri: str) -> str:
    """A SQLite URI with a relative path made absolute (a worker runs elsewhere).

    >>> absolute_store_uri("postgresql+psycopg://db/x")
    'postgresql+psycopg://db/x'
    >>> absolute_store_uri("sqlite:////data/m.db")
    'sqlite:////data/m.db'
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri.startswith(prefix + "/"):
        return uri
    path, sep, query = uri[len(prefix) :].partition("?")
    if not path or path == ":memory:":
        return uri
    return prefix + str(Path(path).resolve()) + sep + query


def absolute_artifacts_uri(uri: str) -> str:
    """A local artifact folder made absolute; URIs (``s3://``, ``file://``) kept."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", uri):
        return uri
    return str(Path(uri).expanduser().resolve())


class PipelineService:
    """Pipelines, their triggers and runs, and the remediation records.

    ``windows`` reads data sources (files, datasets, SQL) for the worker;
    ``monitors`` gives alert triggers and their channels (None: alert triggers
    are refused); ``sender`` delivers "remediation failed" notices to the
    alert's channels; ``store_uri``/``artifacts_uri``/``s3_endpoint_url``: what
    a worker process connects to; ``executors`` picks an executor by name.
    """

    def __init__(
        self,
        store: PipelineStore,
        *,
        tracking: TrackingService,
        datasets: DatasetService,
        registry: RegistryService,
        governance: GovernanceService,
        artifacts: ArtifactService,
        windows: WindowSource,
        store_uri: str,
        artifacts_uri: str,
        s3_endpoint_url: str | None = None,
        monitors: MonitorService | None = None,
        sender: AlertSenderPort | None = None,
        executors: Callable[[str], Executor] | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self._store = store
        self.tracking = tracking
        self.datasets = datasets
        self.registry = registry
        self.governance = governance
        self.artifacts = artifacts
        self.windows = windows
        self._monitors = monitors
        self._sender = sender
        self._store_uri = absolute_store_uri(store_uri)
        env = {
            "MOORLINE_TRACKING_URI": self._store_uri,
            "MOORLINE_ARTIFACTS_URI": absolute_artifacts_uri(artifacts_uri),
        }
        if s3_endpoint_url:
            env["MOORLINE_S3_ENDPOINT_URL"] = s3_endpoint_url
        self.worker_env: dict[str, str] = env
        self._executors = executors
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._rollout: Rollout | None = None
        self._wakers: list[Callable[[], None]] = []
        self._triggers = TriggerCollector(store, datasets=datasets, monitors=monitors)

    @property
    def store(self) -> PipelineStore:
        return self._store

    @property
    def store_uri(self) -> str:
        return self._store_uri

    def now(self) -> int:
        return self._clock()

    def set_rollout(self, rollout: Rollout | None) -> None:
        """Plug in the canary rollout (serving); without one an accepted challenger
        stays ``ready`` with the ``challenger`` alias."""
        self._rollout = rollout

    def set_sender(self, sender: AlertSenderPort | None) -> None:
        self._sender = sender

    def on_queued(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever a run is queued (a scheduler wakes up)."""
        self._wakers.append(callback)

    def executor(self, name: str) -> Executor:
        if self._executors is not None:
            return self._executors(name)
        from moorline.pipelines.executors import executor_for

        return executor_for(name)

    # -- pipelines ------------------------------------------------------------------

    def register(self, pipeline: Pipeline, *, update: bool = False) -> Pipeline:
        """Register ``pipeline`` (``update``: replace an existing one's configuration).

        The working directory must exist here; monitors named by alert triggers
        must exist; the schedule must be a valid cron expression.
        """
        folder = Path(pipeline.workdir).expanduser()
        if not folder.is_dir():
            raise InvalidArgument(
                f"Pipeline {pipeline.name!r}: working directory {pipeline.workdir!r} does not exist"
            )
        schedule = validate_schedule(pipeline.schedule)
        if pipeline.on_alerts:
            if self._monitors is None:
                raise InvalidArgument("Alert triggers need the monitor service (a database store)")
            for trigger in pipeline.on_alerts:
                monitor = self._monitors.get(trigger.monitor)  # NotFound names it
                if trigger.rule is not None and trigger.rule not in {r.name for r in monitor.rules}:
                    raise InvalidArgument(
                        f"Monitor {monitor.name!r} has no alert rule {trigger.rule!r} "
                        f"(it has: {', '.join(r.name for r in monitor.rules) or 'none'})"
                    )
        now = self.now()
        record = replace(
            pipeline,
            workdir=str(folder.resolve()),
            schedule=schedule,
            created_at=now,
            updated_at=now,
        )
        if update:
            old = self._store.get_pipeline(record.name)
            record = replace(record, created_at=old.created_at)
            saved = self._store.update_pipeline(record)
        else:
            saved = self._store.create_pipeline(record)
        self._triggers.mark_seen(saved)
        return saved

    def get(self, name: str) -> Pipeline:
        return self._store.get_pipeline(validate_pipeline_name(name))

    def list_pipelines(self) -> list[Pipeline]:
        return self._store.list_pipelines()

    def delete(self, name: str) -> None:
        self._store.delete_pipeline(validate_pipeline_name(name))

    # -- reading data (for the worker) ----------------------------------------------

    def read_source(self, source: DataSource, *, workdir: str) -> Any:
        """The canonical Arrow table of ``source`` (a glob's files concatenated in
        name order, relative to ``workdir``)."""
        if isinstance(source, FunctionSource):
            raise InvalidArgument("A function source is read by calling it in the worker")
        if isinstance(source, DatasetSource | SqlSource):
            return self.windows.read(source).table
        pattern = source.pattern
        base = Path(workdir)
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        paths = sorted(p for p in glob.glob(full, recursive=True) if Path(p).is_file())
        if not paths:
            raise InvalidArgument(f"No file matches {pattern!r} (in {workdir})")
        import pyarrow as pa

        tables = [self.windows.read(FileSource(path=p)).table for p in paths]
        if len(tables) == 1:
            return tables[0]
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except pa.ArrowInvalid as exc:
            raise InvalidArgument(f"The files of {pattern!r} do not share a schema: {exc}") from exc

    # -- triggers -------------------------------------------------------------------

    def trigger(
        self,
        name: str,
        *,
        actor: Actor,
        params: Mapping[str, Any] | None = None,
        reason: str = "",
    ) -> PipelineRun:
        """Queue a run of ``name`` now (a manual trigger; editors and above).

        ``params`` override the pipeline's parameters for this run. Manual runs
        are never deduplicated; they wait for the concurrency limit like others.
        """
        if not actor.at_least(Role.EDITOR):
            raise PermissionDenied(
                f"Running a pipeline requires the editor role (or higher); {actor.name!r} has "
                f"the {actor.role.value} role"
            )
        pipeline = self.get(name)
        overrides = dict(params or {})
        unknown = sorted(set(overrides) - set(pipeline.params))
        if unknown:
            raise InvalidArgument(
                f"Pipeline {pipeline.name!r} has no parameter(s) {', '.join(unknown)} "
                f"(it has: {', '.join(sorted(pipeline.params)) or 'none'})"
            )
        now = self.now()
        trigger, _ = self._store.record_trigger(
            Trigger(
                pipeline=pipeline.name,
                kind=TriggerKind.MANUAL,
                key=f"manual:{new_id()}",
                created_at=now,
                details={"actor": actor.name, "reason": reason, "params": overrides},
            )
        )
        decision = self._start(pipeline, trigger, now)
        if decision.run is None:  # pragma: no cover - a fresh manual trigger has no group
            raise MoorlineError(f"Trigger {trigger.id} of {pipeline.name!r} started no run")
        return decision.run

    def collect(self, pipeline: Pipeline, now: int | None = None) -> list[Trigger]:
        """Record the triggers due for ``pipeline``: its cron time, alerts fired since
        the last look, new versions of the datasets it follows. The new ones."""
        return self._triggers.collect(pipeline, self.now() if now is None else now)

    def start_pending(self, pipeline: Pipeline, now: int | None = None) -> list[StartDecision]:
        """Turn ``pipeline``'s pending triggers into queued runs (or deduplicate them)."""
        now = self.now() if now is None else now
        return [
            self._start(pipeline, trigger, now)
            for trigger in self._store.list_triggers(pipeline.name, pending_only=True)
        ]

    def _start(self, pipeline: Pipeline, trigger: Trigger, now: int) -> StartDecision:
        assert trigger.id is not None
        run_id, remediation_id = new_id(), new_id()
        params = {**pipeline.params, **dict(trigger.details.get("params") or {})}
        run = PipelineRun(
            id=run_id,
            pipeline=pipeline.name,
            status=RunState.QUEUED,
            trigger_id=trigger.id,
            trigger_kind=trigger.kind,
            group=trigger.group,
            remediation_id=remediation_id,
            created_at=now,
            params=params,
        )
        alert_key = trigger.details.get("dedup_key") if trigger.kind == TriggerKind.ALERT else None
        remediation = Remediation(
            id=remediation_id,
            pipeline=pipeline.name,
            model=pipeline.model,
            status=RemediationStatus.TRAINING,
            pipeline_run_id=run_id,
            trigger_kind=trigger.kind,
            alert_key=alert_key,
            created_at=now,
            updated_at=now,
            steps=(
                trigger_step(trigger, now),
                Step(
                    step="queued",
                    status=StepStatus.OK,
                    at=now,
                    reason=f"pipeline run {run_id} queued",
                    details={"pipeline_run_id": run_id, "params": params},
                ),
            ),
        )
        cooldown = None
        if trigger.kind == TriggerKind.ALERT:
            cooldown = now - round(pipeline.cooldown_seconds * 1000)

        def dedup(into: PipelineRun) -> Step:
            return dedup_step(trigger, into, pipeline, now)

        decision = self._store.start_trigger(
            trigger.id,
            run=run,
            remediation=remediation,
            cooldown_since=cooldown,
            now=now,
            dedup_step=dedup,
        )
        if decision.run is not None:
            for wake in self._wakers:
                wake()
        return decision

    # -- runs -----------------------------------------------------------------------

    def get_run(self, run_id: str) -> PipelineRun:
        return self._store.get_run(_hex_id(run_id, "pipeline run"))

    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        states: Sequence[RunState | str] | None = None,
        limit: int = 100,
    ) -> list[PipelineRun]:
        """Runs, newest first (of ``pipeline``, in ``states``)."""
        _limit(limit)
        wanted = None if states is None else tuple(_state(s) for s in states)
        if pipeline is not None:
            validate_pipeline_name(pipeline)
        return self._store.list_runs(pipeline=pipeline, states=wanted, limit=limit)

    def recover(self, now: int | None = None) -> list[PipelineRun]:
        """Take over runs whose runner died (their lease expired): queue them again
        while attempts remain, else fail them with the reason. The recovered runs."""
        now = self.now() if now is None else now
        out = []
        for run in self._store.expired_runs(now):
            try:
                pipeline = self._store.get_pipeline(run.pipeline)
                attempts = pipeline.max_attempts
            except NotFound:
                attempts = 0
            requeue = run.attempt < attempts
            lost = (
                f"attempt {run.attempt} was left running by {run.holder}, whose lease expired "
                f"at {run.lease_expires_at} (the runner stopped)"
            )
            error = None if requeue else f"{lost}; gave up after {run.attempt} attempt(s)"
            recovered = self._store.recover_run(run.id, now=now, requeue=requeue, error=error)
            if recovered is None:
                continue  # another replica took it, or the runner came back
            self.end_tracked_run(run.tracked_run_id, error=lost)
            if requeue:
                self.record_step(
                    run.remediation_id,
                    "training",
                    StepStatus.FAILED,
                    f"{lost}; queued again for attempt {run.attempt + 1} of {attempts}",
                    {"attempt": run.attempt, "holder": run.holder},
                )
                for wake in self._wakers:
                    wake()
            else:
                self.fail_remediation(recovered, str(error), {"holder": run.holder})
            out.append(recovered)
        return out

    def end_tracked_run(self, tracked_run_id: str | None, *, error: str) -> None:
        """End a pipeline run's tracked run FAILED, with ``error`` as a tag."""
        if not tracked_run_id:
            return
        from moorline.tracking.models import RunStatus

        try:
            self.tracking.set_tag(tracked_run_id, TAG_ERROR, error[:5000])
            self.tracking.end_run(tracked_run_id, RunStatus.FAILED)
        except MoorlineError as exc:  # pragma: no cover - the run was deleted meanwhile
            log.warning("could not mark run %s failed: %s", tracked_run_id, exc)

    # -- after validation -----------------------------------------------------------

    def advance(
        self,
        remediation_id: str,
        pipeline: Pipeline,
        *,
        version: int,
        champion: int | None,
        decision: Decision,
    ) -> Remediation:
        """What follows the gate: rejected, or approval (when needed), then ready."""
        if not decision.accepted:
            return self.record_step(
                remediation_id,
                "validation",
                StepStatus.FAILED,
                decision.summary(),
                decision.to_dict(),
                status=RemediationStatus.REJECTED,
                challenger_version=version,
                champion_version=champion,
            )
        self.record_step(
            remediation_id,
            "validation",
            StepStatus.OK,
            decision.summary(),
            decision.to_dict(),
            challenger_version=version,
            champion_version=champion,
        )
        why = self._approval_needed(pipeline)
        if why is None:
            self.record_step(
                remediation_id, "approval", StepStatus.SKIPPED, "not required (standard risk)"
            )
            return self._ready(remediation_id, pipeline, version, champion)
        approval = self.governance.request_approval(
            pipeline.model,
            CHAMPION,
            version,
            actor=Actor(name=PIPELINE_ACTOR, role=Role.EDITOR),
            reason=f"remediation {remediation_id}: version {version} passed the validation gate "
            f"({why}); it gets no traffic before a second person approves it",
        )
        return self.record_step(
            remediation_id,
            "approval",
            StepStatus.PENDING,
            f"{why}: waiting for approval {approval.approval_id} "
            f"('moorline approvals grant {approval.approval_id}')",
            {"approval_id": approval.approval_id, "requested_by": PIPELINE_ACTOR},
            status=RemediationStatus.AWAITING_APPROVAL,
            approval_id=approval.approval_id,
        )

    def _approval_needed(self, pipeline: Pipeline) -> str | None:
        try:
            policy = self.governance.get_policy(pipeline.model)
        except NotFound:
            policy = None
        if policy is not None and policy.risk == RiskLevel.HIGH:
            return f"model {pipeline.model!r} is high-risk"
        if pipeline.rollout.requires_approval:
            return "the pipeline's rollout policy requires approval"
        return None

    def _ready(
        self, remediation_id: str, pipeline: Pipeline, version: int, champion: int | None
    ) -> Remediation:
        try:
            self.registry.set_alias(
                pipeline.model,
                CHALLENGER,
                version,
                actor=PIPELINE_ACTOR,
                reason=f"remediation {remediation_id}: accepted by the validation gate",
            )
        except MoorlineError as exc:
            return self.record_step(
                remediation_id,
                "ready",
                StepStatus.FAILED,
                f"could not point alias {CHALLENGER!r} at version {version}: {exc.message}",
                status=RemediationStatus.FAILED,
            )
        record = self.record_step(
            remediation_id,
            "ready",
            StepStatus.OK,
            f"version {version} is the accepted challenger (alias {CHALLENGER!r})",
            {"version": version, "champion": champion},
            status=RemediationStatus.READY,
        )
        if self._rollout is None:
            return record
        weight = pipeline.rollout.canary_weight
        try:
            done = self._rollout.start_canary(
                pipeline.model, champion, version, weight, remediation_id=remediation_id
            )
        except MoorlineError as exc:
            return self.record_step(
                remediation_id,
                "canary",
                StepStatus.FAILED,
                f"the canary did not start: {exc.message}",
                status=RemediationStatus.READY,
            )
        return self.record_step(
            remediation_id,
            "canary",
            StepStatus.STARTED,
            f"canary of version {version} at {weight:g}% of traffic",
            dict(done),
            status=RemediationStatus.CANARY,
        )

    def advance_approvals(self) -> list[Remediation]:
        """Move remediations waiting for approval on once their approval is decided."""
        out = []
        for record in self._store.list_remediations(
            status=RemediationStatus.AWAITING_APPROVAL, limit=LIST_LIMIT
        ):
            if record.approval_id is None or record.challenger_version is None:
                continue
            try:
                approval = self.governance.get_approval(record.approval_id)
            except NotFound:
                continue
            if approval.state == ApprovalState.PENDING:
                continue
            if approval.state == ApprovalState.REJECTED:
                out.append(
                    self.record_step(
                        record.id,
                        "approval",
                        StepStatus.FAILED,
                        f"rejected by {approval.decided_by}: {approval.decision_reason}",
                        {"approval_id": approval.approval_id, "decided_by": approval.decided_by},
                        status=RemediationStatus.APPROVAL_REJECTED,
                    )
                )
                continue
            self.record_step(
                record.id,
                "approval",
                StepStatus.OK,
                f"approved by {approval.decided_by}"
                + (f": {approval.decision_reason}" if approval.decision_reason else ""),
                {"approval_id": approval.approval_id, "decided_by": approval.decided_by},
            )
            try:
                pipeline = self._store.get_pipeline(record.pipeline)
            except NotFound:
                continue
            out.append(
                self._ready(record.id, pipeline, record.challenger_version, record.champion_version)
            )
        return out

    # -- the remediation record -----------------------------------------------------

    def get_remediation(self, remediation_id: str) -> Remediation:
        return self._store.get_remediation(_hex_id(remediation_id, "remediation"))

    def list_remediations(
        self,
        *,
        pipeline: str | None = None,
        model: str | None = None,
        status: RemediationStatus | str | None = None,
        alert_key: str | None = None,
        limit: int = 100,
    ) -> list[Remediation]:
        """Records, newest first (without their steps)."""
        _limit(limit)
        wanted = None
        if status is not None:
            try:
                wanted = RemediationStatus(str(status))
            except ValueError:
                names = ", ".join(s.value for s in RemediationStatus)
                raise InvalidArgument(f"Unknown status {status!r}: use one of {names}") from None
        return self._store.list_remediations(
            pipeline=pipeline, model=model, status=wanted, alert_key=alert_key, limit=limit
        )

    def record_step(
        self,
        remediation_id: str,
        step: str,
        outcome: StepStatus | str,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
        *,
        status: RemediationStatus | str | None = None,
        **changes: Any,
    ) -> Remediation:
        """Append step ``step`` with ``outcome`` to a remediation record, moving the
        record to ``status`` when given. The rollout code records ``canary``,
        ``promotion`` and ``rollback`` through this; ``changes`` may set
        ``challenger_version``, ``champion_version`` and ``approval_id``.

        >>> svc.record_step(rid, "promotion", "ok", "v4 now champion", status="promoted")
        ... # doctest: +SKIP
        """
        if not isinstance(step, str) or not re.match(r"^[a-z][a-z_.]{0,49}$", step):
            raise InvalidArgument(f"Invalid step name {step!r}: lowercase letters, '_' and '.'")
        try:
            result = StepStatus(str(outcome))
            new_status = None if status is None else RemediationStatus(str(status))
        except ValueError as exc:
            raise InvalidArgument(f"Invalid remediation step: {exc}") from None
        allowed = {"challenger_version", "champion_version", "approval_id"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise InvalidArgument(f"Unknown remediation field(s): {', '.join(unknown)}")
        record = Step(
            step=step, status=result, at=self.now(), reason=reason, details=dict(details or {})
        )
        return self._store.append_step(
            _hex_id(remediation_id, "remediation"),
            record,
            status=new_status,
            now=record.at,
            **changes,
        )

    def fail_remediation(
        self, run: PipelineRun, error: str, details: Mapping[str, Any] | None = None
    ) -> Remediation:
        """Record that ``run`` failed, and tell the alert's channels it did."""
        record = self.record_step(
            run.remediation_id,
            "training",
            StepStatus.FAILED,
            error,
            details,
            status=RemediationStatus.FAILED,
        )
        if run.trigger_kind == TriggerKind.ALERT:
            record = self._notify_failure(record, run, error)
        return record

    def _notify_failure(self, record: Remediation, run: PipelineRun, error: str) -> Remediation:
        """Tell the channels of the monitor whose alert started ``run`` that it failed."""
        from moorline.monitoring.monitors import delivery_record
        from moorline.pipelines.notify import failure_notice

        alert = next((s for s in record.steps if s.step == "alert"), None)
        details = dict(alert.details) if alert is not None else {}
        monitor_name = str(details.get("monitor", ""))
        if self._monitors is None or not monitor_name:
            return record
        try:
            monitor = self._monitors.get(monitor_name)
        except NotFound:
            return self.record_step(
                record.id, "notify", StepStatus.SKIPPED, f"monitor {monitor_name!r} is gone"
            )
        note = failure_notice(record, run, error, monitor, details, now=self.now())
        if not monitor.channels or self._sender is None:
            return self.record_step(
                record.id,
                "notify",
                StepStatus.SKIPPED,
                "remediation failed; the monitor has no channel to tell",
                {"notification": note.to_dict()},
            )
        try:
            results = self._sender.deliver([note], monitor.channels)
        except Exception as exc:  # a channel adapter failing must not hide the failure
            return self.record_step(
                record.id, "notify", StepStatus.FAILED, f"could not notify: {exc}"
            )
        deliveries = [delivery_record(note, r) for r in results]
        ok = all(r.ok for r in results)
        return self.record_step(
            record.id,
            "notify",
            StepStatus.OK if ok else StepStatus.FAILED,
            f"'remediation failed' sent to {len(results)} channel(s) of monitor {monitor_name}",
            {"deliveries": deliveries, "notification_id": note.id},
        )


def _hex_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value.strip()):
        raise InvalidArgument(f"Invalid {what} id {value!r}: expected 32 hex digits")
    return value.strip()


def _state(value: RunState | str) -> RunState:
    try:
        return RunState(str(value).lower())
    except ValueError:
        names = ", ".join(s.value for s in RunState)
        raise InvalidArgument(f"Unknown run state {value!r}: use one of {names}") from None


def _limit(limit: int) -> None:
    if isinstance(limit, bool) or not 1 <= limit <= LIST_LIMIT:
        raise InvalidArgument(f"limit must be between 1 and {LIST_LIMIT}, got {limit!r}")


__all__ = [
    "PIPELINE_ACTOR",
    "PipelineService",
    "absolute_artifacts_uri",
    "absolute_store_uri",
    "new_id",
]
