"""Pipeline records: the pipeline, its triggers, its runs and the remediation record.

Frozen dataclasses with a stable JSON form (``to_dict``/``from_dict``): the
store keeps a pipeline's configuration as one document, the CLI and the API
render the same dictionaries. Validation happens at construction, so a bad
pipeline fails when it is registered, not at 3 a.m. when an alert fires.

>>> p = Pipeline(name="churn", entry_point="train:fit", model="churn",
...              data=DatasetSource(name="churn-live"),
...              evaluation=Evaluation(metric="f1", label="churned", task="classification",
...                                    holdout=DatasetSource(name="churn-holdout")))
>>> p.evaluation.direction, p.concurrency, p.rollout.canary_weight
('higher', 1, 10.0)
>>> Pipeline.from_dict(p.to_dict()) == p
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from moorline.errors import InvalidArgument
from moorline.monitoring.monitors import DatasetSource, SqlSource, validate_monitor_name
from moorline.monitoring.performance import (
    CLASSIFICATION_METRICS,
    DIRECTIONS,
    REGRESSION_METRICS,
)
from moorline.monitoring.quality import Severity

MAX_PIPELINE_NAME: Final = 200
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
TASKS: Final = ("regression", "classification")
EXECUTORS: Final = ("local", "ray")
#: The alias a champion holds, and the one an accepted challenger gets.
CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
MAX_TIMEOUT_S: Final = 7 * 24 * 3600.0
MAX_CONCURRENCY: Final = 64


def validate_pipeline_name(name: object) -> str:
    """A pipeline name: letters, digits, ``_ . -``, starting with a letter or digit.

    >>> validate_pipeline_name("churn-weekly")
    'churn-weekly'
    """
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_PIPELINE_NAME:
        raise InvalidArgument(
            f"Invalid pipeline name {name!r}: use up to {MAX_PIPELINE_NAME} letters, digits, "
            "'_', '.' or '-', starting with a letter or digit"
        )
    return name


def validate_entry_point(entry_point: object, what: str = "entry point") -> str:
    """``module:function`` (dotted module, dotted attribute).

    >>> validate_entry_point("jobs.train:fit")
    'jobs.train:fit'
    >>> validate_entry_point("train.py")
    Traceback (most recent call last):
    ...
    moorline.errors.InvalidArgument: Invalid entry point 'train.py': expected 'module:function' ...
    """
    if not isinstance(entry_point, str) or not _ENTRY_POINT.match(entry_point.strip()):
        raise InvalidArgument(
            f"Invalid {what} {entry_point!r}: expected 'module:function' (e.g. 'train:fit'), "
            "a module importable from the pipeline's working directory"
        )
    return entry_point.strip()


def _finite(value: object, what: str, *, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument(f"{what} must be a finite number, got {value!r}")
    number = float(value)
    if not low <= number <= high:
        raise InvalidArgument(f"{what} must be between {low:g} and {high:g}, got {value!r}")
    return number


# -- where data comes from -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GlobSource:
    """Every CSV or Parquet file matching ``pattern`` (relative to the working
    directory), read in name order and concatenated."""

    pattern: str

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern.strip():
            raise InvalidArgument("A file source needs a path or glob pattern")

    def describe(self) -> str:
        return f"glob:{self.pattern}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "glob", "pattern": self.pattern}


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionSource:
    """The table the user's function ``module:function`` returns (a pandas
    DataFrame or a PyArrow table); it receives a :class:`DataContext`."""

    entry_point: str

    def __post_init__(self) -> None:
        validate_entry_point(self.entry_point, "data function")

    def describe(self) -> str:
        return f"function:{self.entry_point}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "function", "entry_point": self.entry_point}


DataSource = DatasetSource | GlobSource | SqlSource | FunctionSource


def data_source_from_dict(data: Mapping[str, Any]) -> DataSource:
    """A data source from its JSON form (``kind``: dataset, glob, file, sql, function)."""
    if not isinstance(data, Mapping):
        raise InvalidArgument(f"A data source is a JSON object, got {data!r}")
    kind = data.get("kind")
    try:
        if kind == "dataset":
            return DatasetSource(name=str(data["name"]), digest=data.get("digest"))
        if kind == "glob":
            return GlobSource(pattern=str(data["pattern"]))
        if kind == "file":
            return GlobSource(pattern=str(data["path"]))
        if kind == "sql":
            return SqlSource(query=str(data["query"]), uri=str(data["uri"]))
        if kind == "function":
            return FunctionSource(entry_point=str(data["entry_point"]))
    except KeyError as exc:
        raise InvalidArgument(f"Data source of kind {kind!r} needs {exc.args[0]!r}") from None
    raise InvalidArgument(f"Unknown data source kind {kind!r}: use dataset, glob, sql or function")


def source_to_dict(source: DataSource, *, redact: bool = False) -> dict[str, Any]:
    """The JSON form; ``redact`` hides a SQL connection's password."""
    out = source.to_dict()
    if redact and isinstance(source, SqlSource):
        out["uri"] = re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", source.uri)
    return out


# -- evaluation and the rollout policy -------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """How a challenger is scored: ``metric`` on the ``holdout`` data's ``label``.

    ``direction`` defaults to the metric's (``mae`` lower, ``f1`` higher);
    ``features`` are the model's input columns (default: every holdout column
    but the label).
    """

    metric: str
    label: str
    holdout: DataSource
    task: str = "regression"
    direction: str | None = None
    features: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InvalidArgument(f"Unknown task {self.task!r}: use one of {TASKS}")
        known = REGRESSION_METRICS if self.task == "regression" else CLASSIFICATION_METRICS
        if self.metric not in known:
            raise InvalidArgument(
                f"Unknown {self.task} metric {self.metric!r}: use one of {', '.join(known)}"
            )
        if not isinstance(self.label, str) or not self.label:
            raise InvalidArgument("The evaluation needs the label column's name")
        direction = self.direction if self.direction is not None else DIRECTIONS[self.metric]
        if direction not in ("higher", "lower"):
            raise InvalidArgument(f"direction must be 'higher' or 'lower', got {direction!r}")
        object.__setattr__(self, "direction", direction)
        if self.features is not None:
            features = tuple(str(f) for f in self.features)
            if not features or self.label in features:
                raise InvalidArgument("features must list at least one column, not the label")
            object.__setattr__(self, "features", features)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric computed for the task."""
        return REGRESSION_METRICS if self.task == "regression" else CLASSIFICATION_METRICS

    def to_dict(self, *, redact: bool = False) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "direction": self.direction,
            "label": self.label,
            "task": self.task,
            "features": None if self.features is None else list(self.features),
            "holdout": source_to_dict(self.holdout, redact=redact),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        features = data.get("features")
        try:
            return cls(
                metric=str(data["metric"]),
                label=str(data["label"]),
                holdout=data_source_from_dict(data["holdout"]),
                task=str(data.get("task", "regression")),
                direction=data.get("direction"),
                features=None if features is None else tuple(features),
            )
        except KeyError as exc:
            raise InvalidArgument(f"The evaluation needs {exc.args[0]!r}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class GateRules:
    """What a challenger must show to be accepted (see :mod:`moorline.pipelines.gate`).

    ``margin``: how much better than the champion it must be on the
    evaluation metric (absolute, in the metric's unit; with 0 it must still be
    strictly better). ``tolerances``: per other metric, how much worse than
    the champion it may be; ``tolerance``: the same for every other metric not
    listed (None: those are reported, not gated). ``max_quality_severity``: the
    worst data-quality issue of the training data (against the champion's
    training data contract) that is still accepted. ``latency_budget_ms``: the
    p95 latency of a one-row prediction, measured on ``latency_sample`` rows.
    """

    margin: float = 0.0
    tolerances: Mapping[str, float] = field(default_factory=dict)
    tolerance: float | None = None
    max_quality_severity: str = Severity.WARNING.value
    latency_budget_ms: float | None = None
    latency_sample: int = 30

    def __post_init__(self) -> None:
        _finite(self.margin, "margin")
        object.__setattr__(
            self,
            "tolerances",
            {str(k): _finite(v, f"tolerance of {k}") for k, v in dict(self.tolerances).items()},
        )
        if self.tolerance is not None:
            _finite(self.tolerance, "tolerance")
        try:
            Severity(self.max_quality_severity)
        except ValueError:
            raise InvalidArgument(
                f"max_quality_severity must be one of {[s.value for s in Severity]}, "
                f"got {self.max_quality_severity!r}"
            ) from None
        if self.latency_budget_ms is not None:
            _finite(self.latency_budget_ms, "latency_budget_ms", low=1e-6)
        if isinstance(self.latency_sample, bool) or not 1 <= int(self.latency_sample) <= 10_000:
            raise InvalidArgument("latency_sample must be between 1 and 10000 rows")

    def to_dict(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "tolerances": dict(self.tolerances),
            "tolerance": self.tolerance,
            "max_quality_severity": self.max_quality_severity,
            "latency_budget_ms": self.latency_budget_ms,
            "latency_sample": self.latency_sample,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateRules:
        return cls(
            margin=data.get("margin", 0.0),
            tolerances=dict(data.get("tolerances") or {}),
            tolerance=data.get("tolerance"),
            max_quality_severity=str(data.get("max_quality_severity", Severity.WARNING.value)),
            latency_budget_ms=data.get("latency_budget_ms"),
            latency_sample=int(data.get("latency_sample", 30)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutPolicy:
    """How an accepted challenger goes out: the gate it must pass, whether a
    second person approves it first (always so for models the registry marks
    high-risk), and the canary's share of traffic in percent."""

    gate: GateRules = field(default_factory=GateRules)
    requires_approval: bool = False
    canary_weight: float = 10.0

    def __post_init__(self) -> None:
        _finite(self.canary_weight, "canary_weight", low=1e-9, high=100.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate.to_dict(),
            "requires_approval": self.requires_approval,
            "canary_weight": self.canary_weight,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutPolicy:
        return cls(
            gate=GateRules.from_dict(data.get("gate") or {}),
            requires_approval=bool(data.get("requires_approval", False)),
            canary_weight=data.get("canary_weight", 10.0),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertTrigger:
    """Start the pipeline when an alert of ``monitor`` fires (of rule ``rule``
    only, when given)."""

    monitor: str
    rule: str | None = None

    def __post_init__(self) -> None:
        validate_monitor_name(self.monitor)

    def matches(self, monitor: str, rule: str) -> bool:
        return monitor == self.monitor and (self.rule is None or rule == self.rule)

    def describe(self) -> str:
        return self.monitor if self.rule is None else f"{self.monitor}:{self.rule}"

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "rule": self.rule}


# -- the pipeline ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    """A registered training pipeline.

    ``workdir``: the folder the entry point is imported from (the user's
    repository). ``params``: JSON values handed to the training function.
    ``data``: where fresh training data comes from. ``model``: the registered
    model each run adds a version to. ``concurrency``: runs at once;
    ``timeout_seconds``: a run's time limit, after which it is killed.
    ``executor``: ``local`` (a subprocess) or ``ray`` (a task on the cluster
    at ``ray_address``; None starts a local one). Triggers: ``schedule`` (cron,
    UTC), ``on_alerts`` (monitor alerts), ``on_datasets`` (a new version of a
    logged dataset). ``cooldown_seconds``: after a run started by an alert,
    how long the same alert firing again starts nothing. ``max_attempts``: how
    many times a run left behind by a dead runner is tried in all.
    """

    name: str
    entry_point: str
    model: str
    data: DataSource
    evaluation: Evaluation
    workdir: str = "."
    params: Mapping[str, Any] = field(default_factory=dict)
    rollout: RolloutPolicy = field(default_factory=RolloutPolicy)
    concurrency: int = 1
    timeout_seconds: float = 3600.0
    executor: str = "local"
    ray_address: str | None = None
    schedule: str | None = None
    on_alerts: tuple[AlertTrigger, ...] = ()
    on_datasets: tuple[str, ...] = ()
    cooldown_seconds: float = 3600.0
    max_attempts: int = 2
    experiment: str | None = None
    description: str = ""
    created_at: int = 0
    updated_at: int = 0

    def __post_init__(self) -> None:
        validate_pipeline_name(self.name)
        validate_entry_point(self.entry_point)
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidArgument(f"Pipeline {self.name!r} needs a registered model name")
        if not isinstance(self.params, Mapping):
            raise InvalidArgument("params must be a JSON object")
        object.__setattr__(self, "params", dict(self.params))
        if isinstance(self.concurrency, bool) or not 1 <= int(self.concurrency) <= MAX_CONCURRENCY:
            raise InvalidArgument(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
        _finite(self.timeout_seconds, "timeout_seconds", low=1e-3, high=MAX_TIMEOUT_S)
        _finite(self.cooldown_seconds, "cooldown_seconds")
        if self.executor not in EXECUTORS:
            raise InvalidArgument(f"Unknown executor {self.executor!r}: use one of {EXECUTORS}")
        if isinstance(self.max_attempts, bool) or not 1 <= int(self.max_attempts) <= 10:
            raise InvalidArgument("max_attempts must be between 1 and 10")
        object.__setattr__(self, "on_alerts", tuple(self.on_alerts))
        object.__setattr__(self, "on_datasets", tuple(str(d) for d in self.on_datasets))
        for name in self.on_datasets:
            if not name.strip():
                raise InvalidArgument("on_datasets names must be non-empty")
        if self.train_dataset in self.on_datasets and not isinstance(self.data, DatasetSource):
            raise InvalidArgument(
                f"Pipeline {self.name!r} cannot be triggered by {self.train_dataset!r}: "
                "every run logs its training data under that name, so it would trigger itself"
            )

    @property
    def experiment_name(self) -> str:
        """The experiment its tracked runs go to."""
        return self.experiment or f"pipeline/{self.name}"

    @property
    def train_dataset(self) -> str:
        """The dataset name its training data windows are logged under."""
        if isinstance(self.data, DatasetSource):
            return self.data.name
        return f"{self.name}.train"

    @property
    def holdout_dataset(self) -> str:
        holdout = self.evaluation.holdout
        if isinstance(holdout, DatasetSource):
            return holdout.name
        return f"{self.name}.holdout"

    def to_dict(self, *, redact: bool = False) -> dict[str, Any]:
        return {
            "name": self.name,
            "entry_point": self.entry_point,
            "workdir": self.workdir,
            "model": self.model,
            "description": self.description,
            "params": dict(self.params),
            "data": source_to_dict(self.data, redact=redact),
            "evaluation": self.evaluation.to_dict(redact=redact),
            "rollout": self.rollout.to_dict(),
            "concurrency": self.concurrency,
            "timeout_seconds": self.timeout_seconds,
            "executor": self.executor,
            "ray_address": self.ray_address,
            "schedule": self.schedule,
            "on_alerts": [a.to_dict() for a in self.on_alerts],
            "on_datasets": list(self.on_datasets),
            "cooldown_seconds": self.cooldown_seconds,
            "max_attempts": self.max_attempts,
            "experiment": self.experiment,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        """Read the JSON form (unknown keys are refused, so a typo is not ignored)."""
        if not isinstance(data, Mapping):
            raise InvalidArgument("A pipeline is a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument(f"Unknown pipeline field(s): {', '.join(unknown)}")
        try:
            return cls(
                name=data["name"],
                entry_point=data["entry_point"],
                model=data["model"],
                data=data_source_from_dict(data["data"]),
                evaluation=Evaluation.from_dict(data["evaluation"]),
                workdir=str(data.get("workdir", ".")),
                params=data.get("params") or {},
                rollout=RolloutPolicy.from_dict(data.get("rollout") or {}),
                concurrency=int(data.get("concurrency", 1)),
                timeout_seconds=data.get("timeout_seconds", 3600.0),
                executor=str(data.get("executor", "local")),
                ray_address=data.get("ray_address"),
                schedule=data.get("schedule"),
                on_alerts=tuple(
                    AlertTrigger(monitor=str(a["monitor"]), rule=a.get("rule"))
                    for a in data.get("on_alerts") or ()
                ),
                on_datasets=tuple(data.get("on_datasets") or ()),
                cooldown_seconds=data.get("cooldown_seconds", 3600.0),
                max_attempts=int(data.get("max_attempts", 2)),
                experiment=data.get("experiment"),
                description=str(data.get("description", "")),
                created_at=int(data.get("created_at", 0)),
                updated_at=int(data.get("updated_at", 0)),
            )
        except KeyError as exc:
            raise InvalidArgument(f"A pipeline needs {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"Invalid pipeline: {exc}") from None


# -- triggers --------------------------------------------------------------------------


class TriggerKind(StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    ALERT = "alert"
    DATASET = "dataset"


class TriggerStatus(StrEnum):
    """``pending``: recorded, no run yet; ``started``: it queued a run;
    ``deduplicated``: merged into a run already queued, running or cooling down."""

    PENDING = "pending"
    STARTED = "started"
    DEDUPLICATED = "deduplicated"


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """Something that asks a pipeline to run, recorded before anything runs.

    ``key`` is unique per pipeline (``alert:<notification id>``,
    ``schedule:<fire time>``, ``dataset:<name>@<digest>``, ``manual:<id>``),
    so recording the same event twice, from two replicas, keeps one row.
    ``group``: triggers of one group share a run while it is queued or
    running (and, for alerts, during the cooldown after it).
    """

    pipeline: str
    kind: TriggerKind
    key: str
    created_at: int
    group: str | None = None
    status: TriggerStatus = TriggerStatus.PENDING
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "kind": self.kind.value,
            "key": self.key,
            "group": self.group,
            "status": self.status.value,
            "reason": self.reason,
            "details": dict(self.details),
            "run_id": self.run_id,
            "created_at": self.created_at,
        }


# -- runs ------------------------------------------------------------------------------


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED)


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineRun:
    """One run of a pipeline (one loop instance; retried attempts keep the id).

    ``holder`` and ``lease_expires_at``: the runner executing it and until
    when its lease holds (renewed while it runs). ``tracked_run_id``: the
    tracking run of the current attempt. ``result``: what the worker measured
    and the gate decided. ``error_code``/``error``/``traceback``: why it failed
    (``USER_CODE_ERROR`` when the user's code raised or ran out of time).
    """

    id: str
    pipeline: str
    status: RunState
    trigger_id: int | None
    trigger_kind: TriggerKind
    remediation_id: str
    created_at: int
    group: str | None = None
    attempt: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    started_at: int | None = None
    finished_at: int | None = None
    holder: str | None = None
    lease_expires_at: int | None = None
    tracked_run_id: str | None = None
    model_version: int | None = None
    error: str | None = None
    error_code: str | None = None
    traceback: str | None = None
    result: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "status": self.status.value,
            "trigger_id": self.trigger_id,
            "trigger_kind": self.trigger_kind.value,
            "group": self.group,
            "remediation_id": self.remediation_id,
            "attempt": self.attempt,
            "params": dict(self.params),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "holder": self.holder,
            "lease_expires_at": self.lease_expires_at,
            "tracked_run_id": self.tracked_run_id,
            "model_version": self.model_version,
            "error": self.error,
            "error_code": self.error_code,
            "traceback": self.traceback,
            "result": dict(self.result),
        }


# -- the remediation record ------------------------------------------------------------


class RemediationStatus(StrEnum):
    """Where one loop instance is. The rollout code (canary analysis) moves it
    on from ``ready``: ``canary`` -> ``promoted`` or ``rolled_back``."""

    TRAINING = "training"
    FAILED = "failed"
    REJECTED = "rejected"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVAL_REJECTED = "approval_rejected"
    READY = "ready"
    CANARY = "canary"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


class StepStatus(StrEnum):
    OK = "ok"
    STARTED = "started"
    PENDING = "pending"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEDUPLICATED = "deduplicated"


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One step of a remediation, appended as it happens. ``step`` names it
    (``alert``, ``trigger``, ``training``, ``data``, ``registration``,
    ``validation``, ``approval``, ``ready``, ``canary``, ``promotion``,
    ``rollback``, ``notify``); ``reason`` is for people, ``details`` for tools."""

    step: str
    status: StepStatus
    at: int
    reason: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "step": self.step,
            "status": self.status.value,
            "at": self.at,
            "reason": self.reason,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Remediation:
    """One loop instance: alert -> data window -> pipeline run -> validation ->
    approval -> canary -> promotion or rollback, each a :class:`Step`."""

    id: str
    pipeline: str
    model: str
    status: RemediationStatus
    pipeline_run_id: str
    trigger_kind: TriggerKind
    created_at: int
    updated_at: int
    alert_key: str | None = None
    challenger_version: int | None = None
    champion_version: int | None = None
    approval_id: str | None = None
    steps: tuple[Step, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "model": self.model,
            "status": self.status.value,
            "pipeline_run_id": self.pipeline_run_id,
            "trigger_kind": self.trigger_kind.value,
            "alert_key": self.alert_key,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "approval_id": self.approval_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "steps": [s.to_dict() for s in self.steps],
        }


__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "AlertTrigger",
    "DataSource",
    "DatasetSource",
    "Evaluation",
    "FunctionSource",
    "GateRules",
    "GlobSource",
    "Pipeline",
    "PipelineRun",
    "Remediation",
    "RemediationStatus",
    "RolloutPolicy",
    "RunState",
    "SqlSource",
    "Step",
    "StepStatus",
    "Trigger",
    "TriggerKind",
    "TriggerStatus",
    "data_source_from_dict",
    "source_to_dict",
    "validate_entry_point",
    "validate_pipeline_name",
]
