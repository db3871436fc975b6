"""The blob-storage port: where artifact bytes live.

Metadata and blobs are kept apart. Domains talk to a :class:`BlobStore`
with keys relative to the store's root (``"1/<run_id>/artifacts/model.pkl"``);
``moorline.artifacts`` implements it for a local folder and for ``s3://``.
Keys are validated by :func:`clean_key` before any adapter sees them, so no
adapter can be tricked into leaving its root.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from moorline.errors import InvalidArgument

CHUNK_SIZE = 1024 * 1024

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobInfo:
    """One entry of a listing: ``path`` is relative to the listed directory."""

    path: str
    is_dir: bool
    size: int | None = None


def clean_key(key: str, *, allow_root: bool = False) -> str:
    """Normalise a relative key and refuse anything that could escape the root.

    Refuses absolute paths, ``..`` segments (also URL-encoded), backslashes,
    NUL bytes and drive letters.

    >>> clean_key("a/./b//c.txt")
    'a/b/c.txt'
    >>> clean_key("../etc/passwd")
    Traceback (most recent call last):
    ...
    moorline.errors.InvalidArgument: Invalid artifact path '../etc/passwd': ...
    """
    original = key
    decoded = key
    # Decode repeatedly so that %252e%252e cannot smuggle '..' past the check.
    for _ in range(3):
        unquoted = urllib.parse.unquote(decoded)
        if unquoted == decoded:
            break
        decoded = unquoted

    def bad(reason: str) -> InvalidArgument:
        return InvalidArgument(f"Invalid artifact path {original!r}: {reason}")

    if "\x00" in decoded:
        raise bad("NUL byte")
    if "\\" in decoded:
        raise bad("backslashes are not allowed")
    if decoded.startswith("/") or _WINDOWS_DRIVE.match(decoded):
        raise bad("absolute paths are not allowed")
    parts = [p for p in decoded.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise bad("'..' is not allowed")
    if decoded != key and any(p == ".." for p in key.split("/")):
        raise bad("'..' is not allowed")
    normalised = posixpath.join(*parts) if parts else ""
    if not normalised and not allow_root:
        raise bad("empty path")
    return normalised


class BlobStore(ABC):
    """Streamed byte storage under one root. Keys are cleaned relative paths."""

    #: A URI naming the root, e.g. ``file:///data/artifacts`` or ``s3://bucket/prefix``.
    root_uri: str

    @abstractmethod
    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write ``key`` from an iterable of chunks; return the byte count.

        The write is all-or-nothing: a failure leaves no partial object.
        """

    @abstractmethod
    def put_file(self, key: str, fileobj: BinaryIO) -> int:
        """Write ``key`` from a readable binary file object (streamed)."""

    @abstractmethod
    def open_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Iterate the bytes of ``key``; raises NotFound if it is missing."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """Byte size of ``key``, or None if no such file."""

    @abstractmethod
    def is_dir(self, key: str) -> bool:
        """True if ``key`` is a directory (a prefix holding at least one blob)."""

    @abstractmethod
    def list(self, prefix: str) -> list[BlobInfo]:
        """Direct children of directory ``prefix`` ('' = root), sorted by path."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete a file or, recursively, a directory. Missing keys are ignored."""

    def read_bytes(self, key: str) -> bytes:
        """Whole content of a (small) blob."""
        return b"".join(self.open_stream(key))

    def walk(self, prefix: str) -> Iterator[BlobInfo]:
        """Every file below ``prefix``, with ``path`` relative to ``prefix``."""
        for info in self.list(prefix):
            full = posixpath.join(prefix, info.path) if prefix else info.path
            if info.is_dir:
                for sub in self.walk(full):
                    yield BlobInfo(
                        path=posixpath.join(info.path, sub.path), is_dir=False, size=sub.size
                    )
            else:
                yield info
