"""Binning and zero smoothing shared by ``psi``, ``kl_div`` and ``jensenshannon``
(spec §5, Evidently's ``get_binned_data``).

Two branches:

- a numerical column whose reference has more than 20 distinct values is cut
  into equal-width bins between the pooled minimum and maximum, with
  NumPy's ``'sturges'`` rule on the pooled size (``ceil(log2(n + m) + 1)``
  bins; Evidently's ``n_bins=30`` argument is ignored, as in Evidently);
- anything else (categorical, or numerical with at most 20 distinct reference
  values) gets one bin per key of the union of both samples.

Proportions are counts divided by each side's own size. The reference side
comes from the stored :class:`ReferenceColumn` (a binary search on the sorted
values), so only the current window is counted per call.

>>> import numpy as np
>>> from moorline.monitoring.base import ColumnKind, ReferenceColumn
>>> ref = ReferenceColumn(name="x", kind=ColumnKind.CATEGORICAL, n=4,
...                       keys=("a", "b"), counts=np.array([3, 1]))
>>> b = binned_proportions(ref, np.array(["a", "c"], dtype=object))
>>> b.keys, b.reference.tolist(), b.current.tolist()
(('a', 'b', 'c'), [0.75, 0.25, 0.0], [0.5, 0.0, 0.5])
>>> binned_proportions(ref, np.array(["a", "c"], dtype=object), smoothing=True).current.tolist()
[0.5, 0.0001, 0.5]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from moorline.errors import InvalidArgument
from moorline.monitoring.base import FloatArray, ReferenceColumn
from moorline.monitoring.stattests._common import tally

IndexArray = npt.NDArray[np.intp]

#: a numerical reference with more distinct values than this is histogrammed
MAX_DISTINCT_FOR_VALUE_BINS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Binned:
    """Per-bin proportions of both samples.

    ``edges`` is set for histogram bins (numerical, > 20 distinct reference
    values); ``keys`` is set for one-bin-per-value binning.
    """

    reference: FloatArray
    current: FloatArray
    edges: FloatArray | None = None
    keys: tuple[Any, ...] = ()


def sturges_edges(lo: float, hi: float, size: int) -> FloatArray:
    """``np.histogram_bin_edges(data, bins="sturges")`` from the data's minimum,
    maximum and size alone, with the same floating-point steps, so the pooled
    sample never has to be concatenated.

    >>> import numpy as np
    >>> data = np.array([0.0, 1.0, 2.5, 7.0, 3.0])
    >>> bool((sturges_edges(0.0, 7.0, 5) == np.histogram_bin_edges(data, "sturges")).all())
    True
    """
    first = np.float64(lo)
    last = np.float64(hi)
    width = (last - first) / (np.log2(size) + 1.0)
    if first == last:
        first, last = first - 0.5, last + 0.5
    n_bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, n_bins + 1, endpoint=True, dtype=np.float64)


def histogram_counts_sorted(sorted_values: FloatArray, edges: FloatArray) -> IndexArray:
    """``np.histogram(values, edges)[0]`` for already sorted values (as int64)."""
    cum = np.concatenate(
        (
            np.searchsorted(sorted_values, edges[:-1], side="left"),
            np.searchsorted(sorted_values, edges[-1:], side="right"),
        )
    )
    return np.diff(cum)


def histogram_counts(values: FloatArray, edges: FloatArray) -> IndexArray:
    """``np.histogram(values, edges)[0]`` without sorting ``values``: half-open
    bins, the last one closed, values outside the edges not counted."""
    n_bins = edges.size - 1
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[(values == edges[-1])] = n_bins - 1
    inside = (idx >= 0) & (idx < n_bins)
    if not inside.all():
        idx = idx[inside]
    return np.bincount(idx, minlength=n_bins)


def smooth_zeros(proportions: FloatArray) -> FloatArray:
    """Evidently's zero smoothing for ``psi`` and ``kl_div`` (spec §5).

    Every 0 becomes ``mn / 1e6`` when the smallest non-zero proportion ``mn`` is
    at most 1e-4, and ``1e-4`` otherwise. The vector is not renormalised.
    """
    out = proportions.copy()
    zero = out == 0
    if zero.any():
        nonzero = out[~zero]
        if nonzero.size == 0:
            raise InvalidArgument("cannot smooth a distribution with no non-zero bin")
        mn = nonzero.min()
        out[zero] = mn / 10**6 if mn <= 0.0001 else 0.0001
    return out


def binned_proportions(
    reference: ReferenceColumn, current: Any, *, smoothing: bool = False
) -> Binned:
    """Evidently's ``get_binned_data`` on a stored reference (spec §5).

    ``smoothing=True`` applies :func:`smooth_zeros` to each side (what ``psi``
    and ``kl_div`` use); ``jensenshannon`` uses the raw proportions.
    """
    values = reference.sorted_values
    if values is not None and reference.n_distinct > MAX_DISTINCT_FOR_VALUE_BINS:
        c = np.asarray(current, dtype=np.float64)
        n, m = values.size, c.size
        if m == 0:
            raise InvalidArgument(f"column {reference.name!r} has no current values to bin")
        lo = min(values[0], c.min())
        hi = max(values[-1], c.max())
        edges = sturges_edges(lo, hi, n + m)
        ref_p: FloatArray = histogram_counts_sorted(values, edges) / n
        cur_p: FloatArray = histogram_counts(c, edges) / m
        binned = Binned(reference=ref_p, current=cur_p, edges=edges)
    else:
        t = tally(reference, current)
        n, m = t.n, t.m
        if n == 0 or m == 0:
            raise InvalidArgument(f"column {reference.name!r} has an empty sample to bin")
        binned = Binned(reference=t.ref / n, current=t.cur / m, keys=t.keys)
    if smoothing:
        return Binned(
            reference=smooth_zeros(binned.reference),
            current=smooth_zeros(binned.current),
            edges=binned.edges,
            keys=binned.keys,
        )
    return binned
