"""Promotion policies and approvals over SQL: :class:`GovernanceStore`.

Both hang off a registered model (ON UPDATE/DELETE CASCADE): they follow a
rename and go with a deleted model, so a new model that reuses the name never
inherits an old approval. Writes are audited like every registry change.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row, bindparam, select

from moorline.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from moorline.registry.models import (
    Approval,
    ApprovalId,
    ApprovalState,
    ModelName,
    PromotionPolicy,
    RiskLevel,
)
from moorline.registry.ports import Change, GovernanceStore
from moorline.store.sql import tables as t
from moorline.store.sql._changes import ChangeWriter, dumps

_pp = t.promotion_policies
_ap = t.approvals
_rm = t.registered_models
_mv = t.model_versions

_SELECT_POLICY = select(*_pp.c).where(_pp.c.name == bindparam("model"))
_SELECT_APPROVAL = select(*_ap.c).where(_ap.c.approval_id == bindparam("aid"))
_MODEL_EXISTS = select(_rm.c.name).where(_rm.c.name == bindparam("model"))
_VERSION_EXISTS = select(_mv.c.version).where(
    _mv.c.name == bindparam("model"), _mv.c.version == bindparam("number")
)

#: The state an approval must be in for each decision.
_DECISIONS = {
    ApprovalState.APPROVED: ApprovalState.PENDING,
    ApprovalState.REJECTED: ApprovalState.PENDING,
    ApprovalState.CONSUMED: ApprovalState.APPROVED,
}


class SqlGovernanceStore(ChangeWriter, GovernanceStore):
    """Promotion policies and approval requests in SQLite or PostgreSQL."""

    def get_policy(self, name: ModelName) -> PromotionPolicy | None:
        with self._read() as conn:
            row = conn.execute(_SELECT_POLICY, {"model": name}).first()
        return None if row is None else _policy(row)

    def set_policy(self, policy: PromotionPolicy, *, change: Change) -> None:
        with self._change_tx() as tx:
            conn = tx.conn
            if conn.execute(_MODEL_EXISTS, {"model": policy.name}).first() is None:
                raise NotFound(f"Registered model {policy.name!r} not found")
            conn.execute(
                self._upsert(
                    _pp,
                    ("name",),
                    ("risk", "protected_aliases", "must_beat", "updated_at", "updated_by"),
                ),
                {
                    "name": policy.name,
                    "risk": RiskLevel(policy.risk).value,
                    "protected_aliases": dumps(list(policy.protected_aliases)),
                    "must_beat": dumps(dict(policy.must_beat)),
                    "updated_at": policy.updated_at,
                    "updated_by": policy.updated_by,
                },
            )
            self._record(tx, change, now=policy.updated_at or None)

    def create_approval(self, approval: Approval, *, change: Change) -> Approval:
        """NotFound if the model or version is missing; AlreadyExists on a reused id."""
        with self._change_tx() as tx:
            conn = tx.conn
            if conn.execute(_MODEL_EXISTS, {"model": approval.name}).first() is None:
                raise NotFound(f"Registered model {approval.name!r} not found")
            number = {"model": approval.name, "number": approval.version}
            if conn.execute(_VERSION_EXISTS, number).first() is None:
                raise NotFound(
                    f"Model version {approval.version} of registered model "
                    f"{approval.name!r} not found"
                )
            if conn.execute(_SELECT_APPROVAL, {"aid": approval.approval_id}).first():
                raise AlreadyExists(f"Approval {approval.approval_id!r} already exists")
            conn.execute(
                _ap.insert(),
                {
                    "approval_id": approval.approval_id,
                    "name": approval.name,
                    "alias": approval.alias,
                    "version": approval.version,
                    "requested_by": approval.requested_by,
                    "requested_at": approval.requested_at,
                    "reason": approval.reason,
                    "state": ApprovalState(approval.state).value,
                    "decided_by": approval.decided_by,
                    "decided_at": approval.decided_at,
                    "decision_reason": approval.decision_reason,
                },
            )
            self._record(tx, change, now=approval.requested_at or None)
        return approval

    def get_approval(self, approval_id: ApprovalId) -> Approval:
        with self._read() as conn:
            row = conn.execute(_SELECT_APPROVAL, {"aid": approval_id}).first()
        if row is None:
            raise NotFound(f"Approval {approval_id!r} not found")
        return _approval(row)

    def list_approvals(
        self,
        *,
        state: ApprovalState | None = None,
        name: ModelName | None = None,
        limit: int = 1000,
    ) -> list[Approval]:
        query = select(*_ap.c)
        if state is not None:
            query = query.where(_ap.c.state == ApprovalState(state).value)
        if name is not None:
            query = query.where(_ap.c.name == name)
        query = query.order_by(_ap.c.requested_at.desc(), _ap.c.approval_id.desc()).limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_approval(r) for r in rows]

    def decide_approval(
        self,
        approval_id: ApprovalId,
        *,
        state: ApprovalState,
        decided_by: str,
        at: int,
        reason: str,
        change: Change,
    ) -> Approval:
        """Grant or reject a PENDING approval, or consume an APPROVED one.

        Consuming changes only the state: ``decided_by``/``decided_at`` keep
        naming the approver (who moved the alias is in the audit log).
        """
        target = ApprovalState(state)
        required = _DECISIONS.get(target)
        if required is None:
            raise InvalidArgument(
                f"Cannot decide approval {approval_id!r} as {target.value!r}; "
                "expected approved, rejected or consumed"
            )
        with self._change_tx() as tx:
            conn = tx.conn
            row = conn.execute(_SELECT_APPROVAL, {"aid": approval_id}).first()
            if row is None:
                raise NotFound(f"Approval {approval_id!r} not found")
            if row.state != required.value:
                raise Conflict(
                    f"Approval {approval_id!r} is {row.state}, not {required.value}: "
                    f"it cannot become {target.value}"
                )
            values: dict[str, Any] = {"state": target.value}
            if target != ApprovalState.CONSUMED:
                values.update(decided_by=decided_by, decided_at=at, decision_reason=reason)
            conn.execute(_ap.update().where(_ap.c.approval_id == approval_id).values(**values))
            self._record(tx, change, now=at)
            return _approval(conn.execute(_SELECT_APPROVAL, {"aid": approval_id}).one())


def _policy(row: Row[Any]) -> PromotionPolicy:
    return PromotionPolicy(
        name=ModelName(row.name),
        risk=RiskLevel(row.risk),
        protected_aliases=tuple(json.loads(row.protected_aliases)),
        must_beat=dict(json.loads(row.must_beat)),
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _approval(row: Row[Any]) -> Approval:
    return Approval(
        approval_id=ApprovalId(row.approval_id),
        name=ModelName(row.name),
        alias=row.alias,
        version=int(row.version),
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        reason=row.reason,
        state=ApprovalState(row.state),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
    )


__all__ = ["SqlGovernanceStore"]
