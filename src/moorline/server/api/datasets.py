"""``/datasets``: dataset names, their versions, one version's schema and profile.

Versions are written as run inputs (``POST /runs/{id}/inputs``) and their
data as the artifact ``datasets/<digest>.parquet`` (``PUT /artifacts/...``);
these routes read what was recorded.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from moorline.schemas import datasets as s
from moorline.server.api._http import errors, json_response
from moorline.tracking.datasets import DatasetService

MaxResults = Annotated[
    int | None, Query(ge=1, description="Page size (default 100, at most 1000).")
]
PageToken = Annotated[str | None, Query(description="Token from the previous page.")]


def router(datasets: DatasetService) -> APIRouter:
    api = APIRouter(prefix="/datasets", tags=["datasets"])

    @api.get(
        "",
        response_model=s.DatasetSummaryPage,
        responses=errors(),
        summary="List dataset names",
    )
    def list_datasets(max_results: MaxResults = None, page_token: PageToken = None) -> Response:
        """Every dataset name with its number of versions and newest digest, by name."""
        page = datasets.list_datasets(max_results=max_results, page_token=page_token)
        return json_response(
            s.DatasetSummaryPage(
                items=[s.DatasetSummary.from_domain(x) for x in page.items],
                next_page_token=page.next_page_token,
            )
        )

    @api.get(
        "/{name:path}/versions/{digest}",
        response_model=s.DatasetVersion,
        responses=errors(404),
        summary="Get one version of a dataset",
    )
    def get_dataset_version(name: str, digest: str) -> Response:
        """``digest`` is the version's SHA-256, or ``latest`` for the newest version."""
        version = datasets.get_version(name, None if digest == "latest" else digest)
        return json_response(s.DatasetVersion.from_domain(version))

    @api.get(
        "/{name:path}/versions",
        response_model=s.DatasetVersionPage,
        responses=errors(),
        summary="List the versions of a dataset, newest first",
    )
    def list_dataset_versions(
        name: str, max_results: MaxResults = None, page_token: PageToken = None
    ) -> Response:
        page = datasets.list_versions(name, max_results=max_results, page_token=page_token)
        return json_response(
            s.DatasetVersionPage(
                items=[s.DatasetVersion.from_domain(x) for x in page.items],
                next_page_token=page.next_page_token,
            )
        )

    return api
