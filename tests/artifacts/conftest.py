"""Fixtures for the blob-store tests: a local folder and moto's S3 server.

moto runs in a child process (``ThreadedMotoServer`` on 127.0.0.1, port 0)
rather than in a thread of the test process: moto keeps whole objects in
memory (it joins multipart uploads into one buffer), and in-process those
copies would be counted by the tracemalloc checks that prove our streaming
keeps the client's memory flat. It also keeps the server off the test's GIL.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from blobstore_support import (
    BUCKET,
    DUMMY_CREDENTIALS,
    S3_PART_SIZE,
    MotoS3,
    StoreFactory,
)

from moorline.artifacts import LocalBlobStore, S3BlobStore
from moorline.core.blobs import BlobStore

_MOTO_CHILD = """
import os, sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
sys.stdout.write(f"{server.get_host_and_port()[1]}\\n")
sys.stdout.flush()
sys.stdout = open(os.devnull, "w")
sys.stdin.read()  # the parent closes our stdin to stop us
server.stop()
"""


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """moto's S3 server on loopback with one empty bucket, for the whole session."""
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-c", _MOTO_CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert child.stdin is not None and child.stdout is not None
    try:
        line = child.stdout.readline().decode().strip()
        if not line.isdigit():
            child.kill()
            child.wait()
            pytest.fail(f"moto server did not start: {log_path.read_text()[-2000:]}")
        endpoint_url = f"http://127.0.0.1:{line}"
        admin = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        admin.create_bucket(Bucket=BUCKET)
        admin.close()
        yield MotoS3(endpoint_url=endpoint_url, bucket=BUCKET)
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials in the environment, where boto3 looks for real ones.

    Profiles, config files and endpoint overrides of the machine are hidden so
    the tests talk to moto only.
    """
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/moorline-test/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/moorline-test/credentials")


BACKENDS = [
    pytest.param("local", id="local"),
    pytest.param("s3", id="s3", marks=pytest.mark.s3),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def make_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A factory of fresh, empty stores of the test's backend.

    ``make_store("name")`` returns a store rooted at a folder or S3 prefix of
    that name, private to the test; the same name gives the same root.
    """
    if backend == "local":

        def make_local(name: str = "root", **options: Any) -> BlobStore:
            return LocalBlobStore(tmp_path / name, **options)

        return make_local

    moto: MotoS3 = request.getfixturevalue("moto_s3")
    request.getfixturevalue("s3_credentials")
    test_prefix = f"test-{uuid.uuid4().hex}"

    def make_s3(name: str = "root", **options: Any) -> BlobStore:
        options.setdefault("part_size", S3_PART_SIZE)
        return S3BlobStore(
            moto.bucket,
            f"{test_prefix}/{name}",
            endpoint_url=moto.endpoint_url,
            **options,
        )

    return make_s3


@pytest.fixture
def store(make_store: StoreFactory) -> BlobStore:
    """A fresh, empty store of the test's backend."""
    return make_store()
