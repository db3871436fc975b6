"""Governance: promotion policies, approvals and the guard on protected aliases.

A registered model may carry a :class:`PromotionPolicy`. Moving one of its
protected aliases (``champion`` by default) is then checked by
:meth:`GovernanceService.check_alias_move`, which the registry calls before
every alias move (it implements the registry's ``AliasGuard``):

- ``must_beat``: the candidate version's training run must beat the current
  holder's run on every listed metric (strictly; "higher" or "lower" is
  better). A missing run or metric on either side refuses the move: a rule
  that cannot be checked is not satisfied.
- ``risk = high``: the move needs an APPROVED approval for exactly this
  (model, alias, version), decided by someone other than its requester, and
  the mover must be the requester or the approver. One approval authorises
  one move: the registry consumes it once the alias has moved.

Who may do what (``Actor.role``): anyone with ``editor`` or above requests an
approval; ``approver`` or ``admin`` grants or rejects one (never their own
request); ``admin`` sets policies. Every change is audited through the
store's :class:`~moorline.registry.ports.Change`, in the same transaction.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from moorline.auth.models import Role
from moorline.core.clock import now_ms
from moorline.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from moorline.registry.models import (
    Approval,
    ApprovalId,
    ApprovalState,
    ModelName,
    ModelVersion,
    PromotionPolicy,
    RiskLevel,
)
from moorline.registry.ports import GovernanceStore, RegistryStore
from moorline.registry.service import _change, parse_version, validate_alias, validate_model_name
from moorline.tracking import validation as v
from moorline.tracking.models import Run

#: Roles in increasing power; a role may do everything the ones before it may.
_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.APPROVER: 2, Role.ADMIN: 3}
DIRECTIONS = ("higher", "lower")
MAX_REASON = 5000
MAX_LIST = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who is acting, and with which role.

    The server builds it from the caller's API token; the local CLI and SDK,
    which open the store directly and so already hold every right over it,
    act as ``admin`` under the OS user name (or ``MOORLINE_USER``).
    """

    name: str
    role: Role

    def at_least(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]


class RunLookup(Protocol):
    """What governance needs from tracking: a run with its latest metrics."""

    def get_run(self, run_id: str) -> Run: ...


def _require(actor: Actor, role: Role, what: str) -> None:
    if not actor.at_least(role):
        raise PermissionDenied(
            f"{what} requires the {role.value} role (or higher); "
            f"{actor.name!r} has the {actor.role.value} role"
        )


def _reason(reason: str | None, *, required: bool, what: str) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise InvalidArgument(f"{what} needs a reason (it goes into the audit log)")
    if len(text) > MAX_REASON:
        raise InvalidArgument(f"reason is longer than {MAX_REASON} characters")
    return text


def _actor_name(actor: Actor) -> str:
    if not actor.name or not actor.name.strip():
        raise InvalidArgument("The acting user has no name; set MOORLINE_USER or use a token")
    return actor.name


def parse_must_beat(rules: dict[str, str] | None) -> dict[str, str]:
    """Validate ``{metric: "higher" | "lower"}``.

    >>> parse_must_beat({"auc": "Higher"})
    {'auc': 'higher'}
    """
    out: dict[str, str] = {}
    for metric, direction in (rules or {}).items():
        v.validate_metric_key(metric)
        normalised = str(direction).strip().lower()
        if normalised not in DIRECTIONS:
            raise InvalidArgument(
                f"must_beat rule for {metric!r} is {direction!r}; "
                "expected 'higher' or 'lower' (which direction is better)"
            )
        out[metric] = normalised
    return out


def _beats(candidate: float, holder: float, direction: str) -> bool:
    if math.isnan(candidate) or math.isnan(holder):
        return False
    return candidate > holder if direction == "higher" else candidate < holder


def _fmt(value: float | None) -> str:
    return "missing" if value is None else repr(value)


class GovernanceService:
    """Promotion policies, approvals, and the registry's alias guard."""

    def __init__(self, store: GovernanceStore, registry: RegistryStore, runs: RunLookup) -> None:
        self._store = store
        self._registry = registry
        self._runs = runs

    @property
    def store(self) -> GovernanceStore:
        return self._store

    # -- policies ------------------------------------------------------------

    def get_policy(self, name: str) -> PromotionPolicy | None:
        """The model's policy, or None when it has none (no alias is protected)."""
        return self._store.get_policy(validate_model_name(name))

    def effective_policy(self, name: str) -> PromotionPolicy:
        """The model's policy, or the default a model without one is governed by
        (which protects nothing: see :meth:`check_alias_move`)."""
        model = validate_model_name(name)
        self._registry.get_registered_model(model)
        policy = self._store.get_policy(model)
        return policy if policy is not None else PromotionPolicy(name=model, protected_aliases=())

    def set_policy(
        self,
        name: str,
        *,
        actor: Actor,
        risk: RiskLevel | str = RiskLevel.STANDARD,
        protected_aliases: tuple[str, ...] | list[str] = ("champion",),
        must_beat: dict[str, str] | None = None,
        reason: str = "",
    ) -> PromotionPolicy:
        """Replace the policy of model ``name`` (admin only)."""
        _require(actor, Role.ADMIN, "Setting a promotion policy")
        model = validate_model_name(name)
        try:
            level = RiskLevel(str(risk).strip().lower())
        except ValueError:
            raise InvalidArgument(f"Invalid risk {risk!r}; expected 'standard' or 'high'") from None
        aliases = tuple(dict.fromkeys(validate_alias(a) for a in protected_aliases))
        rules = parse_must_beat(must_beat)
        policy = PromotionPolicy(
            name=model,
            risk=level,
            protected_aliases=aliases,
            must_beat=rules,
            updated_at=now_ms(),
            updated_by=_actor_name(actor),
        )
        details: dict[str, Any] = {
            "risk": level.value,
            "protected_aliases": list(aliases),
            "must_beat": rules,
        }
        change = _change(
            actor.name,
            "policy.set",
            f"models:/{model}",
            details,
            reason=_reason(reason, required=False, what="A policy change"),
            event="policy.updated",
        )
        self._store.set_policy(policy, change=change)
        return policy

    # -- approvals -----------------------------------------------------------

    def request_approval(
        self, name: str, alias: str, version: object, *, actor: Actor, reason: str
    ) -> Approval:
        """Ask for a second person's approval to move ``alias`` of ``name`` to ``version``."""
        _require(actor, Role.EDITOR, "Requesting an approval")
        model = validate_model_name(name)
        validate_alias(alias)
        number = parse_version(version)
        why = _reason(reason, required=True, what="An approval request")
        self._registry.get_model_version(model, number)  # NotFound names what is missing
        approval = Approval(
            approval_id=ApprovalId(secrets.token_hex(8)),
            name=model,
            alias=alias,
            version=number,
            requested_by=_actor_name(actor),
            requested_at=now_ms(),
            reason=why,
        )
        change = _change(
            actor.name,
            "approval.request",
            f"models:/{model}@{alias}",
            {"approval_id": approval.approval_id, "version": number},
            reason=why,
            event="approval.requested",
        )
        return self._store.create_approval(approval, change=change)

    def get_approval(self, approval_id: str) -> Approval:
        return self._store.get_approval(ApprovalId(approval_id.strip()))

    def list_approvals(
        self,
        *,
        state: ApprovalState | str | None = None,
        name: str | None = None,
        limit: int = 1000,
    ) -> list[Approval]:
        """Approvals, newest first, optionally of one state and/or one model."""
        wanted: ApprovalState | None = None
        if state is not None:
            try:
                wanted = ApprovalState(str(state).strip().lower())
            except ValueError:
                names = ", ".join(s.value for s in ApprovalState)
                raise InvalidArgument(
                    f"Invalid approval state {state!r}; expected one of {names}"
                ) from None
        if not 1 <= limit <= MAX_LIST:
            raise InvalidArgument(f"limit must be between 1 and {MAX_LIST}, got {limit}")
        model = validate_model_name(name) if name is not None else None
        return self._store.list_approvals(state=wanted, name=model, limit=limit)

    def grant(self, approval_id: str, *, actor: Actor, reason: str = "") -> Approval:
        """Approve a pending request (approver or admin, never the requester)."""
        return self._decide(approval_id, ApprovalState.APPROVED, actor=actor, reason=reason)

    def reject(self, approval_id: str, *, actor: Actor, reason: str) -> Approval:
        """Reject a pending request (approver or admin, never the requester), with a reason."""
        return self._decide(approval_id, ApprovalState.REJECTED, actor=actor, reason=reason)

    def _decide(
        self, approval_id: str, state: ApprovalState, *, actor: Actor, reason: str
    ) -> Approval:
        verb = "Granting" if state == ApprovalState.APPROVED else "Rejecting"
        _require(actor, Role.APPROVER, f"{verb} an approval")
        why = _reason(reason, required=state == ApprovalState.REJECTED, what=f"{verb} an approval")
        approval = self.get_approval(approval_id)
        if approval.requested_by == actor.name:
            raise PermissionDenied(
                f"{actor.name!r} requested approval {approval.approval_id} and cannot decide it: "
                "it needs an approver other than the requester"
            )
        if approval.state != ApprovalState.PENDING:
            raise Conflict(
                f"Approval {approval.approval_id} is {approval.state.value}, not pending; "
                "only a pending request can be granted or rejected"
            )
        action = "approval.grant" if state == ApprovalState.APPROVED else "approval.reject"
        event = "approval.granted" if state == ApprovalState.APPROVED else "approval.rejected"
        change = _change(
            actor.name,
            action,
            f"models:/{approval.name}@{approval.alias}",
            {
                "approval_id": approval.approval_id,
                "version": approval.version,
                "requested_by": approval.requested_by,
            },
            reason=why,
            event=event,
        )
        return self._store.decide_approval(
            approval.approval_id,
            state=state,
            decided_by=_actor_name(actor),
            at=now_ms(),
            reason=why,
            change=change,
        )

    # -- the alias guard -----------------------------------------------------

    def check_alias_move(
        self, *, name: ModelName, alias: str, version: int, actor: str, reason: str
    ) -> ApprovalId | None:
        """Allow (None or the authorising approval's id) or refuse (PermissionDenied)
        moving ``alias`` of ``name`` to ``version``.

        An alias no policy protects moves freely. Pointing an alias at the
        version it already names moves nothing and is allowed.
        """
        policy = self._store.get_policy(name)
        if policy is None or alias not in policy.protected_aliases:
            return None
        candidate = self._registry.get_model_version(name, version)
        holder = self._holder(name, alias)
        if holder is not None and holder.version == candidate.version:
            return None
        if policy.must_beat and holder is not None:
            self._check_must_beat(policy, alias, candidate, holder)
        if policy.risk == RiskLevel.HIGH:
            return self._authorising_approval(name, alias, version, actor)
        return None

    def check_alias_delete(self, *, name: ModelName, alias: str, actor: str, reason: str) -> None:
        """Refuse deleting a protected alias of a high-risk model: that would take
        the model out of its role without the second person a move needs."""
        policy = self._store.get_policy(name)
        if policy is None or alias not in policy.protected_aliases:
            return
        if policy.risk == RiskLevel.HIGH:
            raise PermissionDenied(
                f"Alias {alias!r} of high-risk model {name!r} is protected: it cannot be "
                "deleted; move it to another version with an approval instead"
            )

    def check_stage_transition(
        self, *, name: ModelName, version: int, stage: str, actor: str, reason: str
    ) -> None:
        """Refuse the deprecated stage route into Production for a high-risk model,
        so old clients cannot promote around the approval rule."""
        policy = self._store.get_policy(name)
        if policy is None or policy.risk != RiskLevel.HIGH or stage != "Production":
            return
        raise PermissionDenied(
            f"Model {name!r} is high-risk: promote it by moving a protected alias with an "
            "approval from a second person ('moorline approvals request ...'), not by the "
            "deprecated Production stage"
        )

    def consume(self, approval_id: ApprovalId, *, actor: str) -> None:
        """Mark an approval as used by the move it authorised (it authorises no other)."""
        approval = self._store.get_approval(approval_id)
        change = _change(
            actor,
            "approval.consume",
            f"models:/{approval.name}@{approval.alias}",
            {"approval_id": approval_id, "version": approval.version},
        )
        self._store.decide_approval(
            approval_id,
            state=ApprovalState.CONSUMED,
            decided_by=actor,
            at=now_ms(),
            reason="",
            change=change,
        )

    def _holder(self, name: ModelName, alias: str) -> ModelVersion | None:
        try:
            return self._registry.get_version_by_alias(name, alias)
        except NotFound:
            return None

    def _metrics(self, version: ModelVersion, metrics: list[str]) -> dict[str, float | None]:
        if not version.run_id:
            return dict.fromkeys(metrics)
        try:
            run = self._runs.get_run(version.run_id)
        except NotFound:
            return dict.fromkeys(metrics)
        return {m: run.metric(m) for m in metrics}

    def _check_must_beat(
        self,
        policy: PromotionPolicy,
        alias: str,
        candidate: ModelVersion,
        holder: ModelVersion,
    ) -> None:
        metrics = sorted(policy.must_beat)
        mine = self._metrics(candidate, metrics)
        theirs = self._metrics(holder, metrics)
        for metric in metrics:
            direction = policy.must_beat[metric]
            new, old = mine[metric], theirs[metric]
            if new is not None and old is not None and _beats(new, old, direction):
                continue
            where = (
                f"version {candidate.version} has {metric}={_fmt(new)}, "
                f"current {alias} version {holder.version} has {metric}={_fmt(old)}"
            )
            if new is None or old is None:
                side = candidate if new is None else holder
                run = f"run {side.run_id}" if side.run_id else "no training run recorded"
                problem = f"the metric is missing for version {side.version} ({run})"
            else:
                problem = "the candidate is not better"
            raise PermissionDenied(
                f"Cannot move {alias!r} of {policy.name!r} to version {candidate.version}: "
                f"the policy requires {metric} to beat the current {alias} "
                f"({direction} is better) and {problem}: {where}"
            )

    def _authorising_approval(
        self, name: ModelName, alias: str, version: int, actor: str
    ) -> ApprovalId:
        approved = self._store.list_approvals(state=ApprovalState.APPROVED, name=name)
        for approval in approved:
            if (
                approval.alias == alias
                and approval.version == version
                and approval.decided_by
                and approval.decided_by != approval.requested_by
                and actor in (approval.requested_by, approval.decided_by)
            ):
                return approval.approval_id
        pending = [
            a.approval_id
            for a in self._store.list_approvals(state=ApprovalState.PENDING, name=name)
            if a.alias == alias and a.version == version
        ]
        if pending:
            hint = (
                f"request {', '.join(pending)} is still pending: an approver other than "
                f"the requester grants it with 'moorline approvals grant {pending[0]}'"
            )
        else:
            hint = (
                f"request one with 'moorline approvals request {name} {alias} {version} "
                "--reason \"...\"', then have another approver run 'moorline approvals grant ID'"
            )
        others = [a.approval_id for a in approved if a.alias == alias and a.version == version]
        if others:
            hint += (
                f" (approval {', '.join(others)} exists but authorises only its requester "
                "or its approver to make the move)"
            )
        raise PermissionDenied(
            f"Moving {alias!r} of high-risk model {name!r} to version {version} requires an "
            f"approval from a second person (an approver other than the requester) and "
            f"{actor!r} has none: {hint}"
        )
