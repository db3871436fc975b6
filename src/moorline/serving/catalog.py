"""What serving asks the registry about model versions: do they exist, what do they return.

:class:`RegistryCatalog` implements :class:`moorline.serving.service.ModelCatalog`
over the registry and the artifact store. A version's output fields come
from the signature its files carry: the moorline manifest
(``MOORLINE_MODEL.json``) when there is one, else the MLflow ``MLmodel``
file. Named output columns give their names; a single array (a tensor
output) is the one field ``prediction``; no signature, or outputs MLflow
describes in a way moorline cannot check, is unknown (None). Only the one
metadata file is read, never the model itself, and the answer is cached per
version (a version's files do not change; the cache key includes the
version's source and creation time, so a model deleted and registered again
under the same name is read afresh).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from moorline.errors import NotFound
from moorline.models.manifest import MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest
from moorline.models.mlflow_compat import (
    MAX_MLMODEL_BYTES,
    MLMODEL_FILE,
    parse_mlmodel,
    signature_from_mlflow,
)
from moorline.models.signature import ColumnSchema, Schema, Signature
from moorline.registry.locate import locate_model, read_model_file
from moorline.serving.models import DEFAULT_OUTPUT_FIELD

if TYPE_CHECKING:
    from moorline.registry.models import ModelVersion
    from moorline.registry.service import RegistryService
    from moorline.tracking.artifacts import ArtifactService
    from moorline.tracking.service import TrackingService

#: Versions whose output fields are remembered (a deployment names a handful).
CACHE_SIZE: Final = 4096


def output_fields_of(signature: Signature | None) -> tuple[str, ...] | None:
    """The output field names a signature promises; None when it does not say.

    >>> from moorline.models.signature import ColumnSpec, TensorSchema
    >>> tensor = TensorSchema(dtype="int64", shape=(-1,))
    >>> output_fields_of(Signature(inputs=tensor, outputs=tensor))
    ('prediction',)
    >>> cols = ColumnSchema(columns=(ColumnSpec(name="label", dtype="int64"),
    ...                              ColumnSpec(name="score", dtype="float64")))
    >>> output_fields_of(Signature(inputs=tensor, outputs=cols))
    ('label', 'score')
    >>> output_fields_of(Signature(inputs=tensor)) is None
    True
    """
    if signature is None or signature.outputs is None:
        return None
    return _fields(signature.outputs)


def _fields(schema: Schema) -> tuple[str, ...]:
    if isinstance(schema, ColumnSchema):
        return tuple(schema.names)
    return (DEFAULT_OUTPUT_FIELD,)


@dataclass(frozen=True, slots=True)
class _Sources:
    """The services a model URI is resolved with (see ``registry.locate.ModelSources``)."""

    tracking: TrackingService
    artifacts: ArtifactService
    registry: RegistryService


class RegistryCatalog:
    """Model versions as serving needs to know them, read from the registry."""

    def __init__(
        self, registry: RegistryService, tracking: TrackingService, artifacts: ArtifactService
    ) -> None:
        self._registry = registry
        self._sources = _Sources(tracking=tracking, artifacts=artifacts, registry=registry)
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, int, str, int], tuple[str, ...] | None] = {}

    def check_model(self, model: str) -> None:
        """Raise NotFound unless registered model ``model`` exists."""
        self._registry.get_registered_model(model)

    def check_version(self, model: str, version: int) -> None:
        """Raise NotFound, naming the model and the version, unless the version exists."""
        self._version(model, version)

    def _version(self, model: str, version: int) -> ModelVersion:
        try:
            return self._registry.get_model_version(model, version)
        except NotFound as exc:
            raise NotFound(
                f"Cannot serve version {version} of model {model!r}: {exc.message}"
            ) from None

    def output_fields(self, model: str, version: int) -> tuple[str, ...] | None:
        """The output field names of the version's signature; None when unknown."""
        mv = self._version(model, version)
        key = (model, version, mv.source, mv.creation_timestamp)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        fields = self._read_fields(mv)
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = fields
        return fields

    def _read_fields(self, mv: ModelVersion) -> tuple[str, ...] | None:
        sources = self._sources
        location = locate_model(lambda: sources, mv.source, hops=1)
        where = f"models:/{mv.name}/{mv.version}"
        artifacts = sources.artifacts
        manifest = read_model_file(artifacts, location, MANIFEST_FILE, max_bytes=MAX_MANIFEST_BYTES)
        if manifest is not None:
            return output_fields_of(Manifest.from_json(manifest, where=where).signature)
        mlmodel = read_model_file(artifacts, location, MLMODEL_FILE, max_bytes=MAX_MLMODEL_BYTES)
        if mlmodel is not None:
            doc = parse_mlmodel(mlmodel, where=where)
            return output_fields_of(signature_from_mlflow(doc.get("signature")))
        return None


__all__ = ["RegistryCatalog", "output_fields_of"]
