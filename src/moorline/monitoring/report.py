"""The result of a drift check, and its stable JSON form (``moorline.drift-report/1``).

:class:`DriftReport` is what :func:`~moorline.monitoring.drift.compute_drift`
returns: one :class:`ColumnDrift` per tested column, the dataset-level verdict
derived from them (so the two can never disagree), the prediction and target
columns' drift reported apart, and the options that produced it.

The JSON form
-------------

``DriftReport.to_dict()`` returns plain JSON values; the keys below are a
contract (a test pins them), and a change to them changes the format string::

    {
      "format": "moorline.drift-report/1",
      "preset": "default" | "evidently",
      "reference_rows": int, "current_rows": int,
      "column_mapping": {"target": str|null, "prediction": str|null,
                         "datetime": str|null, "id": str|null,
                         "ignored": [str], "numerical": [str],
                         "categorical": [str], "text": [str]},
      "columns": [COLUMN, ...],          # in test order: numerical, categorical, text
      "dataset": {"number_of_columns": int,          # columns tested without error
                  "number_of_drifted_columns": int,
                  "share": float,                    # drifted / tested (0.0 if none tested)
                  "drift_share": float,
                  "dataset_drift": bool,             # share >= drift_share
                  "number_of_errors": int},          # columns that could not be tested
      "prediction_drift": COLUMN | null,
      "target_drift": COLUMN | null
    }

    COLUMN = {"column": str, "type": "num" | "cat" | "text" | null,
              "stattest": str | null,                # registry name, e.g. "ks"
              "stattest_display_name": str | null,   # e.g. "K-S p_value"
              "score": float | null,                 # null when NaN
              "threshold": float | null,
              "drift_detected": bool,
              "error": str}                          # only on a column that failed

A NaN score is ``null`` (it never counts as drift); an infinite one is the
string ``"Infinity"`` or ``"-Infinity"`` (JSON has no literal for it). A
column that failed has ``drift_detected: false``, its ``error`` message, and
``null`` for whatever was not known when it failed. :meth:`DriftReport.from_dict`
reads the form back.

>>> col = ColumnDrift(column="age", type=ColumnKind.NUMERICAL, stattest="ks",
...                   stattest_display_name="K-S p_value", score=0.01, threshold=0.05,
...                   drift_detected=True)
>>> report = DriftReport(preset="default", reference_rows=100, current_rows=80,
...                      columns=(col,), drift_share=0.5)
>>> report.dataset_drift, report.share
(True, 1.0)
>>> DriftReport.from_dict(report.to_dict()) == report
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from moorline.errors import InvalidArgument
from moorline.monitoring.base import ColumnKind

REPORT_FORMAT: Final = "moorline.drift-report/1"


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnMapping:
    """Which columns play which role; every field is optional.

    - ``target``, ``prediction``: left out of the feature columns; their drift
      is reported apart (``target_drift``, ``prediction_drift``) and does not
      count toward dataset drift. The target is skipped when the current data
      lacks it (labels often arrive later).
    - ``datetime``, ``id`` and ``ignored``: never tested.
    - ``numerical``, ``categorical``, ``text``: columns whose type you set,
      instead of the inference of :mod:`moorline.monitoring.types`.
    """

    target: str | None = None
    prediction: str | None = None
    datetime: str | None = None
    id: str | None = None
    ignored: tuple[str, ...] = ()
    numerical: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    text: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("ignored", "numerical", "categorical", "text"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise InvalidArgument(f"column_mapping.{name} must be a list of column names")
            object.__setattr__(self, name, tuple(value))
        for name in ("target", "prediction", "datetime", "id"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidArgument(f"column_mapping.{name} must be a column name")
        typed = [*self.numerical, *self.categorical, *self.text]
        twice = sorted({c for c in typed if typed.count(c) > 1})
        if twice:
            raise InvalidArgument(
                f"column_mapping gives more than one type to {', '.join(map(repr, twice))}"
            )

    @classmethod
    def of(cls, value: ColumnMapping | Mapping[str, Any] | None) -> ColumnMapping:
        """A mapping from itself, a dict with the same keys, or None (no roles)."""
        if value is None:
            return cls()
        if isinstance(value, ColumnMapping):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - set(cls.__dataclass_fields__))
            if unknown:
                raise InvalidArgument(
                    f"Unknown column_mapping keys: {', '.join(map(repr, unknown))}; known: "
                    + ", ".join(cls.__dataclass_fields__)
                )
            return cls(**value)
        raise InvalidArgument(
            f"column_mapping must be a ColumnMapping or a dict, not {type(value).__name__}"
        )

    @property
    def skipped(self) -> frozenset[str]:
        """Columns never selected as features."""
        roles = (self.target, self.prediction, self.datetime, self.id)
        return frozenset(c for c in (*roles, *self.ignored) if c is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "prediction": self.prediction,
            "datetime": self.datetime,
            "id": self.id,
            "ignored": list(self.ignored),
            "numerical": list(self.numerical),
            "categorical": list(self.categorical),
            "text": list(self.text),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnDrift:
    """The drift verdict on one column (or why it could not be tested: ``error``)."""

    column: str
    #: the type tested (from the current data); None when the column has no testable type
    type: ColumnKind | None
    stattest: str | None
    stattest_display_name: str | None
    score: float
    threshold: float | None
    drift_detected: bool
    error: str | None = None

    def __eq__(self, other: object) -> bool:
        # NaN scores compare equal, so a report equals itself read back from JSON
        if not isinstance(other, ColumnDrift):
            return NotImplemented
        return _key(self) == _key(other)

    def __hash__(self) -> int:
        return hash(_key(self))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "column": self.column,
            "type": None if self.type is None else self.type.value,
            "stattest": self.stattest,
            "stattest_display_name": self.stattest_display_name,
            "score": _json_float(self.score),
            "threshold": self.threshold,
            "drift_detected": self.drift_detected,
        }
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnDrift:
        type_ = data.get("type")
        threshold = data.get("threshold")
        return cls(
            column=str(data["column"]),
            type=None if type_ is None else ColumnKind(type_),
            stattest=data.get("stattest"),
            stattest_display_name=data.get("stattest_display_name"),
            score=_float_from_json(data.get("score")),
            threshold=None if threshold is None else float(threshold),
            drift_detected=bool(data["drift_detected"]),
            error=data.get("error"),
        )


def _key(col: ColumnDrift) -> tuple[Any, ...]:
    score = "nan" if math.isnan(col.score) else col.score
    return (
        col.column,
        col.type,
        col.stattest,
        col.stattest_display_name,
        score,
        col.threshold,
        col.drift_detected,
        col.error,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftReport:
    """Per-column drift, the dataset verdict, and the options that produced them."""

    preset: str
    reference_rows: int
    current_rows: int
    columns: tuple[ColumnDrift, ...]
    drift_share: float
    column_mapping: ColumnMapping = field(default_factory=ColumnMapping)
    prediction_drift: ColumnDrift | None = None
    target_drift: ColumnDrift | None = None

    @property
    def tested(self) -> tuple[ColumnDrift, ...]:
        """The columns tested without error: the denominator of :attr:`share`."""
        return tuple(c for c in self.columns if c.error is None)

    @property
    def number_of_columns(self) -> int:
        return len(self.tested)

    @property
    def number_of_drifted_columns(self) -> int:
        return sum(1 for c in self.columns if c.drift_detected)

    @property
    def number_of_errors(self) -> int:
        return sum(1 for c in self.columns if c.error is not None)

    @property
    def share(self) -> float:
        """Drifted columns / columns tested; 0.0 when no column could be tested."""
        tested = self.number_of_columns
        return self.number_of_drifted_columns / tested if tested else 0.0

    @property
    def dataset_drift(self) -> bool:
        """``share >= drift_share``: exactly half drifted counts at the default 0.5."""
        return self.number_of_columns > 0 and self.share >= self.drift_share

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.drift_detected)

    @property
    def errors(self) -> dict[str, str]:
        """Column -> error message, for the columns that could not be tested."""
        return {c.column: c.error for c in self.columns if c.error is not None}

    def column(self, name: str) -> ColumnDrift:
        """The result for feature column ``name``."""
        for col in self.columns:
            if col.column == name:
                return col
        raise InvalidArgument(f"Column {name!r} is not in this drift report")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form ``moorline.drift-report/1`` (see the module docstring)."""
        return {
            "format": REPORT_FORMAT,
            "preset": self.preset,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "column_mapping": self.column_mapping.to_dict(),
            "columns": [c.to_dict() for c in self.columns],
            "dataset": {
                "number_of_columns": self.number_of_columns,
                "number_of_drifted_columns": self.number_of_drifted_columns,
                "share": self.share,
                "drift_share": self.drift_share,
                "dataset_drift": self.dataset_drift,
                "number_of_errors": self.number_of_errors,
            },
            "prediction_drift": None
            if self.prediction_drift is None
            else self.prediction_drift.to_dict(),
            "target_drift": None if self.target_drift is None else self.target_drift.to_dict(),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """:meth:`to_dict` as strict JSON text (no NaN literals)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReport:
        """Read the JSON form back (the derived dataset figures are recomputed)."""
        fmt = data.get("format")
        if fmt != REPORT_FORMAT:
            raise InvalidArgument(
                f"Drift report format {fmt!r} is not supported: this version reads "
                f"{REPORT_FORMAT!r}"
            )
        try:
            dataset = data["dataset"]
            return cls(
                preset=str(data["preset"]),
                reference_rows=int(data["reference_rows"]),
                current_rows=int(data["current_rows"]),
                columns=tuple(ColumnDrift.from_dict(c) for c in data["columns"]),
                drift_share=float(dataset["drift_share"]),
                column_mapping=ColumnMapping.of(data.get("column_mapping")),
                prediction_drift=_optional_column(data.get("prediction_drift")),
                target_drift=_optional_column(data.get("target_drift")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"Malformed drift report: {exc!r}") from None


def _optional_column(value: Mapping[str, Any] | None) -> ColumnDrift | None:
    return None if value is None else ColumnDrift.from_dict(value)


def _json_float(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _float_from_json(value: float | str | None) -> float:
    if value is None:
        return math.nan
    return float(value)  # float("Infinity") == inf


def columns_in_order(columns: Sequence[ColumnDrift]) -> tuple[ColumnDrift, ...]:
    """Columns as a report lists them: numerical, then categorical, then text, then untyped."""
    order = {ColumnKind.NUMERICAL: 0, ColumnKind.CATEGORICAL: 1, ColumnKind.TEXT: 2}
    return tuple(sorted(columns, key=lambda c: order.get(c.type, 3) if c.type else 3))
