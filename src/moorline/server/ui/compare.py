"""Side-by-side comparison of runs (``/ui/compare?runs=a,b,c``).

Parameters and latest metrics in one table per kind, with the rows whose
values differ marked; and one chart per metric key with a line per run. A
run keeps the same colour on every chart.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from moorline.bootstrap import Services
from moorline.charts import PALETTE, Series, line_chart
from moorline.errors import InvalidArgument, MoorlineError
from moorline.server.ui.render import Renderer
from moorline.server.ui.runs import run_dict
from moorline.tracking.models import Metric, Run

MAX_COMPARE_RUNS = 20
MAX_COMPARE_CHARTS = 40
COMPARE_CHART_POINTS = 500


def requested_run_ids(request: Request) -> list[str]:
    """Run ids from ``?runs=a,b`` and/or ``?runs=a&runs=b``, deduplicated, in order."""
    ids: list[str] = []
    for value in request.query_params.getlist("runs"):
        ids.extend(part.strip() for part in value.split(",") if part.strip())
    return list(dict.fromkeys(ids))


def _table(runs: list[Run], values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows ``{key, values: [...per run], differs}`` over the union of keys."""
    keys = sorted({k for v in values for k in v})
    rows = []
    for key in keys:
        cells = [v.get(key) for v in values]
        distinct = {repr(c) for c in cells}
        rows.append({"key": key, "values": cells, "differs": len(runs) > 1 and len(distinct) > 1})
    return rows


def _labels(runs: list[Run]) -> list[str]:
    """Series labels: run names, made unique with a short id where names repeat."""
    names = [r.info.run_name or r.run_id[:8] for r in runs]
    return [
        n if names.count(n) == 1 else f"{n} ({r.run_id[:7]})"
        for n, r in zip(names, runs, strict=True)
    ]


def compare_page(services: Services, ui: Renderer, request: Request) -> Response:
    run_ids = requested_run_ids(request)
    try:
        if not run_ids:
            raise InvalidArgument("Choose runs to compare: /ui/compare?runs=<run_id>,<run_id>")
        if len(run_ids) > MAX_COMPARE_RUNS:
            raise InvalidArgument(
                f"At most {MAX_COMPARE_RUNS} runs can be compared at once, got {len(run_ids)}"
            )
        runs = [services.tracking.get_run(r) for r in run_ids]
    except MoorlineError as exc:
        return ui.error(request, exc)

    labels = _labels(runs)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(runs))]
    params = _table(runs, [r.params for r in runs])
    metrics = _table(runs, [{m.key: m.value for m in r.metrics} for r in runs])
    charts: list[dict[str, Any]] = []
    histories: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for row in metrics[:MAX_COMPARE_CHARTS]:
        key = row["key"]
        with_key = [r.run_id for r, v in zip(runs, row["values"], strict=True) if v is not None]
        points = services.tracking.get_metric_history_bulk(
            with_key, key, max_points_per_run=COMPARE_CHART_POINTS
        )
        by_run: dict[str, list[Metric]] = {}
        for p in points:
            by_run.setdefault(str(p.run_id), []).append(p)
        histories[key] = {rid: [(p.step, p.value) for p in pts] for rid, pts in by_run.items()}
        series = [
            Series(
                label=label,
                points=[(float(p.step), p.value) for p in by_run.get(run.run_id, [])],
                color=color,
            )
            for run, label, color in zip(runs, labels, colors, strict=True)
            if run.run_id in by_run
        ]
        svg = line_chart(series, title=key, x_label="step", legend=True, values=True)
        charts.append({"key": key, "svg": Markup(svg)})  # noqa: S704 - escaped by moorline.charts

    experiment_ids = list(dict.fromkeys(r.info.experiment_id for r in runs))
    experiments = [services.tracking.get_experiment(e) for e in experiment_ids]
    data = {
        "experiments": [{"experiment_id": e.experiment_id, "name": e.name} for e in experiments],
        "runs": [run_dict(r) | {"label": label} for r, label in zip(runs, labels, strict=True)],
        "params": params,
        "metrics": metrics,
        "metric_histories": histories,
    }
    extra = {
        "charts": charts,
        "colors": colors,
        "more_metrics": max(0, len(metrics) - MAX_COMPARE_CHARTS),
        "param_diffs": sum(1 for r in params if r["differs"]),
        "metric_diffs": sum(1 for r in metrics if r["differs"]),
    }
    return ui.page(request, "compare.html", data, extra=extra)
