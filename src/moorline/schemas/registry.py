"""Wire schemas of the model registry, its governance, audit log and webhooks.

Records convert both ways with the domain (``from_domain`` / ``to_domain``),
so a record that crosses the wire comes back equal to what was sent.

Requests that change something carry the operation's arguments and, where
the change is audited, a ``reason`` -- never an actor: the server records
the caller it authenticated (see ``moorline.store.rest.registry``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from moorline.registry import models as m
from moorline.registry.ports import AliasInfo as DomainAliasInfo
from moorline.schemas.common import RequestModel, ResponseModel

_NEXT_PAGE_TOKEN = Field(default=None, description="Token of the next page; null on the last page.")
_REASON = Field(default="", max_length=10_000, description="Why; kept in the audit log.")

#: A model version number, as the registry numbers them (1, 2, ...).
VersionNumber = Annotated[int, Field(ge=1, le=2**62)]


# -- registered models and versions ------------------------------------------------


class ModelVersion(ResponseModel):
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    source: str
    user_id: str = ""
    description: str = ""
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    current_stage: m.Stage = m.Stage.NONE
    status: m.VersionStatus = m.VersionStatus.READY
    status_message: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)

    @classmethod
    def from_domain(cls, mv: m.ModelVersion) -> ModelVersion:
        return cls(
            name=mv.name,
            version=mv.version,
            creation_timestamp=mv.creation_timestamp,
            last_updated_timestamp=mv.last_updated_timestamp,
            source=mv.source,
            user_id=mv.user_id,
            description=mv.description,
            run_id=mv.run_id,
            run_link=mv.run_link,
            model_id=mv.model_id,
            current_stage=mv.current_stage,
            status=mv.status,
            status_message=mv.status_message,
            tags=dict(mv.tags),
            aliases=list(mv.aliases),
        )

    def to_domain(self) -> m.ModelVersion:
        return m.ModelVersion(
            name=m.ModelName(self.name),
            version=self.version,
            creation_timestamp=self.creation_timestamp,
            last_updated_timestamp=self.last_updated_timestamp,
            source=self.source,
            user_id=self.user_id,
            description=self.description,
            run_id=self.run_id,
            run_link=self.run_link,
            model_id=self.model_id,
            current_stage=self.current_stage,
            status=self.status,
            status_message=self.status_message,
            tags=dict(self.tags),
            aliases=tuple(self.aliases),
        )


class RegisteredModel(ResponseModel):
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str = ""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: Annotated[dict[str, int], Field(description="Alias -> version number.")] = Field(
        default_factory=dict
    )
    latest_versions: Annotated[
        list[ModelVersion], Field(description="The newest version in each stage.")
    ] = Field(default_factory=list)

    @classmethod
    def from_domain(cls, rm: m.RegisteredModel) -> RegisteredModel:
        return cls(
            name=rm.name,
            creation_timestamp=rm.creation_timestamp,
            last_updated_timestamp=rm.last_updated_timestamp,
            user_id=rm.user_id,
            description=rm.description,
            tags=dict(rm.tags),
            aliases=dict(rm.aliases),
            latest_versions=[ModelVersion.from_domain(v) for v in rm.latest_versions],
        )

    def to_domain(self) -> m.RegisteredModel:
        return m.RegisteredModel(
            name=m.ModelName(self.name),
            creation_timestamp=self.creation_timestamp,
            last_updated_timestamp=self.last_updated_timestamp,
            user_id=self.user_id,
            description=self.description,
            tags=dict(self.tags),
            aliases=dict(self.aliases),
            latest_versions=tuple(v.to_domain() for v in self.latest_versions),
        )


class RegisteredModelPage(ResponseModel):
    items: list[RegisteredModel]
    next_page_token: str | None = _NEXT_PAGE_TOKEN


class ModelVersionPage(ResponseModel):
    items: list[ModelVersion]
    next_page_token: str | None = _NEXT_PAGE_TOKEN


class CreateRegisteredModel(RequestModel):
    name: str
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class UpdateRegisteredModel(RequestModel):
    description: str | None = None


class RenameRegisteredModel(RequestModel):
    new_name: str


class CreateModelVersion(RequestModel):
    source: Annotated[str, Field(description="Where the model's files are (a URI).")]
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class UpdateModelVersion(RequestModel):
    description: str | None = None


class TransitionStage(RequestModel):
    stage: Annotated[str, Field(description="None, Staging, Production or Archived.")]
    archive_existing_versions: bool = False
    reason: str = _REASON


class SetAlias(RequestModel):
    version: VersionNumber
    reason: str = _REASON


class AliasInfo(ResponseModel):
    alias: str
    version: int
    updated_at: Annotated[int, Field(description="When the alias last moved (ms).")]
    updated_by: Annotated[str, Field(description="Who moved it last.")]

    @classmethod
    def from_domain(cls, info: DomainAliasInfo) -> AliasInfo:
        return cls(
            alias=info.alias,
            version=info.version,
            updated_at=info.updated_at,
            updated_by=info.updated_by,
        )

    def to_domain(self) -> DomainAliasInfo:
        return DomainAliasInfo(
            alias=self.alias,
            version=self.version,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )


class AliasList(ResponseModel):
    items: list[AliasInfo]


# -- governance: promotion policies and approvals ------------------------------------


class PromotionPolicy(ResponseModel):
    name: str
    risk: m.RiskLevel = m.RiskLevel.STANDARD
    protected_aliases: list[str] = Field(default_factory=lambda: ["champion"])
    must_beat: Annotated[
        dict[str, str], Field(description='Metric -> "higher" or "lower" (which is better).')
    ] = Field(default_factory=dict)
    updated_at: int = 0
    updated_by: str = ""

    @classmethod
    def from_domain(cls, policy: m.PromotionPolicy) -> PromotionPolicy:
        return cls(
            name=policy.name,
            risk=policy.risk,
            protected_aliases=list(policy.protected_aliases),
            must_beat=dict(policy.must_beat),
            updated_at=policy.updated_at,
            updated_by=policy.updated_by,
        )

    def to_domain(self) -> m.PromotionPolicy:
        return m.PromotionPolicy(
            name=m.ModelName(self.name),
            risk=self.risk,
            protected_aliases=tuple(self.protected_aliases),
            must_beat=dict(self.must_beat),
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )


class PolicyAnswer(ResponseModel):
    """A model's promotion policy; null when it has none."""

    policy: PromotionPolicy | None = None


class SetPolicy(RequestModel):
    risk: m.RiskLevel = m.RiskLevel.STANDARD
    protected_aliases: list[str] = Field(default_factory=lambda: ["champion"])
    must_beat: dict[str, str] = Field(default_factory=dict)
    reason: str = _REASON


class Approval(ResponseModel):
    approval_id: str
    name: str
    alias: str
    version: int
    requested_by: str
    requested_at: int
    reason: str = ""
    state: m.ApprovalState = m.ApprovalState.PENDING
    decided_by: str | None = None
    decided_at: int | None = None
    decision_reason: str = ""

    @classmethod
    def from_domain(cls, a: m.Approval) -> Approval:
        return cls(
            approval_id=a.approval_id,
            name=a.name,
            alias=a.alias,
            version=a.version,
            requested_by=a.requested_by,
            requested_at=a.requested_at,
            reason=a.reason,
            state=a.state,
            decided_by=a.decided_by,
            decided_at=a.decided_at,
            decision_reason=a.decision_reason,
        )

    def to_domain(self) -> m.Approval:
        return m.Approval(
            approval_id=m.ApprovalId(self.approval_id),
            name=m.ModelName(self.name),
            alias=self.alias,
            version=self.version,
            requested_by=self.requested_by,
            requested_at=self.requested_at,
            reason=self.reason,
            state=self.state,
            decided_by=self.decided_by,
            decided_at=self.decided_at,
            decision_reason=self.decision_reason,
        )


class ApprovalList(ResponseModel):
    items: list[Approval]


class RequestApproval(RequestModel):
    name: str
    alias: str = "champion"
    version: VersionNumber
    reason: str = _REASON


class DecideApproval(RequestModel):
    reason: str = _REASON


# -- the audit log ---------------------------------------------------------------------


class AuditEntry(ResponseModel):
    seq: int
    at: int
    actor: str
    action: str
    target: str
    details: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    prev_hash: str
    entry_hash: str

    @classmethod
    def from_domain(cls, e: m.AuditEntry) -> AuditEntry:
        return cls(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            target=e.target,
            details=dict(e.details),
            reason=e.reason,
            prev_hash=e.prev_hash,
            entry_hash=e.entry_hash,
        )

    def to_domain(self) -> m.AuditEntry:
        return m.AuditEntry(
            seq=self.seq,
            at=self.at,
            actor=self.actor,
            action=self.action,
            target=self.target,
            details=dict(self.details),
            reason=self.reason,
            prev_hash=self.prev_hash,
            entry_hash=self.entry_hash,
        )


class AuditList(ResponseModel):
    items: list[AuditEntry]


class AuditHead(ResponseModel):
    """The newest entry of the log; both fields null when the log is empty."""

    seq: int | None = None
    entry_hash: str | None = None


class VerifyResult(ResponseModel):
    ok: bool
    checked: Annotated[int, Field(description="Entries found intact before the first break.")]
    first_broken_seq: int | None = None
    problem: str = ""


# -- webhooks ------------------------------------------------------------------------


class Webhook(ResponseModel):
    webhook_id: str
    url: str
    secret: Annotated[str, Field(description="The HMAC-SHA256 key payloads are signed with.")]
    events: list[str] = Field(default_factory=lambda: ["*"])
    active: bool = True
    created_at: int = 0

    @classmethod
    def from_domain(cls, w: m.Webhook) -> Webhook:
        return cls(
            webhook_id=w.webhook_id,
            url=w.url,
            secret=w.secret,
            events=list(w.events),
            active=w.active,
            created_at=w.created_at,
        )

    def to_domain(self) -> m.Webhook:
        return m.Webhook(
            webhook_id=m.WebhookId(self.webhook_id),
            url=self.url,
            secret=self.secret,
            events=tuple(self.events),
            active=self.active,
            created_at=self.created_at,
        )


class WebhookList(ResponseModel):
    items: list[Webhook]


class AddWebhook(RequestModel):
    url: str
    secret: Annotated[
        str | None, Field(description="The signing key; the server draws one when absent.")
    ] = None
    events: list[str] = Field(default_factory=lambda: ["*"])


class Delivery(ResponseModel):
    event_id: int
    webhook_id: str
    attempt: int
    at: int
    ok: bool
    status_code: int | None = None
    error: str = ""

    @classmethod
    def from_domain(cls, d: m.Delivery) -> Delivery:
        return cls(
            event_id=d.event_id,
            webhook_id=d.webhook_id,
            attempt=d.attempt,
            at=d.at,
            ok=d.ok,
            status_code=d.status_code,
            error=d.error,
        )

    def to_domain(self) -> m.Delivery:
        return m.Delivery(
            event_id=self.event_id,
            webhook_id=m.WebhookId(self.webhook_id),
            attempt=self.attempt,
            at=self.at,
            ok=self.ok,
            status_code=self.status_code,
            error=self.error,
        )


class DeliveryList(ResponseModel):
    items: list[Delivery]
