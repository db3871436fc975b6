"""``moorline remediation``: the record of each loop, alert to promotion or rollback."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.pipelines.models import Remediation, RemediationStatus, Step, StepStatus

_STYLE = {
    StepStatus.OK: "green",
    StepStatus.STARTED: "cyan",
    StepStatus.PENDING: "yellow",
    StepStatus.FAILED: "bold red",
    StepStatus.SKIPPED: "dim",
    StepStatus.DEDUPLICATED: "magenta",
}
_MARK = {
    StepStatus.OK: "✓",
    StepStatus.STARTED: "▶",
    StepStatus.PENDING: "…",
    StepStatus.FAILED: "✗",
    StepStatus.SKIPPED: "-",
    StepStatus.DEDUPLICATED: "=",
}


@click.group("remediation")
def remediation() -> None:
    """Remediation records: one per loop, from the alert to promotion or rollback.

    \b
    Each record ties together what happened and why: the alert (or other
    trigger) and its data window, the pipeline run and its data, the
    validation gate's reasons, the approval, the canary, and the promotion
    or rollback, every step with its time, status and reason.
    """


@remediation.command("list")
@click.option("--pipeline", help="Only this pipeline's records.")
@click.option("--model", help="Only this registered model's records.")
@click.option("--status", type=click.Choice([s.value for s in RemediationStatus]))
@click.option("--alert", "alert_key", help="Only records started by this alert (its dedup key).")
@click.option("--max-results", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def list_(state: CliState, /, **opts: Any) -> None:
    """List remediation records, newest first."""
    records = state.services().pipelines.list_remediations(
        pipeline=opts["pipeline"],
        model=opts["model"],
        status=opts["status"],
        alert_key=opts["alert_key"],
        limit=opts["max_results"],
    )
    if opts["as_json"]:
        echo_json([r.to_dict() for r in records])
        return
    table = Table("id", "status", "pipeline", "model", "trigger", "versions", "started", "updated")
    for r in records:
        versions = "-"
        if r.challenger_version is not None:
            champion = "none" if r.champion_version is None else f"v{r.champion_version}"
            versions = f"v{r.challenger_version} vs {champion}"
        table.add_row(
            r.id,
            Text(r.status.value, style=_status_style(r.status)),
            cell(r.pipeline),
            cell(r.model),
            cell(r.alert_key or r.trigger_kind.value),
            versions,
            fmt_time(r.created_at),
            fmt_time(r.updated_at),
        )
    print_table(table)


def _status_style(status: RemediationStatus) -> str:
    if status in (
        RemediationStatus.FAILED,
        RemediationStatus.REJECTED,
        RemediationStatus.APPROVAL_REJECTED,
        RemediationStatus.ROLLED_BACK,
    ):
        return "red"
    if status in (RemediationStatus.READY, RemediationStatus.PROMOTED):
        return "green"
    return "yellow"


def _step_lines(step: Step) -> list[str]:
    """Extra lines under a step: the gate's reasons, a failure's traceback tail."""
    details = step.details
    lines: list[str] = []
    for reason in details.get("reasons") or ():
        mark = "✓" if reason.get("passed") else "✗"
        lines.append(f"{mark} {reason.get('message')}")
    traceback = details.get("traceback")
    if isinstance(traceback, str) and traceback.strip():
        lines += traceback.rstrip().splitlines()[-12:]
    return lines


@remediation.command("show")
@click.argument("remediation_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a timeline.")
@pass_state
@handle_errors
def show(state: CliState, remediation_id: str, as_json: bool) -> None:
    """Show remediation REMEDIATION_ID as a timeline."""
    record = state.services().pipelines.get_remediation(remediation_id)
    if as_json:
        echo_json(record.to_dict())
        return
    _render(record)


def _render(record: Remediation) -> None:
    header = Text()
    header.append(f"remediation {record.id}  ", style="bold")
    header.append(record.status.value.upper(), style=_status_style(record.status))
    console.print(header)
    facts = [
        f"pipeline {record.pipeline} -> model {record.model}",
        f"pipeline run {record.pipeline_run_id} ({record.trigger_kind.value} trigger)",
    ]
    if record.alert_key:
        facts.append(f"alert {record.alert_key}")
    if record.challenger_version is not None:
        champion = "none" if record.champion_version is None else f"v{record.champion_version}"
        facts.append(f"challenger v{record.challenger_version}, champion {champion}")
    if record.approval_id:
        facts.append(f"approval {record.approval_id}")
    for fact in facts:
        console.print(f"  {fact}", highlight=False, markup=False)
    console.print()
    first = record.steps[0].at if record.steps else record.created_at
    for step in record.steps:
        line = Text()
        line.append(f"{fmt_time(step.at)}  +{(step.at - first) / 1000:>7.1f}s  ", style="dim")
        line.append(f"{_MARK[step.status]} {step.step:<13}", style=_STYLE[step.status])
        line.append(step.reason)
        console.print(line, highlight=False)
        for extra in _step_lines(step):
            console.print(Text(" " * 33 + extra, style="dim"), highlight=False)
