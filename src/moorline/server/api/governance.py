"""Governance over ``/api/v1``: promotion policies, approvals, the audit log, webhooks.

Each handler calls one service method with the caller the server
authenticated (``moorline.server.api._actor``); the services decide what
that caller's role allows (approvers decide approvals, never their own;
admins set policies and manage webhooks) and refuse with a 403
PERMISSION_DENIED that says why.

Webhook records carry their signing secret, so every ``/webhooks`` route is
for admin tokens only, reads included.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from moorline.auth.models import Role
from moorline.errors import PermissionDenied
from moorline.registry.auditing import MAX_LIMIT as AUDIT_MAX_LIMIT
from moorline.registry.auditing import AuditService
from moorline.registry.events import WebhookService
from moorline.registry.governance import MAX_LIST, GovernanceService
from moorline.registry.models import ApprovalState
from moorline.schemas import registry as s
from moorline.schemas.common import INT64_MAX
from moorline.server.api._actor import request_actor
from moorline.server.api._http import errors, json_response, no_content
from moorline.server.middleware import current_token

Millis = Annotated[int | None, Query(ge=0, le=INT64_MAX)]


def policy_router(governance: GovernanceService) -> APIRouter:
    api = APIRouter(prefix="/registered-models/{name}/policy", tags=["governance"])

    @api.get(
        "",
        response_model=s.PolicyAnswer,
        responses=errors(),
        summary="Get a model's promotion policy (null when it has none)",
    )
    def get_policy(name: str) -> Response:
        policy = governance.get_policy(name)
        return json_response(
            s.PolicyAnswer(policy=s.PromotionPolicy.from_domain(policy) if policy else None)
        )

    @api.put(
        "",
        response_model=s.PromotionPolicy,
        responses=errors(404, 413),
        summary="Replace a model's promotion policy (admin)",
    )
    def set_policy(name: str, body: s.SetPolicy) -> Response:
        """``risk: high`` makes every move of a protected alias need an approval from a
        second person; ``must_beat`` lists metrics the candidate's run must beat."""
        policy = governance.set_policy(
            name,
            actor=request_actor(),
            risk=body.risk,
            protected_aliases=body.protected_aliases,
            must_beat=body.must_beat,
            reason=body.reason,
        )
        return json_response(s.PromotionPolicy.from_domain(policy))

    return api


def approvals_router(governance: GovernanceService) -> APIRouter:
    api = APIRouter(prefix="/approvals", tags=["governance"])

    @api.post(
        "",
        status_code=201,
        response_model=s.Approval,
        responses=errors(404, 413),
        summary="Request approval to move an alias to a version",
    )
    def request_approval(body: s.RequestApproval) -> Response:
        """The requester is the caller; a reason is required."""
        approval = governance.request_approval(
            body.name, body.alias, body.version, actor=request_actor(), reason=body.reason
        )
        return json_response(s.Approval.from_domain(approval), 201)

    @api.get("", response_model=s.ApprovalList, responses=errors(), summary="List approvals")
    def list_approvals(
        state: ApprovalState | None = None,
        name: Annotated[str | None, Query(description="Only this model's approvals.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 1000,
    ) -> Response:
        """Newest first."""
        found = governance.list_approvals(state=state, name=name, limit=limit)
        return json_response(s.ApprovalList(items=[s.Approval.from_domain(a) for a in found]))

    @api.get("/{approval_id}", response_model=s.Approval, responses=errors(404), summary="Get one")
    def get_approval(approval_id: str) -> Response:
        return json_response(s.Approval.from_domain(governance.get_approval(approval_id)))

    @api.post(
        "/{approval_id}/grant",
        response_model=s.Approval,
        responses=errors(404, 409, 413),
        summary="Grant a pending approval (approver; never one's own request)",
    )
    def grant_approval(approval_id: str, body: s.DecideApproval) -> Response:
        approval = governance.grant(approval_id, actor=request_actor(), reason=body.reason)
        return json_response(s.Approval.from_domain(approval))

    @api.post(
        "/{approval_id}/reject",
        response_model=s.Approval,
        responses=errors(404, 409, 413),
        summary="Reject a pending approval with a reason (approver; never one's own)",
    )
    def reject_approval(approval_id: str, body: s.DecideApproval) -> Response:
        approval = governance.reject(approval_id, actor=request_actor(), reason=body.reason)
        return json_response(s.Approval.from_domain(approval))

    return api


def audit_router(audit: AuditService) -> APIRouter:
    api = APIRouter(prefix="/audit", tags=["audit"])

    @api.get("", response_model=s.AuditList, responses=errors(), summary="List audit entries")
    def list_audit(
        *,
        actor: str | None = None,
        action: str | None = None,
        target_prefix: Annotated[
            str | None, Query(description="e.g. models:/churn (the model, versions, aliases)")
        ] = None,
        since: Millis = None,
        until: Millis = None,
        after_seq: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
        limit: Annotated[int, Query(ge=1, le=AUDIT_MAX_LIMIT)] = 1000,
    ) -> Response:
        """Oldest first; page on with ``after_seq`` set to the last seq seen."""
        found = audit.list_entries(
            actor=actor,
            action=action,
            target_prefix=target_prefix,
            since=since,
            until=until,
            after_seq=after_seq,
            limit=limit,
        )
        return json_response(s.AuditList(items=[s.AuditEntry.from_domain(e) for e in found]))

    @api.get(
        "/head",
        response_model=s.AuditHead,
        responses=errors(),
        summary="The newest entry's seq and hash",
    )
    def audit_head() -> Response:
        head = audit.store.audit_head()
        if head is None:
            return json_response(s.AuditHead())
        return json_response(s.AuditHead(seq=head[0], entry_hash=head[1]))

    @api.get(
        "/verify",
        response_model=s.VerifyResult,
        responses=errors(),
        summary="Verify the hash chain; name the first broken entry",
    )
    def verify_audit() -> Response:
        result = audit.verify()
        return json_response(
            s.VerifyResult(
                ok=result.ok,
                checked=result.checked,
                first_broken_seq=result.first_broken_seq,
                problem=result.problem,
            )
        )

    return api


async def require_admin() -> None:
    """Refuse a token that is not an admin's (async: runs where the token is set)."""
    token = current_token.get()
    if token is not None and token.role != Role.ADMIN:
        raise PermissionDenied(
            f"Token {token.name!r} has role {token.role.value!r}; webhooks (which hold "
            "signing secrets and send registry events outside) need 'admin'"
        )


def webhooks_router(webhooks: WebhookService) -> APIRouter:
    api = APIRouter(prefix="/webhooks", tags=["webhooks"], dependencies=[Depends(require_admin)])

    @api.post(
        "",
        status_code=201,
        response_model=s.Webhook,
        responses=errors(413),
        summary="Register a webhook (admin); the answer holds its signing secret",
    )
    def add_webhook(body: s.AddWebhook) -> Response:
        webhook = webhooks.add(
            body.url, actor=request_actor(), events=body.events, secret=body.secret
        )
        return json_response(s.Webhook.from_domain(webhook), 201)

    @api.get("", response_model=s.WebhookList, responses=errors(), summary="List webhooks")
    def list_webhooks() -> Response:
        found = webhooks.list_webhooks()
        return json_response(s.WebhookList(items=[s.Webhook.from_domain(w) for w in found]))

    @api.get(
        "/deliveries",
        response_model=s.DeliveryList,
        responses=errors(),
        summary="The delivery log: every attempt to deliver an event",
    )
    def list_deliveries(
        webhook_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Response:
        found = webhooks.deliveries(webhook_id=webhook_id, limit=limit)
        return json_response(s.DeliveryList(items=[s.Delivery.from_domain(d) for d in found]))

    @api.delete("/{webhook_id}", status_code=204, responses=errors(404), summary="Delete a webhook")
    def delete_webhook(webhook_id: str) -> Response:
        webhooks.delete(webhook_id, actor=request_actor())
        return no_content()

    return api
