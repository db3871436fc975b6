"""Empirical maximum mean discrepancy with an RBF kernel (``empirical_mmd``).

As Evidently computes it (spec §4):

- bandwidth ``sigma = sqrt(0.5 * median)`` of the squared pairwise distances
  within the reference, zero diagonal included, median taken with NumPy's
  ``'nearest'`` rule; ``sigma = sqrt(0.5)`` when that is 0. Distances are
  evaluated as ``y**2 - 2*x*y + x**2`` in Evidently's operand order, so the
  kernel matches to the last bit in the common case;
- ``MMD^2 = sum(Kxx)/(n(n-1)) + sum(Kyy)/(m(m-1)) - 2 mean(Kxy)`` with the
  kernel's diagonal set to 0;
- ``p`` = share of 100 random relabelings of the pooled sample whose
  ``MMD^2`` is at least the observed one; drift when ``p < threshold``.

Evidently draws the relabelings from NumPy's global generator without
seeding it, so its p-value changes from run to run. ``seed=None`` (preset
``evidently``) keeps that: a fresh generator each call. With ``seed=s`` the
relabelings are those Evidently draws right after ``np.random.seed(s)``, so
the p-value is reproducible; preset ``default`` uses ``seed=0`` because a
monitor must give the same verdict on the same data.

Evidently materialises the (n+m) x (n+m) kernel three times over; here it is
built in row blocks of at most ~32 MB and all 100 relabelings are scored in
one matrix product per block, so memory stays flat. For a reference of more
than 4,096 values (where Evidently's n x n distance matrix alone exceeds
128 MB) the median is taken on exact squared differences found by bisection
on the sorted reference instead of on the rounded distance matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from moorline.errors import InvalidArgument
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
    numerical_current,
    numerical_reference,
    quiet,
)

#: Evidently's number of relabelings
PERMUTATIONS = 100
#: above this reference size the median is found without the n x n matrix
MAX_DENSE_MEDIAN_N = 4096
#: kernel entries per row block (~32 MB of float64)
BLOCK_ENTRIES = 1 << 22


def _median_index(count: int) -> int:
    """Index NumPy's ``percentile(q=50, method="nearest")`` picks among ``count``."""
    return int(np.around((count - 1) * 0.5))


def _median_sq_distance_dense(x: FloatArray) -> float:
    sq = x * x
    dist = (sq[None, :] - 2 * np.multiply.outer(x, x)) + sq[:, None]
    flat = dist.ravel()
    k = _median_index(flat.size)
    flat.partition(k)
    return float(flat[k])


def _median_sq_distance_sorted(x_sorted: FloatArray) -> float:
    """The same order statistic over exact squared differences, in O(n log n) per
    bisection step: the smallest ``d`` with ``#{(i, j): |x_i - x_j| <= d} > k``."""
    n = x_sorted.size
    k = _median_index(n * n)

    def count_within(d: float) -> int:
        hi = np.searchsorted(x_sorted, x_sorted + d, side="right")
        lo = np.searchsorted(x_sorted, x_sorted - d, side="left")
        return int((hi - lo).sum())

    lo_d, hi_d = 0.0, float(x_sorted[-1] - x_sorted[0])
    if count_within(lo_d) > k:
        return 0.0
    for _ in range(200):
        mid = 0.5 * (lo_d + hi_d)
        if mid in (lo_d, hi_d):
            break
        if count_within(mid) > k:
            hi_d = mid
        else:
            lo_d = mid
    return hi_d * hi_d


def bandwidth(x_sorted: FloatArray) -> float:
    """Evidently's median-heuristic sigma for the (sorted) reference values."""
    if x_sorted.size <= MAX_DENSE_MEDIAN_N:
        med = np.float64(_median_sq_distance_dense(x_sorted))
    else:
        med = np.float64(_median_sq_distance_sorted(x_sorted))
    # a median distance rounded below zero would give NaN; treat it as zero
    med = max(med, np.float64(0.0))
    sigma = float((0.5 * med) ** 0.5)
    if sigma == 0:
        return float((0.5 * 1) ** 0.5)
    return sigma


class EmpiricalMMD(StatTest):
    """``empirical_mmd``: RBF-kernel MMD permutation p-value; drift when ``p < t``.

    >>> import numpy as np
    >>> from moorline.monitoring.base import ColumnKind, ReferenceColumn
    >>> rng = np.random.default_rng(0)
    >>> ref = ReferenceColumn(name="x", kind=ColumnKind.NUMERICAL, n=200,
    ...                       sorted_values=np.sort(rng.normal(size=200)))
    >>> EmpiricalMMD(seed=0).compute(ref, rng.normal(1.0, size=200), 0.1).score
    0.0
    """

    name = "empirical_mmd"
    display_name = "empirical_mmd"
    kinds = frozenset({ColumnKind.NUMERICAL})
    default_threshold = 0.1
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = seed

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        x = numerical_reference(self, reference)
        y = numerical_current(self, reference, current)
        n, m = x.size, y.size
        if n < 2 or m < 2:
            raise InvalidArgument(
                f"stat test 'empirical_mmd' needs at least two values on each side of column "
                f"{reference.name!r} (got {n} and {m})"
            )
        sigma = bandwidth(x)
        gamma = 1.0 / (2.0 * sigma**2)
        z = np.concatenate((x, y))
        total = n + m
        rs = np.random.RandomState(self.seed)
        labels = np.zeros((total, PERMUTATIONS + 1))
        labels[:n, 0] = 1.0  # column 0: the observed split
        for p in range(1, PERMUTATIONS + 1):
            labels[rs.permutation(total)[:n], p] = 1.0
        with quiet():
            stats, observed = _mmd_statistics(z, n, gamma, labels)
        hits = int(np.count_nonzero(stats[0] <= stats[1:]))
        p_value = hits / PERMUTATIONS
        return make_score(self, p_value, threshold, mmd=observed, sigma=sigma, seed=self.seed)


def _mmd_statistics(
    z: FloatArray, n: int, gamma: float, labels: FloatArray
) -> tuple[FloatArray, float]:
    """MMD^2 for every labeling (column of ``labels``: 1 = reference) and, summed
    block by block as Evidently does, the observed MMD^2."""
    total = z.size
    m = total - n
    sq = z * z
    rows_per_block = max(1, BLOCK_ENTRIES // total)
    a_ka = np.zeros(labels.shape[1])
    one_ka = np.zeros(labels.shape[1])
    k_total = 0.0
    sum_xx = sum_yy = sum_yx = 0.0
    for start in range(0, total, rows_per_block):
        stop = min(start + rows_per_block, total)
        zi = z[start:stop]
        prod2 = 2 * np.multiply.outer(zi, z)
        dist = (sq[None, :] - prod2) + sq[start:stop, None]
        if stop > n:
            # rows of the current sample against reference columns: Evidently
            # builds that block as the transpose of the reference x current one
            first_y = max(start, n) - start
            dist[first_y:, :n] = (sq[start + first_y : stop, None] - prod2[first_y:, :n]) + sq[
                None, :n
            ]
        kernel = np.exp(-gamma * dist)
        diag = np.arange(start, stop)
        kernel[diag - start, diag] = 0.0
        s = kernel @ labels
        a_ka += (labels[start:stop] * s).sum(axis=0)
        one_ka += s.sum(axis=0)
        k_total += float(kernel.sum())
        x_rows = max(0, min(stop, n) - start)
        sum_xx += float(kernel[:x_rows, :n].sum())
        sum_yx += float(kernel[x_rows:, :n].sum())
        sum_yy += float(kernel[x_rows:, n:].sum())
    a = 1 / (n * (n - 1))
    b = 1 / (m * (m - 1))
    yx = one_ka - a_ka
    yy = k_total - 2 * one_ka + a_ka
    stats: FloatArray = a * a_ka + b * yy - 2.0 * (yx / (n * m))
    observed = a * sum_xx + b * sum_yy - 2.0 * (sum_yx / (n * m))
    return stats, observed
