"""The usage meter over a real SQLite store.

What matters: every count reaches the store exactly once (flushes add, a
failed flush keeps what it held for the next one), hours are bucketed by the
clock, and the process's CPU time beyond the predict calls is shared among
versions by requests, so that summed over versions it is the process's CPU
time while it served.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from moorline.errors import InvalidArgument
from moorline.serving.models import HOUR_MS, UsageRecord, hour_of
from moorline.serving.usage import UsageMeter
from moorline.store.sql import create_engine_for, upgrade
from moorline.store.sql import tables as t
from moorline.store.sql.serving import SqlPredictionStore

H0 = hour_of(1_700_000_000_000)
A = ("churn-prod", "churn", 1)
B = ("churn-prod", "churn", 2)
C = ("fraud-prod", "fraud", 1)


class Clock:
    """A settable clock (milliseconds, or CPU seconds): the meter reads it like the real one."""

    def __init__(self, value: float) -> None:
        self.value = value

    def ms(self) -> int:
        return int(self.value)

    def seconds(self) -> float:
        return self.value


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("usage") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def engine(template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "moorline.db"
    shutil.copyfile(template, path)
    built = create_engine_for(f"sqlite:///{path}")
    try:
        yield built
    finally:
        built.dispose()


@pytest.fixture
def store(engine: Engine) -> SqlPredictionStore:
    return SqlPredictionStore(engine)


def by_key(records: list[UsageRecord]) -> dict[tuple[str, str, int, int], UsageRecord]:
    return {r.key: r for r in records}


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_the_rest_of_the_process_cpu_is_shared_by_requests(store: SqlPredictionStore) -> None:
    clock, cpu = Clock(H0 + 60_000), Clock(10.0)
    meter = UsageMeter(store, interval_s=3600, process_cpu=cpu.seconds, clock=clock.ms)
    meter.start()  # counts the process's CPU from 10.0 s
    try:
        meter.add(A, requests=2, rows=4, predict_cpu_s=0.125)
        meter.add(A, requests=1, rows=1, predict_cpu_s=0.125)
        meter.add(B, requests=1, rows=1, predict_cpu_s=0.125)
        meter.add(C, requests=4, rows=40, predict_cpu_s=0.125)
        cpu.value = 12.5  # 2.5 s in all: 0.5 predicting, 2.0 for everything else
        assert meter.flush()
        found = by_key(store.usage())
        a, b, c = found[(*A, H0)], found[(*B, H0)], found[(*C, H0)]
        assert (a.requests, a.rows, a.predict_cpu_s) == (3, 5, 0.25)
        assert (b.requests, b.rows, b.predict_cpu_s) == (1, 1, 0.125)
        assert (c.requests, c.rows, c.predict_cpu_s) == (4, 40, 0.125)
        # 2.0 s by requests: 3/8, 1/8 and 4/8 of it on top of each version's predicts
        assert (a.cpu_s, b.cpu_s, c.cpu_s) == (0.25 + 0.75, 0.125 + 0.25, 0.125 + 1.0)
        assert sum(r.cpu_s for r in found.values()) == 2.5

        # An interval without requests is charged to nobody.
        cpu.value = 13.5
        written = meter.records_written
        assert meter.flush()
        assert meter.records_written == written and by_key(store.usage()) == found

        # A predict reported after the interval that charged its CPU to the process:
        # the excess is taken from the next interval, not counted twice.
        meter.add(A, requests=1, rows=1, predict_cpu_s=0.5)
        cpu.value = 13.75
        assert meter.flush()
        meter.add(A, requests=1, rows=1, predict_cpu_s=0.0)
        cpu.value = 15.0
        assert meter.flush()
    finally:
        meter.close()
    a = by_key(store.usage())[(*A, H0)]
    assert (a.requests, a.predict_cpu_s) == (5, 0.75)
    assert a.cpu_s == 1.0 + 0.5 + (1.25 - 0.25)
    total = sum(r.cpu_s for r in store.usage())
    assert total == 2.5 + 0.25 + 1.25  # the process's CPU over the intervals that served
    assert all(r.predict_cpu_s <= r.cpu_s for r in store.usage())
    assert meter.failed_flushes == 0 and meter.pending == 0


def test_without_the_process_cpu_cpu_s_is_the_predict_cpu(store: SqlPredictionStore) -> None:
    meter = UsageMeter(store, clock=Clock(H0).ms)
    meter.add(A, requests=3, rows=3, predict_cpu_s=0.375)
    meter.add(B, requests=1, rows=2, predict_cpu_s=0.0625)
    meter.close()  # never started: close still flushes
    assert [(r.version, r.requests, r.rows, r.cpu_s, r.predict_cpu_s) for r in store.usage()] == [
        (1, 3, 3, 0.375, 0.375),
        (2, 1, 2, 0.0625, 0.0625),
    ]
    with pytest.raises(InvalidArgument, match="closed"):
        meter.start()


def test_counts_go_to_the_utc_hour_of_their_call(store: SqlPredictionStore) -> None:
    clock = Clock(H0 + HOUR_MS - 1)  # the last millisecond of the hour
    meter = UsageMeter(store, interval_s=3600, clock=clock.ms)
    meter.add(A, requests=1, rows=1, predict_cpu_s=0.0)
    clock.value = H0 + HOUR_MS
    meter.add(A, requests=2, rows=2, predict_cpu_s=0.0)
    meter.add(A, requests=3, rows=3, predict_cpu_s=0.0)
    assert meter.flush()
    assert [(r.hour, r.requests) for r in store.usage()] == [(H0, 1), (H0 + HOUR_MS, 5)]

    # Three hours on: the meter forgets hours long ended; a late count for one of
    # them (a clock set back) starts from zero there and adds only itself.
    clock.value = H0 + 3 * HOUR_MS
    meter.add(B, requests=1, rows=1, predict_cpu_s=0.0)
    assert meter.flush()
    clock.value = H0 + 10
    meter.add(A, requests=4, rows=4, predict_cpu_s=0.0)
    meter.close()
    assert [(r.hour, r.version, r.requests) for r in store.usage()] == [
        (H0, 1, 5),
        (H0 + HOUR_MS, 1, 5),
        (H0 + 3 * HOUR_MS, 2, 1),
    ]


def test_flushes_add_to_the_store_and_two_meters_add_up(store: SqlPredictionStore) -> None:
    clock = Clock(H0)
    first = UsageMeter(store, interval_s=3600, clock=clock.ms)
    second = UsageMeter(store, interval_s=3600, clock=clock.ms)  # another worker
    for i in range(1, 4):
        first.add(A, requests=i, rows=2 * i, predict_cpu_s=0.125)
        second.add(A, requests=10 * i, rows=10 * i, predict_cpu_s=0.25)
        assert first.flush() and second.flush()
    assert first.flush()  # nothing new: nothing written
    assert (first.flushes, first.records_written) == (3, 3)
    (row,) = store.usage()
    assert (row.requests, row.rows) == (6 + 60, 12 + 60)
    assert row.predict_cpu_s == row.cpu_s == 3 * 0.125 + 3 * 0.25
    first.close()
    second.close()
    assert store.usage() == [row]


def test_a_failing_store_is_counted_and_what_it_held_is_written_later(
    store: SqlPredictionStore, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    meter = UsageMeter(store, interval_s=3600, clock=Clock(H0).ms)
    meter.add(A, requests=1, rows=1, predict_cpu_s=0.25)
    t.serving_usage.drop(engine)  # the database goes wrong under the meter
    with caplog.at_level(logging.WARNING, logger="moorline.serving.usage"):
        assert meter.flush() is False
    assert meter.failed_flushes == 1 and meter.pending == 1 and meter.records_written == 0
    assert any("could not be written" in r.getMessage() for r in caplog.records)
    meter.add(A, requests=2, rows=2, predict_cpu_s=0.25)
    meter.add(B, requests=1, rows=1, predict_cpu_s=0.0)
    assert meter.flush() is False
    assert meter.failed_flushes == 2 and meter.pending == 2
    t.serving_usage.create(engine)  # and comes back
    assert meter.flush()
    meter.close()
    assert [(r.version, r.requests, r.predict_cpu_s) for r in store.usage()] == [
        (1, 3, 0.5),
        (2, 1, 0.0),
    ]
    assert meter.pending == 0 and meter.lost_records == 0


def test_a_record_the_store_refuses_is_dropped_and_the_others_written(
    store: SqlPredictionStore, caplog: pytest.LogCaptureFixture
) -> None:
    meter = UsageMeter(store, interval_s=3600, clock=Clock(H0).ms)
    meter.add(A, requests=1, rows=1, predict_cpu_s=0.0)
    meter.add(("d" * 101, "churn", 1), requests=1, rows=1, predict_cpu_s=0.0)
    meter.add(C, requests=2, rows=2, predict_cpu_s=0.0)
    with caplog.at_level(logging.WARNING, logger="moorline.serving.usage"):
        assert meter.flush()
    assert meter.lost_records == 1 and meter.pending == 0 and meter.records_written == 2
    assert any("refused and dropped" in r.getMessage() for r in caplog.records)
    meter.add(A, requests=1, rows=1, predict_cpu_s=0.0)
    meter.close()
    assert [(r.deployment, r.requests) for r in store.usage()] == [
        ("churn-prod", 2),
        ("fraud-prod", 2),
    ]


def test_the_thread_flushes_every_interval_and_close_flushes_the_rest(
    store: SqlPredictionStore,
) -> None:
    meter = UsageMeter(store, interval_s=0.05)
    meter.start()
    try:
        meter.add(A, requests=1, rows=1, predict_cpu_s=0.0)
        wait_for(lambda: meter.flushes >= 1)
        assert [r.requests for r in store.usage()] == [1]
        meter.add(A, requests=2, rows=2, predict_cpu_s=0.0)
    finally:
        meter.close()
    assert sum(r.requests for r in store.usage()) == 3
    meter.close()  # twice is fine


def test_bad_intervals_are_refused(store: SqlPredictionStore) -> None:
    for bad in (0, -1.0, 3601, True, "30"):
        with pytest.raises(InvalidArgument, match="interval_s"):
            UsageMeter(store, interval_s=bad)  # type: ignore[arg-type]
