"""Shared plumbing of the stat tests: input checks, counting, quiet SciPy calls.

Everything here works on the two inputs every test receives: a
:class:`ReferenceColumn` (numerical: sorted finite values; categorical: keys
and counts) and the cleaned current array. Counting the current side is the
only per-window work for the categorical tests, so it uses hash-based
counting for object arrays and NumPy's sort-based ``unique`` otherwise.
"""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from moorline.errors import InvalidArgument
from moorline.monitoring.base import (
    FloatArray,
    ReferenceColumn,
    StatScore,
    StatTest,
)

IntArray = npt.NDArray[np.int64]


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the warnings SciPy and NumPy emit for conditions the tests expect
    (a zero expected count giving an infinite statistic, a p-value capped by
    ``anderson_ksamp``, precision loss on constant samples). Evidently lets them
    through; a drift report has nothing to tell the user about them."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def make_score(test: StatTest, score: float, threshold: float, **details: Any) -> StatScore:
    """The typed result, with the verdict from the test's own rule."""
    value = float(score)
    return StatScore(
        stattest=test.name,
        score=value,
        threshold=float(threshold),
        drift_detected=test.drifted(value, threshold),
        score_kind=test.score_kind,
        details=details,
    )


def numerical_reference(test: StatTest, reference: ReferenceColumn) -> FloatArray:
    """The reference's sorted values; a categorical reference is refused."""
    values = reference.sorted_values
    if values is None:
        raise InvalidArgument(
            f"stat test {test.name!r} needs a numerical column, but column "
            f"{reference.name!r} is {reference.kind.value!r}"
        )
    if values.size == 0:
        raise InvalidArgument(
            f"column {reference.name!r} has no non-null reference values; "
            f"stat test {test.name!r} cannot run"
        )
    return values


def numerical_current(test: StatTest, reference: ReferenceColumn, current: Any) -> FloatArray:
    """The current window as a float64 array; an empty window is refused."""
    try:
        values = np.asarray(current, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"stat test {test.name!r} needs numeric current values for column "
            f"{reference.name!r}: {exc}"
        ) from exc
    if values.ndim != 1:
        values = values.ravel()
    if values.size == 0:
        raise InvalidArgument(
            f"column {reference.name!r} has no non-null current values; "
            f"stat test {test.name!r} cannot run"
        )
    return values


def require_nonempty(test: StatTest, reference: ReferenceColumn, current: Any) -> None:
    if reference.n == 0:
        raise InvalidArgument(
            f"column {reference.name!r} has no non-null reference values; "
            f"stat test {test.name!r} cannot run"
        )
    if len(current) == 0:
        raise InvalidArgument(
            f"column {reference.name!r} has no non-null current values; "
            f"stat test {test.name!r} cannot run"
        )


# ---------------------------------------------------------------------------
# Two sorted samples


def merged_counts(
    u_sorted: FloatArray, v_sorted: FloatArray
) -> tuple[FloatArray, IntArray, IntArray]:
    """Merge two sorted samples: the pooled sorted values and, at each position,
    how many values of ``u`` and of ``v`` lie at or before it.

    At the last position of a run of tied values these are the right-sided
    counts ``#{u <= s[k]}`` and ``#{v <= s[k]}`` that SciPy obtains with two
    binary searches; inside a run they are partial, which the callers either
    ignore (only run ends are used) or multiply by a zero gap. The pooled
    intermediates are let go as soon as they are used: at 1,000,000 values a
    side each array of the pooled size is 16 MB.
    """
    n = u_sorted.size
    pooled = np.concatenate((u_sorted, v_sorted))
    order = np.argsort(pooled, kind="stable")
    merged = pooled[order]
    del pooled
    from_u = np.cumsum(order < n, dtype=np.int64)
    del order
    from_v = np.arange(1, merged.size + 1, dtype=np.int64)
    from_v -= from_u
    return merged, from_u, from_v


# ---------------------------------------------------------------------------
# Counting


def distinct_sorted(sorted_values: FloatArray) -> tuple[FloatArray, IntArray]:
    """Distinct values and their counts of an already sorted array, in O(n)."""
    if sorted_values.size == 0:
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    counts = np.diff(np.append(starts, sorted_values.size)).astype(np.int64)
    return sorted_values[starts], counts


def count_values(values: Any) -> tuple[list[Any], IntArray]:
    """Distinct values of a 1-D array (as Python scalars) and their counts.

    Object arrays are counted by hashing, keys in order of first appearance,
    which is several times faster than sorting Python objects: by
    ``pandas.factorize`` when pandas is loaded anyway (the fastest), else by a
    ``Counter``, with the same keys in the same order. Typed arrays use
    NumPy's ``unique``.

    >>> count_values(np.array(["b", "a", "b"], dtype=object))
    (['b', 'a'], array([2, 1]))
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.ravel()
    pd = sys.modules.get("pandas")
    if arr.dtype.kind == "O" and pd is not None:
        codes, uniques = pd.factorize(arr)
        return list(uniques), np.bincount(codes, minlength=len(uniques)).astype(np.int64)
    if arr.dtype.kind == "O":
        counted = Counter(arr.tolist())
        counts = np.fromiter(counted.values(), dtype=np.int64, count=len(counted))
        return list(counted), counts
    uniq, counts = np.unique(arr, return_counts=True)
    return uniq.tolist(), counts.astype(np.int64)


def factorize_in_order(values: Any) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """Codes per row and distinct values in order of first appearance.

    >>> factorize_in_order(np.array(["b", "a", "b"], dtype=object))
    (array([0, 1, 0]), ['b', 'a'])
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.ravel()
    pd = sys.modules.get("pandas")
    if arr.dtype.kind == "O" and pd is not None:  # pandas loaded anyway: its hashing
        codes, uniques = pd.factorize(arr)
        return codes.astype(np.intp), list(uniques)
    if arr.dtype.kind == "O":
        items = arr.tolist()
        index = {key: i for i, key in enumerate(dict.fromkeys(items))}
        codes = np.fromiter(map(index.__getitem__, items), dtype=np.intp, count=len(items))
        return codes, list(index)
    uniq, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse].astype(np.intp), uniq[order].tolist()


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """Counts of both samples over the union of their keys.

    ``keys`` lists the reference keys first (in the reference's order) and then
    the keys seen only in the current window; for a numerical reference they
    are the sorted distinct values of both samples.
    """

    keys: tuple[Any, ...]
    ref: IntArray
    cur: IntArray

    @property
    def n(self) -> int:
        return int(self.ref.sum())

    @property
    def m(self) -> int:
        return int(self.cur.sum())


def reference_counts(reference: ReferenceColumn) -> tuple[tuple[Any, ...], IntArray]:
    """The reference as (keys, counts), whatever its kind."""
    if reference.sorted_values is not None:
        values, counts = distinct_sorted(reference.sorted_values)
        return tuple(values.tolist()), counts
    if reference.counts is None:
        raise InvalidArgument(
            f"column {reference.name!r} has neither sorted values nor counts in its reference"
        )
    return reference.keys, np.asarray(reference.counts, dtype=np.int64)


def tally(reference: ReferenceColumn, current: Any) -> Tally:
    """Count ``current`` and align it with the reference counts.

    A numerical reference (a low-cardinality numerical column sent to a
    categorical test by the chooser) is aligned on the sorted union of values.
    """
    if reference.sorted_values is not None:
        r_vals, r_counts = distinct_sorted(reference.sorted_values)
        c = np.asarray(current, dtype=np.float64)
        c_vals, c_counts = np.unique(c, return_counts=True)
        keys = np.union1d(r_vals, c_vals)
        ref = np.zeros(keys.size, dtype=np.int64)
        cur = np.zeros(keys.size, dtype=np.int64)
        ref[np.searchsorted(keys, r_vals)] = r_counts
        cur[np.searchsorted(keys, c_vals)] = c_counts
        return Tally(keys=tuple(keys.tolist()), ref=ref, cur=cur)
    ref_keys, ref_counts = reference_counts(reference)
    cur_keys, cur_counts = count_values(current)
    index = {key: i for i, key in enumerate(ref_keys)}
    union = list(ref_keys)
    positions = np.empty(len(cur_keys), dtype=np.intp)
    for j, key in enumerate(cur_keys):
        i = index.get(key)
        if i is None:
            i = len(union)
            index[key] = i
            union.append(key)
        positions[j] = i
    ref = np.zeros(len(union), dtype=np.int64)
    ref[: len(ref_keys)] = ref_counts
    cur = np.zeros(len(union), dtype=np.int64)
    np.add.at(cur, positions, cur_counts)
    return Tally(keys=tuple(union), ref=ref, cur=cur)
