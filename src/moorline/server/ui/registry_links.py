"""URLs of the registry pages, and how those pages answer (HTML or JSON).

Model names may hold almost any character, including a trailing ``.json``,
which elsewhere in the UI asks for the JSON view. So on registry pages the
rule is explicit: ``?format=json`` and ``?format=html`` always win; without
them a path ending in ``.json`` asks for JSON. Links to a model whose name
ends in ``.json`` carry ``?format=html``, so every model has a page.

>>> model_url("churn v2"), model_url("odd.json")
('/ui/models/churn%20v2', '/ui/models/odd.json?format=html')
>>> version_url("a/b?", 3)
'/ui/models/a%2Fb%3F/versions/3'
>>> target_url("models:/churn@champion"), target_url("models:/churn/4")
('/ui/models/churn', '/ui/models/churn/versions/4')
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from moorline.errors import MoorlineError
from moorline.server.errors import HTTP_STATUS, error_response
from moorline.server.ui.render import Renderer, json_response

_TARGET = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/@]+))?$")


def model_url(name: str) -> str:
    """The page of registered model ``name``."""
    url = "/ui/models/" + urllib.parse.quote(name, safe="")
    return url + "?format=html" if name.endswith(".json") else url


def model_json_url(name: str) -> str:
    return "/ui/models/" + urllib.parse.quote(name, safe="") + "?format=json"


def version_url(name: str, version: int) -> str:
    """The page of version ``version`` of model ``name``."""
    return f"/ui/models/{urllib.parse.quote(name, safe='')}/versions/{version}"


def run_url(run_id: str) -> str:
    return "/ui/runs/" + urllib.parse.quote(run_id, safe="")


def target_url(target: str) -> str | None:
    """The page of an audit target (``models:/name``, ``models:/name/3``,
    ``models:/name@alias``); None for targets without a page."""
    match = _TARGET.match(target)
    if match is None:
        return None
    if match.group("version"):
        return version_url(match.group("name"), int(match.group("version")))
    return model_url(match.group("name"))


def with_query(url: str, query: str) -> str:
    """``url`` with the parameters of ``query`` (``?a=1`` or ``""``) added.

    >>> with_query("/ui/models/a.json?format=html", "?page_token=x"), with_query("/ui/x", "?")
    ('/ui/models/a.json?format=html&page_token=x', '/ui/x')
    """
    params = query.removeprefix("?")
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + params


def compact(value: object) -> str:
    """A detail value of an audit entry as one short line: text as is, the rest as JSON.

    >>> compact("v3"), compact({"auc": "higher"}), compact(None)
    ('v3', '{"auc": "higher"}', 'null')
    """
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def install(ui: Renderer) -> None:
    """Make the URL builders (and the ``compact`` filter) available to templates."""
    ui.env.filters["compact"] = compact
    ui.env.globals.update(
        model_url=model_url,
        model_json_url=model_json_url,
        version_url=version_url,
        run_url=run_url,
        target_url=target_url,
    )


def json_view(request: Request) -> bool:
    """Whether the request asks for the JSON view (see the module docstring)."""
    fmt = request.query_params.get("format")
    if fmt in ("json", "html"):
        return fmt == "json"
    return request.url.path.endswith(".json")


def path_name(request: Request, param: str) -> str:
    """A path parameter, without the ``.json`` that asks for JSON (kept with ``?format=``)."""
    value: str = request.path_params[param]
    if request.query_params.get("format") in ("json", "html"):
        return value
    return value.removesuffix(".json") if request.url.path.endswith(".json") else value


def respond(
    ui: Renderer,
    request: Request,
    template: str,
    data: Mapping[str, Any],
    *,
    extra: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """``data`` as JSON when asked for, otherwise the template with ``data`` and ``extra``."""
    if json_view(request):
        return json_response(data, status_code)
    return ui.html(request, template, {**data, **(extra or {})}, status_code)


def respond_error(ui: Renderer, request: Request, exc: MoorlineError) -> Response:
    """A failed page: the error page, or the usual JSON error body."""
    status = HTTP_STATUS.get(exc.code, 500)
    if json_view(request):
        return error_response(exc.code, exc.message, status)
    context = {"status": status, "code": exc.code.value, "message": exc.message}
    return ui.html(request, "error.html", context, status)
