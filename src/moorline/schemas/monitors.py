"""Wire schemas of monitors, their results and alert states (``/api/v1/monitors``).

A monitor travels in the JSON form of ``Monitor.to_dict`` (see
:mod:`moorline.monitoring.monitors`). Requests are typed to the field, so a
typo or a wrong type is a 400 naming it. Credentials are write-only: a
response shows a channel's ``secret``, ``webhook_url``, ``routing_key`` and
``password``, and a SQL source's password, as ``"***"``; a request that sends
``"***"`` back keeps the stored value (see
:func:`moorline.monitoring.service.keep_secrets`), so a configuration read,
edited and written back loses nothing.

In a request, an omitted ``drift`` or ``quality`` is that check with its
defaults and ``null`` turns it off; ``performance`` is off unless given.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from moorline.errors import InvalidArgument
from moorline.monitoring.alerts import AlertState as DomainAlertState
from moorline.monitoring.monitors import Monitor as DomainMonitor
from moorline.monitoring.monitors import MonitorResult as DomainResult
from moorline.monitoring.service import monitor_from_shown, sendable
from moorline.schemas.common import RequestModel, ResponseModel, Timestamp

_NEXT_PAGE_TOKEN = Field(default=None, description="Token of the next page; null on the last page.")
_SHORT = Annotated[str, Field(min_length=1, max_length=1000)]
_TEXT = Annotated[str, Field(max_length=100_000)]
Severity = Literal["info", "warning", "error", "critical"]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


# -- sources -----------------------------------------------------------------------


class DatasetSource(RequestModel):
    """A logged dataset: version ``digest`` of ``name``, or its latest version."""

    kind: Literal["dataset"]
    name: _SHORT
    digest: _SHORT | None = None


class FileSource(RequestModel):
    """A CSV or Parquet file on the server, read at every run."""

    kind: Literal["file"]
    path: _SHORT


class SqlSource(RequestModel):
    """The rows of ``query`` on the database at ``uri`` (a SQLAlchemy URL)."""

    kind: Literal["sql"]
    query: _TEXT
    uri: _SHORT


Reference = Annotated[DatasetSource | FileSource, Field(discriminator="kind")]
Source = Annotated[DatasetSource | FileSource | SqlSource, Field(discriminator="kind")]


# -- checks ------------------------------------------------------------------------


class DriftCheck(RequestModel):
    """Drift of the current window against the reference."""

    preset: Literal["default", "evidently"] = "default"
    columns: list[_SHORT] | None = None
    threshold: float | None = None
    per_column_threshold: dict[str, float] = Field(default_factory=dict)
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    column_mapping: dict[str, Any] | None = None


class QualityConfig(RequestModel):
    """Thresholds of the data-quality checks; a field left out keeps its default."""

    null_rate_margin: Share | None = None
    null_rate_z: Annotated[float, Field(ge=0.0)] | None = None
    critical_null_rate: Share | None = None
    max_out_of_range_share: Share | None = None
    max_unseen_share: Share | None = None
    max_duplicate_share: Share | None = Field(
        default=None,
        description="How far the duplicate-row share may rise above the reference's own.",
    )
    max_listed_values: Annotated[int, Field(ge=0)] | None = None
    fail_on: Literal["info", "warning", "critical"] | None = None
    checks: list[str] | None = None
    ignore_columns: list[str] | None = None


class PerformanceCheck(RequestModel):
    """Model performance on the window's labelled rows, against baseline metrics."""

    label: _SHORT
    prediction: _SHORT
    task: Literal["classification", "regression"] = "regression"
    baseline: dict[str, float] = Field(default_factory=dict)
    tolerance: Annotated[float, Field(ge=0.0)] = 0.0


class AlertRule(RequestModel):
    """An alert rule: ``condition`` over the result (see docs/monitoring.md)."""

    name: _SHORT
    condition: _TEXT
    severity: Severity = "warning"
    cooldown_seconds: Annotated[float, Field(ge=0.0)] = 900.0
    description: _TEXT = ""
    runbook_url: _SHORT | None = None


# -- channels ----------------------------------------------------------------------


class _Channel(RequestModel):
    name: _SHORT
    min_severity: Severity | None = None


class WebhookChannel(_Channel):
    """A signed JSON webhook; ``secret`` (16+ characters) signs each delivery."""

    type: Literal["webhook"]
    url: _SHORT
    secret: _SHORT


class SlackChannel(_Channel):
    type: Literal["slack"]
    webhook_url: _SHORT


class PagerDutyChannel(_Channel):
    type: Literal["pagerduty"]
    routing_key: _SHORT
    source: _SHORT | None = None
    client_url: _SHORT | None = None
    url: _SHORT | None = None


class EmailChannel(_Channel):
    type: Literal["email"]
    host: _SHORT
    sender: _SHORT
    recipients: list[_SHORT]
    port: Annotated[int, Field(gt=0, lt=65536)] | None = None
    starttls: bool | None = None
    username: _SHORT | None = None
    password: _SHORT | None = None
    ca_file: _SHORT | None = None
    subject_prefix: str | None = None
    local_hostname: _SHORT | None = None


Channel = Annotated[
    WebhookChannel | SlackChannel | PagerDutyChannel | EmailChannel, Field(discriminator="type")
]


# -- monitors ----------------------------------------------------------------------


class MonitorConfig(RequestModel):
    """A monitor's configuration, as ``PUT /monitors/{name}`` takes it."""

    name: _SHORT | None = Field(
        default=None, description="Optional here; when given, it must be the path's name."
    )
    model: _SHORT = Field(description="The registered model the monitor watches.")
    description: _TEXT = ""
    reference: Reference
    current: Source
    schedule: _SHORT | None = Field(
        default=None, description="A 5-field cron expression (UTC); null: on demand only."
    )
    drift: DriftCheck | None = Field(default_factory=DriftCheck)
    quality: QualityConfig | None = Field(default_factory=QualityConfig)
    performance: PerformanceCheck | None = None
    rules: list[AlertRule] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    created_at: int | None = Field(default=None, description="Read-only: ignored.")
    updated_at: int | None = Field(default=None, description="Read-only: ignored.")

    def to_domain(self, name: str) -> DomainMonitor:
        """The monitor named ``name``; InvalidArgument when the body names another."""
        if self.name is not None and self.name != name:
            raise InvalidArgument(
                f"The body names monitor {self.name!r} but the path names {name!r}; "
                "a monitor cannot be renamed"
            )
        data = self.model_dump(exclude_none=True, exclude={"created_at", "updated_at"})
        # exclude_none drops a check set to null: say explicitly that it is off.
        for check in ("drift", "quality", "performance"):
            data.setdefault(check, None)
        try:
            return monitor_from_shown({**data, "name": name})
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"Invalid monitor {name!r}: {exc}") from None

    @classmethod
    def from_domain(cls, monitor: DomainMonitor) -> MonitorConfig:
        """What a client sends for ``monitor`` (credentials it only knows as
        placeholders go back as ``"***"``: keep the stored ones)."""
        return cls.model_validate(sendable(monitor))


class CreateMonitor(MonitorConfig):
    """A new monitor, as ``POST /monitors`` takes it."""

    name: _SHORT = Field(description="The monitor's name.")

    def to_new(self) -> DomainMonitor:
        return self.to_domain(self.name)

    @classmethod
    def from_domain(cls, monitor: DomainMonitor) -> CreateMonitor:
        return cls.model_validate(sendable(monitor))


class Monitor(ResponseModel):
    """A monitor's configuration (credentials shown as ``"***"``)."""

    name: str
    model: str
    description: str
    reference: dict[str, Any]
    current: dict[str, Any]
    schedule: str | None
    drift: dict[str, Any] | None
    quality: dict[str, Any] | None
    performance: dict[str, Any] | None
    rules: list[dict[str, Any]]
    channels: list[dict[str, Any]]
    created_at: int
    updated_at: int

    @classmethod
    def from_domain(cls, monitor: DomainMonitor) -> Monitor:
        return cls.model_validate(monitor.to_dict(redact=True))

    def to_domain(self) -> DomainMonitor:
        """The monitor, each hidden credential a placeholder (see ``monitor_from_shown``)."""
        return monitor_from_shown(self.model_dump())


class MonitorList(ResponseModel):
    items: list[Monitor]


# -- results and alert states --------------------------------------------------------


class MonitorResult(ResponseModel):
    """One run: status, the current window, the drift, quality and performance
    documents, the alert keys that held and the notifications sent. The drift
    document carries compact per-column histograms under ``distributions``."""

    id: int | None
    monitor: str
    run_at: Timestamp = Field(description="Milliseconds since the epoch.")
    status: Literal["ok", "alerting", "error"]
    window: dict[str, Any]
    drift: dict[str, Any] | None
    quality: dict[str, Any] | None
    performance: dict[str, Any] | None
    alerts: list[str]
    notifications: list[dict[str, Any]]
    error: str | None
    duration_ms: int

    @classmethod
    def from_domain(cls, result: DomainResult) -> MonitorResult:
        return cls.model_validate(result.to_dict())

    def to_domain(self) -> DomainResult:
        return DomainResult.from_dict(self.model_dump())


class MonitorResultPage(ResponseModel):
    items: list[MonitorResult]
    next_page_token: str | None = _NEXT_PAGE_TOKEN


class AlertState(ResponseModel):
    """Where one alert (a rule, or a rule on one column) stands."""

    key: str
    rule: str
    monitor: str
    column: str | None = None
    status: Literal["ok", "pending", "firing", "resolved"]
    value: Any = None
    since: int
    evaluated_at: int
    fired_at: int | None = None
    resolved_at: int | None = None

    @classmethod
    def from_domain(cls, state: DomainAlertState) -> AlertState:
        return cls.model_validate(state.to_dict())

    def to_domain(self) -> DomainAlertState:
        return DomainAlertState.from_dict(self.model_dump())


class AlertStateList(ResponseModel):
    items: list[AlertState]
