"""Artifacts of runs and logged models, over the blob port.

Artifact URIs handed to clients are ``mlflow-artifacts:/<key>``, which the
unmodified ``mlflow`` client resolves to the server's artifact proxy. The key
is relative to the server's artifact root; every key is cleaned by
:func:`moorline.core.blobs.clean_key` so nothing escapes that root.
"""

from __future__ import annotations

import builtins
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from moorline.core.blobs import BlobInfo, BlobStore, clean_key
from moorline.errors import InvalidArgument, NotFound
from moorline.tracking.models import LifecycleStage, RunId
from moorline.tracking.ports import LoggedModelStore, RunStore

PROXY_SCHEME = "mlflow-artifacts:"


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def key_from_uri(uri: str) -> str:
    """The blob key behind an ``mlflow-artifacts:`` URI.

    The authority of ``mlflow-artifacts://host/a/b`` is dropped: it names the
    server the client talks to, which is this one. ``?`` and ``#`` are
    ordinary characters of artifact paths.

    >>> key_from_uri("mlflow-artifacts:/1/abc/artifacts")
    '1/abc/artifacts'
    >>> key_from_uri("mlflow-artifacts://host:5000/1/./abc")
    '1/abc'
    """
    match = _SCHEME.match(uri)
    if match is None or match.group(1).lower() != "mlflow-artifacts":
        raise InvalidArgument(
            f"Unsupported artifact URI {uri!r}: only {PROXY_SCHEME}/<path> URIs "
            "are served by this server's artifact store"
        )
    rest = uri[match.end() :]
    if rest.startswith("//"):
        _authority, slash, rest = rest[2:].partition("/")
        rest = slash + rest
    return clean_key(rest.lstrip("/"), allow_root=True)


class ArtifactService:
    """Read and write artifacts by run, by logged model, or by raw proxy key."""

    def __init__(self, blobs: BlobStore, runs: RunStore, models: LoggedModelStore) -> None:
        self._blobs = blobs
        self._runs = runs
        self._models = models

    @property
    def root_uri(self) -> str:
        return self._blobs.root_uri

    # -- raw proxy (the mlflow-artifacts API) -------------------------------

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        return self._blobs.put_stream(clean_key(key), chunks)

    def open(self, key: str) -> Iterator[bytes]:
        k = clean_key(key)
        if self._blobs.size(k) is None:
            raise NotFound(f"No artifact at {key!r}")
        return self._blobs.open_stream(k)

    def size(self, key: str) -> int | None:
        return self._blobs.size(clean_key(key, allow_root=True))

    def list(self, key: str) -> list[BlobInfo]:
        """Direct children of a directory key; empty for a file or a missing path."""
        k = clean_key(key, allow_root=True)
        if k and self._blobs.size(k) is not None:
            return []
        return self._blobs.list(k)

    def delete(self, key: str) -> None:
        self._blobs.delete(clean_key(key))

    # -- by run --------------------------------------------------------------

    def run_root(self, run_id: str) -> str:
        run = self._runs.get_run(RunId(run_id))
        return key_from_uri(run.info.artifact_uri)

    def log_run_artifact(self, run_id: str, path: str, content: Iterable[bytes] | BinaryIO) -> int:
        """Store ``content`` at ``path`` below the run's artifact root."""
        run = self._runs.get_run(RunId(run_id))
        if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidArgument(f"Run {run_id} is deleted; restore it before logging artifacts")
        key = posixpath.join(key_from_uri(run.info.artifact_uri), clean_key(path))
        if isinstance(content, Iterable) and not hasattr(content, "read"):
            return self._blobs.put_stream(key, content)
        return self._blobs.put_file(key, content)  # type: ignore[arg-type]

    def list_run_artifacts(self, run_id: str, path: str = "") -> builtins.list[BlobInfo]:
        root = self.run_root(run_id)
        sub = clean_key(path, allow_root=True)
        return self.list(posixpath.join(root, sub) if sub else root)

    def open_run_artifact(self, run_id: str, path: str) -> Iterator[bytes]:
        root = self.run_root(run_id)
        return self.open(posixpath.join(root, clean_key(path)))

    def run_artifact_size(self, run_id: str, path: str) -> int | None:
        root = self.run_root(run_id)
        return self._blobs.size(posixpath.join(root, clean_key(path)))

    def walk_run_artifacts(self, run_id: str, path: str = "") -> Iterator[BlobInfo]:
        root = self.run_root(run_id)
        sub = clean_key(path, allow_root=True)
        return self._blobs.walk(posixpath.join(root, sub) if sub else root)
