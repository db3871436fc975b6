"""The registry's pages: the models list, a model's page and a model version's page.

- ``/ui/models``: every registered model with its aliases (the version
  behind each, when it last moved and by whom), its latest version, its
  risk level and a few key metrics of the training run behind ``champion``
  (or behind the latest version). Searchable by name or with the search
  grammar, paged with the store's tokens.
- ``/ui/models/{name}``: description, tags, promotion policy, the versions
  table and the history of its aliases from the audit log.
- ``/ui/models/{name}/versions/{version}``: the lineage graph (dataset
  versions -> run -> this version -> aliases, deployments), the signature,
  environment and files from the model's manifest, and the training run.

The approvals queue and the audit log are in :mod:`.governance_pages`;
:func:`routes` lists the routes of both.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from moorline.bootstrap import Services
from moorline.charts import GraphEdge, GraphNode, lineage_graph
from moorline.errors import InvalidArgument, MoorlineError, NotFound
from moorline.registry.lineage import Lineage, LineageService, training_run
from moorline.registry.models import ModelVersion, PromotionPolicy, RegisteredModel
from moorline.schemas.lineage import Lineage as LineageJson
from moorline.server.ui import (
    deployment_pages,
    governance_pages,
    monitoring_pages,
    registry_links,
)
from moorline.server.ui.experiments import MAX_TRAIL, _page_size, _prev_url, quote_string
from moorline.server.ui.model_files import model_files
from moorline.server.ui.registry_links import (
    model_url,
    path_name,
    respond,
    respond_error,
    run_url,
    version_url,
    with_query,
)
from moorline.server.ui.render import Renderer, query_string
from moorline.tracking.models import Run

Endpoint = Callable[[Request], Response]
AsyncEndpoint = Callable[[Request], Awaitable[Response]]

MODELS_PAGE_SIZE = 50
VERSIONS_PAGE_SIZE = 100
#: Metrics shown per model in the list: the policy's must-beat metrics first, then by name.
KEY_METRICS = 4
#: The alias whose version's metrics the models list shows (else the latest version's).
KEY_ALIAS = "champion"
ALIAS_HISTORY = 30
#: Dataset boxes drawn in the lineage graph; the rest are summed up in one box.
GRAPH_DATASETS = 8
RUN_PARAMS_SHOWN = 40


def routes(services: Services, ui: Renderer) -> list[BaseRoute]:
    """The registry's UI routes (models, versions, approvals, audit), bound to ``services``."""
    registry_links.install(ui)

    def bind(handler: Callable[[Services, Renderer, Request], Response]) -> Endpoint:
        return functools.partial(handler, services, ui)

    def decide(decision: str) -> AsyncEndpoint:
        return functools.partial(governance_pages.decide, services, ui, decision=decision)

    return [
        Route("/ui/models", bind(models_page), methods=["GET"], name="ui-models"),
        Route("/ui/models/", _to_models, methods=["GET"]),
        Route("/ui/models.json", bind(models_page), methods=["GET"]),
        Route("/ui/models/{name}", bind(model_page), methods=["GET"], name="ui-model"),
        Route(
            "/ui/models/{name}/versions/{version}",
            bind(version_page),
            methods=["GET"],
            name="ui-model-version",
        ),
        Route("/ui/approvals", bind(governance_pages.approvals_page), methods=["GET"]),
        Route("/ui/approvals.json", bind(governance_pages.approvals_page), methods=["GET"]),
        Route("/ui/approvals/{approval_id}/grant", decide("grant"), methods=["POST"]),
        Route("/ui/approvals/{approval_id}/reject", decide("reject"), methods=["POST"]),
        Route("/ui/audit", bind(governance_pages.audit_page), methods=["GET"], name="ui-audit"),
        Route("/ui/audit.json", bind(governance_pages.audit_page), methods=["GET"]),
    ]


def _to_models(request: Request) -> Response:
    return RedirectResponse("/ui/models" + query_string(request.query_params.items()), 307)


# -- records as JSON-able dictionaries ----------------------------------------


def policy_dict(policy: PromotionPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {
        "risk": policy.risk.value,
        "protected_aliases": list(policy.protected_aliases),
        "must_beat": dict(sorted(policy.must_beat.items())),
        "updated_at": policy.updated_at,
        "updated_by": policy.updated_by,
    }


def version_dict(mv: ModelVersion) -> dict[str, Any]:
    return {
        "name": mv.name,
        "version": mv.version,
        "aliases": sorted(mv.aliases),
        "stage": mv.current_stage.value,
        "status": mv.status.value,
        "creation_timestamp": mv.creation_timestamp,
        "last_updated_timestamp": mv.last_updated_timestamp,
        "user_id": mv.user_id,
        "description": mv.description,
        "source": mv.source,
        "run_id": mv.run_id,
        "model_id": mv.model_id,
        "tags": dict(sorted(mv.tags.items())),
    }


def key_metrics(run: Run, preferred: list[str], count: int = KEY_METRICS) -> dict[str, float]:
    """Up to ``count`` latest metric values: ``preferred`` keys first, then by name."""
    latest = {m.key: m.value for m in run.metrics}
    keys = [k for k in preferred if k in latest]
    keys += [k for k in sorted(latest) if k not in keys]
    return {k: latest[k] for k in keys[:count]}


# -- /ui/models ---------------------------------------------------------------


def _model_row(services: Services, model: RegisteredModel) -> dict[str, Any]:
    registry = services.registry
    aliases = registry.list_aliases(model.name)
    policy = services.governance.get_policy(model.name)
    latest = max((v.version for v in model.latest_versions), default=None)
    by_alias = {a.alias: a.version for a in aliases}
    basis: dict[str, Any] | None = None
    metrics: dict[str, float] = {}
    number = by_alias.get(KEY_ALIAS, latest)
    if number is not None:
        run = None
        with contextlib.suppress(NotFound):  # deleted since the alias list was read
            run = training_run(registry.get_model_version(model.name, number), services.tracking)
        preferred = sorted(policy.must_beat) if policy is not None else []
        if run is not None:
            metrics = key_metrics(run, preferred)
        basis = {
            "version": number,
            "alias": KEY_ALIAS if KEY_ALIAS in by_alias else None,
            "run_id": run.run_id if run is not None else None,
        }
    return {
        "name": model.name,
        "description": model.description,
        "tags": dict(sorted(model.tags.items())),
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
        "latest_version": latest,
        "risk": policy.risk.value if policy is not None else None,
        "aliases": [
            {
                "alias": a.alias,
                "version": a.version,
                "updated_at": a.updated_at,
                "updated_by": a.updated_by,
            }
            for a in aliases
        ],
        "metrics_of": basis,
        "metrics": metrics,
    }


def models_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/models``: registered models by name, with aliases, latest version and key metrics."""
    qp = request.query_params
    q = qp.get("q", "").strip()
    filter_text = qp.get("filter", "").strip()
    token = qp.get("page_token") or None
    trail = qp.getlist("trail")[-MAX_TRAIL:]
    page_size = _page_size(request, MODELS_PAGE_SIZE)
    clauses = [filter_text] if filter_text else []
    if q:
        clauses.append(f"name ILIKE {quote_string('%' + q + '%')}")
    error = None
    rows: list[dict[str, Any]] = []
    next_token = None
    try:
        page = services.registry.search_registered_models(
            filter_string=" AND ".join(clauses) or None,
            order_by=["name ASC"],
            max_results=page_size,
            page_token=token,
        )
        next_token = page.next_page_token
        rows = [_model_row(services, m) for m in page.items]
    except InvalidArgument as exc:
        error = exc.message
    data = {
        "q": q,
        "filter": filter_text,
        "models": rows,
        "next_page_token": next_token,
        "error": error,
    }
    base = [("q", q), ("filter", filter_text)]
    if page_size != MODELS_PAGE_SIZE:
        base.append(("page_size", str(page_size)))
    next_url = None
    if next_token:
        back = [("trail", t) for t in (*trail, token or "-")]
        next_url = query_string([*base, *back, ("page_token", next_token)])
    extra = {
        "next_url": next_url,
        "prev_url": _prev_url(base, trail) if token else None,
        "json_query": query_string([*base, ("page_token", token or "")]),
        "key_alias": KEY_ALIAS,
    }
    return respond(ui, request, "models.html", data, extra=extra, status_code=400 if error else 200)


# -- /ui/models/{name} ----------------------------------------------------------


def model_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/models/{name}``: the model, its policy, versions and alias history."""
    name = path_name(request, "name")
    registry = services.registry
    token = request.query_params.get("page_token") or None
    trail = request.query_params.getlist("trail")[-MAX_TRAIL:]
    page_size = _page_size(request, VERSIONS_PAGE_SIZE)
    try:
        model = registry.get_registered_model(name)
        aliases = registry.list_aliases(model.name)
        page = registry.search_model_versions(
            filter_string=f"name = {quote_string(model.name)}",
            order_by=["version_number DESC"],
            max_results=page_size,
            page_token=token,
        )
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    policy = services.governance.get_policy(model.name)
    history, older = governance_pages.newest_first(
        services.audit, before=None, limit=ALIAS_HISTORY, target_prefix=f"models:/{model.name}@"
    )
    pending = services.governance.list_approvals(state="pending", name=model.name, limit=100)
    data = {
        "model": {
            "name": model.name,
            "description": model.description,
            "tags": dict(sorted(model.tags.items())),
            "creation_timestamp": model.creation_timestamp,
            "last_updated_timestamp": model.last_updated_timestamp,
            "user_id": model.user_id,
        },
        "policy": policy_dict(policy),
        "aliases": [
            {
                "alias": a.alias,
                "version": a.version,
                "updated_at": a.updated_at,
                "updated_by": a.updated_by,
                "protected": policy is not None and a.alias in policy.protected_aliases,
            }
            for a in aliases
        ],
        "versions": [version_dict(v) for v in page.items],
        "next_page_token": page.next_page_token,
        "alias_history": [governance_pages.entry_dict(e) for e in history],
        "pending_approvals": len(pending),
        "monitors": monitoring_pages.model_monitors(services, model.name),
        "deployments": deployment_pages.model_deployments(services, model.name),
    }
    base: list[tuple[str, str]] = []
    if page_size != VERSIONS_PAGE_SIZE:
        base.append(("page_size", str(page_size)))
    next_url = None
    if page.next_page_token:
        back = [("trail", t) for t in (*trail, token or "-")]
        next_url = query_string([*base, *back, ("page_token", page.next_page_token)])
    own_url = model_url(model.name)
    extra = {
        "own_url": own_url,
        "next_url": with_query(own_url, next_url) if next_url else None,
        "prev_url": with_query(own_url, _prev_url(base, trail)) if token else None,
        "history_more": older is not None,
        "audit_url": "/ui/audit" + query_string([("target", f"models:/{model.name}@")]),
    }
    return respond(ui, request, "model.html", data, extra=extra)


# -- /ui/models/{name}/versions/{version} ----------------------------------------


def lineage_nodes(lineage: Lineage) -> tuple[list[GraphNode], list[GraphEdge]]:
    """The graph of a version's lineage: datasets -> run -> version -> aliases, deployments."""
    v = lineage.version
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    version_id = "version"
    nodes.append(
        GraphNode(
            node_id=version_id,
            label=f"{v.name} v{v.version}",
            kind="model_version",
            column=2,
            detail=f"by {v.created_by}" if v.created_by else v.stage,
            href=version_url(v.name, v.version),
            current=True,
        )
    )
    run = lineage.run
    if run is not None:
        run_href = run_url(run.run_id)
        nodes.append(
            GraphNode(
                node_id="run",
                label=run.run_name or run.run_id,
                kind="run",
                column=1,
                detail=f"{run.run_id[:12]} · {run.status.lower()}",
                href=run_href,
            )
        )
        edges.append(GraphEdge(source="run", target=version_id, label="produced"))
        shown = lineage.datasets[:GRAPH_DATASETS]
        for i, d in enumerate(shown):
            node_id = f"dataset-{i}"
            detail = d.digest[:12] + (f" · {d.context}" if d.context else "")
            nodes.append(
                GraphNode(
                    node_id=node_id,
                    label=d.name,
                    kind="dataset",
                    column=0,
                    detail=detail,
                    href=run_href + "#datasets",
                )
            )
            edges.append(GraphEdge(source=node_id, target="run", label=d.context or "input"))
        hidden = len(lineage.datasets) - len(shown)
        if hidden > 0:
            nodes.append(
                GraphNode(
                    node_id="dataset-more",
                    label=f"+{hidden} more",
                    kind="dataset",
                    column=0,
                    detail="see the run's inputs",
                    href=run_href + "#datasets",
                )
            )
            edges.append(GraphEdge(source="dataset-more", target="run", label="input"))
    for a in lineage.aliases:
        node_id = f"alias-{a.alias}"
        nodes.append(
            GraphNode(
                node_id=node_id,
                label=f"@{a.alias}",
                kind="alias",
                column=3,
                detail=f"by {a.updated_by}" if a.updated_by else "",
                href=model_url(v.name) + "#aliases",
            )
        )
        edges.append(GraphEdge(source=version_id, target=node_id))
    for i, dep in enumerate(lineage.deployments):
        node_id = f"deployment-{i}"
        nodes.append(
            GraphNode(
                node_id=node_id,
                label=dep.name,
                kind="deployment",
                column=3,
                detail=f"{dep.traffic_percent:g}% of traffic",
            )
        )
        edges.append(GraphEdge(source=version_id, target=node_id, label="serves"))
    return nodes, edges


def version_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/models/{name}/versions/{version}``: lineage graph, signature, environment, files."""
    name = request.path_params["name"]
    try:
        mv = services.registry.get_model_version(name, path_name(request, "version"))
        lineage = LineageService(services.registry, services.tracking, services.audit).lineage(
            f"models:/{mv.name}/{mv.version}"
        )
        model = services.registry.get_registered_model(mv.name)
    except MoorlineError as exc:
        return respond_error(ui, request, exc)
    files = model_files(services, mv)
    nodes, edges = lineage_nodes(lineage)
    graph = lineage_graph(nodes, edges, title=f"Lineage of {mv.name} version {mv.version}")
    lineage_json = LineageJson.from_domain(lineage).model_dump(mode="json")
    run = lineage_json["run"]
    data = {
        "model": {"name": model.name, "description": model.description},
        # Not "version": templates know that name as moorline's own version.
        "model_version": version_dict(mv),
        "lineage": lineage_json,
        "graph": {
            "nodes": [
                {"id": n.node_id, "kind": n.kind, "label": n.label, "href": n.href} for n in nodes
            ],
            "edges": [{"source": e.source, "target": e.target, "label": e.label} for e in edges],
        },
        "files": files.to_dict(),
    }
    params = sorted((run or {}).get("params", {}).items())
    extra = {
        "graph_svg": Markup(graph),  # noqa: S704 - escaped by moorline.charts
        "run_params": params[:RUN_PARAMS_SHOWN],
        "more_params": max(0, len(params) - RUN_PARAMS_SHOWN),
        "json_url": version_url(mv.name, mv.version) + ".json",
    }
    return respond(ui, request, "model_version.html", data, extra=extra)
