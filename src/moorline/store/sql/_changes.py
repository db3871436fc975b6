"""What every registry store shares: writing a change with its audit entry and events.

A registry mutation runs in ONE write transaction (:meth:`ChangeWriter._change_tx`)
that starts by locking the audit head row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's write lock already serialises writers). Taking that lock
*first*, in every registry write, has two consequences:

- registry writers are serialised, so the hash chain cannot fork and every
  check-then-write inside a mutation (does the version exist? is the approval
  still pending?) sees a state no other registry writer can change under it;
- no registry writer can hold another lock while it waits for the head, so
  two registry writers never deadlock on PostgreSQL.

The mutation does its change, then :meth:`ChangeWriter._record` appends the
audit entry (seq = head seq + 1, prev = head hash or GENESIS), moves the head,
stores each event and schedules one delivery per active webhook subscribed to
its type. If anything fails, the transaction rolls back and nothing of it
remains: no change, no audit entry, no event.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, bindparam, select

from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument, StorageError
from moorline.registry.audit import GENESIS, entry_hash
from moorline.registry.models import AuditDraft, AuditEntry, EventDraft
from moorline.registry.ports import Change
from moorline.store.sql import tables as t
from moorline.store.sql._base import SqlStoreBase

_head = t.audit_head
_log = t.audit_log
_ev = t.registry_events
_wh = t.webhooks
_ds = t.webhook_delivery_state

HEAD_ID = 1

_LOCK_HEAD = select(_head.c.seq, _head.c.entry_hash).where(_head.c.id == HEAD_ID).with_for_update()
_READ_HEAD = select(_head.c.seq, _head.c.entry_hash).where(_head.c.id == HEAD_ID)
_ANY_ENTRY = select(_log.c.seq).limit(1)
_INSERT_ENTRY = _log.insert()
_MOVE_HEAD = (
    _head.update()
    .where(_head.c.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash"))
)
_INSERT_EVENT = _ev.insert().returning(_ev.c.id)
_ACTIVE_WEBHOOKS = select(_wh.c.webhook_id, _wh.c.events).where(_wh.c.active.is_(True))
_SCHEDULE = _ds.insert()

#: The placeholder a Change may carry for the number of the version being created.
VERSION_PLACEHOLDER = "{version}"


def dumps(value: Any) -> str:
    """Compact JSON for the text columns (details, payloads, lists)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_json(value: Mapping[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    """``value`` as JSON text, and as it will read back from that text.

    The audit hash must be computed over exactly what is stored, so tuples
    become lists, enums their values and unknown objects their ``str``.

    >>> encode_json({"aliases": ("a", "b")}, "details")
    ('{"aliases":["a","b"]}', {'aliases': ['a', 'b']})
    """
    try:
        text = json.dumps(
            dict(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str
        )
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"The {what} cannot be stored as JSON: {exc}") from None
    decoded: dict[str, Any] = json.loads(text)
    return text, decoded


@dataclass(slots=True)
class ChangeTx:
    """One registry write transaction: its connection and the audit head it locked."""

    conn: Connection
    head_seq: int
    head_hash: str


def with_version(change: Change, version: int) -> Change:
    """``change`` with ``{version}`` in its targets replaced and ``version`` in its payloads."""

    def fill(text: str) -> str:
        # Only the last placeholder: a model name may itself contain "{version}".
        head, sep, tail = text.rpartition(VERSION_PLACEHOLDER)
        return f"{head}{version}{tail}" if sep else text

    audit = replace(change.audit, target=fill(change.audit.target))
    events = tuple(
        replace(
            event,
            payload={
                **{
                    k: fill(v) if k == "target" and isinstance(v, str) else v
                    for k, v in event.payload.items()
                },
                "version": version,
            },
        )
        for event in change.events
    )
    return Change(audit=audit, events=events)


class ChangeWriter(SqlStoreBase):
    """Base of the registry stores: audited, evented write transactions."""

    @contextlib.contextmanager
    def _change_tx(self) -> Iterator[ChangeTx]:
        """A write transaction that holds the audit head (see the module docstring)."""
        with self._write() as conn:
            seq, hash_ = self._lock_head(conn)
            yield ChangeTx(conn=conn, head_seq=seq, head_hash=hash_)

    def _lock_head(self, conn: Connection) -> tuple[int, str]:
        row = conn.execute(_LOCK_HEAD).first()
        if row is not None:
            return int(row.seq), str(row.entry_hash)
        if conn.execute(_ANY_ENTRY).first() is not None:
            raise StorageError(
                "The audit log has entries but its head row (table audit_head) is missing: "
                "the log was tampered with; run 'moorline audit verify' and restore the "
                "database from a backup before changing the registry again"
            )
        # The first write ever: create the head. A concurrent first writer may have
        # created it meanwhile; then take theirs (and wait for its lock).
        conn.execute(
            self._insert_ignore(_head, "id"), {"id": HEAD_ID, "seq": 0, "entry_hash": GENESIS}
        )
        row = conn.execute(_LOCK_HEAD).one()
        return int(row.seq), str(row.entry_hash)

    def _record(self, tx: ChangeTx, change: Change, *, now: int | None = None) -> AuditEntry:
        """Append the change's audit entry and store its events, inside ``tx``."""
        at = now_ms() if now is None else now
        entry = self._append(tx, change.audit, at)
        if change.events:
            self._emit(tx.conn, change.events, at)
        return entry

    def _append(self, tx: ChangeTx, draft: AuditDraft, at: int) -> AuditEntry:
        text, details = encode_json(draft.details, "audit details")
        seq = tx.head_seq + 1
        prev = tx.head_hash
        digest = entry_hash(
            seq=seq,
            at=at,
            actor=draft.actor,
            action=draft.action,
            target=draft.target,
            details=details,
            reason=draft.reason,
            prev_hash=prev,
        )
        conn = tx.conn
        conn.execute(
            _INSERT_ENTRY,
            {
                "seq": seq,
                "at": at,
                "actor": draft.actor,
                "action": draft.action,
                "target": draft.target,
                "details": text,
                "reason": draft.reason,
                "prev_hash": prev,
                "entry_hash": digest,
            },
        )
        conn.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": digest})
        tx.head_seq, tx.head_hash = seq, digest
        return AuditEntry(
            seq=seq,
            at=at,
            actor=draft.actor,
            action=draft.action,
            target=draft.target,
            details=details,
            reason=draft.reason,
            prev_hash=prev,
            entry_hash=digest,
        )

    def _emit(self, conn: Connection, events: tuple[EventDraft, ...], at: int) -> None:
        subscribers = [
            (webhook_id, frozenset(json.loads(types)))
            for webhook_id, types in conn.execute(_ACTIVE_WEBHOOKS)
        ]
        for event in events:
            payload, _ = encode_json(event.payload, "event payload")
            event_id = conn.execute(
                _INSERT_EVENT, {"at": at, "type": event.event_type, "payload": payload}
            ).scalar_one()
            rows = [
                {
                    "webhook_id": webhook_id,
                    "event_id": event_id,
                    "attempts": 0,
                    "next_attempt_at": at,
                    "done": False,
                }
                for webhook_id, types in subscribers
                if event.event_type in types or "*" in types
            ]
            if rows:
                conn.execute(_SCHEDULE, rows)


def read_head(conn: Connection) -> tuple[int, str] | None:
    """The stored head, ``(0, GENESIS)`` when entries exist without one, None when empty."""
    row = conn.execute(_READ_HEAD).first()
    if row is not None and row.seq > 0:
        return int(row.seq), str(row.entry_hash)
    if conn.execute(_ANY_ENTRY).first() is None:
        return None
    # Entries without a head: the head row was deleted or reset. Report a head
    # that cannot match, so verification fails instead of skipping the check.
    return (0, GENESIS) if row is None else (int(row.seq), str(row.entry_hash))


__all__ = ["ChangeTx", "ChangeWriter", "dumps", "encode_json", "read_head", "with_version"]
