"""The tracking, token and blob ports over moorline's HTTP API.

Each port method is one call to ``/api/v1`` (see ``moorline.server.api``),
built and parsed with the schemas the server uses (``moorline.schemas``).
Errors come back as the same :mod:`moorline.errors` classes a local store
raises, so a :class:`~moorline.tracking.service.TrackingService` over
:class:`RestTrackingStore` behaves like one over a SQL store.

The ``now`` arguments of the ports travel with the calls, so a server records
the times a local store would have (the SDK's clock, not the server's).

>>> from moorline.store.rest.client import RestClient
>>> store = RestTrackingStore(RestClient("http://127.0.0.1:5000"))  # doctest: +SKIP
>>> store.get_experiment(ExperimentId("0")).name  # doctest: +SKIP
'Default'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

from moorline.auth.models import ApiToken, TokenId
from moorline.auth.ports import TokenStore
from moorline.core.blobs import CHUNK_SIZE, BlobInfo, BlobStore
from moorline.core.paging import Page
from moorline.errors import EndpointNotFound, NotFound
from moorline.schemas import artifacts as sa
from moorline.schemas import auth as sauth
from moorline.schemas import tracking as s
from moorline.store.rest._search import format_filter, format_order_by
from moorline.store.rest.client import RestClient, quote_path, quote_segment
from moorline.tracking.models import (
    DatasetInput,
    Experiment,
    ExperimentId,
    LifecycleStage,
    LoggedModel,
    LoggedModelId,
    LoggedModelStatus,
    Metric,
    ModelOutput,
    Param,
    Run,
    RunId,
    RunInfo,
    RunStatus,
    Tag,
    ViewType,
)
from moorline.tracking.ports import TrackingStore
from moorline.tracking.search import Clause, OrderKey


def _is_missing(exc: NotFound) -> bool:
    """A resource that does not exist, as opposed to an endpoint the server lacks."""
    return not isinstance(exc, EndpointNotFound)


class RestTrackingStore(TrackingStore):
    """Experiments, runs and logged models kept by a moorline server."""

    def __init__(self, client: RestClient) -> None:
        self._client = client

    # -- experiments -------------------------------------------------------------

    def create_experiment(
        self, *, name: str, artifact_location: str | None, tags: Sequence[Tag], now: int
    ) -> ExperimentId:
        body = s.CreateExperiment(
            name=name,
            artifact_location=artifact_location,
            tags=[s.Tag.from_domain(t) for t in tags],
            creation_time=now,
        )
        created = self._client.call_json("POST", "/experiments", s.ExperimentCreated, body=body)
        return ExperimentId(created.experiment_id)

    def get_experiment(self, experiment_id: ExperimentId) -> Experiment:
        return self._client.call_json("GET", _experiment(experiment_id), s.Experiment).to_domain()

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            found = self._client.call_json(
                "GET", "/experiments/by-name", s.Experiment, params={"name": name}
            )
        except NotFound as exc:
            if _is_missing(exc):
                return None
            raise
        return found.to_domain()

    def search_experiments(
        self,
        *,
        view_type: ViewType,
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[Experiment]:
        params: dict[str, str | int | Sequence[str]] = {
            "view_type": view_type.value,
            "order_by": format_order_by(order_by),
            "max_results": max_results,
        }
        text = format_filter(filter_clauses)
        if text is not None:
            params["filter"] = text
        if page_token:
            params["page_token"] = page_token
        page = self._client.call_json("GET", "/experiments", s.ExperimentPage, params=params)
        return Page(
            items=tuple(e.to_domain() for e in page.items), next_page_token=page.next_page_token
        )

    def rename_experiment(self, experiment_id: ExperimentId, new_name: str, *, now: int) -> None:
        self._client.call(
            "PATCH",
            _experiment(experiment_id),
            body=s.UpdateExperiment(name=new_name, last_update_time=now),
            idempotent=True,
        )

    def set_experiment_lifecycle(
        self, experiment_id: ExperimentId, stage: LifecycleStage, *, now: int
    ) -> None:
        path = _experiment(experiment_id)
        params = {"last_update_time": now}
        if stage == LifecycleStage.DELETED:
            self._client.call("DELETE", path, params=params)
        else:
            self._client.call("POST", f"{path}/restore", params=params, idempotent=True)

    def set_experiment_tag(self, experiment_id: ExperimentId, tag: Tag) -> None:
        self._client.call(
            "PUT",
            f"{_experiment(experiment_id)}/tags/{quote_segment(tag.key)}",
            body=s.SetTag(value=tag.value),
        )

    def delete_experiment_tag(self, experiment_id: ExperimentId, key: str) -> None:
        self._client.call("DELETE", f"{_experiment(experiment_id)}/tags/{quote_segment(key)}")

    # -- runs ----------------------------------------------------------------------

    def create_run(
        self,
        *,
        experiment_id: ExperimentId,
        user_id: str,
        run_name: str,
        start_time: int,
        tags: Sequence[Tag],
    ) -> Run:
        body = s.CreateRun(
            experiment_id=experiment_id,
            user_id=user_id,
            run_name=run_name,
            start_time=start_time,
            tags=[s.Tag.from_domain(t) for t in tags],
        )
        return self._client.call_json("POST", "/runs", s.Run, body=body).to_domain()

    def get_run(self, run_id: RunId) -> Run:
        return self._client.call_json("GET", _run(run_id), s.Run).to_domain()

    def update_run_info(
        self,
        run_id: RunId,
        *,
        status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        body = s.UpdateRun(status=status, end_time=end_time, run_name=run_name)
        info = self._client.call_json("PATCH", _run(run_id), s.RunInfo, body=body, idempotent=True)
        return info.to_domain()

    def set_run_lifecycle(self, run_id: RunId, stage: LifecycleStage) -> None:
        if stage == LifecycleStage.DELETED:
            self._client.call("DELETE", _run(run_id))
        else:
            self._client.call("POST", f"{_run(run_id)}/restore", idempotent=True)

    def log_batch(
        self,
        run_id: RunId,
        *,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[Tag],
    ) -> None:
        body = s.LogBatch(
            metrics=[s.Metric.from_domain(x) for x in metrics],
            params=[s.Param.from_domain(x) for x in params],
            tags=[s.Tag.from_domain(x) for x in tags],
        )
        # Not idempotent: a repeated batch would append its metric points twice.
        self._client.call("POST", f"{_run(run_id)}/batch", body=body)

    def delete_tag(self, run_id: RunId, key: str) -> None:
        self._client.call("DELETE", f"{_run(run_id)}/tags/{quote_segment(key)}")

    def log_inputs(
        self,
        run_id: RunId,
        *,
        datasets: Sequence[DatasetInput],
        model_ids: Sequence[LoggedModelId],
    ) -> None:
        body = s.LogInputs(
            datasets=[s.DatasetInput.from_domain(d) for d in datasets],
            model_ids=list(model_ids),
        )
        # Inputs link once per run, so sending them twice changes nothing.
        self._client.call("POST", f"{_run(run_id)}/inputs", body=body, idempotent=True)

    def log_outputs(self, run_id: RunId, *, models: Sequence[ModelOutput]) -> None:
        body = s.LogOutputs(models=[s.ModelOutput.from_domain(x) for x in models])
        self._client.call("POST", f"{_run(run_id)}/outputs", body=body)

    def search_runs(
        self,
        *,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        view_type: ViewType,
        max_results: int,
        page_token: str | None,
    ) -> Page[Run]:
        body = s.SearchRuns(
            experiment_ids=list(experiment_ids),
            filter=format_filter(filter_clauses),
            order_by=format_order_by(order_by),
            view_type=view_type,
            max_results=max_results,
            page_token=page_token,
        )
        page = self._client.call_json("POST", "/runs/search", s.RunPage, body=body, idempotent=True)
        return Page(
            items=tuple(r.to_domain() for r in page.items), next_page_token=page.next_page_token
        )

    def count_runs(
        self,
        *,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        view_type: ViewType,
    ) -> int:
        body = s.CountRuns(
            experiment_ids=list(experiment_ids),
            filter=format_filter(filter_clauses),
            view_type=view_type,
        )
        return self._client.call_json(
            "POST", "/runs/count", s.RunCount, body=body, idempotent=True
        ).count

    def get_metric_history(
        self, run_id: RunId, key: str, *, max_results: int | None, page_token: str | None
    ) -> Page[Metric]:
        params: dict[str, str | int | Sequence[str]] = {}
        if max_results is not None:
            params["max_results"] = max_results
        if page_token:
            params["page_token"] = page_token
        page = self._client.call_json(
            "GET",
            f"{_run(run_id)}/metrics/{quote_segment(key)}/history",
            s.MetricPage,
            params=params,
        )
        return Page(
            items=tuple(x.to_domain() for x in page.items), next_page_token=page.next_page_token
        )

    def get_metric_history_bulk(
        self, run_ids: Sequence[RunId], key: str, *, max_points_per_run: int
    ) -> list[Metric]:
        if not run_ids:
            return []  # what a store answers; the API insists on at least one run
        body = s.MetricHistoryBulk(
            run_ids=list(run_ids), key=key, max_points_per_run=max_points_per_run
        )
        found = self._client.call_json(
            "POST", "/metrics/history", s.MetricList, body=body, idempotent=True
        )
        return [x.to_domain() for x in found.items]

    def metric_keys(self, experiment_ids: Sequence[ExperimentId]) -> list[str]:
        params = {"experiment_ids": list(experiment_ids)}
        return self._client.call_json("GET", "/metric-keys", s.KeyList, params=params).keys

    def param_keys(self, experiment_ids: Sequence[ExperimentId]) -> list[str]:
        params = {"experiment_ids": list(experiment_ids)}
        return self._client.call_json("GET", "/param-keys", s.KeyList, params=params).keys

    # -- logged models ---------------------------------------------------------------

    def create_logged_model(
        self,
        *,
        experiment_id: ExperimentId,
        name: str,
        model_type: str | None,
        source_run_id: RunId | None,
        params: Sequence[Param],
        tags: Sequence[Tag],
        creator_id: str | None,
        now: int,
    ) -> LoggedModel:
        body = s.CreateLoggedModel(
            experiment_id=experiment_id,
            name=name,
            model_type=model_type,
            source_run_id=source_run_id,
            params=[s.Param.from_domain(p) for p in params],
            tags=[s.Tag.from_domain(t) for t in tags],
            creator_id=creator_id,
            creation_timestamp_ms=now,
        )
        return self._client.call_json(
            "POST", "/logged-models", s.LoggedModel, body=body
        ).to_domain()

    def get_logged_model(
        self, model_id: LoggedModelId, *, allow_deleted: bool = False
    ) -> LoggedModel:
        params = {"allow_deleted": allow_deleted}
        found = self._client.call_json("GET", _model(model_id), s.LoggedModel, params=params)
        return found.to_domain()

    def update_logged_model(
        self,
        model_id: LoggedModelId,
        *,
        status: LoggedModelStatus,
        status_message: str | None,
        now: int,
    ) -> LoggedModel:
        body = s.UpdateLoggedModel(
            status=status, status_message=status_message, last_updated_timestamp_ms=now
        )
        found = self._client.call_json(
            "PATCH", _model(model_id), s.LoggedModel, body=body, idempotent=True
        )
        return found.to_domain()

    def log_logged_model_params(self, model_id: LoggedModelId, params: Sequence[Param]) -> None:
        body = s.LogLoggedModelParams(params=[s.Param.from_domain(p) for p in params])
        self._client.call("POST", f"{_model(model_id)}/params", body=body)

    def set_logged_model_tags(
        self, model_id: LoggedModelId, tags: Sequence[Tag], *, now: int
    ) -> None:
        body = s.SetLoggedModelTags(
            tags=[s.Tag.from_domain(t) for t in tags], last_updated_timestamp_ms=now
        )
        self._client.call("PATCH", f"{_model(model_id)}/tags", body=body, idempotent=True)

    def delete_logged_model_tag(self, model_id: LoggedModelId, key: str) -> None:
        self._client.call("DELETE", f"{_model(model_id)}/tags/{quote_segment(key)}")

    def delete_logged_model(self, model_id: LoggedModelId, *, now: int) -> None:
        self._client.call("DELETE", _model(model_id), params={"last_updated_timestamp_ms": now})

    def search_logged_models(
        self,
        *,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[LoggedModel]:
        body = s.SearchLoggedModels(
            experiment_ids=list(experiment_ids),
            filter=format_filter(filter_clauses),
            order_by=format_order_by(order_by),
            max_results=max_results,
            page_token=page_token,
        )
        page = self._client.call_json(
            "POST", "/logged-models/search", s.LoggedModelPage, body=body, idempotent=True
        )
        return Page(
            items=tuple(x.to_domain() for x in page.items), next_page_token=page.next_page_token
        )


class RestTokenStore(TokenStore):
    """API tokens kept by a moorline server; every call needs an admin token there."""

    def __init__(self, client: RestClient) -> None:
        self._client = client

    def add_token(self, token: ApiToken) -> None:
        self._client.call("POST", "/tokens", body=sauth.AddToken.from_domain(token))

    def get_token(self, token_id: TokenId) -> ApiToken | None:
        try:
            path = _id("/tokens", token_id, "API token")
            found = self._client.call_json("GET", path, sauth.Token)
        except NotFound as exc:
            if _is_missing(exc):
                return None
            raise
        return found.to_domain()

    def list_tokens(self) -> list[ApiToken]:
        found = self._client.call_json("GET", "/tokens", sauth.TokenList)
        return [t.to_domain() for t in found.items]

    def revoke_token(self, token_id: TokenId, *, now: int) -> None:
        self._client.call(
            "POST",
            f"{_id('/tokens', token_id, 'API token')}/revoke",
            params={"revoked_at": now},
            idempotent=True,
        )


class RestArtifactBlobs(BlobStore):
    """Artifact bytes kept by a moorline server, streamed both ways.

    Keys are relative to the server's artifact root, exactly as with a
    local :class:`~moorline.core.blobs.BlobStore`.
    """

    def __init__(self, client: RestClient) -> None:
        self._client = client
        self.root_uri = f"{client.api_url}/artifacts"

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        # A one-shot iterable cannot be sent twice, so it is never retried.
        response = self._client.upload(_blob(key), lambda: chunks, replayable=False)
        return sa.ArtifactWritten.model_validate_json(response.content).size

    def put_file(self, key: str, fileobj: BinaryIO) -> int:
        seekable = fileobj.seekable()
        start = fileobj.tell() if seekable else 0

        def chunks() -> Iterator[bytes]:
            if seekable:
                fileobj.seek(start)
            while chunk := fileobj.read(CHUNK_SIZE):
                yield chunk

        response = self._client.upload(_blob(key), chunks, replayable=seekable)
        return sa.ArtifactWritten.model_validate_json(response.content).size

    def open_stream(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        return self._client.download(_blob(key), chunk_size)

    def size(self, key: str) -> int | None:
        response = self._client.head(_blob(key))
        if response is None:
            return None
        length = response.headers.get("content-length")
        return int(length) if length is not None else None

    def is_dir(self, key: str) -> bool:
        return bool(self.list(key))

    def list(self, prefix: str) -> list[BlobInfo]:
        found = self._client.call_json(
            "GET", "/artifacts", sa.ArtifactListing, params={"path": prefix}
        )
        return [e.to_domain() for e in found.items]

    def delete(self, key: str) -> None:
        self._client.call("DELETE", _blob(key))


def _id(collection: str, value: str, noun: str) -> str:
    """The path of one resource. An empty id cannot be a path segment, and a store
    has nothing under it: NotFound, as a local store answers."""
    if not value:
        raise NotFound(f"No {noun} with id ''")
    return f"{collection}/{quote_segment(value)}"


def _experiment(experiment_id: str) -> str:
    return _id("/experiments", experiment_id, "experiment")


def _run(run_id: str) -> str:
    return _id("/runs", run_id, "run")


def _model(model_id: str) -> str:
    return _id("/logged-models", model_id, "logged model")


def _blob(key: str) -> str:
    return f"/artifacts/{quote_path(key)}"
