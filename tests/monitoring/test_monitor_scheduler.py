"""The monitor scheduler: due cron monitors run once per due time, whatever the
number of schedulers (threads with different lease holders) on one database."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moorline.bootstrap import Services, Settings, build_services
from moorline.monitoring.monitors import FileSource, Monitor, MonitorStatus
from moorline.monitoring.scheduler import MonitorScheduler, SchedulerSettings
from moorline.monitoring.service import previous_fire
from moorline.store.sql import upgrade

POSTGRES_ADMIN_URI = "postgresql://postgres@127.0.0.1:5432/test"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scheduler-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def services(sqlite_template: Path, tmp_path: Path) -> Iterator[Services]:
    path = tmp_path / "moorline.db"
    shutil.copyfile(sqlite_template, path)
    built = build_services(
        Settings(store_uri=f"sqlite:///{path}", artifacts_uri=str(tmp_path / "art")),
        migrate=False,
    )
    try:
        yield built
    finally:
        built.close()


def _files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(7)
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    pd.DataFrame({"x": rng.normal(size=500), "c": rng.integers(0, 4, 500)}).to_csv(ref, index=False)
    pd.DataFrame({"x": rng.normal(size=300), "c": rng.integers(0, 4, 300)}).to_csv(cur, index=False)
    return ref, cur


def _hourly(services: Services, tmp_path: Path, created_at: int) -> None:
    ref, cur = _files(tmp_path)
    services.registry.create_registered_model("m")
    services.monitors.store.create_monitor(
        Monitor(
            name="hourly",
            model="m",
            reference=FileSource(path=str(ref)),
            current=FileSource(path=str(cur)),
            schedule="0 * * * *",
            created_at=created_at,
            updated_at=created_at,
        )
    )
    services.monitors.store.create_monitor(
        Monitor(
            name="on-demand",
            model="m",
            reference=FileSource(path=str(ref)),
            current=FileSource(path=str(cur)),
            created_at=created_at,
            updated_at=created_at,
        )
    )


def test_previous_fire_is_the_latest_cron_time_at_or_before_now() -> None:
    assert previous_fire("0 * * * *", ms("2026-11-29T10:30:00")) == ms("2026-11-29T10:00:00")
    assert previous_fire("0 * * * *", ms("2026-11-29T10:00:00")) == ms("2026-11-29T10:00:00")
    assert previous_fire("*/15 * * * *", ms("2026-11-29T10:14:59")) == ms("2026-11-29T10:00:00")


def test_a_due_cron_monitor_runs_once_per_due_time(services: Services, tmp_path: Path) -> None:
    _hourly(services, tmp_path, created_at=ms("2026-11-29T09:10:00"))
    scheduler = MonitorScheduler(services.monitors, holder="a")
    assert scheduler.tick(ms("2026-11-29T09:59:00")) == []  # created after 09:00: not yet due
    ran = scheduler.tick(ms("2026-11-29T10:00:30"))
    assert [r.monitor for r in ran] == ["hourly"]
    assert ran[0].status is MonitorStatus.OK, ran[0].error
    assert scheduler.tick(ms("2026-11-29T10:20:00")) == []  # already ran for 10:00
    assert [r.monitor for r in scheduler.tick(ms("2026-11-29T11:00:01"))] == ["hourly"]
    assert [r.run_at for r in services.monitors.results("hourly").items] == [
        ms("2026-11-29T11:00:01"),
        ms("2026-11-29T10:00:30"),
    ]
    assert services.monitors.results("on-demand").items == ()


def _tick_together(schedulers: list[MonitorScheduler], now: int) -> list[str]:
    """Every scheduler ticks at ``now`` at the same moment; ``holder:monitor`` per run."""
    barrier = threading.Barrier(len(schedulers))
    ran: list[str] = []
    lock = threading.Lock()

    def tick(s: MonitorScheduler) -> None:
        barrier.wait()
        results = s.tick(now)
        with lock:
            ran.extend(f"{s.holder}:{r.monitor}" for r in results)

    threads = [threading.Thread(target=tick, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return ran


def _race(services: Services, holders: int, times: list[int]) -> list[list[str]]:
    """``holders`` schedulers tick at each time, all at once; who ran what, per time."""
    schedulers = [
        MonitorScheduler(services.monitors, SchedulerSettings(lease_seconds=60), holder=f"h{i}")
        for i in range(holders)
    ]
    return [_tick_together(schedulers, now) for now in times]


def test_two_schedulers_on_sqlite_run_it_exactly_once(services: Services, tmp_path: Path) -> None:
    _hourly(services, tmp_path, created_at=ms("2026-11-29T09:10:00"))
    rounds = _race(services, 2, [ms("2026-11-29T10:00:05"), ms("2026-11-29T11:00:05")])
    assert [len(r) for r in rounds] == [1, 1]
    assert len(services.monitors.results("hourly").items) == 2


def test_a_lease_held_by_another_blocks_until_it_expires(services: Services) -> None:
    store = services.monitors.store
    now = ms("2026-11-29T10:00:00")
    assert store.try_acquire_lease("x", "a", 60, now)
    assert not store.try_acquire_lease("x", "b", 60, now + 1000)
    assert store.try_acquire_lease("x", "a", 60, now + 1000)  # the holder renews
    assert store.try_acquire_lease("x", "b", 60, now + 61_001)  # a's lease expired
    store.release_lease("x", "a")  # not a's any more: nothing happens
    assert not store.try_acquire_lease("x", "a", 60, now + 62_000)
    store.release_lease("x", "b")
    assert store.try_acquire_lease("x", "a", 60, now + 62_000)


@pytest.fixture
def pg_services(tmp_path: Path) -> Iterator[Services]:
    """Every service over a new PostgreSQL database, migrated, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"moorline_monitors_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URI, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            built = build_services(
                Settings(
                    store_uri=f"postgresql://postgres@127.0.0.1:5432/{name}",
                    artifacts_uri=str(tmp_path / "art"),
                )
            )
            try:
                yield built
            finally:
                built.close()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_two_schedulers_on_postgres_run_it_exactly_once(
    pg_services: Services, tmp_path: Path
) -> None:
    _hourly(pg_services, tmp_path, created_at=ms("2026-11-29T09:10:00"))
    times = [ms("2026-11-29T10:00:05"), ms("2026-11-29T11:00:05"), ms("2026-11-29T12:00:05")]
    rounds = _race(pg_services, 3, times)
    assert [len(r) for r in rounds] == [1, 1, 1]
    results = pg_services.monitors.results("hourly").items
    assert sorted(r.run_at for r in results) == times
