"""Contract of RunStore.get_metric_history and get_metric_history_bulk."""

from __future__ import annotations

import itertools
import math

import pytest

from moorline.errors import InvalidArgument, NotFound
from moorline.tracking.models import ExperimentId, LifecycleStage, Metric, RunId
from moorline.tracking.ports import TrackingStore
from tests.contracts.support import log, new_run, point

DEFAULT = ExperimentId("0")


def all_pages(
    tracking: TrackingStore, run_id: RunId, key: str, size: int
) -> tuple[list[Metric], int]:
    out: list[Metric] = []
    token: str | None = None
    pages = 0
    while True:
        page = tracking.get_metric_history(run_id, key, max_results=size, page_token=token)
        pages += 1
        assert len(page.items) <= size
        out.extend(page.items)
        token = page.next_page_token
        if token is None:
            return out, pages


def test_history_is_ordered_by_step_then_timestamp(tracking: TrackingStore) -> None:
    rid = new_run(tracking, DEFAULT)
    log(
        tracking,
        rid,
        metrics=[
            point("loss", 0.3, step=2, timestamp=5),
            point("loss", 0.1, step=1, timestamp=9),
            point("loss", 0.2, step=1, timestamp=3),
            point("loss", math.nan, step=3, timestamp=1),
            point("other", 5.0, step=0, timestamp=0),
        ],
    )
    log(tracking, rid, metrics=[point("loss", -math.inf, step=0, timestamp=100)])
    items = tracking.get_metric_history(rid, "loss", max_results=None, page_token=None).items
    assert [(m.step, m.timestamp) for m in items] == [(0, 100), (1, 3), (1, 9), (2, 5), (3, 1)]
    assert items[0].value == -math.inf
    assert math.isnan(items[-1].value)
    assert {m.key for m in items} == {"loss"}
    assert {m.run_id for m in items} == {rid}


def test_history_pages_have_no_gaps_or_duplicates(tracking: TrackingStore) -> None:
    rid = new_run(tracking, DEFAULT)
    # Repeated steps and timestamps make the order rely on the store's tie-breaker.
    points = [point("acc", float(i), step=i // 4, timestamp=i // 8) for i in range(23)]
    log(tracking, rid, metrics=points)
    got, pages = all_pages(tracking, rid, "acc", 5)
    assert pages == 5
    assert sorted(m.value for m in got) == [float(i) for i in range(23)]
    assert [(m.step, m.timestamp) for m in got] == sorted((m.step, m.timestamp) for m in got)
    exact, pages = all_pages(tracking, rid, "acc", 23)
    assert pages == 1 and len(exact) == 23


def test_history_without_limit_returns_everything(tracking: TrackingStore) -> None:
    rid = new_run(tracking, DEFAULT)
    log(tracking, rid, metrics=[point("x", float(i), step=i) for i in range(1000)])
    page = tracking.get_metric_history(rid, "x", max_results=None, page_token=None)
    assert len(page.items) == 1000 and page.next_page_token is None


def test_history_of_a_missing_key_or_run(tracking: TrackingStore) -> None:
    rid = new_run(tracking, DEFAULT)
    page = tracking.get_metric_history(rid, "never", max_results=10, page_token=None)
    assert page.items == () and page.next_page_token is None
    with pytest.raises(NotFound):
        tracking.get_metric_history(RunId("c" * 32), "x", max_results=10, page_token=None)


def test_history_of_a_deleted_run_is_still_readable(tracking: TrackingStore) -> None:
    rid = new_run(tracking, DEFAULT)
    log(tracking, rid, metrics=[point("x", 1.0)])
    tracking.set_run_lifecycle(rid, LifecycleStage.DELETED)
    assert len(tracking.get_metric_history(rid, "x", max_results=None, page_token=None).items) == 1


def test_bad_history_page_token(tracking: TrackingStore) -> None:
    rid = new_run(tracking, DEFAULT)
    with pytest.raises(InvalidArgument):
        tracking.get_metric_history(rid, "x", max_results=10, page_token="%%%")


def test_bulk_history_downsamples_evenly_keeping_first_and_last(
    tracking: TrackingStore,
) -> None:
    big = new_run(tracking, DEFAULT, name="big")
    small = new_run(tracking, DEFAULT, name="small")
    empty = new_run(tracking, DEFAULT, name="empty")
    log(tracking, big, metrics=[point("m", float(i), step=i, timestamp=i) for i in range(100)])
    log(tracking, small, metrics=[point("m", float(i), step=i) for i in range(3)])
    got = tracking.get_metric_history_bulk([small, big, empty], "m", max_points_per_run=10)
    by_run: dict[str | None, list[float]] = {}
    for m in got:
        by_run.setdefault(m.run_id, []).append(m.value)
    assert list(by_run) == [small, big]  # in the order asked, runs without points omitted
    assert by_run[small] == [0.0, 1.0, 2.0]
    picked = by_run[big]
    assert len(picked) == 10
    assert picked[0] == 0.0 and picked[-1] == 99.0
    assert picked == sorted(picked)
    gaps = [b - a for a, b in itertools.pairwise(picked)]
    assert max(gaps) - min(gaps) <= 1  # evenly spaced
    assert all(m.key == "m" for m in got)


def test_bulk_history_limits(tracking: TrackingStore) -> None:
    rid = new_run(tracking, DEFAULT)
    log(tracking, rid, metrics=[point("m", float(i), step=i) for i in range(7)])
    [last] = tracking.get_metric_history_bulk([rid], "m", max_points_per_run=1)
    assert last.value == 6.0
    two = tracking.get_metric_history_bulk([rid], "m", max_points_per_run=2)
    assert [m.value for m in two] == [0.0, 6.0]
    everything = tracking.get_metric_history_bulk([rid], "m", max_points_per_run=7)
    assert [m.value for m in everything] == [float(i) for i in range(7)]
    assert tracking.get_metric_history_bulk([], "m", max_points_per_run=5) == []
