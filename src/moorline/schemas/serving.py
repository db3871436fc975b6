"""Wire schemas of serving's control plane: deployments, traffic policies, consumers,
and the read-only views of the prediction log.

Records convert both ways with the domain (``from_domain`` / ``to_domain``),
so a deployment that crosses the wire comes back equal to what was sent.
A traffic policy or settings object that breaks a rule of the domain (weights
that do not sum to 100, a shadow that also answers) is refused by the domain
record itself when the server builds it: one rule, one message, 400
``INVALID_PARAMETER_VALUE``.

Requests that change something carry the operation's arguments and a
``reason`` -- never an actor: the server records the caller it
authenticated (see ``moorline.store.rest.serving``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from moorline.schemas.common import INT64_MAX, RequestModel, ResponseModel
from moorline.serving import models as m
from moorline.serving.service import MAX_FIELDS, MAX_REASON

_REASON = Field(default="", max_length=MAX_REASON, description="Why; kept in the audit log.")
_EXPECTED = Field(
    default=None,
    description="Apply only if the deployment is still at this revision (else 409 "
    "RESOURCE_CONFLICT): a read-modify-write without lost updates.",
)

#: A model version number, as the registry numbers them (1, 2, ...).
VersionNumber = Annotated[int, Field(ge=1, le=2**62)]
Revision = Annotated[int, Field(ge=1, le=INT64_MAX)]
#: Most predictions one read returns; page by time (``since``) for more.
MAX_PREDICTIONS = 10_000
DEFAULT_PREDICTIONS = 100


# -- policies and settings -------------------------------------------------------------


class Route(ResponseModel):
    version: VersionNumber
    weight: Annotated[float, Field(description="Percent of the primary traffic (0-100).")]


class TrafficPolicy(ResponseModel):
    """``single``, ``canary`` (random split), ``ab`` (split sticky by request key) or
    ``shadow`` (one version answers, ``shadows`` receive copies)."""

    kind: m.PolicyKind
    routes: Annotated[list[Route], Field(min_length=1, max_length=m.MAX_ROUTES)]
    shadows: Annotated[list[VersionNumber], Field(max_length=m.MAX_ROUTES)] = Field(
        default_factory=list
    )
    text: Annotated[
        str, Field(description="The policy in words, e.g. 'canary v3 90% / v4 10%' (ignored in).")
    ] = ""

    @classmethod
    def from_domain(cls, policy: m.TrafficPolicy) -> TrafficPolicy:
        return cls(
            kind=policy.kind,
            routes=[Route(version=r.version, weight=r.weight) for r in policy.routes],
            shadows=list(policy.shadows),
            text=policy.describe(),
        )

    def to_domain(self) -> m.TrafficPolicy:
        return m.TrafficPolicy(
            kind=self.kind,
            routes=tuple(m.Route(version=r.version, weight=r.weight) for r in self.routes),
            shadows=tuple(self.shadows),
        )


class DeploymentSettings(ResponseModel):
    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    timeout_s: float = 30.0
    log_sample: float = 1.0
    require_consumer: bool = False

    @classmethod
    def from_domain(cls, settings: m.DeploymentSettings) -> DeploymentSettings:
        return cls(**settings.to_dict())

    def to_domain(self) -> m.DeploymentSettings:
        return m.DeploymentSettings(**self.model_dump())


# -- deployments ---------------------------------------------------------------------


class Deployment(ResponseModel):
    name: str
    model: str
    policy: TrafficPolicy
    settings: DeploymentSettings
    revision: int
    description: str = ""
    created_at: int = 0
    updated_at: int = 0
    updated_by: str = ""

    @classmethod
    def from_domain(cls, d: m.Deployment) -> Deployment:
        return cls(
            name=d.name,
            model=d.model,
            policy=TrafficPolicy.from_domain(d.policy),
            settings=DeploymentSettings.from_domain(d.settings),
            revision=d.revision,
            description=d.description,
            created_at=d.created_at,
            updated_at=d.updated_at,
            updated_by=d.updated_by,
        )

    def to_domain(self) -> m.Deployment:
        return m.Deployment(
            name=self.name,
            model=self.model,
            policy=self.policy.to_domain(),
            settings=self.settings.to_domain(),
            revision=self.revision,
            description=self.description,
            created_at=self.created_at,
            updated_at=self.updated_at,
            updated_by=self.updated_by,
        )


class DeploymentList(ResponseModel):
    items: list[Deployment]


class Revisions(ResponseModel):
    """Deployment name -> current revision: what replicas poll."""

    revisions: dict[str, int]


class PolicyInput(RequestModel):
    """A traffic policy in a request (``text`` is not accepted: the server writes it)."""

    kind: m.PolicyKind
    routes: Annotated[list[Route], Field(min_length=1, max_length=m.MAX_ROUTES)]
    shadows: Annotated[list[VersionNumber], Field(max_length=m.MAX_ROUTES)] = Field(
        default_factory=list
    )

    @classmethod
    def from_domain(cls, policy: m.TrafficPolicy) -> PolicyInput:
        return cls(
            kind=policy.kind,
            routes=[Route(version=r.version, weight=r.weight) for r in policy.routes],
            shadows=list(policy.shadows),
        )

    def to_domain(self) -> m.TrafficPolicy:
        return m.TrafficPolicy(
            kind=self.kind,
            routes=tuple(m.Route(version=r.version, weight=r.weight) for r in self.routes),
            shadows=tuple(self.shadows),
        )


class SettingsInput(RequestModel):
    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    timeout_s: float = 30.0
    log_sample: float = 1.0
    require_consumer: bool = False

    @classmethod
    def from_domain(cls, settings: m.DeploymentSettings) -> SettingsInput:
        return cls(**settings.to_dict())

    def to_domain(self) -> m.DeploymentSettings:
        return m.DeploymentSettings(**self.model_dump())


class CreateDeployment(RequestModel):
    name: Annotated[str, Field(description="Letters, digits, '_ . -'; up to 100 characters.")]
    model: Annotated[str, Field(description="The registered model it serves.")]
    policy: PolicyInput
    settings: SettingsInput | None = None
    description: Annotated[str, Field(max_length=10_000)] = ""
    reason: str = _REASON
    override: Annotated[
        bool,
        Field(
            description="Route to versions that lack a field a declared consumer relies on "
            "(needs a reason; audited)."
        ),
    ] = False


class SetTraffic(RequestModel):
    policy: PolicyInput
    reason: str = _REASON
    override: bool = False
    expected_revision: Revision | None = _EXPECTED


class Rollback(RequestModel):
    reason: str = _REASON
    to_revision: Annotated[
        Revision | None,
        Field(description="The revision whose policy to restore; default: the one before."),
    ] = None
    override: bool = False
    expected_revision: Annotated[
        Revision | None,
        Field(description="Roll back only if the deployment is still at this revision."),
    ] = None


class UpdateSettings(RequestModel):
    """Only the settings given change; the others keep their current value."""

    max_batch_size: int | None = None
    max_wait_ms: float | None = None
    timeout_s: float | None = None
    log_sample: float | None = None
    require_consumer: bool | None = None
    reason: str = _REASON
    expected_revision: Revision | None = _EXPECTED

    def changes(self) -> dict[str, Any]:
        """The settings this request sets."""
        return {
            k: v
            for k, v in self.model_dump(exclude={"reason", "expected_revision"}).items()
            if v is not None
        }


class PolicyRevision(ResponseModel):
    deployment: str
    revision: int
    action: m.RevisionAction
    policy: TrafficPolicy
    settings: DeploymentSettings
    at: int
    actor: str
    reason: str = ""
    restored_revision: int | None = None

    @classmethod
    def from_domain(cls, r: m.PolicyRevision) -> PolicyRevision:
        return cls(
            deployment=r.deployment,
            revision=r.revision,
            action=r.action,
            policy=TrafficPolicy.from_domain(r.policy),
            settings=DeploymentSettings.from_domain(r.settings),
            at=r.at,
            actor=r.actor,
            reason=r.reason,
            restored_revision=r.restored_revision,
        )

    def to_domain(self) -> m.PolicyRevision:
        return m.PolicyRevision(
            deployment=self.deployment,
            revision=self.revision,
            action=self.action,
            policy=self.policy.to_domain(),
            settings=self.settings.to_domain(),
            at=self.at,
            actor=self.actor,
            reason=self.reason,
            restored_revision=self.restored_revision,
        )


class History(ResponseModel):
    """Revisions, newest first."""

    items: list[PolicyRevision]


# -- the prediction log, read-only ---------------------------------------------------------


class VersionTraffic(ResponseModel):
    version: int
    requests: int
    shadow_requests: int
    errors: int
    rows: int
    labelled: int
    mean_latency_ms: float | None = None
    p99_latency_ms: float | None = None

    @classmethod
    def from_domain(cls, t: m.VersionTraffic) -> VersionTraffic:
        return cls(
            version=t.version,
            requests=t.requests,
            shadow_requests=t.shadow_requests,
            errors=t.errors,
            rows=t.rows,
            labelled=t.labelled,
            mean_latency_ms=t.mean_latency_ms,
            p99_latency_ms=t.p99_latency_ms,
        )

    def to_domain(self) -> m.VersionTraffic:
        return m.VersionTraffic(
            version=self.version,
            requests=self.requests,
            shadow_requests=self.shadow_requests,
            errors=self.errors,
            rows=self.rows,
            labelled=self.labelled,
            mean_latency_ms=self.mean_latency_ms,
            p99_latency_ms=self.p99_latency_ms,
        )


class Traffic(ResponseModel):
    deployment: str
    since: int
    until: int | None = None
    items: list[VersionTraffic]


class LoggedPrediction(ResponseModel):
    prediction_id: str
    deployment: str
    model: str
    version: int
    at: int
    inputs: list[Any]
    outputs: list[Any]
    latency_ms: float
    consumer: str | None = None
    caller: str = ""
    shadow: bool = False
    columns: list[str] | None = None
    error_id: str | None = None
    labels: list[Any] | None = None
    labelled_at: int | None = None

    @classmethod
    def from_domain(cls, p: m.LoggedPrediction) -> LoggedPrediction:
        r = p.record
        return cls(
            prediction_id=r.prediction_id,
            deployment=r.deployment,
            model=r.model,
            version=r.version,
            at=r.at,
            inputs=list(r.inputs),
            outputs=list(r.outputs),
            latency_ms=r.latency_ms,
            consumer=r.consumer,
            caller=r.caller,
            shadow=r.shadow,
            columns=list(r.columns) if r.columns is not None else None,
            error_id=r.error_id,
            labels=list(p.labels) if p.labels is not None else None,
            labelled_at=p.labelled_at,
        )

    def to_domain(self) -> m.LoggedPrediction:
        return m.LoggedPrediction(
            record=m.PredictionRecord(
                prediction_id=self.prediction_id,
                deployment=self.deployment,
                model=self.model,
                version=self.version,
                at=self.at,
                inputs=list(self.inputs),
                outputs=list(self.outputs),
                latency_ms=self.latency_ms,
                consumer=self.consumer,
                caller=self.caller,
                shadow=self.shadow,
                columns=tuple(self.columns) if self.columns is not None else None,
                error_id=self.error_id,
            ),
            labels=list(self.labels) if self.labels is not None else None,
            labelled_at=self.labelled_at,
        )


class PredictionList(ResponseModel):
    """Oldest first; ``truncated`` when ``limit`` cut the window short (read on from
    the ``at`` of the last item)."""

    items: list[LoggedPrediction]
    truncated: bool = False


#: Which answers a prediction read returns: the ones callers saw, shadow copies, or both.
ShadowFilter = Literal["false", "true", "any"]


class UndeclaredCaller(ResponseModel):
    caller: Annotated[str, Field(description="The caller's address and user agent.")]
    requests: int


class Undeclared(ResponseModel):
    deployment: str
    since: int
    items: list[UndeclaredCaller]


# -- consumers ---------------------------------------------------------------------------


class Consumer(ResponseModel):
    name: str
    model: str
    owner: str
    fields: list[str]
    key_id: str
    created_at: int
    revoked_at: int | None = None

    @classmethod
    def from_domain(cls, c: m.Consumer) -> Consumer:
        return cls(
            name=c.name,
            model=c.model,
            owner=c.owner,
            fields=list(c.fields),
            key_id=c.key_id,
            created_at=c.created_at,
            revoked_at=c.revoked_at,
        )

    def to_domain(self) -> m.Consumer:
        # The key's hash never leaves the server.
        return m.Consumer(
            name=self.name,
            model=self.model,
            owner=self.owner,
            fields=tuple(self.fields),
            key_id=self.key_id,
            key_hash="",
            created_at=self.created_at,
            revoked_at=self.revoked_at,
        )


class ConsumerList(ResponseModel):
    items: list[Consumer]


class DeclareConsumer(RequestModel):
    name: Annotated[str, Field(description="Letters, digits, '_ . - @'; up to 100 characters.")]
    owner: Annotated[str, Field(description="The person or team to ask before a change.")]
    fields: Annotated[
        list[str],
        Field(max_length=MAX_FIELDS, description="Output fields the consumer relies on."),
    ] = Field(default_factory=lambda: [m.DEFAULT_OUTPUT_FIELD])
    reason: str = _REASON


class IssuedConsumer(ResponseModel):
    consumer: Consumer
    api_key: Annotated[
        str, Field(description="mlc_<id>_<secret>: shown once, only its hash is stored.")
    ]
