"""The validation gate: does a challenger replace the champion?

The worker scores the challenger and the current champion on the same
fresh, labelled holdout, measures their one-row prediction latency and
checks the training data against the champion's training data contract;
:func:`decide` applies the pipeline's :class:`~moorline.pipelines.models.GateRules`
to those measurements. It is a pure function: the same measurements and
rules always give the same decision, and every rule leaves a
:class:`Reason` naming the metric, both values and the margin, accepted or
not, so the record says why.

>>> from moorline.pipelines.models import GateRules
>>> m = Measurements(metric="mae", direction="lower",
...                  challenger={"mae": 0.30, "rmse": 0.40}, champion={"mae": 0.25, "rmse": 0.35})
>>> d = decide(GateRules(margin=0.01), m)
>>> d.accepted
False
>>> print(d.reasons[0].message)  # doctest: +NORMALIZE_WHITESPACE
mae: challenger 0.3 vs champion 0.25 (lower is better): worse by 0.05;
required: better by at least 0.01
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from moorline.monitoring.quality import Severity
from moorline.pipelines.models import GateRules


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurements:
    """What the worker measured. ``challenger``/``champion``: metric -> value on
    the holdout (``champion`` is None when the model has no champion yet);
    ``quality``: the training data's quality report summary (``max_severity``,
    ``issues``) or None when there was no contract to check against;
    ``latency_p95_ms``: the challenger's one-row p95 latency. ``champion_error``
    says why a champion that exists (``champion_version``) could not be scored:
    the gate then refuses, since nothing shows the challenger is better."""

    metric: str
    direction: str
    challenger: Mapping[str, float | None]
    champion: Mapping[str, float | None] | None = None
    champion_version: int | None = None
    champion_error: str | None = None
    quality: Mapping[str, Any] | None = None
    latency_p95_ms: float | None = None
    holdout_rows: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """One rule's verdict. ``rule``: ``beat_champion``, ``no_regression``,
    ``data_quality``, ``latency`` or ``first_version``."""

    rule: str
    passed: bool
    message: str
    metric: str | None = None
    challenger: float | None = None
    champion: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "passed": self.passed,
            "message": self.message,
            "metric": self.metric,
            "challenger": _json(self.challenger),
            "champion": _json(self.champion),
            "threshold": _json(self.threshold),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    accepted: bool
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if not r.passed)

    def summary(self) -> str:
        """One line: accepted, or the failed rules' messages."""
        if self.accepted:
            return "accepted: " + "; ".join(r.message for r in self.reasons)
        return "rejected: " + "; ".join(r.message for r in self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "reasons": [r.to_dict() for r in self.reasons]}


def _json(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _value(values: Mapping[str, float | None] | None, metric: str) -> float | None:
    if values is None:
        return None
    value = values.get(metric)
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _better(direction: str) -> str:
    return f"{direction} is better"


def decide(rules: GateRules, measured: Measurements) -> Decision:
    """Apply ``rules`` to ``measured``: accepted only when every rule passes."""
    reasons: list[Reason] = []
    metric, direction = measured.metric, measured.direction
    new = _value(measured.challenger, metric)
    if new is None:
        reasons.append(
            Reason(
                rule="beat_champion",
                passed=False,
                metric=metric,
                message=f"{metric}: the challenger has no value on the holdout",
            )
        )
    elif measured.champion is None and measured.champion_version is not None:
        reasons.append(
            Reason(
                rule="beat_champion",
                passed=False,
                metric=metric,
                challenger=new,
                message=f"{metric}: the champion (version {measured.champion_version}) could not "
                f"be scored, so the challenger cannot be compared: {measured.champion_error}",
            )
        )
    elif measured.champion is None:
        reasons.append(
            Reason(
                rule="first_version",
                passed=True,
                metric=metric,
                challenger=new,
                message=f"{metric}: challenger {_fmt(new)}; no champion to compare with "
                "(the model has no 'champion' alias yet)",
            )
        )
    else:
        reasons.append(_beat(rules, metric, direction, new, _value(measured.champion, metric)))
        reasons.extend(_regressions(rules, measured))
    reasons.extend(_quality(rules, measured.quality))
    if rules.latency_budget_ms is not None:
        reasons.append(_latency(rules.latency_budget_ms, measured.latency_p95_ms))
    return Decision(accepted=all(r.passed for r in reasons), reasons=tuple(reasons))


def _beat(rules: GateRules, metric: str, direction: str, new: float, old: float | None) -> Reason:
    if old is None:
        return Reason(
            rule="beat_champion",
            passed=True,
            metric=metric,
            challenger=new,
            message=f"{metric}: challenger {_fmt(new)}; the champion has no value to compare",
        )
    gain = (new - old) if direction == "higher" else (old - new)
    passed = gain > 0 and gain >= rules.margin
    how = (
        f"better by {_fmt(gain)}"
        if gain > 0
        else ("no better" if gain == 0 else f"worse by {_fmt(-gain)}")
    )
    required = f"better by at least {_fmt(rules.margin)}" if rules.margin > 0 else "strictly better"
    return Reason(
        rule="beat_champion",
        passed=passed,
        metric=metric,
        challenger=new,
        champion=old,
        threshold=rules.margin,
        message=f"{metric}: challenger {_fmt(new)} vs champion {_fmt(old)} "
        f"({_better(direction)}): {how}; required: {required}",
    )


def _regressions(rules: GateRules, measured: Measurements) -> list[Reason]:
    from moorline.monitoring.performance import DIRECTIONS

    out: list[Reason] = []
    for other in sorted(set(measured.challenger) | set(measured.champion or {})):
        if other == measured.metric:
            continue
        tolerance = rules.tolerances.get(other, rules.tolerance)
        if tolerance is None:
            continue
        new, old = _value(measured.challenger, other), _value(measured.champion, other)
        if new is None or old is None:
            continue  # undefined on this holdout (e.g. ROC AUC with one class): nothing to gate
        direction = DIRECTIONS.get(other, "higher")
        loss = (old - new) if direction == "higher" else (new - old)
        passed = loss <= tolerance
        how = f"worse by {_fmt(loss)}" if loss > 0 else "no worse"
        out.append(
            Reason(
                rule="no_regression",
                passed=passed,
                metric=other,
                challenger=new,
                champion=old,
                threshold=tolerance,
                message=f"{other}: challenger {_fmt(new)} vs champion {_fmt(old)} "
                f"({_better(direction)}): {how}; tolerated: {_fmt(tolerance)}",
            )
        )
    return out


def _quality(rules: GateRules, quality: Mapping[str, Any] | None) -> list[Reason]:
    if quality is None:
        return []
    worst = quality.get("max_severity")
    allowed = Severity(rules.max_quality_severity)
    issues = [str(i) for i in quality.get("issues") or ()]
    if worst is None:
        return [
            Reason(
                rule="data_quality",
                passed=True,
                message="training data quality: no issue against the champion's training data",
            )
        ]
    passed = Severity(worst).rank <= allowed.rank
    shown = "; ".join(issues[:5]) + (f" (+{len(issues) - 5} more)" if len(issues) > 5 else "")
    return [
        Reason(
            rule="data_quality",
            passed=passed,
            message=f"training data quality: worst issue {worst} (tolerated up to "
            f"{allowed.value})" + (f": {shown}" if shown else ""),
        )
    ]


def _latency(budget: float, p95: float | None) -> Reason:
    if p95 is None:
        return Reason(
            rule="latency",
            passed=False,
            metric="latency_p95_ms",
            threshold=budget,
            message="latency: not measured, so the budget cannot be checked",
        )
    return Reason(
        rule="latency",
        passed=p95 <= budget,
        metric="latency_p95_ms",
        challenger=p95,
        threshold=budget,
        message=f"latency: one-row p95 {p95:.3f} ms; budget {budget:g} ms",
    )


__all__ = ["Decision", "Measurements", "Reason", "decide"]
