"""The registry pages over plain HTTP: JSON views, escaping, 404s, files and digests,
approval forms (identity, refusals, cross-site posts) and the audit log's paging.

No browser here: these run in ``make unit`` too.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from moorline import __version__
from moorline.auth.models import Role
from moorline.bootstrap import Settings, build_services
from moorline.charts import lineage_graph
from moorline.models.manifest import MANIFEST_FILE
from moorline.registry.governance import Actor
from moorline.registry.lineage import (
    AliasRecord,
    DatasetRecord,
    DeploymentRecord,
    Lineage,
    RunRecord,
    VersionRecord,
)
from moorline.registry.models import AuditDraft
from moorline.server.ui.governance_pages import newest_first
from moorline.server.ui.registry_pages import GRAPH_DATASETS, lineage_nodes
from tests.support.live import LiveServer, start_server
from tests.ui.registry_seed import (
    HOSTILE_MODEL,
    HOSTILE_TEXT,
    JSON_NAMED_MODEL,
    MODEL,
    OUTSIDE_SOURCE,
    RECORDED_ELSEWHERE,
    RUN_METRICS,
    T_SEED,
    TAMPERED_MODEL,
    V1_FILES,
    RegistrySite,
)


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def get(rs: RegistrySite, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(rs.url + path, timeout=30, **kwargs)


def test_models_list_json_shows_aliases_who_moved_them_and_key_metrics(
    registry_site: RegistrySite,
) -> None:
    body = get(registry_site, "/ui/models.json").json()
    assert body["error"] is None
    names = [m["name"] for m in body["models"]]
    assert names == sorted(names)
    assert {MODEL, HOSTILE_MODEL, JSON_NAMED_MODEL, TAMPERED_MODEL} <= set(names)
    churn = next(m for m in body["models"] if m["name"] == MODEL)
    assert [(a["alias"], a["version"], a["updated_by"]) for a in churn["aliases"]] == [
        ("challenger", 2, "bo"),
        ("champion", 1, "ana"),
    ]
    assert all(a["updated_at"] > 0 for a in churn["aliases"])
    assert churn["latest_version"] == 2
    assert churn["risk"] == "high"
    # The champion's run, the policy's must-beat metric first, then by name, four at most.
    assert churn["metrics_of"] == {
        "version": 1,
        "alias": "champion",
        "run_id": registry_site.runs["v1"],
    }
    assert list(churn["metrics"]) == ["auc", "f1", "logloss", "precision"]
    assert churn["metrics"]["auc"] == RUN_METRICS["v1"]["auc"]
    # Without a champion: the latest version's run (none here: the source is elsewhere).
    hostile = next(m for m in body["models"] if m["name"] == HOSTILE_MODEL)
    assert hostile["metrics_of"] == {"version": 1, "alias": None, "run_id": None}
    assert hostile["metrics"] == {}
    assert get(registry_site, "/ui/models?format=json").json()["models"] == body["models"]


def test_models_search_by_name_grammar_and_paging(registry_site: RegistrySite) -> None:
    found = get(registry_site, "/ui/models.json?q=CHU").json()["models"]
    assert [m["name"] for m in found] == [MODEL]
    grammar = get(registry_site, "/ui/models.json", params={"filter": "tags.team = 'growth'"})
    assert [m["name"] for m in grammar.json()["models"]] == [MODEL]
    bad = get(registry_site, "/ui/models.json", params={"filter": "name >> 'x'"})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("Invalid filter")
    html = get(registry_site, "/ui/models", params={"filter": "name >> 'x'"})
    assert html.status_code == 400 and "Invalid filter" in html.text

    everyone = [m["name"] for m in get(registry_site, "/ui/models.json").json()["models"]]
    seen: list[str] = []
    url = "/ui/models.json?page_size=2"
    while True:
        page = get(registry_site, url).json()
        seen += [m["name"] for m in page["models"]]
        if not page["next_page_token"]:
            break
        url = "/ui/models.json?" + urllib.parse.urlencode(
            {"page_size": 2, "page_token": page["next_page_token"]}
        )
    assert seen == everyone


def test_model_page_json_has_policy_versions_and_alias_history(
    registry_site: RegistrySite,
) -> None:
    body = get(registry_site, f"/ui/models/{MODEL}?format=json").json()
    assert body == get(registry_site, f"/ui/models/{MODEL}.json").json()
    assert body["model"]["description"] == "Predicts churn <b>within</b> 30 days"
    assert body["model"]["tags"] == {"team": "growth"}
    assert body["policy"]["risk"] == "high"
    assert body["policy"]["protected_aliases"] == ["champion"]
    assert body["policy"]["must_beat"] == {"auc": "higher"}
    assert {a["alias"]: a["protected"] for a in body["aliases"]} == {
        "challenger": False,
        "champion": True,
    }
    versions = body["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["aliases"] == ["challenger"] and versions[0]["user_id"] == "bo"
    assert versions[1]["run_id"] == registry_site.runs["v1"]
    assert versions[1]["source"] == f"runs:/{registry_site.runs['v1']}/model"
    history = body["alias_history"]
    seqs = [e["seq"] for e in history]
    assert seqs == sorted(seqs, reverse=True)
    assert all(e["target"].startswith(f"models:/{MODEL}@") for e in history)
    moves = [(e["action"], e["actor"], e["details"].get("version")) for e in history]
    assert ("alias.set", "ana", 1) in moves and ("alias.set", "bo", 2) in moves
    assert ("approval.request", "ana", 2) in moves
    assert body["pending_approvals"] >= 1


def test_version_page_json_has_lineage_graph_signature_environment_and_files(
    registry_site: RegistrySite,
) -> None:
    v2 = registry_site.runs["v2"]
    body = get(registry_site, f"/ui/models/{MODEL}/versions/2.json").json()
    assert body == get(registry_site, f"/ui/models/{MODEL}/versions/2?format=json").json()
    assert body["model_version"]["version"] == 2
    assert body["model_version"]["aliases"] == ["challenger"]
    lineage = body["lineage"]
    assert lineage["run"]["run_id"] == v2
    assert lineage["run"]["metrics"]["auc"] == RUN_METRICS["v2"]["auc"]
    assert sorted(d["name"] for d in lineage["datasets"]) == ["churn-eval", "churn-train"]
    assert lineage["version"]["created_by"] == "bo"
    nodes = {n["id"]: n for n in body["graph"]["nodes"]}
    assert nodes["run"]["href"] == f"/ui/runs/{v2}"
    assert nodes["version"]["kind"] == "model_version"
    assert sorted(n["label"] for n in nodes.values() if n["kind"] == "dataset") == [
        "churn-eval",
        "churn-train",
    ]
    assert [n["label"] for n in nodes.values() if n["kind"] == "alias"] == ["@challenger"]
    edges = {(e["source"], e["target"]) for e in body["graph"]["edges"]}
    assert ("run", "version") in edges and ("version", "alias-challenger") in edges
    assert sum(1 for s, t in edges if t == "run") == 2

    files = body["files"]
    assert files["problems"] == []
    assert files["manifest_matches"] is True
    assert files["manifest_sha256"] == registry_site.manifest_sha256
    assert files["manifest"]["flavor"] == "sklearn"
    by_path = {f["path"]: f for f in files["files"]}
    assert set(by_path) == set(registry_site.model_files)
    assert {f["status"] for p, f in by_path.items() if p != MANIFEST_FILE} == {"ok"}
    assert by_path[MANIFEST_FILE]["status"] == "manifest"
    assert by_path[MANIFEST_FILE]["sha256"] == registry_site.manifest_sha256
    skops = by_path["model.skops"]
    assert skops["size"] == registry_site.model_files["model.skops"] == skops["recorded_size"]
    assert len(skops["sha256"]) == 64
    assert [c["name"] for c in files["signature"]["inputs"]["columns"]] == [
        "age",
        "tenure",
        "monthly_spend",
    ]
    assert "scikit-learn" in files["environment"]["requirements"]


def test_version_page_html_draws_the_graph_and_the_manifest(registry_site: RegistrySite) -> None:
    response = get(registry_site, f"/ui/models/{MODEL}/versions/2")
    assert response.status_code == 200
    text = response.text
    assert text.count('class="moorline-graph"') == 1
    assert f'<a class="node-link" href="/ui/runs/{registry_site.runs["v2"]}">' in text
    assert 'data-kind="dataset"' in text and 'data-node-id="alias-challenger"' in text
    assert "model.skops" in text and registry_site.manifest_sha256[:12] in text
    assert "monthly_spend" in text and "scikit-learn" in text
    # The page's own data never shadows what the layout shows (moorline's version).
    assert f"moorline {__version__} · times in UTC" in text
    # The description's markup is text on the model page.
    model = get(registry_site, f"/ui/models/{MODEL}").text
    assert "Predicts churn &lt;b&gt;within&lt;/b&gt; 30 days" in model


def test_a_version_without_a_manifest_lists_its_files_with_sizes(
    registry_site: RegistrySite,
) -> None:
    body = get(registry_site, f"/ui/models/{MODEL}/versions/1.json").json()
    files = body["files"]
    assert files["manifest"] is None and files["signature"] is None
    assert files["problems"] == []
    assert [(f["path"], f["size"], f["sha256"]) for f in files["files"]] == [
        (path, len(content), None) for path, content in sorted(V1_FILES.items())
    ]
    html = get(registry_site, f"/ui/models/{MODEL}/versions/1").text
    assert "no MOORLINE_MODEL.json manifest" in html and "2.0 KB" in html


def test_changed_files_and_a_replaced_manifest_are_reported(registry_site: RegistrySite) -> None:
    files = get(registry_site, f"/ui/models/{TAMPERED_MODEL}/versions/1.json").json()["files"]
    skops = next(f for f in files["files"] if f["path"] == "model.skops")
    assert skops["status"] == "size differs"
    assert skops["size"] == skops["recorded_size"] + len(b"tampered")
    assert files["manifest_matches"] is False
    assert files["recorded_manifest_sha256"] == RECORDED_ELSEWHERE
    problems = " ".join(files["problems"])
    assert "do not match the manifest: model.skops" in problems
    assert "changed after registration" in problems
    html = get(registry_site, f"/ui/models/{TAMPERED_MODEL}/versions/1").text
    assert 'class="warning"' in html and "size differs" in html


def test_files_outside_the_artifact_store_are_explained_not_an_error(
    registry_site: RegistrySite,
) -> None:
    response = get(registry_site, f"/ui/models/{q(HOSTILE_MODEL)}/versions/1.json")
    assert response.status_code == 200
    body = response.json()
    assert body["files"]["location"] is None and body["files"]["files"] == []
    assert OUTSIDE_SOURCE in body["files"]["problems"][0]
    assert "outside this server's artifact store" in body["files"]["problems"][0]
    assert body["lineage"]["run"] is None
    assert [n["kind"] for n in body["graph"]["nodes"]] == ["model_version", "alias"]


def test_markup_in_names_descriptions_tags_and_reasons_is_escaped(
    registry_site: RegistrySite,
) -> None:
    pages = [
        "/ui/models",
        f"/ui/models/{q(HOSTILE_MODEL)}",
        f"/ui/models/{q(HOSTILE_MODEL)}/versions/1",
        "/ui/audit",
    ]
    for path in pages:
        response = get(registry_site, path)
        assert response.status_code == 200, path
        assert "<script>window.__pwned" not in response.text, path
        assert "<img src=x" not in response.text, path
        assert "default-src 'none'" in response.headers["content-security-policy"]
    model_page = get(registry_site, f"/ui/models/{q(HOSTILE_MODEL)}").text
    assert "ranker &lt;img src=x onerror=alert(1)&gt;" in model_page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt; &amp; more" in model_page
    assert (
        get(registry_site, f"/ui/models/{q(HOSTILE_MODEL)}.json").json()["model"]["description"]
        == HOSTILE_TEXT
    )


def test_a_model_named_like_a_json_view_still_has_its_page(registry_site: RegistrySite) -> None:
    listing = get(registry_site, "/ui/models").text
    assert f'href="/ui/models/{JSON_NAMED_MODEL}?format=html"' in listing
    page = get(registry_site, f"/ui/models/{JSON_NAMED_MODEL}?format=html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>odd.json" in page.text
    as_json = get(registry_site, f"/ui/models/{JSON_NAMED_MODEL}?format=json").json()
    assert as_json["model"]["name"] == JSON_NAMED_MODEL
    # Without ?format, the .json suffix asks for the JSON view of "odd": no such model.
    assert get(registry_site, f"/ui/models/{JSON_NAMED_MODEL}").status_code == 404
    # Its versions have plain URLs.
    version = get(registry_site, f"/ui/models/{JSON_NAMED_MODEL}/versions/1")
    assert version.status_code == 200 and "odd.json" in version.text
    slash = get(registry_site, "/ui/models/?q=odd", follow_redirects=True)
    assert str(slash.url).endswith("/ui/models?q=odd") and "odd.json" in slash.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/models/no-such-model", 404),
        ("/ui/models/no-such-model.json", 404),
        (f"/ui/models/{MODEL}/versions/99", 404),
        (f"/ui/models/{MODEL}/versions/99.json", 404),
        ("/ui/models/no-such-model/versions/1", 404),
        (f"/ui/models/{MODEL}/versions/abc", 400),
        ("/ui/audit?before=abc", 400),
    ],
)
def test_unknown_models_and_versions_are_404_pages(
    registry_site: RegistrySite, path: str, status: int
) -> None:
    response = get(registry_site, path)
    assert response.status_code == status
    if ".json" in path:
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    elif status == 404:
        assert "Not found" in response.text and response.headers["content-type"].startswith(
            "text/html"
        )


def test_audit_pages_newest_first_without_gaps_and_filters(registry_site: RegistrySite) -> None:
    audit = registry_site.site.services.audit
    everything = audit.list_entries(limit=10_000)
    expected = [e.seq for e in reversed(everything)]
    first = get(registry_site, "/ui/audit.json").json()
    assert [e["seq"] for e in first["entries"]] == expected[:50]

    seen: list[int] = []
    pages: list[list[int]] = []
    url = "/ui/audit.json?page_size=7"
    while True:
        page = get(registry_site, url).json()
        pages.append([e["seq"] for e in page["entries"]])
        seen += pages[-1]
        if page["older_before"] is None:
            break
        url = f"/ui/audit.json?page_size=7&before={page['older_before']}"
    assert seen == expected
    # Back towards the newest from the second page.
    back = get(registry_site, f"/ui/audit.json?page_size=7&after={pages[1][0]}").json()
    assert [e["seq"] for e in back["entries"]] == pages[0]

    by_bo = get(registry_site, "/ui/audit.json?actor=bo").json()["entries"]
    assert by_bo and {e["actor"] for e in by_bo} == {"bo"}
    sets = get(registry_site, "/ui/audit.json", params={"action": "alias.set"}).json()["entries"]
    assert sets and {e["action"] for e in sets} == {"alias.set"}
    prefix = f"models:/{MODEL}@"
    aliases = get(registry_site, "/ui/audit.json", params={"target": prefix}).json()["entries"]
    assert aliases and all(e["target"].startswith(prefix) for e in aliases)
    # Sparse filters page correctly too.
    one = get(registry_site, "/ui/audit.json?page_size=1&action=alias.set").json()
    older = get(
        registry_site, f"/ui/audit.json?page_size=1&action=alias.set&before={one['older_before']}"
    ).json()
    assert [e["seq"] for e in one["entries"] + older["entries"]] == [e["seq"] for e in sets[:2]]


def test_audit_verification_reports_an_intact_chain(registry_site: RegistrySite) -> None:
    body = get(registry_site, "/ui/audit.json?verify=1").json()
    assert body["verification"]["ok"] is True
    assert body["verification"]["checked"] >= len(body["entries"])
    assert get(registry_site, "/ui/audit.json").json()["verification"] is None
    html = get(registry_site, "/ui/audit?verify=1").text
    assert "Chain intact" in html


def test_approvals_json_lists_pending_first_and_the_anonymous_admin(
    registry_site: RegistrySite,
) -> None:
    body = get(registry_site, "/ui/approvals.json").json()
    assert body["actor"] == {"name": "anonymous", "role": "admin", "can_decide": True}
    pending = {a["approval_id"]: a for a in body["pending"]}
    mine = pending[registry_site.pending_approval]
    assert (mine["name"], mine["alias"], mine["version"], mine["current_version"]) == (
        MODEL,
        "champion",
        2,
        1,
    )
    assert mine["requested_by"] == "ana" and mine["state"] == "pending"
    assert all(a["state"] != "pending" for a in body["decided"])
    filtered = get(registry_site, f"/ui/approvals.json?model={q(HOSTILE_MODEL)}").json()
    assert filtered["pending"] == [] and filtered["model"] == HOSTILE_MODEL


# -- deciding approvals through the forms ----------------------------------------------


@dataclass
class AuthServer:
    """A server on the same store that requires tokens, and tokens of each role."""

    server: LiveServer
    approver: str
    editor: str
    self_approver: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def auth_server(
    registry_site: RegistrySite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    auth = registry_site.site.services.auth
    # Tokens first: a server that requires them refuses to start without one.
    approver = auth.create_token("http-approver", Role.APPROVER).secret
    editor = auth.create_token("http-editor", Role.EDITOR).secret
    self_approver = auth.create_token("http-self", Role.APPROVER).secret
    server = start_server(
        tmp_path_factory.mktemp("registry-auth"),
        "--auth",
        store_uri=registry_site.site.server.store_uri,
    )
    try:
        yield AuthServer(
            server=server, approver=approver, editor=editor, self_approver=self_approver
        )
    finally:
        server.stop()


def _request(rs: RegistrySite, requester: str, version: int = 2) -> str:
    approval = rs.site.services.governance.request_approval(
        MODEL, "champion", version, actor=Actor(name=requester, role=Role.EDITOR), reason="try"
    )
    return approval.approval_id


def signed_in(token: str) -> dict[str, str]:
    """The session cookie the sign-in form sets, as a browser sends it."""
    return {"Cookie": f"moorline_token={token}"}


def _post(server: AuthServer, path: str, token: str, reason: str = "looks right") -> httpx.Response:
    return httpx.post(
        server.url + path,
        data={"reason": reason},
        headers={"Origin": server.url, **signed_in(token)},
        timeout=30,
    )


def test_granting_from_the_form_acts_as_the_signed_in_token(
    registry_site: RegistrySite, auth_server: AuthServer
) -> None:
    approval_id = _request(registry_site, "someone-else")
    response = _post(auth_server, f"/ui/approvals/{approval_id}/grant", auth_server.approver)
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/approvals?decided={approval_id}"
    decided = registry_site.site.services.governance.get_approval(approval_id)
    assert decided.state.value == "approved" and decided.decided_by == "http-approver"
    assert decided.decision_reason == "looks right"
    page = httpx.get(
        auth_server.url + response.headers["location"],
        headers=signed_in(auth_server.approver),
        timeout=30,
    )
    assert "was granted by http-approver" in page.text


def test_refusals_are_messages_with_their_status_not_server_errors(
    registry_site: RegistrySite, auth_server: AuthServer
) -> None:
    services = registry_site.site.services
    approver, editor = auth_server.self_approver, auth_server.editor
    own = _request(registry_site, "http-self")
    response = _post(auth_server, f"/ui/approvals/{own}/grant", approver)
    assert response.status_code == 403
    assert "cannot decide it" in response.text and 'role="alert"' in response.text
    assert services.governance.get_approval(own).state.value == "pending"

    other = _request(registry_site, "someone-else")
    response = _post(auth_server, f"/ui/approvals/{other}/grant", editor)
    assert response.status_code == 403 and "requires the approver role" in response.text
    # Rejecting needs a reason; an unknown request is a 404 message.
    no_reason = _post(auth_server, f"/ui/approvals/{other}/reject", approver, reason="  ")
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.text
    missing = _post(auth_server, "/ui/approvals/0123456789abcdef/grant", approver)
    assert missing.status_code == 404 and "0123456789abcdef" in missing.text
    # Deciding twice is a conflict.
    assert _post(auth_server, f"/ui/approvals/{other}/reject", approver).status_code == 303
    again = _post(auth_server, f"/ui/approvals/{other}/grant", approver)
    assert again.status_code == 409 and "not pending" in again.text
    # An editor sees the queue without decision buttons.
    queue = httpx.get(auth_server.url + "/ui/approvals", headers=signed_in(editor), timeout=30).text
    assert "needs the approver or admin role" in queue and 'class="decision"' not in queue


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Referer": "https://evil.example/page"},
    ],
)
def test_decisions_posted_from_another_site_are_refused(
    registry_site: RegistrySite, headers: dict[str, str]
) -> None:
    approval_id = _request(registry_site, "someone-else")
    # The loopback server without tokens: no cookie to withhold, so the origin check must hold.
    response = httpx.post(
        registry_site.url + f"/ui/approvals/{approval_id}/grant",
        data={"reason": "x"},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 403
    assert "posted from another site" in response.text
    state = registry_site.site.services.governance.get_approval(approval_id).state
    assert state.value == "pending"


def test_the_anonymous_admin_of_a_loopback_server_decides_as_anonymous(
    registry_site: RegistrySite,
) -> None:
    approval_id = _request(registry_site, "someone-else")
    response = httpx.post(
        registry_site.url + f"/ui/approvals/{approval_id}/reject",
        data={"reason": "not this week"},
        headers={"Origin": registry_site.url},
        timeout=30,
    )
    assert response.status_code == 303
    decided = registry_site.site.services.governance.get_approval(approval_id)
    assert (decided.state.value, decided.decided_by) == ("rejected", "anonymous")


# -- the pieces behind the pages ---------------------------------------------------


def test_newest_first_pages_match_the_log_across_growing_windows(tmp_path: Path) -> None:
    """Hundreds of entries, sparse and dense filters, page sizes around the window edges."""
    services = build_services(
        Settings(store_uri=f"sqlite:///{tmp_path / 'm.db'}", artifacts_uri=str(tmp_path / "a"))
    )
    try:
        store = services.audit.store
        for i in range(700):
            actor = "rare" if i % 97 == 0 else f"user{i % 3}"
            store.append_audit(
                AuditDraft(actor=actor, action="alias.set", target=f"models:/m{i % 5}@a"),
                now=T_SEED + i,
            )
        cases: list[dict[str, str | None]] = [
            {},
            {"actor": "rare"},
            {"actor": "user1", "target_prefix": "models:/m2"},
            {"actor": "nobody"},
        ]
        for filters in cases:
            expected = [
                e.seq for e in reversed(services.audit.list_entries(limit=10_000, **filters))
            ]
            for size in (1, 7, 99, 100, 101, 250, 1000):
                seen: list[int] = []
                before = None
                while True:
                    page, older = newest_first(services.audit, before=before, limit=size, **filters)
                    assert len(page) <= size
                    seen += [e.seq for e in page]
                    if older is None:
                        break
                    before = older
                assert seen == expected, (filters, size)
    finally:
        services.close()


def test_the_lineage_graph_sums_up_extra_datasets_and_draws_deployments() -> None:
    datasets = tuple(
        DatasetRecord(
            name=f"d{i}",
            digest=f"{i:064x}",
            context="train",
            source_type="code",
            source="",
            rows=None,
            columns=(),
        )
        for i in range(GRAPH_DATASETS + 3)
    )
    lineage = Lineage(
        uri="models:/m/1",
        version=VersionRecord(
            name="a.json",
            version=1,
            source="runs:/r/model",
            run_id="r",
            model_id=None,
            status="READY",
            stage="None",
            description="",
            tags={},
            created_at=0,
            created_by="ana",
            updated_at=0,
        ),
        aliases=(AliasRecord(alias="champion", updated_at=0, updated_by="bo"),),
        history=(),
        run=RunRecord(
            run_id="r",
            run_name="",
            experiment_id="0",
            status="FINISHED",
            user_id="ana",
            start_time=0,
            end_time=None,
            params={},
            metrics={},
            tags={},
            git_commit=None,
            git_dirty=None,
            entry_point=None,
            python_env=None,
            reproduction_of=None,
        ),
        datasets=datasets,
        deployments=(DeploymentRecord(name="prod-eu", traffic_percent=12.5, since=0),),
    )
    nodes, edges = lineage_nodes(lineage)
    kinds = [n.kind for n in nodes]
    assert kinds.count("dataset") == GRAPH_DATASETS + 1
    more = next(n for n in nodes if n.node_id == "dataset-more")
    assert more.label == "+3 more"
    deployment = next(n for n in nodes if n.kind == "deployment")
    assert (deployment.label, deployment.detail) == ("prod-eu", "12.5% of traffic")
    assert ("version", deployment.node_id) in {(e.source, e.target) for e in edges}
    run = next(n for n in nodes if n.kind == "run")
    assert run.label == "r"  # an unnamed run is labelled by its id
    alias = next(n for n in nodes if n.kind == "alias")
    assert alias.href == "/ui/models/a.json?format=html#aliases"
    # Every node and edge can be drawn.
    assert lineage_graph(nodes, edges).count("data-node-id=") == len(nodes)
