"""The UI over plain HTTP: the JSON view of every page, artifact serving rules, headers, errors.

No browser here: these run in ``make unit`` too.
"""

from __future__ import annotations

import urllib.parse

import httpx
import pytest

from tests.ui.conftest import ACC, FINE_STEPS, SMALL_EXPERIMENT, XSS_TEXT, Site


def test_every_page_has_a_json_twin(site: Site) -> None:
    listing = site.get("/ui/index.json").json()
    assert SMALL_EXPERIMENT in [e["name"] for e in listing["experiments"]]
    assert site.get("/ui/?format=json").json()["experiments"] == listing["experiments"]
    small = next(e for e in listing["experiments"] if e["name"] == SMALL_EXPERIMENT)
    assert small["run_count"] == len(ACC) + 1
    assert small["tags"] == {"team": "growth <ml>"}

    runs = site.get(f"/ui/experiments/{site.small_experiment}.json").json()
    assert runs["count"] == len(ACC) + 1
    assert runs["columns"]["metrics"] == ["acc", "fine", "loss"]
    assert sorted(r["run_name"] for r in runs["runs"]) == sorted([*ACC, "eta"])
    by_name = {r["run_name"]: r for r in runs["runs"]}
    assert by_name["beta"]["metrics"]["acc"] == ACC["beta"]
    assert by_name["eta"]["metrics"]["acc"] is None
    assert by_name["beta"]["params"] == {"depth": "8", "lr": "0.02", "optimizer": "adam"}

    alpha = site.runs["alpha"]
    run = site.get(f"/ui/runs/{alpha}.json").json()
    assert run["run"]["run_name"] == "alpha"
    assert run["params"] == {"depth": "6", "lr": "0.01", "optimizer": "adam"}
    latest = {m["key"]: m for m in run["metrics"]}
    assert latest["fine"]["step"] == FINE_STEPS - 1
    assert [d["name"] for d in run["datasets"]] == ["churn-train"]
    assert [e["name"] for e in run["artifacts"]["entries"]] == ["model", "notes", "plots"]
    assert site.get(f"/ui/runs/{alpha}?format=json").json()["run"] == run["run"]

    ids = f"{alpha},{site.runs['beta']}"
    compare = site.get(f"/ui/compare.json?runs={ids}").json()
    assert [r["run_name"] for r in compare["runs"]] == ["alpha", "beta"]
    depth = next(row for row in compare["params"] if row["key"] == "depth")
    assert depth == {"key": "depth", "values": ["6", "8"], "differs": True}
    # NaN points are null in JSON (JSON cannot spell NaN).
    alpha_loss = compare["metric_histories"]["loss"][alpha]
    assert alpha_loss[50] == [50, None]


def test_json_filter_errors_are_400_with_the_parser_message(site: Site) -> None:
    response = site.get(f"/ui/experiments/{site.small_experiment}.json?filter=metrics.acc%20%3E%3E")
    assert response.status_code == 400
    body = response.json()
    assert body["error"].startswith("Invalid filter")
    assert body["runs"] == []


def test_filtering_and_ordering_reach_the_store(site: Site) -> None:
    query = urllib.parse.urlencode({"filter": "metrics.acc > 0.8", "order_by": "metrics.`acc` ASC"})
    body = site.get(f"/ui/experiments/{site.small_experiment}.json?{query}").json()
    names = [r["run_name"] for r in body["runs"]]
    expected = sorted((n for n, v in ACC.items() if v > 0.8), key=ACC.__getitem__)
    assert names == expected
    assert body["count"] == len(expected)


def test_pages_are_html_with_a_strict_content_security_policy(site: Site) -> None:
    response = site.get(f"/ui/experiments/{site.small_experiment}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert response.headers["x-frame-options"] == "DENY"
    # The experiment name is escaped, never markup.
    assert "churn &lt;b&gt;model&lt;/b&gt; &amp; &#34;friends&#34;" in response.text
    assert "<b>model</b>" not in response.text


def test_missing_records_give_an_html_404_page(site: Site) -> None:
    for path in ("/ui/experiments/987654", f"/ui/runs/{'0' * 32}", f"/ui/compare?runs={'0' * 32}"):
        response = site.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text
    assert site.get("/ui/experiments/987654.json").json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_compare_needs_runs(site: Site) -> None:
    response = site.get("/ui/compare")
    assert response.status_code == 400
    assert "Choose runs to compare" in response.text


def raw(site: Site, path: str, **params: str) -> httpx.Response:
    query = urllib.parse.urlencode({"path": path, **params})
    return site.get(f"/ui/runs/{site.runs['alpha']}/artifacts/raw?{query}")


def test_raw_artifacts_stream_with_inert_headers(site: Site) -> None:
    text = raw(site, "notes/readme.txt")
    assert text.status_code == 200
    assert text.content == XSS_TEXT.encode()
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in text.headers["content-security-policy"]

    html = raw(site, "notes/page.html")
    assert html.headers["content-type"].startswith("text/plain")  # never served as HTML

    png = raw(site, "plots/curve.png")
    assert png.headers["content-type"] == "image/png"
    assert png.headers["content-disposition"].startswith("inline")
    assert png.content.startswith(b"\x89PNG")

    svg = raw(site, "plots/evil.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["content-disposition"].startswith("attachment")

    binary = raw(site, "model/weights.bin")
    assert binary.headers["content-type"] == "application/octet-stream"
    assert binary.headers["content-disposition"].startswith("attachment")
    assert binary.content == bytes(range(256)) * 4

    download = raw(site, "notes/readme.txt", download="1")
    assert download.headers["content-disposition"].startswith('attachment; filename="readme.txt"')


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("../../../etc/passwd", 400),
        ("notes/../../x", 400),
        ("%2e%2e/%2e%2e/etc/passwd", 400),
        ("/etc/passwd", 400),
        ("", 400),
        ("notes/absent.txt", 404),
        ("notes", 404),  # a folder is not a file
    ],
)
def test_raw_artifact_paths_are_validated(site: Site, path: str, status: int) -> None:
    response = raw(site, path)
    assert response.status_code == status
    assert "root:" not in response.text


def test_artifact_browser_lists_folders_and_previews_escaped_text(site: Site) -> None:
    alpha = site.runs["alpha"]
    body = site.get(f"/ui/runs/{alpha}.json?artifact=notes").json()["artifacts"]
    assert [e["path"] for e in body["entries"]] == ["notes/page.html", "notes/readme.txt"]
    page = site.get(f"/ui/runs/{alpha}?artifact=notes/readme.txt")
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt; hello &amp; goodbye" in page.text
    assert "<script>window.__pwned" not in page.text
    binary = site.get(f"/ui/runs/{alpha}.json?artifact=model/weights.bin").json()["artifacts"][
        "file"
    ]
    assert binary["kind"] == "binary"
    bad = site.get(f"/ui/runs/{alpha}.json?artifact=../../etc").json()["artifacts"]
    assert bad["error"].startswith("Invalid artifact path")


def test_static_files_are_served(site: Site) -> None:
    css = site.get("/ui/static/ui.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert site.get("/ui/static/ui.js").status_code == 200
    assert site.get("/ui/static/../routes.py").status_code == 404


def test_chosen_columns_replace_the_defaults(site: Site) -> None:
    query = "cols=1&m=loss&p=lr&order_by=params.%60lr%60+DESC"
    body = site.get(f"/ui/experiments/{site.small_experiment}.json?{query}").json()
    assert body["columns"] == {"metrics": ["loss"], "params": ["lr"]}
    assert body["available_columns"]["params"] == ["depth", "lr", "optimizer"]
    assert [r["params"]["lr"] for r in body["runs"]] == [f"0.0{i}" for i in range(7, 0, -1)]
    assert all(set(r["metrics"]) == {"loss"} for r in body["runs"])
    page = site.get(f"/ui/experiments/{site.small_experiment}?{query}").text
    # Sort links keep the chosen columns.
    link = "?order_by=params.%60lr%60+ASC&amp;cols=1&amp;m=loss&amp;p=lr"
    assert f'href="/ui/experiments/{site.small_experiment}{link}"' in page


def test_login_form_sets_the_cookie_only_for_a_valid_same_origin_post(site: Site) -> None:
    issued = site.services.auth.create_token("ui-http-login")
    url = f"{site.url}/ui/login"
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        bad = client.post(url, data={"token": "mlt_nope"})
        assert bad.status_code == 401 and "Sign-in failed" in bad.text
        assert "set-cookie" not in bad.headers
        foreign = client.post(
            url, data={"token": issued.secret}, headers={"Origin": "https://evil.test"}
        )
        assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
        good = client.post(url, data={"token": issued.secret}, headers={"Origin": site.url})
        assert good.status_code == 303 and good.headers["location"] == "/ui/"
        cookie = good.headers["set-cookie"]
        assert cookie.startswith(f"moorline_token={issued.secret};")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
