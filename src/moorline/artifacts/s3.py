"""The blob store on S3-compatible object storage (AWS S3, MinIO, Ceph, moto...).

Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID`` and friends,
``~/.aws``, instance roles). The endpoint is passed in by the caller (the
shells read ``MOORLINE_S3_ENDPOINT_URL``); nothing here reads settings.

Uploads stream: bytes are gathered into parts of a bounded size and sent as a
multipart upload, so memory use stays near one part whatever the object's
size. A stream that fails midway aborts its multipart upload, so no partial
object and no orphaned parts remain. A stream shorter than one part is sent
with a single ``PutObject``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from moorline.artifacts._streams import ClosingChunks, read_chunks
from moorline.core.blobs import CHUNK_SIZE, BlobInfo, BlobStore, clean_key
from moorline.errors import InvalidArgument, NotFound, StorageError

MIB = 1024 * 1024
#: S3's smallest allowed part (all parts but the last).
MIN_PART_SIZE = 5 * MIB
#: S3's largest allowed part.
MAX_PART_SIZE = 5 * 1024 * MIB
DEFAULT_PART_SIZE = 8 * MIB
#: Parts per size step: the part size doubles every this many parts, so an
#: unknown-length stream stays under S3's 10,000-part limit up to its 5 TiB cap.
PARTS_PER_STEP = 1000
#: S3 returns and deletes at most this many keys per request.
MAX_KEYS_PER_REQUEST = 1000

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3BlobStore(BlobStore):
    """Blobs as objects under ``s3://bucket/prefix``.

    ``client_kwargs`` go to ``boto3`` unchanged (``region_name``,
    ``aws_access_key_id``, ``config``...). With a custom ``endpoint_url``,
    path-style addressing is used unless ``config`` says otherwise, since most
    S3-compatible servers expect it.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        list_page_size: int = MAX_KEYS_PER_REQUEST,
        **client_kwargs: Any,
    ) -> None:
        if not bucket or "/" in bucket:
            raise InvalidArgument(f"Invalid S3 bucket name {bucket!r}")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise InvalidArgument(
                f"Invalid S3 part size {part_size}: it must be between "
                f"{MIN_PART_SIZE} and {MAX_PART_SIZE} bytes"
            )
        if not 1 <= list_page_size <= MAX_KEYS_PER_REQUEST:
            raise InvalidArgument(
                f"Invalid S3 list page size {list_page_size}: it must be between "
                f"1 and {MAX_KEYS_PER_REQUEST}"
            )
        self.bucket = bucket
        self.prefix = clean_key(prefix, allow_root=True)
        self.root_uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._part_size = part_size
        self._page_size = list_page_size
        if endpoint_url:
            path_style = Config(s3={"addressing_style": "path"})
            given = client_kwargs.get("config")
            client_kwargs["config"] = path_style.merge(given) if given else path_style
        self._client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, **client_kwargs
        )
        # Follow botocore's checksum setting, as boto3's own transfers do, so
        # servers without flexible-checksum support keep working when it is off.
        self._checksum_args: dict[str, str] = (
            {"ChecksumAlgorithm": "CRC32"}
            if self._client.meta.config.request_checksum_calculation == "when_supported"
            else {}
        )

    def __repr__(self) -> str:
        return f"S3BlobStore({self.root_uri!r})"

    # -- keys -----------------------------------------------------------------

    def _object_key(self, key: str) -> str:
        cleaned = clean_key(key)
        return f"{self.prefix}/{cleaned}" if self.prefix else cleaned

    def _dir_prefix(self, key: str) -> str:
        """The S3 prefix that holds the children of directory ``key``."""
        cleaned = clean_key(key, allow_root=True)
        joined = "/".join(part for part in (self.prefix, cleaned) if part)
        return f"{joined}/" if joined else ""

    def _call(self, action: str, key: str, operation: str, **kwargs: Any) -> Any:
        """Run one S3 operation, turning its failures into moorline errors."""
        try:
            return getattr(self._client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                raise NotFound(f"Artifact {key!r} does not exist") from exc
            raise StorageError(
                f"Cannot {action} artifact {key!r} in {self.root_uri}: {exc}"
            ) from exc
        except BotoCoreError as exc:
            raise StorageError(
                f"Cannot {action} artifact {key!r} in {self.root_uri}: {exc}"
            ) from exc

    # -- writes ---------------------------------------------------------------

    def _part_limit(self, part_number: int) -> int:
        step = (part_number - 1) // PARTS_PER_STEP
        return min(self._part_size << step, MAX_PART_SIZE)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        object_key = self._object_key(key)
        buffer = bytearray()
        written = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []

        def send_part(body: bytes | bytearray) -> None:
            nonlocal upload_id
            if upload_id is None:
                created = self._call(
                    "write",
                    key,
                    "create_multipart_upload",
                    Key=object_key,
                    **self._checksum_args,
                )
                upload_id = str(created["UploadId"])
            number = len(parts) + 1
            sent = self._call(
                "write",
                key,
                "upload_part",
                Key=object_key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                **self._checksum_args,
            )
            part = {"PartNumber": number, "ETag": sent["ETag"]}
            if "ChecksumCRC32" in sent:
                part["ChecksumCRC32"] = sent["ChecksumCRC32"]
            parts.append(part)

        try:
            # Errors raised by ``chunks`` itself propagate unchanged: they are the caller's.
            for chunk in chunks:
                buffer += chunk
                written += len(chunk)
                while len(buffer) >= self._part_limit(len(parts) + 1):
                    # The part goes up as gathered (a little over the limit is
                    # fine), so it is never copied; a fresh buffer takes over.
                    part, buffer = _split(buffer, MAX_PART_SIZE)
                    send_part(part)
                    del part
            if upload_id is None:
                self._call("write", key, "put_object", Key=object_key, Body=buffer)
                return written
            if buffer:
                send_part(buffer)
            self._call(
                "write",
                key,
                "complete_multipart_upload",
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if upload_id is not None:
                # Best effort: the original failure matters more than a failed abort.
                with contextlib.suppress(ClientError, BotoCoreError):
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=object_key, UploadId=upload_id
                    )
            raise
        return written

    def put_file(self, key: str, fileobj: BinaryIO) -> int:
        return self.put_stream(key, read_chunks(fileobj, CHUNK_SIZE))

    # -- reads ----------------------------------------------------------------

    def open_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        response = self._call("read", key, "get_object", Key=self._object_key(key))
        body = response["Body"]
        return ClosingChunks(_translated(body.iter_chunks(chunk_size), key), body.close)

    def size(self, key: str) -> int | None:
        try:
            head = self._call("inspect", key, "head_object", Key=self._object_key(key))
        except NotFound:
            return None
        return int(head["ContentLength"])

    def is_dir(self, key: str) -> bool:
        prefix = self._dir_prefix(key)
        if not prefix or prefix == f"{self.prefix}/":
            return True  # the root always exists
        found = self._call("list", key, "list_objects_v2", Prefix=prefix, MaxKeys=1)
        return int(found.get("KeyCount", 0)) > 0

    def list(self, prefix: str) -> list[BlobInfo]:
        dir_prefix = self._dir_prefix(prefix)
        infos: list[BlobInfo] = []
        for page in self._pages(prefix, Prefix=dir_prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", ()):
                name = str(common["Prefix"])[len(dir_prefix) :].rstrip("/")
                if _is_plain_name(name):
                    infos.append(BlobInfo(path=name, is_dir=True))
            for obj in page.get("Contents", ()):
                name = str(obj["Key"])[len(dir_prefix) :]
                # Skips "folder marker" objects (the prefix itself) made by other tools.
                if _is_plain_name(name):
                    infos.append(BlobInfo(path=name, is_dir=False, size=int(obj["Size"])))
        infos.sort(key=lambda info: info.path)
        return infos

    def _pages(self, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of ``ListObjectsV2`` for ``kwargs``, following continuation tokens."""
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page: dict[str, Any] = self._call(
                "list", key, "list_objects_v2", MaxKeys=self._page_size, **kwargs, **extra
            )
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    # -- deletes --------------------------------------------------------------

    def delete(self, key: str) -> None:
        object_key = self._object_key(key)
        self._call("delete", key, "delete_object", Key=object_key)
        # Each listing page holds at most 1,000 keys: exactly one DeleteObjects batch.
        for page in self._pages(key, Prefix=f"{object_key}/"):
            batch = [{"Key": obj["Key"]} for obj in page.get("Contents", ())]
            if not batch:
                continue
            result = self._call(
                "delete", key, "delete_objects", Delete={"Objects": batch, "Quiet": True}
            )
            errors = result.get("Errors", [])
            if errors:
                first = errors[0]
                raise StorageError(
                    f"Cannot delete artifact {key!r} in {self.root_uri}: {len(errors)} object(s) "
                    f"were not deleted, e.g. {first.get('Key')!r}: {first.get('Code')} "
                    f"{first.get('Message', '')}".rstrip()
                )


def _error_code(exc: ClientError) -> str:
    error: dict[str, Any] = exc.response.get("Error", {})
    return str(error.get("Code", ""))


def _split(buffer: bytearray, limit: int) -> tuple[bytearray, bytearray]:
    """``buffer`` whole with a new empty buffer, or cut at ``limit`` if longer."""
    if len(buffer) <= limit:
        return buffer, bytearray()
    return buffer[:limit], buffer[limit:]


def _is_plain_name(name: str) -> bool:
    """True for one path segment a key may hold (no separators, not ``.``/``..``)."""
    return bool(name) and "/" not in name and name not in (".", "..")


def _translated(chunks: Iterator[bytes], key: str) -> Iterator[bytes]:
    """Re-raise transport failures in the middle of a download as StorageError."""
    try:
        yield from chunks
    except BotoCoreError as exc:
        raise StorageError(f"Reading artifact {key!r} failed midway: {exc}") from exc
