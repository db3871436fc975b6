"""``moorline consumers``: declare, list and revoke the callers of a model's deployments.

A consumer names a caller, its owner, and the output fields it relies on.
Declaring one issues its API key (shown once). From then on a traffic change
that would route requests to a version without one of those fields is
refused (exit code 3) unless overridden with a reason.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from moorline.cli._governance import local_actor
from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, err_console, handle_errors, pass_state
from moorline.serving.models import DEFAULT_OUTPUT_FIELD, Consumer


def consumer_json(c: Consumer) -> dict[str, Any]:
    return c.to_dict()


@click.group()
def consumers() -> None:
    """Consumers: who calls a model's deployments and which output fields they rely on.

    \b
    Examples:
        moorline consumers declare churn billing --owner team-billing --field prediction
        moorline consumers list churn
        moorline consumers revoke churn billing --reason "service retired"
    """


@consumers.command("declare")
@click.argument("model")
@click.argument("name")
@click.option("--owner", required=True, help="The person or team to ask before a change.")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="FIELD",
    help=f"An output field the consumer relies on (repeatable; default {DEFAULT_OUTPUT_FIELD}).",
)
@click.option("--reason", default="", help="Why; kept in the audit log.")
@click.option("--json", "as_json", is_flag=True, help="Print {consumer, api_key} as JSON.")
@pass_state
@handle_errors
def declare(
    state: CliState,
    *,
    model: str,
    name: str,
    owner: str,
    fields: tuple[str, ...],
    reason: str,
    as_json: bool,
) -> None:
    """Declare consumer NAME of MODEL and print its API key (shown once only)."""
    issued = state.services().deployments.declare_consumer(
        model=model,
        name=name,
        owner=owner,
        fields=list(fields) or [DEFAULT_OUTPUT_FIELD],
        actor=local_actor().name,
        reason=reason,
    )
    if as_json:
        echo_json({"consumer": consumer_json(issued.consumer), "api_key": issued.api_key})
        return
    c = issued.consumer
    console.print(
        f"declared consumer {c.name} of {c.model} (owner {c.owner}; relies on "
        f"{', '.join(c.fields)})",
        highlight=False,
        markup=False,
    )
    click.echo(issued.api_key)
    err_console.print(
        "The key above is shown once (only its hash is stored): hand it to the caller.",
        style="dim",
        highlight=False,
    )


@consumers.command("list")
@click.argument("model", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@pass_state
@handle_errors
def list_(state: CliState, model: str | None, as_json: bool) -> None:
    """List active consumers (of MODEL), by model then name.

    JSON fields per consumer: name, model, owner, fields, key_id, created_at,
    revoked_at (null while active).
    """
    found = state.services().deployments.list_consumers(model=model)
    if as_json:
        echo_json([consumer_json(c) for c in found])
        return
    if not found:
        console.print("no consumers declared", style="dim")
        return
    table = Table("model", "name", "owner", "fields", "key id", "declared", box=None)
    table.header_style = "bold"
    for c in found:
        table.add_row(
            cell(c.model),
            cell(c.name),
            cell(c.owner),
            cell(", ".join(c.fields)),
            cell(c.key_id),
            cell(fmt_time(c.created_at)),
        )
    print_table(table)


@consumers.command("revoke")
@click.argument("model")
@click.argument("name")
@click.option("--reason", default="", help="Why; kept in the audit log.")
@pass_state
@handle_errors
def revoke(state: CliState, model: str, name: str, reason: str) -> None:
    """Revoke consumer NAME of MODEL: its key stops working and its fields stop binding."""
    state.services().deployments.revoke_consumer(
        model, name, actor=local_actor().name, reason=reason
    )
    console.print(f"revoked consumer {name} of {model}", highlight=False, markup=False)
