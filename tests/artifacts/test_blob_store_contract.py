"""The BlobStore contract, run against every backend (local folder, S3 via moto).

Every adapter must pass this same suite; backend-only behaviour (symbolic
links, multipart details) is tested beside it in the backend's own module.
"""

from __future__ import annotations

import contextlib
import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from blobstore_support import MIB, S3_PART_SIZE, StoreFactory

from moorline.core.blobs import BlobInfo, BlobStore
from moorline.errors import InvalidArgument, NotFound


class StreamBroke(Exception):
    """Raised by a test's chunk iterator to simulate a failing upload source."""


def payload(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def uneven_chunks(data: bytes) -> Iterator[bytes]:
    """Split ``data`` at irregular offsets, so no chunk lines up with a part or buffer."""
    sizes = [1, MIB + 7, 3 * MIB - 5, 17, 2 * MIB + 3]
    offset, index = 0, 0
    while offset < len(data):
        size = sizes[index % len(sizes)]
        yield data[offset : offset + size]
        offset += size
        index += 1


def broken_stream(good: bytes) -> Iterator[bytes]:
    yield from uneven_chunks(good)
    raise StreamBroke("source failed midway")


def names(infos: list[BlobInfo]) -> list[tuple[str, bool, int | None]]:
    return [(info.path, info.is_dir, info.size) for info in infos]


# -- writes and reads ---------------------------------------------------------


def test_empty_blob_roundtrips(store: BlobStore) -> None:
    assert store.put_stream("runs/empty.bin", []) == 0
    assert store.read_bytes("runs/empty.bin") == b""
    assert store.size("runs/empty.bin") == 0
    assert names(store.list("runs")) == [("empty.bin", False, 0)]


def test_small_blob_roundtrips(store: BlobStore) -> None:
    assert store.put_stream("a/b/hello.txt", [b"hello ", b"", b"world"]) == 11
    assert store.read_bytes("a/b/hello.txt") == b"hello world"
    assert store.size("a/b/hello.txt") == 11


def test_multi_chunk_blob_roundtrips_in_bounded_chunks(store: BlobStore) -> None:
    # Over two S3 parts (5 MiB each in these tests) plus a short last one.
    data = payload(2 * S3_PART_SIZE + MIB + 123)
    assert store.put_stream("big/model.bin", uneven_chunks(data)) == len(data)

    chunks = list(store.open_stream("big/model.bin", chunk_size=MIB))
    assert len(chunks) >= 11
    assert all(0 < len(chunk) <= MIB for chunk in chunks)
    assert b"".join(chunks) == data
    assert store.size("big/model.bin") == len(data)


def test_overwrite_replaces_whole_content(store: BlobStore) -> None:
    store.put_stream("k.txt", [b"a much longer first version"])
    assert store.put_stream("k.txt", [b"short"]) == 5
    assert store.read_bytes("k.txt") == b"short"
    assert names(store.list("")) == [("k.txt", False, 5)]


def test_put_file_streams_a_file_object(store: BlobStore, tmp_path: Path) -> None:
    data = payload(3 * MIB + 11, seed=3)
    assert store.put_file("from-bytesio.bin", io.BytesIO(data)) == len(data)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    with source.open("rb") as fileobj:
        assert store.put_file("dir/from-disk.bin", fileobj) == len(data)
    assert store.read_bytes("from-bytesio.bin") == data
    assert store.read_bytes("dir/from-disk.bin") == data


def test_keys_are_normalised(store: BlobStore) -> None:
    store.put_stream("./x//y/./z.txt", [b"z"])
    assert store.read_bytes("x/y/z.txt") == b"z"
    assert names(store.list("x/y/")) == [("z.txt", False, 1)]


def test_closing_a_stream_early_stops_it(store: BlobStore) -> None:
    store.put_stream("blob", [payload(3 * MIB)])
    stream = store.open_stream("blob", chunk_size=MIB)
    with contextlib.closing(stream):
        first = next(stream)
    assert len(first) == MIB
    assert list(stream) == []
    assert store.read_bytes("blob") == payload(3 * MIB)


# -- missing keys -------------------------------------------------------------


def test_reading_a_missing_key_raises_not_found_naming_it(store: BlobStore) -> None:
    with pytest.raises(NotFound, match=r"no/such/blob\.txt"):
        store.open_stream("no/such/blob.txt")
    with pytest.raises(NotFound, match=r"no/such/blob\.txt"):
        store.read_bytes("no/such/blob.txt")
    assert store.size("no/such/blob.txt") is None


def test_reading_a_directory_raises_not_found(store: BlobStore) -> None:
    store.put_stream("dir/file.txt", [b"x"])
    with pytest.raises(NotFound, match="'dir'"):
        store.read_bytes("dir")


# -- listing ------------------------------------------------------------------


@pytest.fixture
def tree(store: BlobStore) -> BlobStore:
    for key, content in {
        "d/a.txt": b"abc",
        "d/sub/b.txt": b"bb",
        "d/sub/deeper/c.txt": b"c",
        "d2/x.txt": b"xxxx",  # a sibling whose name starts like "d"
        "top.txt": b"top!!",
    }.items():
        store.put_stream(key, [content])
    return store


def test_list_gives_direct_children_with_relative_names_and_sizes(tree: BlobStore) -> None:
    assert names(tree.list("")) == [("d", True, None), ("d2", True, None), ("top.txt", False, 5)]
    assert names(tree.list("d")) == [("a.txt", False, 3), ("sub", True, None)]
    assert names(tree.list("d/sub")) == [("b.txt", False, 2), ("deeper", True, None)]
    assert names(tree.list("d/sub/deeper")) == [("c.txt", False, 1)]


def test_list_of_a_missing_prefix_or_a_file_is_empty(tree: BlobStore) -> None:
    assert tree.list("nope") == []
    assert tree.list("d/a.txt") == []


def test_is_dir_and_size_tell_files_from_directories(tree: BlobStore) -> None:
    assert tree.is_dir("") is True
    assert tree.is_dir("d") is True
    assert tree.is_dir("d/sub/deeper") is True
    assert tree.is_dir("d/a.txt") is False
    assert tree.is_dir("nope") is False
    assert tree.size("d/a.txt") == 3
    assert tree.size("d") is None


def test_walk_yields_every_file_relative_to_the_prefix(tree: BlobStore) -> None:
    assert names(list(tree.walk("d"))) == [
        ("a.txt", False, 3),
        ("sub/b.txt", False, 2),
        ("sub/deeper/c.txt", False, 1),
    ]
    assert [info.path for info in tree.walk("")] == [
        "d/a.txt",
        "d/sub/b.txt",
        "d/sub/deeper/c.txt",
        "d2/x.txt",
        "top.txt",
    ]
    assert list(tree.walk("missing")) == []


# -- deletes ------------------------------------------------------------------


def test_delete_removes_one_file(tree: BlobStore) -> None:
    tree.delete("d/a.txt")
    assert tree.size("d/a.txt") is None
    assert names(tree.list("d")) == [("sub", True, None)]
    assert tree.read_bytes("d/sub/b.txt") == b"bb"


def test_delete_removes_a_tree_and_spares_siblings(tree: BlobStore) -> None:
    tree.delete("d")
    assert tree.is_dir("d") is False
    assert list(tree.walk("d")) == []
    assert [info.path for info in tree.walk("")] == ["d2/x.txt", "top.txt"]


def test_delete_of_a_missing_key_is_a_no_op(tree: BlobStore) -> None:
    tree.delete("no/such/thing")
    assert len(list(tree.walk(""))) == 5


# -- isolation and safety -----------------------------------------------------


def test_stores_with_sibling_roots_do_not_see_each_other(make_store: StoreFactory) -> None:
    data, data2 = make_store("data"), make_store("data2")
    data2.put_stream("f.txt", [b"2"])
    data2.put_stream("sub/g.txt", [b"2"])
    assert data.list("") == []
    assert list(data.walk("")) == []
    data.put_stream("f.txt", [b"1"])
    data.delete("f.txt")
    data.delete("sub")
    assert data2.read_bytes("f.txt") == b"2"
    assert data2.read_bytes("sub/g.txt") == b"2"


ESCAPING_KEYS = [
    "../outside.txt",
    "a/../../outside.txt",
    "/etc/passwd",
    "%2e%2e/outside.txt",
    "%252e%252e/outside.txt",
    "a\\..\\outside.txt",
    "a/b\x00.txt",
]


@pytest.mark.parametrize("key", ESCAPING_KEYS)
def test_unsafe_keys_are_refused_by_every_operation(make_store: StoreFactory, key: str) -> None:
    store = make_store("inner/root")
    outside = make_store("inner")
    with pytest.raises(InvalidArgument, match="Invalid artifact path"):
        store.put_stream(key, [b"evil"])
    with pytest.raises(InvalidArgument, match="Invalid artifact path"):
        store.put_file(key, io.BytesIO(b"evil"))
    with pytest.raises(InvalidArgument, match="Invalid artifact path"):
        store.open_stream(key)
    with pytest.raises(InvalidArgument, match="Invalid artifact path"):
        store.size(key)
    with pytest.raises(InvalidArgument, match="Invalid artifact path"):
        store.is_dir(key)
    with pytest.raises(InvalidArgument, match="Invalid artifact path"):
        store.list(key)
    with pytest.raises(InvalidArgument, match="Invalid artifact path"):
        store.delete(key)
    # Nothing landed beside the root either.
    assert list(outside.walk("")) == []


def test_an_empty_key_is_refused_for_files(store: BlobStore) -> None:
    with pytest.raises(InvalidArgument, match="empty path"):
        store.put_stream("", [b"x"])
    with pytest.raises(InvalidArgument, match="empty path"):
        store.delete("")


# -- all-or-nothing writes ----------------------------------------------------


@pytest.mark.parametrize(
    "good_bytes",
    [pytest.param(10, id="before-first-part"), pytest.param(S3_PART_SIZE + MIB, id="after-a-part")],
)
def test_a_stream_failing_midway_leaves_no_object(store: BlobStore, good_bytes: int) -> None:
    with pytest.raises(StreamBroke, match="source failed midway"):
        store.put_stream("runs/partial.bin", broken_stream(payload(good_bytes)))
    assert store.size("runs/partial.bin") is None
    assert list(store.walk("")) == []


def test_a_failed_overwrite_keeps_the_old_content(store: BlobStore) -> None:
    store.put_stream("model.bin", [b"version 1"])
    with pytest.raises(StreamBroke):
        store.put_stream("model.bin", broken_stream(payload(S3_PART_SIZE + MIB)))
    assert store.read_bytes("model.bin") == b"version 1"
    assert names(store.list("")) == [("model.bin", False, 9)]
