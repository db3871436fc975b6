"""What only the S3 store has: multipart uploads, paging, foreign objects, errors.

Runs against moto's S3 server on loopback (see conftest).
"""

from __future__ import annotations

import random
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from blobstore_support import DUMMY_CREDENTIALS, MIB, S3_PART_SIZE, MotoS3
from botocore.config import Config

from moorline.artifacts import S3BlobStore
from moorline.errors import InvalidArgument, StorageError

pytestmark = [pytest.mark.s3, pytest.mark.usefixtures("s3_credentials")]


class StreamBroke(Exception):
    pass


@pytest.fixture
def raw(moto_s3: MotoS3) -> Any:
    """A plain boto3 client, to look at the bucket behind the store's back."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=moto_s3.endpoint_url,
        region_name=DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    yield client
    client.close()


@pytest.fixture
def prefix() -> str:
    return f"s3-only-{uuid.uuid4().hex}"


def make(moto_s3: MotoS3, prefix: str, **options: Any) -> S3BlobStore:
    options.setdefault("part_size", S3_PART_SIZE)
    return S3BlobStore(moto_s3.bucket, prefix, endpoint_url=moto_s3.endpoint_url, **options)


def test_large_streams_go_up_as_multipart_and_small_ones_in_one_put(
    moto_s3: MotoS3, prefix: str, raw: Any
) -> None:
    store = make(moto_s3, prefix)
    data = random.Random(1).randbytes(2 * S3_PART_SIZE + 100)
    store.put_stream("big.bin", (data[i : i + MIB] for i in range(0, len(data), MIB)))
    store.put_stream("small.bin", [b"tiny"])
    big = raw.head_object(Bucket=moto_s3.bucket, Key=f"{prefix}/big.bin")
    small = raw.head_object(Bucket=moto_s3.bucket, Key=f"{prefix}/small.bin")
    assert big["ETag"].strip('"').endswith("-3")  # three parts: 5 MiB, 5 MiB, 100 bytes
    assert big["ContentLength"] == len(data)
    assert "-" not in small["ETag"]
    assert store.read_bytes("big.bin") == data


def test_a_failed_stream_aborts_its_multipart_upload(
    moto_s3: MotoS3, prefix: str, raw: Any
) -> None:
    store = make(moto_s3, prefix)

    def chunks() -> Iterator[bytes]:
        yield bytes(2 * S3_PART_SIZE + 1)  # two parts already sent when we fail
        raise StreamBroke

    with pytest.raises(StreamBroke):
        store.put_stream("broken.bin", chunks())
    uploads = raw.list_multipart_uploads(Bucket=moto_s3.bucket, Prefix=prefix)
    assert uploads.get("Uploads", []) == []
    assert raw.list_objects_v2(Bucket=moto_s3.bucket, Prefix=prefix)["KeyCount"] == 0


def test_listing_and_deleting_page_through_every_result(moto_s3: MotoS3, prefix: str) -> None:
    store = make(moto_s3, prefix, list_page_size=2)
    for i in range(7):
        store.put_stream(f"d/f{i}.txt", [b"x" * i])
    for i in range(3):
        store.put_stream(f"d/sub{i}/g.txt", [b"g"])
    listed = store.list("d")
    assert [info.path for info in listed] == [f"f{i}.txt" for i in range(7)] + [
        f"sub{i}" for i in range(3)
    ]
    assert [info.size for info in listed[:7]] == list(range(7))
    assert len(list(store.walk("d"))) == 10
    store.delete("d")
    assert list(store.walk("")) == []


def test_objects_made_by_other_tools_are_listed_sanely(
    moto_s3: MotoS3, prefix: str, raw: Any
) -> None:
    store = make(moto_s3, prefix)
    # Consoles create empty "folder marker" objects; they are not files.
    raw.put_object(Bucket=moto_s3.bucket, Key=f"{prefix}/d/", Body=b"")
    raw.put_object(Bucket=moto_s3.bucket, Key=f"{prefix}/d/x.txt", Body=b"xx")
    assert [(i.path, i.is_dir) for i in store.list("")] == [("d", True)]
    assert [(i.path, i.size) for i in store.list("d")] == [("x.txt", 2)]
    store.delete("d")
    assert raw.list_objects_v2(Bucket=moto_s3.bucket, Prefix=prefix)["KeyCount"] == 0


def test_a_missing_bucket_is_a_storage_error_naming_it(moto_s3: MotoS3) -> None:
    store = S3BlobStore("no-such-bucket", "p", endpoint_url=moto_s3.endpoint_url)
    with pytest.raises(StorageError, match="s3://no-such-bucket/p"):
        store.put_stream("k", [b"x"])
    with pytest.raises(StorageError, match="NoSuchBucket"):
        store.read_bytes("k")


def test_an_unreachable_endpoint_is_a_storage_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    store = S3BlobStore(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
    with pytest.raises(StorageError, match="Could not connect"):
        store.read_bytes("k")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bucket": ""}, "Invalid S3 bucket name"),
        ({"bucket": "a/b"}, "Invalid S3 bucket name"),
        ({"bucket": "b", "part_size": MIB}, "Invalid S3 part size"),
        ({"bucket": "b", "list_page_size": 1001}, "Invalid S3 list page size"),
        ({"bucket": "b", "prefix": "../x"}, "Invalid artifact path"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        S3BlobStore(**kwargs)


def test_root_uri_names_bucket_and_prefix(moto_s3: MotoS3) -> None:
    assert make(moto_s3, "a//b/").root_uri == "s3://moorline-test/a/b"
    assert make(moto_s3, "").root_uri == "s3://moorline-test"
