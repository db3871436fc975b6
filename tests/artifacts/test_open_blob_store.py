"""Choosing a blob store by URI, and resolving ``mlflow-artifacts:`` URIs to keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from blobstore_support import MotoS3

from moorline.artifacts import (
    LocalBlobStore,
    S3BlobStore,
    open_blob_store,
)
from moorline.errors import InvalidArgument
from moorline.tracking.artifacts import key_from_uri


def test_a_plain_path_opens_a_local_store_and_creates_it(tmp_path: Path) -> None:
    target = tmp_path / "not" / "yet" / "there"
    store = open_blob_store(str(target))
    assert isinstance(store, LocalBlobStore)
    assert target.is_dir()
    assert store.root == target.resolve()


def test_a_relative_path_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_blob_store("./.moorline/artifacts")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path.resolve() / ".moorline" / "artifacts"


@pytest.mark.parametrize("form", ["file://{path}", "file://localhost{path}", "FILE://{path}"])
def test_file_uris_open_a_local_store(tmp_path: Path, form: str) -> None:
    target = tmp_path / "with space"
    store = open_blob_store(form.format(path=str(target).replace(" ", "%20")))
    assert isinstance(store, LocalBlobStore)
    assert store.root == target.resolve()


def test_a_local_store_reopens_from_its_root_uri(tmp_path: Path) -> None:
    first = open_blob_store(str(tmp_path / "a b"))
    first.put_stream("k/v.txt", [b"v"])
    again = open_blob_store(first.root_uri)
    assert again.read_bytes("k/v.txt") == b"v"


@pytest.mark.s3
@pytest.mark.usefixtures("s3_credentials")
def test_s3_uris_open_an_s3_store_that_reopens_from_its_root_uri(moto_s3: MotoS3) -> None:
    uri = f"s3://{moto_s3.bucket}/open-test-{os.getpid()}/artifacts"
    store = open_blob_store(uri, s3_endpoint_url=moto_s3.endpoint_url)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.root_uri) == (moto_s3.bucket, uri)
    store.put_stream("k/v.txt", [b"v"])
    again = open_blob_store(store.root_uri, s3_endpoint_url=moto_s3.endpoint_url)
    assert again.read_bytes("k/v.txt") == b"v"
    store.delete("k")


def test_an_s3_uri_needs_no_prefix() -> None:
    store = open_blob_store("s3://bucket", s3_endpoint_url="http://127.0.0.1:9")
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("bucket", "")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("s3://bucket/../escape", "Invalid artifact path"),
        ("file://otherhost/data", "host 'otherhost' is not allowed"),
        ("file://", "names no folder"),
    ],
)
def test_malformed_uris_are_refused(uri: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        open_blob_store(uri)


@pytest.mark.parametrize(
    "uri", ["ftp://host/x", "gs://bucket/x", "http://host/x", "mlflow-artifacts:/1/x"]
)
def test_unsupported_schemes_are_refused_naming_the_supported_ones(uri: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        open_blob_store(uri)
    message = str(caught.value)
    assert repr(uri) in message
    assert "a local path, file://, s3://" in message


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("mlflow-artifacts:/1/abc/artifacts", "1/abc/artifacts"),
        ("mlflow-artifacts://tracking.example:5000/1/abc", "1/abc"),
        ("mlflow-artifacts://host", ""),
        ("mlflow-artifacts:/", ""),
        ("mlflow-artifacts:1/x", "1/x"),
        ("MLflow-Artifacts:/1/x", "1/x"),
        ("mlflow-artifacts:/a/./b//c/", "a/b/c"),
        ("mlflow-artifacts:/a/b#c?d=e", "a/b#c?d=e"),
    ],
)
def test_mlflow_artifacts_uris_resolve_to_clean_keys(uri: str, key: str) -> None:
    assert key_from_uri(uri) == key


@pytest.mark.parametrize(
    "uri",
    [
        "mlflow-artifacts:/../etc/passwd",
        "mlflow-artifacts://host/a/../../x",
        "mlflow-artifacts:/%2e%2e/x",
        "mlflow-artifacts:/%252e%252e/x",
        "mlflow-artifacts:/a\\b",
    ],
)
def test_escaping_mlflow_artifacts_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid artifact path"):
        key_from_uri(uri)


@pytest.mark.parametrize("uri", ["s3://bucket/x", "file:///x", "/plain/path", "runs:/abc/model"])
def test_other_schemes_are_refused_by_resolve(uri: str) -> None:
    with pytest.raises(InvalidArgument, match="only mlflow-artifacts:/<path> URIs"):
        key_from_uri(uri)
