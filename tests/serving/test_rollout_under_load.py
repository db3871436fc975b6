"""A traffic change and a rollback under continuous load, with two worker processes.

Eight client loops call the deployment without pause while its policy moves
from v1 to v2 and is rolled back. Every request must succeed, and each
change must reach every answer within 2 seconds (workers poll every 0.5 s
and load the new version before switching).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from moorline.serving.models import TrafficPolicy
from tests.serving.serving_support import (
    Serve,
    Store,
    clf_versions,
    deploy,
    make_store,
    start_serve,
)

pytestmark = pytest.mark.slow

LOOPS = 8


@dataclass
class Load:
    """Answers seen by the client loops: (time, version) and every failure."""

    answers: list[tuple[float, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def loop(self, url: str, index: int) -> None:
        # a new connection now and then, so both workers get traffic (SO_REUSEPORT
        # spreads connections, not requests)
        while not self.stop.is_set():
            with httpx.Client(timeout=30) as client:
                for _ in range(50):
                    if self.stop.is_set():
                        return
                    try:
                        r = client.post(url, json={"inputs": [[float(index), 0.0, 0.0, 0.0]]})
                    except httpx.HTTPError as exc:
                        with self.lock:
                            self.failures.append(repr(exc))
                        continue
                    now = time.monotonic()
                    with self.lock:
                        if r.status_code == 200:
                            self.answers.append((now, r.json()["model_version"]))
                        else:
                            self.failures.append(f"{r.status_code} {r.text}")

    def settled_after(self, since: float, version: int) -> float | None:
        """Seconds from ``since`` until every later answer came from ``version``."""
        with self.lock:
            later = [(t, v) for t, v in self.answers if t >= since]
        wrong = [t for t, v in later if v != version]
        if not later or later[-1][1] != version:
            return None
        return (max(wrong) - since) if wrong else 0.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Serve]]:
    store = make_store(tmp_path_factory.mktemp("rollout"))
    clf_versions(store)
    services = store.services()
    deploy(services, "live", "clf", TrafficPolicy.single(1))
    services.close()
    serve = start_serve(store, "live", "--workers", "2")
    try:
        yield store, serve
    finally:
        code = serve.stop()
        assert code == 0, serve.log()


def wait_settled(load: Load, since: float, version: int, timeout: float = 15.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.25)
        settled = load.settled_after(since, version)
        if settled is not None and time.monotonic() - since > settled + 1.0:
            return settled
    raise AssertionError(f"v{version} did not take all traffic within {timeout} s")


def test_change_and_rollback_under_load_with_two_workers(served: tuple[Store, Serve]) -> None:
    store, serve = served
    url = f"{serve.url}/v1/deployments/live/predict"
    load = Load()
    threads = [threading.Thread(target=load.loop, args=(url, i)) for i in range(LOOPS)]
    for t in threads:
        t.start()
    services = store.services()
    try:
        time.sleep(1.0)
        changed = time.monotonic()
        services.deployments.set_traffic(
            "live", TrafficPolicy.single(2), actor="tester", reason="ship v2"
        )
        to_v2 = wait_settled(load, changed, 2)
        rolled = time.monotonic()
        services.deployments.rollback("live", actor="tester", reason="v2 misbehaves")
        to_v1 = wait_settled(load, rolled, 1)
        time.sleep(0.5)
    finally:
        load.stop.set()
        for t in threads:
            t.join(30)
        services.close()
    total = len(load.answers)
    print(
        f"{total} requests from {LOOPS} loops, 2 workers: change took effect in {to_v2:.2f} s, "
        f"rollback in {to_v1:.2f} s, {len(load.failures)} failed"
    )
    assert load.failures == []
    assert total > 200
    assert to_v2 <= 2.0 and to_v1 <= 2.0
    # both workers end at the rollback's revision (one that got no traffic meanwhile may
    # have gone from 1 to 3 directly)
    deadline = time.monotonic() + 10
    while serve.log().count(" -> 3 (single v1)") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert serve.log().count(" -> 3 (single v1)") == 2, serve.log()
