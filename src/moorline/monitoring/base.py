"""The contract every drift test shares, and the reference side of a column.

A test is a plug-in: configuration in ``__init__`` (nothing but options),
one verb, :meth:`StatTest.compute`, returning a typed :class:`StatScore`.
Tests receive the reference as a :class:`ReferenceColumn` (computed once,
storable, reusable across windows) and the current window as a cleaned
array, so a monitor pays only for its new data.

Verdict rules differ per test (``p <= t``, ``p < t``, ``d >= t``, ``d > t``);
each test states its own in :attr:`StatTest.rule`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class ColumnKind(StrEnum):
    NUMERICAL = "num"
    CATEGORICAL = "cat"
    TEXT = "text"


class ScoreKind(StrEnum):
    P_VALUE = "p_value"
    DISTANCE = "distance"


Rule = Literal["p<=t", "p<t", "d>=t", "d>t", "auc>t", "auc>pctl"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceColumn:
    """The reference side of one column, after cleaning (±inf -> NaN, NaN dropped).

    Numerical columns keep their sorted finite values (``sorted_values``);
    categorical columns keep ``keys`` (distinct values, sorted by their string
    form for stable output) with ``counts``; both keep ``n`` (non-null count)
    and ``null_count``. Everything a test needs from the reference derives
    from these, so a stored profile gives results equal to the raw reference.
    """

    name: str
    kind: ColumnKind
    n: int
    null_count: int = 0
    sorted_values: FloatArray | None = None
    keys: tuple[Any, ...] = ()
    counts: npt.NDArray[np.int64] | None = None
    #: texts, for the text tests only (kept raw)
    texts: tuple[str, ...] = ()
    #: categorical only, optional: for each non-null reference row, in the
    #: original row order, the index of its value in ``keys``. Only the
    #: order-dependent permutation test ``TVD`` needs it to reproduce
    #: Evidently's p-value exactly; without it that test uses ``keys`` order.
    row_codes: npt.NDArray[np.intp] | None = None

    @property
    def n_distinct(self) -> int:
        if self.sorted_values is not None:
            v = self.sorted_values
            return int(v.size and (np.count_nonzero(np.diff(v)) + 1))
        return len(self.keys)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatScore:
    """What one test says about one column."""

    stattest: str
    score: float
    threshold: float
    drift_detected: bool
    score_kind: ScoreKind
    details: dict[str, Any] = field(default_factory=dict)


class StatTest(ABC):
    """One drift test. Subclasses set the class attributes and implement ``compute``."""

    #: registry name, e.g. "ks", "chisquare", "wasserstein"
    name: str
    #: display name as Evidently shows it, e.g. "K-S p_value"
    display_name: str
    kinds: frozenset[ColumnKind]
    default_threshold: float
    score_kind: ScoreKind
    rule: Rule

    @abstractmethod
    def compute(
        self, reference: ReferenceColumn, current: npt.NDArray[Any], threshold: float
    ) -> StatScore:
        """Score ``current`` (cleaned: no NaN/inf; values for numerical columns,
        keys for categorical ones) against ``reference``."""

    def drifted(self, score: float, threshold: float) -> bool:
        """Apply this test's rule. A NaN score never counts as drift (Evidently's behaviour)."""
        if math.isnan(score):
            return False
        rule = self.rule
        if rule == "p<=t":
            return score <= threshold
        if rule == "p<t":
            return score < threshold
        if rule == "d>=t":
            return score >= threshold
        if rule == "d>t":
            return score > threshold
        return score > threshold
