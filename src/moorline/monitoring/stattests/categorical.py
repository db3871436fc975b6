"""Categorical tests requested by name: ``g_test``, ``fisher_exact`` and ``TVD``.

Evidently's versions carry constraints that come from how they build their
inputs, not from the statistics; preset ``evidently`` keeps them (raising
:class:`~moorline.errors.InvalidArgument` where Evidently raises), preset
``default`` fixes them:

- ``g_test`` (Evidently): SciPy's ``power_divergence`` with the current counts
  as observed and the *raw* reference counts as expected, so it only runs
  when both samples have the same size, and, like the goodness-of-fit
  chi-square, it treats the reference as exact. ``default``: the G-test of
  homogeneity on the 2 x K table (``chi2_contingency(lambda_="log-likelihood")``),
  with the same sparse-category pooling as the corrected ``chisquare``.
- ``fisher_exact`` (Evidently): needs equal sample sizes and at most two values
  per side; its 2 x 2 table maps the first value of a Python set to "0" and
  every other value to "1", so with three or four values across both sides
  the table depends on set order. ``default``: Fisher's exact test on the
  true 2 x 2 table of the (at most two) values, any sample sizes.
- ``TVD``: total variation distance with a 1,000-permutation p-value after
  ``np.random.seed(0)``; identical in both presets (see :class:`TotalVariation`).

Both ``g_test`` variants use the NumPy + ``scipy.special`` equivalents of SciPy's
``power_divergence`` and ``chi2_contingency`` in
:mod:`~moorline.monitoring.stattests.chisquare` (the same values to 1e-12,
without importing ``scipy.stats``); ``fisher_exact`` still calls SciPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from moorline.errors import InvalidArgument
from moorline.monitoring.base import (
    ColumnKind,
    ReferenceColumn,
    ScoreKind,
    StatScore,
    StatTest,
)
from moorline.monitoring.stattests._common import (
    factorize_in_order,
    make_score,
    quiet,
    reference_counts,
    require_nonempty,
    tally,
)
from moorline.monitoring.stattests.chisquare import contingency_score, power_divergence

_CAT = frozenset({ColumnKind.CATEGORICAL})


class GTestGoodnessOfFit(StatTest):
    """``g_test`` as Evidently runs it; drift when ``p < t``. Equal sample sizes only."""

    name = "g_test"
    display_name = "g_test"
    kinds = _CAT
    default_threshold = 0.1
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        t = tally(reference, current)
        if t.n != t.m:
            raise InvalidArgument(
                f"stat test 'g_test' (preset evidently) compares current counts with raw "
                f"reference counts, so both samples must have the same size after removing "
                f"nulls; column {reference.name!r} has {t.n} reference and {t.m} current "
                f"values (preset 'default' runs the two-sample G-test instead)"
            )
        with quiet():
            statistic, p_value = power_divergence(t.cur, t.ref, lambda_="log-likelihood")
        return make_score(self, p_value, threshold, statistic=statistic, variant="goodness_of_fit")


class GTestContingency(StatTest):
    """``g_test`` corrected: G-test of homogeneity on the 2 x K table, Williams-corrected;
    drift when ``p < t``."""

    name = "g_test"
    display_name = "g_test (two-sample)"
    kinds = _CAT
    default_threshold = 0.1
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def __init__(self, *, min_expected: float = 5.0) -> None:
        self.min_expected = float(min_expected)

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        t = tally(reference, current)
        return contingency_score(
            self, t.ref, t.cur, threshold, self.min_expected, lambda_="log-likelihood"
        )


def _first_appearance_keys(reference: ReferenceColumn) -> list[Any]:
    """The reference keys in order of first appearance in the reference rows
    (known only when ``row_codes`` was kept; otherwise stored key order)."""
    keys, counts = reference_counts(reference)
    codes = reference.row_codes
    if codes is None or reference.sorted_values is not None:
        return [k for k, c in zip(keys, counts.tolist(), strict=True) if c > 0]
    uniq, first = np.unique(codes, return_index=True)
    return [keys[int(i)] for i in uniq[np.argsort(first, kind="stable")]]


class FisherExactEvidently(StatTest):
    """``fisher_exact`` as Evidently runs it; drift when ``p < t``.

    Refused unless both samples have the same size and at most two values each.
    """

    name = "fisher_exact"
    display_name = "Fisher's Exact test"
    kinds = _CAT
    default_threshold = 0.1
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        from scipy.stats import fisher_exact

        t = tally(reference, current)
        n_ref_values = int(np.count_nonzero(t.ref))
        n_cur_values = int(np.count_nonzero(t.cur))
        if n_ref_values > 2 or n_cur_values > 2:
            raise InvalidArgument(
                f"stat test 'fisher_exact' expects binary data on both sides, but column "
                f"{reference.name!r} has {n_ref_values} reference and {n_cur_values} current "
                f"distinct values"
            )
        if t.n != t.m:
            raise InvalidArgument(
                f"stat test 'fisher_exact' (preset evidently) needs reference and current of "
                f"equal length after removing nulls; column {reference.name!r} has {t.n} "
                f"reference and {t.m} current values (preset 'default' has no such limit)"
            )
        # Evidently: set(ref unique + cur unique) (+ "placeholder" unless exactly two
        # values); its first element maps to 0, the second to 1, any other to NaN,
        # which counts as non-zero, i.e. as "1".
        _, cur_first = factorize_in_order(current)
        categories = set(_first_appearance_keys(reference) + cur_first)
        if len(categories) != 2:
            categories.add("placeholder")
        zero_key = next(iter(categories))
        index = {k: i for i, k in enumerate(t.keys)}
        zi = index.get(zero_key)
        zero_ref = int(t.ref[zi]) if zi is not None else 0
        zero_cur = int(t.cur[zi]) if zi is not None else 0
        table = np.array([[t.m - zero_cur, zero_cur], [t.n - zero_ref, zero_ref]])
        with quiet():
            res = fisher_exact(table)
        return make_score(self, res.pvalue, threshold, table=table.tolist())


class FisherExact(StatTest):
    """``fisher_exact`` corrected: two-sided Fisher's exact test on the 2 x 2 table
    of the (at most two) values across both samples, any sample sizes; drift
    when ``p < t``."""

    name = "fisher_exact"
    display_name = "Fisher's Exact test"
    kinds = _CAT
    default_threshold = 0.1
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        from scipy.stats import fisher_exact

        t = tally(reference, current)
        present = np.flatnonzero(t.ref + t.cur)
        if present.size > 2:
            raise InvalidArgument(
                f"stat test 'fisher_exact' needs a binary column, but column "
                f"{reference.name!r} has {present.size} distinct values across both samples"
            )
        if present.size < 2:
            return make_score(self, 1.0, threshold, table=[[t.m, 0], [t.n, 0]])
        table = np.array([t.cur[present], t.ref[present]])
        with quiet():
            res = fisher_exact(table)
        return make_score(self, res.pvalue, threshold, table=table.tolist())


# ---------------------------------------------------------------------------
# TVD


def _tvd(keys_order: list[int], ref: npt.NDArray[np.int64], cur: npt.NDArray[np.int64]) -> float:
    """Evidently's ``_total_variation_distance`` with the same float steps:
    counts in the given key order, divided by their totals, ``0.5 * sum|diff|``."""
    r = ref[keys_order]
    c = cur[keys_order]
    return float(0.5 * np.sum(np.abs(r / r.sum() - c / c.sum())))


class TotalVariation(StatTest):
    """``TVD``: permutation p-value of the total variation distance
    ``0.5 * sum|p_i - q_i|``; drift when ``p < t``.

    Reproduces Evidently's loop draw for draw: after ``np.random.seed(0)``
    (here a private ``RandomState(0)``, so the global generator is untouched),
    each of 1,000 iterations draws ``n`` of the pooled values (reference rows,
    then current rows) without replacement as the new reference, the rest
    being the new current; ``p`` is the share of permuted distances at least
    the observed one. Only the per-iteration permutation is left in a loop (it
    is what consumes the random stream); counting and the statistic are
    vectorised over integer codes. Each statistic is summed in the key order
    Evidently's Python set would give, so ties with the observed value are
    decided on the same floating-point values. That reproduces Evidently's
    p-value exactly when the reference keeps its row order
    (``ReferenceColumn.row_codes``); without it the reference rows are taken
    in key order, which is an equally valid permutation test with a different
    random draw.
    """

    name = "TVD"
    display_name = "Total-Variation-Distance"
    kinds = _CAT
    default_threshold = 0.1
    score_kind = ScoreKind.P_VALUE
    rule = "p<t"
    iterations = 1000

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        require_nonempty(self, reference, current)
        ref_keys, ref_counts = reference_counts(reference)
        if reference.row_codes is not None and reference.sorted_values is None:
            ref_codes = np.asarray(reference.row_codes, dtype=np.intp)
        else:
            ref_codes = np.repeat(np.arange(len(ref_keys), dtype=np.intp), ref_counts)
        cur_codes_local, cur_first = factorize_in_order(current)
        # map the current's keys onto the union (reference keys first)
        index = {k: i for i, k in enumerate(ref_keys)}
        keys: list[Any] = list(ref_keys)
        cur_map = np.empty(len(cur_first), dtype=np.intp)
        for j, key in enumerate(cur_first):
            i = index.get(key)
            if i is None:
                i = len(keys)
                index[key] = i
                keys.append(key)
            cur_map[j] = i
        cur_codes = cur_map[cur_codes_local]
        k = len(keys)
        pooled = np.concatenate((ref_codes, cur_codes))
        n, total = ref_codes.size, pooled.size
        pooled_counts = np.bincount(pooled, minlength=k)
        ref_obs = np.bincount(ref_codes, minlength=k)
        cur_obs = pooled_counts - ref_obs

        order_cache: dict[tuple[tuple[int, ...], tuple[int, ...]], list[int]] = {}

        def set_order(first_ref: tuple[int, ...], first_cur: tuple[int, ...]) -> list[int]:
            # ``list(set(ref.unique()) | set(cur.unique()))`` on the key objects
            got = order_cache.get((first_ref, first_cur))
            if got is None:
                union = {keys[i] for i in first_ref} | {keys[i] for i in first_cur}
                got = [index[key] for key in union]
                order_cache[(first_ref, first_cur)] = got
            return got

        ref_first_obs = _first_seen(ref_codes, int(np.count_nonzero(ref_obs)))
        cur_first_obs = tuple(cur_map.tolist())
        observed = _tvd(set_order(ref_first_obs, cur_first_obs), ref_obs, cur_obs)

        # Counter(pooled) keeps first-appearance order; the new current lists
        # its keys in that order, those with a positive remainder only.
        pooled_first = np.array(
            _first_seen(pooled, int(np.count_nonzero(pooled_counts))), dtype=np.intp
        )
        rs = np.random.RandomState(0)
        hits = 0
        for _ in range(self.iterations):
            chosen = pooled[rs.permutation(total)[:n]]
            ref_i = np.bincount(chosen, minlength=k)
            cur_i = pooled_counts - ref_i
            cur_first_i = tuple(pooled_first[cur_i[pooled_first] > 0].tolist())
            ref_first_i = _first_seen(chosen, int(np.count_nonzero(ref_i)))
            stat = _tvd(set_order(ref_first_i, cur_first_i), ref_i, cur_i)
            if observed <= abs(stat):
                hits += 1
        p = hits / self.iterations
        return make_score(self, p, threshold, statistic=observed, iterations=self.iterations)


def _first_seen(codes: npt.NDArray[np.intp], present: int) -> tuple[int, ...]:
    """The ``present`` distinct codes in order of first appearance, scanning a
    growing prefix (all keys usually show up within the first few dozen rows)."""
    size = 64
    while True:
        prefix = codes[:size]
        uniq, first = np.unique(prefix, return_index=True)
        if uniq.size == present or size >= codes.size:
            return tuple(uniq[np.argsort(first, kind="stable")].tolist())
        size *= 4
