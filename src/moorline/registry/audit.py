"""The audit log's hash chain: how an entry's hash is computed, and verification.

``entry_hash = SHA-256(canonical JSON of (seq, at, actor, action, target,
details, reason, prev_hash))``; the first entry's ``prev_hash`` is 64 zeros.
Editing any field of any entry, deleting an entry or reordering entries
makes verification fail at the first entry whose stored hash or link no
longer matches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from moorline.registry.models import AuditEntry

GENESIS = "0" * 64


def entry_hash(
    *,
    seq: int,
    at: int,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any],
    reason: str,
    prev_hash: str,
) -> str:
    """Hash of one entry's content and its predecessor's hash.

    >>> len(entry_hash(seq=1, at=0, actor="a", action="x", target="t", details={},
    ...                reason="", prev_hash=GENESIS))
    64
    """
    canonical = json.dumps(
        [seq, at, actor, action, target, details, reason, prev_hash],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str = ""


def verify_chain(
    entries: Iterable[AuditEntry], *, head: tuple[int, str] | None = None
) -> VerifyResult:
    """Check sequence continuity, links and hashes, and that the chain ends at
    ``head`` (the separately stored newest entry); report the first broken entry."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for e in entries:
        if e.seq != expected_seq:
            return VerifyResult(
                ok=False,
                checked=checked,
                first_broken_seq=expected_seq,
                problem=f"entry {expected_seq} is missing (next entry found is {e.seq})",
            )
        if e.prev_hash != prev:
            return VerifyResult(
                ok=False,
                checked=checked,
                first_broken_seq=e.seq,
                problem=f"entry {e.seq} does not link to the hash of entry {e.seq - 1}",
            )
        recomputed = entry_hash(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            action=e.action,
            target=e.target,
            details=e.details,
            reason=e.reason,
            prev_hash=e.prev_hash,
        )
        if recomputed != e.entry_hash:
            return VerifyResult(
                ok=False,
                checked=checked,
                first_broken_seq=e.seq,
                problem=f"entry {e.seq} was modified after it was written (hash mismatch)",
            )
        prev = e.entry_hash
        expected_seq += 1
        checked += 1
    if head is not None:
        head_seq, head_hash = head
        if head_seq != checked or head_hash != prev:
            first = min(head_seq, checked + 1) if head_seq > checked else head_seq
            return VerifyResult(
                ok=False,
                checked=checked,
                first_broken_seq=max(first, 1),
                problem=f"the log ends at entry {checked} but its head records entry {head_seq}: "
                "entries were deleted or the head was edited",
            )
    return VerifyResult(ok=True, checked=checked)
