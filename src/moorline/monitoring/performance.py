"""Realized model performance: predictions joined with late labels, over windows.

Ground truth arrives after the prediction (a loan defaults months later, a
click within the hour), so performance is computed on what is labelled *so
far*: :func:`join_labels` attaches labels to predictions by id and leaves the
rest unlabelled; :func:`performance` scores the labelled rows and says how
many there were; :func:`windowed_performance` does it per time (or row-count)
window; :func:`compare_with_baseline` compares a result with the validation
metrics the model was promoted on.

The metrics are scikit-learn's (same values on the same inputs):

- classification: ``accuracy``, ``precision``, ``recall``, ``f1`` (binary:
  of ``pos_label``; more than two classes: macro average; an undefined ratio
  is ``zero_division``, 0 by default, silently), ``roc_auc`` (binary with
  scores of the positive class; multiclass one-vs-rest with a probability
  matrix), ``log_loss`` (with probabilities);
- regression: ``mae``, ``rmse``, ``mape`` (rows whose true value is 0 are
  skipped, and counted in ``details["mape_zero_targets_skipped"]``; scikit-learn
  would divide by machine epsilon there), ``r2``.

A metric that is undefined on the data (ROC AUC with one class present, R²
on one row, log loss on scores that are not probabilities) is None, with the
reason in :attr:`PerformanceResult.notes`.

>>> r = performance([0, 1, 1, 0], [0, 1, 0, 0], y_score=[0.1, 0.9, 0.4, 0.3])
>>> r.metrics["accuracy"], r.metrics["recall"], r.metrics["roc_auc"]
(0.75, 0.5, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from moorline.errors import InvalidArgument

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

Task = Literal["classification", "regression"]
Direction = Literal["higher", "lower"]

CLASSIFICATION_METRICS: Final = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS: Final = ("mae", "rmse", "mape", "r2")
#: Which way is better, per metric moorline computes.
DIRECTIONS: Final[Mapping[str, Direction]] = {
    "accuracy": "higher",
    "precision": "higher",
    "recall": "higher",
    "f1": "higher",
    "roc_auc": "higher",
    "r2": "higher",
    "log_loss": "lower",
    "mae": "lower",
    "rmse": "lower",
    "mape": "lower",
}
_PROBA_TOLERANCE: Final = 1e-6


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceResult:
    """Metrics over the labelled rows of one batch.

    ``n``: rows given; ``n_labelled``: rows with a label, the ones scored.
    ``metrics`` maps each metric of the task to its value, or None when it is
    undefined here (the reason is in ``notes``). ``details``: the classes,
    the positive label, the averaging, skipped MAPE rows.
    """

    task: Task
    n: int
    n_labelled: int
    metrics: dict[str, float | None]
    details: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n": self.n,
            "n_labelled": self.n_labelled,
            "metrics": {k: _finite_or_none(v) for k, v in self.metrics.items()},
            "details": _plain(self.details),
            "notes": list(self.notes),
        }


def _finite_or_none(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        return item()
    return value


# -- joining late labels -------------------------------------------------------------


def join_labels(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    on: str = "prediction_id",
    *,
    indicator: str = "labelled",
    duplicates: Literal["error", "first", "last"] = "error",
) -> pd.DataFrame:
    """Predictions with their labels attached by ``on``; unmatched ones stay unlabelled.

    Every prediction is kept, in its order; label columns are NaN where no
    label has arrived, and the boolean column ``indicator`` says which rows
    have one. A label column whose name the predictions already use gets the
    suffix ``_label``. A prediction id that appears twice is an error; a
    label id that appears twice is one too unless ``duplicates`` says to keep
    the ``"first"`` or ``"last"`` (a corrected label) of them.

    >>> import pandas as pd
    >>> preds = pd.DataFrame({"prediction_id": [1, 2, 3], "prediction": [0, 1, 1]})
    >>> truth = pd.DataFrame({"prediction_id": [3, 1], "label": [1, 1]})
    >>> join_labels(preds, truth)[["prediction_id", "label", "labelled"]].to_dict("list")
    {'prediction_id': [1, 2, 3], 'label': [1.0, nan, 1.0], 'labelled': [True, False, True]}
    """
    import pandas as pd

    for frame, what in ((predictions, "predictions"), (labels, "labels")):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidArgument(f"join_labels needs {what} as a pandas DataFrame")
        if on not in frame.columns:
            raise InvalidArgument(f"The {what} have no {on!r} column to join on")
    if indicator in predictions.columns or indicator in labels.columns:
        raise InvalidArgument(f"Column {indicator!r} already exists; pass another indicator name")
    repeated = predictions[on][predictions[on].duplicated()]
    if len(repeated):
        raise InvalidArgument(
            f"{len(repeated)} prediction id(s) appear more than once in the predictions, "
            f"e.g. {_plain(repeated.iloc[0])!r}; each prediction needs a unique {on!r}"
        )
    if duplicates == "error":
        again = labels[on][labels[on].duplicated()]
        if len(again):
            example = _plain(again.iloc[0])
            raise InvalidArgument(
                f"{len(again)} prediction id(s) have more than one label, e.g. {example!r}; "
                "pass duplicates='first' or 'last' to choose"
            )
    elif duplicates in ("first", "last"):
        labels = labels.drop_duplicates(subset=[on], keep=duplicates)
    else:
        raise InvalidArgument(f"duplicates must be 'error', 'first' or 'last', not {duplicates!r}")
    marked = labels.assign(**{indicator: True})
    try:
        joined = predictions.merge(
            marked, how="left", on=on, suffixes=("", "_label"), validate="one_to_one"
        )
    except ValueError as exc:  # e.g. ids that are strings on one side, integers on the other
        raise InvalidArgument(f"Cannot join predictions and labels on {on!r}: {exc}") from exc
    joined[indicator] = joined[indicator].eq(True)
    return joined


# -- metrics ---------------------------------------------------------------------------


def performance(
    y_true: Any,
    y_pred: Any,
    *,
    task: Task = "classification",
    y_score: Any = None,
    labels: Sequence[Any] | None = None,
    pos_label: Any = 1,
    zero_division: float = 0.0,
) -> PerformanceResult:
    """Metrics of ``y_pred`` (and ``y_score``) against ``y_true`` on the labelled rows.

    Rows whose ``y_true`` is missing (None/NaN) are not labelled yet and are
    left out; ``n_labelled`` counts the rest.

    Classification: ``labels`` lists the classes (default: those seen in
    ``y_true`` and ``y_pred``, sorted); two classes make a binary problem
    whose positive class is ``pos_label``. ``y_score``: for a binary problem,
    the score of ``pos_label`` per row (or an ``(n, 2)`` matrix with columns
    in ``labels`` order); for more classes, an ``(n, K)`` probability matrix
    with columns in ``labels`` order.
    """
    import numpy as np

    if task not in ("classification", "regression"):
        raise InvalidArgument(f"task must be 'classification' or 'regression', not {task!r}")
    truth = _column(y_true, "y_true")
    predicted = _column(y_pred, "y_pred")
    n = len(truth)
    if len(predicted) != n:
        raise InvalidArgument(f"y_true has {n} rows but y_pred has {len(predicted)}")
    scores = None
    if y_score is not None:
        scores = np.asarray(y_score, dtype=np.float64)
        if scores.ndim not in (1, 2) or scores.shape[0] != n:
            raise InvalidArgument(
                f"y_score must have one row per prediction ({n}); got shape {scores.shape}"
            )
    labelled = _labelled_mask(truth)
    truth, predicted = truth[labelled], predicted[labelled]
    if scores is not None:
        scores = scores[labelled]
    if _missing_mask(predicted).any():
        raise InvalidArgument("y_pred has missing values on labelled rows; every row needs one")
    if task == "regression":
        return _regression(truth, predicted, n)
    return _classification(
        truth,
        predicted,
        scores,
        n=n,
        labels=labels,
        pos_label=pos_label,
        zero_division=zero_division,
    )


def _column(values: Any, what: str) -> npt.NDArray[Any]:
    import numpy as np

    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidArgument(f"{what} must be one-dimensional; got shape {array.shape}")
    return array


def _missing_mask(array: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    import pandas as pd

    return pd.isna(array)  # type: ignore[no-any-return]


def _labelled_mask(array: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    return ~_missing_mask(array)


def _regression(truth: npt.NDArray[Any], predicted: npt.NDArray[Any], n: int) -> PerformanceResult:
    import numpy as np
    from sklearn import metrics as skm

    try:
        y = truth.astype(np.float64)
        p = predicted.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"Regression needs numeric y_true and y_pred: {exc}") from exc
    if not np.isfinite(p).all():
        raise InvalidArgument("y_pred holds non-finite values (inf or NaN) on labelled rows")
    if not np.isfinite(y).all():
        raise InvalidArgument("y_true holds infinite values")
    notes: list[str] = []
    values: dict[str, float | None] = dict.fromkeys(REGRESSION_METRICS)
    zeros = int(np.count_nonzero(y == 0))
    details: dict[str, Any] = {"mape_zero_targets_skipped": zeros}
    if len(y) == 0:
        notes.append("no labelled rows")
        return PerformanceResult(
            task="regression",
            n=n,
            n_labelled=0,
            metrics=values,
            details=details,
            notes=tuple(notes),
        )
    values["mae"] = float(skm.mean_absolute_error(y, p))
    values["rmse"] = float(skm.root_mean_squared_error(y, p))
    nonzero = y != 0
    if zeros:
        notes.append(f"mape skips {zeros} row(s) whose true value is 0")
    if nonzero.any():
        values["mape"] = float(skm.mean_absolute_percentage_error(y[nonzero], p[nonzero]))
    else:
        notes.append("mape is undefined: every true value is 0")
    if len(y) >= 2:
        values["r2"] = float(skm.r2_score(y, p))
    else:
        notes.append("r2 is undefined on fewer than two labelled rows")
    return PerformanceResult(
        task="regression",
        n=n,
        n_labelled=len(y),
        metrics=values,
        details=details,
        notes=tuple(notes),
    )


def _align_types(truth: npt.NDArray[Any], predicted: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Integer labels that went through a float column (NaN for unlabelled) back to integers."""
    import numpy as np

    if (
        truth.dtype.kind == "f"
        and predicted.dtype.kind in "iub"
        and len(truth)
        and np.all(np.mod(truth, 1) == 0)
    ):
        return truth.astype(predicted.dtype)
    if truth.dtype.kind == "O" and predicted.dtype.kind != "O":
        try:
            return truth.astype(predicted.dtype)
        except (TypeError, ValueError):
            return truth
    return truth


def resolve_classes(
    truth: Any, predicted: Any, labels: Sequence[Any] | None, pos_label: Any
) -> list[Any]:
    """The class list of a classification problem: ``labels``, or what the data shows.

    A problem that shows one class only is completed with ``pos_label``, so a
    window with no positives is still scored as the binary problem it is.
    """
    import numpy as np

    if labels is not None:
        classes = list(labels)
        if len(set(classes)) != len(classes):
            raise InvalidArgument(f"labels lists a class twice: {classes!r}")
    else:
        seen = np.concatenate([np.asarray(truth), np.asarray(predicted)])
        present = seen[~_missing_mask(seen)]
        try:
            classes = sorted(set(present.tolist()))
        except TypeError as exc:
            raise InvalidArgument(f"Classes of mixed types cannot be ordered: {exc}") from exc
        if len(classes) < 2 and pos_label not in classes:
            try:
                classes = sorted([*classes, pos_label])
            except TypeError as exc:
                raise InvalidArgument(
                    f"The data shows the single class {classes[0]!r} and pos_label "
                    f"{pos_label!r} is of another type; pass labels and pos_label"
                ) from exc
    if len(classes) == 2 and pos_label not in classes:
        raise InvalidArgument(
            f"pos_label {pos_label!r} is not one of the classes {classes!r}; pass pos_label"
        )
    return classes


def _classification(
    truth: npt.NDArray[Any],
    predicted: npt.NDArray[Any],
    scores: npt.NDArray[np.float64] | None,
    *,
    n: int,
    labels: Sequence[Any] | None,
    pos_label: Any,
    zero_division: float,
) -> PerformanceResult:
    import numpy as np
    from sklearn import metrics as skm

    truth = _align_types(truth, predicted)
    classes = resolve_classes(truth, predicted, labels, pos_label)
    binary = len(classes) <= 2
    values: dict[str, float | None] = dict.fromkeys(CLASSIFICATION_METRICS)
    notes: list[str] = []
    details: dict[str, Any] = {
        "classes": list(classes),
        "average": "binary" if binary else "macro",
    }
    if binary:
        details["pos_label"] = pos_label
    m = len(truth)
    if m == 0:
        notes.append("no labelled rows")
        return PerformanceResult(
            task="classification",
            n=n,
            n_labelled=0,
            metrics=values,
            details=details,
            notes=tuple(notes),
        )
    unknown = set(np.concatenate([truth, predicted]).tolist()) - set(classes)
    if unknown:
        raise InvalidArgument(f"Values {sorted(map(str, unknown))} are not among labels {classes}")
    values["accuracy"] = float(skm.accuracy_score(truth, predicted))
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": pos_label}
        if binary
        else {"average": "macro", "labels": classes}
    )
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        values[name] = float(fn(truth, predicted, zero_division=zero_division, **averaging))
    if scores is None:
        notes.append("roc_auc and log_loss need y_score")
    elif binary:
        _binary_scores(truth, scores, classes, pos_label=pos_label, values=values, notes=notes)
    else:
        _multiclass_scores(truth, scores, classes, values, notes)
    return PerformanceResult(
        task="classification",
        n=n,
        n_labelled=m,
        metrics=values,
        details=details,
        notes=tuple(notes),
    )


def _binary_scores(
    truth: npt.NDArray[Any],
    scores: npt.NDArray[np.float64],
    classes: list[Any],
    *,
    pos_label: Any,
    values: dict[str, float | None],
    notes: list[str],
) -> None:
    import numpy as np
    from sklearn import metrics as skm

    if scores.ndim == 2:
        if scores.shape[1] != len(classes) or len(classes) != 2:
            raise InvalidArgument(
                f"A binary y_score matrix needs one column per class {classes!r}; "
                f"got {scores.shape[1]} columns"
            )
        positive = scores[:, classes.index(pos_label)]
    else:
        positive = scores
    if not np.isfinite(positive).all():
        raise InvalidArgument("y_score holds non-finite values on labelled rows")
    is_positive = truth == pos_label
    if is_positive.all() or not is_positive.any():
        notes.append("roc_auc is undefined: only one class is present in y_true")
    else:
        values["roc_auc"] = float(skm.roc_auc_score(is_positive, positive))
    if len(classes) != 2:
        notes.append("log_loss is undefined: only one class is known")
    elif positive.min() < 0 or positive.max() > 1:
        notes.append("log_loss is undefined: y_score is not a probability (outside [0, 1])")
    else:
        proba = np.empty((len(positive), 2))
        at = classes.index(pos_label)
        proba[:, at] = positive
        proba[:, 1 - at] = 1.0 - positive
        values["log_loss"] = float(skm.log_loss(truth, proba, labels=classes))


def _multiclass_scores(
    truth: npt.NDArray[Any],
    scores: npt.NDArray[np.float64],
    classes: list[Any],
    values: dict[str, float | None],
    notes: list[str],
) -> None:
    import numpy as np
    from sklearn import metrics as skm

    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise InvalidArgument(
            f"A multiclass y_score must be an (n, {len(classes)}) probability matrix with "
            f"columns in the order {classes!r}; got shape {scores.shape}"
        )
    if not np.isfinite(scores).all():
        raise InvalidArgument("y_score holds non-finite values on labelled rows")
    if (
        scores.min() < 0
        or scores.max() > 1
        or not np.allclose(scores.sum(axis=1), 1.0, atol=_PROBA_TOLERANCE)
    ):
        notes.append("roc_auc and log_loss are undefined: y_score rows are not probabilities")
        return
    missing = [c for c in classes if not np.any(truth == c)]
    if missing:
        notes.append(f"roc_auc is undefined: classes {missing!r} are absent from y_true")
    else:
        values["roc_auc"] = float(
            skm.roc_auc_score(truth, scores, multi_class="ovr", labels=classes)
        )
    values["log_loss"] = float(skm.log_loss(truth, scores, labels=classes))


# -- windows ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowPerformance:
    """The performance of one window: ``[start, end)`` for calendar windows, the
    first and last row's times for row-count windows."""

    start: Any
    end: Any
    n: int
    n_labelled: int
    result: PerformanceResult

    @property
    def label_coverage(self) -> float:
        """The share of the window's predictions that have a label."""
        return self.n_labelled / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": _moment(self.start),
            "end": _moment(self.end),
            "n": self.n,
            "n_labelled": self.n_labelled,
            "label_coverage": self.label_coverage,
            **{k: v for k, v in self.result.to_dict().items() if k not in ("n", "n_labelled")},
        }


def _moment(value: Any) -> Any:
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return iso()
    return _plain(value)


def windowed_performance(
    frame: pd.DataFrame,
    time_column: str,
    *,
    freq: str | None = None,
    size: int | None = None,
    y_true: str = "label",
    y_pred: str = "prediction",
    y_score: str | Sequence[str] | None = None,
    task: Task = "classification",
    labels: Sequence[Any] | None = None,
    pos_label: Any = 1,
    zero_division: float = 0.0,
    label_time_column: str | None = None,
    as_of: Any = None,
) -> list[WindowPerformance]:
    """:func:`performance` per window of ``frame`` (typically :func:`join_labels`' output).

    Windows are either calendar windows of ``freq`` over ``time_column``
    (a fixed frequency such as ``"1h"`` or ``"1D"``, aligned on the Unix
    epoch, or a period alias such as ``"W"``, ``"M"``, ``"Q"``), or ``size``
    consecutive rows in time order (the last window may be shorter; its
    ``start`` and ``end`` are the times of its first and last row). Only
    windows holding predictions are returned, oldest first.

    ``y_score``: the column of the positive class's score (binary) or the
    probability columns in ``labels`` order (multiclass). The classes are
    resolved once over the whole frame, so every window is scored as the same
    problem. ``label_time_column`` with ``as_of``: labels that arrived after
    ``as_of`` count as missing, which replays what was known at that moment.
    """
    import numpy as np

    if (freq is None) == (size is None):
        raise InvalidArgument("Give exactly one of freq (a time frequency) or size (rows)")
    score_columns = [y_score] if isinstance(y_score, str) else list(y_score or [])
    needed = [time_column, y_true, y_pred, *score_columns]
    if label_time_column is not None:
        needed.append(label_time_column)
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise InvalidArgument(f"The frame has no column(s) {absent}; it has {list(frame.columns)}")
    if as_of is not None and label_time_column is None:
        raise InvalidArgument("as_of needs label_time_column (when each label arrived)")
    truth = frame[y_true]
    if as_of is not None:
        assert label_time_column is not None
        late = frame[label_time_column].isna() | (frame[label_time_column] > as_of)
        truth = truth.mask(late)
    if task == "classification" and labels is None:
        predicted = frame[y_pred].to_numpy()
        labels = resolve_classes(
            _align_types(truth.dropna().to_numpy(), predicted), predicted, None, pos_label
        )
    times = frame[time_column]
    untimed = int(times.isna().sum())
    if untimed:
        raise InvalidArgument(
            f"{untimed} row(s) have no {time_column!r}; every prediction needs a time"
        )
    keys = _window_keys(times, freq) if freq is not None else None
    order = np.asarray(times.array.argsort(kind="stable"))
    if size is not None:
        if not isinstance(size, int) or size < 1:
            raise InvalidArgument(f"size must be a positive number of rows, not {size!r}")
        groups = [order[i : i + size] for i in range(0, len(order), size)]
        spans = [(times.iloc[int(g[0])], times.iloc[int(g[-1])]) for g in groups]
    else:
        assert keys is not None
        starts, ends = keys
        # Compare instants as datetime64 (UTC): tz-aware values would go through objects.
        naive = starts.dt.tz_convert(None) if starts.dt.tz is not None else starts
        sorted_starts = naive.to_numpy()[order]
        cuts = np.flatnonzero(sorted_starts[1:] != sorted_starts[:-1]) + 1
        groups = [g for g in np.split(order, cuts) if len(g)]
        spans = [(starts.iloc[g[0]], ends.iloc[g[0]]) for g in groups]
    out = []
    truth_values = truth.to_numpy()
    pred_values = frame[y_pred].to_numpy()
    score_values = frame[score_columns].to_numpy(dtype="float64") if score_columns else None
    for rows, (start, end) in zip(groups, spans, strict=True):
        score = None
        if score_values is not None:
            score = score_values[rows, 0] if len(score_columns) == 1 else score_values[rows]
        result = performance(
            truth_values[rows],
            pred_values[rows],
            task=task,
            y_score=score,
            labels=labels,
            pos_label=pos_label,
            zero_division=zero_division,
        )
        out.append(
            WindowPerformance(
                start=_scalar(start),
                end=_scalar(end),
                n=result.n,
                n_labelled=result.n_labelled,
                result=result,
            )
        )
    return out


def _scalar(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.Timestamp):
        return value
    if hasattr(value, "dtype") and value.dtype.kind == "M":
        return pd.Timestamp(value)
    return _plain(value)


def _window_keys(times: pd.Series, freq: str) -> tuple[pd.Series, pd.Series]:
    """Start and end of each row's window of ``freq``."""
    import pandas as pd
    from pandas.tseries.frequencies import to_offset
    from pandas.tseries.offsets import Tick

    if not pd.api.types.is_datetime64_any_dtype(times):
        raise InvalidArgument(
            f"Windows of freq={freq!r} need a datetime time column; {times.name!r} is {times.dtype}"
        )
    try:
        offset = to_offset(freq)
    except ValueError as exc:
        raise InvalidArgument(f"{freq!r} is not a pandas frequency: {exc}") from exc
    if isinstance(offset, Tick):
        starts = times.dt.floor(offset)
        return starts, starts + offset
    zone = times.dt.tz
    naive = times.dt.tz_localize(None) if zone is not None else times
    try:
        periods = naive.dt.to_period(freq)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(
            f"{freq!r} is neither a fixed frequency ('1h', '1D') nor a period alias "
            f"('W', 'M', 'Q', 'Y'): {exc}"
        ) from exc
    starts = periods.dt.start_time
    ends = (periods + 1).dt.start_time
    if zone is not None:
        starts, ends = starts.dt.tz_localize(zone), ends.dt.tz_localize(zone)
    return starts, ends


# -- against a baseline ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricComparison:
    """One metric against its baseline. ``delta`` = value - baseline;
    ``status``: ``"ok"``, ``"degraded"`` (worse by more than the tolerance),
    or ``"unavailable"`` (no value now)."""

    metric: str
    value: float | None
    baseline: float
    delta: float | None
    direction: Direction
    tolerance: float
    status: Literal["ok", "degraded", "unavailable"]

    @property
    def degraded(self) -> bool:
        return self.status == "degraded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "baseline": self.baseline,
            "delta": self.delta,
            "direction": self.direction,
            "tolerance": self.tolerance,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineComparison:
    metrics: tuple[MetricComparison, ...]
    relative: bool = False

    @property
    def degraded(self) -> bool:
        """Whether any metric is worse than its baseline by more than its tolerance."""
        return any(m.degraded for m in self.metrics)

    def __getitem__(self, metric: str) -> MetricComparison:
        for m in self.metrics:
            if m.metric == metric:
                return m
        raise KeyError(metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "degraded": self.degraded,
            "relative": self.relative,
            "metrics": [m.to_dict() for m in self.metrics],
        }


def compare_with_baseline(
    result: PerformanceResult | Mapping[str, float | None],
    baseline_metrics: PerformanceResult | Mapping[str, float],
    tolerance: float | Mapping[str, float] = 0.0,
    *,
    relative: bool = False,
    directions: Mapping[str, Direction] | None = None,
) -> BaselineComparison:
    """Which metrics got worse than the baseline (e.g. the validation metrics
    the model was promoted on) by more than ``tolerance``.

    ``tolerance``: one number for every metric or one per metric (missing
    ones: 0); absolute by default, a fraction of the baseline with
    ``relative=True``. Each metric's direction comes from :data:`DIRECTIONS`
    or ``directions`` (for metrics of your own). Metrics present in the
    baseline only are compared; the others are ignored.

    >>> c = compare_with_baseline({"accuracy": 0.81, "rmse": 2.93},
    ...                           {"accuracy": 0.90, "rmse": 2.9}, 0.05)
    >>> c["accuracy"].status, c["rmse"].status, c.degraded
    ('degraded', 'ok', True)
    """
    current = result.metrics if isinstance(result, PerformanceResult) else dict(result)
    base = (
        baseline_metrics.metrics
        if isinstance(baseline_metrics, PerformanceResult)
        else dict(baseline_metrics)
    )
    known = {**DIRECTIONS, **(directions or {})}
    out = []
    for metric, reference in base.items():
        if reference is None or (isinstance(reference, float) and math.isnan(reference)):
            continue
        if metric not in known:
            raise InvalidArgument(
                f"Unknown metric {metric!r}: pass its direction, e.g. directions="
                f"{{{metric!r}: 'higher'}}"
            )
        direction = known[metric]
        if direction not in ("higher", "lower"):
            raise InvalidArgument(f"Direction of {metric!r} must be 'higher' or 'lower'")
        allowed = tolerance.get(metric, 0.0) if isinstance(tolerance, Mapping) else tolerance
        if allowed < 0:
            raise InvalidArgument(f"Tolerance of {metric!r} must be >= 0, got {allowed}")
        margin = allowed * abs(float(reference)) if relative else allowed
        value = current.get(metric)
        if value is None or math.isnan(value):
            out.append(
                MetricComparison(
                    metric=metric,
                    value=None,
                    baseline=float(reference),
                    delta=None,
                    direction=direction,
                    tolerance=float(allowed),
                    status="unavailable",
                )
            )
            continue
        delta = float(value) - float(reference)
        worse = -delta if direction == "higher" else delta
        out.append(
            MetricComparison(
                metric=metric,
                value=float(value),
                baseline=float(reference),
                delta=delta,
                direction=direction,
                tolerance=float(allowed),
                status="degraded" if worse > margin else "ok",
            )
        )
    return BaselineComparison(metrics=tuple(out), relative=relative)


__all__ = [
    "CLASSIFICATION_METRICS",
    "DIRECTIONS",
    "REGRESSION_METRICS",
    "BaselineComparison",
    "MetricComparison",
    "PerformanceResult",
    "WindowPerformance",
    "compare_with_baseline",
    "join_labels",
    "performance",
    "resolve_classes",
    "windowed_performance",
]
