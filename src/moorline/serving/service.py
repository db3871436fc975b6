"""The rules of changing deployments and consumers.

Every change is checked (the model and its versions exist; the versions that
will answer callers still produce every output field a declared consumer
relies on, unless overridden with a reason), then written with its audit
entry in one transaction, as a new revision of the deployment. Replicas poll
:meth:`DeploymentService.revisions` and apply a new revision without a
restart (see ``moorline.serving.runtime``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from moorline.core.clock import now_ms
from moorline.errors import (
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from moorline.registry.models import AuditDraft, EventDraft
from moorline.registry.ports import Change
from moorline.serving.models import (
    DEFAULT_OUTPUT_FIELD,
    Consumer,
    Deployment,
    DeploymentSettings,
    Feedback,
    IssuedConsumer,
    PolicyRevision,
    RevisionAction,
    TrafficPolicy,
    validate_deployment_name,
)
from moorline.serving.ports import ConsumerStore, DeploymentStore, PredictionStore

#: A consumer key reads ``mlc_<key id>_<secret>``.
_KEY = re.compile(r"^mlc_([0-9a-f]{16})_([A-Za-z0-9_\-]{20,128})$")
_CONSUMER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-@]{0,99}$")
MAX_FIELDS = 256
MAX_FEEDBACK_ITEMS = 10_000
MAX_REASON = 2000


class ModelCatalog(Protocol):
    """What serving asks the registry about model versions."""

    def check_version(self, model: str, version: int) -> None:
        """Raise NotFound unless ``model`` has version ``version``."""

    def output_fields(self, model: str, version: int) -> tuple[str, ...] | None:
        """The output field names of the version's signature; None when unknown."""


class TrafficGuard(Protocol):
    """Decides whether versions may receive traffic (governance: high-risk models
    wait for an approval)."""

    def check_traffic(
        self, *, model: str, versions: Sequence[int], actor: str, reason: str
    ) -> None: ...


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _reason(reason: object) -> str:
    if not isinstance(reason, str):
        raise InvalidArgument("reason must be a string")
    if len(reason) > MAX_REASON:
        raise InvalidArgument(f"reason is longer than {MAX_REASON} characters")
    return reason


def _change(
    actor: str, action: str, target: str, details: dict[str, Any], reason: str = ""
) -> Change:
    return Change(
        audit=AuditDraft(actor=actor, action=action, target=target, details=details, reason=reason),
        events=(
            EventDraft(event_type=action, payload={"target": target, "actor": actor, **details}),
        ),
    )


class DeploymentService:
    def __init__(
        self,
        deployments: DeploymentStore,
        consumers: ConsumerStore,
        predictions: PredictionStore,
        catalog: ModelCatalog,
        *,
        guard: TrafficGuard | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = deployments
        self._consumers = consumers
        self._predictions = predictions
        self._catalog = catalog
        self._guard = guard
        self._clock = clock

    @property
    def store(self) -> DeploymentStore:
        return self._store

    @property
    def predictions(self) -> PredictionStore:
        return self._predictions

    @property
    def consumer_store(self) -> ConsumerStore:
        return self._consumers

    # -- reading ----------------------------------------------------------------------
    def get(self, name: str) -> Deployment:
        return self._store.get_deployment(validate_deployment_name(name))

    def list_deployments(self, *, model: str | None = None) -> list[Deployment]:
        return self._store.list_deployments(model=model)

    def revisions(self) -> dict[str, int]:
        return self._store.deployment_revisions()

    def history(self, name: str, *, limit: int = 100) -> list[PolicyRevision]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgument("limit must be an integer in [1, 10000]")
        return self._store.policy_history(validate_deployment_name(name), limit=limit)

    # -- changing ---------------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        model: str,
        policy: TrafficPolicy,
        settings: DeploymentSettings | None = None,
        description: str = "",
        actor: str,
        reason: str = "",
        override: bool = False,
    ) -> Deployment:
        """Create deployment ``name`` serving ``model`` under ``policy``."""
        validate_deployment_name(name)
        reason = _reason(reason)
        settings = settings or DeploymentSettings()
        missing = self._check(model, policy, actor=actor, reason=reason, override=override)
        now = self._clock()
        deployment = Deployment(
            name=name,
            model=model,
            policy=policy,
            settings=settings,
            revision=1,
            description=description,
            created_at=now,
            updated_at=now,
            updated_by=actor,
        )
        details = {
            "model": model,
            "policy": policy.to_dict(),
            "settings": settings.to_dict(),
            **_override_details(override, missing),
        }
        return self._store.create_deployment(
            deployment, change=_change(actor, "deployment.create", name, details, reason)
        )

    def set_traffic(
        self,
        name: str,
        policy: TrafficPolicy,
        *,
        actor: str,
        reason: str = "",
        override: bool = False,
        expected_revision: int | None = None,
    ) -> Deployment:
        """Replace the traffic policy of ``name`` (a new revision)."""
        current = self.get(name)
        return self._apply(
            current,
            RevisionAction.TRAFFIC,
            policy,
            current.settings,
            actor=actor,
            reason=reason,
            override=override,
            expected_revision=expected_revision,
        )

    def update_settings(
        self,
        name: str,
        settings: DeploymentSettings,
        *,
        actor: str,
        reason: str = "",
        expected_revision: int | None = None,
    ) -> Deployment:
        current = self.get(name)
        return self._apply(
            current,
            RevisionAction.SETTINGS,
            current.policy,
            settings,
            actor=actor,
            reason=reason,
            override=True,  # the versions do not change, nothing to re-check
            expected_revision=expected_revision,
        )

    def rollback(
        self,
        name: str,
        *,
        actor: str,
        reason: str = "",
        to_revision: int | None = None,
        override: bool = False,
        expected_revision: int | None = None,
    ) -> Deployment:
        """Restore the policy and settings of the revision before the current one
        (or of ``to_revision``), atomically, as a new revision. With
        ``expected_revision``, only if the deployment is still at that revision
        (Conflict otherwise), so two controllers cannot roll back twice."""
        current = self.get(name)
        history = self._store.policy_history(name, limit=10_000)
        if to_revision is None:
            older = [r for r in history if r.revision < current.revision]
            if not older:
                raise Conflict(f"Deployment {name!r} has no earlier revision to roll back to")
            target = older[0]
        else:
            found = [r for r in history if r.revision == to_revision]
            if not found:
                raise NotFound(f"Deployment {name!r} has no revision {to_revision}")
            target = found[0]
        return self._apply(
            current,
            RevisionAction.ROLLBACK,
            target.policy,
            target.settings,
            actor=actor,
            reason=reason,
            override=override,
            expected_revision=current.revision if expected_revision is None else expected_revision,
            restored=target.revision,
        )

    def delete(self, name: str, *, actor: str, reason: str = "") -> None:
        current = self.get(name)
        self._store.delete_deployment(
            name,
            change=_change(
                actor, "deployment.delete", name, {"model": current.model}, _reason(reason)
            ),
        )

    def _apply(
        self,
        current: Deployment,
        action: RevisionAction,
        policy: TrafficPolicy,
        settings: DeploymentSettings,
        *,
        actor: str,
        reason: str,
        override: bool,
        expected_revision: int | None,
        restored: int | None = None,
    ) -> Deployment:
        reason = _reason(reason)
        expected = current.revision if expected_revision is None else expected_revision
        if expected != current.revision:
            raise Conflict(
                f"Deployment {current.name!r} is at revision {current.revision}, "
                f"not {expected}: it changed since it was read"
            )
        missing: dict[str, list[str]] = {}
        if action is not RevisionAction.SETTINGS:
            missing = self._check(
                current.model, policy, actor=actor, reason=reason, override=override
            )
        revision = PolicyRevision(
            deployment=current.name,
            revision=current.revision + 1,
            action=action,
            policy=policy,
            settings=settings,
            at=self._clock(),
            actor=actor,
            reason=reason,
            restored_revision=restored,
        )
        details: dict[str, Any] = {
            "model": current.model,
            "revision": revision.revision,
            "from": current.policy.to_dict(),
            "to": policy.to_dict(),
            **_override_details(override and bool(missing), missing),
        }
        if action is RevisionAction.SETTINGS:
            details["settings"] = settings.to_dict()
        if restored is not None:
            details["restored_revision"] = restored
        return self._store.update_deployment(
            revision,
            expected_revision=current.revision,
            change=_change(actor, f"deployment.{action.value}", current.name, details, reason),
        )

    def _check(
        self, model: str, policy: TrafficPolicy, *, actor: str, reason: str, override: bool
    ) -> dict[str, list[str]]:
        """Check the versions exist and keep the consumers' fields; returns what an
        override let through (consumer -> missing fields)."""
        for version in policy.versions:
            self._catalog.check_version(model, version)
        if self._guard is not None:
            self._guard.check_traffic(
                model=model, versions=policy.serving_versions, actor=actor, reason=reason
            )
        missing: dict[str, list[str]] = {}
        problems: list[str] = []
        consumers = self._consumers.list_consumers(model=model)
        if not consumers:
            return missing
        for version in policy.serving_versions:
            fields = self._catalog.output_fields(model, version)
            have = set(fields) if fields else {DEFAULT_OUTPUT_FIELD}
            for c in consumers:
                lost = [f for f in c.fields if f not in have]
                if lost:
                    missing.setdefault(c.name, []).extend(lost)
                    problems.append(
                        f"v{version} has no output field(s) {', '.join(map(repr, lost))} "
                        f"that consumer {c.name!r} (owner {c.owner}) relies on"
                    )
        if problems and not override:
            raise PermissionDenied(
                f"Model {model!r}: " + "; ".join(problems) + ". Pass override (--override) "
                "with a reason to route traffic to it anyway"
            )
        if problems and not reason.strip():
            raise InvalidArgument("An override of the consumer check needs a reason")
        return missing

    # -- consumers --------------------------------------------------------------------
    def declare_consumer(
        self,
        *,
        model: str,
        name: str,
        owner: str,
        fields: Sequence[str] = (DEFAULT_OUTPUT_FIELD,),
        actor: str,
        reason: str = "",
    ) -> IssuedConsumer:
        """Declare caller ``name`` of ``model``; returns its API key (shown once)."""
        if not isinstance(name, str) or not _CONSUMER_NAME.match(name):
            raise InvalidArgument(
                f"Invalid consumer name {name!r}: up to 100 letters, digits, '_ . - @', "
                "starting with a letter or digit"
            )
        if not isinstance(owner, str) or not owner.strip() or len(owner) > 200:
            raise InvalidArgument("A consumer needs an owner (a person or team, 200 chars max)")
        fields_t = tuple(fields)
        if len(fields_t) > MAX_FIELDS or not all(isinstance(f, str) and f for f in fields_t):
            raise InvalidArgument(f"fields must be up to {MAX_FIELDS} non-empty names")
        self._catalog_model(model)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        consumer = Consumer(
            name=name,
            model=model,
            owner=owner.strip(),
            fields=fields_t,
            key_id=key_id,
            key_hash=hash_secret(secret),
            created_at=self._clock(),
        )
        stored = self._consumers.add_consumer(
            consumer,
            change=_change(
                actor,
                "consumer.declare",
                f"{model}/{name}",
                {"owner": consumer.owner, "fields": list(fields_t), "key_id": key_id},
                _reason(reason),
            ),
        )
        return IssuedConsumer(consumer=stored, api_key=f"mlc_{key_id}_{secret}")

    def _catalog_model(self, model: str) -> None:
        if not isinstance(model, str) or not model.strip():
            raise InvalidArgument("A consumer belongs to a registered model name")
        checker = getattr(self._catalog, "check_model", None)
        if checker is not None:
            checker(model)

    def list_consumers(self, *, model: str | None = None) -> list[Consumer]:
        return self._consumers.list_consumers(model=model)

    def revoke_consumer(self, model: str, name: str, *, actor: str, reason: str = "") -> None:
        self._consumers.revoke_consumer(
            model,
            name,
            now=self._clock(),
            change=_change(actor, "consumer.revoke", f"{model}/{name}", {}, _reason(reason)),
        )

    def authenticate_consumer(self, api_key: str) -> Consumer:
        """The active consumer whose key this is; Unauthenticated otherwise."""
        match = _KEY.match(api_key) if isinstance(api_key, str) else None
        if match is None:
            raise Unauthenticated("Malformed consumer key: expected mlc_<id>_<secret>")
        consumer = self._consumers.get_consumer_by_key(match.group(1))
        if consumer is None or not consumer.active:
            raise Unauthenticated("Unknown or revoked consumer key")
        if not hmac.compare_digest(consumer.key_hash, hash_secret(match.group(2))):
            raise Unauthenticated("Unknown or revoked consumer key")
        return consumer

    # -- feedback ---------------------------------------------------------------------
    def add_feedback(self, deployment: str, items: Sequence[Mapping[str, Any]]) -> int:
        """Attach ground-truth labels: each item ``{"prediction_id", "label"}`` (a
        one-row request) or ``{"prediction_id", "labels": [...]}`` (one per row).
        Returns how many matched a logged prediction."""
        self.get(deployment)
        if not isinstance(items, Sequence) or isinstance(items, str | bytes):
            raise InvalidArgument("feedback is a list of {prediction_id, label|labels}")
        if not items:
            raise InvalidArgument("feedback is empty")
        if len(items) > MAX_FEEDBACK_ITEMS:
            raise InvalidArgument(f"At most {MAX_FEEDBACK_ITEMS} feedback items per call")
        now = self._clock()
        parsed: list[Feedback] = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise InvalidArgument(f"feedback[{i}] is not an object")
            pid = item.get("prediction_id")
            if not isinstance(pid, str) or not 1 <= len(pid) <= 64:
                raise InvalidArgument(f"feedback[{i}].prediction_id must be a prediction id")
            if ("label" in item) == ("labels" in item):
                raise InvalidArgument(f"feedback[{i}] needs exactly one of 'label' or 'labels'")
            labels = [item["label"]] if "label" in item else item["labels"]
            if not isinstance(labels, list) or not labels:
                raise InvalidArgument(f"feedback[{i}].labels must be a non-empty list")
            for label in labels:
                if not (label is None or isinstance(label, str | int | float | bool)):
                    raise InvalidArgument(
                        f"feedback[{i}]: a label is a number, a string, a boolean or null"
                    )
            parsed.append(Feedback(prediction_id=pid, labels=labels, at=now))
        return self._predictions.add_feedback(parsed)


def _override_details(override: bool, missing: Mapping[str, list[str]]) -> dict[str, Any]:
    if not override or not missing:
        return {}
    return {"override": True, "missing_fields": {k: sorted(set(v)) for k, v in missing.items()}}


def with_policy(deployment: Deployment, revision: PolicyRevision) -> Deployment:
    """``deployment`` as it is after ``revision`` (for stores)."""
    return replace(
        deployment,
        policy=revision.policy,
        settings=revision.settings,
        revision=revision.revision,
        updated_at=revision.at,
        updated_by=revision.actor,
    )
