"""What the registry needs from storage.

Every mutating call takes a :class:`Change`: the audit entry and the events
it must append, written in the SAME transaction as the change itself, so the
audit log and the webhook outbox can never miss a change that happened (nor
record one that did not). The hash chain of the audit log is computed by the
store with :func:`moorline.registry.audit.entry_hash` while it holds the write
lock, so two writers can never fork the chain.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from moorline.core.paging import Page
from moorline.registry.models import (
    Approval,
    ApprovalId,
    ApprovalState,
    AuditDraft,
    AuditEntry,
    Delivery,
    EventDraft,
    ModelName,
    ModelVersion,
    PromotionPolicy,
    RegisteredModel,
    Stage,
    Webhook,
    WebhookId,
)
from moorline.tracking.search import Clause, OrderKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """The audit entry and events that accompany one change, written atomically with it."""

    audit: AuditDraft
    events: tuple[EventDraft, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasInfo:
    alias: str
    version: int
    updated_at: int
    updated_by: str


class RegistryStore(ABC):
    # -- registered models ---------------------------------------------------
    @abstractmethod
    def create_registered_model(
        self,
        *,
        name: ModelName,
        description: str,
        tags: dict[str, str],
        user_id: str,
        now: int,
        change: Change,
    ) -> RegisteredModel:
        """AlreadyExists if the name is taken."""

    @abstractmethod
    def get_registered_model(self, name: ModelName) -> RegisteredModel:
        """NotFound if missing. Includes tags, aliases and latest version per stage."""

    @abstractmethod
    def rename_registered_model(
        self, name: ModelName, new_name: ModelName, *, now: int, change: Change
    ) -> RegisteredModel: ...

    @abstractmethod
    def update_registered_model(
        self, name: ModelName, *, description: str, now: int, change: Change
    ) -> RegisteredModel: ...

    @abstractmethod
    def delete_registered_model(self, name: ModelName, *, change: Change) -> None:
        """Hard delete, cascading to versions, tags and aliases (the audit log keeps the record)."""

    @abstractmethod
    def search_registered_models(
        self,
        *,
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[RegisteredModel]:
        """Default order: name ASC."""

    @abstractmethod
    def set_registered_model_tag(
        self, name: ModelName, key: str, value: str, *, now: int, change: Change
    ) -> None: ...

    @abstractmethod
    def delete_registered_model_tag(
        self, name: ModelName, key: str, *, now: int, change: Change
    ) -> None: ...

    # -- versions ------------------------------------------------------------
    @abstractmethod
    def create_model_version(
        self,
        *,
        name: ModelName,
        source: str,
        run_id: str | None,
        run_link: str | None,
        model_id: str | None,
        description: str,
        tags: dict[str, str],
        user_id: str,
        now: int,
        change: Change,
    ) -> ModelVersion:
        """Version = previous maximum + 1 (never reused after a delete), status READY.
        NotFound if the registered model is missing. ``change`` may mention the
        version as ``{version}`` in its target; the store formats it."""

    @abstractmethod
    def get_model_version(self, name: ModelName, version: int) -> ModelVersion:
        """NotFound if missing. Includes tags and aliases."""

    @abstractmethod
    def update_model_version(
        self, name: ModelName, version: int, *, description: str, now: int, change: Change
    ) -> ModelVersion: ...

    @abstractmethod
    def transition_stage(
        self,
        name: ModelName,
        version: int,
        *,
        stage: Stage,
        archive_existing: bool,
        now: int,
        change: Change,
    ) -> ModelVersion:
        """With ``archive_existing``, other versions in ``stage`` move to Archived."""

    @abstractmethod
    def delete_model_version(self, name: ModelName, version: int, *, change: Change) -> None:
        """Also drops the aliases pointing at it."""

    @abstractmethod
    def search_model_versions(
        self,
        *,
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[ModelVersion]:
        """Default order: name ASC, version DESC."""

    @abstractmethod
    def set_model_version_tag(
        self, name: ModelName, version: int, key: str, value: str, *, now: int, change: Change
    ) -> None: ...

    @abstractmethod
    def delete_model_version_tag(
        self, name: ModelName, version: int, key: str, *, now: int, change: Change
    ) -> None: ...

    # -- aliases -------------------------------------------------------------
    @abstractmethod
    def set_alias(
        self, name: ModelName, alias: str, version: int, *, actor: str, now: int, change: Change
    ) -> None:
        """Point ``alias`` at ``version``, moving it if it exists.

        NotFound if the version is missing."""

    @abstractmethod
    def delete_alias(self, name: ModelName, alias: str, *, change: Change) -> None:
        """NotFound if the alias is missing."""

    @abstractmethod
    def get_version_by_alias(self, name: ModelName, alias: str) -> ModelVersion:
        """NotFound naming the alias if missing."""

    @abstractmethod
    def list_aliases(self, name: ModelName) -> list[AliasInfo]:
        """Aliases of a model with when and by whom each last moved."""


class GovernanceStore(ABC):
    @abstractmethod
    def get_policy(self, name: ModelName) -> PromotionPolicy | None: ...

    @abstractmethod
    def set_policy(self, policy: PromotionPolicy, *, change: Change) -> None:
        """NotFound if the registered model is missing."""

    @abstractmethod
    def create_approval(self, approval: Approval, *, change: Change) -> Approval: ...

    @abstractmethod
    def get_approval(self, approval_id: ApprovalId) -> Approval:
        """NotFound if missing."""

    @abstractmethod
    def list_approvals(
        self,
        *,
        state: ApprovalState | None = None,
        name: ModelName | None = None,
        limit: int = 1000,
    ) -> list[Approval]:
        """Newest first."""

    @abstractmethod
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
        """Conflict unless the approval is PENDING (for APPROVED/REJECTED) or
        APPROVED (for CONSUMED, when the approved move is carried out)."""


class AuditStore(ABC):
    @abstractmethod
    def append_audit(self, draft: AuditDraft, *, now: int) -> AuditEntry:
        """Append one entry on its own (e.g. a refused attempt)."""

    @abstractmethod
    def list_audit(
        self,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        actor: str | None = None,
        action: str | None = None,
        target_prefix: str | None = None,
    ) -> list[AuditEntry]:
        """Entries in seq order."""

    @abstractmethod
    def iter_audit(self, *, batch: int = 5000) -> Iterator[AuditEntry]:
        """Every entry in seq order (for verification), fetched in batches."""

    @abstractmethod
    def audit_head(self) -> tuple[int, str] | None:
        """(seq, entry_hash) of the newest entry, kept in a separate one-row table
        updated in the same transaction as every append, so deleting the newest
        entries is detected too. None when the log is empty."""


class WebhookStore(ABC):
    @abstractmethod
    def add_webhook(self, webhook: Webhook, *, change: Change) -> Webhook: ...

    @abstractmethod
    def list_webhooks(self) -> list[Webhook]: ...

    @abstractmethod
    def delete_webhook(self, webhook_id: WebhookId, *, change: Change) -> None: ...

    @abstractmethod
    def due_deliveries(
        self, *, now: int, limit: int = 100
    ) -> list[tuple[int, EventDraft, Webhook, int]]:
        """(event_id, event, webhook, attempt number) pairs due for an attempt."""

    @abstractmethod
    def record_delivery(
        self, delivery: Delivery, *, done: bool, next_attempt_at: int | None
    ) -> None:
        """Log the attempt; ``done`` stops further attempts for this (event, webhook)."""

    @abstractmethod
    def list_deliveries(
        self, *, webhook_id: WebhookId | None = None, limit: int = 1000
    ) -> list[Delivery]: ...
