"""Canary analysis: should the challenger take over, go back, or wait for more data?

A canary sends a share of a deployment's traffic to a *challenger* version
while the *champion* (the version with the larger share) answers the rest.
:func:`analyze_canary` compares the two on what the prediction log holds
since the canary started, with the rules of a :class:`CanaryPolicy`:

- ``traffic``: each side needs ``min_requests`` requests before anything is
  decided (WAIT until then);
- ``error_rate``: the challenger's share of failed requests may exceed the
  champion's by at most ``max_error_rate_increase`` (FAIL beyond);
- ``latency``: the challenger's p99 (and, if set, mean) latency may be at most
  ``max_p99_latency_ratio`` (``max_mean_latency_ratio``) times the champion's;
  differences under ``latency_slack_ms`` never count (sub-millisecond noise);
- ``performance``: with ``metric`` set (``mae``, ``accuracy``, ...), the
  realized metric from feedback labels once each side has ``min_labelled``
  labelled rows; before that, for binary classifiers that log a probability
  (``score_field``), the metric estimated by CBPE
  (:mod:`moorline.monitoring.cbpe`). The challenger may be worse by at most
  ``max_metric_regression`` (a fraction of the champion's value, 5 % by
  default; an absolute amount with ``relative_regression=False``). Metrics
  are noisy on a few hundred rows, so the decision uses the regression's
  one-sided bounds at ``confidence`` (95 %), from each side's standard error
  (per-row terms for MAE, RMSE, MAPE, accuracy, log loss and binary
  precision and recall, Hanley and McNeil's formula for binary ROC AUC, a
  bootstrap for the others, CBPE's sampling error for estimates): beyond the
  tolerance even at its lower bound -> FAIL; within it even at its upper
  bound -> PASS; in between -> WAIT for more data. Neither realized nor
  estimated performance available: WAIT;
- ``prediction_drift``: a two-sample test of the challenger's predictions
  against the champion's (``ks`` for numbers, two-sample ``chisquare`` for
  classes, or ``drift_test``), drifted when the p-value is below
  ``drift_threshold``. A retrained model *should* predict differently from a
  stale one, so by default (``on_drift="hold"``) drift only holds a promotion
  until realized labels show no regression; ``"rollback"`` treats it as a
  failure, ``"note"`` only reports it;
- ``duration``: no promotion before ``min_duration_s``.

The verdict: any FAIL -> ROLLBACK; else any WAIT -> WAIT; else PROMOTE.
Past ``max_duration_s`` a WAIT becomes ``on_deadline`` (ROLLBACK by
default; a challenger that never reached ``min_requests`` is rolled back
whatever the policy says, since nothing was measured). Every rule leaves a
reason, so the decision can be read back.

Everything here is a pure function of the logged records: no storage, no
clock; :mod:`moorline.serving.rollout` reads the log and acts on the verdict.

>>> from moorline.serving.models import LoggedPrediction, PredictionRecord
>>> def logged(i, version, output, label):
...     r = PredictionRecord(prediction_id=f"p{i}", deployment="d", model="m", version=version,
...                          at=1000 + i, inputs=[[i]], outputs=[output], latency_ms=2.0)
...     return LoggedPrediction(record=r, labels=[label])
>>> records = [logged(i, 1 if i % 2 else 2, float(i % 7), float(i % 7)) for i in range(400)]
>>> policy = CanaryPolicy(min_requests=100, metric="mae", min_labelled=50)
>>> analysis = analyze_canary(records, champion=1, challenger=2, policy=policy,
...                           started_at=1000, now=2000)
>>> analysis.verdict, [r.status.value for r in analysis.rules]
(<Verdict.PROMOTE: 'promote'>, ['pass', 'pass', 'pass', 'pass', 'pass', 'pass'])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Final, Literal, cast

from moorline.errors import InvalidArgument
from moorline.serving.models import DEFAULT_OUTPUT_FIELD, LoggedPrediction

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from moorline.monitoring.performance import Task

OnDrift = Literal["note", "hold", "rollback"]
OnDeadline = Literal["rollback", "promote"]
ON_DRIFT: Final = ("note", "hold", "rollback")
ON_DEADLINE: Final = ("rollback", "promote")
#: Upper bounds that catch typos (a week of canary, a million requests).
MAX_DURATION_S: Final = 7 * 24 * 3600.0
MAX_MIN_REQUESTS: Final = 1_000_000
#: Monte Carlo draws of CBPE's sampling error.
_CBPE_DRAWS: Final = 100
#: Bootstrap resamples for the standard error of a metric that is not a mean,
#: drawn in blocks of at most this many row indices.
_BOOTSTRAP_DRAWS: Final = 100
_BOOTSTRAP_CELLS: Final = 2_000_000


class Verdict(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    WAIT = "wait"


class RuleStatus(StrEnum):
    PASS = "pass"  # noqa: S105 (a rule status, not a password)
    FAIL = "fail"
    WAIT = "wait"
    SKIP = "skip"


def _number(value: object, what: str, *, low: float, high: float = math.inf) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        bound = f"[{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise InvalidArgument(f"Canary policy: {what} must be a number {bound}, got {value!r}")
    return float(value)


def _count(value: object, what: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgument(
            f"Canary policy: {what} must be an integer in [{low}, {high}], got {value!r}"
        )
    return value


def _optional_name(value: object, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value or len(value) > 200):
        raise InvalidArgument(f"Canary policy: {what} must be a name (1-200 characters) or null")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryPolicy:
    """The rules a canary is judged by (see the module docs for each one).

    >>> CanaryPolicy(metric="mae", max_metric_regression=0.05).task
    'regression'
    >>> CanaryPolicy.from_dict(CanaryPolicy(metric="accuracy").to_dict()).metric
    'accuracy'
    >>> CanaryPolicy(metric="speed")
    Traceback (most recent call last):
    ...
    moorline.errors.InvalidArgument: Canary policy: unknown metric 'speed'; use one of ...
    """

    min_requests: int = 100
    min_duration_s: float = 0.0
    max_duration_s: float = 3600.0
    on_deadline: OnDeadline = "rollback"
    max_error_rate_increase: float = 0.01
    max_p99_latency_ratio: float | None = 2.0
    max_mean_latency_ratio: float | None = None
    latency_slack_ms: float = 5.0
    #: below this many answered requests per side, the p99 limit is applied to the
    #: medians instead: with few samples a p99 is the slowest request or two, and a
    #: single pause of a busy machine would decide the canary
    min_latency_samples: int = 500
    metric: str | None = None
    max_metric_regression: float = 0.05
    relative_regression: bool = True
    #: one-sided confidence that the regression is beyond (roll back) or within
    #: (promote) the tolerance; None compares the values alone
    confidence: float | None = 0.95
    min_labelled: int = 50
    estimate: bool = True
    score_threshold: float = 0.5
    pos_label: str | int | float | bool = 1
    prediction_field: str | None = None
    score_field: str | None = None
    drift_test: str | None = None
    drift_threshold: float | None = 0.01
    on_drift: OnDrift = "hold"
    #: the registry alias moved to the challenger on promotion (None: move none)
    alias: str | None = "champion"

    def __post_init__(self) -> None:
        from moorline.monitoring.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS

        _count(self.min_requests, "min_requests", low=1, high=MAX_MIN_REQUESTS)
        _count(self.min_labelled, "min_labelled", low=1, high=MAX_MIN_REQUESTS)
        _number(self.min_duration_s, "min_duration_s", low=0.0, high=MAX_DURATION_S)
        _number(self.max_duration_s, "max_duration_s", low=1.0, high=MAX_DURATION_S)
        if self.min_duration_s > self.max_duration_s:
            raise InvalidArgument("Canary policy: min_duration_s is longer than max_duration_s")
        if self.on_deadline not in ON_DEADLINE:
            raise InvalidArgument(f"Canary policy: on_deadline must be one of {list(ON_DEADLINE)}")
        if self.on_drift not in ON_DRIFT:
            raise InvalidArgument(f"Canary policy: on_drift must be one of {list(ON_DRIFT)}")
        _number(self.max_error_rate_increase, "max_error_rate_increase", low=0.0, high=1.0)
        for name in ("max_p99_latency_ratio", "max_mean_latency_ratio"):
            value = getattr(self, name)
            if value is not None:
                _number(value, name, low=1.0)
        _number(self.latency_slack_ms, "latency_slack_ms", low=0.0)
        _count(self.min_latency_samples, "min_latency_samples", low=1, high=MAX_MIN_REQUESTS)
        _number(self.max_metric_regression, "max_metric_regression", low=0.0)
        _number(self.score_threshold, "score_threshold", low=0.0, high=1.0)
        if self.confidence is not None:
            _number(self.confidence, "confidence", low=0.5, high=0.9999)
        if self.drift_threshold is not None:
            _number(self.drift_threshold, "drift_threshold", low=0.0)
        known = (*REGRESSION_METRICS, *CLASSIFICATION_METRICS)
        if self.metric is not None and self.metric not in known:
            raise InvalidArgument(
                f"Canary policy: unknown metric {self.metric!r}; use one of {', '.join(known)}"
            )
        for flag in ("relative_regression", "estimate"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidArgument(f"Canary policy: {flag} must be true or false")
        if not isinstance(self.pos_label, str | int | float | bool):
            raise InvalidArgument("Canary policy: pos_label must be a string, number or boolean")
        _optional_name(self.prediction_field, "prediction_field")
        _optional_name(self.score_field, "score_field")
        _optional_name(self.alias, "alias")
        if self.drift_test is not None:
            from moorline.monitoring.stattests import available_stattests

            if self.drift_test not in available_stattests():
                raise InvalidArgument(
                    f"Canary policy: unknown drift test {self.drift_test!r}; use one of "
                    + ", ".join(available_stattests())
                )

    @property
    def task(self) -> Task | None:
        """``"regression"`` or ``"classification"`` from the metric; None without one."""
        from moorline.monitoring.performance import REGRESSION_METRICS

        if self.metric is None:
            return None
        return "regression" if self.metric in REGRESSION_METRICS else "classification"

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _POLICY_FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CanaryPolicy:
        """A policy from its JSON form; unknown keys are refused (a typo must not
        silently fall back to a default)."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidArgument("A canary policy is an object")
        unknown = sorted(set(data) - set(_POLICY_FIELDS))
        if unknown:
            raise InvalidArgument(
                f"Unknown canary policy key(s) {unknown}: use {sorted(_POLICY_FIELDS)}"
            )
        return cls(**dict(data))


_POLICY_FIELDS: Final = tuple(CanaryPolicy.__dataclass_fields__)


# -- the result -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SideSummary:
    """What one version did in the canary window (answers callers saw, no shadows)."""

    version: int
    requests: int
    errors: int
    rows: int
    labelled_rows: int
    mean_latency_ms: float | None
    p99_latency_ms: float | None
    p50_latency_ms: float | None = None
    #: answered requests whose latency is known (requests less errors)
    latency_samples: int = 0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
            "mean_latency_ms": self.mean_latency_ms,
            "p99_latency_ms": self.p99_latency_ms,
            "p50_latency_ms": self.p50_latency_ms,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleResult:
    """One rule's outcome and the sentence that explains it."""

    rule: str
    status: RuleStatus
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status.value,
            "reason": self.reason,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryAnalysis:
    """The verdict on a canary at ``at`` (ms), with every rule's reason.

    ``decided_by`` is ``"rules"``, or ``"deadline"`` when ``max_duration_s``
    turned a WAIT into the policy's ``on_deadline``.
    """

    verdict: Verdict
    champion: SideSummary
    challenger: SideSummary
    rules: tuple[RuleResult, ...]
    started_at: int
    at: int
    deadline_at: int
    decided_by: Literal["rules", "deadline"] = "rules"

    @property
    def reasons(self) -> list[str]:
        """Every rule's reason, prefixed with its name and status."""
        return [f"{r.rule} [{r.status.value}]: {r.reason}" for r in self.rules]

    def rule(self, name: str) -> RuleResult:
        for r in self.rules:
            if r.rule == name:
                return r
        raise KeyError(name)

    def summary(self) -> str:
        """One paragraph for an audit entry: the verdict and the reasons that made it."""
        deciding = {
            Verdict.ROLLBACK: (RuleStatus.FAIL,),
            Verdict.WAIT: (RuleStatus.WAIT,),
            Verdict.PROMOTE: (RuleStatus.PASS,),
        }[self.verdict]
        chosen = [r for r in self.rules if r.status in deciding]
        if self.decided_by == "deadline":
            chosen = [r for r in self.rules if r.rule == "deadline"] + [
                r for r in self.rules if r.status is RuleStatus.WAIT
            ]
        head = (
            f"canary v{self.challenger.version} vs v{self.champion.version}: "
            f"{self.verdict.value.upper()}"
        )
        return head + "; " + "; ".join(f"{r.rule}: {r.reason}" for r in chosen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "decided_by": self.decided_by,
            "champion": self.champion.to_dict(),
            "challenger": self.challenger.to_dict(),
            "rules": [r.to_dict() for r in self.rules],
            "started_at": self.started_at,
            "at": self.at,
            "deadline_at": self.deadline_at,
        }


# -- reading the log --------------------------------------------------------------------


class _Unreadable(Exception):
    pass


@dataclass(slots=True)
class _Side:
    summary: SideSummary
    predictions: list[Any]
    labels: list[Any]
    scores: list[float] | None
    problem: str | None


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _field(output: Any, name: str | None, *, what: str) -> Any:
    """The value ``name`` of one row's output (the whole output when it is a scalar)."""
    if isinstance(output, Mapping):
        if name is None:
            if DEFAULT_OUTPUT_FIELD in output:
                return output[DEFAULT_OUTPUT_FIELD]
            if len(output) == 1:
                return next(iter(output.values()))
            raise _Unreadable(
                f"outputs are objects with fields {sorted(map(str, output))}; "
                f"set the policy's {what}_field"
            )
        if name not in output:
            raise _Unreadable(
                f"an output has no field {name!r} (it has {sorted(map(str, output))})"
            )
        return output[name]
    if isinstance(output, list | tuple):
        if name is None and len(output) == 1:
            return output[0]
        raise _Unreadable(
            f"outputs are lists of {len(output)} values with no names; the {what} cannot be "
            "told apart"
        )
    if name is not None:
        raise _Unreadable(f"outputs are single values; they have no field {name!r}")
    return output


def _score(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Unreadable(f"a score is not a finite number: {value!r}")
    return float(value)


def _side(records: Sequence[LoggedPrediction], version: int, policy: CanaryPolicy) -> _Side:
    import numpy as np

    requests = errors = 0
    latencies: list[float] = []
    predictions: list[Any] = []
    labels: list[Any] = []
    scores: list[float] | None = [] if policy.score_field is not None else None
    problem: str | None = None
    for logged in records:
        record = logged.record
        requests += 1
        if record.error_id is not None:
            errors += 1
            continue
        latencies.append(float(record.latency_ms))
        given = logged.labels
        for i, output in enumerate(record.outputs):
            label = given[i] if given is not None and i < len(given) else None
            labels.append(None if _is_missing(label) else label)
            if problem is not None:
                predictions.append(None)
                continue
            try:
                predictions.append(_field(output, policy.prediction_field, what="prediction"))
                if scores is not None:
                    scores.append(_score(_field(output, policy.score_field, what="score")))
            except _Unreadable as exc:
                problem = str(exc)
                predictions.append(None)
    lat = np.asarray(latencies, dtype=np.float64)
    summary = SideSummary(
        version=version,
        requests=requests,
        errors=errors,
        rows=len(predictions),
        labelled_rows=sum(1 for v in labels if v is not None),
        mean_latency_ms=float(lat.mean()) if lat.size else None,
        p99_latency_ms=float(np.percentile(lat, 99)) if lat.size else None,
        p50_latency_ms=float(np.percentile(lat, 50)) if lat.size else None,
        latency_samples=int(lat.size),
    )
    return _Side(
        summary=summary,
        predictions=predictions,
        labels=labels,
        scores=scores,
        problem=problem,
    )


# -- the rules --------------------------------------------------------------------------


def _traffic_rule(h: SideSummary, c: SideSummary, policy: CanaryPolicy) -> RuleResult:
    details = {"champion": h.requests, "challenger": c.requests, "min": policy.min_requests}
    counts = f"champion v{h.version} has {h.requests}, challenger v{c.version} {c.requests}"
    if min(h.requests, c.requests) < policy.min_requests:
        return RuleResult(
            rule="traffic",
            status=RuleStatus.WAIT,
            reason=f"too few requests to decide: {counts}; each side needs {policy.min_requests}",
            details=details,
        )
    return RuleResult(
        rule="traffic",
        status=RuleStatus.PASS,
        reason=f"{counts} requests (at least {policy.min_requests} each)",
        details=details,
    )


def _error_rule(h: SideSummary, c: SideSummary, policy: CanaryPolicy) -> RuleResult:
    rh, rc = h.error_rate or 0.0, c.error_rate or 0.0
    increase = rc - rh
    allowed = policy.max_error_rate_increase
    text = (
        f"challenger error rate {rc:.2%} ({c.errors}/{c.requests}) vs champion "
        f"{rh:.2%} ({h.errors}/{h.requests})"
    )
    details = {"champion": rh, "challenger": rc, "increase": increase, "max_increase": allowed}
    if increase > allowed:
        return RuleResult(
            rule="error_rate",
            status=RuleStatus.FAIL,
            reason=f"{text}: up {increase:.2%}, more than the {allowed:.2%} allowed",
            details=details,
        )
    return RuleResult(
        rule="error_rate",
        status=RuleStatus.PASS,
        reason=f"{text}: within the {allowed:.2%} allowed",
        details=details,
    )


def _latency_rule(h: SideSummary, c: SideSummary, policy: CanaryPolicy) -> RuleResult:
    tail = ("p99", h.p99_latency_ms, c.p99_latency_ms)
    few = min(h.latency_samples, c.latency_samples) < policy.min_latency_samples
    if few:
        # Too few samples for a stable p99: hold the medians to the same limit.
        tail = ("median", h.p50_latency_ms, c.p50_latency_ms)
    checks = [
        (*tail, policy.max_p99_latency_ratio),
        ("mean", h.mean_latency_ms, c.mean_latency_ms, policy.max_mean_latency_ratio),
    ]
    checks = [x for x in checks if x[3] is not None]
    if not checks:
        return RuleResult(rule="latency", status=RuleStatus.SKIP, reason="no latency limit set")
    details: dict[str, Any] = {"slack_ms": policy.latency_slack_ms}
    parts: list[str] = []
    if few and policy.max_p99_latency_ratio is not None:
        parts.append(
            f"fewer than {policy.min_latency_samples} answers on a side, so the p99 limit "
            "applies to the medians"
        )
    failed = False
    for name, champion, challenger, limit in checks:
        assert limit is not None
        if champion is None or challenger is None:
            parts.append(f"{name} latency unknown (a side answered no request)")
            continue
        ratio = challenger / champion if champion > 0 else math.inf
        details[name] = {
            "champion": champion,
            "challenger": challenger,
            "ratio": ratio if math.isfinite(ratio) else None,
        }
        over = ratio > limit and challenger - champion > policy.latency_slack_ms
        failed = failed or over
        ratio_text = f"{ratio:.2f}x" if math.isfinite(ratio) else "inf x"
        verdict = f"more than the {limit:g}x allowed" if over else f"within {limit:g}x"
        parts.append(
            f"{name} latency {challenger:.1f} ms vs {champion:.1f} ms ({ratio_text}, {verdict})"
        )
    return RuleResult(
        rule="latency",
        status=RuleStatus.FAIL if failed else RuleStatus.PASS,
        reason="; ".join(parts),
        details=details,
    )


@dataclass(frozen=True, slots=True)
class _Measured:
    champion: float
    challenger: float
    how: str
    details: dict[str, Any]
    #: standard errors of the two values (None: unknown, decide on the values alone)
    errors: tuple[float, float] | None = None


def _mean_error(per_row: npt.NDArray[np.float64]) -> float | None:
    import numpy as np

    if per_row.size < 2:
        return None
    return float(np.std(per_row, ddof=1) / math.sqrt(per_row.size))


def _bootstrap(
    statistic: Callable[[npt.NDArray[np.intp]], npt.NDArray[np.float64]],
    n: int,
    rng: np.random.Generator,
) -> float | None:
    """The standard deviation of ``statistic`` over bootstrap resamples of ``n``
    rows, computed a block of resamples at a time (``statistic`` maps a
    ``(draws, n)`` matrix of row indices to one value per draw)."""
    import numpy as np

    block = max(1, min(_BOOTSTRAP_DRAWS, _BOOTSTRAP_CELLS // n))
    values = []
    done = 0
    while done < _BOOTSTRAP_DRAWS:
        size = min(block, _BOOTSTRAP_DRAWS - done)
        values.append(statistic(rng.integers(0, n, (size, n))))
        done += size
    drawn = np.concatenate(values)
    drawn = drawn[np.isfinite(drawn)]
    if drawn.size < _BOOTSTRAP_DRAWS // 2:
        return None
    return float(np.std(drawn, ddof=1))


def _standard_error(
    metric: str,
    truth: list[Any],
    predicted: list[Any],
    scores: list[float] | None,
    *,
    value: float,
    task: Task,
    labels: list[Any] | None,
    pos_label: Any,
    seed: int,
) -> float | None:
    """The standard error of ``metric`` (whose value on these rows is ``value``).

    Metrics that are means (MAE, MAPE, accuracy, binary log loss) or
    proportions (binary precision and recall) from their per-row terms; RMSE
    by the delta method; binary ROC AUC by Hanley and McNeil's formula;
    binary F1 and R² by a seeded bootstrap; multiclass (macro) metrics by a
    seeded bootstrap of :func:`performance`.
    """
    import numpy as np

    from moorline.monitoring.performance import performance

    n = len(truth)
    if n < 2:
        return None
    if metric in ("mae", "rmse", "mape"):
        y = np.asarray(truth, dtype=np.float64)
        p = np.asarray(predicted, dtype=np.float64)
        if metric == "mae":
            return _mean_error(np.abs(y - p))
        if metric == "mape":
            nonzero = y != 0
            return _mean_error(np.abs(y[nonzero] - p[nonzero]) / np.abs(y[nonzero]))
        squares = (y - p) ** 2
        rmse = math.sqrt(float(squares.mean()))
        se = _mean_error(squares)
        return None if se is None else (se / (2 * rmse) if rmse > 0 else 0.0)
    if metric == "accuracy":
        return _mean_error(
            np.asarray([a == b for a, b in zip(truth, predicted, strict=True)], float)
        )
    binary = labels is not None and len(labels) == 2
    positive = np.asarray([v == pos_label for v in truth], dtype=bool)
    said = np.asarray([v == pos_label for v in predicted], dtype=bool)
    if binary and metric == "precision":
        return _mean_error(positive[said].astype(np.float64))
    if binary and metric == "recall":
        return _mean_error(said[positive].astype(np.float64))
    if binary and metric == "roc_auc":
        n1, n2 = int(positive.sum()), int((~positive).sum())
        q1, q2 = value / (2 - value), 2 * value**2 / (1 + value)
        variance = (
            value * (1 - value) + (n1 - 1) * (q1 - value**2) + (n2 - 1) * (q2 - value**2)
        ) / max(1, n1 * n2)
        return math.sqrt(max(0.0, variance))
    if binary and metric == "log_loss" and scores is not None:
        s = np.clip(np.asarray(scores, dtype=np.float64), 1e-15, 1 - 1e-15)
        return _mean_error(-np.log(np.where(positive, s, 1 - s)))
    rng = np.random.default_rng(seed)
    if binary and metric == "f1":
        hit, extra, miss = positive & said, ~positive & said, positive & ~said

        def f1(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
            tp, fp, fn = hit[rows].sum(1), extra[rows].sum(1), miss[rows].sum(1)
            denominator = 2 * tp + fp + fn
            return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)

        return _bootstrap(f1, n, rng)
    if metric == "r2":
        y = np.asarray(truth, dtype=np.float64)
        squares = (y - np.asarray(predicted, dtype=np.float64)) ** 2

        def r2(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
            total = y[rows].var(axis=1) * n
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.asarray(1 - squares[rows].sum(1) / total, dtype=np.float64)

        return _bootstrap(r2, n, rng)
    # Multiclass (macro) metrics: the slow, general way.
    t, pr = np.asarray(truth, dtype=object), np.asarray(predicted, dtype=object)
    needs_scores = metric in ("roc_auc", "log_loss")
    sc = None if scores is None or not needs_scores else np.asarray(scores, dtype=np.float64)
    values = []
    for _ in range(_BOOTSTRAP_DRAWS):
        rows = rng.integers(0, n, n)
        try:
            drawn = performance(
                t[rows].tolist(),
                pr[rows].tolist(),
                task=task,
                y_score=None if sc is None else sc[rows],
                labels=labels,
                pos_label=pos_label,
            ).metrics.get(metric)
        except InvalidArgument:
            drawn = None
        if drawn is not None and math.isfinite(drawn):
            values.append(drawn)
    if len(values) < _BOOTSTRAP_DRAWS // 2:
        return None
    return float(np.std(values, ddof=1))


def _labelled(side: _Side) -> tuple[list[Any], list[Any], list[float] | None]:
    rows = [i for i, v in enumerate(side.labels) if v is not None]
    truth = [side.labels[i] for i in rows]
    predicted = [side.predictions[i] for i in rows]
    scores = [side.scores[i] for i in rows] if side.scores is not None else None
    return truth, predicted, scores


def _realized(h: _Side, c: _Side, policy: CanaryPolicy) -> _Measured | str:
    """Both sides' realized metric, or why it is not known."""
    from moorline.monitoring.performance import performance, resolve_classes

    metric, task = cast(str, policy.metric), cast("Task", policy.task)
    th, ph, sh = _labelled(h)
    tc, pc, sc = _labelled(c)
    labels = None
    try:
        if task == "classification":
            labels = resolve_classes([*th, *tc], [*ph, *pc], None, policy.pos_label)
        values = []
        for truth, predicted, scores in ((th, ph, sh), (tc, pc, sc)):
            result = performance(
                truth,
                predicted,
                task=task,
                y_score=scores,
                labels=labels,
                pos_label=policy.pos_label,
            )
            values.append((result.metrics.get(metric), result.notes))
    except InvalidArgument as exc:
        return f"realized {metric} cannot be computed: {exc.message}"
    (vh, notes_h), (vc, notes_c) = values
    if vh is None or vc is None:
        notes = "; ".join(dict.fromkeys([*notes_h, *notes_c]))
        return f"realized {metric} is undefined on the labelled rows ({notes})"
    errors = None
    if policy.confidence is not None:
        se = [
            _standard_error(
                metric,
                truth,
                predicted,
                scores,
                value=float(value),
                task=task,
                labels=labels,
                pos_label=policy.pos_label,
                seed=seed,
            )
            for seed, (value, (truth, predicted, scores)) in enumerate(
                ((vh, (th, ph, sh)), (vc, (tc, pc, sc)))
            )
        ]
        if se[0] is not None and se[1] is not None:
            errors = (se[0], se[1])
    return _Measured(
        champion=float(vh),
        challenger=float(vc),
        how=f"realized {metric} on {len(tc)} vs {len(th)} labelled rows",
        details={"source": "realized", "labelled": {"champion": len(th), "challenger": len(tc)}},
        errors=errors,
    )


def _estimate_one(side: _Side, policy: CanaryPolicy) -> tuple[float | None, dict[str, Any]]:
    import numpy as np

    from moorline.monitoring.cbpe import CBPE, expected_metrics

    metric = cast(str, policy.metric)
    scores = np.asarray(side.scores, dtype=np.float64)
    mask = np.asarray([v is not None for v in side.labels], dtype=bool)
    estimator = CBPE(
        metrics=[metric], threshold=policy.score_threshold, n_draws=_CBPE_DRAWS, random_state=0
    )
    try:
        estimator.fit(
            scores[mask],
            np.asarray([side.labels[i] for i in np.flatnonzero(mask)], dtype=object),
            pos_label=policy.pos_label,
        )
    except InvalidArgument:
        # Too few labels (or one class) to fit CBPE: trust the model's own
        # probabilities, which CBPE would also do when calibration does not help.
        if scores.size and (scores.min() < 0 or scores.max() > 1):
            raise InvalidArgument(
                f"scores must be probabilities in [0, 1]; found [{scores.min():g}, "
                f"{scores.max():g}]"
            ) from None
        value = expected_metrics(scores, scores, scores >= policy.score_threshold, [metric])[metric]
        return value, {"calibrated": False, "fitted_on": 0}
    estimate = estimator.estimate(scores)[metric]
    return estimate.value, {
        "calibrated": bool(estimator.calibrated_),
        "fitted_on": int(mask.sum()),
        "sampling_error": estimate.sampling_error,
    }


def _estimated(h: _Side, c: _Side, policy: CanaryPolicy) -> _Measured | str:
    from moorline.monitoring.cbpe import SUPPORTED_METRICS

    metric = cast(str, policy.metric)
    if not policy.estimate:
        return "estimation is off in the policy"
    if policy.task != "classification" or metric not in SUPPORTED_METRICS:
        return f"{metric} cannot be estimated without labels (CBPE estimates {SUPPORTED_METRICS})"
    if h.scores is None or c.scores is None:
        return "no estimate: the policy names no score_field (the positive class's probability)"
    classes = {v for v in [*h.predictions, *c.predictions, *h.labels, *c.labels] if v is not None}
    if len(classes | {policy.pos_label}) > 2:
        return "no estimate: CBPE is for binary classifiers"
    try:
        vh, dh = _estimate_one(h, policy)
        vc, dc = _estimate_one(c, policy)
    except InvalidArgument as exc:
        return f"no estimate: {exc.message}"
    if vh is None or vc is None:
        return f"no estimate: {metric} is undefined on these scores"
    eh, ec = dh.get("sampling_error"), dc.get("sampling_error")
    return _Measured(
        champion=vh,
        challenger=vc,
        how=f"{metric} estimated by CBPE from {c.summary.rows} vs {h.summary.rows} predictions",
        details={"source": "estimated", "estimate": {"champion": dh, "challenger": dc}},
        errors=(eh, ec) if policy.confidence is not None and eh and ec else None,
    )


def _performance_rule(h: _Side, c: _Side, policy: CanaryPolicy) -> tuple[RuleResult, bool]:
    """The performance rule, and whether it passed on realized labels."""
    from moorline.monitoring.performance import DIRECTIONS

    if policy.metric is None:
        return RuleResult(
            rule="performance", status=RuleStatus.SKIP, reason="the policy names no metric"
        ), False
    metric = policy.metric
    problem = h.problem or c.problem
    if problem is not None:
        return RuleResult(
            rule="performance",
            status=RuleStatus.WAIT,
            reason=f"predictions cannot be read: {problem}",
        ), False
    nh, nc = h.summary.labelled_rows, c.summary.labelled_rows
    measured: _Measured | str
    if min(nh, nc) >= policy.min_labelled:
        measured = _realized(h, c, policy)
    else:
        why = (
            f"realized {metric} needs {policy.min_labelled} labelled rows per side "
            f"(champion {nh}, challenger {nc})"
        )
        estimated = _estimated(h, c, policy)
        measured = estimated if isinstance(estimated, _Measured) else f"{why}; {estimated}"
    if isinstance(measured, str):
        return RuleResult(rule="performance", status=RuleStatus.WAIT, reason=measured), False
    direction = DIRECTIONS[metric]
    worse = (
        measured.champion - measured.challenger
        if direction == "higher"
        else measured.challenger - measured.champion
    )
    tolerance = policy.max_metric_regression
    allowed = tolerance * abs(measured.champion) if policy.relative_regression else tolerance
    # The regression's one-sided bounds at the policy's confidence (the value
    # itself when its standard error is unknown or no confidence is asked).
    low = high = worse
    bounds = ""
    if measured.errors is not None and policy.confidence is not None:
        z = NormalDist().inv_cdf(policy.confidence)
        spread = z * math.hypot(*measured.errors)
        low, high = worse - spread, worse + spread
        bounds = f" ({policy.confidence:.0%} bounds {low:.4g} to {high:.4g})"
    details = {
        **measured.details,
        "metric": metric,
        "direction": direction,
        "champion": measured.champion,
        "challenger": measured.challenger,
        "worse_by": worse,
        "worse_bounds": [low, high],
        "standard_errors": None if measured.errors is None else list(measured.errors),
        "allowed": allowed,
    }
    text = (
        f"{measured.how}: challenger {measured.challenger:.4g}, champion "
        f"{measured.champion:.4g} ({direction} is better)"
    )
    change = f"better by {-worse:.4g}" if worse < 0 else f"worse by {worse:.4g}"
    if low > allowed:
        return RuleResult(
            rule="performance",
            status=RuleStatus.FAIL,
            reason=f"{text}: {change}{bounds}, more than the {allowed:.4g} allowed",
            details=details,
        ), False
    if high > allowed:
        return RuleResult(
            rule="performance",
            status=RuleStatus.WAIT,
            reason=f"{text}: {change}{bounds}, not yet clearly within or beyond the "
            f"{allowed:.4g} allowed; waiting for more data",
            details=details,
        ), False
    realized = measured.details.get("source") == "realized"
    return RuleResult(
        rule="performance",
        status=RuleStatus.PASS,
        reason=f"{text}: {change}{bounds}, within the {allowed:.4g} allowed",
        details=details,
    ), realized


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _drift_rule(h: _Side, c: _Side, policy: CanaryPolicy, realized_ok: bool) -> RuleResult:
    import pandas as pd

    from moorline.monitoring.drift import compute_drift

    if policy.drift_threshold is None:
        return RuleResult(
            rule="prediction_drift", status=RuleStatus.SKIP, reason="drift test off in the policy"
        )
    if h.problem or c.problem:
        return RuleResult(
            rule="prediction_drift",
            status=RuleStatus.SKIP,
            reason=f"predictions cannot be read: {h.problem or c.problem}",
        )
    ref = [v for v in h.predictions if v is not None]
    cur = [v for v in c.predictions if v is not None]
    numeric = policy.task != "classification" and all(_is_number(v) for v in [*ref, *cur])
    kind = "numerical" if numeric else "categorical"
    if not numeric:
        ref, cur = [str(v) for v in ref], [str(v) for v in cur]
    test = policy.drift_test or ("ks" if numeric else "chisquare")
    try:
        report = compute_drift(
            pd.DataFrame({"prediction": ref}),
            pd.DataFrame({"prediction": cur}),
            preset="default",
            method=test,
            threshold=policy.drift_threshold,
            column_mapping={kind: ["prediction"]},
        )
    except InvalidArgument as exc:
        return RuleResult(
            rule="prediction_drift",
            status=RuleStatus.SKIP,
            reason=f"the drift test could not run: {exc.message}",
        )
    column = report.columns[0]
    if column.error:
        return RuleResult(
            rule="prediction_drift",
            status=RuleStatus.SKIP,
            reason=f"the drift test could not run: {column.error}",
        )
    details = {
        "stattest": column.stattest,
        "score": None if math.isnan(column.score) else column.score,
        "threshold": column.threshold,
        "drift_detected": column.drift_detected,
        "champion_rows": len(ref),
        "challenger_rows": len(cur),
    }
    score = f"{column.stattest} {column.score:.3g} (threshold {column.threshold:g})"
    if not column.drift_detected:
        return RuleResult(
            rule="prediction_drift",
            status=RuleStatus.PASS,
            reason=f"{score}: the challenger predicts like the champion",
            details=details,
        )
    drifted = f"{score}: the challenger's predictions are distributed differently"
    if policy.on_drift == "rollback":
        status, tail = RuleStatus.FAIL, "the policy rolls back on prediction drift"
    elif policy.on_drift == "note" or realized_ok:
        status = RuleStatus.PASS
        tail = (
            "realized performance shows no regression"
            if realized_ok
            else "noted only (on_drift=note)"
        )
    else:
        status, tail = RuleStatus.WAIT, "held until realized performance shows no regression"
    return RuleResult(
        rule="prediction_drift", status=status, reason=f"{drifted}; {tail}", details=details
    )


def _duration_rule(started_at: int, now: int, policy: CanaryPolicy) -> RuleResult:
    ran = max(0, now - started_at) / 1000.0
    details = {"ran_s": ran, "min_duration_s": policy.min_duration_s}
    if ran < policy.min_duration_s:
        return RuleResult(
            rule="duration",
            status=RuleStatus.WAIT,
            reason=f"ran {ran:.0f} s of the {policy.min_duration_s:g} s minimum",
            details=details,
        )
    return RuleResult(
        rule="duration",
        status=RuleStatus.PASS,
        reason=f"ran {ran:.0f} s (minimum {policy.min_duration_s:g} s)",
        details=details,
    )


def _skipped(rule: str) -> RuleResult:
    return RuleResult(
        rule=rule, status=RuleStatus.SKIP, reason="not evaluated: too few requests yet"
    )


# -- the analysis -----------------------------------------------------------------------


def analyze_canary(
    records: Sequence[LoggedPrediction],
    *,
    champion: int,
    challenger: int,
    policy: CanaryPolicy,
    started_at: int,
    now: int,
) -> CanaryAnalysis:
    """The verdict on ``challenger`` against ``champion`` from the logged ``records``.

    ``records``: logged predictions of the deployment (any versions; shadow
    answers and records before ``started_at`` are ignored), with their
    feedback labels joined. ``started_at``/``now``: ms since the epoch.
    """
    if champion == challenger:
        raise InvalidArgument(f"The champion and the challenger are both v{champion}")
    if now < started_at:
        raise InvalidArgument("now is before the canary started")
    mine: dict[int, list[LoggedPrediction]] = {champion: [], challenger: []}
    for logged in records:
        r = logged.record
        if r.shadow or r.at < started_at or r.version not in mine:
            continue
        mine[r.version].append(logged)
    h = _side(mine[champion], champion, policy)
    c = _side(mine[challenger], challenger, policy)
    traffic = _traffic_rule(h.summary, c.summary, policy)
    rules = [traffic]
    if traffic.status is RuleStatus.PASS:
        performance_rule, realized_ok = _performance_rule(h, c, policy)
        rules += [
            _error_rule(h.summary, c.summary, policy),
            _latency_rule(h.summary, c.summary, policy),
            performance_rule,
            _drift_rule(h, c, policy, realized_ok),
        ]
    else:
        rules += [_skipped(n) for n in ("error_rate", "latency", "performance", "prediction_drift")]
    rules.append(_duration_rule(started_at, now, policy))
    statuses = {r.status for r in rules}
    if RuleStatus.FAIL in statuses:
        verdict = Verdict.ROLLBACK
    elif RuleStatus.WAIT in statuses:
        verdict = Verdict.WAIT
    else:
        verdict = Verdict.PROMOTE
    deadline_at = started_at + round(policy.max_duration_s * 1000)
    decided_by: Literal["rules", "deadline"] = "rules"
    if verdict is Verdict.WAIT and now >= deadline_at:
        decided_by = "deadline"
        measured = traffic.status is RuleStatus.PASS
        if policy.on_deadline == "promote" and measured:
            verdict = Verdict.PROMOTE
            text = "the policy promotes at the deadline"
        elif policy.on_deadline == "promote":
            verdict = Verdict.ROLLBACK
            text = "rolled back although the policy promotes at the deadline: too few requests"
        else:
            verdict = Verdict.ROLLBACK
            text = "the policy rolls back at the deadline"
        rules.append(
            RuleResult(
                rule="deadline",
                status=RuleStatus.PASS if verdict is Verdict.PROMOTE else RuleStatus.FAIL,
                reason=f"still undecided after {policy.max_duration_s:g} s; {text}",
                details={"deadline_at": deadline_at, "on_deadline": policy.on_deadline},
            )
        )
    return CanaryAnalysis(
        verdict=verdict,
        champion=h.summary,
        challenger=c.summary,
        rules=tuple(rules),
        started_at=started_at,
        at=now,
        deadline_at=deadline_at,
        decided_by=decided_by,
    )


__all__ = [
    "CanaryAnalysis",
    "CanaryPolicy",
    "RuleResult",
    "RuleStatus",
    "SideSummary",
    "Verdict",
    "analyze_canary",
]
