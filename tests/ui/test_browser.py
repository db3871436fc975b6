"""The UI in a real headless Chromium: what a person sees and clicks.

Each test also photographs its page (``$MOORLINE_UI_SCREENSHOTS`` or a
temporary folder) so a person can look at the pages after a change.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import start_server
from tests.ui.conftest import (
    ACC,
    BIG_RUNS,
    FINE_STEPS,
    LOSS_NAN_STEPS,
    LOSS_STEPS,
    SMALL_EXPERIMENT,
    XSS_TEXT,
    Site,
)

pytestmark = pytest.mark.browser

#: Generous bound for one page of the 10,000-run table on a loaded 2-core CI machine.
PAGE_SECONDS = 5.0


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def column(page: Any, key: str) -> list[str]:
    cells = page.locator(f'#runs-table td.metric[data-key="{key}"]')
    return [text.strip() for text in cells.all_text_contents()]


def run_names(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#runs-table td.name a").all_text_contents()]


def test_experiments_page_lists_experiments_and_searches(
    page: Any, site: Site, screenshots: Path
) -> None:
    page.goto(f"{site.url}/ui/")
    names = page.locator("table.experiments td.name a").all_text_contents()
    assert SMALL_EXPERIMENT in names and "fraud-detection" in names and "Default" in names
    # Markup in a name is shown as text.
    assert page.locator("table.experiments td.name b").count() == 0
    row = page.locator(f'tr[data-experiment-id="{site.small_experiment}"]')
    assert row.locator("td.num").inner_text() == str(len(ACC) + 1)
    assert "team: growth <ml>" in row.locator("td.tags").inner_text()
    shot(page, screenshots, "01-experiments")

    page.fill('input[name="q"]', "fraud")
    page.press('input[name="q"]', "Enter")
    page.wait_for_url(re.compile(r"q=fraud"))
    assert page.locator("table.experiments td.name a").all_text_contents() == ["fraud-detection"]

    page.click("a.clear")
    page.click(f'tr[data-experiment-id="{site.small_experiment}"] td.name a')
    page.wait_for_url(f"**/ui/experiments/{site.small_experiment}")
    assert page.locator("h1").inner_text().startswith(SMALL_EXPERIMENT)


def test_runs_table_sorts_by_a_metric_when_its_header_is_clicked(
    page: Any, site: Site, screenshots: Path
) -> None:
    page.goto(f"{site.url}/ui/experiments/{site.small_experiment}")
    # Default order: newest first.
    assert run_names(page) == ["eta", *reversed(list(ACC))]

    page.click('th[data-key="acc"] a')
    page.wait_for_url(re.compile(r"order_by=metrics.*DESC"))
    assert page.locator('th[data-key="acc"]').get_attribute("aria-sort") == "descending"
    values = column(page, "acc")
    assert values[:-1] == [str(v) for v in sorted(ACC.values(), reverse=True)]
    assert values[-1] == ""  # the run without acc comes last
    shot(page, screenshots, "02-runs-sorted")

    page.click('th[data-key="acc"] a')
    page.wait_for_url(re.compile(r"order_by=metrics.*ASC"))
    values = column(page, "acc")
    assert values[:-1] == [str(v) for v in sorted(ACC.values())]
    assert values[-1] == ""
    assert run_names(page)[0] == "delta"


def test_runs_filter_uses_the_search_grammar_and_shows_errors_inline(
    page: Any, site: Site, screenshots: Path
) -> None:
    page.goto(f"{site.url}/ui/experiments/{site.small_experiment}")
    page.fill("#filter", "metrics.acc > 0.8 and params.depth = '6'")
    page.press("#filter", "Enter")
    page.wait_for_url(re.compile(r"filter=metrics"))
    assert sorted(run_names(page)) == ["epsilon", "gamma"]
    assert page.locator(".toolbar .count").inner_text() == "Runs 1\u20132 of 2"

    response = None

    def remember(r: Any) -> None:
        nonlocal response
        if "/ui/experiments/" in r.url:
            response = r

    page.on("response", remember)
    page.fill("#filter", "metrics.acc >> 1")
    page.press("#filter", "Enter")
    page.wait_for_selector(".filter-error")
    assert response is not None and response.status == 400  # not a 500
    error = page.locator(".filter-error").inner_text()
    assert error.startswith("Invalid filter 'metrics.acc >> 1'")
    assert page.locator("#runs-table").count() == 0
    assert page.input_value("#filter") == "metrics.acc >> 1"
    shot(page, screenshots, "03-filter-error")


def test_paging_through_ten_thousand_runs(page: Any, big_site: Site, screenshots: Path) -> None:
    url = f"{big_site.url}/ui/experiments/{big_site.big_experiment}"
    started = time.perf_counter()
    page.goto(url)
    first_load = time.perf_counter() - started
    assert first_load < PAGE_SECONDS, f"first page took {first_load:.2f} s"
    assert page.locator("#runs-table tbody tr").count() == 100
    assert page.locator(".toolbar .count").inner_text() == f"Runs 1\u2013100 of {BIG_RUNS:,}"
    page1 = run_names(page)
    assert page1 == [f"r{i:05d}" for i in range(BIG_RUNS - 1, BIG_RUNS - 101, -1)]
    shot(page, screenshots, "04-ten-thousand-runs")

    timings = []
    pages = [page1]
    for number in (2, 3):
        started = time.perf_counter()
        page.click("#next-page")
        page.wait_for_url(re.compile(rf"pn={number}"))
        timings.append(time.perf_counter() - started)
        pages.append(run_names(page))
        assert (
            page.locator(".toolbar .count")
            .inner_text()
            .startswith(f"Runs {(number - 1) * 100 + 1:,}\u2013")
        )
    all_seen = [name for p in pages for name in p]
    assert len(all_seen) == len(set(all_seen)) == 300  # no duplicates across pages
    assert all_seen == sorted(all_seen, reverse=True)  # and none skipped
    assert all_seen[-1] == f"r{BIG_RUNS - 300:05d}"

    page.click("#prev-page")
    page.wait_for_url(re.compile(r"pn=2"))
    assert run_names(page) == pages[1]
    page.click("#prev-page")
    page.wait_for_function("() => !location.search.includes('page_token')")
    assert run_names(page) == page1
    assert max(timings) < PAGE_SECONDS, timings

    # Sorting the whole experiment by a metric still fetches one page only.
    started = time.perf_counter()
    page.click('th[data-key="score"] a')
    page.wait_for_url(re.compile(r"order_by=metrics"))
    sort_time = time.perf_counter() - started
    scores = [float(v) for v in column(page, "score")]
    assert len(scores) == 100 and scores == sorted(scores, reverse=True)
    assert sort_time < PAGE_SECONDS, f"sorted page took {sort_time:.2f} s"
    print(
        f"\n10k runs: first page {first_load:.3f} s, next pages {timings}, sort {sort_time:.3f} s"
    )


def test_run_page_shows_details_charts_and_artifact_previews(
    page: Any, site: Site, screenshots: Path
) -> None:
    page.goto(f"{site.url}/ui/runs/{site.runs['alpha']}")
    params = dict(
        zip(
            page.locator("table.params th").all_inner_texts(),
            page.locator("table.params td").all_inner_texts(),
            strict=True,
        )
    )
    assert params == {"depth": "6", "lr": "0.01", "optimizer": "adam"}
    metric_rows = page.locator("table.metrics tbody tr")
    assert [r.get_attribute("data-key") for r in metric_rows.all()] == ["acc", "fine", "loss"]
    assert page.locator('table.metrics tr[data-key="acc"] td').first.inner_text() == str(
        ACC["alpha"]
    )

    loss = page.locator('figure[data-key="loss"] svg g.series')
    assert loss.get_attribute("data-points") == str(LOSS_STEPS - len(LOSS_NAN_STEPS))
    assert loss.get_attribute("data-segments") == "2"  # the NaN steps leave a gap
    fine_chart = page.locator('figure[data-key="fine"] svg')
    drawn = int(fine_chart.locator("g.series").get_attribute("data-points") or 0)
    assert 500 <= drawn <= 1000  # downsampled from 5,000 points
    assert float(fine_chart.get_attribute("data-x-max") or 0) >= FINE_STEPS - 1  # last point kept
    assert page.locator('figure[data-key="acc"]').count() == 0  # one value: no chart
    assert page.locator("#datasets td").first.inner_text() == "churn-train"
    assert page.locator("#tags").inner_text().count("mlflow.runName") == 1
    shot(page, screenshots, "05-run")

    # Text preview: escaped, never executed.
    page.click('#artifacts a:text-is("notes/")')
    page.click('#artifacts a:text-is("readme.txt")')
    page.wait_for_selector("pre.text-preview")
    assert page.locator("pre.text-preview").text_content() == XSS_TEXT
    assert page.evaluate("() => window.__pwned") is None
    shot(page, screenshots, "06-run-text-artifact")

    # Image previews load through the raw route.
    page.click('#artifacts nav.crumbs a:text-is("artifacts")')
    page.click('#artifacts a:text-is("plots/")')
    page.click('#artifacts a:text-is("curve.png")')
    image = page.locator(".image-preview img")
    image.wait_for()
    page.wait_for_function("() => document.querySelector('.image-preview img').complete")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [120, 80]
    shot(page, screenshots, "07-run-image-artifact")

    page.click('#artifacts a:text-is("evil.svg")')
    page.wait_for_function("() => document.querySelector('.image-preview img')?.complete")
    assert page.locator(".image-preview img").evaluate("img => img.naturalWidth") == 40
    download = page.locator(".preview-head a.button").get_attribute("href") or ""
    assert download.endswith("download=1")


def test_compare_page_overlays_the_selected_runs(page: Any, site: Site, screenshots: Path) -> None:
    alpha, beta = site.runs["alpha"], site.runs["beta"]
    page.goto(f"{site.url}/ui/experiments/{site.small_experiment}")
    assert page.locator("#compare-button").is_disabled()
    page.check(f'tr[data-run-id="{beta}"] td.select input')
    page.check(f'tr[data-run-id="{alpha}"] td.select input')
    assert page.locator(".selected-count").inner_text() == "2 selected"
    page.click("#compare-button")
    page.wait_for_url(re.compile(r"/ui/compare\?runs="))
    assert page.url.endswith(f"/ui/compare?runs={beta},{alpha}")  # the table's order

    series = page.locator('figure[data-key="loss"] svg g.series')
    labels = [s.get_attribute("data-label") for s in series.all()]
    counts = [s.get_attribute("data-points") for s in series.all()]
    assert labels == ["beta", "alpha"]
    assert counts == [str(LOSS_STEPS // 2), str(LOSS_STEPS - len(LOSS_NAN_STEPS))]
    assert [s.get_attribute("stroke") for s in series.all()] == ["#2563eb", "#dc2626"]
    # A metric only alpha has: one line, in alpha's colour.
    fine = page.locator('figure[data-key="fine"] svg g.series')
    assert fine.count() == 1 and fine.get_attribute("stroke") == "#dc2626"

    assert "differs" in (page.locator('tr.param[data-key="depth"]').get_attribute("class") or "")
    same = page.locator('tr.param[data-key="optimizer"]')
    assert "differs" not in (same.get_attribute("class") or "")
    # Hovering a chart reads out every run's exact value at that step.
    chart = page.locator('figure[data-key="loss"] svg')
    left, top, _, height = map(float, (chart.get_attribute("data-plot") or "").split())
    view_width = chart.evaluate("svg => svg.viewBox.baseVal.width")
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    scale = box["width"] / view_width
    page.mouse.move(box["x"] + (left + 1) * scale, box["y"] + (top + height / 2) * scale)
    readout = page.locator('figure[data-key="loss"] .chart-readout')
    readout.wait_for()
    assert readout.inner_text().split("\n") == ["step 0", "beta: 1.2", "alpha: 1"]
    shot(page, screenshots, "08-compare")
    page.mouse.move(0, 0)
    assert not readout.is_visible()
    page.check("#only-diffs")
    assert not same.is_visible()
    assert page.locator('tr.param[data-key="depth"]').is_visible()


def test_login_sets_an_http_only_strict_cookie(
    page: Any, site: Site, screenshots: Path, tmp_path: Path
) -> None:
    issued = site.services.auth.create_token("ui-login-test")
    server = start_server(tmp_path / "auth", "--auth", store_uri=site.server.store_uri)
    try:
        page.goto(f"{server.url}/ui/")
        assert page.url == f"{server.url}/ui/login"
        page.fill("#token", "mlt_0123456789abcdef_" + "x" * 43)
        page.click("button.primary")
        page.wait_for_selector(".error-message")
        assert "Sign-in failed" in page.locator(".error-message").inner_text()
        shot(page, screenshots, "09-login-failed")

        page.fill("#token", issued.secret)
        page.click("button.primary")
        page.wait_for_url(f"{server.url}/ui/")
        assert SMALL_EXPERIMENT in page.locator("table.experiments").inner_text()
        (cookie,) = [c for c in page.context.cookies() if c["name"] == "moorline_token"]
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
        assert "moorline_token" not in page.evaluate("() => document.cookie")

        page.click(".logout button")
        page.wait_for_url(f"{server.url}/ui/login")
        assert not [c for c in page.context.cookies() if c["name"] == "moorline_token"]
        page.goto(f"{server.url}/ui/experiments/{site.small_experiment}")
        assert page.url == f"{server.url}/ui/login"
    finally:
        server.stop()


def test_experiments_page_pages_forward_and_back(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/ui/?page_size=1")
    seen = []
    while True:
        names = page.locator("table.experiments td.name a").all_text_contents()
        assert len(names) == 1
        seen.extend(names)
        if page.locator('a[rel="next"]').count() == 0:
            break
        with page.expect_navigation():
            page.click('a[rel="next"]')
    assert len(seen) == len(set(seen)) >= 3
    assert {SMALL_EXPERIMENT, "fraud-detection", "Default"} <= set(seen)
    for expected in reversed(seen[:-1]):
        with page.expect_navigation():
            page.click('a[rel="prev"]')
        assert page.locator("table.experiments td.name a").all_text_contents() == [expected]
    assert page.locator('a[rel="prev"]').count() == 0
