"""The pipeline store's contract, on SQLite and PostgreSQL: what must happen once
happens once, whatever the number of callers."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from moorline.errors import AlreadyExists, Conflict, NotFound
from moorline.pipelines.models import (
    Evaluation,
    GlobSource,
    Pipeline,
    PipelineRun,
    Remediation,
    RemediationStatus,
    RunState,
    Step,
    StepStatus,
    Trigger,
    TriggerKind,
    TriggerStatus,
)
from moorline.pipelines.ports import PipelineStore
from moorline.store.sql import create_engine_for, upgrade
from moorline.store.sql.pipelines import SqlPipelineStore
from tests.contracts.sql_backend import postgres_database, reset_postgres

NOW = 1_800_000_000_000


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], contextlib.AbstractContextManager[SqlPipelineStore]]]:
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("pipeline-store")
        template = folder / "template.db"
        upgrade(f"sqlite:///{template}")
        counter = iter(range(10_000))

        @contextlib.contextmanager
        def fresh_sqlite() -> Iterator[SqlPipelineStore]:
            path = folder / f"s{next(counter)}.db"
            shutil.copyfile(template, path)
            engine = create_engine_for(f"sqlite:///{path}")
            try:
                yield SqlPipelineStore(engine)
            finally:
                engine.dispose()

        yield fresh_sqlite
        return
    with postgres_database() as uri:
        engine = create_engine_for(uri)

        @contextlib.contextmanager
        def fresh_postgres() -> Iterator[SqlPipelineStore]:
            reset_postgres(engine)
            yield SqlPipelineStore(engine)

        try:
            yield fresh_postgres
        finally:
            engine.dispose()


@pytest.fixture
def store(
    backend: Callable[[], contextlib.AbstractContextManager[SqlPipelineStore]],
) -> Iterator[SqlPipelineStore]:
    with backend() as s:
        yield s


def _pipeline(name: str = "p", concurrency: int = 1) -> Pipeline:
    return Pipeline(
        name=name,
        entry_point="jobs:fit",
        model="m",
        workdir="/tmp",
        data=GlobSource(pattern="train.csv"),
        evaluation=Evaluation(metric="mae", label="y", holdout=GlobSource(pattern="h.csv")),
        concurrency=concurrency,
        created_at=NOW,
        updated_at=NOW,
    )


def _trigger(key: str, group: str | None = None, pipeline: str = "p") -> Trigger:
    return Trigger(pipeline=pipeline, kind=TriggerKind.ALERT, key=key, group=group, created_at=NOW)


def _queued(n: int, trigger: Trigger, at: int = NOW) -> tuple[PipelineRun, Remediation]:
    run_id, rem_id = f"{n:032x}", f"{n + 1000:032x}"
    assert trigger.id is not None
    run = PipelineRun(
        id=run_id,
        pipeline=trigger.pipeline,
        status=RunState.QUEUED,
        trigger_id=trigger.id,
        trigger_kind=trigger.kind,
        group=trigger.group,
        remediation_id=rem_id,
        created_at=at + n,
    )
    record = Remediation(
        id=rem_id,
        pipeline=trigger.pipeline,
        model="m",
        status=RemediationStatus.TRAINING,
        pipeline_run_id=run_id,
        trigger_kind=trigger.kind,
        alert_key=trigger.group,
        created_at=at,
        updated_at=at,
        steps=(Step(step="alert", status=StepStatus.OK, at=at, reason="fired"),),
    )
    return run, record


def _dedup(into: PipelineRun) -> Step:
    return Step(
        step="deduplicated", status=StepStatus.DEDUPLICATED, at=NOW, reason=f"into {into.id}"
    )


def _start(store: PipelineStore, n: int, trigger: Trigger, cooldown: int | None = None) -> Any:
    run, record = _queued(n, trigger)
    assert trigger.id is not None
    return store.start_trigger(
        trigger.id, run=run, remediation=record, cooldown_since=cooldown, now=NOW, dedup_step=_dedup
    )


def test_pipelines_are_created_once_updated_listed_and_deleted(store: SqlPipelineStore) -> None:
    store.create_pipeline(_pipeline())
    with pytest.raises(AlreadyExists):
        store.create_pipeline(_pipeline())
    store.update_pipeline(_pipeline(concurrency=3))
    assert store.get_pipeline("p").concurrency == 3
    assert [p.name for p in store.list_pipelines()] == ["p"]
    store.delete_pipeline("p")
    with pytest.raises(NotFound):
        store.get_pipeline("p")
    with pytest.raises(NotFound):
        store.update_pipeline(_pipeline())


def test_a_trigger_key_is_recorded_once(store: SqlPipelineStore) -> None:
    store.create_pipeline(_pipeline())
    first, created = store.record_trigger(_trigger("alert:n1", "g"))
    again, created_again = store.record_trigger(_trigger("alert:n1", "g"))
    assert created and not created_again and first.id == again.id
    assert [t.key for t in store.list_triggers("p", pending_only=True)] == ["alert:n1"]
    assert first.id is not None and store.get_trigger(first.id) == first
    with pytest.raises(NotFound):
        store.get_trigger(first.id + 1000)


def test_a_group_shares_one_run_while_it_is_active_or_cooling_down(store: SqlPipelineStore) -> None:
    store.create_pipeline(_pipeline())
    t1, _ = store.record_trigger(_trigger("alert:n1", "alert:drift/mon"))
    t2, _ = store.record_trigger(_trigger("alert:n2", "alert:drift/mon"))
    t3, _ = store.record_trigger(_trigger("alert:n3", "alert:other/mon"))
    started = _start(store, 1, t1)
    assert started.run is not None
    merged = _start(store, 2, t2)
    assert merged.run is None and merged.deduplicated_into.id == started.run.id
    assert _start(store, 2, t2).deduplicated_into is None  # not pending any more: nothing happens
    assert _start(store, 3, t3).run is not None  # another alert is another group
    triggers = {t.key: t for t in store.list_triggers("p")}
    assert triggers["alert:n2"].status is TriggerStatus.DEDUPLICATED
    assert triggers["alert:n2"].run_id == started.run.id
    steps = store.get_remediation(started.run.remediation_id).steps
    assert [s.step for s in steps] == ["alert", "deduplicated"]
    # Finished, but within the cooldown: still absorbed; before it: a new run.
    claimed = store.claim_next("p", holder="h", ttl_ms=1000, now=NOW)
    assert claimed is not None and claimed.id == started.run.id
    assert store.finish_run(claimed.id, holder="h", state=RunState.SUCCEEDED, now=NOW + 10)
    t4, _ = store.record_trigger(_trigger("alert:n4", "alert:drift/mon"))
    assert _start(store, 4, t4, cooldown=NOW + 5).deduplicated_into is not None
    t5, _ = store.record_trigger(_trigger("alert:n5", "alert:drift/mon"))
    assert _start(store, 5, t5, cooldown=NOW + 11).run is not None


def test_claims_respect_the_concurrency_limit(store: SqlPipelineStore) -> None:
    store.create_pipeline(_pipeline(concurrency=2))
    runs = []
    for n in range(4):
        trigger, _ = store.record_trigger(_trigger(f"manual:{n}"))
        runs.append(_start(store, n, trigger).run)
    a = store.claim_next("p", holder="a", ttl_ms=1000, now=NOW)
    b = store.claim_next("p", holder="b", ttl_ms=1000, now=NOW)
    assert a is not None and b is not None
    assert [a.id, b.id] == [runs[0].id, runs[1].id]  # oldest first
    assert a.attempt == 1 and a.status is RunState.RUNNING and a.lease_expires_at == NOW + 1000
    assert store.claim_next("p", holder="c", ttl_ms=1000, now=NOW) is None
    assert store.finish_run(a.id, holder="a", state=RunState.FAILED, now=NOW, error="x")
    # A named run is claimed only if it is queued.
    assert store.claim_next("p", holder="c", ttl_ms=1000, now=NOW, run_id=b.id) is None
    c = store.claim_next("p", holder="c", ttl_ms=1000, now=NOW, run_id=runs[3].id)
    assert c is not None and c.id == runs[3].id


def test_only_the_holder_renews_updates_and_finishes(store: SqlPipelineStore) -> None:
    store.create_pipeline(_pipeline())
    trigger, _ = store.record_trigger(_trigger("manual:1"))
    run = _start(store, 1, trigger).run
    held = store.claim_next("p", holder="a", ttl_ms=1000, now=NOW)
    assert held is not None
    assert not store.renew_lease(run.id, holder="b", ttl_ms=1000, now=NOW)
    assert store.renew_lease(run.id, holder="a", ttl_ms=5000, now=NOW + 100)
    assert store.get_run(run.id).lease_expires_at == NOW + 5100
    assert not store.update_run(run.id, holder="b", tracked_run_id="x" * 32)
    assert store.update_run(run.id, holder="a", tracked_run_id="y" * 32)
    assert not store.finish_run(run.id, holder="b", state=RunState.SUCCEEDED, now=NOW)
    assert store.finish_run(
        run.id, holder="a", state=RunState.SUCCEEDED, now=NOW + 200, result={"v": 1.5}
    )
    done = store.get_run(run.id)
    assert (done.status, done.tracked_run_id, done.result) == (
        RunState.SUCCEEDED,
        "y" * 32,
        {"v": 1.5},
    )
    assert not store.renew_lease(run.id, holder="a", ttl_ms=1000, now=NOW)  # finished


def test_an_expired_run_is_recovered_once(store: SqlPipelineStore) -> None:
    store.create_pipeline(_pipeline())
    t1, _ = store.record_trigger(_trigger("manual:1"))
    t2, _ = store.record_trigger(_trigger("manual:2"))
    first = _start(store, 1, t1).run
    store.claim_next("p", holder="dead", ttl_ms=1000, now=NOW)
    assert store.expired_runs(NOW + 999) == []
    assert [r.id for r in store.expired_runs(NOW + 1001)] == [first.id]
    again = store.recover_run(first.id, now=NOW + 1001, requeue=True)
    assert again is not None and again.status is RunState.QUEUED and again.holder is None
    assert store.recover_run(first.id, now=NOW + 1001, requeue=True) is None  # taken already
    claimed = store.claim_next("p", holder="new", ttl_ms=1000, now=NOW + 2000)
    assert claimed is not None and claimed.attempt == 2
    second = _start(store, 2, t2).run
    assert store.finish_run(claimed.id, holder="new", state=RunState.SUCCEEDED, now=NOW + 2100)
    store.claim_next("p", holder="dead", ttl_ms=1000, now=NOW + 3000)
    failed = store.recover_run(second.id, now=NOW + 5000, requeue=False, error="gave up")
    assert failed is not None and failed.status is RunState.FAILED
    assert failed.error == "gave up" and failed.finished_at == NOW + 5000


def test_cursors_only_move_forward(store: SqlPipelineStore) -> None:
    store.create_pipeline(_pipeline())
    assert store.get_cursor("p", "alerts:m") is None
    store.advance_cursor("p", "alerts:m", 5, "5")
    store.advance_cursor("p", "alerts:m", 3, "3")
    assert store.get_cursor("p", "alerts:m") == (5, "5")
    store.advance_cursor("p", "alerts:m", 9, "9")
    assert store.get_cursor("p", "alerts:m") == (9, "9")


def test_remediation_steps_are_appended_in_order_and_outlive_the_pipeline(
    store: SqlPipelineStore,
) -> None:
    store.create_pipeline(_pipeline())
    trigger, _ = store.record_trigger(_trigger("alert:1", "alert:k"))
    run = _start(store, 1, trigger).run
    rid = run.remediation_id
    store.append_step(
        rid,
        Step(
            step="validation",
            status=StepStatus.OK,
            at=NOW + 5,
            reason="better",
            details={"reasons": [{"metric": "mae"}]},
        ),
        status=RemediationStatus.READY,
        now=NOW + 5,
        challenger_version=7,
    )
    record = store.get_remediation(rid)
    assert record.status is RemediationStatus.READY and record.challenger_version == 7
    assert [s.step for s in record.steps] == ["alert", "validation"]
    assert record.steps[1].details == {"reasons": [{"metric": "mae"}]}
    assert [r.id for r in store.list_remediations(alert_key="alert:k")] == [rid]
    assert store.list_remediations(status=RemediationStatus.FAILED) == []
    with pytest.raises(Conflict):
        store.delete_pipeline("p")  # a run is queued
    claimed = store.claim_next("p", holder="h", ttl_ms=10, now=NOW)
    assert claimed is not None
    store.finish_run(claimed.id, holder="h", state=RunState.SUCCEEDED, now=NOW)
    store.delete_pipeline("p")
    assert store.get_remediation(rid).pipeline == "p"
    with pytest.raises(NotFound):
        store.append_step("f" * 32, record.steps[0], now=NOW)


@pytest.mark.postgres
def test_racing_replicas_on_postgres_start_and_claim_each_run_once(tmp_path: Path) -> None:
    """Eight threads, each with its own engine (a replica), race to record the same
    trigger, start it, and claim runs of a pipeline with a limit of 2."""
    with postgres_database() as uri:
        setup = SqlPipelineStore(create_engine_for(uri))
        setup.create_pipeline(_pipeline(concurrency=2))
        stores = [SqlPipelineStore(create_engine_for(uri)) for _ in range(8)]
        barrier = threading.Barrier(len(stores))
        outcome: list[tuple[str, Any]] = []
        lock = threading.Lock()

        def replica(n: int, store: SqlPipelineStore) -> None:
            barrier.wait()
            trigger, created = store.record_trigger(_trigger("alert:same", "alert:g"))
            started = _start(store, 10 + n, trigger)
            for k in range(3):
                extra, _ = store.record_trigger(_trigger(f"manual:{n}:{k}"))
                _start(store, 100 + 10 * n + k, extra)
            barrier.wait()
            claimed = store.claim_next("p", holder=f"h{n}", ttl_ms=60_000, now=NOW)
            with lock:
                outcome.append(("created", created))
                outcome.append(("started", started.run is not None))
                outcome.append(("claimed", claimed is not None))

        threads = [threading.Thread(target=replica, args=(n, s)) for n, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        count = {
            key: sum(1 for k, v in outcome if k == key and v)
            for key in ("created", "started", "claimed")
        }
        assert count == {"created": 1, "started": 1, "claimed": 2}
        running = setup.list_runs(pipeline="p", states=(RunState.RUNNING,))
        assert len(running) == 2
        for s in [*stores, setup]:
            s.engine.dispose()
