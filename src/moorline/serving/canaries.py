"""The records of managed canaries: what one is (:class:`CanarySpec`) and where it
is in its life (:class:`CanaryRecord`).

A canary started by moorline (by hand through the CLI or the API, or by the
closed loop for an accepted challenger) is one row of the ``canaries``
table: who against whom, at what share, under which rules, since which
revision of the deployment, and how it ended. The analysis lives in
:mod:`moorline.serving.canary`, the controller that starts, judges and ends
canaries in :mod:`moorline.serving.rollout`.

>>> spec = CanarySpec(id="c1", deployment="demand", model="demand", champion=3, challenger=4,
...                   weight=10.0, policy=CanaryPolicy(max_duration_s=60), revision=7,
...                   started_at=1_000)
>>> spec.deadline_at
61000
>>> record = CanaryRecord(spec=spec, status=CanaryStatus.RUNNING, updated_at=1_000)
>>> record.running, record.to_dict()["status"]
(True, 'running')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from moorline.serving.canary import CanaryPolicy


class CanaryStatus(StrEnum):
    """``running`` until the controller (or a person) ends it: ``promoted`` (the
    challenger took all traffic), ``rolled_back`` (the champion did, on the
    analysis' verdict) or ``aborted`` (ended by hand, or the deployment's
    traffic was changed by other hands)."""

    RUNNING = "running"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True, kw_only=True)
class CanarySpec:
    """A managed canary: who against whom, at what share, under which rules,
    since which revision (``started_at`` in ms). ``id`` names its row;
    ``started_by`` who started it; ``remediation`` the remediation record it
    belongs to, if the closed loop started it."""

    deployment: str
    model: str
    champion: int
    challenger: int
    weight: float
    policy: CanaryPolicy
    revision: int
    started_at: int
    remediation: str | None = None
    id: str = ""
    started_by: str = ""

    @property
    def deadline_at(self) -> int:
        return self.started_at + round(self.policy.max_duration_s * 1000)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deployment": self.deployment,
            "model": self.model,
            "champion": self.champion,
            "challenger": self.challenger,
            "weight": self.weight,
            "policy": self.policy.to_dict(),
            "revision": self.revision,
            "started_at": self.started_at,
            "deadline_at": self.deadline_at,
            "remediation": self.remediation,
            "started_by": self.started_by,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryRecord:
    """A canary as stored: its spec, its status, the latest analysis written for
    it (``last_verdict``: :meth:`CanaryAnalysis.to_dict`, every rule with its
    reason), and, once it ended, when, at which revision and why."""

    spec: CanarySpec
    status: CanaryStatus
    updated_at: int
    last_verdict: Mapping[str, Any] | None = None
    ended_at: int | None = None
    ended_revision: int | None = None
    #: why it ended (or, while it runs, why a promotion was refused); '' otherwise
    reason: str = ""

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def deployment(self) -> str:
        return self.spec.deployment

    @property
    def running(self) -> bool:
        return self.status is CanaryStatus.RUNNING

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.spec.to_dict(),
            "status": self.status.value,
            "updated_at": self.updated_at,
            "last_verdict": None if self.last_verdict is None else dict(self.last_verdict),
            "ended_at": self.ended_at,
            "ended_revision": self.ended_revision,
            "reason": self.reason,
        }


__all__ = ["CanaryRecord", "CanarySpec", "CanaryStatus"]
