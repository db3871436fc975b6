"""The canary controller: start a canary, judge it, promote or roll back by itself.

:class:`CanaryController` drives one deployment's canary through
:class:`~moorline.serving.service.DeploymentService`, so every traffic
change is a new revision written with its audit entry (under the actor
``moorline:rollout``, or the person who started or aborted the canary):

1. :meth:`~CanaryController.start_canary` splits the traffic of a deployment
   that serves one version (the champion) with a challenger, at ``weight``
   percent. The canary itself is a row of the :class:`CanaryStore`
   (``canaries`` table): champion, challenger, weight, the
   :class:`~moorline.serving.canary.CanaryPolicy` it is judged by, the
   revision that started it, its deadline, its remediation, its status and
   its latest verdict. Any replica, even after a restart, finds it there.
   The row is written first and the traffic changed second (the row is
   removed again when the change is refused), so a canary is never left
   running without its row.
2. :meth:`~CanaryController.evaluate` reads the prediction log since that
   revision and runs :func:`~moorline.serving.canary.analyze_canary`, and
   stores the verdict with every rule's reason on the row. PROMOTE moves the
   registry alias (``champion`` by default) to the challenger, through the
   registry's governance, then routes all traffic to it; a refused alias
   move keeps the canary running and says why. ROLLBACK restores the
   champion-only policy (a ``rollback`` revision). WAIT does nothing. The
   row then ends ``promoted``, ``rolled_back`` (or ``aborted`` by
   :meth:`~CanaryController.abort`).
3. :class:`CanaryLoop` evaluates every managed canary every ``interval``
   seconds on a thread beside the server. With a lease store (the monitor
   scheduler's leases), replicas against one database take turns: each
   canary is judged by one of them at a time.

A canary policy set by hand (``moorline traffic``) has no row: the
controller leaves it alone. Changing a managed canary's split by hand takes
it out of the controller's hands: the next tick ends its row (``aborted``,
or ``promoted`` when the challenger was given all traffic), naming the
revision that did it.

When the canary belongs to a remediation (the closed loop of issue #6), each
step (started, analysis verdicts as they change, promotion, refusal, rollback)
is written to the remediation record through a :class:`RemediationLog`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final, Protocol

from moorline.core.clock import now_ms
from moorline.errors import Conflict, InvalidArgument, MoorlineError, NotFound
from moorline.serving.canaries import CanaryRecord, CanarySpec, CanaryStatus
from moorline.serving.canary import CanaryAnalysis, CanaryPolicy, Verdict, analyze_canary
from moorline.serving.models import (
    Deployment,
    LoggedPrediction,
    PolicyKind,
    PolicyRevision,
    TrafficPolicy,
    validate_deployment_name,
)
from moorline.serving.ports import CanaryStore
from moorline.serving.service import MAX_REASON, DeploymentService

log = logging.getLogger("moorline.serving.rollout")

#: Who the audit log names for every change the controller makes by itself.
ROLLOUT_ACTOR: Final = "moorline:rollout"
#: How many revisions back the end of a canary is looked for.
HISTORY_DEPTH: Final = 200
#: Lease names are ``canary:<deployment>`` (monitor names cannot hold ':').
LEASE_PREFIX: Final = "canary:"
#: The longest reason a remediation step gets (details carry the rest).
MAX_STEP_REASON: Final = 4000
#: A canary row whose traffic change has not happened after this long was
#: left behind by a process that stopped between the two writes.
START_GRACE_MS: Final = 120_000
#: Most canaries :meth:`CanaryController.list_canaries` returns.
MAX_LIST: Final = 1000


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


class AliasMover(Protocol):
    """What the controller needs from the registry (``RegistryService`` fits)."""

    def get_version_by_alias(self, name: str, alias: str) -> _Versioned: ...

    def set_alias(
        self, name: str, alias: str, version: object, *, actor: str = "", reason: str = ""
    ) -> None: ...


class LeaseStore(Protocol):
    """A lease in the database (the monitor store's leases fit)."""

    def try_acquire_lease(self, name: str, holder: str, ttl_seconds: float, now: int) -> bool: ...

    def release_lease(self, name: str, holder: str) -> None: ...


class RemediationLog(Protocol):
    """Where the steps of a remediation's canary are written: the pipelines
    package's :meth:`PipelineService.record_step` fits. ``outcome`` is a step
    status (``started``, ``pending``, ``ok``, ``failed``); ``status`` the
    remediation's new status (``canary``, ``promoted``, ``rolled_back``) or
    None to keep it."""

    def record_step(
        self,
        remediation_id: str,
        step: str,
        outcome: str,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
        *,
        status: str | None = None,
    ) -> object: ...


class CanaryAction(StrEnum):
    WAITING = "waiting"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    #: PROMOTE, but governance refused the alias move: the canary keeps running
    PROMOTION_REFUSED = "promotion_refused"
    #: the deployment changed while the verdict was acted on; nothing done
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryOutcome:
    """What one evaluation decided and did."""

    spec: CanarySpec
    analysis: CanaryAnalysis
    action: CanaryAction
    reason: str
    deployment: Deployment | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "analysis": self.analysis.to_dict(),
            "action": self.action.value,
            "reason": self.reason,
            "deployment": None if self.deployment is None else self.deployment.to_dict(),
        }


def _clip(text: str, limit: int = MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verdict_details(analysis: CanaryAnalysis) -> dict[str, Any]:
    return {
        "verdict": analysis.verdict.value,
        "decided_by": analysis.decided_by,
        "champion": analysis.champion.to_dict(),
        "challenger": analysis.challenger.to_dict(),
        "rules": [r.to_dict() for r in analysis.rules],
    }


def canary_policy(spec: CanarySpec) -> TrafficPolicy:
    """The traffic policy a running canary gives its deployment."""
    return TrafficPolicy.canary(
        champion=spec.champion, challenger=spec.challenger, weight=spec.weight
    )


def _runs(record: CanaryRecord, current: Deployment) -> bool:
    """Whether ``current`` (the deployment as it is) still runs ``record``'s split."""
    return current.revision >= record.spec.revision and current.policy == canary_policy(record.spec)


class CanaryController:
    """Starts, judges and ends canaries of deployments (see the module docs).

    ``store``: where the canaries are kept (the ``canaries`` table).
    ``registry``: moves the promoted version's alias (None: no alias moves).
    ``remediations``: where steps of a remediation's canary are written.
    ``max_records``: the most logged requests read per side per evaluation
    (the oldest of the window first). ``retry_refused_s``: after governance
    refused a promotion's alias move, how long before it is asked again (each
    refusal is audited, so the loop must not ask every tick).
    """

    def __init__(
        self,
        deployments: DeploymentService,
        *,
        store: CanaryStore,
        registry: AliasMover | None = None,
        remediations: RemediationLog | None = None,
        clock: Callable[[], int] = now_ms,
        max_records: int = 50_000,
        actor: str = ROLLOUT_ACTOR,
        retry_refused_s: float = 600.0,
    ) -> None:
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise InvalidArgument("max_records must be a positive integer")
        self._deployments = deployments
        self._store = store
        self._registry = registry
        self._remediations = remediations
        self._clock = clock
        self._max_records = max_records
        self._actor = actor
        self._lock = threading.Lock()
        #: canary id -> when the alias move was refused, and why
        self._refused: dict[str, tuple[int, str]] = {}
        self._retry_refused_ms = round(retry_refused_s * 1000)

    @property
    def deployments(self) -> DeploymentService:
        return self._deployments

    @property
    def store(self) -> CanaryStore:
        return self._store

    # -- starting ---------------------------------------------------------------------
    def start_canary(
        self,
        deployment: str,
        challenger: int,
        weight: float,
        policy: CanaryPolicy | None = None,
        *,
        remediation: str | None = None,
        reason: str = "",
        record_start: bool = True,
        actor: str | None = None,
    ) -> CanarySpec:
        """Send ``weight`` percent of ``deployment``'s traffic to ``challenger``.

        The deployment must serve one version (its champion). Raises Conflict
        when it serves a split already (or another canary is being started),
        InvalidArgument for a bad version or weight, and whatever the
        deployment's checks raise (an unknown version, a consumer's missing
        field, a high-risk model without approval). ``remediation``: the
        remediation record the canary belongs to; its steps are written there
        (the start too, unless ``record_start`` is False because the caller
        records it, as the pipelines service does). ``actor``: who the audit
        log names for the traffic change (the controller by default).
        """
        policy = policy or CanaryPolicy()
        if not isinstance(policy, CanaryPolicy):
            raise InvalidArgument("policy must be a CanaryPolicy")
        if isinstance(challenger, bool) or not isinstance(challenger, int) or challenger < 1:
            raise InvalidArgument(f"challenger must be a model version number, got {challenger!r}")
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not 0 < float(weight) < 100
        ):
            raise InvalidArgument(f"A canary's weight is a percentage in (0, 100), got {weight!r}")
        if remediation is not None and (not isinstance(remediation, str) or not remediation):
            raise InvalidArgument("remediation must be a remediation id")
        if not isinstance(reason, str):
            raise InvalidArgument("reason must be a string")
        who = actor or self._actor
        current = self._deployments.get(deployment)
        if current.policy.kind is not PolicyKind.SINGLE:
            raise Conflict(
                f"Deployment {deployment!r} serves {current.policy.describe()}: a canary starts "
                "from a deployment serving one version (its champion)"
            )
        champion = current.policy.routes[0].version
        if champion == challenger:
            raise InvalidArgument(f"v{challenger} is already the champion of {deployment!r}")
        left = self._store.running_canary(current.name)
        if left is not None:
            self._end_stale(left, current)
        canary_id = uuid.uuid4().hex
        now = self._clock()
        spec = CanarySpec(
            id=canary_id,
            deployment=current.name,
            model=current.model,
            champion=champion,
            challenger=challenger,
            weight=float(weight),
            policy=policy,
            revision=current.revision + 1,
            started_at=now,
            remediation=remediation,
            started_by=who,
        )
        head = f"canary {canary_id}: v{challenger} against champion v{champion} at {weight:g}%"
        if remediation:
            head += f" (remediation {remediation})"
        if reason.strip():
            head += f": {reason.strip()}"
        self._store.add_canary(CanaryRecord(spec=spec, status=CanaryStatus.RUNNING, updated_at=now))
        try:
            updated = self._deployments.set_traffic(
                deployment,
                canary_policy(spec),
                actor=who,
                reason=_clip(head),
                expected_revision=current.revision,
            )
        except BaseException:
            try:
                self._store.discard_canary(canary_id)
            except MoorlineError:
                # Left running: the next tick ends it (its traffic change never happened).
                log.exception("canary %s: could not remove the row of a refused start", canary_id)
            raise
        started = replace(spec, revision=updated.revision, started_at=updated.updated_at)
        self._store.update_canary(
            canary_id, now=self._clock(), revision=updated.revision, started_at=updated.updated_at
        )
        if record_start:
            self._record(
                started,
                step="canary",
                status="started",
                reason=head,
                details=started.to_dict(),
                remediation_status="canary",
            )
        return started

    # -- reading ----------------------------------------------------------------------
    def active(self, deployment: str) -> CanarySpec | None:
        """The managed canary ``deployment`` runs now, or None."""
        record = self._active_record(self._deployments.get(deployment))
        return None if record is None else record.spec

    def list_active(self) -> list[CanarySpec]:
        """Every managed canary running now, by deployment name."""
        running = self._store.list_canaries(status=CanaryStatus.RUNNING, limit=MAX_LIST)
        if not running:
            return []
        current = {d.name: d for d in self._deployments.list_deployments()}
        out = [
            r.spec for r in running if r.deployment in current and _runs(r, current[r.deployment])
        ]
        return sorted(out, key=lambda s: s.deployment)

    def current(self, deployment: str) -> CanaryRecord | None:
        """The row of the managed canary ``deployment`` runs now, or None."""
        return self._active_record(self._deployments.get(deployment))

    def latest(self, deployment: str) -> CanaryRecord | None:
        """The newest canary of ``deployment`` (running or ended), or None."""
        found = self._store.list_canaries(deployment=validate_deployment_name(deployment), limit=1)
        return found[0] if found else None

    def get(self, canary_id: str) -> CanaryRecord:
        """Raises NotFound."""
        if not isinstance(canary_id, str) or not canary_id.strip():
            raise InvalidArgument("A canary id is a non-empty string")
        return self._store.get_canary(canary_id.strip())

    def list_canaries(
        self,
        *,
        deployment: str | None = None,
        status: CanaryStatus | str | None = None,
        limit: int = 100,
    ) -> list[CanaryRecord]:
        """Canaries, newest first (of ``deployment``, in ``status``)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise InvalidArgument(f"limit must be an integer in [1, {MAX_LIST}]")
        wanted = None
        if status is not None:
            try:
                wanted = CanaryStatus(str(status))
            except ValueError:
                names = ", ".join(s.value for s in CanaryStatus)
                raise InvalidArgument(f"Unknown canary status {status!r}: use {names}") from None
        if deployment is not None:
            validate_deployment_name(deployment)
        return self._store.list_canaries(deployment=deployment, status=wanted, limit=limit)

    def _active_record(self, current: Deployment) -> CanaryRecord | None:
        record = self._store.running_canary(current.name)
        if record is None or not _runs(record, current):
            return None
        return record

    def _records(self, spec: CanarySpec) -> list[LoggedPrediction]:
        store = self._deployments.predictions
        out: list[LoggedPrediction] = []
        for version in (spec.champion, spec.challenger):
            out += store.read_predictions(
                spec.deployment,
                since=spec.started_at,
                version=version,
                shadow=False,
                limit=self._max_records,
            )
        return out

    def analyze(self, deployment: str, *, now: int | None = None) -> CanaryAnalysis:
        """The current verdict on ``deployment``'s canary, without acting on it.

        Raises NotFound when the deployment runs no managed canary.
        """
        record = self._require(deployment)
        return self._analyze(record.spec, self._clock() if now is None else now)

    def _require(self, deployment: str) -> CanaryRecord:
        record = self._active_record(self._deployments.get(deployment))
        if record is None:
            raise NotFound(f"Deployment {deployment!r} runs no canary started by moorline")
        return record

    def _analyze(self, spec: CanarySpec, now: int) -> CanaryAnalysis:
        return analyze_canary(
            self._records(spec),
            champion=spec.champion,
            challenger=spec.challenger,
            policy=spec.policy,
            started_at=spec.started_at,
            now=max(now, spec.started_at),
        )

    # -- deciding ---------------------------------------------------------------------
    def evaluate(self, deployment: str, *, now: int | None = None) -> CanaryOutcome:
        """Judge ``deployment``'s canary, store the verdict, and act on it (see the
        module docs).

        Raises NotFound when the deployment runs no managed canary.
        """
        record = self._require(deployment)
        spec = record.spec
        analysis = self._analyze(spec, self._clock() if now is None else now)
        self._store.update_canary(spec.id, now=self._clock(), last_verdict=analysis.to_dict())
        self._record_verdict(record, analysis)
        if analysis.verdict is Verdict.PROMOTE:
            return self._promote(spec, analysis)
        if analysis.verdict is Verdict.ROLLBACK:
            return self._roll_back(spec, analysis)
        return CanaryOutcome(
            spec=spec,
            analysis=analysis,
            action=CanaryAction.WAITING,
            reason=analysis.summary(),
        )

    def abort(self, deployment: str, *, reason: str, actor: str | None = None) -> Deployment:
        """End ``deployment``'s managed canary now: the champion takes all traffic."""
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidArgument("Aborting a canary needs a reason")
        spec = self._require(deployment).spec
        who = actor or self._actor
        text = _clip(f"canary {spec.id} of v{spec.challenger} aborted: {reason.strip()}")
        updated = self._restore_champion(spec, text, who)
        self._finish(spec, CanaryStatus.ABORTED, f"aborted by {who}: {reason.strip()}", updated)
        self._record(
            spec,
            step="rollback",
            status="ok",
            reason=text,
            details={"revision": updated.revision, "aborted": True, "actor": who},
            remediation_status="rolled_back",
        )
        return updated

    def _finish(
        self,
        spec: CanarySpec,
        status: CanaryStatus,
        reason: str,
        updated: Deployment,
        analysis: CanaryAnalysis | None = None,
    ) -> None:
        """End the canary's row; the traffic change is done, so a failure here is
        logged (the next tick's reconciliation ends the row) rather than raised."""
        try:
            self._store.finish_canary(
                spec.id,
                status=status,
                now=self._clock(),
                reason=_clip(reason, MAX_STEP_REASON),
                ended_revision=updated.revision,
                last_verdict=None if analysis is None else analysis.to_dict(),
            )
        except MoorlineError:
            log.exception("canary %s: could not record that it ended %s", spec.id, status.value)

    def _promote(self, spec: CanarySpec, analysis: CanaryAnalysis) -> CanaryOutcome:
        summary = analysis.summary()
        try:
            expected = self._still_running(spec)
        except Conflict as exc:
            return self._superseded(spec, analysis, exc)
        alias = spec.policy.alias
        notes = []
        if alias is not None and self._registry is None:
            notes.append(f"alias {alias!r} not moved: the controller has no registry")
        elif alias is not None and self._alias_version(spec.model, alias) == spec.challenger:
            notes.append(f"alias {alias!r} already on v{spec.challenger}")
        elif alias is not None:
            assert self._registry is not None
            with self._lock:
                earlier = self._refused.get(spec.id)
            if earlier is not None and analysis.at - earlier[0] < self._retry_refused_ms:
                return CanaryOutcome(
                    spec=spec,
                    analysis=analysis,
                    action=CanaryAction.PROMOTION_REFUSED,
                    reason=earlier[1],
                )
            try:
                self._registry.set_alias(
                    spec.model,
                    alias,
                    spec.challenger,
                    actor=self._actor,
                    reason=_clip(f"promoted by canary analysis: {summary}"),
                )
            except MoorlineError as exc:
                why = (
                    f"canary of v{spec.challenger} passed, but moving alias {alias!r} to it was "
                    f"refused ({exc.code.value}): {exc.message}; the canary keeps running"
                )
                log.warning("deployment %s: %s", spec.deployment, why)
                with self._lock:
                    self._refused[spec.id] = (analysis.at, why)
                self._store.update_canary(spec.id, now=self._clock(), reason=_clip(why))
                if earlier is None or earlier[1] != why:
                    self._record(
                        spec,
                        step="promotion",
                        status="failed",
                        reason=why,
                        details={"error_code": exc.code.value, **_verdict_details(analysis)},
                    )
                return CanaryOutcome(
                    spec=spec,
                    analysis=analysis,
                    action=CanaryAction.PROMOTION_REFUSED,
                    reason=why,
                )
            notes.append(f"alias {alias!r} moved to v{spec.challenger}")
        text = _clip(f"promoted: {summary}")
        try:
            updated = self._deployments.set_traffic(
                spec.deployment,
                TrafficPolicy.single(spec.challenger),
                actor=self._actor,
                reason=text,
                expected_revision=expected,
            )
        except Conflict as exc:
            return self._superseded(spec, analysis, exc)
        reason = "; ".join([f"v{spec.challenger} takes all traffic", *notes])
        self._finish(spec, CanaryStatus.PROMOTED, f"{reason}. {summary}", updated, analysis)
        self._record(
            spec,
            step="promotion",
            status="ok",
            reason=f"{reason}. {summary}",
            details={"revision": updated.revision, **_verdict_details(analysis)},
            remediation_status="promoted",
        )
        return CanaryOutcome(
            spec=spec,
            analysis=analysis,
            action=CanaryAction.PROMOTED,
            reason=reason,
            deployment=updated,
        )

    def _alias_version(self, model: str, alias: str) -> int | None:
        assert self._registry is not None
        try:
            return self._registry.get_version_by_alias(model, alias).version
        except NotFound:
            return None

    def _roll_back(self, spec: CanarySpec, analysis: CanaryAnalysis) -> CanaryOutcome:
        summary = analysis.summary()
        try:
            self._still_running(spec)
            updated = self._restore_champion(spec, _clip(f"rolled back: {summary}"), self._actor)
        except Conflict as exc:
            return self._superseded(spec, analysis, exc)
        reason = f"v{spec.champion} takes all traffic again"
        self._finish(spec, CanaryStatus.ROLLED_BACK, f"{reason}. {summary}", updated, analysis)
        self._record(
            spec,
            step="rollback",
            status="ok",
            reason=f"{reason}. {summary}",
            details={"revision": updated.revision, **_verdict_details(analysis)},
            remediation_status="rolled_back",
        )
        return CanaryOutcome(
            spec=spec,
            analysis=analysis,
            action=CanaryAction.ROLLED_BACK,
            reason=reason,
            deployment=updated,
        )

    def _restore_champion(self, spec: CanarySpec, reason: str, actor: str) -> Deployment:
        """The champion-only policy back: the revision before the canary is
        restored when the settings have not changed since (a ``rollback``
        revision); otherwise the champion gets all traffic with today's settings."""
        current = self._deployments.get(spec.deployment)
        before = [
            r
            for r in self._deployments.history(spec.deployment, limit=HISTORY_DEPTH)
            if r.revision == spec.revision - 1
        ]
        if (
            before
            and before[0].policy == TrafficPolicy.single(spec.champion)
            and before[0].settings == current.settings
        ):
            return self._deployments.rollback(
                spec.deployment,
                actor=actor,
                reason=reason,
                to_revision=before[0].revision,
                expected_revision=current.revision,
            )
        return self._deployments.set_traffic(
            spec.deployment,
            TrafficPolicy.single(spec.champion),
            actor=actor,
            reason=reason,
            expected_revision=current.revision,
        )

    def _still_running(self, spec: CanarySpec) -> int:
        """The deployment's revision if it still runs this canary; Conflict otherwise."""
        current = self._deployments.get(spec.deployment)
        record = self._active_record(current)
        if record is None or record.id != spec.id:
            raise Conflict(
                f"Deployment {spec.deployment!r} changed while its canary was judged "
                f"(now {current.policy.describe()}, revision {current.revision})"
            )
        return current.revision

    def _superseded(
        self, spec: CanarySpec, analysis: CanaryAnalysis, exc: MoorlineError
    ) -> CanaryOutcome:
        return CanaryOutcome(
            spec=spec,
            analysis=analysis,
            action=CanaryAction.SUPERSEDED,
            reason=f"verdict {analysis.verdict.value} not applied: {exc.message}",
        )

    # -- canaries ended by other hands ------------------------------------------------
    def _end_stale(self, record: CanaryRecord, current: Deployment | None) -> bool:
        """End ``record`` if the deployment does not run it any more (its split was
        changed by hand, the deployment is gone, or the process that started it
        stopped before changing the traffic). True when it ended it."""
        spec = record.spec
        now = self._clock()
        if current is not None and _runs(record, current):
            return False
        if current is not None and current.revision < spec.revision:
            if now - record.updated_at < START_GRACE_MS:
                return False  # being started right now
            status, why = CanaryStatus.ABORTED, "its traffic change never happened"
            ended: int | None = current.revision
        elif current is None:
            status, why, ended = CanaryStatus.ABORTED, "the deployment was deleted", None
        else:
            status, why, ended = self._how_it_ended(spec, current)
        if not self._store.finish_canary(
            spec.id,
            status=status,
            now=now,
            reason=_clip(why, MAX_STEP_REASON),
            ended_revision=ended,
        ):
            return False
        log.info("canary %s of deployment %s ended %s: %s", spec.id, spec.deployment, status, why)
        step = "promotion" if status is CanaryStatus.PROMOTED else "rollback"
        self._record(
            spec,
            step=step,
            status="ok",
            reason=f"canary ended outside its analysis: {why}",
            details={"revision": ended, "ended_by_hand": True},
            remediation_status="promoted" if status is CanaryStatus.PROMOTED else "rolled_back",
        )
        return True

    def _how_it_ended(
        self, spec: CanarySpec, current: Deployment
    ) -> tuple[CanaryStatus, str, int | None]:
        """From the deployment's history: the first revision after the canary's start
        that left its split, and what it became."""
        split = canary_policy(spec)
        first: PolicyRevision | None = None
        for revision in self._deployments.history(spec.deployment, limit=HISTORY_DEPTH):
            if revision.revision <= spec.revision:
                break
            if revision.policy != split:
                first = revision
        if first is None:
            return CanaryStatus.ABORTED, f"deployment now serves {current.policy.describe()}", None
        what = (
            f"revision {first.revision} by {first.actor or 'someone'} set {first.policy.describe()}"
        )
        if first.reason:
            what += f" ({_clip(first.reason, 500)})"
        if first.actor == self._actor and first.reason.startswith("rolled back"):
            return CanaryStatus.ROLLED_BACK, what, first.revision
        if first.policy == TrafficPolicy.single(spec.challenger):
            return CanaryStatus.PROMOTED, what, first.revision
        return CanaryStatus.ABORTED, what, first.revision

    # -- the remediation record -------------------------------------------------------
    def _record_verdict(self, record: CanaryRecord, analysis: CanaryAnalysis) -> None:
        """Write an analysis to the remediation when its verdict changed since the
        one stored with the canary (every PROMOTE and ROLLBACK, and WAIT the first
        time), not every tick."""
        spec = record.spec
        if spec.remediation is None or self._remediations is None:
            return
        before = (record.last_verdict or {}).get("verdict")
        if before == analysis.verdict.value:
            return
        self._record(
            spec,
            step="canary_analysis",
            status="pending" if analysis.verdict is Verdict.WAIT else "ok",
            reason=analysis.summary(),
            details={"at": analysis.at, **_verdict_details(analysis)},
        )

    def _record(
        self,
        spec: CanarySpec,
        *,
        step: str,
        status: str,
        reason: str,
        details: Mapping[str, Any],
        remediation_status: str | None = None,
    ) -> None:
        if spec.remediation is None or self._remediations is None:
            return
        try:
            self._remediations.record_step(
                spec.remediation,
                step,
                status,
                _clip(reason, MAX_STEP_REASON),
                {**details, "deployment": spec.deployment, "canary_id": spec.id},
                status=remediation_status,
            )
        except Exception:
            # The traffic change is done and audited; a lost step must not undo it.
            log.exception("remediation %s: could not record step %s", spec.remediation, step)

    # -- the loop's unit of work ------------------------------------------------------
    def tick(
        self,
        *,
        now: int | None = None,
        leases: LeaseStore | None = None,
        holder: str = "",
        lease_seconds: float = 120.0,
    ) -> list[CanaryOutcome]:
        """Evaluate every managed canary once (each under its lease, when given);
        end the rows of canaries whose deployment does not run them any more."""
        out = []
        running = self._store.list_canaries(status=CanaryStatus.RUNNING, limit=MAX_LIST)
        for record in sorted(running, key=lambda r: r.deployment):
            at = self._clock() if now is None else now
            name = LEASE_PREFIX + record.deployment
            if leases is not None and not leases.try_acquire_lease(name, holder, lease_seconds, at):
                continue
            try:
                try:
                    current: Deployment | None = self._deployments.get(record.deployment)
                except NotFound:
                    current = None
                if current is None or not _runs(record, current):
                    self._end_stale(record, current)
                    continue
                out.append(self.evaluate(record.deployment, now=at))
            except NotFound:
                pass  # ended (or deleted) since it was listed
            except Exception:
                log.exception("canary of deployment %s: evaluation failed", record.deployment)
            finally:
                if leases is not None:
                    leases.release_lease(name, holder)
        return out


class _Evaluation(Protocol):
    @property
    def metric(self) -> str: ...


class _Pipeline(Protocol):
    @property
    def evaluation(self) -> _Evaluation: ...


class _Remediation(Protocol):
    @property
    def pipeline(self) -> str: ...


class PipelineCatalog(Protocol):
    """What :class:`PipelineRollout` reads about the pipeline behind a remediation
    (``PipelineService`` fits)."""

    def get_remediation(self, remediation_id: str) -> _Remediation: ...

    def get(self, name: str) -> _Pipeline: ...


class PipelineRollout:
    """The pipelines package's ``Rollout`` port over a :class:`CanaryController`.

    The loop knows the model and its champion version, not the deployment: the
    canary goes to the one deployment of the model serving the champion alone
    (Conflict when there is none, or several to choose from). The canary is
    judged by ``policy`` with the pipeline's own evaluation metric (read
    through ``pipelines``), so the challenger is held to the metric it was
    validated on, measured on live feedback this time.
    """

    def __init__(
        self,
        controller: CanaryController,
        *,
        pipelines: PipelineCatalog | None = None,
        policy: CanaryPolicy | None = None,
    ) -> None:
        self._controller = controller
        self._pipelines = pipelines
        self._policy = policy or CanaryPolicy()

    def policy_for(self, remediation_id: str) -> CanaryPolicy:
        """The canary policy of a remediation's challenger."""
        if self._pipelines is None:
            return self._policy
        try:
            record = self._pipelines.get_remediation(remediation_id)
            metric = self._pipelines.get(record.pipeline).evaluation.metric
        except NotFound:
            return self._policy
        return CanaryPolicy.from_dict({**self._policy.to_dict(), "metric": metric})

    def start_canary(
        self,
        model: str,
        champion: int | None,
        challenger: int,
        weight: float,
        *,
        remediation_id: str,
    ) -> Mapping[str, Any]:
        """Start the canary; what it did, for the remediation record."""
        deployments = self._controller.deployments.list_deployments(model=model)
        serving = [
            d
            for d in deployments
            if d.policy.kind is PolicyKind.SINGLE
            and (champion is None or d.policy.routes[0].version == champion)
        ]
        wanted = f"v{champion}" if champion is not None else "one version"
        if not serving:
            names = ", ".join(f"{d.name} ({d.policy.describe()})" for d in deployments)
            raise Conflict(
                f"No deployment of model {model!r} serves {wanted} alone, so there is no "
                f"traffic to put a canary in" + (f"; deployments: {names}" if names else "")
            )
        if len(serving) > 1:
            raise Conflict(
                f"Several deployments of model {model!r} serve {wanted}: "
                f"{', '.join(d.name for d in serving)}; start the canary on one by hand "
                "(moorline's canary controller) or keep one deployment per model"
            )
        spec = self._controller.start_canary(
            serving[0].name,
            challenger,
            weight,
            self.policy_for(remediation_id),
            remediation=remediation_id,
            reason="accepted by the validation gate",
            record_start=False,
        )
        return spec.to_dict()


def default_holder() -> str:
    """This process's lease-holder name: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class CanaryLoop:
    """A daemon thread running :meth:`CanaryController.tick` every ``interval`` seconds."""

    def __init__(
        self,
        controller: CanaryController,
        *,
        interval: float = 30.0,
        leases: LeaseStore | None = None,
        holder: str | None = None,
        lease_seconds: float = 120.0,
    ) -> None:
        if not interval > 0:
            raise InvalidArgument("interval must be positive")
        self._controller = controller
        self._interval = float(interval)
        self._leases = leases
        self._holder = holder or default_holder()
        self._lease_seconds = lease_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def holder(self) -> str:
        return self._holder

    def tick(self, now: int | None = None) -> list[CanaryOutcome]:
        outcomes = self._controller.tick(
            now=now, leases=self._leases, holder=self._holder, lease_seconds=self._lease_seconds
        )
        for outcome in outcomes:
            if outcome.action is not CanaryAction.WAITING:
                log.info(
                    "deployment %s: %s (%s)",
                    outcome.spec.deployment,
                    outcome.action.value,
                    outcome.reason,
                )
        return outcomes

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="moorline-canaries", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("canary loop tick failed")
            self._stop.wait(self._interval)

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


__all__ = [
    "LEASE_PREFIX",
    "ROLLOUT_ACTOR",
    "AliasMover",
    "CanaryAction",
    "CanaryController",
    "CanaryLoop",
    "CanaryOutcome",
    "CanaryRecord",
    "CanarySpec",
    "CanaryStatus",
    "LeaseStore",
    "PipelineCatalog",
    "PipelineRollout",
    "RemediationLog",
    "canary_policy",
]
