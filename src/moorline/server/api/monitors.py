"""``/monitors``: list, show, delete and run monitors, and read their results.

Monitors are created with ``moorline monitor create`` (against the server's
database); over HTTP they are read, run and deleted. A monitor's channel
credentials and its SQL connection password are never sent back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from moorline.monitoring.monitors import Monitor as MonitorRecord
from moorline.monitoring.monitors import MonitorResult as ResultRecord
from moorline.monitoring.service import RESULTS_LIMIT, MonitorService
from moorline.server.api._http import errors, json_response, no_content

MonitorName = Annotated[str, Path(description="The monitor's name.")]
MaxResults = Annotated[
    int | None,
    Query(ge=1, le=RESULTS_LIMIT, description="Page size (default 100, at most 1000)."),
]
PageToken = Annotated[str | None, Query(description="Token from the previous page.")]


class Monitor(BaseModel):
    """A monitor's configuration (credentials hidden)."""

    name: str
    model: str
    description: str
    reference: dict[str, Any]
    current: dict[str, Any]
    schedule: str | None
    drift: dict[str, Any] | None
    quality: dict[str, Any] | None
    performance: dict[str, Any] | None
    rules: list[dict[str, Any]]
    channels: list[dict[str, Any]]
    created_at: int
    updated_at: int

    @classmethod
    def from_domain(cls, monitor: MonitorRecord) -> Monitor:
        return cls.model_validate(monitor.to_dict(redact=True))


class MonitorList(BaseModel):
    items: list[Monitor]


class MonitorResult(BaseModel):
    """One run: status, the current window, the drift, quality and performance
    documents, the alert keys that held and the notifications sent."""

    id: int | None
    monitor: str
    run_at: int = Field(description="Milliseconds since the epoch.")
    status: Literal["ok", "alerting", "error"]
    window: dict[str, Any]
    drift: dict[str, Any] | None
    quality: dict[str, Any] | None
    performance: dict[str, Any] | None
    alerts: list[str]
    notifications: list[dict[str, Any]]
    error: str | None
    duration_ms: int

    @classmethod
    def from_domain(cls, result: ResultRecord) -> MonitorResult:
        return cls.model_validate(result.to_dict())


class MonitorResultPage(BaseModel):
    items: list[MonitorResult]
    next_page_token: str | None = None


def router(monitors: MonitorService) -> APIRouter:
    api = APIRouter(prefix="/monitors", tags=["monitors"])

    @api.get("", response_model=MonitorList, responses=errors(), summary="List monitors")
    def list_monitors() -> Response:
        return json_response(
            MonitorList(items=[Monitor.from_domain(m) for m in monitors.list_monitors()])
        )

    @api.get("/{name}", response_model=Monitor, responses=errors(404), summary="Get a monitor")
    def get_monitor(name: MonitorName) -> Response:
        return json_response(Monitor.from_domain(monitors.get(name)))

    @api.delete(
        "/{name}",
        status_code=204,
        responses=errors(404),
        summary="Delete a monitor with its results and alert states",
    )
    def delete_monitor(name: MonitorName) -> Response:
        monitors.delete(name)
        return no_content()

    @api.post(
        "/{name}/run",
        response_model=MonitorResult,
        responses=errors(404),
        summary="Run a monitor now",
    )
    def run_monitor(name: MonitorName) -> Response:
        """Runs the checks, evaluates the alert rules, notifies the channels and
        records the result; a failing check gives status ``error``, not an HTTP error."""
        return json_response(MonitorResult.from_domain(monitors.run(name)))

    @api.get(
        "/{name}/results",
        response_model=MonitorResultPage,
        responses=errors(404),
        summary="List a monitor's results, newest first",
    )
    def list_monitor_results(
        name: MonitorName, max_results: MaxResults = None, page_token: PageToken = None
    ) -> Response:
        page = monitors.results(name, max_results=max_results, page_token=page_token)
        return json_response(
            MonitorResultPage(
                items=[MonitorResult.from_domain(r) for r in page.items],
                next_page_token=page.next_page_token,
            )
        )

    return api
