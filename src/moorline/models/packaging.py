"""Save a model into a folder: flavor files, MLflow files, then the manifest.

The order matters: the flavor writes the model, the signature is inferred
from the model's output on the input example (predicted by the model as
reloaded from its files, which also proves the files load), the MLflow
files are written, and last the manifest records the SHA-256 of every file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument
from moorline.models.digest import FileDigest, digest_tree, sha256_bytes
from moorline.models.environment import capture_environment, check_pip_requirements
from moorline.models.flavors import Flavor, choose_flavor
from moorline.models.manifest import MANIFEST_FILE, Manifest
from moorline.models.mlflow_compat import write_mlflow_files
from moorline.models.signature import Signature, as_model_input, infer_signature, prepare_input

EXAMPLE_FILE = "input_example.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedModel:
    """What :func:`save_model` wrote: the manifest, its own digest, and every file."""

    manifest: Manifest
    manifest_sha256: str
    files: tuple[FileDigest, ...]


def moorline_version() -> str:
    try:
        return metadata.version("moorline")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def coerce_signature(value: Signature | Mapping[str, Any] | None) -> Signature | None:
    """A :class:`Signature` from itself or its dict form (as stored in a manifest)."""
    if value is None or isinstance(value, Signature):
        return value
    if isinstance(value, Mapping):
        try:
            return Signature.from_dict(value)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(f"Invalid signature: {exc}") from exc
    raise InvalidArgument(
        f"signature must be a moorline Signature or its dict form, not {type(value).__name__}"
    )


def _write_example(path: Path, example: Any) -> dict[str, Any]:
    """``input_example.json`` in MLflow's layout; returns MLflow's description of it."""
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        try:  # exact floats when the values are plain JSON
            text = json.dumps(
                {"columns": [str(c) for c in example.columns], "data": example.to_numpy().tolist()},
                allow_nan=False,
            )
        except (TypeError, ValueError):  # timestamps, NaN: pandas' own encoding
            text = example.to_json(orient="split", index=False, double_precision=15)
        (path / EXAMPLE_FILE).write_text(text)
        return {"artifact_path": EXAMPLE_FILE, "type": "dataframe", "pandas_orient": "split"}
    arr = np.asarray(example)
    try:
        text = json.dumps({"inputs": arr.tolist()}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"input_example cannot be stored as JSON ({exc}); pass a DataFrame"
        ) from exc
    (path / EXAMPLE_FILE).write_text(text)
    return {"artifact_path": EXAMPLE_FILE, "type": "ndarray", "format": "tf-serving"}


def save_model(
    model: Any,
    path: str | Path,
    *,
    flavor: str | Flavor | None = None,
    input_example: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    pip_requirements: Sequence[str] | None = None,
    run_id: str | None = None,
    model_id: str | None = None,
    artifact_path: str | None = None,
) -> SavedModel:
    """Write ``model`` into the empty (or new) folder ``path``.

    ``flavor`` is detected when not given (see :mod:`moorline.models.flavors`).
    With an ``input_example`` and no ``signature``, the signature is inferred
    from the example and the model's output on it; a given ``signature`` is
    checked against the example. ``run_id``, ``model_id`` and
    ``artifact_path`` only go into the ``MLmodel`` file.

    >>> import tempfile, numpy as np
    >>> class Doubler:
    ...     def predict(self, x):
    ...         return np.asarray(x) * 2
    >>> with tempfile.TemporaryDirectory() as d:
    ...     saved = save_model(Doubler(), d, input_example=np.ones((1, 2)))
    >>> saved.manifest.flavor, saved.manifest.executes_code_on_load
    ('python_function', True)
    >>> saved.manifest.signature.outputs
    TensorSchema(dtype='float64', shape=(-1, 2))
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise InvalidArgument(f"Cannot save a model into {str(folder)!r}: the folder is not empty")
    check_pip_requirements(pip_requirements)
    chosen = choose_flavor(model, flavor)
    sig = coerce_signature(signature)
    info = chosen.save(model, folder)
    example_info: dict[str, Any] | None = None
    libraries = list(info.libraries)
    if input_example is not None:
        example = as_model_input(input_example)
        if sig is None:
            reloaded = chosen.__class__(**info.config).load(folder)
            output = reloaded.predict(prepare_input(infer_signature(example), example))
            sig = infer_signature(example, output)
        else:
            prepare_input(sig, example)
        example_info = _write_example(folder, example)
        if type(example).__module__.startswith("pandas"):
            libraries.append("pandas")
    environment = capture_environment(
        libraries, pip_requirements, pins={"moorline": moorline_version()}
    )
    write_mlflow_files(
        folder,
        info=info,
        signature=sig,
        environment=environment,
        example=example_info,
        run_id=run_id,
        model_id=model_id,
        artifact_path=artifact_path,
    )
    files = tuple(digest_tree(folder, exclude=frozenset({MANIFEST_FILE})))
    manifest = Manifest(
        flavor=info.flavor,
        format=info.format,
        loader=f"{type(chosen).__module__}.{type(chosen).__qualname__}",
        executes_code_on_load=info.executes_code_on_load,
        model_class=info.model_class,
        environment=environment,
        files=files,
        moorline_version=moorline_version(),
        created_at=now_ms(),
        flavor_config=info.config,
        data_files=info.data_files,
        signature=sig,
        library_versions=info.library_versions,
    )
    raw = manifest.to_json()
    (folder / MANIFEST_FILE).write_bytes(raw)
    digest = sha256_bytes(raw)
    entry = FileDigest(path=MANIFEST_FILE, sha256=digest, size=len(raw))
    return SavedModel(manifest=manifest, manifest_sha256=digest, files=(*files, entry))
