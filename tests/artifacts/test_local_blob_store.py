"""What only the local-folder store has: symbolic links, atomic renames, file modes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from moorline.artifacts.local import TEMP_PREFIX, LocalBlobStore
from moorline.errors import InvalidArgument

ESCAPE = "leads outside the artifact root"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(b"top secret")
    return folder


@pytest.fixture
def planted(tmp_path: Path, outside: Path) -> LocalBlobStore:
    """A store whose root holds links planted to point outside it."""
    store = LocalBlobStore(tmp_path / "root")
    store.put_stream("ok/inside.txt", [b"fine"])
    (store.root / "dirlink").symlink_to(outside, target_is_directory=True)
    (store.root / "filelink").symlink_to(outside / "secret.txt")
    (store.root / "dangling").symlink_to(outside / "not-yet.txt")
    (store.root / "ok" / "up").symlink_to(outside, target_is_directory=True)
    return store


@pytest.mark.parametrize("key", ["dirlink/secret.txt", "filelink", "ok/up/secret.txt"])
def test_reading_through_an_escaping_link_is_refused(planted: LocalBlobStore, key: str) -> None:
    with pytest.raises(InvalidArgument, match=ESCAPE):
        planted.open_stream(key)
    with pytest.raises(InvalidArgument, match=ESCAPE):
        planted.size(key)


@pytest.mark.parametrize("key", ["dirlink/new.txt", "dangling", "filelink", "ok/up/new.txt"])
def test_writing_through_an_escaping_link_is_refused(
    planted: LocalBlobStore, outside: Path, key: str
) -> None:
    with pytest.raises(InvalidArgument, match=ESCAPE):
        planted.put_stream(key, [b"evil"])
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"top secret"


@pytest.mark.parametrize("key", ["dirlink", "dirlink/secret.txt", "filelink", "ok/up"])
def test_deleting_through_an_escaping_link_is_refused(
    planted: LocalBlobStore, outside: Path, key: str
) -> None:
    with pytest.raises(InvalidArgument, match=ESCAPE):
        planted.delete(key)
    assert (outside / "secret.txt").read_bytes() == b"top secret"


def test_listing_refuses_escaping_links_and_hides_them(planted: LocalBlobStore) -> None:
    with pytest.raises(InvalidArgument, match=ESCAPE):
        planted.list("dirlink")
    with pytest.raises(InvalidArgument, match=ESCAPE):
        planted.is_dir("dirlink")
    with pytest.raises(InvalidArgument, match=ESCAPE):
        list(planted.walk("ok/up"))
    assert [info.path for info in planted.list("")] == ["ok"]
    assert [info.path for info in planted.list("ok")] == ["inside.txt"]
    assert [info.path for info in planted.walk("")] == ["ok/inside.txt"]


def test_links_that_stay_inside_the_root_are_followed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    store.put_stream("real/data.txt", [b"data"])
    (store.root / "alias").symlink_to(store.root / "real", target_is_directory=True)
    assert store.read_bytes("alias/data.txt") == b"data"
    assert [(i.path, i.is_dir) for i in store.list("")] == [("alias", True), ("real", True)]
    # Deleting a link removes the link, never what it points to.
    store.delete("alias")
    assert not (store.root / "alias").exists()
    assert store.read_bytes("real/data.txt") == b"data"


def test_walk_survives_a_link_loop(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    store.put_stream("a/file.txt", [b"x"])
    (store.root / "a" / "loop").symlink_to(store.root / "a", target_is_directory=True)
    assert [info.path for info in store.walk("")] == ["a/file.txt"]


def test_a_write_is_invisible_until_complete(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    store.put_stream("m/model.bin", [b"old"])
    seen: list[object] = []

    def chunks() -> Iterator[bytes]:
        yield b"new "
        # Midway: readers still see the old content, and no temporary file.
        seen.append(store.read_bytes("m/model.bin"))
        seen.append([info.path for info in store.list("m")])
        yield b"content"

    store.put_stream("m/model.bin", chunks())
    assert seen == [b"old", ["model.bin"]]
    assert store.read_bytes("m/model.bin") == b"new content"
    assert os.listdir(store.root / "m") == ["model.bin"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")

    def chunks() -> Iterator[bytes]:
        yield b"partial"
        assert any(name.startswith(TEMP_PREFIX) for name in os.listdir(store.root / "d"))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.put_stream("d/f.bin", chunks())
    assert os.listdir(store.root / "d") == []


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    previous = os.umask(0o022)
    try:
        store.put_stream("f.txt", [b"x"])
    finally:
        os.umask(previous)
    assert (store.root / "f.txt").stat().st_mode & 0o777 == 0o644


def test_a_file_and_a_directory_cannot_share_a_name(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    store.put_stream("d/f.txt", [b"x"])
    with pytest.raises(InvalidArgument, match="a directory of that name exists"):
        store.put_stream("d", [b"y"])
    with pytest.raises(InvalidArgument, match="a file stands where a parent directory must be"):
        store.put_stream("d/f.txt/child", [b"y"])
    assert store.read_bytes("d/f.txt") == b"x"


def test_the_root_is_created_and_must_be_a_folder(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "a" / "b" / "c")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert store.root_uri == (tmp_path / "a" / "b" / "c").resolve().as_uri()
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(InvalidArgument, match="is not a directory"):
        LocalBlobStore(tmp_path / "file")
