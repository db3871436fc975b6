"""The monitoring pages in a real headless Chromium: the monitors list, a monitor's
charts (one point per stored result in every series) and its framed drift report.

Each test photographs its page (``$MOORLINE_UI_SCREENSHOTS`` or a temporary
folder) so a person can look at the pages after a change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ui.monitoring_seed import (
    COLUMNS,
    DRIFTING,
    HOSTILE_COLUMN,
    MODEL,
    SHIFTS,
    MonitoringSite,
)

pytestmark = pytest.mark.browser


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_monitor_page_draws_the_history_and_frames_the_report(
    page: Any, monitoring_site: MonitoringSite, screenshots: Path
) -> None:
    blocked: list[str] = []
    page.on(
        "console",
        lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{monitoring_site.url}/ui/monitors")
    row = page.locator(f'#monitors-table tr[data-monitor="{DRIFTING}"]')
    assert row.locator("td.model a").inner_text() == MODEL
    assert row.locator(".status").first.inner_text() == "alerting"
    assert row.locator("td.share").inner_text() == "50%"
    assert row.locator("td.firing").inner_text() == str(len(SHIFTS[-1]))
    shot(page, screenshots, "41-monitors")

    row.locator("td.name > a").click()
    page.wait_for_url(f"**/ui/monitors/{DRIFTING}")
    runs = len(monitoring_site.results)
    share = page.locator('figure[data-key="drift_share"] svg g.series')
    assert share.count() == 2
    for i in range(2):
        assert share.nth(i).get_attribute("data-points") == str(runs)
        assert share.nth(i).locator("path").count() == 1
        assert share.nth(i).locator("circle.marker").count() == runs
    # The path of the share goes through one vertex per result.
    d = share.nth(0).locator("path").get_attribute("d")
    assert d.count("M") == 1 and d.count("L") == runs - 1
    scores = page.locator('figure[data-key="column_scores"] svg g.series')
    assert [scores.nth(i).get_attribute("data-label") for i in range(scores.count())] == COLUMNS
    assert {scores.nth(i).get_attribute("data-points") for i in range(len(COLUMNS))} == {str(runs)}
    assert page.locator('figure[data-key="quality"] svg g.series').count() == 3
    # The per-column table, the hostile column shown as text.
    hostile = page.locator("#columns-table tbody tr").nth(COLUMNS.index(HOSTILE_COLUMN))
    assert hostile.locator("td.name").inner_text() == HOSTILE_COLUMN
    assert hostile.locator(".status").inner_text() == "drift"
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#alerts tbody tr.alert-firing").count() == len(SHIFTS[-1])
    assert page.locator("#results-table tbody tr").count() == runs

    # The framed report loads, sandboxed, with every column.
    frame = page.frame_locator("iframe.drift-report")
    names = frame.locator("tr[data-column] td.name").all_inner_texts()
    assert sorted(n.strip() for n in names) == sorted(COLUMNS)
    assert page.locator("iframe.drift-report").get_attribute("sandbox") == ""
    page.locator("#charts").scroll_into_view_if_needed()
    shot(page, screenshots, "42-monitor")
    # Headless page screenshots leave the sandboxed (cross-origin) frame blank: shoot the frame.
    page.locator("iframe.drift-report").screenshot(path=str(screenshots / "43-monitor-report.png"))
    assert blocked == []

    # The model's page lists its monitors with their status.
    page.click("a.model-link")
    page.wait_for_url("**/ui/models/**")
    listed = page.locator("#monitors tbody tr")
    assert listed.count() == 3
    drifting = page.locator(f'#monitors tr[data-monitor="{DRIFTING}"] .status')
    assert drifting.inner_text() == "alerting"
    shot(page, screenshots, "44-model-monitors")


def test_the_framed_report_draws_reference_and_current_side_by_side(
    page: Any, monitoring_site: MonitoringSite, screenshots: Path
) -> None:
    page.goto(f"{monitoring_site.url}/ui/monitors/{DRIFTING}")
    frame = page.frame_locator("iframe.drift-report")
    sections = frame.locator("section.column")
    assert sections.count() == len(COLUMNS)
    for i in range(len(COLUMNS)):
        section = sections.nth(i)
        chart = section.locator(".chart svg")
        assert chart.count() == 1
        # The chart is laid out (not a zero-size box) and has both series' bars.
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        series = chart.locator("g.series")
        assert [series.nth(j).get_attribute("data-label") for j in range(2)] == [
            "reference",
            "current",
        ]
        assert series.nth(1).locator("rect").count() > 0
        # The side-by-side summary table: reference and current columns.
        stats = section.locator("table.stats")
        assert stats.locator("thead th").all_inner_texts()[1:] == ["reference", "current"]
        assert stats.locator("tbody tr").first.locator("td").all_inner_texts() == [
            "1,000",
            "400",
        ]
    assert frame.locator("p.note").count() == 0
    names = frame.locator("section.column h3 > span:first-child").all_inner_texts()
    assert sorted(names) == sorted(COLUMNS)  # the hostile name shown as text
    assert page.evaluate("() => window.__pwned") is None
    # The report on its own, whole, for a person to look at.
    report = page.locator("iframe.drift-report").get_attribute("src")
    page.goto(f"{monitoring_site.url}{report}")
    assert page.locator("section.column .chart svg").count() == len(COLUMNS)
    shot(page, screenshots, "45-monitor-report-distributions")
