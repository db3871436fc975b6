"""The demo's records: its options, the names of its objects, and what a run measured.

>>> options = DemoOptions.fast()
>>> options.rows_per_day, options.rows_per_week, options.week_seconds
(24, 168, 2)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from moorline.errors import InvalidArgument

#: The demo's objects (one of each, so the UI tells one story).
MODEL: Final = "elec-demand"
DEPLOYMENT: Final = "elec-demand"
MONITOR: Final = "elec-demand-live"
PIPELINE: Final = "elec-demand-retrain"
CONSUMER: Final = "grid-planning"
EXPERIMENT: Final = "elec-demand"
TRAIN_DATASET: Final = "elec-demand-train"
VALIDATION_DATASET: Final = "elec-demand-validation"
#: Who the demo's own changes are recorded as (the SDK's calls use the OS user).
ACTOR: Final = "moorline-demo"


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    """How much to stream and how fast.

    ``row_step``: every ``row_step``-th half-hour is sent (2: hourly rows).
    ``rows_per_request``: rows per predict request. ``week_seconds``: the
    wall-clock length of one streamed week, and the monitor's window (the
    last ``week_seconds`` of logged predictions is exactly that week).
    ``stream_from``/``stream_until``: the days streamed; the model is trained
    on the days before ``stream_from`` (a ``validation_share`` of those days
    held out for its baseline error). The pipeline retrains on the last
    ``train_weeks`` labelled weeks before the holdout, the latest
    ``holdout_weeks``. The error alert fires when the weekly MAE exceeds the
    validation MAE times ``alert_ratio``; the gate wants the challenger
    better than the champion by ``gate_margin`` MAE; the canary gets
    ``canary_weight`` percent of traffic.
    """

    row_step: int = 1
    rows_per_request: int = 6
    week_seconds: int = 3
    stream_from: str = "2014-05-01"
    stream_until: str = "2014-09-01"
    validation_share: float = 0.2
    train_weeks: int = 8
    holdout_weeks: int = 1
    alert_ratio: float = 1.5
    gate_margin: float = 0.02
    canary_weight: float = 30.0
    canary_min_requests: int = 20
    canary_min_labelled: int = 100
    seed: int = 0
    reset: bool = False

    @classmethod
    def fast(cls, *, reset: bool = False) -> DemoOptions:
        """Hourly rows, two-second weeks, May to July: the loop in about a minute."""
        return cls(
            row_step=2,
            rows_per_request=4,
            week_seconds=2,
            stream_until="2014-08-01",
            canary_min_requests=10,
            canary_min_labelled=40,
            reset=reset,
        )

    @property
    def rows_per_day(self) -> int:
        return 48 // self.row_step

    @property
    def rows_per_week(self) -> int:
        return 7 * self.rows_per_day

    def __post_init__(self) -> None:
        if self.row_step not in (1, 2, 3, 4, 6, 8, 12, 16, 24, 48):
            raise InvalidArgument("row_step must divide the 48 half-hours of a day")
        if not 1 <= self.rows_per_request <= self.rows_per_day:
            raise InvalidArgument(f"rows_per_request must be in [1, {self.rows_per_day}]")
        if self.week_seconds < 1:
            raise InvalidArgument("week_seconds must be 1 or more")


@dataclass(slots=True)
class Answer:
    """One predict request as the demo sent and saw it."""

    week: int
    version: int
    inputs: Any  # the request's rows (a DataFrame)
    labels: list[float]
    predictions: list[float]
    after_promotion: bool


@dataclass(slots=True, kw_only=True)
class Week:
    """What one streamed week showed."""

    index: int
    label: str
    rows: int = 0
    versions: Counter[int] = field(default_factory=Counter)
    served_mae: float | None = None
    monitor_status: str = ""
    monitor_mae: float | None = None
    window_rows: int | None = None
    drifted: list[str] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    pipeline_run: str | None = None
    monitor_error: str | None = None
    #: wall-clock seconds its requests and feedback took
    stream_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.index,
            "label": self.label,
            "rows": self.rows,
            "versions": {str(k): v for k, v in sorted(self.versions.items())},
            "served_mae": self.served_mae,
            "monitor_status": self.monitor_status,
            "monitor_mae": self.monitor_mae,
            "window_rows": self.window_rows,
            "drifted_columns": list(self.drifted),
            "alerts_fired": list(self.fired),
            "alerts_resolved": list(self.resolved),
            "pipeline_run": self.pipeline_run,
            "monitor_error": self.monitor_error,
            "stream_s": round(self.stream_s, 2),
        }


@dataclass(slots=True, kw_only=True)
class Summary:
    """What the run measured (the ``--json`` output)."""

    ok: bool = False
    store_uri: str = ""
    artifacts_uri: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    timings_s: dict[str, float] = field(default_factory=dict)
    validation_mae: float | None = None
    alert_threshold: float | None = None
    champion_before: int | None = None
    weeks: list[Week] = field(default_factory=list)
    requests: int = 0
    failed_requests: int = 0
    alert_week: str | None = None
    pipeline_run_id: str | None = None
    #: the tracked run of the retraining (its page shows data, params, metrics)
    retraining_run_id: str | None = None
    remediation_id: str | None = None
    remediation_status: str | None = None
    remediation_steps: list[dict[str, Any]] = field(default_factory=list)
    challenger_version: int | None = None
    promoted_week: str | None = None
    champion_after: int | None = None
    deployment_policy: str | None = None
    comparison: dict[str, Any] = field(default_factory=dict)
    server_url: str | None = None
    ui: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "store_uri": self.store_uri,
            "artifacts_uri": self.artifacts_uri,
            "options": dict(self.options),
            "elapsed_s": round(self.elapsed_s, 1),
            "timings_s": {k: round(v, 1) for k, v in self.timings_s.items()},
            "validation_mae": self.validation_mae,
            "alert_threshold": self.alert_threshold,
            "champion_before": self.champion_before,
            "weeks": [w.to_dict() for w in self.weeks],
            "requests": self.requests,
            "failed_requests": self.failed_requests,
            "alert_week": self.alert_week,
            "pipeline_run_id": self.pipeline_run_id,
            "retraining_run_id": self.retraining_run_id,
            "remediation_id": self.remediation_id,
            "remediation_status": self.remediation_status,
            "remediation_steps": list(self.remediation_steps),
            "challenger_version": self.challenger_version,
            "promoted_week": self.promoted_week,
            "champion_after": self.champion_after,
            "deployment_policy": self.deployment_policy,
            "comparison": dict(self.comparison),
            "ui": dict(self.ui),
            "problems": list(self.problems),
        }


__all__ = [
    "ACTOR",
    "CONSUMER",
    "DEPLOYMENT",
    "EXPERIMENT",
    "MODEL",
    "MONITOR",
    "PIPELINE",
    "TRAIN_DATASET",
    "VALIDATION_DATASET",
    "Answer",
    "DemoOptions",
    "Summary",
    "Week",
]
