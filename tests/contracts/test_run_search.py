"""Contract of RunStore.search_runs / count_runs: filters, order, view types, paging."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from moorline.errors import InvalidArgument
from moorline.tracking.models import (
    TAG_DATASET_CONTEXT,
    Dataset,
    DatasetInput,
    ExperimentId,
    LifecycleStage,
    RunId,
    RunStatus,
    ViewType,
)
from moorline.tracking.ports import TrackingStore
from moorline.tracking.search import Clause
from tests.contracts.support import (
    clause,
    log,
    new_experiment,
    new_run,
    order,
    point,
    run_names,
    search,
)


@dataclass(frozen=True)
class World:
    exp: ExperimentId
    ids: dict[str, RunId]


def _dataset(name: str, digest: str, context: str) -> DatasetInput:
    return DatasetInput(
        dataset=Dataset(name=name, digest=digest, source_type="local", source="{}"),
        tags={TAG_DATASET_CONTEXT: context},
    )


@pytest.fixture
def world(tracking: TrackingStore) -> World:
    """Five active runs and one deleted run with known data (see the table in each test)."""
    exp = new_experiment(tracking, "search")
    ids: dict[str, RunId] = {}
    for name, start, user in [
        ("r1", 100, "ana"),
        ("r2", 200, "bob"),
        ("r3", 300, "ana"),
        ("r4", 400, "ana"),
        ("r5", 500, "cy"),
        ("gone", 600, "ana"),
    ]:
        ids[name] = new_run(tracking, exp, name=name, start_time=start, user_id=user)
    log(
        tracking,
        ids["r1"],
        metrics=[point("acc", 0.9), point("loss", 0.1)],
        params={"optimizer": "Adam", "lr": "0.1"},
        tags={"env": "prod"},
    )
    log(
        tracking,
        ids["r2"],
        metrics=[point("acc", 0.5), point("loss", math.nan)],
        params={"optimizer": "adam", "lr": "0.01"},
        tags={"env": "Prod", "city": "ÉCOLE"},
    )
    log(
        tracking,
        ids["r3"],
        metrics=[point("acc", math.nan)],
        params={"optimizer": "SGD"},
        tags={"note": "a*b?[c]"},
    )
    log(
        tracking,
        ids["r4"],
        metrics=[point("acc", math.inf), point("loss", 0.3)],
        tags={"env": "dev", "path": "C:\\dir\\x"},
    )
    log(tracking, ids["r5"], params={"optimizer": "Ad_m"}, tags={"env": "prod"})
    log(tracking, ids["gone"], metrics=[point("acc", 0.99)], params={"optimizer": "Adam"})
    tracking.set_run_lifecycle(ids["gone"], LifecycleStage.DELETED)
    tracking.update_run_info(ids["r1"], status=RunStatus.FINISHED, end_time=150, run_name=None)
    tracking.log_inputs(ids["r1"], datasets=[_dataset("iris", "d1", "train")], model_ids=[])
    tracking.log_inputs(ids["r2"], datasets=[_dataset("wine", "d2", "eval")], model_ids=[])
    return World(exp=exp, ids=ids)


def matching(
    tracking: TrackingStore,
    world: World,
    *filters: Clause,
    view_type: ViewType = ViewType.ACTIVE_ONLY,
) -> set[str]:
    page = search(tracking, [world.exp], *filters, view_type=view_type)
    found = set(run_names(page))
    count = tracking.count_runs(
        experiment_ids=[world.exp], filter_clauses=list(filters), view_type=view_type
    )
    assert count == len(found), "count_runs must agree with search_runs"
    return found


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (">", 0.6, {"r1", "r4"}),  # NaN never compares greater; inf does
        (">=", 0.5, {"r1", "r2", "r4"}),
        ("<", 0.9, {"r2"}),
        ("<=", 0.9, {"r1", "r2"}),
        ("=", 0.5, {"r2"}),
        ("=", math.inf, {"r4"}),
        ("!=", 0.5, {"r1", "r3", "r4"}),  # NaN differs from everything; r5 has no acc
        (">", -math.inf, {"r1", "r2", "r4"}),
    ],
)
def test_metric_filters(
    tracking: TrackingStore, world: World, op: str, value: float, expected: set[str]
) -> None:
    assert matching(tracking, world, clause("metric", "acc", op, value)) == expected


def test_metric_filter_reads_the_latest_value(tracking: TrackingStore, world: World) -> None:
    log(tracking, world.ids["r2"], metrics=[point("acc", 0.95, step=3)])
    assert matching(tracking, world, clause("metric", "acc", ">", 0.92)) == {"r2", "r4"}
    log(tracking, world.ids["r2"], metrics=[point("acc", 0.0, step=1)])  # older step: no change
    assert matching(tracking, world, clause("metric", "acc", ">", 0.92)) == {"r2", "r4"}


@pytest.mark.parametrize(
    ("entity", "key", "op", "value", "expected"),
    [
        ("param", "optimizer", "=", "Adam", {"r1"}),
        ("param", "optimizer", "!=", "Adam", {"r2", "r3", "r5"}),
        ("param", "optimizer", "LIKE", "Ad%", {"r1", "r5"}),
        ("param", "optimizer", "LIKE", "ad%", {"r2"}),
        ("param", "optimizer", "LIKE", "ADAM", set()),
        ("param", "optimizer", "ILIKE", "ad%", {"r1", "r2", "r5"}),
        ("param", "optimizer", "ILIKE", "AD_M", {"r1", "r2", "r5"}),
        ("param", "optimizer", "LIKE", "Ad_m", {"r1", "r5"}),
        ("param", "optimizer", "IS NULL", None, {"r4"}),
        ("param", "optimizer", "IS NOT NULL", None, {"r1", "r2", "r3", "r5"}),
        ("param", "lr", "=", "0.01", {"r2"}),
        ("tag", "env", "=", "prod", {"r1", "r5"}),
        ("tag", "env", "LIKE", "prod", {"r1", "r5"}),
        ("tag", "env", "ILIKE", "PROD", {"r1", "r2", "r5"}),
        ("tag", "env", "!=", "prod", {"r2", "r4"}),
        ("tag", "env", "IS NULL", None, {"r3"}),
        ("tag", "note", "LIKE", "a*b?[c]", {"r3"}),  # GLOB's specials are plain characters
        ("tag", "note", "LIKE", "a_b%", {"r3"}),
        ("tag", "note", "LIKE", "a*b?[c", set()),
        ("tag", "note", "ILIKE", "A*B?[C]", {"r3"}),
        ("tag", "path", "LIKE", "C:\\dir%", {"r4"}),  # a backslash is no escape character
        ("tag", "city", "ILIKE", "école", {"r2"}),  # case folding beyond ASCII
        ("tag", "city", "LIKE", "école", set()),
    ],
)
def test_param_and_tag_filters(
    *,
    tracking: TrackingStore,
    world: World,
    entity: str,
    key: str,
    op: str,
    value: str | None,
    expected: set[str],
) -> None:
    assert matching(tracking, world, clause(entity, key, op, value)) == expected


def test_attribute_filters(tracking: TrackingStore, world: World) -> None:
    ids = world.ids

    def attr(key: str, op: str, value: object) -> set[str]:
        return matching(tracking, world, clause("attribute", key, op, value))  # type: ignore[arg-type]

    assert attr("run_id", "IN", (ids["r1"], ids["r3"])) == {"r1", "r3"}
    assert attr("run_id", "NOT IN", (ids["r1"], ids["r3"])) == {"r2", "r4", "r5"}
    assert attr("run_id", "=", ids["r2"]) == {"r2"}
    assert attr("run_name", "=", "r2") == {"r2"}
    assert attr("run_name", "LIKE", "r%") == {"r1", "r2", "r3", "r4", "r5"}
    assert attr("run_name", "LIKE", "R1") == set()
    assert attr("run_name", "ILIKE", "R1") == {"r1"}
    assert attr("status", "=", "FINISHED") == {"r1"}
    assert attr("status", "!=", "FINISHED") == {"r2", "r3", "r4", "r5"}
    assert attr("user_id", "=", "bob") == {"r2"}
    assert attr("start_time", ">=", 300) == {"r3", "r4", "r5"}
    assert attr("start_time", "<", 250.5) == {"r1", "r2"}
    assert attr("end_time", ">", 0) == {"r1"}  # runs without an end never match
    assert attr("artifact_uri", "LIKE", f"%{ids['r4']}%") == {"r4"}
    deleted = matching(
        tracking,
        world,
        clause("attribute", "lifecycle_stage", "=", "deleted"),
        view_type=ViewType.ALL,
    )
    assert deleted == {"gone"}


@pytest.mark.parametrize(
    ("key", "op", "value", "expected"),
    [
        ("name", "=", "iris", {"r1"}),
        ("name", "!=", "iris", {"r2"}),
        ("name", "IN", ("iris", "wine"), {"r1", "r2"}),
        ("name", "NOT IN", ("iris",), {"r2"}),
        ("name", "ILIKE", "IRIS", {"r1"}),
        ("name", "LIKE", "IRIS", set()),
        ("digest", "=", "d2", {"r2"}),
        ("digest", "IN", ("d1", "zz"), {"r1"}),
        ("context", "=", "train", {"r1"}),
        ("context", "LIKE", "ev%", {"r2"}),
        ("context", "NOT IN", ("train",), {"r2"}),
    ],
)
def test_dataset_filters(
    *,
    tracking: TrackingStore,
    world: World,
    key: str,
    op: str,
    value: object,
    expected: set[str],
) -> None:
    assert matching(tracking, world, clause("dataset", key, op, value)) == expected  # type: ignore[arg-type]


def test_filters_combine_with_and(tracking: TrackingStore, world: World) -> None:
    found = matching(
        tracking,
        world,
        clause("metric", "acc", ">", 0.6),
        clause("param", "optimizer", "LIKE", "Ad%"),
        clause("tag", "env", "=", "prod"),
    )
    assert found == {"r1"}


def test_view_types(tracking: TrackingStore, world: World) -> None:
    adam = clause("param", "optimizer", "=", "Adam")
    assert matching(tracking, world, adam) == {"r1"}
    assert matching(tracking, world, adam, view_type=ViewType.DELETED_ONLY) == {"gone"}
    assert matching(tracking, world, adam, view_type=ViewType.ALL) == {"r1", "gone"}


def test_runs_of_other_experiments_stay_out(tracking: TrackingStore, world: World) -> None:
    other = new_experiment(tracking, "other")
    new_run(tracking, other, name="elsewhere", start_time=50)
    assert "elsewhere" not in run_names(search(tracking, [world.exp]))
    both = run_names(search(tracking, [world.exp, other]))
    assert both[-1] == "elsewhere" and len(both) == 6
    assert search(tracking, []).items == ()


def test_default_order_is_newest_first(tracking: TrackingStore, world: World) -> None:
    assert run_names(search(tracking, [world.exp])) == ["r5", "r4", "r3", "r2", "r1"]


@pytest.mark.parametrize(
    ("key", "ascending", "expected"),
    [
        # present values in order, then NaN, then runs lacking the metric: both directions
        ("acc", True, ["r2", "r1", "r4", "r3", "r5"]),
        ("acc", False, ["r4", "r1", "r2", "r3", "r5"]),
        ("loss", True, ["r1", "r4", "r2", "r5", "r3"]),
        ("loss", False, ["r4", "r1", "r2", "r5", "r3"]),
    ],
)
def test_order_by_metric_puts_nan_then_missing_last(
    tracking: TrackingStore, world: World, key: str, ascending: bool, expected: list[str]
) -> None:
    page = search(tracking, [world.exp], order_by=[order("metric", key, ascending=ascending)])
    assert run_names(page) == expected


def test_order_by_param_tag_and_attributes(tracking: TrackingStore, world: World) -> None:
    def names(*keys: object) -> list[str]:
        return run_names(search(tracking, [world.exp], order_by=list(keys)))  # type: ignore[arg-type]

    # Code-point order: upper case before lower case; missing last in both directions.
    assert names(order("param", "optimizer")) == ["r5", "r1", "r3", "r2", "r4"]
    assert names(order("param", "optimizer", ascending=False)) == ["r2", "r3", "r1", "r5", "r4"]
    assert names(order("tag", "env")) == ["r2", "r4", "r5", "r1", "r3"]  # ties: newest first
    assert names(order("attribute", "run_name", ascending=False)) == [
        "r5",
        "r4",
        "r3",
        "r2",
        "r1",
    ]
    assert names(order("attribute", "start_time")) == ["r1", "r2", "r3", "r4", "r5"]
    assert names(order("attribute", "user_id"), order("attribute", "start_time")) == [
        "r1",
        "r3",
        "r4",
        "r2",
        "r5",
    ]
    # end_time: only r1 has one; the others follow, newest first, in both directions.
    assert names(order("attribute", "end_time", ascending=False))[0] == "r1"
    assert names(order("attribute", "end_time"))[0] == "r1"


def test_ties_break_on_start_time_then_run_id(tracking: TrackingStore) -> None:
    exp = new_experiment(tracking, "ties")
    same_start = sorted(new_run(tracking, exp, name=f"s{i}", start_time=7) for i in range(4))
    later = new_run(tracking, exp, name="later", start_time=8)
    page = search(tracking, [exp])
    assert [r.run_id for r in page.items] == [later, *same_start]
    for rid in [*same_start, later]:
        log(tracking, rid, metrics=[point("m", 1.0)])
    by_metric = search(tracking, [exp], order_by=[order("metric", "m")])
    assert [r.run_id for r in by_metric.items] == [later, *same_start]
    by_start = search(tracking, [exp], order_by=[order("attribute", "start_time")])
    assert [r.run_id for r in by_start.items] == [*same_start, later]


def test_search_returns_full_runs(tracking: TrackingStore, world: World) -> None:
    page = search(tracking, [world.exp], clause("attribute", "run_name", "=", "r1"))
    [run] = page.items
    assert run == tracking.get_run(world.ids["r1"])
    assert run.params == {"optimizer": "Adam", "lr": "0.1"}
    assert {m.key: m.value for m in run.metrics} == {"acc": 0.9, "loss": 0.1}
    assert run.dataset_inputs[0].dataset.name == "iris"


@pytest.mark.parametrize(
    "order_by",
    [[], [order("metric", "m")], [order("param", "p", ascending=False)]],
    ids=["default", "metric", "param-desc"],
)
def test_paging_through_250_runs(tracking: TrackingStore, order_by: list[object]) -> None:
    exp = new_experiment(tracking, "many")
    expected_ids = set()
    for i in range(250):
        rid = new_run(tracking, exp, name=f"run{i}", start_time=1000 + i % 40)
        expected_ids.add(rid)
        if i % 2 == 0:  # half the runs lack the order keys
            log(tracking, rid, metrics=[point("m", float(i % 7))], params={"p": str(i % 5)})
    one_shot = search(tracking, [exp], order_by=order_by, max_results=1000)  # type: ignore[arg-type]
    seen: list[RunId] = []
    sizes = []
    token: str | None = None
    while True:
        page = search(
            tracking,
            [exp],
            order_by=order_by,  # type: ignore[arg-type]
            max_results=100,
            page_token=token,
        )
        sizes.append(len(page.items))
        seen.extend(r.run_id for r in page.items)
        token = page.next_page_token
        if token is None:
            break
    assert sizes == [100, 100, 50]
    assert len(set(seen)) == 250 and set(seen) == expected_ids
    assert seen == [r.run_id for r in one_shot.items]


def test_bad_page_token(tracking: TrackingStore, world: World) -> None:
    with pytest.raises(InvalidArgument):
        search(tracking, [world.exp], page_token="not a token!")
