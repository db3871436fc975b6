"""``moorline deploy``, ``traffic``, ``rollback`` and ``deployments``: serving's control plane.

Every change makes a new revision of the deployment, recorded in the audit
log under the acting user (``MOORLINE_USER`` or the OS user on a local
store; the API token's name on a server). A change that would route traffic
to a version lacking an output field a declared consumer relies on is
refused with exit code 3 (as a governance refusal) unless ``--override`` is
given with a ``--reason``.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table
from rich.text import Text

from moorline.cli._governance import local_actor
from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument
from moorline.sdk.serving import deploy_version, resolve_version
from moorline.serving.models import Deployment, PolicyRevision, TrafficPolicy, VersionTraffic

#: The window of the traffic table of ``deployments show``.
TRAFFIC_WINDOW_HOURS = 24


# -- JSON shapes (keys are only ever added) -------------------------------------------


def deployment_json(d: Deployment) -> dict[str, Any]:
    return d.to_dict()


def revision_json(r: PolicyRevision) -> dict[str, Any]:
    return r.to_dict()


def traffic_json(t: VersionTraffic) -> dict[str, Any]:
    return {
        "version": t.version,
        "requests": t.requests,
        "shadow_requests": t.shadow_requests,
        "errors": t.errors,
        "rows": t.rows,
        "labelled": t.labelled,
        "mean_latency_ms": t.mean_latency_ms,
        "p99_latency_ms": t.p99_latency_ms,
    }


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _settings_options(
    max_batch_size: int | None,
    max_wait_ms: float | None,
    timeout: float | None,
    log_sample: float | None,
    require_consumer: bool | None,
) -> dict[str, object]:
    given = {
        "max_batch_size": max_batch_size,
        "max_wait_ms": max_wait_ms,
        "timeout_s": timeout,
        "log_sample": log_sample,
        "require_consumer": require_consumer,
    }
    return {k: v for k, v in given.items() if v is not None}


def _done(d: Deployment, what: str, as_json: bool) -> None:
    if as_json:
        echo_json(deployment_json(d))
        return
    console.print(
        f"{what} [bold]{d.name}[/]: {d.policy.describe()} (revision {d.revision})",
        highlight=False,
    )


# -- deploy ------------------------------------------------------------------------------


@click.command()
@click.argument("name")
@click.option("--model", required=True, help="The registered model to serve.")
@click.option("--version", "version", help="The version number to serve.")
@click.option("--alias", help="Serve the version this alias points at now (e.g. champion).")
@click.option("--max-batch-size", type=int, help="Requests gathered into one predict call.")
@click.option("--max-wait-ms", type=float, help="How long a batch may wait for more requests.")
@click.option("--timeout", type=float, help="Seconds before a request gets 504.")
@click.option("--log-sample", type=float, help="Share of requests logged (0-1).")
@click.option(
    "--require-consumer/--allow-undeclared",
    default=None,
    help="Refuse callers without a declared consumer key (default: count them).",
)
@click.option("--description", default="", help="What this deployment is for (on creation).")
@click.option("--reason", default="", help="Why; kept in the audit log.")
@click.option(
    "--override", is_flag=True, help="Go ahead although a consumer's field would be lost."
)
@click.option("--json", "as_json", is_flag=True, help="Print the deployment as JSON.")
@pass_state
@handle_errors
def deploy(
    state: CliState,
    *,
    name: str,
    model: str,
    version: str | None,
    alias: str | None,
    max_batch_size: int | None,
    max_wait_ms: float | None,
    timeout: float | None,
    log_sample: float | None,
    require_consumer: bool | None,
    description: str,
    reason: str,
    override: bool,
    as_json: bool,
) -> None:
    """Serve one version of MODEL as deployment NAME.

    Creates NAME, or, when it exists, sends all its traffic to that version
    (a new revision; nothing happens when it already does). Settings given
    apply to the deployment either way.

    \b
    Examples:
        moorline deploy churn-prod --model churn --alias champion --reason "first release"
        moorline deploy churn-prod --model churn --version 4 --max-batch-size 32
    """
    if (version is None) == (alias is None):
        raise click.UsageError("give exactly one of --version or --alias")
    services = state.services()
    number = resolve_version(services, model, version=version, alias=alias)
    settings = _settings_options(max_batch_size, max_wait_ms, timeout, log_sample, require_consumer)
    deployment, changed = deploy_version(
        services,
        name,
        model,
        number,
        settings=settings,
        description=description,
        actor=local_actor().name,
        reason=reason,
        override=override,
    )
    _done(deployment, "deployed" if changed else "unchanged", as_json)


# -- traffic -----------------------------------------------------------------------------


def _pair(text: str) -> tuple[int, float]:
    version, sep, weight = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return int(version.strip().lstrip("v")), float(weight.strip().rstrip("%"))
    except ValueError:
        raise InvalidArgument(f"Invalid split {text!r}: use VERSION=PERCENT, e.g. 4=10") from None


def _version(text: str) -> int:
    try:
        return int(text.strip().lstrip("v"))
    except ValueError:
        raise InvalidArgument(f"Invalid version {text!r}: use a number, e.g. 4") from None


def _policy(
    current: Deployment,
    *,
    canary: tuple[str, ...],
    split: str | None,
    sticky: bool,
    shadow: tuple[str, ...],
    primary: str | None,
    single: str | None,
) -> TrafficPolicy:
    given = [canary, split, shadow, single]
    if sum(1 for g in given if g) != 1:
        raise click.UsageError("give exactly one of --canary, --split, --shadow or --single")
    if primary is not None and not shadow:
        raise click.UsageError("--primary goes with --shadow")
    if sticky and not (canary or split):
        raise click.UsageError("--sticky goes with --canary or --split")
    if single is not None:
        return TrafficPolicy.single(_version(single))
    if shadow:
        main = _version(primary) if primary is not None else current.policy.primary
        return TrafficPolicy.shadow(primary=main, shadows=[_version(v) for v in shadow])
    if split is not None:
        pairs = [_pair(p) for p in split.split(",") if p.strip()]
        weights = dict(pairs)
        if len(weights) != len(pairs):
            raise InvalidArgument(f"A version appears twice in --split {split!r}")
        return TrafficPolicy.weighted(weights, sticky=sticky)
    challengers = dict(_pair(c) for c in canary)
    champion = current.policy.primary
    if champion in challengers:
        raise InvalidArgument(
            f"v{champion} already takes most of the traffic of {current.name!r}: give the "
            "new version(s) to --canary, or every weight with --split"
        )
    rest = 100.0 - sum(challengers.values())
    if rest <= 0:
        raise InvalidArgument(
            f"--canary weights sum to {100 - rest:g}%: leave some traffic to v{champion}"
        )
    return TrafficPolicy.weighted({champion: rest, **challengers}, sticky=sticky)


@click.command()
@click.argument("name")
@click.option(
    "--canary",
    multiple=True,
    metavar="V=W",
    help="Send W percent to version V (repeatable); the rest stays with the current main version.",
)
@click.option("--split", metavar="V=W,V=W", help="Every version's percentage (sum 100).")
@click.option("--sticky", is_flag=True, help="A/B: the same request key, the same version.")
@click.option("--shadow", multiple=True, metavar="V", help="Copy requests to V (repeatable).")
@click.option("--primary", metavar="V", help="With --shadow: who answers (default: current).")
@click.option("--single", metavar="V", help="Send everything to version V.")
@click.option("--reason", default="", help="Why; kept in the audit log.")
@click.option(
    "--override", is_flag=True, help="Go ahead although a consumer's field would be lost."
)
@click.option("--expected-revision", type=int, help="Apply only if NAME is still at this revision.")
@click.option("--json", "as_json", is_flag=True, help="Print the deployment as JSON.")
@pass_state
@handle_errors
def traffic(
    state: CliState,
    *,
    name: str,
    canary: tuple[str, ...],
    split: str | None,
    sticky: bool,
    shadow: tuple[str, ...],
    primary: str | None,
    single: str | None,
    reason: str,
    override: bool,
    expected_revision: int | None,
    as_json: bool,
) -> None:
    """Change how deployment NAME splits its traffic between model versions.

    \b
    Examples:
        moorline traffic churn-prod --canary 4=10 --reason "canary v4"
        moorline traffic churn-prod --split 3=50,4=50 --sticky      # A/B by request key
        moorline traffic churn-prod --shadow 5 --primary 3          # v5 gets copies
        moorline traffic churn-prod --single 4 --reason "v4 wins"
    """
    service = state.services().deployments
    current = service.get(name)
    policy = _policy(
        current,
        canary=canary,
        split=split,
        sticky=sticky,
        shadow=shadow,
        primary=primary,
        single=single,
    )
    updated = service.set_traffic(
        name,
        policy,
        actor=local_actor().name,
        reason=reason,
        override=override,
        expected_revision=current.revision if expected_revision is None else expected_revision,
    )
    _done(updated, "traffic of", as_json)


# -- rollback ----------------------------------------------------------------------------


@click.command()
@click.argument("name")
@click.option("--to", "to_revision", type=int, help="The revision to restore (default: previous).")
@click.option("--reason", default="", help="Why; kept in the audit log.")
@click.option(
    "--override", is_flag=True, help="Go ahead although a consumer's field would be lost."
)
@click.option("--json", "as_json", is_flag=True, help="Print the deployment as JSON.")
@pass_state
@handle_errors
def rollback(
    state: CliState,
    *,
    name: str,
    to_revision: int | None,
    reason: str,
    override: bool,
    as_json: bool,
) -> None:
    """Restore the policy and settings NAME had before its last change (or at --to).

    The rollback is itself a new revision, so it shows in the history.
    """
    updated = state.services().deployments.rollback(
        name,
        actor=local_actor().name,
        reason=reason,
        to_revision=to_revision,
        override=override,
    )
    _done(updated, "rolled back", as_json)


# -- deployments list|show|history|delete -------------------------------------------------


@click.group()
def deployments() -> None:
    """Deployments: what serves which model versions, and how they changed.

    \b
    Examples:
        moorline deployments list
        moorline deployments show churn-prod
        moorline deployments history churn-prod --json
    """


@deployments.command("list")
@click.option("--model", help="Only deployments of this registered model.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@pass_state
@handle_errors
def list_(state: CliState, model: str | None, as_json: bool) -> None:
    """List deployments with their model, policy and revision.

    JSON fields per deployment: name, model, policy ({kind, routes: [{version,
    weight}], shadows}), policy_text, settings, revision, description,
    created_at, updated_at (ms since the epoch) and updated_by.
    """
    found = state.services().deployments.list_deployments(model=model)
    if as_json:
        echo_json([deployment_json(d) for d in found])
        return
    if not found:
        console.print("no deployments", style="dim")
        return
    table = Table("name", "model", "policy", "revision", "updated", "by", box=None)
    table.header_style = "bold"
    for d in found:
        table.add_row(
            cell(d.name),
            cell(d.model),
            cell(d.policy.describe()),
            cell(d.revision),
            cell(fmt_time(d.updated_at)),
            cell(d.updated_by),
        )
    print_table(table)


@deployments.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def show(state: CliState, name: str, as_json: bool) -> None:
    """Show deployment NAME: policy, settings, and per-version traffic of the last 24 h.

    JSON: the fields of 'deployments list', plus traffic (per version:
    requests, shadow_requests, errors, rows, labelled, mean_latency_ms,
    p99_latency_ms).
    """
    service = state.services().deployments
    d = service.get(name)
    since = now_ms() - TRAFFIC_WINDOW_HOURS * 3_600_000
    counts = service.predictions.traffic(d.name, since=since)
    if as_json:
        echo_json({**deployment_json(d), "traffic": [traffic_json(t) for t in counts]})
        return
    console.print(Text(d.name, style="bold"))
    if d.description:
        console.print(Text(d.description))
    facts = Table(box=None, show_header=False)
    facts.add_row("model", cell(d.model))
    facts.add_row("policy", cell(d.policy.describe()))
    facts.add_row("revision", cell(f"{d.revision}, {fmt_time(d.updated_at)} by {d.updated_by}"))
    facts.add_row("created", cell(fmt_time(d.created_at)))
    settings = d.settings
    facts.add_row(
        "batching", cell(f"up to {settings.max_batch_size}, waiting {settings.max_wait_ms:g} ms")
    )
    facts.add_row("timeout", cell(f"{settings.timeout_s:g} s"))
    facts.add_row("logged", cell(f"{settings.log_sample:.0%} of requests"))
    facts.add_row(
        "callers", cell("declared consumers only" if settings.require_consumer else "anyone")
    )
    print_table(facts)
    if not counts:
        console.print(f"no requests in the last {TRAFFIC_WINDOW_HOURS} h", style="dim")
        return
    table = Table(
        "version",
        "requests",
        "shadow",
        "errors",
        "rows",
        "mean ms",
        "p99 ms",
        box=None,
        title=f"last {TRAFFIC_WINDOW_HOURS} h",
    )
    table.header_style = "bold"
    for t in counts:
        table.add_row(
            cell(f"v{t.version}"),
            cell(t.requests),
            cell(t.shadow_requests),
            cell(t.errors),
            cell(t.rows),
            cell(_ms(t.mean_latency_ms)),
            cell(_ms(t.p99_latency_ms)),
        )
    print_table(table)


@deployments.command("history")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@pass_state
@handle_errors
def history(state: CliState, name: str, limit: int, as_json: bool) -> None:
    """The revisions of deployment NAME, newest first: what changed, who, when and why.

    JSON fields per revision: deployment, revision, action (deploy, traffic,
    settings, rollback), policy, policy_text, settings, at, actor, reason and
    restored_revision (for a rollback).
    """
    found = state.services().deployments.history(name, limit=limit)
    if as_json:
        echo_json([revision_json(r) for r in found])
        return
    table = Table("revision", "action", "policy", "when", "by", "reason", box=None)
    table.header_style = "bold"
    for r in found:
        action = r.action.value
        if r.restored_revision is not None:
            action += f" to {r.restored_revision}"
        table.add_row(
            cell(r.revision),
            cell(action),
            cell(r.policy.describe()),
            cell(fmt_time(r.at)),
            cell(r.actor),
            cell(r.reason),
        )
    print_table(table)


@deployments.command("delete")
@click.argument("name")
@click.option("--reason", default="", help="Why; kept in the audit log.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
@handle_errors
def delete(state: CliState, name: str, reason: str, yes: bool) -> None:
    """Delete deployment NAME and its history (its logged predictions stay)."""
    if not yes:
        click.confirm(f"Delete deployment {name}?", abort=True, err=True)
    state.services().deployments.delete(name, actor=local_actor().name, reason=reason)
    console.print(f"deleted deployment {name}", highlight=False, markup=False)
