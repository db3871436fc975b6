"""Signing in to the UI of a server that requires API tokens.

The form posts a token; a valid one is stored in the ``moorline_token``
cookie (HttpOnly so scripts cannot read it, SameSite=Strict so other sites
cannot make the browser send it), which the auth middleware accepts like a
bearer token. A sign-in posted from another origin is refused, so no other
site can sign the browser in with a token of its choosing.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from moorline.bootstrap import Services
from moorline.errors import Unauthenticated
from moorline.server.middleware import COOKIE_NAME
from moorline.server.ui.render import Renderer

#: A form field larger than any token is refused before it is looked at.
MAX_TOKEN_CHARS = 200


def login_form(services: Services, ui: Renderer, request: Request) -> Response:
    return ui.html(request, "login.html", {"error": None})


async def login_submit(services: Services, ui: Renderer, request: Request) -> Response:
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        # Another site posting its own token would sign this browser in as someone else.
        return ui.html(
            request,
            "login.html",
            {"error": f"Sign-in refused: the form was posted from another site ({origin})."},
            status_code=403,
        )
    async with request.form(max_files=0, max_fields=5) as form:
        raw = form.get("token")
    token = raw.strip() if isinstance(raw, str) else ""
    error = None
    if not token:
        error = "Enter an API token (create one with 'moorline token create NAME')."
    elif len(token) > MAX_TOKEN_CHARS:
        error = "That is not an API token: it is far too long."
    else:
        try:
            await run_in_threadpool(services.auth.authenticate, token)
        except Unauthenticated as exc:
            error = f"Sign-in failed: {exc.message}."
    if error is not None:
        return ui.html(request, "login.html", {"error": error}, status_code=401)
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def logout(services: Services, ui: Renderer, request: Request) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response
