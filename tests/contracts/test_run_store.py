"""Contract of RunStore (create, read, update, logging, inputs): every backend must pass these."""

from __future__ import annotations

import math
import re

import pytest

from moorline.errors import InvalidArgument, NotFound
from moorline.tracking.models import (
    TAG_DATASET_CONTEXT,
    TAG_RUN_NAME,
    Dataset,
    DatasetInput,
    ExperimentId,
    LifecycleStage,
    LoggedModelId,
    ModelOutput,
    Param,
    RunId,
    RunStatus,
    Tag,
)
from moorline.tracking.ports import TrackingStore
from tests.contracts.support import log, new_experiment, new_run, point


@pytest.fixture
def exp(tracking: TrackingStore) -> ExperimentId:
    return new_experiment(tracking, "runs")


@pytest.fixture
def run_id(tracking: TrackingStore, exp: ExperimentId) -> RunId:
    return new_run(tracking, exp, name="first", start_time=100, tags={"mlflow.user": "ana"})


def history(tracking: TrackingStore, run_id: RunId, key: str) -> list[tuple[int, int, float]]:
    page = tracking.get_metric_history(run_id, key, max_results=None, page_token=None)
    return [(m.step, m.timestamp, m.value) for m in page.items]


def test_create_run(tracking: TrackingStore, exp: ExperimentId) -> None:
    run = tracking.create_run(
        experiment_id=exp,
        user_id="ana",
        run_name="brave-owl",
        start_time=1700,
        tags=[Tag(key="mlflow.source.name", value="train.py")],
    )
    info = run.info
    assert re.fullmatch(r"[0-9a-f]{32}", info.run_id)
    assert info.experiment_id == exp
    assert (info.run_name, info.user_id, info.start_time, info.end_time) == (
        "brave-owl",
        "ana",
        1700,
        None,
    )
    assert info.status == RunStatus.RUNNING
    assert info.lifecycle_stage == LifecycleStage.ACTIVE
    assert info.artifact_uri == f"mlflow-artifacts:/{exp}/{info.run_id}/artifacts"
    assert run.tags == {"mlflow.source.name": "train.py", TAG_RUN_NAME: "brave-owl"}
    fetched = tracking.get_run(info.run_id)
    assert fetched.info == info
    assert fetched.tags == run.tags
    assert (fetched.metrics, fetched.params) == ((), {})


def test_artifact_uri_follows_the_experiment_location(tracking: TrackingStore) -> None:
    eid = tracking.create_experiment(name="s3", artifact_location="s3://b/root/", tags=[], now=1)
    rid = new_run(tracking, eid)
    assert tracking.get_run(rid).info.artifact_uri == f"s3://b/root/{rid}/artifacts"


def test_create_run_needs_an_existing_experiment(tracking: TrackingStore) -> None:
    with pytest.raises(NotFound):
        new_run(tracking, ExperimentId("987654"))


def test_get_missing_run(tracking: TrackingStore) -> None:
    with pytest.raises(NotFound):
        tracking.get_run(RunId("0" * 32))


def test_update_run_info(tracking: TrackingStore, run_id: RunId) -> None:
    info = tracking.update_run_info(run_id, status=RunStatus.FINISHED, end_time=2000, run_name=None)
    assert (info.status, info.end_time, info.run_name) == (RunStatus.FINISHED, 2000, "first")
    info = tracking.update_run_info(run_id, status=None, end_time=None, run_name="renamed")
    assert (info.status, info.end_time, info.run_name) == (RunStatus.FINISHED, 2000, "renamed")
    run = tracking.get_run(run_id)
    assert run.info == info
    assert run.tags[TAG_RUN_NAME] == "renamed"
    with pytest.raises(NotFound):
        tracking.update_run_info(RunId("f" * 32), status=None, end_time=None, run_name="x")


def test_run_lifecycle(tracking: TrackingStore, run_id: RunId) -> None:
    tracking.set_run_lifecycle(run_id, LifecycleStage.DELETED)
    assert tracking.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    tracking.set_run_lifecycle(run_id, LifecycleStage.ACTIVE)
    assert tracking.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE
    with pytest.raises(NotFound):
        tracking.set_run_lifecycle(RunId("e" * 32), LifecycleStage.DELETED)


def test_logging_to_a_deleted_run_is_refused(tracking: TrackingStore, run_id: RunId) -> None:
    tracking.update_run_info(run_id, status=RunStatus.FINISHED, end_time=5, run_name=None)
    tracking.set_run_lifecycle(run_id, LifecycleStage.DELETED)
    with pytest.raises(InvalidArgument, match="deleted"):
        log(tracking, run_id, metrics=[point("m", 1.0)])
    with pytest.raises(InvalidArgument):
        log(tracking, run_id, params={"p": "1"})
    with pytest.raises(InvalidArgument):
        log(tracking, run_id, tags={"t": "1"})
    with pytest.raises(InvalidArgument):
        tracking.log_inputs(run_id, datasets=[], model_ids=[LoggedModelId("m-1")])
    with pytest.raises(InvalidArgument):
        tracking.log_outputs(run_id, models=[ModelOutput(model_id=LoggedModelId("m-1"))])
    assert history(tracking, run_id, "m") == []
    run = tracking.get_run(run_id)
    assert run.params == {} and "t" not in run.tags and run.model_inputs == ()


def test_logging_to_a_missing_run(tracking: TrackingStore) -> None:
    with pytest.raises(NotFound):
        log(tracking, RunId("a" * 32), metrics=[point("m", 1.0)])


def test_nan_and_infinities_round_trip(tracking: TrackingStore, run_id: RunId) -> None:
    log(
        tracking,
        run_id,
        metrics=[
            point("nan", math.nan, step=0),
            point("pinf", math.inf, step=0),
            point("ninf", -math.inf, step=0),
            point("huge", 1.7976931348623157e308, step=0),
            point("tiny", -5e-324, step=0),
        ],
    )
    latest = {m.key: m.value for m in tracking.get_run(run_id).metrics}
    assert math.isnan(latest["nan"])
    assert latest["pinf"] == math.inf
    assert latest["ninf"] == -math.inf
    assert latest["huge"] == 1.7976931348623157e308
    assert latest["tiny"] == -5e-324
    [(_, _, value)] = history(tracking, run_id, "nan")
    assert math.isnan(value)
    assert history(tracking, run_id, "ninf") == [(0, 0, -math.inf)]


def test_metric_fields_round_trip(tracking: TrackingStore, run_id: RunId) -> None:
    log(
        tracking,
        run_id,
        metrics=[
            point(
                "acc",
                0.9,
                step=3,
                timestamp=77,
                dataset_name="iris",
                dataset_digest="abc123",
                model_id="m-" + "1" * 32,
            )
        ],
    )
    [m] = tracking.get_run(run_id).metrics
    assert (m.key, m.value, m.step, m.timestamp) == ("acc", 0.9, 3, 77)
    assert (m.dataset_name, m.dataset_digest, m.model_id) == ("iris", "abc123", "m-" + "1" * 32)
    [h] = tracking.get_metric_history(run_id, "acc", max_results=None, page_token=None).items
    assert (h.dataset_name, h.dataset_digest, h.model_id) == ("iris", "abc123", "m-" + "1" * 32)


@pytest.mark.parametrize("split", [False, True], ids=["one-batch", "separate-batches"])
def test_latest_metric_is_max_by_step_then_timestamp_then_value(
    tracking: TrackingStore, run_id: RunId, split: bool
) -> None:
    points = [
        # higher step wins even with an older timestamp
        point("a", 1.0, step=5, timestamp=10),
        point("a", 2.0, step=4, timestamp=99),
        # same step: later timestamp wins even with a smaller value
        point("b", 9.0, step=1, timestamp=10),
        point("b", 3.0, step=1, timestamp=20),
        # same step and timestamp: larger value wins
        point("c", 3.0, step=2, timestamp=5),
        point("c", 7.0, step=2, timestamp=5),
        point("c", -1.0, step=2, timestamp=5),
        # NaN ranks above every number at the same step and timestamp
        point("d", math.inf, step=0, timestamp=0),
        point("d", math.nan, step=0, timestamp=0),
        # and loses to a later step
        point("e", math.nan, step=0, timestamp=0),
        point("e", 0.5, step=1, timestamp=0),
    ]
    if split:
        for p in points:
            log(tracking, run_id, metrics=[p])
    else:
        log(tracking, run_id, metrics=points)
    latest = {m.key: m for m in tracking.get_run(run_id).metrics}
    assert (latest["a"].value, latest["a"].step) == (1.0, 5)
    assert (latest["b"].value, latest["b"].timestamp) == (3.0, 20)
    assert latest["c"].value == 7.0
    assert math.isnan(latest["d"].value)
    assert latest["e"].value == 0.5
    # Every point is kept in the history, whatever the latest is.
    assert len(history(tracking, run_id, "c")) == 3


def test_older_point_does_not_replace_latest(tracking: TrackingStore, run_id: RunId) -> None:
    log(tracking, run_id, metrics=[point("loss", 0.1, step=10, timestamp=1)])
    log(tracking, run_id, metrics=[point("loss", 0.9, step=2, timestamp=500)])
    assert tracking.get_run(run_id).metric("loss") == 0.1


def test_params_are_immutable(tracking: TrackingStore, run_id: RunId) -> None:
    log(tracking, run_id, params={"lr": "0.1"})
    log(tracking, run_id, params={"lr": "0.1"})  # the same value again is fine
    with pytest.raises(InvalidArgument) as excinfo:
        log(tracking, run_id, params={"lr": "0.2"})
    message = str(excinfo.value)
    assert "lr" in message and "0.1" in message and "0.2" in message
    assert tracking.get_run(run_id).params == {"lr": "0.1"}


def test_a_failing_batch_writes_nothing(tracking: TrackingStore, run_id: RunId) -> None:
    log(tracking, run_id, params={"lr": "0.1"}, tags={"t": "old"})
    with pytest.raises(InvalidArgument, match="lr"):
        log(
            tracking,
            run_id,
            metrics=[point("loss", 0.5, step=1), point("acc", 0.7)],
            params={"batch": "32", "lr": "0.3"},
            tags={"t": "new", "fresh": "yes"},
        )
    run = tracking.get_run(run_id)
    assert run.params == {"lr": "0.1"}
    assert run.tags["t"] == "old" and "fresh" not in run.tags
    assert run.metrics == ()
    assert history(tracking, run_id, "loss") == []


def test_conflicting_duplicates_in_one_batch(tracking: TrackingStore, run_id: RunId) -> None:
    with pytest.raises(InvalidArgument, match="k"):
        tracking.log_batch(
            run_id,
            metrics=[point("m", 1.0)],
            params=[Param(key="k", value="1"), Param(key="k", value="2")],
            tags=[],
        )
    assert tracking.get_run(run_id).metrics == ()


def test_tags_upsert_and_delete(tracking: TrackingStore, run_id: RunId) -> None:
    log(tracking, run_id, tags={"k": "1"})
    log(tracking, run_id, tags={"k": "2", "other": "x"})
    assert {k: v for k, v in tracking.get_run(run_id).tags.items() if k in ("k", "other")} == {
        "k": "2",
        "other": "x",
    }
    tracking.delete_tag(run_id, "k")
    assert "k" not in tracking.get_run(run_id).tags
    with pytest.raises(NotFound):
        tracking.delete_tag(run_id, "k")
    with pytest.raises(NotFound):
        tracking.delete_tag(RunId("b" * 32), "k")


def test_run_name_tag_renames_the_run(tracking: TrackingStore, run_id: RunId) -> None:
    log(tracking, run_id, tags={TAG_RUN_NAME: "via-tag"})
    assert tracking.get_run(run_id).info.run_name == "via-tag"


def _input(name: str, digest: str, context: str | None = None) -> DatasetInput:
    tags = {TAG_DATASET_CONTEXT: context} if context else {}
    dataset = Dataset(
        name=name,
        digest=digest,
        source_type="local",
        source='{"uri": "/data"}',
        schema='{"cols": ["a"]}',
        profile='{"rows": 3}',
    )
    return DatasetInput(dataset=dataset, tags=tags)


def test_dataset_inputs(tracking: TrackingStore, exp: ExperimentId, run_id: RunId) -> None:
    train, evaluation = _input("iris", "d1", "train"), _input("iris", "d2", "eval")
    tracking.log_inputs(run_id, datasets=[train, evaluation, train], model_ids=[])
    tracking.log_inputs(run_id, datasets=[train], model_ids=[])  # links once per run
    run = tracking.get_run(run_id)
    assert run.dataset_inputs == (train, evaluation)
    # The same dataset used by another run is the same dataset.
    other = new_run(tracking, exp, name="other")
    tracking.log_inputs(other, datasets=[_input("iris", "d1", "eval")], model_ids=[])
    [shared] = tracking.get_run(other).dataset_inputs
    assert shared.dataset == train.dataset
    assert shared.tags == {TAG_DATASET_CONTEXT: "eval"}


def test_model_inputs_and_outputs(tracking: TrackingStore, run_id: RunId) -> None:
    m1, m2 = LoggedModelId("m-" + "1" * 32), LoggedModelId("m-" + "2" * 32)
    tracking.log_inputs(run_id, datasets=[], model_ids=[m1, m2, m1])
    tracking.log_inputs(run_id, datasets=[], model_ids=[m1])
    tracking.log_outputs(
        run_id, models=[ModelOutput(model_id=m2, step=0), ModelOutput(model_id=m2, step=5)]
    )
    tracking.log_outputs(run_id, models=[ModelOutput(model_id=m2, step=5)])
    run = tracking.get_run(run_id)
    assert run.model_inputs == (m1, m2)
    assert run.model_outputs == (
        ModelOutput(model_id=m2, step=0),
        ModelOutput(model_id=m2, step=5),
    )


def test_metric_and_param_keys(tracking: TrackingStore, exp: ExperimentId) -> None:
    a = new_run(tracking, exp, name="a")
    b = new_run(tracking, exp, name="b")
    elsewhere = new_run(tracking, ExperimentId("0"), name="c")
    log(tracking, a, metrics=[point("loss", 1.0), point("acc", 0.5)], params={"lr": "1"})
    log(tracking, b, metrics=[point("loss", 2.0)], params={"depth": "3"})
    log(tracking, elsewhere, metrics=[point("other", 1.0)], params={"zzz": "1"})
    assert tracking.metric_keys([exp]) == ["acc", "loss"]
    assert tracking.param_keys([exp]) == ["depth", "lr"]
    assert tracking.metric_keys([exp, ExperimentId("0")]) == ["acc", "loss", "other"]
    assert tracking.metric_keys([]) == []
