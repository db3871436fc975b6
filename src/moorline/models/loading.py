"""Load a model folder: stage its bytes, check every digest, then deserialise.

Staging copies (or downloads) each file into a private temporary folder
while hashing it, so the bytes checked are the bytes loaded. Only when the
whole folder matches its manifest is the flavor asked to read it. A folder
without a moorline manifest but with an MLflow ``MLmodel`` file is read by
:mod:`moorline.models.mlflow_compat` and comes back with ``verified=False``.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path

from moorline.errors import IntegrityError, InvalidArgument, NotFound, PermissionDenied
from moorline.models.digest import FileDigest, stage_tree, verify
from moorline.models.flavors import flavor_for_loading
from moorline.models.lean_imports import before_loading
from moorline.models.loaded import LoadedModel
from moorline.models.manifest import MANIFEST_FILE, Manifest
from moorline.models.mlflow_compat import MLMODEL_FILE, load_mlflow_dir


def load_staged(
    folder: Path,
    staged: Mapping[str, FileDigest],
    *,
    where: str,
    expected_manifest_sha256: str | None = None,
    allow_code_execution: bool = True,
) -> LoadedModel:
    """Load the staged model in ``folder`` whose files hash to ``staged``.

    ``expected_manifest_sha256`` is the manifest digest recorded outside the
    folder (a logged model's or a registered version's tag), when known.
    """
    entry = staged.get(MANIFEST_FILE)
    if entry is None:
        if expected_manifest_sha256 is not None:
            raise IntegrityError(
                f"Model at {where}: {MANIFEST_FILE} is missing, but a manifest with sha256 "
                f"{expected_manifest_sha256} was recorded when the model was logged"
            )
        if MLMODEL_FILE in staged:
            return load_mlflow_dir(folder, where=where, allow_code_execution=allow_code_execution)
        raise InvalidArgument(
            f"{where} is not a model: it has neither {MANIFEST_FILE} (moorline) nor "
            f"{MLMODEL_FILE} (MLflow)"
        )
    if expected_manifest_sha256 is not None and entry.sha256 != expected_manifest_sha256:
        raise IntegrityError(
            f"Model at {where}: file {MANIFEST_FILE!r} fails its integrity check: sha256 "
            f"{expected_manifest_sha256} was recorded when the model was logged, the file has "
            f"sha256 {entry.sha256}"
        )
    manifest = Manifest.from_json((folder / MANIFEST_FILE).read_bytes(), where=where)
    verify({p: d for p, d in staged.items() if p != MANIFEST_FILE}, manifest.files, where=where)
    if manifest.executes_code_on_load and not allow_code_execution:
        raise PermissionDenied(
            f"Loading the model at {where} executes code its files carry "
            f"({manifest.flavor}/{manifest.format}, {manifest.model_class}); pass "
            "allow_code_execution=True to load it anyway"
        )
    flavor = flavor_for_loading(
        manifest.flavor, manifest.format, manifest.flavor_config, where=where
    )
    before_loading(manifest.flavor, executes_code=manifest.executes_code_on_load, where=where)
    predictor = flavor.load(folder)
    return LoadedModel(
        predictor=predictor,
        flavor=manifest.flavor,
        format=manifest.format,
        model_class=manifest.model_class,
        signature=manifest.signature,
        manifest=manifest,
        verified=True,
        executes_code_on_load=manifest.executes_code_on_load,
        source=where,
    )


def load_with_staging(
    stage: Callable[[Path], Mapping[str, FileDigest]],
    *,
    where: str,
    expected_manifest_sha256: str | None = None,
    allow_code_execution: bool = True,
) -> LoadedModel:
    """Stage into a fresh private folder with ``stage``, load, and clean up.

    The folder is removed as soon as the model is loaded, or when the model
    is garbage-collected if it still reads its files (``keeps_files``).
    """
    folder = Path(tempfile.mkdtemp(prefix="moorline-model-"))
    try:
        staged = stage(folder)
        loaded = load_staged(
            folder,
            staged,
            where=where,
            expected_manifest_sha256=expected_manifest_sha256,
            allow_code_execution=allow_code_execution,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if loaded.keeps_files:
        weakref.finalize(loaded, shutil.rmtree, folder, True)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return loaded


def load_model_dir(
    path: str | Path,
    *,
    expected_manifest_sha256: str | None = None,
    allow_code_execution: bool = True,
    skip: frozenset[str] = frozenset(),
) -> LoadedModel:
    """Load the model folder ``path`` (moorline's or MLflow's format).

    ``skip`` names files to leave out (neither copied nor checked): files a
    downloader adds next to the model, never the model's own.

    >>> load_model_dir("/nonexistent/model")
    Traceback (most recent call last):
    ...
    moorline.errors.NotFound: No model folder at '/nonexistent/model'
    """
    src = Path(path)
    if not src.is_dir():
        raise NotFound(f"No model folder at {str(path)!r}")
    return load_with_staging(
        lambda folder: stage_tree(src, folder, skip=skip),
        where=str(src),
        expected_manifest_sha256=expected_manifest_sha256,
        allow_code_execution=allow_code_execution,
    )
