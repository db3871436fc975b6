"""Executing one claimed pipeline run: tracked run, worker, registration, gate.

:meth:`PipelineRunner.execute` takes a run this runner holds the lease of
(see :meth:`PipelineStore.claim_next`), creates the attempt's tracked run,
hands the job to the pipeline's executor and renews the lease while it
runs. Then, on success, it registers the model as a new version, applies
the validation gate and moves the remediation on (rejected, waiting for
approval, or ready for the canary); on failure it ends the tracked run
FAILED with the user's traceback and leaves production as it was: no
version, no alias move, no traffic change. The captured output goes to
the tracked run's artifacts (``logs/stdout.txt``, ``logs/stderr.txt``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from moorline.errors import AlreadyExists, ErrorCode, MoorlineError, NotFound
from moorline.pipelines.gate import Decision, Measurements, decide
from moorline.pipelines.models import CHAMPION, Pipeline, PipelineRun, RunState, StepStatus
from moorline.pipelines.ports import Job, Outcome
from moorline.pipelines.service import (
    PIPELINE_ACTOR,
    TAG_ALERT,
    TAG_ATTEMPT,
    TAG_MONITOR_RESULT,
    TAG_PIPELINE,
    TAG_PIPELINE_RUN,
    TAG_REMEDIATION,
    TAG_TRIGGER,
    TAG_VALIDATION,
    PipelineService,
)
from moorline.tracking.models import TAG_USER, RunStatus

log = logging.getLogger("moorline.pipelines.runner")

#: How much of the worker's stderr a failure message quotes.
STDERR_TAIL: Final = 4000
#: The tracked run's metric holding the training job's CPU seconds.
METRIC_CPU_SECONDS: Final = "moorline.cpu_seconds"


class PipelineRunner:
    """Runs claimed pipeline runs as ``holder``, renewing a ``lease_seconds`` lease."""

    def __init__(
        self,
        service: PipelineService,
        *,
        holder: str,
        lease_seconds: float,
        stopping: threading.Event | None = None,
    ) -> None:
        self._service = service
        self._holder = holder
        self._ttl_ms = round(lease_seconds * 1000)
        #: set when the process shuts down: running jobs are killed and their runs
        #: handed back (their lease expires at once, so any replica resumes them)
        self._stopping = stopping or threading.Event()

    @property
    def holder(self) -> str:
        return self._holder

    def execute(self, run: PipelineRun) -> PipelineRun:
        """Run ``run`` (held by this runner) to its end; the run as recorded after.

        Never raises for the run's own failures: they are recorded on it.
        """
        service = self._service
        try:
            pipeline = service.store.get_pipeline(run.pipeline)
        except NotFound:
            return self._fail(run, "the pipeline was deleted before its run started", None)
        try:
            return self._execute(pipeline, run)
        except KeyboardInterrupt:
            self._fail(
                run,
                "interrupted (KeyboardInterrupt) while it ran",
                None,
                code=ErrorCode.INTERNAL_ERROR.value,
            )
            raise
        except Exception as exc:  # a platform failure: recorded, never left running
            log.exception("pipeline run %s failed", run.id)
            message = (
                exc.message if isinstance(exc, MoorlineError) else f"{type(exc).__name__}: {exc}"
            )
            code = (
                exc.code.value if isinstance(exc, MoorlineError) else ErrorCode.INTERNAL_ERROR.value
            )
            return self._fail(run, f"moorline failed while running it: {message}", None, code=code)

    # -- the steps ------------------------------------------------------------------

    def _execute(self, pipeline: Pipeline, run: PipelineRun) -> PipelineRun:
        service = self._service
        champion = self._champion(pipeline.model)
        tracked = self._tracked_run(pipeline, run)
        run = self._update(run, tracked_run_id=tracked)
        service.record_step(
            run.remediation_id,
            "training",
            StepStatus.STARTED,
            f"attempt {run.attempt} on {pipeline.executor} by {self._holder}: "
            f"tracked run {tracked}",
            {
                "attempt": run.attempt,
                "run_id": tracked,
                "executor": pipeline.executor,
                "holder": self._holder,
            },
        )
        trigger = self._trigger_details(run)
        job = Job(
            spec={
                "pipeline": pipeline.to_dict(),
                "pipeline_run_id": run.id,
                "run_id": tracked,
                "store_uri": service.store_uri,
                "params": dict(run.params),
                "trigger": trigger,
                "champion_version": champion,
                "workdir": pipeline.workdir,
            },
            workdir=pipeline.workdir,
            env=service.worker_env,
            timeout_seconds=pipeline.timeout_seconds,
            ray_address=pipeline.ray_address,
        )
        outcome = service.executor(pipeline.executor).run(job, self._keep_going(run.id))
        self._upload_logs(tracked, outcome)
        self._log_cpu(tracked, outcome)
        if outcome.abandoned:
            if self._stopping.is_set():
                # Shutting down: hand the run back now rather than after the lease.
                service.store.renew_lease(run.id, holder=self._holder, ttl_ms=-1, now=service.now())
                log.warning("pipeline run %s: stopped by shutdown; it will be resumed", run.id)
            else:
                log.warning("pipeline run %s: lease lost; another runner took it over", run.id)
            return service.get_run(run.id)
        failure = _failure(pipeline, outcome)
        if failure is not None:
            message, code, user_traceback = failure
            return self._fail(run, message, user_traceback, code=code, outcome=outcome)
        assert outcome.result is not None
        result = {**dict(outcome.result), "execution": dict(outcome.details)}
        return self._succeed(pipeline, run, tracked, champion, result)

    def _succeed(
        self,
        pipeline: Pipeline,
        run: PipelineRun,
        tracked: str,
        champion: int | None,
        result: Mapping[str, Any],
    ) -> PipelineRun:
        service = self._service
        data = result.get("data") or {}
        service.record_step(
            run.remediation_id,
            "data",
            StepStatus.OK,
            "; ".join(
                f"{role} {d.get('name')}@{str(d.get('digest'))[:12]} ({d.get('rows')} rows)"
                for role, d in data.items()
            ),
            data,
        )
        execution = result.get("execution") or {}
        service.record_step(
            run.remediation_id,
            "training",
            StepStatus.OK,
            f"trained in {result.get('duration_s', '?')} s "
            f"({execution.get('executor')} executor on {execution.get('node')})",
            {"run_id": tracked, "model": result.get("model"), "execution": execution},
        )
        version = self._register(pipeline, run, tracked, result)
        service.record_step(
            run.remediation_id,
            "registration",
            StepStatus.OK,
            f"registered version {version} of {pipeline.model}",
            {
                "version": version,
                "model": pipeline.model,
                "source": result["model"]["uri"],
                "run_id": tracked,
            },
            challenger_version=version,
        )
        decision = decide(pipeline.rollout.gate, _measurements(result))
        service.registry.set_model_version_tag(
            pipeline.model,
            version,
            TAG_VALIDATION,
            "accepted" if decision.accepted else "rejected",
            actor=PIPELINE_ACTOR,
        )
        service.tracking.end_run(tracked, RunStatus.FINISHED)
        summary = {**dict(result), "decision": decision.to_dict()}
        done = service.store.finish_run(
            run.id,
            holder=self._holder,
            state=RunState.SUCCEEDED,
            now=service.now(),
            model_version=version,
            result=summary,
        )
        if not done:
            return service.get_run(run.id)
        self._after_gate(pipeline, run, version, champion, decision)
        return service.get_run(run.id)

    def _after_gate(
        self,
        pipeline: Pipeline,
        run: PipelineRun,
        version: int,
        champion: int | None,
        decision: Decision,
    ) -> None:
        try:
            self._service.advance(
                run.remediation_id, pipeline, version=version, champion=champion, decision=decision
            )
        except MoorlineError as exc:
            self._service.record_step(
                run.remediation_id,
                "approval",
                StepStatus.FAILED,
                f"could not move on after the gate: {exc.message}",
                status="failed",
            )

    def _register(
        self, pipeline: Pipeline, run: PipelineRun, tracked: str, result: Mapping[str, Any]
    ) -> int:
        from moorline.sdk.models import TAG_FLAVOR, TAG_MANIFEST_SHA256

        registry = self._service.registry
        model = result["model"]
        with contextlib.suppress(AlreadyExists):
            registry.create_registered_model(pipeline.model, actor=PIPELINE_ACTOR)
        version = registry.create_model_version(
            pipeline.model,
            str(model["uri"]),
            run_id=tracked,
            model_id=model.get("model_id"),
            tags={
                TAG_MANIFEST_SHA256: str(model.get("manifest_sha256", "")),
                TAG_FLAVOR: str(model.get("flavor", "")),
                TAG_PIPELINE: pipeline.name,
                TAG_PIPELINE_RUN: run.id,
                TAG_REMEDIATION: run.remediation_id,
            },
            description=f"trained by pipeline {pipeline.name} (run {run.id})",
            actor=PIPELINE_ACTOR,
        )
        return version.version

    def _fail(
        self,
        run: PipelineRun,
        message: str,
        user_traceback: str | None,
        *,
        code: str = ErrorCode.USER_CODE_ERROR.value,
        outcome: Outcome | None = None,
    ) -> PipelineRun:
        service = self._service
        with contextlib.suppress(NotFound):
            service.end_tracked_run(service.get_run(run.id).tracked_run_id, error=message)
        done = service.store.finish_run(
            run.id,
            holder=self._holder,
            state=RunState.FAILED,
            now=service.now(),
            error=message,
            error_code=code,
            traceback=user_traceback,
            result={}
            if outcome is None
            else {**dict(outcome.result or {}), "execution": dict(outcome.details)},
        )
        if done:
            details: dict[str, Any] = {"error_code": code}
            if outcome is not None:
                details.update(returncode=outcome.returncode, timed_out=outcome.timed_out)
            if user_traceback:
                details["traceback"] = user_traceback[-STDERR_TAIL:]
            service.fail_remediation(service.get_run(run.id), message, details)
        return service.get_run(run.id)

    # -- helpers --------------------------------------------------------------------

    def _update(self, run: PipelineRun, **changes: Any) -> PipelineRun:
        if not self._service.store.update_run(run.id, holder=self._holder, **changes):
            raise MoorlineError(f"pipeline run {run.id} is no longer held by {self._holder}")
        return self._service.get_run(run.id)

    def _keep_going(self, run_id: str) -> Any:
        store, now = self._service.store, self._service.now
        every = max(self._ttl_ms / 3000, 0.2)
        last = [time.monotonic()]

        def keep_going() -> bool:
            if self._stopping.is_set():
                return False
            if time.monotonic() - last[0] < every:
                return True
            last[0] = time.monotonic()
            try:
                return store.renew_lease(
                    run_id, holder=self._holder, ttl_ms=self._ttl_ms, now=now()
                )
            except MoorlineError as exc:  # a busy database: keep the job, retry next time
                log.warning("renewing the lease of %s failed: %s", run_id, exc)
                return True

        return keep_going

    def _champion(self, model: str) -> int | None:
        try:
            return self._service.registry.get_version_by_alias(model, CHAMPION).version
        except NotFound:
            return None

    def _trigger_details(self, run: PipelineRun) -> dict[str, Any]:
        if run.trigger_id is None:
            return {"kind": run.trigger_kind.value}
        try:
            trigger = self._service.store.get_trigger(run.trigger_id)
        except NotFound:
            return {"kind": run.trigger_kind.value}
        return {"kind": trigger.kind.value, **dict(trigger.details)}

    def _tracked_run(self, pipeline: Pipeline, run: PipelineRun) -> str:
        tracking = self._service.tracking
        experiment = tracking.get_experiment_by_name(pipeline.experiment_name)
        if experiment is None:
            try:
                experiment_id = tracking.create_experiment(pipeline.experiment_name)
            except AlreadyExists:
                found = tracking.get_experiment_by_name(pipeline.experiment_name)
                if found is None:
                    raise
                experiment_id = found.experiment_id
        else:
            experiment_id = experiment.experiment_id
        trigger = self._trigger_details(run)
        tags = {
            TAG_PIPELINE: pipeline.name,
            TAG_PIPELINE_RUN: run.id,
            TAG_ATTEMPT: str(run.attempt),
            TAG_TRIGGER: run.trigger_kind.value,
            TAG_REMEDIATION: run.remediation_id,
            TAG_USER: str(trigger.get("actor") or PIPELINE_ACTOR),
        }
        if trigger.get("dedup_key"):
            tags[TAG_ALERT] = str(trigger["dedup_key"])
            tags[TAG_MONITOR_RESULT] = str(trigger.get("monitor_result_id"))
        created = tracking.create_run(
            experiment_id,
            user_id=tags[TAG_USER],
            run_name=f"{pipeline.name}-{run.id[:8]}-{run.attempt}",
            tags=tags,
        )
        return str(created.info.run_id)

    def _log_cpu(self, tracked: str, outcome: Outcome) -> None:
        """The job's CPU seconds as the tracked run's ``moorline.cpu_seconds`` metric
        (the pipeline run keeps them in ``result.execution.cpu_seconds``)."""
        cpu = outcome.details.get("cpu_seconds")
        if not isinstance(cpu, int | float) or isinstance(cpu, bool):
            return
        try:
            self._service.tracking.log_metric(tracked, METRIC_CPU_SECONDS, float(cpu))
        except MoorlineError as exc:  # the run's outcome matters more than its cost
            log.warning("could not log the CPU time of run %s: %s", tracked, exc)

    def _upload_logs(self, tracked: str, outcome: Outcome) -> None:
        for name, data in (("stdout.txt", outcome.stdout), ("stderr.txt", outcome.stderr)):
            try:
                self._service.artifacts.log_run_artifact(tracked, f"logs/{name}", io.BytesIO(data))
            except MoorlineError as exc:  # the run's outcome matters more than its log
                log.warning("could not store %s of run %s: %s", name, tracked, exc)


def _failure(pipeline: Pipeline, outcome: Outcome) -> tuple[str, str, str | None] | None:
    """(message, error code, user traceback) when the job failed, else None."""
    stderr = outcome.stderr.decode(errors="replace")[-STDERR_TAIL:]
    if outcome.timed_out:
        return (
            f"timed out after {pipeline.timeout_seconds:g} s (the worker was killed)",
            ErrorCode.USER_CODE_ERROR.value,
            stderr or None,
        )
    result = outcome.result
    if result is None:
        return (
            f"the worker exited with code {outcome.returncode} before reporting a result",
            ErrorCode.INTERNAL_ERROR.value,
            stderr or None,
        )
    if result.get("status") != "ok":
        error = result.get("error") or {}
        return (
            str(error.get("message") or "the worker failed"),
            str(error.get("code") or ErrorCode.INTERNAL_ERROR.value),
            error.get("traceback"),
        )
    return None


def _measurements(result: Mapping[str, Any]) -> Measurements:
    evaluation = result.get("evaluation") or {}
    latency = evaluation.get("latency_p95_ms") or {}
    return Measurements(
        metric=str(evaluation.get("metric")),
        direction=str(evaluation.get("direction")),
        challenger=dict(evaluation.get("challenger") or {}),
        champion=evaluation.get("champion"),
        champion_version=evaluation.get("champion_version"),
        champion_error=evaluation.get("champion_error"),
        quality=result.get("quality"),
        latency_p95_ms=latency.get("challenger"),
        holdout_rows=evaluation.get("holdout_rows"),
    )


__all__ = ["PipelineRunner"]
