"""``moorline token``: API tokens for servers that listen beyond loopback."""

from __future__ import annotations

import click
import orjson
from rich.table import Table

from moorline.auth.models import Role
from moorline.cli.context import CliState, console, handle_errors, pass_state


@click.group()
def token() -> None:
    """Create, list and revoke API tokens (stored hashed; shown once)."""


@token.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.ADMIN.value,
    show_default=True,
    help="What the token may do.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_state
@handle_errors
def create(state: CliState, name: str, role: str, as_json: bool) -> None:
    """Issue a token called NAME and print it. It cannot be shown again.

    Clients send it as 'Authorization: Bearer <token>': set MLFLOW_TRACKING_TOKEN
    for the mlflow client, MOORLINE_TOKEN for moorline's SDK and CLI.
    """
    issued = state.services().auth.create_token(name, Role(role))
    if as_json:
        click.echo(
            orjson.dumps(
                {"id": issued.token.token_id, "name": name, "role": role, "token": issued.secret}
            ).decode()
        )
        return
    console.print(f"token [bold]{name}[/] ({role}) created; store it now, it is not shown again:")
    click.echo(issued.secret)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_state
@handle_errors
def list_(state: CliState, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    tokens = state.services().auth.list_tokens()
    if as_json:
        rows = [
            {
                "id": t.token_id,
                "name": t.name,
                "role": t.role.value,
                "created_at": t.created_at,
                "revoked_at": t.revoked_at,
            }
            for t in tokens
        ]
        click.echo(orjson.dumps(rows).decode())
        return
    table = Table("id", "name", "role", "state")
    for t in tokens:
        table.add_row(t.token_id, t.name, t.role.value, "active" if t.active else "revoked")
    console.print(table)


@token.command("revoke")
@click.argument("token_id")
@pass_state
@handle_errors
def revoke(state: CliState, token_id: str) -> None:
    """Revoke the token with id TOKEN_ID; requests using it fail from now on."""
    state.services().auth.revoke_token(token_id)
    console.print(f"token {token_id} revoked")
