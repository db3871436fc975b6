"""``/mlflow/logged-models...``: MLflow 3's logged models (create, finalize, tags, search)."""

from __future__ import annotations

import re

from moorline.errors import NotImplementedFeature
from moorline.server.mlflow.dispatch import Endpoint, Work
from moorline.server.mlflow.wire import (
    KEY_VALUE,
    LOGGED_MODEL_STATUS,
    LOGGED_MODEL_STATUS_NUMBERS,
    JsonDict,
    Message,
    boolean,
    enum,
    int32,
    logged_model_json,
    nested,
    page_json,
    params_of,
    string,
    tags_of,
)
from moorline.tracking.service import TrackingService

CREATE = Message(
    "CreateLoggedModel",
    string("experiment_id", required=True),
    string("name"),
    string("model_type"),
    string("source_run_id"),
    nested("params", KEY_VALUE, repeated=True),
    nested("tags", KEY_VALUE, repeated=True),
)
GET = Message("GetLoggedModel", string("model_id"), boolean("allow_deleted"))
FINALIZE = Message(
    "FinalizeLoggedModel",
    string("model_id"),
    enum("status", LOGGED_MODEL_STATUS, LOGGED_MODEL_STATUS_NUMBERS, required=True),
)
BY_ID = Message("LoggedModelById", string("model_id"))
LOG_PARAMS = Message(
    "LogLoggedModelParams", string("model_id"), nested("params", KEY_VALUE, repeated=True)
)
SET_TAGS = Message(
    "SetLoggedModelTags", string("model_id"), nested("tags", KEY_VALUE, repeated=True)
)
DELETE_TAG = Message("DeleteLoggedModelTag", string("model_id"), string("tag_key"))
SEARCH_DATASET = Message("Dataset", string("dataset_name"), string("dataset_digest"))
SEARCH_ORDER = Message(
    "OrderBy",
    string("field_name", required=True),
    boolean("ascending"),
    string("dataset_name"),
    string("dataset_digest"),
)
SEARCH = Message(
    "SearchLoggedModels",
    string("experiment_ids", repeated=True),
    string("filter"),
    nested("datasets", SEARCH_DATASET, repeated=True),
    int32("max_results"),
    nested("order_by", SEARCH_ORDER, repeated=True),
    string("page_token"),
)

_PLAIN_KEY = re.compile(r"[\w.]+")


def _order_clause(item: JsonDict) -> str:
    """A structured ``{field_name, ascending}`` as the order_by text the grammar reads."""
    if item.get("dataset_name") or item.get("dataset_digest"):
        raise NotImplementedFeature(
            "Ordering logged models by a metric of one dataset is not supported"
        )
    field = item["field_name"]
    entity, dot, key = field.partition(".")
    if dot and key and not _PLAIN_KEY.fullmatch(key) and "`" not in key:
        field = f"{entity}.`{key}`"
    return f"{field} {'ASC' if item.get('ascending', True) else 'DESC'}"


def endpoints(tracking: TrackingService) -> list[Endpoint]:
    """The logged-model endpoints, served by ``tracking``."""

    def create(f: JsonDict) -> JsonDict:
        model = tracking.create_logged_model(
            f["experiment_id"],
            name=f.get("name") or None,
            model_type=f.get("model_type") or None,
            source_run_id=f.get("source_run_id") or None,
            params=params_of(f.get("params")),
            tags=tags_of(f.get("tags")),
        )
        return {"model": logged_model_json(model)}

    def get(f: JsonDict) -> JsonDict:
        model = tracking.get_logged_model(
            f["model_id"], allow_deleted=f.get("allow_deleted", False)
        )
        return {"model": logged_model_json(model)}

    def finalize(f: JsonDict) -> JsonDict:
        return {
            "model": logged_model_json(tracking.finalize_logged_model(f["model_id"], f["status"]))
        }

    def delete(f: JsonDict) -> None:
        tracking.delete_logged_model(f["model_id"])

    def log_params(f: JsonDict) -> None:
        tracking.log_logged_model_params(f["model_id"], params_of(f.get("params")))

    def set_tags(f: JsonDict) -> None:
        tracking.set_logged_model_tags(f["model_id"], tags_of(f.get("tags")))

    def delete_tag(f: JsonDict) -> None:
        tracking.delete_logged_model_tag(f["model_id"], f["tag_key"])

    def search(f: JsonDict) -> JsonDict:
        if f.get("datasets"):
            raise NotImplementedFeature(
                "Filtering logged models by the datasets of their metrics is not supported"
            )
        page = tracking.search_logged_models(
            f.get("experiment_ids", ()),
            filter_string=f.get("filter"),
            order_by=[_order_clause(item) for item in f.get("order_by", ())],
            max_results=f.get("max_results"),
            page_token=f.get("page_token"),
        )
        return page_json("models", [logged_model_json(m) for m in page.items], page.next_page_token)

    return [
        Endpoint("POST", "logged-models", CREATE, create),
        Endpoint("POST", "logged-models/search", SEARCH, search, Work.HEAVY),
        Endpoint("GET", "logged-models/{model_id}", GET, get),
        Endpoint("PATCH", "logged-models/{model_id}", FINALIZE, finalize),
        Endpoint("DELETE", "logged-models/{model_id}", BY_ID, delete),
        Endpoint("POST", "logged-models/{model_id}/params", LOG_PARAMS, log_params),
        Endpoint("PATCH", "logged-models/{model_id}/tags", SET_TAGS, set_tags),
        Endpoint("DELETE", "logged-models/{model_id}/tags/{tag_key:path}", DELETE_TAG, delete_tag),
    ]
