"""The serving runtime in-process, over a real SQLite store with real registered models.

What a replica does between the HTTP shell and the models: route by policy
(canary draws, sticky A/B keys), answer through the micro-batcher, send
shadow copies, log predictions, follow policy changes, and keep answering
when the prediction log cannot keep up.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from moorline.bootstrap import Services
from moorline.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from moorline.server.serving import registry_loader
from moorline.serving.models import LoggedPrediction, TrafficPolicy
from moorline.serving.prediction_log import PredictionLogger
from moorline.serving.protocols import Payload, decode_mlflow
from moorline.serving.runtime import ConsumerCache, ModelFailed, ServingRuntime
from moorline.serving.usage import UsageMeter
from tests.serving.serving_support import MARKER, Store, deploy, make_store, standard_models


@dataclass
class World:
    store: Store
    services: Services


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = make_store(tmp_path_factory.mktemp("serving-runtime"))
    standard_models(store)
    services = store.services()
    deploy(services, "canary", "clf", TrafficPolicy.canary(champion=1, challenger=2, weight=10))
    deploy(services, "ab", "clf", TrafficPolicy.ab({1: 50, 2: 50}))
    deploy(services, "shadow", "clf", TrafficPolicy.shadow(primary=1, shadows=[2]))
    deploy(services, "flaky", "flaky", TrafficPolicy.single(1))
    deploy(services, "moving", "clf", TrafficPolicy.single(1))
    deploy(services, "private", "clf", TrafficPolicy.single(1), require_consumer=True)
    try:
        yield World(store=store, services=services)
    finally:
        services.close()


def body(rows: list[list[float]], **extra: Any) -> Payload:
    return decode_mlflow(
        orjson.dumps({"inputs": rows, **extra}), "application/json", allow_key=True
    )


def runtime_for(
    world: World, names: list[str], *, logger: PredictionLogger | None = None, **kw: Any
) -> ServingRuntime:
    return ServingRuntime(
        world.services.deployments,
        registry_loader(world.services),
        names=names,
        logger=logger,
        **kw,
    )


def read_log(world: World, deployment: str, *, shadow: bool | None, want: int) -> list[Any]:
    """Logged predictions of ``deployment``, waiting (bounded) for ``want`` of them."""
    predictions = world.services.deployments.predictions
    deadline = time.monotonic() + 10
    found: list[LoggedPrediction] = []
    while time.monotonic() < deadline:
        found = predictions.read_predictions(deployment, shadow=shadow)
        if len(found) >= want:
            break
        time.sleep(0.05)
    return [f.record for f in found]


def test_canary_split_of_10000_requests_is_within_one_point(world: World) -> None:
    async def scenario() -> Counter[int]:
        runtime = runtime_for(world, ["canary"])
        await runtime.start(watch=False)
        state = runtime.get("canary")
        counts: Counter[int] = Counter()
        payload = body([[0.1, 0.2, 0.3, 0.4]])
        for _ in range(100):
            answers = await asyncio.gather(*(runtime.predict(state, payload) for _ in range(100)))
            counts.update(a.version for a in answers)
            for a in answers:  # each answer is its version's own prediction
                assert a.output.tolist()[0] in ((0, 1) if a.version == 1 else (10, 11))
        await runtime.close()
        return counts

    counts = asyncio.run(scenario())
    assert sum(counts.values()) == 10_000
    assert abs(counts[2] / 10_000 - 0.10) <= 0.01, counts
    assert abs(counts[1] / 10_000 - 0.90) <= 0.01, counts


def test_ab_key_pins_the_version_from_body_header_or_consumer(world: World) -> None:
    issued = world.services.deployments.declare_consumer(
        model="clf", name="checkout", owner="team-pay", actor="tester"
    )

    async def scenario() -> None:
        runtime = runtime_for(world, ["ab"])
        await runtime.start(watch=False)
        state = runtime.get("ab")
        consumer = await runtime.authenticate(state, issued.api_key)
        assert consumer is not None and consumer.name == "checkout"
        for i in range(40):
            key = f"user-{i}"
            by_body = {
                (await runtime.predict(state, body([[0.0] * 4], key=key))).version
                for _ in range(10)
            }
            by_header = {
                (await runtime.predict(state, body([[0.0] * 4]), key=key)).version for _ in range(5)
            }
            assert len(by_body) == 1 and by_body == by_header, key
        by_consumer = {
            (await runtime.predict(state, body([[0.0] * 4]), consumer=consumer)).version
            for _ in range(20)
        }
        assert len(by_consumer) == 1
        # without any key the draw decides: both versions answer
        unkeyed = {(await runtime.predict(state, body([[0.0] * 4]))).version for _ in range(80)}
        assert unkeyed == {1, 2}
        await runtime.close()

    asyncio.run(scenario())


def test_shadow_answers_are_logged_but_never_returned(world: World) -> None:
    logger = PredictionLogger(world.services.deployments.predictions, flush_interval_s=0.05)
    logger.start()

    async def scenario() -> list[str]:
        runtime = runtime_for(world, ["shadow"], logger=logger)
        await runtime.start(watch=False)
        state = runtime.get("shadow")
        ids = []
        for i in range(20):
            answer = await runtime.predict(state, body([[float(i), 0.0, 0.0, 0.0]]))
            assert answer.version == 1
            assert answer.output.tolist()[0] in (0, 1)  # never v2's 10 or 11
            ids.append(answer.prediction_id)
        await runtime.close()
        return ids

    ids = asyncio.run(scenario())
    logger.close()
    primary = read_log(world, "shadow", shadow=False, want=20)
    shadows = read_log(world, "shadow", shadow=True, want=20)
    assert {r.prediction_id for r in primary} == set(ids)
    assert {r.prediction_id for r in shadows} == set(ids)
    assert {r.version for r in primary} == {1} and {r.version for r in shadows} == {2}
    assert all(r.outputs[0] in (10, 11) and r.shadow for r in shadows)
    by_id = {r.prediction_id: r for r in primary}
    assert all(by_id[r.prediction_id].inputs == r.inputs for r in shadows)


def test_a_model_that_raises_fails_that_request_only(world: World) -> None:
    logger = PredictionLogger(world.services.deployments.predictions, flush_interval_s=0.05)
    logger.start()

    async def scenario() -> str:
        runtime = runtime_for(world, ["flaky"], logger=logger)
        await runtime.start(watch=False)
        state = runtime.get("flaky")
        with pytest.raises(ModelFailed) as caught:
            await runtime.predict(state, body([[MARKER, 1.0, 2.0, 3.0]]))
        assert caught.value.error_id in caught.value.message
        assert "ValueError" in caught.value.user_traceback
        after = await runtime.predict(state, body([[2.0, 1.0, 2.0, 3.0]]))
        assert after.output.tolist() == [4.0]
        with pytest.raises(InvalidArgument, match="shape"):
            await runtime.predict(state, body([[1.0, 2.0]]))
        await runtime.close()
        return caught.value.error_id

    error_id = asyncio.run(scenario())
    logger.close()
    records = read_log(world, "flaky", shadow=False, want=2)
    failed = [r for r in records if r.error_id is not None]
    assert [r.error_id for r in failed] == [error_id]
    assert failed[0].outputs == [] and failed[0].inputs == [[MARKER, 1.0, 2.0, 3.0]]


def test_usage_counts_each_request_once_for_the_version_that_predicted_it(
    world: World,
) -> None:
    """Shadow copies count for the shadow version; the requests of a batch that failed
    and was retried one by one count once; input refused before the model does not
    count. Inside a shared process (no process CPU), cpu_s is the predict CPU."""
    predictions = world.services.deployments.predictions
    logger = PredictionLogger(predictions, flush_interval_s=0.05)
    meter = UsageMeter(predictions, interval_s=3600)
    logger.start()
    meter.start()

    async def scenario() -> None:
        runtime = runtime_for(world, ["shadow", "flaky"], logger=logger, usage=meter)
        await runtime.start(watch=False)
        shadow, flaky = runtime.get("shadow"), runtime.get("flaky")
        for i in range(12):
            await runtime.predict(shadow, body([[float(i), 0.0, 0.0, 0.0]] * (1 + i % 3)))
        # eleven at once: the first goes alone, the other ten queue behind it and
        # are predicted together, fail on the marker, and are retried one by one
        payloads = [body([[MARKER if i == 5 else float(i), 1.0, 2.0, 3.0]]) for i in range(11)]
        answers = await asyncio.gather(
            *(runtime.predict(flaky, p) for p in payloads), return_exceptions=True
        )
        assert [isinstance(a, ModelFailed) for a in answers].count(True) == 1
        with pytest.raises(InvalidArgument, match="shape"):
            await runtime.predict(flaky, body([[1.0, 2.0]]))
        assert runtime.batchers()[("flaky", "flaky", 1)].stats.failed_batches == 2
        await runtime.close()

    asyncio.run(scenario())
    logger.close()
    meter.close()
    found = {(r.deployment, r.version): r for r in predictions.usage(since=0)}
    assert sorted(found) == [("flaky", 1), ("shadow", 1), ("shadow", 2)]
    rows = sum(1 + i % 3 for i in range(12))
    assert (found["shadow", 1].requests, found["shadow", 1].rows) == (12, rows)
    assert (found["shadow", 2].requests, found["shadow", 2].rows) == (12, rows)
    assert (found["flaky", 1].requests, found["flaky", 1].rows) == (11, 11)
    assert found["shadow", 2].model == "clf" and found["flaky", 1].model == "flaky"
    for r in found.values():
        assert r.predict_cpu_s > 0 and r.cpu_s == r.predict_cpu_s
    assert meter.failed_flushes == 0


def test_a_policy_change_is_applied_by_the_watcher_and_old_versions_released(
    world: World,
) -> None:
    service = world.services.deployments

    async def scenario() -> float:
        runtime = runtime_for(world, ["moving"], poll_interval_s=0.1)
        await runtime.start()
        state = runtime.get("moving")
        assert set(state.slots) == {1}
        before = state.revision
        changed_at = time.perf_counter()
        await asyncio.to_thread(
            service.set_traffic, "moving", TrafficPolicy.single(2), actor="tester"
        )
        versions: set[int] = set()
        while time.perf_counter() - changed_at < 10:
            answer = await runtime.predict(runtime.get("moving"), body([[0.0] * 4]))
            versions.add(answer.version)
            if answer.version == 2:
                break
            await asyncio.sleep(0.01)
        took = time.perf_counter() - changed_at
        # the request that started on the old state finished on it
        assert (await runtime.predict(state, body([[0.0] * 4]))).version == 1
        assert runtime.get("moving").revision == before + 1
        assert set(runtime.versions) == {("clf", 2)}  # v1 released
        await runtime.close()
        return took

    took = asyncio.run(scenario())
    print(f"policy change applied in {took * 1000:.0f} ms")
    assert took < 2.0


def test_serving_all_picks_up_new_deployments_and_drops_deleted_ones(world: World) -> None:
    service = world.services.deployments

    async def wait_for(check: Any, timeout: float = 10.0) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if check():
                return time.perf_counter() - started
            await asyncio.sleep(0.02)
        raise AssertionError("not picked up in time")

    async def scenario() -> None:
        runtime = ServingRuntime(
            service, registry_loader(world.services), names=None, poll_interval_s=0.1
        )
        await runtime.start()
        assert "late" not in runtime.table and runtime.ready
        await asyncio.to_thread(
            service.create, "late", model="clf", policy=TrafficPolicy.single(2), actor="tester"
        )
        took = await wait_for(lambda: "late" in runtime.table)
        answer = await runtime.predict(runtime.get("late"), body([[0.0] * 4]))
        assert answer.version == 2
        await asyncio.to_thread(service.delete, "late", actor="tester")
        await wait_for(lambda: "late" not in runtime.table)
        with pytest.raises(NotFound, match="No deployment 'late'"):
            runtime.get("late")
        await runtime.close()
        print(f"a new deployment was served {took * 1000:.0f} ms after it was created")

    asyncio.run(scenario())


def test_consumer_keys_are_required_when_asked_and_cached(world: World) -> None:
    service = world.services.deployments
    issued = service.declare_consumer(model="clf", name="ledger", owner="fin", actor="tester")
    other = service.declare_consumer(model="frame", name="ledger", owner="fin", actor="tester")

    async def scenario() -> None:
        runtime = runtime_for(world, ["private"])
        await runtime.start(watch=False)
        state = runtime.get("private")
        with pytest.raises(Unauthenticated, match="requires a consumer key"):
            await runtime.authenticate(state, None)
        with pytest.raises(Unauthenticated, match="Malformed"):
            await runtime.authenticate(state, "mlc_nonsense")
        with pytest.raises(PermissionDenied, match="declared for model 'frame'"):
            await runtime.authenticate(state, other.api_key)
        consumer = await runtime.authenticate(state, issued.api_key)
        assert consumer is not None and consumer.name == "ledger"
        await runtime.close()

        cache = ConsumerCache(service.authenticate_consumer, ttl_s=0.3)
        assert (await cache.get(issued.api_key)).name == "ledger"
        await asyncio.to_thread(service.revoke_consumer, "clf", "ledger", actor="tester")
        # remembered for the TTL (no store call per request), refused after it
        assert (await cache.get(issued.api_key)).name == "ledger"
        await asyncio.sleep(0.35)
        with pytest.raises(Unauthenticated, match="revoked"):
            await cache.get(issued.api_key)

    asyncio.run(scenario())


def test_a_full_prediction_log_never_fails_or_slows_requests(world: World, tmp_path: Path) -> None:
    """The store is locked by another writer for the whole test, and the queue holds
    two records: requests are answered as fast as without logging, the log drops."""
    logger = PredictionLogger(
        world.services.deployments.predictions, capacity=2, batch_size=1, flush_interval_s=0.01
    )
    db = world.store.uri.removeprefix("sqlite:///")
    blocker = sqlite3.connect(db, timeout=30, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the logger's writes wait
    logger.start()
    try:

        async def scenario() -> list[float]:
            runtime = runtime_for(world, ["moving", "canary"], logger=logger)
            await runtime.start(watch=False)
            state = runtime.get("canary")
            latencies = []
            for i in range(200):
                t0 = time.perf_counter()
                answers = await asyncio.gather(
                    *(runtime.predict(state, body([[float(i), 0.0, 1.0, 2.0]])) for _ in range(4))
                )
                latencies.append(time.perf_counter() - t0)
                assert all(a.rows == 1 for a in answers)
            await runtime.close()
            return latencies

        latencies = asyncio.run(scenario())
        dropped = logger.dropped
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        logger.close(timeout=5)
    assert dropped >= 790  # 800 records offered, the queue holds 2 and one is being written
    # a blocked writer would hold each request for the store's busy timeout (seconds)
    assert max(latencies) < 1.0, f"slowest request {max(latencies):.3f} s"
    print(f"median {np.median(latencies) * 1000:.2f} ms with the log blocked, {dropped} dropped")
