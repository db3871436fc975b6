"""The ``/api/v1`` application: routers over the services, and its error handlers.

``server/app.py`` mounts it at ``/api/v1``; authentication and body limits
are middleware outside it. Its OpenAPI description is served at
``/api/v1/openapi.json`` and browsable at ``/api/v1/docs``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from moorline import __version__
from moorline.bootstrap import Services
from moorline.errors import MoorlineError
from moorline.registry.lineage import LineageService
from moorline.server.api import (
    artifacts,
    canary,
    datasets,
    deployments,
    experiments,
    governance,
    lineage,
    logged_models,
    monitors,
    pipelines,
    registry,
    runs,
    tokens,
)
from moorline.server.api.errors import http_error_handler, validation_error_handler
from moorline.server.errors import moorline_error_handler, unexpected_error_handler

DESCRIPTION = """\
moorline's own API: experiments, runs, metrics, logged models, artifacts, tokens, and the
model registry with its governance (policies, approvals), audit log and webhooks.

* Timestamps are integer milliseconds since the epoch.
* Metric values that are NaN or infinite travel as the strings `"NaN"`,
  `"Infinity"` and `"-Infinity"`; finite values are JSON numbers.
* Every error is `{"error_code": ..., "message": ...}`; the code is stable,
  the message says what is wrong. Invalid requests are 400
  `INVALID_PARAMETER_VALUE` naming the field.
* Lists come in pages: `{"items": [...], "next_page_token": ...}`; pass the
  token back to get the next page (null on the last one).
* Authentication: `Authorization: Bearer <token>` when the server requires it.
"""


def _operation_id(route: APIRoute) -> str:
    """Operation ids are the handler names (``create_run``), short and stable."""
    return route.name


def create_api(services: Services) -> FastAPI:
    """The FastAPI application of ``/api/v1`` over ``services``."""
    api = FastAPI(
        title="moorline API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        generate_unique_id_function=_operation_id,
        # A redirect is never what an API client wants (a POST would lose its body).
        redirect_slashes=False,
        exception_handlers={
            MoorlineError: moorline_error_handler,
            RequestValidationError: validation_error_handler,
            HTTPException: http_error_handler,
            Exception: unexpected_error_handler,
        },
    )
    api.include_router(experiments.router(services.tracking))
    api.include_router(runs.router(services.tracking))
    api.include_router(logged_models.router(services.tracking))
    api.include_router(artifacts.router(services.artifacts))
    api.include_router(tokens.router(services.auth))
    api.include_router(registry.router(services.registry))
    api.include_router(governance.policy_router(services.governance))
    api.include_router(governance.approvals_router(services.governance))
    api.include_router(governance.audit_router(services.audit))
    api.include_router(governance.webhooks_router(services.webhooks))
    api.include_router(datasets.router(services.datasets))
    api.include_router(
        lineage.router(LineageService(services.registry, services.tracking, services.audit))
    )
    api.include_router(monitors.router(services.monitors))
    api.include_router(pipelines.router(services))
    api.include_router(deployments.router(services.deployments))
    api.include_router(canary.router(services))
    return api
