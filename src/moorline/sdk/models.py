"""``moorline.log_model`` and ``moorline.load_model``: models as run artifacts.

:func:`log_model` saves a model into a temporary folder (flavor files, an
MLflow ``MLmodel``, the ``MOORLINE_MODEL.json`` manifest with the SHA-256 of
every file), uploads it below the run's artifacts at ``<name>/``, records
a logged model (READY, tagged with its flavor and the manifest's digest)
and, if asked, registers it as a new version whose tags carry the same
digest. :func:`load_model` finds the files behind a URI, downloads them
into a private folder while hashing them, checks the manifest's digest
against the recorded one and every file against the manifest, and only
then deserialises the model.

>>> import moorline  # doctest: +SKIP
>>> with moorline.start_run():  # doctest: +SKIP
...     info = moorline.log_model(clf, "model", input_example=X[:5], registered_model_name="churn")
>>> model = moorline.load_model("models:/churn@champion")  # doctest: +SKIP
>>> model.predict(X)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moorline.core.blobs import clean_key
from moorline.errors import AlreadyExists, IntegrityError, InvalidArgument, MoorlineError, NotFound
from moorline.registry.locate import (
    TAG_ARTIFACT_PATH,
    TAG_MANIFEST_SHA256,
    ModelLocation,
    locate_model,
)
from moorline.sdk._session import SESSION

if TYPE_CHECKING:
    from moorline.bootstrap import Services
    from moorline.models.digest import FileDigest
    from moorline.models.flavors import Flavor
    from moorline.models.loaded import LoadedModel
    from moorline.models.packaging import SavedModel
    from moorline.models.signature import Signature
    from moorline.registry.models import ModelVersion
    from moorline.tracking.models import Run

#: Tags a logged model (and a registered version) carries (the manifest's digest and
#: the artifact path are defined with the URI rules, in ``moorline.registry.locate``).
TAG_FLAVOR = "moorline.model.flavor"
TAG_EXECUTES_CODE = "moorline.model.executes_code_on_load"

__all__ = [
    "TAG_ARTIFACT_PATH",
    "TAG_EXECUTES_CODE",
    "TAG_FLAVOR",
    "TAG_MANIFEST_SHA256",
    "ModelInfo",
    "load_model",
    "load_model_from",
    "log_model",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """What :func:`log_model` recorded; ``model_uri`` loads it back."""

    model_uri: str
    run_id: str
    artifact_path: str
    model_id: str
    flavor: str
    manifest_sha256: str
    executes_code_on_load: bool
    signature: Signature | None = None
    registered_model_name: str | None = None
    registered_model_version: int | None = None


# -- logging ------------------------------------------------------------------


def _run_for_logging(services: Services, run_id: str | None) -> Run:
    if run_id is None:
        from moorline.sdk._fluent import active_run

        active = active_run()
        if active is None:
            raise InvalidArgument(
                "No active run in this thread: call moorline.start_run() first, "
                "or pass run_id= to log the model into an existing run"
            )
        run_id = active.run_id
    return services.tracking.get_run(run_id)


def _artifact_path(name: object) -> str:
    if not isinstance(name, str) or not name.strip("/ "):
        raise InvalidArgument(f"Model name must be a non-empty artifact path, got {name!r}")
    return clean_key(name.strip("/"))


def log_model(
    model: Any,
    name: str,
    *,
    input_example: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    registered_model_name: str | None = None,
    flavor: str | Flavor | None = None,
    pip_requirements: Sequence[str] | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Log ``model`` into the active run (or ``run_id``) at artifact path ``name``.

    The flavor is detected: scikit-learn estimators and pipelines are saved
    with skops, XGBoost and LightGBM models in their native formats, and
    anything else with a ``predict`` method with cloudpickle (its manifest
    says that loading it executes code). Pass ``flavor`` (``"sklearn"``,
    ``"xgboost"``, ``"lightgbm"``, ``"python_function"``) to choose.

    With ``input_example`` the signature is inferred from it and the model's
    output on it (or ``signature`` is checked against it). The environment
    pins the packages the flavor needs, plus ``pip_requirements``. With
    ``registered_model_name`` the model becomes that registered model's next
    version (the registered model is created on first use).

    >>> import moorline  # doctest: +SKIP
    >>> with moorline.start_run():  # doctest: +SKIP
    ...     info = moorline.log_model(pipeline, "model", input_example=X_train[:5])
    >>> info.model_uri  # doctest: +SKIP
    'runs:/3f2a.../model'
    """
    from moorline.models.environment import check_pip_requirements
    from moorline.models.flavors import choose_flavor
    from moorline.models.packaging import coerce_signature
    from moorline.registry.service import validate_model_name
    from moorline.tracking.models import LoggedModelStatus, ModelOutput

    services = SESSION.services()
    path = _artifact_path(name)
    check_pip_requirements(pip_requirements)
    sig = coerce_signature(signature)
    if registered_model_name is not None:
        validate_model_name(registered_model_name)
    chosen = choose_flavor(model, flavor)
    run = _run_for_logging(services, run_id)
    rid = run.info.run_id
    tracking = services.tracking
    logged = tracking.create_logged_model(
        run.info.experiment_id,
        name=path,
        model_type=chosen.name,
        source_run_id=rid,
        tags={TAG_FLAVOR: chosen.name, TAG_ARTIFACT_PATH: path},
    )
    model_id = logged.model_id
    try:
        saved = _save_and_upload(
            services,
            model,
            run_id=rid,
            path=path,
            model_id=model_id,
            flavor=chosen,
            input_example=input_example,
            signature=sig,
            pip_requirements=pip_requirements,
        )
    except BaseException as exc:
        with contextlib.suppress(MoorlineError):
            tracking.finalize_logged_model(
                model_id,
                LoggedModelStatus.UPLOAD_FAILED,
                status_message=f"{type(exc).__name__}: {exc}"[:1000],
            )
        raise
    manifest = saved.manifest
    tracking.set_logged_model_tags(
        model_id,
        {
            TAG_MANIFEST_SHA256: saved.manifest_sha256,
            TAG_EXECUTES_CODE: "true" if manifest.executes_code_on_load else "false",
        },
    )
    tracking.finalize_logged_model(model_id, LoggedModelStatus.READY)
    tracking.log_outputs(rid, [ModelOutput(model_id=model_id)])
    info = ModelInfo(
        model_uri=f"runs:/{rid}/{path}",
        run_id=rid,
        artifact_path=path,
        model_id=model_id,
        flavor=manifest.flavor,
        manifest_sha256=saved.manifest_sha256,
        executes_code_on_load=manifest.executes_code_on_load,
        signature=manifest.signature,
    )
    if registered_model_name is None:
        return info
    version = _register(services, info, registered_model_name)
    return replace(
        info, registered_model_name=version.name, registered_model_version=version.version
    )


def _save_and_upload(
    services: Services,
    model: Any,
    *,
    run_id: str,
    path: str,
    model_id: str,
    flavor: Flavor,
    input_example: Any,
    signature: Signature | None,
    pip_requirements: Sequence[str] | None,
) -> SavedModel:
    """Save into a temporary folder and upload each file (streamed) below the run."""
    from moorline.models.packaging import save_model

    with tempfile.TemporaryDirectory(prefix="moorline-log-model-") as tmp:
        folder = Path(tmp) / "model"
        saved = save_model(
            model,
            folder,
            flavor=flavor,
            input_example=input_example,
            signature=signature,
            pip_requirements=pip_requirements,
            run_id=run_id,
            model_id=model_id,
            artifact_path=path,
        )
        for entry in saved.files:
            with (folder / entry.path).open("rb") as fh:
                services.artifacts.log_run_artifact(run_id, f"{path}/{entry.path}", fh)
    return saved


def _register(services: Services, info: ModelInfo, name: str) -> ModelVersion:
    from moorline.sdk.registry import acting_user

    actor = acting_user()
    registry = services.registry
    with contextlib.suppress(AlreadyExists):  # created on first use
        registry.create_registered_model(name, actor=actor)
    return registry.create_model_version(
        name,
        info.model_uri,
        run_id=info.run_id,
        model_id=info.model_id,
        tags={TAG_MANIFEST_SHA256: info.manifest_sha256, TAG_FLAVOR: info.flavor},
        actor=actor,
    )


# -- loading ------------------------------------------------------------------


#: Where a model's files are, and how a URI leads there: one rule, shared with the
#: model server and serving's catalog (see :mod:`moorline.registry.locate`).
_Target = ModelLocation
_resolve = locate_model


def _stage_key(
    services: Services, key: str, *, where: str
) -> Callable[[Path], Mapping[str, FileDigest]]:
    """Download every file below ``key`` into a folder, hashing each on the way."""
    from moorline.models.digest import safe_relative, stage_stream

    artifacts = services.artifacts

    def files(prefix: str, rel: str) -> list[str]:
        found: list[str] = []
        for entry in artifacts.list(prefix):
            sub = posixpath.join(rel, entry.path) if rel else entry.path
            if entry.is_dir:
                found.extend(files(posixpath.join(prefix, entry.path), sub))
            else:
                found.append(sub)
        return found

    def stage(folder: Path) -> dict[str, FileDigest]:
        listed = files(key, "")
        if not listed:
            raise NotFound(f"No model at {where}: no files at artifact path {key!r}")
        staged: dict[str, FileDigest] = {}
        for rel in listed:
            clean = safe_relative(rel)
            chunks = artifacts.open(posixpath.join(key, clean))
            staged[clean] = stage_stream(chunks, folder / clean, clean)
        return staged

    return stage


def load_model(
    model_uri: str | os.PathLike[str], *, allow_code_execution: bool = True
) -> LoadedModel:
    """Load the model at ``model_uri``, after checking every file's SHA-256.

    ``model_uri``: ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
    ``models:/<name>/latest``, ``models:/<logged model id>``,
    ``runs:/<run_id>/<path>``, ``mlflow-artifacts:/<path>`` or a local folder.
    A tampered, missing or unexpected file raises
    :class:`~moorline.errors.IntegrityError` naming the file and both
    digests, before anything is deserialised. A model logged by MLflow (an
    ``MLmodel`` and no moorline manifest) loads too, with ``verified=False``.
    ``allow_code_execution=False`` refuses models whose loading executes code
    they carry (pickle-based formats).

    >>> import moorline  # doctest: +SKIP
    >>> model = moorline.load_model("models:/churn@champion")  # doctest: +SKIP
    >>> model.flavor, model.verified  # doctest: +SKIP
    ('sklearn', True)
    """
    if not isinstance(model_uri, str | os.PathLike):
        raise InvalidArgument(
            f"model_uri must be a string or a path, not {type(model_uri).__name__}"
        )
    uri = os.fspath(model_uri)
    if not uri.strip():
        raise InvalidArgument("model_uri must be a non-empty string or path")
    return load_model_from(SESSION.services, uri.strip(), allow_code_execution=allow_code_execution)


def load_model_from(
    services: Callable[[], Services], uri: str, *, allow_code_execution: bool = True
) -> LoadedModel:
    """:func:`load_model` against the given services (the model server's, say) rather
    than the SDK session's; ``services`` is called only if the URI needs the store."""
    from moorline.models.digest import stage_tree
    from moorline.models.loading import load_with_staging

    target = _resolve(services, uri)
    expected = set(target.expected)
    if len(expected) > 1:
        raise IntegrityError(
            f"Model at {uri}: its records disagree on the manifest's sha256 "
            f"({', '.join(sorted(expected))})"
        )
    stage: Callable[[Path], Mapping[str, FileDigest]]
    if target.local is not None:
        src = target.local
        if not src.is_dir():
            raise NotFound(f"No model folder at {str(src)!r}")
        stage = partial(stage_tree, src)
    else:
        assert target.key is not None
        stage = _stage_key(services(), target.key, where=uri)
    return load_with_staging(
        stage,
        where=uri,
        expected_manifest_sha256=next(iter(expected), None),
        allow_code_execution=allow_code_execution,
    )
