"""``/experiments``: create, read, search, rename, delete, restore, tag."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from moorline.errors import NotFound
from moorline.schemas import tracking as s
from moorline.server.api._http import ChangeTime, errors, json_response, no_content
from moorline.tracking.models import ViewType
from moorline.tracking.service import TrackingService


def router(tracking: TrackingService) -> APIRouter:
    api = APIRouter(prefix="/experiments", tags=["experiments"])

    @api.post(
        "",
        status_code=201,
        response_model=s.ExperimentCreated,
        responses=errors(413),
        summary="Create an experiment",
    )
    def create_experiment(body: s.CreateExperiment) -> Response:
        """A duplicate name, even of a deleted experiment, is a 400 RESOURCE_ALREADY_EXISTS."""
        experiment_id = tracking.create_experiment(
            body.name,
            artifact_location=body.artifact_location,
            tags=[t.to_domain() for t in body.tags],
            now=body.creation_time,
        )
        return json_response(s.ExperimentCreated(experiment_id=experiment_id), 201)

    @api.get(
        "",
        response_model=s.ExperimentPage,
        responses=errors(),
        summary="Search experiments",
    )
    def search_experiments(
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        filter: Annotated[str | None, Query(description="e.g. \"name LIKE 'churn%'\"")] = None,
        order_by: Annotated[list[str], Query(description="e.g. 'creation_time DESC'")] = [],  # noqa: B006
        max_results: Annotated[int | None, Query(ge=1)] = None,
        page_token: str | None = None,
    ) -> Response:
        """Default order: newest first."""
        page = tracking.search_experiments(
            view_type=view_type,
            filter_string=filter,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
        )
        return json_response(
            s.ExperimentPage(
                items=[s.Experiment.from_domain(e) for e in page.items],
                next_page_token=page.next_page_token,
            )
        )

    @api.get(
        "/by-name",
        response_model=s.Experiment,
        responses=errors(404),
        summary="Get an experiment by name",
    )
    def get_experiment_by_name(name: Annotated[str, Query(min_length=1)]) -> Response:
        experiment = tracking.get_experiment_by_name(name)
        if experiment is None:
            raise NotFound(f"No experiment named {name!r}")
        return json_response(s.Experiment.from_domain(experiment))

    @api.get(
        "/{experiment_id}",
        response_model=s.Experiment,
        responses=errors(404),
        summary="Get an experiment",
    )
    def get_experiment(experiment_id: str) -> Response:
        return json_response(s.Experiment.from_domain(tracking.get_experiment(experiment_id)))

    @api.patch(
        "/{experiment_id}",
        status_code=204,
        responses=errors(404, 413),
        summary="Rename an experiment",
    )
    def rename_experiment(experiment_id: str, body: s.UpdateExperiment) -> Response:
        tracking.rename_experiment(experiment_id, body.name, now=body.last_update_time)
        return no_content()

    @api.delete(
        "/{experiment_id}",
        status_code=204,
        responses=errors(404),
        summary="Delete an experiment (soft: its runs go with it and can be restored)",
    )
    def delete_experiment(experiment_id: str, last_update_time: ChangeTime = None) -> Response:
        tracking.delete_experiment(experiment_id, now=last_update_time)
        return no_content()

    @api.post(
        "/{experiment_id}/restore",
        status_code=204,
        responses=errors(404),
        summary="Restore a deleted experiment",
    )
    def restore_experiment(experiment_id: str, last_update_time: ChangeTime = None) -> Response:
        tracking.restore_experiment(experiment_id, now=last_update_time)
        return no_content()

    @api.put(
        "/{experiment_id}/tags/{key:path}",
        status_code=204,
        responses=errors(404, 413),
        summary="Set an experiment tag",
    )
    def set_experiment_tag(experiment_id: str, key: str, body: s.SetTag) -> Response:
        tracking.set_experiment_tag(experiment_id, key, body.value)
        return no_content()

    @api.delete(
        "/{experiment_id}/tags/{key:path}",
        status_code=204,
        responses=errors(404),
        summary="Delete an experiment tag",
    )
    def delete_experiment_tag(experiment_id: str, key: str) -> Response:
        tracking.delete_experiment_tag(experiment_id, key)
        return no_content()

    return api
