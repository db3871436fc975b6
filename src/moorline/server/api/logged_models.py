"""``/logged-models``: models logged by runs, before any registration."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from moorline.schemas import tracking as s
from moorline.server.api._http import ChangeTime, errors, json_response, no_content
from moorline.tracking.service import TrackingService


def router(tracking: TrackingService) -> APIRouter:
    api = APIRouter(prefix="/logged-models", tags=["logged models"])

    @api.post(
        "",
        status_code=201,
        response_model=s.LoggedModel,
        responses=errors(404, 413),
        summary="Create a logged model (status PENDING until finalised)",
    )
    def create_logged_model(body: s.CreateLoggedModel) -> Response:
        model = tracking.create_logged_model(
            body.experiment_id,
            name=body.name,
            model_type=body.model_type,
            source_run_id=body.source_run_id,
            params=[p.to_domain() for p in body.params],
            tags=[t.to_domain() for t in body.tags],
            creator_id=body.creator_id,
            now=body.creation_timestamp_ms,
        )
        return json_response(s.LoggedModel.from_domain(model), 201)

    @api.post(
        "/search",
        response_model=s.LoggedModelPage,
        responses=errors(404, 413),
        summary="Search logged models",
    )
    def search_logged_models(body: s.SearchLoggedModels) -> Response:
        """Active models only; newest first by default."""
        page = tracking.search_logged_models(
            body.experiment_ids,
            filter_string=body.filter,
            order_by=body.order_by,
            max_results=body.max_results,
            page_token=body.page_token,
        )
        return json_response(
            s.LoggedModelPage(
                items=[s.LoggedModel.from_domain(x) for x in page.items],
                next_page_token=page.next_page_token,
            )
        )

    @api.get(
        "/{model_id}",
        response_model=s.LoggedModel,
        responses=errors(404),
        summary="Get a logged model",
    )
    def get_logged_model(model_id: str, allow_deleted: bool = False) -> Response:
        """A deleted model is a 404 unless allow_deleted is true."""
        model = tracking.get_logged_model(model_id, allow_deleted=allow_deleted)
        return json_response(s.LoggedModel.from_domain(model))

    @api.patch(
        "/{model_id}",
        response_model=s.LoggedModel,
        responses=errors(404, 413),
        summary="Finalise a logged model (READY or UPLOAD_FAILED)",
    )
    def finalize_logged_model(model_id: str, body: s.UpdateLoggedModel) -> Response:
        model = tracking.finalize_logged_model(
            model_id,
            body.status,
            status_message=body.status_message,
            now=body.last_updated_timestamp_ms,
        )
        return json_response(s.LoggedModel.from_domain(model))

    @api.delete(
        "/{model_id}",
        status_code=204,
        responses=errors(404),
        summary="Delete a logged model (soft)",
    )
    def delete_logged_model(
        model_id: str,
        last_updated_timestamp_ms: ChangeTime = None,
    ) -> Response:
        tracking.delete_logged_model(model_id, now=last_updated_timestamp_ms)
        return no_content()

    @api.post(
        "/{model_id}/params",
        status_code=204,
        responses=errors(404, 413),
        summary="Log params of a logged model",
    )
    def log_logged_model_params(model_id: str, body: s.LogLoggedModelParams) -> Response:
        tracking.log_logged_model_params(model_id, [p.to_domain() for p in body.params])
        return no_content()

    @api.patch(
        "/{model_id}/tags",
        status_code=204,
        responses=errors(404, 413),
        summary="Set tags of a logged model (others are kept)",
    )
    def set_logged_model_tags(model_id: str, body: s.SetLoggedModelTags) -> Response:
        tracking.set_logged_model_tags(
            model_id, [t.to_domain() for t in body.tags], now=body.last_updated_timestamp_ms
        )
        return no_content()

    @api.delete(
        "/{model_id}/tags/{key:path}",
        status_code=204,
        responses=errors(404),
        summary="Delete a tag of a logged model",
    )
    def delete_logged_model_tag(model_id: str, key: str) -> Response:
        tracking.delete_logged_model_tag(model_id, key)
        return no_content()

    return api
