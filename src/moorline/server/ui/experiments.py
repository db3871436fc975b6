"""The experiments list (``/ui/``) and an experiment's runs table (``/ui/experiments/{id}``).

The runs table fetches one page of runs per request (keyset or offset
tokens, whatever the store hands out), so it stays fast with tens of
thousands of runs. Sorting, filtering, column choice and paging all live in
the URL: every view can be bookmarked and shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from moorline.bootstrap import Services
from moorline.errors import InvalidArgument, MoorlineError
from moorline.server.ui.render import Renderer, query_string, strip_json_suffix
from moorline.tracking.models import Experiment, Run

EXPERIMENTS_PAGE_SIZE = 100
RUNS_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
DEFAULT_METRIC_COLUMNS = 30
DEFAULT_PARAM_COLUMNS = 8
#: Tokens of earlier pages kept in the URL for "previous"; older ones fall back to "first".
MAX_TRAIL = 40
DEFAULT_ORDER = "attributes.start_time DESC"


def quote_key(key: str) -> str:
    """A metric/param/tag key quoted for the search grammar.

    >>> quote_key("val loss"), quote_key("odd`key")
    ('`val loss`', '"odd`key"')
    """
    if "`" not in key:
        return f"`{key}`"
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    r"""A string literal for the search grammar.

    >>> print(quote_string("it's"))
    'it\'s'
    """
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def experiment_dict(exp: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": exp.artifact_location,
        "lifecycle_stage": exp.lifecycle_stage.value,
        "creation_time": exp.creation_time,
        "last_update_time": exp.last_update_time,
        "tags": dict(sorted(exp.tags.items())),
    }


def _user_tags(tags: dict[str, str]) -> dict[str, str]:
    """Tags people set, without the ``mlflow.*`` bookkeeping ones."""
    return {k: v for k, v in sorted(tags.items()) if not k.startswith(("mlflow.", "moorline."))}


def experiments_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/``: experiments with their run counts, newest first, searchable by name."""
    q = request.query_params.get("q", "").strip()
    token = request.query_params.get("page_token") or None
    trail = request.query_params.getlist("trail")[-MAX_TRAIL:]
    page_size = _page_size(request, EXPERIMENTS_PAGE_SIZE)
    filter_string = f"name ILIKE {quote_string('%' + q + '%')}" if q else None
    error = None
    experiments: list[dict[str, Any]] = []
    next_token = None
    try:
        page = services.tracking.search_experiments(
            filter_string=filter_string,
            max_results=page_size,
            page_token=token,
        )
        next_token = page.next_page_token
        for exp in page.items:
            row = experiment_dict(exp)
            row["run_count"] = services.tracking.count_runs([exp.experiment_id])
            row["user_tags"] = _user_tags(exp.tags)
            experiments.append(row)
    except InvalidArgument as exc:
        error = exc.message
    data = {
        "q": q,
        "experiments": experiments,
        "next_page_token": next_token,
        "error": error,
    }
    base = [("q", q)]
    if page_size != EXPERIMENTS_PAGE_SIZE:
        base.append(("page_size", str(page_size)))
    next_url = None
    if next_token:
        # The trail remembers the tokens of earlier pages ('-' is the first) for "previous".
        back = [("trail", t) for t in (*trail, token or "-")]
        next_url = query_string([*base, *back, ("page_token", next_token)])
    extra = {"next_url": next_url, "prev_url": _prev_url(base, trail) if token else None}
    return ui.page(
        request, "experiments.html", data, extra=extra, status_code=400 if error else 200
    )


def _page_size(request: Request, default: int) -> int:
    """``?page_size=`` clamped to 1..MAX_PAGE_SIZE; the default when absent or not a number."""
    try:
        return min(MAX_PAGE_SIZE, max(1, int(request.query_params.get("page_size", default))))
    except ValueError:
        return default


def _prev_url(base: list[tuple[str, str]], trail: Sequence[str]) -> str:
    """The URL of the previous page: the last token of the trail ('-' is the first page)."""
    if not trail:
        return query_string(base) or "?"
    previous = trail[-1]
    pairs = [*base, *[("trail", t) for t in trail[:-1]]]
    if previous != "-":
        pairs.append(("page_token", previous))
    return query_string(pairs) or "?"


# -- the runs table ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """A column of the runs table and the order_by expression that sorts by it."""

    kind: str  # "attribute", "metric" or "param"
    key: str
    label: str
    order_expr: str | None
    #: Direction of the first click: numbers and times descend, text ascends.
    first_descending: bool


def _attribute(key: str, label: str, *, sortable: bool = True, descending: bool) -> Column:
    expr = f"attributes.{key}" if sortable else None
    return Column(
        kind="attribute", key=key, label=label, order_expr=expr, first_descending=descending
    )


ATTRIBUTE_COLUMNS = (
    _attribute("run_name", "Run", descending=False),
    _attribute("status", "Status", descending=False),
    _attribute("start_time", "Started", descending=True),
    # Duration is computed from two attributes: the grammar cannot order by it.
    _attribute("duration", "Duration", sortable=False, descending=True),
    _attribute("user_id", "User", descending=False),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunsQuery:
    """Everything in the URL of a runs table, and how to write it back."""

    filter: str = ""
    order_by: str = ""
    metrics: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    explicit_columns: bool = False
    page_token: str | None = None
    trail: tuple[str, ...] = ()
    page_number: int = 1
    page_size: int = RUNS_PAGE_SIZE
    extra: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def from_request(cls, request: Request) -> RunsQuery:
        qp = request.query_params
        try:
            page_number = max(1, int(qp.get("pn", "1")))
        except ValueError:
            page_number = 1
        page_size = _page_size(request, RUNS_PAGE_SIZE)
        return cls(
            filter=qp.get("filter", "").strip(),
            order_by=qp.get("order_by", "").strip(),
            metrics=tuple(dict.fromkeys(m for m in qp.getlist("m") if m)),
            params=tuple(dict.fromkeys(p for p in qp.getlist("p") if p)),
            explicit_columns=qp.get("cols") == "1",
            page_token=qp.get("page_token") or None,
            trail=tuple(qp.getlist("trail"))[-MAX_TRAIL:],
            page_number=page_number,
            page_size=page_size,
        )

    def pairs(self) -> list[tuple[str, str]]:
        """The view without its paging state: filter, order and columns."""
        out: list[tuple[str, str]] = [("filter", self.filter), ("order_by", self.order_by)]
        if self.explicit_columns:
            out.append(("cols", "1"))
            out.extend(("m", m) for m in self.metrics)
            out.extend(("p", p) for p in self.params)
        if self.page_size != RUNS_PAGE_SIZE:
            out.append(("page_size", str(self.page_size)))
        return out

    def url(self) -> str:
        return query_string(self.pairs()) or "?"

    def with_order(self, order_by: str) -> str:
        return query_string(replace(self, order_by=order_by).pairs()) or "?"

    def next_url(self, token: str) -> str:
        trail = (*self.trail, self.page_token or "-")[-MAX_TRAIL:]
        return query_string(
            [
                *self.pairs(),
                *[("trail", t) for t in trail],
                ("page_token", token),
                ("pn", str(self.page_number + 1)),
            ]
        )

    def prev_url(self) -> str | None:
        if self.page_token is None:
            return None
        if not self.trail:
            return None  # the trail was cut: only the first page is reachable
        previous = self.trail[-1]
        pairs = [*self.pairs(), *[("trail", t) for t in self.trail[:-1]]]
        if previous != "-":
            pairs.append(("page_token", previous))
            pairs.append(("pn", str(max(1, self.page_number - 1))))
        return query_string(pairs) or "?"


def run_row(run: Run, metrics: Sequence[str], params: Sequence[str]) -> dict[str, Any]:
    info = run.info
    latest = {m.key: m.value for m in run.metrics}
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "status": info.status.value,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "duration_ms": (info.end_time - info.start_time) if info.end_time is not None else None,
        "user_id": info.user_id,
        "lifecycle_stage": info.lifecycle_stage.value,
        "metrics": {k: latest.get(k) for k in metrics},
        "params": {k: run.params.get(k) for k in params},
    }


def experiment_page(services: Services, ui: Renderer, request: Request) -> Response:
    """``/ui/experiments/{id}``: one page of runs, sortable, filterable, pageable."""
    experiment_id = strip_json_suffix(request.path_params["experiment_id"])
    try:
        experiment = services.tracking.get_experiment(experiment_id)
    except MoorlineError as exc:
        return ui.error(request, exc)
    query = RunsQuery.from_request(request)
    tracking = services.tracking
    all_metrics = tracking.metric_keys([experiment_id])
    all_params = tracking.param_keys([experiment_id])
    if query.explicit_columns:
        metrics, params = query.metrics, query.params
    else:
        metrics = tuple(all_metrics[:DEFAULT_METRIC_COLUMNS])
        params = tuple(all_params[:DEFAULT_PARAM_COLUMNS])
    error = None
    rows: list[dict[str, Any]] = []
    next_token = None
    count = None
    try:
        page = tracking.search_runs(
            [experiment_id],
            filter_string=query.filter or None,
            order_by=[query.order_by or DEFAULT_ORDER],
            max_results=query.page_size,
            page_token=query.page_token,
        )
        rows = [run_row(run, metrics, params) for run in page.items]
        next_token = page.next_page_token
        count = tracking.count_runs([experiment_id], filter_string=query.filter or None)
    except InvalidArgument as exc:
        error = exc.message
    columns = [
        *ATTRIBUTE_COLUMNS,
        *(
            Column(
                kind="metric",
                key=k,
                label=k,
                order_expr=f"metrics.{quote_key(k)}",
                first_descending=True,
            )
            for k in metrics
        ),
        *(
            Column(
                kind="param",
                key=k,
                label=k,
                order_expr=f"params.{quote_key(k)}",
                first_descending=False,
            )
            for k in params
        ),
    ]
    data = {
        "experiment": experiment_dict(experiment),
        "filter": query.filter,
        "order_by": query.order_by or DEFAULT_ORDER,
        "columns": {"metrics": list(metrics), "params": list(params)},
        "available_columns": {"metrics": all_metrics, "params": all_params},
        "runs": rows,
        "count": count,
        "page_number": query.page_number,
        "page_size": query.page_size,
        "next_page_token": next_token,
        "error": error,
    }
    start = (query.page_number - 1) * query.page_size
    extra = {
        "query": query,
        "table_columns": [_header(query, c) for c in columns],
        "first_row": start + 1 if rows else 0,
        "last_row": start + len(rows),
        "next_url": query.next_url(next_token) if next_token else None,
        "prev_url": query.prev_url(),
        "first_url": query.url() if query.page_token else None,
        "user_tags": _user_tags(experiment.tags),
        "json_query": query_string([*query.pairs(), ("page_token", query.page_token or "")]),
        "clear_filter_url": replace(query, filter="").url(),
    }
    return ui.page(request, "experiment.html", data, extra=extra, status_code=400 if error else 200)


def _header(query: RunsQuery, column: Column) -> dict[str, Any]:
    """A column header: its label, sort link and current sort direction."""
    current = query.order_by or DEFAULT_ORDER
    direction = None
    href = None
    if column.order_expr is not None:
        if current == f"{column.order_expr} DESC":
            direction = "descending"
            href = query.with_order(f"{column.order_expr} ASC")
        elif current in (f"{column.order_expr} ASC", column.order_expr):
            direction = "ascending"
            href = query.with_order(f"{column.order_expr} DESC")
        else:
            href = query.with_order(
                f"{column.order_expr} {'DESC' if column.first_descending else 'ASC'}"
            )
    return {
        "kind": column.kind,
        "key": column.key,
        "label": column.label,
        "href": href,
        "sort": direction,
    }
