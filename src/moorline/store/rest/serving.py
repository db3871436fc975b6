"""Serving's control plane over moorline's HTTP API (``/api/v1``).

Unlike the registry (whose REST adapter implements the store ports), serving
is remote at the level of the *service*: :class:`RestDeploymentService` has
the public methods of :class:`~moorline.serving.service.DeploymentService`
and sends each call, with its arguments and ``reason``, to the server, which
runs it through its own service. That is deliberate:

- the rules (versions exist, declared consumers keep their fields, the
  traffic guard, the revision check) need the server's registry and
  governance; a client-side service would run them twice, over HTTP;
- a store port receives a revision and a :class:`Change` that the client
  drafted, actor and clock included; over HTTP the client is not trusted
  with either. The server records the caller it authenticated (the token's
  name) at its own time.

So the ``actor`` arguments are accepted (for the same signatures) and
dropped. Mutating calls are never retried once they may have reached the
server; reads are. The prediction log is reachable read-only through
:attr:`RestDeploymentService.predictions`; writing it is the gateway's job.
Serving usage is not on ``/api/v1``: its ``usage`` raises NotImplementedFeature
(the fleet page's JSON, ``/ui/fleet.json``, has the serving CPU per model
and week).

>>> from moorline.store.rest.client import RestClient
>>> service = RestDeploymentService(RestClient("http://127.0.0.1:5000"))  # doctest: +SKIP
>>> service.get("churn-prod").policy.describe()  # doctest: +SKIP
'canary v3 90% / v4 10%'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from moorline.errors import NotImplementedFeature
from moorline.schemas import serving as s
from moorline.serving.models import (
    DEFAULT_OUTPUT_FIELD,
    Consumer,
    Deployment,
    DeploymentSettings,
    Feedback,
    IssuedConsumer,
    LoggedPrediction,
    PolicyRevision,
    PredictionRecord,
    TrafficPolicy,
    UsageRecord,
    VersionTraffic,
    validate_deployment_name,
)
from moorline.serving.ports import ConsumerStore, DeploymentStore, PredictionStore
from moorline.serving.service import DeploymentService
from moorline.store.rest.client import RestClient, quote_segment

Params = dict[str, str | int | bool | Sequence[str]]


def _deployment(name: str) -> str:
    return f"/deployments/{quote_segment(validate_deployment_name(name))}"


def _consumers(model: str) -> str:
    return f"/models/{quote_segment(model)}/consumers"


def _reason(reason: str) -> Params | None:
    return {"reason": reason} if reason else None


def _no_store(what: str) -> NoReturn:
    raise NotImplementedFeature(
        f"The {what} of a remote store is not reachable directly: use the deployment "
        "service's methods, which the server runs with its own rules"
    )


class RestPredictionReader(PredictionStore):
    """The prediction log of a moorline server, read-only (writes belong to the gateway)."""

    def __init__(self, client: RestClient) -> None:
        self._client = client

    def append_predictions(self, records: Sequence[PredictionRecord]) -> None:
        _no_store("prediction log")

    def add_feedback(self, items: Sequence[Feedback]) -> int:
        _no_store("prediction log")

    def read_predictions(
        self,
        deployment: str,
        *,
        since: int | None = None,
        until: int | None = None,
        version: int | None = None,
        shadow: bool | None = False,
        limit: int = s.MAX_PREDICTIONS,
    ) -> list[LoggedPrediction]:
        """At most :data:`~moorline.schemas.serving.MAX_PREDICTIONS` per call."""
        params: Params = {
            "shadow": "any" if shadow is None else ("true" if shadow else "false"),
            "limit": min(limit, s.MAX_PREDICTIONS),
        }
        for key, value in (("since", since), ("until", until), ("version", version)):
            if value is not None:
                params[key] = value
        found = self._client.call_json(
            "GET", f"{_deployment(deployment)}/predictions", s.PredictionList, params=params
        )
        return [p.to_domain() for p in found.items]

    def traffic(
        self, deployment: str, *, since: int, until: int | None = None
    ) -> list[VersionTraffic]:
        params: Params = {"since": since}
        if until is not None:
            params["until"] = until
        found = self._client.call_json(
            "GET", f"{_deployment(deployment)}/traffic", s.Traffic, params=params
        )
        return [t.to_domain() for t in found.items]

    def undeclared_callers(self, deployment: str, *, since: int) -> dict[str, int]:
        found = self._client.call_json(
            "GET", f"{_deployment(deployment)}/undeclared", s.Undeclared, params={"since": since}
        )
        return {c.caller: c.requests for c in found.items}

    def record_usage(self, records: Sequence[UsageRecord]) -> None:
        _no_store("serving usage")

    def usage(
        self,
        *,
        model: str | None = None,
        deployment: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[UsageRecord]:
        raise NotImplementedFeature(
            "Serving usage per hour is not served over /api/v1: read it with a store URI "
            "(the model servers write it there), or read the serving CPU per model and week "
            "from the server's fleet page as JSON (GET /ui/fleet.json)"
        )


class RestDeploymentService(DeploymentService):
    """A :class:`DeploymentService` whose every call runs on a moorline server.

    It shares the base class's public methods (so :class:`moorline.bootstrap.Services`
    holds either) and none of its state: see the module docstring.
    """

    def __init__(self, client: RestClient) -> None:
        # No super().__init__(): this class holds no store, no catalog, no clock.
        self._client = client
        self._reader = RestPredictionReader(client)

    @property
    def store(self) -> DeploymentStore:
        _no_store("deployment store")

    @property
    def consumer_store(self) -> ConsumerStore:
        _no_store("consumer store")

    @property
    def predictions(self) -> PredictionStore:
        return self._reader

    # -- reading ----------------------------------------------------------------------
    def get(self, name: str) -> Deployment:
        return self._client.call_json("GET", _deployment(name), s.Deployment).to_domain()

    def list_deployments(self, *, model: str | None = None) -> list[Deployment]:
        params: Params | None = {"model": model} if model is not None else None
        found = self._client.call_json("GET", "/deployments", s.DeploymentList, params=params)
        return [d.to_domain() for d in found.items]

    def revisions(self) -> dict[str, int]:
        return dict(self._client.call_json("GET", "/deployment-revisions", s.Revisions).revisions)

    def history(self, name: str, *, limit: int = 100) -> list[PolicyRevision]:
        found = self._client.call_json(
            "GET", f"{_deployment(name)}/history", s.History, params={"limit": limit}
        )
        return [r.to_domain() for r in found.items]

    # -- changing ---------------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        model: str,
        policy: TrafficPolicy,
        settings: DeploymentSettings | None = None,
        description: str = "",
        actor: str,
        reason: str = "",
        override: bool = False,
    ) -> Deployment:
        body = s.CreateDeployment(
            name=validate_deployment_name(name),
            model=model,
            policy=s.PolicyInput.from_domain(policy),
            settings=s.SettingsInput.from_domain(settings) if settings is not None else None,
            description=description,
            reason=reason,
            override=override,
        )
        return self._client.call_json(
            "POST", "/deployments", s.Deployment, body=body, idempotent=False
        ).to_domain()

    def set_traffic(
        self,
        name: str,
        policy: TrafficPolicy,
        *,
        actor: str,
        reason: str = "",
        override: bool = False,
        expected_revision: int | None = None,
    ) -> Deployment:
        body = s.SetTraffic(
            policy=s.PolicyInput.from_domain(policy),
            reason=reason,
            override=override,
            expected_revision=expected_revision,
        )
        return self._client.call_json(
            "POST", f"{_deployment(name)}/traffic", s.Deployment, body=body, idempotent=False
        ).to_domain()

    def update_settings(
        self,
        name: str,
        settings: DeploymentSettings,
        *,
        actor: str,
        reason: str = "",
        expected_revision: int | None = None,
    ) -> Deployment:
        body = s.UpdateSettings(
            **settings.to_dict(), reason=reason, expected_revision=expected_revision
        )
        return self._client.call_json(
            "PATCH", f"{_deployment(name)}/settings", s.Deployment, body=body, idempotent=False
        ).to_domain()

    def rollback(
        self,
        name: str,
        *,
        actor: str,
        reason: str = "",
        to_revision: int | None = None,
        override: bool = False,
        expected_revision: int | None = None,
    ) -> Deployment:
        body = s.Rollback(
            reason=reason,
            to_revision=to_revision,
            override=override,
            expected_revision=expected_revision,
        )
        return self._client.call_json(
            "POST", f"{_deployment(name)}/rollback", s.Deployment, body=body, idempotent=False
        ).to_domain()

    def delete(self, name: str, *, actor: str, reason: str = "") -> None:
        self._client.call("DELETE", _deployment(name), params=_reason(reason), idempotent=False)

    # -- consumers --------------------------------------------------------------------
    def declare_consumer(
        self,
        *,
        model: str,
        name: str,
        owner: str,
        fields: Sequence[str] = (DEFAULT_OUTPUT_FIELD,),
        actor: str,
        reason: str = "",
    ) -> IssuedConsumer:
        body = s.DeclareConsumer(name=name, owner=owner, fields=list(fields), reason=reason)
        found = self._client.call_json(
            "POST", _consumers(model), s.IssuedConsumer, body=body, idempotent=False
        )
        return IssuedConsumer(consumer=found.consumer.to_domain(), api_key=found.api_key)

    def list_consumers(self, *, model: str | None = None) -> list[Consumer]:
        path = _consumers(model) if model is not None else "/consumers"
        found = self._client.call_json("GET", path, s.ConsumerList)
        return [c.to_domain() for c in found.items]

    def revoke_consumer(self, model: str, name: str, *, actor: str, reason: str = "") -> None:
        self._client.call(
            "DELETE",
            f"{_consumers(model)}/{quote_segment(name)}",
            params=_reason(reason),
            idempotent=False,
        )

    def authenticate_consumer(self, api_key: str) -> Consumer:
        raise NotImplementedFeature(
            "Consumer keys are checked by the serving gateway next to the database, "
            "not through a server URL"
        )

    # -- feedback ---------------------------------------------------------------------
    def add_feedback(self, deployment: str, items: Sequence[Mapping[str, Any]]) -> int:
        raise NotImplementedFeature(
            "Feedback goes to the serving gateway that logged the predictions, "
            "not through the control-plane API"
        )
