"""``/mlflow/runs/...`` and ``/mlflow/metrics/...``: runs, their data, search, histories."""

from __future__ import annotations

from moorline.errors import NotImplementedFeature
from moorline.server.mlflow.dispatch import Endpoint, Work
from moorline.server.mlflow.wire import (
    KEY_VALUE,
    RUN_STATUS,
    RUN_STATUS_NUMBERS,
    VIEW_TYPE,
    VIEW_TYPE_NUMBERS,
    JsonDict,
    Message,
    double,
    enum,
    int32,
    int64,
    metric_history_json,
    metric_json,
    metrics,
    nested,
    page_json,
    params_of,
    run_id_of,
    run_info_json,
    run_json,
    string,
    tags_of,
)
from moorline.tracking.models import (
    Dataset,
    DatasetInput,
    LoggedModelId,
    ModelOutput,
    ViewType,
)
from moorline.tracking.service import TrackingService

CREATE = Message(
    "CreateRun",
    string("experiment_id", required=True),
    string("user_id"),
    string("run_name"),
    int64("start_time"),
    nested("tags", KEY_VALUE, repeated=True),
)
GET = Message("GetRun", string("run_id"), string("run_uuid"))
UPDATE = Message(
    "UpdateRun",
    string("run_id"),
    string("run_uuid"),
    enum("status", RUN_STATUS, RUN_STATUS_NUMBERS),
    int64("end_time"),
    string("run_name"),
)
BY_ID = Message("RunById", string("run_id", required=True))
LOG_METRIC = Message(
    "LogMetric",
    string("run_id"),
    string("run_uuid"),
    string("key", required=True),
    double("value", required=True),
    int64("timestamp", required=True),
    int64("step"),
    string("model_id"),
    string("dataset_name"),
    string("dataset_digest"),
)
LOG_PARAM = Message(
    "LogParam", string("run_id"), string("run_uuid"), string("key", required=True), string("value")
)
SET_TAG = Message(
    "SetTag", string("run_id"), string("run_uuid"), string("key", required=True), string("value")
)
DELETE_TAG = Message("DeleteTag", string("run_id", required=True), string("key", required=True))
LOG_BATCH = Message(
    "LogBatch",
    string("run_id", required=True),
    metrics("metrics"),
    nested("params", KEY_VALUE, repeated=True),
    nested("tags", KEY_VALUE, repeated=True),
)
DATASET = Message(
    "Dataset",
    string("name"),
    string("digest"),
    string("source_type"),
    string("source"),
    string("schema"),
    string("profile"),
)
DATASET_INPUT = Message(
    "DatasetInput", nested("tags", KEY_VALUE, repeated=True), nested("dataset", DATASET)
)
MODEL_INPUT = Message("ModelInput", string("model_id", required=True))
MODEL_OUTPUT = Message("ModelOutput", string("model_id", required=True), int64("step"))
LOG_INPUTS = Message(
    "LogInputs",
    string("run_id", required=True),
    nested("datasets", DATASET_INPUT, repeated=True),
    nested("models", MODEL_INPUT, repeated=True),
)
LOG_OUTPUTS = Message(
    "LogOutputs",
    string("run_id", required=True),
    nested("models", MODEL_OUTPUT, repeated=True),
)
SEARCH = Message(
    "SearchRuns",
    string("experiment_ids", repeated=True),
    string("filter"),
    enum("run_view_type", VIEW_TYPE, VIEW_TYPE_NUMBERS),
    int32("max_results"),
    string("order_by", repeated=True),
    string("page_token"),
)
GET_HISTORY = Message(
    "GetMetricHistory",
    string("run_id"),
    string("run_uuid"),
    string("metric_key", required=True),
    string("page_token"),
    int32("max_results"),
)
GET_HISTORY_BULK_INTERVAL = Message(
    "GetMetricHistoryBulkInterval",
    string("run_ids", repeated=True),
    string("metric_key", required=True),
    int32("start_step"),
    int32("end_step"),
    int32("max_results"),
)


def _dataset_input(d: JsonDict) -> DatasetInput:
    ds = d.get("dataset") or {}
    return DatasetInput(
        dataset=Dataset(
            name=ds.get("name", ""),
            digest=ds.get("digest", ""),
            source_type=ds.get("source_type", ""),
            source=ds.get("source", ""),
            schema=ds.get("schema"),
            profile=ds.get("profile"),
        ),
        tags={t.get("key", ""): t.get("value", "") for t in d.get("tags", ())},
    )


def endpoints(tracking: TrackingService) -> list[Endpoint]:
    """The run and metric endpoints, served by ``tracking``."""

    def create(f: JsonDict) -> JsonDict:
        run = tracking.create_run(
            f["experiment_id"],
            user_id=f.get("user_id", ""),
            run_name=f.get("run_name") or None,
            start_time=f.get("start_time"),
            tags=tags_of(f.get("tags")),
        )
        return {"run": run_json(run)}

    def get(f: JsonDict) -> JsonDict:
        return {"run": run_json(tracking.get_run(run_id_of(f)))}

    def update(f: JsonDict) -> JsonDict:
        info = tracking.update_run(
            run_id_of(f),
            status=f.get("status"),
            end_time=f.get("end_time"),
            run_name=f.get("run_name"),
        )
        return {"run_info": run_info_json(info)}

    def delete(f: JsonDict) -> None:
        tracking.delete_run(f["run_id"])

    def restore(f: JsonDict) -> None:
        tracking.restore_run(f["run_id"])

    def log_metric(f: JsonDict) -> None:
        tracking.log_metric(
            run_id_of(f),
            f["key"],
            f["value"],
            timestamp=f["timestamp"],
            step=f.get("step"),
            model_id=f.get("model_id"),
            dataset_name=f.get("dataset_name"),
            dataset_digest=f.get("dataset_digest"),
        )

    def log_param(f: JsonDict) -> None:
        tracking.log_param(run_id_of(f), f["key"], f.get("value", ""))

    def set_tag(f: JsonDict) -> None:
        tracking.set_tag(run_id_of(f), f["key"], f.get("value", ""))

    def delete_tag(f: JsonDict) -> None:
        tracking.delete_tag(f["run_id"], f["key"])

    def log_batch(f: JsonDict) -> None:
        tracking.log_batch(
            f["run_id"],
            metrics=f.get("metrics", ()),
            params=params_of(f.get("params")),
            tags=tags_of(f.get("tags")),
        )

    def log_inputs(f: JsonDict) -> None:
        tracking.log_inputs(
            f["run_id"],
            datasets=[_dataset_input(d) for d in f.get("datasets", ())],
            model_ids=[m["model_id"] for m in f.get("models", ())],
        )

    def log_outputs(f: JsonDict) -> None:
        tracking.log_outputs(
            f["run_id"],
            [
                ModelOutput(model_id=LoggedModelId(m["model_id"]), step=m.get("step", 0))
                for m in f.get("models", ())
            ],
        )

    def search(f: JsonDict) -> JsonDict:
        page = tracking.search_runs(
            f.get("experiment_ids", ()),
            filter_string=f.get("filter"),
            order_by=f.get("order_by"),
            view_type=f.get("run_view_type", ViewType.ACTIVE_ONLY),
            max_results=f.get("max_results"),
            page_token=f.get("page_token"),
        )
        return page_json("runs", [run_json(r) for r in page.items], page.next_page_token)

    def get_history(f: JsonDict) -> JsonDict:
        page = tracking.get_metric_history(
            run_id_of(f),
            f["metric_key"],
            max_results=f.get("max_results"),
            page_token=f.get("page_token"),
        )
        return page_json("metrics", metric_history_json(page.items), page.next_page_token)

    def get_history_bulk_interval(f: JsonDict) -> JsonDict:
        if "start_step" in f or "end_step" in f:
            raise NotImplementedFeature(
                "get-history-bulk-interval does not support start_step / end_step yet"
            )
        points = tracking.get_metric_history_bulk(
            f.get("run_ids", ()), f["metric_key"], max_points_per_run=f.get("max_results")
        )
        return {"metrics": [metric_json(m) for m in points]}

    return [
        Endpoint("POST", "runs/create", CREATE, create),
        Endpoint("GET", "runs/get", GET, get),
        Endpoint("POST", "runs/update", UPDATE, update),
        Endpoint("POST", "runs/delete", BY_ID, delete),
        Endpoint("POST", "runs/restore", BY_ID, restore),
        Endpoint("POST", "runs/log-metric", LOG_METRIC, log_metric),
        Endpoint("POST", "runs/log-parameter", LOG_PARAM, log_param),
        Endpoint("POST", "runs/set-tag", SET_TAG, set_tag),
        Endpoint("POST", "runs/delete-tag", DELETE_TAG, delete_tag),
        Endpoint("POST", "runs/log-batch", LOG_BATCH, log_batch),
        Endpoint("POST", "runs/log-inputs", LOG_INPUTS, log_inputs),
        Endpoint("POST", "runs/outputs", LOG_OUTPUTS, log_outputs),
        Endpoint("POST", "runs/search", SEARCH, search, Work.HEAVY),
        Endpoint("GET", "metrics/get-history", GET_HISTORY, get_history, Work.HEAVY),
        Endpoint(
            "GET",
            "metrics/get-history-bulk-interval",
            GET_HISTORY_BULK_INTERVAL,
            get_history_bulk_interval,
            Work.HEAVY,
        ),
    ]
