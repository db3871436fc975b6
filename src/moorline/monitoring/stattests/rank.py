"""Rank and moment tests for numerical columns, all p-values from SciPy:
``anderson``, ``cramer_von_mises``, ``mannw``, ``es`` (Epps-Singleton) and
``t_test``.

Differences between presets:

- ``mannw``: Evidently runs the one-sided ``alternative="less"``, which only
  flags current values shifted *above* the reference; preset ``default`` is
  two-sided.
- ``cramer_von_mises``: both presets return SciPy's ``cramervonmises_2samp``.
  For ``max(n, m) > 20`` (asymptotic) that equals Evidently's own copy of the
  algorithm exactly. For ``max(n, m) <= 20`` (exact distribution) Evidently's
  copy stores its path counts in a float16/float32 table (p-values off by
  ~1e-7 relative, and by up to ~1e-3 when the number of orderings
  ``C(n + m, n)`` is at most 65,504) and, under NumPy 2, raises a casting
  error whenever that table gets an integer type (e.g. sizes 2 and 3, 5 and
  7). SciPy counts exactly; that is what both presets report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from moorline.errors import InvalidArgument
from moorline.monitoring.base import (
    ColumnKind,
    ReferenceColumn,
    ScoreKind,
    StatScore,
    StatTest,
)
from moorline.monitoring.stattests._common import (
    make_score,
    numerical_current,
    numerical_reference,
    quiet,
)

_NUM = frozenset({ColumnKind.NUMERICAL})


class AndersonDarling(StatTest):
    """``anderson``: k-sample Anderson-Darling p-value (midrank variant). SciPy
    interpolates it from a table and clips it to [0.001, 0.25]. Drift when ``p < t``."""

    name = "anderson"
    display_name = "Anderson-Darling"
    kinds = _NUM
    default_threshold = 0.1
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        r = numerical_reference(self, reference)
        c = numerical_current(self, reference, current)
        from scipy.stats import anderson_ksamp

        try:
            with quiet():
                res = anderson_ksamp([r, c], variant="midrank")
        except ValueError as exc:
            raise InvalidArgument(
                f"stat test 'anderson' cannot run on column {reference.name!r}: {exc}"
            ) from exc
        return make_score(self, res.pvalue, threshold, statistic=float(res.statistic))


class CramerVonMises(StatTest):
    """``cramer_von_mises``: two-sample Cramer-von Mises p-value (midranks; exact
    when ``max(n, m) <= 20``); drift when ``p <= t``."""

    name = "cramer_von_mises"
    display_name = "Cramer-von Mises"
    kinds = _NUM
    default_threshold = 0.1
    score_kind = ScoreKind.P_VALUE
    rule = "p<=t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        r = numerical_reference(self, reference)
        c = numerical_current(self, reference, current)
        if r.size < 2 or c.size < 2:
            raise InvalidArgument(
                f"stat test 'cramer_von_mises' needs at least two values on each side of "
                f"column {reference.name!r} (got {r.size} and {c.size})"
            )
        from scipy.stats import cramervonmises_2samp

        with quiet():
            res = cramervonmises_2samp(r, c)
        return make_score(self, res.pvalue, threshold, statistic=float(res.statistic))


class MannWhitneyU(StatTest):
    """``mannw``: Mann-Whitney U p-value; drift when ``p < t``.

    ``alternative="less"`` (Evidently, reference first) tests only whether the
    current values are stochastically *larger*; ``"two-sided"`` (preset
    ``default``) flags a shift in either direction.

    >>> import numpy as np
    >>> from moorline.monitoring.base import ColumnKind, ReferenceColumn
    >>> ref = ReferenceColumn(name="x", kind=ColumnKind.NUMERICAL, n=50,
    ...                       sorted_values=np.arange(50.0))
    >>> lower = np.arange(50.0) - 30
    >>> MannWhitneyU(alternative="less").compute(ref, lower, 0.05).drift_detected
    False
    >>> MannWhitneyU(alternative="two-sided").compute(ref, lower, 0.05).drift_detected
    True
    """

    name = "mannw"
    display_name = "Mann-Whitney U-rank test"
    kinds = _NUM
    default_threshold = 0.05
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def __init__(self, *, alternative: str = "less") -> None:
        if alternative not in ("less", "two-sided", "greater"):
            raise InvalidArgument(
                f"mannw alternative must be 'less', 'two-sided' or 'greater', not {alternative!r}"
            )
        self.alternative = alternative

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        r = numerical_reference(self, reference)
        c = numerical_current(self, reference, current)
        from scipy.stats import mannwhitneyu

        with quiet():
            res = mannwhitneyu(r, c, alternative=self.alternative)
        return make_score(
            self,
            res.pvalue,
            threshold,
            statistic=float(res.statistic),
            alternative=self.alternative,
        )


class EppsSingleton(StatTest):
    """``es``: Epps-Singleton p-value (SciPy defaults, t = (0.4, 0.8)); drift when
    ``p < t``. Refused, as in Evidently, when the pooled sample's IQR is 0."""

    name = "es"
    display_name = "Epps-Singleton"
    kinds = _NUM
    default_threshold = 0.05
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        r = numerical_reference(self, reference)
        c = numerical_current(self, reference, current)
        from scipy.stats import epps_singleton_2samp, iqr

        if iqr(np.concatenate((r, c))) == 0:
            raise InvalidArgument(
                f"stat test 'es' cannot run on column {reference.name!r}: the interquartile "
                "range of the pooled sample is 0 (no spread in the middle 50% of the data)"
            )
        try:
            with quiet():
                res = epps_singleton_2samp(r, c)
        except ValueError as exc:
            raise InvalidArgument(
                f"stat test 'es' cannot run on column {reference.name!r}: {exc}"
            ) from exc
        return make_score(self, res.pvalue, threshold, statistic=float(res.statistic))


class StudentT(StatTest):
    """``t_test``: Student's two-sample t-test (equal variances, two-sided); drift
    when ``p < t``. Two constant samples give NaN, which never counts as drift."""

    name = "t_test"
    display_name = "t_test"
    kinds = _NUM
    default_threshold = 0.05
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        r = numerical_reference(self, reference)
        c = numerical_current(self, reference, current)
        from scipy.stats import ttest_ind

        with quiet():
            res = ttest_ind(r, c)
        return make_score(self, res.pvalue, threshold, statistic=float(res.statistic))
