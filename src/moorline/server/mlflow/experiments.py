"""``/mlflow/experiments/...``: create, read, search, rename, delete, restore, tags."""

from __future__ import annotations

from moorline.errors import NotFound
from moorline.server.mlflow.dispatch import Endpoint, Work
from moorline.server.mlflow.wire import (
    KEY_VALUE,
    VIEW_TYPE,
    VIEW_TYPE_NUMBERS,
    JsonDict,
    Message,
    enum,
    experiment_json,
    int64,
    nested,
    page_json,
    string,
    tags_of,
)
from moorline.tracking.models import ViewType
from moorline.tracking.service import TrackingService

CREATE = Message(
    "CreateExperiment",
    string("name", required=True),
    string("artifact_location"),
    nested("tags", KEY_VALUE, repeated=True),
)
GET = Message("GetExperiment", string("experiment_id", required=True))
GET_BY_NAME = Message("GetExperimentByName", string("experiment_name", required=True))
SEARCH = Message(
    "SearchExperiments",
    int64("max_results"),
    string("page_token"),
    string("filter"),
    string("order_by", repeated=True),
    enum("view_type", VIEW_TYPE, VIEW_TYPE_NUMBERS),
)
UPDATE = Message(
    "UpdateExperiment", string("experiment_id", required=True), string("new_name", required=True)
)
BY_ID = Message("ExperimentById", string("experiment_id", required=True))
SET_TAG = Message(
    "SetExperimentTag",
    string("experiment_id", required=True),
    string("key", required=True),
    string("value"),
)
DELETE_TAG = Message(
    "DeleteExperimentTag", string("experiment_id", required=True), string("key", required=True)
)


def endpoints(tracking: TrackingService) -> list[Endpoint]:
    """The experiment endpoints, served by ``tracking``."""

    def create(f: JsonDict) -> JsonDict:
        experiment_id = tracking.create_experiment(
            f["name"], artifact_location=f.get("artifact_location"), tags=tags_of(f.get("tags"))
        )
        return {"experiment_id": experiment_id}

    def get(f: JsonDict) -> JsonDict:
        return {"experiment": experiment_json(tracking.get_experiment(f["experiment_id"]))}

    def get_by_name(f: JsonDict) -> JsonDict:
        name = f["experiment_name"]
        experiment = tracking.get_experiment_by_name(name)
        if experiment is None:
            # The client turns this 404 into None, so set_experiment creates the experiment.
            raise NotFound(f"No experiment named {name!r}")
        return {"experiment": experiment_json(experiment)}

    def search(f: JsonDict) -> JsonDict:
        page = tracking.search_experiments(
            view_type=f.get("view_type", ViewType.ACTIVE_ONLY),
            filter_string=f.get("filter"),
            order_by=f.get("order_by"),
            max_results=f.get("max_results"),
            page_token=f.get("page_token"),
        )
        return page_json(
            "experiments", [experiment_json(e) for e in page.items], page.next_page_token
        )

    def update(f: JsonDict) -> None:
        tracking.rename_experiment(f["experiment_id"], f["new_name"])

    def delete(f: JsonDict) -> None:
        tracking.delete_experiment(f["experiment_id"])

    def restore(f: JsonDict) -> None:
        tracking.restore_experiment(f["experiment_id"])

    def set_tag(f: JsonDict) -> None:
        tracking.set_experiment_tag(f["experiment_id"], f["key"], f.get("value", ""))

    def delete_tag(f: JsonDict) -> None:
        tracking.delete_experiment_tag(f["experiment_id"], f["key"])

    return [
        Endpoint("POST", "experiments/create", CREATE, create),
        Endpoint("GET", "experiments/get", GET, get),
        Endpoint("GET", "experiments/get-by-name", GET_BY_NAME, get_by_name),
        Endpoint("POST", "experiments/search", SEARCH, search, Work.HEAVY),
        Endpoint("GET", "experiments/search", SEARCH, search, Work.HEAVY),
        Endpoint("POST", "experiments/update", UPDATE, update),
        Endpoint("POST", "experiments/delete", BY_ID, delete),
        Endpoint("POST", "experiments/restore", BY_ID, restore),
        Endpoint("POST", "experiments/set-experiment-tag", SET_TAG, set_tag),
        Endpoint("POST", "experiments/delete-experiment-tag", DELETE_TAG, delete_tag),
    ]
