"""Issue, list, revoke and verify bearer tokens.

A token reads ``mlt_<id>_<secret>``; only SHA-256(secret) is stored, and the
comparison is constant-time. Secrets have 256 bits of entropy, so a fast hash
is the right tool here (a slow KDF protects low-entropy passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from moorline.auth.models import ApiToken, IssuedToken, Role, TokenId
from moorline.auth.ports import TokenStore
from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument, Unauthenticated

_TOKEN_RE = re.compile(r"^mlt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
_TOKEN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AuthService:
    def __init__(self, store: TokenStore) -> None:
        self._store = store

    def create_token(self, name: str, role: Role = Role.ADMIN) -> IssuedToken:
        if not _NAME_RE.match(name):
            raise InvalidArgument(
                f"Invalid token name {name!r}: use 1-100 letters, digits, '_', '.', '@' or '-'"
            )
        token_id = TokenId(secrets.token_hex(8))
        secret = secrets.token_urlsafe(32)
        token = ApiToken(
            token_id=token_id, name=name, role=role, secret_hash=_hash(secret), created_at=now_ms()
        )
        self._store.add_token(token)
        return IssuedToken(token=token, secret=f"mlt_{token_id}_{secret}")

    def add_token(self, token: ApiToken) -> None:
        """Store a token whose secret was drawn elsewhere (by a remote client).

        Only the hash travels, so the secret never crosses the network; the
        name and id follow the rules of :meth:`create_token`.
        """
        if not _NAME_RE.match(token.name):
            raise InvalidArgument(
                f"Invalid token name {token.name!r}: "
                "use 1-100 letters, digits, '_', '.', '@' or '-'"
            )
        if not _TOKEN_ID_RE.match(token.token_id):
            raise InvalidArgument(f"Invalid token id {token.token_id!r}: expected 16 hex digits")
        if not _HASH_RE.match(token.secret_hash):
            raise InvalidArgument("Invalid secret hash: expected 64 lowercase hex digits (SHA-256)")
        self._store.add_token(token)

    def get_token(self, token_id: str) -> ApiToken | None:
        """The token with this id, revoked or not; None if there is none."""
        return self._store.get_token(TokenId(token_id))

    def list_tokens(self) -> list[ApiToken]:
        return self._store.list_tokens()

    def revoke_token(self, token_id: str, *, now: int | None = None) -> None:
        """Revoke a token; ``now`` (default: the current time) is recorded as ``revoked_at``."""
        self._store.revoke_token(TokenId(token_id), now=now_ms() if now is None else now)

    def authenticate(self, bearer: str) -> ApiToken:
        """The active token matching ``bearer``; Unauthenticated otherwise."""
        match = _TOKEN_RE.match(bearer.strip())
        if not match:
            raise Unauthenticated("Malformed API token")
        token = self._store.get_token(TokenId(match.group(1)))
        if token is None or not token.active:
            raise Unauthenticated("Unknown or revoked API token")
        if not hmac.compare_digest(token.secret_hash, _hash(match.group(2))):
            raise Unauthenticated("Unknown or revoked API token")
        return token
