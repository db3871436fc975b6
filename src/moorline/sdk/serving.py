"""Deployments from Python: deploy a model version, split traffic, roll back, declare callers.

The functions use the SDK's store (``MOORLINE_TRACKING_URI`` or
:func:`moorline.set_tracking_uri`), embedded or remote, and return serving's
typed records. Changes are recorded in the audit log under the acting user:
``MOORLINE_USER`` or the OS user for a local store; for a server, the name
of the API token (``MOORLINE_TOKEN``).

>>> import moorline  # doctest: +SKIP
>>> moorline.deploy("churn-prod", "churn", alias="champion", reason="v1")  # doctest: +SKIP
>>> moorline.set_traffic("churn-prod", {3: 90, 4: 10}, reason="canary v4")  # doctest: +SKIP
>>> moorline.get_deployment("churn-prod").policy.describe()  # doctest: +SKIP
'canary v3 90% / v4 10%'
>>> moorline.rollback("churn-prod", reason="v4 errors").policy.describe()  # doctest: +SKIP
'single v3'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from moorline.errors import InvalidArgument, NotFound
from moorline.sdk._session import SESSION
from moorline.sdk.registry import acting_user
from moorline.serving.models import (
    DEFAULT_OUTPUT_FIELD,
    Deployment,
    DeploymentSettings,
    IssuedConsumer,
    TrafficPolicy,
)

if TYPE_CHECKING:
    from moorline.bootstrap import Services


def resolve_version(
    services: Services, model: str, *, version: int | str | None, alias: str | None
) -> int:
    """The version number ``version`` or ``alias`` of ``model`` stands for (exactly one
    must be given). An alias is resolved now: a deployment pins version numbers, so a
    later move of the alias does not change what it serves."""
    if (version is None) == (alias is None):
        raise InvalidArgument("Give exactly one of version or alias")
    registry = services.registry
    if alias is not None:
        return registry.get_version_by_alias(model, alias).version
    return registry.get_model_version(model, str(version)).version


def deploy_version(
    services: Services,
    name: str,
    model: str,
    version: int,
    *,
    settings: Mapping[str, object] | None,
    description: str,
    actor: str,
    reason: str,
    override: bool,
) -> tuple[Deployment, bool]:
    """Create ``name`` serving ``version`` alone, or, when it exists, route all of its
    traffic to ``version`` (and apply ``settings``, when some are given and differ).

    Returns the deployment and whether anything changed (shared with the CLI).
    """
    service = services.deployments
    try:
        current = service.get(name)
    except NotFound:
        created = service.create(
            name,
            model=model,
            policy=TrafficPolicy.single(version),
            settings=DeploymentSettings.from_dict(settings) if settings else None,
            description=description,
            actor=actor,
            reason=reason,
            override=override,
        )
        return created, True
    if current.model != model:
        raise InvalidArgument(
            f"Deployment {name!r} serves model {current.model!r}, not {model!r}: "
            "pick another deployment name"
        )
    result, changed = current, False
    if result.policy != TrafficPolicy.single(version):
        result = service.set_traffic(
            name,
            TrafficPolicy.single(version),
            actor=actor,
            reason=reason,
            override=override,
            expected_revision=result.revision,
        )
        changed = True
    if settings:
        wanted = DeploymentSettings.from_dict({**result.settings.to_dict(), **settings})
        if wanted != result.settings:
            result = service.update_settings(
                name, wanted, actor=actor, reason=reason, expected_revision=result.revision
            )
            changed = True
    return result, changed


def deploy(
    name: str,
    model: str,
    *,
    version: int | str | None = None,
    alias: str | None = None,
    settings: Mapping[str, object] | None = None,
    description: str = "",
    reason: str = "",
    override: bool = False,
) -> Deployment:
    """Serve ``version`` (or the version ``alias`` points at now) of ``model`` as
    deployment ``name``.

    Creates the deployment, or, if it exists, sends all its traffic to that
    version (a new revision; nothing changes when it already does).
    ``settings``: any of ``max_batch_size``, ``max_wait_ms``, ``timeout_s``,
    ``log_sample``, ``require_consumer``. A version missing an output field
    a declared consumer relies on is refused with
    :class:`~moorline.errors.Conflict` unless ``override`` (with a reason).
    """
    services = SESSION.services()
    number = resolve_version(services, model, version=version, alias=alias)
    deployment, _ = deploy_version(
        services,
        name,
        model,
        number,
        settings=settings,
        description=description,
        actor=acting_user(),
        reason=reason,
        override=override,
    )
    return deployment


def traffic_policy(
    weights: Mapping[int, float], *, sticky: bool = False, shadows: Sequence[int] = ()
) -> TrafficPolicy:
    """The policy ``weights`` (version -> percent) describe.

    One version at 100: ``single`` (or ``shadow`` with ``shadows``); several: a
    random ``canary`` split, or an ``ab`` split sticky by request key.

    >>> traffic_policy({3: 90, 4: 10}).describe()
    'canary v3 90% / v4 10%'
    >>> traffic_policy({3: 100}, shadows=[4]).describe()
    'shadow v3 (copies to v4)'
    """
    if shadows:
        if len(weights) != 1:
            raise InvalidArgument("A shadow policy has exactly one primary version")
        (primary,) = weights
        return TrafficPolicy.shadow(primary=primary, shadows=list(shadows))
    if len(weights) == 1 and not sticky:
        (only,) = weights
        policy = TrafficPolicy.single(only)
        if float(weights[only]) != 100.0:
            raise InvalidArgument(f"The weights must sum to 100, they sum to {weights[only]:g}")
        return policy
    return TrafficPolicy.weighted({int(v): float(w) for v, w in weights.items()}, sticky=sticky)


def set_traffic(
    name: str,
    policy: TrafficPolicy | Mapping[int, float],
    *,
    sticky: bool = False,
    shadows: Sequence[int] = (),
    reason: str = "",
    override: bool = False,
    expected_revision: int | None = None,
) -> Deployment:
    """Replace the traffic policy of deployment ``name`` (a new revision).

    ``policy`` is a :class:`~moorline.serving.models.TrafficPolicy` or weights
    per version (see :func:`traffic_policy`): ``{3: 90, 4: 10}`` is a canary,
    with ``sticky=True`` an A/B test, ``{3: 100}, shadows=[4]`` a shadow.
    ``expected_revision``: apply only if the deployment is still at that
    revision (:class:`~moorline.errors.Conflict` otherwise).
    """
    chosen = (
        policy
        if isinstance(policy, TrafficPolicy)
        else traffic_policy(policy, sticky=sticky, shadows=shadows)
    )
    return SESSION.services().deployments.set_traffic(
        name,
        chosen,
        actor=acting_user(),
        reason=reason,
        override=override,
        expected_revision=expected_revision,
    )


def rollback(
    name: str, *, to_revision: int | None = None, reason: str = "", override: bool = False
) -> Deployment:
    """Restore the policy and settings deployment ``name`` had before its last change
    (or at ``to_revision``), as a new revision."""
    return SESSION.services().deployments.rollback(
        name, actor=acting_user(), reason=reason, to_revision=to_revision, override=override
    )


def get_deployment(name: str) -> Deployment:
    """Deployment ``name``: its model, policy, settings and revision."""
    return SESSION.services().deployments.get(name)


def declare_consumer(
    model: str,
    name: str,
    *,
    owner: str,
    fields: Sequence[str] = (DEFAULT_OUTPUT_FIELD,),
    reason: str = "",
) -> IssuedConsumer:
    """Declare caller ``name`` of ``model``'s deployments, relying on output ``fields``.

    Returns the consumer and its API key (``mlc_...``, shown once: only its
    hash is stored). From then on a traffic change that would drop one of
    ``fields`` is refused unless overridden with a reason.
    """
    return SESSION.services().deployments.declare_consumer(
        model=model,
        name=name,
        owner=owner,
        fields=list(fields),
        actor=acting_user(),
        reason=reason,
    )
