"""``moorline monitor``: monitors of registered models, on demand or on a schedule."""

from __future__ import annotations

import math
import secrets
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import click
from rich.table import Table

from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.errors import InvalidArgument
from moorline.monitoring.alerts import AlertRule, AlertSeverity
from moorline.monitoring.channels import (
    Channel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
)
from moorline.monitoring.monitors import (
    DatasetSource,
    DriftCheck,
    FileSource,
    Monitor,
    MonitorResult,
    MonitorStatus,
    PerformanceCheck,
    Source,
    SqlSource,
)

#: ``monitor run`` exit codes by result status.
EXIT_BY_STATUS = {MonitorStatus.OK: 0, MonitorStatus.ALERTING: 1, MonitorStatus.ERROR: 2}


@click.group("monitor")
def monitor() -> None:
    """Monitors: drift, data quality and performance checks on a model's live data.

    \b
    A monitor compares a current window (the latest version of a dataset, a
    CSV/Parquet file, or a SQL query) with a reference (a logged dataset
    version or a file), evaluates its alert rules on the result and notifies
    its channels. 'moorline server' runs monitors that have a --schedule;
    'moorline monitor run NAME' runs one now. With --store http(s)://SERVER
    the server runs them: file paths and SQL queries are the server's.
    """


def _split_dataset(spec: str) -> DatasetSource:
    name, _, digest = spec.partition("@")
    if not name:
        raise InvalidArgument(f"Invalid dataset {spec!r}: expected NAME or NAME@DIGEST")
    return DatasetSource(name=name, digest=digest or None)


def _rule(spec: str, monitor_name: str, severity: str, cooldown: float) -> AlertRule:
    name, sep, condition = spec.partition(":")
    if not sep or not name.strip() or not condition.strip():
        raise InvalidArgument(
            f"Invalid --alert {spec!r}: expected 'NAME: CONDITION', "
            "e.g. 'drift: drift_share >= 0.5'"
        )
    return AlertRule(
        name=name.strip(),
        monitor=monitor_name,
        condition=condition.strip(),
        severity=AlertSeverity(severity),
        cooldown_seconds=cooldown,
    )


_PERFORMANCE_KEYS = ("label", "prediction", "task", "tolerance")


def performance_check(spec: str, baselines: tuple[str, ...] = ()) -> PerformanceCheck:
    """``label=COL,prediction=COL[,task=classification|regression][,tolerance=X]``
    and ``metric=value`` baselines, as a performance check.

    >>> check = performance_check("label=y,prediction=p,tolerance=0.1", ("mae=0.25",))
    >>> check.task, dict(check.baseline), check.tolerance
    ('regression', {'mae': 0.25}, 0.1)
    """
    values: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _PERFORMANCE_KEYS or not value.strip():
            raise InvalidArgument(
                f"Invalid --performance {spec!r}: expected comma-separated KEY=VALUE with "
                f"keys {', '.join(_PERFORMANCE_KEYS)}, e.g. "
                "'label=demand,prediction=predicted,task=regression,tolerance=0.05'"
            )
        if key in values:
            raise InvalidArgument(f"Invalid --performance {spec!r}: {key} is given twice")
        values[key] = value.strip()
    if "label" not in values or "prediction" not in values:
        raise InvalidArgument(f"Invalid --performance {spec!r}: label= and prediction= are needed")
    return PerformanceCheck(
        label=values["label"],
        prediction=values["prediction"],
        task=values.get("task", "regression"),
        tolerance=_number("--performance tolerance", values.get("tolerance", "0")),
        baseline=dict(_baseline(b) for b in baselines),
    )


def _baseline(spec: str) -> tuple[str, float]:
    metric, sep, value = spec.partition("=")
    if not sep or not metric.strip():
        raise InvalidArgument(f"Invalid --baseline {spec!r}: expected METRIC=VALUE, e.g. mae=0.25")
    return metric.strip(), _number(f"--baseline {metric.strip()}", value)


def _number(what: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InvalidArgument(f"{what} must be finite, got {text!r}")
    return value


def _smtp(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidArgument(f"Invalid --smtp {spec!r}: expected HOST:PORT")
    return host, int(port)


@monitor.command("create")
@click.argument("name")
@click.option("--model", required=True, help="The registered model this monitor watches.")
@click.option("--reference-dataset", help="Reference: a logged dataset NAME[@DIGEST] (latest).")
@click.option("--reference-file", type=click.Path(dir_okay=False), help="Reference: a file.")
@click.option("--current-dataset", help="Current window: the latest version of dataset NAME.")
@click.option("--current-file", type=click.Path(dir_okay=False), help="Current window: a file.")
@click.option("--current-sql", help="Current window: a SQL query (with --current-uri).")
@click.option("--current-uri", help="SQLAlchemy URL the --current-sql query runs on.")
@click.option("--schedule", help="Cron expression (UTC) the server runs it on, e.g. '0 * * * *'.")
@click.option(
    "--preset", type=click.Choice(["default", "evidently"]), default="default", show_default=True
)
@click.option("--alert", "alerts", multiple=True, help="Alert rule 'NAME: CONDITION' (repeatable).")
@click.option(
    "--severity",
    type=click.Choice([s.value for s in AlertSeverity]),
    default="warning",
    show_default=True,
    help="Severity of the --alert rules.",
)
@click.option("--cooldown", type=float, default=900.0, show_default=True, help="Seconds.")
@click.option("--webhook", help="Signed JSON webhook URL.")
@click.option("--webhook-secret", help="Webhook signing secret [default: drawn at random].")
@click.option("--slack", help="Slack incoming-webhook URL.")
@click.option("--pagerduty", help="PagerDuty Events API v2 routing key.")
@click.option("--email", "email_to", multiple=True, help="Email recipient (with --smtp).")
@click.option("--smtp", help="SMTP server HOST:PORT for --email.")
@click.option("--email-from", default="moorline@localhost", show_default=True)
@click.option(
    "--performance",
    metavar="SPEC",
    help="Performance check 'label=COL,prediction=COL[,task=classification|regression]"
    "[,tolerance=X]' on the current window's labelled rows.",
)
@click.option(
    "--baseline",
    "baselines",
    multiple=True,
    metavar="METRIC=VALUE",
    help="Baseline of a --performance metric, e.g. mae=0.25 (repeatable); a metric worse "
    "than it by more than the tolerance is 'degraded'.",
)
@click.option("--description", default="", help="What the monitor is for.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def create(state: CliState, /, name: str, **opts: Any) -> None:
    """Create monitor NAME on a registered model."""
    services = state.services()
    reference: DatasetSource | FileSource
    if bool(opts["reference_dataset"]) == bool(opts["reference_file"]):
        raise InvalidArgument("Give exactly one of --reference-dataset and --reference-file")
    if opts["reference_dataset"]:
        ref = _split_dataset(opts["reference_dataset"])
        # Pin the version: the reference must not move when new versions are logged.
        version = services.datasets.get_version(ref.name, ref.digest)
        reference = DatasetSource(name=ref.name, digest=version.dataset.digest)
    else:
        reference = FileSource(path=str(opts["reference_file"]))
    current_opts = [opts["current_dataset"], opts["current_file"], opts["current_sql"]]
    if sum(bool(o) for o in current_opts) != 1:
        raise InvalidArgument(
            "Give exactly one of --current-dataset, --current-file and --current-sql"
        )
    current: Source
    if opts["current_dataset"]:
        current = DatasetSource(name=opts["current_dataset"])
    elif opts["current_file"]:
        current = FileSource(path=str(opts["current_file"]))
    else:
        if not opts["current_uri"]:
            raise InvalidArgument("--current-sql needs --current-uri (where to run the query)")
        current = SqlSource(query=opts["current_sql"], uri=opts["current_uri"])
    if opts["baselines"] and not opts["performance"]:
        raise InvalidArgument("--baseline needs --performance (which columns to measure)")
    performance = (
        performance_check(opts["performance"], opts["baselines"]) if opts["performance"] else None
    )
    rules = tuple(_rule(a, name, opts["severity"], opts["cooldown"]) for a in opts["alerts"])
    channels: list[Channel] = []
    secret: str | None = None
    if opts["webhook"]:
        secret = opts["webhook_secret"] or secrets.token_urlsafe(24)
        channels.append(WebhookChannel(name="webhook", url=opts["webhook"], secret=secret))
    if opts["slack"]:
        channels.append(SlackChannel(name="slack", webhook_url=opts["slack"]))
    if opts["pagerduty"]:
        channels.append(PagerDutyChannel(name="pagerduty", routing_key=opts["pagerduty"]))
    if opts["email_to"]:
        if not opts["smtp"]:
            raise InvalidArgument("--email needs --smtp HOST:PORT")
        host, port = _smtp(opts["smtp"])
        channels.append(
            EmailChannel(
                name="email",
                host=host,
                port=port,
                sender=opts["email_from"],
                recipients=tuple(opts["email_to"]),
            )
        )
    created = services.monitors.create(
        Monitor(
            name=name,
            model=opts["model"],
            reference=reference,
            current=current,
            schedule=opts["schedule"],
            drift=DriftCheck(preset=opts["preset"]),
            performance=performance,
            rules=rules,
            channels=tuple(channels),
            description=opts["description"],
        )
    )
    if opts["as_json"]:
        echo_json(created.to_dict(redact=True))
    else:
        console.print(
            f"monitor {created.name} created for model {created.model}"
            + (f", schedule {created.schedule}" if created.schedule else ", on demand"),
            highlight=False,
            markup=False,
        )
    if secret is not None and not opts["webhook_secret"]:
        click.echo(f"webhook signing secret (store it now, it is not shown again): {secret}")


@monitor.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def list_(state: CliState, as_json: bool) -> None:
    """List monitors."""
    monitors = state.services().monitors.list_monitors()
    if as_json:
        echo_json([m.to_dict(redact=True) for m in monitors])
        return
    table = Table("name", "model", "current", "schedule", "checks", "rules", "channels")
    for m in monitors:
        checks = [
            check
            for check, on in (
                ("drift", m.drift is not None),
                ("quality", m.quality is not None),
                ("performance", m.performance is not None),
            )
            if on
        ]
        table.add_row(
            m.name,
            cell(m.model),
            cell(m.current.describe()),
            m.schedule or "-",
            ", ".join(checks),
            str(len(m.rules)),
            cell(", ".join(c.channel_type for c in m.channels) or "-"),
        )
    print_table(table)


@monitor.command("show")
@click.argument("name")
@pass_state
@handle_errors
def show(state: CliState, name: str) -> None:
    """Show monitor NAME's configuration (credentials hidden) as JSON."""
    echo_json(state.services().monitors.get(name).to_dict(redact=True))


@monitor.command("delete")
@click.argument("name")
@pass_state
@handle_errors
def delete(state: CliState, name: str) -> None:
    """Delete monitor NAME with its results and alert states."""
    state.services().monitors.delete(name)
    console.print(f"monitor {name} deleted", highlight=False, markup=False)


def summary_lines(result: MonitorResult) -> list[str]:
    """A result in a few lines: status, window, drift, quality, alerts."""
    window = result.window
    lines = [
        f"monitor {result.monitor}: {result.status.value.upper()} at {fmt_time(result.run_at)}",
        f"window: {window.get('source')} ({window.get('rows', '?')} rows)",
    ]
    drift = result.drift
    if drift:
        drifted = [c["column"] for c in drift.get("columns", []) if c.get("drift_detected")]
        dataset = drift.get("dataset") or {}
        lines.append(
            f"drift: {dataset.get('number_of_drifted_columns', len(drifted))} of "
            f"{dataset.get('number_of_columns', '?')} columns drifted"
            + (f" ({', '.join(drifted)})" if drifted else "")
        )
    quality = result.quality
    if quality:
        issues = quality.get("issues", [])
        lines.append(
            f"quality: {len(issues)} issue(s), worst {quality.get('max_severity') or 'none'}"
        )
        lines.extend(f"  - [{i['severity']}] {i['message']}" for i in issues[:10])
    if result.performance:
        lines.extend(_performance_lines(result.performance))
    if result.alerts:
        lines.append("alerting: " + ", ".join(result.alerts))
    for note in result.notifications:
        outcome = "" if "ok" not in note else (" ok" if note["ok"] else f" FAILED {note['error']}")
        lines.append(f"sent {note['event']} {note['dedup_key']}{outcome}")
    if result.error:
        lines.append(f"error: {result.error}")
    return lines


def _metrics(performance: Mapping[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in performance.items()
        if k != "n_labelled"
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
    }


def _performance_lines(performance: Mapping[str, Any]) -> list[str]:
    metrics = _metrics(performance)
    head = "performance: " + (", ".join(f"{k}={v:.4g}" for k, v in metrics.items()) or "-")
    if "n_labelled" in performance:
        head += f" on {performance['n_labelled']} labelled rows"
    if "degraded" in performance:
        head += " (DEGRADED)" if performance["degraded"] else " (within baseline)"
    lines = [head]
    for m in (performance.get("baseline") or {}).get("metrics") or ():
        value = m.get("value")
        shown = "-" if value is None else f"{value:.4g}"
        lines.append(
            f"  - {m.get('metric')}: {shown} vs baseline {m.get('baseline'):.4g} "
            f"(tolerance {m.get('tolerance'):.4g}, {m.get('direction')} is better): "
            f"{m.get('status')}"
        )
    return lines


def _performance_cell(performance: Mapping[str, Any] | None) -> str:
    if not performance:
        return "-"
    metrics = _metrics(performance)
    text = ", ".join(f"{k}={v:.3g}" for k, v in list(metrics.items())[:2]) or "-"
    if performance.get("degraded"):
        text += " degraded"
    return text


@monitor.command("run")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
@handle_errors
def run(state: CliState, name: str, as_json: bool) -> None:
    """Run monitor NAME now. Exit code: 0 ok, 1 alerting, 2 error."""
    result = state.services().monitors.run(name)
    if as_json:
        echo_json(result.to_dict())
    else:
        for line in summary_lines(result):
            click.echo(line)
    sys.exit(EXIT_BY_STATUS[result.status])


@monitor.command("results")
@click.argument("name")
@click.option("--max-results", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def results(state: CliState, name: str, max_results: int, as_json: bool) -> None:
    """Results of monitor NAME, newest first."""
    page = state.services().monitors.results(name, max_results=max_results)
    if as_json:
        echo_json([r.to_dict() for r in page.items])
        return
    table = Table(
        "id", "run at", "status", "rows", "drift share", "quality", "performance", "alerts"
    )
    for r in page.items:
        drift = r.drift or {}
        share = (drift.get("dataset") or {}).get("share")
        table.add_row(
            str(r.id),
            fmt_time(r.run_at),
            r.status.value,
            str(r.window.get("rows", "-")),
            "-" if share is None else f"{share:.2f}",
            str((r.quality or {}).get("max_severity") or "-"),
            cell(_performance_cell(r.performance)),
            cell(", ".join(r.alerts) or "-"),
        )
    print_table(table)


@monitor.command("result")
@click.argument("result_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@pass_state
@handle_errors
def result(state: CliState, result_id: int, as_json: bool) -> None:
    """Show result ID (the id column of 'moorline monitor results')."""
    found = state.services().monitors.result(result_id)
    if as_json:
        echo_json(found.to_dict())
        return
    click.echo(f"result {found.id}")
    for line in summary_lines(found):
        click.echo(line)


@monitor.command("update")
@click.argument("name")
@click.option("--schedule", help="New cron expression (UTC).")
@click.option("--on-demand", is_flag=True, help="Remove the schedule: run only when asked.")
@click.option("--performance", metavar="SPEC", help="Set the performance check (as in create).")
@click.option("--baseline", "baselines", multiple=True, metavar="METRIC=VALUE")
@click.option("--no-performance", is_flag=True, help="Remove the performance check.")
@click.option("--alert", "alerts", multiple=True, help="Add or replace rule 'NAME: CONDITION'.")
@click.option("--remove-alert", "removed", multiple=True, metavar="NAME", help="Remove a rule.")
@click.option(
    "--severity",
    type=click.Choice([s.value for s in AlertSeverity]),
    default="warning",
    show_default=True,
    help="Severity of the --alert rules.",
)
@click.option("--cooldown", type=float, default=900.0, show_default=True, help="Seconds.")
@click.option("--description", help="New description.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def update(state: CliState, /, name: str, **opts: Any) -> None:
    """Change monitor NAME: its schedule, performance check, alert rules or description.

    Everything not named keeps its value (channel credentials included).
    """
    if opts["schedule"] and opts["on_demand"]:
        raise InvalidArgument("Give --schedule or --on-demand, not both")
    if opts["performance"] and opts["no_performance"]:
        raise InvalidArgument("Give --performance or --no-performance, not both")
    service = state.services().monitors
    current = service.get(name)
    changes: dict[str, Any] = {}
    if opts["schedule"] or opts["on_demand"]:
        changes["schedule"] = None if opts["on_demand"] else opts["schedule"]
    if opts["performance"]:
        changes["performance"] = performance_check(opts["performance"], opts["baselines"])
    elif opts["baselines"]:
        if current.performance is None:
            raise InvalidArgument("--baseline needs a performance check: give --performance")
        extra = dict(_baseline(b) for b in opts["baselines"])
        changes["performance"] = replace(
            current.performance, baseline={**current.performance.baseline, **extra}
        )
    elif opts["no_performance"]:
        changes["performance"] = None
    if opts["alerts"] or opts["removed"]:
        added = [_rule(a, name, opts["severity"], opts["cooldown"]) for a in opts["alerts"]]
        unknown = set(opts["removed"]) - {r.name for r in current.rules}
        if unknown:
            raise InvalidArgument(f"Monitor {name!r} has no alert rule {sorted(unknown)[0]!r}")
        dropped = set(opts["removed"]) | {r.name for r in added}
        changes["rules"] = (*(r for r in current.rules if r.name not in dropped), *added)
    if opts["description"] is not None:
        changes["description"] = opts["description"]
    if not changes:
        raise InvalidArgument("Nothing to change: see 'moorline monitor update --help'")
    updated = service.update(replace(current, **changes))
    if opts["as_json"]:
        echo_json(updated.to_dict(redact=True))
    else:
        console.print(f"monitor {updated.name} updated", highlight=False, markup=False)
