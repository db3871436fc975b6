"""Small builders shared by the contract suites."""

from __future__ import annotations

from collections.abc import Sequence

from moorline.core.paging import Page
from moorline.tracking.models import (
    ExperimentId,
    Metric,
    Param,
    Run,
    RunId,
    Tag,
    ViewType,
)
from moorline.tracking.ports import TrackingStore
from moorline.tracking.search import Clause, OrderKey, Value


def clause(entity: str, key: str, op: str, value: Value = None) -> Clause:
    return Clause(entity=entity, key=key, op=op, value=value)  # type: ignore[arg-type]


def order(entity: str, key: str, *, ascending: bool = True) -> OrderKey:
    return OrderKey(entity=entity, key=key, ascending=ascending)  # type: ignore[arg-type]


def new_experiment(tracking: TrackingStore, name: str, *, now: int = 1_000) -> ExperimentId:
    return tracking.create_experiment(name=name, artifact_location=None, tags=[], now=now)


def new_run(
    tracking: TrackingStore,
    experiment_id: ExperimentId,
    *,
    name: str = "run",
    start_time: int = 1_000,
    user_id: str = "ana",
    tags: dict[str, str] | None = None,
) -> RunId:
    run = tracking.create_run(
        experiment_id=experiment_id,
        user_id=user_id,
        run_name=name,
        start_time=start_time,
        tags=[Tag(key=k, value=v) for k, v in (tags or {}).items()],
    )
    return run.run_id


def log(
    tracking: TrackingStore,
    run_id: RunId,
    *,
    metrics: Sequence[Metric] = (),
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    tracking.log_batch(
        run_id,
        metrics=list(metrics),
        params=[Param(key=k, value=v) for k, v in (params or {}).items()],
        tags=[Tag(key=k, value=v) for k, v in (tags or {}).items()],
    )


def point(key: str, value: float, *, step: int = 0, timestamp: int = 0, **extra: str) -> Metric:
    return Metric(key=key, value=value, step=step, timestamp=timestamp, **extra)  # type: ignore[arg-type]


def search(
    tracking: TrackingStore,
    experiment_ids: Sequence[ExperimentId],
    *filters: Clause,
    order_by: Sequence[OrderKey] = (),
    view_type: ViewType = ViewType.ACTIVE_ONLY,
    max_results: int = 1000,
    page_token: str | None = None,
) -> Page[Run]:
    return tracking.search_runs(
        experiment_ids=list(experiment_ids),
        filter_clauses=list(filters),
        order_by=list(order_by),
        view_type=view_type,
        max_results=max_results,
        page_token=page_token,
    )


def run_names(page: Page[Run]) -> list[str]:
    return [r.info.run_name for r in page.items]
