"""``/runs`` and metric reads: create, read, update, log, search, history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from moorline.schemas import tracking as s
from moorline.server.api._http import errors, json_response, no_content
from moorline.tracking.service import TrackingService

ExperimentIdsQuery = Annotated[
    list[str], Query(description="Experiment ids; repeat the parameter for several.")
]


def router(tracking: TrackingService) -> APIRouter:
    api = APIRouter(tags=["runs"])

    @api.post(
        "/runs",
        status_code=201,
        response_model=s.Run,
        responses=errors(404, 413),
        summary="Create a run",
    )
    def create_run(body: s.CreateRun) -> Response:
        """The run starts RUNNING. A missing experiment is a 404, a deleted one a 400."""
        run = tracking.create_run(
            body.experiment_id,
            user_id=body.user_id,
            run_name=body.run_name,
            start_time=body.start_time,
            tags=[t.to_domain() for t in body.tags],
        )
        return json_response(s.Run.from_domain(run), 201)

    @api.post(
        "/runs/search",
        response_model=s.RunPage,
        responses=errors(404, 413),
        summary="Search runs",
    )
    def search_runs(body: s.SearchRuns) -> Response:
        """Runs of the given experiments matching the filter; newest first by default."""
        page = tracking.search_runs(
            body.experiment_ids,
            filter_string=body.filter,
            order_by=body.order_by,
            view_type=body.view_type,
            max_results=body.max_results,
            page_token=body.page_token,
        )
        return json_response(
            s.RunPage(
                items=[s.Run.from_domain(r) for r in page.items],
                next_page_token=page.next_page_token,
            )
        )

    @api.post(
        "/runs/count",
        response_model=s.RunCount,
        responses=errors(404, 413),
        summary="Count the runs a search would return",
    )
    def count_runs(body: s.CountRuns) -> Response:
        count = tracking.count_runs(
            body.experiment_ids, filter_string=body.filter, view_type=body.view_type
        )
        return json_response(s.RunCount(count=count))

    @api.get("/runs/{run_id}", response_model=s.Run, responses=errors(404), summary="Get a run")
    def get_run(run_id: str) -> Response:
        """Deleted runs are returned too, with lifecycle_stage 'deleted'."""
        return json_response(s.Run.from_domain(tracking.get_run(run_id)))

    @api.patch(
        "/runs/{run_id}",
        response_model=s.RunInfo,
        responses=errors(404, 413),
        summary="Update a run's status, end time or name",
    )
    def update_run(run_id: str, body: s.UpdateRun) -> Response:
        info = tracking.update_run(
            run_id, status=body.status, end_time=body.end_time, run_name=body.run_name
        )
        return json_response(s.RunInfo.from_domain(info))

    @api.delete(
        "/runs/{run_id}",
        status_code=204,
        responses=errors(404),
        summary="Delete a run (soft; it can be restored)",
    )
    def delete_run(run_id: str) -> Response:
        tracking.delete_run(run_id)
        return no_content()

    @api.post(
        "/runs/{run_id}/restore",
        status_code=204,
        responses=errors(404),
        summary="Restore a deleted run",
    )
    def restore_run(run_id: str) -> Response:
        tracking.restore_run(run_id)
        return no_content()

    @api.post(
        "/runs/{run_id}/batch",
        status_code=204,
        responses=errors(404, 413),
        summary="Log metrics, params and tags atomically",
    )
    def log_batch(run_id: str, body: s.LogBatch) -> Response:
        """All or nothing. Re-logging a param with another value is a 400 naming the key."""
        tracking.log_batch(
            run_id,
            metrics=[x.to_domain() for x in body.metrics],
            params=[x.to_domain() for x in body.params],
            tags=[x.to_domain() for x in body.tags],
        )
        return no_content()

    @api.delete(
        "/runs/{run_id}/tags/{key:path}",
        status_code=204,
        responses=errors(404),
        summary="Delete a run tag",
    )
    def delete_run_tag(run_id: str, key: str) -> Response:
        tracking.delete_tag(run_id, key)
        return no_content()

    @api.post(
        "/runs/{run_id}/inputs",
        status_code=204,
        responses=errors(404, 413),
        summary="Link datasets and logged models to a run as inputs",
    )
    def log_inputs(run_id: str, body: s.LogInputs) -> Response:
        tracking.log_inputs(
            run_id,
            datasets=[d.to_domain() for d in body.datasets],
            model_ids=body.model_ids,
        )
        return no_content()

    @api.post(
        "/runs/{run_id}/outputs",
        status_code=204,
        responses=errors(404, 413),
        summary="Link logged models to a run as outputs",
    )
    def log_outputs(run_id: str, body: s.LogOutputs) -> Response:
        tracking.log_outputs(run_id, [x.to_domain() for x in body.models])
        return no_content()

    @api.get(
        "/runs/{run_id}/metrics/{key:path}/history",
        response_model=s.MetricPage,
        responses=errors(404),
        summary="Every logged point of one metric of a run",
    )
    def get_metric_history(
        run_id: str,
        key: str,
        max_results: Annotated[int | None, Query(ge=1)] = None,
        page_token: str | None = None,
    ) -> Response:
        """Ordered by (step, timestamp). Without max_results, every point in one page."""
        page = tracking.get_metric_history(
            run_id, key, max_results=max_results, page_token=page_token
        )
        return json_response(
            s.MetricPage(
                items=[s.Metric.from_domain(x) for x in page.items],
                next_page_token=page.next_page_token,
            )
        )

    @api.post(
        "/metrics/history",
        response_model=s.MetricList,
        responses=errors(404, 413),
        summary="Points of one metric for several runs, downsampled per run",
    )
    def get_metric_history_bulk(body: s.MetricHistoryBulk) -> Response:
        """Each point carries its run_id; first and last points of each run are kept."""
        points = tracking.get_metric_history_bulk(
            body.run_ids, body.key, max_points_per_run=body.max_points_per_run
        )
        return json_response(s.MetricList(items=[s.Metric.from_domain(x) for x in points]))

    @api.get(
        "/metric-keys",
        response_model=s.KeyList,
        responses=errors(404),
        summary="Distinct metric keys in some experiments",
    )
    def metric_keys(experiment_ids: ExperimentIdsQuery = []) -> Response:  # noqa: B006
        return json_response(s.KeyList(keys=tracking.metric_keys(experiment_ids)))

    @api.get(
        "/param-keys",
        response_model=s.KeyList,
        responses=errors(404),
        summary="Distinct param keys in some experiments",
    )
    def param_keys(experiment_ids: ExperimentIdsQuery = []) -> Response:  # noqa: B006
        return json_response(s.KeyList(keys=tracking.param_keys(experiment_ids)))

    return api
