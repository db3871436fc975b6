"""``/deployments/{name}/canary``: the canary control plane.

Start a managed canary (a challenger gets ``weight`` percent of a deployment
that serves one version, judged by a canary policy), read its state and its
current analysis with every rule's reason, or abort it. Starting and aborting
run through the server's :class:`~moorline.serving.rollout.CanaryController`
with the caller the server authenticated as the actor of the traffic change;
the server's canary loop then judges the canary and promotes or rolls it
back by itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import Field
from starlette.responses import Response

from moorline.bootstrap import Services
from moorline.errors import NotFound
from moorline.schemas.common import RequestModel, ResponseModel
from moorline.server.api._actor import request_actor_name
from moorline.server.api._http import errors, json_response
from moorline.serving.canaries import CanaryRecord
from moorline.serving.canary import CanaryAnalysis, CanaryPolicy
from moorline.serving.rollout import CanaryController
from moorline.serving.service import MAX_REASON

Name = Annotated[str, Path(description="The deployment's name.")]
CanaryStatusName = Literal["running", "promoted", "rolled_back", "aborted"]


class Canary(ResponseModel):
    """A managed canary: who against whom, at what share, under which policy, since
    which revision; its status and the latest verdict stored for it."""

    id: str
    deployment: str
    model: str
    champion: int
    challenger: int
    weight: float
    policy: dict[str, Any]
    revision: int
    started_at: int
    deadline_at: int
    remediation: str | None
    started_by: str
    status: CanaryStatusName
    updated_at: int
    last_verdict: dict[str, Any] | None = Field(
        description="The latest analysis (verdict, both sides, every rule with its reason)."
    )
    ended_at: int | None
    ended_revision: int | None
    reason: str = Field(description="Why it ended, or why a promotion was refused.")

    @classmethod
    def from_domain(cls, record: CanaryRecord) -> Canary:
        return cls.model_validate(record.to_dict())


class CanaryState(ResponseModel):
    """The newest canary of a deployment (running or ended; null if it never had
    one) and whether the deployment runs it now."""

    deployment: str
    active: bool
    canary: Canary | None


class StartCanary(RequestModel):
    challenger: Annotated[int, Field(ge=1, le=2**62, description="The challenger's version.")]
    weight: Annotated[
        float, Field(gt=0, lt=100, description="Percent of the traffic the challenger gets.")
    ] = 10.0
    policy: dict[str, Any] = Field(
        default_factory=dict,
        description="Canary policy thresholds (min_requests, min_duration_s, max_duration_s, "
        "on_deadline, max_error_rate_increase, max_p99_latency_ratio, metric, "
        "max_metric_regression, min_labelled, confidence, on_drift, alias, ...); "
        "unknown keys are refused, missing ones take their default.",
    )
    reason: str = Field(
        default="", max_length=MAX_REASON, description="Why; kept in the audit log."
    )


class AbortCanary(RequestModel):
    reason: str = Field(
        min_length=1, max_length=MAX_REASON, description="Why; kept in the audit log."
    )


class Analysis(ResponseModel):
    """The analysis of a running canary now, with every rule's reason."""

    canary: Canary
    verdict: Literal["promote", "rollback", "wait"]
    decided_by: Literal["rules", "deadline"]
    champion: dict[str, Any]
    challenger: dict[str, Any]
    rules: list[dict[str, Any]]
    reasons: list[str]
    summary: str
    started_at: int
    at: int
    deadline_at: int

    @classmethod
    def from_domain(cls, record: CanaryRecord, analysis: CanaryAnalysis) -> Analysis:
        return cls.model_validate(
            {
                **analysis.to_dict(),
                "canary": Canary.from_domain(record),
                "reasons": analysis.reasons,
                "summary": analysis.summary(),
            }
        )


def _state(controller: CanaryController, name: str) -> CanaryState:
    deployment = controller.deployments.get(name)
    record = controller.latest(deployment.name)
    active = controller.active(deployment.name)
    return CanaryState(
        deployment=deployment.name,
        active=active is not None and record is not None and active.id == record.id,
        canary=None if record is None else Canary.from_domain(record),
    )


def _running(controller: CanaryController, name: str) -> CanaryRecord:
    record = controller.current(name)
    if record is None:
        raise NotFound(f"Deployment {name!r} runs no canary started by moorline")
    return record


def router(services: Services) -> APIRouter:
    api = APIRouter(tags=["canaries"])
    one = "/deployments/{name}/canary"

    def controller() -> CanaryController:
        return services.canaries

    @api.get(
        one,
        response_model=CanaryState,
        responses=errors(404),
        summary="The newest canary of a deployment, and whether it runs now",
    )
    def get_canary(name: Name) -> Response:
        return json_response(_state(controller(), name))

    @api.post(
        one,
        status_code=201,
        response_model=CanaryState,
        responses=errors(403, 404, 409, 413),
        summary="Start a managed canary: the challenger gets `weight` percent of the traffic",
    )
    def start_canary(name: Name, body: StartCanary) -> Response:
        """The deployment must serve one version (its champion): 409 RESOURCE_CONFLICT
        when it serves a split already. An unknown policy key or a bad threshold is a
        400; an unknown version a 404. The canary loop judges it from then on."""
        ctl = controller()
        spec = ctl.start_canary(
            name,
            body.challenger,
            body.weight,
            CanaryPolicy.from_dict(body.policy),
            reason=body.reason,
            actor=request_actor_name(),
        )
        state = CanaryState(
            deployment=spec.deployment, active=True, canary=Canary.from_domain(ctl.get(spec.id))
        )
        return json_response(state, 201)

    @api.post(
        one + "/abort",
        response_model=CanaryState,
        responses=errors(404, 409, 413),
        summary="End the running canary now: the champion takes all traffic again",
    )
    def abort_canary(name: Name, body: AbortCanary) -> Response:
        """404 when the deployment runs no canary started by moorline."""
        ctl = controller()
        record = _running(ctl, name)
        ctl.abort(name, reason=body.reason, actor=request_actor_name())
        ended = Canary.from_domain(ctl.get(record.id))
        return json_response(CanaryState(deployment=record.deployment, active=False, canary=ended))

    @api.get(
        one + "/analysis",
        response_model=Analysis,
        responses=errors(404),
        summary="The running canary's analysis now, with every rule's reason (changes nothing)",
    )
    def canary_analysis(name: Name) -> Response:
        """Computed from the prediction log on each call; 404 when no canary runs."""
        ctl = controller()
        record = _running(ctl, name)
        return json_response(Analysis.from_domain(record, ctl.analyze(name)))

    return api


__all__ = ["router"]
