"""Settings -> services. The only place that picks adapters by URI scheme.

Shells (server, CLI, SDK) read settings once, call :func:`build_services`,
and talk only to the services it returns.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from moorline.auth.service import AuthService
from moorline.errors import InvalidArgument, NotImplementedFeature
from moorline.registry.auditing import AuditService
from moorline.registry.events import DispatchSettings, WebhookDispatcher, WebhookService
from moorline.registry.governance import GovernanceService
from moorline.registry.service import RegistryService
from moorline.tracking.artifacts import ArtifactService
from moorline.tracking.datasets import DatasetService
from moorline.tracking.service import TrackingService

if TYPE_CHECKING:
    from moorline.monitoring.service import Monitors, MonitorService
    from moorline.pipelines.service import PipelineService
    from moorline.serving.rollout import CanaryController
    from moorline.serving.service import DeploymentService

DEFAULT_HOME = ".moorline"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything configurable, read once by a shell.

    ``store_uri``: ``sqlite:///path``, ``postgresql+psycopg://...`` or, for the SDK,
    ``http(s)://server``. ``artifacts_uri``: a folder or ``s3://bucket/prefix``.
    """

    store_uri: str = f"sqlite:///{DEFAULT_HOME}/moorline.db"
    artifacts_uri: str = f"{DEFAULT_HOME}/artifacts"
    s3_endpoint_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    insecure: bool = False
    token: str | None = None
    max_request_bytes: int = 16 * 1024 * 1024
    max_artifact_bytes: int = 64 * 1024**3
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_remote(self) -> bool:
        return self.store_uri.startswith(("http://", "https://"))

    @property
    def binds_beyond_loopback(self) -> bool:
        return not is_loopback(self.host)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
        """Settings from ``MOORLINE_*`` variables, then explicit overrides (flags).

        ``MOORLINE_TRACKING_URI`` (or ``MOORLINE_STORE_URI``) picks the store;
        ``MOORLINE_ARTIFACTS_URI`` the artifact root; ``MOORLINE_HOME`` the
        folder of the embedded default (``./.moorline``); ``MOORLINE_TOKEN``
        the bearer token the SDK sends.
        """
        e = os.environ if env is None else env
        home = e.get("MOORLINE_HOME", DEFAULT_HOME)
        values: dict[str, object] = {
            "store_uri": e.get("MOORLINE_TRACKING_URI")
            or e.get("MOORLINE_STORE_URI")
            or f"sqlite:///{home}/moorline.db",
            "artifacts_uri": e.get("MOORLINE_ARTIFACTS_URI") or f"{home}/artifacts",
            "s3_endpoint_url": e.get("MOORLINE_S3_ENDPOINT_URL")
            or e.get("AWS_ENDPOINT_URL")
            or None,
            "token": e.get("MOORLINE_TOKEN") or e.get("MLFLOW_TRACKING_TOKEN") or None,
        }
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        return replace(cls(), **values)  # type: ignore[arg-type]


@dataclass(slots=True)
class Services:
    """The services a shell talks to, and how to release what they hold."""

    settings: Settings
    tracking: TrackingService
    artifacts: ArtifactService
    auth: AuthService
    registry: RegistryService
    governance: GovernanceService
    audit: AuditService
    webhooks: WebhookService
    datasets: DatasetService
    _closers: list[object] = field(default_factory=list)
    #: Point calls (sub-millisecond store calls) may run on the event loop:
    #: true for the embedded SQLite store, whose writes are serialised anyway.
    inline_io: bool = False
    #: the monitors (see :attr:`monitors`)
    _monitors: Monitors | None = None
    #: deployments, consumers and the prediction log (see :attr:`deployments`)
    _deployments: DeploymentService | None = None
    #: training pipelines and remediation records (see :attr:`pipelines`)
    _pipelines: PipelineService | None = None
    #: managed canaries (see :attr:`canaries`)
    _canaries: CanaryController | None = None

    @property
    def canaries(self) -> CanaryController:
        """The canary controller over the database's ``canaries`` table (start,
        judge, abort); NotImplementedFeature over a server URL."""
        if self._canaries is None:
            raise NotImplementedFeature(
                "Canaries need the database: point --store at it "
                "(sqlite:/// or postgresql+psycopg://), or use the server's "
                "/api/v1/deployments/{name}/canary"
            )
        return self._canaries

    @property
    def pipelines(self) -> PipelineService:
        """Training pipelines, their runs and the remediation records (a database
        store only); NotImplementedFeature over a server URL."""
        if self._pipelines is None:
            raise NotImplementedFeature(
                "Pipelines need the database: point --store at it "
                "(sqlite:/// or postgresql+psycopg://), not at a moorline server"
            )
        return self._pipelines

    @property
    def monitors(self) -> Monitors:
        """Monitors and their runs: computed here over a local store, by the server
        over a server URL (``moorline.store.rest.monitors``)."""
        if self._monitors is None:
            raise NotImplementedFeature("Monitors are not available with this store")
        return self._monitors

    @property
    def local_monitors(self) -> MonitorService:
        """The monitor service over a local store, with its store and leases (what
        the scheduler needs); NotImplementedFeature over a server URL."""
        from moorline.monitoring.service import MonitorService

        if not isinstance(self._monitors, MonitorService):
            raise NotImplementedFeature(
                "Scheduling monitors needs the database: point --store at it "
                "(sqlite:/// or postgresql+psycopg://), not at a moorline server"
            )
        return self._monitors

    @property
    def deployments(self) -> DeploymentService:
        """Deployments, their traffic policies and consumers; its ``predictions`` is
        the prediction log. NotImplementedFeature where it is not wired."""
        if self._deployments is None:
            raise NotImplementedFeature(
                "Deployments are not available with this store: point --store at the "
                "database (sqlite:/// or postgresql+psycopg://)"
            )
        return self._deployments

    def close(self) -> None:
        for closer in self._closers:
            dispose = getattr(closer, "dispose", None) or getattr(closer, "close", None)
            if dispose is not None:
                dispose()


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Wire stores and services for ``settings``.

    For SQL stores the schema is brought up to date first (``migrate``), so a
    fresh machine needs no separate set-up step.
    """
    if settings.is_remote:
        return _build_remote(settings)
    uri = settings.store_uri
    if not uri.startswith(("sqlite:", "postgresql")):
        raise InvalidArgument(
            f"Unsupported store URI {uri!r}: use sqlite:///path, postgresql+psycopg://... "
            "or http(s)://server"
        )
    from moorline.artifacts import open_blob_store
    from moorline.monitoring.service import MonitorService
    from moorline.store.alert_delivery import AlertSender
    from moorline.store.sql.audit import SqlAuditStore
    from moorline.store.sql.auth import SqlTokenStore
    from moorline.store.sql.datasets import SqlDatasetStore
    from moorline.store.sql.engine import create_engine_for
    from moorline.store.sql.governance import SqlGovernanceStore
    from moorline.store.sql.monitors import SqlMonitorStore
    from moorline.store.sql.registry import SqlRegistryStore
    from moorline.store.sql.serving import (
        SqlCanaryStore,
        SqlConsumerStore,
        SqlDeploymentStore,
        SqlPredictionStore,
    )
    from moorline.store.sql.tracking import SqlTrackingStore
    from moorline.store.sql.webhooks import SqlWebhookStore

    if migrate:  # Alembic is imported here only ('moorline serve' checks the revision)
        from moorline.store.sql.migrate import upgrade

        upgrade(uri)
    engine = create_engine_for(uri)
    store = SqlTrackingStore(engine)
    blobs = open_blob_store(settings.artifacts_uri, s3_endpoint_url=settings.s3_endpoint_url)
    tracking = TrackingService(store)
    models, audit = SqlRegistryStore(engine), SqlAuditStore(engine)
    governance = GovernanceService(SqlGovernanceStore(engine), models, tracking)
    artifacts = ArtifactService(blobs, store, store)
    datasets = DatasetService(tracking, artifacts, SqlDatasetStore(engine))
    registry = RegistryService(models, audit, guard=governance)
    from moorline.serving.catalog import RegistryCatalog
    from moorline.serving.service import DeploymentService
    from moorline.store.windows import DataWindowSource

    predictions = SqlPredictionStore(engine)
    deployments = DeploymentService(
        SqlDeploymentStore(engine),
        SqlConsumerStore(engine),
        predictions,
        RegistryCatalog(registry, tracking, artifacts),
    )
    windows, sender = DataWindowSource(datasets, predictions), AlertSender()
    monitors = MonitorService(
        SqlMonitorStore(engine),
        windows,
        artifacts,
        sender=sender,
        model_exists=registry.get_registered_model,
    )
    from moorline.pipelines.service import PipelineService
    from moorline.store.sql.pipelines import SqlPipelineStore

    pipelines = PipelineService(
        SqlPipelineStore(engine),
        tracking=tracking,
        datasets=datasets,
        registry=registry,
        governance=governance,
        artifacts=artifacts,
        windows=windows,
        store_uri=uri,
        artifacts_uri=settings.artifacts_uri,
        s3_endpoint_url=settings.s3_endpoint_url,
        monitors=monitors,
        sender=sender,
    )
    from moorline.serving.rollout import CanaryController

    # The loop's rollout (PipelineRollout over this controller) is plugged in by
    # the server, which runs the canary loop too.
    canaries = CanaryController(
        deployments, store=SqlCanaryStore(engine), registry=registry, remediations=pipelines
    )
    return Services(
        settings=settings,
        tracking=tracking,
        artifacts=artifacts,
        auth=AuthService(SqlTokenStore(engine)),
        registry=registry,
        governance=governance,
        audit=AuditService(audit),
        webhooks=WebhookService(SqlWebhookStore(engine)),
        datasets=datasets,
        _closers=[windows, sender, engine],
        inline_io=engine.dialect.name == "sqlite",
        _monitors=monitors,
        _deployments=deployments,
        _pipelines=pipelines,
        _canaries=canaries,
    )


def build_webhook_dispatcher(
    services: Services, settings: DispatchSettings | None = None
) -> WebhookDispatcher | None:
    """The background sender of webhook deliveries over a local store (not yet
    started); None for a remote store, whose server delivers its own."""
    if services.settings.is_remote:
        return None
    from moorline.store.webhooks import HttpxWebhookTransport

    return WebhookDispatcher(services.webhooks.store, HttpxWebhookTransport(), settings)


def _build_remote(settings: Settings) -> Services:
    from moorline.store.rest.client import RestClient
    from moorline.store.rest.datasets import RestDatasetStore
    from moorline.store.rest.monitors import RestMonitorService
    from moorline.store.rest.registry import (
        RestAuditStore,
        RestGovernanceStore,
        RestRegistryStore,
        RestWebhookStore,
    )
    from moorline.store.rest.serving import RestDeploymentService
    from moorline.store.rest.tracking import RestArtifactBlobs, RestTokenStore, RestTrackingStore

    client = RestClient(settings.store_uri, token=settings.token)
    store = RestTrackingStore(client)
    tracking = TrackingService(store)
    models, audit = RestRegistryStore(client), RestAuditStore(client)
    artifacts = ArtifactService(RestArtifactBlobs(client), store, store)
    return Services(
        settings=settings,
        tracking=tracking,
        artifacts=artifacts,
        auth=AuthService(RestTokenStore(client)),
        # No alias guard here: the server applies its governance to every move,
        # with the actor it authenticated (see moorline.store.rest.registry).
        registry=RegistryService(models, audit),
        governance=GovernanceService(RestGovernanceStore(client), models, tracking),
        audit=AuditService(audit),
        webhooks=WebhookService(RestWebhookStore(client)),
        datasets=DatasetService(tracking, artifacts, RestDatasetStore(client)),
        _closers=[client],
        # The server runs every deployment change with its own rules and actor.
        _deployments=RestDeploymentService(client),
        _monitors=RestMonitorService(client),  # the server runs and stores every run
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any address in 127.0.0.0/8 or ``::1``.

    >>> is_loopback("127.0.0.2"), is_loopback("0.0.0.0")
    (True, False)
    """
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_home() -> Path:
    return Path(os.environ.get("MOORLINE_HOME", DEFAULT_HOME))
