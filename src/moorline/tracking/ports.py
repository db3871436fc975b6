"""What the tracking domain needs from storage: one narrow port per aggregate.

``moorline.store.sql`` implements them over SQLAlchemy (SQLite, PostgreSQL)
and ``moorline.store.rest`` over HTTP against a moorline server. One contract
suite (``tests/contracts``) runs every port against every backend.

Arguments reaching a store are already validated by the service (lengths,
types, grammar). Stores enforce what needs a transaction: uniqueness, the
immutability of parameters, and the atomicity of a batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from moorline.core.paging import Page
from moorline.tracking.models import (
    DatasetInput,
    DatasetSummary,
    DatasetVersion,
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
from moorline.tracking.search import Clause, OrderKey


class ExperimentStore(ABC):
    @abstractmethod
    def create_experiment(
        self, *, name: str, artifact_location: str | None, tags: Sequence[Tag], now: int
    ) -> ExperimentId:
        """Create and return the id. Duplicate name (even deleted) -> AlreadyExists.

        When ``artifact_location`` is None the store sets it to
        ``mlflow-artifacts:/<experiment_id>``.
        """

    @abstractmethod
    def get_experiment(self, experiment_id: ExperimentId) -> Experiment:
        """NotFound if missing."""

    @abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """None if no experiment has that name."""

    @abstractmethod
    def search_experiments(
        self,
        *,
        view_type: ViewType,
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[Experiment]:
        """Default order: creation_time DESC, experiment_id ASC."""

    @abstractmethod
    def rename_experiment(self, experiment_id: ExperimentId, new_name: str, *, now: int) -> None:
        """NotFound if missing; AlreadyExists if the name is taken."""

    @abstractmethod
    def set_experiment_lifecycle(
        self, experiment_id: ExperimentId, stage: LifecycleStage, *, now: int
    ) -> None:
        """Soft delete / restore. Deleting an experiment also soft-deletes its runs."""

    @abstractmethod
    def set_experiment_tag(self, experiment_id: ExperimentId, tag: Tag) -> None: ...

    @abstractmethod
    def delete_experiment_tag(self, experiment_id: ExperimentId, key: str) -> None:
        """NotFound if the tag is missing."""


class RunStore(ABC):
    @abstractmethod
    def create_run(
        self,
        *,
        experiment_id: ExperimentId,
        user_id: str,
        run_name: str,
        start_time: int,
        tags: Sequence[Tag],
    ) -> Run:
        """Create a RUNNING run. The store generates the id and the artifact URI
        ``<experiment artifact_location>/<run_id>/artifacts``.
        NotFound if the experiment is missing; InvalidArgument if it is deleted."""

    @abstractmethod
    def get_run(self, run_id: RunId) -> Run:
        """NotFound if missing. Deleted runs are returned with lifecycle 'deleted'."""

    def get_run_info(self, run_id: RunId) -> RunInfo:
        """Only the run's info (no params, metrics, tags): NotFound if missing.

        Backends override it with one cheap query; this default derives it."""
        return self.get_run(run_id).info

    @abstractmethod
    def update_run_info(
        self,
        run_id: RunId,
        *,
        status: RunStatus | None,
        end_time: int | None,
        run_name: str | None,
    ) -> RunInfo:
        """Update given fields; a new run_name also rewrites tag mlflow.runName."""

    @abstractmethod
    def set_run_lifecycle(self, run_id: RunId, stage: LifecycleStage) -> None: ...

    @abstractmethod
    def log_batch(
        self,
        run_id: RunId,
        *,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[Tag],
    ) -> None:
        """Atomic: everything or nothing. A param already logged with another value
        -> InvalidArgument naming the key (and nothing is written). Logging to a
        deleted run -> InvalidArgument. Metrics update the run's latest values
        (max by step, timestamp, value)."""

    @abstractmethod
    def delete_tag(self, run_id: RunId, key: str) -> None:
        """NotFound if the tag is missing."""

    @abstractmethod
    def log_inputs(
        self,
        run_id: RunId,
        *,
        datasets: Sequence[DatasetInput],
        model_ids: Sequence[LoggedModelId],
    ) -> None:
        """Datasets are deduplicated by (name, digest); an input links once per run."""

    @abstractmethod
    def log_outputs(self, run_id: RunId, *, models: Sequence[ModelOutput]) -> None: ...

    @abstractmethod
    def search_runs(
        self,
        *,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        view_type: ViewType,
        max_results: int,
        page_token: str | None,
    ) -> Page[Run]:
        """Full runs. Default order: start_time DESC, run_id ASC. Runs lacking an
        order key come last in both directions (present < NaN < missing)."""

    @abstractmethod
    def count_runs(
        self,
        *,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        view_type: ViewType,
    ) -> int:
        """Number of runs that search_runs would page through."""

    @abstractmethod
    def get_metric_history(
        self, run_id: RunId, key: str, *, max_results: int | None, page_token: str | None
    ) -> Page[Metric]:
        """Every logged point of ``key``, ordered by (step, timestamp); None = all."""

    @abstractmethod
    def get_metric_history_bulk(
        self, run_ids: Sequence[RunId], key: str, *, max_points_per_run: int
    ) -> list[Metric]:
        """Points of ``key`` for several runs (each point has run_id set), evenly
        downsampled to at most ``max_points_per_run`` per run, keeping first and last."""

    @abstractmethod
    def metric_keys(self, experiment_ids: Sequence[ExperimentId]) -> list[str]:
        """Distinct metric keys in the given experiments (for UI column pickers)."""

    @abstractmethod
    def param_keys(self, experiment_ids: Sequence[ExperimentId]) -> list[str]:
        """Distinct param keys in the given experiments."""


class LoggedModelStore(ABC):
    @abstractmethod
    def create_logged_model(
        self,
        *,
        experiment_id: ExperimentId,
        name: str,
        model_type: str | None,
        source_run_id: RunId | None,
        params: Sequence[Param],
        tags: Sequence[Tag],
        creator_id: str | None,
        now: int,
    ) -> LoggedModel:
        """Id ``m-<32hex>``; artifact URI ``<experiment artifact_location>/models/<id>/artifacts``;
        status PENDING."""

    @abstractmethod
    def get_logged_model(
        self, model_id: LoggedModelId, *, allow_deleted: bool = False
    ) -> LoggedModel:
        """NotFound if missing (or deleted and not allowed)."""

    @abstractmethod
    def update_logged_model(
        self,
        model_id: LoggedModelId,
        *,
        status: LoggedModelStatus,
        status_message: str | None,
        now: int,
    ) -> LoggedModel: ...

    @abstractmethod
    def log_logged_model_params(self, model_id: LoggedModelId, params: Sequence[Param]) -> None: ...

    @abstractmethod
    def set_logged_model_tags(
        self, model_id: LoggedModelId, tags: Sequence[Tag], *, now: int
    ) -> None: ...

    @abstractmethod
    def delete_logged_model_tag(self, model_id: LoggedModelId, key: str) -> None: ...

    @abstractmethod
    def delete_logged_model(self, model_id: LoggedModelId, *, now: int) -> None:
        """Soft delete."""

    @abstractmethod
    def search_logged_models(
        self,
        *,
        experiment_ids: Sequence[ExperimentId],
        filter_clauses: Sequence[Clause],
        order_by: Sequence[OrderKey],
        max_results: int,
        page_token: str | None,
    ) -> Page[LoggedModel]:
        """Active models only. Default order: creation_timestamp DESC, model_id ASC.
        ``metrics`` on each model: the latest values of run metrics logged with its model_id."""


class DatasetStore(ABC):
    """Dataset versions, as recorded by run inputs (``RunStore.log_inputs`` writes them).

    "Newest" is the order in which versions were first recorded.
    """

    @abstractmethod
    def list_datasets(self, *, max_results: int, page_token: str | None) -> Page[DatasetSummary]:
        """Every dataset name, ordered by name."""

    @abstractmethod
    def list_dataset_versions(
        self, name: str, *, max_results: int, page_token: str | None
    ) -> Page[DatasetVersion]:
        """Versions of ``name``, newest first; an empty page when there are none."""

    @abstractmethod
    def get_dataset_version(self, name: str, digest: str) -> DatasetVersion:
        """NotFound naming the dataset and digest if missing."""


class TrackingStore(ExperimentStore, RunStore, LoggedModelStore, ABC):
    """The three tracking ports, as one backend implements them."""
