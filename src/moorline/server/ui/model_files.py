"""The files of a model version, as its page shows them: where they are, and what the
manifest (``MOORLINE_MODEL.json``) says about each.

A version's ``source`` names its folder: ``runs:/<run_id>/<path>`` (below
the run's artifact root), ``models:/<logged model id>`` (the logged model's
folder), ``mlflow-artifacts:/<key>``, or a ``models:/name/version`` of
another registered version. Sources outside this server's artifact store
(``s3://`` of another bucket, a laptop's folder) cannot be listed here and
say so.

With a manifest, each listed file is compared by size with what the
manifest recorded, and the manifest's own SHA-256 with the digest recorded
on the version at registration: cheap checks that catch a replaced or
truncated file without reading gigabytes. The full check (every file's
SHA-256) happens where it matters, when the model is loaded. Without a
manifest (a model logged by the ``mlflow`` client, say) the page lists the
files with their sizes.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from moorline.bootstrap import Services
from moorline.core.blobs import clean_key
from moorline.errors import IntegrityError, InvalidArgument, MoorlineError, NotFound
from moorline.models.manifest import MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest
from moorline.models.signature import ColumnSchema, Schema, Signature
from moorline.registry.models import ModelVersion
from moorline.sdk.models import TAG_ARTIFACT_PATH, TAG_MANIFEST_SHA256
from moorline.tracking.artifacts import key_from_uri
from moorline.tracking.models import LoggedModel

#: Files listed per version page; a larger folder is cut (and says so).
MAX_FILES = 1000
#: ``models:/`` sources pointing at other versions followed at most this deep.
MAX_HOPS = 5
_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)(?:/(?P<path>.*))?$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFile:
    """One file of the folder. ``status``: ``ok`` (size as recorded), ``size differs``,
    ``missing`` (recorded, not found), ``not in manifest``, ``manifest`` (the manifest
    itself, with its SHA-256 as read), or ``""`` without a manifest."""

    path: str
    size: int | None
    sha256: str | None = None
    recorded_size: int | None = None
    status: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFiles:
    """What the version page shows about a version's files."""

    #: The folder's key in the artifact store; None when the source is elsewhere.
    location: str | None
    files: tuple[ModelFile, ...] = ()
    truncated: bool = False
    manifest: Manifest | None = None
    manifest_sha256: str | None = None
    recorded_manifest_sha256: str | None = None
    #: What keeps the page from showing everything (unreachable source, bad manifest, ...).
    problems: tuple[str, ...] = field(default=())

    @property
    def manifest_matches(self) -> bool | None:
        """Whether the manifest is the one recorded at registration (None if unknown)."""
        if self.manifest_sha256 is None or self.recorded_manifest_sha256 is None:
            return None
        return self.manifest_sha256 == self.recorded_manifest_sha256

    def to_dict(self) -> dict[str, Any]:
        manifest = self.manifest
        return {
            "location": self.location,
            "files": [
                {
                    "path": f.path,
                    "size": f.size,
                    "sha256": f.sha256,
                    "recorded_size": f.recorded_size,
                    "status": f.status,
                }
                for f in self.files
            ],
            "truncated": self.truncated,
            "manifest_sha256": self.manifest_sha256,
            "recorded_manifest_sha256": self.recorded_manifest_sha256,
            "manifest_matches": self.manifest_matches,
            "manifest": None
            if manifest is None
            else {
                "flavor": manifest.flavor,
                "format": manifest.format,
                "model_class": manifest.model_class,
                "executes_code_on_load": manifest.executes_code_on_load,
                "moorline_version": manifest.moorline_version,
                "created_at": manifest.created_at,
                "library_versions": dict(sorted(manifest.library_versions.items())),
            },
            "signature": signature_dict(manifest.signature if manifest else None),
            "environment": manifest.environment.to_dict() if manifest else None,
            "problems": list(self.problems),
        }


def signature_dict(signature: Signature | None) -> dict[str, Any] | None:
    """The signature as tables: ``{"inputs": {...}, "outputs": {...} | None}``."""
    if signature is None:
        return None
    return {
        "inputs": _schema_dict(signature.inputs),
        "outputs": None if signature.outputs is None else _schema_dict(signature.outputs),
    }


def _schema_dict(schema: Schema) -> dict[str, Any]:
    if isinstance(schema, ColumnSchema):
        return {
            "type": "columns",
            "columns": [{"name": c.name, "dtype": c.dtype} for c in schema.columns],
        }
    return {"type": "tensor", "dtype": schema.dtype, "shape": list(schema.shape)}


def _logged_model_key(services: Services, logged: LoggedModel) -> str:
    """Where a logged model's files are (as ``moorline.load_model`` finds them)."""
    path = logged.tags.get(TAG_ARTIFACT_PATH)
    if path and logged.source_run_id:
        return posixpath.join(services.artifacts.run_root(logged.source_run_id), clean_key(path))
    return key_from_uri(logged.artifact_uri)


def locate(services: Services, mv: ModelVersion, hops: int = 0) -> str:
    """The artifact-store key of the version's folder.

    Raises InvalidArgument when the source lies outside this server's
    artifact store, NotFound when the run or logged model it names is gone.
    """
    source = mv.source
    runs = _RUNS_URI.match(source)
    if runs is not None:
        root = services.artifacts.run_root(runs.group("run_id"))
        path = clean_key(runs.group("path") or "", allow_root=True)
        key = posixpath.join(root, path) if path else root
        if mv.model_id and not services.artifacts.list(key):
            # MLflow 3 keeps a model logged "into a run" in the logged model's own folder.
            try:
                return _logged_model_key(services, services.tracking.get_logged_model(mv.model_id))
            except NotFound:
                return key
        return key
    if source.startswith("models:/"):
        rest = source[len("models:/") :].rstrip("/")
        if "/" not in rest and "@" not in rest:
            return _logged_model_key(services, services.tracking.get_logged_model(rest))
        if hops >= MAX_HOPS:
            raise InvalidArgument(f"Source {source!r} goes through more than {MAX_HOPS} versions")
        return locate(services, services.registry.resolve(source), hops + 1)
    scheme = _SCHEME.match(source)
    if scheme is not None and scheme.group("scheme").lower() == "mlflow-artifacts":
        return key_from_uri(source)
    raise InvalidArgument(
        f"The files are at {source!r}, outside this server's artifact store: "
        "they cannot be listed here"
    )


def _walk(services: Services, key: str, limit: int) -> tuple[list[tuple[str, int | None]], bool]:
    """Files below ``key`` as (relative path, size), sorted; at most ``limit`` of them."""
    found: list[tuple[str, int | None]] = []
    pending = [""]
    while pending:
        rel = pending.pop()
        for info in services.artifacts.list(posixpath.join(key, rel) if rel else key):
            sub = posixpath.join(rel, info.path) if rel else info.path
            if info.is_dir:
                pending.append(sub)
            else:
                found.append((sub, info.size))
                if len(found) > limit:
                    return sorted(found)[:limit], True
    return sorted(found), False


def _read_manifest(
    services: Services, key: str, where: str
) -> tuple[Manifest | None, str | None, str | None]:
    """(manifest, its SHA-256, problem); all None when the folder has no manifest."""
    path = posixpath.join(key, MANIFEST_FILE)
    size = services.artifacts.size(path)
    if size is None:
        return None, None, None
    if size > MAX_MANIFEST_BYTES:
        return None, None, f"{MANIFEST_FILE} is larger than {MAX_MANIFEST_BYTES} bytes"
    data = b"".join(services.artifacts.open(path))
    digest = hashlib.sha256(data).hexdigest()
    try:
        return Manifest.from_json(data, where=where), digest, None
    except IntegrityError as exc:
        return None, digest, exc.message


def model_files(services: Services, mv: ModelVersion, *, limit: int = MAX_FILES) -> ModelFiles:
    """The version's folder, its files and its manifest, checked by size."""
    recorded = mv.tags.get(TAG_MANIFEST_SHA256)
    try:
        key = locate(services, mv)
    except MoorlineError as exc:
        return ModelFiles(location=None, recorded_manifest_sha256=recorded, problems=(exc.message,))
    listed, truncated = _walk(services, key, limit)
    problems: list[str] = []
    if not listed:
        problems.append(f"No files at {mv.source!r} (artifact key {key!r})")
    manifest, digest, problem = _read_manifest(services, key, mv.source)
    if problem is not None:
        problems.append(problem)
    if manifest is None:
        files = tuple(ModelFile(path=p, size=s) for p, s in listed)
    else:
        sizes = dict(listed)
        recorded_files = {f.path: f for f in manifest.files}
        rows = []
        for entry in sorted(manifest.files, key=lambda f: f.path):
            actual = sizes.get(entry.path)
            if entry.path not in sizes:
                status = "missing" if not truncated else "not listed"
            else:
                status = "ok" if actual == entry.size else "size differs"
            rows.append(
                ModelFile(
                    path=entry.path,
                    size=actual,
                    sha256=entry.sha256,
                    recorded_size=entry.size,
                    status=status,
                )
            )
        rows.extend(
            ModelFile(path=p, size=s, sha256=digest, status="manifest")
            if p == MANIFEST_FILE
            else ModelFile(path=p, size=s, status="not in manifest")
            for p, s in listed
            if p not in recorded_files
        )
        files = tuple(sorted(rows, key=lambda f: f.path))
        broken = [f.path for f in files if f.status in ("missing", "size differs")]
        if broken:
            problems.append(
                f"{len(broken)} file(s) do not match the manifest: {', '.join(broken[:5])}"
                + (" ..." if len(broken) > 5 else "")
            )
    if digest is not None and recorded is not None and digest != recorded:
        problems.append(
            f"{MANIFEST_FILE} has SHA-256 {digest[:12]}..., but {recorded[:12]}... was recorded "
            "when the version was registered: the model was changed after registration"
        )
    return ModelFiles(
        location=key,
        files=files,
        truncated=truncated,
        manifest=manifest,
        manifest_sha256=digest,
        recorded_manifest_sha256=recorded,
        problems=tuple(problems),
    )
