"""Tracking use cases: the rules every shell (REST, MLflow API, SDK, CLI, UI) shares.

The service validates input, fills defaults (names, timestamps), resolves
run names against the ``mlflow.runName`` tag and hands clean records to the
store. It never sees HTTP or SQL. Typical use, given a store::

    svc = TrackingService(store)
    exp = svc.create_experiment("churn")
    run = svc.create_run(exp, user_id="ana")
    svc.log_metric(run.run_id, "auc", 0.91, step=1)
"""

from __future__ import annotations

from collections.abc import Sequence

from moorline.core.clock import now_ms
from moorline.core.paging import Page, check_max_results
from moorline.errors import InvalidArgument, NotFound
from moorline.tracking import validation as v
from moorline.tracking.models import (
    TAG_RUN_NAME,
    DatasetInput,
    Experiment,
    ExperimentId,
    LifecycleStage,
    LoggedModel,
    LoggedModelId,
    LoggedModelStatus,
    Metric,
    ModelOutput,
    Param,
    Run,
    RunId,
    RunInfo,
    RunStatus,
    Tag,
    ViewType,
)
from moorline.tracking.names import generate_run_name
from moorline.tracking.ports import TrackingStore
from moorline.tracking.search import (
    parse_experiment_filter,
    parse_experiment_order_by,
    parse_logged_model_filter,
    parse_logged_model_order_by,
    parse_run_filter,
    parse_run_order_by,
)

SEARCH_RUNS_DEFAULT = 1000
SEARCH_EXPERIMENTS_DEFAULT = 1000
SEARCH_LOGGED_MODELS_DEFAULT = 100
MAX_HISTORY_RUNS = 100
MAX_HISTORY_POINTS_PER_RUN = 2500


class TrackingService:
    """Experiments, runs and logged models."""

    def __init__(self, store: TrackingStore) -> None:
        self._store = store

    @property
    def store(self) -> TrackingStore:
        return self._store

    # -- experiments -------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        *,
        artifact_location: str | None = None,
        tags: dict[str, str] | Sequence[Tag] | None = None,
        now: int | None = None,
    ) -> ExperimentId:
        v.validate_experiment_name(name)
        tag_list = _tags(tags)
        for t in tag_list:
            v.validate_tag_key(t.key)
            v.validate_experiment_tag_value(t.value)
        if artifact_location is not None and not artifact_location.strip():
            artifact_location = None
        return self._store.create_experiment(
            name=name, artifact_location=artifact_location, tags=tag_list, now=_now(now)
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._store.get_experiment(_experiment_id(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        if not isinstance(name, str) or not name:
            raise InvalidArgument("experiment_name must be a non-empty string")
        return self._store.get_experiment_by_name(name)

    def search_experiments(
        self,
        *,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[Experiment]:
        return self._store.search_experiments(
            view_type=view_type,
            filter_clauses=parse_experiment_filter(filter_string),
            order_by=parse_experiment_order_by(list(order_by or [])),
            max_results=check_max_results(max_results, default=SEARCH_EXPERIMENTS_DEFAULT),
            page_token=page_token,
        )

    def rename_experiment(
        self, experiment_id: str, new_name: str, *, now: int | None = None
    ) -> None:
        v.validate_experiment_name(new_name)
        self._store.rename_experiment(_experiment_id(experiment_id), new_name, now=_now(now))

    def delete_experiment(self, experiment_id: str, *, now: int | None = None) -> None:
        eid = _experiment_id(experiment_id)
        if eid == "0":
            raise InvalidArgument("The Default experiment (id 0) cannot be deleted")
        self._store.set_experiment_lifecycle(eid, LifecycleStage.DELETED, now=_now(now))

    def restore_experiment(self, experiment_id: str, *, now: int | None = None) -> None:
        self._store.set_experiment_lifecycle(
            _experiment_id(experiment_id), LifecycleStage.ACTIVE, now=_now(now)
        )

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        v.validate_tag_key(key)
        v.validate_experiment_tag_value(value)
        self._store.set_experiment_tag(_experiment_id(experiment_id), Tag(key=key, value=value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        v.validate_tag_key(key)
        self._store.delete_experiment_tag(_experiment_id(experiment_id), key)

    # -- runs ----------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        *,
        user_id: str = "",
        run_name: str | None = None,
        start_time: int | None = None,
        tags: dict[str, str] | Sequence[Tag] | None = None,
    ) -> Run:
        tag_list = _tags(tags)
        for t in tag_list:
            v.validate_tag_key(t.key)
            v.validate_tag_value(t.value)
        tag_name = next((t.value for t in tag_list if t.key == TAG_RUN_NAME), None)
        if run_name and tag_name and run_name != tag_name:
            raise InvalidArgument(
                f"Both run_name ({run_name!r}) and tag {TAG_RUN_NAME} ({tag_name!r}) were given "
                "and they differ; give one, or make them equal"
            )
        name = run_name or tag_name or generate_run_name()
        v.validate_run_name(name)
        tag_list = [t for t in tag_list if t.key != TAG_RUN_NAME] + [
            Tag(key=TAG_RUN_NAME, value=name)
        ]
        start = now_ms() if start_time is None else v.validate_timestamp(start_time, "start_time")
        if not isinstance(user_id, str):
            raise InvalidArgument("user_id must be a string")
        return self._store.create_run(
            experiment_id=_experiment_id(experiment_id),
            user_id=user_id,
            run_name=name,
            start_time=start,
            tags=tag_list,
        )

    def get_run(self, run_id: str) -> Run:
        return self._store.get_run(_run_id(run_id))

    def get_run_info(self, run_id: str) -> RunInfo:
        """The run's info alone: cheaper than :meth:`get_run` when data is not needed."""
        return self._store.get_run_info(_run_id(run_id))

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        rid = _run_id(run_id)
        st: RunStatus | None = None
        if status is not None:
            try:
                st = RunStatus(status)
            except ValueError as exc:
                names = ", ".join(s.value for s in RunStatus)
                raise InvalidArgument(
                    f"Invalid run status {status!r}; expected one of {names}"
                ) from exc
        if end_time is not None:
            end_time = v.validate_timestamp(end_time, "end_time")
        elif st is not None and st.is_terminal:
            end_time = now_ms()
        if run_name is not None:
            if not run_name:
                run_name = None
            else:
                v.validate_run_name(run_name)
        self._require_active_run(rid)
        return self._store.update_run_info(rid, status=st, end_time=end_time, run_name=run_name)

    def end_run(self, run_id: str, status: RunStatus = RunStatus.FINISHED) -> RunInfo:
        return self.update_run(run_id, status=status, end_time=now_ms())

    def delete_run(self, run_id: str) -> None:
        self._store.set_run_lifecycle(_run_id(run_id), LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._store.set_run_lifecycle(_run_id(run_id), LifecycleStage.ACTIVE)

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        *,
        timestamp: int | None = None,
        step: int | None = None,
        model_id: str | None = None,
        dataset_name: str | None = None,
        dataset_digest: str | None = None,
    ) -> None:
        metric = Metric(
            key=key,
            value=value,
            timestamp=now_ms() if timestamp is None else timestamp,
            step=0 if step is None else step,
            model_id=LoggedModelId(model_id) if model_id else None,
            dataset_name=dataset_name or None,
            dataset_digest=dataset_digest or None,
        )
        self.log_batch(run_id, metrics=[metric])

    def log_param(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, params=[Param(key=key, value=value)])

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        if key == TAG_RUN_NAME:
            v.validate_run_name(value)
            self.update_run(run_id, run_name=value)
            return
        self.log_batch(run_id, tags=[Tag(key=key, value=value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        v.validate_tag_key(key)
        rid = _run_id(run_id)
        self._require_active_run(rid)
        self._store.delete_tag(rid, key)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[Tag] = (),
    ) -> None:
        """Log metrics, params and tags atomically: all of them or none."""
        rid = _run_id(run_id)
        v.validate_batch_limits(metrics, params, tags)
        clean_metrics = [_clean_metric(m) for m in metrics]
        seen: dict[str, str] = {}
        unique_params: list[Param] = []
        for p in params:
            v.validate_param_key(p.key)
            value = _stringify(p.value, f"param {p.key!r}")
            v.validate_param_value(value)
            if p.key in seen:
                if seen[p.key] != value:
                    raise InvalidArgument(
                        f"Param {p.key!r} appears twice in one batch with different values "
                        f"({seen[p.key]!r} and {value!r})"
                    )
                continue
            seen[p.key] = value
            unique_params.append(Param(key=p.key, value=value))
        clean_tags: dict[str, Tag] = {}
        for t in tags:
            v.validate_tag_key(t.key)
            value = _stringify(t.value, f"tag {t.key!r}")
            v.validate_tag_value(value)
            clean_tags[t.key] = Tag(key=t.key, value=value)
        if not clean_metrics and not unique_params and not clean_tags:
            self._require_active_run(rid)
            return
        self._store.log_batch(
            rid, metrics=clean_metrics, params=unique_params, tags=list(clean_tags.values())
        )

    def log_inputs(
        self,
        run_id: str,
        *,
        datasets: Sequence[DatasetInput] = (),
        model_ids: Sequence[str] = (),
    ) -> None:
        rid = _run_id(run_id)
        for d in datasets:
            if not d.dataset.name or not d.dataset.digest:
                raise InvalidArgument("Every dataset input needs a name and a digest")
            v.validate_dataset(d.dataset)
            for k, val in d.tags.items():
                v.validate_tag_key(k)
                v.validate_tag_value(val)
        self._require_active_run(rid)
        self._store.log_inputs(
            rid, datasets=list(datasets), model_ids=[LoggedModelId(m) for m in model_ids]
        )

    def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None:
        rid = _run_id(run_id)
        for m in models:
            _logged_model_id(m.model_id)
            v.validate_int64(m.step, "step")
        self._require_active_run(rid)
        self._store.log_outputs(rid, models=list(models))

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[Run]:
        return self._store.search_runs(
            experiment_ids=[_experiment_id(e) for e in experiment_ids],
            filter_clauses=parse_run_filter(filter_string),
            order_by=parse_run_order_by(list(order_by or [])),
            view_type=view_type,
            max_results=check_max_results(max_results, default=SEARCH_RUNS_DEFAULT),
            page_token=page_token,
        )

    def count_runs(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
    ) -> int:
        return self._store.count_runs(
            experiment_ids=[_experiment_id(e) for e in experiment_ids],
            filter_clauses=parse_run_filter(filter_string),
            view_type=view_type,
        )

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[Metric]:
        v.validate_metric_key(key)
        if max_results is not None:
            max_results = check_max_results(max_results, default=25_000, limit=10**9)
        return self._store.get_metric_history(
            _run_id(run_id), key, max_results=max_results, page_token=page_token
        )

    def get_metric_history_bulk(
        self, run_ids: Sequence[str], key: str, *, max_points_per_run: int | None = None
    ) -> list[Metric]:
        if not run_ids:
            raise InvalidArgument("run_ids must name at least one run")
        if len(run_ids) > MAX_HISTORY_RUNS:
            raise InvalidArgument(
                f"At most {MAX_HISTORY_RUNS} run_ids per request, got {len(run_ids)}"
            )
        v.validate_metric_key(key)
        limit = check_max_results(
            max_points_per_run, default=MAX_HISTORY_POINTS_PER_RUN, limit=MAX_HISTORY_POINTS_PER_RUN
        )
        return self._store.get_metric_history_bulk(
            [_run_id(r) for r in run_ids], key, max_points_per_run=limit
        )

    def metric_keys(self, experiment_ids: Sequence[str]) -> list[str]:
        return self._store.metric_keys([_experiment_id(e) for e in experiment_ids])

    def param_keys(self, experiment_ids: Sequence[str]) -> list[str]:
        return self._store.param_keys([_experiment_id(e) for e in experiment_ids])

    # -- logged models -----------------------------------------------------

    def create_logged_model(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        model_type: str | None = None,
        source_run_id: str | None = None,
        params: Sequence[Param] = (),
        tags: dict[str, str] | Sequence[Tag] | None = None,
        creator_id: str | None = None,
        now: int | None = None,
    ) -> LoggedModel:
        tag_list = _tags(tags)
        for t in tag_list:
            v.validate_tag_key(t.key)
            v.validate_tag_value(t.value)
        clean_params = self._clean_params(params)
        model_name = name or generate_run_name()
        v.validate_run_name(model_name)
        return self._store.create_logged_model(
            experiment_id=_experiment_id(experiment_id),
            name=model_name,
            model_type=model_type or None,
            source_run_id=_run_id(source_run_id) if source_run_id else None,
            params=clean_params,
            tags=tag_list,
            creator_id=creator_id,
            now=_now(now),
        )

    def get_logged_model(self, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
        return self._store.get_logged_model(_logged_model_id(model_id), allow_deleted=allow_deleted)

    def finalize_logged_model(
        self,
        model_id: str,
        status: LoggedModelStatus | str,
        *,
        status_message: str | None = None,
        now: int | None = None,
    ) -> LoggedModel:
        try:
            st = LoggedModelStatus(status)
        except ValueError as exc:
            names = ", ".join(s.value for s in LoggedModelStatus)
            raise InvalidArgument(
                f"Invalid logged model status {status!r}; expected one of {names}"
            ) from exc
        return self._store.update_logged_model(
            _logged_model_id(model_id), status=st, status_message=status_message, now=_now(now)
        )

    def log_logged_model_params(self, model_id: str, params: Sequence[Param]) -> None:
        self._store.log_logged_model_params(_logged_model_id(model_id), self._clean_params(params))

    def set_logged_model_tags(
        self, model_id: str, tags: dict[str, str] | Sequence[Tag], *, now: int | None = None
    ) -> None:
        tag_list = _tags(tags)
        for t in tag_list:
            v.validate_tag_key(t.key)
            v.validate_tag_value(t.value)
        self._store.set_logged_model_tags(_logged_model_id(model_id), tag_list, now=_now(now))

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        v.validate_tag_key(key)
        self._store.delete_logged_model_tag(_logged_model_id(model_id), key)

    def delete_logged_model(self, model_id: str, *, now: int | None = None) -> None:
        self._store.delete_logged_model(_logged_model_id(model_id), now=_now(now))

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        *,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[LoggedModel]:
        return self._store.search_logged_models(
            experiment_ids=[_experiment_id(e) for e in experiment_ids],
            filter_clauses=parse_logged_model_filter(filter_string),
            order_by=parse_logged_model_order_by(list(order_by or [])),
            max_results=check_max_results(max_results, default=SEARCH_LOGGED_MODELS_DEFAULT),
            page_token=page_token,
        )

    # -- helpers -------------------------------------------------------------

    def _clean_params(self, params: Sequence[Param]) -> list[Param]:
        out: dict[str, Param] = {}
        for p in params:
            v.validate_param_key(p.key)
            value = _stringify(p.value, f"param {p.key!r}")
            v.validate_param_value(value)
            out[p.key] = Param(key=p.key, value=value)
        return list(out.values())

    def _require_active_run(self, run_id: RunId) -> Run:
        run = self._store.get_run(run_id)
        if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidArgument(f"Run {run_id} is deleted; restore it before changing it")
        return run


def _now(now: int | None) -> int:
    """The time of a change: now, unless the caller brings its own (a remote SDK's
    service does, so a server store records the same times as a local one)."""
    return now_ms() if now is None else v.validate_timestamp(now, "now")


def _tags(tags: dict[str, str] | Sequence[Tag] | None) -> list[Tag]:
    if tags is None:
        return []
    if isinstance(tags, dict):
        return [Tag(key=str(k), value=_stringify(val, f"tag {k!r}")) for k, val in tags.items()]
    return list(tags)


def _stringify(value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise InvalidArgument(f"{what} has no value")
    if isinstance(value, bool | int | float):
        return str(value)
    raise InvalidArgument(f"{what} must be a string, got {type(value).__name__}")


def _clean_metric(m: Metric) -> Metric:
    v.validate_metric_key(m.key)
    value = v.validate_metric_value(m.value, m.key)
    timestamp = v.validate_timestamp(m.timestamp, "timestamp")
    step = v.validate_int64(m.step, "step")
    if value is m.value and timestamp is m.timestamp and step is m.step:
        return m
    return Metric(
        key=m.key,
        value=value,
        timestamp=timestamp,
        step=step,
        dataset_name=m.dataset_name,
        dataset_digest=m.dataset_digest,
        model_id=m.model_id,
    )


def _experiment_id(value: object) -> ExperimentId:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.isdigit() or len(value) > 19:
        raise NotFound(f"No experiment with id {value!r}")
    return ExperimentId(value)


def _run_id(value: object) -> RunId:
    if not isinstance(value, str) or not value:
        raise InvalidArgument("run_id must be a non-empty string")
    if len(value) > 64 or not value.isalnum():
        raise NotFound(f"No run with id {value!r}")
    return RunId(value)


def _logged_model_id(value: object) -> LoggedModelId:
    if not isinstance(value, str) or not value:
        raise InvalidArgument("model_id must be a non-empty string")
    if len(value) > 64 or not value.replace("-", "").isalnum():
        raise NotFound(f"No logged model with id {value!r}")
    return LoggedModelId(value)
