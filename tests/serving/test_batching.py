"""The adaptive micro-batcher with real scikit-learn models in a real predict thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from moorline.errors import UserCodeError
from moorline.models.flavors.base import call_user_code
from moorline.serving.batching import MicroBatcher, RequestTimeout


@pytest.fixture(scope="module")
def forest() -> RandomForestClassifier:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    return RandomForestClassifier(n_estimators=20, random_state=0).fit(x, x[:, 0] > 0)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as executor:
        yield executor


class Recording:
    """Calls a real model and remembers the batch sizes it was called with."""

    def __init__(self, model: Any, *, delay: float = 0.0) -> None:
        self.model = model
        self.delay = delay
        self.sizes: list[int] = []
        self.threads: set[str] = set()

    def __call__(self, data: Any) -> Any:
        self.sizes.append(len(data))
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        return call_user_code(self.model.predict, data, what="model")


def rows(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 6))


def test_requests_arriving_while_busy_share_one_predict(
    forest: RandomForestClassifier, pool: ThreadPoolExecutor
) -> None:
    model = Recording(forest, delay=0.05)
    inputs = [rows(1 + i % 3, i) for i in range(40)]

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(model, pool, max_batch_size=128, max_wait_ms=0)
        first = batcher.submit(inputs[0], len(inputs[0]))
        await asyncio.sleep(0.01)  # the first predict is running now
        rest = [batcher.submit(x, len(x)) for x in inputs[1:]]
        return list(await asyncio.gather(first, *rest))

    answers = asyncio.run(scenario())
    # the lone first request went alone, the 39 that queued behind it went together
    assert model.sizes == [1, sum(len(x) for x in inputs[1:])]
    for x, answer in zip(inputs, answers, strict=True):
        assert answer.tolist() == forest.predict(x).tolist()
    assert model.threads == {next(iter(model.threads))}  # one predict thread


def test_a_lone_request_goes_at_once_even_with_a_long_max_wait(
    forest: RandomForestClassifier, pool: ThreadPoolExecutor
) -> None:
    model = Recording(forest)

    async def scenario() -> float:
        batcher = MicroBatcher(model, pool, max_batch_size=64, max_wait_ms=1000)
        await batcher.submit(rows(1, 0), 1)  # warm the thread
        started = time.perf_counter()
        await batcher.submit(rows(1, 1), 1)
        return time.perf_counter() - started

    elapsed = asyncio.run(scenario())
    assert elapsed < 0.5, f"a lone request waited {elapsed:.3f} s for company"


def test_max_batch_size_bounds_rows_per_call(
    forest: RandomForestClassifier, pool: ThreadPoolExecutor
) -> None:
    model = Recording(forest, delay=0.02)

    async def scenario() -> None:
        batcher = MicroBatcher(model, pool, max_batch_size=8, max_wait_ms=0)
        futures = [batcher.submit(rows(3, i), 3) for i in range(10)]
        futures.append(batcher.submit(rows(20, 99), 20))  # larger than the bound: alone
        await asyncio.gather(*futures)
        assert batcher.stats.requests == 11
        assert batcher.stats.largest_batch == 20

    asyncio.run(scenario())
    assert all(size <= 8 for size in model.sizes if size != 20)
    assert 20 in model.sizes
    assert sum(model.sizes) == 50


def test_max_wait_lets_the_first_queued_request_wait_for_company(
    forest: RandomForestClassifier, pool: ThreadPoolExecutor
) -> None:
    model = Recording(forest, delay=0.01)

    async def scenario() -> tuple[float, Any]:
        batcher = MicroBatcher(model, pool, max_batch_size=64, max_wait_ms=150)
        busy = batcher.submit(rows(1, 0), 1)  # runs at once
        await asyncio.sleep(0.05)  # predict done; the batcher is idle again
        await busy
        # while the next one is predicting, one request queues, then others trickle in
        running = batcher.submit(rows(1, 1), 1)
        await asyncio.sleep(0.002)  # its predict has started
        queued_at = time.perf_counter()
        head = batcher.submit(rows(1, 2), 1)
        await asyncio.sleep(0.05)
        late = [batcher.submit(rows(1, 3 + i), 1) for i in range(3)]
        await asyncio.gather(running, head, *late)
        return time.perf_counter() - queued_at, batcher.stats

    waited, stats = asyncio.run(scenario())
    # the queued request waited for the late ones, within its bound (generous margin)
    assert model.sizes == [1, 1, 4]
    assert 0.14 <= waited < 0.15 + 0.5
    assert stats.batches == 3


def test_a_failing_batch_fails_only_its_culprit_and_the_batcher_goes_on(
    forest: RandomForestClassifier, pool: ThreadPoolExecutor
) -> None:
    class Picky:
        def predict(self, data: np.ndarray) -> np.ndarray:
            if np.any(data == 666.0):
                raise ValueError("cannot score 666")
            return np.asarray(forest.predict(data))

    model = Recording(Picky(), delay=0.02)
    good = [rows(1, i) for i in range(5)]
    bad = np.full((1, 6), 666.0)

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(model, pool, max_batch_size=64, max_wait_ms=0)
        first = batcher.submit(good[0], 1)
        await asyncio.sleep(0.005)
        queued = [batcher.submit(x, 1) for x in (good[1], bad, good[2])]
        results = await asyncio.gather(first, *queued, return_exceptions=True)
        after = await asyncio.gather(*(batcher.submit(x, 1) for x in good[3:]))
        return [*results, *after]

    results = asyncio.run(scenario())
    assert isinstance(results[2], UserCodeError)
    assert "cannot score 666" in results[2].message
    assert "ValueError" in results[2].user_traceback
    answered = [results[0], results[1], results[3], results[4], results[5]]
    for x, result in zip(good, answered, strict=True):
        assert not isinstance(result, BaseException)
        assert result.tolist() == forest.predict(x).tolist()
    assert model.sizes[1] == 3  # the three queued requests were tried together first


def test_a_request_past_its_timeout_fails_with_504_and_is_not_predicted(
    forest: RandomForestClassifier, pool: ThreadPoolExecutor
) -> None:
    model = Recording(forest, delay=0.3)

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(model, pool, max_batch_size=64, max_wait_ms=0)
        slow = batcher.submit(rows(1, 0), 1)
        await asyncio.sleep(0.01)
        doomed = batcher.submit(rows(2, 1), 2, timeout_s=0.05)
        return list(await asyncio.gather(slow, doomed, return_exceptions=True))

    slow, doomed = asyncio.run(scenario())
    assert isinstance(doomed, RequestTimeout) and doomed.status == 504
    assert not isinstance(slow, BaseException)
    assert model.sizes == [1]  # the expired request never reached the model


def test_outputs_that_cannot_be_split_per_request_fail_clearly(pool: ThreadPoolExecutor) -> None:
    def one_number(data: Any) -> float:
        return float(data.sum())

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(one_number, pool, max_batch_size=64, max_wait_ms=0)
        first = batcher.submit(np.ones((1, 2)), 1)
        await asyncio.sleep(0)
        return list(await asyncio.gather(first, batcher.submit(np.ones((1, 2)), 1)))

    # alone, each request gets its own whole answer (the batch is retried one by one)
    assert asyncio.run(scenario()) == [2.0, 2.0]


def test_each_predict_call_reports_the_cpu_time_of_its_thread(pool: ThreadPoolExecutor) -> None:
    """Measured inside the predict thread: a model that computes is charged its CPU
    time, one that waits (on I/O, a lock, a sleep) is charged next to nothing; and
    a failed batch retried request by request says so, so nobody counts its
    requests twice."""

    def busy(data: np.ndarray) -> np.ndarray:
        until = time.thread_time() + 0.05
        while time.thread_time() < until:
            pass
        return np.asarray(data)[:, 0]

    def sleepy(data: np.ndarray) -> np.ndarray:
        time.sleep(0.1)
        if np.any(np.asarray(data) == 666.0):
            raise ValueError("cannot score 666")
        return np.asarray(data)[:, 0]

    calls: list[dict[str, Any]] = []

    def observe(**call: Any) -> None:
        calls.append(call)

    async def scenario() -> list[Any]:
        working = MicroBatcher(busy, pool, observe=observe)
        await working.submit(rows(2, 0), 2)
        waiting = MicroBatcher(
            lambda x: call_user_code(sleepy, x, what="model"), pool, observe=observe
        )
        first = waiting.submit(rows(1, 1), 1)
        await asyncio.sleep(0.01)  # the first call is sleeping: two requests queue
        queued = [waiting.submit(np.full((1, 6), 666.0), 1), waiting.submit(rows(1, 2), 1)]
        return list(await asyncio.gather(first, *queued, return_exceptions=True))

    results = asyncio.run(scenario())
    assert isinstance(results[1], UserCodeError) and not isinstance(results[2], BaseException)
    computed, slept, failed, *alone = calls
    assert computed["rows"] == 2 and computed["retried"] is False
    assert 0.045 <= computed["predict_cpu_s"] <= computed["predict_s"] + 0.005
    assert slept["predict_s"] >= 0.1 and slept["predict_cpu_s"] < 0.02
    assert (failed["requests"], failed["retried"]) == (2, True)
    assert [(c["requests"], c["retried"]) for c in alone] == [(1, False), (1, False)]
    assert all(c["predict_cpu_s"] >= 0 for c in calls)
