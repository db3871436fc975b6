"""Wire schemas of the artifact endpoints (bytes themselves travel as raw bodies)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from moorline.core.blobs import BlobInfo
from moorline.schemas.common import ResponseModel


class ArtifactEntry(ResponseModel):
    path: Annotated[str, Field(description="Relative to the listed directory.")]
    is_dir: bool
    size: Annotated[int | None, Field(description="Bytes; null for a directory.")] = None

    @classmethod
    def from_domain(cls, info: BlobInfo) -> ArtifactEntry:
        return cls(path=info.path, is_dir=info.is_dir, size=info.size)

    def to_domain(self) -> BlobInfo:
        return BlobInfo(path=self.path, is_dir=self.is_dir, size=self.size)


class ArtifactListing(ResponseModel):
    """Direct children of a directory, sorted by path; empty for a file or a missing path."""

    items: list[ArtifactEntry]


class ArtifactWritten(ResponseModel):
    path: str
    size: Annotated[int, Field(description="Bytes written.")]
