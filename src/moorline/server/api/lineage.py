"""``/lineage``: the lineage of a model version in one call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from moorline.registry.lineage import LineageService
from moorline.schemas.lineage import Lineage
from moorline.server.api._http import errors, json_response


def router(lineage: LineageService) -> APIRouter:
    api = APIRouter(tags=["lineage"])

    @api.get(
        "/lineage",
        response_model=Lineage,
        responses=errors(404),
        summary="Lineage of a model version",
    )
    def get_lineage(
        uri: Annotated[
            str,
            Query(
                description="models:/<name>/<version>, models:/<name>@<alias> "
                "or models:/<name>/latest",
                min_length=1,
            ),
        ],
    ) -> Response:
        """The version (who registered it, when), the aliases on it and their moves, its
        audit history, the training run (params, metrics, git commit and dirty flag,
        entry point, Python environment), the dataset versions the run read, and
        its deployments. ``moorline lineage URI --json`` prints the same document."""
        return json_response(Lineage.from_domain(lineage.lineage(uri)))

    return api
