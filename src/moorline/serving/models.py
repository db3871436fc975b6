"""The records of serving: deployments, traffic policies, consumers, predictions.

A :class:`Deployment` is a named endpoint over one registered model. Its
:class:`TrafficPolicy` says which versions answer and how requests are split:

- ``single``: one version takes everything;
- ``canary``: weighted random split (say 90/10) between versions;
- ``ab``: weighted split that is *sticky* by a request key, so the same user
  always reaches the same variant;
- ``shadow``: one primary answers; each shadow version receives a copy of the
  request, its answer is logged and never returned.

Every change of policy or settings makes a new :class:`PolicyRevision`, so
the history is complete and a rollback is a new revision restoring an older
policy.

>>> p = TrafficPolicy.canary(champion=3, challenger=4, weight=10)
>>> p.kind, [(r.version, r.weight) for r in p.routes]
(<PolicyKind.CANARY: 'canary'>, [(3, 90.0), (4, 10.0)])
>>> TrafficPolicy.from_dict(p.to_dict()) == p
True
>>> p.describe()
'canary v3 90% / v4 10%'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from moorline.errors import InvalidArgument

MAX_DEPLOYMENT_NAME: Final = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
#: Bounds on what a deployment's settings may say (a typo must not take a server down).
MAX_BATCH_SIZE: Final = 4096
MAX_WAIT_MS: Final = 1000.0
MAX_TIMEOUT_S: Final = 3600.0
MAX_ROUTES: Final = 16


def validate_deployment_name(name: object) -> str:
    """A deployment name: letters, digits, ``_ . -``, starting with a letter or digit.

    >>> validate_deployment_name("churn-prod")
    'churn-prod'
    >>> validate_deployment_name("../x")
    Traceback (most recent call last):
    ...
    moorline.errors.InvalidArgument: Invalid deployment name '../x': use up to 100 letters, ...
    """
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_DEPLOYMENT_NAME:
        raise InvalidArgument(
            f"Invalid deployment name {name!r}: use up to {MAX_DEPLOYMENT_NAME} letters, "
            "digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


class PolicyKind(StrEnum):
    SINGLE = "single"
    CANARY = "canary"
    AB = "ab"
    SHADOW = "shadow"


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A model version and the percentage of requests it answers."""

    version: int
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "weight": self.weight}


def _version(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{what} must be a model version number (1 or more), got {value!r}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class TrafficPolicy:
    """Which versions answer, with what share, and which receive shadow copies.

    Weights are percentages of the primary traffic and sum to 100. Use the
    constructors (:meth:`single`, :meth:`canary`, :meth:`ab`,
    :meth:`shadow`); the record checks itself either way.
    """

    kind: PolicyKind
    routes: tuple[Route, ...]
    shadows: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        kind = PolicyKind(self.kind)
        object.__setattr__(self, "kind", kind)
        routes = tuple(self.routes)
        object.__setattr__(self, "routes", routes)
        object.__setattr__(self, "shadows", tuple(self.shadows))
        if not routes:
            raise InvalidArgument("A traffic policy needs at least one model version")
        if len(routes) > MAX_ROUTES:
            raise InvalidArgument(f"A traffic policy has at most {MAX_ROUTES} versions")
        versions = [_version(r.version, "A routed version") for r in routes]
        if len(set(versions)) != len(versions):
            raise InvalidArgument(f"A version appears twice in the policy: {versions}")
        for r in routes:
            if not isinstance(r.weight, int | float) or not math.isfinite(r.weight):
                raise InvalidArgument(f"Weight of v{r.version} must be a number, got {r.weight!r}")
            if r.weight < 0 or r.weight > 100:
                raise InvalidArgument(f"Weight of v{r.version} must be in [0, 100], got {r.weight}")
        total = sum(r.weight for r in routes)
        if abs(total - 100.0) > 1e-6:
            raise InvalidArgument(f"The weights must sum to 100, they sum to {total:g}")
        for v in self.shadows:
            _version(v, "A shadow version")
            if v in versions:
                raise InvalidArgument(f"v{v} cannot both answer and shadow")
        if kind in (PolicyKind.SINGLE, PolicyKind.SHADOW) and len(routes) != 1:
            raise InvalidArgument(f"A {kind.value} policy routes to exactly one version")
        if kind is PolicyKind.SHADOW and not self.shadows:
            raise InvalidArgument("A shadow policy needs at least one shadow version")
        if kind is not PolicyKind.SHADOW and self.shadows:
            raise InvalidArgument(f"Only a shadow policy has shadow versions, not {kind.value}")
        if kind in (PolicyKind.CANARY, PolicyKind.AB) and len(routes) < 2:
            raise InvalidArgument(f"A {kind.value} policy splits traffic between 2+ versions")

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def single(cls, version: int) -> TrafficPolicy:
        return cls(kind=PolicyKind.SINGLE, routes=(Route(version=version, weight=100.0),))

    @classmethod
    def canary(cls, *, champion: int, challenger: int, weight: float) -> TrafficPolicy:
        """``weight`` percent to the challenger, the rest to the champion."""
        w = float(weight)
        return cls(
            kind=PolicyKind.CANARY,
            routes=(Route(version=champion, weight=100.0 - w), Route(version=challenger, weight=w)),
        )

    @classmethod
    def weighted(cls, weights: Mapping[int, float], *, sticky: bool = False) -> TrafficPolicy:
        """A canary (random) or, with ``sticky``, an A/B (by request key) split."""
        kind = PolicyKind.AB if sticky else PolicyKind.CANARY
        return cls(
            kind=kind,
            routes=tuple(Route(version=v, weight=float(w)) for v, w in weights.items()),
        )

    @classmethod
    def ab(cls, weights: Mapping[int, float]) -> TrafficPolicy:
        return cls.weighted(weights, sticky=True)

    @classmethod
    def shadow(cls, *, primary: int, shadows: Sequence[int]) -> TrafficPolicy:
        return cls(
            kind=PolicyKind.SHADOW,
            routes=(Route(version=primary, weight=100.0),),
            shadows=tuple(shadows),
        )

    # -- reading ----------------------------------------------------------------------
    @property
    def versions(self) -> tuple[int, ...]:
        """Every version the policy needs loaded: routed ones, then shadows."""
        return (*(r.version for r in self.routes), *self.shadows)

    @property
    def serving_versions(self) -> tuple[int, ...]:
        """Versions whose answers reach callers (weight above zero)."""
        return tuple(r.version for r in self.routes if r.weight > 0)

    @property
    def primary(self) -> int:
        """The version with the largest share (the champion of a canary)."""
        return max(self.routes, key=lambda r: r.weight).version

    def describe(self) -> str:
        split = " / ".join(f"v{r.version} {r.weight:g}%" for r in self.routes)
        if self.kind is PolicyKind.SINGLE:
            return f"single v{self.routes[0].version}"
        if self.kind is PolicyKind.SHADOW:
            shadows = ", ".join(f"v{v}" for v in self.shadows)
            return f"shadow v{self.routes[0].version} (copies to {shadows})"
        return f"{self.kind.value} {split}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "routes": [r.to_dict() for r in self.routes],
            "shadows": list(self.shadows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrafficPolicy:
        if not isinstance(data, Mapping):
            raise InvalidArgument("A traffic policy is an object with 'kind' and 'routes'")
        try:
            kind = PolicyKind(str(data.get("kind")))
        except ValueError:
            raise InvalidArgument(
                f"Unknown policy kind {data.get('kind')!r}: use one of "
                f"{[k.value for k in PolicyKind]}"
            ) from None
        routes = data.get("routes")
        if not isinstance(routes, list):
            raise InvalidArgument("A traffic policy's 'routes' is a list of {version, weight}")
        parsed = []
        for r in routes:
            if not isinstance(r, Mapping) or "version" not in r:
                raise InvalidArgument(f"A route is an object with 'version' and 'weight': {r!r}")
            weight = r.get("weight", 100.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise InvalidArgument(f"A route's weight must be a number, got {weight!r}")
            parsed.append(Route(version=r["version"], weight=float(weight)))
        shadows = data.get("shadows") or []
        if not isinstance(shadows, list):
            raise InvalidArgument("A traffic policy's 'shadows' is a list of versions")
        return cls(kind=kind, routes=tuple(parsed), shadows=tuple(shadows))


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentSettings:
    """How a deployment serves.

    ``max_batch_size``/``max_wait_ms``: micro-batching bounds (requests to
    one version that arrive while it is busy are gathered into one predict
    call; a lone request never waits). ``timeout_s``: a request past it gets
    504. ``log_sample``: the share of requests written to the prediction log
    (1.0 = all). ``require_consumer``: refuse callers without a declared
    consumer key instead of counting them as undeclared.
    """

    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    timeout_s: float = 30.0
    log_sample: float = 1.0
    require_consumer: bool = False

    def __post_init__(self) -> None:
        b = self.max_batch_size
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= MAX_BATCH_SIZE:
            raise InvalidArgument(f"max_batch_size must be an integer in [1, {MAX_BATCH_SIZE}]")
        if not _number_in(self.max_wait_ms, 0.0, MAX_WAIT_MS):
            raise InvalidArgument(f"max_wait_ms must be in [0, {MAX_WAIT_MS:g}]")
        if not _number_in(self.timeout_s, 0.001, MAX_TIMEOUT_S):
            raise InvalidArgument(f"timeout_s must be in (0, {MAX_TIMEOUT_S:g}]")
        if not _number_in(self.log_sample, 0.0, 1.0):
            raise InvalidArgument("log_sample must be in [0, 1]")
        if not isinstance(self.require_consumer, bool):
            raise InvalidArgument("require_consumer must be true or false")

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_batch_size": self.max_batch_size,
            "max_wait_ms": self.max_wait_ms,
            "timeout_s": self.timeout_s,
            "log_sample": self.log_sample,
            "require_consumer": self.require_consumer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DeploymentSettings:
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidArgument("Deployment settings are an object")
        known = {"max_batch_size", "max_wait_ms", "timeout_s", "log_sample", "require_consumer"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument(f"Unknown deployment setting(s) {unknown}: use {sorted(known)}")
        return cls(**{k: data[k] for k in known if k in data})


def _number_in(value: object, low: float, high: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    """A named endpoint over registered model ``model``; ``revision`` grows with
    every change. Times in ms since the epoch."""

    name: str
    model: str
    policy: TrafficPolicy
    settings: DeploymentSettings = field(default_factory=DeploymentSettings)
    revision: int = 1
    description: str = ""
    created_at: int = 0
    updated_at: int = 0
    updated_by: str = ""

    def __post_init__(self) -> None:
        validate_deployment_name(self.name)
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidArgument(f"Deployment {self.name!r} needs a registered model name")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "policy": self.policy.to_dict(),
            "policy_text": self.policy.describe(),
            "settings": self.settings.to_dict(),
            "revision": self.revision,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }


class RevisionAction(StrEnum):
    DEPLOY = "deploy"
    TRAFFIC = "traffic"
    SETTINGS = "settings"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyRevision:
    """One state of a deployment in its history: what it became, when, by whom, why."""

    deployment: str
    revision: int
    action: RevisionAction
    policy: TrafficPolicy
    settings: DeploymentSettings
    at: int
    actor: str
    reason: str = ""
    #: for a rollback: the revision whose policy was restored
    restored_revision: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "revision": self.revision,
            "action": self.action.value,
            "policy": self.policy.to_dict(),
            "policy_text": self.policy.describe(),
            "settings": self.settings.to_dict(),
            "at": self.at,
            "actor": self.actor,
            "reason": self.reason,
            "restored_revision": self.restored_revision,
        }


# -- consumers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Consumer:
    """A declared caller of a model's deployments.

    The caller presents ``mlc_<key_id>_<secret>``; only SHA-256 of the secret
    is stored. ``fields`` are the output fields the caller relies on: a model
    version whose outputs lack one cannot take traffic without an override.
    """

    name: str
    model: str
    owner: str
    fields: tuple[str, ...]
    key_id: str
    key_hash: str
    created_at: int
    revoked_at: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "owner": self.owner,
            "fields": list(self.fields),
            "key_id": self.key_id,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedConsumer:
    """A consumer just declared, with its key (shown once, never stored)."""

    consumer: Consumer
    api_key: str


# -- the prediction log -----------------------------------------------------------------

#: The name a consumer uses for a model's output when it has no named columns.
DEFAULT_OUTPUT_FIELD: Final = "prediction"


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictionRecord:
    """One answered request as logged: ``inputs`` are the rows the model saw
    (a list of row lists, or of records for named columns), ``outputs`` one
    prediction per row (JSON values). ``shadow`` marks a shadow version's
    answer to a copy of the request (same ``prediction_id`` as the primary).
    """

    prediction_id: str
    deployment: str
    model: str
    version: int
    at: int
    inputs: list[Any]
    outputs: list[Any]
    latency_ms: float
    consumer: str | None = None
    #: who called when no consumer was declared (the caller's address and agent)
    caller: str = ""
    shadow: bool = False
    #: input column names when the model takes named columns
    columns: tuple[str, ...] | None = None
    #: set when the model raised: the error id given to the caller (outputs empty)
    error_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Feedback:
    """The ground truth for a logged prediction: one label per row of its request."""

    prediction_id: str
    labels: list[Any]
    at: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedPrediction:
    """A logged prediction read back, with its feedback labels if any arrived."""

    record: PredictionRecord
    labels: list[Any] | None = None
    labelled_at: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionTraffic:
    """Counts for one version of a deployment over a time window (for pages and analysis)."""

    version: int
    requests: int
    shadow_requests: int
    errors: int
    rows: int
    labelled: int
    mean_latency_ms: float | None
    p99_latency_ms: float | None


# -- serving usage ----------------------------------------------------------------------

#: Milliseconds in an hour: usage is kept per UTC hour.
HOUR_MS: Final = 3_600_000


def hour_of(ms: int) -> int:
    """The start of the UTC hour holding ``ms`` (milliseconds since the epoch).

    >>> hour_of(1_700_000_000_000)  # 2023-11-14 22:13:20 UTC
    1699999200000
    """
    return ms - ms % HOUR_MS


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRecord:
    """What one model version cost a deployment in one UTC hour, as counted by the
    model servers (:mod:`moorline.serving.usage`).

    ``hour`` is the start of the hour in milliseconds since the epoch.
    ``requests`` and ``rows`` are those that reached the model (a shadow copy
    counts for the shadow version). ``predict_cpu_s`` is the CPU time of the
    model's predict calls, measured in the thread that ran them; ``cpu_s`` adds
    the version's share of the rest of the serving process's CPU where that is
    known (a ``moorline serve`` worker), so it is never below ``predict_cpu_s``.
    Stores add records with the same (deployment, model, version, hour) up.
    """

    deployment: str
    model: str
    version: int
    hour: int
    requests: int = 0
    rows: int = 0
    cpu_s: float = 0.0
    predict_cpu_s: float = 0.0

    @property
    def key(self) -> tuple[str, str, int, int]:
        """What the store adds up by: (deployment, model, version, hour)."""
        return (self.deployment, self.model, self.version, self.hour)
