"""``moorline approvals``: ask for, grant, reject and list approvals of alias moves."""

from __future__ import annotations

import click
from rich.table import Table

from moorline.cli._governance import approval_json, governance, local_actor
from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.registry.models import Approval, ApprovalState


@click.group()
def approvals() -> None:
    """Approvals of protected alias moves (a high-risk model's champion needs one).

    \b
    The requester asks, an approver other than the requester grants, then
    the requester (or the approver) moves the alias; one approval, one move.

    \b
    On a local store you act as MOORLINE_USER (default: your OS user name)
    with the admin role: whoever opens the database directly holds every
    right over it anyway. Against a server, your API token says who you are.
    """


@approvals.command("request")
@click.argument("model")
@click.argument("alias")
@click.argument("version")
@click.option("--reason", required=True, help="Why the alias should move (audited).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def request(
    state: CliState, *, model: str, alias: str, version: str, reason: str, as_json: bool
) -> None:
    """Ask for approval to move ALIAS of MODEL to VERSION."""
    approval = governance(state.services()).request_approval(
        model, alias, version, actor=local_actor(), reason=reason
    )
    if as_json:
        echo_json(approval_json(approval))
        return
    console.print(
        f"approval {approval.approval_id} requested: {model}@{alias} -> version "
        f"{approval.version}. An approver other than {approval.requested_by} grants it with "
        f"'moorline approvals grant {approval.approval_id}'.",
        highlight=False,
        markup=False,
    )


@approvals.command("list")
@click.option(
    "--state",
    "state_",
    type=click.Choice([s.value for s in ApprovalState]),
    help="Only approvals in this state.",
)
@click.option("--model", help="Only approvals of this registered model.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def list_(
    state: CliState, state_: str | None, model: str | None, limit: int, as_json: bool
) -> None:
    """List approvals, newest first."""
    items = governance(state.services()).list_approvals(state=state_, name=model, limit=limit)
    if as_json:
        echo_json([approval_json(a) for a in items])
        return
    table = Table(
        "id",
        "model",
        "alias",
        "version",
        "state",
        "requested by",
        "requested",
        "decided by",
        "reason",
    )
    for a in items:
        table.add_row(
            a.approval_id,
            cell(a.name),
            cell(a.alias),
            str(a.version),
            a.state.value,
            cell(a.requested_by),
            fmt_time(a.requested_at),
            cell(a.decided_by),
            cell(a.reason),
        )
    print_table(table)


@approvals.command("show")
@click.argument("approval_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def show(state: CliState, approval_id: str, as_json: bool) -> None:
    """Show one approval."""
    approval = governance(state.services()).get_approval(approval_id)
    if as_json:
        echo_json(approval_json(approval))
        return
    _print(approval)


@approvals.command("grant")
@click.argument("approval_id")
@click.option("--reason", default="", help="Why (audited).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def grant(state: CliState, approval_id: str, reason: str, as_json: bool) -> None:
    """Grant APPROVAL_ID (approvers and admins; never the requester)."""
    approval = governance(state.services()).grant(approval_id, actor=local_actor(), reason=reason)
    if as_json:
        echo_json(approval_json(approval))
        return
    console.print(
        f"approval {approval.approval_id} granted: {approval.requested_by} (or you) may now "
        f"move {approval.name}@{approval.alias} to version {approval.version}, once.",
        highlight=False,
        markup=False,
    )


@approvals.command("reject")
@click.argument("approval_id")
@click.option("--reason", required=True, help="Why (audited, shown to the requester).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def reject(state: CliState, approval_id: str, reason: str, as_json: bool) -> None:
    """Reject APPROVAL_ID (approvers and admins; never the requester)."""
    approval = governance(state.services()).reject(approval_id, actor=local_actor(), reason=reason)
    if as_json:
        echo_json(approval_json(approval))
        return
    console.print(f"approval {approval.approval_id} rejected", highlight=False, markup=False)


def _print(a: Approval) -> None:
    lines = [
        f"id:           {a.approval_id}",
        f"move:         {a.name}@{a.alias} -> version {a.version}",
        f"state:        {a.state.value}",
        f"requested:    {fmt_time(a.requested_at)} by {a.requested_by}",
        f"reason:       {a.reason}",
    ]
    if a.decided_by:
        lines.append(f"decided:      {fmt_time(a.decided_at)} by {a.decided_by}")
        if a.decision_reason:
            lines.append(f"because:      {a.decision_reason}")
    for line in lines:
        console.print(line, highlight=False, markup=False)
