"""``/mlflow/registered-models...`` and ``/mlflow/model-versions...``: MLflow's model registry.

Thin handlers over :class:`~moorline.registry.service.RegistryService`: each
reads its request message, calls one service method with the caller as the
actor (the authenticated token's name, or ``anonymous`` on a loopback server
without tokens) and renders the result as MLflow's client parses it. Versions
travel as strings (``"3"``), aliases of a registered model as
``[{alias, version}]`` and of a version as ``[alias]``.

The source of a version (:class:`VersionSources`) is where the tracking side
comes in, as on MLflow's server:

* ``model-versions/create`` with ``source="models:/<model_id>"`` (what MLflow
  3's ``log_model(registered_model_name=...)`` sends) records the logged model
  and fills ``run_id`` from its source run; ``runs:/<run_id>/<path>`` fills
  ``run_id`` from the URI; ``models:/<name>/<version>`` (a copy) takes the run
  and logged model of that version. What a source names must exist.
* ``model-versions/get-download-uri`` answers where the files are: the logged
  model's ``artifact_uri`` for a ``models:/<model_id>`` source, the run's
  artifact URI plus the path for ``runs:/<run_id>/<path>``, the referenced
  version's location for ``models:/<name>/<version>``, else the source itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from moorline.errors import InvalidArgument
from moorline.registry.models import ModelVersion, RegisteredModel, Stage
from moorline.registry.service import RegistryService
from moorline.server.api._actor import request_actor_name as actor
from moorline.server.mlflow.dispatch import Endpoint, Work
from moorline.server.mlflow.wire import (
    KEY_VALUE,
    JsonDict,
    Message,
    boolean,
    int64,
    key_values,
    nested,
    page_json,
    string,
)
from moorline.tracking.service import TrackingService

MODELS_SCHEME = "models:/"
RUNS_SCHEME = "runs:/"
#: ``models:/<name>/<version>`` sources may point at versions that are
#: themselves copies; following more links than this means a loop.
MAX_SOURCE_HOPS = 16

# -- request messages ------------------------------------------------------------

CREATE_MODEL = Message(
    "CreateRegisteredModel",
    string("name", required=True),
    nested("tags", KEY_VALUE, repeated=True),
    string("description"),
    string("deployment_job_id"),
)
MODEL_BY_NAME = Message("RegisteredModelByName", string("name", required=True))
RENAME_MODEL = Message(
    "RenameRegisteredModel", string("name", required=True), string("new_name", required=True)
)
UPDATE_MODEL = Message(
    "UpdateRegisteredModel",
    string("name", required=True),
    string("description"),
    string("deployment_job_id"),
)
SEARCH = Message(
    "SearchRegistry",
    string("filter"),
    int64("max_results"),
    string("order_by", repeated=True),
    string("page_token"),
)
GET_LATEST = Message(
    "GetLatestVersions", string("name", required=True), string("stages", repeated=True)
)
SET_MODEL_TAG = Message(
    "SetRegisteredModelTag",
    string("name", required=True),
    string("key", required=True),
    string("value"),
)
DELETE_MODEL_TAG = Message(
    "DeleteRegisteredModelTag", string("name", required=True), string("key", required=True)
)
SET_ALIAS = Message(
    "SetRegisteredModelAlias",
    string("name", required=True),
    string("alias", required=True),
    string("version", required=True),
)
ALIAS = Message(
    "RegisteredModelAlias", string("name", required=True), string("alias", required=True)
)
CREATE_VERSION = Message(
    "CreateModelVersion",
    string("name", required=True),
    string("source", required=True),
    string("run_id"),
    nested("tags", KEY_VALUE, repeated=True),
    string("run_link"),
    string("description"),
    string("model_id"),
)
VERSION = Message(
    "ModelVersionRef", string("name", required=True), string("version", required=True)
)
UPDATE_VERSION = Message(
    "UpdateModelVersion",
    string("name", required=True),
    string("version", required=True),
    string("description"),
)
TRANSITION = Message(
    "TransitionModelVersionStage",
    string("name", required=True),
    string("version", required=True),
    string("stage", required=True),
    boolean("archive_existing_versions"),
)
SET_VERSION_TAG = Message(
    "SetModelVersionTag",
    string("name", required=True),
    string("version", required=True),
    string("key", required=True),
    string("value"),
)
DELETE_VERSION_TAG = Message(
    "DeleteModelVersionTag",
    string("name", required=True),
    string("version", required=True),
    string("key", required=True),
)


# -- records -> JSON ---------------------------------------------------------------


def model_version_json(mv: ModelVersion) -> JsonDict:
    out: JsonDict = {
        "name": mv.name,
        "version": str(mv.version),
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
        "current_stage": mv.current_stage.value,
        "description": mv.description,
        "source": mv.source,
        "status": mv.status.value,
    }
    # Empty repeated fields are left out, as MLflow does: the client's parsing
    # of a 1,000-version page is the slowest part of a search.
    if mv.tags:
        out["tags"] = key_values(mv.tags)
    if mv.aliases:
        out["aliases"] = list(mv.aliases)
    if not mv.description:
        del out["description"]
    if mv.user_id:
        out["user_id"] = mv.user_id
    if mv.run_id:
        out["run_id"] = mv.run_id
    if mv.run_link:
        out["run_link"] = mv.run_link
    if mv.model_id:
        out["model_id"] = mv.model_id
    if mv.status_message:
        out["status_message"] = mv.status_message
    return out


def registered_model_json(model: RegisteredModel) -> JsonDict:
    out: JsonDict = {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
        "description": model.description,
        "latest_versions": [model_version_json(mv) for mv in model.latest_versions],
        "tags": key_values(model.tags),
        "aliases": [
            {"alias": alias, "version": str(version)} for alias, version in model.aliases.items()
        ],
    }
    if model.user_id:
        out["user_id"] = model.user_id
    return out


def _tags(items: Sequence[JsonDict] | None) -> dict[str, str]:
    """Wire ``[{key, value}]`` as a dict; the last value of a repeated key wins."""
    return {t.get("key", ""): t.get("value", "") for t in items or ()}


def canonical_stages(stages: Sequence[str]) -> frozenset[Stage]:
    """Stage names in any case as :class:`Stage`; none given means every stage.

    >>> sorted(canonical_stages(["production", "STAGING"]))
    [<Stage.PRODUCTION: 'Production'>, <Stage.STAGING: 'Staging'>]
    """
    if not stages:
        return frozenset(Stage)
    by_lower = {s.value.lower(): s for s in Stage}
    out = set()
    for name in stages:
        stage = by_lower.get(name.strip().lower())
        if stage is None:
            allowed = ", ".join(s.value for s in Stage)
            raise InvalidArgument(
                f"Invalid model version stage {name!r}; expected one of {allowed}"
            )
        out.add(stage)
    return frozenset(out)


def logged_model_id_of(source: str) -> str | None:
    """The logged model a ``models:/<model_id>`` source names (one path segment), else None.

    >>> logged_model_id_of("models:/m-0123"), logged_model_id_of("models:/churn/3")
    ('m-0123', None)
    """
    if not source.startswith(MODELS_SCHEME):
        return None
    rest = source[len(MODELS_SCHEME) :].strip("/")
    if not rest or "/" in rest or "@" in rest:
        return None
    return rest


def run_source(source: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` as (run_id, path).

    >>> run_source("runs:/abc/model/sub"), run_source("runs:/abc")
    (('abc', 'model/sub'), ('abc', ''))
    """
    run_id, _, path = source[len(RUNS_SCHEME) :].lstrip("/").partition("/")
    if not run_id:
        raise InvalidArgument(f"Invalid source {source!r}: expected runs:/<run_id>/<path>")
    return run_id, path.strip("/")


class VersionSources:
    """What a model version's ``source`` says: its training run, its logged model, its files.

    MLflow's server works these out from the source URI, and its client
    relies on the answers: a version made from ``models:/<model_id>`` must
    report the logged model's run, and ``get-download-uri`` must name a
    location the client can download.
    """

    def __init__(self, registry: RegistryService, tracking: TrackingService) -> None:
        self._registry = registry
        self._tracking = tracking

    def provenance(
        self, source: str, *, run_id: str | None, model_id: str | None
    ) -> tuple[str | None, str | None]:
        """The (run_id, model_id) of a new version: given ones win, the rest come from
        the source. What the source names must exist, so no version points at nothing."""
        model_id = model_id or logged_model_id_of(source)
        if model_id is not None:
            logged = self._tracking.get_logged_model(model_id)
            return run_id or logged.source_run_id, logged.model_id
        if source.startswith(MODELS_SCHEME):
            original = self._registry.resolve(source)
            return run_id or original.run_id, original.model_id
        if source.startswith(RUNS_SCHEME):
            info = self._tracking.get_run_info(run_source(source)[0])
            return run_id or info.run_id, None
        return run_id, None

    def location(self, mv: ModelVersion) -> str:
        """Where the version's files are, as a URI MLflow's client can download."""
        for _ in range(MAX_SOURCE_HOPS):
            source = mv.source
            if source.startswith(MODELS_SCHEME):
                model_id = logged_model_id_of(source) or mv.model_id
                if model_id:
                    logged = self._tracking.get_logged_model(model_id, allow_deleted=True)
                    return logged.artifact_uri
                mv = self._registry.resolve(source)
                continue
            if source.startswith(RUNS_SCHEME):
                run_id, path = run_source(source)
                root = self._tracking.get_run_info(run_id).artifact_uri.rstrip("/")
                return f"{root}/{path}" if path else root
            return source
        raise InvalidArgument(
            f"Model version {mv.name!r} {mv.version}: its source {mv.source!r} refers to "
            f"other versions more than {MAX_SOURCE_HOPS} times"
        )


def endpoints(registry: RegistryService, tracking: TrackingService) -> list[Endpoint]:
    """The registry endpoints, served by ``registry`` (and ``tracking`` for logged models)."""
    sources = VersionSources(registry, tracking)

    # -- registered models -------------------------------------------------

    def create_model(f: JsonDict) -> JsonDict:
        model = registry.create_registered_model(
            f["name"],
            description=f.get("description"),
            tags=_tags(f.get("tags")),
            actor=actor(),
        )
        return {"registered_model": registered_model_json(model)}

    def get_model(f: JsonDict) -> JsonDict:
        return {"registered_model": registered_model_json(registry.get_registered_model(f["name"]))}

    def rename_model(f: JsonDict) -> JsonDict:
        model = registry.rename_registered_model(f["name"], f["new_name"], actor=actor())
        return {"registered_model": registered_model_json(model)}

    def update_model(f: JsonDict) -> JsonDict:
        model = registry.update_registered_model(
            f["name"], description=f.get("description"), actor=actor()
        )
        return {"registered_model": registered_model_json(model)}

    def delete_model(f: JsonDict) -> None:
        registry.delete_registered_model(f["name"], actor=actor())

    def search_models(f: JsonDict) -> JsonDict:
        page = registry.search_registered_models(
            filter_string=f.get("filter"),
            order_by=f.get("order_by"),
            max_results=f.get("max_results"),
            page_token=f.get("page_token"),
        )
        return page_json(
            "registered_models",
            [registered_model_json(m) for m in page.items],
            page.next_page_token,
        )

    def get_latest_versions(f: JsonDict) -> JsonDict:
        stages = canonical_stages(f.get("stages", ()))
        model = registry.get_registered_model(f["name"])
        return {
            "model_versions": [
                model_version_json(mv) for mv in model.latest_versions if mv.current_stage in stages
            ]
        }

    def set_model_tag(f: JsonDict) -> None:
        registry.set_registered_model_tag(f["name"], f["key"], f.get("value", ""), actor=actor())

    def delete_model_tag(f: JsonDict) -> None:
        registry.delete_registered_model_tag(f["name"], f["key"], actor=actor())

    # -- aliases -----------------------------------------------------------

    def set_alias(f: JsonDict) -> None:
        registry.set_alias(f["name"], f["alias"], f["version"], actor=actor())

    def delete_alias(f: JsonDict) -> None:
        registry.delete_alias(f["name"], f["alias"], actor=actor())

    def get_by_alias(f: JsonDict) -> JsonDict:
        return {
            "model_version": model_version_json(
                registry.get_version_by_alias(f["name"], f["alias"])
            )
        }

    # -- versions ----------------------------------------------------------

    def create_version(f: JsonDict) -> JsonDict:
        source: str = f["source"]
        run_id, model_id = sources.provenance(
            source, run_id=f.get("run_id") or None, model_id=f.get("model_id") or None
        )
        mv = registry.create_model_version(
            f["name"],
            source,
            run_id=run_id,
            run_link=f.get("run_link"),
            model_id=model_id,
            description=f.get("description"),
            tags=_tags(f.get("tags")),
            actor=actor(),
        )
        return {"model_version": model_version_json(mv)}

    def get_version(f: JsonDict) -> JsonDict:
        return {
            "model_version": model_version_json(registry.get_model_version(f["name"], f["version"]))
        }

    def update_version(f: JsonDict) -> JsonDict:
        mv = registry.update_model_version(
            f["name"], f["version"], description=f.get("description"), actor=actor()
        )
        return {"model_version": model_version_json(mv)}

    def transition_stage(f: JsonDict) -> JsonDict:
        mv = registry.transition_stage(
            f["name"],
            f["version"],
            f["stage"],
            archive_existing_versions=f.get("archive_existing_versions", False),
            actor=actor(),
        )
        return {"model_version": model_version_json(mv)}

    def delete_version(f: JsonDict) -> None:
        registry.delete_model_version(f["name"], f["version"], actor=actor())

    def search_versions(f: JsonDict) -> JsonDict:
        page = registry.search_model_versions(
            filter_string=f.get("filter"),
            order_by=f.get("order_by"),
            max_results=f.get("max_results"),
            page_token=f.get("page_token"),
        )
        return page_json(
            "model_versions", [model_version_json(mv) for mv in page.items], page.next_page_token
        )

    def download_uri(f: JsonDict) -> JsonDict:
        mv = registry.get_model_version(f["name"], f["version"])
        return {"artifact_uri": sources.location(mv)}

    def set_version_tag(f: JsonDict) -> None:
        registry.set_model_version_tag(
            f["name"], f["version"], f["key"], f.get("value", ""), actor=actor()
        )

    def delete_version_tag(f: JsonDict) -> None:
        registry.delete_model_version_tag(f["name"], f["version"], f["key"], actor=actor())

    models, versions = "registered-models", "model-versions"
    return [
        Endpoint("POST", f"{models}/create", CREATE_MODEL, create_model),
        Endpoint("GET", f"{models}/get", MODEL_BY_NAME, get_model),
        Endpoint("POST", f"{models}/rename", RENAME_MODEL, rename_model),
        Endpoint("PATCH", f"{models}/update", UPDATE_MODEL, update_model),
        Endpoint("DELETE", f"{models}/delete", MODEL_BY_NAME, delete_model),
        Endpoint("GET", f"{models}/search", SEARCH, search_models, Work.HEAVY),
        Endpoint("POST", f"{models}/get-latest-versions", GET_LATEST, get_latest_versions),
        Endpoint("GET", f"{models}/get-latest-versions", GET_LATEST, get_latest_versions),
        Endpoint("POST", f"{models}/set-tag", SET_MODEL_TAG, set_model_tag),
        Endpoint("DELETE", f"{models}/delete-tag", DELETE_MODEL_TAG, delete_model_tag),
        Endpoint("POST", f"{models}/alias", SET_ALIAS, set_alias),
        Endpoint("DELETE", f"{models}/alias", ALIAS, delete_alias),
        Endpoint("GET", f"{models}/alias", ALIAS, get_by_alias),
        Endpoint("POST", f"{versions}/create", CREATE_VERSION, create_version),
        Endpoint("GET", f"{versions}/get", VERSION, get_version),
        Endpoint("PATCH", f"{versions}/update", UPDATE_VERSION, update_version),
        Endpoint("POST", f"{versions}/transition-stage", TRANSITION, transition_stage),
        Endpoint("DELETE", f"{versions}/delete", VERSION, delete_version),
        Endpoint("GET", f"{versions}/search", SEARCH, search_versions, Work.HEAVY),
        Endpoint("GET", f"{versions}/get-download-uri", VERSION, download_uri),
        Endpoint("POST", f"{versions}/set-tag", SET_VERSION_TAG, set_version_tag),
        Endpoint("DELETE", f"{versions}/delete-tag", DELETE_VERSION_TAG, delete_version_tag),
    ]
