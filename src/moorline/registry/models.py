"""Registry records. Frozen dataclasses; no storage or wire types inside."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NewType

ModelName = NewType("ModelName", str)
ApprovalId = NewType("ApprovalId", str)
WebhookId = NewType("WebhookId", str)


class Stage(StrEnum):
    """MLflow's deprecated stages, kept for old clients."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


class VersionStatus(StrEnum):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"
    READY = "READY"


class RiskLevel(StrEnum):
    STANDARD = "standard"
    HIGH = "high"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelVersion:
    name: ModelName
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    source: str
    user_id: str = ""
    description: str = ""
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    current_stage: Stage = Stage.NONE
    status: VersionStatus = VersionStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisteredModel:
    name: ModelName
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    #: alias -> version number
    aliases: dict[str, int] = field(default_factory=dict)
    #: the latest version per stage (MLflow's ``latest_versions``)
    latest_versions: tuple[ModelVersion, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PromotionPolicy:
    """Rules for moving a protected alias of one registered model.

    ``protected_aliases``: aliases whose moves the policy governs (default
    ``champion``). For a HIGH risk model a move needs an approval granted by
    an approver other than the requester. ``must_beat``: metric name ->
    "higher" or "lower"; the candidate's training-run metric must beat the
    current holder's.
    """

    name: ModelName
    risk: RiskLevel = RiskLevel.STANDARD
    protected_aliases: tuple[str, ...] = ("champion",)
    must_beat: dict[str, str] = field(default_factory=dict)
    updated_at: int = 0
    updated_by: str = ""


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CONSUMED = "consumed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    """A request to move ``alias`` of ``name`` to ``version``, and its decision."""

    approval_id: ApprovalId
    name: ModelName
    alias: str
    version: int
    requested_by: str
    requested_at: int
    reason: str = ""
    state: ApprovalState = ApprovalState.PENDING
    decided_by: str | None = None
    decided_at: int | None = None
    decision_reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditDraft:
    """What a change appends to the audit log; the store adds seq, time and hashes."""

    actor: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One link of the hash chain: ``entry_hash`` covers every other field and
    ``prev_hash``, so editing or deleting any entry breaks the chain after it."""

    seq: int
    at: int
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    reason: str
    prev_hash: str
    entry_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDraft:
    """A registry change to announce to webhooks (stored in the same transaction)."""

    event_type: str
    payload: dict[str, Any]
    #: When the change happened; set by a store reading the event back from
    #: its outbox (None on a draft), so every delivery attempt sends the same body.
    created_at: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    webhook_id: WebhookId
    url: str
    secret: str
    events: tuple[str, ...] = ("*",)
    active: bool = True
    created_at: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One attempt to deliver one event to one webhook."""

    event_id: int
    webhook_id: WebhookId
    attempt: int
    at: int
    ok: bool
    status_code: int | None = None
    error: str = ""
