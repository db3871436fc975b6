"""The monitor scheduler: runs due monitors beside the server.

Every ``interval`` seconds the scheduler asks which scheduled monitors are
due (their latest cron time has no result yet), and for each one takes the
monitor's lease in the database, checks again that it is still due (another
replica may have run it while this one waited), runs it and releases the
lease. Several servers against one PostgreSQL database therefore run each
due monitor once per cron time; a replica that dies mid-run leaves a lease
that expires after ``lease_seconds``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from moorline.monitoring.monitors import MonitorResult
from moorline.monitoring.service import MonitorService, previous_fire

log = logging.getLogger("moorline.monitors.scheduler")


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerSettings:
    """``interval``: seconds between looks; ``lease_seconds``: how long a run may
    hold a monitor before another replica may take it over."""

    interval: float = 30.0
    lease_seconds: float = 600.0


def default_holder() -> str:
    """This process's lease-holder name: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class MonitorScheduler:
    """A daemon thread running :meth:`tick` every ``settings.interval`` seconds."""

    def __init__(
        self,
        service: MonitorService,
        settings: SchedulerSettings | None = None,
        *,
        holder: str | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self._service = service
        self._settings = settings or SchedulerSettings()
        self._holder = holder or default_holder()
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def holder(self) -> str:
        return self._holder

    def tick(self, now: int | None = None) -> list[MonitorResult]:
        """Run every monitor due at ``now`` whose lease this scheduler gets; the results."""
        now = self._clock() if now is None else now
        store = self._service.store
        out = []
        for monitor in self._service.due(now):
            if not store.try_acquire_lease(
                monitor.name, self._holder, self._settings.lease_seconds, now
            ):
                continue
            try:
                # Still due? Another replica may have run it before our lease.
                last = store.last_run_at(monitor.name)
                if monitor.schedule is None or (
                    last is not None and last >= previous_fire(monitor.schedule, now)
                ):
                    continue
                out.append(self._service.run(monitor.name, now=now))
            except Exception:
                log.exception("scheduled run of monitor %s failed", monitor.name)
            finally:
                store.release_lease(monitor.name, self._holder)
        return out

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="moorline-monitors", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("monitor scheduler tick failed")
            self._stop.wait(self._settings.interval)

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


__all__ = ["MonitorScheduler", "SchedulerSettings", "default_holder"]
