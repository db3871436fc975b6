"""A run's page (``/ui/runs/{run_id}``) and its raw artifact route.

The page shows the run's info, parameters, latest metrics with a chart of
each metric's history, tags, dataset inputs and an artifact browser
(``?artifact=<path>`` lists a folder or previews a file).
"""

from __future__ import annotations

import posixpath
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from moorline.bootstrap import Services
from moorline.charts import Series, line_chart
from moorline.core.blobs import clean_key
from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument, MoorlineError, NotFound
from moorline.server.ui.artifacts import preview_kind, raw_headers, read_text_preview
from moorline.server.ui.render import Renderer, query_string, strip_json_suffix
from moorline.tracking.models import Metric, Run

#: Points per chart: the store downsamples longer histories, keeping first and last.
CHART_POINTS = 800
#: Charts drawn on one run page; further metrics are listed in the table only.
MAX_CHARTS = 60


def run_dict(run: Run) -> dict[str, Any]:
    info = run.info
    end = info.end_time
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "status": info.status.value,
        "user_id": info.user_id,
        "start_time": info.start_time,
        "end_time": end,
        "duration_ms": (end if end is not None else now_ms()) - info.start_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage.value,
    }


def metric_dict(m: Metric) -> dict[str, Any]:
    return {"key": m.key, "value": m.value, "step": m.step, "timestamp": m.timestamp}


def history_series(points: list[Metric]) -> tuple[list[tuple[float, float]], str]:
    """Chart points of one history, and the x axis they use.

    Steps are the natural x axis; a history logged without steps (all at one
    step) is drawn against seconds since its first point instead.
    """
    steps = {m.step for m in points}
    if len(points) > 1 and len(steps) == 1:
        t0 = min(m.timestamp for m in points)
        return [((m.timestamp - t0) / 1000, m.value) for m in points], "seconds"
    return [(float(m.step), m.value) for m in points], "step"


def run_page(services: Services, ui: Renderer, request: Request) -> Response:
    run_id = strip_json_suffix(request.path_params["run_id"])
    try:
        run = services.tracking.get_run(run_id)
        experiment = services.tracking.get_experiment(run.info.experiment_id)
    except MoorlineError as exc:
        return ui.error(request, exc)
    tracking = services.tracking
    metrics = sorted(run.metrics, key=lambda m: m.key)
    charts: list[dict[str, Any]] = []
    for m in metrics[:MAX_CHARTS]:
        history = tracking.get_metric_history_bulk([run_id], m.key, max_points_per_run=CHART_POINTS)
        if len(history) < 2:
            continue
        points, x_label = history_series(history)
        svg = line_chart(
            [Series(label=m.key, points=points)],
            title=m.key,
            x_label=x_label,
            legend=False,
            values=True,
        )
        charts.append({"key": m.key, "points": len(points), "svg": Markup(svg)})  # noqa: S704 - escaped by moorline.charts

    try:
        browser = artifact_browser(services, run_id, request.query_params.get("artifact", ""))
    except InvalidArgument as exc:
        browser = {"path": "", "error": exc.message, "entries": [], "file": None, "crumbs": []}
    data = {
        "run": run_dict(run),
        "experiment": {"experiment_id": experiment.experiment_id, "name": experiment.name},
        "params": dict(sorted(run.params.items())),
        "metrics": [metric_dict(m) for m in metrics],
        "tags": dict(sorted(run.tags.items())),
        "datasets": [
            {
                "name": d.dataset.name,
                "digest": d.dataset.digest,
                "source_type": d.dataset.source_type,
                "source": d.dataset.source,
                "tags": dict(sorted(d.tags.items())),
            }
            for d in run.dataset_inputs
        ],
        "artifacts": {
            "path": browser["path"],
            "entries": browser["entries"],
            "error": browser["error"],
            "file": _file_json(browser["file"]),
        },
    }
    extra = {
        "charts": charts,
        "browser": browser,
        "more_metrics": max(0, len(metrics) - MAX_CHARTS),
    }
    return ui.page(request, "run.html", data, extra=extra)


def _file_json(file: dict[str, Any] | None) -> dict[str, Any] | None:
    if file is None:
        return None
    return {k: file[k] for k in ("path", "name", "size", "kind", "truncated", "raw_url")}


def artifact_browser(services: Services, run_id: str, path: str) -> dict[str, Any]:
    """The artifact section: a folder listing, or a file's preview with its folder."""
    artifacts = services.artifacts
    path = clean_key(path, allow_root=True)
    file: dict[str, Any] | None = None
    folder = path
    size = artifacts.run_artifact_size(run_id, path) if path else None
    if size is not None:
        folder = posixpath.dirname(path)
        file = _preview(services, run_id, path, size)
    infos = sorted(
        artifacts.list_run_artifacts(run_id, folder),
        key=lambda info: (not info.is_dir, info.path.lower()),
    )
    entries = [
        {
            "name": info.path,
            "path": posixpath.join(folder, info.path) if folder else info.path,
            "is_dir": info.is_dir,
            "size": info.size,
        }
        for info in infos
    ]
    if path and file is None and not entries:
        raise InvalidArgument(f"No artifact at {path!r} in run {run_id}")
    crumbs = [{"name": "artifacts", "path": ""}]
    parts = folder.split("/") if folder else []
    for i, part in enumerate(parts):
        crumbs.append({"name": part, "path": "/".join(parts[: i + 1])})
    return {"path": folder, "entries": entries, "file": file, "crumbs": crumbs, "error": None}


def _raw_url(run_id: str, path: str, *, download: bool = False) -> str:
    pairs = [("path", path)] + ([("download", "1")] if download else [])
    return f"/ui/runs/{run_id}/artifacts/raw{query_string(pairs)}"


def _preview(services: Services, run_id: str, path: str, size: int) -> dict[str, Any]:
    kind = preview_kind(path)
    text = None
    truncated = False
    if kind == "text":
        preview = read_text_preview(services.artifacts.open_run_artifact(run_id, path))
        text, truncated = preview.text, preview.truncated
        if text is None:
            kind = "binary"
    return {
        "path": path,
        "name": posixpath.basename(path),
        "size": size,
        "kind": kind,
        "text": text,
        "truncated": truncated,
        "raw_url": _raw_url(run_id, path),
        "download_url": _raw_url(run_id, path, download=True),
    }


def raw_artifact(services: Services, ui: Renderer, request: Request) -> Response:
    """Stream one artifact with headers that keep hostile content inert."""
    run_id = request.path_params["run_id"]
    path = request.query_params.get("path", "")
    try:
        key = clean_key(path)
        size = services.artifacts.run_artifact_size(run_id, key)
        if size is None:
            raise NotFound(f"No artifact file at {path!r} in run {run_id}")
        chunks = services.artifacts.open_run_artifact(run_id, key)
    except MoorlineError as exc:
        return ui.error(request, exc)
    headers = raw_headers(key, size=size, download=request.query_params.get("download") == "1")
    media_type = headers.pop("Content-Type")
    return StreamingResponse(chunks, media_type=media_type, headers=headers)
