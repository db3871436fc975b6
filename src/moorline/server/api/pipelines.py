"""``/pipelines`` and ``/remediations``: read pipelines and their runs, queue a run,
read the remediation records.

Pipelines are registered with ``moorline pipeline register`` (against the
server's database, since the entry point is code in a folder the server
runs from); over HTTP they are read and run. A queued run is executed by
the server's pipeline scheduler; poll the run (or its remediation record)
for the outcome. SQL connection passwords are never sent back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from moorline.bootstrap import Services
from moorline.pipelines.models import Pipeline as PipelineRecord
from moorline.pipelines.models import PipelineRun as RunRecord
from moorline.pipelines.models import Remediation as RemediationRecord
from moorline.pipelines.service import LIST_LIMIT, PipelineService
from moorline.server.api._actor import request_actor
from moorline.server.api._http import errors, json_response

PipelineName = Annotated[str, Path(description="The pipeline's name.")]
RunId = Annotated[str, Path(description="The pipeline run's id (32 hex digits).")]
RemediationId = Annotated[str, Path(description="The remediation record's id (32 hex digits).")]
Limit = Annotated[int, Query(ge=1, le=LIST_LIMIT, description="At most this many, newest first.")]
RunStateName = Literal["queued", "running", "succeeded", "failed"]


class Pipeline(BaseModel):
    """A pipeline's configuration (SQL passwords hidden)."""

    name: str
    entry_point: str
    workdir: str
    model: str
    description: str
    params: dict[str, Any]
    data: dict[str, Any]
    evaluation: dict[str, Any]
    rollout: dict[str, Any]
    concurrency: int
    timeout_seconds: float
    executor: str
    ray_address: str | None
    schedule: str | None
    on_alerts: list[dict[str, Any]]
    on_datasets: list[str]
    cooldown_seconds: float
    max_attempts: int
    experiment: str | None
    created_at: int
    updated_at: int

    @classmethod
    def from_domain(cls, pipeline: PipelineRecord) -> Pipeline:
        return cls.model_validate(pipeline.to_dict(redact=True))


class PipelineList(BaseModel):
    items: list[Pipeline]


class PipelineRun(BaseModel):
    """One run: its state, what started it, the tracked run and model version it
    made, what the worker measured and the gate decided (``result``), or why it failed."""

    id: str
    pipeline: str
    status: RunStateName
    trigger_id: int | None
    trigger_kind: str
    group: str | None
    remediation_id: str
    attempt: int
    params: dict[str, Any]
    created_at: int = Field(description="Milliseconds since the epoch.")
    started_at: int | None
    finished_at: int | None
    holder: str | None
    lease_expires_at: int | None
    tracked_run_id: str | None
    model_version: int | None
    error: str | None
    error_code: str | None
    traceback: str | None
    result: dict[str, Any]

    @classmethod
    def from_domain(cls, run: RunRecord) -> PipelineRun:
        return cls.model_validate(run.to_dict())


class PipelineRunList(BaseModel):
    items: list[PipelineRun]


class RunRequest(BaseModel):
    """Parameters to override for this run, and why it is run."""

    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(default="", max_length=5000)


class Step(BaseModel):
    seq: int | None
    step: str
    status: str
    at: int
    reason: str
    details: dict[str, Any]


class Remediation(BaseModel):
    """One loop: alert -> data -> pipeline run -> validation -> approval -> canary ->
    promotion or rollback, as steps (empty in lists)."""

    id: str
    pipeline: str
    model: str
    status: str
    pipeline_run_id: str
    trigger_kind: str
    alert_key: str | None
    challenger_version: int | None
    champion_version: int | None
    approval_id: str | None
    created_at: int
    updated_at: int
    steps: list[Step]

    @classmethod
    def from_domain(cls, record: RemediationRecord) -> Remediation:
        return cls.model_validate(record.to_dict())


class RemediationList(BaseModel):
    items: list[Remediation]


def router(services: Services) -> APIRouter:
    """Routes over ``services.pipelines`` (resolved per request: a server always has it)."""
    api = APIRouter(tags=["pipelines"])

    def pipelines() -> PipelineService:
        return services.pipelines

    @api.get(
        "/pipelines", response_model=PipelineList, responses=errors(), summary="List pipelines"
    )
    def list_pipelines() -> Response:
        return json_response(
            PipelineList(items=[Pipeline.from_domain(p) for p in pipelines().list_pipelines()])
        )

    @api.get(
        "/pipelines/{name}",
        response_model=Pipeline,
        responses=errors(404),
        summary="Get a pipeline",
    )
    def get_pipeline(name: PipelineName) -> Response:
        return json_response(Pipeline.from_domain(pipelines().get(name)))

    @api.get(
        "/pipelines/{name}/runs",
        response_model=PipelineRunList,
        responses=errors(404),
        summary="List a pipeline's runs, newest first",
    )
    def list_pipeline_runs(
        name: PipelineName,
        state: Annotated[list[RunStateName] | None, Query(description="Only these states.")] = None,
        limit: Limit = 100,
    ) -> Response:
        service = pipelines()
        service.get(name)
        runs = service.list_runs(pipeline=name, states=state, limit=limit)
        return json_response(PipelineRunList(items=[PipelineRun.from_domain(r) for r in runs]))

    @api.post(
        "/pipelines/{name}/runs",
        status_code=202,
        response_model=PipelineRun,
        responses=errors(404),
        summary="Queue a run of a pipeline",
    )
    def run_pipeline(name: PipelineName, request: RunRequest | None = None) -> Response:
        """Records a manual trigger and queues a run (editor role or above); the
        server's scheduler runs it within the pipeline's concurrency limit."""
        body = request or RunRequest()
        run = pipelines().trigger(
            name, actor=request_actor(), params=body.params, reason=body.reason
        )
        return json_response(PipelineRun.from_domain(run), status_code=202)

    @api.get(
        "/pipelines/{name}/runs/{run_id}",
        response_model=PipelineRun,
        responses=errors(404),
        summary="Get a pipeline run",
    )
    def get_pipeline_run(name: PipelineName, run_id: RunId) -> Response:
        run = pipelines().get_run(run_id)
        if run.pipeline != name:
            from moorline.errors import NotFound

            raise NotFound(f"Pipeline {name!r} has no run {run_id!r}")
        return json_response(PipelineRun.from_domain(run))

    @api.get(
        "/remediations",
        response_model=RemediationList,
        responses=errors(),
        summary="List remediation records, newest first",
    )
    def list_remediations(
        pipeline: Annotated[str | None, Query(description="Only this pipeline's.")] = None,
        model: Annotated[str | None, Query(description="Only this model's.")] = None,
        status: Annotated[str | None, Query(description="Only records in this status.")] = None,
        alert_key: Annotated[str | None, Query(description="Only this alert's.")] = None,
        limit: Limit = 100,
    ) -> Response:
        records = pipelines().list_remediations(
            pipeline=pipeline, model=model, status=status, alert_key=alert_key, limit=limit
        )
        return json_response(RemediationList(items=[Remediation.from_domain(r) for r in records]))

    @api.get(
        "/remediations/{remediation_id}",
        response_model=Remediation,
        responses=errors(404),
        summary="Get a remediation record with its steps",
    )
    def get_remediation(remediation_id: RemediationId) -> Response:
        return json_response(Remediation.from_domain(pipelines().get_remediation(remediation_id)))

    return api
