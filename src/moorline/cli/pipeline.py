"""``moorline pipeline``: register, list, show and run training pipelines."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.table import Table

from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, handle_errors, pass_state
from moorline.cli.errors import EXIT_CODES
from moorline.errors import ErrorCode, InvalidArgument
from moorline.pipelines.models import (
    AlertTrigger,
    DatasetSource,
    DataSource,
    Evaluation,
    FunctionSource,
    GateRules,
    GlobSource,
    Pipeline,
    PipelineRun,
    RolloutPolicy,
    RunState,
    SqlSource,
)

#: ``pipeline run`` exit code when the gate rejected the challenger.
EXIT_REJECTED = 1


@click.group("pipeline")
def pipeline() -> None:
    """Training pipelines: your training code, run by triggers, validated by a gate.

    \b
    A pipeline is a function in your repository ('module:function') that
    receives a context (parameters, the training data window, a run handle)
    and returns a fitted model. moorline runs it in its own process (or on
    Ray), logs it as a tracked run with its data snapshotted as dataset
    versions, registers the model, scores it and the champion on a fresh
    holdout and accepts or rejects it. 'moorline server' runs pipelines when
    their triggers fire (cron, monitor alerts, new dataset versions);
    'moorline pipeline run NAME' runs one now.
    """


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: tuple[str, ...], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidArgument(f"Invalid {what} {item!r}: expected KEY=VALUE")
        out[key.strip()] = _value(value)
    return out


def _source(opts: dict[str, Any], prefix: str, what: str) -> DataSource:
    given = {
        kind: opts[f"{prefix}_{kind}"]
        for kind in ("dataset", "glob", "sql", "function")
        if opts[f"{prefix}_{kind}"]
    }
    if len(given) != 1:
        flags = ", ".join(f"--{prefix}-{k}" for k in ("dataset", "glob", "sql", "function"))
        raise InvalidArgument(f"Give exactly one of {flags} ({what})")
    kind, value = next(iter(given.items()))
    if kind == "dataset":
        name, _, digest = str(value).partition("@")
        return DatasetSource(name=name, digest=digest or None)
    if kind == "glob":
        return GlobSource(pattern=str(value))
    if kind == "function":
        return FunctionSource(entry_point=str(value))
    uri = opts[f"{prefix}_uri"]
    if not uri:
        raise InvalidArgument(f"--{prefix}-sql needs --{prefix}-uri (where the query runs)")
    return SqlSource(query=str(value), uri=str(uri))


def _alert(spec: str) -> AlertTrigger:
    monitor, _, rule = spec.partition(":")
    return AlertTrigger(monitor=monitor.strip(), rule=rule.strip() or None)


def _from_flags(name: str, opts: dict[str, Any]) -> Pipeline:
    for flag in ("entry_point", "model", "metric", "label"):
        if not opts[flag]:
            raise InvalidArgument(f"--{flag.replace('_', '-')} is required (or give --file)")
    features = opts["features"]
    evaluation = Evaluation(
        metric=opts["metric"],
        label=opts["label"],
        task=opts["task"],
        direction=opts["direction"],
        features=None if not features else tuple(f.strip() for f in features.split(",")),
        holdout=_source(opts, "holdout", "where the labelled holdout comes from"),
    )
    gate = GateRules(
        margin=opts["margin"],
        tolerances={k: float(v) for k, v in _pairs(opts["tolerance"], "--tolerance").items()},
        tolerance=opts["tolerance_all"],
        max_quality_severity=opts["max_quality_severity"],
        latency_budget_ms=opts["latency_budget_ms"],
    )
    return Pipeline(
        name=name,
        entry_point=opts["entry_point"],
        model=opts["model"],
        workdir=str(Path(opts["workdir"]).resolve()),
        data=_source(opts, "data", "where the training data comes from"),
        evaluation=evaluation,
        params=_pairs(opts["param"], "--param"),
        rollout=RolloutPolicy(
            gate=gate,
            requires_approval=opts["requires_approval"],
            canary_weight=opts["canary_weight"],
        ),
        concurrency=opts["concurrency"],
        timeout_seconds=opts["timeout"],
        executor=opts["executor"],
        ray_address=opts["ray_address"],
        schedule=opts["schedule"],
        on_alerts=tuple(_alert(a) for a in opts["on_alert"]),
        on_datasets=tuple(opts["on_dataset"]),
        cooldown_seconds=opts["cooldown"],
        max_attempts=opts["max_attempts"],
        experiment=opts["experiment"],
        description=opts["description"] or "",
    )


def _from_file(name: str, path: str) -> Pipeline:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"Cannot read the pipeline file {path!r}: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"The pipeline file {path!r} must hold a JSON object")
    document = {**document, "name": name}
    folder = Path(path).resolve().parent
    workdir = Path(str(document.get("workdir", ".")))
    document["workdir"] = str(workdir if workdir.is_absolute() else (folder / workdir).resolve())
    return Pipeline.from_dict(document)


def _source_options(prefix: str, what: str) -> list[Callable[[F], F]]:
    return [
        click.option(
            f"--{prefix}-dataset",
            help=f"{what}: the latest version of a logged dataset NAME (NAME@DIGEST pins one).",
        ),
        click.option(
            f"--{prefix}-glob",
            help=f"{what}: CSV/Parquet files matching a pattern (relative to --workdir).",
        ),
        click.option(f"--{prefix}-sql", help=f"{what}: a SQL query (with --{prefix}-uri)."),
        click.option(f"--{prefix}-uri", help=f"SQLAlchemy URL --{prefix}-sql runs on."),
        click.option(
            f"--{prefix}-function",
            help=f"{what}: a function 'module:function' returning a DataFrame.",
        ),
    ]


F = TypeVar("F", bound=Callable[..., Any])


def _apply(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@pipeline.command("register")
@click.argument("name")
@click.option(
    "--file",
    "file_",
    type=click.Path(dir_okay=False, exists=True),
    help="The pipeline as a JSON file (the flags below are then ignored).",
)
@click.option("--entry-point", help="The training function, 'module:function'.")
@click.option(
    "--workdir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder the entry point is imported from (your repository).",
)
@click.option("--model", help="Registered model each run adds a version to.")
@_apply(_source_options("data", "Training data"))
@click.option("--metric", help="Metric the challenger must beat the champion on (mae, f1 ...).")
@click.option("--label", help="The label column of the holdout.")
@click.option(
    "--task",
    type=click.Choice(["regression", "classification"]),
    default="regression",
    show_default=True,
)
@click.option(
    "--direction",
    type=click.Choice(["higher", "lower"]),
    help="Which way --metric is better [default: the metric's].",
)
@click.option("--features", help="Model input columns, comma-separated [default: all but label].")
@_apply(_source_options("holdout", "Labelled holdout"))
@click.option("--param", multiple=True, help="Parameter KEY=VALUE (JSON value; repeatable).")
@click.option(
    "--margin",
    type=float,
    default=0.0,
    show_default=True,
    help="How much better than the champion the challenger must be.",
)
@click.option(
    "--tolerance",
    multiple=True,
    help="METRIC=VALUE: how much worse another metric may get (repeatable).",
)
@click.option("--tolerance-all", type=float, help="Tolerance of every other metric.")
@click.option(
    "--max-quality-severity",
    type=click.Choice(["info", "warning", "critical"]),
    default="warning",
    show_default=True,
    help="Worst training-data quality issue still accepted.",
)
@click.option("--latency-budget-ms", type=float, help="p95 one-row prediction latency budget.")
@click.option(
    "--requires-approval",
    is_flag=True,
    help="A second person approves before any traffic (always so for high-risk models).",
)
@click.option(
    "--canary-weight",
    type=float,
    default=10.0,
    show_default=True,
    help="Canary share of traffic, in percent.",
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="Seconds per run.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--ray-address", help="Ray cluster address (with --executor ray).")
@click.option("--schedule", help="Cron expression (UTC) the server runs it on.")
@click.option("--on-alert", multiple=True, help="Run when MONITOR[:RULE] fires (repeatable).")
@click.option("--on-dataset", multiple=True, help="Run on a new version of dataset NAME.")
@click.option(
    "--cooldown",
    type=float,
    default=3600.0,
    show_default=True,
    help="Seconds an alert's run holds off the same alert firing again.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 10),
    default=2,
    show_default=True,
    help="Attempts of a run whose runner died.",
)
@click.option("--experiment", help="Experiment of its runs [default: pipeline/NAME].")
@click.option("--description")
@click.option("--update", is_flag=True, help="Replace the configuration of an existing pipeline.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def register(state: CliState, /, name: str, **opts: Any) -> None:
    """Register pipeline NAME."""
    spec = _from_file(name, opts["file_"]) if opts["file_"] else _from_flags(name, opts)
    saved = state.services().pipelines.register(spec, update=opts["update"])
    if opts["as_json"]:
        echo_json(saved.to_dict(redact=True))
        return
    click.echo(
        f"pipeline {saved.name} {'updated' if opts['update'] else 'registered'}: "
        f"{saved.entry_point} -> model {saved.model}, triggers: {_triggers(saved)}"
    )


def _triggers(p: Pipeline) -> str:
    parts = ["manual"]
    if p.schedule:
        parts.append(f"cron {p.schedule}")
    parts += [f"alert {a.describe()}" for a in p.on_alerts]
    parts += [f"dataset {d}" for d in p.on_datasets]
    return ", ".join(parts)


@pipeline.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def list_(state: CliState, as_json: bool) -> None:
    """List pipelines."""
    pipelines = state.services().pipelines.list_pipelines()
    if as_json:
        echo_json([p.to_dict(redact=True) for p in pipelines])
        return
    table = Table("name", "entry point", "model", "data", "executor", "triggers")
    for p in pipelines:
        table.add_row(
            p.name,
            cell(p.entry_point),
            cell(p.model),
            cell(p.data.describe()),
            p.executor,
            cell(_triggers(p)),
        )
    print_table(table)


def _runs_table(runs: list[PipelineRun]) -> Table:
    table = Table("run", "status", "trigger", "attempt", "created", "version", "outcome")
    for r in runs:
        decision = (r.result.get("decision") or {}) if r.result else {}
        outcome = r.error or (
            ("accepted" if decision.get("accepted") else "rejected") if decision else ""
        )
        table.add_row(
            r.id,
            r.status.value,
            r.trigger_kind.value,
            str(r.attempt),
            fmt_time(r.created_at),
            "" if r.model_version is None else str(r.model_version),
            cell(outcome[:120]),
        )
    return table


@pipeline.command("show")
@click.argument("name")
@click.option("--runs", "max_runs", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
@handle_errors
def show(state: CliState, name: str, max_runs: int, as_json: bool) -> None:
    """Show pipeline NAME's configuration (credentials hidden) and its latest runs."""
    service = state.services().pipelines
    record = service.get(name)
    runs = service.list_runs(pipeline=name, limit=max_runs)
    if as_json:
        echo_json({"pipeline": record.to_dict(redact=True), "runs": [r.to_dict() for r in runs]})
        return
    click.echo(json.dumps(record.to_dict(redact=True), indent=2, sort_keys=True))
    if runs:
        print_table(_runs_table(runs))


@pipeline.command("runs")
@click.argument("name")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([s.value for s in RunState]),
    help="Only runs in this state.",
)
@click.option("--max-results", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def runs(
    state: CliState, name: str, states: tuple[str, ...], max_results: int, as_json: bool
) -> None:
    """Runs of pipeline NAME, newest first."""
    found = state.services().pipelines.list_runs(
        pipeline=name, states=states or None, limit=max_results
    )
    if as_json:
        echo_json([r.to_dict() for r in found])
        return
    print_table(_runs_table(found))


@pipeline.command("run")
@click.argument("name")
@click.option("--param", multiple=True, help="Override a parameter KEY=VALUE (repeatable).")
@click.option("--reason", default="", help="Why (goes into the remediation record).")
@click.option(
    "--queue",
    "queue_only",
    is_flag=True,
    help="Only queue it for 'moorline server' to run, do not run it here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@pass_state
@handle_errors
def run(state: CliState, /, name: str, **opts: Any) -> None:
    """Run pipeline NAME now, here (or --queue it for the server).

    Exit code: 0 accepted (or queued), 1 the gate rejected the challenger, 5
    the training code failed or timed out, 2/4 another error.
    """
    from moorline.cli._governance import local_actor
    from moorline.pipelines.scheduler import run_inline

    service = state.services().pipelines
    service.recover()  # runs left behind by a dead runner, in case no server looks after them
    queue_only = opts["queue_only"]
    queued = service.trigger(
        name,
        actor=local_actor(),
        params=_pairs(opts["param"], "--param"),
        reason=opts["reason"],
    )
    done = None if queue_only else run_inline(service, queued)
    final = done or service.get_run(queued.id)
    if opts["as_json"]:
        echo_json(final.to_dict())
    elif done is None:
        click.echo(
            f"pipeline run {queued.id} queued"
            + ("" if queue_only else " (the pipeline's concurrency limit is reached)")
            + f"; remediation {queued.remediation_id}"
        )
    else:
        _print_outcome(final)
    sys.exit(_exit_code(final))


def _print_outcome(run: PipelineRun) -> None:
    click.echo(f"pipeline run {run.id}: {run.status.value.upper()} (attempt {run.attempt})")
    if run.tracked_run_id:
        click.echo(f"tracked run: {run.tracked_run_id} (logs: runs:/{run.tracked_run_id}/logs)")
    if run.status == RunState.FAILED:
        click.echo(f"error [{run.error_code}]: {run.error}")
        if run.traceback:
            click.echo(run.traceback.rstrip())
    decision = run.result.get("decision") if run.result else None
    if decision:
        verdict = "ACCEPTED" if decision.get("accepted") else "REJECTED"
        click.echo(f"version {run.model_version}: {verdict}")
        for reason in decision.get("reasons") or ():
            mark = "ok  " if reason.get("passed") else "FAIL"
            click.echo(f"  {mark} {reason.get('message')}")
    click.echo(
        f"remediation: {run.remediation_id} ('moorline remediation show {run.remediation_id}')"
    )


def _exit_code(run: PipelineRun) -> int:
    if run.status == RunState.FAILED:
        try:
            return EXIT_CODES.get(ErrorCode(run.error_code or "INTERNAL_ERROR"), 4)
        except ValueError:
            return 4
    decision = run.result.get("decision") if run.result else None
    if decision is not None and not decision.get("accepted"):
        return EXIT_REJECTED
    return 0
