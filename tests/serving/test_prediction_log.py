"""The prediction logger over a real SQLite prediction log.

What matters: ``submit`` never waits for the database (a locked database
costs records, never latency), every record is accounted for (written,
dropped, or lost with a failed batch), a failing batch does not stop the
writer, and ``close`` drains the queue.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from moorline.errors import InvalidArgument
from moorline.serving.models import PredictionRecord
from moorline.serving.prediction_log import PredictionLogger
from moorline.store.sql import create_engine_for, upgrade
from moorline.store.sql import tables as t
from moorline.store.sql.serving import SqlPredictionStore

T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prediction-log") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "moorline.db"
    shutil.copyfile(template, path)
    return path


@pytest.fixture
def engine(db: Path) -> Iterator[Engine]:
    built = create_engine_for(f"sqlite:///{db}")
    try:
        yield built
    finally:
        built.dispose()


@pytest.fixture
def store(engine: Engine) -> SqlPredictionStore:
    return SqlPredictionStore(engine)


def record(i: int, *, pid: str | None = None) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=pid or f"p{i}",
        deployment="churn-prod",
        model="churn",
        version=1 + i % 2,
        at=T0 + i,
        inputs=[[0.1 * i, 2.0, 3.5, -1.0]],
        outputs=[i % 2],
        latency_ms=3.0,
        caller="10.0.0.1 python-httpx/0.27",
        columns=("tenure", "spend", "visits", "tickets"),
    )


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.predictions)).scalar_one())


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.005)


def test_records_are_written_in_the_background(store: SqlPredictionStore, engine: Engine) -> None:
    logger = PredictionLogger(store, batch_size=50, flush_interval_s=0.02)
    logger.start()
    try:
        assert all(logger.submit(record(i)) for i in range(120))
        wait_for(lambda: logger.written == 120)
        assert logger.queued == 0 and logger.dropped == 0 and logger.failed_batches == 0
        assert stored(engine) == 120
        read = store.read_predictions("churn-prod")
        assert [p.record.prediction_id for p in read] == [f"p{i}" for i in range(120)]
        assert read[7].record == record(7)
    finally:
        logger.close()


def test_submit_never_waits_for_a_locked_database(
    db: Path, store: SqlPredictionStore, engine: Engine
) -> None:
    # Another process's view: a connection that holds SQLite's write lock.
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    logger = PredictionLogger(store, capacity=1000, batch_size=100, flush_interval_s=0.01)
    logger.start()
    submitted = 0
    try:
        accepted = 0
        records = [record(i) for i in range(1000)]
        started = time.perf_counter()
        for r in records:
            accepted += logger.submit(r)
        queued_us = (time.perf_counter() - started) / len(records) * 1e6
        submitted += len(records)
        assert accepted == 1000 and queued_us < 50
        # The writer takes one batch and waits on the lock with it.
        wait_for(lambda: logger.queued <= 900)
        n = 20_000
        records = [record(i) for i in range(1000, 1000 + n)]
        started = time.perf_counter()
        for r in records:
            accepted += logger.submit(r)
        mean_us = (time.perf_counter() - started) / n * 1e6
        submitted += n
        print(
            f"\nsubmit with the database locked: {queued_us:.2f} us mean while queueing, "
            f"{mean_us:.2f} us mean with the queue full"
        )
        assert mean_us < 50
        assert logger.written == 0 and logger.queued == 1000
        assert logger.dropped == submitted - accepted >= n - 100
    finally:
        holder.execute("COMMIT")
        holder.close()
    logger.close(timeout=30)
    assert logger.failed_batches == 0
    assert logger.written == accepted == stored(engine)
    assert logger.written + logger.dropped == submitted


def test_a_failing_batch_is_counted_and_the_writer_goes_on(
    store: SqlPredictionStore, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    logger = PredictionLogger(store, batch_size=10, flush_interval_s=0.01)
    logger.start()
    try:
        for i in range(5):
            logger.submit(record(i))
        wait_for(lambda: logger.written == 5)
        # A record the store refuses (an id longer than the column) fails its whole
        # batch: p6 and whichever of p5 and p7 the writer took with it.
        with caplog.at_level(logging.WARNING, logger="moorline.serving.prediction_log"):
            for i in range(5, 8):
                logger.submit(record(i, pid="x" * 100 if i == 6 else None))
            wait_for(lambda: logger.failed_batches == 1)
        assert any("could not be written" in r.getMessage() for r in caplog.records)
        for i in range(8, 20):
            logger.submit(record(i))
        wait_for(lambda: logger.written + logger.failed_records == 20)
        assert logger.failed_batches == 1 and 1 <= logger.failed_records <= 3
    finally:
        logger.close()
    ids = {p.record.prediction_id for p in store.read_predictions("churn-prod")}
    assert len(ids) == logger.written == stored(engine)
    assert {f"p{i}" for i in (*range(5), *range(8, 20))} <= ids
    assert "p6" not in ids and not any(i.startswith("x") for i in ids)


def test_close_drains_the_queue_then_refuses(store: SqlPredictionStore, engine: Engine) -> None:
    # A long interval: only close() makes the writer write.
    logger = PredictionLogger(store, batch_size=64, flush_interval_s=30)
    logger.start()
    for i in range(1000):
        assert logger.submit(record(i))
    started = time.monotonic()
    logger.close(timeout=10)
    assert time.monotonic() - started < 10
    assert logger.written == 1000 and logger.queued == 0 and stored(engine) == 1000
    assert logger.submit(record(1001)) is False
    assert logger.dropped == 1
    logger.close()  # twice is fine


def test_close_without_start_writes_in_the_caller(
    store: SqlPredictionStore, engine: Engine
) -> None:
    logger = PredictionLogger(store, batch_size=7)
    for i in range(30):
        logger.submit(record(i))
    logger.close()
    assert logger.written == 30 and stored(engine) == 30
    with pytest.raises(InvalidArgument, match="closed"):
        logger.start()


def test_close_gives_up_at_its_timeout_and_counts_the_rest(
    db: Path, store: SqlPredictionStore, engine: Engine
) -> None:
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    logger = PredictionLogger(store, batch_size=10, flush_interval_s=0.01)
    logger.start()
    try:
        for i in range(50):
            logger.submit(record(i))
        wait_for(lambda: logger.queued <= 40)
        started = time.monotonic()
        logger.close(timeout=0.2)
        assert time.monotonic() - started < 5
    finally:
        holder.execute("COMMIT")
        holder.close()
    # The batch that was waiting on the lock is written once the lock is released;
    # everything still queued when the time ran out is counted as dropped.
    wait_for(lambda: logger.written + logger.dropped == 50)
    assert logger.written == 10 and logger.dropped == 40
    assert stored(engine) == 10


def test_throughput_through_the_logger(store: SqlPredictionStore, engine: Engine) -> None:
    n = 20_000
    logger = PredictionLogger(store, capacity=n)
    logger.start()
    records = [record(i) for i in range(n)]
    started = time.perf_counter()
    for r in records:
        logger.submit(r)
    logger.close(timeout=60)
    elapsed = time.perf_counter() - started
    rate = n / elapsed
    print(f"\nPredictionLogger into SQLite: {rate:,.0f} records/s")
    assert logger.written == n == stored(engine)
    assert rate >= 5_000


def test_bad_settings_are_refused(store: SqlPredictionStore) -> None:
    with pytest.raises(InvalidArgument, match="capacity"):
        PredictionLogger(store, capacity=0)
    with pytest.raises(InvalidArgument, match="batch_size"):
        PredictionLogger(store, batch_size=0)
    with pytest.raises(InvalidArgument, match="flush_interval_s"):
        PredictionLogger(store, flush_interval_s=0)


def test_submit_from_many_threads_accounts_for_every_record(
    store: SqlPredictionStore, engine: Engine
) -> None:
    logger = PredictionLogger(store, capacity=500, batch_size=100, flush_interval_s=0.01)
    logger.start()
    accepted = [0] * 4

    def producer(k: int) -> None:
        for i in range(2000):
            if logger.submit(record(k * 10_000 + i)):
                accepted[k] += 1

    threads = [threading.Thread(target=producer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logger.close(timeout=30)
    assert logger.written == sum(accepted) == stored(engine)
    assert logger.written + logger.dropped == 8000
