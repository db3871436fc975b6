"""The monitoring pages: the monitors list, a monitor's page and a stored drift report.

- ``/ui/monitors``: every monitor with its model, schedule, last run (time
  and status), the dataset drift share of its last result and how many of
  its alerts are firing.
- ``/ui/monitors/{name}``: line charts over the stored results (dataset
  drift share against its threshold, the drift score of each column of the
  latest result, quality issues by severity, performance metrics), the
  latest result's per-column table, firing and past alerts, the notifications
  sent, the paged results table and the latest drift report in a sandboxed
  frame.
- ``/ui/monitors/{name}/results/{result_id}/report``: the stored drift report
  of one result as the self-contained page of
  :func:`moorline.monitoring.html.render_html` (no script, no network), with
  each column's reference and current distributions drawn from the compact
  histograms the result keeps.

Every page answers JSON with ``?format=json`` (or a ``.json`` path, as on the
registry pages: see :mod:`.registry_links`). The pages only read: runs
happen through the CLI, the API or the scheduler.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from moorline.bootstrap import Services
from moorline.charts import PALETTE, Series, line_chart
from moorline.errors import InvalidArgument, MoorlineError, NotFound
from moorline.monitoring.alerts import AlertState, AlertStatus
from moorline.monitoring.monitors import Monitor, MonitorResult
from moorline.server.ui.experiments import MAX_TRAIL, _page_size, _prev_url
from moorline.server.ui.registry_links import (
    json_view,
    model_url,
    path_name,
    respond,
    respond_error,
    with_query,
)
from moorline.server.ui.render import (
    CONTENT_SECURITY_POLICY,
    SECURITY_HEADERS,
    Renderer,
    format_time,
    query_string,
)

Endpoint = Callable[[Request], Response]

#: Results drawn in the charts: the newest ones, oldest on the left.
CHART_RESULTS: Final = 500
RESULTS_PAGE_SIZE: Final = 25
#: Columns drawn in the per-column score chart (one colour each); the table lists all.
CHART_COLUMNS: Final = len(PALETTE) - 1
PERFORMANCE_CHARTS: Final = 6
NOTIFICATIONS_SHOWN: Final = 50
_HOUR: Final = 3_600_000
THRESHOLD_COLOR: Final = "#9ca3af"
SEVERITY_COLORS: Final = {"critical": "#dc2626", "warning": "#d97706", "info": "#2563eb"}
#: The monitor page frames its drift report, served by this same site.
MONITOR_PAGE_CSP: Final = CONTENT_SECURITY_POLICY + "; frame-src 'self'"
#: The framed report: its own inline styles and data: images, framed by us only.
REPORT_CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def monitor_url(name: str) -> str:
    """The page of monitor ``name`` (``?format=html`` when the name ends in ``.json``).

    >>> monitor_url("churn-drift"), monitor_url("odd.json")
    ('/ui/monitors/churn-drift', '/ui/monitors/odd.json?format=html')
    """
    url = "/ui/monitors/" + urllib.parse.quote(name, safe="")
    return url + "?format=html" if name.endswith(".json") else url


def report_url(name: str, result_id: int) -> str:
    """The stored drift report of result ``result_id`` of monitor ``name``."""
    return f"/ui/monitors/{urllib.parse.quote(name, safe='')}/results/{result_id}/report"


def routes(services: Services, ui: Renderer) -> list[BaseRoute]:
    """The monitoring UI routes, bound to ``services``."""
    ui.env.globals.update(monitor_url=monitor_url, report_url=report_url)

    def bind(handler: Callable[[Services, Renderer, Request], Response]) -> Endpoint:
        return functools.partial(handler, services, ui)

    return [
        Route("/ui/monitors", bind(monitors_page), methods=["GET"], name="ui-monitors"),
        Route("/ui/monitors/", _to_monitors, methods=["GET"]),
        Route("/ui/monitors.json", bind(monitors_page), methods=["GET"]),
        Route("/ui/monitors/{name}", bind(monitor_page), methods=["GET"], name="ui-monitor"),
        Route(
            "/ui/monitors/{name}/results/{result_id:int}/report",
            bind(report_page),
            methods=["GET"],
            name="ui-monitor-report",
        ),
    ]


def _to_monitors(request: Request) -> Response:
    return RedirectResponse("/ui/monitors" + query_string(request.query_params.items()), 307)


# -- figures read from results ---------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def drift_share(result: MonitorResult | None) -> float | None:
    """The share of drifted columns of ``result`` (None without a drift report)."""
    if result is None or not result.drift:
        return None
    return _number((result.drift.get("dataset") or {}).get("share"))


def _summary(result: MonitorResult) -> dict[str, Any]:
    """One result as a row of the results table."""
    dataset = dict((result.drift or {}).get("dataset") or {})
    quality = result.quality or {}
    return {
        "id": result.id,
        "run_at": result.run_at,
        "status": result.status.value,
        "rows": result.window.get("rows"),
        "source": result.window.get("source"),
        "drift_share": drift_share(result),
        "drifted_columns": dataset.get("number_of_drifted_columns"),
        "tested_columns": dataset.get("number_of_columns"),
        "dataset_drift": dataset.get("dataset_drift"),
        "quality_issues": len(quality.get("issues") or ()) if quality else None,
        "alerts": list(result.alerts),
        "notifications": len(result.notifications),
        "error": result.error,
        "duration_ms": result.duration_ms,
        "has_report": bool(result.drift) and result.id is not None,
    }


def _firing(states: Mapping[str, AlertState]) -> list[AlertState]:
    return sorted(
        (s for s in states.values() if s.status is AlertStatus.FIRING), key=lambda s: s.key
    )


def _monitor_row(services: Services, monitor: Monitor) -> dict[str, Any]:
    latest = services.monitors.results(monitor.name, max_results=1).items
    last = latest[0] if latest else None
    states = services.monitors.alert_states(monitor.name)
    return {
        "name": monitor.name,
        "model": monitor.model,
        "description": monitor.description,
        "schedule": monitor.schedule,
        "checks": [
            check
            for check, on in (
                ("drift", monitor.drift is not None),
                ("quality", monitor.quality is not None),
                ("performance", monitor.performance is not None),
            )
            if on
        ],
        "last_run_at": last.run_at if last else None,
        "status": last.status.value if last else None,
        "drift_share": drift_share(last),
        "firing_alerts": len(_firing(states)),
        "error": last.error if last else None,
    }


def model_monitors(services: Services, model: str) -> list[dict[str, Any]]:
    """The monitors of registered model ``model`` as rows of the monitors list (for its page).

    Empty when monitors are not available (a remote store), so the model page still shows.
    """
    try:
        monitors = services.monitors.list_monitors()
        return [
            _monitor_row(services, m)
            for m in sorted(monitors, key=lambda m: m.name)
            if m.model == model
        ]
    except MoorlineError:
        return []


# -- /ui/monitors ------------------------------------------------------------------------


def monitors_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/monitors``: every monitor, its model, schedule, last status and firing alerts."""
    try:
        monitors = services.monitors.list_monitors()
        rows = [_monitor_row(services, m) for m in sorted(monitors, key=lambda m: m.name)]
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    data = {"monitors": rows}
    return respond(ui, request, "monitors.html", data)


# -- /ui/monitors/{name} -----------------------------------------------------------------


def _time_label(ms: float) -> str:
    """An x tick of a chart over run times: the day, and the minute when it is not midnight."""
    text = format_time(round(ms))
    day, _, clock = text.partition(" ")
    return day if clock.startswith("00:00") else f"{day[5:]} {clock[:5]}"


def _chart(series: Sequence[Series], title: str, y_label: str = "") -> Markup:
    """A chart over run times. The x axis counts hours, so its ticks fall on round hours."""
    in_hours = [
        Series(label=s.label, color=s.color, points=[(x / _HOUR, y) for x, y in s.points])
        for s in series
    ]
    svg = line_chart(
        in_hours, title=title, y_label=y_label, x_format=lambda h: _time_label(h * _HOUR)
    )
    return Markup(svg)  # noqa: S704 - moorline.charts escapes every label


def _charts(history: Sequence[MonitorResult], latest_drift: MonitorResult | None) -> list[Any]:
    """The charts of the monitor page, each ``{key, title, series: {label: points}, svg}``."""
    out: list[dict[str, Any]] = []

    def add(key: str, title: str, series: list[Series], y_label: str = "") -> None:
        if not any(s.points for s in series):
            return
        out.append(
            {
                "key": key,
                "title": title,
                "series": {s.label: [list(p) for p in s.points] for s in series},
                "svg": _chart(series, title, y_label),
            }
        )

    drifted = [(r.run_at, r.drift) for r in history if r.drift]
    share = [(float(t), _or_nan(_number(d.get("dataset", {}).get("share")))) for t, d in drifted]
    threshold = [
        (float(t), _or_nan(_number(d.get("dataset", {}).get("drift_share")))) for t, d in drifted
    ]
    add(
        "drift_share",
        "Dataset drift share",
        [
            Series(label="share of drifted columns", points=share),
            Series(label="drift_share threshold", points=threshold, color=THRESHOLD_COLOR),
        ],
        "share",
    )
    if latest_drift is not None and latest_drift.drift:
        names = [str(c.get("column")) for c in latest_drift.drift.get("columns") or ()]
        scores = [
            {str(c.get("column")): _number(c.get("score")) for c in d.get("columns") or ()}
            for _, d in drifted
        ]
        series = [
            Series(
                label=name,
                points=[
                    (float(t), _or_nan(by_column.get(name)))
                    for (t, _), by_column in zip(drifted, scores, strict=True)
                ],
            )
            for name in names[:CHART_COLUMNS]
        ]
        add("column_scores", "Drift score per column", series, "score")
    with_quality = [r for r in history if r.quality]
    add(
        "quality",
        "Data quality issues by severity",
        [
            Series(
                label=severity,
                points=[
                    (float(r.run_at), float((r.quality or {}).get("counts", {}).get(severity, 0)))
                    for r in with_quality
                ],
                color=color,
            )
            for severity, color in SEVERITY_COLORS.items()
        ],
        "issues",
    )
    with_perf = [r for r in history if r.performance]
    metrics: list[str] = []
    for r in with_perf:
        for key, value in (r.performance or {}).items():
            if key != "n_labelled" and _number(value) is not None and key not in metrics:
                metrics.append(key)
    for metric in metrics[:PERFORMANCE_CHARTS]:
        points = [
            (float(r.run_at), _or_nan(_number((r.performance or {}).get(metric))))
            for r in with_perf
        ]
        add(
            f"performance.{metric}", f"Performance: {metric}", [Series(label=metric, points=points)]
        )
    return out


def _column_rows(result: MonitorResult | None) -> list[dict[str, Any]]:
    if result is None or not result.drift:
        return []
    rows = []
    for c in result.drift.get("columns") or ():
        error = c.get("error")
        rows.append(
            {
                "column": c.get("column"),
                "type": c.get("type"),
                "test": c.get("stattest_display_name") or c.get("stattest"),
                "stattest": c.get("stattest"),
                "score": _number(c.get("score")),
                "threshold": c.get("threshold"),
                "verdict": "error" if error else "drift" if c.get("drift_detected") else "ok",
                "error": error,
            }
        )
    return rows


def _alerts(states: Mapping[str, AlertState]) -> tuple[list[Any], list[Any]]:
    """Alert states as ``(firing or pending, past)``: past ones fired once and no longer do."""
    current, past = [], []
    for state in sorted(states.values(), key=lambda s: (-s.since, s.key)):
        row = state.to_dict()
        if state.status in (AlertStatus.FIRING, AlertStatus.PENDING):
            current.append(row)
        elif state.fired_at is not None:
            past.append(row)
    return current, past


def _notifications(history: Sequence[MonitorResult]) -> list[dict[str, Any]]:
    out = []
    for r in reversed(history):
        for note in r.notifications:
            out.append({"run_at": r.run_at, "result_id": r.id, **dict(note)})
            if len(out) >= NOTIFICATIONS_SHOWN:
                return out
    return out


def monitor_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/monitors/{name}``: charts over time, the latest result, alerts and results."""
    name = path_name(request, "name")
    qp = request.query_params
    token = qp.get("page_token") or None
    trail = qp.getlist("trail")[-MAX_TRAIL:]
    page_size = _page_size(request, RESULTS_PAGE_SIZE)
    service = services.monitors
    try:
        monitor = service.get(name)
        page = service.results(name, max_results=page_size, page_token=token)
        newest = service.results(name, max_results=CHART_RESULTS).items
        states = service.alert_states(name)
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    history = list(reversed(newest))  # oldest first, as charts read
    latest = newest[0] if newest else None
    latest_drift = next((r for r in newest if r.drift), None)
    charts = _charts(history, latest_drift)
    firing, past = _alerts(states)
    data = {
        "monitor": monitor.to_dict(redact=True),
        "latest": None if latest is None else _summary(latest),
        "latest_drift_result": None if latest_drift is None else latest_drift.id,
        "columns": _column_rows(latest_drift),
        "alerts": {"firing": firing, "past": past},
        "notifications": _notifications(history),
        "charts": [{k: v for k, v in c.items() if k != "svg"} for c in charts],
        "charted_results": len(history),
        "results": [_summary(r) for r in page.items],
        "next_page_token": page.next_page_token,
    }
    base: list[tuple[str, str]] = []
    if page_size != RESULTS_PAGE_SIZE:
        base.append(("page_size", str(page_size)))
    own_url = monitor_url(monitor.name)
    next_url = None
    if page.next_page_token:
        back = [("trail", t) for t in (*trail, token or "-")]
        next_url = query_string([*base, *back, ("page_token", page.next_page_token)])
    extra = {
        "chart_svgs": charts,
        "own_url": own_url,
        "json_url": with_query(
            "/ui/monitors/" + urllib.parse.quote(monitor.name, safe=""), "?format=json"
        ),
        "next_url": with_query(own_url, next_url) + "#results" if next_url else None,
        "prev_url": with_query(own_url, _prev_url(base, trail)) + "#results" if token else None,
        "report_src": (
            None
            if latest_drift is None or latest_drift.id is None
            else report_url(monitor.name, latest_drift.id)
        ),
        "model_link": model_url(monitor.model),
    }
    response = respond(ui, request, "monitor.html", data, extra=extra)
    if not json_view(request):
        response.headers["Content-Security-Policy"] = MONITOR_PAGE_CSP
    return response


# -- /ui/monitors/{name}/results/{id}/report ---------------------------------------------


def find_result(services: Services, name: str, result_id: int) -> MonitorResult:
    """Result ``result_id`` of monitor ``name`` (NotFound when another monitor ran it)."""
    return services.monitors.result(result_id, monitor=name)


def report_page(services: Services, ui: Renderer, request: Request) -> Response:
    """The drift report of one result, as a standalone page (framed by the monitor page)."""
    from moorline.monitoring.html import render_html

    name: str = request.path_params["name"]
    result_id: int = request.path_params["result_id"]
    try:
        result = find_result(services, name, result_id)
        if not result.drift:
            raise NotFound(f"Result {result_id} of monitor {name!r} has no drift report")
        body = render_html(
            result.drift,
            title=f"Data drift · {name} · result {result_id}",
            generated_at=dt.datetime.fromtimestamp(result.run_at / 1000, tz=dt.UTC),
        )
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    except (KeyError, TypeError, ValueError) as exc:
        return respond_error(
            ui, request, InvalidArgument(f"The stored drift report cannot be shown: {exc}")
        )
    headers = {
        **SECURITY_HEADERS,
        "Content-Security-Policy": REPORT_CSP,
        "X-Frame-Options": "SAMEORIGIN",
    }
    return HTMLResponse(body, headers=headers)
