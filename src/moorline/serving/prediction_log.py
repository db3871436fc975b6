"""Writing the prediction log off the request path.

A request handler calls :meth:`PredictionLogger.submit`, which only appends
the record to a bounded in-memory queue: it never waits for the database,
never takes a lock, and when the queue is full it refuses the record and
counts it as dropped (a slow or locked database costs log records, never
latency). One daemon thread takes records in batches of ``batch_size`` and
writes each batch with one :meth:`PredictionStore.append_predictions` call;
it wakes every ``flush_interval_s``, or sooner when the queue is half full.

A batch the store refuses (the database is down, a record it cannot hold)
is counted in :attr:`~PredictionLogger.failed_batches`, logged as a warning
(at most one every :data:`WARN_EVERY_S` seconds) and dropped; the thread
keeps going with the next one. :meth:`~PredictionLogger.close` stops taking
records and drains what it can within its timeout; whatever is still queued
then is counted as dropped.

>>> logger = PredictionLogger(services.deployments.predictions)  # doctest: +SKIP
>>> logger.start()  # doctest: +SKIP
>>> logger.submit(record)  # in a request handler: True, or False when full  # doctest: +SKIP
True
>>> logger.close(timeout=5.0)  # at shutdown: writes what is queued  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Final

from moorline.errors import InvalidArgument
from moorline.serving.models import PredictionRecord
from moorline.serving.ports import PredictionStore

log = logging.getLogger("moorline.serving.prediction_log")

#: Fewest seconds between two warnings about failing batches.
WARN_EVERY_S: Final = 10.0


class PredictionLogger:
    """A bounded queue of prediction records and the thread that writes them."""

    def __init__(
        self,
        store: PredictionStore,
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.25,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise InvalidArgument(f"capacity must be a positive integer, got {capacity!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgument(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(flush_interval_s, int | float) or not 0 < flush_interval_s <= 60:
            raise InvalidArgument("flush_interval_s must be in (0, 60] seconds")
        self._store = store
        self._capacity = capacity
        self._batch_size = batch_size
        self._interval = float(flush_interval_s)
        self._high_water = max(1, capacity // 2)
        # deque.append / popleft / len are atomic: the hot path needs no lock.
        self._queue: collections.deque[PredictionRecord] = collections.deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._counts = threading.Lock()
        self._dropped = 0
        self._written = 0
        self._failed_batches = 0
        self._failed_records = 0
        self._last_warning = float("-inf")
        self._unwarned = 0

    # -- the hot path -----------------------------------------------------------------
    def submit(self, record: PredictionRecord) -> bool:
        """Queue ``record`` for writing; False (and one more drop) when the queue is
        full or the logger is closed. Never blocks."""
        queue = self._queue
        size = len(queue)
        if size >= self._capacity or self._closed:
            with self._counts:
                self._dropped += 1
            return False
        queue.append(record)
        if size + 1 == self._high_water:
            self._wake.set()
        return True

    # -- counters ---------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Records refused because the queue was full (or the logger closed)."""
        return self._dropped

    @property
    def queued(self) -> int:
        """Records waiting to be written."""
        return len(self._queue)

    @property
    def written(self) -> int:
        """Records the store accepted."""
        return self._written

    @property
    def failed_batches(self) -> int:
        """Batches the store refused (their records are lost)."""
        return self._failed_batches

    @property
    def failed_records(self) -> int:
        """Records lost with the failed batches."""
        return self._failed_records

    @property
    def capacity(self) -> int:
        return self._capacity

    # -- the writer -------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (once)."""
        if self._thread is not None:
            return
        if self._closed:
            raise InvalidArgument("This prediction logger is closed")
        self._thread = threading.Thread(
            target=self._run, name="moorline-prediction-log", daemon=True
        )
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Refuse new records, write what is queued within ``timeout`` seconds, stop.

        Records still queued when the time is up are counted as dropped.
        """
        if self._closed and self._thread is None:
            return
        self._closed = True
        self._deadline = time.monotonic() + max(0.0, timeout)
        thread = self._thread
        if thread is None:
            self._drain_until_deadline()
            return
        self._stop.set()
        self._wake.set()
        thread.join(max(0.0, timeout) + 1.0)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            while self._queue and not self._stop.is_set():
                self._write_batch()
        self._drain_until_deadline()

    def _drain_until_deadline(self) -> None:
        while self._queue and time.monotonic() < self._deadline:
            self._write_batch()
        left = 0
        queue = self._queue
        while queue:
            try:
                queue.popleft()
            except IndexError:  # pragma: no cover - emptied meanwhile
                break
            left += 1
        if left:
            with self._counts:
                self._dropped += left
            log.warning("prediction log closed with %d record(s) unwritten", left)

    def _write_batch(self) -> None:
        queue = self._queue
        batch: list[PredictionRecord] = []
        for _ in range(self._batch_size):
            try:
                batch.append(queue.popleft())
            except IndexError:
                break
        if not batch:
            return
        try:
            self._store.append_predictions(batch)
        except Exception as exc:  # the thread must outlive any store failure
            self._failed_batches += 1
            self._failed_records += len(batch)
            self._warn(exc, len(batch))
        else:
            self._written += len(batch)

    def _warn(self, exc: Exception, size: int) -> None:
        now = time.monotonic()
        self._unwarned += 1
        if now - self._last_warning < WARN_EVERY_S:
            return
        log.warning(
            "prediction log: %d batch(es) could not be written and were dropped "
            "(latest: %d records, %s: %s)",
            self._unwarned,
            size,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )
        self._last_warning = now
        self._unwarned = 0


__all__ = ["PredictionLogger"]
