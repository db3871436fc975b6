"""Who is calling: the actor the ``/api/v1`` registry and governance routes act as.

The server never takes a client's word for who it is. The actor is the name
and role of the API token the authentication middleware accepted; a request
without a token reaches the routes only on a loopback server that does not
require tokens, where it acts as ``anonymous`` with the admin role (anyone
on that machine can open the store directly anyway, as the local CLI does).
"""

from __future__ import annotations

from moorline.auth.models import Role
from moorline.registry.governance import Actor
from moorline.server.middleware import current_token

#: The actor recorded for requests without a token.
ANONYMOUS = "anonymous"


def request_actor() -> Actor:
    """The caller: the authenticated token's name and role, else ``anonymous`` admin."""
    token = current_token.get()
    if token is None:
        return Actor(name=ANONYMOUS, role=Role.ADMIN)
    return Actor(name=token.name, role=token.role)


def request_actor_name() -> str:
    """The caller's name, as recorded in the audit log."""
    token = current_token.get()
    return token.name if token is not None else ANONYMOUS
