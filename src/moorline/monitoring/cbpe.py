"""Confidence-based performance estimation (CBPE) for binary classifiers.

Labels arrive late; a classifier's probabilities arrive with each prediction.
If the probabilities are *calibrated* (of the rows scored 0.8, 80 % are
positive), the confusion matrix a window will show once labelled can be
expected now: a row predicted positive with calibrated probability ``p`` is
a true positive with probability ``p`` and a false positive with ``1 - p``.
This is NannyML's CBPE; its one assumption is that the relation between
inputs and label, P(y | x), has not changed (covariate shift is fine, concept
drift is not), and it is as good as the calibration.

How moorline does it
--------------------

1. **Calibration** (:meth:`CBPE.fit`, on a labelled reference). An isotonic
   regression of the labels on the scores (scikit-learn's
   ``IsotonicRegression``, clipped to [0, 1]). As NannyML does, it is used
   only when it helps: over 10 stratified shuffle splits (90 % fit, 10 %
   held out) the expected calibration error (ECE, 10 equal-frequency bins)
   of the calibrated held-out scores is compared with the raw scores'; the
   calibrator is kept (refit on the whole reference) when its mean ECE is
   lower. Scores that are only 0 and 1 are never calibrated.
   ``calibration="always"`` or ``"never"`` overrides the decision.
2. **Expected confusion matrix** on a window: predictions are the model's
   (raw score ``>= threshold``); with ``p`` the calibrated probabilities,
   ``TP = sum(p | pred)``, ``FP = sum(1-p | pred)``, ``FN = sum(p | not pred)``,
   ``TN = sum(1-p | not pred)``. Accuracy is ``(TP+TN)/n`` (``mean(max(p, 1-p))``
   when the threshold splits calibrated probabilities at 0.5), precision
   ``TP/(TP+FP)``, recall ``TP/(TP+FN)``, F1 ``2TP/(2TP+FP+FN)``: ratios of
   expected counts, as NannyML computes them.
3. **Expected ROC AUC**. ROC AUC is the share of (positive, negative) pairs
   the model's score orders correctly, ties counting half. With labels
   unknown, each pair of distinct rows ``(i, j)`` is a (positive, negative)
   pair with probability ``p_i (1 - p_j)``; the estimate is the expected
   number of correctly ordered pairs over the expected number of pairs,
   ``sum_{i != j} p_i (1-p_j) [s_i > s_j or half if tied] / sum_{i != j} p_i (1-p_j)``,
   computed in O(n log n) by sorting. NannyML sweeps thresholds over the
   calibrated probabilities (an expected ROC curve, integrated with the
   trapezoid rule), which is the same quantity up to two details we do
   differently: pairs are ordered by the model's *raw* score, so the flat
   steps of an isotonic calibrator do not tie rows the model itself tells
   apart (the realized AUC ranks by the raw score too), and a row is never
   paired with itself.
4. **Sampling error**: the standard deviation of the realized metric around
   the estimate if the calibrated probabilities are right, by Monte Carlo:
   labels are drawn ``n_draws`` times as independent Bernoulli(``p``) and
   each draw's metrics are computed exactly. The confidence band is the
   estimate ± 3 sampling errors, clipped to [0, 1]. (NannyML derives its
   sampling error from the reference's spread scaled by ``1/sqrt(n)``; the
   simulation gives the same order of magnitude and needs no assumption on
   the metric's form.) It does not include the calibrator's own error.
5. **Alert band**: the reference is cut into chunks (``chunk_size`` rows,
   or ``n_chunks`` equal chunks); the realized metric on each gives a mean
   and standard deviation, and the band is mean ± ``alert_std`` standard
   deviations, clipped to [0, 1] (NannyML's default thresholds). An
   estimate outside the band is an alert. The band describes windows of the
   chunk size: pick ``chunk_size`` close to the monitored window's size.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> p = rng.uniform(0, 1, 4000)
>>> y = rng.random(4000) < p
>>> cbpe = CBPE(metrics=["accuracy", "roc_auc"]).fit(p[:2000], y[:2000])
>>> est = cbpe.estimate(p[2000:], y_true=y[2000:])
>>> abs(est["accuracy"].value - 0.75) < 0.02, est["accuracy"].sampling_error < 0.02
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from moorline.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    BoolArray = npt.NDArray[np.bool_]
    FloatArray = npt.NDArray[np.float64]

SUPPORTED_METRICS: Final = ("roc_auc", "accuracy", "precision", "recall", "f1")
ECE_BINS: Final = 10
CALIBRATION_SPLITS: Final = 10
#: Confidence band: estimate ± this many sampling errors.
CONFIDENCE_SE: Final = 3.0
#: Monte Carlo draws are simulated in blocks of at most this many cells.
_BLOCK_CELLS: Final = 4_000_000

Calibration = Literal["auto", "always", "never"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricEstimate:
    """One metric on one window: the estimate, its uncertainty, the alert band,
    and the realized value when labels were given."""

    metric: str
    value: float | None
    sampling_error: float | None
    lower_confidence: float | None
    upper_confidence: float | None
    lower_alert: float | None
    upper_alert: float | None
    alert: bool
    realized: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "sampling_error": self.sampling_error,
            "lower_confidence": self.lower_confidence,
            "upper_confidence": self.upper_confidence,
            "lower_alert": self.lower_alert,
            "upper_alert": self.upper_alert,
            "alert": self.alert,
            "realized": self.realized,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EstimatedPerformance:
    """CBPE's estimate for one window (``n`` rows)."""

    n: int
    threshold: float
    calibrated: bool
    metrics: tuple[MetricEstimate, ...]

    def __getitem__(self, metric: str) -> MetricEstimate:
        for m in self.metrics:
            if m.metric == metric:
                return m
        raise KeyError(metric)

    @property
    def alerts(self) -> tuple[str, ...]:
        """The metrics whose estimate is outside the reference's alert band."""
        return tuple(m.metric for m in self.metrics if m.alert)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "cbpe",
            "n": self.n,
            "threshold": self.threshold,
            "calibrated": self.calibrated,
            "metrics": [m.to_dict() for m in self.metrics],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertBand:
    """The realized metric's spread over the reference chunks."""

    mean: float
    std: float
    lower: float
    upper: float
    chunks: int


class CBPE:
    """Estimate a binary classifier's performance from its probabilities, before labels.

    Parameters (configuration only; the work is in :meth:`fit` and
    :meth:`estimate`): ``metrics`` among :data:`SUPPORTED_METRICS`;
    ``threshold``: the model predicts positive when its score is
    ``>= threshold``; ``calibration``: ``"auto"`` (NannyML's rule, see the
    module docs), ``"always"`` or ``"never"``; ``chunk_size``/``n_chunks``:
    how the reference is cut for the alert band; ``alert_std``: the band's
    half-width in standard deviations; ``n_draws``: Monte Carlo draws for the
    sampling error; ``random_state``: seeds the calibration splits and the
    draws, so results are reproducible.
    """

    def __init__(
        self,
        metrics: Sequence[str] = SUPPORTED_METRICS,
        threshold: float = 0.5,
        *,
        calibration: Calibration = "auto",
        chunk_size: int | None = None,
        n_chunks: int = 10,
        alert_std: float = 3.0,
        n_draws: int = 200,
        random_state: int = 0,
    ) -> None:
        unknown = [m for m in metrics if m not in SUPPORTED_METRICS]
        if unknown or not metrics:
            raise InvalidArgument(
                f"CBPE estimates {list(SUPPORTED_METRICS)}; got {list(metrics)!r}"
            )
        if not 0.0 <= threshold <= 1.0:
            raise InvalidArgument(f"threshold must be in [0, 1], got {threshold!r}")
        if calibration not in ("auto", "always", "never"):
            raise InvalidArgument(
                f"calibration must be 'auto', 'always' or 'never', not {calibration!r}"
            )
        if chunk_size is not None and chunk_size < 1:
            raise InvalidArgument(f"chunk_size must be a positive number of rows, not {chunk_size}")
        if n_chunks < 2:
            raise InvalidArgument(f"n_chunks must be at least 2, not {n_chunks}")
        if n_draws < 2:
            raise InvalidArgument(f"n_draws must be at least 2, not {n_draws}")
        if alert_std < 0:
            raise InvalidArgument(f"alert_std must be >= 0, not {alert_std}")
        self.metrics = tuple(dict.fromkeys(metrics))
        self.threshold = float(threshold)
        self.calibration: Calibration = calibration
        self.chunk_size = chunk_size
        self.n_chunks = n_chunks
        self.alert_std = float(alert_std)
        self.n_draws = n_draws
        self.random_state = random_state
        # Set by fit:
        self.calibrated_: bool | None = None
        self.ece_: dict[str, float] = {}
        self.bands_: dict[str, AlertBand | None] = {}
        self.pos_label_: Any = None
        self._calibrator: Any = None

    def fit(self, reference_scores: Any, reference_labels: Any, *, pos_label: Any = 1) -> CBPE:
        """Learn the calibration and the alert bands from a labelled reference.

        ``reference_scores``: the model's probability of the positive class;
        ``reference_labels``: the true classes, ``pos_label`` being positive.
        """
        import numpy as np

        scores = _scores(reference_scores, "reference_scores")
        raw_labels = np.asarray(reference_labels)
        if raw_labels.shape != scores.shape:
            raise InvalidArgument(
                f"reference_labels has shape {raw_labels.shape}; the scores have {scores.shape}"
            )
        import pandas as pd

        if pd.isna(raw_labels).any():
            raise InvalidArgument("reference_labels has missing values; the reference is labelled")
        distinct = set(raw_labels.tolist())
        if len(distinct) > 2:
            raise InvalidArgument(
                f"CBPE is for binary classifiers; the labels hold {len(distinct)} classes"
            )
        y = raw_labels == pos_label
        if y.all() or not y.any():
            raise InvalidArgument(
                f"The reference labels must hold both classes, the positive one being "
                f"pos_label={pos_label!r}; they hold {sorted(map(str, distinct))}"
            )
        use, ece_raw, ece_cal = self._decide_calibration(scores, y)
        self.ece_ = {"uncalibrated": ece_raw, "calibrated": ece_cal}
        self._calibrator = None
        if use:
            from sklearn.isotonic import IsotonicRegression

            self._calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                scores, y.astype(np.float64)
            )
        self.calibrated_ = use
        self.pos_label_ = pos_label
        self.bands_ = self._bands(scores, y)
        return self

    def _decide_calibration(self, scores: FloatArray, y: BoolArray) -> tuple[bool, float, float]:
        import numpy as np

        if self.calibration == "never":
            return False, math.nan, math.nan
        hard = bool(np.all((scores == 0) | (scores == 1)))
        if self.calibration == "always":
            return not hard, math.nan, math.nan
        minority = int(min(y.sum(), (~y).sum()))
        if hard or minority < CALIBRATION_SPLITS:
            return False, math.nan, math.nan
        from sklearn.isotonic import IsotonicRegression
        from sklearn.model_selection import StratifiedShuffleSplit

        splits = StratifiedShuffleSplit(
            n_splits=CALIBRATION_SPLITS, test_size=0.1, random_state=self.random_state
        )
        raw_errors, calibrated_errors = [], []
        target = y.astype(np.float64)
        for train, test in splits.split(scores.reshape(-1, 1), y):
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            iso.fit(scores[train], target[train])
            raw_errors.append(expected_calibration_error(scores[test], y[test]))
            calibrated_errors.append(expected_calibration_error(iso.predict(scores[test]), y[test]))
        raw, calibrated = float(np.mean(raw_errors)), float(np.mean(calibrated_errors))
        return calibrated < raw, raw, calibrated

    def _bands(self, scores: FloatArray, y: BoolArray) -> dict[str, AlertBand | None]:
        import numpy as np

        n = len(scores)
        size = self.chunk_size or n // self.n_chunks
        count = n // size if size else 0
        per_metric: dict[str, list[float]] = {m: [] for m in self.metrics}
        for k in range(count):
            part = slice(k * size, (k + 1) * size)
            realized = _realized(scores[part], y[part], self.threshold, self.metrics)
            for metric, value in realized.items():
                if value is not None:
                    per_metric[metric].append(value)
        bands: dict[str, AlertBand | None] = {}
        for metric, values in per_metric.items():
            if len(values) < 2:
                bands[metric] = None
                continue
            mean, std = float(np.mean(values)), float(np.std(values))
            bands[metric] = AlertBand(
                mean=mean,
                std=std,
                lower=max(0.0, mean - self.alert_std * std),
                upper=min(1.0, mean + self.alert_std * std),
                chunks=len(values),
            )
        return bands

    def calibrate(self, scores: Any) -> FloatArray:
        """The calibrated probabilities of ``scores`` (the scores themselves when
        the fit decided not to calibrate)."""
        import numpy as np

        self._check_fitted()
        values = _scores(scores, "scores")
        if self._calibrator is None:
            return values
        return np.asarray(self._calibrator.predict(values), dtype=np.float64)

    def estimate(self, scores: Any, *, y_true: Any = None) -> EstimatedPerformance:
        """The expected performance on a window of ``scores`` (no labels needed).

        ``y_true``: the window's labels when known (``pos_label`` as in fit),
        to report the realized value beside the estimate.
        """
        import numpy as np

        self._check_fitted()
        raw = _scores(scores, "scores")
        p = self.calibrate(raw)
        predicted = raw >= self.threshold
        values = expected_metrics(raw, p, predicted, self.metrics)
        errors = self._sampling_errors(raw, p, predicted)
        realized: dict[str, float | None] = {}
        if y_true is not None:
            truth = np.asarray(y_true)
            if truth.shape != raw.shape:
                raise InvalidArgument(
                    f"y_true has shape {truth.shape}; the scores have {raw.shape}"
                )
            realized = _realized(raw, truth == self.pos_label_, self.threshold, self.metrics)
        out = []
        for metric in self.metrics:
            value, error, band = values[metric], errors.get(metric), self.bands_.get(metric)
            low = high = None
            if value is not None and error is not None:
                low = max(0.0, value - CONFIDENCE_SE * error)
                high = min(1.0, value + CONFIDENCE_SE * error)
            alert = bool(
                band is not None and value is not None and not band.lower <= value <= band.upper
            )
            out.append(
                MetricEstimate(
                    metric=metric,
                    value=value,
                    sampling_error=error,
                    lower_confidence=low,
                    upper_confidence=high,
                    lower_alert=band.lower if band else None,
                    upper_alert=band.upper if band else None,
                    alert=alert,
                    realized=realized.get(metric),
                )
            )
        return EstimatedPerformance(
            n=len(raw),
            threshold=self.threshold,
            calibrated=bool(self.calibrated_),
            metrics=tuple(out),
        )

    def _sampling_errors(
        self, raw: FloatArray, p: FloatArray, predicted: BoolArray
    ) -> dict[str, float | None]:
        import numpy as np

        n = len(raw)
        if n == 0:
            return dict.fromkeys(self.metrics)
        rng = np.random.default_rng(self.random_state)
        block = max(1, min(self.n_draws, _BLOCK_CELLS // n))
        draws: dict[str, list[FloatArray]] = {m: [] for m in self.metrics}
        ranks = _ranks(raw)
        done = 0
        while done < self.n_draws:
            b = min(block, self.n_draws - done)
            labels = rng.random((b, n)) < p
            for metric, values in _metric_matrix(labels, predicted, ranks, self.metrics).items():
                draws[metric].append(values)
            done += b
        out: dict[str, float | None] = {}
        for metric, chunks in draws.items():
            values = np.concatenate(chunks)
            values = values[np.isfinite(values)]
            out[metric] = float(np.std(values, ddof=1)) if len(values) >= 2 else None
        return out

    def _check_fitted(self) -> None:
        if self.calibrated_ is None:
            raise InvalidArgument(
                "This CBPE is not fitted: call fit(reference_scores, reference_labels) first"
            )


def _scores(values: Any, what: str) -> FloatArray:
    import numpy as np

    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} must be numbers (probabilities): {exc}") from exc
    if array.ndim != 1:
        raise InvalidArgument(
            f"{what} must be one score per row (the positive class's probability); "
            f"got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise InvalidArgument(f"{what} holds NaN or infinite values")
    if len(array) and (array.min() < 0 or array.max() > 1):
        raise InvalidArgument(
            f"{what} must be probabilities in [0, 1]; found values in "
            f"[{array.min():g}, {array.max():g}]"
        )
    return array


def expected_calibration_error(p: FloatArray, y: BoolArray, bins: int = ECE_BINS) -> float:
    """ECE over ``bins`` equal-frequency bins: the row-weighted mean of
    ``|mean(p) - mean(y)|`` per bin (the measure NannyML decides calibration on).

    >>> import numpy as np
    >>> ece = expected_calibration_error(np.array([0.2, 0.2, 0.8, 0.8]), np.array([0, 0, 1, 1]), 2)
    >>> round(ece, 12)
    0.2
    """
    import numpy as np

    if len(p) == 0:
        return math.nan
    order = np.argsort(p, kind="stable")
    total = 0.0
    for rows in np.array_split(order, bins):
        if len(rows):
            total += len(rows) * abs(float(p[rows].mean()) - float(y[rows].mean()))
    return total / len(p)


def expected_metrics(
    raw: FloatArray, p: FloatArray, predicted: BoolArray, metrics: Sequence[str]
) -> dict[str, float | None]:
    """Expected metrics from calibrated probabilities ``p`` (see the module docs)."""
    n = len(p)
    q = 1.0 - p
    tp = float(p[predicted].sum())
    fp = float(q[predicted].sum())
    fn = float(p[~predicted].sum())
    tn = float(q[~predicted].sum())
    out: dict[str, float | None] = {}
    for metric in metrics:
        if metric == "accuracy":
            out[metric] = (tp + tn) / n if n else None
        elif metric == "precision":
            out[metric] = tp / (tp + fp) if tp + fp > 0 else None
        elif metric == "recall":
            out[metric] = tp / (tp + fn) if tp + fn > 0 else None
        elif metric == "f1":
            denominator = 2 * tp + fp + fn
            out[metric] = 2 * tp / denominator if denominator > 0 else None
        elif metric == "roc_auc":
            out[metric] = expected_roc_auc(raw, p)
    return out


def expected_roc_auc(scores: FloatArray, p: FloatArray) -> float | None:
    """The expected ROC AUC of ``scores`` when row i is positive with probability ``p[i]``:
    expected correctly ordered (positive, negative) pairs of distinct rows, ties
    half, over expected pairs. None when no pair can be formed.

    >>> import numpy as np
    >>> expected_roc_auc(np.array([0.1, 0.9]), np.array([0.0, 1.0]))
    1.0
    """
    import numpy as np

    if len(scores) < 2:
        return None
    q = 1.0 - p
    order = np.argsort(scores, kind="stable")
    s, ps, qs = scores[order], p[order], q[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    group_p = np.add.reduceat(ps, starts)
    group_q = np.add.reduceat(qs, starts)
    group_pq = np.add.reduceat(ps * qs, starts)
    q_below = np.cumsum(group_q) - group_q
    concordant = float(np.sum(group_p * q_below) + 0.5 * np.sum(group_p * group_q - group_pq))
    pairs = float(ps.sum() * qs.sum() - np.sum(ps * qs))
    if pairs <= 0:
        return None
    return concordant / pairs


def _ranks(scores: FloatArray) -> FloatArray:
    from scipy.stats import rankdata

    return rankdata(scores, method="average").astype("float64")  # type: ignore[no-any-return]


def _metric_matrix(
    labels: BoolArray, predicted: BoolArray, ranks: FloatArray, metrics: Sequence[str]
) -> dict[str, FloatArray]:
    """Each metric for each row of ``labels`` (one labelling per row); NaN where undefined."""
    import numpy as np

    n = labels.shape[1]
    y = labels.astype(np.float64)
    positives = y.sum(axis=1)
    tp = y @ predicted.astype(np.float64)
    n_pred = float(predicted.sum())
    fp = n_pred - tp
    fn = positives - tp
    tn = n - n_pred - fn
    out: dict[str, FloatArray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for metric in metrics:
            if metric == "accuracy":
                out[metric] = (tp + tn) / n
            elif metric == "precision":
                out[metric] = tp / n_pred if n_pred else np.full_like(tp, np.nan)
            elif metric == "recall":
                out[metric] = tp / positives
            elif metric == "f1":
                out[metric] = 2 * tp / (2 * tp + fp + fn)
            elif metric == "roc_auc":
                negatives = n - positives
                rank_sum = y @ ranks
                out[metric] = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    return out


def _realized(
    raw: FloatArray, y: BoolArray, threshold: float, metrics: Sequence[str]
) -> dict[str, float | None]:
    """The realized metrics of one labelled window (None where undefined: no
    predicted positive for precision, one class only for ROC AUC)."""
    import numpy as np

    if len(raw) == 0:
        return dict.fromkeys(metrics)
    matrix = _metric_matrix(
        np.asarray(y, dtype=bool).reshape(1, -1), raw >= threshold, _ranks(raw), metrics
    )
    return {m: (float(v[0]) if np.isfinite(v[0]) else None) for m, v in matrix.items()}


__all__ = [
    "CBPE",
    "SUPPORTED_METRICS",
    "AlertBand",
    "EstimatedPerformance",
    "MetricEstimate",
    "expected_calibration_error",
    "expected_metrics",
    "expected_roc_auc",
]
