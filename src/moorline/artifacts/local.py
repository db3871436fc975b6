"""The blob store on a local folder: the embedded default.

Writes are atomic: bytes stream into a temporary file in the destination
folder, are flushed to disk, and the file is renamed over the destination,
so a reader sees either the old content or the new, never a torn file, and a
failed write leaves nothing behind.

Keys are cleaned by :func:`moorline.core.blobs.clean_key`, which rules out
``..`` and absolute paths. A symbolic link inside the root can still point
outside it, so every operation also resolves the path and refuses it unless it
stays inside the root.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from moorline.artifacts._streams import ClosingChunks, read_chunks
from moorline.core.blobs import CHUNK_SIZE, BlobInfo, BlobStore, clean_key
from moorline.errors import InvalidArgument, NotFound, StorageError

#: Names of in-flight temporary files start with this; listings skip them.
TEMP_PREFIX = ".moorline-tmp-"

_O_BINARY: int = getattr(os, "O_BINARY", 0)  # no newline translation on Windows


class LocalBlobStore(BlobStore):
    """Blobs as files under ``root``, which is created if it does not exist.

    >>> import tempfile
    >>> store = LocalBlobStore(Path(tempfile.mkdtemp()))
    >>> store.put_stream("run/model.txt", [b"hello ", b"world"])
    11
    >>> store.read_bytes("run/model.txt")
    b'hello world'
    >>> [info.path for info in store.list("run")]
    ['model.txt']
    """

    def __init__(self, root: Path) -> None:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidArgument(
                f"Cannot use {str(root)!r} as an artifact root: it exists and is not a directory"
            ) from exc
        except OSError as exc:
            raise StorageError(f"Cannot create artifact root {str(root)!r}: {exc}") from exc
        self._root = root.resolve()
        self.root_uri = self._root.as_uri()

    def __repr__(self) -> str:
        return f"LocalBlobStore({self.root_uri!r})"

    @property
    def root(self) -> Path:
        """The resolved root folder."""
        return self._root

    def _contained(self, path: Path) -> bool:
        return path == self._root or self._root in path.parents

    def _path(self, key: str, *, allow_root: bool = False) -> Path:
        """Resolve ``key`` to a real path, refusing any that leaves the root."""
        cleaned = clean_key(key, allow_root=allow_root)
        resolved = (self._root / cleaned).resolve()
        if not self._contained(resolved):
            raise InvalidArgument(
                f"Invalid artifact path {key!r}: it leads outside the artifact root "
                "through a symbolic link"
            )
        return resolved

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        path = self._path(key)
        if path.is_dir():
            raise InvalidArgument(f"Cannot write artifact {key!r}: a directory of that name exists")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InvalidArgument(
                f"Cannot write artifact {key!r}: a file stands where a parent directory must be"
            ) from exc
        except OSError as exc:
            raise StorageError(f"Cannot create the folder for artifact {key!r}: {exc}") from exc
        # The parent may have been created through a link planted since the check above.
        if not self._contained(path.parent.resolve()):
            raise InvalidArgument(
                f"Invalid artifact path {key!r}: it leads outside the artifact root "
                "through a symbolic link"
            )

        temp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        written = 0
        try:
            # O_EXCL refuses a pre-existing name or link; 0o666 lets the umask decide.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        except OSError as exc:
            raise StorageError(f"Cannot create a file for artifact {key!r}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                # Errors raised by ``chunks`` itself propagate unchanged: they are the caller's.
                for chunk in chunks:
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise StorageError(f"Cannot write artifact {key!r}: {exc}") from exc
                    written += len(chunk)
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as exc:
                    raise StorageError(f"Cannot write artifact {key!r}: {exc}") from exc
            try:
                os.replace(temp, path)
            except OSError as exc:
                raise StorageError(f"Cannot store artifact {key!r}: {exc}") from exc
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        _fsync_dir(path.parent)
        return written

    def put_file(self, key: str, fileobj: BinaryIO) -> int:
        return self.put_stream(key, read_chunks(fileobj, CHUNK_SIZE))

    def open_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        path = self._path(key)
        try:
            fileobj = path.open("rb")
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(f"Artifact {key!r} does not exist") from exc
        except IsADirectoryError as exc:
            raise NotFound(f"Artifact {key!r} does not exist: it is a directory") from exc
        except OSError as exc:
            raise StorageError(f"Cannot read artifact {key!r}: {exc}") from exc
        return ClosingChunks(read_chunks(fileobj, chunk_size), fileobj.close)

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() else None

    def is_dir(self, key: str) -> bool:
        return self._path(key, allow_root=True).is_dir()

    def list(self, prefix: str) -> list[BlobInfo]:
        return self._children(self._path(prefix, allow_root=True))

    def _children(self, directory: Path) -> builtins.list[BlobInfo]:
        """Entries of ``directory``, skipping temporaries and links that leave the root."""
        if not directory.is_dir():
            return []
        infos: builtins.list[BlobInfo] = []
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX):
                    continue
                if entry.is_symlink() and not self._contained(Path(entry.path).resolve()):
                    continue
                try:
                    if entry.is_dir():
                        infos.append(BlobInfo(path=entry.name, is_dir=True))
                    else:
                        infos.append(
                            BlobInfo(path=entry.name, is_dir=False, size=entry.stat().st_size)
                        )
                except FileNotFoundError:
                    continue  # deleted while we listed, or a dangling link
        infos.sort(key=lambda info: info.path)
        return infos

    def walk(self, prefix: str) -> Iterator[BlobInfo]:
        """Every file below ``prefix``; a directory reached twice through links is walked once."""
        return self._walk(self._path(prefix, allow_root=True), "", set())

    def _walk(self, directory: Path, relative: str, seen: set[Path]) -> Iterator[BlobInfo]:
        if directory in seen:
            return
        seen.add(directory)
        for info in self._children(directory):
            path = f"{relative}{info.path}"
            if info.is_dir:
                yield from self._walk((directory / info.path).resolve(), f"{path}/", seen)
            else:
                yield BlobInfo(path=path, is_dir=False, size=info.size)

    def delete(self, key: str) -> None:
        # Check containment on the resolved path, but act on the link itself:
        # deleting a link must never delete what it points to.
        self._path(key)
        path = self._root / clean_key(key)
        try:
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                # rmtree removes links inside the tree without following them.
                shutil.rmtree(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"Cannot delete artifact {key!r}: {exc}") from exc


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable, where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some platforms and filesystems cannot fsync a directory
    finally:
        os.close(fd)
