"""``/deployments`` and ``/models/{model}/consumers``: serving's control plane.

Every change runs through the server's own
:class:`~moorline.serving.service.DeploymentService` with the caller the
server authenticated as the actor (``moorline.server.api._actor``), so the
audit log records who the token says, never who a client claims to be. The
service checks the change (versions exist, declared consumers keep their
fields, governance) and writes it with its audit entry in one transaction.

Viewer tokens only read: the authentication middleware refuses every other
method before a handler runs. The prediction log is read-only here and
bounded (``limit``); the serving gateway writes it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from moorline.core.clock import now_ms
from moorline.schemas import serving as s
from moorline.schemas.common import INT64_MAX
from moorline.server.api._actor import request_actor_name
from moorline.server.api._http import errors, json_response, no_content
from moorline.serving.models import DeploymentSettings
from moorline.serving.service import DeploymentService

#: The window of traffic and undeclared-caller reads when ``since`` is absent.
DEFAULT_WINDOW_MS = 24 * 3_600_000

Name = Annotated[str, Path(description="The deployment's name.")]
Model = Annotated[str, Path(description="The registered model's name.")]
Reason = Annotated[str, Query(max_length=2000, description="Why; kept in the audit log.")]
Millis = Annotated[int | None, Query(ge=0, le=INT64_MAX, description="Milliseconds since epoch.")]


def _since(since: int | None) -> int:
    return since if since is not None else max(0, now_ms() - DEFAULT_WINDOW_MS)


def router(deployments: DeploymentService) -> APIRouter:
    api = APIRouter(tags=["deployments"])
    one = "/deployments/{name}"

    # -- deployments -------------------------------------------------------------------

    @api.get(
        "/deployments",
        response_model=s.DeploymentList,
        responses=errors(),
        summary="List deployments, by name",
    )
    def list_deployments(
        model: Annotated[str | None, Query(description="Only this model's.")] = None,
    ) -> Response:
        found = deployments.list_deployments(model=model)
        return json_response(s.DeploymentList(items=[s.Deployment.from_domain(d) for d in found]))

    @api.post(
        "/deployments",
        status_code=201,
        response_model=s.Deployment,
        responses=errors(403, 404, 409, 413),
        summary="Create a deployment of a registered model",
    )
    def create_deployment(body: s.CreateDeployment) -> Response:
        """A taken name is a 400 RESOURCE_ALREADY_EXISTS; a version that does not exist a
        404; a version without a field a declared consumer relies on a 403 (unless
        ``override`` with a reason)."""
        created = deployments.create(
            body.name,
            model=body.model,
            policy=body.policy.to_domain(),
            settings=body.settings.to_domain() if body.settings is not None else None,
            description=body.description,
            actor=request_actor_name(),
            reason=body.reason,
            override=body.override,
        )
        return json_response(s.Deployment.from_domain(created), 201)

    @api.get(
        "/deployment-revisions",
        response_model=s.Revisions,
        responses=errors(),
        summary="Every deployment's current revision (what serving replicas poll)",
    )
    def deployment_revisions() -> Response:
        return json_response(s.Revisions(revisions=deployments.revisions()))

    @api.get(one, response_model=s.Deployment, responses=errors(404), summary="Get a deployment")
    def get_deployment(name: Name) -> Response:
        return json_response(s.Deployment.from_domain(deployments.get(name)))

    @api.delete(
        one,
        status_code=204,
        responses=errors(404),
        summary="Delete a deployment and its history (its logged predictions stay)",
    )
    def delete_deployment(name: Name, reason: Reason = "") -> Response:
        deployments.delete(name, actor=request_actor_name(), reason=reason)
        return no_content()

    @api.post(
        one + "/traffic",
        response_model=s.Deployment,
        responses=errors(403, 404, 409, 413),
        summary="Replace the traffic policy (a new revision)",
    )
    def set_traffic(name: Name, body: s.SetTraffic) -> Response:
        """409 RESOURCE_CONFLICT when ``expected_revision`` is stale; 403
        PERMISSION_DENIED when a version that would answer lacks an output field a
        declared consumer relies on (pass ``override`` with a reason to go ahead; the
        override is audited)."""
        updated = deployments.set_traffic(
            name,
            body.policy.to_domain(),
            actor=request_actor_name(),
            reason=body.reason,
            override=body.override,
            expected_revision=body.expected_revision,
        )
        return json_response(s.Deployment.from_domain(updated))

    @api.post(
        one + "/rollback",
        response_model=s.Deployment,
        responses=errors(403, 404, 409, 413),
        summary="Restore the previous revision's policy and settings (or to_revision's)",
    )
    def rollback_deployment(name: Name, body: s.Rollback) -> Response:
        """A rollback is a new revision; 409 when there is nothing earlier."""
        updated = deployments.rollback(
            name,
            actor=request_actor_name(),
            reason=body.reason,
            to_revision=body.to_revision,
            override=body.override,
            expected_revision=body.expected_revision,
        )
        return json_response(s.Deployment.from_domain(updated))

    @api.patch(
        one + "/settings",
        response_model=s.Deployment,
        responses=errors(403, 404, 409, 413),
        summary="Change some settings (batching, timeout, log sample, consumer keys)",
    )
    def update_settings(name: Name, body: s.UpdateSettings) -> Response:
        """Settings left out keep their value. Without ``expected_revision`` the change
        applies to the revision read here, so a concurrent change is a 409, not lost."""
        current = deployments.get(name)
        merged: DeploymentSettings = replace(current.settings, **body.changes())
        updated = deployments.update_settings(
            name,
            merged,
            actor=request_actor_name(),
            reason=body.reason,
            expected_revision=body.expected_revision or current.revision,
        )
        return json_response(s.Deployment.from_domain(updated))

    @api.get(
        one + "/history",
        response_model=s.History,
        responses=errors(404),
        summary="The revisions of a deployment, newest first",
    )
    def deployment_history(
        name: Name, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> Response:
        found = deployments.history(name, limit=limit)
        return json_response(s.History(items=[s.PolicyRevision.from_domain(r) for r in found]))

    # -- the prediction log ------------------------------------------------------------

    @api.get(
        one + "/traffic",
        response_model=s.Traffic,
        responses=errors(404),
        summary="Requests, errors and latency per version over a window (default 24 h)",
    )
    def deployment_traffic(name: Name, since: Millis = None, until: Millis = None) -> Response:
        deployment = deployments.get(name)
        start = _since(since)
        found = deployments.predictions.traffic(deployment.name, since=start, until=until)
        return json_response(
            s.Traffic(
                deployment=deployment.name,
                since=start,
                until=until,
                items=[s.VersionTraffic.from_domain(t) for t in found],
            )
        )

    @api.get(
        one + "/predictions",
        response_model=s.PredictionList,
        responses=errors(404),
        summary="Logged predictions with their labels, oldest first (bounded)",
    )
    def deployment_predictions(
        name: Name,
        *,
        since: Millis = None,
        until: Millis = None,
        version: Annotated[int | None, Query(ge=1, le=2**62)] = None,
        shadow: Annotated[
            s.ShadowFilter,
            Query(description="false: answers callers saw; true: shadow copies; any: both."),
        ] = "false",
        limit: Annotated[int, Query(ge=1, le=s.MAX_PREDICTIONS)] = s.DEFAULT_PREDICTIONS,
    ) -> Response:
        deployment = deployments.get(name)
        found = deployments.predictions.read_predictions(
            deployment.name,
            since=since,
            until=until,
            version=version,
            shadow=None if shadow == "any" else shadow == "true",
            limit=limit + 1,
        )
        return json_response(
            s.PredictionList(
                items=[s.LoggedPrediction.from_domain(p) for p in found[:limit]],
                truncated=len(found) > limit,
            )
        )

    @api.get(
        one + "/undeclared",
        response_model=s.Undeclared,
        responses=errors(404),
        summary="Callers without a consumer key, with their request counts (default 24 h)",
    )
    def undeclared_callers(name: Name, since: Millis = None) -> Response:
        deployment = deployments.get(name)
        start = _since(since)
        found = deployments.predictions.undeclared_callers(deployment.name, since=start)
        items = [
            s.UndeclaredCaller(caller=caller, requests=count)
            for caller, count in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        return json_response(s.Undeclared(deployment=deployment.name, since=start, items=items))

    # -- consumers ---------------------------------------------------------------------

    @api.get(
        "/consumers",
        response_model=s.ConsumerList,
        responses=errors(),
        summary="Active consumers of every model, by model then name",
    )
    def list_all_consumers() -> Response:
        found = deployments.list_consumers()
        return json_response(s.ConsumerList(items=[s.Consumer.from_domain(c) for c in found]))

    @api.get(
        "/models/{model}/consumers",
        response_model=s.ConsumerList,
        responses=errors(),
        summary="Active consumers of a model, by name",
    )
    def list_consumers(model: Model) -> Response:
        found = deployments.list_consumers(model=model)
        return json_response(s.ConsumerList(items=[s.Consumer.from_domain(c) for c in found]))

    @api.post(
        "/models/{model}/consumers",
        status_code=201,
        response_model=s.IssuedConsumer,
        responses=errors(404, 413),
        summary="Declare a consumer of a model; answers its API key, once",
    )
    def declare_consumer(model: Model, body: s.DeclareConsumer) -> Response:
        """The key (``mlc_<id>_<secret>``) is in this answer only: the server keeps
        its SHA-256. A name already declared for the model is a 400
        RESOURCE_ALREADY_EXISTS."""
        issued = deployments.declare_consumer(
            model=model,
            name=body.name,
            owner=body.owner,
            fields=body.fields,
            actor=request_actor_name(),
            reason=body.reason,
        )
        return json_response(
            s.IssuedConsumer(
                consumer=s.Consumer.from_domain(issued.consumer), api_key=issued.api_key
            ),
            201,
        )

    @api.delete(
        "/models/{model}/consumers/{consumer}",
        status_code=204,
        responses=errors(404),
        summary="Revoke a consumer (its key stops working)",
    )
    def revoke_consumer(
        model: Model,
        consumer: Annotated[str, Path(description="The consumer's name.")],
        reason: Reason = "",
    ) -> Response:
        deployments.revoke_consumer(model, consumer, actor=request_actor_name(), reason=reason)
        return no_content()

    return api
