"""Reading and verifying the audit log.

Entries are appended by the stores, in the same transaction as the change
they record (see :mod:`moorline.registry.ports`); this service only reads:
it lists entries with filters and verifies the hash chain.
"""

from __future__ import annotations

from collections.abc import Iterator

from moorline.errors import InvalidArgument
from moorline.registry.audit import VerifyResult, verify_chain
from moorline.registry.models import AuditEntry
from moorline.registry.ports import AuditStore

MAX_LIMIT = 10_000
#: Entries fetched per store call while filtering by time.
_BATCH = 1000
#: Re-verifications when writers keep appending during verification.
_VERIFY_TRIES = 5


class AuditService:
    """List and verify the hash-chained audit log."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    @property
    def store(self) -> AuditStore:
        return self._store

    def list_entries(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_prefix: str | None = None,
        since: int | None = None,
        until: int | None = None,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Entries in seq order (oldest first) matching every given filter.

        ``actor`` and ``action`` match exactly; ``target_prefix`` matches the
        start of the target (``models:/churn`` covers the model, its versions
        and aliases); ``since``/``until`` bound ``at`` (milliseconds, both
        inclusive); ``after_seq`` pages on from the last seq seen.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidArgument(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        if after_seq < 0:
            raise InvalidArgument(f"after_seq must be 0 or more, got {after_seq}")
        if since is not None and until is not None and since > until:
            raise InvalidArgument(f"since ({since}) is after until ({until}): the range is empty")
        filters = {
            "actor": actor or None,
            "action": action or None,
            "target_prefix": target_prefix or None,
        }
        if since is None and until is None:
            return self._store.list_audit(after_seq=after_seq, limit=limit, **filters)
        # ``at`` is taken when a change is made and seq when it is written, so
        # times are only nearly ordered by seq: scan rather than stop early.
        out: list[AuditEntry] = []
        cursor = after_seq
        while len(out) < limit:
            batch = self._store.list_audit(after_seq=cursor, limit=_BATCH, **filters)
            for entry in batch:
                if (since is None or entry.at >= since) and (until is None or entry.at <= until):
                    out.append(entry)
                    if len(out) == limit:
                        break
            if len(batch) < _BATCH:
                break
            cursor = batch[-1].seq
        return out

    def verify(self) -> VerifyResult:
        """Check the whole chain and its head; name the first broken entry.

        The head is read first and the entries are checked up to it, so
        entries appended while verifying are not mistaken for tampering.
        Entries beyond a head that did not move are tampering: the head was
        edited or removed.
        """
        result = VerifyResult(ok=True, checked=0)
        for _ in range(_VERIFY_TRIES):
            head = self._store.audit_head()
            result = verify_chain(self._upto(head), head=head)
            if not result.ok:
                return result
            last = head[0] if head is not None else 0
            beyond = self._store.list_audit(after_seq=last, limit=1)
            if not beyond:
                return result
            if self._store.audit_head() == head:
                seq = beyond[0].seq
                return VerifyResult(
                    ok=False,
                    checked=result.checked,
                    first_broken_seq=seq,
                    problem=f"entry {seq} lies beyond the recorded head of the log "
                    f"(entry {last}): the head was edited or removed",
                )
            # Entries were appended while verifying: check again up to the new head.
        return result

    def _upto(self, head: tuple[int, str] | None) -> Iterator[AuditEntry]:
        """Entries up to the head's seq; the store's iterator is closed when done
        (it may hold a database connection while open)."""
        entries = self._store.iter_audit()
        try:
            for entry in entries:
                if head is not None and entry.seq > head[0]:
                    return
                yield entry
        finally:
            close = getattr(entries, "close", None)
            if close is not None:
                close()
