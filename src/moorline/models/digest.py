"""SHA-256 digests of model files, computed while the bytes move.

A model is checked file by file against its manifest before anything in it
is deserialised. The bytes that are hashed are the bytes that are loaded:
files are copied (or downloaded) into a private staging folder and hashed in
the same pass, so nothing can swap a file between the check and the load.

>>> import io, tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     found = stage_stream(iter([b"abc"]), pathlib.Path(d) / "f.bin", "f.bin")
>>> found.sha256[:16], found.size
('ba7816bf8f01cfea', 3)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from moorline.core.blobs import CHUNK_SIZE, clean_key
from moorline.errors import IntegrityError, InvalidArgument

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True, kw_only=True)
class FileDigest:
    """One file of a model: ``path`` is relative to the model folder (``/``-separated)."""

    path: str
    sha256: str
    size: int


def is_sha256(text: object) -> bool:
    """True for 64 lowercase hex digits, the only form manifests hold."""
    return isinstance(text, str) and len(text) == 64 and set(text) <= _HEX


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stage_stream(chunks: Iterable[bytes], dest: Path, path: str) -> FileDigest:
    """Write ``chunks`` to ``dest`` (a new file) and return its digest, in one pass."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    with dest.open("xb") as out:
        for chunk in chunks:
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return FileDigest(path=path, sha256=h.hexdigest(), size=size)


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            yield chunk


def digest_file(path: Path, relative: str) -> FileDigest:
    h = hashlib.sha256()
    size = 0
    for chunk in file_chunks(path):
        h.update(chunk)
        size += len(chunk)
    return FileDigest(path=relative, sha256=h.hexdigest(), size=size)


def local_files(root: Path) -> list[tuple[str, Path]]:
    """Every regular file below ``root`` as (relative posix path, absolute path), sorted.

    Symbolic links are refused: a model folder holds its own bytes, and a link
    could make a check and a later read see different files.
    """
    found: list[tuple[str, Path]] = []
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            full = Path(folder) / name
            if full.is_symlink():
                rel = full.relative_to(root).as_posix()
                raise IntegrityError(f"Model folder {str(root)!r} holds a symbolic link {rel!r}")
        for name in files:
            full = Path(folder) / name
            found.append((full.relative_to(root).as_posix(), full))
    return sorted(found)


def digest_tree(root: Path, *, exclude: frozenset[str] = frozenset()) -> list[FileDigest]:
    """Digests of every file below ``root`` except the relative paths in ``exclude``."""
    return [digest_file(full, rel) for rel, full in local_files(root) if rel not in exclude]


def stage_tree(
    src: Path, dest: Path, *, skip: frozenset[str] = frozenset()
) -> dict[str, FileDigest]:
    """Copy every file of ``src`` (but the relative paths in ``skip``) into the empty
    folder ``dest``, hashing on the way."""
    return {
        rel: stage_stream(file_chunks(full), dest / rel, rel)
        for rel, full in local_files(src)
        if rel not in skip
    }


def safe_relative(path: str) -> str:
    """A listing's relative path, refused if it could leave the staging folder."""
    try:
        return clean_key(path)
    except InvalidArgument as exc:
        raise IntegrityError(f"Model file name {path!r} is not a safe relative path") from exc


def verify(actual: Mapping[str, FileDigest], expected: Sequence[FileDigest], *, where: str) -> None:
    """Refuse unless ``actual`` holds exactly the ``expected`` files with their digests.

    The first difference is reported, naming the file: a digest or size
    mismatch (with both digests), a missing file, or an unexpected one.
    """
    wanted = {d.path: d for d in expected}
    for path, want in sorted(wanted.items()):
        got = actual.get(path)
        if got is None:
            raise IntegrityError(
                f"Model at {where}: file {path!r} listed in the manifest is missing"
            )
        if got.sha256 != want.sha256 or got.size != want.size:
            raise IntegrityError(
                f"Model at {where}: file {path!r} fails its integrity check: the manifest "
                f"records sha256 {want.sha256} ({want.size} bytes), the file has sha256 "
                f"{got.sha256} ({got.size} bytes)"
            )
    extra = sorted(set(actual) - set(wanted))
    if extra:
        names = ", ".join(repr(p) for p in extra)
        raise IntegrityError(
            f"Model at {where}: unexpected file(s) {names} not listed in the manifest"
        )
