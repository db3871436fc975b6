"""What the governance commands share: who the local user is, and record shapes.

The CLI on a local store (SQLite file, PostgreSQL URI) acts as ``admin``
under ``MOORLINE_USER`` or the OS user name: whoever can open the database
directly already holds every right over it, so a lesser role would protect
nothing. The two-person rule still holds between names: the user who
requested an approval cannot grant it. Against a server
(``--store http://...``) the server decides who the caller is from the
API token (``MOORLINE_TOKEN``) and what that token's role allows.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

import orjson

from moorline.auth.models import Role
from moorline.bootstrap import Services
from moorline.errors import NotImplementedFeature
from moorline.registry.auditing import AuditService
from moorline.registry.events import WebhookService
from moorline.registry.governance import Actor, GovernanceService
from moorline.registry.models import Approval, AuditEntry, Delivery, PromotionPolicy, Webhook


def local_actor() -> Actor:
    """The acting user of a local CLI session: ``MOORLINE_USER`` or the OS user, as admin."""
    name = os.environ.get("MOORLINE_USER", "").strip() or getpass.getuser()
    return Actor(name=name, role=Role.ADMIN)


def _service(services: Services, field: str) -> Any:
    service = getattr(services, field, None)
    if service is None:
        raise NotImplementedFeature(
            f"This store ({services.settings.store_uri}) has no {field} service: "
            "governance commands need a local store (sqlite:///... or postgresql://...)"
        )
    return service


def governance(services: Services) -> GovernanceService:
    result: GovernanceService = _service(services, "governance")
    return result


def audit(services: Services) -> AuditService:
    result: AuditService = _service(services, "audit")
    return result


def webhooks(services: Services) -> WebhookService:
    result: WebhookService = _service(services, "webhooks")
    return result


def approval_json(a: Approval) -> dict[str, Any]:
    return {
        "id": a.approval_id,
        "model": a.name,
        "alias": a.alias,
        "version": a.version,
        "state": a.state.value,
        "requested_by": a.requested_by,
        "requested_at": a.requested_at,
        "reason": a.reason,
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
        "decision_reason": a.decision_reason,
    }


def policy_json(p: PromotionPolicy) -> dict[str, Any]:
    return {
        "model": p.name,
        "risk": p.risk.value,
        "protected_aliases": list(p.protected_aliases),
        "must_beat": dict(p.must_beat),
        "updated_at": p.updated_at or None,
        "updated_by": p.updated_by or None,
    }


def audit_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "details": e.details,
        "reason": e.reason,
        "prev_hash": e.prev_hash,
        "entry_hash": e.entry_hash,
    }


def webhook_json(w: Webhook, *, with_secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": w.webhook_id,
        "url": w.url,
        "events": list(w.events),
        "active": w.active,
        "created_at": w.created_at,
    }
    if with_secret:
        out["secret"] = w.secret
    return out


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "event_id": d.event_id,
        "webhook_id": d.webhook_id,
        "attempt": d.attempt,
        "at": d.at,
        "ok": d.ok,
        "status_code": d.status_code,
        "error": d.error,
    }


def compact(value: object) -> str:
    """A short one-line JSON rendering for a table cell."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
