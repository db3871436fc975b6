"""Monitors: what to watch for a registered model, and what each run found.

A :class:`Monitor` names a registered model, a *reference* (a logged dataset
version, or a CSV/Parquet file), a *current source* (the latest version of a
dataset name, a file, a SQL query, or what a deployment answered lately), an
optional cron schedule, the checks to run (drift, data quality, performance),
the alert rules evaluated on each result and the channels their notifications
go to. Each run produces a :class:`MonitorResult`, kept as a time series per
monitor.

These are plain records with a stable JSON form (``to_dict``/``from_dict``);
the ports say what a store (:class:`MonitorStore`) and a reader of windows
(:class:`WindowSource`) must do, so this domain module imports no database
or network library.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Final, Protocol

from moorline.core.paging import Page
from moorline.errors import InvalidArgument
from moorline.monitoring.alerts import AlertRule, AlertState, Notification
from moorline.monitoring.channels import (
    Channel,
    DeliveryResult,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
)
from moorline.monitoring.quality import QualityConfig

MAX_MONITOR_NAME: Final = 200
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
PRESETS: Final = ("default", "evidently")
TASKS: Final = ("classification", "regression")


def validate_monitor_name(name: object) -> str:
    """A monitor name: letters, digits, ``_ . -``, starting with a letter or digit."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_MONITOR_NAME:
        raise InvalidArgument(
            f"Invalid monitor name {name!r}: use up to {MAX_MONITOR_NAME} letters, digits, "
            "'_', '.' or '-', starting with a letter or digit"
        )
    return name


# -- where data comes from -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetSource:
    """A logged dataset: version ``digest`` of ``name``, or its latest version when
    ``digest`` is None (a current source that follows new versions)."""

    name: str
    digest: str | None = None

    def describe(self) -> str:
        return f"dataset:{self.name}" + (f"@{self.digest}" if self.digest else "")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "dataset", "name": self.name, "digest": self.digest}


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSource:
    """A CSV or Parquet file, read again at every run."""

    path: str

    def describe(self) -> str:
        return f"file:{self.path}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "file", "path": self.path}


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlSource:
    """The rows of ``query`` on the database at ``uri`` (any SQLAlchemy URL)."""

    query: str
    uri: str = field(repr=False)

    def describe(self) -> str:
        return "sql:" + " ".join(self.query.split())[:200]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "sql", "query": self.query, "uri": self.uri}


#: Longest window of logged predictions a monitor reads (a year).
MAX_WINDOW_SECONDS: Final = 366 * 86400


#: The columns a window of logged predictions adds to say where each row came from.
PREDICTION_METADATA_COLUMNS: Final = ("model_version", "prediction_id", "timestamp")


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictionsSource:
    """What deployment ``deployment`` answered in the last ``window_seconds`` (of
    ``version`` only, when given), with the ground truth that came back as
    feedback, read from the prediction log as one row per predicted row.

    Input columns are named as the logged request named them, else by
    ``columns``, else ``input_0..input_{n-1}``; the answer is column
    ``prediction`` (one column per field when answers are records); ``label``
    holds the feedback label (null until it arrives). ``model_version``,
    ``prediction_id`` and ``timestamp`` say where each row came from. Shadow
    answers and failed requests are left out.

    >>> s = PredictionsSource(deployment="churn-prod", window_seconds=3600, version=2)
    >>> s.describe()
    'predictions:churn-prod v2 (last 3600 s)'
    >>> source_from_dict(s.to_dict()) == s
    True
    """

    deployment: str
    window_seconds: int = 86400
    version: int | None = None
    columns: tuple[str, ...] | None = None
    label: str = "label"
    prediction: str = "prediction"

    def __post_init__(self) -> None:
        if not isinstance(self.deployment, str) or not self.deployment.strip():
            raise InvalidArgument("A predictions source names a deployment")
        w = self.window_seconds
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= MAX_WINDOW_SECONDS:
            raise InvalidArgument(
                f"window_seconds must be an integer in [1, {MAX_WINDOW_SECONDS}], got {w!r}"
            )
        v = self.version
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise InvalidArgument(f"version must be a model version number (1 or more), got {v!r}")
        if self.columns is not None:
            columns = tuple(self.columns)
            if not all(isinstance(c, str) and c for c in columns):
                raise InvalidArgument("columns must be non-empty column names")
            object.__setattr__(self, "columns", columns)
        for what in ("label", "prediction"):
            value = getattr(self, what)
            if not isinstance(value, str) or not value:
                raise InvalidArgument(f"{what} must be a non-empty column name")
        if self.label == self.prediction:
            raise InvalidArgument("label and prediction must be different columns")

    def describe(self) -> str:
        version = "" if self.version is None else f" v{self.version}"
        return f"predictions:{self.deployment}{version} (last {self.window_seconds} s)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "predictions",
            "deployment": self.deployment,
            "window_seconds": self.window_seconds,
            "version": self.version,
            "columns": None if self.columns is None else list(self.columns),
            "label": self.label,
            "prediction": self.prediction,
        }


Source = DatasetSource | FileSource | SqlSource | PredictionsSource


def source_from_dict(data: Mapping[str, Any]) -> Source:
    kind = data.get("kind")
    if kind == "dataset":
        return DatasetSource(name=str(data["name"]), digest=data.get("digest"))
    if kind == "file":
        return FileSource(path=str(data["path"]))
    if kind == "sql":
        return SqlSource(query=str(data["query"]), uri=str(data["uri"]))
    if kind == "predictions":
        columns = data.get("columns")
        return PredictionsSource(
            deployment=str(data["deployment"]),
            window_seconds=data.get("window_seconds", 86400),
            version=data.get("version"),
            columns=None if columns is None else tuple(columns),
            label=data.get("label", "label"),
            prediction=data.get("prediction", "prediction"),
        )
    raise InvalidArgument(
        f"Unknown monitor source kind {kind!r}: use dataset, file, sql or predictions"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """Data read from a source: a PyArrow table, what it was, and its digest if known."""

    table: Any
    source: str
    digest: str | None = None


class WindowSource(Protocol):
    """Reads a source into a table (an adapter: files, datasets, SQL databases).

    Raises a :class:`~moorline.errors.MoorlineError` saying what could not be read.
    """

    def read(self, source: Source) -> Window: ...


# -- checks --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftCheck:
    """Drift of the current window against the reference (see :func:`compute_drift`)."""

    preset: str = "default"
    columns: tuple[str, ...] | None = None
    threshold: float | None = None
    per_column_threshold: Mapping[str, float] = field(default_factory=dict)
    drift_share: float = 0.5
    column_mapping: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InvalidArgument(f"Unknown drift preset {self.preset!r}: use one of {PRESETS}")
        if not 0.0 < self.drift_share <= 1.0:
            raise InvalidArgument(f"drift_share must be in (0, 1], got {self.drift_share!r}")
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "columns": None if self.columns is None else list(self.columns),
            "threshold": self.threshold,
            "per_column_threshold": dict(self.per_column_threshold),
            "drift_share": self.drift_share,
            "column_mapping": None if self.column_mapping is None else dict(self.column_mapping),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftCheck:
        columns = data.get("columns")
        return cls(
            preset=data.get("preset", "default"),
            columns=None if columns is None else tuple(columns),
            threshold=data.get("threshold"),
            per_column_threshold=dict(data.get("per_column_threshold") or {}),
            drift_share=float(data.get("drift_share", 0.5)),
            column_mapping=data.get("column_mapping"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceCheck:
    """Model performance on the window's labelled rows, against baseline metrics."""

    label: str
    prediction: str
    task: str = "regression"
    baseline: Mapping[str, float] = field(default_factory=dict)
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise InvalidArgument(f"Unknown performance task {self.task!r}: use one of {TASKS}")
        if not self.label or not self.prediction:
            raise InvalidArgument("A performance check needs a label and a prediction column")

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "prediction": self.prediction,
            "task": self.task,
            "baseline": dict(self.baseline),
            "tolerance": self.tolerance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerformanceCheck:
        return cls(
            label=str(data["label"]),
            prediction=str(data["prediction"]),
            task=str(data.get("task", "regression")),
            baseline={str(k): float(v) for k, v in (data.get("baseline") or {}).items()},
            tolerance=float(data.get("tolerance", 0.0)),
        )


def quality_config_from_dict(data: Mapping[str, Any]) -> QualityConfig:
    known = {f.name for f in fields(QualityConfig)}
    values = {k: v for k, v in data.items() if k in known}
    for key in ("checks", "ignore_columns"):
        if key in values:
            values[key] = frozenset(values[key])
    return QualityConfig(**values)


# -- rules and channels in JSON --------------------------------------------------------


def rule_to_dict(rule: AlertRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "condition": rule.condition,
        "severity": rule.severity.value,
        "cooldown_seconds": rule.cooldown_seconds,
        "description": rule.description,
        "runbook_url": rule.runbook_url,
    }


def rule_from_dict(data: Mapping[str, Any], monitor: str) -> AlertRule:
    return AlertRule(
        name=str(data["name"]),
        monitor=monitor,
        condition=str(data["condition"]),
        severity=data.get("severity", "warning"),
        cooldown_seconds=float(data.get("cooldown_seconds", 900.0)),
        description=str(data.get("description", "")),
        runbook_url=data.get("runbook_url"),
    )


_CHANNEL_TYPES: Final[dict[str, type[Any]]] = {
    "webhook": WebhookChannel,
    "slack": SlackChannel,
    "pagerduty": PagerDutyChannel,
    "email": EmailChannel,
}
_SECRET_FIELDS: Final = frozenset({"secret", "webhook_url", "routing_key", "password"})


def channel_to_dict(channel: Channel, *, redact: bool = False) -> dict[str, Any]:
    """A channel's configuration; ``redact`` hides its credentials (for display)."""
    out: dict[str, Any] = {"type": channel.channel_type}
    for f in fields(channel):
        value = getattr(channel, f.name)
        if isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        if redact and f.name in _SECRET_FIELDS and value is not None:
            value = "***"
        out[f.name] = value
    return out


def channel_from_dict(data: Mapping[str, Any]) -> Channel:
    kind = data.get("type")
    cls = _CHANNEL_TYPES.get(str(kind))
    if cls is None:
        raise InvalidArgument(f"Unknown channel type {kind!r}: use one of {sorted(_CHANNEL_TYPES)}")
    values = {k: v for k, v in data.items() if k != "type"}
    if "recipients" in values:
        values["recipients"] = tuple(values["recipients"])
    channel: Channel = cls(**values)
    return channel


# -- the monitor -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Monitor:
    """One monitored model. ``schedule``: a 5-field cron string (UTC), or None for
    on-demand runs only. ``created_at``/``updated_at``: ms since the epoch."""

    name: str
    model: str
    reference: DatasetSource | FileSource
    current: Source
    schedule: str | None = None
    drift: DriftCheck | None = field(default_factory=DriftCheck)
    quality: QualityConfig | None = field(default_factory=QualityConfig)
    performance: PerformanceCheck | None = None
    rules: tuple[AlertRule, ...] = ()
    channels: tuple[Channel, ...] = ()
    description: str = ""
    created_at: int = 0
    updated_at: int = 0

    def __post_init__(self) -> None:
        validate_monitor_name(self.name)
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidArgument(f"Monitor {self.name!r} needs a registered model name")
        if isinstance(self.reference, SqlSource | PredictionsSource):
            raise InvalidArgument(
                f"Monitor {self.name!r}: the reference is a dataset version or a file, "
                "not a SQL query or logged predictions"
            )
        if self.drift is None and self.quality is None and self.performance is None:
            raise InvalidArgument(f"Monitor {self.name!r} has no check to run")
        rules = tuple(self.rules)
        for rule in rules:
            if rule.monitor != self.name:
                raise InvalidArgument(
                    f"Alert rule {rule.name!r} belongs to monitor {rule.monitor!r}, "
                    f"not {self.name!r}"
                )
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise InvalidArgument(f"Monitor {self.name!r}: alert rule names must be unique")
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "channels", tuple(self.channels))

    def to_dict(self, *, redact: bool = False) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "description": self.description,
            "reference": self.reference.to_dict(),
            "current": _redacted_source(self.current) if redact else self.current.to_dict(),
            "schedule": self.schedule,
            "drift": None if self.drift is None else self.drift.to_dict(),
            "quality": None if self.quality is None else self.quality.to_dict(),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "rules": [rule_to_dict(r) for r in self.rules],
            "channels": [channel_to_dict(c, redact=redact) for c in self.channels],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Monitor:
        name = str(data["name"])
        reference = source_from_dict(data["reference"])
        if isinstance(reference, SqlSource | PredictionsSource):
            raise InvalidArgument(
                f"Monitor {name!r}: a SQL query or logged predictions cannot be the reference"
            )
        drift, quality, perf = data.get("drift"), data.get("quality"), data.get("performance")
        return cls(
            name=name,
            model=str(data["model"]),
            description=str(data.get("description", "")),
            reference=reference,
            current=source_from_dict(data["current"]),
            schedule=data.get("schedule"),
            drift=None if drift is None else DriftCheck.from_dict(drift),
            quality=None if quality is None else quality_config_from_dict(quality),
            performance=None if perf is None else PerformanceCheck.from_dict(perf),
            rules=tuple(rule_from_dict(r, name) for r in data.get("rules") or ()),
            channels=tuple(channel_from_dict(c) for c in data.get("channels") or ()),
            created_at=int(data.get("created_at", 0)),
            updated_at=int(data.get("updated_at", 0)),
        )


def _redacted_source(source: Source) -> dict[str, Any]:
    out = source.to_dict()
    if isinstance(source, SqlSource):
        out["uri"] = _hide_password(source.uri)
    return out


def _hide_password(uri: str) -> str:
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", uri)


# -- results -------------------------------------------------------------------------


class MonitorStatus(StrEnum):
    OK = "ok"
    ALERTING = "alerting"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorResult:
    """One run of a monitor. ``run_at``: ms since the epoch. ``window``: rows,
    source and digest of the current window. ``alerts``: the deduplication keys
    whose condition held; ``notifications``: what was sent (event and key) with
    the delivery outcome per channel."""

    monitor: str
    run_at: int
    status: MonitorStatus
    window: Mapping[str, Any] = field(default_factory=dict)
    drift: Mapping[str, Any] | None = None
    quality: Mapping[str, Any] | None = None
    performance: Mapping[str, Any] | None = None
    alerts: tuple[str, ...] = ()
    notifications: tuple[Mapping[str, Any], ...] = ()
    error: str | None = None
    duration_ms: int = 0
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor,
            "run_at": self.run_at,
            "status": self.status.value,
            "window": dict(self.window),
            "drift": _clean(self.drift),
            "quality": _clean(self.quality),
            "performance": _clean(self.performance),
            "alerts": list(self.alerts),
            "notifications": [dict(n) for n in self.notifications],
            "error": self.error,
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorResult:
        return cls(
            id=data.get("id"),
            monitor=str(data["monitor"]),
            run_at=int(data["run_at"]),
            status=MonitorStatus(data["status"]),
            window=dict(data.get("window") or {}),
            drift=data.get("drift"),
            quality=data.get("quality"),
            performance=data.get("performance"),
            alerts=tuple(data.get("alerts") or ()),
            notifications=tuple(data.get("notifications") or ()),
            error=data.get("error"),
            duration_ms=int(data.get("duration_ms", 0)),
        )

    def document(self) -> dict[str, Any]:
        """What alert rules read: the drift report's fields at the top, then
        ``quality`` and ``performance``."""
        return {
            **(self.drift or {}),
            "quality": dict(self.quality or {}),
            "performance": dict(self.performance or {}),
        }


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None (rules read them as unknown)."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def delivery_record(note: Notification, result: DeliveryResult | None) -> dict[str, Any]:
    """What a result keeps of one notification and its delivery to one channel."""
    out: dict[str, Any] = {"event": note.event, "dedup_key": note.dedup_key, "id": note.id}
    if result is not None:
        out.update(
            channel=result.channel,
            ok=result.ok,
            attempts=result.attempts,
            status_code=result.status_code,
            error=result.error,
        )
    return out


# -- ports -----------------------------------------------------------------------------


class MonitorStore(Protocol):
    """Persistence of monitors, their results (a time series) and alert states,
    and the lease that lets one scheduler among several run a monitor."""

    def create_monitor(self, monitor: Monitor) -> Monitor: ...

    def update_monitor(self, monitor: Monitor) -> Monitor: ...

    def get_monitor(self, name: str) -> Monitor: ...

    def list_monitors(self) -> list[Monitor]: ...

    def delete_monitor(self, name: str) -> None: ...

    def append_result(self, result: MonitorResult) -> MonitorResult: ...

    def list_results(
        self, name: str, *, max_results: int, page_token: str | None = None
    ) -> Page[MonitorResult]: ...

    def get_result(self, result_id: int) -> MonitorResult: ...

    def get_alert_states(self, name: str) -> dict[str, AlertState]: ...

    def put_alert_states(self, name: str, states: Mapping[str, AlertState]) -> None: ...

    def try_acquire_lease(self, name: str, holder: str, ttl_seconds: float, now: int) -> bool: ...

    def release_lease(self, name: str, holder: str) -> None: ...

    def last_run_at(self, name: str) -> int | None: ...


class AlertSenderPort(Protocol):
    """Delivers notifications to channels (``moorline.store.alert_delivery``)."""

    def deliver(
        self, notifications: Sequence[Notification], channels: Sequence[Channel]
    ) -> list[DeliveryResult]: ...


__all__ = [
    "AlertSenderPort",
    "DatasetSource",
    "DriftCheck",
    "FileSource",
    "Monitor",
    "MonitorResult",
    "MonitorStatus",
    "MonitorStore",
    "PerformanceCheck",
    "PredictionsSource",
    "Source",
    "SqlSource",
    "Window",
    "WindowSource",
    "channel_from_dict",
    "channel_to_dict",
    "rule_from_dict",
    "rule_to_dict",
    "source_from_dict",
    "validate_monitor_name",
]
