"""A live moorline server with known data, and a headless Chromium to look at it.

The server is a real ``moorline server`` subprocess on a free loopback port;
the data is written beforehand through the tracking and artifact services on
the same SQLite file, so every page shows records we know in detail. The
10,000-run experiment is a separate fixture: only the paging test pays for it.
"""

from __future__ import annotations

import math
import os
import struct
import urllib.parse
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from moorline.bootstrap import Services, Settings, build_services
from moorline.tracking.models import Dataset, DatasetInput, Metric, Param, RunStatus, Tag
from tests.support.live import LiveServer, start_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Experiment names and texts carry markup: pages must show it as text.
SMALL_EXPERIMENT = 'churn <b>model</b> & "friends"'
XSS_TEXT = "<script>window.__pwned = 1</script> hello & goodbye\n"
BIG_RUNS = 10_000
T0 = 1_700_000_000_000
#: acc per run name; "eta" has no acc at all (it must sort last both ways).
ACC = {"alpha": 0.71, "beta": 0.93, "gamma": 0.85, "delta": 0.62, "epsilon": 0.88, "zeta": 0.79}
LOSS_STEPS = 120
LOSS_NAN_STEPS = (50, 51)
FINE_STEPS = 5_000


def png_bytes(width: int, height: int) -> bytes:
    """A valid RGB PNG with a diagonal gradient (written by hand: no imaging library needed)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class Site:
    url: str
    server: LiveServer
    services: Services
    small_experiment: str
    other_experiment: str
    runs: dict[str, str] = field(default_factory=dict)
    big_experiment: str | None = None

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30)


def _seed_small(services: Services) -> tuple[str, str, dict[str, str]]:
    tracking = services.tracking
    small = tracking.create_experiment(SMALL_EXPERIMENT, tags={"team": "growth <ml>"})
    other = tracking.create_experiment("fraud-detection")
    runs: dict[str, str] = {}
    for i, name in enumerate([*ACC, "eta"]):
        run = tracking.create_run(small, user_id="ana", run_name=name, start_time=T0 + i * 60_000)
        runs[name] = run.run_id
        metrics = []
        if name in ACC:
            metrics.append(Metric(key="acc", value=ACC[name], timestamp=T0 + i, step=3))
        params = [
            Param(key="lr", value=f"0.0{i + 1}"),
            Param(key="depth", value="8" if name == "beta" else "6"),
            Param(key="optimizer", value="adam"),
        ]
        tracking.log_batch(
            run.run_id, metrics=metrics, params=params, tags=[Tag(key="note", value=f"n{i}")]
        )
    alpha = runs["alpha"]
    loss = [
        Metric(
            key="loss",
            value=math.nan if step in LOSS_NAN_STEPS else math.exp(-step / 30),
            timestamp=T0 + step,
            step=step,
        )
        for step in range(LOSS_STEPS)
    ]
    beta_loss = [
        Metric(key="loss", value=1.2 * math.exp(-step / 25), timestamp=T0 + step, step=step)
        for step in range(0, LOSS_STEPS, 2)
    ]
    for start in range(0, len(loss), 1000):
        tracking.log_batch(alpha, metrics=loss[start : start + 1000])
    tracking.log_batch(runs["beta"], metrics=beta_loss)
    fine = [
        Metric(key="fine", value=math.sin(s / 200), timestamp=T0 + s, step=s)
        for s in range(FINE_STEPS)
    ]
    for start in range(0, len(fine), 1000):
        tracking.log_batch(alpha, metrics=fine[start : start + 1000])
    tracking.log_inputs(
        alpha,
        datasets=[
            DatasetInput(
                dataset=Dataset(
                    name="churn-train",
                    digest="5f2a9c0d1e7b",
                    source_type="local",
                    source="/data/train.csv",
                ),
                tags={"mlflow.data.context": "training"},
            )
        ],
    )
    for name in ("alpha", "beta", "gamma"):
        tracking.end_run(runs[name], RunStatus.FINISHED)
    tracking.end_run(runs["delta"], RunStatus.FAILED)
    artifacts = services.artifacts
    artifacts.log_run_artifact(alpha, "notes/readme.txt", [XSS_TEXT.encode()])
    artifacts.log_run_artifact(
        alpha, "notes/page.html", [b"<html><script>alert(1)</script></html>"]
    )
    artifacts.log_run_artifact(alpha, "plots/curve.png", [png_bytes(120, 80)])
    artifacts.log_run_artifact(
        alpha,
        "plots/evil.svg",
        [
            b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
            b'<script>alert(1)</script><rect width="40" height="40" fill="teal"/></svg>'
        ],
    )
    artifacts.log_run_artifact(
        alpha, "model/MLmodel", [b"flavors:\n  python_function:\n    loader_module: x\n"]
    )
    artifacts.log_run_artifact(alpha, "model/weights.bin", [bytes(range(256)) * 4])
    return small, other, runs


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui-site")
    store_uri = f"sqlite:///{root / 'moorline.db'}"
    services = build_services(Settings(store_uri=store_uri, artifacts_uri=str(root / "artifacts")))
    small, other, runs = _seed_small(services)
    server = start_server(root, store_uri=store_uri)
    try:
        yield Site(
            url=server.url,
            server=server,
            services=services,
            small_experiment=small,
            other_experiment=other,
            runs=runs,
        )
    finally:
        server.stop()
        services.close()


@pytest.fixture(scope="session")
def big_site(site: Site) -> Site:
    """``site`` plus an experiment of 10,000 runs, each with a metric and a param."""
    if site.big_experiment is None:
        tracking = site.services.tracking
        big = tracking.create_experiment("ten-thousand")
        for i in range(BIG_RUNS):
            run = tracking.create_run(
                big, user_id="bot", run_name=f"r{i:05d}", start_time=T0 + i * 1000
            )
            tracking.log_batch(
                run.run_id,
                metrics=[
                    Metric(key="score", value=(i * 7919 % 10_007) / 10_007, timestamp=T0, step=0)
                ],
                params=[Param(key="seed", value=str(i))],
            )
        site.big_experiment = big
    return site


# -- the browser -------------------------------------------------------------


# Per module, not per session: Playwright's sync API keeps an asyncio loop running in
# the main thread while it is open, and every later test of the same process that
# starts an event loop (anyio.run, asyncio.run) would fail with "Already running
# asyncio in this thread" (seen with pytest-xdist, which runs the UI modules first
# in one worker or the other).
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
        )
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where pages are photographed: ``$MOORLINE_UI_SCREENSHOTS`` or a temporary folder."""
    target = os.environ.get("MOORLINE_UI_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class PageWatch:
    """What a page did that it must not: script errors, dialogs, requests leaving loopback."""

    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def on_dialog(self, dialog: Any) -> None:
        self.errors.append(f"dialog opened: {dialog.message}")
        dialog.dismiss()

    def on_request(self, request: Any) -> None:
        url: str = request.url
        if url.startswith(("data:", "about:")):
            return
        if urllib.parse.urlsplit(url).hostname != "127.0.0.1":
            self.foreign_requests.append(url)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    watch = PageWatch()
    tab.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    tab.on("dialog", watch.on_dialog)
    tab.on("request", watch.on_request)
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert watch.errors == [], f"JavaScript errors: {watch.errors}"
    assert watch.foreign_requests == [], f"requests beyond the server: {watch.foreign_requests}"


# The monitoring pages' monitors and results, shared by their HTTP and browser tests.
from tests.ui.monitoring_seed import monitoring_site  # noqa: E402, F401

# The registry pages' records (models, versions, approvals), shared by their HTTP and browser tests.
from tests.ui.registry_seed import registry_site  # noqa: E402, F401
