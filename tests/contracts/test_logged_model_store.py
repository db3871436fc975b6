"""Contract of LoggedModelStore: every backend must pass these."""

from __future__ import annotations

import re

import pytest

from moorline.errors import InvalidArgument, NotFound
from moorline.tracking.models import (
    ExperimentId,
    LifecycleStage,
    LoggedModel,
    LoggedModelId,
    LoggedModelStatus,
    Param,
    RunId,
    Tag,
)
from moorline.tracking.ports import TrackingStore
from moorline.tracking.search import Clause, OrderKey
from tests.contracts.support import clause, log, new_experiment, new_run, order, point


def create(
    tracking: TrackingStore,
    exp: ExperimentId,
    name: str,
    *,
    now: int = 100,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    source_run_id: RunId | None = None,
    model_type: str | None = None,
) -> LoggedModel:
    return tracking.create_logged_model(
        experiment_id=exp,
        name=name,
        model_type=model_type,
        source_run_id=source_run_id,
        params=[Param(key=k, value=v) for k, v in (params or {}).items()],
        tags=[Tag(key=k, value=v) for k, v in (tags or {}).items()],
        creator_id="ana",
        now=now,
    )


def models(
    tracking: TrackingStore,
    exp: ExperimentId,
    *filters: Clause,
    order_by: list[OrderKey] | None = None,
    max_results: int = 100,
) -> list[str]:
    page = tracking.search_logged_models(
        experiment_ids=[exp],
        filter_clauses=list(filters),
        order_by=order_by or [],
        max_results=max_results,
        page_token=None,
    )
    return [m.name for m in page.items]


@pytest.fixture
def exp(tracking: TrackingStore) -> ExperimentId:
    return new_experiment(tracking, "models")


def test_create_and_get(tracking: TrackingStore, exp: ExperimentId) -> None:
    rid = new_run(tracking, exp)
    model = create(
        tracking,
        exp,
        "clf",
        params={"C": "1.0"},
        tags={"flavor": "sklearn"},
        source_run_id=rid,
        model_type="classifier",
    )
    assert re.fullmatch(r"m-[0-9a-f]{32}", model.model_id)
    assert model.artifact_uri == f"mlflow-artifacts:/{exp}/models/{model.model_id}/artifacts"
    assert model.status == LoggedModelStatus.PENDING
    assert model.lifecycle_stage == LifecycleStage.ACTIVE
    assert (model.creation_timestamp_ms, model.last_updated_timestamp_ms) == (100, 100)
    assert (model.source_run_id, model.model_type, model.creator_id) == (rid, "classifier", "ana")
    assert model.params == {"C": "1.0"} and model.tags == {"flavor": "sklearn"}
    assert tracking.get_logged_model(model.model_id) == model


def test_create_needs_an_experiment(tracking: TrackingStore) -> None:
    with pytest.raises(NotFound):
        create(tracking, ExperimentId("31337"), "x")


def test_missing_model(tracking: TrackingStore) -> None:
    with pytest.raises(NotFound):
        tracking.get_logged_model(LoggedModelId("m-" + "0" * 32))


def test_finalize(tracking: TrackingStore, exp: ExperimentId) -> None:
    model = create(tracking, exp, "m")
    ready = tracking.update_logged_model(
        model.model_id, status=LoggedModelStatus.READY, status_message=None, now=200
    )
    assert ready.status == LoggedModelStatus.READY
    assert ready.last_updated_timestamp_ms == 200
    failed = tracking.update_logged_model(
        model.model_id, status=LoggedModelStatus.UPLOAD_FAILED, status_message="disk full", now=300
    )
    assert (failed.status, failed.status_message) == (LoggedModelStatus.UPLOAD_FAILED, "disk full")
    assert tracking.get_logged_model(model.model_id) == failed


def test_params_are_immutable(tracking: TrackingStore, exp: ExperimentId) -> None:
    model = create(tracking, exp, "m", params={"a": "1"})
    tracking.log_logged_model_params(
        model.model_id, [Param(key="a", value="1"), Param(key="b", value="2")]
    )
    assert tracking.get_logged_model(model.model_id).params == {"a": "1", "b": "2"}
    with pytest.raises(InvalidArgument, match="a"):
        tracking.log_logged_model_params(
            model.model_id, [Param(key="c", value="3"), Param(key="a", value="9")]
        )
    assert tracking.get_logged_model(model.model_id).params == {"a": "1", "b": "2"}


def test_tags(tracking: TrackingStore, exp: ExperimentId) -> None:
    model = create(tracking, exp, "m", tags={"a": "1"})
    tracking.set_logged_model_tags(
        model.model_id, [Tag(key="a", value="2"), Tag(key="b", value="x")], now=150
    )
    fetched = tracking.get_logged_model(model.model_id)
    assert fetched.tags == {"a": "2", "b": "x"}
    assert fetched.last_updated_timestamp_ms == 150
    tracking.delete_logged_model_tag(model.model_id, "a")
    assert tracking.get_logged_model(model.model_id).tags == {"b": "x"}
    with pytest.raises(NotFound):
        tracking.delete_logged_model_tag(model.model_id, "a")


def test_soft_delete(tracking: TrackingStore, exp: ExperimentId) -> None:
    model = create(tracking, exp, "doomed")
    create(tracking, exp, "kept")
    tracking.delete_logged_model(model.model_id, now=500)
    with pytest.raises(NotFound):
        tracking.get_logged_model(model.model_id)
    deleted = tracking.get_logged_model(model.model_id, allow_deleted=True)
    assert deleted.lifecycle_stage == LifecycleStage.DELETED
    assert models(tracking, exp) == ["kept"]
    with pytest.raises(NotFound):
        tracking.delete_logged_model(model.model_id, now=600)


def test_metrics_are_the_latest_run_metrics_logged_with_the_model(
    tracking: TrackingStore, exp: ExperimentId
) -> None:
    rid = new_run(tracking, exp)
    model = create(tracking, exp, "m", source_run_id=rid)
    mid = model.model_id
    log(
        tracking,
        rid,
        metrics=[
            point("acc", 0.7, step=1, model_id=mid),
            point("acc", 0.8, step=2, model_id=mid),
            point("acc", 0.1, step=1, model_id=mid),
            point("loss", 0.3, model_id=mid, dataset_name="iris", dataset_digest="d1"),
            point("unrelated", 1.0),
        ],
    )
    metrics = {m.key: m for m in tracking.get_logged_model(mid).metrics}
    assert set(metrics) == {"acc", "loss"}
    assert (metrics["acc"].value, metrics["acc"].step) == (0.8, 2)
    assert metrics["acc"].run_id == rid and metrics["acc"].model_id == mid
    assert (metrics["loss"].dataset_name, metrics["loss"].dataset_digest) == ("iris", "d1")


@pytest.fixture
def catalog(tracking: TrackingStore, exp: ExperimentId) -> dict[str, LoggedModel]:
    rid = new_run(tracking, exp)
    out = {}
    for n, (name, acc, params, tags) in enumerate(
        [
            ("forest", 0.9, {"trees": "100"}, {"team": "a"}),
            ("Forest-2", 0.7, {"trees": "50"}, {"team": "b"}),
            ("linear", None, {}, {"team": "a"}),
            ("boost", 0.95, {"trees": "100"}, {}),
        ]
    ):
        model = create(tracking, exp, name, now=10 * (n + 1), params=params, tags=tags)
        if acc is not None:
            log(tracking, rid, metrics=[point("acc", acc, model_id=model.model_id)])
        out[name] = model
    tracking.update_logged_model(
        out["boost"].model_id, status=LoggedModelStatus.READY, status_message=None, now=99
    )
    return out


def test_search_filters(
    tracking: TrackingStore, exp: ExperimentId, catalog: dict[str, LoggedModel]
) -> None:
    def found(*filters: Clause) -> set[str]:
        return set(models(tracking, exp, *filters))

    assert found(clause("attribute", "name", "=", "linear")) == {"linear"}
    assert found(clause("attribute", "name", "LIKE", "forest%")) == {"forest"}
    assert found(clause("attribute", "name", "ILIKE", "forest%")) == {"forest", "Forest-2"}
    assert found(clause("attribute", "name", "IN", ("linear", "boost"))) == {"linear", "boost"}
    assert found(clause("attribute", "status", "=", LoggedModelStatus.READY.value)) == {"boost"}
    model_id = catalog["forest"].model_id
    assert found(clause("attribute", "model_id", "=", model_id)) == {"forest"}
    assert found(clause("attribute", "creation_timestamp", ">", 20)) == {"linear", "boost"}
    assert found(clause("metric", "acc", ">", 0.8)) == {"forest", "boost"}
    assert found(clause("metric", "acc", "<", 0.8)) == {"Forest-2"}
    assert found(clause("param", "trees", "=", "100")) == {"forest", "boost"}
    assert found(clause("tag", "team", "=", "a")) == {"forest", "linear"}
    assert found(clause("tag", "team", "=", "a"), clause("metric", "acc", ">", 0.5)) == {"forest"}


def test_search_order_and_paging(
    tracking: TrackingStore, exp: ExperimentId, catalog: dict[str, LoggedModel]
) -> None:
    assert models(tracking, exp) == ["boost", "linear", "Forest-2", "forest"]
    by_acc = [order("metric", "acc", ascending=False)]
    assert models(tracking, exp, order_by=by_acc) == ["boost", "forest", "Forest-2", "linear"]
    by_acc_asc = [order("metric", "acc")]
    assert models(tracking, exp, order_by=by_acc_asc) == ["Forest-2", "forest", "boost", "linear"]
    assert models(tracking, exp, order_by=[order("attribute", "name")]) == [
        "Forest-2",
        "boost",
        "forest",
        "linear",
    ]
    names: list[str] = []
    token: str | None = None
    while True:
        page = tracking.search_logged_models(
            experiment_ids=[exp],
            filter_clauses=[],
            order_by=[],
            max_results=3,
            page_token=token,
        )
        names.extend(m.name for m in page.items)
        token = page.next_page_token
        if token is None:
            break
    assert names == ["boost", "linear", "Forest-2", "forest"]
    found = tracking.search_logged_models(
        experiment_ids=[exp], filter_clauses=[], order_by=[], max_results=10, page_token=None
    ).items
    assert {m.name: m for m in found}["forest"] == tracking.get_logged_model(
        catalog["forest"].model_id
    )
