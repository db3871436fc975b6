"""Wire schemas of dataset versions (``/api/v1/datasets``).

``schema`` and ``profile`` travel as the JSON strings stored with the
version (formats ``moorline.schema/1`` and ``moorline.profile/1``, see
``moorline.tracking.datasets``), so a version read over HTTP is equal to the
one a local store returns.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from moorline.schemas.common import ResponseModel, Timestamp
from moorline.tracking import models as m

_NEXT_PAGE_TOKEN = Field(default=None, description="Token of the next page; null on the last page.")


class DatasetVersion(ResponseModel):
    name: str
    digest: str = Field(description="SHA-256 (hex) of the version's canonical form.")
    source_type: str = ""
    source: str = ""
    schema_: Annotated[
        str | None, Field(alias="schema", description="JSON, format moorline.schema/1.")
    ] = None
    profile: str | None = Field(default=None, description="JSON, format moorline.profile/1.")
    run_count: int = Field(default=0, description="How many runs read this version.")
    first_used_at: Timestamp | None = Field(
        default=None, description="Start time of the earliest run that read it (ms)."
    )

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    @classmethod
    def from_domain(cls, version: m.DatasetVersion) -> DatasetVersion:
        d = version.dataset
        return cls(
            name=d.name,
            digest=d.digest,
            source_type=d.source_type,
            source=d.source,
            schema_=d.schema,
            profile=d.profile,
            run_count=version.run_count,
            first_used_at=version.first_used_at,
        )

    def to_domain(self) -> m.DatasetVersion:
        return m.DatasetVersion(
            dataset=m.Dataset(
                name=self.name,
                digest=self.digest,
                source_type=self.source_type,
                source=self.source,
                schema=self.schema_,
                profile=self.profile,
            ),
            run_count=self.run_count,
            first_used_at=self.first_used_at,
        )


class DatasetVersionPage(ResponseModel):
    items: list[DatasetVersion]
    next_page_token: str | None = _NEXT_PAGE_TOKEN


class DatasetSummary(ResponseModel):
    name: str
    versions: int
    latest_digest: str

    @classmethod
    def from_domain(cls, summary: m.DatasetSummary) -> DatasetSummary:
        return cls(
            name=summary.name, versions=summary.versions, latest_digest=summary.latest_digest
        )

    def to_domain(self) -> m.DatasetSummary:
        return m.DatasetSummary(
            name=self.name, versions=self.versions, latest_digest=self.latest_digest
        )


class DatasetSummaryPage(ResponseModel):
    items: list[DatasetSummary]
    next_page_token: str | None = _NEXT_PAGE_TOKEN
