"""The dataset port over moorline's HTTP API (``/api/v1/datasets``)."""

from __future__ import annotations

from moorline.core.paging import Page
from moorline.schemas import datasets as s
from moorline.store.rest.client import RestClient, quote_path, quote_segment
from moorline.tracking.models import DatasetSummary, DatasetVersion
from moorline.tracking.ports import DatasetStore


class RestDatasetStore(DatasetStore):
    """Dataset versions kept by a moorline server."""

    def __init__(self, client: RestClient) -> None:
        self._client = client

    def list_datasets(self, *, max_results: int, page_token: str | None) -> Page[DatasetSummary]:
        params: dict[str, str | int] = {"max_results": max_results}
        if page_token:
            params["page_token"] = page_token
        page = self._client.call_json("GET", "/datasets", s.DatasetSummaryPage, params=params)
        return Page(
            items=tuple(i.to_domain() for i in page.items), next_page_token=page.next_page_token
        )

    def list_dataset_versions(
        self, name: str, *, max_results: int, page_token: str | None
    ) -> Page[DatasetVersion]:
        params: dict[str, str | int] = {"max_results": max_results}
        if page_token:
            params["page_token"] = page_token
        page = self._client.call_json(
            "GET", f"/datasets/{quote_path(name)}/versions", s.DatasetVersionPage, params=params
        )
        return Page(
            items=tuple(i.to_domain() for i in page.items), next_page_token=page.next_page_token
        )

    def get_dataset_version(self, name: str, digest: str) -> DatasetVersion:
        found = self._client.call_json(
            "GET",
            f"/datasets/{quote_path(name)}/versions/{quote_segment(digest)}",
            s.DatasetVersion,
        )
        return found.to_domain()
