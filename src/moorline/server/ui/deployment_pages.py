"""The serving pages: the deployments list and a deployment's page.

- ``/ui/deployments``: every deployment with its model, its policy in words,
  its revision and when (and by whom) it last changed.
- ``/ui/deployments/{name}``: the traffic split drawn as one bar, the
  managed canary (running or the last one) with its latest verdict and
  every rule's reason, requests, errors and latency per version over the
  last 24 hours (from the prediction log), the drift verdict of the
  monitors that watch this deployment's predictions, the history of policy
  changes and the declared consumers of the model.

Every page answers JSON with ``?format=json`` (or a ``.json`` path). The
pages only read: changes go through the CLI, the SDK or the API, which
check and audit them.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable
from typing import Any, Final

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from moorline.bootstrap import Services
from moorline.charts.split import SplitPart, split_bar
from moorline.core.clock import now_ms
from moorline.errors import MoorlineError
from moorline.monitoring.monitors import Monitor
from moorline.server.ui.monitoring_pages import drift_share
from moorline.server.ui.registry_links import (
    model_url,
    path_name,
    respond,
    respond_error,
    version_url,
)
from moorline.server.ui.render import Renderer, query_string
from moorline.serving.models import Deployment, VersionTraffic

Endpoint = Callable[[Request], Response]

TRAFFIC_WINDOW_MS: Final = 24 * 3_600_000
HISTORY_SHOWN: Final = 50


def deployment_url(name: str) -> str:
    """The page of deployment ``name`` (``?format=html`` when the name ends in ``.json``).

    >>> deployment_url("churn-prod"), deployment_url("odd.json")
    ('/ui/deployments/churn-prod', '/ui/deployments/odd.json?format=html')
    """
    url = "/ui/deployments/" + urllib.parse.quote(name, safe="")
    return url + "?format=html" if name.endswith(".json") else url


def routes(services: Services, ui: Renderer) -> list[BaseRoute]:
    """The serving UI routes, bound to ``services``."""
    ui.env.globals.update(deployment_url=deployment_url)

    def bind(handler: Callable[[Services, Renderer, Request], Response]) -> Endpoint:
        return functools.partial(handler, services, ui)

    return [
        Route("/ui/deployments", bind(deployments_page), methods=["GET"], name="ui-deployments"),
        Route("/ui/deployments/", _to_deployments, methods=["GET"]),
        Route("/ui/deployments.json", bind(deployments_page), methods=["GET"]),
        Route(
            "/ui/deployments/{name}", bind(deployment_page), methods=["GET"], name="ui-deployment"
        ),
    ]


def _to_deployments(request: Request) -> Response:
    return RedirectResponse("/ui/deployments" + query_string(request.query_params.items()), 307)


def deployment_row(d: Deployment) -> dict[str, Any]:
    """A deployment as a row of a list (the deployments page, a model's page)."""
    return {
        "name": d.name,
        "model": d.model,
        "policy": d.policy.to_dict(),
        "policy_text": d.policy.describe(),
        "versions": list(d.policy.versions),
        "revision": d.revision,
        "updated_at": d.updated_at,
        "updated_by": d.updated_by,
    }


def model_deployments(services: Services, model: str) -> list[dict[str, Any]]:
    """The deployments of registered model ``model`` (for its page); empty when the
    store cannot say."""
    try:
        return [deployment_row(d) for d in services.deployments.list_deployments(model=model)]
    except MoorlineError:
        return []


# -- /ui/deployments ------------------------------------------------------------------


def deployments_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/deployments``: every deployment, its model, policy and last change."""
    try:
        found = services.deployments.list_deployments()
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    return respond(
        ui, request, "deployments.html", {"deployments": [deployment_row(d) for d in found]}
    )


# -- /ui/deployments/{name} -----------------------------------------------------------


def _traffic_row(t: VersionTraffic) -> dict[str, Any]:
    return {
        "version": t.version,
        "requests": t.requests,
        "shadow_requests": t.shadow_requests,
        "errors": t.errors,
        "error_rate": t.errors / t.requests if t.requests else None,
        "rows": t.rows,
        "labelled": t.labelled,
        "mean_latency_ms": t.mean_latency_ms,
        "p99_latency_ms": t.p99_latency_ms,
    }


def _watches(monitor: Monitor, deployment: str) -> bool:
    """Whether ``monitor`` reads the predictions of ``deployment`` (a predictions source)."""
    return getattr(monitor.current, "deployment", None) == deployment


def deployment_drift(services: Services, deployment: str) -> list[dict[str, Any]]:
    """The latest drift share and verdict of every monitor whose current data is the
    prediction log of ``deployment``, with the version it watches (None: all)."""
    try:
        monitors = [m for m in services.monitors.list_monitors() if _watches(m, deployment)]
    except MoorlineError:
        return []
    out = []
    for m in sorted(monitors, key=lambda m: m.name):
        latest = services.monitors.results(m.name, max_results=1).items
        last = latest[0] if latest else None
        dataset = ((last.drift or {}).get("dataset") or {}) if last is not None else {}
        flag = dataset.get("dataset_drift")
        if last is None:
            verdict = "not run"
        elif last.status.value == "error":
            verdict = "error"
        elif flag is None:
            verdict = "no drift check"
        else:
            verdict = "drift" if flag else "ok"
        out.append(
            {
                "monitor": m.name,
                "version": getattr(m.current, "version", None),
                "run_at": last.run_at if last is not None else None,
                "status": last.status.value if last is not None else None,
                "drift_share": drift_share(last),
                "verdict": verdict,
            }
        )
    return out


def _split_svg(d: Deployment) -> Markup:
    parts = [SplitPart(label=f"v{r.version}", weight=r.weight) for r in d.policy.routes]
    svg = split_bar(
        parts,
        copies=[f"v{v}" for v in d.policy.shadows],
        title=f"Traffic of {d.name}: {d.policy.describe()}",
    )
    return Markup(svg)  # noqa: S704 - moorline.charts escapes every label


def deployment_canary(services: Services, deployment: str) -> dict[str, Any] | None:
    """The newest managed canary of ``deployment`` (running or ended) with whether
    it runs now; None when it never had one (or canaries are not available)."""
    try:
        controller = services.canaries
        record = controller.latest(deployment)
        running = controller.current(deployment) if record is not None else None
    except MoorlineError:
        return None
    if record is None:
        return None
    return {**record.to_dict(), "active": running is not None and running.id == record.id}


def deployment_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/deployments/{name}``: split, traffic per version, drift, history, consumers."""
    name = path_name(request, "name")
    service = services.deployments
    since = now_ms() - TRAFFIC_WINDOW_MS
    try:
        d = service.get(name)
        traffic = service.predictions.traffic(d.name, since=since)
        history = service.history(d.name, limit=HISTORY_SHOWN)
        consumers = service.list_consumers(model=d.model)
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    by_version = {t.version: t for t in traffic}
    ordered = [v for v in d.policy.versions if v in by_version]
    ordered += sorted(v for v in by_version if v not in ordered)
    weights = {r.version: r.weight for r in d.policy.routes}
    data = {
        "deployment": d.to_dict(),
        "split": [{"version": r.version, "weight": r.weight} for r in d.policy.routes],
        "shadows": list(d.policy.shadows),
        "traffic_since": since,
        "traffic": [
            {
                **_traffic_row(by_version[v]),
                "weight": weights.get(v),
                "shadow": v in d.policy.shadows,
            }
            for v in ordered
        ],
        "drift": deployment_drift(services, d.name),
        "canary": deployment_canary(services, d.name),
        "history": [
            {
                "revision": r.revision,
                "action": r.action.value,
                "policy_text": r.policy.describe(),
                "actor": r.actor,
                "reason": r.reason,
                "at": r.at,
                "restored_revision": r.restored_revision,
            }
            for r in history
        ],
        "consumers": [
            {
                "name": c.name,
                "owner": c.owner,
                "fields": list(c.fields),
                "created_at": c.created_at,
            }
            for c in consumers
        ],
    }
    extra = {
        "split_svg": _split_svg(d),
        "model_link": model_url(d.model),
        "version_links": {v: version_url(d.model, v) for v in (*d.policy.versions, *ordered)},
        "json_url": "/ui/deployments/" + urllib.parse.quote(d.name, safe="") + "?format=json",
    }
    return respond(ui, request, "deployment.html", data, extra=extra)
