"""The tracking records. Frozen dataclasses; no storage or wire types inside."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

ExperimentId = NewType("ExperimentId", str)
RunId = NewType("RunId", str)
LoggedModelId = NewType("LoggedModelId", str)

DEFAULT_EXPERIMENT_ID = ExperimentId("0")
DEFAULT_EXPERIMENT_NAME = "Default"


class LifecycleStage(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class ViewType(StrEnum):
    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"


class LoggedModelStatus(StrEnum):
    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Experiment:
    experiment_id: ExperimentId
    name: str
    artifact_location: str
    lifecycle_stage: LifecycleStage
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """One point of a metric. ``value`` may be NaN or +/-inf; they are kept."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: LoggedModelId | None = None
    run_id: RunId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tag:
    key: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Dataset:
    """A dataset as a run input: identity is (name, digest)."""

    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetInput:
    dataset: Dataset
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetVersion:
    """One (name, digest) as the store knows it: the dataset, and the runs that read it.

    ``first_used_at``: start time (ms) of the earliest run with it as an input.
    """

    dataset: Dataset
    run_count: int = 0
    first_used_at: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetSummary:
    """A dataset name, how many versions it has, and its newest version's digest."""

    name: str
    versions: int
    latest_digest: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelOutput:
    model_id: LoggedModelId
    step: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    run_id: RunId
    experiment_id: ExperimentId
    run_name: str
    user_id: str
    status: RunStatus
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: LifecycleStage


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """A run with its latest metric values, all params and tags, inputs and outputs."""

    info: RunInfo
    metrics: tuple[Metric, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    dataset_inputs: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[LoggedModelId, ...] = ()
    model_outputs: tuple[ModelOutput, ...] = ()

    @property
    def run_id(self) -> RunId:
        return self.info.run_id

    def metric(self, key: str) -> float | None:
        """Latest value of metric ``key``, or None."""
        for m in self.metrics:
            if m.key == key:
                return m.value
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedModel:
    model_id: LoggedModelId
    experiment_id: ExperimentId
    name: str
    artifact_uri: str
    status: LoggedModelStatus
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    lifecycle_stage: LifecycleStage = LifecycleStage.ACTIVE
    model_type: str | None = None
    source_run_id: RunId | None = None
    creator_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()


# Reserved tags written by clients and by moorline itself.
TAG_RUN_NAME = "mlflow.runName"
TAG_USER = "mlflow.user"
TAG_SOURCE_NAME = "mlflow.source.name"
TAG_SOURCE_TYPE = "mlflow.source.type"
TAG_GIT_COMMIT = "mlflow.source.git.commit"
TAG_GIT_DIRTY = "moorline.source.git.dirty"
TAG_PYTHON_ENV = "moorline.python.env"
TAG_DATASET_CONTEXT = "mlflow.data.context"
