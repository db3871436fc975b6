"""The HTTP shell: moorline's API (/api/v1), MLflow's REST API, the web UI.

``create_app`` is imported on first use, so the model server
(``moorline.server.serving``) does not import FastAPI, pydantic or Jinja2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moorline.server.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from moorline.server.app import create_app

        globals()[name] = create_app
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_app"]
