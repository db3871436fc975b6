"""``moorline policy``: promotion policies of registered models."""

from __future__ import annotations

import click

from moorline.cli._governance import governance, local_actor, policy_json
from moorline.cli._records import echo_json, fmt_time
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.errors import InvalidArgument
from moorline.registry.models import PromotionPolicy, RiskLevel


def parse_must_beat(specs: tuple[str, ...]) -> dict[str, str]:
    """``("auc:higher", "loss:lower")`` -> ``{"auc": "higher", "loss": "lower"}``.

    >>> parse_must_beat(("auc:higher",))
    {'auc': 'higher'}
    """
    rules: dict[str, str] = {}
    for spec in specs:
        metric, sep, direction = spec.rpartition(":")
        if not sep or not metric or not direction:
            raise InvalidArgument(
                f"Invalid --must-beat {spec!r}: use METRIC:higher or METRIC:lower"
            )
        rules[metric] = direction
    return rules


@click.group()
def policy() -> None:
    """Promotion policies: which aliases are protected, and by which rules."""


@policy.command("set")
@click.argument("model")
@click.option(
    "--risk",
    type=click.Choice(["standard", "high"]),
    default="standard",
    show_default=True,
    help="high: moving a protected alias needs an approval from a second person.",
)
@click.option(
    "--protect",
    "protect",
    multiple=True,
    help="Alias the policy protects (repeatable) [default: champion].",
)
@click.option(
    "--must-beat",
    "must_beat",
    multiple=True,
    metavar="METRIC:higher|lower",
    help="The candidate's training-run metric must beat the current holder's (repeatable).",
)
@click.option("--reason", default="", help="Why the policy changes (goes into the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def set_(
    state: CliState,
    *,
    model: str,
    risk: str,
    protect: tuple[str, ...],
    must_beat: tuple[str, ...],
    reason: str,
    as_json: bool,
) -> None:
    """Replace the promotion policy of MODEL (admin)."""
    result = governance(state.services()).set_policy(
        model,
        actor=local_actor(),
        risk=risk,
        protected_aliases=protect or ("champion",),
        must_beat=parse_must_beat(must_beat),
        reason=reason,
    )
    if as_json:
        echo_json(policy_json(result))
        return
    console.print(f"policy of [bold]{model}[/] set", highlight=False)
    _show(result)


@policy.command("show")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def show(state: CliState, model: str, as_json: bool) -> None:
    """Show the promotion policy of MODEL (a model without one protects no alias)."""
    result = governance(state.services()).effective_policy(model)
    if as_json:
        echo_json(policy_json(result))
        return
    _show(result)


def _show(p: PromotionPolicy) -> None:
    if not p.protected_aliases:
        console.print(f"{p.name}: no policy; every alias moves freely", highlight=False)
        return
    rules = ", ".join(f"{m} ({d} is better)" for m, d in sorted(p.must_beat.items()))
    lines = [
        f"model:      {p.name}",
        f"risk:       {p.risk.value}"
        + ("  (moves need an approval from a second person)" if p.risk == RiskLevel.HIGH else ""),
        f"protected:  {', '.join(p.protected_aliases)}",
        f"must beat:  {rules or '-'}",
    ]
    if p.updated_by:
        lines.append(f"updated:    {fmt_time(p.updated_at)} by {p.updated_by}")
    for line in lines:
        console.print(line, highlight=False, markup=False)
