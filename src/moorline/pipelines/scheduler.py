"""The pipeline scheduler: triggers in, runs out, beside the server.

Every ``interval`` seconds (or at once when a run is queued in this
process) a tick:

1. recovers runs whose runner died (their lease in the database expired):
   queued again while attempts remain, else failed with the reason;
2. moves remediations waiting for an approval on once it is decided;
3. per pipeline, records the triggers that are due (cron time, alerts
   fired, new dataset versions) and turns pending ones into queued runs,
   deduplicated;
4. claims queued runs, within each pipeline's concurrency limit and this
   scheduler's free worker slots, and runs them on a thread pool; each run
   holds its lease while it runs, renewing it.

Everything that must happen once is decided by a conditional write in the
database (a trigger key is unique, a pending trigger starts one run, a
queued run is claimed once), so any number of schedulers on one PostgreSQL
database run every trigger exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from moorline.monitoring.scheduler import default_holder
from moorline.pipelines.models import PipelineRun
from moorline.pipelines.runner import PipelineRunner
from moorline.pipelines.service import PipelineService

log = logging.getLogger("moorline.pipelines.scheduler")


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSchedulerSettings:
    """``interval``: seconds between ticks; ``lease_seconds``: how long a run's
    lease lasts without renewal (a dead runner's run is recovered after it);
    ``workers``: runs this scheduler executes at once."""

    interval: float = 10.0
    lease_seconds: float = 60.0
    workers: int = 2


class PipelineScheduler:
    """A daemon thread ticking every ``settings.interval`` seconds, and a pool running runs."""

    def __init__(
        self,
        service: PipelineService,
        settings: PipelineSchedulerSettings | None = None,
        *,
        holder: str | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self._service = service
        self._settings = settings or PipelineSchedulerSettings()
        self._holder = holder or default_holder()
        self._clock = clock or service.now
        self._stop = threading.Event()
        self._runner = PipelineRunner(
            service,
            holder=self._holder,
            lease_seconds=self._settings.lease_seconds,
            stopping=self._stop,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=self._settings.workers, thread_name_prefix="moorline-pipeline"
        )
        self._lock = threading.Lock()
        self._running: dict[str, Future[PipelineRun]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        service.on_queued(self._wake.set)

    @property
    def holder(self) -> str:
        return self._holder

    @property
    def runner(self) -> PipelineRunner:
        return self._runner

    def tick(self, now: int | None = None) -> list[PipelineRun]:
        """One round (see the module docstring); the runs this scheduler started."""
        service = self._service
        now = self._clock() if now is None else now
        try:
            service.recover(now)
        except Exception:
            log.exception("recovering pipeline runs failed")
        try:
            service.advance_approvals()
        except Exception:
            log.exception("advancing approvals failed")
        started: list[PipelineRun] = []
        for pipeline in service.list_pipelines():
            try:
                service.collect(pipeline, now)
                service.start_pending(pipeline, now)
                started += self._claim(pipeline.name, now)
            except Exception:
                log.exception("pipeline %s: scheduling failed", pipeline.name)
        return started

    def _claim(self, pipeline: str, now: int) -> list[PipelineRun]:
        started = []
        ttl = round(self._settings.lease_seconds * 1000)
        while self._free_slots() > 0:
            run = self._service.store.claim_next(pipeline, holder=self._holder, ttl_ms=ttl, now=now)
            if run is None:
                break
            with self._lock:
                self._running[run.id] = self._pool.submit(self._execute, run)
            started.append(run)
        return started

    def _execute(self, run: PipelineRun) -> PipelineRun:
        try:
            return self._runner.execute(run)
        finally:
            with self._lock:
                self._running.pop(run.id, None)
            self._wake.set()  # a slot is free: look for queued runs now

    def _free_slots(self) -> int:
        with self._lock:
            return self._settings.workers - len(self._running)

    def drain(self, timeout: float = 300.0) -> None:
        """Wait until the runs this scheduler started have ended (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                futures = list(self._running.values())
            if not futures:
                return
            for future in futures:
                future.result(timeout=max(0.0, deadline - time.monotonic()))

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="moorline-pipelines", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.tick()
            except Exception:
                log.exception("pipeline scheduler tick failed")
            self._wake.wait(self._settings.interval)

    def close(self, timeout: float = 10.0) -> None:
        """Stop: no more ticks; runs in flight have their jobs killed and are handed
        back (their lease ends now), so the next scheduler, here or on another
        replica, resumes them."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._pool.shutdown(wait=True, cancel_futures=True)


def run_inline(
    service: PipelineService, run: PipelineRun, *, lease_seconds: float = 60.0
) -> PipelineRun | None:
    """Claim queued ``run`` for this process and execute it here (``moorline
    pipeline run``); None when the concurrency limit keeps it queued."""
    holder = default_holder()
    claimed = service.store.claim_next(
        run.pipeline,
        holder=holder,
        ttl_ms=round(lease_seconds * 1000),
        now=service.now(),
        run_id=run.id,
    )
    if claimed is None:
        return None
    return PipelineRunner(service, holder=holder, lease_seconds=lease_seconds).execute(claimed)


__all__ = ["PipelineScheduler", "PipelineSchedulerSettings", "run_inline"]
