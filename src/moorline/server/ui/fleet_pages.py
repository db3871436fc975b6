"""The fleet overview: every model in production on one page (the UI's home).

``/ui/fleet`` lists every registered model that has a deployment or a
``champion`` alias, with:

- the version(s) in production and since when (from each deployment's
  revision history: the oldest revision of the unbroken run in which the
  version kept a share of the traffic);
- each deployment's traffic split (the split bar of the deployment page),
  and the managed canary it runs, if any;
- realized performance: the latest result of a monitor with a performance
  check whose current data is the prediction log of one of the model's
  deployments (metrics from feedback labels, against the check's
  baseline); while a canary runs without enough labels, the champion's
  performance as the canary analysis estimated it (CBPE); otherwise "n/a";
- drift status and firing alerts (the latest result and alert states of the
  model's monitors);
- the last retraining (the newest run of the model's pipelines: status and
  when, with its remediation record) and pending approvals;
- compute cost: CPU seconds of training (the pipeline worker's CPU time,
  recorded on each pipeline run) and of serving (what the model servers
  recorded per deployment version and hour: :mod:`moorline.serving.usage`)
  per ISO week. A store that cannot give serving usage shows "n/a".

Everything is read in one pass: one read per kind of record (models,
deployments, monitors, pipelines and their runs, approvals, remediations,
canaries), plus one history per deployment changed since its creation, one
latest result and alert state per monitor of a model in the fleet, and one
read of serving usage per model. The JSON view (``?format=json``) holds the
same data.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from moorline.bootstrap import Services
from moorline.charts.split import SplitPart, split_bar
from moorline.core.clock import now_ms
from moorline.errors import MoorlineError
from moorline.monitoring.alerts import AlertStatus
from moorline.monitoring.monitors import Monitor, MonitorResult
from moorline.pipelines.models import CHAMPION
from moorline.server.ui.monitoring_pages import drift_share
from moorline.server.ui.registry_links import respond
from moorline.server.ui.render import Renderer
from moorline.serving.models import Deployment, PolicyRevision, TrafficPolicy

Endpoint = Callable[[Request], Response]
T = TypeVar("T")

#: Revisions read per deployment to find since when its versions serve.
HISTORY_DEPTH: Final = 200
#: Pipeline runs read for "last retraining" and training CPU (the newest ones).
RUNS_READ: Final = 1000
#: ISO weeks of compute cost shown (the current one and the ones before it).
WEEKS_SHOWN: Final = 4
#: Registered models read per page.
MODELS_PAGE: Final = 1000
WEEK_MS: Final = 7 * 86_400_000
SPLIT_WIDTH: Final = 200.0
SERVING_CPU_NOTE: Final = (
    "serving CPU seconds as the model servers recorded them for the model's deployments, "
    "by the ISO week (UTC) of the hour served: a moorline serve worker's whole CPU time, "
    "shared among the versions it served by requests (their predict calls measured "
    "exactly); inside moorline server, the predict calls' CPU time only"
)
SERVING_CPU_UNAVAILABLE: Final = "serving CPU cannot be read from this store, so none is shown"


def routes(services: Services, ui: Renderer) -> list[BaseRoute]:
    """The fleet overview's routes, bound to ``services``."""

    def bind(handler: Callable[[Services, Renderer, Request], Response]) -> Endpoint:
        return functools.partial(handler, services, ui)

    page = bind(fleet_page)
    return [
        Route("/ui/fleet", page, methods=["GET"], name="ui-fleet"),
        Route("/ui/fleet.json", page, methods=["GET"]),
    ]


# -- small pure helpers ----------------------------------------------------------------


def iso_week(ms: int) -> str:
    """The ISO week (UTC) of a time in milliseconds, as ``YYYY-Www``.

    >>> iso_week(1_700_000_000_000)  # 2023-11-14
    '2023-W46'
    """
    year, week, _ = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(ms: int) -> int:
    """The start (Monday 00:00 UTC, in milliseconds) of the ISO week holding ``ms``.

    >>> week_start(1_700_000_000_000)  # Tuesday 2023-11-14
    1699833600000
    >>> iso_week(week_start(1_700_000_000_000)) == iso_week(1_700_000_000_000)
    True
    """
    day = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()
    monday = dt.datetime.combine(day - dt.timedelta(days=day.weekday()), dt.time(), dt.UTC)
    return int(monday.timestamp() * 1000)


def recent_weeks(now: int, count: int = WEEKS_SHOWN) -> list[str]:
    """The ISO weeks of ``now`` and the ``count - 1`` before it, newest first.

    >>> recent_weeks(1_700_000_000_000, 3)
    ['2023-W46', '2023-W45', '2023-W44']
    """
    day = dt.datetime.fromtimestamp(now / 1000, tz=dt.UTC)
    out = []
    for i in range(count):
        year, week, _ = (day - dt.timedelta(weeks=i)).isocalendar()
        out.append(f"{year}-W{week:02d}")
    return out


def serving_since(
    deployment: Deployment, history: Sequence[PolicyRevision]
) -> dict[int, dict[str, Any]]:
    """Version -> since when it has answered callers of ``deployment`` without a
    break: the time of the oldest revision of its unbroken run in ``history``
    (newest first; empty for a deployment still at revision 1, which has served
    the same since it was created). ``complete`` is False when the run reaches
    past the history read.

    >>> from moorline.serving.models import RevisionAction, TrafficPolicy
    >>> single, split = TrafficPolicy.single(1), TrafficPolicy.canary(champion=1, challenger=2,
    ...                                                                weight=10)
    >>> def rev(n, policy, at):
    ...     return PolicyRevision(deployment="d", revision=n, action=RevisionAction.TRAFFIC,
    ...                           policy=policy, settings=d.settings, at=at, actor="a")
    >>> d = Deployment(name="d", model="m", policy=split, revision=3)
    >>> since = serving_since(d, [rev(3, split, 300), rev(2, single, 200), rev(1, single, 100)])
    >>> since[1]["at"], since[2]["at"], since[1]["complete"]
    (100, 300, True)
    """
    out: dict[int, dict[str, Any]] = {}
    for version in deployment.policy.serving_versions:
        since = None
        broke = False
        for revision in history:
            if version not in revision.policy.serving_versions:
                broke = True
                break
            since = revision.at
        complete = (
            broke or deployment.revision == 1 or (bool(history) and history[-1].revision == 1)
        )
        at = since if since is not None else deployment.created_at
        out[version] = {"at": at, "complete": complete}
    return out


def _listed(read: Callable[[], Iterable[T]]) -> list[T]:
    """A section's records, or none when this store cannot give them (the page
    still shows the rest)."""
    try:
        return list(read())
    except MoorlineError:
        return []


def _drift_verdict(result: MonitorResult | None) -> str:
    if result is None:
        return "not run"
    if result.status.value == "error":
        return "error"
    flag = ((result.drift or {}).get("dataset") or {}).get("dataset_drift")
    if flag is None:
        return "no drift check"
    return "drift" if flag else "ok"


def _summary_verdict(verdicts: Iterable[str]) -> str:
    """One drift status for a model from its monitors' verdicts."""
    seen = set(verdicts)
    for verdict in ("drift", "error", "ok", "no drift check", "not run"):
        if verdict in seen:
            return verdict
    return "no monitor"


def _performance(monitor: Monitor, result: MonitorResult) -> dict[str, Any] | None:
    perf = result.performance
    if not perf:
        return None
    comparison = perf.get("baseline") or {}
    compared = [m for m in comparison.get("metrics") or [] if isinstance(m, Mapping)]
    values = {
        k: v
        for k, v in perf.items()
        if k not in ("baseline", "degraded", "n_labelled") and isinstance(v, int | float)
    }
    return {
        "source": "realized",
        "monitor": monitor.name,
        "result_id": result.id,
        "run_at": result.run_at,
        "n_labelled": perf.get("n_labelled"),
        "degraded": perf.get("degraded"),
        "against_baseline": [
            {
                "metric": m.get("metric"),
                "value": m.get("value"),
                "baseline": m.get("baseline"),
                "status": m.get("status"),
            }
            for m in compared
        ],
        "metrics": values,
    }


def _estimated(canary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The champion's performance as the running canary's analysis estimated it."""
    verdict = canary.get("last_verdict") or {}
    for rule in verdict.get("rules") or []:
        details = rule.get("details") or {}
        if rule.get("rule") == "performance" and details.get("source") == "estimated":
            return {
                "source": "estimated",
                "metric": details.get("metric"),
                "value": details.get("champion"),
                "challenger": details.get("challenger"),
                "deployment": canary.get("deployment"),
                "at": verdict.get("at"),
            }
    return None


def _split_svg(name: str, policy: TrafficPolicy) -> Markup:
    parts = [SplitPart(label=f"v{r.version}", weight=r.weight) for r in policy.routes]
    svg = split_bar(
        parts,
        copies=[f"v{v}" for v in policy.shadows],
        title=f"Traffic of {name}: {policy.describe()}",
        width=SPLIT_WIDTH,
    )
    return Markup(svg)  # noqa: S704 - moorline.charts escapes every label


# -- the page --------------------------------------------------------------------------


def fleet_overview(services: Services, *, now: int | None = None) -> dict[str, Any]:
    """The fleet page's data (see the module docs), JSON-able."""
    now = now_ms() if now is None else now
    registered = _registered_models(services)
    deployments = _listed(services.deployments.list_deployments)
    by_model: dict[str, list[Deployment]] = defaultdict(list)
    for d in deployments:
        by_model[d.model].append(d)
    champions = {
        name: aliases[CHAMPION] for name, aliases in registered.items() if CHAMPION in aliases
    }
    fleet = sorted(set(by_model) | set(champions))
    wanted = set(fleet)

    # A deployment never changed (revision 1) serves what it was created with: its
    # history is that one revision, which the deployment itself says.
    histories = {
        d.name: _listed(
            functools.partial(services.deployments.history, d.name, limit=HISTORY_DEPTH)
        )
        for d in deployments
        if d.revision > 1 and d.model in wanted
    }
    monitors = [m for m in _listed(services.monitors.list_monitors) if m.model in wanted]
    latest: dict[str, MonitorResult | None] = {}
    firing: dict[str, list[dict[str, Any]]] = {}
    for m in monitors:
        try:
            items = services.monitors.results(m.name, max_results=1).items
            states = services.monitors.alert_states(m.name)
        except MoorlineError:
            items, states = (), {}
        latest[m.name] = items[0] if items else None
        firing[m.name] = [
            {"key": s.key, "rule": s.rule, "monitor": m.name, "since": s.since}
            for s in sorted(states.values(), key=lambda s: s.key)
            if s.status is AlertStatus.FIRING
        ]
    approvals = _listed(functools.partial(services.governance.list_approvals, state="pending"))
    pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in approvals:
        if a.name in wanted:
            pending[a.name].append(
                {
                    "approval_id": a.approval_id,
                    "alias": a.alias,
                    "version": a.version,
                    "requested_by": a.requested_by,
                    "requested_at": a.requested_at,
                    "reason": a.reason,
                }
            )
    canaries = {
        c.deployment: c.to_dict()
        for c in _listed(lambda: services.canaries.list_canaries(status="running", limit=1000))
    }
    retraining, cpu, runs_read = _training(services, wanted, now)
    remediations: dict[str, dict[str, Any]] = {}
    for r in _listed(lambda: services.pipelines.list_remediations(limit=1000)):
        if r.model in wanted and r.model not in remediations:
            remediations[r.model] = {
                "id": r.id,
                "status": r.status.value,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            }

    weeks = recent_weeks(now)
    serving = _serving(services, fleet, since=week_start(now) - (WEEKS_SHOWN - 1) * WEEK_MS)
    rows = []
    for model in fleet:
        mine = by_model.get(model, [])
        names = {d.name for d in mine}
        model_monitors = sorted((m for m in monitors if m.model == model), key=lambda m: m.name)
        drift: list[dict[str, Any]] = []
        performance: list[dict[str, Any]] = []
        for m in model_monitors:
            last = latest[m.name]
            drift.append(
                {
                    "monitor": m.name,
                    "verdict": _drift_verdict(last),
                    "drift_share": drift_share(last),
                    "run_at": None if last is None else last.run_at,
                }
            )
            watches = getattr(m.current, "deployment", None) in names
            if m.performance is not None and watches and last is not None:
                realized = _performance(m, last)
                if realized is not None:
                    performance.append(realized)
        if not performance:
            for d in mine:
                estimate = _estimated(canaries[d.name]) if d.name in canaries else None
                if estimate is not None:
                    performance.append(estimate)
        production = []
        for d in mine:
            since = serving_since(d, histories.get(d.name, []))
            production.append(
                {
                    "deployment": d.name,
                    "policy": d.policy.to_dict(),
                    "policy_text": d.policy.describe(),
                    "revision": d.revision,
                    "created_at": d.created_at,
                    "versions": [
                        {
                            "version": r.version,
                            "weight": r.weight,
                            "since": since.get(r.version, {}).get("at"),
                            "since_complete": since.get(r.version, {}).get("complete", False),
                        }
                        for r in d.policy.routes
                        if r.weight > 0
                    ],
                    "shadows": list(d.policy.shadows),
                    "canary": canaries.get(d.name),
                }
            )
        per_week = cpu.get(model, {})
        served = serving.get(model) if serving is not None else None
        rows.append(
            {
                "model": model,
                "champion": champions.get(model),
                "deployments": production,
                "performance": performance,
                "drift": drift,
                "drift_status": _summary_verdict(str(v["verdict"]) for v in drift),
                "alerts": [a for m in model_monitors for a in firing.get(m.name, [])],
                "last_retraining": retraining.get(model),
                "remediation": remediations.get(model),
                "pending_approvals": pending.get(model, []),
                "compute": {
                    "training_cpu_seconds": {w: round(per_week.get(w, 0.0), 3) for w in weeks},
                    "training_cpu_seconds_by_week": {
                        w: round(s, 3) for w, s in sorted(per_week.items(), reverse=True)
                    },
                    "serving_cpu_seconds": None
                    if served is None
                    else {w: round(served[w][0], 3) if w in served else 0.0 for w in weeks},
                    "serving_requests": None
                    if served is None
                    else {w: served[w][1] if w in served else 0 for w in weeks},
                },
            }
        )
    return {
        "models": rows,
        "weeks": weeks,
        "generated_at": now,
        "notes": {
            "serving_cpu": SERVING_CPU_NOTE if serving is not None else SERVING_CPU_UNAVAILABLE,
            "training_cpu": f"CPU seconds of the newest {runs_read} pipeline run(s) read, "
            "by the ISO week (UTC) each finished in",
        },
    }


def _registered_models(services: Services) -> dict[str, dict[str, int]]:
    """Registered model name -> its aliases (every page of the registry)."""
    out: dict[str, dict[str, int]] = {}
    token: str | None = None
    while True:
        try:
            page = services.registry.search_registered_models(
                max_results=MODELS_PAGE, page_token=token
            )
        except MoorlineError:
            return out
        for m in page.items:
            out[m.name] = dict(m.aliases)
        token = page.next_page_token
        if not token:
            return out


def _serving(
    services: Services, models: Iterable[str], *, since: int
) -> dict[str, dict[str, tuple[float, int]]] | None:
    """Model -> ISO week -> (serving CPU seconds, requests) since ``since``, from the
    usage the model servers recorded; None when this store cannot give it."""
    out: dict[str, dict[str, tuple[float, int]]] = {}
    predictions = services.deployments.predictions
    for model in models:
        try:
            records = predictions.usage(model=model, since=since)
        except MoorlineError:
            return None
        weeks: dict[str, tuple[float, int]] = {}
        for r in records:
            week = iso_week(r.hour)
            cpu, requests = weeks.get(week, (0.0, 0))
            weeks[week] = (cpu + r.cpu_s, requests + r.requests)
        out[model] = weeks
    return out


def _training(
    services: Services, wanted: set[str], now: int
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]], int]:
    """(model -> its newest pipeline run, model -> ISO week -> training CPU seconds,
    how many runs were read)."""
    try:
        pipelines = services.pipelines.list_pipelines()
        runs = services.pipelines.list_runs(limit=RUNS_READ)
    except MoorlineError:
        return {}, {}, 0
    model_of = {p.name: p.model for p in pipelines if p.model in wanted}
    newest: dict[str, dict[str, Any]] = {}
    cpu: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    seen_pipelines = set()
    for run in runs:
        model = model_of.get(run.pipeline)
        if model is None:
            continue
        seen_pipelines.add(run.pipeline)
        if model not in newest:
            newest[model] = _run_row(run)
        seconds = (run.result.get("execution") or {}).get("cpu_seconds")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            cpu[model][iso_week(run.finished_at or run.started_at or run.created_at)] += seconds
    for name, model in model_of.items():
        if name in seen_pipelines:
            continue
        # Not among the newest runs read: its own newest run, if it has one.
        older = _listed(functools.partial(services.pipelines.list_runs, pipeline=name, limit=1))
        if older:
            row = _run_row(older[0])
            if model not in newest or row["at"] > newest[model]["at"]:
                newest[model] = row
    return newest, {m: dict(w) for m, w in cpu.items()}, len(runs)


def _run_row(run: Any) -> dict[str, Any]:
    return {
        "pipeline": run.pipeline,
        "run_id": run.id,
        "status": run.status.value,
        "at": run.finished_at or run.started_at or run.created_at,
        "model_version": run.model_version,
        "remediation_id": run.remediation_id,
        "tracked_run_id": run.tracked_run_id,
        "error": run.error,
    }


def fleet_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/fleet``: every model in production (see the module docs)."""
    data = fleet_overview(services)
    splits = {
        d["deployment"]: _split_svg(d["deployment"], TrafficPolicy.from_dict(d["policy"]))
        for row in data["models"]
        for d in row["deployments"]
    }
    return respond(ui, request, "fleet.html", data, extra={"splits": splits})


__all__ = [
    "fleet_overview",
    "iso_week",
    "recent_weeks",
    "routes",
    "serving_since",
    "week_start",
]
