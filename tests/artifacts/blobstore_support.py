"""Constants and types shared by the blob-store tests and their fixtures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from moorline.core.blobs import BlobStore

MIB = 1024 * 1024
BUCKET = "moorline-test"
S3_PART_SIZE = 5 * MIB  # S3's minimum, so multipart needs only a few MiB
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "moorline-test-key",
    "AWS_SECRET_ACCESS_KEY": "moorline-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


StoreFactory = Callable[..., BlobStore]


@dataclass(frozen=True, slots=True, kw_only=True)
class MotoS3:
    endpoint_url: str
    bucket: str
