"""The hash-chained audit log over SQL: :class:`AuditStore`.

Entries are appended by every registry store inside the transaction of the
change they record (:mod:`moorline.store.sql._changes`); this store appends
entries that stand alone (a refused attempt) and reads the log for listing
and verification. The newest entry's seq and hash also live in the one-row
``audit_head`` table, so deleting the newest entries is detected too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Integer, bindparam, func, select

from moorline.registry.models import AuditDraft, AuditEntry
from moorline.registry.ports import AuditStore
from moorline.store.sql import tables as t
from moorline.store.sql._base import fetch_rows
from moorline.store.sql._changes import ChangeWriter, read_head

_log = t.audit_log
_COLUMNS = (
    _log.c.seq,
    _log.c.at,
    _log.c.actor,
    _log.c.action,
    _log.c.target,
    _log.c.details,
    _log.c.reason,
    _log.c.prev_hash,
    _log.c.entry_hash,
)
_BATCH = (
    select(*_COLUMNS)
    .where(_log.c.seq > bindparam("after"))
    .order_by(_log.c.seq)
    .limit(bindparam("limit", type_=Integer))
)


class SqlAuditStore(ChangeWriter, AuditStore):
    """The audit log in SQLite or PostgreSQL."""

    def append_audit(self, draft: AuditDraft, *, now: int) -> AuditEntry:
        with self._change_tx() as tx:
            return self._append(tx, draft, now)

    def list_audit(
        self,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        actor: str | None = None,
        action: str | None = None,
        target_prefix: str | None = None,
    ) -> list[AuditEntry]:
        query = select(*_COLUMNS).where(_log.c.seq > after_seq)
        if actor is not None:
            query = query.where(_log.c.actor == actor)
        if action is not None:
            query = query.where(_log.c.action == action)
        if target_prefix:
            # substr, not LIKE: a prefix is literal and case-sensitive on both backends.
            query = query.where(func.substr(_log.c.target, 1, len(target_prefix)) == target_prefix)
        query = query.order_by(_log.c.seq).limit(limit)
        with self._read() as conn:
            rows = fetch_rows(conn, query)
        return [_entry(r) for r in rows]

    def iter_audit(self, *, batch: int = 5000) -> Iterator[AuditEntry]:
        after = 0
        while True:
            with self._read() as conn:
                rows = fetch_rows(conn, _BATCH, {"after": after, "limit": batch})
            for row in rows:
                yield _entry(row)
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def audit_head(self) -> tuple[int, str] | None:
        with self._read() as conn:
            return read_head(conn)


def _entry(row: Any) -> AuditEntry:
    seq, at, actor, action, target, details, reason, prev_hash, entry_hash = row
    return AuditEntry(
        seq=int(seq),
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=json.loads(details),
        reason=reason,
        prev_hash=prev_hash,
        entry_hash=entry_hash,
    )


__all__ = ["SqlAuditStore"]
