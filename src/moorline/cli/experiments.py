"""``moorline experiments``: list the experiments of a store."""

from __future__ import annotations

import click
from rich.table import Table

from moorline.cli._records import cell, echo_json, experiment_json, fmt_time, print_table
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.tracking.models import Experiment, ViewType

PAGE_SIZE = 1000


@click.group()
def experiments() -> None:
    """Inspect experiments (the folders runs are grouped in)."""


@experiments.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include deleted experiments.")
@click.option("--deleted", is_flag=True, help="Only deleted experiments.")
@click.option(
    "--filter",
    "filter_string",
    metavar="EXPR",
    help="Search filter, e.g. \"name LIKE 'churn%'\" or \"tags.team = 'ads'\".",
)
@click.option(
    "--order-by",
    "order_by",
    multiple=True,
    metavar="KEY [ASC|DESC]",
    help="Sort key, repeatable, e.g. 'name' or 'creation_time DESC' (default: newest first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@pass_state
@handle_errors
def list_(
    state: CliState,
    *,
    show_all: bool,
    deleted: bool,
    filter_string: str | None,
    order_by: tuple[str, ...],
    as_json: bool,
) -> None:
    """List experiments: active ones by default.

    \b
    Examples:
        moorline experiments list
        moorline experiments list --all --filter "name LIKE 'churn%'"
        moorline experiments list --json | jq -r '.[].name'

    JSON fields per experiment: experiment_id, name, artifact_location,
    lifecycle_stage, creation_time and last_update_time (ms since the epoch),
    tags.
    """
    if show_all and deleted:
        raise click.UsageError("--all and --deleted exclude each other; give one")
    view = ViewType.ALL if show_all else ViewType.DELETED_ONLY if deleted else ViewType.ACTIVE_ONLY
    tracking = state.services().tracking
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page = tracking.search_experiments(
            view_type=view,
            filter_string=filter_string,
            order_by=list(order_by),
            max_results=PAGE_SIZE,
            page_token=token,
        )
        found.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    if as_json:
        echo_json([experiment_json(e) for e in found])
        return
    if not found:
        console.print("no experiments match", style="dim")
        return
    table = Table("id", "name", box=None, header_style="bold")
    if view != ViewType.ACTIVE_ONLY:
        table.add_column("stage")
    table.add_column("created")
    table.add_column("artifact location", overflow="fold")
    for e in found:
        row = [cell(e.experiment_id), cell(e.name)]
        if view != ViewType.ACTIVE_ONLY:
            row.append(cell(e.lifecycle_stage.value))
        row += [cell(fmt_time(e.creation_time)), cell(e.artifact_location)]
        table.add_row(*row)
    print_table(table)
