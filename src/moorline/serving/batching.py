"""Adaptive micro-batching: requests to one model version that arrive while it is
busy are answered by one predict call.

A tree ensemble costs about the same per call for 1 row as for 64, so under
load gathering requests multiplies throughput; with a lone request there is
nothing to gather and it goes at once (zero wait). The bounds are explicit:

- ``max_batch_size``: rows per predict call (a single larger request still
  goes alone, in one call);
- ``max_wait_ms``: how long the *first* queued request may wait for company
  once the version is free (0: take what queued up while it was busy).

Predicts run in the executor given (moorline's server passes one thread per
worker, so CPU-bound models never run concurrently with each other). An
exception fails only the requests of that batch; when a batch of several
requests fails, each is retried alone so one caller's bad row does not fail
the others. The batcher keeps going either way.

Each predict call's CPU time is measured inside the executor's thread
(``time.thread_time`` around the model's predict) and reported to the
observer with the call (serving usage: :mod:`moorline.serving.usage`). All
requests of a batch go to one deployment's version, so splitting a call's
CPU over its requests in proportion to rows gives that version all of it.

>>> import asyncio, numpy as np
>>> from concurrent.futures import ThreadPoolExecutor
>>> async def demo():
...     with ThreadPoolExecutor(1) as pool:
...         b = MicroBatcher(lambda x: x.sum(axis=1), pool)
...         return await asyncio.gather(b.submit(np.ones((1, 2)), 1), b.submit(np.ones((2, 2)), 2))
>>> with ThreadPoolExecutor(1) as runner:  # a thread of its own: no caller's loop in the way
...     answers = runner.submit(asyncio.run, demo()).result()
>>> [a.tolist() for a in answers]
[[2.0], [2.0, 2.0]]
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol

from moorline.errors import InvalidArgument, TemporarilyUnavailable
from moorline.serving.protocols import (
    ModelInput,
    compatible,
    concatenate,
    count_rows,
    take_rows,
)


class RequestTimeout(TemporarilyUnavailable):
    """A request did not get its answer within its deadline (HTTP 504)."""

    status = 504


class BatchObserver(Protocol):
    """Told about every predict call: its rows and requests, how long the first
    request waited in the queue, how long the call took and the CPU time the
    predict thread spent in it (seconds). ``retried``: the call failed and each
    of its requests is tried again alone (and reported again with its retry)."""

    def __call__(
        self,
        *,
        rows: int,
        requests: int,
        queue_wait_s: float,
        predict_s: float,
        predict_cpu_s: float,
        retried: bool,
    ) -> None: ...


@dataclass(slots=True)
class _Pending:
    data: ModelInput
    rows: int
    future: asyncio.Future[Any]
    queued_at: float
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class BatchStats:
    """Counters since the batcher was created."""

    batches: int = 0
    requests: int = 0
    rows: int = 0
    failed_batches: int = 0
    timeouts: int = 0
    queue_wait_s: float = 0.0
    largest_batch: int = 0
    #: CPU time of the predict calls, measured in the thread that ran them
    predict_cpu_s: float = 0.0
    sizes: dict[int, int] = field(default_factory=dict)

    @property
    def mean_batch_rows(self) -> float:
        return self.rows / self.batches if self.batches else 0.0


class MicroBatcher:
    """Gathers the requests to one model version into predict calls.

    ``predict`` takes one (concatenated) model input and returns one output
    per row (an array, a list, a DataFrame or a dict of those); it runs in
    ``executor``. ``observe`` is called on the event loop after each call.
    """

    def __init__(
        self,
        predict: Callable[[ModelInput], Any],
        executor: Executor,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 0.0,
        observe: BatchObserver | None = None,
    ) -> None:
        self._predict = predict
        # Bound once: the hot path hands the executor the same callable every time.
        self._measured = self._measured_predict
        self._predict_cpu_s = 0.0
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self._observe = observe
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._busy = False
        self._wake: asyncio.Future[None] | None = None
        self._drainer: asyncio.Task[None] | None = None
        self.stats = BatchStats()

    def configure(self, *, max_batch_size: int, max_wait_ms: float) -> None:
        """Change the bounds (a new deployment revision); applies from the next batch."""
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0

    @property
    def queued(self) -> int:
        """Requests waiting for a predict call."""
        return len(self._queue)

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(
        self, data: ModelInput, rows: int, *, timeout_s: float | None = None
    ) -> asyncio.Future[Any]:
        """Queue ``data`` (``rows`` rows); the future resolves to its rows of output.

        With ``timeout_s``, the future fails with :class:`RequestTimeout` when the
        answer is not there in time (a request still queued is dropped unpredicted).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        item = _Pending(data=data, rows=rows, future=future, queued_at=time.perf_counter())
        if timeout_s is not None:
            item.timer = loop.call_later(timeout_s, self._expire, item, timeout_s)
        self._queue.append(item)
        self._queued_rows += rows
        if not self._busy:
            self._busy = True
            self._drainer = loop.create_task(self._drain())
        elif (
            self._wake is not None
            and self._queued_rows >= self.max_batch_size
            and not self._wake.done()
        ):
            self._wake.set_result(None)
        return future

    def _expire(self, item: _Pending, timeout_s: float) -> None:
        if not item.future.done():
            self.stats.timeouts += 1
            item.future.set_exception(
                RequestTimeout(f"The model did not answer within {timeout_s:g} s (timeout_s)")
            )

    def _take(self) -> list[_Pending]:
        """The next batch: queued requests in order, within max_batch_size rows,
        all compatible with the first (others wait for the next batch)."""
        batch: list[_Pending] = []
        rows = 0
        queue = self._queue
        skipped: list[_Pending] = []
        while queue:
            item = queue.popleft()
            self._queued_rows -= item.rows
            if item.future.done():  # timed out or cancelled while queued
                continue
            if batch and (
                rows + item.rows > self.max_batch_size or not compatible(batch[0].data, item.data)
            ):
                skipped.append(item)
                if rows + item.rows > self.max_batch_size:
                    break
                continue
            batch.append(item)
            rows += item.rows
            if rows >= self.max_batch_size:
                break
        for item in reversed(skipped):
            queue.appendleft(item)
            self._queued_rows += item.rows
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            first = True
            while self._queue:
                if not first and self.max_wait_s > 0:
                    await self._gather(loop)
                first = False
                batch = self._take()
                if batch:
                    await self._run(loop, batch)
        finally:
            self._busy = False
            self._drainer = None
            if self._queue:  # arrived while finishing: go again
                self._busy = True
                self._drainer = loop.create_task(self._drain())

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let the first queued request wait for company up to max_wait_ms in all."""
        head = self._queue[0]
        remaining = head.queued_at + self.max_wait_s - time.perf_counter()
        if remaining <= 0 or self._queued_rows >= self.max_batch_size:
            return
        wake: asyncio.Future[None] = loop.create_future()
        self._wake = wake
        timer = loop.call_later(remaining, _resolve, wake)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    def _measured_predict(self, data: ModelInput) -> Any:
        """Runs in the executor's thread: the model's predict, and the CPU time this
        thread spent in it (read on the event loop once the call is done: one
        batch at a time per batcher, so nothing else writes it meanwhile)."""
        started = time.thread_time()
        try:
            return self._predict(data)
        finally:
            self._predict_cpu_s = time.thread_time() - started

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        rows = sum(p.rows for p in batch)
        data = concatenate([p.data for p in batch])
        self._predict_cpu_s = 0.0
        try:
            output = await loop.run_in_executor(self._executor, self._measured, data)
            parts = _split(output, [p.rows for p in batch])
        except Exception as exc:
            self.stats.failed_batches += 1
            if len(batch) > 1:
                # find the culprit: each request alone
                self._account(batch, rows, started, retried=True)
                for p in batch:
                    if not p.future.done():
                        await self._run(loop, [p])
                return
            for p in batch:
                _fail(p, exc)
        else:
            for p, part in zip(batch, parts, strict=True):
                if p.timer is not None:
                    p.timer.cancel()
                if not p.future.done():
                    p.future.set_result(part)
        self._account(batch, rows, started)

    def _account(
        self, batch: list[_Pending], rows: int, started: float, *, retried: bool = False
    ) -> None:
        now = time.perf_counter()
        cpu = self._predict_cpu_s
        stats = self.stats
        stats.batches += 1
        stats.requests += len(batch)
        stats.rows += rows
        stats.predict_cpu_s += cpu
        stats.sizes[rows] = stats.sizes.get(rows, 0) + 1
        stats.largest_batch = max(stats.largest_batch, rows)
        wait = started - batch[0].queued_at
        stats.queue_wait_s += wait
        if self._observe is not None:
            self._observe(
                rows=rows,
                requests=len(batch),
                queue_wait_s=wait,
                predict_s=now - started,
                predict_cpu_s=cpu,
                retried=retried,
            )

    async def close(self) -> None:
        """Wait for queued requests to be answered."""
        while self._drainer is not None:
            await asyncio.shield(self._drainer)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(p: _Pending, exc: BaseException) -> None:
    if p.timer is not None:
        p.timer.cancel()
    if not p.future.done():
        p.future.set_exception(exc)


def _split(output: Any, sizes: list[int]) -> list[Any]:
    if len(sizes) == 1:
        return [output]
    total = sum(sizes)
    n = count_rows(output)
    if n != total:
        raise InvalidArgument(
            f"The model returned {n if n is not None else 'a non-row'} output for {total} input "
            "rows, so a batch cannot be split: set max_batch_size to 1 for this deployment"
        )
    parts = []
    start = 0
    for size in sizes:
        parts.append(take_rows(output, start, start + size))
        start += size
    return parts
