"""Governance pages: the approvals queue (``/ui/approvals``) and the audit log (``/ui/audit``).

Approvals are granted or rejected from the queue with POST forms, acting as
the signed-in token's name and role (``anonymous`` admin on a loopback
server without tokens, as in the API: :mod:`moorline.server.api._actor`).
The governance service decides what that identity may do; its refusals
(deciding your own request, a role below approver, a request already
decided) come back as a message on the queue, never as a server error.

The forms are protected against cross-site requests twice: the session
cookie is ``SameSite=Strict`` (another site's form does not carry it), and a
decision posted with another site's ``Origin`` (or ``Referer``, or a
``Sec-Fetch-Site`` other than same-origin) is refused, which also covers a
loopback server without tokens, where there is no cookie to withhold.

The audit log is shown newest first, filtered by actor, action and target
prefix, with a button that verifies the whole hash chain.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from moorline.auth.models import Role
from moorline.bootstrap import Services
from moorline.errors import InvalidArgument, MoorlineError, NotFound
from moorline.registry.audit import VerifyResult
from moorline.registry.auditing import MAX_LIMIT, AuditService
from moorline.registry.governance import Actor
from moorline.registry.models import Approval, ApprovalState, AuditEntry
from moorline.server.api._actor import request_actor
from moorline.server.errors import HTTP_STATUS
from moorline.server.ui.experiments import _page_size
from moorline.server.ui.registry_links import respond, respond_error
from moorline.server.ui.render import Renderer, query_string

PENDING_SHOWN = 500
DECIDED_SHOWN = 100
AUDIT_PAGE_SIZE = 50
#: Suggestions for the action filter (any action can be typed).
KNOWN_ACTIONS = (
    "alias.set",
    "alias.set.refused",
    "alias.delete",
    "alias.delete.refused",
    "approval.request",
    "approval.grant",
    "approval.reject",
    "approval.consume",
    "model_version.create",
    "model_version.update",
    "model_version.transition_stage",
    "model_version.transition_stage.refused",
    "model_version.delete",
    "model_version.set_tag",
    "registered_model.create",
    "registered_model.rename",
    "registered_model.update",
    "registered_model.delete",
    "registered_model.set_tag",
    "policy.set",
)
#: Form fields of a decision: the reason, and room for nothing else.
MAX_FORM_FIELDS = 4


# -- the audit log, newest first ---------------------------------------------------


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": entry.details,
        "reason": entry.reason,
        "prev_hash": entry.prev_hash,
        "entry_hash": entry.entry_hash,
    }


def newest_first(
    audit: AuditService,
    *,
    before: int | None,
    limit: int,
    actor: str | None = None,
    action: str | None = None,
    target_prefix: str | None = None,
) -> tuple[list[AuditEntry], int | None]:
    """Up to ``limit`` matching entries older than ``before`` (all when None), newest first,
    and the ``before`` of the next older page (None when there is none).

    The store lists oldest first after a seq, so this reads windows of seqs
    backwards from the head: a window of ``w`` seqs holds at most ``w``
    entries, so one call with ``limit=w`` returns every match in it. Windows
    grow fourfold, so a sparse filter over a long log costs few calls.
    """
    head = audit.store.audit_head()
    if head is None:
        return [], None
    top = head[0] if before is None else min(before - 1, head[0])
    found: list[AuditEntry] = []
    window = min(max(limit + 1, 100), MAX_LIMIT)
    while top >= 1 and len(found) <= limit:
        low = max(0, top - window)
        batch = audit.list_entries(
            actor=actor,
            action=action,
            target_prefix=target_prefix,
            after_seq=low,
            limit=window,
        )
        found.extend(e for e in reversed(batch) if e.seq <= top)
        top = low
        window = min(window * 4, MAX_LIMIT)
    older = found[limit - 1].seq if len(found) > limit else None
    return found[:limit], older


def _seq(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise InvalidArgument(f"{name} must be an audit entry number, got {value!r}")
    return int(value)


def verify_dict(result: VerifyResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "checked": result.checked,
        "first_broken_seq": result.first_broken_seq,
        "problem": result.problem,
    }


def audit_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/audit``: the audit log, newest first, filtered, paged, and verifiable."""
    qp = request.query_params
    actor = qp.get("actor", "").strip()
    action = qp.get("action", "").strip()
    target = qp.get("target", "").strip()
    page_size = _page_size(request, AUDIT_PAGE_SIZE)
    error = None
    entries: list[AuditEntry] = []
    older: int | None = None
    newer: int | None = None
    before: int | None = None
    try:
        before = _seq(qp.get("before"), "before")
        after = _seq(qp.get("after"), "after")
        if after is not None:
            # Going back towards the newest: the page just after ``after``.
            batch = services.audit.list_entries(
                actor=actor or None,
                action=action or None,
                target_prefix=target or None,
                after_seq=after,
                limit=page_size + 1,
            )
            entries = list(reversed(batch[:page_size]))
            newer = entries[0].seq if len(batch) > page_size else None
            older = entries[-1].seq if entries else None
        else:
            entries, older = newest_first(
                services.audit,
                before=before,
                limit=page_size,
                actor=actor or None,
                action=action or None,
                target_prefix=target or None,
            )
            newer = entries[0].seq if before is not None and entries else None
    except InvalidArgument as exc:
        error = exc.message
    verification = verify_dict(services.audit.verify()) if qp.get("verify") == "1" else None
    data = {
        "filters": {"actor": actor, "action": action, "target": target},
        "entries": [entry_dict(e) for e in entries],
        "older_before": older,
        "newer_after": newer,
        "verification": verification,
        "error": error,
    }
    base = [("actor", actor), ("action", action), ("target", target)]
    if page_size != AUDIT_PAGE_SIZE:
        base.append(("page_size", str(page_size)))
    extra = {
        "older_url": query_string([*base, ("before", str(older))]) if older else None,
        "newer_url": query_string([*base, ("after", str(newer))]) if newer else None,
        "newest_url": (query_string(base) or "?") if before or qp.get("after") else None,
        "json_query": query_string([*base, *((k, qp.get(k) or "") for k in ("before", "after"))]),
        "known_actions": KNOWN_ACTIONS,
        "filtered": bool(actor or action or target),
    }
    return respond(ui, request, "audit.html", data, extra=extra, status_code=400 if error else 200)


# -- the approvals queue ----------------------------------------------------------


def approval_dict(a: Approval, current_version: int | None) -> dict[str, Any]:
    return {
        "approval_id": a.approval_id,
        "name": a.name,
        "alias": a.alias,
        "version": a.version,
        "requested_by": a.requested_by,
        "requested_at": a.requested_at,
        "reason": a.reason,
        "state": a.state.value,
        "decided_by": a.decided_by,
        "decided_at": a.decided_at,
        "decision_reason": a.decision_reason,
        "current_version": current_version,
    }


def approvals_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/approvals``: pending requests first, then recent decisions."""
    return _approvals(services, ui, request, actor=request_actor(), error=None, status_code=200)


def _approvals(
    services: Services,
    ui: Renderer,
    request: Request,
    *,
    actor: Actor,
    error: str | None,
    status_code: int,
) -> Response:
    governance = services.governance
    model = request.query_params.get("model", "").strip() or None
    try:
        pending = governance.list_approvals(
            state=ApprovalState.PENDING, name=model, limit=PENDING_SHOWN
        )
        recent = governance.list_approvals(name=model, limit=DECIDED_SHOWN + len(pending))
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    decided = [a for a in recent if a.state != ApprovalState.PENDING][:DECIDED_SHOWN]
    holders: dict[str, dict[str, int]] = {}

    def holder(a: Approval) -> int | None:
        if a.name not in holders:
            try:
                holders[a.name] = {
                    x.alias: x.version for x in services.registry.list_aliases(a.name)
                }
            except NotFound:
                holders[a.name] = {}
        return holders[a.name].get(a.alias)

    notice = None
    decided_id = request.query_params.get("decided")
    if decided_id and error is None:
        try:
            done = governance.get_approval(decided_id)
        except MoorlineError:
            done = None
        if done is not None and done.state != ApprovalState.PENDING:
            notice = approval_dict(done, holder(done))
    data = {
        "actor": {
            "name": actor.name,
            "role": actor.role.value,
            "can_decide": actor.at_least(Role.APPROVER),
        },
        "model": model,
        "pending": [approval_dict(a, holder(a)) for a in pending],
        "decided": [approval_dict(a, holder(a)) for a in decided],
        "notice": notice,
        "error": error,
    }
    extra = {"json_query": query_string([("model", model or "")])}
    return respond(ui, request, "approvals.html", data, extra=extra, status_code=status_code)


def cross_site_refusal(request: Request) -> str | None:
    """Why a form post must be refused as coming from another site, or None."""
    own = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is not None:
        if origin != own:
            return f"Refused: the form was posted from another site ({origin})."
        return None
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"Refused: the form was posted from another site (Sec-Fetch-Site: {fetch_site})."
    referer = request.headers.get("referer")
    if referer is not None and referer != own and not referer.startswith(own + "/"):
        return "Refused: the form was posted from another site (its Referer is not this server)."
    return None


async def decide(services: Services, ui: Renderer, request: Request, *, decision: str) -> Response:
    """POST ``/ui/approvals/{id}/grant`` or ``/reject``: decide as the signed-in identity."""
    actor = request_actor()
    refusal = cross_site_refusal(request)
    if refusal is not None:
        return await run_in_threadpool(
            _approvals, services, ui, request, actor=actor, error=refusal, status_code=403
        )
    async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
        raw = form.get("reason")
    reason = raw.strip() if isinstance(raw, str) else ""
    approval_id = request.path_params["approval_id"]
    governance = services.governance
    try:
        if decision == "grant":
            approval = await run_in_threadpool(
                governance.grant, approval_id, actor=actor, reason=reason
            )
        else:
            approval = await run_in_threadpool(
                governance.reject, approval_id, actor=actor, reason=reason
            )
    except MoorlineError as exc:
        verb = "grant" if decision == "grant" else "reject"
        message = f"Could not {verb} approval {approval_id}: {exc.message}"
        return await run_in_threadpool(
            _approvals,
            services,
            ui,
            request,
            actor=actor,
            error=message,
            status_code=HTTP_STATUS.get(exc.code, 500),
        )
    # Post/redirect/get: the notice is read back from the stored decision, not the URL.
    target = "/ui/approvals" + query_string([("decided", approval.approval_id)])
    return RedirectResponse(target, status_code=303)
