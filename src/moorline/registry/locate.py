"""Where a model's files are: from a model URI to a folder or an artifact-store key.

One rule for every reader of model files (``moorline.load_model``, the model
server, serving's catalog of output fields): ``runs:/<run>/<path>`` is below
the run's artifact root (or, for a model MLflow 3 logged "into a run", in
the logged model's own folder), ``models:/<name>/<version>`` and
``models:/<name>@<alias>`` follow the version's source (a bounded number of
hops), ``models:/<logged model id>`` is the logged model's folder,
``mlflow-artifacts:/<key>`` is that key, and anything else is a local folder.
On the way it collects the manifest digests the records recorded, so a
loader can check the manifest it finds against them.

>>> locate_model(lambda: None, "mlflow-artifacts:/1/abc/artifacts/model").key
'1/abc/artifacts/model'
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from moorline.core.blobs import clean_key
from moorline.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from moorline.registry.service import RegistryService
    from moorline.tracking.artifacts import ArtifactService
    from moorline.tracking.models import LoggedModel, Run
    from moorline.tracking.service import TrackingService

#: Tags a logged model (and a registered version) carries.
TAG_MANIFEST_SHA256 = "moorline.model.manifest_sha256"
TAG_ARTIFACT_PATH = "moorline.model.artifact_path"

_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)(?:/(?P<path>.*))?$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
#: A version's source may itself be a models:/ URI; more hops than this is a loop.
MAX_URI_HOPS = 5


class ModelSources(Protocol):
    """The services a model URI is resolved with (``bootstrap.Services`` has them)."""

    @property
    def tracking(self) -> TrackingService: ...

    @property
    def artifacts(self) -> ArtifactService: ...

    @property
    def registry(self) -> RegistryService: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelLocation:
    """Where a model's files are: a folder on disk, or a key in the artifact store."""

    local: Path | None = None
    key: str | None = None
    #: manifest digests recorded by the records the URI went through
    expected: tuple[str, ...] = ()


def recorded_digests(tags: Mapping[str, str]) -> tuple[str, ...]:
    """The manifest digest a record's tags carry, as a 0- or 1-tuple."""
    digest = tags.get(TAG_MANIFEST_SHA256)
    return (digest,) if digest else ()


def logged_model_of_run(sources: ModelSources, run: Run, path: str) -> LoggedModel | None:
    """The logged model named ``path`` that ``run`` produced (as MLflow 3 finds it)."""
    for output in run.model_outputs:
        try:
            logged = sources.tracking.get_logged_model(output.model_id)
        except NotFound:
            continue
        if logged.source_run_id == run.info.run_id and path in (
            logged.name,
            logged.tags.get(TAG_ARTIFACT_PATH),
        ):
            return logged
    return None


def logged_model_location(sources: ModelSources, logged: LoggedModel) -> ModelLocation:
    """The folder of a logged model: below its run when it has one, else its own URI."""
    from moorline.tracking.artifacts import key_from_uri

    path = logged.tags.get(TAG_ARTIFACT_PATH)
    expected = recorded_digests(logged.tags)
    if path and logged.source_run_id:
        root = sources.artifacts.run_root(logged.source_run_id)
        return ModelLocation(key=posixpath.join(root, clean_key(path)), expected=expected)
    return ModelLocation(key=key_from_uri(logged.artifact_uri), expected=expected)


def locate_model(sources: Callable[[], ModelSources], uri: str, hops: int = 0) -> ModelLocation:
    """Follow ``uri`` to the model's files; ``sources`` is called only if the URI
    needs the store (a local folder does not)."""
    from moorline.tracking.artifacts import key_from_uri

    if hops > MAX_URI_HOPS:
        raise InvalidArgument(f"Model URI {uri!r}: more than {MAX_URI_HOPS} hops through sources")
    runs = _RUNS_URI.match(uri)
    if runs is not None:
        svc = sources()
        run = svc.tracking.get_run(runs.group("run_id"))
        path = clean_key(runs.group("path") or "", allow_root=True)
        root = svc.artifacts.run_root(run.info.run_id)
        key = posixpath.join(root, path) if path else root
        logged = logged_model_of_run(svc, run, path) if path else None
        if svc.artifacts.list(key) or logged is None:
            return ModelLocation(
                key=key, expected=() if logged is None else recorded_digests(logged.tags)
            )
        return logged_model_location(svc, logged)
    if uri.startswith("models:/"):
        svc = sources()
        rest = uri[len("models:/") :].rstrip("/")
        if "/" not in rest and "@" not in rest:
            return logged_model_location(svc, svc.tracking.get_logged_model(rest))
        version = svc.registry.resolve(uri)
        inner = locate_model(sources, version.source, hops + 1)
        return replace(inner, expected=(*recorded_digests(version.tags), *inner.expected))
    scheme = _SCHEME.match(uri)
    name = "" if scheme is None else scheme.group("scheme").lower()
    if name == "mlflow-artifacts":
        return ModelLocation(key=key_from_uri(uri))
    if name == "file":
        return ModelLocation(local=Path(uri.removeprefix("file://").removeprefix("file:")))
    if len(name) > 1:  # one letter is a Windows drive, not a scheme
        raise InvalidArgument(
            f"Unsupported model URI {uri!r}: use models:/<name>/<version>, models:/<name>@<alias>, "
            "runs:/<run_id>/<path>, mlflow-artifacts:/<path> or a local folder"
        )
    return ModelLocation(local=Path(uri).expanduser())


def read_model_file(
    artifacts: ArtifactService, location: ModelLocation, name: str, *, max_bytes: int
) -> bytes | None:
    """The bytes of file ``name`` at the root of the model's folder; None when it has
    no such file. Raises InvalidArgument when it is larger than ``max_bytes``."""
    if location.local is not None:
        file = location.local / name
        if not file.is_file():
            return None
        if file.stat().st_size > max_bytes:
            raise InvalidArgument(f"{name} of the model at {location.local} is too large")
        return file.read_bytes()
    if location.key is None:  # pragma: no cover - a location is one or the other
        return None
    key = posixpath.join(location.key, name)
    size = artifacts.size(key)
    if size is None:
        return None
    if size > max_bytes:
        raise InvalidArgument(f"{name} of the model at {location.key!r} is too large")
    return b"".join(artifacts.open(key))


__all__ = [
    "MAX_URI_HOPS",
    "TAG_ARTIFACT_PATH",
    "TAG_MANIFEST_SHA256",
    "ModelLocation",
    "ModelSources",
    "locate_model",
    "logged_model_location",
    "logged_model_of_run",
    "read_model_file",
    "recorded_digests",
]
