"""Serving usage: requests, rows and CPU time per deployment, model version and UTC hour.

A :class:`UsageMeter` is told about every predict call on the event loop
(:meth:`UsageMeter.add`: a clock read, a dict lookup and three additions; no
lock, and no allocation once the hour's tally of that version exists). Its
own daemon thread adds what accumulated to the store every ``interval_s``
seconds (30 by default), and :meth:`~UsageMeter.close` does so a last time,
each with one :meth:`~moorline.serving.ports.PredictionStore.record_usage`
call. The store adds the counters up, so several workers and replicas write
the same hours without coordination.

What is counted, per (deployment, model, version, hour):

- ``requests`` and ``rows`` that reached the model. A shadow copy counts for
  the shadow version (it costs CPU too); a request refused before the model
  (bad input, no consumer key) or expired in the queue does not count.
- ``predict_cpu_s``: the CPU time of the predict thread during the model's
  predict calls, measured in that thread
  (:class:`~moorline.serving.batching.MicroBatcher`). Threads the model starts
  itself (OpenMP or BLAS pools) are not in it.
- ``cpu_s``: with ``process_cpu`` (a process that only serves: a ``moorline
  serve`` worker), ``predict_cpu_s`` plus the version's share, by requests, of
  the rest of the process's CPU time in the interval (``process_cpu()``
  delta minus the interval's predict CPU: HTTP parsing, JSON, the prediction
  log, polling, loading new versions). Summed over versions, that is the
  process's CPU time over the intervals in which it answered requests (an
  interval without requests is charged to nobody). Without ``process_cpu``
  (the serving app inside ``moorline server``, whose process also runs
  tracking and the UI), ``cpu_s`` is ``predict_cpu_s``.

A flush the store fails is logged (at most once every :data:`WARN_EVERY_S`
seconds) and counted in :attr:`~UsageMeter.failed_flushes`; what it held is
kept and added to the next flush, so an outage of the database delays usage
rather than losing it (unless the process stops before it comes back). A
record the store refuses as such (InvalidArgument: a name longer than its
column) is dropped and counted in :attr:`~UsageMeter.lost_records`, the
others of its flush written one by one, so one bad record cannot block the
rest for good.

>>> meter = UsageMeter(store, process_cpu=time.process_time)  # doctest: +SKIP
>>> meter.start()  # when the models are loaded  # doctest: +SKIP
>>> key = ("churn-prod", "churn", 3)  # deployment, model, version  # doctest: +SKIP
>>> meter.add(key, requests=2, rows=5, predict_cpu_s=0.0004)  # a batch  # doctest: +SKIP
>>> meter.close()  # at shutdown: flushes what it has  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

from moorline.core.clock import now_ms
from moorline.errors import InvalidArgument
from moorline.serving.models import HOUR_MS, UsageRecord, hour_of
from moorline.serving.ports import PredictionStore

log = logging.getLogger("moorline.serving.usage")

#: Seconds between two flushes by default.
DEFAULT_INTERVAL_S: Final = 30.0
#: Fewest seconds between two warnings about failing flushes.
WARN_EVERY_S: Final = 60.0

#: (deployment, model, version)
UsageKey = tuple[str, str, int]


class _Tally:
    """Running totals of one version in one hour, written by the event loop only."""

    __slots__ = ("predict_cpu_s", "requests", "rows")

    def __init__(self) -> None:
        self.requests = 0
        self.rows = 0
        self.predict_cpu_s = 0.0


class UsageMeter:
    """Counts serving usage on the event loop and adds it to ``store`` from a thread.

    ``process_cpu``: the process's CPU time in seconds (``time.process_time``)
    when the process only serves, so ``cpu_s`` includes each version's share of
    everything else it does; None: ``cpu_s`` is the predict CPU alone.
    ``clock``: milliseconds since the epoch (the hour buckets).
    """

    def __init__(
        self,
        store: PredictionStore,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        process_cpu: Callable[[], float] | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if (
            isinstance(interval_s, bool)
            or not isinstance(interval_s, int | float)
            or not 0 < interval_s <= 3600
        ):
            raise InvalidArgument(f"interval_s must be in (0, 3600] seconds, got {interval_s!r}")
        self._store = store
        self._interval = float(interval_s)
        self._process_cpu = process_cpu
        self._clock = clock
        # The event loop's side: hour -> version -> totals since the meter began.
        self._hours: dict[int, dict[UsageKey, _Tally]] = {}
        self._hour = 0
        self._hour_end = 0
        self._current: dict[UsageKey, _Tally] = {}
        # The flushing side (under _flush_lock): totals already taken, and what is
        # taken but not yet written, as [requests, rows, cpu_s, predict_cpu_s].
        self._taken: dict[tuple[int, UsageKey], tuple[int, int, float]] = {}
        self._pending: dict[tuple[int, UsageKey], list[float]] = {}
        self._last_process: float | None = None
        #: predict CPU reported after the process CPU it was part of was charged
        self._overcharged = 0.0
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._flushes = 0
        self._failed_flushes = 0
        self._written = 0
        self._lost = 0
        self._last_warning = float("-inf")
        self._unwarned = 0

    # -- the hot path (the event loop) -----------------------------------------------
    def add(self, key: UsageKey, *, requests: int, rows: int, predict_cpu_s: float) -> None:
        """Count one predict call of ``key`` = (deployment, model, version). Called
        from one thread (the event loop); never blocks."""
        now = self._clock()
        if not self._hour <= now < self._hour_end:
            self._enter_hour(now)
        tally = self._current.get(key)
        if tally is None:
            tally = self._current[key] = _Tally()
        tally.requests += requests
        tally.rows += rows
        tally.predict_cpu_s += predict_cpu_s

    def _enter_hour(self, now: int) -> None:
        hour = hour_of(now)
        current = self._hours.get(hour)
        if current is None:
            current = self._hours[hour] = {}
        self._current = current
        self._hour, self._hour_end = hour, hour + HOUR_MS

    # -- counters ---------------------------------------------------------------------
    @property
    def flushes(self) -> int:
        """Flushes the store accepted (flushes with nothing to add are not counted)."""
        return self._flushes

    @property
    def failed_flushes(self) -> int:
        """Flushes the store refused (their records were kept for the next one)."""
        return self._failed_flushes

    @property
    def records_written(self) -> int:
        """Usage records the store accepted."""
        return self._written

    @property
    def lost_records(self) -> int:
        """Usage records the store refused as such (dropped)."""
        return self._lost

    @property
    def pending(self) -> int:
        """Usage records taken from the counters and not written yet."""
        return len(self._pending)

    @property
    def interval_s(self) -> float:
        return self._interval

    # -- flushing ---------------------------------------------------------------------
    def start(self) -> None:
        """Begin counting the process's CPU from now (serving starts: the models are
        loaded) and start the flushing thread (once)."""
        if self._closed:
            raise InvalidArgument("This usage meter is closed")
        if self._thread is not None:
            return
        if self._process_cpu is not None:
            with self._flush_lock:
                self._last_process = self._process_cpu()
        self._thread = threading.Thread(target=self._run, name="moorline-usage", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and flush what was counted (a last time)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(max(0.0, timeout))
            self._thread = None
        if not self.flush() and self._pending:
            log.warning(
                "serving usage: %d record(s) could not be written at shutdown and are lost",
                len(self._pending),
            )

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def flush(self) -> bool:
        """Add what was counted since the last flush to the store, in one call.

        False when the store failed (what it held is kept for the next flush).
        """
        with self._flush_lock:
            self._take()
            if not self._pending:
                return True
            records = {
                (hour, key): UsageRecord(
                    deployment=key[0],
                    model=key[1],
                    version=key[2],
                    hour=hour,
                    requests=int(cell[0]),
                    rows=int(cell[1]),
                    cpu_s=cell[2],
                    predict_cpu_s=cell[3],
                )
                for (hour, key), cell in sorted(self._pending.items())
            }
            try:
                self._store.record_usage(list(records.values()))
            except InvalidArgument:  # a record it cannot hold: find it, write the others
                return self._write_one_by_one(records)
            except Exception as exc:  # never raised into serving; kept for the next flush
                self._failed_flushes += 1
                self._warn(exc, len(records))
                return False
            self._pending.clear()
            self._flushes += 1
            self._written += len(records)
            return True

    def _write_one_by_one(self, records: dict[tuple[int, UsageKey], UsageRecord]) -> bool:
        for hour_key, record in records.items():
            try:
                self._store.record_usage([record])
            except InvalidArgument as exc:
                self._lost += 1
                log.warning("serving usage: a record was refused and dropped: %s", exc.message)
            except Exception as exc:
                self._failed_flushes += 1
                self._warn(exc, len(self._pending))
                return False
            else:
                self._written += 1
            del self._pending[hour_key]
        self._flushes += 1
        return True

    def _take(self) -> None:
        """Move what the counters gained since the last take into ``_pending``,
        charging the interval's other process CPU by requests."""
        now = self._clock()
        gained: list[tuple[int, UsageKey, int, int, float]] = []
        for hour, tallies in list(self._hours.items()):
            for key, tally in list(tallies.items()):
                # Three reads, maybe around an add: what one misses, the next take has.
                totals = (tally.requests, tally.rows, tally.predict_cpu_s)
                before = self._taken.get((hour, key), (0, 0, 0.0))
                if totals != before:
                    self._taken[hour, key] = totals
                    gained.append(
                        (
                            hour,
                            key,
                            totals[0] - before[0],
                            totals[1] - before[1],
                            totals[2] - before[2],
                        )
                    )
            if hour + 2 * HOUR_MS <= now:
                # An hour that ended an hour ago gets no more adds: forget it.
                del self._hours[hour]
                for key in tallies:
                    self._taken.pop((hour, key), None)
        requests = sum(g[2] for g in gained)
        predicted = sum(g[4] for g in gained)
        rest = 0.0
        if self._process_cpu is not None:
            process = self._process_cpu()
            if self._last_process is not None:
                rest = process - self._last_process - predicted - self._overcharged
                # A batch's predict CPU is reported when the call ends, maybe after
                # the interval that charged it as the process's: carry that over.
                self._overcharged = max(0.0, -rest)
                rest = max(0.0, rest)
            self._last_process = process
        for hour, key, n, rows, cpu in gained:
            cell = self._pending.get((hour, key))
            if cell is None:
                cell = self._pending[hour, key] = [0, 0, 0.0, 0.0]
            cell[0] += n
            cell[1] += rows
            cell[2] += cpu + (rest * n / requests if requests else 0.0)
            cell[3] += cpu

    def _warn(self, exc: Exception, size: int) -> None:
        now = time.monotonic()
        self._unwarned += 1
        if now - self._last_warning < WARN_EVERY_S:
            return
        log.warning(
            "serving usage: %d flush(es) could not be written, kept for the next one "
            "(latest: %d records, %s: %s)",
            self._unwarned,
            size,
            type(exc).__name__,
            str(exc).splitlines()[0] if str(exc) else "",
        )
        self._last_warning = now
        self._unwarned = 0


__all__ = ["DEFAULT_INTERVAL_S", "UsageKey", "UsageMeter"]
