"""The MLflow-compatible routes of the server, as one explicit list.

The same JSON API is served under ``/api/2.0/mlflow`` (the Python client) and
``/ajax-api/2.0/mlflow`` (MLflow's web UI), next to the artifact proxy and
the ``/api/3.0/mlflow/server-info`` capability probe. Endpoints MLflow has
but moorline does not (yet) answer 404 ``ENDPOINT_NOT_FOUND``, which the
client understands. The model registry (``registered-models/...``,
``model-versions/...``) is served from ``services.registry``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from moorline.bootstrap import Services
from moorline.server.mlflow import experiments, logged_models, registry, runs
from moorline.server.mlflow.artifacts import ArtifactProxy, run_artifact_endpoints
from moorline.server.mlflow.dispatch import Endpoint, JsonApi, Work
from moorline.server.mlflow.wire import JsonDict, Message

#: What MLflow's client learns from ``server-info`` before its first download:
#: a SQL store, no workspaces, artifacts through the proxy with one PUT / GET per file.
SERVER_INFO: JsonDict = {
    "store_type": "SqlStore",
    "workspaces_enabled": False,
    "trace_archival_enabled": False,
    "multipart_uploads_enabled": False,
    "multipart_downloads_enabled": False,
    "presigned_upload_run_id_supported": False,
    "presigned_upload_model_id_supported": False,
    "features_enabled": {"gateway": False},
}

NO_FIELDS = Message("Empty")


def _server_info(fields: JsonDict) -> JsonDict:
    return SERVER_INFO


def routes(services: Services) -> list[BaseRoute]:
    """Mounts for MLflow's tracking and registry API, artifact proxy and server-info."""
    tracking, artifacts = services.tracking, services.artifacts
    api = JsonApi(
        [
            *experiments.endpoints(tracking),
            *runs.endpoints(tracking),
            *logged_models.endpoints(tracking),
            *run_artifact_endpoints(tracking, artifacts),
            *registry.endpoints(services.registry, tracking),
        ],
        inline_point=services.inline_io,
    )
    proxy = ArtifactProxy(artifacts)
    v3 = JsonApi([Endpoint("GET", "server-info", NO_FIELDS, _server_info, Work.PURE)])
    return [
        Mount("/api/2.0/mlflow", app=api),
        Mount("/ajax-api/2.0/mlflow", app=api),
        Mount("/api/2.0/mlflow-artifacts", app=proxy),
        Mount("/ajax-api/2.0/mlflow-artifacts", app=proxy),
        Mount("/api/3.0/mlflow", app=v3),
        Mount("/ajax-api/3.0/mlflow", app=v3),
    ]
