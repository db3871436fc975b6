"""moorline's own HTTP API, mounted at ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``)."""

from moorline.server.api.app import create_api

__all__ = ["create_api"]
