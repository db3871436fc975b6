"""``/monitors``: create, change, list, show, delete and run monitors, and read
their results and alert states.

The server runs every monitor itself (on demand here, or on its schedule):
it reads the sources, computes and stores the results, and notifies the
channels. Credentials are write-only (see :mod:`moorline.schemas.monitors`).
A monitor whose reference or current window is a file or a SQL query makes
the server read its own files or connect to a database from its network, so
creating or changing one needs the admin role; dataset sources need only a
token that may write. Viewer tokens read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from moorline.auth.models import Role
from moorline.errors import PermissionDenied
from moorline.monitoring.monitors import DatasetSource
from moorline.monitoring.monitors import Monitor as MonitorRecord
from moorline.monitoring.service import RESULTS_LIMIT, Monitors
from moorline.schemas import monitors as s
from moorline.server.api._actor import request_actor
from moorline.server.api._http import errors, json_response, no_content

MonitorName = Annotated[str, Path(description="The monitor's name.")]
ResultId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The result's id.")]
MaxResults = Annotated[
    int | None,
    Query(ge=1, le=RESULTS_LIMIT, description="Page size (default 100, at most 1000)."),
]
PageToken = Annotated[str | None, Query(description="Token from the previous page.")]


def _may_configure(monitor: MonitorRecord) -> MonitorRecord:
    """Only admins configure monitors that read the server's files or databases."""
    actor = request_actor()
    local = [
        where
        for where, source in (("reference", monitor.reference), ("current", monitor.current))
        if not isinstance(source, DatasetSource)
    ]
    if local and actor.role is not Role.ADMIN:
        raise PermissionDenied(
            f"Monitor {monitor.name!r} reads its {' and '.join(local)} from a file or a SQL "
            f"query on the server; configuring such a monitor needs the admin role, and "
            f"{actor.name!r} has the {actor.role.value} role (dataset sources need no more "
            "than the editor role)"
        )
    return monitor


def router(monitors: Monitors) -> APIRouter:
    api = APIRouter(tags=["monitors"])

    @api.get("/monitors", response_model=s.MonitorList, responses=errors(), summary="List monitors")
    def list_monitors() -> Response:
        return json_response(
            s.MonitorList(items=[s.Monitor.from_domain(m) for m in monitors.list_monitors()])
        )

    @api.post(
        "/monitors",
        status_code=201,
        response_model=s.Monitor,
        responses=errors(404, 413),
        summary="Create a monitor",
    )
    def create_monitor(body: s.CreateMonitor) -> Response:
        """A name already taken is a 400 RESOURCE_ALREADY_EXISTS; an unknown
        registered model a 404."""
        created = monitors.create(_may_configure(body.to_new()))
        return json_response(s.Monitor.from_domain(created), status_code=201)

    @api.get(
        "/monitors/{name}", response_model=s.Monitor, responses=errors(404), summary="Get a monitor"
    )
    def get_monitor(name: MonitorName) -> Response:
        return json_response(s.Monitor.from_domain(monitors.get(name)))

    @api.put(
        "/monitors/{name}",
        response_model=s.Monitor,
        responses=errors(404, 413),
        summary="Replace a monitor's configuration",
    )
    def update_monitor(name: MonitorName, body: s.MonitorConfig) -> Response:
        """The whole configuration is replaced; credentials sent as ``"***"``
        keep their stored values. Results and alert states are kept."""
        updated = monitors.update(_may_configure(body.to_domain(name)))
        return json_response(s.Monitor.from_domain(updated))

    @api.delete(
        "/monitors/{name}",
        status_code=204,
        responses=errors(404),
        summary="Delete a monitor with its results and alert states",
    )
    def delete_monitor(name: MonitorName) -> Response:
        monitors.delete(name)
        return no_content()

    @api.post(
        "/monitors/{name}/run",
        response_model=s.MonitorResult,
        responses=errors(404),
        summary="Run a monitor now",
    )
    def run_monitor(name: MonitorName) -> Response:
        """Runs the checks, evaluates the alert rules, notifies the channels and
        records the result; a failing check gives status ``error``, not an HTTP error."""
        return json_response(s.MonitorResult.from_domain(monitors.run(name)))

    @api.get(
        "/monitors/{name}/results",
        response_model=s.MonitorResultPage,
        responses=errors(404),
        summary="List a monitor's results, newest first",
    )
    def list_monitor_results(
        name: MonitorName, max_results: MaxResults = None, page_token: PageToken = None
    ) -> Response:
        page = monitors.results(name, max_results=max_results, page_token=page_token)
        return json_response(
            s.MonitorResultPage(
                items=[s.MonitorResult.from_domain(r) for r in page.items],
                next_page_token=page.next_page_token,
            )
        )

    @api.get(
        "/monitors/{name}/results/{result_id}",
        response_model=s.MonitorResult,
        responses=errors(404),
        summary="Get one result of a monitor",
    )
    def get_monitor_result(name: MonitorName, result_id: ResultId) -> Response:
        return json_response(s.MonitorResult.from_domain(monitors.result(result_id, monitor=name)))

    @api.get(
        "/monitor-results/{result_id}",
        response_model=s.MonitorResult,
        responses=errors(404),
        summary="Get a monitor result by its id alone",
    )
    def get_result(result_id: ResultId) -> Response:
        """Result ids are unique across monitors (``moorline monitor result ID``)."""
        return json_response(s.MonitorResult.from_domain(monitors.result(result_id)))

    @api.get(
        "/monitors/{name}/alerts",
        response_model=s.AlertStateList,
        responses=errors(404),
        summary="Where each of a monitor's alerts stands",
    )
    def list_alert_states(name: MonitorName) -> Response:
        states = sorted(monitors.alert_states(name).values(), key=lambda state: state.key)
        return json_response(s.AlertStateList(items=[s.AlertState.from_domain(x) for x in states]))

    return api
