"""How the tracking commands show records: JSON shapes for scripts, cells for tables.

The JSON shapes are a stable interface: keys are only ever added. Metric
values that JSON cannot carry are written as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (never ``null``, which would hide the
difference between a missing metric and a NaN one). Times are integer
milliseconds since the epoch in JSON and local time in tables.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from moorline.cli.context import console
from moorline.errors import NotFound
from moorline.tracking.models import Experiment, Run, RunInfo
from moorline.tracking.service import TrackingService


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON with sorted keys (stable diffs)."""
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


def json_number(value: float) -> float | str:
    """A metric value for JSON: NaN and infinities become strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def fmt_number(value: float | None) -> str:
    """A metric value for a table: shortest exact form; NaN and +/-inf spelled out."""
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(info: RunInfo) -> str:
    if info.end_time is None:
        return ""
    seconds = max(0, info.end_time - info.start_time) / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def print_table(table: Table) -> None:
    """Print ``table``: folded to fit a terminal, at its natural width into a pipe or file.

    Rich assumes 80 columns when output is not a terminal, which would crush a
    runs table holding 32-character run ids.
    """
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update_width(100_000)).maximum
    Console(file=console.file, width=max(console.width, natural)).print(table)


def cell(value: object) -> Text:
    """A table cell that shows user text as is (no rich markup interpretation)."""
    return Text("" if value is None else str(value))


def status_cell(status: str) -> Text:
    styles = {"FINISHED": "green", "FAILED": "red", "KILLED": "magenta", "RUNNING": "cyan"}
    return Text(status, style=styles.get(status, ""))


def experiment_json(e: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": e.experiment_id,
        "name": e.name,
        "artifact_location": e.artifact_location,
        "lifecycle_stage": e.lifecycle_stage.value,
        "creation_time": e.creation_time,
        "last_update_time": e.last_update_time,
        "tags": dict(e.tags),
    }


def run_info_json(info: RunInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "status": info.status.value,
        "user_id": info.user_id,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage.value,
    }


def run_json(run: Run) -> dict[str, Any]:
    """The run's info fields, plus params, latest metric values and tags as objects."""
    return {
        **run_info_json(run.info),
        "params": dict(run.params),
        "metrics": {m.key: json_number(m.value) for m in run.metrics},
        "tags": dict(run.tags),
    }


def resolve_experiment(tracking: TrackingService, name_or_id: str) -> Experiment:
    """The experiment called ``name_or_id``, else the one with that id.

    A name is tried first: names are what people type, and an id is only
    tried when no experiment has that name.
    """
    experiment = tracking.get_experiment_by_name(name_or_id)
    if experiment is not None:
        return experiment
    if name_or_id.isdigit():
        try:
            return tracking.get_experiment(name_or_id)
        except NotFound:
            pass
    raise NotFound(
        f"No experiment named {name_or_id!r} or with that id; see 'moorline experiments list --all'"
    )
