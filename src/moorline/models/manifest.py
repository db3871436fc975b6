"""``MOORLINE_MODEL.json``: what a logged model is and the digest of every file.

The manifest sits at the root of a model folder. It names the flavor and
format, whether loading executes code from the files (pickle-based formats
do: say so, and let a caller refuse), the signature, the environment, the
versions of the libraries that wrote the files, and the SHA-256 and size of
every other file in the folder. A loader checks all of them before it reads
a single model byte.

The manifest does not cover itself: its own SHA-256 is recorded outside the
folder (a logged model's tag, a registered version's tag), so replacing the
manifest together with a file is caught too when the model is loaded by a
``runs:/`` or ``models:/`` URI.

The ``loader`` field is information for people; a loader is never imported
by the name a manifest gives. Flavors are looked up by ``flavor`` in a fixed
table (see :mod:`moorline.models.flavors`).

>>> m = Manifest(flavor="sklearn", format="skops", loader="moorline.models.flavors.sklearn",
...              executes_code_on_load=False, model_class="sklearn.linear_model.Ridge",
...              environment=Environment(python="3.11.9", platform="Linux"),
...              files=(FileDigest(path="model.skops", sha256="0" * 64, size=10),),
...              moorline_version="0.1.0", created_at=0)
>>> Manifest.from_json(m.to_json()) == m
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moorline.errors import IntegrityError
from moorline.models.digest import FileDigest, is_sha256, safe_relative
from moorline.models.environment import Environment
from moorline.models.signature import Signature

MANIFEST_FILE = "MOORLINE_MODEL.json"
MANIFEST_VERSION = 1
#: A manifest is metadata; anything larger than this is not one of ours.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """``flavor_config`` is what the flavor's ``__init__`` takes to load the files back
    (for skops: the exact trusted types computed at save)."""

    flavor: str
    format: str
    loader: str
    executes_code_on_load: bool
    model_class: str
    environment: Environment
    files: tuple[FileDigest, ...]
    moorline_version: str
    created_at: int
    flavor_config: dict[str, Any] = field(default_factory=dict)
    data_files: tuple[str, ...] = ()
    signature: Signature | None = None
    library_versions: dict[str, str] = field(default_factory=dict)
    manifest_version: int = MANIFEST_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_version": self.manifest_version,
            "moorline_version": self.moorline_version,
            "created_at": self.created_at,
            "flavor": self.flavor,
            "format": self.format,
            "loader": self.loader,
            "executes_code_on_load": self.executes_code_on_load,
            "model_class": self.model_class,
            "flavor_config": self.flavor_config,
            "data_files": list(self.data_files),
            "signature": None if self.signature is None else self.signature.to_dict(),
            "environment": self.environment.to_dict(),
            "library_versions": dict(sorted(self.library_versions.items())),
            "files": [
                {"path": f.path, "sha256": f.sha256, "size": f.size}
                for f in sorted(self.files, key=lambda f: f.path)
            ],
        }

    def to_json(self) -> bytes:
        """Canonical bytes: sorted keys, two-space indent, ASCII, trailing newline."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=True)
        return (text + "\n").encode("ascii")

    @classmethod
    def from_json(cls, data: bytes, *, where: str = "") -> Manifest:
        """Parse and validate a manifest; anything malformed is an :class:`IntegrityError`."""
        label = f"{MANIFEST_FILE} of the model at {where}" if where else MANIFEST_FILE
        if len(data) > MAX_MANIFEST_BYTES:
            raise IntegrityError(f"{label} is larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            raw = json.loads(data)
            return _parse(raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{label} is not a valid manifest: {exc}") from exc


def _parse(raw: object) -> Manifest:
    if not isinstance(raw, Mapping):
        raise ValueError("the manifest is not a JSON object")
    version = raw["manifest_version"]
    if version != MANIFEST_VERSION:
        raise ValueError(f"manifest_version {version!r} is not supported (expected 1)")
    files: list[FileDigest] = []
    seen: set[str] = set()
    for entry in raw["files"]:
        path, sha, size = entry["path"], entry["sha256"], entry["size"]
        if not isinstance(path, str) or safe_relative(path) != path or path == MANIFEST_FILE:
            raise ValueError(f"file path {path!r} is not a clean relative path")
        if path in seen:
            raise ValueError(f"file {path!r} is listed twice")
        if not is_sha256(sha):
            raise ValueError(f"file {path!r} has no valid sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"file {path!r} has no valid size")
        seen.add(path)
        files.append(FileDigest(path=path, sha256=sha, size=size))
    data_files = tuple(str(p) for p in raw.get("data_files", []))
    if not set(data_files) <= seen:
        raise ValueError("data_files names a file that is not listed in files")
    config = raw.get("flavor_config", {})
    if not isinstance(config, Mapping):
        raise ValueError("flavor_config is not an object")
    execs = raw["executes_code_on_load"]
    if not isinstance(execs, bool):
        raise ValueError("executes_code_on_load is not a boolean")
    signature = raw.get("signature")
    libs = raw.get("library_versions", {})
    if not isinstance(libs, Mapping):
        raise ValueError("library_versions is not an object")
    return Manifest(
        flavor=_str(raw, "flavor"),
        format=_str(raw, "format"),
        loader=_str(raw, "loader"),
        executes_code_on_load=execs,
        model_class=_str(raw, "model_class"),
        environment=Environment.from_dict(raw["environment"]),
        files=tuple(files),
        moorline_version=_str(raw, "moorline_version"),
        created_at=int(raw["created_at"]),
        flavor_config=dict(config),
        data_files=data_files,
        signature=None if signature is None else Signature.from_dict(signature),
        library_versions={str(k): str(v) for k, v in libs.items()},
    )


def _str(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value
