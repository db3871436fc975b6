"""``/registered-models`` and ``/model-versions``: the model registry.

Every change runs through the server's own
:class:`~moorline.registry.service.RegistryService` with the caller the
server authenticated as the actor (``moorline.server.api._actor``): the audit log
records who the token says, never who a client claims to be. Requests carry
the operation's arguments and a ``reason``; the server builds the audit
entry and events itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from moorline.registry.service import RegistryService
from moorline.schemas import registry as s
from moorline.schemas.tracking import SetTag
from moorline.server.api._actor import request_actor_name
from moorline.server.api._http import errors, json_response, no_content

Reason = Annotated[str, Query(description="Why; kept in the audit log.")]
Filter = Annotated[
    str | None, Query(description="A search filter in MLflow's grammar, e.g. \"name LIKE 'c%'\".")
]
OrderBy = Annotated[list[str], Query(description="Sort keys, e.g. 'last_updated_timestamp DESC'.")]
MaxResults = Annotated[int | None, Query(ge=1, description="Page size; a default when absent.")]


def router(registry: RegistryService) -> APIRouter:
    api = APIRouter(tags=["model registry"])
    models = "/registered-models/{name}"
    versions = models + "/versions/{version}"

    # -- registered models -------------------------------------------------------------

    @api.post(
        "/registered-models",
        status_code=201,
        response_model=s.RegisteredModel,
        responses=errors(413),
        summary="Register a model name",
    )
    def create_registered_model(body: s.CreateRegisteredModel) -> Response:
        """A name already registered is a 400 RESOURCE_ALREADY_EXISTS."""
        model = registry.create_registered_model(
            body.name, description=body.description, tags=body.tags, actor=request_actor_name()
        )
        return json_response(s.RegisteredModel.from_domain(model), 201)

    @api.get(
        "/registered-models",
        response_model=s.RegisteredModelPage,
        responses=errors(),
        summary="Search registered models",
    )
    def search_registered_models(
        filter: Filter = None,
        order_by: OrderBy = [],  # noqa: B006
        max_results: MaxResults = None,
        page_token: str | None = None,
    ) -> Response:
        """Default order: name ascending. Filters on ``name`` and ``tags.<key>``."""
        page = registry.search_registered_models(
            filter_string=filter,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
        )
        return json_response(
            s.RegisteredModelPage(
                items=[s.RegisteredModel.from_domain(x) for x in page.items],
                next_page_token=page.next_page_token,
            )
        )

    @api.get(
        models,
        response_model=s.RegisteredModel,
        responses=errors(404),
        summary="Get a registered model with its tags, aliases and latest versions",
    )
    def get_registered_model(name: str) -> Response:
        return json_response(s.RegisteredModel.from_domain(registry.get_registered_model(name)))

    @api.patch(
        models,
        response_model=s.RegisteredModel,
        responses=errors(404, 413),
        summary="Update a registered model's description",
    )
    def update_registered_model(name: str, body: s.UpdateRegisteredModel) -> Response:
        model = registry.update_registered_model(
            name, description=body.description, actor=request_actor_name()
        )
        return json_response(s.RegisteredModel.from_domain(model))

    @api.post(
        models + "/rename",
        response_model=s.RegisteredModel,
        responses=errors(404, 413),
        summary="Rename a registered model (its versions and aliases follow)",
    )
    def rename_registered_model(name: str, body: s.RenameRegisteredModel) -> Response:
        model = registry.rename_registered_model(name, body.new_name, actor=request_actor_name())
        return json_response(s.RegisteredModel.from_domain(model))

    @api.delete(
        models,
        status_code=204,
        responses=errors(404),
        summary="Delete a registered model with its versions and aliases",
    )
    def delete_registered_model(name: str, reason: Reason = "") -> Response:
        """The audit log keeps the record of the deletion."""
        registry.delete_registered_model(name, actor=request_actor_name(), reason=reason)
        return no_content()

    @api.put(
        models + "/tags/{key:path}",
        status_code=204,
        responses=errors(404, 413),
        summary="Set a registered model tag",
    )
    def set_registered_model_tag(name: str, key: str, body: SetTag) -> Response:
        registry.set_registered_model_tag(name, key, body.value, actor=request_actor_name())
        return no_content()

    @api.delete(
        models + "/tags/{key:path}",
        status_code=204,
        responses=errors(404),
        summary="Delete a registered model tag",
    )
    def delete_registered_model_tag(name: str, key: str) -> Response:
        registry.delete_registered_model_tag(name, key, actor=request_actor_name())
        return no_content()

    # -- versions ----------------------------------------------------------------------

    @api.post(
        models + "/versions",
        status_code=201,
        response_model=s.ModelVersion,
        responses=errors(404, 413),
        summary="Create the next version of a registered model",
    )
    def create_model_version(name: str, body: s.CreateModelVersion) -> Response:
        """Versions are numbered 1, 2, ... and a number is never reused after a delete."""
        mv = registry.create_model_version(
            name,
            body.source,
            run_id=body.run_id,
            run_link=body.run_link,
            model_id=body.model_id,
            description=body.description,
            tags=body.tags,
            actor=request_actor_name(),
        )
        return json_response(s.ModelVersion.from_domain(mv), 201)

    @api.get(
        "/model-versions",
        response_model=s.ModelVersionPage,
        responses=errors(),
        summary="Search model versions",
    )
    def search_model_versions(
        filter: Filter = None,
        order_by: OrderBy = [],  # noqa: B006
        max_results: MaxResults = None,
        page_token: str | None = None,
    ) -> Response:
        """Default order: name ascending, then version descending. Filters on ``name``,
        ``version_number``, ``run_id``, ``source_path`` and ``tags.<key>``."""
        page = registry.search_model_versions(
            filter_string=filter,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
        )
        return json_response(
            s.ModelVersionPage(
                items=[s.ModelVersion.from_domain(x) for x in page.items],
                next_page_token=page.next_page_token,
            )
        )

    @api.get(
        versions,
        response_model=s.ModelVersion,
        responses=errors(404),
        summary="Get a model version with its tags and aliases",
    )
    def get_model_version(name: str, version: str) -> Response:
        return json_response(s.ModelVersion.from_domain(registry.get_model_version(name, version)))

    @api.patch(
        versions,
        response_model=s.ModelVersion,
        responses=errors(404, 413),
        summary="Update a model version's description",
    )
    def update_model_version(name: str, version: str, body: s.UpdateModelVersion) -> Response:
        mv = registry.update_model_version(
            name, version, description=body.description, actor=request_actor_name()
        )
        return json_response(s.ModelVersion.from_domain(mv))

    @api.post(
        versions + "/stage",
        response_model=s.ModelVersion,
        responses=errors(404, 413),
        summary="Move a version to a stage (MLflow's deprecated stages; prefer aliases)",
    )
    def transition_stage(name: str, version: str, body: s.TransitionStage) -> Response:
        mv = registry.transition_stage(
            name,
            version,
            body.stage,
            archive_existing_versions=body.archive_existing_versions,
            actor=request_actor_name(),
            reason=body.reason,
        )
        return json_response(s.ModelVersion.from_domain(mv))

    @api.delete(
        versions,
        status_code=204,
        responses=errors(404),
        summary="Delete a model version and the aliases pointing at it",
    )
    def delete_model_version(name: str, version: str, reason: Reason = "") -> Response:
        registry.delete_model_version(name, version, actor=request_actor_name(), reason=reason)
        return no_content()

    @api.put(
        versions + "/tags/{key:path}",
        status_code=204,
        responses=errors(404, 413),
        summary="Set a model version tag",
    )
    def set_model_version_tag(name: str, version: str, key: str, body: SetTag) -> Response:
        registry.set_model_version_tag(name, version, key, body.value, actor=request_actor_name())
        return no_content()

    @api.delete(
        versions + "/tags/{key:path}",
        status_code=204,
        responses=errors(404),
        summary="Delete a model version tag",
    )
    def delete_model_version_tag(name: str, version: str, key: str) -> Response:
        registry.delete_model_version_tag(name, version, key, actor=request_actor_name())
        return no_content()

    # -- aliases -----------------------------------------------------------------------

    @api.get(
        models + "/aliases",
        response_model=s.AliasList,
        responses=errors(404),
        summary="List a model's aliases, with when and by whom each last moved",
    )
    def list_aliases(name: str) -> Response:
        infos = registry.list_aliases(name)
        return json_response(s.AliasList(items=[s.AliasInfo.from_domain(i) for i in infos]))

    @api.get(
        models + "/aliases/{alias}",
        response_model=s.ModelVersion,
        responses=errors(404),
        summary="Get the version an alias points at",
    )
    def get_version_by_alias(name: str, alias: str) -> Response:
        mv = registry.get_version_by_alias(name, alias)
        return json_response(s.ModelVersion.from_domain(mv))

    @api.put(
        models + "/aliases/{alias}",
        status_code=204,
        responses=errors(404, 409, 413),
        summary="Point an alias at a version (moving it if it exists)",
    )
    def set_alias(name: str, alias: str, body: s.SetAlias) -> Response:
        """A protected alias (see the model's promotion policy) may need an approval
        or a better metric: a refusal is a 403 PERMISSION_DENIED (or 409) saying
        why, and is itself recorded in the audit log."""
        registry.set_alias(
            name, alias, body.version, actor=request_actor_name(), reason=body.reason
        )
        return no_content()

    @api.delete(
        models + "/aliases/{alias}",
        status_code=204,
        responses=errors(404),
        summary="Delete an alias",
    )
    def delete_alias(name: str, alias: str, reason: Reason = "") -> Response:
        registry.delete_alias(name, alias, actor=request_actor_name(), reason=reason)
        return no_content()

    return api
