"""The registry pages in a real headless Chromium: models, a version's lineage graph,
deciding approvals as two different people, and the audit log.

Each test also photographs its page (``$MOORLINE_UI_SCREENSHOTS`` or a
temporary folder) so a person can look at the pages after a change.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorline.auth.models import Role
from tests.support.live import start_server
from tests.ui.registry_seed import HOSTILE_MODEL, MODEL, RUN_METRICS, RegistrySite

pytestmark = pytest.mark.browser


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_models_list_shows_aliases_who_moved_them_and_key_metrics(
    page: Any, registry_site: RegistrySite, screenshots: Path
) -> None:
    page.goto(f"{registry_site.url}/ui/models")
    row = page.locator(f'#models-table tr[data-model="{MODEL}"]')
    champion = row.locator('.alias-line[data-alias="champion"]')
    assert champion.locator("a.alias").inner_text() == "@champion → v1"
    assert champion.locator(".who").inner_text() == "ana"
    challenger = row.locator('.alias-line[data-alias="challenger"]')
    assert challenger.locator("a.alias").inner_text() == "@challenger → v2"
    assert challenger.locator(".who").inner_text() == "bo"
    assert row.locator(".risk-high").inner_text() == "high risk"
    metrics = row.locator(".metric")
    assert [m.get_attribute("data-key") for m in metrics.all()] == [
        "auc",
        "f1",
        "logloss",
        "precision",
    ]
    assert row.locator('.metric[data-key="auc"] .v').inner_text() == str(RUN_METRICS["v1"]["auc"])
    # A name made of markup is shown as text and runs nothing.
    hostile = page.locator(f'#models-table tr[data-model="{HOSTILE_MODEL}"] td.name a')
    assert hostile.inner_text() == HOSTILE_MODEL
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("() => window.__pwned") is None
    shot(page, screenshots, "21-models")

    page.fill('input[name="q"]', "chu")
    page.press('input[name="q"]', "Enter")
    page.wait_for_url(re.compile(r"q=chu"))
    assert page.locator("#models-table td.name > a").all_inner_texts() == [MODEL]

    page.click(f'#models-table tr[data-model="{MODEL}"] td.name > a')
    page.wait_for_url(f"**/ui/models/{MODEL}")
    assert page.locator('#aliases tr[data-alias="champion"] .protected').is_visible()
    assert page.locator("#versions-table tbody tr").count() == 2
    assert (
        page.locator('#policy .must-beat[data-key="auc"]').inner_text() == "auc (higher is better)"
    )
    history = page.locator("#alias-history tbody tr")
    assert history.count() >= 3
    shot(page, screenshots, "22-model")


def test_version_page_renders_the_lineage_graph_with_run_and_dataset_nodes(
    page: Any, registry_site: RegistrySite, screenshots: Path
) -> None:
    run_id = registry_site.runs["v2"]
    page.goto(f"{registry_site.url}/ui/models/{MODEL}/versions/2")
    graph = page.locator("#lineage svg.moorline-graph")
    assert graph.is_visible()
    datasets = graph.locator('g.node[data-kind="dataset"] .node-label')
    # SVG text has no innerText: read its text content.
    assert sorted(datasets.all_text_contents()) == ["churn-eval", "churn-train"]
    run_node = graph.locator('g.node[data-kind="run"]')
    assert run_node.locator(".node-label").text_content() == "train-v2"
    current = graph.locator('g.node.current[data-kind="model_version"] .node-label')
    assert current.text_content() == f"{MODEL} v2"
    assert graph.locator('g.node[data-kind="alias"] .node-label').all_text_contents() == [
        "@challenger"
    ]
    assert graph.locator('g.edge[data-target="run"]').count() == 2
    # Boxes are laid out left to right: data, run, version, alias.
    xs = [
        graph.locator(f'g.node[data-kind="{kind}"]').first.bounding_box()["x"]
        for kind in ("dataset", "run", "model_version", "alias")
    ]
    assert xs == sorted(xs) and len(set(xs)) == 4

    files = page.locator("#files-table")
    skops = files.locator('tr[data-path="model.skops"]')
    assert skops.locator(".check").inner_text() == "size ok"
    assert len(skops.locator("td.digest").inner_text()) == 64
    inputs = page.locator('#signature table.schema[data-part="inputs"] tbody th').all_inner_texts()
    assert inputs == ["age", "tenure", "monthly_spend"]
    assert "scikit-learn" in page.locator("#environment table.requirements").inner_text()
    assert page.locator('#run table.metrics tr[data-key="auc"] td').inner_text() == str(
        RUN_METRICS["v2"]["auc"]
    )
    shot(page, screenshots, "23-model-version")

    # A node is a link: the run box opens the run's page.
    run_node.click()
    page.wait_for_url(f"**/ui/runs/{run_id}")
    assert page.locator("h1").inner_text().startswith("train-v2")


def _sign_in(page: Any, url: str, token: str) -> None:
    page.goto(f"{url}/ui/login")
    page.fill("#token", token)
    page.click("button.primary")
    page.wait_for_url(f"{url}/ui/")


def test_approving_from_the_queue_as_a_second_person_and_refusing_self_approval(
    page: Any, registry_site: RegistrySite, screenshots: Path, tmp_path: Path
) -> None:
    auth = registry_site.site.services.auth
    requester = auth.create_token("ui-ana", Role.EDITOR).secret
    approver = auth.create_token("ui-bo", Role.APPROVER).secret
    server = start_server(
        tmp_path / "auth", "--auth", store_uri=registry_site.site.server.store_uri
    )
    try:

        def request_as(token: str, reason: str) -> str:
            response = httpx.post(
                f"{server.url}/api/v1/approvals",
                json={"name": MODEL, "alias": "champion", "version": 2, "reason": reason},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            return str(response.json()["approval_id"])

        theirs = request_as(requester, "v2 beats v1 on auc")
        own = request_as(approver, "my own request")

        # The requester sees the queue but has no decision buttons.
        _sign_in(page, server.url, requester)
        page.goto(f"{server.url}/ui/approvals")
        assert page.locator(".identity .who").inner_text() == "ui-ana"
        row = page.locator(f'.pending-table tr[data-approval-id="{theirs}"]')
        assert row.locator(".move").inner_text().startswith(f"{MODEL} @champion")
        assert row.locator("form.decision").count() == 0
        shot(page, screenshots, "24-approvals-as-requester")
        page.click(".logout button")
        page.wait_for_url(f"{server.url}/ui/login")

        # A second person, an approver, grants it.
        _sign_in(page, server.url, approver)
        page.goto(f"{server.url}/ui/approvals")
        row = page.locator(f'.pending-table tr[data-approval-id="{theirs}"]')
        row.locator('input[name="reason"]').fill("checked the offline eval")
        shot(page, screenshots, "25-approvals-as-approver")
        row.locator("button.grant").click()
        page.wait_for_url(re.compile(rf"decided={theirs}"))
        assert "granted by ui-bo" in page.locator(".notice").inner_text()
        decided = page.locator(f'.decided-table tr[data-approval-id="{theirs}"]')
        assert decided.get_attribute("data-state") == "approved"
        assert "checked the offline eval" in decided.locator(".reason").inner_text()
        assert page.locator(f'.pending-table tr[data-approval-id="{theirs}"]').count() == 0
        shot(page, screenshots, "26-approval-granted")

        # Granting one's own request is refused with a message, and nothing changes.
        page.locator(f'.pending-table tr[data-approval-id="{own}"] button.grant').click()
        refusal = page.locator(".refusal")
        refusal.wait_for()
        assert "cannot decide it" in refusal.inner_text()
        assert "needs an approver other than the requester" in refusal.inner_text()
        assert page.locator(f'.pending-table tr[data-approval-id="{own}"]').count() == 1
        shot(page, screenshots, "27-self-approval-refused")
    finally:
        server.stop()
    governance = registry_site.site.services.governance
    assert governance.get_approval(theirs).decided_by == "ui-bo"
    assert governance.get_approval(own).state.value == "pending"


def test_audit_page_filters_and_verifies_the_chain(
    page: Any, registry_site: RegistrySite, screenshots: Path
) -> None:
    page.goto(f"{registry_site.url}/ui/audit")
    seqs = [
        int(s)
        for s in page.locator("#audit-table tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.seq)"
        )
    ]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) > 5

    page.fill('.audit-filters input[name="actor"]', "bo")
    page.fill('.audit-filters input[name="action"]', "alias.set")
    page.click(".audit-filters button.primary")
    page.wait_for_url(re.compile(r"actor=bo"))
    actors = page.locator("#audit-table td.actor").all_inner_texts()
    actions = page.locator("#audit-table td.action").all_inner_texts()
    assert actors == ["bo"] and actions == ["alias.set"]
    assert page.locator("#audit-table td.target").inner_text() == f"models:/{MODEL}@challenger"

    page.click("#verify-chain")
    page.wait_for_url(re.compile(r"verify=1"))
    verdict = page.locator("#verification")
    assert verdict.inner_text().startswith("Chain intact")
    # The filters survive the verification.
    assert page.locator("#audit-table td.actor").all_inner_texts() == ["bo"]
    shot(page, screenshots, "28-audit-verified")

    page.click("#audit-table td.target a")
    page.wait_for_url(f"**/ui/models/{MODEL}")
