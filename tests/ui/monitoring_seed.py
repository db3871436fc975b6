"""Monitors with known results for the monitoring pages' tests, and a live server on them.

Synthetic data (seeded): a reference of 1,000 rows with three numerical
columns (one named with markup) and one categorical column. The monitor
``fraud-drift`` runs five times an hour apart against windows that either
come from the reference distribution or shift some columns by two standard
deviations, with a per-column alert rule (cooldown 0) so alerts fire,
resolve and fire again. ``broken.json`` reads a file that does not exist (an
``error`` result, and a name that ends in ``.json``); ``fresh`` never ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from moorline.bootstrap import Services, Settings, build_services
from moorline.monitoring.alerts import AlertRule
from moorline.monitoring.monitors import FileSource, Monitor, MonitorResult
from tests.support.live import LiveServer, start_server

MODEL = "fraud <img src=x onerror=alert(1)>"
HOSTILE_COLUMN = '<img src=x onerror="window.__pwned=1">&amp'
COLUMNS = ["amount", "age", HOSTILE_COLUMN, "segment"]
DRIFTING = "fraud-drift"
BROKEN = "broken.json"
FRESH = "fresh"
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
HOUR = 3_600_000
#: Per run of ``fraud-drift``: the numerical columns shifted by two standard deviations.
SHIFTS: list[tuple[str, ...]] = [
    (),
    ("amount", "age", HOSTILE_COLUMN),
    ("amount", "age", HOSTILE_COLUMN),
    (),
    ("amount", HOSTILE_COLUMN),
]


def _frame(rng: np.random.Generator, rows: int, shifted: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "amount": rng.normal(100.0, 15.0, rows),
            "age": rng.normal(40.0, 8.0, rows),
            HOSTILE_COLUMN: rng.normal(0.0, 1.0, rows),
            "segment": rng.choice(["retail", "business", "vip"], rows, p=[0.6, 0.3, 0.1]),
        }
    )
    for column in shifted:
        frame[column] = frame[column] + 2.0 * frame[column].std()
    return frame


@dataclass
class MonitoringSite:
    url: str
    server: LiveServer
    services: Services
    #: the results of ``fraud-drift``, oldest first
    results: list[MonitorResult]


@pytest.fixture(scope="session")
def monitoring_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonitoringSite]:
    root = tmp_path_factory.mktemp("ui-monitoring")
    store_uri = f"sqlite:///{root / 'moorline.db'}"
    services = build_services(Settings(store_uri=store_uri, artifacts_uri=str(root / "artifacts")))
    services.registry.create_registered_model(MODEL)
    rng = np.random.default_rng(2)
    reference = root / "reference.csv"
    current = root / "current.csv"
    _frame(rng, 1000).to_csv(reference, index=False)
    monitors = services.monitors
    monitors.create(
        Monitor(
            name=DRIFTING,
            model=MODEL,
            description="Card payments <b>scored</b> by the fraud model",
            reference=FileSource(path=str(reference)),
            current=FileSource(path=str(current)),
            rules=(
                AlertRule(
                    name="column-drift",
                    monitor=DRIFTING,
                    condition="columns.*.drift_detected == true",
                    cooldown_seconds=0,
                ),
            ),
        )
    )
    results = []
    for i, shifted in enumerate(SHIFTS):
        _frame(rng, 400, shifted).to_csv(current, index=False)
        results.append(monitors.run(DRIFTING, now=T0 + i * HOUR))
    monitors.create(
        Monitor(
            name=BROKEN,
            model=MODEL,
            reference=FileSource(path=str(reference)),
            current=FileSource(path=str(root / "missing.csv")),
        )
    )
    monitors.run(BROKEN, now=T0)
    # Yearly: the server's scheduler will not run it during the tests.
    monitors.create(
        Monitor(
            name=FRESH,
            model=MODEL,
            schedule="0 0 1 1 *",
            reference=FileSource(path=str(reference)),
            current=FileSource(path=str(current)),
        )
    )
    server = start_server(root, store_uri=store_uri)
    try:
        yield MonitoringSite(url=server.url, server=server, services=services, results=results)
    finally:
        server.stop()
        services.close()
