"""Contract of the canary store (``canaries`` table) on every SQL backend (SQLite,
PostgreSQL): one running canary per deployment, status changes as
compare-and-set on ``running``, and everything stored read back equal."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import cast

import pytest

from moorline.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from moorline.serving.canaries import CanaryRecord, CanarySpec, CanaryStatus
from moorline.serving.canary import CanaryPolicy
from moorline.serving.ports import CanaryStore
from moorline.store.sql.serving import SqlCanaryStore
from tests.contracts.backends import RegistryStores
from tests.contracts.sql_backend import SqlStores

T0 = 1_700_000_000_000
POLICY = CanaryPolicy(min_requests=40, metric="mae", max_duration_s=600, on_drift="note")


@pytest.fixture
def store(registry_backend: RegistryStores) -> CanaryStore:
    return SqlCanaryStore(cast(SqlStores, registry_backend).engine)


def running(
    canary_id: str,
    deployment: str = "demand-prod",
    *,
    at: int = T0,
    remediation: str | None = None,
    challenger: int = 4,
) -> CanaryRecord:
    spec = CanarySpec(
        id=canary_id,
        deployment=deployment,
        model="demand",
        champion=3,
        challenger=challenger,
        weight=12.5,
        policy=POLICY,
        revision=7,
        started_at=at,
        remediation=remediation,
        started_by="ana",
    )
    return CanaryRecord(spec=spec, status=CanaryStatus.RUNNING, updated_at=at)


def test_a_canary_is_stored_and_read_back_equal(store: CanaryStore) -> None:
    record = running("c1", remediation="f" * 32)
    assert store.add_canary(record) == record
    assert store.get_canary("c1") == record
    assert store.running_canary("demand-prod") == record
    assert store.get_canary("c1").spec.policy == POLICY
    assert store.get_canary("c1").spec.deadline_at == T0 + 600_000
    assert store.running_canary("other") is None
    with pytest.raises(NotFound, match="c9"):
        store.get_canary("c9")


def test_one_running_canary_per_deployment(store: CanaryStore) -> None:
    store.add_canary(running("c1"))
    with pytest.raises(Conflict, match="runs canary c1"):
        store.add_canary(running("c2"))
    with pytest.raises(AlreadyExists):
        store.add_canary(running("c1", "another-deployment"))
    store.add_canary(running("c3", "another-deployment"))
    assert {r.id for r in store.list_canaries(status=CanaryStatus.RUNNING)} == {"c1", "c3"}
    # once ended, the deployment may start another
    assert store.finish_canary("c1", status=CanaryStatus.ABORTED, now=T0 + 5, reason="by hand")
    store.add_canary(running("c2", at=T0 + 10))
    assert store.running_canary("demand-prod") == running("c2", at=T0 + 10)
    ended = replace(running("c4"), status=CanaryStatus.PROMOTED)
    with pytest.raises(InvalidArgument, match="running"):
        store.add_canary(ended)


def test_updates_apply_to_a_running_canary_only(store: CanaryStore) -> None:
    store.add_canary(running("c1"))
    verdict = {"verdict": "wait", "rules": [{"rule": "traffic", "status": "wait", "reason": "x"}]}
    assert store.update_canary(
        "c1", now=T0 + 50, revision=8, started_at=T0 + 40, last_verdict=verdict, reason="refused"
    )
    got = store.get_canary("c1")
    assert (got.spec.revision, got.spec.started_at, got.updated_at) == (8, T0 + 40, T0 + 50)
    assert got.spec.deadline_at == T0 + 40 + 600_000  # moves with the start
    assert got.last_verdict == verdict and got.reason == "refused"
    assert got.running and got.ended_at is None
    # only what is given changes
    assert store.update_canary("c1", now=T0 + 60)
    assert store.get_canary("c1") == replace(got, updated_at=T0 + 60)

    final = {"verdict": "rollback", "rules": []}
    assert store.finish_canary(
        "c1",
        status=CanaryStatus.ROLLED_BACK,
        now=T0 + 70,
        reason="v3 takes all traffic again",
        ended_revision=9,
        last_verdict=final,
    )
    ended = store.get_canary("c1")
    assert ended.status is CanaryStatus.ROLLED_BACK and not ended.running
    assert (ended.ended_at, ended.ended_revision, ended.reason) == (
        T0 + 70,
        9,
        "v3 takes all traffic again",
    )
    assert ended.last_verdict == final
    assert store.running_canary("demand-prod") is None
    # an ended canary stays as it ended
    assert not store.finish_canary("c1", status=CanaryStatus.PROMOTED, now=T0 + 80, reason="x")
    assert not store.update_canary("c1", now=T0 + 90, reason="late")
    assert store.get_canary("c1") == ended
    with pytest.raises(InvalidArgument, match="ends"):
        store.finish_canary("c1", status=CanaryStatus.RUNNING, now=T0, reason="")
    for call in (
        lambda: store.update_canary("nope", now=T0),
        lambda: store.finish_canary("nope", status=CanaryStatus.ABORTED, now=T0, reason=""),
        lambda: store.discard_canary("nope"),
    ):
        with pytest.raises(NotFound):
            call()


def test_list_is_newest_first_and_filters(store: CanaryStore) -> None:
    for i, deployment in enumerate(["a", "b", "a-2", "c"]):
        store.add_canary(running(f"c{i}", deployment, at=T0 + i * 1000))
    store.finish_canary("c1", status=CanaryStatus.PROMOTED, now=T0 + 9000, reason="passed")
    assert [r.id for r in store.list_canaries()] == ["c3", "c2", "c1", "c0"]
    assert [r.id for r in store.list_canaries(limit=2)] == ["c3", "c2"]
    assert [r.id for r in store.list_canaries(deployment="a")] == ["c0"]
    assert [r.id for r in store.list_canaries(status=CanaryStatus.PROMOTED)] == ["c1"]
    assert [r.id for r in store.list_canaries(status=CanaryStatus.RUNNING)] == ["c3", "c2", "c0"]
    with pytest.raises(InvalidArgument, match="limit"):
        store.list_canaries(limit=0)


def test_a_discarded_start_leaves_nothing(store: CanaryStore) -> None:
    store.add_canary(running("c1"))
    store.discard_canary("c1")
    with pytest.raises(NotFound):
        store.get_canary("c1")
    assert store.list_canaries() == []
    store.add_canary(running("c2"))  # the deployment is free again


def test_concurrent_starts_on_one_deployment_make_one_canary(store: CanaryStore) -> None:
    """Eight starts at the same moment (as from replicas): one wins, the others
    get Conflict, none is lost half-way."""
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def start(i: int) -> None:
        barrier.wait()
        try:
            store.add_canary(running(f"c{i}", at=T0 + i))
            result = "won"
        except Conflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    (winner,) = store.list_canaries()
    assert store.running_canary("demand-prod") == winner
