"""What pipelines need from storage, from the rollout and from executors.

:class:`PipelineStore` keeps pipelines, triggers, runs, cursors and
remediation records. Its conditional writes are what make several replicas
safe against one database: a trigger key is recorded once, a pending
trigger starts at most one run (or is deduplicated against the runs of its
group, decided inside the same transaction), a queued run is claimed by one
runner within the pipeline's concurrency limit, and a run whose runner died
is recovered once.

:class:`Rollout` is the port the serving side implements to put an accepted
challenger out as a canary; :class:`Executor` runs one training job
somewhere (a local subprocess, a Ray cluster).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from moorline.pipelines.models import (
    Pipeline,
    PipelineRun,
    Remediation,
    RemediationStatus,
    RunState,
    Step,
    Trigger,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StartDecision:
    """What :meth:`PipelineStore.start_trigger` did: the run it queued, or the
    run of the same group that absorbed the trigger (``deduplicated``)."""

    run: PipelineRun | None
    deduplicated_into: PipelineRun | None = None
    reason: str = ""


class PipelineStore(ABC):
    """Persistence of pipelines and everything their runs record."""

    # -- pipelines ------------------------------------------------------------------

    @abstractmethod
    def create_pipeline(self, pipeline: Pipeline) -> Pipeline:
        """Raises AlreadyExists if the name is taken."""

    @abstractmethod
    def update_pipeline(self, pipeline: Pipeline) -> Pipeline:
        """Replace the configuration (``created_at`` is kept). Raises NotFound."""

    @abstractmethod
    def get_pipeline(self, name: str) -> Pipeline:
        """Raises NotFound."""

    @abstractmethod
    def list_pipelines(self) -> list[Pipeline]:
        """By name."""

    @abstractmethod
    def delete_pipeline(self, name: str) -> None:
        """Delete the pipeline, its triggers, runs and cursors (remediation records
        stay: they are history). Raises NotFound; Conflict while a run is queued or
        running."""

    # -- triggers -------------------------------------------------------------------

    @abstractmethod
    def record_trigger(self, trigger: Trigger) -> tuple[Trigger, bool]:
        """Store ``trigger`` unless its (pipeline, key) is recorded already; the
        stored trigger and whether this call created it."""

    @abstractmethod
    def get_trigger(self, trigger_id: int) -> Trigger:
        """Raises NotFound."""

    @abstractmethod
    def list_triggers(
        self, pipeline: str, *, pending_only: bool = False, limit: int = 100
    ) -> list[Trigger]:
        """Triggers of ``pipeline``, oldest first when ``pending_only``, else newest first."""

    @abstractmethod
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
        """Turn pending trigger ``trigger_id`` into ``run`` (queued) with its
        ``remediation`` record, in one transaction, unless a run of the same
        group is queued or running, or (``cooldown_since`` given) finished after
        it: then the trigger is marked deduplicated, and ``dedup_step(that run)``
        is appended to that run's remediation. A trigger
        no longer pending (another replica took it) gives ``StartDecision(run=None)``.
        """

    # -- cursors --------------------------------------------------------------------

    @abstractmethod
    def get_cursor(self, pipeline: str, source: str) -> tuple[int, str] | None:
        """(position, value) of what ``pipeline`` last saw from ``source``."""

    @abstractmethod
    def advance_cursor(self, pipeline: str, source: str, position: int, value: str) -> None:
        """Move the cursor forward (never back: a lower position is ignored)."""

    # -- runs -----------------------------------------------------------------------

    @abstractmethod
    def get_run(self, run_id: str) -> PipelineRun:
        """Raises NotFound."""

    @abstractmethod
    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        states: tuple[RunState, ...] | None = None,
        limit: int = 100,
    ) -> list[PipelineRun]:
        """Runs, newest first."""

    @abstractmethod
    def claim_next(
        self, pipeline: str, *, holder: str, ttl_ms: int, now: int, run_id: str | None = None
    ) -> PipelineRun | None:
        """Move the oldest queued run of ``pipeline`` (or run ``run_id``) to running,
        held by ``holder`` until ``now + ttl_ms``, if fewer than the pipeline's
        concurrency limit are running; None otherwise. Atomic across replicas."""

    @abstractmethod
    def renew_lease(self, run_id: str, *, holder: str, ttl_ms: int, now: int) -> bool:
        """Extend ``holder``'s lease on a running run; False when it is not theirs any more."""

    @abstractmethod
    def update_run(self, run_id: str, *, holder: str, **changes: Any) -> bool:
        """Change fields of a running run held by ``holder``; False when it is not theirs."""

    @abstractmethod
    def finish_run(
        self, run_id: str, *, holder: str, state: RunState, now: int, **changes: Any
    ) -> bool:
        """End a running run held by ``holder`` with ``state``; False when not theirs."""

    @abstractmethod
    def expired_runs(self, now: int) -> list[PipelineRun]:
        """Running runs whose lease expired before ``now`` (their runner is gone)."""

    @abstractmethod
    def recover_run(
        self, run_id: str, *, now: int, requeue: bool, error: str | None = None
    ) -> PipelineRun | None:
        """Take over an expired run: queue it again (next attempt) or fail it with
        ``error``. None when it is not expired any more (another replica took it,
        or its runner came back)."""

    # -- remediation records --------------------------------------------------------

    @abstractmethod
    def get_remediation(self, remediation_id: str) -> Remediation:
        """With its steps, in order. Raises NotFound."""

    @abstractmethod
    def list_remediations(
        self,
        *,
        pipeline: str | None = None,
        model: str | None = None,
        status: RemediationStatus | None = None,
        alert_key: str | None = None,
        limit: int = 100,
    ) -> list[Remediation]:
        """Newest first, without steps."""

    @abstractmethod
    def append_step(
        self,
        remediation_id: str,
        step: Step,
        *,
        status: RemediationStatus | None = None,
        now: int,
        **changes: Any,
    ) -> Remediation:
        """Append ``step``; set the record's ``status`` and ``changes``
        (challenger_version, champion_version, approval_id) with it. Raises NotFound."""


class Rollout(Protocol):
    """Puts an accepted challenger out as a canary (implemented by serving).

    Called once the gate accepted the challenger and any approval was
    granted; returns what it did (for the remediation record). Canary
    analysis, promotion and rollback append their own steps to the record
    through :meth:`PipelineService.record_step`.
    """

    def start_canary(
        self,
        model: str,
        champion: int | None,
        challenger: int,
        weight: float,
        *,
        remediation_id: str,
    ) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One training job for an executor: the worker's spec (JSON values), the
    folder it runs in, its environment and time limit."""

    spec: Mapping[str, Any]
    workdir: str
    env: Mapping[str, str]
    timeout_seconds: float
    ray_address: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How a job ended: the worker's result document (None when it reported
    none), whether it was killed for its time limit or because the run's lease
    was lost, its exit code and captured output."""

    result: Mapping[str, Any] | None
    returncode: int | None
    stdout: bytes = b""
    stderr: bytes = b""
    timed_out: bool = False
    abandoned: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    """Runs a :class:`Job` to its end. ``keep_going`` is called about every
    second while it runs; when it returns False the job is killed and the
    outcome is ``abandoned`` (the run's lease was lost)."""

    name: str

    def run(self, job: Job, keep_going: Callable[[], bool]) -> Outcome: ...


__all__ = [
    "Executor",
    "Job",
    "Outcome",
    "PipelineStore",
    "Rollout",
    "StartDecision",
]
