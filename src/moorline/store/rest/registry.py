"""The registry ports over moorline's HTTP API (``/api/v1``).

Reads are one call each, parsed with the schemas the server renders with.
Changes are NOT replayed as the client built them, and this asymmetry is
deliberate:

- A local store receives a :class:`~moorline.registry.ports.Change` (the
  audit entry and events the client-side service drafted) and writes it
  with the change in one transaction.
- Over HTTP the client is not trusted to write the audit log: a client
  could claim any actor. So each mutating call here sends only the
  operation, its arguments and the ``reason`` taken from the drafted
  change; the ``actor``/``user_id`` arguments and the rest of the draft are
  dropped. The server runs the operation through ITS OWN services, which
  build the change again with the caller the server authenticated (the
  token's name, or ``anonymous`` on a loopback server without tokens), and
  apply the server's governance (promotion policies, approvals).
- Times come from the server's clock for the same reason: the audit chain
  is ordered by the server.

Hence a remote :class:`~moorline.registry.service.RegistryService` runs
without an alias guard of its own (see ``moorline.bootstrap``): the server
enforces the policies, once, and answers a refused move with the same
:class:`~moorline.errors.PermissionDenied` a local guard raises.

Mutating calls are never retried once they may have reached the server
(each would append to the audit log again); reads are.

>>> from moorline.store.rest.client import RestClient
>>> store = RestRegistryStore(RestClient("http://127.0.0.1:5000"))  # doctest: +SKIP
>>> store.get_version_by_alias(ModelName("churn"), "champion").version  # doctest: +SKIP
3
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from moorline.core.paging import Page
from moorline.errors import InvalidArgument, NotFound, NotImplementedFeature, PermissionDenied
from moorline.registry.models import (
    Approval,
    ApprovalId,
    ApprovalState,
    AuditDraft,
    AuditEntry,
    Delivery,
    EventDraft,
    ModelName,
    ModelVersion,
    PromotionPolicy,
    RegisteredModel,
    Stage,
    Webhook,
    WebhookId,
)
from moorline.registry.ports import (
    AliasInfo,
    AuditStore,
    Change,
    GovernanceStore,
    RegistryStore,
    WebhookStore,
)
from moorline.schemas import registry as s
from moorline.schemas.tracking import SetTag
from moorline.store.rest._search import format_filter, format_order_by
from moorline.store.rest.client import RestClient, quote_segment
from moorline.tracking.search import Clause, OrderKey

#: Entries fetched per call while iterating over the whole audit log.
AUDIT_PAGE = 5000


def _model(name: str) -> str:
    if not name:
        raise NotFound("No registered model named ''")
    return f"/registered-models/{quote_segment(name)}"


def _version(name: str, version: int) -> str:
    return f"{_model(name)}/versions/{version}"


def _alias(name: str, alias: str) -> str:
    if not alias:
        raise InvalidArgument("Invalid alias '': use 1-255 letters, digits, '_' or '-'")
    return f"{_model(name)}/aliases/{quote_segment(alias)}"


def _search_params(
    filter_clauses: Sequence[Clause],
    order_by: Sequence[OrderKey],
    max_results: int,
    page_token: str | None,
) -> dict[str, str | int | Sequence[str]]:
    params: dict[str, str | int | Sequence[str]] = {
        "order_by": format_order_by(order_by),
        "max_results": max_results,
    }
    text = format_filter(filter_clauses)
    if text is not None:
        params["filter"] = text
    if page_token:
        params["page_token"] = page_token
    return params


def _reason(change: Change) -> dict[str, str | int | bool | Sequence[str]] | None:
    return {"reason": change.audit.reason} if change.audit.reason else None


class RestRegistryStore(RegistryStore):
    """Registered models, versions and aliases kept by a moorline server.

    See the module docstring: changes are re-run by the server's own
    service with the authenticated actor; only their arguments and reason
    travel.
    """

    def __init__(self, client: RestClient) -> None:
        self._client = client

    # -- registered models -------------------------------------------------------------

    def create_registered_model(
        self,
        *,
        name: ModelName,
        description: str,
        tags: dict[str, str],
        user_id: str,
        now: int,
        change: Change,
    ) -> RegisteredModel:
        body = s.CreateRegisteredModel(name=name, description=description, tags=tags)
        found = self._client.call_json(
            "POST", "/registered-models", s.RegisteredModel, body=body, idempotent=False
        )
        return found.to_domain()

    def get_registered_model(self, name: ModelName) -> RegisteredModel:
        return self._client.call_json("GET", _model(name), s.RegisteredModel).to_domain()

    def rename_registered_model(
        self, name: ModelName, new_name: ModelName, *, now: int, change: Change
    ) -> RegisteredModel:
        body = s.RenameRegisteredModel(new_name=new_name)
        found = self._client.call_json(
            "POST", f"{_model(name)}/rename", s.RegisteredModel, body=body, idempotent=False
        )
        return found.to_domain()

    def update_registered_model(
        self, name: ModelName, *, description: str, now: int, change: Change
    ) -> RegisteredModel:
        body = s.UpdateRegisteredModel(description=description)
        found = self._client.call_json(
            "PATCH", _model(name), s.RegisteredModel, body=body, idempotent=False
        )
        return found.to_domain()

    def delete_registered_model(self, name: ModelName, *, change: Change) -> None:
        self._client.call("DELETE", _model(name), params=_reason(change), idempotent=False)

    def search_registered_models(
        self,
        *,
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[RegisteredModel]:
        params = _search_params(filter_clauses, order_by, max_results, page_token)
        page = self._client.call_json(
            "GET", "/registered-models", s.RegisteredModelPage, params=params
        )
        return Page(
            items=tuple(x.to_domain() for x in page.items), next_page_token=page.next_page_token
        )

    def set_registered_model_tag(
        self, name: ModelName, key: str, value: str, *, now: int, change: Change
    ) -> None:
        self._client.call(
            "PUT",
            f"{_model(name)}/tags/{quote_segment(key)}",
            body=SetTag(value=value),
            idempotent=False,
        )

    def delete_registered_model_tag(
        self, name: ModelName, key: str, *, now: int, change: Change
    ) -> None:
        self._client.call("DELETE", f"{_model(name)}/tags/{quote_segment(key)}", idempotent=False)

    # -- versions ----------------------------------------------------------------------

    def create_model_version(
        self,
        *,
        name: ModelName,
        source: str,
        run_id: str | None,
        run_link: str | None,
        model_id: str | None,
        description: str,
        tags: dict[str, str],
        user_id: str,
        now: int,
        change: Change,
    ) -> ModelVersion:
        body = s.CreateModelVersion(
            source=source,
            run_id=run_id,
            run_link=run_link,
            model_id=model_id,
            description=description,
            tags=tags,
        )
        found = self._client.call_json(
            "POST", f"{_model(name)}/versions", s.ModelVersion, body=body, idempotent=False
        )
        return found.to_domain()

    def get_model_version(self, name: ModelName, version: int) -> ModelVersion:
        return self._client.call_json("GET", _version(name, version), s.ModelVersion).to_domain()

    def update_model_version(
        self, name: ModelName, version: int, *, description: str, now: int, change: Change
    ) -> ModelVersion:
        body = s.UpdateModelVersion(description=description)
        found = self._client.call_json(
            "PATCH", _version(name, version), s.ModelVersion, body=body, idempotent=False
        )
        return found.to_domain()

    def transition_stage(
        self,
        name: ModelName,
        version: int,
        *,
        stage: Stage,
        archive_existing: bool,
        now: int,
        change: Change,
    ) -> ModelVersion:
        body = s.TransitionStage(
            stage=stage.value,
            archive_existing_versions=archive_existing,
            reason=change.audit.reason,
        )
        found = self._client.call_json(
            "POST", f"{_version(name, version)}/stage", s.ModelVersion, body=body
        )
        return found.to_domain()

    def delete_model_version(self, name: ModelName, version: int, *, change: Change) -> None:
        self._client.call(
            "DELETE", _version(name, version), params=_reason(change), idempotent=False
        )

    def search_model_versions(
        self,
        *,
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[ModelVersion]:
        params = _search_params(filter_clauses, order_by, max_results, page_token)
        page = self._client.call_json("GET", "/model-versions", s.ModelVersionPage, params=params)
        return Page(
            items=tuple(x.to_domain() for x in page.items), next_page_token=page.next_page_token
        )

    def set_model_version_tag(
        self, name: ModelName, version: int, key: str, value: str, *, now: int, change: Change
    ) -> None:
        self._client.call(
            "PUT",
            f"{_version(name, version)}/tags/{quote_segment(key)}",
            body=SetTag(value=value),
            idempotent=False,
        )

    def delete_model_version_tag(
        self, name: ModelName, version: int, key: str, *, now: int, change: Change
    ) -> None:
        self._client.call(
            "DELETE", f"{_version(name, version)}/tags/{quote_segment(key)}", idempotent=False
        )

    # -- aliases -----------------------------------------------------------------------

    def set_alias(
        self, name: ModelName, alias: str, version: int, *, actor: str, now: int, change: Change
    ) -> None:
        body = s.SetAlias(version=version, reason=change.audit.reason)
        self._client.call("PUT", _alias(name, alias), body=body, idempotent=False)

    def delete_alias(self, name: ModelName, alias: str, *, change: Change) -> None:
        self._client.call("DELETE", _alias(name, alias), params=_reason(change), idempotent=False)

    def get_version_by_alias(self, name: ModelName, alias: str) -> ModelVersion:
        return self._client.call_json("GET", _alias(name, alias), s.ModelVersion).to_domain()

    def list_aliases(self, name: ModelName) -> list[AliasInfo]:
        found = self._client.call_json("GET", f"{_model(name)}/aliases", s.AliasList)
        return [x.to_domain() for x in found.items]


class RestGovernanceStore(GovernanceStore):
    """Promotion policies and approvals kept by a moorline server.

    The server's governance service re-runs each change with the caller it
    authenticated: a request's requester, and a decision's decider, are the
    token's name whatever the client drafted, and the server's two-person
    rule and role checks apply. Approvals are consumed by the server itself
    when the alias move they authorise happens there.
    """

    def __init__(self, client: RestClient) -> None:
        self._client = client

    def get_policy(self, name: ModelName) -> PromotionPolicy | None:
        found = self._client.call_json("GET", f"{_model(name)}/policy", s.PolicyAnswer)
        return found.policy.to_domain() if found.policy is not None else None

    def set_policy(self, policy: PromotionPolicy, *, change: Change) -> None:
        body = s.SetPolicy(
            risk=policy.risk,
            protected_aliases=list(policy.protected_aliases),
            must_beat=dict(policy.must_beat),
            reason=change.audit.reason,
        )
        self._client.call("PUT", f"{_model(policy.name)}/policy", body=body, idempotent=False)

    def create_approval(self, approval: Approval, *, change: Change) -> Approval:
        body = s.RequestApproval(
            name=approval.name,
            alias=approval.alias,
            version=approval.version,
            reason=approval.reason,
        )
        return self._client.call_json("POST", "/approvals", s.Approval, body=body).to_domain()

    def get_approval(self, approval_id: ApprovalId) -> Approval:
        return self._client.call_json("GET", _approval(approval_id), s.Approval).to_domain()

    def list_approvals(
        self,
        *,
        state: ApprovalState | None = None,
        name: ModelName | None = None,
        limit: int = 1000,
    ) -> list[Approval]:
        params: dict[str, str | int | Sequence[str]] = {"limit": limit}
        if state is not None:
            params["state"] = state.value
        if name is not None:
            params["name"] = name
        found = self._client.call_json("GET", "/approvals", s.ApprovalList, params=params)
        return [a.to_domain() for a in found.items]

    def decide_approval(
        self,
        approval_id: ApprovalId,
        *,
        state: ApprovalState,
        decided_by: str,
        at: int,
        reason: str,
        change: Change,
    ) -> Approval:
        verbs = {ApprovalState.APPROVED: "grant", ApprovalState.REJECTED: "reject"}
        verb = verbs.get(state)
        if verb is None:
            raise PermissionDenied(
                f"Approval {approval_id} cannot be marked {state.value} by a client: the server "
                "consumes an approval itself when the alias move it authorises is made there"
            )
        found = self._client.call_json(
            "POST",
            f"{_approval(approval_id)}/{verb}",
            s.Approval,
            body=s.DecideApproval(reason=reason),
        )
        return found.to_domain()


class RestAuditStore(AuditStore):
    """The audit log kept by a moorline server: read and page it (so a client can
    verify the chain itself; ``GET /audit/verify`` has the server do it).

    Only the server appends to its log (each change's entry is written in the
    change's own transaction there); :meth:`append_audit` is refused, so no
    client can put an entry in anyone's name.
    """

    def __init__(self, client: RestClient) -> None:
        self._client = client

    def append_audit(self, draft: AuditDraft, *, now: int) -> AuditEntry:
        raise PermissionDenied(
            f"Cannot append {draft.action!r} to the audit log of {self._client.server_url}: "
            "only the server writes its audit log, as part of the changes it makes"
        )

    def list_audit(
        self,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        actor: str | None = None,
        action: str | None = None,
        target_prefix: str | None = None,
    ) -> list[AuditEntry]:
        params: dict[str, str | int | Sequence[str]] = {"after_seq": after_seq, "limit": limit}
        for key, value in (("actor", actor), ("action", action), ("target_prefix", target_prefix)):
            if value:
                params[key] = value
        found = self._client.call_json("GET", "/audit", s.AuditList, params=params)
        return [e.to_domain() for e in found.items]

    def iter_audit(self, *, batch: int = AUDIT_PAGE) -> Iterator[AuditEntry]:
        after = 0
        while True:
            entries = self.list_audit(after_seq=after, limit=batch)
            yield from entries
            if len(entries) < batch:
                return
            after = entries[-1].seq

    def audit_head(self) -> tuple[int, str] | None:
        head = self._client.call_json("GET", "/audit/head", s.AuditHead)
        if head.seq is None or head.entry_hash is None:
            return None
        return head.seq, head.entry_hash


class RestWebhookStore(WebhookStore):
    """Webhooks registered with a moorline server (admin tokens only there).

    The server draws the webhook's id and creation time; the secret the
    client chose (or drew) is sent so the client can show it. Deliveries are
    made by the server's own dispatcher, next to its outbox: the two
    delivery-side methods are refused here.
    """

    def __init__(self, client: RestClient) -> None:
        self._client = client

    def add_webhook(self, webhook: Webhook, *, change: Change) -> Webhook:
        body = s.AddWebhook(url=webhook.url, secret=webhook.secret, events=list(webhook.events))
        return self._client.call_json("POST", "/webhooks", s.Webhook, body=body).to_domain()

    def list_webhooks(self) -> list[Webhook]:
        found = self._client.call_json("GET", "/webhooks", s.WebhookList)
        return [w.to_domain() for w in found.items]

    def delete_webhook(self, webhook_id: WebhookId, *, change: Change) -> None:
        if not webhook_id:
            raise NotFound("No webhook with id ''")
        self._client.call("DELETE", f"/webhooks/{quote_segment(webhook_id)}", idempotent=False)

    def due_deliveries(
        self, *, now: int, limit: int = 100
    ) -> list[tuple[int, EventDraft, Webhook, int]]:
        raise NotImplementedFeature(_SERVER_DELIVERS)

    def record_delivery(
        self, delivery: Delivery, *, done: bool, next_attempt_at: int | None
    ) -> None:
        raise NotImplementedFeature(_SERVER_DELIVERS)

    def list_deliveries(
        self, *, webhook_id: WebhookId | None = None, limit: int = 1000
    ) -> list[Delivery]:
        params: dict[str, str | int | Sequence[str]] = {"limit": limit}
        if webhook_id:
            params["webhook_id"] = webhook_id
        found = self._client.call_json("GET", "/webhooks/deliveries", s.DeliveryList, params=params)
        return [d.to_domain() for d in found.items]


_SERVER_DELIVERS = (
    "Webhook deliveries are made by the moorline server's own dispatcher, next to its "
    "event outbox; a client cannot fetch or record them"
)


def _approval(approval_id: str) -> str:
    if not approval_id:
        raise NotFound("No approval with id ''")
    return f"/approvals/{quote_segment(approval_id)}"
