"""Artifact (blob) stores: a local folder and S3-compatible object storage.

:func:`open_blob_store` picks the adapter of :class:`moorline.core.blobs.BlobStore`
from a URI, the way ``bootstrap`` turns settings into services:

==========================================  =====================================
URI                                         store
==========================================  =====================================
``./mlruns``, ``/data/artifacts``           :class:`LocalBlobStore` (created)
``file:///data/artifacts``                  :class:`LocalBlobStore` (created)
``s3://bucket`` or ``s3://bucket/prefix``   :class:`S3BlobStore`
==========================================  =====================================

:func:`resolve_artifact_uri` turns the ``mlflow-artifacts:`` URIs that the
MLflow client sends into keys relative to the server's default store.

boto3 is imported only when an ``s3://`` store is opened (or
:class:`S3BlobStore` is asked for): a process on local artifacts never pays
for it.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moorline.artifacts.local import LocalBlobStore
from moorline.core.blobs import BlobStore
from moorline.errors import InvalidArgument

if TYPE_CHECKING:
    from moorline.artifacts.s3 import S3BlobStore

SUPPORTED_SCHEMES = "a local path, file://, s3://"

# A URI scheme per RFC 3986; one letter alone is a Windows drive, not a scheme.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


def open_blob_store(uri: str, *, s3_endpoint_url: str | None = None) -> BlobStore:
    """Open the blob store that ``uri`` names.

    ``s3_endpoint_url`` is for S3-compatible servers (MinIO, moto); the caller
    reads it from its settings (``MOORLINE_S3_ENDPOINT_URL``, falling back to
    ``AWS_ENDPOINT_URL``).

    >>> import tempfile
    >>> store = open_blob_store(tempfile.mkdtemp())
    >>> store.root_uri.startswith("file://")
    True
    >>> open_blob_store("ftp://host/x")
    Traceback (most recent call last):
    ...
    moorline.errors.InvalidArgument: Unsupported artifact store URI 'ftp://host/x': ...
    """
    if not uri or not uri.strip():
        raise InvalidArgument(f"Artifact store URI is empty; give one of: {SUPPORTED_SCHEMES}")
    match = _SCHEME.match(uri)
    if match is None:
        return LocalBlobStore(Path(uri).expanduser())
    scheme = match.group(1).lower()
    parsed = urllib.parse.urlsplit(uri)
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidArgument(
                f"Unsupported artifact store URI {uri!r}: file:// URIs must name a local path "
                f"(host {parsed.netloc!r} is not allowed)"
            )
        if not parsed.path:
            raise InvalidArgument(f"Artifact store URI {uri!r} names no folder")
        return LocalBlobStore(Path(urllib.request.url2pathname(parsed.path)))
    if scheme == "s3":
        if not parsed.netloc:
            raise InvalidArgument(
                f"Artifact store URI {uri!r} names no bucket: use s3://bucket/prefix"
            )
        from moorline.artifacts.s3 import S3BlobStore

        return S3BlobStore(parsed.netloc, parsed.path.lstrip("/"), endpoint_url=s3_endpoint_url)
    raise InvalidArgument(
        f"Unsupported artifact store URI {uri!r}: scheme {scheme!r} is not one of: "
        f"{SUPPORTED_SCHEMES}"
    )


def __getattr__(name: str) -> Any:
    if name == "S3BlobStore":
        from moorline.artifacts.s3 import S3BlobStore

        globals()[name] = S3BlobStore
        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SUPPORTED_SCHEMES",
    "LocalBlobStore",
    "S3BlobStore",
    "open_blob_store",
]
