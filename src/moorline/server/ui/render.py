"""Rendering for the UI: the Jinja2 environment, its filters, and HTML/JSON responses.

A page handler builds one dictionary of JSON-able data and hands it to
:meth:`Renderer.page`, which answers with the HTML template or, when the
request asks for JSON (``?format=json`` or a ``.json`` path), with the data
itself. So the JSON view of a page can never drift from what the page shows.
"""

from __future__ import annotations

import datetime as dt
import math
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from moorline import __version__
from moorline.charts import format_number
from moorline.errors import MoorlineError
from moorline.server.errors import HTTP_STATUS, error_response

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

#: Pages load only our own CSS and JS; inline SVG needs no exception.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def format_time(ms: int | None) -> str:
    """Milliseconds since the epoch as ``YYYY-MM-DD HH:MM:SS`` UTC ('' for None)."""
    if ms is None:
        return ""
    try:
        moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(ms: int | None) -> str:
    """A duration as ``1h 02m``, ``3m 07s`` or ``4.2s`` ('' for None)."""
    if ms is None or ms < 0:
        return ""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_size(size: int | None) -> str:
    """A byte count for people: ``912 B``, ``3.4 KB``, ``1.2 GB``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def format_value(value: object) -> str:
    """Metric values with six significant digits; anything else as text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format_number(value)
    return str(value)


def query_string(pairs: Iterable[tuple[str, str]]) -> str:
    """``?a=1&b=2`` from pairs, skipping empty values ('' when nothing is left)."""
    kept = [(k, v) for k, v in pairs if v != ""]
    return "?" + urllib.parse.urlencode(kept) if kept else ""


def wants_json(request: Request) -> bool:
    return request.query_params.get("format") == "json" or request.url.path.endswith(".json")


def strip_json_suffix(value: str) -> str:
    """A path parameter without the ``.json`` that asks for the JSON view."""
    return value[: -len(".json")] if value.endswith(".json") else value


def _json_default(value: object) -> object:
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"Cannot serialise {type(value).__name__} to JSON")


def json_response(data: Mapping[str, Any], status_code: int = 200) -> Response:
    """JSON with NaN and infinities as null (JSON has no spelling for them)."""
    body = orjson.dumps(_finite(data), default=_json_default)
    return Response(body, status_code=status_code, media_type="application/json")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class Renderer:
    """The template environment and the one way pages are answered."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"], default_for_string=True, default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            time=format_time,
            duration=format_duration,
            size=format_size,
            value=format_value,
            qs=query_string,
        )
        self.env.globals.update(version=__version__)

    def html(
        self, request: Request, template: str, context: Mapping[str, Any], status_code: int = 200
    ) -> Response:
        body = self.env.get_template(template).render(
            request=request,
            signed_in="moorline_token" in request.cookies,
            **context,
        )
        return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)

    def page(
        self,
        request: Request,
        template: str,
        data: Mapping[str, Any],
        *,
        extra: Mapping[str, Any] | None = None,
        status_code: int = 200,
    ) -> Response:
        """``data`` as JSON when asked for, otherwise the template with ``data`` and ``extra``."""
        if wants_json(request):
            return json_response(data, status_code)
        return self.html(request, template, {**data, **(extra or {})}, status_code)

    def error(self, request: Request, exc: MoorlineError) -> Response:
        """A failed page: an HTML page that says what went wrong, or the usual JSON error."""
        status = HTTP_STATUS.get(exc.code, 500)
        if wants_json(request):
            return error_response(exc.code, exc.message, status)
        context = {"status": status, "code": exc.code.value, "message": exc.message}
        return self.html(request, "error.html", context, status)
