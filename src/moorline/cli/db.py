"""``moorline db``: schema migrations of the metadata store."""

from __future__ import annotations

import click

from moorline.cli.context import CliState, console, handle_errors, pass_state


@click.group()
def db() -> None:
    """Manage the metadata database."""


@db.command()
@pass_state
@handle_errors
def upgrade(state: CliState) -> None:
    """Apply every pending migration to the store (safe to run repeatedly).

    The server also does this at start; run it yourself to migrate ahead of
    a rolling deploy of several replicas.
    """
    from moorline.errors import InvalidArgument
    from moorline.store.sql.migrate import upgrade as run_upgrade

    settings = state.settings()
    if settings.is_remote:
        raise InvalidArgument("db upgrade needs a database URI, not a server URL")
    run_upgrade(settings.store_uri)
    console.print(f"[green]database is up to date[/] ({_redact(settings.store_uri)})")


def _redact(uri: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:
        return uri
