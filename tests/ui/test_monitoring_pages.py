"""The monitoring pages over plain HTTP: the monitors list, a monitor's page (JSON
view, charts' data, the per-column table, alerts, paged results), escaping of
hostile model and column names, 404s, and the standalone drift report.

The monitors are created and run through ``services.monitors`` on seeded
synthetic data (see :mod:`tests.ui.monitoring_seed`); the server is a real
``moorline server`` subprocess. No browser here.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from typing import Any

import httpx
from markupsafe import escape

from moorline.server.ui.monitoring_pages import MONITOR_PAGE_CSP, REPORT_CSP
from tests.ui.monitoring_seed import (
    BROKEN,
    COLUMNS,
    DRIFTING,
    FRESH,
    HOSTILE_COLUMN,
    MODEL,
    SHIFTS,
    MonitoringSite,
)

#: Raw markup that must never reach a page unescaped.
RAW = ("<img src=x", "<b>scored</b>")


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def get(site: MonitoringSite, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(site.url + path, timeout=30, **kwargs)


def test_the_seeded_windows_drift_exactly_where_they_were_shifted(
    monitoring_site: MonitoringSite,
) -> None:
    # The premise of the other tests: shifted columns drift, the others do not.
    for result, shifted in zip(monitoring_site.results, SHIFTS, strict=True):
        assert result.drift is not None, result.error
        drifted = {c["column"] for c in result.drift["columns"] if c["drift_detected"]}
        assert drifted == set(shifted)


def test_monitors_list_json_shows_model_schedule_last_status_share_and_firing_alerts(
    monitoring_site: MonitoringSite,
) -> None:
    body = get(monitoring_site, "/ui/monitors.json").json()
    rows = {m["name"]: m for m in body["monitors"]}
    assert [m["name"] for m in body["monitors"]] == sorted([BROKEN, DRIFTING, FRESH])
    drifting = rows[DRIFTING]
    last = monitoring_site.results[-1]
    assert drifting["model"] == MODEL
    assert drifting["schedule"] is None
    assert drifting["last_run_at"] == last.run_at
    assert drifting["status"] == "alerting"
    assert drifting["drift_share"] == len(SHIFTS[-1]) / len(COLUMNS)
    # The last window drifts in two columns, and the per-column rule fires for each.
    assert drifting["firing_alerts"] == len(SHIFTS[-1]) == 2
    broken = rows[BROKEN]
    assert broken["status"] == "error"
    assert "missing.csv" in broken["error"]
    assert broken["drift_share"] is None
    fresh = rows[FRESH]
    assert fresh["schedule"] == "0 0 1 1 *"
    assert (fresh["status"], fresh["last_run_at"], fresh["firing_alerts"]) == (None, None, 0)
    assert get(monitoring_site, "/ui/monitors?format=json").json() == body


def test_monitors_list_page_escapes_the_model_name_and_links_to_it(
    monitoring_site: MonitoringSite,
) -> None:
    response = get(monitoring_site, "/ui/monitors")
    assert response.status_code == 200
    page = response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    for raw in RAW:
        assert raw not in page
    assert str(escape(MODEL)) in page
    assert f'href="/ui/models/{q(MODEL)}"' in page
    # The name ending in .json links to its HTML page, which exists.
    assert f'href="/ui/monitors/{BROKEN}?format=html"' in page
    assert get(monitoring_site, f"/ui/monitors/{BROKEN}?format=html").status_code == 200
    assert 'href="/ui/monitors" class="active">Monitors</a>' in page
    assert get(monitoring_site, "/ui/monitors/", follow_redirects=False).status_code == 307


def test_monitor_json_has_the_charts_columns_alerts_and_results(
    monitoring_site: MonitoringSite,
) -> None:
    results = monitoring_site.results
    body = get(monitoring_site, f"/ui/monitors/{DRIFTING}?format=json").json()
    assert get(monitoring_site, f"/ui/monitors/{DRIFTING}.json").json() == body
    assert body["monitor"]["name"] == DRIFTING
    assert body["latest"]["id"] == results[-1].id
    charts = {c["key"]: c for c in body["charts"]}
    assert list(charts) == ["drift_share", "column_scores", "quality"]
    times = [float(r.run_at) for r in results]
    share = charts["drift_share"]["series"]
    assert share["share of drifted columns"] == [
        [t, len(s) / len(COLUMNS)] for t, s in zip(times, SHIFTS, strict=True)
    ]
    assert share["drift_share threshold"] == [[t, 0.5] for t in times]
    scores = charts["column_scores"]["series"]
    assert list(scores) == COLUMNS
    for column in COLUMNS:
        expected = [
            next(c["score"] for c in r.drift["columns"] if c["column"] == column)  # type: ignore[index]
            for r in results
        ]
        assert [p[1] for p in scores[column]] == expected
    quality = charts["quality"]["series"]
    assert list(quality) == ["critical", "warning", "info"]
    for severity, points in quality.items():
        assert [p[1] for p in points] == [r.quality["counts"][severity] for r in results]  # type: ignore[index]

    # The latest result's columns: test, score, threshold and verdict.
    latest = results[-1].drift
    assert latest is not None
    assert [c["column"] for c in body["columns"]] == COLUMNS
    for row, col in zip(body["columns"], latest["columns"], strict=True):
        assert row["test"] == col["stattest_display_name"]
        assert row["score"] == col["score"]
        assert row["threshold"] == col["threshold"]
        assert row["verdict"] == ("drift" if col["column"] in SHIFTS[-1] else "ok")

    # Firing: the two columns drifting now; past: "age", which fired and resolved.
    firing = {a["column"]: a["status"] for a in body["alerts"]["firing"]}
    assert firing == dict.fromkeys(SHIFTS[-1], "firing")
    assert [(a["column"], a["status"]) for a in body["alerts"]["past"]] == [("age", "resolved")]
    events = {(n["result_id"], n["event"], n["dedup_key"]) for n in body["notifications"]}
    assert (results[1].id, "alert.firing", f"column-drift/{DRIFTING}/age") in events
    assert (results[3].id, "alert.resolved", f"column-drift/{DRIFTING}/age") in events
    assert len(body["notifications"]) == sum(len(r.notifications) for r in results)
    assert [r["id"] for r in body["results"]] == [r.id for r in reversed(results)]
    assert body["next_page_token"] is None


def test_monitor_results_are_paged_newest_first(monitoring_site: MonitoringSite) -> None:
    ids: list[int] = []
    url = f"/ui/monitors/{DRIFTING}?format=json&page_size=2"
    pages = 0
    while True:
        body = get(monitoring_site, url).json()
        assert len(body["results"]) <= 2
        ids += [r["id"] for r in body["results"]]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            break
        url = f"/ui/monitors/{DRIFTING}?format=json&page_size=2&page_token={q(token)}"
    assert pages == 3
    assert ids == [r.id for r in reversed(monitoring_site.results)]
    # The HTML pager links to the older page and back.
    first = get(monitoring_site, f"/ui/monitors/{DRIFTING}?page_size=2").text
    older = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert older is not None
    second = get(monitoring_site, html.unescape(older.group(1)))
    rows = re.findall(r'<tr data-result="(\d+)">', second.text)
    assert [int(r) for r in rows] == ids[2:4]
    assert 'rel="prev"' in second.text


def test_monitor_page_escapes_hostile_names_and_frames_the_report(
    monitoring_site: MonitoringSite,
) -> None:
    response = get(monitoring_site, f"/ui/monitors/{DRIFTING}")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == MONITOR_PAGE_CSP
    page = response.text
    for raw in RAW:
        assert raw not in page
    assert 'onerror="window' not in page
    assert str(escape(HOSTILE_COLUMN)) in page
    assert page.count(f'data-column="{escape(HOSTILE_COLUMN)!s}"') == 1
    assert str(escape("Card payments <b>scored</b>")) in page
    report = f"/ui/monitors/{DRIFTING}/results/{monitoring_site.results[-1].id}/report"
    assert f'<iframe class="drift-report" src="{report}" sandbox ' in page
    assert page.count("<svg") == 3


def test_unknown_monitors_and_results_are_404(monitoring_site: MonitoringSite) -> None:
    missing = get(monitoring_site, "/ui/monitors/no-such-monitor")
    assert missing.status_code == 404
    assert "no-such-monitor" in missing.text
    as_json = get(monitoring_site, "/ui/monitors/no-such-monitor?format=json")
    assert as_json.status_code == 404
    assert as_json.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert get(monitoring_site, "/ui/monitors/%3Cb%3E").status_code == 400
    assert get(monitoring_site, f"/ui/monitors/{DRIFTING}/results/9999/report").status_code == 404
    other = get(monitoring_site, f"/ui/monitors/{FRESH}/results/1/report")
    assert other.status_code == 404  # result 1 belongs to another monitor
    # The broken monitor's result has no drift report to show.
    broken = get(monitoring_site, "/ui/monitors.json").json()
    assert next(m for m in broken["monitors"] if m["name"] == BROKEN)["status"] == "error"
    broken_page = get(monitoring_site, f"/ui/monitors/{BROKEN}?format=json").json()
    result_id = broken_page["latest"]["id"]
    assert broken_page["latest"]["has_report"] is False
    assert (
        get(monitoring_site, f"/ui/monitors/{BROKEN}/results/{result_id}/report").status_code == 404
    )


def test_report_route_serves_the_self_contained_report(monitoring_site: MonitoringSite) -> None:
    result = monitoring_site.results[1]
    response = get(monitoring_site, f"/ui/monitors/{DRIFTING}/results/{result.id}/report")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == REPORT_CSP
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    page = response.text
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert 'onerror="window' not in page and "<img src=x" not in page
    for column in COLUMNS:
        assert str(escape(column)) in page
    assert f"result {result.id}" in page
    assert "2026-01-01" in page  # generated at the run's time


def test_the_stored_report_draws_each_columns_distributions(
    monitoring_site: MonitoringSite,
) -> None:
    # Each result keeps compact histograms, so the report page draws reference and
    # current side by side without the data: 1,000 reference rows, 400 current.
    result = monitoring_site.results[-1]
    assert result.drift is not None
    assert set(result.drift["distributions"]) == set(COLUMNS)
    page = get(monitoring_site, f"/ui/monitors/{DRIFTING}/results/{result.id}/report").text
    assert "No data was given" not in page
    sections = re.findall(r'<section class="column card"(.*?)</section>', page, flags=re.S)
    assert len(sections) == len(COLUMNS)
    for section in sections:
        assert section.count("<svg") == 1
        labels = re.findall(r'<g class="series"[^>]*data-label="(\w+)"', section)
        totals = re.findall(r'<g class="series"[^>]*data-total="([\d,]+)"', section)
        assert labels == ["reference", "current"]
        assert [int(t.replace(",", "")) for t in totals] == [1000, 400]
    segment = next(s for s in sections if 'data-column="segment"' in s)
    assert 'data-categories="3"' in segment and "retail" in segment


def test_model_page_lists_the_models_monitors_with_their_status(
    monitoring_site: MonitoringSite,
) -> None:
    body = get(monitoring_site, f"/ui/models/{q(MODEL)}?format=json").json()
    rows = {m["name"]: m for m in body["monitors"]}
    assert sorted(rows) == sorted([BROKEN, DRIFTING, FRESH])
    assert (rows[DRIFTING]["status"], rows[DRIFTING]["firing_alerts"]) == ("alerting", 2)
    assert rows[BROKEN]["status"] == "error"
    page = get(monitoring_site, f"/ui/models/{q(MODEL)}").text
    assert f'<a href="/ui/monitors/{DRIFTING}">{DRIFTING}</a>' in page
    assert f'<a href="/ui/monitors/{BROKEN}?format=html">{BROKEN}</a>' in page
    assert "<img src=x" not in page
