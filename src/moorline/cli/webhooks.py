"""``moorline webhooks``: where registry events are POSTed, and the delivery log."""

from __future__ import annotations

import click
from rich.table import Table

from moorline.cli._governance import (
    delivery_json,
    local_actor,
    webhook_json,
    webhooks,
)
from moorline.cli._records import cell, echo_json, fmt_time, print_table
from moorline.cli.context import CliState, console, handle_errors, pass_state
from moorline.registry.events import EVENT_TYPES


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhooks: registry events POSTed as signed JSON, delivered by the server.

    \b
    Each request carries X-Moorline-Signature: sha256=<HMAC-SHA256 of the
    body keyed by the webhook's secret>, X-Moorline-Event and
    X-Moorline-Delivery. Failed deliveries are retried with exponential
    backoff while a server ('moorline server') runs.
    """


@webhooks_group.command("add")
@click.argument("url")
@click.option(
    "--events",
    "events",
    multiple=True,
    help="Event type to send (repeatable or comma-separated) [default: all]. "
    f"Types: {', '.join(EVENT_TYPES)}.",
)
@click.option("--secret", help="Signing secret (16+ characters) [default: drawn at random].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def add(
    state: CliState, url: str, events: tuple[str, ...], secret: str | None, as_json: bool
) -> None:
    """Register URL to receive events; prints the signing secret once."""
    wanted = [e.strip() for spec in events for e in spec.split(",") if e.strip()] or None
    hook = webhooks(state.services()).add(url, actor=local_actor(), events=wanted, secret=secret)
    if as_json:
        echo_json(webhook_json(hook, with_secret=True))
        return
    console.print(
        f"webhook {hook.webhook_id} added for {', '.join(hook.events)} -> {hook.url}\n"
        "signing secret (store it now, it is not shown again):",
        highlight=False,
        markup=False,
    )
    click.echo(hook.secret)


@webhooks_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def list_(state: CliState, as_json: bool) -> None:
    """List webhooks (never their secrets)."""
    hooks = webhooks(state.services()).list_webhooks()
    if as_json:
        echo_json([webhook_json(h) for h in hooks])
        return
    table = Table("id", "url", "events", "active", "created")
    for h in hooks:
        table.add_row(
            h.webhook_id,
            cell(h.url),
            cell(", ".join(h.events)),
            "yes" if h.active else "no",
            fmt_time(h.created_at),
        )
    print_table(table)


@webhooks_group.command("delete")
@click.argument("webhook_id")
@pass_state
@handle_errors
def delete(state: CliState, webhook_id: str) -> None:
    """Delete WEBHOOK_ID: no more deliveries to it."""
    webhooks(state.services()).delete(webhook_id, actor=local_actor())
    console.print(f"webhook {webhook_id} deleted", highlight=False, markup=False)


@webhooks_group.command("deliveries")
@click.option("--webhook", "webhook_id", help="Only attempts to this webhook.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def deliveries(state: CliState, webhook_id: str | None, limit: int, as_json: bool) -> None:
    """The delivery log: every attempt, its time, status and error."""
    items = webhooks(state.services()).deliveries(webhook_id=webhook_id, limit=limit)
    if as_json:
        echo_json([delivery_json(d) for d in items])
        return
    table = Table("event", "webhook", "attempt", "time", "ok", "status", "error")
    for d in items:
        table.add_row(
            str(d.event_id),
            d.webhook_id,
            str(d.attempt),
            fmt_time(d.at),
            "yes" if d.ok else "no",
            "" if d.status_code is None else str(d.status_code),
            cell(d.error),
        )
    print_table(table)
