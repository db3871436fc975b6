"""``moorline models``: the model registry from the shell.

list, show and versions read; register, alias, promote and delete change the
registry and are recorded in its audit log under the acting user
(``MOORLINE_USER`` or the OS user on a local store; the API token's name on
a server). A move a promotion policy refuses prints the reason and exits
with code 3, as every permission error does.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from moorline.bootstrap import Services
from moorline.cli._governance import local_actor, policy_json
from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.errors import InvalidArgument, NotFound
from moorline.registry.models import ModelVersion, RegisteredModel
from moorline.registry.ports import AliasInfo
from moorline.sdk.registry import register

PAGE_SIZE = 1000
DEFAULT_MAX_VERSIONS = 100
#: Characters of a description shown in a table cell.
SHOWN_DESCRIPTION = 60


@click.group()
def models() -> None:
    """The model registry: registered models, their versions and aliases.

    \b
    Examples:
        moorline models register runs:/<run_id>/model churn
        moorline models promote churn 3 --reason "beats v2 on AUC"
        moorline models list
    """


# -- JSON shapes (keys are only ever added) -------------------------------------------


def alias_json(info: AliasInfo) -> dict[str, Any]:
    return {"version": info.version, "updated_at": info.updated_at, "updated_by": info.updated_by}


def version_json(mv: ModelVersion) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": mv.version,
        "aliases": list(mv.aliases),
        "source": mv.source,
        "run_id": mv.run_id,
        "model_id": mv.model_id,
        "description": mv.description,
        "tags": dict(mv.tags),
        "stage": mv.current_stage.value,
        "status": mv.status.value,
        "user_id": mv.user_id,
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
    }


def latest_version(model: RegisteredModel) -> int | None:
    """The newest version: every version is in a stage, so it is the newest of the
    latest-per-stage versions."""
    return max((v.version for v in model.latest_versions), default=None)


def model_json(model: RegisteredModel, aliases: list[AliasInfo]) -> dict[str, Any]:
    return {
        "name": model.name,
        "description": model.description,
        "tags": dict(model.tags),
        "latest_version": latest_version(model),
        "aliases": {a.alias: alias_json(a) for a in aliases},
        "user_id": model.user_id,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }


def _aliases_cell(aliases: list[AliasInfo]) -> Text:
    lines = [
        f"{a.alias} → {a.version}  ({a.updated_by or '?'}, {fmt_time(a.updated_at)})"
        for a in sorted(aliases, key=lambda a: a.alias)
    ]
    return cell("\n".join(lines))


def _short(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= SHOWN_DESCRIPTION else first[: SHOWN_DESCRIPTION - 1] + "…"


def _quote(text: str) -> str:
    """``text`` as a single-quoted literal of the search grammar."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _all_models(services: Services, filter_string: str | None) -> list[RegisteredModel]:
    out: list[RegisteredModel] = []
    token: str | None = None
    while True:
        page = services.registry.search_registered_models(
            filter_string=filter_string, max_results=PAGE_SIZE, page_token=token
        )
        out.extend(page.items)
        token = page.next_page_token
        if not token:
            return out


def _versions(services: Services, name: str, limit: int) -> list[ModelVersion]:
    out: list[ModelVersion] = []
    token: str | None = None
    while len(out) < limit:
        page = services.registry.search_model_versions(
            filter_string=f"name = {_quote(name)}",
            order_by=["version_number DESC"],
            max_results=min(PAGE_SIZE, limit - len(out)),
            page_token=token,
        )
        out.extend(page.items)
        token = page.next_page_token
        if not token:
            break
    return out[:limit]


def _version_table(versions: list[ModelVersion]) -> Table:
    table = Table("version", "aliases", "stage", "created", "by", "run", box=None)
    table.header_style = "bold"
    table.add_column("source", overflow="fold")
    for mv in versions:
        table.add_row(
            cell(mv.version),
            cell(", ".join(mv.aliases)),
            cell(mv.current_stage.value),
            cell(fmt_time(mv.creation_timestamp)),
            cell(mv.user_id),
            cell(mv.run_id or ""),
            cell(mv.source),
        )
    return table


# -- reading -------------------------------------------------------------------------


@models.command("list")
@click.option(
    "--filter",
    "filter_string",
    metavar="EXPR",
    help="Search filter, e.g. \"name LIKE 'churn%'\" or \"tags.team = 'ads'\".",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@pass_state
@handle_errors
def list_(state: CliState, filter_string: str | None, as_json: bool) -> None:
    """List registered models with their aliases, latest version and description.

    For each alias: the version it points at, and when and by whom it last moved.

    \b
    Examples:
        moorline models list
        moorline models list --filter "name LIKE 'churn%'" --json | jq '.[].aliases'

    JSON fields per model: name, description, tags, latest_version (null
    without versions), aliases ({alias: {version, updated_at, updated_by}}),
    user_id, creation_timestamp and last_updated_timestamp (ms since the epoch).
    """
    services = state.services()
    found = [
        (m, services.registry.list_aliases(m.name)) for m in _all_models(services, filter_string)
    ]
    if as_json:
        echo_json([model_json(m, aliases) for m, aliases in found])
        return
    if not found:
        console.print("no registered models match", style="dim")
        return
    table = Table("name", "latest", "aliases (version, moved by, when)", "description", box=None)
    table.header_style = "bold"
    for model, aliases in found:
        latest = latest_version(model)
        table.add_row(
            cell(model.name),
            cell("" if latest is None else latest),
            _aliases_cell(aliases),
            cell(_short(model.description)),
        )
    print_table(table)


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def show(state: CliState, name: str, as_json: bool) -> None:
    """Show registered model NAME: description, tags, aliases, latest versions, policy.

    JSON: the fields of 'models list', plus latest_versions (the newest
    version per stage, each as in 'models versions') and policy (its
    promotion policy, or null).
    """
    services = state.services()
    model = services.registry.get_registered_model(name)
    aliases = services.registry.list_aliases(name)
    policy = services.governance.get_policy(name)
    if as_json:
        echo_json(
            {
                **model_json(model, aliases),
                "latest_versions": [version_json(v) for v in model.latest_versions],
                "policy": policy_json(policy) if policy is not None else None,
            }
        )
        return
    latest = latest_version(model)
    console.print(Text(model.name, style="bold"))
    if model.description:
        console.print(Text(model.description))
    facts = Table(box=None, show_header=False)
    facts.add_row("latest version", cell("none" if latest is None else latest))
    facts.add_row(
        "created", cell(f"{fmt_time(model.creation_timestamp)} by {model.user_id or '?'}")
    )
    facts.add_row("updated", cell(fmt_time(model.last_updated_timestamp)))
    for key, value in sorted(model.tags.items()):
        facts.add_row(cell(f"tag {key}"), cell(value))
    if policy is not None:
        rules = ", ".join(f"{k} ({v} is better)" for k, v in sorted(policy.must_beat.items()))
        facts.add_row(
            "policy",
            cell(
                f"risk {policy.risk.value}; protects {', '.join(policy.protected_aliases) or '-'}"
                + (f"; must beat on {rules}" if rules else "")
            ),
        )
    print_table(facts)
    if aliases:
        table = Table("alias", "version", "moved by", "when", box=None, title="aliases")
        table.header_style = "bold"
        for a in sorted(aliases, key=lambda a: a.alias):
            table.add_row(
                cell(a.alias), cell(a.version), cell(a.updated_by), cell(fmt_time(a.updated_at))
            )
        print_table(table)
    if model.latest_versions:
        console.print(Text("latest version per stage", style="bold"))
        print_table(_version_table(sorted(model.latest_versions, key=lambda v: -v.version)))


@models.command("versions")
@click.argument("name")
@click.option(
    "--max",
    "max_results",
    type=click.IntRange(1, 200_000),
    default=DEFAULT_MAX_VERSIONS,
    show_default=True,
    help="Show at most this many versions (newest first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@pass_state
@handle_errors
def versions(state: CliState, name: str, max_results: int, as_json: bool) -> None:
    """List the versions of registered model NAME, newest first.

    JSON fields per version: name, version, aliases, source, run_id,
    model_id, description, tags, stage, status, user_id, creation_timestamp
    and last_updated_timestamp (ms since the epoch).
    """
    services = state.services()
    services.registry.get_registered_model(name)  # NotFound for a missing model, not []
    found = _versions(services, name, max_results)
    if as_json:
        echo_json([version_json(v) for v in found])
        return
    if not found:
        console.print(f"{name} has no versions", style="dim")
        return
    print_table(_version_table(found))


# -- changing ------------------------------------------------------------------------


def _tags(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidArgument(f"Invalid tag {item!r}: use KEY=VALUE")
        out[key.strip()] = value
    return out


@models.command("register")
@click.argument("source")
@click.argument("name")
@click.option("--description", help="What this version is.")
@click.option(
    "--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A version tag, repeatable."
)
@click.option("--json", "as_json", is_flag=True, help="Print the new version as JSON.")
@pass_state
@handle_errors
def register_(
    state: CliState,
    *,
    source: str,
    name: str,
    description: str | None,
    tags: tuple[str, ...],
    as_json: bool,
) -> None:
    """Register the model at SOURCE as the next version of NAME (created on first use).

    \b
    SOURCE is one of:
        runs:/<run_id>/<path>     a model a run logged (the run must exist)
        models:/<name>/<version>  a copy of a registered version (or models:/<name>@<alias>)
        models:/<model_id>        a model logged with log_model
        a folder or any URI       kept as given (local folders as absolute paths)
    """
    mv = register(
        state.services(),
        source,
        name,
        actor=local_actor().name,
        description=description,
        tags=_tags(tags),
    )
    if as_json:
        echo_json(version_json(mv))
        return
    console.print(f"registered [bold]{mv.name}[/] version {mv.version}", highlight=False)


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", "delete", is_flag=True, help="Remove ALIAS instead of setting it.")
@click.option("--reason", default="", help="Why; kept in the audit log.")
@pass_state
@handle_errors
def alias(
    state: CliState, *, name: str, alias: str, version: str | None, delete: bool, reason: str
) -> None:
    """Point ALIAS of model NAME at VERSION, or remove it with --delete.

    \b
    Examples:
        moorline models alias churn challenger 4 --reason "shadow test"
        moorline models alias churn challenger --delete

    A promotion policy may protect the alias: a refused move prints why
    and exits with code 3.
    """
    registry = state.services().registry
    actor = local_actor().name
    if delete:
        if version is not None:
            raise click.UsageError("--delete takes no VERSION")
        registry.delete_alias(name, alias, actor=actor, reason=reason)
        console.print(f"removed alias {alias} of {name}", highlight=False)
        return
    if version is None:
        raise click.UsageError("give the VERSION to point ALIAS at, or --delete")
    registry.set_alias(name, alias, version, actor=actor, reason=reason)
    console.print(f"{name}@{alias} → version {version}", highlight=False)


@models.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--alias", "alias", default="champion", show_default=True, help="The alias to move.")
@click.option("--reason", default="", help="Why; kept in the audit log.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print {name, alias, version, previous_version}."
)
@pass_state
@handle_errors
def promote(
    state: CliState, *, name: str, version: str, alias: str, reason: str, as_json: bool
) -> None:
    """Promote VERSION of model NAME: move its champion alias (or --alias) there.

    \b
    Examples:
        moorline models promote churn 3 --reason "AUC 0.91 vs 0.88"
        moorline models promote churn 4 --alias staging

    The model's promotion policy applies: a high-risk model needs an approval
    granted by a second person ('moorline approvals'), and must-beat metrics
    must beat the current holder's. A refused move prints what is missing
    and exits with code 3 (the refusal is in the audit log too).
    """
    registry = state.services().registry
    try:
        previous: int | None = registry.get_version_by_alias(name, alias).version
    except NotFound:
        previous = None
        registry.get_registered_model(name)  # a missing model says so, not the alias
    registry.set_alias(name, alias, version, actor=local_actor().name, reason=reason)
    moved = registry.get_version_by_alias(name, alias)
    if as_json:
        echo_json(
            {"name": name, "alias": alias, "version": moved.version, "previous_version": previous}
        )
        return
    before = f"from version {previous} " if previous is not None else ""
    console.print(
        f"promoted [bold]{name}[/]: {alias} moved {before}to version {moved.version}",
        highlight=False,
    )


@models.command("delete")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--reason", default="", help="Why; kept in the audit log.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
@handle_errors
def delete(state: CliState, name: str, version: str | None, reason: str, yes: bool) -> None:
    """Delete model NAME with all its versions and aliases, or only VERSION of it.

    Deletion cannot be undone; the audit log keeps the record of it.
    """
    what = (
        f"version {version} of {name}"
        if version is not None
        else f"model {name} and all its versions"
    )
    if not yes:
        click.confirm(f"Delete {what}?", abort=True, err=True)
    registry = state.services().registry
    actor = local_actor().name
    if version is not None:
        registry.delete_model_version(name, version, actor=actor, reason=reason)
    else:
        registry.delete_registered_model(name, actor=actor, reason=reason)
    console.print(f"deleted {what}", highlight=False)
