"""The HTTP shell: moorline's API (/api/v1), MLflow's REST API, the web UI."""

from moorline.server.app import create_app

__all__ = ["create_app"]
