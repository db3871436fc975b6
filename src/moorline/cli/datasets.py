"""``moorline datasets``: dataset names, their versions, one version's schema and profile."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.tracking.datasets import parse_schema
from moorline.tracking.models import DatasetVersion

MAX_SHOWN = 1000
SHORT_DIGEST = 12


@click.group()
def datasets() -> None:
    """Dataset versions logged with moorline.log_dataset (content-addressed by SHA-256).

    \b
    Examples:
        moorline datasets list
        moorline datasets versions churn
        moorline datasets show churn --json | jq .profile
    """


def version_json(v: DatasetVersion) -> dict[str, Any]:
    """A version with its schema and profile parsed (null when not JSON)."""
    return {
        "name": v.dataset.name,
        "digest": v.dataset.digest,
        "source_type": v.dataset.source_type,
        "source": v.dataset.source,
        "schema": _json(v.dataset.schema),
        "profile": _json(v.dataset.profile),
        "run_count": v.run_count,
        "first_used_at": v.first_used_at,
    }


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def list_(state: CliState, *, as_json: bool) -> None:
    """Every dataset name, with its number of versions and newest digest."""
    page = state.services().datasets.list_datasets(max_results=MAX_SHOWN)
    if as_json:
        echo_json(
            [
                {"name": s.name, "versions": s.versions, "latest_digest": s.latest_digest}
                for s in page.items
            ]
        )
        return
    if not page.items:
        console.print("no datasets logged yet", style="dim")
        return
    table = Table(box=None, header_style="bold")
    for name in ("name", "versions", "latest"):
        table.add_column(name)
    for s in page.items:
        table.add_row(cell(s.name), cell(s.versions), cell(s.latest_digest[:SHORT_DIGEST]))
    print_table(table)


@datasets.command("versions")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def versions(state: CliState, *, name: str, as_json: bool) -> None:
    """The versions of dataset NAME, newest first."""
    page = state.services().datasets.list_versions(name, max_results=MAX_SHOWN)
    if as_json:
        echo_json([version_json(v) for v in page.items])
        return
    if not page.items:
        console.print(f"no versions of {name!r}", style="dim")
        return
    table = Table(box=None, header_style="bold")
    for column in ("digest", "rows", "columns", "runs", "first used"):
        table.add_column(column)
    for v in page.items:
        profile = _json(v.dataset.profile) or {}
        table.add_row(
            cell(v.dataset.digest),
            cell(profile.get("rows")),
            cell(len(parse_schema(v.dataset.schema))),
            cell(v.run_count),
            cell(fmt_time(v.first_used_at)),
        )
    print_table(table)


@datasets.command("show")
@click.argument("name")
@click.argument("digest", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the version, schema and profile.")
@pass_state
@handle_errors
def show(state: CliState, *, name: str, digest: str | None, as_json: bool) -> None:
    """Schema and profile of version DIGEST of NAME (default: the newest)."""
    v = state.services().datasets.get_version(name, digest)
    if as_json:
        echo_json(version_json(v))
        return
    profile = _json(v.dataset.profile) or {}
    console.print(f"[bold]{v.dataset.name}[/] @ {v.dataset.digest}", highlight=False)
    console.print(f"rows {profile.get('rows', '?')}, read by {v.run_count} run(s)")
    table = Table(box=None, header_style="bold")
    for column in ("column", "type", "nulls", "summary"):
        table.add_column(column, overflow="fold")
    for c in profile.get("columns", []):
        table.add_row(
            cell(c.get("name")), cell(c.get("type")), cell(c.get("null_count")), cell(_summary(c))
        )
    print_table(table)


def _summary(column: dict[str, Any]) -> str:
    kind = column.get("kind")
    if kind == "numeric":
        return f"min {column.get('min')}  mean {column.get('mean')}  max {column.get('max')}"
    if kind == "categorical":
        top = ", ".join(f"{t['value']} ({t['count']})" for t in column.get("top", [])[:3])
        return f"{column.get('distinct')} distinct: {top}"
    if kind == "temporal":
        return f"{column.get('min')} .. {column.get('max')}"
    return ""
