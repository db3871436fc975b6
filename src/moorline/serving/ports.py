"""What serving needs from storage.

Changes to deployments and consumers take a registry :class:`Change`: the
audit entry (and events) written in the same transaction as the change, on
the same hash-chained audit log as the registry's. The prediction log is
append-only and written in batches off the request path; serving usage
(requests and CPU per version and hour) is added up, off the request path too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from moorline.registry.ports import Change
from moorline.serving.canaries import CanaryRecord, CanaryStatus
from moorline.serving.models import (
    Consumer,
    Deployment,
    Feedback,
    LoggedPrediction,
    PolicyRevision,
    PredictionRecord,
    UsageRecord,
    VersionTraffic,
)


class DeploymentStore(ABC):
    @abstractmethod
    def create_deployment(self, deployment: Deployment, *, change: Change) -> Deployment:
        """Store a new deployment as revision 1 (its first history entry too).

        Raises AlreadyExists if the name is taken.
        """

    @abstractmethod
    def get_deployment(self, name: str) -> Deployment:
        """Raises NotFound."""

    @abstractmethod
    def list_deployments(self, *, model: str | None = None) -> list[Deployment]:
        """All deployments (of ``model``), by name."""

    @abstractmethod
    def deployment_revisions(self) -> dict[str, int]:
        """Name -> current revision of every deployment: the cheap poll replicas run."""

    @abstractmethod
    def update_deployment(
        self, revision: PolicyRevision, *, expected_revision: int, change: Change
    ) -> Deployment:
        """Apply ``revision`` (its policy and settings, ``revision.revision`` ==
        ``expected_revision`` + 1) and append it to the history, atomically.

        Raises Conflict if the deployment is no longer at ``expected_revision``
        (another change won), NotFound if it is gone.
        """

    @abstractmethod
    def policy_history(self, name: str, *, limit: int = 100) -> list[PolicyRevision]:
        """The newest ``limit`` revisions of ``name``, newest first. Raises NotFound."""

    @abstractmethod
    def delete_deployment(self, name: str, *, change: Change) -> None:
        """Remove the deployment and its history (its logged predictions stay)."""


class ConsumerStore(ABC):
    @abstractmethod
    def add_consumer(self, consumer: Consumer, *, change: Change) -> Consumer:
        """Raises AlreadyExists if ``(model, name)`` is taken by an active consumer."""

    @abstractmethod
    def get_consumer_by_key(self, key_id: str) -> Consumer | None: ...

    @abstractmethod
    def list_consumers(self, *, model: str | None = None) -> list[Consumer]:
        """Active consumers (of ``model``), by model then name."""

    @abstractmethod
    def revoke_consumer(self, model: str, name: str, *, now: int, change: Change) -> None:
        """Raises NotFound if there is no active consumer of that name."""


class PredictionStore(ABC):
    @abstractmethod
    def append_predictions(self, records: Sequence[PredictionRecord]) -> None:
        """Append a batch in one transaction (all or nothing)."""

    @abstractmethod
    def add_feedback(self, items: Sequence[Feedback]) -> int:
        """Attach labels; a later label for the same id replaces the earlier one.

        Returns how many items matched a logged prediction (unknown ids are
        kept too: labels may arrive before the log is flushed).
        """

    @abstractmethod
    def read_predictions(
        self,
        deployment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        version: int | None = None,
        shadow: bool | None = False,
        limit: int = 100_000,
    ) -> list[LoggedPrediction]:
        """Logged predictions of ``deployment`` with ``since <= at < until``, oldest
        first, with their labels joined. ``shadow``: False = answers callers saw,
        True = shadow answers only, None = both."""

    @abstractmethod
    def traffic(
        self, deployment: str, *, since: int, until: int | None = None
    ) -> list[VersionTraffic]:
        """Per-version counts and latencies of ``deployment`` in the window."""

    @abstractmethod
    def undeclared_callers(self, deployment: str, *, since: int) -> dict[str, int]:
        """Caller descriptions (no consumer key) -> request count, from the log."""

    @abstractmethod
    def record_usage(self, records: Sequence[UsageRecord]) -> None:
        """Add each record's counters to the stored row with the same (deployment,
        model, version, hour), or store it as a new row: all in one transaction.

        Adding, not replacing, so several serving processes can write the same
        hour concurrently and lose nothing. Raises InvalidArgument (nothing
        written) for a record the columns cannot hold.
        """

    @abstractmethod
    def usage(
        self,
        *,
        model: str | None = None,
        deployment: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[UsageRecord]:
        """Stored usage (of ``model``, of ``deployment``) with ``since <= hour < until``,
        ordered by hour, deployment, version."""


class CanaryStore(ABC):
    """Managed canaries (:mod:`moorline.serving.canaries`): one row per canary,
    at most one ``running`` per deployment.

    The rows hold the controller's state, not the traffic: the deployment's
    own revisions (audited) say what answered. A change of status is a
    compare-and-set on ``running``, so two controllers cannot end one canary
    twice.
    """

    @abstractmethod
    def add_canary(self, record: CanaryRecord) -> CanaryRecord:
        """Store a new ``running`` canary.

        Raises Conflict if its deployment has a running canary already,
        AlreadyExists if its id is taken, InvalidArgument if it is not running.
        """

    @abstractmethod
    def get_canary(self, canary_id: str) -> CanaryRecord:
        """Raises NotFound."""

    @abstractmethod
    def running_canary(self, deployment: str) -> CanaryRecord | None:
        """The running canary of ``deployment``, or None."""

    @abstractmethod
    def list_canaries(
        self,
        *,
        deployment: str | None = None,
        status: CanaryStatus | None = None,
        limit: int = 100,
    ) -> list[CanaryRecord]:
        """Canaries (of ``deployment``, in ``status``), newest first (by start)."""

    @abstractmethod
    def update_canary(
        self,
        canary_id: str,
        *,
        now: int,
        revision: int | None = None,
        started_at: int | None = None,
        last_verdict: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> bool:
        """Change what is given of a running canary (``updated_at`` = ``now``).

        False when it is not running any more; NotFound when there is no such canary.
        """

    @abstractmethod
    def finish_canary(
        self,
        canary_id: str,
        *,
        status: CanaryStatus,
        now: int,
        reason: str,
        ended_revision: int | None = None,
        last_verdict: Mapping[str, Any] | None = None,
    ) -> bool:
        """End a running canary with ``status`` (not ``running``).

        False when it had ended already; NotFound when there is no such canary.
        """

    @abstractmethod
    def discard_canary(self, canary_id: str) -> None:
        """Delete a canary whose traffic change never happened (its start was
        refused). Raises NotFound."""
