"""The UI's routes, as one explicit list mounted by :func:`moorline.server.app.create_app`.

Page handlers are plain functions ``(services, renderer, request) -> Response``;
the synchronous ones run in Starlette's thread pool because the services
block on the database.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from moorline.bootstrap import Services
from moorline.server.ui import (
    compare,
    deployment_pages,
    experiments,
    fleet_pages,
    login,
    monitoring_pages,
    registry_pages,
    remediation_pages,
    runs,
)
from moorline.server.ui.render import STATIC, Renderer

Handler = Callable[[Services, Renderer, Request], Response]


def _to_index(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=307)


def routes(services: Services) -> list[BaseRoute]:
    """Every UI route, bound to ``services``."""
    ui = Renderer()

    def bind(handler: Handler) -> Callable[[Request], Response]:
        return functools.partial(handler, services, ui)

    experiments_page = bind(experiments.experiments_page)
    return [
        Route("/ui", _to_index, methods=["GET"]),
        Route("/ui/", experiments_page, methods=["GET"], name="ui-experiments"),
        Route("/ui/index.json", experiments_page, methods=["GET"]),
        Route("/ui/.json", experiments_page, methods=["GET"]),
        Route(
            "/ui/experiments/{experiment_id}",
            bind(experiments.experiment_page),
            methods=["GET"],
            name="ui-experiment",
        ),
        Route("/ui/runs/{run_id}", bind(runs.run_page), methods=["GET"], name="ui-run"),
        Route("/ui/runs/{run_id}/artifacts/raw", bind(runs.raw_artifact), methods=["GET"]),
        Route("/ui/compare", bind(compare.compare_page), methods=["GET"], name="ui-compare"),
        Route("/ui/compare.json", bind(compare.compare_page), methods=["GET"]),
        Route("/ui/login", bind(login.login_form), methods=["GET"]),
        Route("/ui/login", functools.partial(login.login_submit, services, ui), methods=["POST"]),
        Route("/ui/logout", bind(login.logout), methods=["POST"]),
        *registry_pages.routes(services, ui),
        *monitoring_pages.routes(services, ui),
        *deployment_pages.routes(services, ui),
        *fleet_pages.routes(services, ui),
        *remediation_pages.routes(services, ui),
        Mount("/ui/static", app=StaticFiles(directory=STATIC), name="ui-static"),
    ]
