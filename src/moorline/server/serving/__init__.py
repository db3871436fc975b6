"""The model server's shell: the ASGI app, its metrics, and how it is assembled.

:func:`build_serving_app` wires a :class:`~moorline.serving.runtime.ServingRuntime`
to the services of a store: deployments and consumers from
``services.deployments``, models loaded from the registry with every digest
checked, and the prediction log written to the same store off the request
path, and so is serving usage (requests and CPU time per deployment, version
and hour: :mod:`moorline.serving.usage`). ``moorline serve`` runs it alone
(``moorline.server.serving.workers``); ``moorline server`` mounts it beside
the tracking API (:class:`~moorline.server.serving.app.MountedServing`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from moorline.server.serving.app import MOUNTED_PREFIXES, MountedServing, ServingApp
from moorline.server.serving.metrics import ServingMetrics

if TYPE_CHECKING:
    from moorline.bootstrap import Services
    from moorline.models.loaded import LoadedModel
    from moorline.serving.runtime import ModelLoader

#: Records the prediction log holds in memory before it drops (never blocks a request).
LOG_CAPACITY = 10_000
#: Seconds between two writes of serving usage to the store.
USAGE_INTERVAL_S = 30.0


def registry_loader(
    services: Services, *, allow_code_execution: bool = True
) -> Callable[[str, int], LoadedModel]:
    """Load ``models:/<model>/<version>`` from the registry of ``services``, checking
    the manifest's digest against the version's record and every file against the
    manifest before anything is deserialised."""
    from moorline.sdk.models import load_model_from

    def load(model: str, version: int) -> LoadedModel:
        return load_model_from(
            lambda: services,
            f"models:/{model}/{version}",
            allow_code_execution=allow_code_execution,
        )

    return load


def build_serving_app(
    services: Services,
    *,
    names: Sequence[str] | None = None,
    default_deployment: str | None = None,
    require_consumer: bool = False,
    strict: bool = False,
    poll_interval_s: float = 0.5,
    log_capacity: int = LOG_CAPACITY,
    loader: ModelLoader | None = None,
    on_fatal: Callable[[BaseException], None] | None = None,
    on_ready: Callable[[float], None] | None = None,
    load_before_listening: bool = False,
    serving_only: bool = False,
    usage_interval_s: float = USAGE_INTERVAL_S,
) -> ServingApp:
    """The serving app over ``services`` (not started: its lifespan starts it).

    ``names``: deployments to serve (None: all, including ones created later).
    ``require_consumer``: every request needs a consumer key, whatever the
    deployments' settings say (a server reachable beyond loopback).
    ``serving_only``: this process does nothing but serve (a ``moorline serve``
    worker), so its whole CPU time is charged to the versions it served;
    otherwise (inside ``moorline server``) only their predict calls are.
    ``usage_interval_s``: how often serving usage is written to the store.
    """
    from moorline.serving.prediction_log import PredictionLogger
    from moorline.serving.runtime import ServingRuntime
    from moorline.serving.usage import UsageMeter

    deployments = services.deployments
    metrics = ServingMetrics()
    usage = UsageMeter(
        deployments.predictions,
        interval_s=usage_interval_s,
        process_cpu=time.process_time if serving_only else None,
    )
    runtime = ServingRuntime(
        deployments,
        loader or registry_loader(services),
        names=names,
        logger=PredictionLogger(deployments.predictions, capacity=log_capacity),
        usage=usage,
        poll_interval_s=poll_interval_s,
        observer=metrics,
        require_consumer=require_consumer,
    )
    return ServingApp(
        runtime,
        metrics=metrics,
        max_body_bytes=services.settings.max_request_bytes,
        default_deployment=default_deployment,
        strict=strict,
        on_fatal=on_fatal,
        on_ready=on_ready,
        load_before_listening=load_before_listening,
    )


__all__ = [
    "MOUNTED_PREFIXES",
    "USAGE_INTERVAL_S",
    "MountedServing",
    "ServingApp",
    "ServingMetrics",
    "build_serving_app",
    "registry_loader",
]
