"""Serving usage end to end: ``moorline serve`` answers real requests, writes its
usage when it stops, and the fleet page of ``moorline server`` shows it.

The worker's CPU time is read from ``/proc/PID/stat`` (the single worker runs
in the ``moorline serve`` process itself) around the load, so the CPU seconds
the worker recorded can be held against what the kernel counted.
"""

from __future__ import annotations

import os
import re
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from moorline.server.ui.fleet_pages import iso_week
from moorline.serving.models import TrafficPolicy
from tests.serving.serving_support import Store, clf_versions, deploy, make_store, start_serve
from tests.support.live import start_server

pytestmark = pytest.mark.slow

#: Requests sent to each deployment.
N = 400
THREADS = 4


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = make_store(tmp_path_factory.mktemp("serve-usage"))
    clf_versions(store)
    services = store.services()
    try:
        for single, canary in (("alpha", "beta"), ("gamma", "delta")):
            deploy(services, single, "clf", TrafficPolicy.single(1))
            deploy(
                services, canary, "clf", TrafficPolicy.canary(champion=1, challenger=2, weight=50)
            )
    finally:
        services.close()
    yield store


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (clock ticks of 10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send(url: str, deployment: str, count: int, answered: Counter[tuple[str, int]]) -> None:
    lock = threading.Lock()

    def worker(start: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for i in range(start, count, THREADS):
                response = client.post(
                    f"/v1/deployments/{deployment}/predict",
                    json={"inputs": [[0.1 * i, -0.2, 0.3, 1.0]]},
                )
                assert response.status_code == 200, response.text
                with lock:
                    answered[deployment, response.json()["model_version"]] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


def test_serve_records_requests_and_cpu_per_version_and_the_fleet_shows_them(
    store: Store, tmp_path: Path
) -> None:
    served = start_serve(store, "alpha", "beta")
    answered: Counter[tuple[str, int]] = Counter()
    try:
        pid = served.process.pid
        before = cpu_seconds(pid)
        for deployment in ("alpha", "beta"):
            send(served.url, deployment, N, answered)
        worked = cpu_seconds(pid) - before
    finally:
        assert served.stop() == 0, served.log()
    assert sum(answered.values()) == 2 * N and answered["beta", 2] > 0

    services = store.services()
    try:
        every = services.deployments.predictions.usage(model="clf")
    finally:
        services.close()
    usage = [r for r in every if r.deployment in ("alpha", "beta")]
    # Exactly the requests answered, per deployment and per version that answered them.
    assert Counter({(r.deployment, r.version): r.requests for r in usage}) == answered
    assert {r.deployment: r.rows for r in usage if r.deployment == "alpha"} == {"alpha": N}
    for r in usage:
        assert 0 < r.predict_cpu_s <= r.cpu_s, r
    total = sum(r.cpu_s for r in usage)
    predicted = sum(r.predict_cpu_s for r in usage)
    print(
        f"\nmoorline serve: {2 * N} requests, worker CPU {worked:.2f} s by /proc while "
        f"answering; recorded {total:.2f} s ({predicted:.3f} s in predict calls)"
    )
    # The worker's whole CPU time while it served is charged (the kernel counts in
    # 10 ms ticks); what it did between ready and the load, and while stopping,
    # is well under a second.
    assert worked - 0.05 <= total <= worked + 1.0
    assert predicted < total

    # The fleet page shows it (JSON and HTML), by the week of the hours served.
    weeks = {iso_week(r.hour) for r in every}
    every_cpu = sum(r.cpu_s for r in every)
    server = start_server(
        tmp_path / "server", "--artifacts", store.artifacts, "--no-serve", store_uri=store.uri
    )
    try:
        fleet = httpx.get(f"{server.url}/ui/fleet.json", timeout=30).json()
        page = httpx.get(f"{server.url}/ui/fleet", timeout=30).text
    finally:
        server.stop()
    (clf,) = [m for m in fleet["models"] if m["model"] == "clf"]
    shown = clf["compute"]["serving_cpu_seconds"]
    assert shown is not None and set(weeks) <= set(shown)
    assert sum(shown.values()) == pytest.approx(every_cpu, abs=0.002 * len(weeks))
    assert sum(clf["compute"]["serving_requests"].values()) == sum(r.requests for r in every)
    assert "moorline serve worker" in fleet["notes"]["serving_cpu"]
    row = page.split('<tr data-model="clf">', 1)[1].split('<tr data-model="', 1)[0]
    cells = dict(re.findall(r'class="num serving-cpu" data-week="([^"]+)"[^>]*>([^<]*)<', row))
    assert set(cells) == set(fleet["weeks"]) and "n/a" not in cells.values()
    assert sum(float(v) for v in cells.values()) == pytest.approx(every_cpu, abs=0.05 * len(weeks))


def test_two_workers_add_their_usage_to_the_same_rows(store: Store) -> None:
    """Each worker counts what it answered and adds it when it stops: nothing is lost
    or counted twice, whichever worker answered what."""
    served = start_serve(store, "gamma", "delta", "--workers", "2")
    answered: Counter[tuple[str, int]] = Counter()
    try:
        for deployment in ("gamma", "delta"):
            send(served.url, deployment, N, answered)
    finally:
        assert served.stop() == 0, served.log()
    services = store.services()
    try:
        usage = [
            r
            for deployment in ("gamma", "delta")
            for r in services.deployments.predictions.usage(deployment=deployment)
        ]
    finally:
        services.close()
    assert Counter({(r.deployment, r.version): r.requests for r in usage}) == answered
    assert sum(answered.values()) == 2 * N and answered["delta", 2] > 0
    assert all(0 < r.predict_cpu_s <= r.cpu_s for r in usage)
