"""``moorline runs``: list, show and compare runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from moorline.cli._records import (
    cell,
    echo_json,
    fmt_duration,
    fmt_number,
    fmt_time,
    json_number,
    print_table,
    resolve_experiment,
    run_info_json,
    run_json,
    status_cell,
)
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.errors import InvalidArgument
from moorline.tracking.models import TAG_DATASET_CONTEXT, Run

DEFAULT_MAX_RUNS = 100
MAX_RUNS = 50_000
#: ``runs show`` lists at most this many artifact files.
MAX_ARTIFACTS_SHOWN = 1000
COLUMN_PREFIXES = {"metrics": "metric", "params": "param", "tags": "tag"}


@click.group()
def runs() -> None:
    """Inspect runs: list and filter them, show one, compare several."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """An extra ``runs list`` column: ``metrics.acc`` is kind 'metric', key 'acc'."""

    spec: str
    kind: str
    key: str

    def value(self, run: Run) -> Text:
        if self.kind == "metric":
            return cell(fmt_number(run.metric(self.key)))
        if self.kind == "param":
            return cell(run.params.get(self.key))
        return cell(run.tags.get(self.key))


def parse_columns(text: str | None) -> list[Column]:
    """``"metrics.acc,params.lr"`` -> columns; anything else names what is wrong."""
    columns: list[Column] = []
    for raw in (text or "").split(","):
        spec = raw.strip()
        if not spec:
            continue
        prefix, dot, key = spec.partition(".")
        if not dot or prefix not in COLUMN_PREFIXES or not key:
            raise InvalidArgument(
                f"Invalid column {spec!r}: use metrics.<key>, params.<key> or tags.<key>, "
                "comma-separated"
            )
        columns.append(Column(spec=spec, kind=COLUMN_PREFIXES[prefix], key=key))
    return columns


@runs.command("list")
@click.option(
    "--experiment",
    "-e",
    "experiments",
    multiple=True,
    required=True,
    metavar="NAME_OR_ID",
    help="Experiment name (or id), repeatable.",
)
@click.option(
    "--filter",
    "filter_string",
    metavar="EXPR",
    help="Search filter, e.g. \"metrics.auc > 0.9 and params.model = 'xgb'\".",
)
@click.option(
    "--order-by",
    "order_by",
    multiple=True,
    metavar="KEY [ASC|DESC]",
    help="Sort key, repeatable, e.g. 'metrics.auc DESC' (default: newest first).",
)
@click.option(
    "--max",
    "max_results",
    type=click.IntRange(1, MAX_RUNS),
    default=DEFAULT_MAX_RUNS,
    show_default=True,
    help="Show at most this many runs.",
)
@click.option(
    "--columns",
    metavar="LIST",
    help="Extra table columns, comma-separated: metrics.<key>, params.<key>, tags.<key>.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@pass_state
@handle_errors
def list_(
    state: CliState,
    *,
    experiments: tuple[str, ...],
    filter_string: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    columns: str | None,
    as_json: bool,
) -> None:
    """List the runs of one or more experiments, newest first.

    \b
    Examples:
        moorline runs list -e churn
        moorline runs list -e churn --filter "metrics.auc > 0.9" \\
            --order-by "metrics.auc DESC" --columns metrics.auc,params.lr
        moorline runs list -e churn --json | jq -r '.[].run_id'

    The filter and sort keys follow MLflow's search grammar (metrics.*,
    params.*, tags.*, attributes such as status, run_name, start_time).

    JSON fields per run: run_id, run_name, experiment_id, status, user_id,
    start_time, end_time (ms since the epoch, end_time null while running),
    artifact_uri, lifecycle_stage, params and tags (objects of strings) and
    metrics (object of latest values; NaN and infinities as the strings
    "NaN", "Infinity", "-Infinity"). --columns only shapes the table.
    """
    extra = parse_columns(columns)
    tracking = state.services().tracking
    ids = list(dict.fromkeys(resolve_experiment(tracking, e).experiment_id for e in experiments))
    page = tracking.search_runs(
        ids, filter_string=filter_string, order_by=list(order_by), max_results=max_results
    )
    found = page.items
    if as_json:
        echo_json([run_json(r) for r in found])
        return
    if not found:
        console.print("no runs match", style="dim")
        return
    table = Table(box=None, header_style="bold")
    table.add_column("run id", no_wrap=True, min_width=32)
    table.add_column("name", overflow="fold")
    table.add_column("status")
    table.add_column("started")
    table.add_column("duration", justify="right")
    for c in extra:
        table.add_column(c.spec, justify="right" if c.kind == "metric" else "left", overflow="fold")
    for r in found:
        table.add_row(
            cell(r.run_id),
            cell(r.info.run_name),
            status_cell(r.info.status.value),
            cell(fmt_time(r.info.start_time)),
            cell(fmt_duration(r.info)),
            *(c.value(r) for c in extra),
        )
    print_table(table)
    if page.next_page_token:
        total = tracking.count_runs(ids, filter_string=filter_string)
        console.print(f"showing {len(found)} of {total} runs; raise --max to see more", style="dim")


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@pass_state
@handle_errors
def show(state: CliState, *, run_id: str, as_json: bool) -> None:
    """Show one run: info, params, latest metrics, tags, inputs and artifacts.

    \b
    Examples:
        moorline runs show 3f2a...
        moorline runs show 3f2a... --json | jq .params

    JSON: the fields of 'runs list --json', plus latest_metrics (list of
    key, value, step, timestamp), inputs (datasets and model ids), outputs
    (model ids), artifacts (list of path and size in bytes, at most 1000
    files) and artifacts_truncated (true when there were more).
    """
    services = state.services()
    run = services.tracking.get_run(run_id)
    listing = list(islice(services.artifacts.walk_run_artifacts(run_id), MAX_ARTIFACTS_SHOWN + 1))
    truncated = len(listing) > MAX_ARTIFACTS_SHOWN
    artifacts = [{"path": a.path, "size": a.size} for a in listing[:MAX_ARTIFACTS_SHOWN]]
    datasets: list[dict[str, Any]] = [
        {
            "name": d.dataset.name,
            "digest": d.dataset.digest,
            "source_type": d.dataset.source_type,
            "source": d.dataset.source,
            "context": d.tags.get(TAG_DATASET_CONTEXT),
            "tags": dict(d.tags),
        }
        for d in run.dataset_inputs
    ]
    if as_json:
        echo_json(
            {
                **run_json(run),
                "latest_metrics": [
                    {
                        "key": m.key,
                        "value": json_number(m.value),
                        "step": m.step,
                        "timestamp": m.timestamp,
                    }
                    for m in sorted(run.metrics, key=lambda m: m.key)
                ],
                "inputs": {"datasets": datasets, "model_ids": list(run.model_inputs)},
                "outputs": {
                    "models": [{"model_id": o.model_id, "step": o.step} for o in run.model_outputs]
                },
                "artifacts": artifacts,
                "artifacts_truncated": truncated,
            }
        )
        return
    info = run.info
    overview = Table.grid(padding=(0, 2))
    overview.add_column(style="bold")
    overview.add_column(overflow="fold")
    overview.add_row("run", cell(f"{info.run_name}  ({info.run_id})"))
    overview.add_row("experiment", cell(info.experiment_id))
    overview.add_row("status", status_cell(info.status.value))
    if info.lifecycle_stage.value != "active":
        overview.add_row("lifecycle", cell(info.lifecycle_stage.value))
    overview.add_row("user", cell(info.user_id))
    overview.add_row("started", cell(fmt_time(info.start_time)))
    overview.add_row("ended", cell(fmt_time(info.end_time) or "(running)"))
    overview.add_row("duration", cell(fmt_duration(info)))
    overview.add_row("artifacts", cell(info.artifact_uri))
    console.print(overview)
    _section("params", ["key", "value"], [[k, v] for k, v in sorted(run.params.items())])
    _section(
        "metrics (latest)",
        ["key", "value", "step", "logged"],
        [
            [m.key, fmt_number(m.value), str(m.step), fmt_time(m.timestamp)]
            for m in sorted(run.metrics, key=lambda m: m.key)
        ],
        right=(1, 2),
    )
    _section("tags", ["key", "value"], [[k, v] for k, v in sorted(run.tags.items())])
    _section(
        "inputs",
        ["dataset", "digest", "context", "source"],
        [
            [str(d["name"]), str(d["digest"]), str(d["context"] or ""), str(d["source"])]
            for d in datasets
        ]
        + [[f"model {m}", "", "", ""] for m in run.model_inputs],
    )
    _section(
        "artifacts",
        ["path", "size"],
        [[str(a["path"]), _size(a["size"])] for a in artifacts],
        right=(1,),
    )
    if truncated:
        console.print(f"  (only the first {MAX_ARTIFACTS_SHOWN} artifacts are listed)", style="dim")


def _size(value: object) -> str:
    if not isinstance(value, int):
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)  # pragma: no cover - the loop always returns


def _section(
    title: str, headers: list[str], rows: list[list[str]], *, right: Sequence[int] = ()
) -> None:
    console.print()
    if not rows:
        console.print(f"[bold]{title}[/]: none")
        return
    table = Table(title=title, title_justify="left", title_style="bold", box=None)
    for i, h in enumerate(headers):
        table.add_column(h, justify="right" if i in right else "left", overflow="fold")
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    console.print(table)


def _param_text(value: str | None) -> str:
    return "" if value is None else value


def _same(values: Sequence[Any]) -> bool:
    """True when every value is equal; NaN equals NaN here, missing equals only missing."""
    first = values[0]
    for v in values[1:]:
        both_nan = (
            isinstance(first, float)
            and isinstance(v, float)
            and math.isnan(first)
            and math.isnan(v)
        )
        if not both_nan and v != first:
            return False
    return True


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN_ID RUN_ID...")
@click.option("--diff-only", is_flag=True, help="Show only the params and metrics that differ.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@pass_state
@handle_errors
def compare(state: CliState, *, run_ids: tuple[str, ...], diff_only: bool, as_json: bool) -> None:
    """Put the params and latest metrics of two or more runs side by side.

    Rows whose values differ are marked with '*' and highlighted; a missing
    value is shown empty and counts as different from any value.

    \b
    Examples:
        moorline runs compare 3f2a... 9c41...
        moorline runs compare 3f2a... 9c41... 77de... --diff-only
        moorline runs compare 3f2a... 9c41... --json

    JSON: runs (the info fields of each run, in the order given), params and
    metrics: lists of {key, values, differs}, where values holds one entry
    per run in that order (null when the run lacks the key; metric NaN and
    infinities as the strings "NaN", "Infinity", "-Infinity").
    """
    if len(run_ids) < 2:
        raise InvalidArgument("Give at least two run ids to compare")
    tracking = state.services().tracking
    found = [tracking.get_run(r) for r in run_ids]
    param_keys = sorted({k for r in found for k in r.params})
    metric_keys = sorted({m.key for r in found for m in r.metrics})
    params = [(k, [r.params.get(k) for r in found]) for k in param_keys]
    metrics = [(k, [r.metric(k) for r in found]) for k in metric_keys]
    if as_json:
        echo_json(
            {
                "runs": [run_info_json(r.info) for r in found],
                "params": [{"key": k, "values": vs, "differs": not _same(vs)} for k, vs in params],
                "metrics": [
                    {
                        "key": k,
                        "values": [None if v is None else json_number(v) for v in vs],
                        "differs": not _same(vs),
                    }
                    for k, vs in metrics
                ],
            }
        )
        return
    table = Table(box=None, header_style="bold")
    table.add_column("", width=1)
    table.add_column("")
    for r in found:
        table.add_column(Text(f"{r.info.run_name}\n{r.run_id[:8]}"), overflow="fold")
    shown = 0
    rows = [("param", k, vs, [_param_text(v) for v in vs]) for k, vs in params] + [
        ("metric", k, vs, [fmt_number(v) for v in vs]) for k, vs in metrics
    ]
    for kind, key, values, texts in rows:
        differs = not _same(values)
        if diff_only and not differs:
            continue
        style = "bold yellow" if differs else ""
        table.add_row(
            Text("*" if differs else "", style=style),
            Text(f"{kind} {key}", style=style),
            *(Text(t, style=style) for t in texts),
        )
        shown += 1
    if shown == 0:
        console.print(
            "the runs have identical params and metrics" if diff_only else "no params or metrics"
        )
        return
    print_table(table)
