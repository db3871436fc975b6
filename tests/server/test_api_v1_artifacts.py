"""``/api/v1/artifacts``: streamed upload and download, listing, size, delete.

Raw HTTP pins the endpoints; the REST blob adapter is then checked to stream
for real: a 48 MiB round trip through client AND server (one process here)
must never hold the payload in memory.
"""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.contracts.rest_backend import (
    RestBackend,
    ThreadedServer,
    rest_backend,
    threaded_server,
)

from moorline.errors import InvalidArgument, NotFound

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with threaded_server() as running:
        yield running


@pytest.fixture
def backend(server: ThreadedServer, tmp_path: Path) -> Iterator[RestBackend]:
    with rest_backend(server, tmp_path) as backend:
        yield backend


@pytest.fixture
def api(backend: RestBackend) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{backend.url}/api/v1", timeout=30) as client:
        yield client


def test_put_get_head_list_delete(api: httpx.Client) -> None:
    def body() -> Iterator[bytes]:
        yield b"hello "
        yield b"world"

    put = api.put(
        "/artifacts/1/run/artifacts/dir/a%20file.txt",
        content=body(),
        headers={"content-type": "application/octet-stream"},
    )
    assert put.status_code == 201, put.text
    assert put.json() == {"path": "1/run/artifacts/dir/a file.txt", "size": 11}

    got = api.get("/artifacts/1/run/artifacts/dir/a%20file.txt")
    assert got.status_code == 200
    assert got.content == b"hello world"
    assert got.headers["content-type"] == "application/octet-stream"

    head = api.head("/artifacts/1/run/artifacts/dir/a%20file.txt")
    assert head.status_code == 200
    assert head.headers["content-length"] == "11"
    assert api.head("/artifacts/1/run/artifacts/dir/nothing").status_code == 404

    root = api.get("/artifacts", params={"path": "1/run/artifacts"}).json()
    assert root == {"items": [{"path": "dir", "is_dir": True, "size": None}]}
    inside = api.get("/artifacts", params={"path": "1/run/artifacts/dir"}).json()
    assert inside == {"items": [{"path": "a file.txt", "is_dir": False, "size": 11}]}
    assert api.get("/artifacts", params={"path": "no/such/dir"}).json() == {"items": []}

    assert api.delete("/artifacts/1/run/artifacts/dir").status_code == 204
    missing = api.get("/artifacts/1/run/artifacts/dir/a%20file.txt")
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert api.delete("/artifacts/1/run/artifacts/dir").status_code == 204  # missing is fine


@pytest.mark.parametrize("key", ["..%2F..%2Fetc%2Fpasswd", "a/%2E%2E/%2E%2E/b", "a%5Cb"])
def test_keys_that_escape_the_root_are_400(api: httpx.Client, key: str) -> None:
    response = api.put(f"/artifacts/{key}", content=b"x")
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert api.get(f"/artifacts/{key}").status_code == 400


def test_directory_is_not_downloadable(api: httpx.Client) -> None:
    assert api.put("/artifacts/d/f.bin", content=b"1").status_code == 201
    response = api.get("/artifacts/d")
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_adapter_round_trip_and_errors(backend: RestBackend) -> None:
    blobs = backend.blobs
    assert blobs.put_stream("x/y/data.bin", iter([b"ab", b"", b"cd"])) == 4
    assert blobs.put_file("x/y/other.bin", io.BytesIO(b"12345")) == 5
    assert blobs.read_bytes("x/y/data.bin") == b"abcd"
    assert blobs.size("x/y/other.bin") == 5
    assert blobs.size("x/y/none.bin") is None
    assert blobs.is_dir("x/y") is True
    assert blobs.is_dir("x/y/data.bin") is False
    assert [(b.path, b.is_dir, b.size) for b in blobs.list("x/y")] == [
        ("data.bin", False, 4),
        ("other.bin", False, 5),
    ]
    assert sorted(b.path for b in blobs.walk("x")) == ["y/data.bin", "y/other.bin"]
    with pytest.raises(NotFound):
        list(blobs.open_stream("x/y/none.bin"))
    with pytest.raises(InvalidArgument):
        blobs.put_stream("../evil", iter([b"x"]))
    blobs.delete("x")
    assert blobs.list("") == []
    # The server's own store holds exactly what the adapter reported.
    assert backend.server_services.artifacts.size("x/y/data.bin") is None


def test_large_round_trip_streams_both_ways(backend: RestBackend) -> None:
    size = 48 * MIB
    block = bytes(range(256)) * 4096  # 1 MiB, the same object every time

    def source() -> Iterator[bytes]:
        for _ in range(size // len(block)):
            yield block

    expected = hashlib.sha256()
    for chunk in source():
        expected.update(chunk)

    tracemalloc.start()
    try:
        assert backend.blobs.put_stream("big/blob.bin", source()) == size
        digest = hashlib.sha256()
        received = 0
        for chunk in backend.blobs.open_stream("big/blob.bin"):
            digest.update(chunk)
            received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert digest.hexdigest() == expected.hexdigest()
    # Client and server both run in this process: neither may hold the payload.
    assert peak < 16 * MIB, f"peak traced memory {peak / MIB:.1f} MiB for a {size // MIB} MiB blob"
