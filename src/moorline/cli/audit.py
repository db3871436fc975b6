"""``moorline audit``: read the hash-chained audit log and verify it."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from rich.table import Table

from moorline.cli._governance import audit, audit_json, compact
from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, err_console, handle_errors, pass_state
from moorline.errors import InvalidArgument

#: Exit code of ``audit verify`` when the chain is broken (a negative answer).
EXIT_BROKEN = 1


def parse_time(text: str | None, option: str) -> int | None:
    """``2024-05-01``, ``2024-05-01T12:30`` (local time unless an offset is given) or
    milliseconds since the epoch -> milliseconds since the epoch.

    >>> parse_time("1700000000000", "--since")
    1700000000000
    """
    if text is None or not text.strip():
        return None
    raw = text.strip()
    if raw.isdigit():
        return int(raw)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidArgument(
            f"{option} {raw!r} is not a time: use 2024-05-01, 2024-05-01T12:30[:00][+02:00] "
            "or milliseconds since the epoch"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1000)


@click.group("audit")
def audit_group() -> None:
    """The audit log: every registry change, who made it, when and why."""


@audit_group.command("list")
@click.option("--actor", help="Only entries by this user or token name.")
@click.option("--action", help="Only this action, e.g. alias.set or approval.grant.")
@click.option(
    "--target",
    help="Only targets starting with this, e.g. models:/churn (the model, versions, aliases).",
)
@click.option("--since", help="Only entries at or after this time (2024-05-01[T12:30] or ms).")
@click.option("--until", help="Only entries at or before this time.")
@click.option(
    "--after", "after_seq", type=click.IntRange(min=0), default=0, help="Page on after this seq."
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def list_(
    state: CliState,
    *,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: str | None,
    until: str | None,
    after_seq: int,
    limit: int,
    as_json: bool,
) -> None:
    """List audit entries, oldest first."""
    entries = audit(state.services()).list_entries(
        actor=actor,
        action=action,
        target_prefix=target,
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
        after_seq=after_seq,
        limit=limit,
    )
    if as_json:
        echo_json([audit_json(e) for e in entries])
        return
    table = Table("seq", "time", "actor", "action", "target", "reason", "details")
    for e in entries:
        table.add_row(
            str(e.seq),
            fmt_time(e.at),
            cell(e.actor),
            cell(e.action),
            cell(e.target),
            cell(e.reason),
            cell(compact(e.details)),
        )
    print_table(table)


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def verify(state: CliState, as_json: bool) -> None:
    """Check the hash chain: exit 0 when intact, 1 naming the first broken entry.

    An entry edited or deleted after it was written, or entries removed from
    the end of the log, break the chain from that entry on.
    """
    result = audit(state.services()).verify()
    if as_json:
        echo_json(
            {
                "ok": result.ok,
                "checked": result.checked,
                "first_broken_seq": result.first_broken_seq,
                "problem": result.problem or None,
            }
        )
    elif result.ok:
        console.print(f"audit log intact: {result.checked} entries verified")
    else:
        err_console.print(
            f"[bold red]audit log broken[/] at entry {result.first_broken_seq}: "
            f"{result.problem} ({result.checked} entries before it verified)",
            highlight=False,
        )
    if not result.ok:
        sys.exit(EXIT_BROKEN)
