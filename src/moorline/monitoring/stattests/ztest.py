"""Two-proportion Z-test (``z``) for binary columns.

The first key in sorted order is "0", every other key "1"; ``p1`` and ``p2``
are the shares of "1" in reference and current, ``P`` the pooled share,
``z = (p1 - p2) / sqrt(P (1 - P) (1/n + 1/m))``. When both samples hold the same
single value, ``p = 1``. Drift when ``p < threshold``.

Evidently computes the two-sided p-value as ``2 * (1 - Phi(|z|))``, which
rounds every p-value below ~1e-16 to exactly 0 (``survival=False``, preset
``evidently``). Preset ``default`` uses the survival function
``2 * Phi(-|z|)`` (``survival=True``): same verdicts, exact small p-values.
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
from moorline.monitoring.stattests._common import make_score, require_nonempty, tally


class ZTest(StatTest):
    """``z``: pooled two-proportion Z-test p-value; drift when ``p < t``.

    Registered for categorical columns; the chooser also sends numerical
    columns with at most two values here, which ``compute`` accepts.

    >>> import numpy as np
    >>> from moorline.monitoring.base import ColumnKind, ReferenceColumn
    >>> ref = ReferenceColumn(name="flag", kind=ColumnKind.CATEGORICAL, n=100,
    ...                       keys=(False, True), counts=np.array([50, 50]))
    >>> round(ZTest().compute(ref, np.array([True] * 60 + [False] * 40), 0.05).score, 4)
    0.1552
    """

    name = "z"
    display_name = "Z-test p_value"
    kinds = frozenset({ColumnKind.CATEGORICAL})
    default_threshold = 0.05
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def __init__(self, *, survival: bool = False) -> None:
        self.survival = survival

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        from scipy.special import ndtr

        t = tally(reference, current)
        present_ref = np.flatnonzero(t.ref)
        present_cur = np.flatnonzero(t.cur)
        if present_ref.size == 1 and present_cur.size == 1 and present_ref[0] == present_cur[0]:
            return make_score(self, 1.0, threshold, statistic=0.0)
        try:
            first = sorted(range(len(t.keys)), key=lambda i: t.keys[i])[0]
        except TypeError as exc:
            raise InvalidArgument(
                f"stat test 'z' sorts the keys of column {reference.name!r} and they are "
                f"not mutually comparable: {exc}"
            ) from exc
        n1, n2 = t.n, t.m
        ones1 = n1 - int(t.ref[first])
        ones2 = n2 - int(t.cur[first])
        p1 = float(ones1) / n1
        p2 = float(ones2) / n2
        pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        p = 2 * ndtr(-np.abs(z)) if self.survival else 2 * (1 - ndtr(np.abs(z)))
        return make_score(self, p, threshold, statistic=float(z))
