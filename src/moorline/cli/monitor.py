"""``moorline monitor``: monitors of registered models, on demand or on a schedule."""

from __future__ import annotations

import math
import secrets
import sys
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
    'moorline monitor run NAME' runs one now.
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
            rules=rules,
            channels=tuple(channels),
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
    table = Table("name", "model", "current", "schedule", "rules", "channels")
    for m in monitors:
        table.add_row(
            m.name,
            cell(m.model),
            cell(m.current.describe()),
            m.schedule or "-",
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
        metrics = {
            k: v
            for k, v in result.performance.items()
            if isinstance(v, int | float) and math.isfinite(v)
        }
        lines.append("performance: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    if result.alerts:
        lines.append("alerting: " + ", ".join(result.alerts))
    for note in result.notifications:
        outcome = "" if "ok" not in note else (" ok" if note["ok"] else f" FAILED {note['error']}")
        lines.append(f"sent {note['event']} {note['dedup_key']}{outcome}")
    if result.error:
        lines.append(f"error: {result.error}")
    return lines


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
    table = Table("run at", "status", "rows", "drift share", "quality", "alerts")
    for r in page.items:
        drift = r.drift or {}
        share = (drift.get("dataset") or {}).get("share")
        table.add_row(
            fmt_time(r.run_at),
            r.status.value,
            str(r.window.get("rows", "-")),
            "-" if share is None else f"{share:.2f}",
            str((r.quality or {}).get("max_severity") or "-"),
            cell(", ".join(r.alerts) or "-"),
        )
    print_table(table)
