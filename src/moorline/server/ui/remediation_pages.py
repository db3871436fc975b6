"""The remediation pages: every loop's record, and one record as a timeline.

- ``/ui/remediations``: the records, newest first (``?model=``,
  ``?pipeline=``, ``?status=`` filter), with their status, trigger and
  versions.
- ``/ui/remediations/{id}``: one record drawn as a vertical timeline:
  alert (or other trigger) -> data window -> pipeline run -> validation
  (every reason of the gate) -> approval -> canary (each verdict with every
  rule) -> promotion or rollback, each step with its time and links to what
  it names: the monitor and its result, the tracked run, the model version,
  the deployment. A strip above the timeline shows how far the loop got.

Every page answers JSON with ``?format=json`` (or a ``.json`` path). The
pages only read.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from moorline.bootstrap import Services
from moorline.errors import InvalidArgument, MoorlineError
from moorline.pipelines.models import Remediation, RemediationStatus, Step
from moorline.server.ui.deployment_pages import deployment_url
from moorline.server.ui.monitoring_pages import monitor_url
from moorline.server.ui.registry_links import (
    model_url,
    path_name,
    respond,
    respond_error,
    run_url,
    version_url,
)
from moorline.server.ui.render import Renderer, query_string

Endpoint = Callable[[Request], Response]

LIST_SHOWN: Final = 200
_ID = re.compile(r"^[0-9a-f]{32}$")

#: The loop's phases in order, and the steps each one holds.
PHASES: Final = (
    ("trigger", "Alert / trigger", ("alert", "trigger", "deduplicated")),
    ("data", "Data window", ("data",)),
    ("run", "Pipeline run", ("queued", "training", "registration")),
    ("validation", "Validation", ("validation",)),
    ("approval", "Approval", ("approval", "ready")),
    ("canary", "Canary", ("canary", "canary_analysis")),
    ("outcome", "Promotion or rollback", ("promotion", "rollback")),
)
_PHASE_OF: Final = {step: key for key, _, steps in PHASES for step in steps}


def remediation_url(remediation_id: str) -> str:
    """The page of remediation record ``remediation_id``.

    >>> remediation_url("0" * 32)
    '/ui/remediations/00000000000000000000000000000000'
    """
    return "/ui/remediations/" + urllib.parse.quote(remediation_id, safe="")


def routes(services: Services, ui: Renderer) -> list[BaseRoute]:
    """The remediation UI routes, bound to ``services``."""
    ui.env.globals.update(remediation_url=remediation_url)

    def bind(handler: Callable[[Services, Renderer, Request], Response]) -> Endpoint:
        return functools.partial(handler, services, ui)

    return [
        Route("/ui/remediations", bind(remediations_page), methods=["GET"], name="ui-remediations"),
        Route("/ui/remediations/", _to_list, methods=["GET"]),
        Route("/ui/remediations.json", bind(remediations_page), methods=["GET"]),
        Route(
            "/ui/remediations/{remediation_id}",
            bind(remediation_page),
            methods=["GET"],
            name="ui-remediation",
        ),
    ]


def _to_list(request: Request) -> Response:
    return RedirectResponse("/ui/remediations" + query_string(request.query_params.items()), 307)


def _versions(record: Remediation) -> str:
    if record.challenger_version is None:
        return ""
    champion = "none" if record.champion_version is None else f"v{record.champion_version}"
    return f"v{record.challenger_version} vs {champion}"


def remediation_row(record: Remediation) -> dict[str, Any]:
    return {
        "id": record.id,
        "status": record.status.value,
        "pipeline": record.pipeline,
        "model": record.model,
        "trigger_kind": record.trigger_kind.value,
        "alert_key": record.alert_key,
        "challenger_version": record.challenger_version,
        "champion_version": record.champion_version,
        "versions": _versions(record),
        "pipeline_run_id": record.pipeline_run_id,
        "approval_id": record.approval_id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


# -- /ui/remediations ------------------------------------------------------------------


def remediations_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/remediations``: the records, newest first."""
    params = request.query_params
    filters = {k: params.get(k, "").strip() for k in ("model", "pipeline", "status")}
    try:
        found = services.pipelines.list_remediations(
            model=filters["model"] or None,
            pipeline=filters["pipeline"] or None,
            status=filters["status"] or None,
            limit=LIST_SHOWN,
        )
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    data = {
        "remediations": [remediation_row(r) for r in found],
        "filters": filters,
        "statuses": [s.value for s in RemediationStatus],
        "limit": LIST_SHOWN,
    }
    return respond(ui, request, "remediations.html", data)


# -- /ui/remediations/{id} -------------------------------------------------------------


def _links(record: Remediation, step: Step) -> list[dict[str, str]]:
    """What a step names, as links (label, url)."""
    d = step.details
    out: list[dict[str, str]] = []
    monitor = d.get("monitor")
    if isinstance(monitor, str) and monitor:
        result = d.get("monitor_result_id")
        label = f"monitor {monitor}" + (f", result {result}" if result is not None else "")
        out.append({"label": label, "url": monitor_url(monitor), "kind": "monitor"})
    run_id = d.get("run_id")
    if isinstance(run_id, str) and run_id:
        out.append({"label": f"run {run_id[:8]}", "url": run_url(run_id), "kind": "run"})
    version = d.get("version")
    if step.step in ("registration", "ready") and isinstance(version, int):
        out.append(
            {
                "label": f"{record.model} v{version}",
                "url": version_url(record.model, version),
                "kind": "version",
            }
        )
    if step.step in ("canary", "canary_analysis", "promotion", "rollback"):
        for key in ("challenger", "champion"):
            value = d.get(key)
            number = value.get("version") if isinstance(value, Mapping) else value
            if isinstance(number, int) and not isinstance(number, bool):
                out.append(
                    {
                        "label": f"{key} v{number}",
                        "url": version_url(record.model, number),
                        "kind": "version",
                    }
                )
    deployment = d.get("deployment")
    if isinstance(deployment, str) and deployment:
        out.append(
            {
                "label": f"deployment {deployment}",
                "url": deployment_url(deployment) + "#canary",
                "kind": "deployment",
            }
        )
    approval = d.get("approval_id")
    if isinstance(approval, str) and approval:
        out.append(
            {"label": f"approval {approval[:12]}", "url": "/ui/approvals", "kind": "approval"}
        )
    if step.step == "promotion" and step.status.value == "ok":
        out.append(
            {"label": f"model {record.model}", "url": model_url(record.model), "kind": "model"}
        )
    return out


def _reasons(step: Step) -> list[dict[str, Any]]:
    """The gate's reasons (validation) or the canary rules (analysis, promotion,
    rollback) of a step, each with whether it held."""
    d = step.details
    out: list[dict[str, Any]] = []
    for reason in d.get("reasons") or ():
        if isinstance(reason, Mapping):
            out.append(
                {
                    "name": reason.get("rule"),
                    "status": "pass" if reason.get("passed") else "fail",
                    "text": reason.get("message"),
                }
            )
    for rule in d.get("rules") or ():
        if isinstance(rule, Mapping):
            out.append(
                {"name": rule.get("rule"), "status": rule.get("status"), "text": rule.get("reason")}
            )
    return out


def _window(step: Step) -> list[dict[str, Any]]:
    """The data windows a step names: an alert's current window, the data step's
    training and holdout snapshots."""
    d = step.details
    out = []
    window = d.get("window")
    if isinstance(window, Mapping) and window:
        out.append(
            {
                "role": "alert window",
                "name": window.get("source"),
                "digest": window.get("digest"),
                "rows": window.get("rows"),
            }
        )
    if step.step == "data":
        for role, value in d.items():
            if isinstance(value, Mapping):
                out.append(
                    {
                        "role": role,
                        "name": value.get("name"),
                        "digest": value.get("digest"),
                        "rows": value.get("rows"),
                    }
                )
    return out


def timeline(record: Remediation) -> dict[str, Any]:
    """The record as the timeline page shows it (JSON-able)."""
    first = record.steps[0].at if record.steps else record.created_at
    steps = []
    for step in record.steps:
        traceback = step.details.get("traceback")
        steps.append(
            {
                "seq": step.seq,
                "step": step.step,
                "phase": _PHASE_OF.get(step.step, "other"),
                "status": step.status.value,
                "at": step.at,
                "offset_ms": step.at - first,
                "reason": step.reason,
                "reasons": _reasons(step),
                "windows": _window(step),
                "links": _links(record, step),
                "traceback": traceback[-4000:] if isinstance(traceback, str) else None,
                "details": dict(step.details),
            }
        )
    phases = []
    for key, title, _ in PHASES:
        mine = [s for s in steps if s["phase"] == key]
        phases.append(
            {
                "phase": key,
                "title": title,
                "status": _phase_status(mine),
                "at": mine[0]["at"] if mine else None,
                "steps": len(mine),
            }
        )
    return {
        "remediation": {**remediation_row(record), "duration_ms": _duration(record)},
        "phases": phases,
        "steps": steps,
    }


def _phase_status(steps: Sequence[Mapping[str, Any]]) -> str:
    """How a phase went: its last step's status (``failed`` if any failed), or
    ``not reached``."""
    if not steps:
        return "not reached"
    if any(s["status"] == "failed" for s in steps):
        return "failed"
    return str(steps[-1]["status"])


def _duration(record: Remediation) -> int | None:
    if not record.steps:
        return None
    return record.steps[-1].at - record.steps[0].at


def remediation_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/remediations/{id}``: the record as a vertical timeline."""
    remediation_id = path_name(request, "remediation_id")
    try:
        if not _ID.match(remediation_id):
            raise InvalidArgument(
                f"Invalid remediation id {remediation_id!r}: expected 32 hexadecimal digits"
            )
        record = services.pipelines.get_remediation(remediation_id)
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    data = timeline(record)
    extra = {"json_url": remediation_url(record.id) + "?format=json"}
    return respond(ui, request, "remediation.html", data, extra=extra)


__all__ = ["PHASES", "remediation_url", "routes", "timeline"]
