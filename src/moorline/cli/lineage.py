"""``moorline lineage URI``: a model version, its aliases, history, training run and data."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.tree import Tree

from moorline.cli._records import echo_json, fmt_number, fmt_time
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.registry.lineage import Lineage, LineageService
from moorline.schemas.lineage import Lineage as LineageJson

#: Params and metrics shown in the tree (all of them are in --json).
MAX_SHOWN = 50
SHORT_DIGEST = 12


@click.command()
@click.argument("uri", metavar="URI")
@click.option("--json", "as_json", is_flag=True, help="Print the lineage as one JSON document.")
@pass_state
@handle_errors
def lineage(state: CliState, *, uri: str, as_json: bool) -> None:
    """Show where a model version came from: run, code, data, aliases and history.

    URI is models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/latest.

    \b
    Examples:
        moorline lineage models:/churn@champion
        moorline lineage models:/churn/3 --json | jq .run.git_commit

    --json prints the document GET /api/v1/lineage?uri=... answers: version,
    aliases, history (audit entries), run (params, metrics, tags, git_commit,
    git_dirty, entry_point, python_env), datasets and deployments.
    """
    services = state.services()
    found = LineageService(services.registry, services.tracking, services.audit).lineage(uri)
    if as_json:
        echo_json(json.loads(LineageJson.from_domain(found).model_dump_json()))
        return
    console.print(render_tree(found))


def render_tree(found: Lineage) -> Tree:
    """The lineage as a rich tree, for people (scripts use --json)."""
    v = found.version
    root = Tree(f"[bold]{escape(found.uri)}[/]  →  {escape(v.name)} version {v.version}")
    version = root.add("[bold]version[/]")
    version.add(f"registered {fmt_time(v.created_at)} by {escape(v.created_by or '(unknown)')}")
    version.add(f"source {escape(v.source)}")
    version.add(f"status {v.status}" + (f", stage {v.stage}" if v.stage != "None" else ""))
    if v.description:
        version.add(f"description {escape(v.description)}")

    aliases = root.add("[bold]aliases[/]" + ("" if found.aliases else " (none)"))
    for a in found.aliases:
        aliases.add(
            f"[cyan]@{escape(a.alias)}[/]  moved here {fmt_time(a.updated_at)} "
            f"by {escape(a.updated_by or '(unknown)')}"
        )

    history = root.add("[bold]history[/]" + ("" if found.history else " (no audit entries)"))
    for h in found.history:
        line = f"{fmt_time(h.at)}  {escape(h.action)}  {escape(h.target)}  by {escape(h.actor)}"
        if h.reason:
            line += f"  — {escape(h.reason)}"
        history.add(line)

    run = found.run
    if run is None:
        root.add("[bold]run[/] (none recorded)")
    else:
        node = root.add(
            f"[bold]run[/] {escape(run.run_name)} ({run.run_id})  {run.status}  "
            f"started {fmt_time(run.start_time)} by {escape(run.user_id)}"
        )
        dirty = {True: " [red](dirty tree)[/]", False: " (clean tree)", None: ""}[run.git_dirty]
        node.add(f"commit {escape(run.git_commit or '(not recorded)')}{dirty}")
        node.add(f"entry point {escape(run.entry_point or '(not recorded)')}")
        env = run.python_env or {}
        packages = env.get("packages")
        count = len(packages) if isinstance(packages, dict) else 0
        node.add(
            f"environment python {escape(str(env.get('python', '?')))}, {count} packages"
            if env
            else "environment (not recorded)"
        )
        if run.reproduction_of:
            node.add(f"reproduces run {run.reproduction_of}")
        params = node.add(f"params ({len(run.params)})")
        for key, value in sorted(run.params.items())[:MAX_SHOWN]:
            params.add(f"{escape(key)} = {escape(value)}")
        metrics = node.add(f"metrics ({len(run.metrics)})")
        for key, number in sorted(run.metrics.items())[:MAX_SHOWN]:
            metrics.add(f"{escape(key)} = {fmt_number(number)}")

    datasets = root.add("[bold]datasets[/]" + ("" if found.datasets else " (none recorded)"))
    for d in found.datasets:
        rows = f", {d.rows} rows" if d.rows is not None else ""
        node = datasets.add(
            f"{escape(d.name)} @ {d.digest[:SHORT_DIGEST]}  ({escape(d.context or 'no context')}"
            f"{rows}, {len(d.columns)} columns)"
        )
        for c in d.columns[:MAX_SHOWN]:
            node.add(f"{escape(c.name)}: {escape(c.type)}" + ("" if c.nullable else " not null"))

    deployments = root.add("[bold]deployments[/]" + ("" if found.deployments else " (none)"))
    for p in found.deployments:
        deployments.add(f"{escape(p.name)}  {p.traffic_percent:g}% since {fmt_time(p.since)}")
    return root
