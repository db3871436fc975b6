"""The ASGI application, assembled from explicit lists of routes and middleware."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from moorline import __version__
from moorline.bootstrap import Services
from moorline.errors import MoorlineError
from moorline.server.errors import (
    http_error_handler,
    moorline_error_handler,
    unexpected_error_handler,
)
from moorline.server.middleware import AuthMiddleware, BodyLimitMiddleware

if TYPE_CHECKING:
    from moorline.server.serving.app import ServingApp

ARTIFACT_UPLOAD_PREFIXES = ("/api/2.0/mlflow-artifacts/artifacts/", "/api/v1/artifacts/")


async def health(request: Request) -> Response:
    return PlainTextResponse("OK")


async def version(request: Request) -> Response:
    return PlainTextResponse(__version__)


async def home(request: Request) -> Response:
    """The UI's home page: the fleet overview."""
    return RedirectResponse("/ui/fleet", status_code=307)


def create_app(
    services: Services, *, auth_required: bool | None = None, serving: ServingApp | None = None
) -> Starlette:
    """Build the server for ``services``.

    ``auth_required`` defaults to True when the settings bind beyond loopback
    and ``insecure`` is not set. ``serving``: the model server to answer
    ``/v2``, ``/invocations``, ``/ping`` and ``/v1/deployments/`` (its own
    consumer-key check replaces the token check there).
    """
    from moorline.server.api.app import create_api
    from moorline.server.mlflow.routes import routes as mlflow_routes
    from moorline.server.ui.routes import routes as ui_routes

    settings = services.settings
    if auth_required is None:
        auth_required = settings.binds_beyond_loopback and not settings.insecure

    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/", home, methods=["GET"]),
        *mlflow_routes(services),
        Mount("/api/v1", app=create_api(services)),
        *ui_routes(services),
    ]
    middleware = [
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.max_request_bytes,
            streaming_prefixes=ARTIFACT_UPLOAD_PREFIXES,
            streaming_max_bytes=settings.max_artifact_bytes,
        ),
        Middleware(AuthMiddleware, auth=services.auth, required=auth_required),
    ]
    if serving is not None:
        from moorline.server.serving.app import MountedServing

        middleware.insert(0, Middleware(MountedServing, serving=serving))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            MoorlineError: moorline_error_handler,
            HTTPException: http_error_handler,
            Exception: unexpected_error_handler,
        },
    )
    app.state.services = services
    return app
