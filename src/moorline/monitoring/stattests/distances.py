"""Distance scores: ``wasserstein``, ``jensenshannon``, ``psi``, ``kl_div``,
``hellinger`` and ``ed`` (energy distance), as Evidently computes them.

The two CDF distances (Wasserstein-1 and energy) give SciPy's
``_cdf_distance`` bit for bit but start from the stored sorted reference,
so a 100,000-row window costs one sort of the window and one merge instead
of two argsorts, a merge sort and two binary searches.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from moorline.monitoring.base import (
    ColumnKind,
    FloatArray,
    ReferenceColumn,
    ScoreKind,
    StatScore,
    StatTest,
)
from moorline.monitoring.stattests._common import (
    make_score,
    merged_counts,
    numerical_current,
    numerical_reference,
    quiet,
    require_nonempty,
    tally,
)
from moorline.monitoring.stattests.binning import (
    binned_proportions,
    histogram_counts,
    histogram_counts_sorted,
)

_BOTH = frozenset({ColumnKind.NUMERICAL, ColumnKind.CATEGORICAL})


def cdf_distance_sorted(u_sorted: FloatArray, v_sorted: FloatArray, p: int) -> float:
    """SciPy's ``_cdf_distance(p, u, v)`` (p = 1 or 2) for two sorted samples.

    SciPy evaluates both empirical CDFs at every pooled value but the last with
    two binary searches; here they come from one merge (:func:`merged_counts`).
    Inside a run of tied values the counts differ from SciPy's, but there the
    gap to the next value is exactly 0, so every product, and the sum, is
    bit-for-bit SciPy's.
    """
    merged, from_u, from_v = merged_counts(u_sorted, v_sorted)
    diff = from_u[:-1] / u_sorted.size
    del from_u
    diff -= from_v[:-1] / v_sorted.size
    del from_v
    deltas = np.diff(merged)
    del merged
    if p == 1:
        np.abs(diff, out=diff)
        return float(np.vecdot(diff, deltas))
    np.square(diff, out=diff)
    return float(np.sqrt(np.vecdot(diff, deltas)))


def relative_entropy(x: FloatArray, y: FloatArray) -> FloatArray:
    """SciPy's ``scipy.special.rel_entr`` elementwise, the way SciPy 1.17 computes
    it: ``x * log1p((x - y) / y)`` when ``x / y`` is within (0.5, 2) (closer to
    the truth for near-equal shares), ``x * log(x / y)`` otherwise, ``x * (log x -
    log y)`` when the ratio under- or overflows; 0 where ``x == 0 <= y``, ``inf``
    for negative inputs, NaN for NaN.

    Scalar C-library calls (``math``), as SciPy's: NumPy's vectorised ``log``
    may differ in the last bit, and for near-identical distributions the sum
    turns a last-bit difference into a different score.

    >>> relative_entropy(np.array([0.5, 0.0, 0.25]), np.array([0.25, 0.5, 0.0])).tolist()
    [0.34657359027997264, 0.0, inf]
    """
    log, log1p, isnan, inf, nan = math.log, math.log1p, math.isnan, math.inf, math.nan
    tiny = sys.float_info.min
    terms: list[float] = []
    for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
        if isnan(xi) or isnan(yi):
            terms.append(nan)
        elif xi > 0 and yi > 0:
            ratio = xi / yi
            if 0.5 < ratio < 2:
                terms.append(xi * log1p((xi - yi) / yi))
            elif tiny < ratio < inf:
                terms.append(xi * log(ratio))
            else:
                terms.append(xi * (log(xi) - log(yi)))
        elif xi == 0 and yi >= 0:
            terms.append(0.0)
        else:
            terms.append(inf)
    return np.array(terms, dtype=np.float64)


def jensenshannon(p: FloatArray, q: FloatArray) -> float:
    """SciPy's ``scipy.spatial.distance.jensenshannon(p, q)`` (natural log), step by
    step the same operations, so its value to the last bit or within an ulp of the
    logarithm; without importing ``scipy.spatial`` (some 40 MiB of a process that
    runs only large-sample tests).

    >>> round(jensenshannon(np.array([1.0, 0.0]), np.array([0.5, 0.5])), 12)
    0.464501404022
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    js = np.sum(relative_entropy(p, m)) + np.sum(relative_entropy(q, m))
    with np.errstate(invalid="ignore"):  # rounding can leave js a hair below 0: NaN, as SciPy
        return float(np.sqrt(js / 2.0))


class Wasserstein(StatTest):
    """``wasserstein``: first Wasserstein distance divided by
    ``max(population std of the reference, 0.001)``; drift when ``d >= t``.

    >>> import numpy as np
    >>> from moorline.monitoring.base import ColumnKind, ReferenceColumn
    >>> ref = ReferenceColumn(name="x", kind=ColumnKind.NUMERICAL, n=4,
    ...                       sorted_values=np.array([0.0, 1.0, 2.0, 3.0]))
    >>> round(Wasserstein().compute(ref, np.array([1.0, 2.0, 3.0, 4.0]), 0.1).score, 6)
    0.894427
    """

    name = "wasserstein"
    display_name = "Wasserstein distance (normed)"
    kinds = frozenset({ColumnKind.NUMERICAL})
    default_threshold = 0.1
    score_kind = ScoreKind.DISTANCE
    rule = "d>=t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        r = numerical_reference(self, reference)
        c = numerical_current(self, reference, current)
        norm = max(float(np.std(r)), 0.001)
        distance = cdf_distance_sorted(r, np.sort(c), 1)
        return make_score(self, distance / norm, threshold, distance=distance, norm=norm)


class JensenShannon(StatTest):
    """``jensenshannon``: SciPy's Jensen-Shannon distance (natural log) over the
    unsmoothed §5 bins; drift when ``d >= t``."""

    name = "jensenshannon"
    display_name = "Jensen-Shannon distance"
    kinds = _BOTH
    default_threshold = 0.1
    score_kind = ScoreKind.DISTANCE
    rule = "d>=t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        b = binned_proportions(reference, current, smoothing=False)
        return make_score(self, jensenshannon(b.reference, b.current), threshold)


class PSI(StatTest):
    """``psi``: population stability index ``sum((r - c) * ln(r / c))`` over the
    §5 bins with zero smoothing (not renormalised); drift when ``d >= t``."""

    name = "psi"
    display_name = "PSI"
    kinds = _BOTH
    default_threshold = 0.1
    score_kind = ScoreKind.DISTANCE
    rule = "d>=t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        b = binned_proportions(reference, current, smoothing=True)
        psi = np.sum((b.reference - b.current) * np.log(b.reference / b.current))
        return make_score(self, psi, threshold)


class KLDivergence(StatTest):
    """``kl_div``: KL(reference || current), natural log, over the smoothed §5
    bins; SciPy's ``entropy`` renormalises both vectors first. Drift when ``d >= t``."""

    name = "kl_div"
    display_name = "Kullback-Leibler divergence"
    kinds = _BOTH
    default_threshold = 0.1
    score_kind = ScoreKind.DISTANCE
    rule = "d>=t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        from scipy.stats import entropy

        b = binned_proportions(reference, current, smoothing=True)
        return make_score(self, entropy(b.reference, b.current), threshold)


class Hellinger(StatTest):
    """``hellinger``: Hellinger distance; drift when ``d >= t``.

    Categorical: ``sqrt(1 - clip(sum(sqrt(p_i q_i)), 0, 1))`` over the value
    shares. Numerical: density histograms on edges from NumPy's ``'sturges'``
    rule applied to the *distinct values* of both samples (Evidently's
    choice), Bhattacharyya coefficient ``sum(sqrt(h_r h_c)) * width``.
    """

    name = "hellinger"
    display_name = "Hellinger distance"
    kinds = _BOTH
    default_threshold = 0.1
    score_kind = ScoreKind.DISTANCE
    rule = "d>=t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        if reference.kind is ColumnKind.CATEGORICAL or reference.sorted_values is None:
            t = tally(reference, current)
            ref_p = t.ref / t.n
            cur_p = t.cur / t.m
            bc = 0.0
            for p1, p2 in zip(ref_p.tolist(), cur_p.tolist(), strict=True):
                bc += math.sqrt(p1 * p2)
        else:
            r = reference.sorted_values
            c = numerical_current(self, reference, current)
            distinct = np.union1d(np.unique(r), np.unique(c))
            with quiet():
                edges = np.histogram_bin_edges(distinct, bins="sturges")
            h1 = _density(histogram_counts_sorted(r, edges), edges)
            h2 = _density(histogram_counts(c, edges), edges)
            width = (edges.max() - edges.min()) / (len(edges) - 1)
            bc = 0.0
            for p1, p2 in zip(h1.tolist(), h2.tolist(), strict=True):
                bc += math.sqrt(p1 * p2) * width
        bc = float(np.clip(bc, 0, 1))
        return make_score(self, math.sqrt(1 - bc), threshold, bhattacharyya=bc)


def _density(counts: Any, edges: FloatArray) -> FloatArray:
    """``np.histogram(..., density=True)`` from counts: ``n / db / n.sum()``."""
    db = np.diff(edges)
    result: FloatArray = counts / db / counts.sum()
    return result


class EnergyDistance(StatTest):
    """``ed``: SciPy's ``energy_distance`` (raw, not scale-normalised); drift when ``d > t``."""

    name = "ed"
    display_name = "Energy-distance"
    kinds = frozenset({ColumnKind.NUMERICAL})
    default_threshold = 0.1
    score_kind = ScoreKind.DISTANCE
    rule = "d>t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        r = numerical_reference(self, reference)
        c = numerical_current(self, reference, current)
        return make_score(self, np.sqrt(2) * cdf_distance_sorted(r, np.sort(c), 2), threshold)
