"""Wire schemas of experiments, runs, metrics and logged models.

Records convert both ways with the domain (``from_domain`` / ``to_domain``)
so that a record that crosses the wire comes back equal to what was sent.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from moorline.schemas.common import FloatValue, Int64, RequestModel, ResponseModel, Timestamp
from moorline.tracking import models as m

_PAGE_TOKEN = Field(
    default=None, description="Opaque token from a previous page; absent for the first page."
)
_NEXT_PAGE_TOKEN = Field(default=None, description="Token of the next page; null on the last page.")
_FILTER = Field(
    default=None,
    description=(
        "A search filter in MLflow's grammar, e.g. \"metrics.auc > 0.9 and params.lr = '0.1'\"."
    ),
)
_ORDER_BY: list[str] = Field(
    default_factory=list, description='Sort keys such as "metrics.auc DESC"; earlier keys win.'
)
# Set by a remote SDK so that the server records the times a local store would.
CHANGE_TIME = "When the change happened (ms since the epoch); the server's clock when absent."

_MAX_RESULTS = Field(
    default=None, ge=1, description="Page size; the server applies its default when absent."
)

ExperimentIds = Annotated[list[str], Field(description="Ids of the experiments to search.")]


# -- small records -------------------------------------------------------------


class Tag(RequestModel):
    key: str
    value: str

    @classmethod
    def from_domain(cls, tag: m.Tag) -> Tag:
        return cls(key=tag.key, value=tag.value)

    def to_domain(self) -> m.Tag:
        return m.Tag(key=self.key, value=self.value)


class Param(RequestModel):
    key: str
    value: str

    @classmethod
    def from_domain(cls, param: m.Param) -> Param:
        return cls(key=param.key, value=param.value)

    def to_domain(self) -> m.Param:
        return m.Param(key=self.key, value=self.value)


class Metric(RequestModel):
    """One metric point. ``run_id`` is set in multi-run answers and ignored on input."""

    key: str
    value: FloatValue
    timestamp: Timestamp
    step: Int64 = 0
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None
    run_id: str | None = None

    @classmethod
    def from_domain(cls, metric: m.Metric) -> Metric:
        return cls(
            key=metric.key,
            value=metric.value,
            timestamp=metric.timestamp,
            step=metric.step,
            dataset_name=metric.dataset_name,
            dataset_digest=metric.dataset_digest,
            model_id=metric.model_id,
            run_id=metric.run_id,
        )

    def to_domain(self) -> m.Metric:
        return m.Metric(
            key=self.key,
            value=self.value,
            timestamp=self.timestamp,
            step=self.step,
            dataset_name=self.dataset_name,
            dataset_digest=self.dataset_digest,
            model_id=m.LoggedModelId(self.model_id) if self.model_id is not None else None,
            run_id=m.RunId(self.run_id) if self.run_id is not None else None,
        )


class Dataset(RequestModel):
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema_: Annotated[str | None, Field(alias="schema")] = None
    profile: str | None = None

    # ``schema`` would shadow a BaseModel attribute: the field is ``schema_``, "schema" on the wire.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    @classmethod
    def from_domain(cls, dataset: m.Dataset) -> Dataset:
        return cls(
            name=dataset.name,
            digest=dataset.digest,
            source_type=dataset.source_type,
            source=dataset.source,
            schema_=dataset.schema,
            profile=dataset.profile,
        )

    def to_domain(self) -> m.Dataset:
        return m.Dataset(
            name=self.name,
            digest=self.digest,
            source_type=self.source_type,
            source=self.source,
            schema=self.schema_,
            profile=self.profile,
        )


class DatasetInput(RequestModel):
    dataset: Dataset
    tags: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_domain(cls, item: m.DatasetInput) -> DatasetInput:
        return cls(dataset=Dataset.from_domain(item.dataset), tags=dict(item.tags))

    def to_domain(self) -> m.DatasetInput:
        return m.DatasetInput(dataset=self.dataset.to_domain(), tags=dict(self.tags))


class ModelOutput(RequestModel):
    model_id: str
    step: Int64 = 0

    @classmethod
    def from_domain(cls, item: m.ModelOutput) -> ModelOutput:
        return cls(model_id=item.model_id, step=item.step)

    def to_domain(self) -> m.ModelOutput:
        return m.ModelOutput(model_id=m.LoggedModelId(self.model_id), step=self.step)


# -- experiments -----------------------------------------------------------------


class Experiment(ResponseModel):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: m.LifecycleStage
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_domain(cls, exp: m.Experiment) -> Experiment:
        return cls(
            experiment_id=exp.experiment_id,
            name=exp.name,
            artifact_location=exp.artifact_location,
            lifecycle_stage=exp.lifecycle_stage,
            creation_time=exp.creation_time,
            last_update_time=exp.last_update_time,
            tags=dict(exp.tags),
        )

    def to_domain(self) -> m.Experiment:
        return m.Experiment(
            experiment_id=m.ExperimentId(self.experiment_id),
            name=self.name,
            artifact_location=self.artifact_location,
            lifecycle_stage=self.lifecycle_stage,
            creation_time=self.creation_time,
            last_update_time=self.last_update_time,
            tags=dict(self.tags),
        )


class CreateExperiment(RequestModel):
    name: str
    artifact_location: Annotated[
        str | None,
        Field(description="Where the experiment's artifacts go; the server picks one when absent."),
    ] = None
    tags: list[Tag] = Field(default_factory=list)
    creation_time: Annotated[Timestamp | None, Field(description=CHANGE_TIME)] = None


class ExperimentCreated(ResponseModel):
    experiment_id: str


class UpdateExperiment(RequestModel):
    """Rename an experiment."""

    name: str
    last_update_time: Annotated[Timestamp | None, Field(description=CHANGE_TIME)] = None


class SetTag(RequestModel):
    value: str


class ExperimentPage(ResponseModel):
    items: list[Experiment]
    next_page_token: str | None = _NEXT_PAGE_TOKEN


# -- runs --------------------------------------------------------------------------


class RunInfo(ResponseModel):
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: m.RunStatus
    start_time: int
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: m.LifecycleStage

    @classmethod
    def from_domain(cls, info: m.RunInfo) -> RunInfo:
        return cls(
            run_id=info.run_id,
            experiment_id=info.experiment_id,
            run_name=info.run_name,
            user_id=info.user_id,
            status=info.status,
            start_time=info.start_time,
            end_time=info.end_time,
            artifact_uri=info.artifact_uri,
            lifecycle_stage=info.lifecycle_stage,
        )

    def to_domain(self) -> m.RunInfo:
        return m.RunInfo(
            run_id=m.RunId(self.run_id),
            experiment_id=m.ExperimentId(self.experiment_id),
            run_name=self.run_name,
            user_id=self.user_id,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            artifact_uri=self.artifact_uri,
            lifecycle_stage=self.lifecycle_stage,
        )


class Run(ResponseModel):
    """A run with the latest value of each metric, its params, tags, inputs and outputs."""

    info: RunInfo
    metrics: list[Metric] = Field(default_factory=list)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    dataset_inputs: list[DatasetInput] = Field(default_factory=list)
    model_inputs: list[str] = Field(default_factory=list)
    model_outputs: list[ModelOutput] = Field(default_factory=list)

    @classmethod
    def from_domain(cls, run: m.Run) -> Run:
        return cls(
            info=RunInfo.from_domain(run.info),
            metrics=[Metric.from_domain(x) for x in run.metrics],
            params=dict(run.params),
            tags=dict(run.tags),
            dataset_inputs=[DatasetInput.from_domain(x) for x in run.dataset_inputs],
            model_inputs=list(run.model_inputs),
            model_outputs=[ModelOutput.from_domain(x) for x in run.model_outputs],
        )

    def to_domain(self) -> m.Run:
        return m.Run(
            info=self.info.to_domain(),
            metrics=tuple(x.to_domain() for x in self.metrics),
            params=dict(self.params),
            tags=dict(self.tags),
            dataset_inputs=tuple(x.to_domain() for x in self.dataset_inputs),
            model_inputs=tuple(m.LoggedModelId(x) for x in self.model_inputs),
            model_outputs=tuple(x.to_domain() for x in self.model_outputs),
        )


class CreateRun(RequestModel):
    experiment_id: str
    user_id: str = ""
    run_name: Annotated[
        str | None, Field(description="A readable name; the server generates one when absent.")
    ] = None
    start_time: Annotated[
        Timestamp | None, Field(description="Milliseconds since the epoch; now when absent.")
    ] = None
    tags: list[Tag] = Field(default_factory=list)


class UpdateRun(RequestModel):
    """Change the status, end time or name of a run; absent fields stay as they are."""

    status: m.RunStatus | None = None
    end_time: Timestamp | None = None
    run_name: str | None = None


class LogBatch(RequestModel):
    """Metrics, params and tags, written all together or not at all."""

    metrics: list[Metric] = Field(default_factory=list)
    params: list[Param] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)


class LogInputs(RequestModel):
    datasets: list[DatasetInput] = Field(default_factory=list)
    model_ids: list[str] = Field(default_factory=list)


class LogOutputs(RequestModel):
    models: list[ModelOutput] = Field(default_factory=list)


class SearchRuns(RequestModel):
    experiment_ids: ExperimentIds
    filter: str | None = _FILTER
    order_by: list[str] = _ORDER_BY
    view_type: m.ViewType = m.ViewType.ACTIVE_ONLY
    max_results: int | None = _MAX_RESULTS
    page_token: str | None = _PAGE_TOKEN


class CountRuns(RequestModel):
    experiment_ids: ExperimentIds
    filter: str | None = _FILTER
    view_type: m.ViewType = m.ViewType.ACTIVE_ONLY


class RunCount(ResponseModel):
    count: int


class RunPage(ResponseModel):
    items: list[Run]
    next_page_token: str | None = _NEXT_PAGE_TOKEN


class MetricPage(ResponseModel):
    items: list[Metric]
    next_page_token: str | None = _NEXT_PAGE_TOKEN


class MetricHistoryBulk(RequestModel):
    """Points of one metric for several runs, downsampled evenly per run."""

    run_ids: list[str]
    key: str
    max_points_per_run: int | None = Field(default=None, ge=1)


class MetricList(ResponseModel):
    items: list[Metric]


class KeyList(ResponseModel):
    keys: list[str]


# -- logged models -----------------------------------------------------------------


class LoggedModel(ResponseModel):
    model_id: str
    experiment_id: str
    name: str
    artifact_uri: str
    status: m.LoggedModelStatus
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    lifecycle_stage: m.LifecycleStage = m.LifecycleStage.ACTIVE
    model_type: str | None = None
    source_run_id: str | None = None
    creator_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    metrics: list[Metric] = Field(default_factory=list)

    @classmethod
    def from_domain(cls, model: m.LoggedModel) -> LoggedModel:
        return cls(
            model_id=model.model_id,
            experiment_id=model.experiment_id,
            name=model.name,
            artifact_uri=model.artifact_uri,
            status=model.status,
            creation_timestamp_ms=model.creation_timestamp_ms,
            last_updated_timestamp_ms=model.last_updated_timestamp_ms,
            lifecycle_stage=model.lifecycle_stage,
            model_type=model.model_type,
            source_run_id=model.source_run_id,
            creator_id=model.creator_id,
            status_message=model.status_message,
            tags=dict(model.tags),
            params=dict(model.params),
            metrics=[Metric.from_domain(x) for x in model.metrics],
        )

    def to_domain(self) -> m.LoggedModel:
        return m.LoggedModel(
            model_id=m.LoggedModelId(self.model_id),
            experiment_id=m.ExperimentId(self.experiment_id),
            name=self.name,
            artifact_uri=self.artifact_uri,
            status=self.status,
            creation_timestamp_ms=self.creation_timestamp_ms,
            last_updated_timestamp_ms=self.last_updated_timestamp_ms,
            lifecycle_stage=self.lifecycle_stage,
            model_type=self.model_type,
            source_run_id=m.RunId(self.source_run_id) if self.source_run_id is not None else None,
            creator_id=self.creator_id,
            status_message=self.status_message,
            tags=dict(self.tags),
            params=dict(self.params),
            metrics=tuple(x.to_domain() for x in self.metrics),
        )


class CreateLoggedModel(RequestModel):
    experiment_id: str
    name: Annotated[
        str | None, Field(description="A readable name; the server generates one when absent.")
    ] = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[Param] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    creator_id: str | None = None
    creation_timestamp_ms: Annotated[Timestamp | None, Field(description=CHANGE_TIME)] = None


class UpdateLoggedModel(RequestModel):
    """Finalise a logged model: READY once its artifacts are uploaded, or UPLOAD_FAILED."""

    status: m.LoggedModelStatus
    status_message: str | None = None
    last_updated_timestamp_ms: Annotated[Timestamp | None, Field(description=CHANGE_TIME)] = None


class LogLoggedModelParams(RequestModel):
    params: list[Param]


class SetLoggedModelTags(RequestModel):
    tags: list[Tag]
    last_updated_timestamp_ms: Annotated[Timestamp | None, Field(description=CHANGE_TIME)] = None


class SearchLoggedModels(RequestModel):
    experiment_ids: ExperimentIds
    filter: str | None = _FILTER
    order_by: list[str] = _ORDER_BY
    max_results: int | None = _MAX_RESULTS
    page_token: str | None = _PAGE_TOKEN


class LoggedModelPage(ResponseModel):
    items: list[LoggedModel]
    next_page_token: str | None = _NEXT_PAGE_TOKEN
