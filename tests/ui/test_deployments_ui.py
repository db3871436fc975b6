"""The deployment pages in a real headless Chromium, over a live ``moorline server``.

The store holds what the gateway and the control plane would have written:
two deployments of ``churn`` (a 90/10 canary changed by two people, and a
shadow), a declared consumer, a day of logged requests per version (with
errors and known latencies), and two monitors reading the canary's
prediction log -- one per version, run for real, so one finds drift in v3's
shifted inputs and the other none in v1's. Each test photographs its page
(``$MOORLINE_UI_SCREENSHOTS`` or a temporary folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from moorline.bootstrap import Services, Settings, build_services
from moorline.core.clock import now_ms
from moorline.monitoring.monitors import DriftCheck, FileSource, Monitor, PredictionsSource
from moorline.serving.models import TrafficPolicy
from tests.support.deployments import prediction, register_versions
from tests.support.live import LiveServer, start_server

pytestmark = pytest.mark.browser

MODEL = "churn"
CANARY = "churn-prod"
SHADOWED = "churn-shadow"
HOSTILE_REASON = "<script>window.__pwned = 1</script> canary v3"
V1_REQUESTS, V1_ERRORS, V3_REQUESTS = 120, 2, 40
OUTPUTS = [["label", "score"], ["label"], ["label", "score"]]


@dataclass
class DeploymentSite:
    url: str
    server: LiveServer
    services: Services

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30)


def _seed(services: Services, root: Path) -> None:
    register_versions(services, root / "models", MODEL, OUTPUTS)
    deployments = services.deployments
    deployments.create(
        CANARY,
        model=MODEL,
        policy=TrafficPolicy.single(1),
        description="Churn scores for the billing team",
        actor="ana",
        reason="first release",
    )
    deployments.set_traffic(
        CANARY,
        TrafficPolicy.canary(champion=1, challenger=3, weight=10),
        actor="bob",
        reason=HOSTILE_REASON,
    )
    deployments.create(
        SHADOWED, model=MODEL, policy=TrafficPolicy.shadow(primary=1, shadows=[3]), actor="ana"
    )
    deployments.declare_consumer(
        model=MODEL, name="billing", owner="team-billing", fields=["label", "score"], actor="ana"
    )
    rng = np.random.default_rng(5)
    t0 = now_ms() - 3_600_000
    records = [
        prediction(
            CANARY,
            MODEL,
            1,
            t0 + i,
            latency_ms=10.0,
            error=i < V1_ERRORS,
            inputs=[[float(rng.normal(0.0, 1.0))]],
        )
        for i in range(V1_REQUESTS)
    ]
    records += [
        prediction(
            CANARY, MODEL, 3, t0 + 1000 + i, latency_ms=20.0, inputs=[[float(rng.normal(3, 1))]]
        )
        for i in range(V3_REQUESTS)
    ]
    records += [prediction(SHADOWED, MODEL, 1, t0 + i, latency_ms=8.0) for i in range(5)]
    records += [
        prediction(SHADOWED, MODEL, 3, t0 + i, latency_ms=9.0, shadow=True) for i in range(5)
    ]
    deployments.predictions.append_predictions(records)

    reference = root / "reference.csv"
    pd.DataFrame({"input_0": rng.normal(0.0, 1.0, 500)}).to_csv(reference, index=False)
    for version in (1, 3):
        name = f"v{version}-inputs"
        services.monitors.create(
            Monitor(
                name=name,
                model=MODEL,
                reference=FileSource(path=str(reference)),
                current=PredictionsSource(deployment=CANARY, version=version),
                drift=DriftCheck(columns=("input_0",)),
                quality=None,
            )
        )
        services.monitors.run(name)


@pytest.fixture(scope="module")
def deployment_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeploymentSite]:
    root = tmp_path_factory.mktemp("ui-deployments")
    store_uri = f"sqlite:///{root / 'moorline.db'}"
    services = build_services(Settings(store_uri=store_uri, artifacts_uri=str(root / "artifacts")))
    _seed(services, root)
    server = start_server(root, store_uri=store_uri)
    try:
        yield DeploymentSite(url=server.url, server=server, services=services)
    finally:
        server.stop()
        services.close()


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def cells(row: Any) -> dict[str, str]:
    """The text of a table row's cells by their class."""
    out = {}
    for cell in row.locator("td").all():
        for cls in (cell.get_attribute("class") or "").split():
            out[cls] = cell.inner_text().strip()
    return out


def test_list_then_canary_page_shows_split_traffic_drift_history_and_consumers(
    page: Any, deployment_site: DeploymentSite, screenshots: Path
) -> None:
    page.goto(deployment_site.url + "/ui/")
    page.locator("header nav a", has_text="Deployments").click()
    page.wait_for_url("**/ui/deployments")
    assert page.locator("header nav a.active").inner_text() == "Deployments"
    rows = page.locator("#deployments-table tbody tr")
    assert [rows.nth(i).get_attribute("data-deployment") for i in range(rows.count())] == [
        CANARY,
        SHADOWED,
    ]
    row = cells(rows.nth(0))
    assert row["model"] == MODEL
    assert row["policy"] == "canary v1 90% / v3 10%"
    assert row["revision"] == "2"
    shot(page, screenshots, "61-deployments")

    rows.nth(0).locator("td.name a").click()
    page.wait_for_url(f"**/ui/deployments/{CANARY}")
    assert page.locator("h1").inner_text().startswith(CANARY)
    assert page.locator(".policy-text").inner_text() == "canary v1 90% / v3 10%"

    # The split: one segment per version, widths in proportion to the weights.
    segments = page.locator("#split svg g.segment")
    assert segments.count() == 2
    assert [segments.nth(i).get_attribute("data-label") for i in range(2)] == ["v1", "v3"]
    assert [segments.nth(i).get_attribute("data-weight") for i in range(2)] == ["90", "10"]
    widths = [float(segments.nth(i).locator("rect").get_attribute("width")) for i in range(2)]
    assert widths[0] == pytest.approx(9 * widths[1])
    assert segments.nth(0).locator("text").text_content() == "v1 90%"
    assert page.locator("#split svg g.copy").count() == 0

    traffic = page.locator("#traffic-table tbody tr")
    assert [traffic.nth(i).get_attribute("data-version") for i in range(traffic.count())] == [
        "1",
        "3",
    ]
    v1, v3 = cells(traffic.nth(0)), cells(traffic.nth(1))
    assert v1["share"] == "90%" and v1["requests"] == str(V1_REQUESTS)
    assert v1["errors"] == str(V1_ERRORS)
    assert v1["error-rate"] == f"{100 * V1_ERRORS / V1_REQUESTS:.1f}%"
    assert v1["mean"] == "10.0 ms" and v1["p99"] == "10.0 ms"
    assert v3["requests"] == str(V3_REQUESTS) and v3["errors"] == "0"
    assert v3["mean"] == "20.0 ms"
    assert "bad" in (traffic.nth(0).get_attribute("class") or "")

    drift = page.locator("#drift-table tbody tr")
    verdicts = {
        drift.nth(i).get_attribute("data-monitor"): cells(drift.nth(i))
        for i in range(drift.count())
    }
    assert set(verdicts) == {"v1-inputs", "v3-inputs"}
    assert page.locator('#drift-table tr[data-monitor="v3-inputs"] .status').inner_text() == "drift"
    assert page.locator('#drift-table tr[data-monitor="v1-inputs"] .status').inner_text() == "ok"
    assert verdicts["v3-inputs"]["share"] == "100%"
    assert verdicts["v1-inputs"]["share"] == "0%"

    history = page.locator("#history-table tbody tr")
    assert history.count() == 2
    newest = cells(history.nth(0))
    assert newest["action"] == "traffic" and newest["actor"] == "bob"
    assert newest["policy"] == "canary v1 90% / v3 10%"
    assert newest["reason"] == HOSTILE_REASON  # shown as text, never run
    assert cells(history.nth(1))["reason"] == "first release"
    assert page.evaluate("() => window.__pwned") is None

    billing = page.locator('#consumers-table tr[data-consumer="billing"]')
    assert cells(billing)["owner"] == "team-billing"
    assert billing.locator("td.fields .chip").all_inner_texts() == ["label", "score"]
    shot(page, screenshots, "62-deployment")

    page.locator("a.model-link").click()
    page.wait_for_url(f"**/ui/models/{MODEL}")
    deployed = page.locator("#deployments tbody tr")
    assert [deployed.nth(i).get_attribute("data-deployment") for i in range(2)] == [
        CANARY,
        SHADOWED,
    ]
    deployed.nth(1).locator("a").click()
    page.wait_for_url(f"**/ui/deployments/{SHADOWED}")


def test_shadow_page_draws_the_copies_and_counts_shadow_requests(
    page: Any, deployment_site: DeploymentSite, screenshots: Path
) -> None:
    page.goto(f"{deployment_site.url}/ui/deployments/{SHADOWED}")
    assert page.locator("#split svg g.segment").count() == 1
    copies = page.locator("#split svg g.copy")
    assert copies.count() == 1 and copies.get_attribute("data-label") == "v3"
    v3 = page.locator('#traffic-table tr[data-version="3"]')
    assert v3.locator(".chip").inner_text() == "shadow"
    assert cells(v3)["shadow-requests"] == "5"
    assert cells(page.locator('#traffic-table tr[data-version="1"]'))["requests"] == "5"
    assert page.locator("#drift").count() == 0  # no monitor reads this deployment
    shot(page, screenshots, "63-deployment-shadow")


def test_json_views_and_a_missing_deployment(deployment_site: DeploymentSite) -> None:
    listed = deployment_site.get("/ui/deployments.json").json()
    assert [d["name"] for d in listed["deployments"]] == [CANARY, SHADOWED]
    assert listed["deployments"][0]["versions"] == [1, 3]
    data = deployment_site.get(f"/ui/deployments/{CANARY}?format=json").json()
    assert data["deployment"]["revision"] == 2
    assert data["split"] == [{"version": 1, "weight": 90.0}, {"version": 3, "weight": 10.0}]
    assert {t["version"]: t["requests"] for t in data["traffic"]} == {
        1: V1_REQUESTS,
        3: V3_REQUESTS,
    }
    assert [h["revision"] for h in data["history"]] == [2, 1]
    assert {d["monitor"]: d["verdict"] for d in data["drift"]} == {
        "v1-inputs": "ok",
        "v3-inputs": "drift",
    }
    again = deployment_site.get(f"/ui/deployments/{CANARY}.json").json()
    assert {k: v for k, v in again.items() if k != "traffic_since"} == {
        k: v for k, v in data.items() if k != "traffic_since"
    }
    missing = deployment_site.get("/ui/deployments/nope")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]
    assert "nope" in missing.text
    assert deployment_site.get("/ui/deployments/nope?format=json").json()["error_code"] == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    model = deployment_site.get(f"/ui/models/{MODEL}?format=json").json()
    assert [d["name"] for d in model["deployments"]] == [CANARY, SHADOWED]
