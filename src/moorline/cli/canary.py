"""``moorline canary``: start, watch and abort managed canaries.

A managed canary sends a share of a deployment's traffic to a challenger
version and is judged by a canary policy (traffic, error rate, latency,
realized or estimated performance, prediction drift, duration); the server's
canary loop promotes it (the challenger takes all traffic and the
``champion`` alias) or rolls it back by itself. These commands need the
database (``--store sqlite:///...`` or ``postgresql+psycopg://...``); against
a server, use ``/api/v1/deployments/{name}/canary``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from moorline.cli._governance import local_actor
from moorline.cli._records import echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.errors import InvalidArgument, NotFound
from moorline.serving.canaries import CanaryRecord, CanaryStatus
from moorline.serving.canary import CanaryAnalysis, CanaryPolicy

_STATUS_STYLE = {
    CanaryStatus.RUNNING: "cyan",
    CanaryStatus.PROMOTED: "green",
    CanaryStatus.ROLLED_BACK: "red",
    CanaryStatus.ABORTED: "yellow",
}
_RULE_STYLE = {"pass": "green", "fail": "bold red", "wait": "yellow", "skip": "dim"}


@click.group("canary")
def canary() -> None:
    """Managed canaries: a challenger on a share of traffic, judged and ended by moorline.

    \b
    Examples:
        moorline canary start demand-prod --challenger 4 --weight 10 --metric mae
        moorline canary status demand-prod
        moorline canary abort demand-prod --reason "wrong training window"
    """


def _policy_from(text: str | None) -> dict[str, Any]:
    """``--policy``: a JSON object, or ``@file.json``."""
    if not text:
        return {}
    raw = text
    if text.startswith("@"):
        try:
            raw = Path(text[1:]).read_text()
        except OSError as exc:
            raise InvalidArgument(
                f"Cannot read --policy file {text[1:]!r}: {exc.strerror}"
            ) from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"--policy is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("--policy is a JSON object of canary policy thresholds")
    return data


@canary.command("start")
@click.argument("deployment")
@click.option("--challenger", required=True, type=int, help="The version to try.")
@click.option(
    "--weight",
    type=float,
    default=10.0,
    show_default=True,
    help="Percent of the traffic the challenger gets.",
)
@click.option("--min-requests", type=int, help="Requests each side needs before a verdict.")
@click.option("--min-duration", type=float, help="Seconds before a promotion may happen.")
@click.option("--max-duration", type=float, help="Seconds after which the deadline decides.")
@click.option(
    "--on-deadline",
    type=click.Choice(["rollback", "promote"]),
    help="What a canary still undecided at its deadline becomes.",
)
@click.option("--metric", help="Judge realized (or estimated) performance on this metric.")
@click.option("--max-metric-regression", type=float, help="How much worse it may be (a fraction).")
@click.option("--min-labelled", type=int, help="Labelled rows each side needs for the metric.")
@click.option("--max-error-rate-increase", type=float, help="Extra share of failed requests.")
@click.option("--max-p99-latency-ratio", type=float, help="Challenger p99 / champion p99.")
@click.option(
    "--on-drift",
    type=click.Choice(["note", "hold", "rollback"]),
    help="What drift between the two sides' predictions does.",
)
@click.option("--alias", help="The alias moved to the challenger on promotion (default champion).")
@click.option("--no-alias", is_flag=True, help="Move no alias on promotion.")
@click.option("--policy", "policy_text", help="Any other threshold: a JSON object or @file.json.")
@click.option("--reason", default="", help="Why; kept in the audit log.")
@click.option("--json", "as_json", is_flag=True, help="Print the canary as JSON.")
@pass_state
@handle_errors
def start(state: CliState, /, deployment: str, **opts: Any) -> None:
    """Start a canary of version --challenger on DEPLOYMENT (serving one version).

    Options not given take the policy's defaults (see docs/serving.md); the
    server's canary loop judges it from then on.
    """
    if opts["alias"] is not None and opts["no_alias"]:
        raise click.UsageError("give --alias or --no-alias, not both")
    given = {
        "min_requests": opts["min_requests"],
        "min_duration_s": opts["min_duration"],
        "max_duration_s": opts["max_duration"],
        "on_deadline": opts["on_deadline"],
        "metric": opts["metric"],
        "max_metric_regression": opts["max_metric_regression"],
        "min_labelled": opts["min_labelled"],
        "max_error_rate_increase": opts["max_error_rate_increase"],
        "max_p99_latency_ratio": opts["max_p99_latency_ratio"],
        "on_drift": opts["on_drift"],
        "alias": opts["alias"],
    }
    values = {
        **_policy_from(opts["policy_text"]),
        **{k: v for k, v in given.items() if v is not None},
    }
    if opts["no_alias"]:
        values["alias"] = None
    controller = state.services().canaries
    spec = controller.start_canary(
        deployment,
        opts["challenger"],
        opts["weight"],
        CanaryPolicy.from_dict(values),
        reason=opts["reason"],
        actor=local_actor().name,
    )
    record = controller.get(spec.id)
    if opts["as_json"]:
        echo_json(record.to_dict())
        return
    console.print(
        f"canary [bold]{spec.id}[/] started on [bold]{spec.deployment}[/]: "
        f"v{spec.challenger} at {spec.weight:g}% against champion v{spec.champion} "
        f"(revision {spec.revision}, deadline {fmt_time(spec.deadline_at)})",
        highlight=False,
    )


@canary.command("status")
@click.argument("deployment")
@click.option("--json", "as_json", is_flag=True, help="Print the canary and analysis as JSON.")
@pass_state
@handle_errors
def status(state: CliState, deployment: str, as_json: bool) -> None:
    """Show DEPLOYMENT's newest canary; while it runs, its analysis now with every reason."""
    controller = state.services().canaries
    record = controller.latest(deployment)
    running = controller.current(deployment)
    analysis = controller.analyze(deployment) if running is not None else None
    if as_json:
        echo_json(
            {
                "deployment": deployment,
                "active": running is not None,
                "canary": None if record is None else record.to_dict(),
                "analysis": None if analysis is None else analysis.to_dict(),
            }
        )
        return
    if record is None:
        console.print(f"deployment {deployment} has had no canary started by moorline")
        return
    _render(record, analysis if running is not None and running.id == record.id else None)


def _render(record: CanaryRecord, analysis: CanaryAnalysis | None) -> None:
    spec = record.spec
    head = Text()
    head.append(f"canary {spec.id}  ", style="bold")
    head.append(record.status.value.upper(), style=_STATUS_STYLE[record.status])
    console.print(head)
    facts = [
        f"deployment {spec.deployment} (model {spec.model}): v{spec.challenger} at "
        f"{spec.weight:g}% against champion v{spec.champion}",
        f"started {fmt_time(spec.started_at)} by {spec.started_by or '?'} at revision "
        f"{spec.revision}; deadline {fmt_time(spec.deadline_at)}",
    ]
    if spec.remediation:
        facts.append(f"remediation {spec.remediation}")
    if record.ended_at is not None:
        facts.append(f"ended {fmt_time(record.ended_at)} (revision {record.ended_revision})")
    if record.reason:
        facts.append(record.reason)
    for fact in facts:
        console.print(f"  {fact}", highlight=False, markup=False)
    verdict = analysis.to_dict() if analysis is not None else record.last_verdict
    if not verdict:
        return
    console.print()
    when = "now" if analysis is not None else f"at {fmt_time(verdict.get('at'))}"
    console.print(
        f"verdict {when}: [bold]{str(verdict.get('verdict', '')).upper()}[/]", highlight=False
    )
    table = Table("rule", "status", "reason")
    for rule in verdict.get("rules") or []:
        status_text = str(rule.get("status"))
        table.add_row(
            str(rule.get("rule")),
            Text(status_text, style=_RULE_STYLE.get(status_text, "")),
            str(rule.get("reason")),
        )
    print_table(table)


@canary.command("abort")
@click.argument("deployment")
@click.option("--reason", required=True, help="Why; kept in the audit log.")
@click.option("--json", "as_json", is_flag=True, help="Print the ended canary as JSON.")
@pass_state
@handle_errors
def abort(state: CliState, deployment: str, reason: str, as_json: bool) -> None:
    """End DEPLOYMENT's running canary now: the champion takes all traffic again."""
    controller = state.services().canaries
    running = controller.current(deployment)
    if running is None:
        raise NotFound(f"Deployment {deployment!r} runs no canary started by moorline")
    updated = controller.abort(deployment, reason=reason, actor=local_actor().name)
    record = controller.get(running.id)
    if as_json:
        echo_json(record.to_dict())
        return
    console.print(
        f"canary [bold]{record.id}[/] aborted: [bold]{updated.name}[/] serves "
        f"{updated.policy.describe()} (revision {updated.revision})",
        highlight=False,
    )


@canary.command("list")
@click.option("--deployment", help="Only this deployment's canaries.")
@click.option("--status", "status_", type=click.Choice([s.value for s in CanaryStatus]))
@click.option("--max-results", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def list_(
    state: CliState, deployment: str | None, status_: str | None, max_results: int, as_json: bool
) -> None:
    """List managed canaries, newest first."""
    records = state.services().canaries.list_canaries(
        deployment=deployment, status=status_, limit=max_results
    )
    if as_json:
        echo_json([r.to_dict() for r in records])
        return
    table = Table("id", "deployment", "status", "split", "verdict", "started", "ended")
    for r in records:
        verdict = str((r.last_verdict or {}).get("verdict") or "")
        table.add_row(
            r.id,
            r.deployment,
            Text(r.status.value, style=_STATUS_STYLE[r.status]),
            f"v{r.spec.champion} / v{r.spec.challenger} {r.spec.weight:g}%",
            verdict,
            fmt_time(r.spec.started_at),
            fmt_time(r.ended_at),
        )
    print_table(table)
